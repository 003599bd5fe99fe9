//! The recovery journeys and their rules, with no HTTP, SQL or wall clock:
//! the service runs them with the system clock and SQLite, tests with a clock
//! they move, and a simulator with a virtual clock and an in-memory store.

pub mod account;
pub mod clock;
pub mod delivery;
pub mod engine;
pub mod enrollment;
pub mod error;
pub mod flow;
pub mod hashing;
pub mod identifiers;
pub mod identity_limits;
pub mod locks;
pub mod masking;
pub mod notice;
pub mod notifier;
pub mod password_policy;
pub mod policy;
pub mod response;
pub mod secrets;
pub mod window;

pub use engine::Engine;
pub use error::StepError;
