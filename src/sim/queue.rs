//! A priority queue of events by virtual time, first in first out among
//! events due at the same time, so a run does not depend on heap order.
//!
//! Events far ahead, such as letters due in days, wait in buckets of a fixed
//! width and enter the heap when their bucket comes up. The heap then holds
//! only the near events, and each pop costs the log of those, not of every
//! letter in transit.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

/// An event with its due time and insertion sequence.
type Entry<E> = (u64, u64, Slot<E>);

/// Events keyed by their due time, in any one unit of virtual time.
pub struct EventQueue<E> {
    /// Events due before `near_end`.
    heap: BinaryHeap<Reverse<Entry<E>>>,
    /// Events due at `near_end` or later, by `due / bucket_width`.
    far: BTreeMap<u64, Vec<Entry<E>>>,
    bucket_width: u64,
    near_end: u64,
    /// Insertion counter that breaks ties between events due at once.
    next_sequence: u64,
    len: usize,
}

/// Wraps an event so that the heap orders by time and sequence alone.
struct Slot<E>(E);

impl<E> PartialEq for Slot<E> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<E> Eq for Slot<E> {}

impl<E> PartialOrd for Slot<E> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<E> Ord for Slot<E> {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::with_bucket_width(u64::MAX)
    }
}

impl<E> EventQueue<E> {
    /// Creates a queue that keeps every event in its heap.
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates a queue that keeps events due `bucket_width` or more ahead
    /// of the current bucket in buckets of that width, at least 1.
    pub fn with_bucket_width(bucket_width: u64) -> Self {
        let bucket_width = bucket_width.max(1);
        Self {
            heap: BinaryHeap::new(),
            far: BTreeMap::new(),
            bucket_width,
            near_end: bucket_width,
            next_sequence: 0,
            len: 0,
        }
    }

    /// Schedules `event` at virtual time `at`.
    pub fn push(&mut self, at: u64, event: E) {
        let entry = (at, self.next_sequence, Slot(event));
        self.next_sequence += 1;
        self.len += 1;
        if at < self.near_end {
            self.heap.push(Reverse(entry));
        } else {
            self.far
                .entry(at / self.bucket_width)
                .or_default()
                .push(entry);
        }
    }

    /// Moves the next bucket into the heap while the heap is empty. Every
    /// event in the heap is due before every event in a bucket.
    fn settle(&mut self) {
        while self.heap.is_empty() {
            let Some((bucket, entries)) = self.far.pop_first() else {
                return;
            };
            self.near_end = bucket.saturating_add(1).saturating_mul(self.bucket_width);
            self.heap.extend(entries.into_iter().map(Reverse));
        }
    }

    /// Removes and returns the earliest event with its due time.
    pub fn pop(&mut self) -> Option<(u64, E)> {
        self.settle();
        let Reverse((at, _, Slot(event))) = self.heap.pop()?;
        self.len -= 1;
        Some((at, event))
    }

    /// Returns the due time of the earliest event.
    pub fn peek_time(&mut self) -> Option<u64> {
        self.settle();
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_by_time_then_insertion() {
        let mut queue = EventQueue::new();
        queue.push(30, "late");
        queue.push(10, "first at 10");
        queue.push(20, "at 20");
        queue.push(10, "second at 10");
        assert_eq!(queue.peek_time(), Some(10));
        assert_eq!(queue.len(), 4);
        let order: Vec<(u64, &str)> = std::iter::from_fn(|| queue.pop()).collect();
        assert_eq!(
            order,
            [
                (10, "first at 10"),
                (10, "second at 10"),
                (20, "at 20"),
                (30, "late")
            ]
        );
        assert!(queue.is_empty());
    }

    #[test]
    fn far_events_pop_in_order_with_near_ones() {
        let mut bucketed = EventQueue::with_bucket_width(100);
        let mut plain = EventQueue::new();
        // A spread of due times, far and near, with ties, pushed while
        // popping as a simulation does.
        let mut state = 7u64;
        let mut now = 0;
        for index in 0..20_000u64 {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            let ahead = match state >> 61 {
                0 => 0,
                1..=4 => (state >> 40) % 90,
                _ => (state >> 40) % 5_000,
            };
            bucketed.push(now + ahead, index);
            plain.push(now + ahead, index);
            if index % 3 == 0 {
                let popped = bucketed.pop();
                assert_eq!(popped, plain.pop(), "pop {index}");
                now = popped.map_or(now, |(at, _)| at);
            }
        }
        assert_eq!(bucketed.len(), plain.len());
        while let Some(popped) = plain.pop() {
            assert_eq!(bucketed.peek_time(), Some(popped.0));
            assert_eq!(bucketed.pop(), Some(popped));
        }
        assert!(bucketed.is_empty());
    }

    #[test]
    fn ties_keep_insertion_order_at_scale() {
        let mut queue = EventQueue::new();
        for index in 0..10_000u64 {
            queue.push(index % 3, index);
        }
        let mut last = (0, 0);
        let mut popped = 0;
        while let Some((at, index)) = queue.pop() {
            if at == last.0 && popped > 0 {
                assert!(index > last.1, "{index} after {} at {at}", last.1);
            }
            assert!(at >= last.0);
            last = (at, index);
            popped += 1;
        }
        assert_eq!(popped, 10_000);
    }
}
