//! The account record and the rules that read or change its security state.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::policy::Policy;
use super::window::EventWindow;

pub type AccountId = i64;

/// The channel that carries one-time codes at sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SecondFactor {
    Email,
    Sms,
}

/// A postal address; comparisons use [`MailingAddress::canonical_key`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MailingAddress {
    pub name: String,
    pub line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    pub city: String,
    pub state: String,
    pub zip: String,
}

impl MailingAddress {
    /// Returns the address in canonical form, for matching identity checks.
    pub fn canonical_key(&self) -> String {
        use super::identifiers::canonical_address_line as line;
        let line2 = self.line2.as_deref().map(line).unwrap_or_default();
        format!(
            "{}|{}|{}|{}|{}",
            line(&self.line1),
            line2,
            line(&self.city),
            line(&self.state),
            line(&self.zip)
        )
    }
}

/// The channel a temporary password was sent by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemporaryPasswordChannel {
    Post,
    Email,
}

/// An issued temporary password, stored as an Argon2id hash.
#[derive(Clone, Serialize, Deserialize)]
pub struct TemporaryPassword {
    pub hash: String,
    pub channel: TemporaryPasswordChannel,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The provider id of the email or letter that carries it.
    #[serde(default)]
    pub message_id: Option<String>,
}

/// An enrolled account. It has no `Debug` because it contains the date of birth
/// and secret hashes, which must never reach a log line.
#[derive(Clone, Serialize, Deserialize)]
pub struct Account {
    pub id: AccountId,
    /// The username as enrolled, shown back to the user by forgot-username.
    pub username: String,
    /// The canonical username, unique across accounts.
    pub username_key: String,
    pub password_hash: String,
    /// HMAC-SHA-256 of the SSN under the server key.
    pub ssn_digest: String,
    pub date_of_birth: NaiveDate,
    /// The canonical email address.
    pub email: String,
    /// Digits only, without the country code.
    pub cell_phone: String,
    pub primary_phone: String,
    pub mailing_address: MailingAddress,
    pub second_factor: SecondFactor,
    pub security_questions: Vec<String>,
    pub answer_hashes: Vec<String>,
    pub terms_version: u32,
    pub locked_until: Option<DateTime<Utc>>,
    pub must_change_password: bool,
    /// Failed code, password and answer attempts, across all flows.
    pub failures: EventWindow,
    /// Code messages sent to this account, across all flows.
    pub code_messages: EventWindow,
    pub temporary_password: Option<TemporaryPassword>,
}

impl Account {
    pub fn is_locked(&self, now: DateTime<Utc>) -> bool {
        self.locked_until.is_some_and(|until| now < until)
    }

    /// Records a failed code, password or answer attempt, and locks the
    /// account when the attempts in the window reach the threshold.
    /// Returns whether this attempt locked it.
    pub fn record_failure(&mut self, now: DateTime<Utc>, policy: &Policy) -> bool {
        let locks = record_lockout_failure(&mut self.failures, now, policy);
        if locks {
            self.locked_until = Some(now + policy.lockout_duration);
        }
        locks
    }

    /// Returns the temporary password if one is outstanding and unexpired.
    pub fn active_temporary_password(&self, now: DateTime<Utc>) -> Option<&TemporaryPassword> {
        self.temporary_password
            .as_ref()
            .filter(|temporary| now < temporary.expires_at)
    }

    /// Revokes the temporary password if the letter `letter_id` carries it,
    /// and returns whether it did. A newer temporary password stays.
    pub fn revoke_mailed_temporary_password(&mut self, letter_id: &str) -> bool {
        let mailed_in_letter = self.temporary_password.as_ref().is_some_and(|temporary| {
            temporary.channel == TemporaryPasswordChannel::Post
                && temporary.message_id.as_deref() == Some(letter_id)
        });
        if mailed_in_letter {
            self.temporary_password = None;
        }
        mailed_in_letter
    }

    /// Returns where codes go for this account's second factor.
    pub fn second_factor_destination(&self) -> &str {
        match self.second_factor {
            SecondFactor::Email => &self.email,
            SecondFactor::Sms => &self.cell_phone,
        }
    }
}

impl std::fmt::Debug for Account {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Account")
            .field("id", &self.id)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}
/// Records a failed attempt in `failures` and returns whether the failures
/// in the lockout window reach the threshold, clearing them when they do.
/// Accounts and unknown usernames at sign-in lock by this one rule.
pub fn record_lockout_failure(
    failures: &mut EventWindow,
    now: DateTime<Utc>,
    policy: &Policy,
) -> bool {
    failures.record(now, policy.lockout_threshold);
    if failures.count_recent(now, policy.lockout_window) >= policy.lockout_threshold {
        failures.clear();
        return true;
    }
    false
}
