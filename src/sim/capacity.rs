//! The service as a pool of identical workers serving requests first come,
//! first served: the queueing delay a step waits before a worker takes it.
//!
//! Requests must be offered in the order they arrive, which a
//! discrete-event run does by popping events in time order. The pool then
//! is an exact G/G/c queue: each request starts when it arrives or when the
//! earliest worker frees up, whichever is later.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Workers and the virtual time, in microseconds, at which each is free.
pub struct WorkerPool {
    free_at_us: BinaryHeap<Reverse<u64>>,
    /// The latest arrival offered, to catch requests offered out of order.
    last_arrival_us: u64,
}

/// When a worker took a request and when it finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Served {
    /// Time spent waiting for a worker.
    pub wait_us: u64,
    /// The virtual time the response is sent.
    pub done_at_us: u64,
}

impl WorkerPool {
    /// Creates a pool of `workers` workers, at least one, all free at time 0.
    pub fn new(workers: usize) -> Self {
        Self {
            free_at_us: std::iter::repeat_n(Reverse(0), workers.max(1)).collect(),
            last_arrival_us: 0,
        }
    }

    pub fn workers(&self) -> usize {
        self.free_at_us.len()
    }

    /// Serves a request that arrives at `arrival_us` and needs `service_us`
    /// of a worker's time.
    ///
    /// # Panics
    ///
    /// In debug builds, when a request arrives before one already offered,
    /// since the result would then not be first come, first served.
    pub fn serve(&mut self, arrival_us: u64, service_us: u64) -> Served {
        debug_assert!(
            arrival_us >= self.last_arrival_us,
            "requests must be offered in arrival order"
        );
        self.last_arrival_us = arrival_us;
        let Reverse(free_at) = self
            .free_at_us
            .pop()
            .expect("the pool has at least one worker");
        let start = free_at.max(arrival_us);
        let done_at_us = start.saturating_add(service_us);
        self.free_at_us.push(Reverse(done_at_us));
        Served {
            wait_us: start - arrival_us,
            done_at_us,
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn one_worker_queues_in_order() {
        let mut pool = WorkerPool::new(1);
        let served: Vec<Served> = [(0, 10), (2, 10), (4, 10), (40, 5)]
            .into_iter()
            .map(|(arrival, service)| pool.serve(arrival, service))
            .collect();
        let waits: Vec<u64> = served.iter().map(|served| served.wait_us).collect();
        let done: Vec<u64> = served.iter().map(|served| served.done_at_us).collect();
        assert_eq!(waits, [0, 8, 16, 0]);
        assert_eq!(done, [10, 20, 30, 45]);
    }

    #[test]
    fn idle_workers_take_requests_at_once() {
        let mut pool = WorkerPool::new(3);
        assert_eq!(pool.workers(), 3);
        for _ in 0..3 {
            assert_eq!(pool.serve(5, 100).wait_us, 0);
        }
        let fourth = pool.serve(6, 100);
        assert_eq!(
            fourth.wait_us, 99,
            "waits for the first worker, free at 105"
        );
        assert_eq!(WorkerPool::new(0).workers(), 1, "a pool has a worker");
    }

    /// Erlang's C formula: the mean wait in an M/M/c queue.
    fn erlang_c_mean_wait(arrival_rate: f64, service_rate: f64, servers: u32) -> f64 {
        let load = arrival_rate / service_rate;
        let utilisation = load / f64::from(servers);
        let mut term = 1.0;
        let mut sum = 1.0;
        for k in 1..servers {
            term *= load / f64::from(k);
            sum += term;
        }
        let last = term * load / f64::from(servers) / (1.0 - utilisation);
        let waiting = last / (sum + last);
        waiting / (f64::from(servers) * service_rate - arrival_rate)
    }

    #[test]
    fn mean_wait_matches_erlang_c() {
        // Four workers at 80% load: 3.2 requests per ms, 1 ms of service each.
        let (arrival_rate, service_rate, servers) = (3.2, 1.0, 4);
        let expected_ms = erlang_c_mean_wait(arrival_rate, service_rate, servers);
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut exponential = |rate: f64| -(1.0 - rng.random::<f64>()).ln() / rate;
        let mut pool = WorkerPool::new(servers as usize);
        let (mut now_ms, mut total_wait_ms) = (0.0, 0.0);
        let requests = 400_000;
        for _ in 0..requests {
            now_ms += exponential(arrival_rate);
            let service_ms = exponential(service_rate);
            let served = pool.serve((now_ms * 1000.0) as u64, (service_ms * 1000.0) as u64);
            total_wait_ms += served.wait_us as f64 / 1000.0;
        }
        let mean_ms = total_wait_ms / f64::from(requests);
        // Queue waits are strongly correlated, so the tolerance is wide: 10%.
        assert!(
            (mean_ms - expected_ms).abs() <= 0.1 * expected_ms,
            "mean wait {mean_ms:.4} ms, Erlang C {expected_ms:.4} ms"
        );
    }
}
