//! The in-memory backend, for tests and simulation.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{InsertSummary, PurgeCutoffs, Store, StoreError};
use crate::journeys::account::{Account, AccountId};
use crate::journeys::delivery::{Delivery, DeliveryKey, SentMessage, StatusReport};
use crate::journeys::flow::Flow;
use crate::journeys::notice::PendingNotice;
use crate::journeys::window::EventWindow;

#[derive(Default)]
struct Tables {
    accounts: HashMap<AccountId, Account>,
    by_username: HashMap<String, AccountId>,
    by_ssn: HashMap<String, AccountId>,
    flows: HashMap<String, Flow>,
    sessions: HashMap<String, (AccountId, DateTime<Utc>)>,
    rate_events: HashMap<String, EventWindow>,
    deliveries: HashMap<DeliveryKey, Delivery>,
    /// Pending notices by idempotency key.
    notices: HashMap<String, PendingNotice>,
}

impl Tables {
    /// Counts the records that purging can delete.
    fn record_count(&self) -> usize {
        self.flows.len() + self.rate_events.len() + self.sessions.len() + self.deliveries.len()
    }
}

#[derive(Default)]
pub struct MemoryStore {
    tables: Mutex<Tables>,
}

impl MemoryStore {
    /// Merges a change into the record of `key` while holding the tables' lock.
    fn merge_delivery(
        &self,
        key: &DeliveryKey,
        merge: impl FnOnce(Option<Delivery>) -> Delivery,
    ) -> Delivery {
        let mut tables = self.tables();
        let merged = merge(tables.deliveries.remove(key));
        tables.deliveries.insert(key.clone(), merged.clone());
        merged
    }

    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.tables
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn insert_accounts(&self, accounts: Vec<Account>) -> Result<InsertSummary, StoreError> {
        let mut tables = self.tables();
        let mut summary = InsertSummary::default();
        for mut account in accounts {
            if tables.by_username.contains_key(&account.username_key)
                || tables.by_ssn.contains_key(&account.ssn_digest)
            {
                summary.already_enrolled += 1;
                continue;
            }
            account.id = tables.accounts.len() as AccountId + 1;
            tables
                .by_username
                .insert(account.username_key.clone(), account.id);
            tables.by_ssn.insert(account.ssn_digest.clone(), account.id);
            tables.accounts.insert(account.id, account);
            summary.inserted += 1;
        }
        Ok(summary)
    }

    async fn account(&self, id: AccountId) -> Result<Option<Account>, StoreError> {
        Ok(self.tables().accounts.get(&id).cloned())
    }

    async fn account_by_username(&self, username_key: &str) -> Result<Option<Account>, StoreError> {
        let tables = self.tables();
        Ok(tables
            .by_username
            .get(username_key)
            .and_then(|id| tables.accounts.get(id))
            .cloned())
    }

    async fn account_by_ssn(&self, ssn_digest: &str) -> Result<Option<Account>, StoreError> {
        let tables = self.tables();
        Ok(tables
            .by_ssn
            .get(ssn_digest)
            .and_then(|id| tables.accounts.get(id))
            .cloned())
    }

    async fn save_account(&self, account: &Account) -> Result<(), StoreError> {
        self.tables().accounts.insert(account.id, account.clone());
        Ok(())
    }

    async fn flow(&self, id: &str) -> Result<Option<Flow>, StoreError> {
        Ok(self.tables().flows.get(id).cloned())
    }

    async fn save_flow(&self, flow: &Flow) -> Result<(), StoreError> {
        self.tables().flows.insert(flow.id.clone(), flow.clone());
        Ok(())
    }

    async fn delete_flow(&self, id: &str) -> Result<(), StoreError> {
        self.tables().flows.remove(id);
        Ok(())
    }

    async fn delete_flows_of_account(&self, account_id: AccountId) -> Result<u64, StoreError> {
        let mut tables = self.tables();
        let before = tables.flows.len();
        tables.flows.retain(|_, flow| flow.account_id != account_id);
        Ok((before - tables.flows.len()) as u64)
    }

    async fn insert_session(
        &self,
        token_digest: &str,
        account_id: AccountId,
        created_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.tables()
            .sessions
            .insert(token_digest.to_owned(), (account_id, created_at));
        Ok(())
    }

    async fn session_account(
        &self,
        token_digest: &str,
        created_since: DateTime<Utc>,
    ) -> Result<Option<AccountId>, StoreError> {
        Ok(self
            .tables()
            .sessions
            .get(token_digest)
            .filter(|(_, created_at)| *created_at >= created_since)
            .map(|(account_id, _)| *account_id))
    }

    async fn delete_sessions_of_account(&self, account_id: AccountId) -> Result<u64, StoreError> {
        let mut tables = self.tables();
        let before = tables.sessions.len();
        tables.sessions.retain(|_, (owner, _)| *owner != account_id);
        Ok((before - tables.sessions.len()) as u64)
    }

    async fn rate_events(&self, key: &str) -> Result<EventWindow, StoreError> {
        Ok(self
            .tables()
            .rate_events
            .get(key)
            .cloned()
            .unwrap_or_default())
    }

    async fn save_rate_events(&self, key: &str, events: &EventWindow) -> Result<(), StoreError> {
        let mut tables = self.tables();
        if events.is_empty() {
            tables.rate_events.remove(key);
        } else {
            tables.rate_events.insert(key.to_owned(), events.clone());
        }
        Ok(())
    }

    async fn record_sent_message(&self, sent: &SentMessage) -> Result<Delivery, StoreError> {
        Ok(self.merge_delivery(&sent.key, |existing| {
            Delivery::with_send(existing, sent.clone())
        }))
    }

    async fn record_status_report(&self, report: &StatusReport) -> Result<Delivery, StoreError> {
        Ok(self.merge_delivery(&report.key, |existing| {
            Delivery::with_report(existing, report.clone())
        }))
    }

    async fn delivery(&self, key: &DeliveryKey) -> Result<Option<Delivery>, StoreError> {
        Ok(self.tables().deliveries.get(key).cloned())
    }

    async fn purge(&self, cutoffs: PurgeCutoffs) -> Result<u64, StoreError> {
        let mut tables = self.tables();
        let before = tables.record_count();
        tables
            .flows
            .retain(|_, flow| flow.last_active_at >= cutoffs.flows);
        tables.rate_events.retain(|_, events| {
            events
                .latest()
                .is_some_and(|latest| latest >= cutoffs.rate_events)
        });
        tables
            .sessions
            .retain(|_, (_, created_at)| *created_at >= cutoffs.sessions);
        tables
            .deliveries
            .retain(|_, delivery| delivery.keep_until >= cutoffs.deliveries);
        Ok((before - tables.record_count()) as u64)
    }

    async fn enqueue_notice(&self, notice: &PendingNotice) -> Result<(), StoreError> {
        self.tables()
            .notices
            .entry(notice.idempotency_key.clone())
            .or_insert_with(|| notice.clone());
        Ok(())
    }

    async fn due_notices(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<PendingNotice>, StoreError> {
        let tables = self.tables();
        let mut due: Vec<PendingNotice> = tables
            .notices
            .values()
            .filter(|notice| notice.next_attempt_at <= now)
            .cloned()
            .collect();
        due.sort_by(|a, b| {
            (a.created_at, &a.idempotency_key).cmp(&(b.created_at, &b.idempotency_key))
        });
        due.truncate(limit);
        Ok(due)
    }

    async fn reschedule_notice(&self, notice: &PendingNotice) -> Result<(), StoreError> {
        if let Some(stored) = self.tables().notices.get_mut(&notice.idempotency_key) {
            *stored = notice.clone();
        }
        Ok(())
    }

    async fn delete_notice(&self, idempotency_key: &str) -> Result<(), StoreError> {
        self.tables().notices.remove(idempotency_key);
        Ok(())
    }

    async fn delete_notices_created_before(
        &self,
        cutoff: DateTime<Utc>,
    ) -> Result<Vec<PendingNotice>, StoreError> {
        let mut tables = self.tables();
        let stale: Vec<String> = tables
            .notices
            .values()
            .filter(|notice| notice.created_at < cutoff)
            .map(|notice| notice.idempotency_key.clone())
            .collect();
        Ok(stale
            .iter()
            .filter_map(|key| tables.notices.remove(key))
            .collect())
    }
}
