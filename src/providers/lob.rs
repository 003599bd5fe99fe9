//! The Lob-shaped parts of the postal mock: request and response bodies, errors,
//! and the checks on a mailing request.

use std::collections::BTreeMap;

use axum::extract::rejection::JsonRejection;
use axum::extract::FromRequest;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::NaiveDate;
use reqwest::Url;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::callbacks::check_callback_url;
use super::fields::{check_not_blank, check_text, check_zip};
use super::problem::Problem;

/// Maximum number of `metadata` entries, as Lob allows.
const MAX_METADATA_ENTRIES: usize = 20;

/// An error in Lob's shape: `{"error": {"message", "status_code", "code"}}`.
#[derive(Debug)]
pub(crate) struct LobError {
    pub(super) status: StatusCode,
    pub(super) code: String,
    pub(super) message: String,
}

impl LobError {
    pub(super) fn invalid(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_request".to_owned(),
            message: message.into(),
        }
    }
}

impl IntoResponse for LobError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"message": self.message, "status_code": self.status.as_u16(), "code": self.code}});
        (self.status, Json(body)).into_response()
    }
}

impl From<Problem> for LobError {
    fn from(problem: Problem) -> Self {
        Self {
            status: StatusCode::from_u16(problem.status).unwrap_or(StatusCode::BAD_REQUEST),
            code: problem.code,
            message: problem.detail,
        }
    }
}

impl From<JsonRejection> for LobError {
    fn from(rejection: JsonRejection) -> Self {
        Problem::from(rejection).into()
    }
}

/// [`axum::Json`] that rejects with a Lob error.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(LobError))]
pub(super) struct LobJson<T>(pub(super) T);

/// Returns the Lob-shaped response of an injected failure with `status`.
pub(super) fn injected_error(status: StatusCode) -> Response {
    let code = match status {
        StatusCode::TOO_MANY_REQUESTS => "rate_limit_exceeded",
        StatusCode::SERVICE_UNAVAILABLE => "service_unavailable",
        _ => "internal_server_error",
    };
    LobError {
        status,
        code: code.to_owned(),
        message: "the mock provider injected this failure; retry later".to_owned(),
    }
    .into_response()
}

/// A postal address as Lob names its fields.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct LobAddress {
    pub(super) name: String,
    pub(super) address_line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) address_line2: Option<String>,
    pub(super) address_city: String,
    pub(super) address_state: String,
    pub(super) address_zip: String,
}

#[derive(Deserialize)]
pub(super) struct MailLetterRequest {
    #[serde(default)]
    description: Option<String>,
    to: LobAddress,
    #[serde(default)]
    from: Option<LobAddress>,
    file: String,
    #[serde(default)]
    metadata: Option<BTreeMap<String, String>>,
}

/// A tracking event as Lob shows it.
#[derive(Debug, Clone, Serialize)]
pub(super) struct TrackingEvent {
    pub(super) id: String,
    pub(super) object: &'static str,
    #[serde(rename = "type")]
    pub(super) event_type: &'static str,
    pub(super) name: &'static str,
    pub(super) time: String,
    pub(super) location: String,
}

/// A letter as Lob's API shows it, without its file.
#[derive(Debug, Clone, Serialize)]
pub(super) struct LetterView {
    pub(super) id: String,
    pub(super) object: &'static str,
    pub(super) description: Option<String>,
    pub(super) metadata: BTreeMap<String, String>,
    pub(super) to: LobAddress,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) from: Option<LobAddress>,
    pub(super) expected_delivery_date: NaiveDate,
    pub(super) send_date: String,
    pub(super) date_created: String,
    pub(super) tracking_events: Vec<TrackingEvent>,
    pub(super) status: &'static str,
}

/// A validated mailing request.
pub(super) struct Mailing {
    pub(super) description: Option<String>,
    pub(super) to: LobAddress,
    pub(super) from: Option<LobAddress>,
    pub(super) text: String,
    pub(super) metadata: BTreeMap<String, String>,
    pub(super) webhook_url: Option<Url>,
}

pub(super) fn validate_request(request: MailLetterRequest) -> Result<Mailing, LobError> {
    let to = validate_address("to", &request.to)?;
    let from = request
        .from
        .as_ref()
        .map(|from| validate_address("from", from))
        .transpose()?;
    check_text(&request.file)
        .map_err(|problem| LobError::invalid(problem.detail.replace("`text`", "`file`")))?;
    let metadata = request.metadata.unwrap_or_default();
    if metadata.len() > MAX_METADATA_ENTRIES {
        return Err(LobError::invalid(format!(
            "`metadata` has {} entries, more than the limit of {MAX_METADATA_ENTRIES}",
            metadata.len()
        )));
    }
    let webhook_url = metadata
        .get("webhook_url")
        .map(|url| {
            check_callback_url(url)
                .map_err(|message| LobError::invalid(format!("`metadata.webhook_url`: {message}")))
        })
        .transpose()?;
    Ok(Mailing {
        description: request.description,
        to,
        from,
        text: request.file,
        metadata,
        webhook_url,
    })
}

/// Returns the address with trimmed fields and an upper-case state, or rejects a
/// blank name, line1 or city, a state that is not two letters, or a ZIP code that
/// is not five digits. `field` is `to` or `from`.
fn validate_address(field: &str, address: &LobAddress) -> Result<LobAddress, LobError> {
    let required = [
        ("name", &address.name),
        ("address_line1", &address.address_line1),
        ("address_city", &address.address_city),
    ];
    for (name, value) in required {
        check_not_blank(&format!("{field}.{name}"), value)?;
    }
    let state = address.address_state.trim();
    if state.len() != 2 || !state.bytes().all(|byte| byte.is_ascii_alphabetic()) {
        return Err(LobError::invalid(format!(
            "`{field}.address_state` must be a two-letter state code, such as CA"
        )));
    }
    let line2 = address
        .address_line2
        .as_deref()
        .map(str::trim)
        .filter(|line| !line.is_empty());
    Ok(LobAddress {
        name: address.name.trim().to_owned(),
        address_line1: address.address_line1.trim().to_owned(),
        address_line2: line2.map(str::to_owned),
        address_city: address.address_city.trim().to_owned(),
        address_state: state.to_ascii_uppercase(),
        address_zip: check_zip(&format!("{field}.address_zip"), &address.address_zip)?,
    })
}
