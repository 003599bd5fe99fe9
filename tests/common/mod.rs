//! Test helpers: the real service and mock providers on 127.0.0.1 port 0,
//! with a clock the test moves, and typed helpers for the journeys.
#![allow(dead_code)]

use std::sync::{Arc, Mutex, OnceLock};

use chrono::{DateTime, Duration, TimeZone, Utc};
use recoverylab::journeys::clock::ManualClock;
use recoverylab::journeys::hashing::HashProfile;
use recoverylab::journeys::notice::{PendingNotice, PASSWORD_CHANGED_SUBJECT};
use recoverylab::journeys::notifier::{
    EmailMessage, Letter, LetterReceipt, Notifier, ProviderError, SendReceipt, SmsMessage,
};
use recoverylab::journeys::policy::Policy;
use recoverylab::journeys::Engine;
use recoverylab::load::enroll::enrollment_json;
use recoverylab::people::{person, JourneyKind, JourneyMix, Person};
use recoverylab::providers::{MockProviders, ProviderSettings};
use recoverylab::server::{self, RunningServer};
use recoverylab::service::provider_clients::{
    HttpNotifier, ProviderClientSettings, ProviderUrls, RetryPolicy, SmsSender,
};
use recoverylab::service::{
    build_state, build_state_with_notifier, router, spawn_notice_sender, ServiceConfig,
};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{json, Value};

pub const ADMIN_TOKEN: &str = "test-admin-token";
pub const SEED: u64 = 20_261_204;

pub struct TestApp {
    pub url: String,
    pub client: reqwest::Client,
    pub clock: ManualClock,
    pub providers: MockProviders,
    /// The fault switch of an app from [`TestApp::spawn_with_send_faults`].
    pub faults: Option<Arc<FaultyNotifier>>,
    pub engine: Arc<Engine>,
    service: RunningServer,
    /// The service's notice sender, as `serve` runs it, on the app's clock.
    notice_sender: tokio::task::JoinHandle<()>,
    _database: tempfile::TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.notice_sender.abort();
    }
}

/// How a [`FaultyNotifier`] treats the sends that pass through it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendFault {
    /// Sends go to the mock providers as usual.
    None,
    /// Sends fail without reaching a provider, as when none is reachable.
    Unreachable,
    /// Sends reach the provider, which delivers them, and then fail, as when
    /// the response to an accepted send times out.
    FailAfterDelivery,
    /// Sends go through, and a status callback with this failure reaches the
    /// service before the send's response does: `undelivered` for a text,
    /// `bounced` for an email, `returned_to_sender` for a letter.
    FailureReportedFirst,
}

/// A notifier that wraps the HTTP notifier and injects the faults of
/// [`SendFault`], so tests can fail a send at a chosen moment.
pub struct FaultyNotifier {
    inner: HttpNotifier,
    fault: Mutex<SendFault>,
    client: reqwest::Client,
    /// The service's URL, set once the service is bound.
    service_url: OnceLock<String>,
}

impl FaultyNotifier {
    pub fn set(&self, fault: SendFault) {
        *self
            .fault
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = fault;
    }

    fn fault(&self) -> SendFault {
        *self
            .fault
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `send` under the current fault. `provider_id` returns the id of
    /// an accepted send, for the failure callback.
    async fn apply<T>(
        &self,
        provider: &'static str,
        send: impl std::future::Future<Output = Result<T, ProviderError>>,
        provider_id: impl FnOnce(&T) -> String,
    ) -> Result<T, ProviderError> {
        let injected = |reason: &str| ProviderError {
            provider,
            reason: reason.to_owned(),
            permanent: false,
        };
        match self.fault() {
            SendFault::None => send.await,
            SendFault::Unreachable => Err(injected("connection failed (injected)")),
            SendFault::FailAfterDelivery => {
                send.await?;
                Err(injected("timed out after acceptance (injected)"))
            }
            SendFault::FailureReportedFirst => {
                let receipt = send.await?;
                self.report_failure(provider, &provider_id(&receipt)).await;
                Ok(receipt)
            }
        }
    }

    async fn report_failure(&self, provider: &str, id: &str) {
        let url = self.service_url.get().expect("the service is bound");
        let request = match provider {
            "sms" => self
                .client
                .post(format!("{url}/v1/provider-events/sms"))
                .form(&[
                    ("MessageSid", id),
                    ("MessageStatus", "undelivered"),
                    ("ErrorCode", "30003"),
                ]),
            "email" => self
                .client
                .post(format!("{url}/v1/provider-events/email"))
                .json(&json!({"id": id, "status": "bounced", "reason": "mailbox_unavailable"})),
            _ => self
                .client
                .post(format!("{url}/v1/provider-events/postal"))
                .json(&postal_event_body(id, "letter.returned_to_sender")),
        };
        let status = request.send().await.expect("the service answers").status();
        assert_eq!(
            status.as_u16(),
            204,
            "the early {provider} report is stored"
        );
    }
}

#[async_trait::async_trait]
impl Notifier for FaultyNotifier {
    async fn send_email(&self, message: EmailMessage) -> Result<SendReceipt, ProviderError> {
        self.apply("email", self.inner.send_email(message), |receipt| {
            receipt.id.clone()
        })
        .await
    }

    async fn send_sms(&self, message: SmsMessage) -> Result<SendReceipt, ProviderError> {
        self.apply("sms", self.inner.send_sms(message), |receipt| {
            receipt.id.clone()
        })
        .await
    }

    async fn mail_letter(&self, letter: Letter) -> Result<LetterReceipt, ProviderError> {
        self.apply("postal", self.inner.mail_letter(letter), |receipt| {
            receipt.id.clone()
        })
        .await
    }
}

/// Returns a Lob event about the letter `letter_id`, such as
/// `letter.returned_to_sender`.
pub fn postal_event_body(letter_id: &str, event_type: &str) -> Value {
    json!({
        "id": "evt_0123456789abcdef",
        "object": "event",
        "event_type": {"id": event_type, "enabled_for_test": true, "resource": "letters", "object": "event_type"},
        "date_created": "2026-03-02T15:00:00.000Z",
        "body": {"id": letter_id, "object": "letter", "status": "mailed", "tracking_events": []}
    })
}

/// A reply from the service: the status and the JSON body.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub content_type: String,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// Returns the problem document's code, or "" for a success.
    pub fn code(&self) -> &str {
        self.body.get("code").and_then(Value::as_str).unwrap_or("")
    }

    pub fn field(&self, name: &str) -> &str {
        self.body
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("reply has no string field {name}: {:?}", self.body))
    }

    pub fn flow_id(&self) -> String {
        self.field("flow_id").to_owned()
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert!(
            self.status.is_success(),
            "expected success, got {} {:?}",
            self.status,
            self.body
        );
        self
    }

    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "status of {:?}", self.body);
        assert_eq!(self.code(), code, "problem code of {:?}", self.body);
        assert_eq!(self.content_type, "application/problem+json");
    }

    /// Asserts that the body repeats none of `secrets`, the values the
    /// request sent that must never come back in a response.
    #[track_caller]
    pub fn assert_echoes_none<S: AsRef<str>>(&self, secrets: &[S]) -> &Self {
        let body = self.body.to_string();
        for secret in secrets {
            let secret = secret.as_ref();
            assert!(
                !secret.is_empty() && !body.contains(secret),
                "the reply {} echoes a secret that was sent",
                self.status
            );
        }
        self
    }
}

/// Returns the moment every test clock starts at: a Monday afternoon.
pub fn test_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 15, 0, 0).unwrap()
}

/// How a [`TestApp`]'s service sends messages.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sends {
    /// Through the mocks, which report each status to the service.
    Real,
    /// Through the mocks, with no status callback URL.
    NoCallbacks,
    /// Through a [`FaultyNotifier`] with no status callback URL.
    Faulty,
}

impl TestApp {
    /// Starts mocks and service on a fresh SQLite file, fast hashing, and a
    /// postal day of 10 ms.
    pub async fn spawn() -> Self {
        Self::spawn_with_policy(Policy::default()).await
    }

    pub async fn spawn_with_policy(policy: Policy) -> Self {
        Self::spawn_with(policy, |_| {}, Sends::Real).await
    }

    /// Starts an app that names no status callback URL, so the mocks report
    /// nothing and a test posts each status report itself.
    pub async fn spawn_without_callbacks() -> Self {
        Self::spawn_with(Policy::default(), |_| {}, Sends::NoCallbacks).await
    }

    /// Starts an app whose provider URLs `change` edits, such as pointing
    /// one provider at a closed port.
    pub async fn spawn_with_provider_urls(change: impl FnOnce(&mut ProviderUrls)) -> Self {
        Self::spawn_with(Policy::default(), change, Sends::Real).await
    }

    /// Starts an app whose sends pass through a [`FaultyNotifier`], set
    /// through [`TestApp::set_send_fault`].
    pub async fn spawn_with_send_faults() -> Self {
        Self::spawn_with(Policy::default(), |_| {}, Sends::Faulty).await
    }

    async fn spawn_with(
        policy: Policy,
        change_urls: impl FnOnce(&mut ProviderUrls),
        sends: Sends,
    ) -> Self {
        let with_faults = sends == Sends::Faulty;
        let providers = MockProviders::spawn(ProviderSettings {
            seed: SEED,
            seconds_per_business_day: 0.01,
            ..ProviderSettings::default()
        })
        .await
        .expect("mock providers start");
        let database = tempfile::tempdir().expect("temporary folder");
        let clock = ManualClock::new(test_start());
        let listener = server::bind_loopback().await.expect("bind loopback");
        let service_url = format!("http://{}", listener.local_addr().expect("bound address"));
        let mut urls = ProviderUrls {
            email: providers.email.url(),
            sms: providers.sms.url(),
            postal: providers.postal.url(),
        };
        change_urls(&mut urls);
        let config = ServiceConfig {
            database: Some(database.path().join("service.sqlite")),
            hash_profile: HashProfile::Fast,
            policy,
            admin_token: SecretString::from(ADMIN_TOKEN.to_owned()),
            server_key: SecretString::from("test server key".to_owned()),
            providers: urls,
            provider_retry: RetryPolicy::default(),
            sms_sender: SmsSender::default(),
            // Real status reports would race the ones faulty sends post.
            public_url: (sends == Sends::Real).then_some(service_url),
            trust_forwarded_for: true,
        };
        let clock_for_service = Arc::new(clock.clone());
        let faults = with_faults.then(|| {
            Arc::new(FaultyNotifier {
                inner: HttpNotifier::new(ProviderClientSettings::from_config(&config)),
                fault: Mutex::new(SendFault::None),
                client: reqwest::Client::new(),
                service_url: OnceLock::new(),
            })
        });
        let state = match &faults {
            Some(faulty) => {
                build_state_with_notifier(config, clock_for_service, faulty.clone()).await
            }
            None => build_state(config, clock_for_service).await,
        }
        .expect("service state builds");
        let engine = Arc::clone(&state.engine);
        let notice_sender = spawn_notice_sender(Arc::clone(&engine));
        let service = server::spawn(listener, router(state)).expect("service starts");
        if let Some(faulty) = &faults {
            faulty
                .service_url
                .set(service.url())
                .expect("the URL is set once");
        }
        Self {
            url: service.url(),
            client: reqwest::Client::new(),
            clock,
            providers,
            faults,
            engine,
            service,
            notice_sender,
            _database: database,
        }
    }

    /// Sets how sends fail from now on; only for [`TestApp::spawn_with_send_faults`].
    pub fn set_send_fault(&self, fault: SendFault) {
        self.faults
            .as_ref()
            .expect("an app from spawn_with_send_faults")
            .set(fault);
    }

    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// Returns person `index` of the test population, needing `kind`.
    pub fn person(&self, kind: JourneyKind, index: u64) -> Person {
        Self::person_without_app(kind, index)
    }

    /// Returns person `index` of the test population, for tests that start
    /// their own servers.
    pub fn person_without_app(kind: JourneyKind, index: u64) -> Person {
        let mut weights = [0; 5];
        weights[kind.index()] = 1;
        person(SEED, index, &JourneyMix::new(weights))
    }

    /// Enrolls a person of `kind` and returns them.
    pub async fn enrolled(&self, kind: JourneyKind, index: u64) -> Person {
        let someone = self.person(kind, index);
        self.enroll(&[&someone]).await.assert_ok();
        someone
    }

    pub async fn enroll(&self, people: &[&Person]) -> Reply {
        let body = json!({"people": people.iter().map(|p| enrollment_json(p)).collect::<Vec<_>>()});
        self.send(
            self.client
                .post(format!("{}/v1/admin/enrollments", self.url))
                .bearer_auth(ADMIN_TOKEN)
                .json(&body),
        )
        .await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.post_from(path, body, "198.18.0.1").await
    }

    /// Posts as a client with the given address in X-Forwarded-For.
    pub async fn post_from(&self, path: &str, body: Value, client_address: &str) -> Reply {
        let request = self
            .client
            .post(format!("{}{path}", self.url))
            .header("x-forwarded-for", client_address)
            .json(&body);
        self.send(request).await
    }

    pub async fn post_empty(&self, path: &str) -> Reply {
        self.send(self.client.post(format!("{}{path}", self.url)))
            .await
    }

    /// Posts `body` to the step `step` of a flow, such as `answers`.
    pub async fn step(&self, flow: &str, step: &str, body: Value) -> Reply {
        self.post(&format!("/v1/flows/{flow}/{step}"), body).await
    }

    /// Posts to a flow step that takes no body, such as `resend-code`.
    pub async fn step_empty(&self, flow: &str, step: &str) -> Reply {
        self.post_empty(&format!("/v1/flows/{flow}/{step}")).await
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("the service answers");
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply {
            status,
            content_type,
            headers,
            body,
        }
    }

    /// Returns the session's username, or the problem code for a bad token.
    pub async fn session(&self, token: &str) -> Reply {
        self.send(
            self.client
                .get(format!("{}/v1/session", self.url))
                .bearer_auth(token),
        )
        .await
    }

    // ---- inboxes ----------------------------------------------------------

    async fn messages(&self, url: String) -> Vec<Value> {
        let inbox: Value = self
            .client
            .get(url)
            .send()
            .await
            .expect("inbox answers")
            .json()
            .await
            .expect("inbox JSON");
        inbox["messages"].as_array().cloned().unwrap_or_default()
    }

    pub async fn emails(&self, address: &str) -> Vec<Value> {
        self.messages(format!(
            "{}/v1/inboxes/{address}/messages",
            self.providers.email.url()
        ))
        .await
    }

    pub async fn texts(&self, number: &str) -> Vec<Value> {
        self.messages(format!(
            "{}/v1/handsets/{number}/messages",
            self.providers.sms.url()
        ))
        .await
    }

    /// Returns the "your password was changed" emails in the person's inbox.
    pub async fn password_changed_notices(&self, someone: &Person) -> Vec<Value> {
        let mut emails = self.emails(&someone.email).await;
        emails.retain(|message| message["subject"] == PASSWORD_CHANGED_SUBJECT);
        emails
    }

    /// Returns the notices waiting in the service's outbox, due or not.
    pub async fn pending_notices(&self) -> Vec<PendingNotice> {
        let any_time = DateTime::<Utc>::MAX_UTC;
        self.engine
            .store()
            .due_notices(any_time, usize::MAX)
            .await
            .expect("the outbox can be read")
    }

    /// Waits, at most 5 s, until `done` holds for the outbox, and returns it.
    pub async fn wait_for_outbox(
        &self,
        what: &str,
        done: impl Fn(&[PendingNotice]) -> bool,
    ) -> Vec<PendingNotice> {
        for _ in 0..250 {
            let pending = self.pending_notices().await;
            if done(&pending) {
                return pending;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("the outbox did not reach this state within 5 s: {what}");
    }

    /// Waits, at most 5 s, for the notice sender to empty the outbox, then
    /// returns the person's password-changed emails.
    pub async fn notices_after_outbox_empties(&self, someone: &Person) -> Vec<Value> {
        self.wait_for_outbox("empty", <[PendingNotice]>::is_empty)
            .await;
        self.password_changed_notices(someone).await
    }

    /// Returns the code in the newest code message to the person's second factor.
    pub async fn latest_code(&self, someone: &Person) -> String {
        let messages = match someone.second_factor {
            recoverylab::journeys::account::SecondFactor::Email => {
                self.emails(&someone.email).await
            }
            recoverylab::journeys::account::SecondFactor::Sms => {
                self.texts(&someone.cell_phone).await
            }
        };
        latest_code_in(&messages)
    }

    pub async fn latest_email_code(&self, someone: &Person) -> String {
        latest_code_in(&self.emails(&someone.email).await)
    }

    pub async fn latest_sms_code(&self, someone: &Person) -> String {
        latest_code_in(&self.texts(&someone.cell_phone).await)
    }

    /// Returns the temporary password in the newest email.
    pub async fn emailed_temporary_password(&self, someone: &Person) -> String {
        let messages = self.emails(&someone.email).await;
        let text = messages
            .iter()
            .rev()
            .filter_map(|message| message["text"].as_str())
            .find(|text| text.contains("temporary password"))
            .expect("a temporary-password email");
        recoverylab::load::inbox::temporary_password_in(text)
            .expect("the email holds a temporary password")
    }

    /// Waits (boundedly) for a letter to the person and returns its password.
    pub async fn posted_temporary_password(&self, someone: &Person) -> String {
        let letters = self.letters(someone, 1).await;
        let text = letters
            .last()
            .and_then(|letter| letter["text"].as_str())
            .expect("a letter with a text");
        recoverylab::load::inbox::temporary_password_in(text)
            .expect("the letter holds a temporary password")
    }

    /// Returns the letters in the person's letterbox, oldest first, once there
    /// are at least `at_least`, waiting at most 4 s.
    pub async fn letters(&self, someone: &Person, at_least: usize) -> Vec<Value> {
        let address = &someone.mailing_address;
        for _ in 0..200 {
            let letterbox: Value = self
                .client
                .get(format!("{}/v1/letterbox", self.providers.postal.url()))
                .query(&[
                    ("line1", address.line1.as_str()),
                    ("zip", address.zip.as_str()),
                ])
                .send()
                .await
                .expect("letterbox answers")
                .json()
                .await
                .expect("letterbox JSON");
            let letters = letterbox["letters"].as_array().cloned().unwrap_or_default();
            if letters.len() >= at_least {
                return letters;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("fewer than {at_least} letters arrived within 4 s");
    }

    // ---- journey steps ----------------------------------------------------

    pub async fn sign_in(&self, someone: &Person, password: &str) -> Reply {
        self.post(
            "/v1/sign-in",
            json!({"username": someone.username, "password": password}),
        )
        .await
    }

    pub async fn submit_code(&self, flow: &str, code: &str) -> Reply {
        self.post(&format!("/v1/flows/{flow}/code"), json!({"code": code}))
            .await
    }

    pub async fn forgot_password(&self, someone: &Person) -> Reply {
        self.post(
            "/v1/forgot-password",
            json!({"username": someone.username, "ssn": someone.ssn, "date_of_birth": someone.date_of_birth}),
        )
        .await
    }

    pub async fn answers(&self, flow: &str, someone: &Person) -> Reply {
        let answers: Vec<&str> = someone
            .security_questions
            .iter()
            .map(|item| item.answer.as_str())
            .collect();
        self.post(
            &format!("/v1/flows/{flow}/answers"),
            json!({"answers": answers}),
        )
        .await
    }

    /// Signs in with password and code and returns the session token.
    pub async fn full_sign_in(&self, someone: &Person, password: &str) -> String {
        let flow = self.sign_in(someone, password).await.assert_ok().flow_id();
        let code = self.latest_code(someone).await;
        self.submit_code(&flow, &code)
            .await
            .assert_ok()
            .field("session_token")
            .to_owned()
    }

    /// Walks J3 up to the new-password step and returns the flow id.
    pub async fn forgot_password_to_new_password(&self, someone: &Person) -> String {
        let flow = self.forgot_password(someone).await.assert_ok().flow_id();
        self.answers(&flow, someone).await.assert_ok();
        self.post(
            &format!("/v1/flows/{flow}/channel"),
            json!({"channel": "email"}),
        )
        .await
        .assert_ok();
        let code = self.latest_email_code(someone).await;
        self.submit_code(&flow, &code).await.assert_ok();
        flow
    }
}

fn latest_code_in(messages: &[Value]) -> String {
    messages
        .iter()
        .rev()
        .filter_map(|message| message["text"].as_str())
        .find_map(recoverylab::load::inbox::code_in)
        .expect("a code message")
}
