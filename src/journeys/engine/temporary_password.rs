//! J4, when the security answers are forgotten too: a temporary password by
//! post or by email, always on the channel that is not the second factor.

use secrecy::{ExposeSecret, SecretString};

use super::{client_key, ClientAddress, Engine};
use crate::journeys::account::{MailingAddress, SecondFactor, TemporaryPasswordChannel};
use crate::journeys::error::StepError;
use crate::journeys::flow::{Journey, Step};
use crate::journeys::identifiers::canonical_phone;
use crate::journeys::notifier::{EmailMessage, Letter};
use crate::journeys::response::{LetterInfo, StepResponse};
use crate::journeys::secrets;

impl Engine {
    /// Branches a forgot-password flow into the temporary-password journey
    /// that uses the channel other than the account's second factor.
    pub async fn cannot_remember_answers(&self, flow_id: &str) -> Result<StepResponse, StepError> {
        let mut locked = self.lock_flow(flow_id).await?;
        locked
            .flow
            .begin_step(Step::Answers, self.now(), &self.policy)?;
        let (journey, step) = match locked.account.second_factor {
            SecondFactor::Email => (Journey::PostalTemporaryPassword, Step::AcceptTerms),
            SecondFactor::Sms => (
                Journey::EmailTemporaryPassword,
                Step::EmailTemporaryPassword,
            ),
        };
        locked.flow.journey = journey;
        locked.flow.step = step;
        self.store.save_flow(&locked.flow).await?;
        Ok(StepResponse::new(journey, Some(flow_id), Some(step)))
    }

    /// Checks mailing address and primary phone against the record, with the
    /// same uniform error and limits as every identity check.
    pub async fn verify_address(
        &self,
        flow_id: &str,
        address: &MailingAddress,
        primary_phone: &str,
        client: &ClientAddress,
    ) -> Result<StepResponse, StepError> {
        let mut locked = self.lock_flow(flow_id).await?;
        let now = self.now();
        locked
            .flow
            .begin_step(Step::VerifyAddress, now, &self.policy)?;
        let account = &locked.account;
        let keys = vec![client_key(client), format!("user:{}", account.username_key)];
        let attempt = self.identity_limits.begin(keys, now).await?;
        let matched = account.mailing_address.canonical_key() == address.canonical_key()
            && account.primary_phone == canonical_phone(primary_phone)
            && !account.is_locked(now);
        attempt.settle(matched.then_some(()), now).await?;
        locked.flow.step = Step::MailTemporaryPassword;
        self.store.save_flow(&locked.flow).await?;
        Ok(StepResponse::new(
            locked.flow.journey,
            Some(flow_id),
            Some(Step::MailTemporaryPassword),
        ))
    }

    /// Mails a temporary password by post. The flow ends here; the password
    /// outlives it and is used later at sign-in.
    pub async fn mail_temporary_password(&self, flow_id: &str) -> Result<StepResponse, StepError> {
        let mut locked = self.lock_flow(flow_id).await?;
        let now = self.now();
        locked
            .flow
            .begin_step(Step::MailTemporaryPassword, now, &self.policy)?;

        let temporary = SecretString::from(secrets::temporary_password());
        let previous = self
            .issue_temporary_password(
                &mut locked.account,
                &temporary,
                TemporaryPasswordChannel::Post,
                now,
            )
            .await?;

        let letter = Letter {
            to: locked.account.mailing_address.clone(),
            text: SecretString::from(format!(
                "Your temporary password is {}. Sign in with your username and this password within {} days of the date on this letter; you will then choose a new password.",
                temporary.expose_secret(),
                self.policy.postal_temporary_password_validity.num_days()
            )),
            idempotency_key: format!("{flow_id}:letter"),
        };
        let receipt = match self.notifier.mail_letter(letter).await {
            Ok(receipt) => receipt,
            Err(error) => {
                tracing::warn!(flow_id, provider = error.provider, reason = %error.reason, "letter not mailed");
                locked.account.temporary_password = previous;
                self.store.save_account(&locked.account).await?;
                return Err(StepError::ProviderUnavailable {
                    provider: error.provider,
                });
            }
        };

        self.store.delete_flow(flow_id).await?;
        tracing::debug!(flow_id, account_id = locked.account.id, letter_id = %receipt.id, "temporary password mailed");
        let mut response = StepResponse::new(locked.flow.journey, None, None);
        response.letter = Some(LetterInfo {
            expected_delivery_date: receipt.expected_delivery_date,
        });
        Ok(response)
    }

    /// Emails a temporary password. The flow ends here.
    pub async fn email_temporary_password(&self, flow_id: &str) -> Result<StepResponse, StepError> {
        let mut locked = self.lock_flow(flow_id).await?;
        let now = self.now();
        locked
            .flow
            .begin_step(Step::EmailTemporaryPassword, now, &self.policy)?;
        let temporary = SecretString::from(secrets::temporary_password());
        let previous = self
            .issue_temporary_password(
                &mut locked.account,
                &temporary,
                TemporaryPasswordChannel::Email,
                now,
            )
            .await?;
        let message = EmailMessage {
            to: locked.account.email.clone(),
            subject: "Your temporary password".to_owned(),
            text: SecretString::from(format!(
                "Your temporary password is {}. Sign in with your username and this password within {} hours; you will then choose a new password.",
                temporary.expose_secret(),
                self.policy.email_temporary_password_validity.num_hours()
            )),
            idempotency_key: format!("{flow_id}:temporary-password"),
        };
        if let Err(error) = self.notifier.send_email(message).await {
            tracing::warn!(flow_id, provider = error.provider, reason = %error.reason, "temporary password not emailed");
            locked.account.temporary_password = previous;
            self.store.save_account(&locked.account).await?;
            return Err(StepError::ProviderUnavailable {
                provider: error.provider,
            });
        }
        self.store.delete_flow(flow_id).await?;
        tracing::debug!(
            flow_id,
            account_id = locked.account.id,
            "temporary password emailed"
        );
        Ok(StepResponse::new(locked.flow.journey, None, None))
    }
}
