//! The SQLite backend: one file in WAL mode, schema kept by sqlx migrations.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use super::{InsertSummary, PurgeCutoffs, Store, StoreError};
use crate::journeys::account::{Account, AccountId};
use crate::journeys::delivery::{Delivery, DeliveryKey, SentMessage, StatusReport};
use crate::journeys::flow::Flow;
use crate::journeys::notice::PendingNotice;
use crate::journeys::window::EventWindow;

/// Reads go through a pool of connections and writes through one connection.
/// SQLite admits one writer at a time, so a second writing connection would
/// only wait in SQLite's busy handler, which sleeps in steps of milliseconds.
pub struct SqliteStore {
    pool: SqlitePool,
    writer: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and migrates it.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        Self::connect(options).await
    }

    /// Opens a private in-memory SQLite database, for tests of the SQL itself.
    pub async fn open_in_memory() -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?;
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self {
            writer: pool.clone(),
            pool,
        })
    }

    async fn connect(options: SqliteConnectOptions) -> Result<Self, StoreError> {
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations").run(&writer).await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        Ok(Self { pool, writer })
    }

    async fn fetch_json<T: DeserializeOwned>(
        &self,
        sql: &str,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        let row = sqlx::query(sql)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| decode(key, row.get::<&str, _>("data")))
            .transpose()
    }
}

impl SqliteStore {
    /// Reads the record of `key`, merges a change into it and writes it back,
    /// in one transaction on the single writer connection, so a send and a
    /// status report for the same message cannot overwrite each other.
    async fn merge_delivery(
        &self,
        key: &DeliveryKey,
        merge: impl FnOnce(Option<Delivery>) -> Delivery,
    ) -> Result<Delivery, StoreError> {
        let mut transaction = self.writer.begin().await?;
        let row = sqlx::query("SELECT data FROM deliveries WHERE channel = ? AND provider_id = ?")
            .bind(key.channel.name())
            .bind(&key.provider_id)
            .fetch_optional(&mut *transaction)
            .await?;
        let existing = row
            .map(|row| decode(&delivery_label(key), row.get::<&str, _>("data")))
            .transpose()?;
        let merged = merge(existing);
        sqlx::query(
            "INSERT INTO deliveries (channel, provider_id, keep_until, data) VALUES (?, ?, ?, ?) \
             ON CONFLICT (channel, provider_id) DO UPDATE SET keep_until = excluded.keep_until, data = excluded.data",
        )
        .bind(key.channel.name())
        .bind(&key.provider_id)
        .bind(merged.keep_until.timestamp())
        .bind(encode(&merged))
        .execute(&mut *transaction)
        .await?;
        transaction.commit().await?;
        Ok(merged)
    }
}

fn delivery_label(key: &DeliveryKey) -> String {
    format!("delivery {} {}", key.channel.name(), key.provider_id)
}

fn decode<T: DeserializeOwned>(key: &str, json: &str) -> Result<T, StoreError> {
    serde_json::from_str(json).map_err(|source| StoreError::Corrupt {
        key: key.to_owned(),
        source,
    })
}

fn encode<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("records serialise to JSON")
}

#[async_trait]
impl Store for SqliteStore {
    async fn insert_accounts(&self, accounts: Vec<Account>) -> Result<InsertSummary, StoreError> {
        let mut summary = InsertSummary::default();
        let mut transaction = self.writer.begin().await?;
        for mut account in accounts {
            let id: Option<i64> = sqlx::query_scalar(
                "INSERT INTO accounts (username_key, ssn_digest, data) VALUES (?, ?, '{}') \
                 ON CONFLICT DO NOTHING RETURNING id",
            )
            .bind(&account.username_key)
            .bind(&account.ssn_digest)
            .fetch_optional(&mut *transaction)
            .await?;
            let Some(id) = id else {
                summary.already_enrolled += 1;
                continue;
            };
            account.id = id;
            sqlx::query("UPDATE accounts SET data = ? WHERE id = ?")
                .bind(encode(&account))
                .bind(id)
                .execute(&mut *transaction)
                .await?;
            summary.inserted += 1;
        }
        transaction.commit().await?;
        Ok(summary)
    }

    async fn account(&self, id: AccountId) -> Result<Option<Account>, StoreError> {
        let row = sqlx::query("SELECT data FROM accounts WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| decode(&format!("account {id}"), row.get::<&str, _>("data")))
            .transpose()
    }

    async fn account_by_username(&self, username_key: &str) -> Result<Option<Account>, StoreError> {
        self.fetch_json(
            "SELECT data FROM accounts WHERE username_key = ?",
            username_key,
        )
        .await
    }

    async fn account_by_ssn(&self, ssn_digest: &str) -> Result<Option<Account>, StoreError> {
        self.fetch_json("SELECT data FROM accounts WHERE ssn_digest = ?", ssn_digest)
            .await
    }

    async fn save_account(&self, account: &Account) -> Result<(), StoreError> {
        sqlx::query("UPDATE accounts SET data = ? WHERE id = ?")
            .bind(encode(account))
            .bind(account.id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn flow(&self, id: &str) -> Result<Option<Flow>, StoreError> {
        self.fetch_json("SELECT data FROM flows WHERE id = ?", id)
            .await
    }

    async fn save_flow(&self, flow: &Flow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO flows (id, account_id, last_active_at, data) VALUES (?, ?, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET last_active_at = excluded.last_active_at, data = excluded.data",
        )
        .bind(&flow.id)
        .bind(flow.account_id)
        .bind(flow.last_active_at.timestamp())
        .bind(encode(flow))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn delete_flow(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM flows WHERE id = ?")
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn delete_flows_of_account(&self, account_id: AccountId) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM flows WHERE account_id = ?")
            .bind(account_id)
            .execute(&self.writer)
            .await?;
        Ok(result.rows_affected())
    }

    async fn insert_session(
        &self,
        token_digest: &str,
        account_id: AccountId,
        created_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO sessions (token_digest, account_id, created_at) VALUES (?, ?, ?)")
            .bind(token_digest)
            .bind(account_id)
            .bind(created_at.timestamp())
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn session_account(
        &self,
        token_digest: &str,
        created_since: DateTime<Utc>,
    ) -> Result<Option<AccountId>, StoreError> {
        let id = sqlx::query_scalar(
            "SELECT account_id FROM sessions WHERE token_digest = ? AND created_at >= ?",
        )
        .bind(token_digest)
        .bind(created_since.timestamp())
        .fetch_optional(&self.pool)
        .await?;
        Ok(id)
    }

    async fn delete_sessions_of_account(&self, account_id: AccountId) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM sessions WHERE account_id = ?")
            .bind(account_id)
            .execute(&self.writer)
            .await?;
        Ok(result.rows_affected())
    }

    async fn rate_events(&self, key: &str) -> Result<EventWindow, StoreError> {
        Ok(self
            .fetch_json("SELECT data FROM rate_events WHERE key = ?", key)
            .await?
            .unwrap_or_default())
    }

    async fn save_rate_events(&self, key: &str, events: &EventWindow) -> Result<(), StoreError> {
        let Some(latest) = events.latest() else {
            sqlx::query("DELETE FROM rate_events WHERE key = ?")
                .bind(key)
                .execute(&self.writer)
                .await?;
            return Ok(());
        };
        sqlx::query(
            "INSERT INTO rate_events (key, latest_at, data) VALUES (?, ?, ?) \
             ON CONFLICT (key) DO UPDATE SET latest_at = excluded.latest_at, data = excluded.data",
        )
        .bind(key)
        .bind(latest.timestamp())
        .bind(encode(events))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn record_sent_message(&self, sent: &SentMessage) -> Result<Delivery, StoreError> {
        self.merge_delivery(&sent.key, |existing| {
            Delivery::with_send(existing, sent.clone())
        })
        .await
    }

    async fn record_status_report(&self, report: &StatusReport) -> Result<Delivery, StoreError> {
        self.merge_delivery(&report.key, |existing| {
            Delivery::with_report(existing, report.clone())
        })
        .await
    }

    async fn delivery(&self, key: &DeliveryKey) -> Result<Option<Delivery>, StoreError> {
        let row = sqlx::query("SELECT data FROM deliveries WHERE channel = ? AND provider_id = ?")
            .bind(key.channel.name())
            .bind(&key.provider_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| decode(&delivery_label(key), row.get::<&str, _>("data")))
            .transpose()
    }

    async fn purge(&self, cutoffs: PurgeCutoffs) -> Result<u64, StoreError> {
        let mut purged = 0;
        for (sql, cutoff) in [
            ("DELETE FROM flows WHERE last_active_at < ?", cutoffs.flows),
            (
                "DELETE FROM rate_events WHERE latest_at < ?",
                cutoffs.rate_events,
            ),
            (
                "DELETE FROM sessions WHERE created_at < ?",
                cutoffs.sessions,
            ),
            (
                "DELETE FROM deliveries WHERE keep_until < ?",
                cutoffs.deliveries,
            ),
        ] {
            let result = sqlx::query(sql)
                .bind(cutoff.timestamp())
                .execute(&self.writer)
                .await?;
            purged += result.rows_affected();
        }
        Ok(purged)
    }

    async fn enqueue_notice(&self, notice: &PendingNotice) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO notices (idempotency_key, created_at, next_attempt_at, data) VALUES (?, ?, ?, ?) \
             ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .bind(&notice.idempotency_key)
        .bind(notice.created_at.timestamp_millis())
        .bind(notice.next_attempt_at.timestamp_millis())
        .bind(encode(notice))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn due_notices(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<PendingNotice>, StoreError> {
        let rows = sqlx::query(
            "SELECT idempotency_key, data FROM notices WHERE next_attempt_at <= ? \
             ORDER BY created_at, idempotency_key LIMIT ?",
        )
        .bind(now.timestamp_millis())
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(decode_notice).collect()
    }

    async fn reschedule_notice(&self, notice: &PendingNotice) -> Result<(), StoreError> {
        sqlx::query("UPDATE notices SET next_attempt_at = ?, data = ? WHERE idempotency_key = ?")
            .bind(notice.next_attempt_at.timestamp_millis())
            .bind(encode(notice))
            .bind(&notice.idempotency_key)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn delete_notice(&self, idempotency_key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM notices WHERE idempotency_key = ?")
            .bind(idempotency_key)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn delete_notices_created_before(
        &self,
        cutoff: DateTime<Utc>,
    ) -> Result<Vec<PendingNotice>, StoreError> {
        let rows =
            sqlx::query("DELETE FROM notices WHERE created_at < ? RETURNING idempotency_key, data")
                .bind(cutoff.timestamp_millis())
                .fetch_all(&self.writer)
                .await?;
        rows.iter().map(decode_notice).collect()
    }
}

fn decode_notice(row: &sqlx::sqlite::SqliteRow) -> Result<PendingNotice, StoreError> {
    let key = format!("notice {}", row.get::<&str, _>("idempotency_key"));
    decode(&key, row.get::<&str, _>("data"))
}
