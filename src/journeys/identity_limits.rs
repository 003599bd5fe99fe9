//! The limits on failed identity checks: at most 5 per identifier and 20 per
//! client address in 15 minutes, counted whether or not an account exists.
//!
//! Failures are stored, so they survive a restart. Attempts in progress are
//! counted in memory against the same limit, so parallel attempts cannot pass
//! it, and a successful check costs no write.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

use super::error::StepError;
use super::locks::KeyedLocks;
use super::policy::Policy;
use crate::store::Store;

/// The prefix of rate-limit keys that name a client address.
const CLIENT_PREFIX: &str = "client:";

pub struct IdentityLimiter {
    store: Arc<dyn Store>,
    locks: KeyedLocks,
    /// Attempts in progress per key; a key is removed when its count is zero.
    in_progress: Mutex<HashMap<String, usize>>,
    window: Duration,
    per_client: usize,
    per_identifier: usize,
}

/// An identity check in progress, counted against its keys until dropped.
/// End it with [`IdentityAttempt::settle`].
pub struct IdentityAttempt<'a> {
    limiter: &'a IdentityLimiter,
    keys: Vec<String>,
}

impl IdentityLimiter {
    pub fn new(store: Arc<dyn Store>, policy: &Policy) -> Self {
        Self {
            store,
            locks: KeyedLocks::default(),
            in_progress: Mutex::new(HashMap::new()),
            window: policy.identity_window,
            per_client: policy.identity_failures_per_client,
            per_identifier: policy.identity_failures_per_account,
        }
    }

    /// Returns the key for a client address.
    pub fn client_key(address: &str) -> String {
        format!("{CLIENT_PREFIX}{address}")
    }

    /// Starts an attempt against every key, or rejects it with `TryLater` when
    /// the failures and attempts in progress of any key reach its limit.
    pub async fn begin(
        &self,
        keys: Vec<String>,
        now: DateTime<Utc>,
    ) -> Result<IdentityAttempt<'_>, StepError> {
        let mut attempt = IdentityAttempt {
            limiter: self,
            keys: Vec::with_capacity(keys.len()),
        };
        for key in keys {
            let limit = if key.starts_with(CLIENT_PREFIX) {
                self.per_client
            } else {
                self.per_identifier
            };
            let _guard = self.locks.lock(key.as_str()).await;
            let mut failures = self.store.rate_events(&key).await?;
            let in_progress = self.counts().get(&key).copied().unwrap_or(0);
            if failures.count_recent(now, self.window) + in_progress >= limit {
                // Dropping `attempt` releases the keys counted so far.
                return Err(StepError::TryLater);
            }
            *self.counts().entry(key.clone()).or_default() += 1;
            attempt.keys.push(key);
        }
        Ok(attempt)
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.in_progress
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl IdentityAttempt<'_> {
    /// Ends the check: a match releases the attempt and is returned, and no
    /// match stores a failure and returns the uniform `CouldNotVerify`.
    pub async fn settle<T>(self, matched: Option<T>, now: DateTime<Utc>) -> Result<T, StepError> {
        match matched {
            Some(value) => Ok(value),
            None => {
                self.fail(now).await?;
                Err(StepError::CouldNotVerify)
            }
        }
    }

    /// Stores a failure against every key of the attempt.
    async fn fail(self, now: DateTime<Utc>) -> Result<(), StepError> {
        let limiter = self.limiter;
        for key in &self.keys {
            let limit = if key.starts_with(CLIENT_PREFIX) {
                limiter.per_client
            } else {
                limiter.per_identifier
            };
            let _guard = limiter.locks.lock(key.as_str()).await;
            let mut failures = limiter.store.rate_events(key).await?;
            failures.count_recent(now, limiter.window);
            failures.record(now, limit);
            limiter.store.save_rate_events(key, &failures).await?;
        }
        Ok(())
    }
}

impl Drop for IdentityAttempt<'_> {
    fn drop(&mut self) {
        let mut counts = self.limiter.counts();
        for key in &self.keys {
            if let Some(count) = counts.get_mut(key) {
                *count -= 1;
                if *count == 0 {
                    counts.remove(key);
                }
            }
        }
    }
}
