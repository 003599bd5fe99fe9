//! The extractors and fallbacks through which the mock providers answer every
//! error with the crate's RFC 9457 problem document.

use axum::extract::{FromRequest, FromRequestParts};
use axum::http::StatusCode;

pub(crate) use crate::problem::Problem;

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
