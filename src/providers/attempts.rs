//! Which message and which attempt a send is: the bookkeeping behind the
//! deterministic draws, with no HTTP or clock, so that the simulator can reuse it.
//!
//! A message is identified by its recipient and its ordinal among the distinct
//! messages to that recipient. A send with a new idempotency key, or without one,
//! is a new message. A send that repeats a key is another attempt at the same
//! message, or a replay once an attempt created the message.

use std::collections::HashMap;

use super::inbox::{BoundedMap, IDEMPOTENCY_CAPACITY};

/// Idempotency keys and message ordinals of one provider.
pub struct AttemptBook {
    /// Distinct messages sent to each canonical recipient so far.
    ordinals: HashMap<String, u64>,
    keys: BoundedMap<KeyRecord>,
}

struct KeyRecord {
    message_ordinal: u64,
    attempts: u32,
    /// The message the key created, once an attempt was accepted.
    message_id: Option<String>,
}

/// The identity of one send attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The key already created message `id`; nothing is drawn.
    Replay { id: String },
    /// An attempt to draw for: message `message_ordinal` to the recipient, attempt
    /// `attempt` (1-based) of its key. `retry` is true when the key was known.
    Draw {
        message_ordinal: u64,
        attempt: u32,
        retry: bool,
    },
}

impl AttemptBook {
    /// Creates an empty book that remembers the latest [`IDEMPOTENCY_CAPACITY`] keys.
    pub fn new() -> Self {
        Self {
            ordinals: HashMap::new(),
            keys: BoundedMap::new(IDEMPOTENCY_CAPACITY),
        }
    }

    /// Identifies a send to `recipient` (canonical form) with an optional key, and
    /// records it.
    pub fn begin(&mut self, recipient: &str, key: Option<&str>) -> Attempt {
        if let Some(record) = key.and_then(|key| self.keys.get_mut(key)) {
            if let Some(id) = &record.message_id {
                return Attempt::Replay { id: id.clone() };
            }
            record.attempts += 1;
            return Attempt::Draw {
                message_ordinal: record.message_ordinal,
                attempt: record.attempts,
                retry: true,
            };
        }

        let ordinal = self.ordinals.entry(recipient.to_owned()).or_insert(0);
        *ordinal += 1;
        let message_ordinal = *ordinal;
        if let Some(key) = key {
            let record = KeyRecord {
                message_ordinal,
                attempts: 1,
                message_id: None,
            };
            self.keys.insert(key.to_owned(), record);
        }
        Attempt::Draw {
            message_ordinal,
            attempt: 1,
            retry: false,
        }
    }

    /// Records that the attempt with `key` created message `id`, so that later
    /// attempts with the key replay it.
    pub fn accept(&mut self, key: Option<&str>, id: &str) {
        if let Some(record) = key.and_then(|key| self.keys.get_mut(key)) {
            record.message_id = Some(id.to_owned());
        }
    }
}

impl Default for AttemptBook {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draw(message_ordinal: u64, attempt: u32, retry: bool) -> Attempt {
        Attempt::Draw {
            message_ordinal,
            attempt,
            retry,
        }
    }

    #[test]
    fn retries_share_message_ordinal() {
        let mut book = AttemptBook::new();
        assert_eq!(book.begin("jane", Some("k1")), draw(1, 1, false));
        assert_eq!(book.begin("jane", Some("k1")), draw(1, 2, true));
        assert_eq!(book.begin("jane", Some("k2")), draw(2, 1, false));
        assert_eq!(book.begin("john", Some("k3")), draw(1, 1, false));
    }

    #[test]
    fn accepted_key_replays() {
        let mut book = AttemptBook::new();
        book.begin("jane", Some("k1"));
        book.accept(Some("k1"), "SM1");
        assert_eq!(
            book.begin("jane", Some("k1")),
            Attempt::Replay {
                id: "SM1".to_owned()
            }
        );
    }

    #[test]
    fn sends_without_key_are_new_messages() {
        let mut book = AttemptBook::new();
        for ordinal in 1..=3 {
            assert_eq!(book.begin("jane", None), draw(ordinal, 1, false));
        }
        book.accept(None, "SM1");
        assert_eq!(book.begin("jane", None), draw(4, 1, false));
    }
}
