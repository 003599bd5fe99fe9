//! One conformance suite run against every storage backend, so a new backend
//! (PostgreSQL next) shows it behaves the same by passing it.

use chrono::{DateTime, Duration, TimeZone, Utc};
use recoverylab::journeys::account::{Account, AccountId, MailingAddress, SecondFactor};
use recoverylab::journeys::delivery::{
    DeliveryChannel, DeliveryContent, DeliveryKey, DeliveryStatus, SentMessage, StatusReport,
};
use recoverylab::journeys::flow::{Flow, Journey, Step};
use recoverylab::journeys::notice::PendingNotice;
use recoverylab::journeys::window::EventWindow;
use recoverylab::store::{MemoryStore, PurgeCutoffs, SqliteStore, Store};

fn account(username: &str, ssn_digest: &str) -> Account {
    Account {
        id: 0,
        username: username.to_owned(),
        username_key: username.to_lowercase(),
        password_hash: "hash".to_owned(),
        ssn_digest: ssn_digest.to_owned(),
        date_of_birth: chrono::NaiveDate::from_ymd_opt(1980, 1, 2).unwrap(),
        email: format!("{username}@example.org"),
        cell_phone: "2025550100".to_owned(),
        primary_phone: "2025550101".to_owned(),
        mailing_address: MailingAddress {
            name: "Test Person".to_owned(),
            line1: "1 Main St".to_owned(),
            line2: None,
            city: "Springfield".to_owned(),
            state: "IL".to_owned(),
            zip: "62701".to_owned(),
        },
        second_factor: SecondFactor::Email,
        security_questions: vec!["q".to_owned(); 3],
        answer_hashes: vec!["a".to_owned(); 3],
        terms_version: 0,
        locked_until: None,
        must_change_password: false,
        failures: EventWindow::default(),
        code_messages: EventWindow::default(),
        temporary_password: None,
    }
}

fn key(channel: DeliveryChannel, provider_id: &str) -> DeliveryKey {
    DeliveryKey {
        channel,
        provider_id: provider_id.to_owned(),
    }
}

fn sent(key: &DeliveryKey, account_id: AccountId, at: DateTime<Utc>) -> SentMessage {
    SentMessage {
        key: key.clone(),
        flow_id: "bb".to_owned(),
        account_id,
        content: DeliveryContent::Code,
        sent_at: at,
        keep_until: at + Duration::minutes(40),
    }
}

fn report(key: &DeliveryKey, status: DeliveryStatus, at: DateTime<Utc>) -> StatusReport {
    StatusReport {
        key: key.clone(),
        status,
        error_code: status.is_failure().then(|| "30003".to_owned()),
        reported_at: at,
        keep_until: at + Duration::minutes(30),
    }
}

/// Checks that sends and status reports merge in either order, by provider
/// and id, and that a report of an earlier stage does not undo a later one.
async fn delivery_conformance(store: &dyn Store, account_id: AccountId, now: DateTime<Utc>) {
    let early = key(DeliveryChannel::Sms, "SM01");
    let stored = store
        .record_status_report(&report(&early, DeliveryStatus::Undelivered, now))
        .await
        .unwrap();
    assert_eq!(
        stored.send, None,
        "a report for an unknown id is stored alone"
    );
    let merged = store
        .record_sent_message(&sent(&early, account_id, now))
        .await
        .unwrap();
    assert_eq!(
        merged.status,
        DeliveryStatus::Undelivered,
        "the send keeps the earlier report's status"
    );
    assert_eq!(merged.error_code.as_deref(), Some("30003"));
    assert_eq!(
        store.delivery(&early).await.unwrap(),
        Some(merged),
        "the merged record is stored"
    );

    let normal = key(DeliveryChannel::Email, "SM01");
    let recorded = store
        .record_sent_message(&sent(&normal, account_id, now))
        .await
        .unwrap();
    assert_eq!(
        recorded.status,
        DeliveryStatus::Accepted,
        "the same id at another provider is another message"
    );
    store
        .record_status_report(&report(&normal, DeliveryStatus::Delivered, now))
        .await
        .unwrap();
    let late = store
        .record_status_report(&report(&normal, DeliveryStatus::Sent, now))
        .await
        .unwrap();
    assert_eq!(
        late.status,
        DeliveryStatus::Delivered,
        "a late `sent` does not undo `delivered`"
    );

    let orphan = key(DeliveryChannel::Postal, "ltr_old");
    store
        .record_status_report(&report(
            &orphan,
            DeliveryStatus::Returned,
            now - Duration::hours(1),
        ))
        .await
        .unwrap();
    assert!(store
        .delivery(&key(DeliveryChannel::Postal, "ltr_none"))
        .await
        .unwrap()
        .is_none());
}

fn notice(flow_id: &str, account_id: AccountId, created_at: DateTime<Utc>) -> PendingNotice {
    PendingNotice::password_changed(account_id, flow_id, "ana@example.org", created_at)
}

/// Checks the outbox of notices: due ones come oldest first in bounded
/// batches, a rescheduled one waits for its time, and sent or stale ones
/// leave. Returns the one notice it leaves in the outbox.
async fn notice_conformance(
    store: &dyn Store,
    account_id: AccountId,
    now: DateTime<Utc>,
) -> PendingNotice {
    let oldest = notice("n1", account_id, now - Duration::hours(2));
    let older = notice("n2", account_id, now - Duration::hours(1));
    let mut later = notice("n3", account_id, now);
    later.next_attempt_at = now + Duration::seconds(1);
    for pending in [&later, &older, &oldest] {
        store.enqueue_notice(pending).await.unwrap();
    }
    let mut again = oldest.clone();
    again.attempts = 5;
    store.enqueue_notice(&again).await.unwrap();

    assert_eq!(
        store.due_notices(now, 32).await.unwrap(),
        vec![oldest.clone(), older.clone()],
        "due notices come oldest first; a repeated key does not replace the first"
    );
    assert_eq!(
        store.due_notices(now, 1).await.unwrap(),
        vec![oldest.clone()],
        "the batch is bounded by the limit"
    );

    let mut retried = oldest.clone();
    retried.record_failure(now);
    store.reschedule_notice(&retried).await.unwrap();
    assert_eq!(
        store.due_notices(now, 32).await.unwrap(),
        vec![older.clone()],
        "a rescheduled notice waits for its next attempt"
    );
    let one_second_later = now + Duration::seconds(1);
    assert_eq!(
        store.due_notices(one_second_later, 32).await.unwrap(),
        vec![retried.clone(), older.clone(), later.clone()],
        "a rescheduled notice keeps its place and its attempt count"
    );

    store.delete_notice(&older.idempotency_key).await.unwrap();
    let dropped = store
        .delete_notices_created_before(now - Duration::minutes(90))
        .await
        .unwrap();
    assert_eq!(dropped, vec![retried], "only the stale notice is dropped");
    assert_eq!(
        store.due_notices(one_second_later, 32).await.unwrap(),
        vec![later.clone()],
        "sent and stale notices are gone"
    );
    later
}

async fn conformance(store: &dyn Store) {
    let now = Utc.with_ymd_and_hms(2026, 3, 2, 15, 0, 0).unwrap();

    let inserted = store
        .insert_accounts(vec![
            account("Ana", "d1"),
            account("Ben", "d2"),
            account("ana", "d3"),
        ])
        .await
        .unwrap();
    assert_eq!(inserted.inserted, 2, "two new accounts");
    assert_eq!(
        inserted.already_enrolled, 1,
        "a duplicate username is skipped"
    );
    let ana = store
        .account_by_username("ana")
        .await
        .unwrap()
        .expect("found by username");
    assert_eq!(
        store.account_by_ssn("d1").await.unwrap().map(|a| a.id),
        Some(ana.id)
    );
    assert!(
        store.account_by_ssn("d3").await.unwrap().is_none(),
        "the skipped account was not stored"
    );

    let mut changed = ana.clone();
    changed.terms_version = 7;
    store.save_account(&changed).await.unwrap();
    assert_eq!(
        store.account(ana.id).await.unwrap().unwrap().terms_version,
        7
    );

    let old_flow = Flow::new(
        "aa".into(),
        ana.id,
        Journey::SignIn,
        Step::Code,
        now - Duration::hours(1),
    );
    let new_flow = Flow::new(
        "bb".into(),
        ana.id,
        Journey::ForgotPassword,
        Step::Answers,
        now,
    );
    store.save_flow(&old_flow).await.unwrap();
    store.save_flow(&new_flow).await.unwrap();
    assert_eq!(
        store.flow("bb").await.unwrap().map(|f| f.step),
        Some(Step::Answers)
    );

    store
        .insert_session("old", ana.id, now - Duration::hours(13))
        .await
        .unwrap();
    store.insert_session("new", ana.id, now).await.unwrap();
    let since = now - Duration::hours(12);
    assert_eq!(
        store.session_account("new", since).await.unwrap(),
        Some(ana.id)
    );
    assert_eq!(
        store.session_account("old", since).await.unwrap(),
        None,
        "an expired session is not returned"
    );

    let mut stale = EventWindow::default();
    stale.record(now - Duration::hours(1), 5);
    let mut fresh = EventWindow::default();
    fresh.record(now, 5);
    store
        .save_rate_events("client:stale", &stale)
        .await
        .unwrap();
    store
        .save_rate_events("client:fresh", &fresh)
        .await
        .unwrap();

    delivery_conformance(store, ana.id, now).await;
    let pending = notice_conformance(store, ana.id, now).await;

    let purged = store
        .purge(PurgeCutoffs {
            flows: now - Duration::minutes(30),
            rate_events: now - Duration::minutes(15),
            sessions: since,
            deliveries: now,
        })
        .await
        .unwrap();
    assert_eq!(
        purged, 4,
        "one flow, one rate-limit key, one session and one delivery"
    );
    assert!(
        store
            .delivery(&key(DeliveryChannel::Postal, "ltr_old"))
            .await
            .unwrap()
            .is_none(),
        "a delivery past its keep_until is purged"
    );
    assert!(
        store
            .delivery(&key(DeliveryChannel::Sms, "SM01"))
            .await
            .unwrap()
            .is_some(),
        "a delivery within its keep_until stays"
    );
    assert_eq!(
        store
            .due_notices(now + Duration::days(2), 32)
            .await
            .unwrap(),
        vec![pending],
        "purging keeps pending notices"
    );
    assert!(store.flow("aa").await.unwrap().is_none());
    assert!(store.flow("bb").await.unwrap().is_some());
    assert!(store.rate_events("client:stale").await.unwrap().is_empty());
    assert!(!store.rate_events("client:fresh").await.unwrap().is_empty());

    assert_eq!(store.delete_sessions_of_account(ana.id).await.unwrap(), 1);
    assert_eq!(store.delete_flows_of_account(ana.id).await.unwrap(), 1);
    store
        .save_rate_events("client:fresh", &EventWindow::default())
        .await
        .unwrap();
    assert!(
        store.rate_events("client:fresh").await.unwrap().is_empty(),
        "an empty window deletes the key"
    );
}

#[tokio::test]
async fn memory_store_conforms() {
    conformance(&MemoryStore::default()).await;
}

#[tokio::test]
async fn sqlite_file_store_conforms() {
    let folder = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&folder.path().join("store.sqlite"))
        .await
        .unwrap();
    conformance(&store).await;
}

#[tokio::test]
async fn sqlite_store_survives_reopening() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("store.sqlite");
    let now = Utc.with_ymd_and_hms(2026, 3, 2, 15, 0, 0).unwrap();
    let pending = notice("f9", 1, now);
    {
        let store = SqliteStore::open(&path).await.unwrap();
        store
            .insert_accounts(vec![account("Cai", "d9")])
            .await
            .unwrap();
        store.enqueue_notice(&pending).await.unwrap();
    }
    let reopened = SqliteStore::open(&path).await.unwrap();
    assert!(
        reopened.account_by_username("cai").await.unwrap().is_some(),
        "accounts persist in the file"
    );
    assert_eq!(
        reopened.due_notices(now, 32).await.unwrap(),
        vec![pending],
        "pending notices persist in the file"
    );
}
