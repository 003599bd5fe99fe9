//! The health endpoint.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::AppState;

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct Health {
    pub status: String,
    /// The Argon2id profile in force, so reports can name it.
    pub hash_profile: String,
}

/// Reports that the service is up, with its hash profile.
#[utoipa::path(get, path = "/health", responses((status = 200, body = Health)))]
pub async fn health(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok".to_owned(),
        hash_profile: state.engine.hash_profile().name().to_owned(),
    })
}
