//! Synthetic people: deterministic from (seed, index), never real.

pub mod journey_kind;
pub mod never_real;
pub mod person;

pub use journey_kind::{JourneyKind, JourneyMix};
pub use person::{person, Person};
