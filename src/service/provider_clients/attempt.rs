//! One attempt of a provider send: the request, the whole response, and the
//! failure classified for the retry decision. A failure's description names
//! the HTTP status and the provider's error code. It never contains the
//! request's content or the provider's error message, because Twilio's
//! message repeats the phone number.

use std::fmt;
use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{RequestBuilder, StatusCode};
use serde_json::Value;

/// The cause of a failed attempt.
#[derive(Debug)]
pub(super) enum AttemptFailure {
    /// The provider responded with a status other than 2xx.
    Status {
        status: StatusCode,
        /// The provider's error code from the body, such as Twilio's `21211`.
        provider_code: Option<String>,
        retry_after: Option<Duration>,
    },
    /// The attempt took longer than the timeout.
    Timeout(Duration),
    /// Connecting failed, or the connection closed before the whole response arrived.
    Connection,
    /// The request could not be built, such as from an invalid base URL.
    InvalidRequest,
}

impl AttemptFailure {
    /// Returns whether another attempt may succeed: 5xx, 429, timeouts and
    /// connection errors. Any other status means the request itself is wrong.
    pub fn is_retryable(&self) -> bool {
        match self {
            AttemptFailure::Status { status, .. } => {
                status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS
            }
            AttemptFailure::Timeout(_) | AttemptFailure::Connection => true,
            AttemptFailure::InvalidRequest => false,
        }
    }

    /// Returns the wait the provider asked for with `Retry-After`.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            AttemptFailure::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    fn from_transport(error: &reqwest::Error, timeout: Duration) -> Self {
        if error.is_builder() {
            AttemptFailure::InvalidRequest
        } else if error.is_timeout() {
            AttemptFailure::Timeout(timeout)
        } else {
            AttemptFailure::Connection
        }
    }
}

impl fmt::Display for AttemptFailure {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttemptFailure::Status {
                status,
                provider_code: Some(code),
                ..
            } => write!(formatter, "HTTP {} (provider code {code})", status.as_u16()),
            AttemptFailure::Status { status, .. } => write!(formatter, "HTTP {}", status.as_u16()),
            AttemptFailure::Timeout(timeout) => write!(formatter, "timeout after {timeout:?}"),
            AttemptFailure::Connection => formatter.write_str("connection error"),
            AttemptFailure::InvalidRequest => {
                formatter.write_str("invalid request; check the provider's base URL")
            }
        }
    }
}

/// Sends `request` with `timeout` covering the whole exchange, and returns
/// the body of a 2xx response.
pub(super) async fn run_attempt(
    request: RequestBuilder,
    timeout: Duration,
) -> Result<Vec<u8>, AttemptFailure> {
    let transport = |error: reqwest::Error| AttemptFailure::from_transport(&error, timeout);
    let response = request.timeout(timeout).send().await.map_err(transport)?;
    let status = response.status();
    if status.is_success() {
        let body = response.bytes().await.map_err(transport)?;
        return Ok(body.to_vec());
    }

    let retry_after = retry_after_seconds(response.headers());
    // The error body only adds the provider's code, so a body that cannot be
    // read still leaves the status as the failure.
    let body = response.bytes().await.unwrap_or_default();
    Err(AttemptFailure::Status {
        status,
        provider_code: provider_error_code(&body),
        retry_after,
    })
}

/// Reads `Retry-After` given in seconds.
///
/// NOTE: the HTTP-date form is ignored (the backoff applies instead) because
/// the providers this client speaks to send seconds.
fn retry_after_seconds(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse().ok().map(Duration::from_secs)
}

/// Returns the error code of a Twilio body (`{"code": 21211}`), a Lob body
/// (`{"error": {"code": "invalid_request"}}`) or a problem document
/// (`{"code": "invalid_request"}`), if it is a short token.
fn provider_error_code(body: &[u8]) -> Option<String> {
    let document: Value = serde_json::from_slice(body).ok()?;
    let code = document
        .get("code")
        .or_else(|| document.get("error").and_then(|error| error.get("code")))?;
    match code {
        Value::Number(number) => Some(number.to_string()),
        Value::String(text) if is_code_token(text) => Some(text.clone()),
        _ => None,
    }
}

/// Accepts short identifiers only, so a provider that puts free text in its
/// code field cannot bring a recipient into logs and errors.
fn is_code_token(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_codes_read_from_each_shape() {
        let cases = [
            (
                "twilio",
                r#"{"code": 21211, "message": "The 'To' number +15555550142 is not valid"}"#,
                Some("21211"),
            ),
            (
                "lob",
                r#"{"error": {"message": "to is required", "status_code": 422, "code": "invalid_request"}}"#,
                Some("invalid_request"),
            ),
            (
                "problem",
                r#"{"type": "about:blank", "code": "rate_limited"}"#,
                Some("rate_limited"),
            ),
            (
                "free text",
                r#"{"code": "no handset for +1 555 555 0142"}"#,
                None,
            ),
            ("not json", "Service Unavailable", None),
        ];
        for (case, body, expected) in cases {
            assert_eq!(
                provider_error_code(body.as_bytes()).as_deref(),
                expected,
                "case {case}"
            );
        }
    }

    #[test]
    fn retry_after_read_in_seconds() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after_seconds(&headers), Some(Duration::from_secs(2)));
        headers.insert(
            RETRY_AFTER,
            "Fri, 04 Dec 2026 22:00:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after_seconds(&headers), None, "HTTP-date form");
    }

    #[test]
    fn only_5xx_429_timeouts_and_connections_retried() {
        let status = |code: u16| AttemptFailure::Status {
            status: StatusCode::from_u16(code).unwrap(),
            provider_code: None,
            retry_after: None,
        };
        for code in [500, 502, 503, 504, 429] {
            assert!(status(code).is_retryable(), "HTTP {code}");
        }
        for code in [400, 401, 403, 404, 409, 422, 301] {
            assert!(!status(code).is_retryable(), "HTTP {code}");
        }
        assert!(AttemptFailure::Timeout(Duration::from_secs(3)).is_retryable());
        assert!(AttemptFailure::Connection.is_retryable());
        assert!(!AttemptFailure::InvalidRequest.is_retryable());
    }
}
