//! Storage of delivered messages: capped inboxes, bounded idempotency records and
//! delivery counters, shared by the three mock providers.

use std::borrow::Borrow;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::{Serialize, Serializer};

/// Maximum number of messages one inbox, handset or letterbox keeps. A new message
/// beyond it drops the oldest.
pub const INBOX_CAPACITY: usize = 1_000;

/// Maximum number of idempotency keys (and of postal letter statuses) kept. Beyond
/// it the oldest key is dropped, and a send that repeats that key delivers again.
pub const IDEMPOTENCY_CAPACITY: usize = 100_000;

/// Locks `mutex` even if a thread panicked while holding it, so that one failed
/// request does not fail every later one. The data may then lack part of that
/// request's update.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Delivered messages by owner (an address, a number or a letterbox), oldest first,
/// at most [`INBOX_CAPACITY`] per owner.
pub(crate) struct Inboxes<K, M> {
    by_owner: HashMap<K, VecDeque<Arc<M>>>,
}

impl<K: Hash + Eq, M> Inboxes<K, M> {
    pub(crate) fn new() -> Self {
        Self {
            by_owner: HashMap::new(),
        }
    }

    /// Appends `message` to the owner's inbox and drops the oldest one if it is full.
    pub(crate) fn push(&mut self, owner: K, message: M) {
        self.push_shared(owner, Arc::new(message));
    }

    /// Appends a shared message to the owner's inbox and drops the oldest one if it
    /// is full.
    pub(crate) fn push_shared(&mut self, owner: K, message: Arc<M>) {
        let inbox = self.by_owner.entry(owner).or_default();
        if inbox.len() == INBOX_CAPACITY {
            inbox.pop_front();
        }
        inbox.push_back(message);
    }

    /// Returns the owner's messages, oldest first, or none for an unknown owner.
    pub(crate) fn messages<Q>(&self, owner: &Q) -> Vec<Arc<M>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.by_owner
            .get(owner)
            .map(|inbox| inbox.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// A map from string keys to values that drops its oldest entry when a new one
/// would exceed `capacity`.
pub(crate) struct BoundedMap<V> {
    entries: HashMap<String, V>,
    insertion_order: VecDeque<String>,
    capacity: usize,
}

impl<V> BoundedMap<V> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            insertion_order: VecDeque::new(),
            capacity,
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&V> {
        self.entries.get(key)
    }

    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.entries.get_mut(key)
    }

    /// Inserts a new key, forgetting the oldest entry when full. The caller checks
    /// with [`Self::get`] first, so keys are never inserted twice.
    pub(crate) fn insert(&mut self, key: String, value: V) {
        if self.insertion_order.len() == self.capacity {
            if let Some(oldest) = self.insertion_order.pop_front() {
                self.entries.remove(&oldest);
            }
        }
        self.insertion_order.push_back(key.clone());
        self.entries.insert(key, value);
    }
}

/// Serializes a list of shared messages as a JSON array of the messages.
///
/// serde implements `Serialize` for `Arc` only with its `rc` feature, which this
/// crate does not enable.
pub(crate) fn serialize_shared<M: Serialize, S: Serializer>(
    messages: &[Arc<M>],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(messages.iter().map(|message| &**message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbox_drops_oldest_beyond_capacity() {
        let mut inboxes = Inboxes::new();
        for n in 0..INBOX_CAPACITY + 5 {
            inboxes.push("jane", n);
        }
        let kept: Vec<usize> = inboxes.messages("jane").iter().map(|n| **n).collect();
        assert_eq!(kept.len(), INBOX_CAPACITY);
        assert_eq!(kept.first(), Some(&5));
        assert_eq!(kept.last(), Some(&(INBOX_CAPACITY + 4)));
    }

    #[test]
    fn unknown_owner_has_empty_inbox() {
        let inboxes: Inboxes<&str, u32> = Inboxes::new();
        assert!(inboxes.messages("nobody").is_empty());
    }

    #[test]
    fn bounded_map_forgets_oldest() {
        let mut map = BoundedMap::new(2);
        map.insert("a".to_owned(), 1);
        map.insert("b".to_owned(), 2);
        map.insert("c".to_owned(), 3);
        assert_eq!(map.get("a"), None);
        assert_eq!(map.get("b"), Some(&2));
        assert_eq!(map.get("c"), Some(&3));
    }
}
