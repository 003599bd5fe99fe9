//! The numbers behind the recovery rules, with the contract's defaults.

use chrono::Duration;

/// Limits and lifetimes that the rules enforce.
#[derive(Debug, Clone)]
pub struct Policy {
    pub code_validity: Duration,
    /// Wrong submissions after which a one-time code is void.
    pub code_max_wrong: u32,
    /// Failed code or password attempts per account that lock it.
    pub lockout_threshold: usize,
    pub lockout_window: Duration,
    pub lockout_duration: Duration,
    pub resend_min_interval: Duration,
    pub resends_per_flow_per_hour: usize,
    pub code_messages_per_account_per_hour: usize,
    pub identity_failures_per_account: usize,
    pub identity_failures_per_client: usize,
    pub identity_window: Duration,
    pub postal_temporary_password_validity: Duration,
    pub email_temporary_password_validity: Duration,
    pub flow_idle_timeout: Duration,
    /// How long a session lasts after sign-in.
    pub session_lifetime: Duration,
    /// The terms-of-service version a user accepts at the end of a recovery.
    pub terms_version: u32,
    /// How long a password-changed notice is retried before it is dropped.
    pub notice_give_up_after: Duration,
}

impl Policy {
    /// Returns how long a temporary password sent by `channel` stays valid.
    pub fn temporary_password_validity(
        &self,
        channel: super::account::TemporaryPasswordChannel,
    ) -> Duration {
        match channel {
            super::account::TemporaryPasswordChannel::Post => {
                self.postal_temporary_password_validity
            }
            super::account::TemporaryPasswordChannel::Email => {
                self.email_temporary_password_validity
            }
        }
    }
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            code_validity: Duration::minutes(10),
            code_max_wrong: 3,
            lockout_threshold: 10,
            lockout_window: Duration::minutes(15),
            lockout_duration: Duration::minutes(30),
            resend_min_interval: Duration::seconds(30),
            resends_per_flow_per_hour: 5,
            code_messages_per_account_per_hour: 10,
            identity_failures_per_account: 5,
            identity_failures_per_client: 20,
            identity_window: Duration::minutes(15),
            postal_temporary_password_validity: Duration::days(30),
            email_temporary_password_validity: Duration::hours(24),
            flow_idle_timeout: Duration::minutes(30),
            session_lifetime: Duration::hours(12),
            terms_version: 1,
            notice_give_up_after: Duration::hours(24),
        }
    }
}
