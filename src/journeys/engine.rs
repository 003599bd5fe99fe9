//! The journeys as async operations over a [`Store`], a [`Notifier`] and a
//! [`Clock`]: each public method is one step of one journey.
//!
//! Every step that changes an account holds that account's stripe lock from
//! reading to saving, so the rules' check-then-act sequences (lockout, code
//! attempts, resend limits) cannot race. Argon2 runs on the blocking pool.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::MutexGuard;

use super::account::{Account, SecondFactor, TemporaryPassword, TemporaryPasswordChannel};
use super::clock::Clock;
use super::enrollment::{Enrollment, FieldError};
use super::error::StepError;
use super::flow::{Channel, CodeCheck, Flow, IssuedCode, Journey, Step};
use super::hashing::{HashProfile, KeyedDigest, PasswordHasherProfile};
use super::identifiers::{canonical, canonical_answer, canonical_phone};
use super::identity_limits::IdentityLimiter;
use super::locks::KeyedLocks;
use super::masking::{mask_email, mask_phone};
use super::notifier::{EmailMessage, Letter, Notifier, SmsMessage};
use super::password_policy::{check_new_password, PasswordRejection};
use super::policy::Policy;
use super::response::{Destination, LetterInfo, StepResponse};
use super::secrets;
use crate::store::{InsertSummary, Store, StoreError};

const SSN_DOMAIN: &str = "ssn";
const CODE_DOMAIN: &str = "one-time-code";
const SESSION_DOMAIN: &str = "session";

/// The client a request came from, for per-address identity-check limits.
#[derive(Debug, Clone)]
pub struct ClientAddress(pub String);

/// The SSN and date of birth an identity check compares with the record.
pub struct IdentityEvidence<'a> {
    pub ssn: &'a SecretString,
    pub date_of_birth: NaiveDate,
}

/// The runtime pieces an [`Engine`] is built from.
pub struct EngineParts {
    pub store: Arc<dyn Store>,
    pub notifier: Arc<dyn Notifier>,
    pub clock: Arc<dyn Clock>,
    pub policy: Policy,
    pub hash_profile: HashProfile,
    /// The server secret behind SSN, code and session digests.
    pub server_key: SecretString,
}

pub struct Engine {
    store: Arc<dyn Store>,
    notifier: Arc<dyn Notifier>,
    clock: Arc<dyn Clock>,
    policy: Policy,
    hasher: Arc<PasswordHasherProfile>,
    digest: KeyedDigest,
    account_locks: KeyedLocks,
    identity_limits: IdentityLimiter,
    hashing_permits: tokio::sync::Semaphore,
    hashing_parallelism: usize,
}

/// A flow and its account, read while holding the account's lock.
struct LockedFlow<'a> {
    _guard: MutexGuard<'a, ()>,
    flow: Flow,
    account: Account,
}

impl From<StoreError> for StepError {
    fn from(error: StoreError) -> Self {
        tracing::error!(error = %error, "store operation failed");
        StepError::Unavailable
    }
}

impl Engine {
    pub fn new(parts: EngineParts) -> Self {
        let hashing_parallelism =
            std::thread::available_parallelism().map_or(1, |cores| cores.get());
        Self {
            identity_limits: IdentityLimiter::new(Arc::clone(&parts.store), &parts.policy),
            store: parts.store,
            notifier: parts.notifier,
            clock: parts.clock,
            policy: parts.policy,
            hasher: Arc::new(PasswordHasherProfile::new(parts.hash_profile)),
            digest: KeyedDigest::new(parts.server_key.expose_secret().as_bytes()),
            account_locks: KeyedLocks::default(),
            hashing_permits: tokio::sync::Semaphore::new(hashing_parallelism),
            hashing_parallelism,
        }
    }

    pub fn hash_profile(&self) -> HashProfile {
        self.hasher.profile()
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    // ---- enrollment -------------------------------------------------------

    /// Validates, hashes and stores a batch of people; a batch with any
    /// invalid person is rejected whole, naming the person's position.
    pub async fn enroll(&self, people: Vec<Enrollment>) -> Result<InsertSummary, EnrollError> {
        let today = self.now().date_naive();
        for (index, person) in people.iter().enumerate() {
            person
                .validate(today)
                .map_err(|error| EnrollError::Invalid { index, error })?;
        }
        // One chunk per hashing permit, so a batch uses every core the
        // service allows for hashing and no more.
        let chunk_size = people.len().div_ceil(self.hashing_parallelism).max(1);
        let mut chunks = Vec::new();
        let mut people = people.into_iter().peekable();
        while people.peek().is_some() {
            chunks.push(people.by_ref().take(chunk_size).collect::<Vec<_>>());
        }
        let tasks = chunks.into_iter().map(|chunk| {
            let digest = self.digest.clone();
            self.run_hashing(move |hasher| {
                chunk
                    .into_iter()
                    .map(|person| account_from_enrollment(hasher, &digest, person))
                    .collect::<Vec<_>>()
            })
        });
        let mut accounts = Vec::new();
        for chunk in futures_util::future::join_all(tasks).await {
            accounts.extend(chunk.map_err(|_| EnrollError::Unavailable)?);
        }
        self.store.insert_accounts(accounts).await.map_err(|error| {
            tracing::error!(error = %error, "enrollment insert failed");
            EnrollError::Unavailable
        })
    }

    // ---- J1: sign in ------------------------------------------------------

    /// Checks username and password (or an outstanding temporary password) and
    /// starts a sign-in flow.
    pub async fn sign_in(
        &self,
        username: &str,
        password: &SecretString,
    ) -> Result<StepResponse, StepError> {
        let Some(found) = self.store.account_by_username(&canonical(username)).await? else {
            self.verify_decoy(password).await;
            return Err(StepError::InvalidCredentials);
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
        let sent_to = self
            .send_code(&mut flow, account, account.second_factor.into(), false)
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
        self.send_code_step(&mut locked, channel, false).await
    }

    /// Sends a new code in a flow that is waiting for one; it voids the old code.
    pub async fn resend_code(&self, flow_id: &str) -> Result<StepResponse, StepError> {
        let mut locked = self.lock_flow(flow_id).await?;
        locked
            .flow
            .begin_step(Step::Code, self.now(), &self.policy)?;
        let channel = locked
            .flow
            .last_code_channel
            .unwrap_or_else(|| locked.account.second_factor.into());
        self.send_code_step(&mut locked, channel, true).await
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

    // ---- J2: forgot username ----------------------------------------------

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
        let Some(account) = matched else {
            attempt.fail(now).await?;
            return Err(StepError::CouldNotVerify);
        };
        drop(attempt);
        let mut response = StepResponse::new(Journey::ForgotUsername, None, None);
        response.username = Some(account.username);
        Ok(response)
    }

    // ---- J3: forgot password ----------------------------------------------

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
        let Some(account) = matched else {
            attempt.fail(now).await?;
            return Err(StepError::CouldNotVerify);
        };
        drop(attempt);
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

    /// Sends the code for a forgot-password flow by the channel the user chose.
    pub async fn choose_channel(
        &self,
        flow_id: &str,
        channel: Channel,
    ) -> Result<StepResponse, StepError> {
        let mut locked = self.lock_flow(flow_id).await?;
        locked
            .flow
            .begin_step(Step::Channel, self.now(), &self.policy)?;
        self.send_code_step(&mut locked, channel, false).await
    }

    /// Sets a new password and revokes every session, outstanding code and
    /// temporary password of the account.
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
        self.send_password_changed_notice(account, flow_id).await;
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

    // ---- J4: forgot the answers too ---------------------------------------

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
    /// same uniform answer and limits as every identity check.
    pub async fn verify_address(
        &self,
        flow_id: &str,
        address: &super::account::MailingAddress,
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
        if !matched {
            attempt.fail(now).await?;
            return Err(StepError::CouldNotVerify);
        }
        drop(attempt);
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

    // ---- sessions ---------------------------------------------------------

    /// Returns the username behind a session token, or `None` if the token is
    /// unknown or was revoked.
    pub async fn session_username(
        &self,
        token: &SecretString,
    ) -> Result<Option<String>, StepError> {
        let digest = self.digest.digest(SESSION_DOMAIN, token.expose_secret());
        let Some(account_id) = self.store.session_account(&digest).await? else {
            return Ok(None);
        };
        Ok(self
            .store
            .account(account_id)
            .await?
            .map(|account| account.username))
    }

    /// Deletes idle flows and stale rate-limit keys.
    pub async fn purge_expired(&self) -> Result<u64, StoreError> {
        let now = self.now();
        let events_before = now - self.policy.identity_window.max(self.policy.lockout_window);
        self.store
            .purge(now - self.policy.flow_idle_timeout, events_before)
            .await
    }

    // ---- helpers ----------------------------------------------------------

    async fn lock_flow(&self, flow_id: &str) -> Result<LockedFlow<'_>, StepError> {
        let flow = self
            .store
            .flow(flow_id)
            .await?
            .ok_or(StepError::FlowNotFound)?;
        let guard = self.account_locks.lock(&flow.account_id).await;
        // Read again under the lock: another step may have changed both.
        let flow = self
            .store
            .flow(flow_id)
            .await?
            .ok_or(StepError::FlowNotFound)?;
        let account = self
            .store
            .account(flow.account_id)
            .await?
            .ok_or(StepError::FlowNotFound)?;
        if flow.is_expired(self.now(), &self.policy) {
            self.store.delete_flow(flow_id).await?;
            return Err(StepError::FlowNotFound);
        }
        Ok(LockedFlow {
            _guard: guard,
            flow,
            account,
        })
    }

    /// Sends a code and moves the flow to the code step.
    async fn send_code_step(
        &self,
        locked: &mut LockedFlow<'_>,
        channel: Channel,
        is_resend: bool,
    ) -> Result<StepResponse, StepError> {
        // Saved with the code by send_code; a refused send saves nothing.
        locked.flow.step = Step::Code;
        let sent_to = self
            .send_code(&mut locked.flow, &mut locked.account, channel, is_resend)
            .await?;
        let mut response =
            StepResponse::new(locked.flow.journey, Some(&locked.flow.id), Some(Step::Code));
        response.code_sent_to = Some(sent_to);
        Ok(response)
    }

    async fn send_code(
        &self,
        flow: &mut Flow,
        account: &mut Account,
        channel: Channel,
        is_resend: bool,
    ) -> Result<Destination, StepError> {
        let now = self.now();
        flow.check_code_send(account, is_resend, now, &self.policy)?;
        let code = SecretString::from(secrets::one_time_code());
        let issued = IssuedCode {
            digest: self
                .digest
                .digest(CODE_DOMAIN, &code_input(&flow.id, &code)),
            channel,
            issued_at: now,
            wrong_submissions: 0,
        };
        flow.record_code_sent(account, issued, is_resend, &self.policy);
        self.store.save_account(account).await?;
        self.store.save_flow(flow).await?;

        let sequence = flow.resends.count_recent(now, chrono::Duration::hours(1));
        let idempotency_key = format!("{}:code:{}:{}", flow.id, sequence, now.timestamp_millis());
        let minutes = self.policy.code_validity.num_minutes();
        let text = SecretString::from(format!(
            "Your security code is {}. It expires in {minutes} minutes. We will never call you to ask for it.",
            code.expose_secret()
        ));
        let sent = match channel {
            Channel::Email => {
                let message = EmailMessage {
                    to: account.email.clone(),
                    subject: "Your security code".to_owned(),
                    text,
                    idempotency_key,
                };
                self.notifier.send_email(message).await
            }
            Channel::Sms => {
                let message = SmsMessage {
                    to: account.cell_phone.clone(),
                    text,
                    idempotency_key,
                };
                self.notifier.send_sms(message).await
            }
        };
        if let Err(error) = sent {
            tracing::warn!(flow_id = %flow.id, provider = error.provider, reason = %error.reason, "code not sent");
            return Err(StepError::ProviderUnavailable {
                provider: error.provider,
            });
        }
        Ok(destination(account, channel))
    }

    async fn issue_temporary_password(
        &self,
        account: &mut Account,
        temporary: &SecretString,
        channel: TemporaryPasswordChannel,
        now: DateTime<Utc>,
    ) -> Result<Option<TemporaryPassword>, StepError> {
        let validity = match channel {
            TemporaryPasswordChannel::Post => self.policy.postal_temporary_password_validity,
            TemporaryPasswordChannel::Email => self.policy.email_temporary_password_validity,
        };
        let hash = self.hash(temporary).await?;
        let previous = account.temporary_password.replace(TemporaryPassword {
            hash,
            channel,
            issued_at: now,
            expires_at: now + validity,
        });
        self.store.save_account(account).await?;
        Ok(previous)
    }

    async fn finish_with_session(
        &self,
        account: &Account,
        journey: Journey,
        now: DateTime<Utc>,
    ) -> Result<StepResponse, StepError> {
        let token = secrets::session_token();
        let digest = self.digest.digest(SESSION_DOMAIN, &token);
        self.store.insert_session(&digest, account.id, now).await?;
        let mut response = StepResponse::new(journey, None, None);
        response.session_token = Some(token);
        Ok(response)
    }

    async fn send_password_changed_notice(&self, account: &Account, flow_id: &str) {
        let message = EmailMessage {
            to: account.email.clone(),
            subject: "Your password was changed".to_owned(),
            text: SecretString::from(
                "The password of your account was changed. If you did not change it, call us at once.".to_owned(),
            ),
            idempotency_key: format!("{flow_id}:password-changed"),
        };
        if let Err(error) = self.notifier.send_email(message).await {
            tracing::warn!(flow_id, provider = error.provider, reason = %error.reason, "password-changed notice not sent");
        }
    }

    fn ssn_digest(&self, ssn: &SecretString) -> String {
        self.digest.digest(SSN_DOMAIN, ssn.expose_secret().trim())
    }

    /// Runs Argon2 work on the blocking pool once a hashing permit is free.
    /// The permits, one per core, bound the memory that concurrent hashes
    /// take (19 MiB each with the production profile) and keep a burst of
    /// sign-ins from starting more hashing threads than there are cores.
    async fn run_hashing<T: Send + 'static>(
        &self,
        work: impl FnOnce(&PasswordHasherProfile) -> T + Send + 'static,
    ) -> Result<T, StepError> {
        let _permit = self
            .hashing_permits
            .acquire()
            .await
            .map_err(|_| StepError::Unavailable)?;
        let hasher = Arc::clone(&self.hasher);
        tokio::task::spawn_blocking(move || work(&hasher))
            .await
            .map_err(|_| StepError::Unavailable)
    }

    async fn hash(&self, secret: &SecretString) -> Result<String, StepError> {
        let secret = secret.clone();
        self.run_hashing(move |hasher| hasher.hash(secret.expose_secret()))
            .await
    }

    async fn verify(&self, secret: &SecretString, hash: &str) -> bool {
        let secret = secret.clone();
        let hash = hash.to_owned();
        self.run_hashing(move |hasher| hasher.verify(secret.expose_secret(), &hash))
            .await
            .unwrap_or(false)
    }

    async fn verify_decoy(&self, secret: &SecretString) {
        let secret = secret.clone();
        let _ = self
            .run_hashing(move |hasher| hasher.verify_decoy(secret.expose_secret()))
            .await;
    }
}

/// The reason an enrollment batch was rejected.
#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    #[error("person at index {index} is invalid: {error}")]
    Invalid { index: usize, error: FieldError },
    #[error("the service could not store the batch; try again shortly")]
    Unavailable,
}

fn account_from_enrollment(
    hasher: &PasswordHasherProfile,
    digest: &KeyedDigest,
    person: Enrollment,
) -> Account {
    let mut questions = Vec::with_capacity(person.security_questions.len());
    let mut answer_hashes = Vec::with_capacity(person.security_questions.len());
    for item in &person.security_questions {
        questions.push(item.question.trim().to_owned());
        answer_hashes.push(hasher.hash(&canonical_answer(item.answer.expose_secret())));
    }
    Account {
        id: 0,
        username: person.username.trim().to_owned(),
        username_key: person.canonical_username(),
        password_hash: hasher.hash(person.password.expose_secret()),
        ssn_digest: digest.digest(SSN_DOMAIN, person.ssn.expose_secret().trim()),
        date_of_birth: person.date_of_birth,
        email: person.canonical_email(),
        cell_phone: person.canonical_cell_phone(),
        primary_phone: person.canonical_primary_phone(),
        mailing_address: person.mailing_address.clone(),
        second_factor: person.second_factor,
        security_questions: questions,
        answer_hashes,
        terms_version: 0,
        locked_until: None,
        must_change_password: false,
        failures: Default::default(),
        code_messages: Default::default(),
        temporary_password: None,
    }
}

/// Binds a code to its flow: the digest covers both, so a code presented in
/// another flow never matches.
fn code_input(flow_id: &str, code: &SecretString) -> String {
    format!("{flow_id}:{}", code.expose_secret().trim())
}

fn client_key(client: &ClientAddress) -> String {
    IdentityLimiter::client_key(&client.0)
}

fn destination(account: &Account, channel: Channel) -> Destination {
    let masked = match channel {
        Channel::Email => mask_email(&account.email),
        Channel::Sms => mask_phone(&account.cell_phone),
    };
    Destination { channel, masked }
}
