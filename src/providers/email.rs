//! Mock email provider: accepts messages and delivers them at once into inboxes
//! that synthetic people read by address.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::fields::{check_idempotency_key, check_text};
use super::inbox::{serialize_shared, MessageStore, Stats};
use super::problem::{JsonBody, PathParam, Problem};
use super::{accepted_response, finish_router};

/// Maximum length of an email address, in characters.
pub const MAX_EMAIL_ADDRESS_CHARS: usize = 254;

/// Shared state of one email mock: its inboxes and counters. Cloning is cheap and
/// shares the state.
#[derive(Clone)]
pub struct EmailState {
    store: Arc<MessageStore<EmailMessage>>,
}

impl EmailState {
    pub fn new() -> Self {
        Self {
            store: Arc::new(MessageStore::new("em_")),
        }
    }
}

impl Default for EmailState {
    fn default() -> Self {
        Self::new()
    }
}

/// Builds the email mock's router: `POST /v1/messages`,
/// `GET /v1/inboxes/{address}/messages` and `GET /v1/stats`.
pub fn email_router(state: EmailState) -> Router {
    let routes = Router::new()
        .route("/v1/messages", post(send_message))
        .route("/v1/inboxes/{address}/messages", get(list_messages))
        .route("/v1/stats", get(stats))
        .with_state(state);
    finish_router(routes)
}

#[derive(Deserialize)]
struct SendEmailRequest {
    to: String,
    subject: String,
    text: String,
    #[serde(default)]
    idempotency_key: Option<String>,
}

/// A delivered email as an inbox lists it.
#[derive(Serialize)]
struct EmailMessage {
    id: String,
    to: String,
    subject: String,
    text: String,
    received_at: DateTime<Utc>,
}

#[derive(Serialize)]
struct MessageList {
    #[serde(serialize_with = "serialize_shared")]
    messages: Vec<Arc<EmailMessage>>,
}

async fn send_message(
    State(state): State<EmailState>,
    JsonBody(request): JsonBody<SendEmailRequest>,
) -> Result<Response, Problem> {
    let owner = canonical_email_address(&request.to)?;
    check_text(&request.text)?;
    check_idempotency_key(request.idempotency_key.as_deref())?;

    let to = request.to.trim().to_owned();
    let accepted = state
        .store
        .deliver(owner, request.idempotency_key, |id| EmailMessage {
            id: id.to_owned(),
            to,
            subject: request.subject,
            text: request.text,
            received_at: Utc::now(),
        });
    tracing::debug!(id = %accepted.id, replayed = accepted.replayed, "email accepted");
    Ok(accepted_response("delivered", accepted))
}

async fn list_messages(
    State(state): State<EmailState>,
    PathParam(address): PathParam<String>,
) -> Result<Json<MessageList>, Problem> {
    let owner = canonical_email_address(&address)?;
    Ok(Json(MessageList {
        messages: state.store.messages(&owner),
    }))
}

async fn stats(State(state): State<EmailState>) -> Json<Stats> {
    Json(state.store.stats())
}

/// Returns the address trimmed and lower-cased, the form inboxes are keyed by, or
/// rejects an address that does not look like one.
///
/// An address must have exactly one `@` with text on both sides, no whitespace or
/// control characters, and at most [`MAX_EMAIL_ADDRESS_CHARS`] characters. The
/// problem detail does not quote the address.
fn canonical_email_address(raw: &str) -> Result<String, Problem> {
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
