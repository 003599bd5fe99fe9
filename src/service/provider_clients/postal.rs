//! Letters through a subset of Lob's letters API: `POST /v1/letters` with the
//! address in Lob's fields, the letter's text as `file` and the status
//! callback as `metadata.webhook_url`, idempotent by the `Idempotency-Key`
//! header. The response carries the letter's `id` and `expected_delivery_date`.

use chrono::NaiveDate;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use super::retry::SendContext;
use super::{parse_receipt, HttpNotifier, IDEMPOTENCY_KEY};
use crate::journeys::account::MailingAddress;
use crate::journeys::notifier::{Letter, LetterReceipt, ProviderError};

#[derive(Serialize)]
struct LobLetter<'a> {
    to: LobAddress<'a>,
    file: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<LobMetadata>,
}

/// A US address in Lob's field names.
#[derive(Serialize)]
struct LobAddress<'a> {
    name: &'a str,
    address_line1: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    address_line2: Option<&'a str>,
    address_city: &'a str,
    address_state: &'a str,
    address_zip: &'a str,
}

impl<'a> From<&'a MailingAddress> for LobAddress<'a> {
    fn from(address: &'a MailingAddress) -> Self {
        Self {
            name: &address.name,
            address_line1: &address.line1,
            address_line2: address.line2.as_deref(),
            address_city: &address.city,
            address_state: &address.state,
            address_zip: &address.zip,
        }
    }
}

#[derive(Serialize)]
struct LobMetadata {
    webhook_url: String,
}

#[derive(Deserialize)]
struct LobLetterCreated {
    id: String,
    expected_delivery_date: NaiveDate,
}

impl HttpNotifier {
    pub(super) async fn create_lob_letter(
        &self,
        letter: Letter,
    ) -> Result<LetterReceipt, ProviderError> {
        let context = SendContext::new("postal", &letter.idempotency_key);
        let url = format!("{}/v1/letters", self.settings.urls.postal);
        let create = LobLetter {
            to: LobAddress::from(&letter.to),
            file: letter.text.expose_secret(),
            metadata: self
                .callback_url("postal")
                .map(|webhook_url| LobMetadata { webhook_url }),
        };

        let body = self
            .send(&context, |client| {
                client
                    .post(&url)
                    .header(IDEMPOTENCY_KEY, &letter.idempotency_key)
                    .json(&create)
            })
            .await?;
        let created: LobLetterCreated = parse_receipt(&context, &body, "a Lob letter")?;
        Ok(LetterReceipt {
            id: created.id,
            expected_delivery_date: created.expected_delivery_date,
        })
    }
}
