//! The response a successful step sends to the user's browser.

use chrono::NaiveDate;
use serde::Serialize;

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
