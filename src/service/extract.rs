//! Request extractors whose rejections are problem documents.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts};
use axum::http::request::Parts;

use super::AppState;
use crate::journeys::engine::ClientAddress;
use crate::problem::Problem;

/// JSON body extractor that rejects with a problem document.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(Problem))]
pub struct ApiJson<T>(pub T);

/// Form body extractor that rejects with a problem document.
#[derive(FromRequest)]
#[from_request(via(axum::Form), rejection(Problem))]
pub struct ApiForm<T>(pub T);

/// The largest flow id accepted in a path.
const MAX_FLOW_ID_LEN: usize = 64;

/// The `{flow_id}` path segment, checked for shape.
pub struct FlowId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for FlowId {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(id) =
            axum::extract::Path::<String>::from_request_parts(parts, state).await?;
        if id.is_empty() || id.len() > MAX_FLOW_ID_LEN || !id.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(crate::journeys::StepError::FlowNotFound.into());
        }
        Ok(FlowId(id))
    }
}

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if state.trust_forwarded_for {
            let forwarded = parts
                .headers
                .get("x-forwarded-for")
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.split(',').next())
                .map(str::trim)
                .and_then(|first| first.parse::<std::net::IpAddr>().ok());
            if let Some(address) = forwarded {
                return Ok(ClientAddress(address.to_string()));
            }
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(address)| address.ip().to_string())
            .unwrap_or_else(|| "unknown".to_owned());
        Ok(ClientAddress(peer))
    }
}
