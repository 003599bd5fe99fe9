//! J2, forgot username.

use axum::extract::State;
use axum::Json;
use chrono::NaiveDate;
use secrecy::SecretString;
use serde::Deserialize;

use super::extract::ApiJson;
use super::AppState;
use crate::journeys::engine::{ClientAddress, IdentityEvidence};
use crate::journeys::response::StepResponse;
use crate::problem::Problem;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgotUsernameRequest {
    pub email: String,
    #[schema(value_type = String, example = "900-12-3456")]
    pub ssn: SecretString,
    #[schema(value_type = String, format = Date)]
    pub date_of_birth: NaiveDate,
}

/// Returns the username when email, SSN and date of birth match one account;
/// any mismatch gets one uniform `could_not_verify`.
#[utoipa::path(post, path = "/v1/forgot-username", request_body = ForgotUsernameRequest, responses(
    (status = 200, body = StepResponse), (status = 400, body = Problem), (status = 429, body = Problem)))]
pub async fn forgot_username(
    State(state): State<AppState>,
    client: ClientAddress,
    ApiJson(request): ApiJson<ForgotUsernameRequest>,
) -> Result<Json<StepResponse>, Problem> {
    let evidence = IdentityEvidence {
        ssn: &request.ssn,
        date_of_birth: request.date_of_birth,
    };
    Ok(Json(
        state
            .engine
            .forgot_username(&request.email, evidence, &client)
            .await?,
    ))
}
