//! The in-process stack that `run` and `serve` start.

mod common;

use chrono::Utc;
use recoverylab::journeys::hashing::HashProfile;
use recoverylab::journeys::notice::{PendingNotice, PASSWORD_CHANGED_SUBJECT};
use recoverylab::people::JourneyKind;
use recoverylab::providers::{MockProviders, ProviderSettings};
use recoverylab::stack::{ExternalProviders, Stack, StackListeners, StackOptions};
use recoverylab::store::{SqliteStore, Store};
use secrecy::ExposeSecret;
use serde_json::{json, Value};

/// Returns the messages in an email inbox of the mock provider at `base`.
async fn inbox_messages(client: &reqwest::Client, base: String, address: &str) -> Vec<Value> {
    let inbox: Value = client
        .get(format!("{base}/v1/inboxes/{address}/messages"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    inbox["messages"].as_array().unwrap().clone()
}

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

    let inbox = |base: String| inbox_messages(&client, base, &someone.email);
    assert_eq!(
        inbox(external.email.url()).await.len(),
        1,
        "the code went to the external provider"
    );
    assert_eq!(
        inbox(stack.providers.email.url()).await.len(),
        0,
        "the built-in email mock got nothing"
    );

    stack.stop().await.unwrap();
    external.stop().await.unwrap();
}

#[tokio::test]
async fn stack_sends_notices_left_in_database() {
    // A notice stored by an earlier service process that stopped before
    // sending it.
    let folder = tempfile::tempdir().unwrap();
    let database = folder.path().join("service.sqlite");
    let notice = PendingNotice::password_changed(1, "f1", "ana@example.org", Utc::now());
    {
        let store = SqliteStore::open(&database).await.unwrap();
        store.enqueue_notice(&notice).await.unwrap();
    }

    let options = StackOptions::new(
        Some(database),
        HashProfile::Fast,
        ProviderSettings::default(),
    );
    let stack = Stack::start(options, StackListeners::loopback().await.unwrap())
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let mut messages = Vec::new();
    for _ in 0..250 {
        messages = inbox_messages(&client, stack.providers.email.url(), "ana@example.org").await;
        if !messages.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(messages.len(), 1, "the notice arrives within 5 s");
    assert_eq!(messages[0]["subject"], PASSWORD_CHANGED_SUBJECT);

    stack.stop().await.unwrap();
}
