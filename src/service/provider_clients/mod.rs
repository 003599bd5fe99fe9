//! HTTP clients for the email, SMS and postal providers the service sends through.
//!
//! SMS speaks a subset of Twilio's Messages API, postal a subset of Lob's
//! letters API, and email a small JSON send API, one file each. They share
//! the retry loop in `retry`. Every attempt has a timeout. HTTP 5xx, 429,
//! timeouts and connection errors are retried with jittered exponential
//! backoff, or after the provider's `Retry-After`, up to
//! [`RetryPolicy::attempts`]. Every attempt carries the same idempotency key,
//! so a retried send is delivered once. When the service's public URL is set,
//! each send names the service's status callback for that provider.
//!
//! Logs and errors name the provider, the flow (the idempotency key's
//! prefix), the attempt and the failure's status or class, never the
//! recipient, subject or text.

mod attempt;
mod email;
mod postal;
mod retry;
mod sms;

pub use retry::RetryPolicy;
pub use sms::SmsSender;

use async_trait::async_trait;
use serde::de::DeserializeOwned;

use crate::journeys::notifier::{
    EmailMessage, Letter, LetterReceipt, Notifier, ProviderError, SendReceipt, SmsMessage,
};
use attempt::run_attempt;
use retry::{send_with_retries, SendContext};

/// The idempotency header of the email and postal APIs; Twilio names its own.
const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// Base URLs of the three providers, such as `http://127.0.0.1:41000`.
#[derive(Debug, Clone)]
pub struct ProviderUrls {
    pub email: String,
    pub sms: String,
    pub postal: String,
}

/// Settings of the provider clients.
#[derive(Debug, Clone)]
pub struct ProviderClientSettings {
    pub urls: ProviderUrls,
    pub retry: RetryPolicy,
    pub sms_sender: SmsSender,
    /// The service's own base URL, such as `http://127.0.0.1:4000`; when set,
    /// each send names `{public_url}/v1/provider-events/{sms|email|postal}`
    /// as its status callback.
    pub public_url: Option<String>,
}

impl ProviderClientSettings {
    /// Takes the provider settings of a service configuration.
    pub fn from_config(config: &crate::service::ServiceConfig) -> Self {
        Self {
            urls: config.providers.clone(),
            retry: config.provider_retry.clone(),
            sms_sender: config.sms_sender.clone(),
            public_url: config.public_url.clone(),
        }
    }
}

pub struct HttpNotifier {
    client: reqwest::Client,
    settings: ProviderClientSettings,
}

impl HttpNotifier {
    pub fn new(settings: ProviderClientSettings) -> Self {
        // Each request sets its own timeout from the retry policy.
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()
            .expect("a client without TLS or proxy settings builds");
        Self { client, settings }
    }

    /// Returns the service's status callback URL for `provider`, if the
    /// service's public URL is set.
    fn callback_url(&self, provider: &str) -> Option<String> {
        let base = self.settings.public_url.as_deref()?;
        Some(format!(
            "{}/v1/provider-events/{provider}",
            base.trim_end_matches('/')
        ))
    }

    /// Sends the request that `build` makes, retrying under the policy, and
    /// returns the body of the 2xx response.
    async fn send(
        &self,
        context: &SendContext<'_>,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<Vec<u8>, ProviderError> {
        let timeout = self.settings.retry.timeout;
        send_with_retries(&self.settings.retry, context, || {
            run_attempt(build(&self.client), timeout)
        })
        .await
    }
}

/// Reads the receipt of an accepted send. A body of another shape is an
/// error that is not permanent, because the provider may have accepted the
/// message.
fn parse_receipt<T: DeserializeOwned>(
    context: &SendContext<'_>,
    body: &[u8],
    expected: &str,
) -> Result<T, ProviderError> {
    serde_json::from_slice(body).map_err(|_| {
        tracing::warn!(
            flow_id = %context.flow_id,
            provider = context.provider,
            expected,
            "provider accepted the send but its response is not a receipt"
        );
        ProviderError {
            provider: context.provider,
            reason: format!(
                "accepted the request but responded with a body that is not {expected}"
            ),
            permanent: false,
        }
    })
}

#[async_trait]
impl Notifier for HttpNotifier {
    async fn send_email(&self, message: EmailMessage) -> Result<SendReceipt, ProviderError> {
        self.send_email_message(message).await
    }

    async fn send_sms(&self, message: SmsMessage) -> Result<SendReceipt, ProviderError> {
        self.send_twilio_message(message).await
    }

    async fn mail_letter(&self, letter: Letter) -> Result<LetterReceipt, ProviderError> {
        self.create_lob_letter(letter).await
    }
}
