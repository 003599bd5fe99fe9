//! Test helpers for the mock providers over real HTTP on 127.0.0.1: typed send
//! requests in each provider's shape, bounded polling, and a receiver for
//! status callbacks.
#![allow(dead_code)]

use std::future::Future;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::routing::post;
use axum::Router;
use chrono::NaiveDate;
use recoverylab::providers::{FaultProfile, MockProviders, ProviderSettings};
use recoverylab::server::{self, RunningServer};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use tokio::sync::mpsc;

/// The account sid the service uses unless configured.
pub const ACCOUNT_SID: &str = "AC00000000000000000000000000000000";

/// Real seconds per business day that no test outlasts, so letters stay in transit.
pub const SLOW_CLOCK: f64 = 3_600.0;

pub fn client() -> Client {
    client_with_timeout(Duration::from_secs(10))
}

pub fn client_with_timeout(timeout: Duration) -> Client {
    Client::builder()
        .no_proxy()
        .timeout(timeout)
        .build()
        .expect("the HTTP client builds")
}

pub fn date(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).expect("test dates are valid")
}

pub fn settings(seed: u64, seconds_per_business_day: f64) -> ProviderSettings {
    ProviderSettings {
        seed,
        seconds_per_business_day,
        postal_transit_business_days: 5..=10,
        start_date: date(2026, 11, 25),
        profile: FaultProfile::healthy(),
    }
}

/// Returns settings with the profile parsed from `text`.
pub fn with_profile(text: &str) -> ProviderSettings {
    let profile = FaultProfile::parse(std::path::Path::new("test-profile.toml"), text)
        .unwrap_or_else(|error| panic!("the test profile is valid: {error}"));
    ProviderSettings {
        profile,
        ..settings(0, 0.01)
    }
}

pub async fn start(settings: ProviderSettings) -> MockProviders {
    MockProviders::spawn(settings)
        .await
        .expect("the mock providers start")
}

/// A response read to the end: status, headers and JSON body (or the text as a
/// JSON string).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

pub async fn read(response: reqwest::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("the body arrives");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Reply {
        status,
        headers,
        body,
    }
}

pub async fn get_json(client: &Client, url: impl reqwest::IntoUrl) -> Reply {
    read(client.get(url).send().await.expect("the request completes")).await
}

pub async fn stats(client: &Client, base: &str) -> Value {
    get_json(client, format!("{base}/v1/stats")).await.body
}

/// A text message to send through the Twilio-shaped API.
pub struct Sms<'a> {
    pub to: &'a str,
    pub body: &'a str,
    pub key: Option<&'a str>,
    pub callback: Option<&'a str>,
}

impl<'a> Sms<'a> {
    pub fn new(to: &'a str, body: &'a str) -> Self {
        Self {
            to,
            body,
            key: None,
            callback: None,
        }
    }

    pub fn request(&self, client: &Client, base: &str) -> reqwest::RequestBuilder {
        let mut form = vec![
            ("To", self.to),
            ("From", "+15555550100"),
            ("Body", self.body),
        ];
        if let Some(callback) = self.callback {
            form.push(("StatusCallback", callback));
        }
        let mut request = client
            .post(format!(
                "{base}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
            ))
            .form(&form);
        if let Some(key) = self.key {
            request = request.header("I-Twilio-Idempotency-Token", key);
        }
        request
    }

    pub async fn send(&self, client: &Client, base: &str) -> Reply {
        read(
            self.request(client, base)
                .send()
                .await
                .expect("the send completes"),
        )
        .await
    }
}

pub fn sms_status_url(base: &str, sid: &str) -> String {
    format!("{base}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json")
}

/// Sends an email through the mock's own API.
pub fn email_request(
    client: &Client,
    base: &str,
    to: &str,
    text: &str,
    key: Option<&str>,
    callback: Option<&str>,
) -> reqwest::RequestBuilder {
    let mut body = json!({"to": to, "subject": "Your code", "text": text});
    if let Some(callback) = callback {
        body["status_callback"] = json!(callback);
    }
    let mut request = client.post(format!("{base}/v1/messages")).json(&body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    request
}

pub async fn send_email(client: &Client, base: &str, to: &str, text: &str) -> Reply {
    let request = email_request(client, base, to, text, None, None);
    read(request.send().await.expect("the send completes")).await
}

/// Returns a Lob address at `line1` in Springfield, IL 62701.
pub fn lob_address(line1: &str) -> Value {
    json!({
        "name": "Jane Doe",
        "address_line1": line1,
        "address_line2": "Apt 4",
        "address_city": "Springfield",
        "address_state": "IL",
        "address_zip": "62701",
    })
}

/// Returns a Lob letter body to `line1`.
pub fn letter(line1: &str, file: &str) -> Value {
    json!({"description": "Temporary password", "to": lob_address(line1), "file": file})
}

pub async fn mail_letter(client: &Client, base: &str, body: &Value, key: Option<&str>) -> Reply {
    let mut request = client.post(format!("{base}/v1/letters")).json(body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    read(request.send().await.expect("the send completes")).await
}

pub fn letterbox_url(base: &str, line1: &str, zip: &str) -> reqwest::Url {
    reqwest::Url::parse_with_params(
        &format!("{base}/v1/letterbox"),
        [("line1", line1), ("zip", zip)],
    )
    .expect("the letterbox URL parses")
}

/// Polls `check` every 20 ms until it returns `Some`, for at most `limit`.
pub async fn wait_for<T, F, Fut>(limit: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(found) = check().await {
            return Some(found);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Returns the messages in a handset or inbox listing.
pub async fn listed(client: &Client, url: String) -> Vec<Value> {
    let reply = get_json(client, url).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    reply.body["messages"]
        .as_array()
        .or_else(|| reply.body["letters"].as_array())
        .cloned()
        .unwrap_or_default()
}

/// One callback the receiver got: its content type and body.
#[derive(Debug, Clone)]
pub struct Callback {
    pub content_type: String,
    pub body: String,
}

impl Callback {
    /// Returns the value of form field `name`.
    pub fn form_field(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.body.as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON callback")
    }
}

/// A small server on 127.0.0.1 that records every POST to `/callbacks`.
pub struct CallbackReceiver {
    pub server: RunningServer,
    received: mpsc::UnboundedReceiver<Callback>,
}

impl CallbackReceiver {
    pub async fn start() -> Self {
        let (sender, received) = mpsc::unbounded_channel();
        let router = Router::new()
            .route("/callbacks", post(record_callback))
            .with_state(sender);
        let listener = server::bind_loopback().await.expect("bind loopback");
        let server = server::spawn(listener, router).expect("the receiver starts");
        Self { server, received }
    }

    pub fn url(&self) -> String {
        format!("{}/callbacks", self.server.url())
    }

    /// Returns the next callback, or `None` after `limit`.
    pub async fn next(&mut self, limit: Duration) -> Option<Callback> {
        tokio::time::timeout(limit, self.received.recv())
            .await
            .ok()
            .flatten()
    }
}

async fn record_callback(
    State(sender): State<mpsc::UnboundedSender<Callback>>,
    headers: HeaderMap,
    body: Bytes,
) -> AxumStatus {
    let content_type = headers
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = String::from_utf8_lossy(&body).into_owned();
    let _ = sender.send(Callback { content_type, body });
    AxumStatus::NO_CONTENT
}
