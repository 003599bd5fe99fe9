//! Every journey walked over real HTTP against the service and mocks.

mod common;

use common::TestApp;
use recoverylab::people::JourneyKind;
use serde_json::json;

#[tokio::test]
async fn sign_in_with_code_returns_session() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::SignIn, 1).await;

    let started = app.sign_in(&someone, &someone.password).await;
    started.assert_ok();
    assert_eq!(started.body["next_step"], "code");
    let flow = started.flow_id();
    let code = app.latest_code(&someone).await;
    let token = app
        .submit_code(&flow, &code)
        .await
        .assert_ok()
        .field("session_token")
        .to_owned();

    let session = app.session(&token).await;
    session.assert_ok();
    assert_eq!(session.field("username"), someone.username);
}

#[tokio::test]
async fn forgot_username_returns_username() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::ForgotUsername, 2).await;
    let reply = app
        .post(
            "/v1/forgot-username",
            json!({"email": someone.email.to_uppercase(), "ssn": someone.ssn, "date_of_birth": someone.date_of_birth}),
        )
        .await;
    reply.assert_ok();
    assert_eq!(reply.field("username"), someone.username);
}

#[tokio::test]
async fn forgot_password_sets_new_password() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::ForgotPassword, 3).await;

    let started = app.forgot_password(&someone).await;
    started.assert_ok();
    assert_eq!(started.body["questions"].as_array().map(Vec::len), Some(3));
    let flow = started.flow_id();
    // Answers are compared after case folding and whitespace collapsing.
    let answers: Vec<String> = someone
        .security_questions
        .iter()
        .map(|item| format!("  {}  ", item.answer.to_uppercase().replace(' ', "   ")))
        .collect();
    let channels = app
        .post(
            &format!("/v1/flows/{flow}/answers"),
            json!({"answers": answers}),
        )
        .await;
    channels.assert_ok();
    assert_eq!(channels.body["next_step"], "channel");
    app.post(
        &format!("/v1/flows/{flow}/channel"),
        json!({"channel": "sms"}),
    )
    .await
    .assert_ok();
    let code = app.latest_sms_code(&someone).await;
    app.submit_code(&flow, &code).await.assert_ok();
    let new_password = "a brand new passphrase";
    app.post(
        &format!("/v1/flows/{flow}/new-password"),
        json!({"password": new_password}),
    )
    .await
    .assert_ok();
    let done = app
        .post(
            &format!("/v1/flows/{flow}/accept-terms"),
            json!({"terms_version": 1}),
        )
        .await;
    done.assert_ok();
    assert!(done.body["session_token"].is_string());

    app.sign_in(&someone, &someone.password)
        .await
        .assert_problem(401, "invalid_credentials");
    app.full_sign_in(&someone, new_password).await;
}

#[tokio::test]
async fn postal_temporary_password_journey_completes() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::TempPasswordPostal, 4).await;

    let flow = app.forgot_password(&someone).await.assert_ok().flow_id();
    let branch = app
        .post_empty(&format!("/v1/flows/{flow}/cannot-remember-answers"))
        .await;
    branch.assert_ok();
    assert_eq!(branch.body["journey"], "postal_temporary_password");
    assert_eq!(branch.body["next_step"], "accept_terms");
    app.post(
        &format!("/v1/flows/{flow}/accept-terms"),
        json!({"terms_version": 1}),
    )
    .await
    .assert_ok();
    let address =
        json!({"mailing_address": someone.mailing_address, "primary_phone": someone.primary_phone});
    app.post(&format!("/v1/flows/{flow}/verify-address"), address)
        .await
        .assert_ok();
    let mailed = app
        .post_empty(&format!("/v1/flows/{flow}/mail-temporary-password"))
        .await;
    mailed.assert_ok();
    assert!(mailed.body["letter"]["expected_delivery_date"].is_string());

    let temporary = app.posted_temporary_password(&someone).await;
    let signed_in = app.sign_in(&someone, &temporary).await;
    signed_in.assert_ok();
    assert_eq!(signed_in.body["next_step"], "confirm_contact");
    let masked = signed_in.body["confirm_destination"]["masked"]
        .as_str()
        .unwrap();
    assert!(
        masked.contains("***@"),
        "the email is shown masked: {masked}"
    );
    let flow = signed_in.flow_id();
    app.post_empty(&format!("/v1/flows/{flow}/confirm-contact"))
        .await
        .assert_ok();
    let code = app.latest_email_code(&someone).await;
    app.submit_code(&flow, &code).await.assert_ok();
    app.post(
        &format!("/v1/flows/{flow}/new-password"),
        json!({"password": "letters arrive slowly"}),
    )
    .await
    .assert_ok();
    let done = app
        .post(
            &format!("/v1/flows/{flow}/accept-terms"),
            json!({"terms_version": 1}),
        )
        .await;
    assert!(done.assert_ok().body["session_token"].is_string());
}

#[tokio::test]
async fn email_temporary_password_journey_completes() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::TempPasswordEmail, 5).await;

    let flow = app.forgot_password(&someone).await.assert_ok().flow_id();
    let branch = app
        .post_empty(&format!("/v1/flows/{flow}/cannot-remember-answers"))
        .await;
    assert_eq!(
        branch.assert_ok().body["next_step"],
        "email_temporary_password"
    );
    app.post_empty(&format!("/v1/flows/{flow}/email-temporary-password"))
        .await
        .assert_ok();

    let temporary = app.emailed_temporary_password(&someone).await;
    let flow = app
        .sign_in(&someone, &temporary)
        .await
        .assert_ok()
        .flow_id();
    let confirmed = app
        .post_empty(&format!("/v1/flows/{flow}/confirm-contact"))
        .await;
    assert_eq!(confirmed.assert_ok().body["code_sent_to"]["channel"], "sms");
    let code = app.latest_sms_code(&someone).await;
    app.submit_code(&flow, &code).await.assert_ok();
    app.post(
        &format!("/v1/flows/{flow}/new-password"),
        json!({"password": "email came quickly"}),
    )
    .await
    .assert_ok();
    let done = app
        .post(
            &format!("/v1/flows/{flow}/accept-terms"),
            json!({"terms_version": 1}),
        )
        .await;
    assert!(done.assert_ok().body["session_token"].is_string());
}

#[tokio::test]
async fn health_and_openapi_are_served() {
    let app = TestApp::spawn().await;
    let health: serde_json::Value = app
        .client
        .get(format!("{}/health", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let openapi: serde_json::Value = app
        .client
        .get(format!("{}/openapi.json", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(openapi["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/v1/sign-in",
        "/v1/forgot-password",
        "/v1/flows/{flow_id}/code",
        "/v1/flows/{flow_id}",
        "/v1/provider-events/sms",
        "/v1/provider-events/email",
        "/v1/provider-events/postal",
        "/v1/admin/enrollments",
    ] {
        assert!(
            openapi["paths"][path].is_object(),
            "OpenAPI documents {path}"
        );
    }
}
