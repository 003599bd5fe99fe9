//! The virtual-time simulator's building blocks: an event queue ordered by
//! virtual time, and the open arrival process that starts journeys.
//!
//! Nothing here reads the wall clock or does I/O, so a run is a pure
//! function of its settings and seed.

pub mod arrivals;
pub mod queue;

pub use arrivals::{ArrivalShape, Arrivals, Surge};
pub use queue::EventQueue;
