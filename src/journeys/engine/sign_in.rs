//! J1, sign in, and the code steps every journey shares.

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use super::{code_input, destination, Engine, CODE_DOMAIN};
use crate::journeys::account::{record_lockout_failure, Account};
use crate::journeys::error::StepError;
use crate::journeys::flow::{CodeCheck, CodeSend, Flow, Journey, Step};
use crate::journeys::identifiers::canonical;
use crate::journeys::response::StepResponse;
use crate::journeys::secrets;

impl Engine {
    /// Checks username and password (or an outstanding temporary password) and
    /// starts a sign-in flow.
    pub async fn sign_in(
        &self,
        username: &str,
        password: &SecretString,
    ) -> Result<StepResponse, StepError> {
        let username = canonical(username);
        let Some(found) = self.store.account_by_username(&username).await? else {
            return self.unknown_sign_in(&username, password).await;
        };
        let _guard = self.account_locks.lock(&found.id).await;
        let mut account = self
            .store
            .account(found.id)
            .await?
            .ok_or(StepError::InvalidCredentials)?;
        let now = self.now();
        if account.is_locked(now) {
            return Err(StepError::TryLater);
        }
        if self.verify(password, &account.password_hash).await {
            return self.start_sign_in_flow(&mut account, now).await;
        }
        if let Some(temporary) = account.active_temporary_password(now).cloned() {
            if self.verify(password, &temporary.hash).await {
                return self.start_temporary_sign_in(&mut account, now).await;
            }
        }
        let locked = account.record_failure(now, &self.policy);
        self.store.save_account(&account).await?;
        if locked {
            tracing::info!(
                account_id = account.id,
                "account locked after failed attempts"
            );
        }
        Err(StepError::InvalidCredentials)
    }

    /// Rejects a sign-in for a username no account has exactly as one with a
    /// wrong password: it takes a hash's time, and it locks after the same
    /// number of failures for as long, so "try later" reveals no account.
    /// The failures and lock are stored under the canonical username.
    async fn unknown_sign_in(
        &self,
        username: &str,
        password: &SecretString,
    ) -> Result<StepResponse, StepError> {
        let failures_key = format!("sign-in-failures:{username}");
        let lock_key = format!("sign-in-lock:{username}");
        let _guard = self.account_locks.lock(failures_key.as_str()).await;
        let now = self.now();
        let mut lock = self.store.rate_events(&lock_key).await?;
        if lock.count_recent(now, self.policy.lockout_duration) > 0 {
            return Err(StepError::TryLater);
        }
        self.verify_decoy(password).await;
        let mut failures = self.store.rate_events(&failures_key).await?;
        if record_lockout_failure(&mut failures, now, &self.policy) {
            lock.record(now, 1);
            self.store.save_rate_events(&lock_key, &lock).await?;
        }
        self.store
            .save_rate_events(&failures_key, &failures)
            .await?;
        Err(StepError::InvalidCredentials)
    }

    async fn start_sign_in_flow(
        &self,
        account: &mut Account,
        now: DateTime<Utc>,
    ) -> Result<StepResponse, StepError> {
        let mut flow = Flow::new(
            secrets::opaque_id(),
            account.id,
            Journey::SignIn,
            Step::Code,
            now,
        );
        let channel = account.second_factor.into();
        let sent_to = self
            .send_code(&mut flow, account, channel, CodeSend::First)
            .await?;
        let mut response = StepResponse::new(Journey::SignIn, Some(&flow.id), Some(Step::Code));
        response.code_sent_to = Some(sent_to);
        Ok(response)
    }

    async fn start_temporary_sign_in(
        &self,
        account: &mut Account,
        now: DateTime<Utc>,
    ) -> Result<StepResponse, StepError> {
        // A temporary password is single use: it is spent by this sign-in.
        account.temporary_password = None;
        account.must_change_password = true;
        self.store.save_account(account).await?;
        let flow = Flow::new(
            secrets::opaque_id(),
            account.id,
            Journey::TemporaryPasswordSignIn,
            Step::ConfirmContact,
            now,
        );
        self.store.save_flow(&flow).await?;
        let mut response =
            StepResponse::new(flow.journey, Some(&flow.id), Some(Step::ConfirmContact));
        response.confirm_destination = Some(destination(account, account.second_factor.into()));
        Ok(response)
    }

    /// Sends a code to the confirmed second factor of a temporary-password sign-in.
    pub async fn confirm_contact(&self, flow_id: &str) -> Result<StepResponse, StepError> {
        let mut locked = self.lock_flow(flow_id).await?;
        locked
            .flow
            .begin_step(Step::ConfirmContact, self.now(), &self.policy)?;
        let channel = locked.account.second_factor.into();
        self.send_code_step(&mut locked, channel, CodeSend::First)
            .await
    }

    /// Sends a new code in a flow that is waiting for one; it voids the old
    /// code. After a reported delivery failure the 30-second interval is waived.
    pub async fn resend_code(&self, flow_id: &str) -> Result<StepResponse, StepError> {
        let mut locked = self.lock_flow(flow_id).await?;
        locked
            .flow
            .begin_step(Step::Code, self.now(), &self.policy)?;
        let last_status = self.last_delivery_status(&locked.flow).await?;
        let send = Flow::resend_kind(last_status);
        let channel = locked
            .flow
            .last_code_channel
            .unwrap_or_else(|| locked.account.second_factor.into());
        self.send_code_step(&mut locked, channel, send).await
    }

    /// Checks a one-time code. Sign-in ends here with a session; the recovery
    /// journeys go on to a new password.
    pub async fn submit_code(
        &self,
        flow_id: &str,
        code: &SecretString,
    ) -> Result<StepResponse, StepError> {
        let mut locked = self.lock_flow(flow_id).await?;
        let now = self.now();
        locked.flow.begin_step(Step::Code, now, &self.policy)?;
        if locked.account.is_locked(now) {
            return Err(StepError::TryLater);
        }

        let matches = locked.flow.code.as_ref().is_some_and(|issued| {
            self.digest.matches(
                CODE_DOMAIN,
                &code_input(&locked.flow.id, code),
                &issued.digest,
            )
        });
        let check = locked
            .flow
            .check_code(&mut locked.account, matches, now, &self.policy);
        if let CodeCheck::Rejected(error) = check {
            // A rejection can count a failure against the account or void the code.
            self.store.save_account(&locked.account).await?;
            self.store.save_flow(&locked.flow).await?;
            return Err(error);
        }

        // An account that signed in with a temporary password and left before
        // choosing a new one must still choose it, whichever password it uses.
        if locked.flow.journey == Journey::SignIn && !locked.account.must_change_password {
            self.store.delete_flow(flow_id).await?;
            return self
                .finish_with_session(&locked.account, Journey::SignIn, now)
                .await;
        }

        locked.flow.step = Step::NewPassword;
        self.store.save_flow(&locked.flow).await?;
        Ok(StepResponse::new(
            locked.flow.journey,
            Some(flow_id),
            Some(Step::NewPassword),
        ))
    }
}
