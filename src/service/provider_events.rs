//! Delivery status callbacks from the providers: Twilio's SMS status
//! callback, the email provider's status callback and Lob's letter events.
//!
//! Each returns 204 once the status is stored, also for a message id the
//! service does not know yet, because a callback can arrive before the
//! response to the send. A body that cannot be read gets a 4xx problem
//! document.
//!
//! NOTE: the callbacks are not authenticated. Twilio signs its callbacks
//! (`X-Twilio-Signature`) and Lob its webhooks (`Lob-Signature`), but the
//! mock providers do not, so nothing is checked yet. Provider ids are
//! unguessable, which limits a forged report to messages whose id leaked, and
//! the hourly resend limits still bound what a forged failure allows.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;

use super::extract::{ApiForm, ApiJson};
use super::AppState;
use crate::journeys::delivery::{DeliveryChannel, DeliveryKey, DeliveryStatus};
use crate::problem::Problem;

/// The maximum length of a provider message id, in bytes.
const MAX_PROVIDER_ID_LEN: usize = 128;
/// The maximum length of an error code or bounce reason, in bytes.
const MAX_ERROR_CODE_LEN: usize = 64;

/// The fields of a Twilio status callback that the service reads; Twilio
/// sends more (`AccountSid`, `To`, `From`, `ApiVersion`…), which are ignored.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct SmsStatusCallback {
    #[serde(rename = "MessageSid")]
    pub message_sid: String,
    /// queued, accepted, scheduled, sending, sent, delivered, read,
    /// undelivered, failed or canceled.
    #[serde(rename = "MessageStatus")]
    pub message_status: String,
    /// Twilio's error code of an undelivered or failed message, such as `30003`.
    #[serde(rename = "ErrorCode", default)]
    pub error_code: Option<String>,
}

/// The outcome the email provider reports.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EmailOutcome {
    Delivered,
    Bounced,
}

/// The email provider's status callback.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct EmailStatusCallback {
    /// The message id from the send's response, such as `em_…`.
    pub id: String,
    pub status: EmailOutcome,
    /// The bounce reason, such as `mailbox_unavailable`.
    #[serde(default)]
    pub reason: Option<String>,
}

/// A Lob event; only its type and the letter's id are read.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct PostalEvent {
    pub event_type: PostalEventType,
    pub body: PostalEventLetter,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct PostalEventType {
    /// Such as `letter.delivered` or `letter.returned_to_sender`.
    pub id: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct PostalEventLetter {
    /// The letter's id from the send's response, such as `ltr_…`.
    pub id: String,
}

/// Stores the status of a text message from Twilio's status callback.
#[utoipa::path(post, path = "/v1/provider-events/sms",
    request_body(content = SmsStatusCallback, content_type = "application/x-www-form-urlencoded"),
    responses((status = 204), (status = 400, body = Problem), (status = 415, body = Problem)))]
pub async fn sms_status(
    State(state): State<AppState>,
    ApiForm(callback): ApiForm<SmsStatusCallback>,
) -> Result<StatusCode, Problem> {
    let key = DeliveryKey {
        channel: DeliveryChannel::Sms,
        provider_id: checked_provider_id("MessageSid", callback.message_sid)?,
    };
    let status = twilio_status(&callback.message_status)?;
    let error_code = checked_error_code("ErrorCode", callback.error_code)?;
    record(&state, key, status, error_code).await
}

/// Stores the status of an email from the email provider's callback.
#[utoipa::path(post, path = "/v1/provider-events/email", request_body = EmailStatusCallback,
    responses((status = 204), (status = 400, body = Problem), (status = 415, body = Problem)))]
pub async fn email_status(
    State(state): State<AppState>,
    ApiJson(callback): ApiJson<EmailStatusCallback>,
) -> Result<StatusCode, Problem> {
    let key = DeliveryKey {
        channel: DeliveryChannel::Email,
        provider_id: checked_provider_id("id", callback.id)?,
    };
    let status = match callback.status {
        EmailOutcome::Delivered => DeliveryStatus::Delivered,
        EmailOutcome::Bounced => DeliveryStatus::Bounced,
    };
    let error_code = checked_error_code("reason", callback.reason)?;
    record(&state, key, status, error_code).await
}

/// Stores the status of a letter from a Lob event. Event types without
/// delivery news, such as `letter.created`, are acknowledged and ignored.
#[utoipa::path(post, path = "/v1/provider-events/postal", request_body = PostalEvent,
    responses((status = 204), (status = 400, body = Problem), (status = 415, body = Problem)))]
pub async fn postal_event(
    State(state): State<AppState>,
    ApiJson(event): ApiJson<PostalEvent>,
) -> Result<StatusCode, Problem> {
    let key = DeliveryKey {
        channel: DeliveryChannel::Postal,
        provider_id: checked_provider_id("body.id", event.body.id)?,
    };
    let Some(status) = lob_status(&event.event_type.id) else {
        tracing::debug!(provider = "postal", provider_id = %key.provider_id, "event type ignored");
        return Ok(StatusCode::NO_CONTENT);
    };
    record(&state, key, status, None).await
}

async fn record(
    state: &AppState,
    key: DeliveryKey,
    status: DeliveryStatus,
    error_code: Option<String>,
) -> Result<StatusCode, Problem> {
    tracing::debug!(provider = key.channel.name(), provider_id = %key.provider_id, "delivery status received");
    state
        .engine
        .record_status_report(key, status, error_code)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Maps a Twilio message status to a delivery status.
fn twilio_status(status: &str) -> Result<DeliveryStatus, Problem> {
    match status {
        "queued" | "accepted" | "scheduled" | "sending" => Ok(DeliveryStatus::Accepted),
        "sent" => Ok(DeliveryStatus::Sent),
        "delivered" | "read" => Ok(DeliveryStatus::Delivered),
        "undelivered" => Ok(DeliveryStatus::Undelivered),
        "failed" | "canceled" => Ok(DeliveryStatus::Failed),
        _ => Err(Problem::invalid_request(
            "MessageStatus is not an outbound message status; send one of queued, accepted, scheduled, sending, sent, delivered, read, undelivered, failed, canceled",
        )),
    }
}

/// Maps a Lob letter event type to a delivery status, or `None` for an event
/// without delivery news.
fn lob_status(event_type: &str) -> Option<DeliveryStatus> {
    match event_type {
        "letter.mailed"
        | "letter.in_transit"
        | "letter.in_local_area"
        | "letter.processed_for_delivery"
        | "letter.re-routed" => Some(DeliveryStatus::Sent),
        "letter.delivered" => Some(DeliveryStatus::Delivered),
        "letter.returned_to_sender" => Some(DeliveryStatus::Returned),
        _ => None,
    }
}

/// Checks that a provider id is 1 to 128 ASCII letters, digits, `_` or `-`.
fn checked_provider_id(field: &str, id: String) -> Result<String, Problem> {
    let valid = !id.is_empty()
        && id.len() <= MAX_PROVIDER_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !valid {
        return Err(Problem::invalid_request(format!(
            "{field} is not a provider message id; send the id from the send's answer: 1 to {MAX_PROVIDER_ID_LEN} ASCII letters, digits, `_` or `-`"
        )));
    }
    Ok(id)
}

/// Checks an optional error code or reason; an empty one counts as absent,
/// as Twilio sends `ErrorCode=` for a message without an error.
fn checked_error_code(field: &str, code: Option<String>) -> Result<Option<String>, Problem> {
    let Some(code) = code.filter(|code| !code.is_empty()) else {
        return Ok(None);
    };
    let valid = code.len() <= MAX_ERROR_CODE_LEN
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    if !valid {
        return Err(Problem::invalid_request(format!(
            "{field} is not an error code; send at most {MAX_ERROR_CODE_LEN} ASCII letters, digits, `_`, `-` or `.`"
        )));
    }
    Ok(Some(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_failures_map_to_failures() {
        for status in ["undelivered", "failed", "canceled"] {
            assert!(
                twilio_status(status).unwrap().is_failure(),
                "{status} is a failure"
            );
        }
        for status in ["queued", "sent", "delivered", "read"] {
            assert!(
                !twilio_status(status).unwrap().is_failure(),
                "{status} is no failure"
            );
        }
        assert!(twilio_status("received").is_err(), "an inbound status");
    }

    #[test]
    fn provider_ids_checked_for_shape() {
        assert!(checked_provider_id("id", "SM0123abcdef".to_owned()).is_ok());
        assert!(checked_provider_id("id", "ltr_4868c3b754655f90".to_owned()).is_ok());
        for bad in ["", "a b", "id/../x", "é", &"a".repeat(129)] {
            assert!(
                checked_provider_id("id", bad.to_owned()).is_err(),
                "{bad:.20} is rejected"
            );
        }
    }
}
