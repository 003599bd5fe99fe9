//! The journeys as async operations over a [`Store`], a [`Notifier`] and a
//! [`Clock`]: each public method is one step of one journey.
//!
//! Every step that changes an account holds that account's stripe lock from
//! reading to saving, so the rules' check-then-act sequences (lockout, code
//! attempts, resend limits) cannot race. Argon2 runs on the blocking pool,
//! one hash per core at a time.
//!
//! The steps of each journey are in the submodules, one file per journey.

mod enrollment;
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
use super::error::StepError;
use super::flow::{Channel, Flow, IssuedCode, Journey, Step};
use super::hashing::{HashProfile, KeyedDigest, PasswordHasherProfile};
use super::identity_limits::IdentityLimiter;
use super::locks::KeyedLocks;
use super::masking::{mask_email, mask_phone};
use super::notifier::{EmailMessage, Notifier, SmsMessage};
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
        self.store
            .purge(PurgeCutoffs {
                flows: now - self.policy.flow_idle_timeout,
                rate_events: now - self.policy.identity_window,
                sessions: now - self.policy.session_lifetime,
                deliveries: now,
            })
            .await
    }

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
