//! The OpenAPI document, generated from the handlers' annotations.

use axum::Json;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    admin, flow_status, forgot_password, forgot_username, health, provider_events, sign_in,
    temporary_password,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "recoverylab reference service", description = "Account-recovery journeys: sign-in with a one-time code, forgot username, forgot password, and temporary passwords by post or email. Every error is an RFC 9457 problem document with a stable `code`."),
    paths(
        health::health,
        sign_in::sign_in,
        sign_in::submit_code,
        sign_in::resend_code,
        sign_in::confirm_contact,
        sign_in::session,
        forgot_username::forgot_username,
        forgot_password::forgot_password,
        forgot_password::submit_answers,
        forgot_password::choose_channel,
        forgot_password::new_password,
        forgot_password::accept_terms,
        temporary_password::cannot_remember_answers,
        temporary_password::verify_address,
        temporary_password::mail_temporary_password,
        temporary_password::email_temporary_password,
        flow_status::flow_status,
        provider_events::sms_status,
        provider_events::email_status,
        provider_events::postal_event,
        admin::enroll,
    ),
    modifiers(&AdminToken)
)]
pub struct ApiDoc;

struct AdminToken;

impl Modify for AdminToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// Serves the OpenAPI document.
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
