//! J4, when the answers are forgotten too: a temporary password by post (J4e)
//! or by email (J4s), always on the channel that is not the second factor.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;

use super::extract::{ApiJson, FlowId};
use super::AppState;
use crate::journeys::account::MailingAddress;
use crate::journeys::engine::ClientAddress;
use crate::journeys::response::StepResponse;
use crate::problem::Problem;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyAddressRequest {
    pub mailing_address: MailingAddress,
    pub primary_phone: String,
}

/// Leaves the questions page for the temporary-password journey.
#[utoipa::path(post, path = "/v1/flows/{flow_id}/cannot-remember-answers", responses(
    (status = 200, body = StepResponse), (status = 409, body = Problem)))]
pub async fn cannot_remember_answers(
    State(state): State<AppState>,
    FlowId(flow_id): FlowId,
) -> Result<Json<StepResponse>, Problem> {
    Ok(Json(state.engine.cannot_remember_answers(&flow_id).await?))
}

/// J4e step 2: mailing address and primary phone, checked against the record.
#[utoipa::path(post, path = "/v1/flows/{flow_id}/verify-address", request_body = VerifyAddressRequest, responses(
    (status = 200, body = StepResponse), (status = 400, body = Problem), (status = 429, body = Problem)))]
pub async fn verify_address(
    State(state): State<AppState>,
    FlowId(flow_id): FlowId,
    client: ClientAddress,
    ApiJson(request): ApiJson<VerifyAddressRequest>,
) -> Result<Json<StepResponse>, Problem> {
    Ok(Json(
        state
            .engine
            .verify_address(
                &flow_id,
                &request.mailing_address,
                &request.primary_phone,
                &client,
            )
            .await?,
    ))
}

/// J4e step 3: mails the temporary password; the flow ends.
#[utoipa::path(post, path = "/v1/flows/{flow_id}/mail-temporary-password", responses(
    (status = 200, body = StepResponse), (status = 503, body = Problem)))]
pub async fn mail_temporary_password(
    State(state): State<AppState>,
    FlowId(flow_id): FlowId,
) -> Result<Json<StepResponse>, Problem> {
    Ok(Json(state.engine.mail_temporary_password(&flow_id).await?))
}

/// J4s step 1: emails the temporary password; the flow ends.
#[utoipa::path(post, path = "/v1/flows/{flow_id}/email-temporary-password", responses(
    (status = 200, body = StepResponse), (status = 503, body = Problem)))]
pub async fn email_temporary_password(
    State(state): State<AppState>,
    FlowId(flow_id): FlowId,
) -> Result<Json<StepResponse>, Problem> {
    Ok(Json(state.engine.email_temporary_password(&flow_id).await?))
}
