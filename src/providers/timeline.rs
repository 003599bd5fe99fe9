//! Scheduled deliveries and status changes: a min-heap by due time, and the timer
//! task that applies them when they fall due.
//!
//! Reads apply due events too, so a read never shows a state older than its own
//! time even if the timer task runs late. The timer task sends status callbacks
//! on time even when no request reads.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::{Arc, Weak};

use tokio::sync::{watch, Notify};
use tokio::time::Instant;

/// Events waiting for their due time, earliest first, ties in scheduling order.
pub(crate) struct Timeline<E> {
    heap: BinaryHeap<Scheduled<E>>,
    next_sequence: u64,
}

struct Scheduled<E> {
    due: Instant,
    sequence: u64,
    event: E,
}

impl<E> Timeline<E> {
    pub(crate) fn new() -> Self {
        Self {
            heap: BinaryHeap::new(),
            next_sequence: 0,
        }
    }

    pub(crate) fn push(&mut self, due: Instant, event: E) {
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        self.heap.push(Scheduled {
            due,
            sequence,
            event,
        });
    }

    /// Removes and returns the earliest event due at `now`, with its due time.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, E)> {
        if self.heap.peek()?.due > now {
            return None;
        }
        self.heap
            .pop()
            .map(|scheduled| (scheduled.due, scheduled.event))
    }

    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.heap.peek().map(|scheduled| scheduled.due)
    }
}

impl<E> Ord for Scheduled<E> {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed, because BinaryHeap is a max-heap.
        (other.due, other.sequence).cmp(&(self.due, self.sequence))
    }
}

impl<E> PartialOrd for Scheduled<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<E> PartialEq for Scheduled<E> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl<E> Eq for Scheduled<E> {}

/// A mock whose scheduled events a timer task can apply.
pub(crate) trait Advance: Send + Sync + 'static {
    /// Applies every event due at `now` and returns when the next one falls due.
    fn advance(&self, now: Instant) -> Option<Instant>;

    /// Returns the notifier that the mock wakes when it schedules an event.
    fn schedule_changed(&self) -> Arc<Notify>;
}

/// Shares `mock` and, inside a Tokio runtime, spawns its timer task. Outside one
/// (plain unit tests) events are applied only when a request reads.
pub(crate) fn share_with_timer<M: Advance>(mock: M, stop: watch::Receiver<bool>) -> Arc<M> {
    let mock = Arc::new(mock);
    if tokio::runtime::Handle::try_current().is_ok() {
        spawn_timer(&mock, stop);
    }
    mock
}

/// Spawns the task that applies `mock`'s events as they fall due. It ends when
/// `stop` turns true or the mock is dropped.
fn spawn_timer<M: Advance>(mock: &Arc<M>, mut stop: watch::Receiver<bool>) {
    let weak: Weak<M> = Arc::downgrade(mock);
    let notify = mock.schedule_changed();
    tokio::spawn(async move {
        loop {
            // Listen before advancing, so that an event scheduled meanwhile wakes us.
            let changed = notify.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let next = match weak.upgrade() {
                Some(mock) => mock.advance(Instant::now()),
                None => return,
            };
            let sleep = async {
                match next {
                    Some(due) => tokio::time::sleep_until(due).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = sleep => {}
                () = changed => {}
                () = stopped(&mut stop) => return,
            }
        }
    });
}

/// Waits until `stop` turns true or its sender is dropped.
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the sender is gone, which also ends the mocks.
    let _ = stop.wait_for(|stopped| *stopped).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn events_come_out_in_due_order() {
        let start = Instant::now();
        let mut timeline = Timeline::new();
        timeline.push(start + Duration::from_secs(3), "c");
        timeline.push(start + Duration::from_secs(1), "a");
        timeline.push(start + Duration::from_secs(1), "b");
        assert_eq!(timeline.next_due(), Some(start + Duration::from_secs(1)));
        assert_eq!(timeline.pop_due(start), None);
        let due: Vec<&str> =
            std::iter::from_fn(|| timeline.pop_due(start + Duration::from_secs(2)))
                .map(|(_, event)| event)
                .collect();
        assert_eq!(due, ["a", "b"]);
        assert_eq!(timeline.next_due(), Some(start + Duration::from_secs(3)));
    }
}
