//! Striped mutexes that serialise the steps touching one account (or one
//! rate-limit key), so that check-then-act rules cannot race.
//!
//! A fixed number of stripes keeps memory constant however many accounts a
//! run touches; two keys that share a stripe only wait for each other.

use std::hash::{BuildHasher, Hash};

use tokio::sync::{Mutex, MutexGuard};

const STRIPES: usize = 4096;

pub struct KeyedLocks {
    stripes: Vec<Mutex<()>>,
    hasher: std::collections::hash_map::RandomState,
}

impl Default for KeyedLocks {
    fn default() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            hasher: Default::default(),
        }
    }
}

impl KeyedLocks {
    /// Waits for the lock of `key`'s stripe. Callers hold at most one guard at
    /// a time, so stripes can never deadlock.
    pub async fn lock<K: Hash + ?Sized>(&self, key: &K) -> MutexGuard<'_, ()> {
        let index = (self.hasher.hash_one(key) as usize) % self.stripes.len();
        self.stripes[index].lock().await
    }
}
