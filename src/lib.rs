//! recoverylab: a simulation and load-testing harness for account-recovery systems.

pub mod calendar;
pub mod providers;
pub mod server;
