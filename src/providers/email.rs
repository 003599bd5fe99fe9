//! Mock email provider: its own send API with idempotency keys and status
//! callbacks, inboxes that synthetic people read by address, and a subset of
//! Mailpit's read API.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::attempts::AttemptBook;
use super::callbacks::check_callback_url;
use super::desk::{Admission, Desk, Runtime};
use super::faults::{AttemptDraw, Fault, Provider};
use super::fields::{check_text, idempotency_header};
use super::inbox::{lock, serialize_shared, BoundedMap, Inboxes, IDEMPOTENCY_CAPACITY};
use super::problem::{JsonBody, PathParam, Problem};
use super::stats::{Counter, ProviderStats};
use super::timeline::{share_with_timer, Advance, Timeline};
use super::{finish_router, ProviderSettings, IDEMPOTENT_REPLAYED};

/// Maximum length of an email address, in characters.
pub const MAX_EMAIL_ADDRESS_CHARS: usize = 254;

/// Maximum number of messages the Mailpit list keeps, newest first.
pub const MAILPIT_CAPACITY: usize = 10_000;

/// Sender address of every message, since the send API takes none.
pub(super) const FROM_ADDRESS: &str = "recovery@example.org";

/// Shared state of one email mock: its messages, inboxes and counters. Cloning is
/// cheap and shares the state.
#[derive(Clone)]
pub struct EmailState {
    shared: Arc<EmailShared>,
}

struct EmailShared {
    desk: Desk,
    inner: Mutex<EmailInner>,
    wake: Arc<Notify>,
}

struct EmailInner {
    book: AttemptBook,
    records: BoundedMap<EmailRecord>,
    inboxes: Inboxes<String, EmailMessage>,
    /// Delivered messages, newest first, for Mailpit's list.
    newest: VecDeque<Arc<EmailMessage>>,
    by_id: BoundedMap<Arc<EmailMessage>>,
    timeline: Timeline<String>,
    next_sequence: u64,
}

/// The mock's record of one accepted message.
struct EmailRecord {
    status: &'static str,
    inbox: String,
    /// The message, until it is delivered.
    message: Option<EmailMessage>,
    status_callback: Option<Url>,
    fault: Option<Fault>,
    accepted_at: Instant,
}

/// A delivered email as an inbox lists it.
#[derive(Clone, Serialize)]
pub(super) struct EmailMessage {
    pub(super) id: String,
    pub(super) to: String,
    pub(super) subject: String,
    pub(super) text: String,
    pub(super) received_at: DateTime<Utc>,
    /// Whether the mock delivered this copy as an injected duplicate.
    #[serde(skip)]
    injected: bool,
}

#[derive(Serialize)]
struct MessageList {
    #[serde(serialize_with = "serialize_shared")]
    messages: Vec<Arc<EmailMessage>>,
}

#[derive(Deserialize)]
struct SendEmailRequest {
    to: String,
    subject: String,
    text: String,
    #[serde(default)]
    status_callback: Option<String>,
}

#[derive(Serialize)]
struct AcceptedBody<'a> {
    id: &'a str,
    status: &'static str,
}

/// The status callback body.
#[derive(Serialize)]
struct StatusEvent {
    id: String,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
}

impl EmailState {
    /// Creates an email mock that starts now, with the email part of `settings.profile`.
    pub fn new(settings: &ProviderSettings) -> Self {
        Self::with_runtime(settings, Runtime::standalone())
    }

    pub(crate) fn with_runtime(settings: &ProviderSettings, runtime: Runtime) -> Self {
        let stop = runtime.stop_signal();
        let desk = Desk::new(
            Provider::Email,
            settings.profile.email.clone(),
            settings.draw_seed(),
            runtime,
        );
        let inner = EmailInner {
            book: AttemptBook::new(),
            records: BoundedMap::new(IDEMPOTENCY_CAPACITY),
            inboxes: Inboxes::new(),
            newest: VecDeque::new(),
            by_id: BoundedMap::new(IDEMPOTENCY_CAPACITY),
            timeline: Timeline::new(),
            next_sequence: 1,
        };
        let shared = EmailShared {
            desk,
            inner: Mutex::new(inner),
            wake: Arc::new(Notify::new()),
        };
        let shared = share_with_timer(shared, stop);
        Self { shared }
    }
}

impl Default for EmailState {
    fn default() -> Self {
        Self::new(&ProviderSettings::default())
    }
}

/// Builds the email mock's router: `POST /v1/messages`,
/// `GET /v1/inboxes/{address}/messages`, `GET /v1/stats` and Mailpit's
/// `GET /api/v1/messages`, `GET /api/v1/search` and `GET /api/v1/message/{id}`.
pub fn email_router(state: EmailState) -> Router {
    let routes = Router::new()
        .route("/v1/messages", post(send_message))
        .route("/v1/inboxes/{address}/messages", get(list_messages))
        .route("/v1/stats", get(stats))
        .route("/api/v1/messages", get(super::mailpit::list))
        .route("/api/v1/search", get(super::mailpit::search))
        .route("/api/v1/message/{id}", get(super::mailpit::message))
        .with_state(state);
    finish_router(routes)
}

/// Returns the problem document of an injected failure with `status`.
fn injected_problem(status: StatusCode) -> Response {
    let code = match status {
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        _ => "internal_error",
    };
    Problem::new(
        status,
        code,
        "the mock provider injected this failure; retry later",
    )
    .into_response()
}

async fn send_message(
    State(state): State<EmailState>,
    headers: HeaderMap,
    JsonBody(request): JsonBody<SendEmailRequest>,
) -> Result<Response, Problem> {
    let inbox = canonical_email_address(&request.to)?;
    check_text(&request.text)?;
    let status_callback = match request.status_callback.as_deref() {
        Some(url) => Some(check_callback_url(url).map_err(|message| {
            Problem::invalid_request(format!("`status_callback`: {message}"))
        })?),
        None => None,
    };
    let key = idempotency_header(&headers, "Idempotency-Key").map_err(Problem::invalid_request)?;

    let message = EmailMessage {
        id: String::new(),
        to: request.to.trim().to_owned(),
        subject: request.subject,
        text: request.text,
        received_at: Utc::now(),
        injected: false,
    };
    Ok(state.send(inbox, message, status_callback, key).await)
}

impl EmailState {
    async fn send(
        &self,
        inbox: String,
        message: EmailMessage,
        status_callback: Option<Url>,
        key: Option<String>,
    ) -> Response {
        let desk = &self.shared.desk;
        let now = Instant::now();
        let (admission, id) = {
            let mut inner = lock(&self.shared.inner);
            let inner = &mut *inner;
            let admission = desk.admit(&mut inner.book, now, &inbox, key.as_deref());
            let id = match &admission {
                Admission::Accept(draw) => {
                    let recipient = inbox.clone();
                    let id = inner.accept(desk, now, inbox, message, status_callback, draw);
                    inner.book.accept(&recipient, key.as_deref(), &id);
                    Some(id)
                }
                Admission::Replay(id) => Some(id.clone()),
                Admission::Outage(_) | Admission::Reject(_) => None,
            };
            (admission, id)
        };
        self.shared.wake.notify_one();

        let respond = |id: Option<String>, replayed: bool| {
            accepted(id.as_deref().unwrap_or_default(), replayed)
        };
        desk.respond_to(admission, id, injected_problem, respond)
            .await
    }
}

/// Builds the 202 response of an accepted or replayed send.
fn accepted(id: &str, replayed: bool) -> Response {
    let body = Json(AcceptedBody {
        id,
        status: "queued",
    });
    if replayed {
        (StatusCode::ACCEPTED, [(IDEMPOTENT_REPLAYED, "true")], body).into_response()
    } else {
        (StatusCode::ACCEPTED, body).into_response()
    }
}

impl EmailInner {
    /// Creates the record of an accepted message, schedules its delivery and
    /// returns its id.
    fn accept(
        &mut self,
        desk: &Desk,
        now: Instant,
        inbox: String,
        mut message: EmailMessage,
        status_callback: Option<Url>,
        draw: &AttemptDraw,
    ) -> String {
        let id = format!("em_{:016x}", self.next_sequence);
        self.next_sequence += 1;
        message.id = id.clone();
        let record = EmailRecord {
            status: "queued",
            inbox,
            message: Some(message),
            status_callback,
            fault: draw.fault,
            accepted_at: now,
        };
        self.records.insert(id.clone(), record);
        if draw.fault == Some(Fault::SilentLoss) {
            desk.stats.add(Counter::Lost);
        } else {
            desk.stats.start_transit();
            let due = now + draw.latency + draw.delivery_delay_duration();
            self.timeline.push(due, id.clone());
        }
        tracing::debug!(%id, fault = draw.fault.map(Fault::name), "email accepted");
        id
    }

    /// Delivers or bounces message `id` and returns the callback it calls for.
    fn finish(&mut self, desk: &Desk, now: Instant, id: String) -> Option<(Url, StatusEvent)> {
        let Some(record) = self.records.get_mut(&id) else {
            desk.stats.end_transit(Counter::Lost);
            return None;
        };
        let message = record.message.take();
        let event = if record.fault == Some(Fault::Bounce) {
            record.status = "bounced";
            desk.stats.end_transit(Counter::Bounced);
            StatusEvent {
                id: id.clone(),
                status: "bounced",
                reason: Some("mailbox_unavailable"),
            }
        } else {
            record.status = "delivered";
            desk.stats
                .record_delivery(now.saturating_duration_since(record.accepted_at));
            StatusEvent {
                id: id.clone(),
                status: "delivered",
                reason: None,
            }
        };
        let url = record.status_callback.clone();
        let inbox = record.inbox.clone();
        let duplicate = record.fault == Some(Fault::Duplicate);
        if let (Some(message), "delivered") = (message, event.status) {
            if duplicate {
                let mut copy = message.clone();
                copy.id = format!("{id}_dup");
                copy.injected = true;
                self.deliver(desk, &inbox, message);
                self.deliver(desk, &inbox, copy);
            } else {
                self.deliver(desk, &inbox, message);
            }
        }
        url.map(|url| (url, event))
    }

    /// Puts one copy of a message into its inbox and Mailpit's list, and counts
    /// retry duplicates.
    fn deliver(&mut self, desk: &Desk, inbox: &str, mut message: EmailMessage) {
        if message.injected {
            desk.stats.add(Counter::DuplicatesInjected);
        } else if self
            .inboxes
            .messages(inbox)
            .iter()
            .any(|earlier| !earlier.injected && earlier.text == message.text)
        {
            desk.stats.add(Counter::RetryDuplicates);
        }
        message.received_at = Utc::now();
        let message = Arc::new(message);
        if self.newest.len() == MAILPIT_CAPACITY {
            self.newest.pop_back();
        }
        self.newest.push_front(message.clone());
        self.by_id.insert(message.id.clone(), message.clone());
        self.inboxes.push_shared(inbox.to_owned(), message);
    }
}

impl Advance for EmailShared {
    fn advance(&self, now: Instant) -> Option<Instant> {
        let mut callbacks = Vec::new();
        let next = {
            let mut inner = lock(&self.inner);
            // Each event is applied at its due time, so a late timer does not
            // lengthen the recorded delivery delay.
            while let Some((due, id)) = inner.timeline.pop_due(now) {
                callbacks.extend(inner.finish(&self.desk, due, id));
            }
            inner.timeline.next_due()
        };
        for (url, event) in callbacks {
            self.desk.callbacks.post_json(url, event.id.clone(), &event);
        }
        next
    }

    fn schedule_changed(&self) -> Arc<Notify> {
        self.wake.clone()
    }
}

impl EmailState {
    /// Returns the number of delivered messages Mailpit's list keeps and up to
    /// `limit` of them from `start`, newest first.
    pub(super) fn newest(&self, start: usize, limit: usize) -> (usize, Vec<Arc<EmailMessage>>) {
        self.shared.advance(Instant::now());
        let inner = lock(&self.shared.inner);
        let page = inner
            .newest
            .iter()
            .skip(start)
            .take(limit)
            .cloned()
            .collect();
        (inner.newest.len(), page)
    }

    /// Returns the number of messages in the inbox of `address` (canonical form)
    /// and up to `limit` of them from `start`, newest first.
    pub(super) fn inbox_newest(
        &self,
        address: &str,
        start: usize,
        limit: usize,
    ) -> (usize, Vec<Arc<EmailMessage>>) {
        self.shared.advance(Instant::now());
        let messages = lock(&self.shared.inner).inboxes.messages(address);
        let page = messages
            .iter()
            .rev()
            .skip(start)
            .take(limit)
            .cloned()
            .collect();
        (messages.len(), page)
    }

    /// Returns the delivered message `id`, if the mock still keeps it.
    pub(super) fn delivered(&self, id: &str) -> Option<Arc<EmailMessage>> {
        self.shared.advance(Instant::now());
        lock(&self.shared.inner).by_id.get(id).cloned()
    }
}

async fn list_messages(
    State(state): State<EmailState>,
    PathParam(address): PathParam<String>,
) -> Result<Json<MessageList>, Problem> {
    let owner = canonical_email_address(&address)?;
    state.shared.advance(Instant::now());
    Ok(Json(MessageList {
        messages: lock(&state.shared.inner).inboxes.messages(&owner),
    }))
}

async fn stats(State(state): State<EmailState>) -> Json<ProviderStats> {
    state.shared.advance(Instant::now());
    Json(state.shared.desk.stats.snapshot())
}

/// Returns the address trimmed and lower-cased, the form inboxes are keyed by, or
/// rejects an address that does not look like one.
///
/// An address must have exactly one `@` with text on both sides, no whitespace or
/// control characters, and at most [`MAX_EMAIL_ADDRESS_CHARS`] characters. The
/// problem detail does not quote the address.
pub(super) fn canonical_email_address(raw: &str) -> Result<String, Problem> {
    let address = raw.trim();
    let length = address.chars().count();
    if length > MAX_EMAIL_ADDRESS_CHARS {
        return Err(Problem::invalid_request(format!(
            "the email address is {length} characters long, more than the limit of {MAX_EMAIL_ADDRESS_CHARS}"
        )));
    }
    if address.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Problem::invalid_request(
            "the email address must not contain whitespace or control characters",
        ));
    }
    let valid_parts = match address.split_once('@') {
        Some((local, domain)) => !local.is_empty() && !domain.is_empty() && !domain.contains('@'),
        None => false,
    };
    if !valid_parts {
        return Err(Problem::invalid_request(
            "the email address must have exactly one `@` with text on both sides, such as jane@example.org",
        ));
    }
    Ok(address.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_address_is_trimmed_and_lowercased() {
        let canonical = canonical_email_address("  Jane.Doe@Example.ORG\t").expect("valid");
        assert_eq!(canonical, "jane.doe@example.org");
    }

    #[test]
    fn plus_and_subdomains_accepted() {
        assert!(canonical_email_address("jane+reset@mail.example.org").is_ok());
    }

    #[test]
    fn invalid_addresses_rejected() {
        let local = "a".repeat(MAX_EMAIL_ADDRESS_CHARS - 11);
        let too_long = format!("{local}@example.org");
        let cases = [
            "",
            "   ",
            "jane",
            "@example.org",
            "jane@",
            "jane@@example.org",
            "a@b@c",
            "ja ne@example.org",
        ];
        for address in cases.iter().copied().chain([too_long.as_str()]) {
            let problem = canonical_email_address(address).expect_err(address);
            assert_eq!(problem.code(), "invalid_request", "{address:?}");
        }
    }

    #[test]
    fn length_limit_is_inclusive() {
        let local = "a".repeat(MAX_EMAIL_ADDRESS_CHARS - 12);
        let address = format!("{local}@example.org");
        assert_eq!(address.chars().count(), MAX_EMAIL_ADDRESS_CHARS);
        assert!(canonical_email_address(&address).is_ok());
    }
}
