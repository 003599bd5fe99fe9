//! Delivery records: what each send recorded, the providers' status reports,
//! and the flow status that shows both.

use chrono::{DateTime, Utc};

use super::Engine;
use crate::journeys::account::Account;
use crate::journeys::delivery::{
    Delivery, DeliveryContent, DeliveryKey, DeliveryStatus, SentMessage, StatusReport,
};
use crate::journeys::error::StepError;
use crate::journeys::flow::Flow;
use crate::journeys::notice::PendingNotice;
use crate::journeys::response::FlowStatus;

impl Engine {
    /// Stores a provider's status report for one of its messages, whether or
    /// not the send is recorded yet, and revokes the temporary password of a
    /// letter reported returned to sender.
    pub async fn record_status_report(
        &self,
        key: DeliveryKey,
        status: DeliveryStatus,
        error_code: Option<String>,
    ) -> Result<(), StepError> {
        let now = self.now();
        let report = StatusReport {
            key,
            status,
            error_code,
            reported_at: now,
            // A report that no send claims is kept as long as an idle flow.
            keep_until: now + self.policy.flow_idle_timeout,
        };
        let delivery = self.store.record_status_report(&report).await?;
        if !delivery.revokes_temporary_password() {
            return Ok(());
        }
        let Some(send) = &delivery.send else {
            return Ok(());
        };

        let _guard = self.account_locks.lock(&send.account_id).await;
        let Some(mut account) = self.store.account(send.account_id).await? else {
            return Ok(());
        };
        if revoke_returned_temporary_password(&mut account, &delivery) {
            self.store.save_account(&account).await?;
        }
        Ok(())
    }

    /// Returns the flow's next step, last delivery and what it allows now.
    /// It does not mark the flow active, so watching a flow does not keep it
    /// alive.
    pub async fn flow_status(&self, flow_id: &str) -> Result<FlowStatus, StepError> {
        let now = self.now();
        let (flow, account) = self.flow_and_account(flow_id).await?;
        if flow.is_expired(now, &self.policy) {
            return Err(StepError::FlowNotFound);
        }
        let last = self.last_delivery(&flow).await?;
        Ok(flow.status(&account, last.as_ref(), now, &self.policy))
    }

    /// Returns the record of the flow's last code or temporary password.
    pub(super) async fn last_delivery(&self, flow: &Flow) -> Result<Option<Delivery>, StepError> {
        match &flow.last_delivery {
            Some(key) => Ok(self.store.delivery(key).await?),
            None => Ok(None),
        }
    }

    pub(super) async fn last_delivery_status(
        &self,
        flow: &Flow,
    ) -> Result<Option<DeliveryStatus>, StepError> {
        Ok(self
            .last_delivery(flow)
            .await?
            .map(|delivery| delivery.status))
    }

    /// Records a message of `flow` that the provider accepted and returns its
    /// record, with the status of any report that arrived first.
    pub(super) async fn record_sent(
        &self,
        flow: &Flow,
        key: DeliveryKey,
        content: DeliveryContent,
        keep_until: DateTime<Utc>,
    ) -> Result<Delivery, StepError> {
        let sent = SentMessage {
            key,
            flow_id: flow.id.clone(),
            account_id: flow.account_id,
            content,
            sent_at: self.now(),
            keep_until,
        };
        Ok(self.store.record_sent_message(&sent).await?)
    }

    /// Records a notice the provider accepted. A store failure is only
    /// logged, because the notice went out.
    pub(super) async fn record_notice(
        &self,
        notice: &PendingNotice,
        key: DeliveryKey,
        keep_until: DateTime<Utc>,
    ) {
        let sent = SentMessage {
            key,
            flow_id: notice.flow_id.clone(),
            account_id: notice.account_id,
            content: DeliveryContent::Notice,
            sent_at: self.now(),
            keep_until,
        };
        if let Err(error) = self.store.record_sent_message(&sent).await {
            tracing::warn!(flow_id = %notice.flow_id, error = %error, cause = ?std::error::Error::source(&error), "notice delivery not recorded");
        }
    }
}

/// Revokes the account's temporary password if `delivery` is its returned
/// letter, logging the revocation, and returns whether it did.
pub(super) fn revoke_returned_temporary_password(
    account: &mut Account,
    delivery: &Delivery,
) -> bool {
    if !delivery.revokes_temporary_password()
        || !account.revoke_mailed_temporary_password(&delivery.key.provider_id)
    {
        return false;
    }
    tracing::info!(
        account_id = account.id,
        letter_id = %delivery.key.provider_id,
        "temporary password revoked because its letter was returned"
    );
    true
}
