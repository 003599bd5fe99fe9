//! RFC 9457 problem documents for every error the mock providers return, and the
//! extractors that turn axum's rejections into them.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Media type of a problem document, from RFC 9457.
const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// An error response with a 4xx status and a stable `code` string.
#[derive(Debug)]
pub(crate) struct Problem {
    status: StatusCode,
    code: &'static str,
    detail: String,
}

impl Problem {
    /// Creates a 400 problem for a request whose content is missing, has the wrong
    /// type or fails validation.
    pub(crate) fn invalid_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", detail)
    }

    pub(crate) fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
        }
    }

    #[cfg(test)]
    pub(crate) fn code(&self) -> &'static str {
        self.code
    }
}

/// The JSON body of a problem document.
///
/// `type` is "about:blank", for which RFC 9457 section 4.2.1 recommends the
/// status's reason phrase as the title. Clients tell problems apart by the `code`
/// extension member.
#[derive(Serialize)]
struct ProblemDocument<'a> {
    #[serde(rename = "type")]
    problem_type: &'static str,
    title: &'static str,
    status: u16,
    detail: &'a str,
    code: &'static str,
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        // The detail can quote request values, so only the code goes to the log.
        tracing::debug!(
            status = self.status.as_u16(),
            code = self.code,
            "rejected request"
        );

        let document = ProblemDocument {
            problem_type: "about:blank",
            title: self.status.canonical_reason().unwrap_or("Error"),
            status: self.status.as_u16(),
            detail: &self.detail,
            code: self.code,
        };
        match serde_json::to_vec(&document) {
            Ok(body) => (
                self.status,
                [(header::CONTENT_TYPE, PROBLEM_CONTENT_TYPE)],
                body,
            )
                .into_response(),
            // Serializing strings and integers into a Vec does not fail, but keep the
            // status rather than panic if it ever does.
            Err(_) => self.status.into_response(),
        }
    }
}

impl From<JsonRejection> for Problem {
    fn from(rejection: JsonRejection) -> Self {
        let detail = rejection.body_text();
        match rejection {
            JsonRejection::JsonSyntaxError(_) => {
                Self::new(StatusCode::BAD_REQUEST, "malformed_json", detail)
            }
            JsonRejection::JsonDataError(_) => Self::invalid_request(detail),
            JsonRejection::MissingJsonContentType(_) => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the request body must be JSON with `Content-Type: application/json`",
            ),
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!(
                    "the request body is larger than the limit of {} bytes",
                    super::MAX_BODY_BYTES
                ),
            ),
            // Failing to read the body for another reason, such as a dropped connection.
            other => Self::invalid_request(other.body_text()),
        }
    }
}

impl From<PathRejection> for Problem {
    fn from(rejection: PathRejection) -> Self {
        Self::invalid_request(rejection.body_text())
    }
}

impl From<QueryRejection> for Problem {
    fn from(rejection: QueryRejection) -> Self {
        Self::invalid_request(rejection.body_text())
    }
}

/// Returns a 404 problem document for a path that no route matches.
pub(crate) async fn route_not_found() -> Problem {
    Problem::not_found("no endpoint exists at this path; see docs/providers.md for the API")
}

/// Returns a 405 problem document for a known path called with the wrong method.
pub(crate) async fn method_not_allowed() -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not accept this HTTP method; see docs/providers.md for the API",
    )
}

/// [`axum::Json`] that rejects with a problem document.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(Problem))]
pub(crate) struct JsonBody<T>(pub(crate) T);

/// [`axum::extract::Path`] that rejects with a problem document.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(Problem))]
pub(crate) struct PathParam<T>(pub(crate) T);

/// [`axum::extract::Query`] that rejects with a problem document.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(Problem))]
pub(crate) struct QueryParams<T>(pub(crate) T);
