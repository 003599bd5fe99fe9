//! The outbox of password-changed notices. The new-password step stores the
//! notice, and [`Engine::deliver_due_notices`] sends it later, so a step
//! never waits for the email provider, and an outage shorter than the
//! policy's give-up limit (24 hours by default) delays the notice instead of
//! losing it.

use chrono::{DateTime, Utc};
use futures_util::stream::{self, StreamExt};

use super::Engine;
use crate::journeys::account::Account;
use crate::journeys::delivery::{DeliveryChannel, DeliveryKey};
use crate::journeys::notice::PendingNotice;
use crate::store::StoreError;

/// The maximum number of notices that one call to
/// [`Engine::deliver_due_notices`] sends.
const NOTICE_BATCH: usize = 32;
/// The maximum number of a batch's sends in flight at a time, so a provider
/// that times out delays the batch by a few timeouts rather than 32.
const CONCURRENT_NOTICE_SENDS: usize = 8;

impl Engine {
    /// Stores a password-changed notice for the account's email address, due
    /// at once.
    pub(super) async fn enqueue_password_changed_notice(
        &self,
        account: &Account,
        flow_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let notice = PendingNotice::password_changed(account.id, flow_id, &account.email, now);
        self.store.enqueue_notice(&notice).await
    }

    /// Drops the notices older than the policy's give-up limit, then sends up
    /// to 32 due notices, and returns how many the provider accepted. A
    /// failed send is tried again after 1 s, 2 s, 4 s and so on, at most
    /// 60 s, always with the notice's own idempotency key.
    ///
    /// Calls must not overlap: two at once can send the same notice twice,
    /// which only a provider that honours idempotency keys delivers once.
    pub async fn deliver_due_notices(&self) -> Result<usize, StoreError> {
        let now = self.now();
        self.give_up_stale_notices(now).await?;

        let due = self.store.due_notices(now, NOTICE_BATCH).await?;
        let outcomes: Vec<Result<bool, StoreError>> = stream::iter(due)
            .map(|notice| self.deliver_notice(notice))
            .buffer_unordered(CONCURRENT_NOTICE_SENDS)
            .collect()
            .await;
        let mut delivered = 0;
        for outcome in outcomes {
            delivered += usize::from(outcome?);
        }
        Ok(delivered)
    }

    /// Sends one notice and returns whether the provider accepted it. An
    /// accepted notice is recorded as a delivery and leaves the outbox, and a
    /// failed one is rescheduled.
    async fn deliver_notice(&self, mut notice: PendingNotice) -> Result<bool, StoreError> {
        match self.notifier.send_email(notice.email()).await {
            Ok(receipt) => {
                let key = DeliveryKey {
                    channel: DeliveryChannel::Email,
                    provider_id: receipt.id,
                };
                let keep_until = self.now() + self.policy.flow_idle_timeout;
                self.record_notice(&notice, key, keep_until).await;
                self.store.delete_notice(&notice.idempotency_key).await?;
                Ok(true)
            }
            Err(error) => {
                notice.record_failure(self.now());
                tracing::warn!(
                    flow_id = %notice.flow_id,
                    provider = error.provider,
                    attempt = notice.attempts,
                    reason = %error.reason,
                    permanent = error.permanent,
                    next_attempt_at = %notice.next_attempt_at,
                    "password-changed notice not sent; it will be tried again"
                );
                self.store.reschedule_notice(&notice).await?;
                Ok(false)
            }
        }
    }

    async fn give_up_stale_notices(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        let give_up_after = self.policy.notice_give_up_after;
        let stale = self
            .store
            .delete_notices_created_before(now - give_up_after)
            .await?;
        for notice in stale {
            tracing::warn!(
                flow_id = %notice.flow_id,
                account_id = notice.account_id,
                attempts = notice.attempts,
                give_up_after_hours = give_up_after.num_hours(),
                "password-changed notice dropped: the provider did not accept it in time"
            );
        }
        Ok(())
    }
}
