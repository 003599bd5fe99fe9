//! Storage of delivered messages: capped inboxes, bounded idempotency records and
//! delivery counters, shared by the three mock providers.

use std::borrow::Borrow;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
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
        let inbox = self.by_owner.entry(owner).or_default();
        if inbox.len() == INBOX_CAPACITY {
            inbox.pop_front();
        }
        inbox.push_back(Arc::new(message));
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

/// Delivery counts as the `GET /v1/stats` endpoints return them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct Stats {
    pub(crate) sent: u64,
    pub(crate) delivered: u64,
    pub(crate) failed: u64,
    pub(crate) in_transit: u64,
}

/// Atomic delivery counters, so reading stats costs the same at any point of a run.
#[derive(Default)]
pub(crate) struct DeliveryCounters {
    sent: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
    in_transit: AtomicU64,
}

impl DeliveryCounters {
    /// Counts an accepted message that was delivered at once.
    pub(crate) fn record_delivered_at_once(&self) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        self.delivered.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an accepted message that is now in transit.
    pub(crate) fn record_in_transit(&self) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        self.in_transit.fetch_add(1, Ordering::Relaxed);
    }

    /// Moves one message from in transit to delivered.
    pub(crate) fn record_arrival(&self) {
        self.in_transit.fetch_sub(1, Ordering::Relaxed);
        self.delivered.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Stats {
        Stats {
            sent: self.sent.load(Ordering::Relaxed),
            delivered: self.delivered.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            in_transit: self.in_transit.load(Ordering::Relaxed),
        }
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

/// The outcome of a send: the message id and whether an earlier send with the same
/// idempotency key already delivered it.
pub(crate) struct Accepted {
    pub(crate) id: String,
    pub(crate) replayed: bool,
}

/// An instantly delivering message store: the shared core of the email and SMS mocks.
pub(crate) struct MessageStore<M> {
    state: Mutex<MessageStoreState<M>>,
    counters: DeliveryCounters,
    id_prefix: &'static str,
}

struct MessageStoreState<M> {
    inboxes: Inboxes<String, M>,
    ids_by_idempotency_key: BoundedMap<String>,
    next_sequence: u64,
}

impl<M> MessageStore<M> {
    /// Creates an empty store whose message ids start with `id_prefix`, such as "em_".
    pub(crate) fn new(id_prefix: &'static str) -> Self {
        Self {
            state: Mutex::new(MessageStoreState {
                inboxes: Inboxes::new(),
                ids_by_idempotency_key: BoundedMap::new(IDEMPOTENCY_CAPACITY),
                next_sequence: 1,
            }),
            counters: DeliveryCounters::default(),
            id_prefix,
        }
    }

    /// Delivers the message that `build` makes from a new id into `owner`'s inbox.
    ///
    /// When `idempotency_key` was seen before, returns the first message's id and
    /// delivers nothing.
    pub(crate) fn deliver(
        &self,
        owner: String,
        idempotency_key: Option<String>,
        build: impl FnOnce(&str) -> M,
    ) -> Accepted {
        let mut state = lock(&self.state);

        if let Some(key) = &idempotency_key {
            if let Some(id) = state.ids_by_idempotency_key.get(key) {
                return Accepted {
                    id: id.clone(),
                    replayed: true,
                };
            }
        }

        let id = format!("{}{:016x}", self.id_prefix, state.next_sequence);
        state.next_sequence += 1;
        state.inboxes.push(owner, build(&id));
        if let Some(key) = idempotency_key {
            state.ids_by_idempotency_key.insert(key, id.clone());
        }
        self.counters.record_delivered_at_once();
        Accepted {
            id,
            replayed: false,
        }
    }

    /// Returns the messages delivered to `owner`, oldest first.
    pub(crate) fn messages(&self, owner: &str) -> Vec<Arc<M>> {
        lock(&self.state).inboxes.messages(owner)
    }

    pub(crate) fn stats(&self) -> Stats {
        self.counters.snapshot()
    }
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

    #[test]
    fn store_delivers_once_per_key() {
        let store = MessageStore::new("t_");
        let first = store.deliver("jane".to_owned(), Some("k1".to_owned()), |id| id.to_owned());
        let second = store.deliver("jane".to_owned(), Some("k1".to_owned()), |id| id.to_owned());
        let third = store.deliver("jane".to_owned(), None, |id| id.to_owned());

        assert!(!first.replayed);
        assert!(second.replayed);
        assert_eq!(second.id, first.id);
        assert_ne!(third.id, first.id);
        assert_eq!(store.messages("jane").len(), 2);
        assert_eq!(
            store.stats(),
            Stats {
                sent: 2,
                delivered: 2,
                failed: 0,
                in_transit: 0
            }
        );
    }

    #[test]
    fn store_ids_have_prefix_and_hex() {
        let store = MessageStore::new("em_");
        let accepted = store.deliver("jane".to_owned(), None, |_| ());
        let hex = accepted.id.strip_prefix("em_").expect("prefix");
        assert_eq!(hex.len(), 16);
        assert!(hex.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
