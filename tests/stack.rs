//! The in-process stack that `run` and `serve` start.

mod common;

use recoverylab::journeys::hashing::HashProfile;
use recoverylab::people::JourneyKind;
use recoverylab::providers::{MockProviders, ProviderSettings};
use recoverylab::stack::{ExternalProviders, Stack, StackListeners, StackOptions};
use secrecy::ExposeSecret;
use serde_json::{json, Value};

#[tokio::test]
async fn stack_sends_through_external_provider() {
    let external = MockProviders::spawn(ProviderSettings::default())
        .await
        .unwrap();
    let mut options = StackOptions::new(None, HashProfile::Fast, ProviderSettings::default());
    options.external_providers = ExternalProviders {
        email: Some(external.email.url()),
        ..ExternalProviders::default()
    };
    let stack = Stack::start(options, StackListeners::loopback().await.unwrap())
        .await
        .unwrap();
    let client = reqwest::Client::new();

    // This kind's second factor is always email.
    let someone = common::TestApp::person_without_app(JourneyKind::TempPasswordPostal, 1);
    let enrollment = json!({"people": [recoverylab::load::enroll::enrollment_json(&someone)]});
    let enrolled = client
        .post(format!("{}/v1/admin/enrollments", stack.service.url()))
        .bearer_auth(stack.admin_token.expose_secret())
        .json(&enrollment)
        .send()
        .await
        .unwrap();
    assert_eq!(enrolled.status(), 201);
    let signed_in = client
        .post(format!("{}/v1/sign-in", stack.service.url()))
        .json(&json!({"username": someone.username, "password": someone.password}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 200);

    let inbox = |base: String| {
        let client = client.clone();
        let address = someone.email.clone();
        async move {
            let inbox: Value = client
                .get(format!("{base}/v1/inboxes/{address}/messages"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            inbox["messages"].as_array().unwrap().len()
        }
    };
    assert_eq!(
        inbox(external.email.url()).await,
        1,
        "the code went to the external provider"
    );
    assert_eq!(
        inbox(stack.providers.email.url()).await,
        0,
        "the built-in email mock got nothing"
    );

    stack.stop().await.unwrap();
    external.stop().await.unwrap();
}
