//! HTTP clients for the email, SMS and postal providers the service sends through.
//!
//! Each call has a timeout and an idempotency key. Retries with backoff come
//! with the fault profiles; until then a failed send is reported to the user's
//! flow as `provider_unavailable`.

use std::time::Duration;

use async_trait::async_trait;
use chrono::NaiveDate;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;

use crate::journeys::notifier::{
    EmailMessage, Letter, LetterReceipt, Notifier, ProviderError, SendReceipt, SmsMessage,
};

/// Base URLs of the three providers, such as `http://127.0.0.1:41000`.
#[derive(Debug, Clone)]
pub struct ProviderUrls {
    pub email: String,
    pub sms: String,
    pub postal: String,
}

pub const PROVIDER_TIMEOUT: Duration = Duration::from_secs(5);

pub struct HttpNotifier {
    client: reqwest::Client,
    urls: ProviderUrls,
}

#[derive(Deserialize)]
struct MessageAccepted {
    id: String,
}

async fn message_receipt(
    provider: &'static str,
    response: reqwest::Response,
) -> Result<SendReceipt, ProviderError> {
    let accepted: MessageAccepted = response.json().await.map_err(|_| ProviderError {
        provider,
        reason: "answered with a body that is not a message receipt".to_owned(),
    })?;
    Ok(SendReceipt { id: accepted.id })
}

#[derive(Deserialize)]
struct LetterAccepted {
    id: String,
    expected_delivery_date: NaiveDate,
}

impl HttpNotifier {
    pub fn new(urls: ProviderUrls) -> Self {
        let client = reqwest::Client::builder()
            .timeout(PROVIDER_TIMEOUT)
            .pool_max_idle_per_host(64)
            .build()
            .expect("a client with a timeout builds");
        Self { client, urls }
    }

    async fn post(
        &self,
        provider: &'static str,
        url: String,
        body: serde_json::Value,
    ) -> Result<reqwest::Response, ProviderError> {
        let failed = |reason: String| ProviderError { provider, reason };
        let response = self
            .client
            .post(&url)
            .json(&body)
            .send()
            .await
            .map_err(|error| failed(describe_transport_error(&error)))?;
        if !response.status().is_success() {
            return Err(failed(format!(
                "answered HTTP {}",
                response.status().as_u16()
            )));
        }
        Ok(response)
    }
}

fn describe_transport_error(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        format!("timed out after {} s", PROVIDER_TIMEOUT.as_secs())
    } else if error.is_connect() {
        "connection failed".to_owned()
    } else {
        "request failed".to_owned()
    }
}

#[async_trait]
impl Notifier for HttpNotifier {
    async fn send_email(&self, message: EmailMessage) -> Result<SendReceipt, ProviderError> {
        let body = json!({
            "to": message.to,
            "subject": message.subject,
            "text": message.text.expose_secret(),
            "idempotency_key": message.idempotency_key,
        });
        let response = self
            .post("email", format!("{}/v1/messages", self.urls.email), body)
            .await?;
        message_receipt("email", response).await
    }

    async fn send_sms(&self, message: SmsMessage) -> Result<SendReceipt, ProviderError> {
        let body = json!({
            "to": message.to,
            "text": message.text.expose_secret(),
            "idempotency_key": message.idempotency_key,
        });
        let response = self
            .post("sms", format!("{}/v1/messages", self.urls.sms), body)
            .await?;
        message_receipt("sms", response).await
    }

    async fn mail_letter(&self, letter: Letter) -> Result<LetterReceipt, ProviderError> {
        let body = json!({
            "to": letter.to,
            "text": letter.text.expose_secret(),
            "idempotency_key": letter.idempotency_key,
        });
        let response = self
            .post("postal", format!("{}/v1/letters", self.urls.postal), body)
            .await?;
        let accepted: LetterAccepted = response.json().await.map_err(|_| ProviderError {
            provider: "postal",
            reason: "answered with a body that is not a letter receipt".to_owned(),
        })?;
        Ok(LetterReceipt {
            id: accepted.id,
            expected_delivery_date: accepted.expected_delivery_date,
        })
    }
}
