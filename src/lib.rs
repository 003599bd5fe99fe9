//! recoverylab: a simulation and load-testing harness for account-recovery systems.

pub mod abuse;
pub mod calendar;
pub mod cli;
pub mod compare;
pub mod config;
pub mod duration;
pub mod exit;
pub mod journeys;
pub mod leak_check;
pub mod load;
pub mod people;
pub mod problem;
pub mod providers;
pub mod report;
pub mod run;
pub mod server;
pub mod service;
pub mod sim;
pub mod stack;
pub mod store;
