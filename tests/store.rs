//! One conformance suite run against every storage backend, so a new backend
//! (PostgreSQL next) shows it behaves the same by passing it.

use chrono::{Duration, TimeZone, Utc};
use recoverylab::journeys::account::{Account, MailingAddress, SecondFactor};
use recoverylab::journeys::flow::{Flow, Journey, Step};
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

    let purged = store
        .purge(PurgeCutoffs {
            flows: now - Duration::minutes(30),
            rate_events: now - Duration::minutes(15),
            sessions: since,
        })
        .await
        .unwrap();
    assert_eq!(purged, 3, "one flow, one rate-limit key and one session");
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
    {
        let store = SqliteStore::open(&path).await.unwrap();
        store
            .insert_accounts(vec![account("Cai", "d9")])
            .await
            .unwrap();
    }
    let reopened = SqliteStore::open(&path).await.unwrap();
    assert!(
        reopened.account_by_username("cai").await.unwrap().is_some(),
        "accounts persist in the file"
    );
}
