//! J1, sign in, and the code steps that every journey shares.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::extract::{ApiJson, FlowId};
use super::AppState;
use crate::journeys::response::StepResponse;
use crate::problem::Problem;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    pub username: String,
    /// The password, or a temporary password received by post or email.
    #[schema(value_type = String)]
    pub password: SecretString,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    #[schema(value_type = String, example = "123456")]
    pub code: SecretString,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionInfo {
    pub username: String,
}

/// Step 1 of sign-in: username and password; a code goes to the second factor.
#[utoipa::path(post, path = "/v1/sign-in", request_body = SignInRequest, responses(
    (status = 200, body = StepResponse), (status = 401, body = Problem), (status = 429, body = Problem)))]
pub async fn sign_in(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<SignInRequest>,
) -> Result<Json<StepResponse>, Problem> {
    if request.username.len() > 256 {
        return Err(Problem::invalid_request(
            "username is longer than 256 bytes; send the username as enrolled",
        ));
    }
    Ok(Json(
        state
            .engine
            .sign_in(&request.username, &request.password)
            .await?,
    ))
}

/// Submits the one-time code of a flow.
#[utoipa::path(post, path = "/v1/flows/{flow_id}/code", request_body = CodeRequest, responses(
    (status = 200, body = StepResponse), (status = 400, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn submit_code(
    State(state): State<AppState>,
    FlowId(flow_id): FlowId,
    ApiJson(request): ApiJson<CodeRequest>,
) -> Result<Json<StepResponse>, Problem> {
    Ok(Json(
        state.engine.submit_code(&flow_id, &request.code).await?,
    ))
}

/// Sends a new code, which voids the previous one.
#[utoipa::path(post, path = "/v1/flows/{flow_id}/resend-code", responses(
    (status = 200, body = StepResponse), (status = 429, body = Problem)))]
pub async fn resend_code(
    State(state): State<AppState>,
    FlowId(flow_id): FlowId,
) -> Result<Json<StepResponse>, Problem> {
    Ok(Json(state.engine.resend_code(&flow_id).await?))
}

/// Confirms the masked contact shown after a temporary-password sign-in; a
/// code goes there.
#[utoipa::path(post, path = "/v1/flows/{flow_id}/confirm-contact", responses(
    (status = 200, body = StepResponse), (status = 409, body = Problem)))]
pub async fn confirm_contact(
    State(state): State<AppState>,
    FlowId(flow_id): FlowId,
) -> Result<Json<StepResponse>, Problem> {
    Ok(Json(state.engine.confirm_contact(&flow_id).await?))
}

/// Returns who a session token belongs to; revoked tokens get 401.
#[utoipa::path(get, path = "/v1/session", responses(
    (status = 200, body = SessionInfo), (status = 401, body = Problem)))]
pub async fn session(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<SessionInfo>, Problem> {
    let invalid = || {
        Problem::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "invalid_session",
            "the session token is missing, unknown or revoked; sign in again",
        )
    };
    let token = bearer_token(&headers).ok_or_else(invalid)?;
    match state.engine.session_username(&token).await? {
        Some(username) => Ok(Json(SessionInfo { username })),
        None => Err(invalid()),
    }
}

/// Returns the token of an `Authorization: Bearer` header.
pub fn bearer_token(headers: &HeaderMap) -> Option<SecretString> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let token = value.strip_prefix("Bearer ")?.trim();
    (!token.is_empty() && token.len() <= 512).then(|| SecretString::from(token.to_owned()))
}
