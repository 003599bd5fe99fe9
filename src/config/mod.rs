//! Scenario files: parsed as raw TOML, then validated into a checked
//! [`Scenario`] before anything starts.

pub mod scenario;
pub mod simulation;

pub use scenario::{load_scenario, Scenario, ScenarioError};
