//! The journeys as async operations over a [`Store`], a [`Notifier`] and a
//! [`Clock`]: each public method is one step of one journey.
//!
//! Every step that changes an account holds that account's stripe lock from
//! reading to saving, so the rules' check-then-act sequences (lockout, code
//! attempts, resend limits) cannot race. Argon2 runs on the blocking pool,
//! one hash per core at a time.
//!
//! The steps of each journey are in the submodules, one file per journey.

mod deliveries;
mod enrollment;
mod notices;
mod recovery;
mod sign_in;
mod temporary_password;

pub use enrollment::EnrollError;

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::MutexGuard;

use super::account::{Account, TemporaryPassword, TemporaryPasswordChannel};
use super::clock::Clock;
use super::delivery::{DeliveryContent, DeliveryKey};
use super::error::StepError;
use super::flow::{Channel, CodeSend, Flow, IssuedCode, Journey, Step};
use super::hashing::{HashProfile, KeyedDigest, PasswordHasherProfile};
use super::identity_limits::IdentityLimiter;
use super::locks::KeyedLocks;
use super::masking::{mask_email, mask_phone};
use super::notifier::{EmailMessage, Notifier, ProviderError, SendReceipt, SmsMessage};
use super::policy::Policy;
use super::response::{Destination, StepResponse};
use super::secrets;
use crate::store::{PurgeCutoffs, Store, StoreError};

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
        tracing::error!(error = %error, cause = ?std::error::Error::source(&error), "store operation failed");
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

    /// Returns the username behind a session token, or `None` if the token is
    /// unknown, expired or revoked.
    pub async fn session_username(
        &self,
        token: &SecretString,
    ) -> Result<Option<String>, StepError> {
        let digest = self.digest.digest(SESSION_DOMAIN, token.expose_secret());
        let created_since = self.now() - self.policy.session_lifetime;
        let Some(account_id) = self.store.session_account(&digest, created_since).await? else {
            return Ok(None);
        };
        Ok(self
            .store
            .account(account_id)
            .await?
            .map(|account| account.username))
    }

    /// Deletes idle flows, stale rate-limit keys, expired sessions and the
    /// delivery records past their `keep_until`.
    pub async fn purge_expired(&self) -> Result<u64, StoreError> {
        let now = self.now();
        // Rate-limit records hold identity-check failures (identity window),
        // and sign-in failures and locks of unknown usernames (lockout window
        // and duration), so they are kept for the longest of the three.
        let rate_events_kept = self
            .policy
            .identity_window
            .max(self.policy.lockout_window)
            .max(self.policy.lockout_duration);
        self.store
            .purge(PurgeCutoffs {
                flows: now - self.policy.flow_idle_timeout,
                rate_events: now - rate_events_kept,
                sessions: now - self.policy.session_lifetime,
                deliveries: now,
            })
            .await
    }

    /// Reads a flow and its account, or fails with `FlowNotFound` when
    /// either is gone.
    async fn flow_and_account(&self, flow_id: &str) -> Result<(Flow, Account), StepError> {
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
        Ok((flow, account))
    }

    async fn lock_flow(&self, flow_id: &str) -> Result<LockedFlow<'_>, StepError> {
        let flow = self
            .store
            .flow(flow_id)
            .await?
            .ok_or(StepError::FlowNotFound)?;
        let guard = self.account_locks.lock(&flow.account_id).await;
        // Read again under the lock: another step may have changed both.
        let (flow, account) = self.flow_and_account(flow_id).await?;
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
        send: CodeSend,
    ) -> Result<StepResponse, StepError> {
        // Saved with the code by send_code; a refused or failed send saves nothing.
        locked.flow.step = Step::Code;
        let sent_to = self
            .send_code(&mut locked.flow, &mut locked.account, channel, send)
            .await?;
        let mut response =
            StepResponse::new(locked.flow.journey, Some(&locked.flow.id), Some(Step::Code));
        response.code_sent_to = Some(sent_to);
        Ok(response)
    }

    /// Sends a new code and saves it with the flow and account. Nothing is
    /// saved until the provider accepts the message: a send that fails after
    /// the client's retries leaves the flow, its limits and any earlier code
    /// as they were. The new code is never stored, so it cannot work even if
    /// the provider delivered it and only its response was lost.
    async fn send_code(
        &self,
        flow: &mut Flow,
        account: &mut Account,
        channel: Channel,
        send: CodeSend,
    ) -> Result<Destination, StepError> {
        let now = self.now();
        flow.check_code_send(account, send, now, &self.policy)?;
        let code = SecretString::from(secrets::one_time_code());
        let receipt = self
            .deliver_code(flow, account, channel, &code)
            .await
            .map_err(|error| send_failed(&flow.id, "code not sent", error))?;

        let issued = IssuedCode {
            digest: self
                .digest
                .digest(CODE_DOMAIN, &code_input(&flow.id, &code)),
            channel,
            issued_at: now,
            wrong_submissions: 0,
        };
        flow.record_code_sent(account, issued, send, &self.policy);
        let key = DeliveryKey {
            channel: channel.into(),
            provider_id: receipt.id,
        };
        let keep_until = now + self.policy.code_validity + self.policy.flow_idle_timeout;
        self.record_sent(flow, key.clone(), DeliveryContent::Code, keep_until)
            .await?;
        flow.last_delivery = Some(key);
        self.store.save_account(account).await?;
        self.store.save_flow(flow).await?;
        Ok(destination(account, channel))
    }

    async fn deliver_code(
        &self,
        flow: &Flow,
        account: &Account,
        channel: Channel,
        code: &SecretString,
    ) -> Result<SendReceipt, ProviderError> {
        // Each code is a new message with its own key: reusing a key after a
        // failed send would make the provider replay the old message.
        let idempotency_key = format!("{}:code:{}", flow.id, secrets::opaque_id());
        let minutes = self.policy.code_validity.num_minutes();
        let text = SecretString::from(format!(
            "Your security code is {}. It expires in {minutes} minutes. We will never call you to ask for it.",
            code.expose_secret()
        ));
        match channel {
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
        }
    }

    /// Generates and hashes a temporary password. The caller stores it on the
    /// account only once the provider accepted the message that carries it.
    async fn new_temporary_password(
        &self,
        channel: TemporaryPasswordChannel,
        now: DateTime<Utc>,
    ) -> Result<(SecretString, TemporaryPassword), StepError> {
        let validity = self.policy.temporary_password_validity(channel);
        let temporary = SecretString::from(secrets::temporary_password());
        let hash = self.hash(&temporary).await?;
        let issued = TemporaryPassword {
            hash,
            channel,
            issued_at: now,
            expires_at: now + validity,
            message_id: None,
        };
        Ok((temporary, issued))
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

/// Binds a code to its flow: the digest covers both, so a code presented in
/// another flow never matches.
fn code_input(flow_id: &str, code: &SecretString) -> String {
    format!("{flow_id}:{}", code.expose_secret().trim())
}

/// Logs a send that failed after the client's retries and returns the
/// step's error. `what` names what was not sent, such as "code not sent".
fn send_failed(flow_id: &str, what: &'static str, error: ProviderError) -> StepError {
    tracing::warn!(flow_id, provider = error.provider, reason = %error.reason, "{what}");
    StepError::ProviderUnavailable {
        provider: error.provider,
    }
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
