//! The messages the journeys send, and the interface of whatever delivers
//! them: HTTP provider clients in the service, models in a simulator.

use async_trait::async_trait;
use chrono::NaiveDate;
use secrecy::SecretString;

use super::account::MailingAddress;

/// An email; the text may carry a code or a temporary password.
#[derive(Debug)]
pub struct EmailMessage {
    pub to: String,
    pub subject: String,
    pub text: SecretString,
    pub idempotency_key: String,
}

/// A text message; the text carries a one-time code.
#[derive(Debug)]
pub struct SmsMessage {
    pub to: String,
    pub text: SecretString,
    pub idempotency_key: String,
}

/// A letter; the text carries a temporary password.
#[derive(Debug)]
pub struct Letter {
    pub to: MailingAddress,
    pub text: SecretString,
    pub idempotency_key: String,
}

/// A provider's receipt for an accepted email or text message. The id is the
/// provider's, and delivery status callbacks name it.
#[derive(Debug, Clone)]
pub struct SendReceipt {
    pub id: String,
}

/// The postal provider's receipt for a mailed letter.
#[derive(Debug, Clone)]
pub struct LetterReceipt {
    pub id: String,
    pub expected_delivery_date: NaiveDate,
}

/// A send that a provider did not accept. The reason never contains the
/// body, subject or recipient.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the {provider} provider failed: {reason}")]
pub struct ProviderError {
    pub provider: &'static str,
    pub reason: String,
    /// Whether the provider rejected the request itself (HTTP 4xx other than
    /// 429), so sending the same request again would fail again. `false` when
    /// the provider stayed unavailable through every attempt.
    pub permanent: bool,
}

#[async_trait]
pub trait Notifier: Send + Sync + 'static {
    async fn send_email(&self, message: EmailMessage) -> Result<SendReceipt, ProviderError>;
    async fn send_sms(&self, message: SmsMessage) -> Result<SendReceipt, ProviderError>;
    async fn mail_letter(&self, letter: Letter) -> Result<LetterReceipt, ProviderError>;
}
