//! Delivery status end to end: the providers' status callbacks, the flow
//! status that shows them, and the journey rules after a failed delivery or a
//! failed send. The tests post the callbacks themselves, shaped as the
//! providers send them, and move the service's clock instead of sleeping.

mod common;

use chrono::Duration;
use common::{postal_event_body, Reply, SendFault, TestApp};
use recoverylab::journeys::notice::PendingNotice;
use recoverylab::people::{JourneyKind, Person};
use serde_json::{json, Value};

// ---- helpers ----------------------------------------------------------------

/// People of these kinds sign in with an SMS and an email second factor.
const SMS_PERSON: JourneyKind = JourneyKind::TempPasswordEmail;
const EMAIL_PERSON: JourneyKind = JourneyKind::TempPasswordPostal;

async fn sms_report(app: &TestApp, sid: &str, status: &str, error_code: Option<&str>) -> Reply {
    let mut form = vec![
        ("MessageSid", sid),
        ("MessageStatus", status),
        ("AccountSid", "AC00000000000000000000000000000000"),
        ("To", "+15555550142"),
    ];
    if let Some(code) = error_code {
        form.push(("ErrorCode", code));
    }
    let url = format!("{}/v1/provider-events/sms", app.url);
    app.send(app.client.post(url).form(&form)).await
}

async fn email_report(app: &TestApp, id: &str, status: &str) -> Reply {
    let mut body = json!({"id": id, "status": status});
    if status == "bounced" {
        body["reason"] = json!("mailbox_unavailable");
    }
    app.post("/v1/provider-events/email", body).await
}

async fn postal_report(app: &TestApp, letter_id: &str, event_type: &str) -> Reply {
    app.post(
        "/v1/provider-events/postal",
        postal_event_body(letter_id, event_type),
    )
    .await
}

#[track_caller]
fn assert_stored(reply: &Reply, case: &str) {
    assert_eq!(reply.status.as_u16(), 204, "{case}: {:?}", reply.body);
}

async fn flow_status(app: &TestApp, flow: &str) -> Reply {
    app.send(app.client.get(format!("{}/v1/flows/{flow}", app.url)))
        .await
}

/// Returns the flow's status body, checking that the request succeeded.
async fn status_of(app: &TestApp, flow: &str) -> Value {
    flow_status(app, flow).await.assert_ok().body.clone()
}

/// Returns the provider id of the newest message in `messages`.
fn newest_id(messages: &[Value]) -> String {
    messages
        .last()
        .and_then(|message| message["id"].as_str())
        .expect("a delivered message with an id")
        .to_owned()
}

async fn newest_text_id(app: &TestApp, someone: &Person) -> String {
    newest_id(&app.texts(&someone.cell_phone).await)
}

async fn newest_email_id(app: &TestApp, someone: &Person) -> String {
    newest_id(&app.emails(&someone.email).await)
}

fn temporary_password_in(message: &Value) -> String {
    let text = message["text"].as_str().expect("a message text");
    recoverylab::load::inbox::temporary_password_in(text).expect("a temporary password")
}

/// Walks J3 to the code step with the code sent by `channel`.
async fn forgot_password_at_code(app: &TestApp, someone: &Person, channel: &str) -> String {
    let flow = app.forgot_password(someone).await.assert_ok().flow_id();
    app.answers(&flow, someone).await.assert_ok();
    app.step(&flow, "channel", json!({"channel": channel}))
        .await
        .assert_ok();
    flow
}

/// Walks J4e up to the mailed letter and returns the flow id.
async fn mailed_letter_flow(app: &TestApp, someone: &Person) -> String {
    let flow = app.forgot_password(someone).await.assert_ok().flow_id();
    app.step_empty(&flow, "cannot-remember-answers")
        .await
        .assert_ok();
    app.step(&flow, "accept-terms", json!({"terms_version": 1}))
        .await
        .assert_ok();
    let address =
        json!({"mailing_address": someone.mailing_address, "primary_phone": someone.primary_phone});
    app.step(&flow, "verify-address", address).await.assert_ok();
    let mailed = app.step_empty(&flow, "mail-temporary-password").await;
    assert_eq!(
        mailed.assert_ok().flow_id(),
        flow,
        "the flow stays to watch"
    );
    flow
}

/// Walks J4s up to the emailed temporary password and returns the flow id.
async fn emailed_password_flow(app: &TestApp, someone: &Person) -> String {
    let flow = app.forgot_password(someone).await.assert_ok().flow_id();
    app.step_empty(&flow, "cannot-remember-answers")
        .await
        .assert_ok();
    app.step_empty(&flow, "email-temporary-password")
        .await
        .assert_ok();
    flow
}

// ---- status callbacks and the flow status -------------------------------------

#[tokio::test]
async fn sms_callbacks_update_flow_status() {
    let app = TestApp::spawn_without_callbacks().await;
    let someone = app.enrolled(SMS_PERSON, 1).await;
    let flow = app.sign_in(&someone, &someone.password).await.flow_id();
    assert_eq!(
        status_of(&app, &flow).await,
        json!({
            "journey": "sign_in",
            "next_step": "code",
            "delivery": {"channel": "sms", "status": "accepted"},
            "can_resend": false,
            "can_choose_channel": false
        }),
        "right after the send"
    );

    let sid = newest_text_id(&app, &someone).await;
    assert_stored(&sms_report(&app, &sid, "sent", None).await, "sent");
    assert_eq!(status_of(&app, &flow).await["delivery"]["status"], "sent");
    assert_stored(
        &sms_report(&app, &sid, "delivered", None).await,
        "delivered",
    );
    assert_eq!(
        status_of(&app, &flow).await["delivery"]["status"],
        "delivered"
    );

    let late = sms_report(&app, &sid, "sent", None).await;
    assert_stored(&late, "a late sent");
    assert_eq!(
        status_of(&app, &flow).await["delivery"]["status"],
        "delivered",
        "a late `sent` does not undo `delivered`"
    );
}

#[tokio::test]
async fn email_bounce_shows_reason() {
    let app = TestApp::spawn_without_callbacks().await;
    let someone = app.enrolled(EMAIL_PERSON, 2).await;
    let flow = app.sign_in(&someone, &someone.password).await.flow_id();
    let id = newest_email_id(&app, &someone).await;

    assert_stored(&email_report(&app, &id, "bounced").await, "bounced");
    let status = status_of(&app, &flow).await;
    assert_eq!(
        status["delivery"],
        json!({"channel": "email", "status": "bounced", "error_code": "mailbox_unavailable"})
    );
    assert_eq!(status["can_resend"], true, "a bounce allows a resend");
}

#[tokio::test]
async fn flow_status_before_any_send() {
    let app = TestApp::spawn_without_callbacks().await;
    let someone = app.enrolled(JourneyKind::ForgotPassword, 3).await;
    let flow = app.forgot_password(&someone).await.flow_id();
    assert_eq!(
        status_of(&app, &flow).await,
        json!({
            "journey": "forgot_password",
            "next_step": "answers",
            "delivery": null,
            "can_resend": false,
            "can_choose_channel": false
        })
    );
    app.answers(&flow, &someone).await.assert_ok();
    let status = status_of(&app, &flow).await;
    assert_eq!(status["next_step"], "channel");
    assert_eq!(status["can_choose_channel"], true, "at the channel step");
}

#[tokio::test]
async fn watching_does_not_keep_flow_alive() {
    let app = TestApp::spawn_without_callbacks().await;
    let someone = app.enrolled(SMS_PERSON, 4).await;
    let flow = app.sign_in(&someone, &someone.password).await.flow_id();
    app.advance(Duration::minutes(29));
    status_of(&app, &flow).await;
    app.advance(Duration::minutes(1));
    flow_status(&app, &flow)
        .await
        .assert_problem(404, "flow_not_found");
}

#[tokio::test]
async fn unknown_ids_accepted() {
    let app = TestApp::spawn_without_callbacks().await;
    let replies = [
        (
            "sms",
            sms_report(
                &app,
                "SM0123456789abcdef0123456789abcdef",
                "undelivered",
                Some("30005"),
            )
            .await,
        ),
        ("email", email_report(&app, "em_unknown", "delivered").await),
        (
            "postal",
            postal_report(&app, "ltr_unknown", "letter.returned_to_sender").await,
        ),
        (
            "postal event without delivery news",
            postal_report(&app, "ltr_unknown", "letter.created").await,
        ),
    ];
    for (case, reply) in &replies {
        assert_stored(reply, case);
    }
}

#[tokio::test]
async fn report_before_send_response_merges() {
    let app = TestApp::spawn_with_send_faults().await;
    let someone = app.enrolled(SMS_PERSON, 5).await;
    app.set_send_fault(SendFault::FailureReportedFirst);
    let flow = app
        .sign_in(&someone, &someone.password)
        .await
        .assert_ok()
        .flow_id();
    app.set_send_fault(SendFault::None);

    let status = status_of(&app, &flow).await;
    assert_eq!(
        status["delivery"],
        json!({"channel": "sms", "status": "undelivered", "error_code": "30003"}),
        "the report stored before the send was recorded"
    );
    assert_eq!(status["can_resend"], true);
    app.step_empty(&flow, "resend-code").await.assert_ok();
}

// ---- resends after a reported failure -------------------------------------------

#[tokio::test]
async fn undelivered_sms_allows_immediate_resend() {
    let app = TestApp::spawn_without_callbacks().await;
    let someone = app.enrolled(SMS_PERSON, 10).await;
    let flow = app.sign_in(&someone, &someone.password).await.flow_id();
    app.step_empty(&flow, "resend-code")
        .await
        .assert_problem(429, "resend_too_soon");

    let sid = newest_text_id(&app, &someone).await;
    assert_stored(
        &sms_report(&app, &sid, "undelivered", Some("30003")).await,
        "undelivered",
    );
    let status = status_of(&app, &flow).await;
    assert_eq!(
        status["delivery"],
        json!({"channel": "sms", "status": "undelivered", "error_code": "30003"})
    );
    assert_eq!(status["can_resend"], true, "after the failure");
    app.step_empty(&flow, "resend-code").await.assert_ok();
    assert_eq!(
        app.texts(&someone.cell_phone).await.len(),
        2,
        "the resend went out"
    );

    // The new text has no reported failure, so the interval applies again.
    assert_eq!(status_of(&app, &flow).await["can_resend"], false);
    app.step_empty(&flow, "resend-code")
        .await
        .assert_problem(429, "resend_too_soon");
    let code = app.latest_sms_code(&someone).await;
    app.submit_code(&flow, &code).await.assert_ok();
}

#[tokio::test]
async fn delivered_sms_keeps_resend_interval() {
    let app = TestApp::spawn_without_callbacks().await;
    let someone = app.enrolled(SMS_PERSON, 11).await;
    let flow = app.sign_in(&someone, &someone.password).await.flow_id();
    let sid = newest_text_id(&app, &someone).await;
    assert_stored(
        &sms_report(&app, &sid, "delivered", None).await,
        "delivered",
    );
    app.step_empty(&flow, "resend-code")
        .await
        .assert_problem(429, "resend_too_soon");
}

#[tokio::test]
async fn failure_resends_count_hourly() {
    let app = TestApp::spawn_without_callbacks().await;
    let someone = app.enrolled(SMS_PERSON, 12).await;
    let flow = app.sign_in(&someone, &someone.password).await.flow_id();
    for resend in 1..=5 {
        let sid = newest_text_id(&app, &someone).await;
        sms_report(&app, &sid, "undelivered", Some("30003")).await;
        let reply = app.step_empty(&flow, "resend-code").await;
        assert!(
            reply.status.is_success(),
            "resend {resend} after a failure: {:?}",
            reply.body
        );
    }
    let sid = newest_text_id(&app, &someone).await;
    sms_report(&app, &sid, "undelivered", Some("30003")).await;
    assert_eq!(status_of(&app, &flow).await["can_resend"], false);
    app.step_empty(&flow, "resend-code")
        .await
        .assert_problem(429, "resend_limit");
}

#[tokio::test]
async fn channel_choice_reopens_after_failure() {
    let app = TestApp::spawn_without_callbacks().await;
    let someone = app.enrolled(JourneyKind::ForgotPassword, 13).await;
    let flow = forgot_password_at_code(&app, &someone, "sms").await;
    assert_eq!(status_of(&app, &flow).await["can_choose_channel"], false);
    app.step(&flow, "channel", json!({"channel": "email"}))
        .await
        .assert_problem(409, "step_out_of_order");

    let sid = newest_text_id(&app, &someone).await;
    sms_report(&app, &sid, "undelivered", Some("30006")).await;
    assert_eq!(status_of(&app, &flow).await["can_choose_channel"], true);
    let chosen = app
        .step(&flow, "channel", json!({"channel": "email"}))
        .await;
    assert_eq!(
        chosen.assert_ok().body["code_sent_to"]["channel"],
        "email",
        "the code goes by the new channel"
    );

    let old = app.latest_sms_code(&someone).await;
    let new = app.latest_email_code(&someone).await;
    if old != new {
        app.submit_code(&flow, &old)
            .await
            .assert_problem(400, "wrong_code");
    }
    app.submit_code(&flow, &new).await.assert_ok();
}

#[tokio::test]
async fn sign_in_cannot_choose_channel() {
    let app = TestApp::spawn_without_callbacks().await;
    let someone = app.enrolled(SMS_PERSON, 14).await;
    let flow = app.sign_in(&someone, &someone.password).await.flow_id();
    let sid = newest_text_id(&app, &someone).await;
    sms_report(&app, &sid, "failed", Some("30008")).await;
    assert_eq!(status_of(&app, &flow).await["can_choose_channel"], false);
    app.step(&flow, "channel", json!({"channel": "email"}))
        .await
        .assert_problem(409, "step_out_of_order");
}

// ---- temporary passwords after a reported failure ------------------------------

#[tokio::test]
async fn returned_letter_revokes_temporary_password() {
    let app = TestApp::spawn_without_callbacks().await;
    let someone = app.enrolled(JourneyKind::TempPasswordPostal, 20).await;
    let flow = mailed_letter_flow(&app, &someone).await;
    let status = status_of(&app, &flow).await;
    assert_eq!(status["next_step"], Value::Null, "nothing to do but wait");
    assert_eq!(status["can_resend"], false, "the letter is on its way");
    app.step_empty(&flow, "mail-temporary-password")
        .await
        .assert_problem(409, "already_sent");

    let first = app.letters(&someone, 1).await;
    let letter_id = newest_id(&first);
    let password = temporary_password_in(&first[0]);
    assert_stored(
        &postal_report(&app, &letter_id, "letter.returned_to_sender").await,
        "returned",
    );
    app.sign_in(&someone, &password)
        .await
        .assert_problem(401, "invalid_credentials");

    let status = status_of(&app, &flow).await;
    assert_eq!(
        status["delivery"],
        json!({"channel": "postal", "status": "returned"})
    );
    assert_eq!(status["next_step"], "mail_temporary_password");
    assert_eq!(status["can_resend"], true);
    app.step_empty(&flow, "mail-temporary-password")
        .await
        .assert_ok();
    let second = app.letters(&someone, 2).await;
    let new_password = temporary_password_in(&second[1]);

    // A repeated report about the first letter leaves the new password alone.
    assert_stored(
        &postal_report(&app, &letter_id, "letter.returned_to_sender").await,
        "returned again",
    );
    let signed_in = app.sign_in(&someone, &new_password).await;
    assert_eq!(signed_in.assert_ok().body["next_step"], "confirm_contact");
}

#[tokio::test]
async fn delivered_letter_keeps_temporary_password() {
    let app = TestApp::spawn_without_callbacks().await;
    let someone = app.enrolled(JourneyKind::TempPasswordPostal, 21).await;
    let flow = mailed_letter_flow(&app, &someone).await;
    let letter = app.letters(&someone, 1).await;
    postal_report(&app, &newest_id(&letter), "letter.delivered").await;
    assert_eq!(
        status_of(&app, &flow).await["delivery"]["status"],
        "delivered"
    );
    app.sign_in(&someone, &temporary_password_in(&letter[0]))
        .await
        .assert_ok();
}

#[tokio::test]
async fn return_before_response_revokes() {
    let app = TestApp::spawn_with_send_faults().await;
    let someone = app.enrolled(JourneyKind::TempPasswordPostal, 22).await;
    app.set_send_fault(SendFault::FailureReportedFirst);
    let flow = mailed_letter_flow(&app, &someone).await;
    app.set_send_fault(SendFault::None);

    assert_eq!(status_of(&app, &flow).await["can_resend"], true);
    let letter = app.letters(&someone, 1).await;
    app.sign_in(&someone, &temporary_password_in(&letter[0]))
        .await
        .assert_problem(401, "invalid_credentials");
}

#[tokio::test]
async fn bounced_email_allows_new_temporary_password() {
    let app = TestApp::spawn_without_callbacks().await;
    let someone = app.enrolled(JourneyKind::TempPasswordEmail, 23).await;
    let flow = emailed_password_flow(&app, &someone).await;
    app.step_empty(&flow, "email-temporary-password")
        .await
        .assert_problem(409, "already_sent");

    let id = newest_email_id(&app, &someone).await;
    email_report(&app, &id, "bounced").await;
    let status = status_of(&app, &flow).await;
    assert_eq!(status["next_step"], "email_temporary_password");
    assert_eq!(status["can_resend"], true);
    app.step_empty(&flow, "email-temporary-password")
        .await
        .assert_ok();
    let password = app.emailed_temporary_password(&someone).await;
    app.sign_in(&someone, &password).await.assert_ok();
}

// ---- sends that fail after the client's retries --------------------------------

#[tokio::test]
async fn failed_code_send_rolls_back() {
    let app = TestApp::spawn_with_send_faults().await;
    let someone = app.enrolled(JourneyKind::ForgotPassword, 30).await;
    let flow = app.forgot_password(&someone).await.flow_id();
    app.answers(&flow, &someone).await.assert_ok();

    app.set_send_fault(SendFault::FailAfterDelivery);
    app.step(&flow, "channel", json!({"channel": "email"}))
        .await
        .assert_problem(503, "provider_unavailable");
    let delivered = app.latest_email_code(&someone).await;
    let status = status_of(&app, &flow).await;
    assert_eq!(status["next_step"], "channel", "the step was rolled back");
    assert_eq!(status["delivery"], Value::Null);

    app.set_send_fault(SendFault::None);
    app.step(&flow, "channel", json!({"channel": "email"}))
        .await
        .assert_ok();
    let current = app.latest_email_code(&someone).await;
    if delivered != current {
        app.submit_code(&flow, &delivered)
            .await
            .assert_problem(400, "wrong_code");
    }
    app.submit_code(&flow, &current).await.assert_ok();
}

#[tokio::test]
async fn failed_resend_rolls_back() {
    let app = TestApp::spawn_with_send_faults().await;
    let someone = app.enrolled(SMS_PERSON, 31).await;
    let flow = app.sign_in(&someone, &someone.password).await.flow_id();
    let first = app.latest_sms_code(&someone).await;

    app.advance(Duration::seconds(31));
    app.set_send_fault(SendFault::FailAfterDelivery);
    app.step_empty(&flow, "resend-code")
        .await
        .assert_problem(503, "provider_unavailable");
    let lost = app.latest_sms_code(&someone).await;

    app.set_send_fault(SendFault::None);
    app.step_empty(&flow, "resend-code").await.assert_ok();
    let current = app.latest_sms_code(&someone).await;
    for (case, code) in [
        ("the first code", &first),
        ("the failed send's code", &lost),
    ] {
        if code != &current {
            let reply = app.submit_code(&flow, code).await;
            assert_eq!(reply.code(), "wrong_code", "{case} no longer works");
        }
    }
    app.submit_code(&flow, &current).await.assert_ok();
}

#[tokio::test]
async fn failed_resends_not_counted() {
    let app = TestApp::spawn_with_send_faults().await;
    let someone = app.enrolled(SMS_PERSON, 32).await;
    let flow = app.sign_in(&someone, &someone.password).await.flow_id();
    for resend in 1..=5 {
        app.advance(Duration::seconds(31));
        app.set_send_fault(SendFault::Unreachable);
        app.step_empty(&flow, "resend-code")
            .await
            .assert_problem(503, "provider_unavailable");
        app.set_send_fault(SendFault::None);
        let reply = app.step_empty(&flow, "resend-code").await;
        assert!(
            reply.status.is_success(),
            "resend {resend} after a failed one: {:?}",
            reply.body
        );
    }
}

#[tokio::test]
async fn failed_sign_in_send_leaves_no_flow() {
    let app = TestApp::spawn_with_send_faults().await;
    let someone = app.enrolled(SMS_PERSON, 33).await;
    app.set_send_fault(SendFault::Unreachable);
    for attempt in 0..10 {
        let reply = app.sign_in(&someone, &someone.password).await;
        assert_eq!(
            reply.code(),
            "provider_unavailable",
            "failed sign-in {attempt}"
        );
    }
    app.set_send_fault(SendFault::None);
    // Ten failed sends did not use up the ten code messages an hour.
    app.full_sign_in(&someone, &someone.password).await;
}

#[tokio::test]
async fn failed_temporary_password_rolls_back() {
    let app = TestApp::spawn_with_send_faults().await;
    let someone = app.enrolled(JourneyKind::TempPasswordEmail, 34).await;
    let flow = app.forgot_password(&someone).await.flow_id();
    app.step_empty(&flow, "cannot-remember-answers")
        .await
        .assert_ok();

    app.set_send_fault(SendFault::FailAfterDelivery);
    app.step_empty(&flow, "email-temporary-password")
        .await
        .assert_problem(503, "provider_unavailable");
    let lost = app.emailed_temporary_password(&someone).await;
    app.sign_in(&someone, &lost)
        .await
        .assert_problem(401, "invalid_credentials");

    app.set_send_fault(SendFault::None);
    app.step_empty(&flow, "email-temporary-password")
        .await
        .assert_ok();
    let current = app.emailed_temporary_password(&someone).await;
    app.sign_in(&someone, &current).await.assert_ok();
}

#[tokio::test]
async fn unreachable_provider_allows_retry() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let closed_url = format!("http://{}", closed.local_addr().expect("an address"));
    drop(closed);
    let app = TestApp::spawn_with_provider_urls(|urls| urls.sms = closed_url).await;
    let someone = app.enrolled(JourneyKind::ForgotPassword, 35).await;
    let flow = app.forgot_password(&someone).await.flow_id();
    app.answers(&flow, &someone).await.assert_ok();

    app.step(&flow, "channel", json!({"channel": "sms"}))
        .await
        .assert_problem(503, "provider_unavailable");
    assert_eq!(status_of(&app, &flow).await["next_step"], "channel");
    app.step(&flow, "channel", json!({"channel": "email"}))
        .await
        .assert_ok();
    let code = app.latest_email_code(&someone).await;
    app.submit_code(&flow, &code).await.assert_ok();
}

// ---- the password-changed notice ----------------------------------------------

/// Walks J3 with the code by text up to the new-password step, so the email
/// provider is used for nothing before the notice.
async fn at_new_password_by_sms(app: &TestApp, someone: &Person) -> String {
    let flow = forgot_password_at_code(app, someone, "sms").await;
    let code = app.latest_sms_code(someone).await;
    app.submit_code(&flow, &code).await.assert_ok();
    flow
}

async fn change_password(app: &TestApp, flow: &str, someone: &Person) {
    app.step(
        flow,
        "new-password",
        json!({"password": someone.new_password}),
    )
    .await
    .assert_ok();
}

#[tokio::test]
async fn password_change_emails_notice() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::ForgotPassword, 40).await;
    let flow = at_new_password_by_sms(&app, &someone).await;

    change_password(&app, &flow, &someone).await;

    let mut notices = Vec::new();
    for _ in 0..250 {
        notices = app.password_changed_notices(&someone).await;
        if !notices.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(notices.len(), 1, "one notice arrives within 5 s");

    // The mock stores the email before it responds, and the sender deletes
    // the notice from the outbox only once the response is back.
    let mut pending = app.pending_notices().await;
    for _ in 0..250 {
        if pending.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        pending = app.pending_notices().await;
    }
    assert!(
        pending.is_empty(),
        "the sent notice left the outbox within 5 s"
    );
    assert_eq!(
        app.password_changed_notices(&someone).await.len(),
        1,
        "the notice was sent once"
    );
}

#[tokio::test]
async fn new_password_does_not_wait_for_email() {
    // A listener that never responds: every email attempt runs into the
    // provider client's 3-second timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let silent_url = format!("http://{}", silent.local_addr().expect("an address"));
    let app = TestApp::spawn_with_provider_urls(|urls| urls.email = silent_url).await;
    let someone = app.enrolled(JourneyKind::ForgotPassword, 41).await;
    let flow = at_new_password_by_sms(&app, &someone).await;

    let started = std::time::Instant::now();
    change_password(&app, &flow, &someone).await;
    let took = started.elapsed();

    assert!(
        took < std::time::Duration::from_secs(2),
        "the new-password step took {took:?}, so it waited for the email provider"
    );
    let pending = app.pending_notices().await;
    assert_eq!(pending.len(), 1, "the notice waits in the outbox");
    assert_eq!(pending[0].flow_id, flow);
}

/// Waits for the outbox's first notice to have failed `attempts` times and
/// returns it.
async fn notice_after_failures(app: &TestApp, attempts: u32) -> PendingNotice {
    let what = format!("a notice with {attempts} failed attempts");
    let pending = app
        .wait_for_outbox(&what, |notices| {
            notices
                .first()
                .is_some_and(|notice| notice.attempts == attempts)
        })
        .await;
    pending[0].clone()
}

/// Enrolls person `index`, changes their password while sends fail with
/// `fault`, and waits for the notice's first failed attempt.
async fn password_changed_during(
    app: &TestApp,
    index: u64,
    fault: SendFault,
) -> (Person, PendingNotice) {
    let someone = app.enrolled(JourneyKind::ForgotPassword, index).await;
    let flow = at_new_password_by_sms(app, &someone).await;
    app.set_send_fault(fault);
    change_password(app, &flow, &someone).await;
    let notice = notice_after_failures(app, 1).await;
    (someone, notice)
}

#[tokio::test]
async fn notice_retried_after_provider_outage() {
    let app = TestApp::spawn_with_send_faults().await;
    let (someone, first) = password_changed_during(&app, 42, SendFault::Unreachable).await;
    let changed_at = first.created_at;
    assert_eq!(
        first.next_attempt_at,
        changed_at + Duration::seconds(1),
        "the first retry waits 1 s"
    );

    app.advance(Duration::seconds(1));
    let second = notice_after_failures(&app, 2).await;
    assert_eq!(
        second.next_attempt_at,
        changed_at + Duration::seconds(3),
        "the second retry waits 2 s"
    );
    assert!(
        app.password_changed_notices(&someone).await.is_empty(),
        "nothing arrives during the outage"
    );

    app.set_send_fault(SendFault::None);
    app.advance(Duration::seconds(2));
    let notices = app.notices_after_outbox_empties(&someone).await;
    assert_eq!(notices.len(), 1, "the notice arrives after the outage");
}

#[tokio::test]
async fn notice_sent_once_after_lost_response() {
    let app = TestApp::spawn_with_send_faults().await;
    let (someone, _) = password_changed_during(&app, 43, SendFault::FailAfterDelivery).await;
    assert_eq!(
        app.password_changed_notices(&someone).await.len(),
        1,
        "the provider delivered the first attempt"
    );

    app.set_send_fault(SendFault::None);
    app.advance(Duration::seconds(1));
    let notices = app.notices_after_outbox_empties(&someone).await;
    assert_eq!(notices.len(), 1, "the retry is not delivered again");
}

#[tokio::test]
async fn stale_notice_dropped() {
    let app = TestApp::spawn_with_send_faults().await;
    let (someone, _) = password_changed_during(&app, 44, SendFault::Unreachable).await;

    // The provider works again, but only after the give-up limit.
    app.set_send_fault(SendFault::None);
    app.advance(Duration::hours(24) + Duration::seconds(1));
    let notices = app.notices_after_outbox_empties(&someone).await;
    assert!(
        notices.is_empty(),
        "a notice older than 24 hours is dropped, not sent"
    );
}
