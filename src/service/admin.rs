//! Bulk enrollment, guarded by the admin token, so a run can load its people
//! into any deployment without touching its database.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use super::extract::ApiJson;
use super::sign_in::bearer_token;
use super::AppState;
use crate::journeys::engine::EnrollError;
use crate::journeys::enrollment::Enrollment;
use crate::problem::Problem;

/// The largest number of people in one enrollment request.
pub const MAX_ENROLLMENT_BATCH: usize = 1000;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollmentRequest {
    pub people: Vec<Enrollment>,
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct EnrollmentResponse {
    pub enrolled: usize,
    /// People skipped because their username or SSN was already enrolled.
    pub already_enrolled: usize,
}

/// Enrolls a batch of synthetic people. Every person is validated first, and
/// only never-real SSNs, phone numbers and email domains are accepted.
#[utoipa::path(post, path = "/v1/admin/enrollments", request_body = EnrollmentRequest,
    security(("admin_token" = [])), responses(
    (status = 201, body = EnrollmentResponse), (status = 401, body = Problem), (status = 422, body = Problem)))]
pub async fn enroll(
    State(state): State<AppState>,
    _admin: AdminToken,
    ApiJson(request): ApiJson<EnrollmentRequest>,
) -> Result<(StatusCode, Json<EnrollmentResponse>), Problem> {
    if request.people.is_empty() || request.people.len() > MAX_ENROLLMENT_BATCH {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            format!(
                "people: send 1 to {MAX_ENROLLMENT_BATCH} people per request, got {}; split the batch",
                request.people.len()
            ),
        ));
    }
    match state.engine.enroll(request.people).await {
        Ok(summary) => Ok((
            StatusCode::CREATED,
            Json(EnrollmentResponse {
                enrolled: summary.inserted,
                already_enrolled: summary.already_enrolled,
            }),
        )),
        Err(EnrollError::Invalid { index, error }) => Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            format!("people[{index}].{}: {}", error.field, error.reason),
        )),
        Err(EnrollError::Unavailable) => Err(crate::journeys::StepError::Unavailable.into()),
    }
}

/// Proof that the request carries the admin token. As an extractor of the
/// request head it runs before the body is read, so a caller without the token
/// gets 401 whatever the body contains.
pub struct AdminToken;

impl FromRequestParts<AppState> for AdminToken {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        check_admin_token(state, &parts.headers).map(|()| AdminToken)
    }
}

fn check_admin_token(state: &AppState, headers: &HeaderMap) -> Result<(), Problem> {
    let expected = state.admin_token.expose_secret().as_bytes();
    let matches = bearer_token(headers)
        .is_some_and(|token| constant_time_eq(token.expose_secret().as_bytes(), expected));
    if matches {
        return Ok(());
    }
    Err(Problem::new(
        StatusCode::UNAUTHORIZED,
        "invalid_admin_token",
        "the admin endpoints need `Authorization: Bearer <admin token>` with the token the service was started with",
    ))
}

fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    left.len() == right.len()
        && left
            .iter()
            .zip(right)
            .fold(0u8, |difference, (a, b)| difference | (a ^ b))
            == 0
}
