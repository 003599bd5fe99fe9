//! Mock SMS provider: accepts text messages and delivers them at once to handsets
//! that synthetic people read by phone number.

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

/// Shared state of one SMS mock: its handsets and counters. Cloning is cheap and
/// shares the state.
#[derive(Clone)]
pub struct SmsState {
    store: Arc<MessageStore<SmsMessage>>,
}

impl SmsState {
    pub fn new() -> Self {
        Self {
            store: Arc::new(MessageStore::new("sm_")),
        }
    }
}

impl Default for SmsState {
    fn default() -> Self {
        Self::new()
    }
}

/// Builds the SMS mock's router: `POST /v1/messages`,
/// `GET /v1/handsets/{number}/messages` and `GET /v1/stats`.
pub fn sms_router(state: SmsState) -> Router {
    let routes = Router::new()
        .route("/v1/messages", post(send_message))
        .route("/v1/handsets/{number}/messages", get(list_messages))
        .route("/v1/stats", get(stats))
        .with_state(state);
    finish_router(routes)
}

#[derive(Deserialize)]
struct SendSmsRequest {
    to: String,
    text: String,
    #[serde(default)]
    idempotency_key: Option<String>,
}

/// A delivered text message as a handset lists it.
#[derive(Serialize)]
struct SmsMessage {
    id: String,
    to: String,
    text: String,
    received_at: DateTime<Utc>,
}

#[derive(Serialize)]
struct MessageList {
    #[serde(serialize_with = "serialize_shared")]
    messages: Vec<Arc<SmsMessage>>,
}

async fn send_message(
    State(state): State<SmsState>,
    JsonBody(request): JsonBody<SendSmsRequest>,
) -> Result<Response, Problem> {
    let owner = canonical_phone_number(&request.to)?;
    check_text(&request.text)?;
    check_idempotency_key(request.idempotency_key.as_deref())?;

    let to = request.to.trim().to_owned();
    let accepted = state
        .store
        .deliver(owner, request.idempotency_key, |id| SmsMessage {
            id: id.to_owned(),
            to,
            text: request.text,
            received_at: Utc::now(),
        });
    tracing::debug!(id = %accepted.id, replayed = accepted.replayed, "text message accepted");
    Ok(accepted_response("delivered", accepted))
}

async fn list_messages(
    State(state): State<SmsState>,
    PathParam(number): PathParam<String>,
) -> Result<Json<MessageList>, Problem> {
    let owner = canonical_phone_number(&number)?;
    Ok(Json(MessageList {
        messages: state.store.messages(&owner),
    }))
}

async fn stats(State(state): State<SmsState>) -> Json<Stats> {
    Json(state.store.stats())
}

/// Returns the number's digits, the form handsets are keyed by, or rejects a number
/// that is not a 10- or 11-digit phone number.
///
/// Spaces, dashes, dots, parentheses and one leading `+` are dropped first. An
/// 11-digit number that starts with the country code 1 loses it, so "+1 555-555-0142"
/// and "(555) 555-0142" reach the same handset. The problem detail does not quote
/// the number.
fn canonical_phone_number(raw: &str) -> Result<String, Problem> {
    let trimmed = raw.trim();
    let without_plus = trimmed.strip_prefix('+').unwrap_or(trimmed);

    let mut digits = String::with_capacity(without_plus.len());
    for c in without_plus.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => {
                return Err(Problem::invalid_request(
                    "the phone number may contain only digits, spaces, dashes, dots, parentheses and a leading `+`",
                ))
            }
        }
    }

    match digits.len() {
        10 => Ok(digits),
        11 => match digits.strip_prefix('1') {
            Some(national) => Ok(national.to_owned()),
            None => Ok(digits),
        },
        count => Err(Problem::invalid_request(format!(
            "the phone number has {count} digits; send 10 digits, or 11 with a country code, such as +1 555-555-0142"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatted_numbers_share_canonical_form() {
        for number in [
            "+1 555-555-0142",
            "(555) 555-0142",
            "555.555.0142",
            "15555550142",
            " 5555550142 ",
        ] {
            assert_eq!(
                canonical_phone_number(number).expect(number),
                "5555550142",
                "{number:?}"
            );
        }
    }

    #[test]
    fn eleven_digits_without_leading_one_kept() {
        assert_eq!(
            canonical_phone_number("+7 912 345-6789").expect("valid"),
            "79123456789"
        );
    }

    #[test]
    fn invalid_numbers_rejected() {
        let cases = [
            "",
            "555-0142",
            "555 555 014",
            "123456789012",
            "+1 555 555 014x",
            "555+555+0142",
            "++15555550142",
            "５５５５５５０１４２",
        ];
        for number in cases {
            let problem = canonical_phone_number(number).expect_err(number);
            assert_eq!(problem.code(), "invalid_request", "{number:?}");
        }
    }
}
