//! The virtual-time simulator's building blocks: an event queue ordered by
//! virtual time, the open arrival process that starts journeys, and the
//! service as a pool of workers that requests queue for.
//!
//! Nothing here reads the wall clock or does I/O, so a run is a pure
//! function of its settings and seed.

pub mod arrivals;
pub mod capacity;
pub mod command;
pub mod markdown;
pub mod plan;
pub mod queue;
pub mod report;
pub mod run;
pub mod tally;
pub mod world;

pub use arrivals::{ArrivalShape, Arrivals, Surge};
pub use capacity::{Served, WorkerPool};
pub use queue::EventQueue;
