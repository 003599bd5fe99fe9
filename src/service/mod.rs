//! The reference service: the recovery journeys over HTTP.
//!
//! `router` builds the whole API from an [`AppState`], so tests can serve it
//! on port 0 or call it without a socket.

pub mod admin;
pub mod delay;
pub mod errors;
pub mod extract;
pub mod flow_status;
pub mod forgot_password;
pub mod forgot_username;
pub mod health;
pub mod openapi;
pub mod provider_clients;
pub mod provider_events;
pub mod sign_in;
pub mod temporary_password;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use secrecy::SecretString;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::journeys::clock::{Clock, SystemClock};
use crate::journeys::engine::EngineParts;
use crate::journeys::hashing::HashProfile;
use crate::journeys::notifier::Notifier;
use crate::journeys::policy::Policy;
use crate::journeys::Engine;
use crate::problem;
use crate::store::{SqliteStore, Store, StoreError};

/// The largest request body a journey step accepts.
pub const STEP_BODY_LIMIT: usize = 64 * 1024;
/// The largest enrollment batch body.
pub const ENROLLMENT_BODY_LIMIT: usize = 4 * 1024 * 1024;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    pub admin_token: Arc<SecretString>,
    /// Whether the client address comes from `X-Forwarded-For` when present.
    pub trust_forwarded_for: bool,
}

/// Configuration of the service: storage, hashing, policy, secrets and providers.
pub struct ServiceConfig {
    /// The SQLite file; `None` keeps state in memory.
    pub database: Option<PathBuf>,
    pub hash_profile: HashProfile,
    pub policy: Policy,
    pub admin_token: SecretString,
    pub server_key: SecretString,
    pub providers: provider_clients::ProviderUrls,
    /// Timeout, attempts and backoff of every provider send.
    pub provider_retry: provider_clients::RetryPolicy,
    pub sms_sender: provider_clients::SmsSender,
    /// The service's own base URL, such as `http://127.0.0.1:4000`, from
    /// which providers' status callback URLs are built; `None` sends no
    /// callback URL.
    pub public_url: Option<String>,
    pub trust_forwarded_for: bool,
}

/// Builds the engine and state from a configuration, opening the store.
pub async fn build_state(
    config: ServiceConfig,
    clock: Arc<dyn Clock>,
) -> Result<AppState, StoreError> {
    let notifier = Arc::new(provider_clients::HttpNotifier::new(
        provider_clients::ProviderClientSettings::from_config(&config),
    ));
    build_state_with_notifier(config, clock, notifier).await
}

/// Builds the engine and state with a notifier of the caller's, such as one
/// that wraps the HTTP notifier to inject failures in tests. The
/// configuration's provider URLs are not used.
pub async fn build_state_with_notifier(
    config: ServiceConfig,
    clock: Arc<dyn Clock>,
    notifier: Arc<dyn Notifier>,
) -> Result<AppState, StoreError> {
    let store: Arc<dyn Store> = match &config.database {
        Some(path) => Arc::new(SqliteStore::open(path).await?),
        None => Arc::new(crate::store::MemoryStore::default()),
    };
    let engine = Engine::new(EngineParts {
        store,
        notifier,
        clock,
        policy: config.policy,
        hash_profile: config.hash_profile,
        server_key: config.server_key,
    });
    Ok(AppState {
        engine: Arc::new(engine),
        admin_token: Arc::new(config.admin_token),
        trust_forwarded_for: config.trust_forwarded_for,
    })
}

/// Builds state with the system clock.
pub async fn build_state_with_system_clock(config: ServiceConfig) -> Result<AppState, StoreError> {
    build_state(config, Arc::new(SystemClock)).await
}

/// Builds the service's router.
pub fn router(state: AppState) -> Router {
    let journeys = Router::new()
        .route("/v1/sign-in", post(sign_in::sign_in))
        .route(
            "/v1/forgot-username",
            post(forgot_username::forgot_username),
        )
        .route(
            "/v1/forgot-password",
            post(forgot_password::forgot_password),
        )
        .route("/v1/flows/{flow_id}", get(flow_status::flow_status))
        .route("/v1/flows/{flow_id}/code", post(sign_in::submit_code))
        .route(
            "/v1/flows/{flow_id}/resend-code",
            post(sign_in::resend_code),
        )
        .route(
            "/v1/flows/{flow_id}/confirm-contact",
            post(sign_in::confirm_contact),
        )
        .route(
            "/v1/flows/{flow_id}/answers",
            post(forgot_password::submit_answers),
        )
        .route(
            "/v1/flows/{flow_id}/cannot-remember-answers",
            post(temporary_password::cannot_remember_answers),
        )
        .route(
            "/v1/flows/{flow_id}/channel",
            post(forgot_password::choose_channel),
        )
        .route(
            "/v1/flows/{flow_id}/new-password",
            post(forgot_password::new_password),
        )
        .route(
            "/v1/flows/{flow_id}/accept-terms",
            post(forgot_password::accept_terms),
        )
        .route(
            "/v1/flows/{flow_id}/verify-address",
            post(temporary_password::verify_address),
        )
        .route(
            "/v1/flows/{flow_id}/mail-temporary-password",
            post(temporary_password::mail_temporary_password),
        )
        .route(
            "/v1/flows/{flow_id}/email-temporary-password",
            post(temporary_password::email_temporary_password),
        )
        .route("/v1/session", get(sign_in::session))
        .route("/v1/provider-events/sms", post(provider_events::sms_status))
        .route(
            "/v1/provider-events/email",
            post(provider_events::email_status),
        )
        .route(
            "/v1/provider-events/postal",
            post(provider_events::postal_event),
        )
        .layer(DefaultBodyLimit::max(STEP_BODY_LIMIT));
    let admin = Router::new()
        .route("/v1/admin/enrollments", post(admin::enroll))
        .layer(DefaultBodyLimit::max(ENROLLMENT_BODY_LIMIT));
    Router::new()
        .merge(journeys)
        .merge(admin)
        .route("/health", get(health::health))
        .route("/openapi.json", get(openapi::openapi_json))
        .fallback(problem::route_not_found)
        .method_not_allowed_fallback(problem::method_not_allowed)
        .layer(CatchPanicLayer::custom(errors::panic_to_problem))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Deletes idle flows and stale rate-limit records once a minute until the
/// task is dropped, so the database does not grow with abandoned journeys.
pub fn spawn_purger(engine: Arc<Engine>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(60));
        loop {
            ticker.tick().await;
            match engine.purge_expired().await {
                Ok(0) => {}
                Ok(purged) => tracing::debug!(purged, "purged idle flows and rate-limit records"),
                Err(error) => {
                    tracing::warn!(error = %error, cause = ?std::error::Error::source(&error), "purge of idle records failed")
                }
            }
        }
    })
}

/// How often the notice sender looks for due password-changed notices.
pub const NOTICE_POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Sends the due password-changed notices every 250 ms until the task is
/// aborted. The notices wait in the store, so the ones a stopped service did
/// not send go out after it starts again on the same SQLite file.
pub fn spawn_notice_sender(engine: Arc<Engine>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(NOTICE_POLL_INTERVAL);
        // A slow batch delays the next one instead of starting a burst.
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match engine.deliver_due_notices().await {
                Ok(0) => {}
                Ok(delivered) => tracing::debug!(delivered, "password-changed notices sent"),
                Err(error) => {
                    tracing::warn!(error = %error, cause = ?std::error::Error::source(&error), "sending password-changed notices failed")
                }
            }
        }
    })
}
