//! The response a successful step sends to the user's browser.

use chrono::NaiveDate;
use serde::Serialize;

use super::delivery::{Delivery, DeliveryChannel, DeliveryStatus};
use super::flow::{Channel, Journey, Step};

/// A masked destination the user can recognise, such as `j***@example.org`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Destination {
    pub channel: Channel,
    pub masked: String,
}

/// The letter ordered by a postal temporary-password request.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LetterInfo {
    pub expected_delivery_date: NaiveDate,
}

/// The outcome of a successful step. `next_step` is null when the journey is
/// over, and `flow_id` names the flow the next step goes to.
#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct StepResponse {
    pub journey: Journey,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow_id: Option<String>,
    pub next_step: Option<Step>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub questions: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<Destination>>,
    /// The destination of the code just sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_sent_to: Option<Destination>,
    /// The destination the user must confirm before a code is sent there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirm_destination: Option<Destination>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub letter: Option<LetterInfo>,
}

impl StepResponse {
    pub fn new(journey: Journey, flow_id: Option<&str>, next_step: Option<Step>) -> Self {
        Self {
            journey,
            flow_id: flow_id.map(str::to_owned),
            next_step,
            questions: None,
            channels: None,
            code_sent_to: None,
            confirm_destination: None,
            username: None,
            session_token: None,
            letter: None,
        }
    }
}

/// The latest delivery of a flow, as `GET /v1/flows/{flow_id}` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    pub channel: DeliveryChannel,
    pub status: DeliveryStatus,
    /// The provider's reason for a failure, such as Twilio's `30003` or
    /// `mailbox_unavailable`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
}

impl From<&Delivery> for DeliveryView {
    fn from(delivery: &Delivery) -> Self {
        Self {
            channel: delivery.key.channel,
            status: delivery.status,
            error_code: delivery.error_code.clone(),
        }
    }
}

/// The state of a flow: its next step, its last code or temporary-password
/// delivery, and whether a resend or a new channel choice would be accepted now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FlowStatus {
    pub journey: Journey,
    /// The step the flow takes next; null once a temporary password is on its
    /// way and nothing is left to do in this flow.
    pub next_step: Option<Step>,
    /// The last code or temporary password the flow sent; null before any.
    pub delivery: Option<DeliveryView>,
    /// Whether `resend-code`, or the temporary-password step again, would be
    /// accepted now.
    pub can_resend: bool,
    /// Whether the `channel` step would be accepted now.
    pub can_choose_channel: bool,
}
