//! J4, when the security answers are forgotten too: a temporary password by
//! post or by email, always on the channel that is not the second factor.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use super::deliveries::revoke_returned_temporary_password;
use super::{client_key, send_failed, ClientAddress, Engine, LockedFlow};
use crate::journeys::account::{
    MailingAddress, SecondFactor, TemporaryPassword, TemporaryPasswordChannel,
};
use crate::journeys::delivery::{DeliveryChannel, DeliveryContent, DeliveryKey};
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

    /// Mails a temporary password by post. The flow stays, so the person can
    /// watch the letter and mail another if it comes back. The password
    /// outlives the flow and is used later at sign-in.
    pub async fn mail_temporary_password(&self, flow_id: &str) -> Result<StepResponse, StepError> {
        let mut locked = self.lock_flow(flow_id).await?;
        let now = self.now();
        let pending = self
            .begin_temporary_password_send(
                &mut locked,
                Step::MailTemporaryPassword,
                TemporaryPasswordChannel::Post,
                now,
            )
            .await?;
        let letter = Letter {
            to: locked.account.mailing_address.clone(),
            text: SecretString::from(format!(
                "Your temporary password is {}. Sign in with your username and this password within {} days of the date on this letter; you will then choose a new password.",
                pending.secret.expose_secret(),
                self.policy.postal_temporary_password_validity.num_days()
            )),
            idempotency_key: format!("{flow_id}:letter:{}", secrets::opaque_id()),
        };
        let receipt = self
            .notifier
            .mail_letter(letter)
            .await
            .map_err(|error| send_failed(flow_id, "letter not mailed", error))?;

        let key = DeliveryKey {
            channel: DeliveryChannel::Postal,
            provider_id: receipt.id.clone(),
        };
        self.keep_temporary_password(&mut locked, pending, key, now)
            .await?;
        let mut response = StepResponse::new(locked.flow.journey, Some(flow_id), None);
        response.letter = Some(LetterInfo {
            expected_delivery_date: receipt.expected_delivery_date,
        });
        Ok(response)
    }

    /// Emails a temporary password. The flow stays, so the person can watch
    /// the email and ask for another if it bounces.
    pub async fn email_temporary_password(&self, flow_id: &str) -> Result<StepResponse, StepError> {
        let mut locked = self.lock_flow(flow_id).await?;
        let now = self.now();
        let pending = self
            .begin_temporary_password_send(
                &mut locked,
                Step::EmailTemporaryPassword,
                TemporaryPasswordChannel::Email,
                now,
            )
            .await?;
        let message = EmailMessage {
            to: locked.account.email.clone(),
            subject: "Your temporary password".to_owned(),
            text: SecretString::from(format!(
                "Your temporary password is {}. Sign in with your username and this password within {} hours; you will then choose a new password.",
                pending.secret.expose_secret(),
                self.policy.email_temporary_password_validity.num_hours()
            )),
            idempotency_key: format!("{flow_id}:temporary-password:{}", secrets::opaque_id()),
        };
        let receipt = self
            .notifier
            .send_email(message)
            .await
            .map_err(|error| send_failed(flow_id, "temporary password not emailed", error))?;

        let key = DeliveryKey {
            channel: DeliveryChannel::Email,
            provider_id: receipt.id,
        };
        self.keep_temporary_password(&mut locked, pending, key, now)
            .await?;
        Ok(StepResponse::new(locked.flow.journey, Some(flow_id), None))
    }

    /// Checks that the flow may send its temporary password at `step` now,
    /// and generates one. Nothing is saved yet.
    async fn begin_temporary_password_send(
        &self,
        locked: &mut LockedFlow<'_>,
        step: Step,
        channel: TemporaryPasswordChannel,
        now: DateTime<Utc>,
    ) -> Result<PendingTemporaryPassword, StepError> {
        let last_status = self.last_delivery_status(&locked.flow).await?;
        let is_resend =
            locked
                .flow
                .begin_temporary_password_send(step, last_status, now, &self.policy)?;
        let (secret, record) = self.new_temporary_password(channel, now).await?;
        Ok(PendingTemporaryPassword {
            secret,
            record,
            is_resend,
        })
    }

    /// Stores a temporary password whose message the provider accepted, in
    /// place of any outstanding one, and records the message. Until this
    /// runs nothing is saved, so a failed send leaves the account as it was.
    async fn keep_temporary_password(
        &self,
        locked: &mut LockedFlow<'_>,
        pending: PendingTemporaryPassword,
        key: DeliveryKey,
        now: DateTime<Utc>,
    ) -> Result<(), StepError> {
        let mut record = pending.record;
        record.message_id = Some(key.provider_id.clone());
        let keep_until = record.expires_at.max(now + self.policy.flow_idle_timeout);
        locked.account.temporary_password = Some(record);
        let delivery = self
            .record_sent(
                &locked.flow,
                key.clone(),
                DeliveryContent::TemporaryPassword,
                keep_until,
            )
            .await?;
        // A return reported before the send's response arrived revokes at once.
        revoke_returned_temporary_password(&mut locked.account, &delivery);
        locked
            .flow
            .record_temporary_password_sent(key, pending.is_resend, now, &self.policy);
        self.store.save_account(&locked.account).await?;
        self.store.save_flow(&locked.flow).await?;
        tracing::debug!(
            flow_id = %locked.flow.id,
            account_id = locked.account.id,
            provider = delivery.key.channel.name(),
            "temporary password sent"
        );
        Ok(())
    }
}

/// A temporary password generated for a send that has not happened yet.
struct PendingTemporaryPassword {
    secret: SecretString,
    record: TemporaryPassword,
    is_resend: bool,
}
