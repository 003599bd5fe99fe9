//! The mapping from journey errors to HTTP problem documents.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::journeys::StepError;
use crate::problem::Problem;

impl From<StepError> for Problem {
    fn from(error: StepError) -> Self {
        let status = match &error {
            StepError::FlowNotFound => StatusCode::NOT_FOUND,
            StepError::OutOfOrder { .. } | StepError::NoActiveCode | StepError::AlreadySent => {
                StatusCode::CONFLICT
            }
            StepError::CouldNotVerify
            | StepError::WrongCode { .. }
            | StepError::CodeExpired
            | StepError::WrongAnswers => StatusCode::BAD_REQUEST,
            StepError::InvalidCredentials => StatusCode::UNAUTHORIZED,
            StepError::TryLater | StepError::ResendTooSoon { .. } | StepError::ResendLimit => {
                StatusCode::TOO_MANY_REQUESTS
            }
            StepError::Password(_) | StepError::TermsVersion { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            StepError::ProviderUnavailable { .. } | StepError::Unavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        };
        let problem = Problem::new(status, error.code(), error.to_string());
        match error {
            StepError::ResendTooSoon { retry_after_s } => problem.with_retry_after(retry_after_s),
            _ => problem,
        }
    }
}

/// Turns a handler panic into a problem document instead of a dropped
/// connection. A panic is a bug: it is logged without the request.
pub fn panic_to_problem(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a handler panicked; this is a bug in the service");
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "the service failed unexpectedly; report this with the time of the request",
    )
    .into_response()
}
