//! J2, forgot username, and J3, forgot password, with the new-password and
//! terms steps that end every recovery.

use secrecy::{ExposeSecret, SecretString};

use super::{client_key, destination, ClientAddress, Engine, IdentityEvidence};
use crate::journeys::error::StepError;
use crate::journeys::flow::{Channel, Flow, Journey, Step};
use crate::journeys::identifiers::{canonical, canonical_answer};
use crate::journeys::password_policy::{check_new_password, PasswordRejection};
use crate::journeys::response::StepResponse;
use crate::journeys::secrets;

impl Engine {
    /// Returns the username of the account that matches all three details, or
    /// one uniform "could not verify" whatever failed.
    pub async fn forgot_username(
        &self,
        email: &str,
        evidence: IdentityEvidence<'_>,
        client: &ClientAddress,
    ) -> Result<StepResponse, StepError> {
        let email = canonical(email);
        let now = self.now();
        let keys = vec![client_key(client), format!("email:{email}")];
        let attempt = self.identity_limits.begin(keys, now).await?;
        let found = self
            .store
            .account_by_ssn(&self.ssn_digest(evidence.ssn))
            .await?;
        let matched = found.filter(|account| {
            account.email == email
                && account.date_of_birth == evidence.date_of_birth
                && !account.is_locked(now)
        });
        let account = attempt.settle(matched, now).await?;
        let mut response = StepResponse::new(Journey::ForgotUsername, None, None);
        response.username = Some(account.username);
        Ok(response)
    }

    /// Checks username, SSN and date of birth, and starts a forgot-password
    /// flow that shows the account's security questions.
    pub async fn forgot_password(
        &self,
        username: &str,
        evidence: IdentityEvidence<'_>,
        client: &ClientAddress,
    ) -> Result<StepResponse, StepError> {
        let username = canonical(username);
        let now = self.now();
        let keys = vec![client_key(client), format!("user:{username}")];
        let attempt = self.identity_limits.begin(keys, now).await?;
        let ssn_digest = self.ssn_digest(evidence.ssn);
        let found = self.store.account_by_username(&username).await?;
        let matched = found.filter(|account| {
            account.ssn_digest == ssn_digest
                && account.date_of_birth == evidence.date_of_birth
                && !account.is_locked(now)
        });
        let account = attempt.settle(matched, now).await?;
        let flow = Flow::new(
            secrets::opaque_id(),
            account.id,
            Journey::ForgotPassword,
            Step::Answers,
            now,
        );
        self.store.save_flow(&flow).await?;
        let mut response =
            StepResponse::new(Journey::ForgotPassword, Some(&flow.id), Some(Step::Answers));
        response.questions = Some(account.security_questions.clone());
        Ok(response)
    }

    /// Checks the three security answers. All three are always verified, so
    /// the time taken does not reveal which one was wrong.
    pub async fn submit_answers(
        &self,
        flow_id: &str,
        answers: &[SecretString],
    ) -> Result<StepResponse, StepError> {
        let mut locked = self.lock_flow(flow_id).await?;
        let now = self.now();
        locked.flow.begin_step(Step::Answers, now, &self.policy)?;
        if locked.account.is_locked(now) {
            return Err(StepError::TryLater);
        }

        let mut all_match = answers.len() == locked.account.answer_hashes.len();
        for (answer, hash) in answers.iter().zip(&locked.account.answer_hashes) {
            let normalized = SecretString::from(canonical_answer(answer.expose_secret()));
            all_match &= self.verify(&normalized, hash).await;
        }

        if !all_match {
            let locked_now = locked.account.record_failure(now, &self.policy);
            self.store.save_account(&locked.account).await?;
            self.store.save_flow(&locked.flow).await?;
            return Err(if locked_now {
                StepError::TryLater
            } else {
                StepError::WrongAnswers
            });
        }

        locked.flow.step = Step::Channel;
        self.store.save_flow(&locked.flow).await?;
        let mut response =
            StepResponse::new(Journey::ForgotPassword, Some(flow_id), Some(Step::Channel));
        response.channels = Some(vec![
            destination(&locked.account, Channel::Sms),
            destination(&locked.account, Channel::Email),
        ]);
        Ok(response)
    }

    /// Sends the code for a forgot-password flow by the channel the user
    /// chose. The choice is open again, as a resend, once the provider
    /// reports that the last code was not delivered.
    pub async fn choose_channel(
        &self,
        flow_id: &str,
        channel: Channel,
    ) -> Result<StepResponse, StepError> {
        let mut locked = self.lock_flow(flow_id).await?;
        let last_status = self.last_delivery_status(&locked.flow).await?;
        let send = locked
            .flow
            .begin_channel_choice(last_status, self.now(), &self.policy)?;
        self.send_code_step(&mut locked, channel, send).await
    }

    /// Sets a new password, revokes every session, outstanding code and
    /// temporary password of the account, and stores a password-changed
    /// notice for [`Engine::deliver_due_notices`] to send.
    pub async fn set_new_password(
        &self,
        flow_id: &str,
        password: &SecretString,
    ) -> Result<StepResponse, StepError> {
        let mut locked = self.lock_flow(flow_id).await?;
        let now = self.now();
        locked
            .flow
            .begin_step(Step::NewPassword, now, &self.policy)?;
        check_new_password(password.expose_secret(), &locked.account.username)
            .map_err(StepError::Password)?;
        if self.verify(password, &locked.account.password_hash).await {
            return Err(StepError::Password(PasswordRejection::SameAsCurrent));
        }
        let hash = self.hash(password).await?;
        let account = &mut locked.account;
        account.password_hash = hash;
        account.must_change_password = false;
        account.temporary_password = None;
        account.failures.clear();
        self.store.save_account(account).await?;
        // NOTE: the account and the notice are saved by two store calls, so a
        // store failure between them changes the password without a notice.
        // The store offers no transaction across calls yet.
        self.enqueue_password_changed_notice(account, flow_id, now)
            .await?;
        let sessions = self.store.delete_sessions_of_account(account.id).await?;
        let flows = self.store.delete_flows_of_account(account.id).await?;
        tracing::debug!(
            account_id = account.id,
            sessions,
            other_flows = flows.saturating_sub(1),
            "password changed; sessions and secrets revoked"
        );

        locked.flow.step = Step::AcceptTerms;
        locked.flow.code = None;
        self.store.save_flow(&locked.flow).await?;
        Ok(StepResponse::new(
            locked.flow.journey,
            Some(flow_id),
            Some(Step::AcceptTerms),
        ))
    }

    /// Records acceptance of the terms: the first step of the postal journey,
    /// or the last step of every recovery, which signs the user in.
    pub async fn accept_terms(
        &self,
        flow_id: &str,
        version: u32,
    ) -> Result<StepResponse, StepError> {
        let mut locked = self.lock_flow(flow_id).await?;
        let now = self.now();
        locked
            .flow
            .begin_step(Step::AcceptTerms, now, &self.policy)?;
        let current = self.policy.terms_version;
        if version != current {
            return Err(StepError::TermsVersion {
                got: version,
                current,
            });
        }
        locked.account.terms_version = version;
        self.store.save_account(&locked.account).await?;
        // The postal journey opens with the terms; every other journey ends with them.
        if locked.flow.journey == Journey::PostalTemporaryPassword {
            locked.flow.step = Step::VerifyAddress;
            self.store.save_flow(&locked.flow).await?;
            return Ok(StepResponse::new(
                locked.flow.journey,
                Some(flow_id),
                Some(Step::VerifyAddress),
            ));
        }
        self.store.delete_flow(flow_id).await?;
        self.finish_with_session(&locked.account, locked.flow.journey, now)
            .await
    }
}
