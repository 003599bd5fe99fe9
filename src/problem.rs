//! RFC 9457 problem documents: the one error shape of every API here.

use axum::extract::rejection::{FormRejection, JsonRejection, PathRejection, QueryRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

/// An error response: `application/problem+json` with a stable `code`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the problem type; `about:blank` plus `code` here.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// A stable, machine-readable code such as `wrong_code`.
    pub code: String,
    #[serde(skip)]
    pub retry_after_s: Option<i64>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Self {
            problem_type: "about:blank".to_owned(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            code: code.to_owned(),
            retry_after_s: None,
        }
    }

    pub fn with_retry_after(mut self, seconds: i64) -> Self {
        self.retry_after_s = Some(seconds);
        self
    }

    /// Returns the stable code, such as `not_found`.
    pub fn code(&self) -> &str {
        &self.code
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    pub fn invalid_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", detail)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).expect("a problem document serialises");
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = self.retry_after_s {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        response
    }
}

impl From<JsonRejection> for Problem {
    fn from(rejection: JsonRejection) -> Self {
        // Missing fields and wrong types are a 400 like any other malformed
        // request, rather than axum's default 422.
        let status = match rejection.status() {
            StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
            other => other,
        };
        let (code, detail) = match &rejection {
            JsonRejection::MissingJsonContentType(_) => (
                "unsupported_media_type",
                "the request body must be JSON; send Content-Type: application/json".to_owned(),
            ),
            JsonRejection::JsonSyntaxError(_) => (
                "malformed_json",
                format!(
                    "the body is not valid JSON: {}",
                    redact_values(&rejection.body_text())
                ),
            ),
            JsonRejection::JsonDataError(_) => (
                "invalid_request",
                format!(
                    "the body does not match the expected fields: {}",
                    redact_values(&rejection.body_text())
                ),
            ),
            _ if status == StatusCode::PAYLOAD_TOO_LARGE => (
                "payload_too_large",
                "the body is larger than this endpoint accepts; send a smaller body".to_owned(),
            ),
            _ => (
                "invalid_request",
                "the body could not be read; send a complete JSON body".to_owned(),
            ),
        };
        Problem::new(status, code, detail)
    }
}

impl From<FormRejection> for Problem {
    fn from(rejection: FormRejection) -> Self {
        let (status, code, detail) = match &rejection {
            FormRejection::InvalidFormContentType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the request body must be a form; send Content-Type: application/x-www-form-urlencoded".to_owned(),
            ),
            FormRejection::FailedToDeserializeForm(_)
            | FormRejection::FailedToDeserializeFormBody(_) => (
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!(
                    "the form does not match the expected fields: {}",
                    redact_values(&rejection.body_text())
                ),
            ),
            _ if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the body is larger than this endpoint accepts; send a smaller body".to_owned(),
            ),
            _ => (
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the body could not be read; send a complete form body".to_owned(),
            ),
        };
        Problem::new(status, code, detail)
    }
}

impl From<PathRejection> for Problem {
    fn from(rejection: PathRejection) -> Self {
        Problem::invalid_request(redact_values(&rejection.body_text()))
    }
}

impl From<QueryRejection> for Problem {
    fn from(rejection: QueryRejection) -> Self {
        Problem::invalid_request(redact_values(&rejection.body_text()))
    }
}

/// The words serde puts before a value it quotes in an error message, as in
/// ``invalid type: integer `900123456`, expected a string``.
const VALUE_PREFIXES: [&str; 6] = [
    "boolean ",
    "integer ",
    "floating point ",
    "character ",
    "string ",
    "variant ",
];

/// Replaces every value quoted in a parser message with `…`, keeping quoted
/// field names, so an error never echoes what the client sent (it may be an
/// SSN or a password sent in the wrong field).
pub fn redact_values(message: &str) -> String {
    let mut redacted = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(open) = rest.find(['"', '`']) {
        let quote = rest[open..].chars().next().expect("found a quote");
        let (before, after_open) = (&rest[..open], &rest[open + 1..]);
        // NOTE: serde quotes variant names in backticks without escaping, so a
        // variant name that contains a backtick is redacted only up to it.
        let close = if quote == '"' {
            closing_double_quote(after_open)
        } else {
            after_open.find(quote)
        };
        redacted.push_str(before);
        redacted.push(quote);
        let is_value = VALUE_PREFIXES.iter().any(|prefix| before.ends_with(prefix));
        match close {
            Some(close) => {
                redacted.push_str(if is_value {
                    "…"
                } else {
                    &after_open[..close]
                });
                redacted.push(quote);
                rest = &after_open[close + 1..];
            }
            None => {
                redacted.push('…');
                rest = "";
            }
        }
    }
    redacted.push_str(rest);
    redacted
}

/// Returns the offset of the `"` that ends a string serde printed with `{:?}`,
/// skipping the quotes and backslashes escaped inside it, so a value such as
/// `a"b` is redacted whole instead of up to its first quote.
fn closing_double_quote(quoted: &str) -> Option<usize> {
    let mut escaped = false;
    for (offset, character) in quoted.char_indices() {
        match character {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(offset),
            _ => {}
        }
    }
    None
}

/// Rejects requests to paths no route serves.
pub async fn route_not_found() -> Problem {
    Problem::not_found("no endpoint has this path; see /openapi.json for the API")
}

/// Rejects requests with a method the path does not take.
pub async fn method_not_allowed() -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this path does not take this method; see /openapi.json for the API",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_quoted_and_backticked_values() {
        let message =
            "ssn: invalid type: integer `900123456`, expected a string at line 1 column 20";
        assert_eq!(
            redact_values(message),
            "ssn: invalid type: integer `…`, expected a string at line 1 column 20"
        );
        assert_eq!(
            redact_values("unknown variant `secret`, expected `email`"),
            "unknown variant `…`, expected `email`"
        );
        assert_eq!(
            redact_values(r#"invalid value: string "1234", expected"#),
            r#"invalid value: string "…", expected"#
        );
        assert_eq!(redact_values("missing field `ssn`"), "missing field `ssn`");
        assert_eq!(redact_values("unterminated `9001"), "unterminated `…");
        assert_eq!(
            redact_values(r#"invalid type: string "a\"b\\c", expected a sequence"#),
            r#"invalid type: string "…", expected a sequence"#
        );
    }
}
