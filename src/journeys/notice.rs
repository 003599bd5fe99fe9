//! The "your password was changed" email and its outbox record. The
//! new-password step stores the record, and each attempt builds the email
//! from it, so the store contains the recipient address and no message text.

use chrono::{DateTime, Duration, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::account::AccountId;
use super::notifier::EmailMessage;
use super::secrets;

/// The wait after the first failed attempt, in seconds. Each later failure
/// doubles it, up to [`MAX_RETRY_DELAY_SECONDS`].
const FIRST_RETRY_DELAY_SECONDS: i64 = 1;
const MAX_RETRY_DELAY_SECONDS: i64 = 60;

pub const PASSWORD_CHANGED_SUBJECT: &str = "Your password was changed";
const PASSWORD_CHANGED_TEXT: &str =
    "The password of your account was changed. If you did not change it, call us at once.";

/// A password-changed notice that the email provider has not accepted yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingNotice {
    /// The key sent with every attempt, so that a provider that honours it
    /// delivers the notice once even if an earlier attempt's response was
    /// lost after the provider accepted it.
    pub idempotency_key: String,
    pub account_id: AccountId,
    /// The flow whose new-password step changed the password.
    pub flow_id: String,
    /// The account's email address at the time of the change.
    pub recipient: String,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
    /// Failed send attempts so far.
    pub attempts: u32,
}

impl PendingNotice {
    /// Creates a notice that is due at once. The key starts with the flow id,
    /// which the provider clients log as `flow_id`.
    pub fn password_changed(
        account_id: AccountId,
        flow_id: &str,
        recipient: &str,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            idempotency_key: format!("{flow_id}:password-changed:{}", secrets::opaque_id()),
            account_id,
            flow_id: flow_id.to_owned(),
            recipient: recipient.to_owned(),
            created_at: now,
            next_attempt_at: now,
            attempts: 0,
        }
    }

    /// Builds the email with the notice's own idempotency key.
    pub fn email(&self) -> EmailMessage {
        EmailMessage {
            to: self.recipient.clone(),
            subject: PASSWORD_CHANGED_SUBJECT.to_owned(),
            text: SecretString::from(PASSWORD_CHANGED_TEXT.to_owned()),
            idempotency_key: self.idempotency_key.clone(),
        }
    }

    /// Counts a failed attempt and schedules the next one after
    /// [`retry_delay`].
    pub fn record_failure(&mut self, now: DateTime<Utc>) {
        self.attempts += 1;
        self.next_attempt_at = now + retry_delay(self.attempts);
    }
}

/// Returns the wait after `failed_attempts` failures: 1 s, 2 s, 4 s and so
/// on, at most 60 s.
pub fn retry_delay(failed_attempts: u32) -> Duration {
    let doublings = failed_attempts.saturating_sub(1).min(16);
    let seconds = FIRST_RETRY_DELAY_SECONDS << doublings;
    Duration::seconds(seconds.min(MAX_RETRY_DELAY_SECONDS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_doubles_up_to_a_minute() {
        let expected_seconds = [
            (1, 1),
            (2, 2),
            (3, 4),
            (6, 32),
            (7, 60),
            (8, 60),
            (1000, 60),
        ];
        for (failures, seconds) in expected_seconds {
            assert_eq!(
                retry_delay(failures),
                Duration::seconds(seconds),
                "delay after {failures} failures"
            );
        }
    }

    #[test]
    fn notice_keeps_its_key_across_failures() {
        let start = DateTime::<Utc>::UNIX_EPOCH;
        let mut notice = PendingNotice::password_changed(7, "f1", "ana@example.org", start);
        let first_key = notice.email().idempotency_key;

        notice.record_failure(start);
        notice.record_failure(start + Duration::seconds(1));

        assert_eq!(notice.attempts, 2);
        assert_eq!(
            notice.next_attempt_at,
            start + Duration::seconds(3),
            "the second retry waits 2 s after the second failure"
        );
        assert_eq!(notice.email().idempotency_key, first_key);
        assert!(first_key.starts_with("f1:password-changed:"));
    }
}
