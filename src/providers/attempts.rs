//! Which message and which attempt a send is: the bookkeeping behind the
//! deterministic draws, with no HTTP or clock, so that the simulator can reuse it.
//!
//! A message is identified by its recipient and its ordinal among the messages
//! accepted for that recipient so far, plus one. Every attempt that does not
//! replay an accepted message, whatever its idempotency key, is the next
//! attempt at that ordinal. So a sender that gives up on a message and sends
//! a new one in its place (a new code after a failed send, say) continues the
//! same sequence of draws. Two runs then draw the same faults even when a
//! wall-clock outage window makes one of them give up where the other did not.
//! A send that repeats the key of an accepted message is a replay.

use std::collections::HashMap;

use super::inbox::{BoundedMap, IDEMPOTENCY_CAPACITY};

/// Idempotency keys and per-recipient draw positions of one provider.
pub struct AttemptBook {
    recipients: HashMap<String, RecipientRecord>,
    keys: BoundedMap<KeyRecord>,
}

#[derive(Default)]
struct RecipientRecord {
    /// Messages accepted for this recipient so far.
    accepted: u64,
    /// Attempts drawn since the last accepted message.
    attempts: u32,
}

struct KeyRecord {
    /// The message the key created, once an attempt was accepted.
    message_id: Option<String>,
}

/// The identity of one send attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The key already created message `id`; nothing is drawn.
    Replay { id: String },
    /// A new attempt, drawn from (`message_ordinal`, `attempt`); `retry` is set
    /// when the attempt repeats a key seen before.
    Draw {
        message_ordinal: u64,
        attempt: u32,
        retry: bool,
    },
}

impl AttemptBook {
    pub fn new() -> Self {
        Self {
            recipients: HashMap::new(),
            keys: BoundedMap::new(IDEMPOTENCY_CAPACITY),
        }
    }

    /// Identifies an attempt to send to `recipient` with an optional
    /// idempotency `key`.
    pub fn begin(&mut self, recipient: &str, key: Option<&str>) -> Attempt {
        let mut retry = false;
        if let Some(record) = key.and_then(|key| self.keys.get_mut(key)) {
            if let Some(id) = &record.message_id {
                return Attempt::Replay { id: id.clone() };
            }
            retry = true;
        } else if let Some(key) = key {
            self.keys
                .insert(key.to_owned(), KeyRecord { message_id: None });
        }

        let position = self.recipients.entry(recipient.to_owned()).or_default();
        position.attempts += 1;
        Attempt::Draw {
            message_ordinal: position.accepted + 1,
            attempt: position.attempts,
            retry,
        }
    }

    /// Records that the attempt just drawn for `recipient` created message
    /// `id`, so that its key replays it and the next message gets the next
    /// ordinal.
    pub fn accept(&mut self, recipient: &str, key: Option<&str>, id: &str) {
        let position = self.recipients.entry(recipient.to_owned()).or_default();
        position.accepted += 1;
        position.attempts = 0;
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
        book.accept("jane", Some("k1"), "SM1");
        assert_eq!(book.begin("jane", Some("k2")), draw(2, 1, false));
        assert_eq!(book.begin("john", Some("k3")), draw(1, 1, false));
    }

    #[test]
    fn replacement_message_continues_attempts() {
        let mut book = AttemptBook::new();
        assert_eq!(book.begin("jane", Some("k1")), draw(1, 1, false));
        assert_eq!(book.begin("jane", Some("k1")), draw(1, 2, true));
        // The sender gave up on k1 and sends a new message in its place.
        assert_eq!(book.begin("jane", Some("k2")), draw(1, 3, false));
        book.accept("jane", Some("k2"), "SM1");
        assert_eq!(book.begin("jane", Some("k3")), draw(2, 1, false));
    }

    #[test]
    fn accepted_key_replays() {
        let mut book = AttemptBook::new();
        book.begin("jane", Some("k1"));
        book.accept("jane", Some("k1"), "SM1");
        assert_eq!(
            book.begin("jane", Some("k1")),
            Attempt::Replay {
                id: "SM1".to_owned()
            }
        );
    }

    #[test]
    fn sends_without_key_are_never_retries() {
        let mut book = AttemptBook::new();
        for ordinal in 1..=3 {
            assert_eq!(book.begin("jane", None), draw(ordinal, 1, false));
            book.accept("jane", None, &format!("SM{ordinal}"));
        }
        assert_eq!(book.begin("jane", None), draw(4, 1, false));
        assert_eq!(book.begin("jane", None), draw(4, 2, false));
    }
}
