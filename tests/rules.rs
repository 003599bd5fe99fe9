//! One or more tests per security rule of the reference service, over real
//! HTTP against the service and mock providers. Time moves only when a test
//! advances the service's clock, so no test sleeps to wait for an expiry.

mod common;

use chrono::Duration;
use common::{Reply, TestApp};
use recoverylab::journeys::account::SecondFactor;
use recoverylab::people::{JourneyKind, Person};
use serde_json::{json, Value};

// ---- helpers ----------------------------------------------------------------

/// Returns the secrets a person sends in the journeys: SSN, date of birth,
/// password, the new password they would choose, and the three answers.
fn secrets_of(someone: &Person) -> Vec<String> {
    let mut secrets = vec![
        someone.ssn.clone(),
        someone.date_of_birth.to_string(),
        someone.password.clone(),
        someone.new_password.clone(),
    ];
    secrets.extend(
        someone
            .security_questions
            .iter()
            .map(|item| item.answer.clone()),
    );
    secrets
}

/// Asserts the problem's status and code, and that its body repeats none of
/// the secrets the request sent.
#[track_caller]
fn assert_rejected(reply: &Reply, status: u16, code: &str, sent: &[String]) {
    reply.assert_problem(status, code);
    reply.assert_echoes_none(sent);
}

/// Returns a six-digit code that differs from `code`.
fn other_code(code: &str) -> String {
    let value: u32 = code.parse().expect("a six-digit code");
    format!("{:06}", (value + 1) % 1_000_000)
}

/// Returns an SSN in the never-issued areas that differs from `ssn`.
fn other_ssn(ssn: &str) -> String {
    let last = ssn.chars().last().expect("an SSN");
    let replacement = if last == '9' {
        '1'
    } else {
        char::from(last as u8 + 1)
    };
    format!("{}{replacement}", &ssn[..ssn.len() - 1])
}

/// Returns `text` with ASCII letters, digits and punctuation in their
/// fullwidth forms, which NFKC maps back.
fn fullwidth(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '!'..='~' => char::from_u32(c as u32 + 0xFEE0).expect("a fullwidth form"),
            other => other,
        })
        .collect()
}

fn terms() -> Value {
    json!({"terms_version": 1})
}

fn address_of(someone: &Person) -> Value {
    json!({"mailing_address": someone.mailing_address, "primary_phone": someone.primary_phone})
}

/// Counts the code messages delivered to the person's second factor.
async fn code_messages(app: &TestApp, someone: &Person) -> usize {
    let messages = match someone.second_factor {
        SecondFactor::Email => app.emails(&someone.email).await,
        SecondFactor::Sms => app.texts(&someone.cell_phone).await,
    };
    messages
        .iter()
        .filter_map(|message| message["text"].as_str())
        .filter(|text| recoverylab::load::inbox::code_in(text).is_some())
        .count()
}

/// Signs in with a wrong password `times` times, checking each reply.
async fn fail_passwords(app: &TestApp, someone: &Person, times: usize) {
    for attempt in 0..times {
        let reply = app.sign_in(someone, "not the right password").await;
        assert_eq!(
            reply.code(),
            "invalid_credentials",
            "wrong password number {attempt}"
        );
    }
}

/// Locks the account with ten wrong passwords and checks that it is locked.
async fn lock_account(app: &TestApp, someone: &Person) {
    fail_passwords(app, someone, 10).await;
    app.sign_in(someone, &someone.password)
        .await
        .assert_problem(429, "try_later");
}

/// Walks J3 into the postal branch up to the verify-address step.
async fn postal_flow_at_verify_address(app: &TestApp, someone: &Person) -> String {
    let flow = app.forgot_password(someone).await.assert_ok().flow_id();
    app.step_empty(&flow, "cannot-remember-answers")
        .await
        .assert_ok();
    app.step(&flow, "accept-terms", terms()).await.assert_ok();
    flow
}

/// Orders a postal temporary password and returns it once the letter lands.
async fn mailed_temporary_password(app: &TestApp, someone: &Person) -> String {
    let flow = postal_flow_at_verify_address(app, someone).await;
    app.step(&flow, "verify-address", address_of(someone))
        .await
        .assert_ok();
    app.step_empty(&flow, "mail-temporary-password")
        .await
        .assert_ok();
    app.posted_temporary_password(someone).await
}

/// Orders an emailed temporary password and returns it.
async fn emailed_temporary_password(app: &TestApp, someone: &Person) -> String {
    let flow = app.forgot_password(someone).await.assert_ok().flow_id();
    app.step_empty(&flow, "cannot-remember-answers")
        .await
        .assert_ok();
    app.step_empty(&flow, "email-temporary-password")
        .await
        .assert_ok();
    app.emailed_temporary_password(someone).await
}

async fn forgot_username_with(
    app: &TestApp,
    email: &str,
    ssn: &str,
    date_of_birth: &str,
    client: &str,
) -> Reply {
    let body = json!({"email": email, "ssn": ssn, "date_of_birth": date_of_birth});
    app.post_from("/v1/forgot-username", body, client).await
}

async fn forgot_password_with(
    app: &TestApp,
    username: &str,
    ssn: &str,
    date_of_birth: &str,
    client: &str,
) -> Reply {
    let body = json!({"username": username, "ssn": ssn, "date_of_birth": date_of_birth});
    app.post_from("/v1/forgot-password", body, client).await
}

/// Asserts that every reply is the uniform `could_not_verify` problem with a
/// body identical to the first one's.
#[track_caller]
fn assert_uniform(cases: &[(&str, Reply)], sent: &[String]) {
    let (_, first) = &cases[0];
    for (case, reply) in cases {
        assert_eq!(reply.status.as_u16(), 400, "status for {case}");
        assert_eq!(reply.code(), "could_not_verify", "code for {case}");
        assert_eq!(
            reply.body, first.body,
            "body for {case} equals the first case's"
        );
        reply.assert_echoes_none(sent);
    }
}

/// Posts `body` to `path` `count` times at once and returns each reply's
/// problem code, or "" for a success.
async fn post_concurrently(app: &TestApp, path: &str, body: Value, count: usize) -> Vec<String> {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..count {
        let request = app
            .client
            .post(format!("{}{path}", app.url))
            .header("x-forwarded-for", "198.18.7.1")
            .json(&body);
        tasks.spawn(async move {
            let response = request.send().await.expect("the service answers");
            let reply: Value = response.json().await.expect("a JSON reply");
            reply["code"].as_str().unwrap_or("").to_owned()
        });
    }
    let mut codes = Vec::new();
    while let Some(code) = tasks.join_next().await {
        codes.push(code.expect("the request task finishes"));
    }
    codes
}

/// Counts the replies with problem code `code` ("" for successes).
fn count_of(codes: &[String], code: &str) -> usize {
    codes.iter().filter(|reply| reply.as_str() == code).count()
}

// ---- one-time codes -----------------------------------------------------------

#[tokio::test]
async fn code_expires_after_ten_minutes() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::SignIn, 10).await;
    let flow = app
        .sign_in(&someone, &someone.password)
        .await
        .assert_ok()
        .flow_id();
    let code = app.latest_code(&someone).await;

    app.advance(Duration::minutes(10) + Duration::seconds(1));
    let reply = app.submit_code(&flow, &code).await;
    assert_rejected(&reply, 400, "code_expired", &[code]);
}

#[tokio::test]
async fn code_works_just_before_expiry() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::SignIn, 11).await;
    let flow = app
        .sign_in(&someone, &someone.password)
        .await
        .assert_ok()
        .flow_id();
    let code = app.latest_code(&someone).await;

    app.advance(Duration::minutes(9) + Duration::seconds(59));
    let reply = app.submit_code(&flow, &code).await;
    assert!(
        reply.assert_ok().body["session_token"].is_string(),
        "a code 9 min 59 s old signs in"
    );
}

#[tokio::test]
async fn sign_in_code_single_use() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::SignIn, 12).await;
    let flow = app
        .sign_in(&someone, &someone.password)
        .await
        .assert_ok()
        .flow_id();
    let code = app.latest_code(&someone).await;
    app.submit_code(&flow, &code).await.assert_ok();

    // Sign-in ends with the code, so its flow is gone.
    let replay = app.submit_code(&flow, &code).await;
    assert_rejected(&replay, 404, "flow_not_found", &[code]);
}

#[tokio::test]
async fn recovery_code_single_use() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::ForgotPassword, 13).await;
    let flow = app.forgot_password(&someone).await.assert_ok().flow_id();
    app.answers(&flow, &someone).await.assert_ok();
    app.step(&flow, "channel", json!({"channel": "email"}))
        .await
        .assert_ok();
    let code = app.latest_email_code(&someone).await;
    app.submit_code(&flow, &code).await.assert_ok();

    // The flow moved on to the new password, so the code step is out of order.
    let replay = app.submit_code(&flow, &code).await;
    assert_rejected(&replay, 409, "step_out_of_order", &[code]);
}

#[tokio::test]
async fn resent_code_voids_old_code() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::SignIn, 14).await;
    let flow = app
        .sign_in(&someone, &someone.password)
        .await
        .assert_ok()
        .flow_id();
    let old_code = app.latest_code(&someone).await;

    app.advance(Duration::seconds(31));
    app.step_empty(&flow, "resend-code").await.assert_ok();
    let new_code = app.latest_code(&someone).await;
    assert_ne!(old_code, new_code, "the resend delivered a new code");

    let reply = app.submit_code(&flow, &old_code).await;
    assert_rejected(
        &reply,
        400,
        "wrong_code",
        &[old_code.clone(), new_code.clone()],
    );
    let accepted = app.submit_code(&flow, &new_code).await;
    assert!(
        accepted.assert_ok().body["session_token"].is_string(),
        "the new code signs in"
    );
}

#[tokio::test]
async fn third_wrong_code_voids_code() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::SignIn, 15).await;
    let flow = app
        .sign_in(&someone, &someone.password)
        .await
        .assert_ok()
        .flow_id();
    let code = app.latest_code(&someone).await;
    let wrong = other_code(&code);
    let sent = [code.clone(), wrong.clone()];

    assert_rejected(
        &app.submit_code(&flow, &wrong).await,
        400,
        "wrong_code",
        &sent,
    );
    assert_rejected(
        &app.submit_code(&flow, &wrong).await,
        400,
        "wrong_code",
        &sent,
    );
    assert_rejected(
        &app.submit_code(&flow, &wrong).await,
        400,
        "code_voided",
        &sent,
    );

    let right = app.submit_code(&flow, &code).await;
    assert_rejected(&right, 409, "no_active_code", &sent);
}

// ---- lockout --------------------------------------------------------------------

#[tokio::test]
async fn ten_mixed_failures_lock_account() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::SignIn, 20).await;
    let mut sent = secrets_of(&someone);

    // Four wrong passwords, then wrong codes spread over three flows.
    fail_passwords(&app, &someone, 4).await;
    let first = app
        .sign_in(&someone, &someone.password)
        .await
        .assert_ok()
        .flow_id();
    let first_code = app.latest_code(&someone).await;
    for _ in 0..3 {
        app.submit_code(&first, &other_code(&first_code)).await;
    }
    let second = app
        .sign_in(&someone, &someone.password)
        .await
        .assert_ok()
        .flow_id();
    let second_code = app.latest_code(&someone).await;
    for _ in 0..2 {
        let reply = app.submit_code(&second, &other_code(&second_code)).await;
        assert_eq!(
            reply.code(),
            "wrong_code",
            "a wrong code in the second flow"
        );
    }
    // Nine failures so far: the right password still starts a flow.
    let third = app.sign_in(&someone, &someone.password).await;
    let third = third.assert_ok().flow_id();
    let third_code = app.latest_code(&someone).await;
    sent.extend([first_code, second_code.clone(), third_code.clone()]);

    let tenth = app.submit_code(&third, &other_code(&third_code)).await;
    assert_rejected(&tenth, 429, "try_later", &sent);
    let locked_sign_in = app.sign_in(&someone, &someone.password).await;
    assert_rejected(&locked_sign_in, 429, "try_later", &sent);
    let locked_code = app.submit_code(&second, &second_code).await;
    assert_rejected(&locked_code, 429, "try_later", &sent);
}

#[tokio::test]
async fn lockout_ends_after_thirty_minutes() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::SignIn, 21).await;
    lock_account(&app, &someone).await;

    app.advance(Duration::minutes(29) + Duration::seconds(59));
    let still_locked = app.sign_in(&someone, &someone.password).await;
    assert_rejected(&still_locked, 429, "try_later", &secrets_of(&someone));

    app.advance(Duration::seconds(1));
    let token = app.full_sign_in(&someone, &someone.password).await;
    app.session(&token).await.assert_ok();
}

#[tokio::test]
async fn unknown_username_locks_like_an_account() {
    let app = TestApp::spawn().await;
    let existing = app.enrolled(JourneyKind::SignIn, 23).await;
    let unknown = app.person(JourneyKind::SignIn, 24);
    let mut answers = Vec::new();
    for someone in [&existing, &unknown] {
        let mut sequence = Vec::new();
        for _ in 0..11 {
            let reply = app.sign_in(someone, "not the right password").await;
            sequence.push((reply.status.as_u16(), reply.body.clone()));
        }
        answers.push(sequence);
    }
    assert_eq!(
        answers[0], answers[1],
        "eleven wrong passwords answer alike for an account and an unknown username"
    );
    assert_eq!(answers[1][10].0, 429, "the eleventh answers try_later");

    // The purge of stale rate-limit records, which the service runs every
    // minute, must keep the lock for its whole 30 minutes.
    app.advance(Duration::minutes(29) + Duration::seconds(59));
    app.engine.purge_expired().await.expect("the purge runs");
    let unknown_locked = app.sign_in(&unknown, "not the right password").await;
    unknown_locked.assert_problem(429, "try_later");
    app.advance(Duration::seconds(1));
    let unknown_unlocked = app.sign_in(&unknown, "not the right password").await;
    unknown_unlocked.assert_problem(401, "invalid_credentials");
}

#[tokio::test]
async fn nine_failures_do_not_lock() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::SignIn, 22).await;
    fail_passwords(&app, &someone, 6).await;
    let flow = app
        .sign_in(&someone, &someone.password)
        .await
        .assert_ok()
        .flow_id();
    let code = app.latest_code(&someone).await;
    for _ in 0..3 {
        app.submit_code(&flow, &other_code(&code)).await;
    }

    let token = app.full_sign_in(&someone, &someone.password).await;
    app.session(&token).await.assert_ok();
}

#[tokio::test]
async fn failures_older_than_window_expire() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::SignIn, 23).await;
    fail_passwords(&app, &someone, 9).await;

    // The nine failures leave the 15-minute window before the tenth.
    app.advance(Duration::minutes(15) + Duration::seconds(1));
    fail_passwords(&app, &someone, 1).await;
    let reply = app.sign_in(&someone, &someone.password).await;
    assert_eq!(
        reply.assert_ok().body["next_step"],
        "code",
        "a tenth failure after the window does not lock"
    );
}

// ---- resend limits ----------------------------------------------------------------

#[tokio::test]
async fn resend_within_thirty_seconds_rejected() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::SignIn, 30).await;
    let flow = app
        .sign_in(&someone, &someone.password)
        .await
        .assert_ok()
        .flow_id();

    app.advance(Duration::seconds(29));
    let early = app.step_empty(&flow, "resend-code").await;
    assert_rejected(&early, 429, "resend_too_soon", &secrets_of(&someone));
    let retry_after = early
        .headers
        .get("retry-after")
        .map(|value| value.to_str().unwrap_or("").to_owned());
    assert_eq!(
        retry_after.as_deref(),
        Some("1"),
        "Retry-After gives the seconds left"
    );

    app.advance(Duration::seconds(1));
    app.step_empty(&flow, "resend-code").await.assert_ok();
    assert_eq!(
        code_messages(&app, &someone).await,
        2,
        "the first code and one resend were delivered"
    );
}

#[tokio::test]
async fn immediate_resend_has_retry_after() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::SignIn, 31).await;
    let flow = app
        .sign_in(&someone, &someone.password)
        .await
        .assert_ok()
        .flow_id();

    let reply = app.step_empty(&flow, "resend-code").await;
    reply.assert_problem(429, "resend_too_soon");
    let seconds: i64 = reply
        .headers
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
        .expect("a Retry-After header in seconds");
    assert_eq!(seconds, 30, "Retry-After right after a send");
}

#[tokio::test]
async fn sixth_resend_in_hour_rejected() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::SignIn, 32).await;
    let flow = app
        .sign_in(&someone, &someone.password)
        .await
        .assert_ok()
        .flow_id();
    for resend in 1..=5 {
        app.advance(Duration::seconds(31));
        let reply = app.step_empty(&flow, "resend-code").await;
        assert!(
            reply.status.is_success(),
            "resend {resend} is allowed: {:?}",
            reply.body
        );
    }

    app.advance(Duration::seconds(31));
    let sixth = app.step_empty(&flow, "resend-code").await;
    assert_rejected(&sixth, 429, "resend_limit", &secrets_of(&someone));
    assert_eq!(
        code_messages(&app, &someone).await,
        6,
        "the first code and five resends were delivered"
    );
}

#[tokio::test]
async fn account_code_messages_capped_hourly() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::SignIn, 33).await;
    let mut flows = Vec::new();
    for _ in 0..4 {
        flows.push(
            app.sign_in(&someone, &someone.password)
                .await
                .assert_ok()
                .flow_id(),
        );
    }
    // Four first codes, then resends across the flows up to ten messages.
    app.advance(Duration::seconds(31));
    for flow in &flows {
        app.step_empty(flow, "resend-code").await.assert_ok();
    }
    app.advance(Duration::seconds(31));
    for flow in &flows[..2] {
        app.step_empty(flow, "resend-code").await.assert_ok();
    }
    assert_eq!(
        code_messages(&app, &someone).await,
        10,
        "ten code messages were delivered"
    );

    app.advance(Duration::seconds(31));
    let resend = app.step_empty(&flows[2], "resend-code").await;
    assert_rejected(&resend, 429, "resend_limit", &secrets_of(&someone));
    let new_flow = app.sign_in(&someone, &someone.password).await;
    assert_rejected(&new_flow, 429, "resend_limit", &secrets_of(&someone));
    assert_eq!(
        code_messages(&app, &someone).await,
        10,
        "no eleventh code message was delivered"
    );

    app.advance(Duration::hours(1));
    app.sign_in(&someone, &someone.password).await.assert_ok();
    assert_eq!(
        code_messages(&app, &someone).await,
        11,
        "an hour later codes flow again"
    );
}

#[tokio::test]
async fn recovery_codes_share_account_cap() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::ForgotPassword, 34).await;
    for _ in 0..10 {
        app.sign_in(&someone, &someone.password).await.assert_ok();
    }

    // A forgot-password flow's code counts toward the same ten an hour.
    let flow = app.forgot_password(&someone).await.assert_ok().flow_id();
    app.answers(&flow, &someone).await.assert_ok();
    let channel = app.step(&flow, "channel", json!({"channel": "sms"})).await;
    assert_rejected(&channel, 429, "resend_limit", &secrets_of(&someone));
    let delivered =
        app.emails(&someone.email).await.len() + app.texts(&someone.cell_phone).await.len();
    assert_eq!(delivered, 10, "messages delivered to both channels");
}

// ---- identity checks ------------------------------------------------------------

#[tokio::test]
async fn forgot_username_failures_identical() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::ForgotUsername, 40).await;
    let stranger = app.person(JourneyKind::ForgotUsername, 41);
    let date_of_birth = someone.date_of_birth.to_string();
    let wrong_ssn = other_ssn(&someone.ssn);
    let wrong_date = (someone.date_of_birth + Duration::days(1)).to_string();
    let client = "198.18.4.1";
    let mut sent = secrets_of(&someone);
    sent.extend(secrets_of(&stranger));
    sent.extend([wrong_ssn.clone(), wrong_date.clone()]);

    let mut cases = vec![
        (
            "unknown user",
            forgot_username_with(
                &app,
                &stranger.email,
                &stranger.ssn,
                &stranger.date_of_birth.to_string(),
                client,
            )
            .await,
        ),
        (
            "wrong SSN",
            forgot_username_with(&app, &someone.email, &wrong_ssn, &date_of_birth, client).await,
        ),
        (
            "wrong date of birth",
            forgot_username_with(&app, &someone.email, &someone.ssn, &wrong_date, client).await,
        ),
        (
            "wrong email",
            forgot_username_with(&app, &stranger.email, &someone.ssn, &date_of_birth, client).await,
        ),
    ];
    lock_account(&app, &someone).await;
    cases.push((
        "locked account",
        forgot_username_with(&app, &someone.email, &someone.ssn, &date_of_birth, client).await,
    ));
    assert_uniform(&cases, &sent);
}

#[tokio::test]
async fn forgot_password_failures_identical() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::ForgotPassword, 42).await;
    let stranger = app.person(JourneyKind::ForgotPassword, 43);
    let date_of_birth = someone.date_of_birth.to_string();
    let wrong_ssn = other_ssn(&someone.ssn);
    let wrong_date = (someone.date_of_birth + Duration::days(1)).to_string();
    let client = "198.18.4.2";
    let mut sent = secrets_of(&someone);
    sent.extend(secrets_of(&stranger));
    sent.extend([wrong_ssn.clone(), wrong_date.clone()]);

    let mut cases = vec![
        (
            "unknown user",
            forgot_password_with(
                &app,
                &stranger.username,
                &stranger.ssn,
                &stranger.date_of_birth.to_string(),
                client,
            )
            .await,
        ),
        (
            "wrong SSN",
            forgot_password_with(&app, &someone.username, &wrong_ssn, &date_of_birth, client).await,
        ),
        (
            "wrong date of birth",
            forgot_password_with(&app, &someone.username, &someone.ssn, &wrong_date, client).await,
        ),
        (
            "another person's SSN",
            forgot_password_with(
                &app,
                &someone.username,
                &stranger.ssn,
                &date_of_birth,
                client,
            )
            .await,
        ),
    ];
    lock_account(&app, &someone).await;
    cases.push((
        "locked account",
        forgot_password_with(
            &app,
            &someone.username,
            &someone.ssn,
            &date_of_birth,
            client,
        )
        .await,
    ));
    assert_uniform(&cases, &sent);
}

#[tokio::test]
async fn verify_address_failures_identical() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::TempPasswordPostal, 44).await;
    let flow = postal_flow_at_verify_address(&app, &someone).await;
    let sent = secrets_of(&someone);

    let mut wrong_line = someone.mailing_address.clone();
    wrong_line.line1 = format!("9{}", wrong_line.line1);
    let mut wrong_zip = someone.mailing_address.clone();
    wrong_zip.zip = if wrong_zip.zip == "10001" {
        "10002".to_owned()
    } else {
        "10001".to_owned()
    };
    let wrong_phone = if someone.primary_phone.ends_with("0100") {
        "2025550101"
    } else {
        "2025550100"
    };

    let mut cases = vec![
        (
            "wrong address line",
            app.step(
                &flow,
                "verify-address",
                json!({"mailing_address": wrong_line, "primary_phone": someone.primary_phone}),
            )
            .await,
        ),
        (
            "wrong ZIP code",
            app.step(
                &flow,
                "verify-address",
                json!({"mailing_address": wrong_zip, "primary_phone": someone.primary_phone}),
            )
            .await,
        ),
        (
            "wrong primary phone",
            app.step(
                &flow,
                "verify-address",
                json!({"mailing_address": someone.mailing_address, "primary_phone": wrong_phone}),
            )
            .await,
        ),
    ];
    lock_account(&app, &someone).await;
    cases.push((
        "locked account",
        app.step(&flow, "verify-address", address_of(&someone))
            .await,
    ));
    assert_uniform(&cases, &sent);
}

#[tokio::test]
async fn forgot_password_limit_per_username() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::ForgotPassword, 45).await;
    let date_of_birth = someone.date_of_birth.to_string();
    let wrong_ssn = other_ssn(&someone.ssn);
    let client = "198.18.4.3";
    for attempt in 1..=5 {
        let reply =
            forgot_password_with(&app, &someone.username, &wrong_ssn, &date_of_birth, client).await;
        assert_eq!(reply.code(), "could_not_verify", "failure {attempt}");
    }

    let limited = forgot_password_with(
        &app,
        &someone.username,
        &someone.ssn,
        &date_of_birth,
        client,
    )
    .await;
    assert_rejected(&limited, 429, "try_later", &secrets_of(&someone));
    let other_client = forgot_password_with(
        &app,
        &someone.username,
        &someone.ssn,
        &date_of_birth,
        "198.18.4.4",
    )
    .await;
    assert_rejected(&other_client, 429, "try_later", &secrets_of(&someone));

    app.advance(Duration::minutes(15));
    forgot_password_with(
        &app,
        &someone.username,
        &someone.ssn,
        &date_of_birth,
        client,
    )
    .await
    .assert_ok();
}

#[tokio::test]
async fn forgot_username_limit_per_email() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::ForgotUsername, 46).await;
    let date_of_birth = someone.date_of_birth.to_string();
    let wrong_ssn = other_ssn(&someone.ssn);
    let client = "198.18.4.5";
    for attempt in 1..=5 {
        let reply =
            forgot_username_with(&app, &someone.email, &wrong_ssn, &date_of_birth, client).await;
        assert_eq!(reply.code(), "could_not_verify", "failure {attempt}");
    }

    let limited =
        forgot_username_with(&app, &someone.email, &someone.ssn, &date_of_birth, client).await;
    assert_rejected(&limited, 429, "try_later", &secrets_of(&someone));

    app.advance(Duration::minutes(15));
    let reply =
        forgot_username_with(&app, &someone.email, &someone.ssn, &date_of_birth, client).await;
    assert_eq!(reply.assert_ok().field("username"), someone.username);
}

#[tokio::test]
async fn verify_address_limit_per_account() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::TempPasswordPostal, 47).await;
    let flow = postal_flow_at_verify_address(&app, &someone).await;
    let mut wrong = someone.mailing_address.clone();
    wrong.line1 = format!("9{}", wrong.line1);
    let wrong_body = json!({"mailing_address": wrong, "primary_phone": someone.primary_phone});
    for attempt in 1..=5 {
        let reply = app.step(&flow, "verify-address", wrong_body.clone()).await;
        assert_eq!(reply.code(), "could_not_verify", "failure {attempt}");
    }

    let limited = app
        .step(&flow, "verify-address", address_of(&someone))
        .await;
    assert_rejected(&limited, 429, "try_later", &secrets_of(&someone));
}

#[tokio::test]
async fn identity_limit_per_client_address() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::ForgotPassword, 48).await;
    let date_of_birth = someone.date_of_birth.to_string();
    let client = "198.18.4.6";
    // Twenty failures for twenty different identifiers, over J2 and J3.
    for attempt in 0..20 {
        let reply = if attempt % 2 == 0 {
            forgot_password_with(
                &app,
                &format!("nobody.{attempt}"),
                &someone.ssn,
                &date_of_birth,
                client,
            )
            .await
        } else {
            forgot_username_with(
                &app,
                &format!("nobody.{attempt}@example.org"),
                &someone.ssn,
                &date_of_birth,
                client,
            )
            .await
        };
        assert_eq!(reply.code(), "could_not_verify", "failure {attempt}");
    }

    let limited = forgot_password_with(
        &app,
        &someone.username,
        &someone.ssn,
        &date_of_birth,
        client,
    )
    .await;
    assert_rejected(&limited, 429, "try_later", &secrets_of(&someone));
    let limited_j2 =
        forgot_username_with(&app, &someone.email, &someone.ssn, &date_of_birth, client).await;
    assert_rejected(&limited_j2, 429, "try_later", &secrets_of(&someone));
    let other_client = forgot_password_with(
        &app,
        &someone.username,
        &someone.ssn,
        &date_of_birth,
        "198.18.4.7",
    )
    .await;
    other_client.assert_ok();

    app.advance(Duration::minutes(15));
    forgot_password_with(
        &app,
        &someone.username,
        &someone.ssn,
        &date_of_birth,
        client,
    )
    .await
    .assert_ok();
}

// ---- canonical identifiers ------------------------------------------------------

#[tokio::test]
async fn username_matches_canonical_forms() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::ForgotPassword, 50).await;
    let date_of_birth = someone.date_of_birth.to_string();
    let forms = [
        ("upper case", someone.username.to_uppercase()),
        (
            "surrounding whitespace",
            format!(" \t{} ", someone.username),
        ),
        ("fullwidth", fullwidth(&someone.username)),
    ];
    for (case, username) in forms {
        let sign_in = app
            .post(
                "/v1/sign-in",
                json!({"username": username, "password": someone.password}),
            )
            .await;
        assert!(
            sign_in.status.is_success(),
            "sign-in with the {case} username: {:?}",
            sign_in.body
        );
        let forgot =
            forgot_password_with(&app, &username, &someone.ssn, &date_of_birth, "198.18.5.1").await;
        assert!(
            forgot.status.is_success(),
            "forgot-password with the {case} username: {:?}",
            forgot.body
        );
    }
}

#[tokio::test]
async fn email_matches_canonical_forms() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::ForgotUsername, 51).await;
    let date_of_birth = someone.date_of_birth.to_string();
    let forms = [
        ("upper case", someone.email.to_uppercase()),
        ("surrounding whitespace", format!("  {}\t", someone.email)),
        ("fullwidth", fullwidth(&someone.email)),
    ];
    for (case, email) in forms {
        let reply =
            forgot_username_with(&app, &email, &someone.ssn, &date_of_birth, "198.18.5.2").await;
        assert!(
            reply.status.is_success(),
            "forgot-username with the {case} email: {:?}",
            reply.body
        );
        assert_eq!(
            reply.field("username"),
            someone.username,
            "username for the {case} email"
        );
    }
}

/// Returns a person whose username contains a Latin `a`, and the username with
/// the first one replaced by the Cyrillic `а` (U+0430) that looks the same.
fn person_with_lookalike(app: &TestApp, kind: JourneyKind) -> (Person, String) {
    let someone = (52..100)
        .map(|index| app.person(kind, index))
        .find(|candidate| candidate.username.contains('a'))
        .expect("a username with the letter a");
    let lookalike = someone.username.replacen('a', "\u{0430}", 1);
    (someone, lookalike)
}

#[tokio::test]
async fn lookalike_username_does_not_match() {
    let app = TestApp::spawn().await;
    let (someone, lookalike) = person_with_lookalike(&app, JourneyKind::ForgotPassword);
    app.enroll(&[&someone]).await.assert_ok();
    let date_of_birth = someone.date_of_birth.to_string();

    let sign_in = app
        .post(
            "/v1/sign-in",
            json!({"username": lookalike, "password": someone.password}),
        )
        .await;
    assert_rejected(&sign_in, 401, "invalid_credentials", &secrets_of(&someone));
    let forgot =
        forgot_password_with(&app, &lookalike, &someone.ssn, &date_of_birth, "198.18.5.3").await;
    assert_rejected(&forgot, 400, "could_not_verify", &secrets_of(&someone));
}

#[tokio::test]
async fn lookalike_email_does_not_match() {
    let app = TestApp::spawn().await;
    let someone = (52..100)
        .map(|index| app.person(JourneyKind::ForgotUsername, index))
        .find(|candidate| candidate.email.contains('a'))
        .expect("an email with the letter a");
    app.enroll(&[&someone]).await.assert_ok();
    let lookalike = someone.email.replacen('a', "\u{0430}", 1);

    let reply = forgot_username_with(
        &app,
        &lookalike,
        &someone.ssn,
        &someone.date_of_birth.to_string(),
        "198.18.5.4",
    )
    .await;
    assert_rejected(&reply, 400, "could_not_verify", &secrets_of(&someone));
}

#[tokio::test]
async fn case_variants_share_identity_limit() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::ForgotPassword, 53).await;
    let date_of_birth = someone.date_of_birth.to_string();
    let wrong_ssn = other_ssn(&someone.ssn);
    let variants = [
        someone.username.to_uppercase(),
        format!("  {}", someone.username),
        fullwidth(&someone.username),
        someone.username.to_uppercase() + " ",
        someone.username.clone(),
    ];
    for (attempt, username) in variants.iter().enumerate() {
        let reply =
            forgot_password_with(&app, username, &wrong_ssn, &date_of_birth, "198.18.5.5").await;
        assert_eq!(reply.code(), "could_not_verify", "failure {attempt}");
    }

    let limited = forgot_password_with(
        &app,
        &someone.username,
        &someone.ssn,
        &date_of_birth,
        "198.18.5.6",
    )
    .await;
    assert_rejected(&limited, 429, "try_later", &secrets_of(&someone));
}

#[tokio::test]
async fn email_variants_share_identity_limit() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::ForgotUsername, 54).await;
    let date_of_birth = someone.date_of_birth.to_string();
    let wrong_ssn = other_ssn(&someone.ssn);
    let variants = [
        someone.email.to_uppercase(),
        format!(" {} ", someone.email),
        fullwidth(&someone.email),
        someone.email.to_uppercase(),
        someone.email.clone(),
    ];
    for (attempt, email) in variants.iter().enumerate() {
        let reply =
            forgot_username_with(&app, email, &wrong_ssn, &date_of_birth, "198.18.5.7").await;
        assert_eq!(reply.code(), "could_not_verify", "failure {attempt}");
    }

    let limited = forgot_username_with(
        &app,
        &someone.email,
        &someone.ssn,
        &date_of_birth,
        "198.18.5.8",
    )
    .await;
    assert_rejected(&limited, 429, "try_later", &secrets_of(&someone));
}

#[tokio::test]
async fn lookalike_has_own_identity_limit() {
    let app = TestApp::spawn().await;
    let (someone, lookalike) = person_with_lookalike(&app, JourneyKind::ForgotPassword);
    app.enroll(&[&someone]).await.assert_ok();
    let date_of_birth = someone.date_of_birth.to_string();
    for attempt in 1..=5 {
        let reply =
            forgot_password_with(&app, &lookalike, &someone.ssn, &date_of_birth, "198.18.5.9")
                .await;
        assert_eq!(
            reply.code(),
            "could_not_verify",
            "look-alike failure {attempt}"
        );
    }

    // The look-alike is another identifier, so the real one is not limited.
    forgot_password_with(
        &app,
        &someone.username,
        &someone.ssn,
        &date_of_birth,
        "198.18.5.10",
    )
    .await
    .assert_ok();
}

// ---- binding ----------------------------------------------------------------------

#[tokio::test]
async fn code_from_other_flow_wrong() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::SignIn, 60).await;
    let first = app
        .sign_in(&someone, &someone.password)
        .await
        .assert_ok()
        .flow_id();
    let first_code = app.latest_code(&someone).await;
    let second = app
        .sign_in(&someone, &someone.password)
        .await
        .assert_ok()
        .flow_id();
    let second_code = app.latest_code(&someone).await;

    let sent = [first_code.clone(), second_code.clone()];

    // Each code works only in its own flow, in either direction.
    let crossed = app.submit_code(&second, &first_code).await;
    assert_rejected(&crossed, 400, "wrong_code", &sent);
    let crossed_back = app.submit_code(&first, &second_code).await;
    assert_rejected(&crossed_back, 400, "wrong_code", &sent);
    app.submit_code(&second, &second_code).await.assert_ok();
    app.submit_code(&first, &first_code).await.assert_ok();
}

#[tokio::test]
async fn code_from_other_account_wrong() {
    let app = TestApp::spawn().await;
    let alice = app.person(JourneyKind::SignIn, 61);
    let bob = app.person(JourneyKind::SignIn, 62);
    app.enroll(&[&alice, &bob]).await.assert_ok();
    let alice_flow = app
        .sign_in(&alice, &alice.password)
        .await
        .assert_ok()
        .flow_id();
    let alice_code = app.latest_code(&alice).await;
    let bob_flow = app.sign_in(&bob, &bob.password).await.assert_ok().flow_id();
    let bob_code = app.latest_code(&bob).await;
    let sent = [alice_code.clone(), bob_code.clone()];

    // Alice has Bob's flow id: her code is wrong there, and the flow only
    // takes its own next step.
    let crossed = app.submit_code(&bob_flow, &alice_code).await;
    assert_rejected(&crossed, 400, "wrong_code", &sent);
    let skipped = app
        .step(
            &bob_flow,
            "new-password",
            json!({"password": "alice takes over bob"}),
        )
        .await;
    assert_rejected(&skipped, 409, "step_out_of_order", &sent);
    // A resend in Bob's flow still goes to Bob's second factor only.
    app.advance(Duration::seconds(31));
    app.step_empty(&bob_flow, "resend-code").await.assert_ok();
    assert_eq!(
        code_messages(&app, &alice).await,
        1,
        "Alice received only her own code"
    );
    assert_eq!(
        code_messages(&app, &bob).await,
        2,
        "Bob received the first code and the resend"
    );

    let session = app.submit_code(&alice_flow, &alice_code).await;
    let token = session.assert_ok().field("session_token").to_owned();
    assert_eq!(app.session(&token).await.field("username"), alice.username);
}

#[tokio::test]
async fn temporary_password_only_own_username() {
    let app = TestApp::spawn().await;
    let owner = app.person(JourneyKind::TempPasswordEmail, 63);
    let other = app.person(JourneyKind::TempPasswordEmail, 64);
    app.enroll(&[&owner, &other]).await.assert_ok();
    let temporary = emailed_temporary_password(&app, &owner).await;

    let elsewhere = app.sign_in(&other, &temporary).await;
    assert_rejected(
        &elsewhere,
        401,
        "invalid_credentials",
        std::slice::from_ref(&temporary),
    );
    let own = app.sign_in(&owner, &temporary).await;
    assert_eq!(own.assert_ok().body["next_step"], "confirm_contact");
}

// ---- temporary passwords ------------------------------------------------------------

#[tokio::test]
async fn emailed_temporary_password_expires_after_day() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::TempPasswordEmail, 70).await;
    let temporary = emailed_temporary_password(&app, &someone).await;

    app.advance(Duration::hours(24) + Duration::seconds(1));
    let reply = app.sign_in(&someone, &temporary).await;
    assert_rejected(&reply, 401, "invalid_credentials", &[temporary]);
}

#[tokio::test]
async fn emailed_temporary_password_valid_within_day() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::TempPasswordEmail, 71).await;
    let temporary = emailed_temporary_password(&app, &someone).await;

    app.advance(Duration::hours(23) + Duration::minutes(59) + Duration::seconds(59));
    let reply = app.sign_in(&someone, &temporary).await;
    assert_eq!(reply.assert_ok().body["next_step"], "confirm_contact");
}

#[tokio::test]
async fn posted_temporary_password_lasts_thirty_days() {
    let app = TestApp::spawn().await;
    let early = app.person(JourneyKind::TempPasswordPostal, 72);
    let late = app.person(JourneyKind::TempPasswordPostal, 73);
    app.enroll(&[&early, &late]).await.assert_ok();
    let early_password = mailed_temporary_password(&app, &early).await;
    let late_password = mailed_temporary_password(&app, &late).await;

    app.advance(Duration::days(29));
    let day_29 = app.sign_in(&early, &early_password).await;
    assert_eq!(
        day_29.assert_ok().body["next_step"],
        "confirm_contact",
        "valid after 29 days"
    );

    app.advance(Duration::days(1));
    let day_30 = app.sign_in(&late, &late_password).await;
    assert_rejected(&day_30, 401, "invalid_credentials", &[late_password]);
}

#[tokio::test]
async fn temporary_passwords_are_single_use() {
    let app = TestApp::spawn().await;
    let emailed_to = app.person(JourneyKind::TempPasswordEmail, 74);
    let posted_to = app.person(JourneyKind::TempPasswordPostal, 75);
    app.enroll(&[&emailed_to, &posted_to]).await.assert_ok();
    let emailed = emailed_temporary_password(&app, &emailed_to).await;
    let posted = mailed_temporary_password(&app, &posted_to).await;

    app.sign_in(&emailed_to, &emailed).await.assert_ok();
    let emailed_again = app.sign_in(&emailed_to, &emailed).await;
    assert_rejected(&emailed_again, 401, "invalid_credentials", &[emailed]);
    app.sign_in(&posted_to, &posted).await.assert_ok();
    let posted_again = app.sign_in(&posted_to, &posted).await;
    assert_rejected(&posted_again, 401, "invalid_credentials", &[posted]);
}

#[tokio::test]
async fn temporary_password_forces_new_password() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::TempPasswordEmail, 76).await;
    let temporary = emailed_temporary_password(&app, &someone).await;
    let sent = [temporary.clone()];

    let signed_in = app.sign_in(&someone, &temporary).await;
    assert_eq!(signed_in.assert_ok().body["next_step"], "confirm_contact");
    let flow = signed_in.flow_id();
    assert_rejected(
        &app.step(&flow, "accept-terms", terms()).await,
        409,
        "step_out_of_order",
        &sent,
    );
    assert_rejected(
        &app.submit_code(&flow, "123456").await,
        409,
        "step_out_of_order",
        &sent,
    );

    let confirmed = app.step_empty(&flow, "confirm-contact").await;
    assert_eq!(confirmed.assert_ok().body["next_step"], "code");
    assert_rejected(
        &app.step(&flow, "accept-terms", terms()).await,
        409,
        "step_out_of_order",
        &sent,
    );

    let code = app.latest_code(&someone).await;
    let coded = app.submit_code(&flow, &code).await;
    assert_eq!(coded.assert_ok().body["next_step"], "new_password");
    assert!(
        coded.body.get("session_token").is_none(),
        "no session before a new password"
    );
    let terms_first = app.step(&flow, "accept-terms", terms()).await;
    assert_rejected(
        &terms_first,
        409,
        "step_out_of_order",
        &[temporary.clone(), code],
    );

    app.step(
        &flow,
        "new-password",
        json!({"password": someone.new_password}),
    )
    .await
    .assert_ok();
    let done = app.step(&flow, "accept-terms", terms()).await;
    assert!(
        done.assert_ok().body["session_token"].is_string(),
        "a session after the new password"
    );
}

#[tokio::test]
async fn abandoned_temporary_sign_in_still_forces_change() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::TempPasswordEmail, 78).await;
    let temporary = emailed_temporary_password(&app, &someone).await;
    app.sign_in(&someone, &temporary).await.assert_ok();

    // The person leaves, then signs in with the old password they remembered.
    let flow = app
        .sign_in(&someone, &someone.password)
        .await
        .assert_ok()
        .flow_id();
    let code = app.latest_code(&someone).await;
    let coded = app.submit_code(&flow, &code).await;
    assert_eq!(
        coded.assert_ok().body["next_step"],
        "new_password",
        "a new password is still required"
    );
    assert!(
        coded.body.get("session_token").is_none(),
        "no session before a new password"
    );

    app.step(
        &flow,
        "new-password",
        json!({"password": someone.new_password}),
    )
    .await
    .assert_ok();
    let done = app.step(&flow, "accept-terms", terms()).await;
    assert!(done.assert_ok().body["session_token"].is_string());
    app.full_sign_in(&someone, &someone.new_password).await;
}

#[tokio::test]
async fn resend_after_void_keeps_chosen_channel() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::ForgotPassword, 79).await;
    let flow = app.forgot_password(&someone).await.assert_ok().flow_id();
    app.answers(&flow, &someone).await.assert_ok();
    let other_channel = match someone.second_factor {
        recoverylab::journeys::account::SecondFactor::Email => "sms",
        recoverylab::journeys::account::SecondFactor::Sms => "email",
    };
    app.step(&flow, "channel", json!({"channel": other_channel}))
        .await
        .assert_ok();
    let messages = match other_channel {
        "sms" => app.texts(&someone.cell_phone).await,
        _ => app.emails(&someone.email).await,
    };
    let code = messages
        .iter()
        .rev()
        .filter_map(|message| message["text"].as_str())
        .find_map(recoverylab::load::inbox::code_in)
        .expect("a code on the chosen channel");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..3 {
        app.submit_code(&flow, wrong).await;
    }

    app.advance(chrono::Duration::seconds(31));
    let resent = app.step_empty(&flow, "resend-code").await;
    assert_eq!(
        resent.assert_ok().body["code_sent_to"]["channel"],
        other_channel,
        "the resend uses the chosen channel"
    );
}

#[tokio::test]
async fn new_temporary_password_voids_old() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::TempPasswordEmail, 77).await;
    let first = emailed_temporary_password(&app, &someone).await;
    let second = emailed_temporary_password(&app, &someone).await;
    assert_ne!(
        first, second,
        "the second email holds a new temporary password"
    );

    let old = app.sign_in(&someone, &first).await;
    assert_rejected(&old, 401, "invalid_credentials", &[first, second.clone()]);
    app.sign_in(&someone, &second).await.assert_ok();
}

// ---- after a password change ----------------------------------------------------------

#[tokio::test]
async fn password_change_revokes_everything_else() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::TempPasswordEmail, 80).await;
    let old_session = app.full_sign_in(&someone, &someone.password).await;
    let open_flow = app
        .sign_in(&someone, &someone.password)
        .await
        .assert_ok()
        .flow_id();
    let open_code = app.latest_code(&someone).await;
    let temporary = emailed_temporary_password(&app, &someone).await;

    let flow = app.forgot_password_to_new_password(&someone).await;
    app.step(
        &flow,
        "new-password",
        json!({"password": someone.new_password}),
    )
    .await
    .assert_ok();
    let done = app.step(&flow, "accept-terms", terms()).await;
    let new_session = done.assert_ok().field("session_token").to_owned();
    let mut sent = secrets_of(&someone);
    sent.extend([open_code.clone(), temporary.clone()]);

    assert_rejected(
        &app.session(&old_session).await,
        401,
        "invalid_session",
        &sent,
    );
    app.session(&new_session).await.assert_ok();
    assert_rejected(
        &app.submit_code(&open_flow, &open_code).await,
        404,
        "flow_not_found",
        &sent,
    );
    assert_rejected(
        &app.sign_in(&someone, &temporary).await,
        401,
        "invalid_credentials",
        &sent,
    );
    assert_rejected(
        &app.sign_in(&someone, &someone.password).await,
        401,
        "invalid_credentials",
        &sent,
    );
    let notices = app.notices_after_outbox_empties(&someone).await;
    assert_eq!(notices.len(), 1, "one password-changed email");
}

// ---- new-password policy ------------------------------------------------------------------

#[tokio::test]
async fn new_password_policy_rejections() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::ForgotPassword, 90).await;
    let flow = app.forgot_password_to_new_password(&someone).await;
    let with_username = format!("my {} secret", someone.username.to_uppercase());
    let cases = [
        (
            "11 characters",
            "abcdefghijk".to_owned(),
            "password_too_short",
        ),
        (
            "11 two-byte characters",
            "é".repeat(11),
            "password_too_short",
        ),
        ("129 characters", "x".repeat(129), "password_too_long"),
        (
            "129 two-byte characters",
            "é".repeat(129),
            "password_too_long",
        ),
        (
            "contains the username",
            with_username,
            "password_contains_username",
        ),
        ("common", "Password1234".to_owned(), "password_common"),
        (
            "equal to current",
            someone.password.clone(),
            "password_same_as_current",
        ),
    ];
    for (case, password, code) in cases {
        let reply = app
            .step(&flow, "new-password", json!({"password": password}))
            .await;
        assert_eq!(reply.status.as_u16(), 422, "status for {case}");
        assert_eq!(reply.code(), code, "code for {case}");
        reply.assert_echoes_none(&[password]);
    }
}

#[tokio::test]
async fn new_password_length_bounds_accepted() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::ForgotPassword, 91).await;
    let cases = [
        ("12 characters", "quiet harbor".to_owned()),
        ("128 characters", "x".repeat(128)),
        ("12 two-byte characters", "é".repeat(12)),
        ("128 four-byte characters", "🔑".repeat(128)),
    ];
    // Each accepted password ends its flow's password step, so each gets a flow.
    for (case, password) in cases {
        let flow = app.forgot_password_to_new_password(&someone).await;
        let reply = app
            .step(&flow, "new-password", json!({"password": password}))
            .await;
        assert!(
            reply.status.is_success(),
            "{case} accepted: {:?}",
            reply.body
        );
    }
}

// ---- flow expiry --------------------------------------------------------------------

#[tokio::test]
async fn idle_flow_expires_after_thirty_minutes() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::ForgotPassword, 100).await;
    let flow = app.forgot_password(&someone).await.assert_ok().flow_id();

    app.advance(Duration::minutes(29) + Duration::seconds(59));
    app.answers(&flow, &someone).await.assert_ok();

    app.advance(Duration::minutes(30));
    let reply = app
        .step(&flow, "channel", json!({"channel": "email"}))
        .await;
    assert_rejected(&reply, 404, "flow_not_found", &secrets_of(&someone));
}

#[tokio::test]
async fn posted_password_outlives_its_flow() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::TempPasswordPostal, 101).await;
    let flow = postal_flow_at_verify_address(&app, &someone).await;
    app.step(&flow, "verify-address", address_of(&someone))
        .await
        .assert_ok();
    app.step_empty(&flow, "mail-temporary-password")
        .await
        .assert_ok();
    let temporary = app.posted_temporary_password(&someone).await;

    app.advance(Duration::minutes(31));
    let after_flow_ended = app.step_empty(&flow, "mail-temporary-password").await;
    assert_rejected(
        &after_flow_ended,
        404,
        "flow_not_found",
        std::slice::from_ref(&temporary),
    );
    let reply = app.sign_in(&someone, &temporary).await;
    assert_eq!(reply.assert_ok().body["next_step"], "confirm_contact");
}

// ---- step order ----------------------------------------------------------------------

#[tokio::test]
async fn steps_out_of_order_rejected() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::TempPasswordPostal, 110).await;
    let flow = app.forgot_password(&someone).await.assert_ok().flow_id();
    let sent = secrets_of(&someone);
    let cases = [
        ("channel", Some(json!({"channel": "email"}))),
        ("code", Some(json!({"code": "123456"}))),
        ("resend-code", None),
        ("confirm-contact", None),
        (
            "new-password",
            Some(json!({"password": someone.new_password})),
        ),
        ("accept-terms", Some(terms())),
        ("verify-address", Some(address_of(&someone))),
        ("mail-temporary-password", None),
        ("email-temporary-password", None),
    ];
    // The flow waits for answers, so every other step is out of order.
    for (step, body) in cases {
        let reply = match body {
            Some(body) => app.step(&flow, step, body).await,
            None => app.step_empty(&flow, step).await,
        };
        assert_eq!(
            reply.status.as_u16(),
            409,
            "status of {step} before answers"
        );
        assert_eq!(
            reply.code(),
            "step_out_of_order",
            "code of {step} before answers"
        );
        reply.assert_echoes_none(&sent);
    }
    app.answers(&flow, &someone).await.assert_ok();
}

#[tokio::test]
async fn sign_in_flow_takes_only_code() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::SignIn, 111).await;
    let flow = app
        .sign_in(&someone, &someone.password)
        .await
        .assert_ok()
        .flow_id();
    let answers: Vec<&str> = someone
        .security_questions
        .iter()
        .map(|item| item.answer.as_str())
        .collect();
    let sent = secrets_of(&someone);

    let reply = app
        .step(&flow, "answers", json!({"answers": answers}))
        .await;
    assert_rejected(&reply, 409, "step_out_of_order", &sent);
    let reply = app
        .step(
            &flow,
            "new-password",
            json!({"password": someone.new_password}),
        )
        .await;
    assert_rejected(&reply, 409, "step_out_of_order", &sent);
    let reply = app.step_empty(&flow, "cannot-remember-answers").await;
    assert_rejected(&reply, 409, "step_out_of_order", &sent);
}

// ---- rules under concurrent requests ----------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_wrong_codes_void_once() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::SignIn, 130).await;
    let flow = app
        .sign_in(&someone, &someone.password)
        .await
        .assert_ok()
        .flow_id();
    let code = app.latest_code(&someone).await;

    let codes = post_concurrently(
        &app,
        &format!("/v1/flows/{flow}/code"),
        json!({"code": other_code(&code)}),
        8,
    )
    .await;
    assert_eq!(
        count_of(&codes, "wrong_code"),
        2,
        "wrong_code replies in {codes:?}"
    );
    assert_eq!(
        count_of(&codes, "code_voided"),
        1,
        "code_voided replies in {codes:?}"
    );
    assert_eq!(
        count_of(&codes, "no_active_code"),
        5,
        "no_active_code replies in {codes:?}"
    );
    app.submit_code(&flow, &code)
        .await
        .assert_problem(409, "no_active_code");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_same_code_accepted_once() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::SignIn, 134).await;
    let flow = app
        .sign_in(&someone, &someone.password)
        .await
        .assert_ok()
        .flow_id();
    let code = app.latest_code(&someone).await;

    let codes = post_concurrently(
        &app,
        &format!("/v1/flows/{flow}/code"),
        json!({"code": code}),
        8,
    )
    .await;
    assert_eq!(count_of(&codes, ""), 1, "successes in {codes:?}");
    assert!(
        codes
            .iter()
            .filter(|code| !code.is_empty())
            .all(|code| code == "flow_not_found" || code == "no_active_code"),
        "the other replies say the code or flow is used up: {codes:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_new_passwords_apply_once() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::ForgotPassword, 135).await;
    let flow = app.forgot_password_to_new_password(&someone).await;
    let passwords = ["first parallel choice 1", "second parallel choice 2"];

    let path = format!("/v1/flows/{flow}/new-password");
    let (first, second) = tokio::join!(
        app.post(&path, json!({"password": passwords[0]})),
        app.post(&path, json!({"password": passwords[1]})),
    );
    let succeeded: Vec<&str> = [(&first, passwords[0]), (&second, passwords[1])]
        .into_iter()
        .filter(|(reply, _)| reply.status == 200)
        .map(|(_, password)| password)
        .collect();
    assert_eq!(
        succeeded.len(),
        1,
        "one of two applies: {first:?} {second:?}"
    );
    let rejected = if first.status == 200 { &second } else { &first };
    assert_eq!(rejected.code(), "step_out_of_order", "{rejected:?}");

    let applied = succeeded[0];
    let other = passwords.iter().find(|p| **p != applied).unwrap();
    app.sign_in(&someone, applied).await.assert_ok();
    app.sign_in(&someone, other)
        .await
        .assert_problem(401, "invalid_credentials");
    assert_eq!(
        app.notices_after_outbox_empties(&someone).await.len(),
        1,
        "one password-changed notice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_wrong_passwords_lock_once() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::SignIn, 131).await;
    let body = json!({"username": someone.username, "password": "not the right password"});

    let codes = post_concurrently(&app, "/v1/sign-in", body, 14).await;
    assert_eq!(
        count_of(&codes, "invalid_credentials"),
        10,
        "invalid_credentials replies in {codes:?}"
    );
    assert_eq!(
        count_of(&codes, "try_later"),
        4,
        "try_later replies in {codes:?}"
    );
    app.sign_in(&someone, &someone.password)
        .await
        .assert_problem(429, "try_later");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_sign_ins_capped_at_ten() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::SignIn, 132).await;
    let body = json!({"username": someone.username, "password": someone.password});

    let codes = post_concurrently(&app, "/v1/sign-in", body, 15).await;
    assert_eq!(count_of(&codes, ""), 10, "successes in {codes:?}");
    assert_eq!(
        count_of(&codes, "resend_limit"),
        5,
        "resend_limit replies in {codes:?}"
    );
    assert_eq!(
        code_messages(&app, &someone).await,
        10,
        "code messages delivered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_resends_send_one() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::SignIn, 133).await;
    let flow = app
        .sign_in(&someone, &someone.password)
        .await
        .assert_ok()
        .flow_id();
    app.advance(Duration::seconds(31));

    let codes = post_concurrently(
        &app,
        &format!("/v1/flows/{flow}/resend-code"),
        Value::Null,
        6,
    )
    .await;
    assert_eq!(count_of(&codes, ""), 1, "successes in {codes:?}");
    assert_eq!(
        count_of(&codes, "resend_too_soon"),
        5,
        "resend_too_soon replies in {codes:?}"
    );
    assert_eq!(
        code_messages(&app, &someone).await,
        2,
        "the first code and one resend were delivered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_resends_leave_newest_code() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::SignIn, 136).await;
    let flow = app
        .sign_in(&someone, &someone.password)
        .await
        .assert_ok()
        .flow_id();
    let first = app.latest_code(&someone).await;
    app.advance(Duration::seconds(31));

    post_concurrently(
        &app,
        &format!("/v1/flows/{flow}/resend-code"),
        Value::Null,
        6,
    )
    .await;
    let newest = app.latest_code(&someone).await;
    if newest != first {
        app.submit_code(&flow, &first)
            .await
            .assert_problem(400, "wrong_code");
    }
    app.submit_code(&flow, &newest).await.assert_ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_wrong_codes_lock_across_flows() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::SignIn, 137).await;
    let mut flows = Vec::new();
    for _ in 0..4 {
        let flow = app
            .sign_in(&someone, &someone.password)
            .await
            .assert_ok()
            .flow_id();
        flows.push(flow);
    }

    // Three wrong codes on each of four flows: twelve failures at once,
    // counted per account. The tenth locks the account and, like every
    // attempt after it, gets try_later.
    let mut tasks = tokio::task::JoinSet::new();
    for flow in &flows {
        for _ in 0..3 {
            let request = app
                .client
                .post(format!("{}/v1/flows/{flow}/code", app.url))
                .header("x-forwarded-for", "198.18.7.2")
                .json(&json!({"code": "000000"}));
            tasks.spawn(async move {
                let reply: Value = request
                    .send()
                    .await
                    .expect("the service answers")
                    .json()
                    .await
                    .expect("a JSON reply");
                reply["code"].as_str().unwrap_or("").to_owned()
            });
        }
    }
    let mut codes = Vec::new();
    while let Some(code) = tasks.join_next().await {
        codes.push(code.expect("the request task finishes"));
    }
    let counted = count_of(&codes, "wrong_code") + count_of(&codes, "code_voided");
    assert_eq!(counted, 9, "failures answered before the lock: {codes:?}");
    assert_eq!(
        count_of(&codes, "try_later"),
        3,
        "locked replies: {codes:?}"
    );
    app.sign_in(&someone, &someone.password)
        .await
        .assert_problem(429, "try_later");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_identity_failures_capped() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::ForgotPassword, 134).await;
    let body = json!({"username": someone.username, "ssn": other_ssn(&someone.ssn), "date_of_birth": someone.date_of_birth});

    let codes = post_concurrently(&app, "/v1/forgot-password", body, 12).await;
    assert_eq!(
        count_of(&codes, "could_not_verify"),
        5,
        "could_not_verify replies in {codes:?}"
    );
    assert_eq!(
        count_of(&codes, "try_later"),
        7,
        "try_later replies in {codes:?}"
    );
}

// ---- secrets never echoed -------------------------------------------------------------

#[tokio::test]
async fn wrong_secrets_not_echoed() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::ForgotPassword, 120).await;
    let flow = app.forgot_password(&someone).await.assert_ok().flow_id();
    let sent = secrets_of(&someone);

    let wrong_answers: Vec<String> = someone
        .security_questions
        .iter()
        .map(|item| format!("{} x", item.answer))
        .collect();
    let reply = app
        .step(&flow, "answers", json!({"answers": wrong_answers}))
        .await;
    assert_rejected(&reply, 400, "wrong_answers", &wrong_answers);
    let wrong_password = format!("{} x", someone.password);
    let reply = app.sign_in(&someone, &wrong_password).await;
    assert_rejected(&reply, 401, "invalid_credentials", &[wrong_password]);
    let reply = forgot_password_with(
        &app,
        &someone.username,
        &someone.ssn,
        "1899-12-31",
        "198.18.6.1",
    )
    .await;
    assert_rejected(&reply, 400, "could_not_verify", &sent);
}

#[tokio::test]
async fn misshapen_secrets_not_echoed() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::ForgotPassword, 121).await;
    let flow = app.forgot_password(&someone).await.assert_ok().flow_id();
    let answer = &someone.security_questions[0].answer;
    // Secrets in the wrong JSON type make the parser's message quote them.
    // Quotes and backslashes inside a secret must not end the redaction early.
    let quoted_answer = format!("{answer}\"{answer}\\{answer}");
    let cases = [
        (
            "answers as one string",
            "answers",
            json!({"answers": quoted_answer}),
            quoted_answer.clone(),
        ),
        (
            "code as a number",
            "code",
            json!({"code": 492_817}),
            "492817".to_owned(),
        ),
        (
            "password as a list",
            "new-password",
            json!({"password": [someone.new_password]}),
            someone.new_password.clone(),
        ),
        (
            "channel as a secret",
            "channel",
            json!({"channel": quoted_answer}),
            quoted_answer.clone(),
        ),
    ];

    for (case, step, body, secret) in cases {
        let reply = app.step(&flow, step, body).await;
        assert!(
            reply.status.is_client_error(),
            "{case} is a client error: {}",
            reply.status
        );
        for part in [secret.as_str(), answer.as_str()] {
            assert!(
                !reply.body.to_string().contains(part),
                "{case}: the reply echoes a secret: {}",
                reply.body
            );
        }
    }

    let ssn_digits = someone.ssn.replace('-', "");
    let number_ssn = json!({"username": someone.username, "ssn": ssn_digits.parse::<u64>().unwrap(), "date_of_birth": someone.date_of_birth});
    let reply = app.post("/v1/forgot-password", number_ssn).await;
    assert!(
        reply.status.is_client_error(),
        "an SSN as a number is a client error: {}",
        reply.status
    );
    reply.assert_echoes_none(&[ssn_digits]);
}

#[tokio::test]
async fn session_expires_after_twelve_hours() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::SignIn, 80).await;
    let token = app.full_sign_in(&someone, &someone.password).await;

    app.advance(Duration::hours(12) - Duration::seconds(1));
    app.session(&token).await.assert_ok();
    app.advance(Duration::seconds(2));
    app.session(&token)
        .await
        .assert_problem(401, "invalid_session");
}

// ---- identity checks while providers are down --------------------------------------

#[tokio::test]
async fn identity_checks_uniform_when_providers_down() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let closed_url = format!("http://{}", closed.local_addr().expect("an address"));
    drop(closed);
    let app = TestApp::spawn_with_provider_urls(|urls| {
        urls.email = closed_url.clone();
        urls.sms = closed_url;
    })
    .await;
    let someone = app.enrolled(JourneyKind::SignIn, 140).await;
    let stranger = app.person(JourneyKind::SignIn, 141);
    let mut sent = secrets_of(&someone);
    sent.extend(secrets_of(&stranger));
    let client = "198.18.9.1";

    // Sign-in with a wrong password gets the same response for an existing and an
    // unknown username, though the existing account's code could not be sent.
    let wrong = "not the right password";
    let existing = app
        .post_from(
            "/v1/sign-in",
            json!({"username": someone.username, "password": wrong}),
            client,
        )
        .await;
    let unknown = app
        .post_from(
            "/v1/sign-in",
            json!({"username": stranger.username, "password": wrong}),
            client,
        )
        .await;
    assert_eq!(existing.status, unknown.status, "sign-in status");
    assert_eq!(existing.code(), "invalid_credentials");
    assert_eq!(existing.body, unknown.body, "sign-in body");
    assert_eq!(existing.content_type, unknown.content_type);
    let names = |reply: &Reply| {
        let mut names: Vec<String> = reply
            .headers
            .keys()
            .filter(|name| *name != "date" && *name != "content-length")
            .map(|name| name.to_string())
            .collect();
        names.sort();
        names
    };
    assert_eq!(names(&existing), names(&unknown), "sign-in header names");
    existing.assert_echoes_none(&sent);

    // The identity checks send nothing, so an outage cannot show through.
    let wrong_ssn = other_ssn(&someone.ssn);
    let date_of_birth = someone.date_of_birth.to_string();
    let cases = vec![
        (
            "forgot-password, existing username, wrong SSN",
            forgot_password_with(&app, &someone.username, &wrong_ssn, &date_of_birth, client).await,
        ),
        (
            "forgot-password, unknown username",
            forgot_password_with(
                &app,
                &stranger.username,
                &someone.ssn,
                &date_of_birth,
                client,
            )
            .await,
        ),
        (
            "forgot-username, existing email, wrong SSN",
            forgot_username_with(&app, &someone.email, &wrong_ssn, &date_of_birth, client).await,
        ),
        (
            "forgot-username, unknown email",
            forgot_username_with(&app, &stranger.email, &someone.ssn, &date_of_birth, client).await,
        ),
    ];
    assert_uniform(&cases, &sent);
}
