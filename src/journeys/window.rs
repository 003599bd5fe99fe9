//! Sliding-window event counts behind lockouts and rate limits.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// The times of recent events of one kind. Older ones are dropped as they
/// leave the window, so the list never grows past one limit's worth.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventWindow {
    events: Vec<DateTime<Utc>>,
}

impl EventWindow {
    /// Drops events older than `window` and returns how many are left.
    pub fn count_recent(&mut self, now: DateTime<Utc>, window: Duration) -> usize {
        let cutoff = now - window;
        self.events.retain(|at| *at > cutoff);
        self.events.len()
    }

    /// Records an event at `now`, dropping the oldest beyond `keep_at_most`.
    pub fn record(&mut self, now: DateTime<Utc>, keep_at_most: usize) {
        self.events.push(now);
        let excess = self.events.len().saturating_sub(keep_at_most.max(1));
        self.events.drain(..excess);
    }

    pub fn latest(&self) -> Option<DateTime<Utc>> {
        self.events.last().copied()
    }

    pub fn clear(&mut self) {
        self.events.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_drops_old_events() {
        let start = DateTime::<Utc>::UNIX_EPOCH;
        let mut window = EventWindow::default();
        window.record(start, 10);
        window.record(start + Duration::minutes(10), 10);
        assert_eq!(
            window.count_recent(start + Duration::minutes(14), Duration::minutes(15)),
            2
        );
        assert_eq!(
            window.count_recent(start + Duration::minutes(16), Duration::minutes(15)),
            1
        );
    }

    #[test]
    fn window_keeps_at_most_the_limit() {
        let start = DateTime::<Utc>::UNIX_EPOCH;
        let mut window = EventWindow::default();
        for second in 0..20 {
            window.record(start + Duration::seconds(second), 5);
        }
        assert_eq!(
            window.count_recent(start + Duration::seconds(20), Duration::hours(1)),
            5
        );
    }
}
