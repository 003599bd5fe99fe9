//! The attacker's HTTP side: requests from changing client addresses,
//! responses kept whole for comparison, and codes read from the mock inboxes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::{DateTime, NaiveDate, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

use super::AttackContext;
use crate::journeys::account::SecondFactor;
use crate::leak_check::SecretBook;
use crate::load::enroll::enrollment_json;
use crate::load::inbox::{code_in, Inbox};
use crate::load::Targets;
use crate::people::{person, JourneyKind, JourneyMix, Person};

/// Hosts in 198.18.0.0/15.
const ADDRESS_SPACE: u64 = 1 << 17;
/// How long the attacker waits for a code it triggered to arrive.
const CODE_WAIT: Duration = Duration::from_secs(15);
const CODE_POLL: Duration = Duration::from_millis(20);

/// Response headers that differ between any two requests and reveal nothing
/// about the account.
const VOLATILE_HEADERS: [&str; 1] = ["date"];

/// One response of the service, kept whole.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    /// Header names and values, sorted, without [`VOLATILE_HEADERS`].
    pub headers: Vec<(String, String)>,
    pub body: Value,
    /// From sending the request to reading the whole body.
    pub elapsed: Duration,
}

impl Reply {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Returns the problem code, or `ok` for a success.
    pub fn outcome(&self) -> String {
        if self.is_success() {
            return "ok".to_owned();
        }
        self.body
            .get("code")
            .and_then(Value::as_str)
            .map_or_else(|| format!("http_{}", self.status), str::to_owned)
    }

    /// Returns everything an attacker can compare between two responses:
    /// status, headers and body.
    pub fn fingerprint(&self) -> String {
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(name, value)| format!("{name}: {value}"))
            .collect();
        format!("{} | {} | {}", self.status, headers.join("; "), self.body)
    }

    pub fn flow_id(&self) -> anyhow::Result<String> {
        self.body
            .get("flow_id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .with_context(|| {
                format!(
                    "a successful step answered without a flow id (HTTP {})",
                    self.status
                )
            })
    }
}

/// The identity checks that take an identifier, an SSN and a date of birth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityLookup {
    /// Forgot username, by email.
    ForgotUsername,
    /// Forgot password step 1, by username.
    ForgotPassword,
}

impl IdentityLookup {
    /// Returns the check's name in reports, such as `forgot_username`.
    pub fn name(self) -> &'static str {
        match self {
            IdentityLookup::ForgotUsername => "forgot_username",
            IdentityLookup::ForgotPassword => "forgot_password",
        }
    }

    /// Returns the request field that carries the identifier.
    pub fn field(self) -> &'static str {
        match self {
            IdentityLookup::ForgotUsername => "email",
            IdentityLookup::ForgotPassword => "username",
        }
    }

    /// Returns the identifier of `someone` this check looks up.
    pub fn identifier(self, someone: &Person) -> &str {
        match self {
            IdentityLookup::ForgotUsername => &someone.email,
            IdentityLookup::ForgotPassword => &someone.username,
        }
    }

    fn path(self) -> &'static str {
        match self {
            IdentityLookup::ForgotUsername => "/v1/forgot-username",
            IdentityLookup::ForgotPassword => "/v1/forgot-password",
        }
    }
}

/// The attacker: an HTTP client, the targets, and a counter of requests.
pub struct Prober<'a> {
    client: reqwest::Client,
    pub targets: &'a Targets,
    admin_token: &'a SecretString,
    secrets: &'a SecretBook,
    pub seed: u64,
    requests: AtomicU64,
    next_address: AtomicU64,
}

impl<'a> Prober<'a> {
    /// Builds the prober of the attack at `position` in the scenario's list;
    /// attacks start at different addresses so that their per-address
    /// counts stay apart.
    pub fn new(context: &AttackContext<'a>, position: u64) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("a client with a timeout builds");
        Self {
            client,
            targets: context.targets,
            admin_token: context.admin_token,
            secrets: context.secrets,
            seed: context.seed,
            requests: AtomicU64::new(0),
            next_address: AtomicU64::new(position * ADDRESS_SPACE / 4),
        }
    }

    pub fn requests_sent(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Returns a synthetic person at `index` who needs `kind`, which sets the
    /// second factor: email for postal temporary passwords, random otherwise.
    /// The person's secrets go into the run's secret book, whether the
    /// person is enrolled or only used as a stranger.
    pub fn person(&self, index: u64, kind: JourneyKind) -> Person {
        let mut weights = [0; 5];
        weights[kind.index()] = 1;
        let someone = person(self.seed, index, &JourneyMix::new(weights));
        self.secrets.add_person(&someone);
        someone
    }

    /// Enrolls `people` through the admin API.
    pub async fn enroll(&self, people: &[Person]) -> anyhow::Result<()> {
        for batch in people.chunks(crate::service::admin::MAX_ENROLLMENT_BATCH) {
            let body: Vec<Value> = batch.iter().map(enrollment_json).collect();
            self.requests.fetch_add(1, Ordering::Relaxed);
            let response = self
                .client
                .post(format!("{}/v1/admin/enrollments", self.targets.service))
                .bearer_auth(self.admin_token.expose_secret())
                .timeout(Duration::from_secs(300))
                .json(&json!({ "people": body }))
                .send()
                .await
                .context("enrolling the attack's victims failed")?;
            if !response.status().is_success() {
                bail!(
                    "the service rejected the victims' enrollment with HTTP {}",
                    response.status()
                );
            }
        }
        Ok(())
    }

    /// Returns an address of 198.18.0.0/15 not used by this attack before,
    /// until the range wraps.
    pub fn fresh_address(&self) -> String {
        let host = self.next_address.fetch_add(1, Ordering::Relaxed) % ADDRESS_SPACE;
        format!(
            "198.{}.{}.{}",
            18 + (host >> 16),
            (host >> 8) & 0xff,
            host & 0xff
        )
    }

    /// Posts `body` to the service's `path` as a client at `address`.
    pub async fn post(
        &self,
        path: &str,
        body: Option<Value>,
        address: &str,
    ) -> anyhow::Result<Reply> {
        let mut request = self
            .client
            .post(format!("{}{path}", self.targets.service))
            .header("x-forwarded-for", address);
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let response = request
            .send()
            .await
            .with_context(|| format!("the request to {path} failed"))?;
        let status = response.status().as_u16();
        let mut headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .filter(|(name, _)| !VOLATILE_HEADERS.contains(&name.as_str()))
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        headers.sort();
        let bytes = response
            .bytes()
            .await
            .with_context(|| format!("reading the answer of {path} failed"))?;
        let elapsed = started.elapsed();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Reply {
            status,
            headers,
            body,
            elapsed,
        })
    }

    /// Sends `lookup` with `identifier`, `ssn` and `date_of_birth` from
    /// `address`.
    pub async fn look_up(
        &self,
        lookup: IdentityLookup,
        identifier: &str,
        ssn: &str,
        date_of_birth: NaiveDate,
        address: &str,
    ) -> anyhow::Result<Reply> {
        let body = json!({lookup.field(): identifier, "ssn": ssn, "date_of_birth": date_of_birth});
        self.post(lookup.path(), Some(body), address).await
    }

    /// Signs in as `username` with `password` from `address`.
    pub async fn sign_in(
        &self,
        username: &str,
        password: &str,
        address: &str,
    ) -> anyhow::Result<Reply> {
        self.post(
            "/v1/sign-in",
            Some(json!({"username": username, "password": password})),
            address,
        )
        .await
    }

    /// Waits for the newest code sent to `someone`'s second factor at or after
    /// `since`, reading the mock inbox as the person would.
    pub async fn code_for(&self, someone: &Person, since: DateTime<Utc>) -> anyhow::Result<String> {
        let url = match someone.second_factor {
            SecondFactor::Email => {
                format!(
                    "{}/v1/inboxes/{}/messages",
                    self.targets.email, someone.email
                )
            }
            SecondFactor::Sms => format!(
                "{}/v1/handsets/{}/messages",
                self.targets.sms, someone.cell_phone
            ),
        };
        let give_up = Instant::now() + CODE_WAIT;
        loop {
            self.requests.fetch_add(1, Ordering::Relaxed);
            let inbox: Option<Inbox> = match self.client.get(&url).send().await {
                Ok(response) if response.status().is_success() => response.json().await.ok(),
                _ => None,
            };
            let code = inbox.and_then(|inbox| {
                inbox
                    .messages
                    .into_iter()
                    .rev()
                    .filter(|message| message.received_at >= since)
                    .find_map(|message| code_in(&message.text))
            });
            if let Some(code) = code {
                self.secrets.add_code(&code);
                return Ok(code);
            }
            if Instant::now() >= give_up {
                bail!(
                    "no code reached the victim's {} inbox within {} s; check the provider mocks",
                    match someone.second_factor {
                        SecondFactor::Email => "email",
                        SecondFactor::Sms => "SMS",
                    },
                    CODE_WAIT.as_secs()
                );
            }
            tokio::time::sleep(CODE_POLL).await;
        }
    }
}
