//! A priority queue of events by virtual time, first in first out among
//! events due at the same time, so a run does not depend on heap order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Events keyed by their due time in virtual milliseconds.
pub struct EventQueue<E> {
    heap: BinaryHeap<Reverse<(u64, u64, Slot<E>)>>,
    /// Insertion counter that breaks ties between events due at once.
    next_sequence: u64,
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
        Self {
            heap: BinaryHeap::new(),
            next_sequence: 0,
        }
    }
}

impl<E> EventQueue<E> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Schedules `event` at virtual time `at_ms`.
    pub fn push(&mut self, at_ms: u64, event: E) {
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        self.heap.push(Reverse((at_ms, sequence, Slot(event))));
    }

    /// Removes and returns the earliest event with its due time.
    pub fn pop(&mut self) -> Option<(u64, E)> {
        self.heap
            .pop()
            .map(|Reverse((at_ms, _, Slot(event)))| (at_ms, event))
    }

    /// Returns the due time of the earliest event.
    pub fn peek_time(&self) -> Option<u64> {
        self.heap.peek().map(|Reverse((at_ms, _, _))| *at_ms)
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
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
