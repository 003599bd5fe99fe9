//! `GET /v1/flows/{flow_id}`: a flow's next step and the provider's latest
//! status for its last code or temporary password.

use axum::extract::State;
use axum::Json;

use super::extract::FlowId;
use super::AppState;
use crate::journeys::response::FlowStatus;
use crate::problem::Problem;

/// Returns the flow's next step, its last delivery, and whether a resend or
/// a new channel choice would be accepted now. Reading it does not keep an
/// idle flow alive.
#[utoipa::path(get, path = "/v1/flows/{flow_id}", responses(
    (status = 200, body = FlowStatus), (status = 404, body = Problem)))]
pub async fn flow_status(
    State(state): State<AppState>,
    FlowId(flow_id): FlowId,
) -> Result<Json<FlowStatus>, Problem> {
    Ok(Json(state.engine.flow_status(&flow_id).await?))
}
