//! The storage interface the journeys use, with SQLite and in-memory backends.
//!
//! Records travel whole (an account, a flow); callers serialise the changes
//! to one account with [`crate::journeys::locks::KeyedLocks`], so a backend
//! needs no transactions across calls.

pub mod memory;
pub mod sqlite;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::journeys::account::{Account, AccountId};
use crate::journeys::delivery::{Delivery, DeliveryKey, SentMessage, StatusReport};
use crate::journeys::flow::Flow;
use crate::journeys::notice::PendingNotice;
use crate::journeys::window::EventWindow;

pub use memory::MemoryStore;
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("stored record {key} is not valid JSON: {source}")]
    Corrupt {
        key: String,
        source: serde_json::Error,
    },
}

/// Counts of an enrollment batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InsertSummary {
    pub inserted: usize,
    /// Accounts skipped because their username or SSN was already enrolled.
    pub already_enrolled: usize,
}

/// The times before which idle records are deleted.
#[derive(Debug, Clone, Copy)]
pub struct PurgeCutoffs {
    /// Flows last active before this.
    pub flows: DateTime<Utc>,
    /// Rate-limit keys with no event since this.
    pub rate_events: DateTime<Utc>,
    /// Sessions created before this.
    pub sessions: DateTime<Utc>,
    /// Delivery records whose `keep_until` is before this.
    pub deliveries: DateTime<Utc>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Inserts new accounts, assigning their ids, and skips any whose
    /// username or SSN is already enrolled.
    async fn insert_accounts(&self, accounts: Vec<Account>) -> Result<InsertSummary, StoreError>;
    async fn account(&self, id: AccountId) -> Result<Option<Account>, StoreError>;
    async fn account_by_username(&self, username_key: &str) -> Result<Option<Account>, StoreError>;
    async fn account_by_ssn(&self, ssn_digest: &str) -> Result<Option<Account>, StoreError>;
    async fn save_account(&self, account: &Account) -> Result<(), StoreError>;

    async fn flow(&self, id: &str) -> Result<Option<Flow>, StoreError>;
    async fn save_flow(&self, flow: &Flow) -> Result<(), StoreError>;
    async fn delete_flow(&self, id: &str) -> Result<(), StoreError>;
    /// Deletes every flow of the account and returns how many there were.
    async fn delete_flows_of_account(&self, account_id: AccountId) -> Result<u64, StoreError>;

    async fn insert_session(
        &self,
        token_digest: &str,
        account_id: AccountId,
        created_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Returns the account of a session created at or after `created_since`.
    async fn session_account(
        &self,
        token_digest: &str,
        created_since: DateTime<Utc>,
    ) -> Result<Option<AccountId>, StoreError>;
    /// Deletes every session of the account and returns how many there were.
    async fn delete_sessions_of_account(&self, account_id: AccountId) -> Result<u64, StoreError>;

    /// Returns the recent events of a rate-limit key, such as a client address.
    async fn rate_events(&self, key: &str) -> Result<EventWindow, StoreError>;
    /// Saves the events of a rate-limit key; an empty window deletes the key.
    async fn save_rate_events(&self, key: &str, events: &EventWindow) -> Result<(), StoreError>;

    /// Records a message the provider accepted, merged with any status
    /// report for the same key that arrived first, and returns the record.
    async fn record_sent_message(&self, sent: &SentMessage) -> Result<Delivery, StoreError>;
    /// Records a provider's status report, merged with the record of its key,
    /// and returns the record. A report for an unknown key is kept alone
    /// until the send arrives.
    async fn record_status_report(&self, report: &StatusReport) -> Result<Delivery, StoreError>;
    async fn delivery(&self, key: &DeliveryKey) -> Result<Option<Delivery>, StoreError>;

    /// Deletes the records older than the cutoffs and returns how many went.
    /// Pending notices are not purged: they leave the outbox when sent or
    /// through [`Store::delete_notices_created_before`].
    async fn purge(&self, cutoffs: PurgeCutoffs) -> Result<u64, StoreError>;

    /// Adds a notice to the outbox. A notice whose idempotency key is already
    /// there is left as it was.
    async fn enqueue_notice(&self, notice: &PendingNotice) -> Result<(), StoreError>;
    /// Returns at most `limit` notices whose next attempt is due at `now`,
    /// oldest first.
    async fn due_notices(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<PendingNotice>, StoreError>;
    /// Saves a notice's attempt count and next attempt time after a failed send.
    async fn reschedule_notice(&self, notice: &PendingNotice) -> Result<(), StoreError>;
    /// Deletes the notice with this idempotency key, once it was sent.
    async fn delete_notice(&self, idempotency_key: &str) -> Result<(), StoreError>;
    /// Deletes the notices created before `cutoff` and returns them.
    async fn delete_notices_created_before(
        &self,
        cutoff: DateTime<Utc>,
    ) -> Result<Vec<PendingNotice>, StoreError>;
}
