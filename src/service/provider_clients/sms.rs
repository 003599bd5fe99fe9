//! Text messages through a subset of Twilio's Messages API: a form-encoded
//! `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, idempotent by the
//! `I-Twilio-Idempotency-Token` header. The response carries the message's `sid`.

use secrecy::ExposeSecret;
use serde::Deserialize;

use super::retry::SendContext;
use super::{parse_receipt, HttpNotifier};
use crate::journeys::notifier::{ProviderError, SendReceipt, SmsMessage};

const IDEMPOTENCY_TOKEN: &str = "I-Twilio-Idempotency-Token";

/// The Twilio account and number texts are sent from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsSender {
    /// `AC` and 32 hex digits.
    pub account_sid: String,
    /// The `From` number in E.164 form.
    pub from: String,
}

impl Default for SmsSender {
    /// Returns a placeholder account and a number from the fictional 555-0100
    /// to 555-0199 block, which never reaches a real phone.
    fn default() -> Self {
        Self {
            account_sid: "AC00000000000000000000000000000000".to_owned(),
            from: "+15555550100".to_owned(),
        }
    }
}

#[derive(Deserialize)]
struct TwilioMessage {
    sid: String,
}

impl HttpNotifier {
    pub(super) async fn send_twilio_message(
        &self,
        message: SmsMessage,
    ) -> Result<SendReceipt, ProviderError> {
        let context = SendContext::new("sms", &message.idempotency_key);
        let sender = &self.settings.sms_sender;
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.settings.urls.sms, sender.account_sid
        );
        let to = e164(&message.to);
        let mut form = vec![
            ("To", to.as_str()),
            ("From", sender.from.as_str()),
            ("Body", message.text.expose_secret()),
        ];
        let callback = self.callback_url("sms");
        if let Some(callback) = &callback {
            form.push(("StatusCallback", callback));
        }

        let body = self
            .send(&context, |client| {
                client
                    .post(&url)
                    .header(IDEMPOTENCY_TOKEN, &message.idempotency_key)
                    .form(&form)
            })
            .await?;
        let accepted: TwilioMessage = parse_receipt(&context, &body, "a Twilio message")?;
        Ok(SendReceipt { id: accepted.sid })
    }
}

/// Writes an account's cell phone, stored as ten digits without the country
/// code, in the E.164 form Twilio expects. A number in another form is sent
/// as stored, for the provider to accept or reject.
fn e164(number: &str) -> String {
    let is_digits = number.bytes().all(|byte| byte.is_ascii_digit());
    match number.len() {
        10 if is_digits => format!("+1{number}"),
        11 if is_digits && number.starts_with('1') => format!("+{number}"),
        _ => number.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::e164;

    #[test]
    fn national_numbers_get_country_code() {
        assert_eq!(e164("5555550142"), "+15555550142");
        assert_eq!(e164("15555550142"), "+15555550142");
        assert_eq!(e164("+15555550142"), "+15555550142");
        assert_eq!(e164("555-0142"), "555-0142");
    }
}
