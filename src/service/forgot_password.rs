//! J3, forgot password, and the new-password and terms steps that every
//! recovery ends with.

use axum::extract::State;
use axum::Json;
use chrono::NaiveDate;
use secrecy::SecretString;
use serde::Deserialize;

use super::extract::{ApiJson, FlowId};
use super::AppState;
use crate::journeys::engine::{ClientAddress, IdentityEvidence};
use crate::journeys::flow::Channel;
use crate::journeys::response::StepResponse;
use crate::problem::Problem;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgotPasswordRequest {
    pub username: String,
    #[schema(value_type = String, example = "900-12-3456")]
    pub ssn: SecretString,
    #[schema(value_type = String, format = Date)]
    pub date_of_birth: NaiveDate,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswersRequest {
    /// The answers, in the order of the questions.
    #[schema(value_type = Vec<String>)]
    pub answers: Vec<SecretString>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelRequest {
    pub channel: Channel,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPasswordRequest {
    #[schema(value_type = String)]
    pub password: SecretString,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TermsRequest {
    pub terms_version: u32,
}

/// Step 1: username, SSN and date of birth; returns the security questions.
#[utoipa::path(post, path = "/v1/forgot-password", request_body = ForgotPasswordRequest, responses(
    (status = 200, body = StepResponse), (status = 400, body = Problem), (status = 429, body = Problem)))]
pub async fn forgot_password(
    State(state): State<AppState>,
    client: ClientAddress,
    ApiJson(request): ApiJson<ForgotPasswordRequest>,
) -> Result<Json<StepResponse>, Problem> {
    let evidence = IdentityEvidence {
        ssn: &request.ssn,
        date_of_birth: request.date_of_birth,
    };
    Ok(Json(
        state
            .engine
            .forgot_password(&request.username, evidence, &client)
            .await?,
    ))
}

/// Step 2: the answers to the three security questions.
#[utoipa::path(post, path = "/v1/flows/{flow_id}/answers", request_body = AnswersRequest, responses(
    (status = 200, body = StepResponse), (status = 400, body = Problem)))]
pub async fn submit_answers(
    State(state): State<AppState>,
    FlowId(flow_id): FlowId,
    ApiJson(request): ApiJson<AnswersRequest>,
) -> Result<Json<StepResponse>, Problem> {
    if request.answers.len() != crate::journeys::enrollment::SECURITY_QUESTION_COUNT {
        return Err(Problem::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "answers: send exactly three answers, in the order of the questions",
        ));
    }
    Ok(Json(
        state
            .engine
            .submit_answers(&flow_id, &request.answers)
            .await?,
    ))
}

/// Step 3: the channel for the code; the code is sent.
#[utoipa::path(post, path = "/v1/flows/{flow_id}/channel", request_body = ChannelRequest, responses(
    (status = 200, body = StepResponse), (status = 409, body = Problem)))]
pub async fn choose_channel(
    State(state): State<AppState>,
    FlowId(flow_id): FlowId,
    ApiJson(request): ApiJson<ChannelRequest>,
) -> Result<Json<StepResponse>, Problem> {
    Ok(Json(
        state
            .engine
            .choose_channel(&flow_id, request.channel)
            .await?,
    ))
}

/// Sets the new password of a recovery flow.
#[utoipa::path(post, path = "/v1/flows/{flow_id}/new-password", request_body = NewPasswordRequest, responses(
    (status = 200, body = StepResponse), (status = 422, body = Problem)))]
pub async fn new_password(
    State(state): State<AppState>,
    FlowId(flow_id): FlowId,
    ApiJson(request): ApiJson<NewPasswordRequest>,
) -> Result<Json<StepResponse>, Problem> {
    Ok(Json(
        state
            .engine
            .set_new_password(&flow_id, &request.password)
            .await?,
    ))
}

/// Accepts the terms of service: the first step of the postal journey, or the
/// last step of a recovery, which returns a session.
#[utoipa::path(post, path = "/v1/flows/{flow_id}/accept-terms", request_body = TermsRequest, responses(
    (status = 200, body = StepResponse), (status = 422, body = Problem)))]
pub async fn accept_terms(
    State(state): State<AppState>,
    FlowId(flow_id): FlowId,
    ApiJson(request): ApiJson<TermsRequest>,
) -> Result<Json<StepResponse>, Problem> {
    Ok(Json(
        state
            .engine
            .accept_terms(&flow_id, request.terms_version)
            .await?,
    ))
}
