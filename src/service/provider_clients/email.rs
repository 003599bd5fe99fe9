//! Email through the email provider's JSON send API: `POST /v1/messages`
//! with `to`, `subject`, `text` and an optional `status_callback`, idempotent
//! by the `Idempotency-Key` header. The 202 response carries the message's `id`.

use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use super::retry::SendContext;
use super::{parse_receipt, HttpNotifier, IDEMPOTENCY_KEY};
use crate::journeys::notifier::{EmailMessage, ProviderError, SendReceipt};

#[derive(Serialize)]
struct EmailSend<'a> {
    to: &'a str,
    subject: &'a str,
    text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_callback: Option<String>,
}

#[derive(Deserialize)]
struct EmailAccepted {
    id: String,
}

impl HttpNotifier {
    pub(super) async fn send_email_message(
        &self,
        message: EmailMessage,
    ) -> Result<SendReceipt, ProviderError> {
        let context = SendContext::new("email", &message.idempotency_key);
        let url = format!("{}/v1/messages", self.settings.urls.email);
        let send = EmailSend {
            to: &message.to,
            subject: &message.subject,
            text: message.text.expose_secret(),
            status_callback: self.callback_url("email"),
        };

        let body = self
            .send(&context, |client| {
                client
                    .post(&url)
                    .header(IDEMPOTENCY_KEY, &message.idempotency_key)
                    .json(&send)
            })
            .await?;
        let accepted: EmailAccepted = parse_receipt(&context, &body, "an email receipt")?;
        Ok(SendReceipt { id: accepted.id })
    }
}
