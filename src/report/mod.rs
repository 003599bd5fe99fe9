//! Run reports: the recorder that load users write into, the report model,
//! and its renderings.

pub mod junit;
pub mod markdown;
pub mod model;
pub mod recorder;
pub mod write;

pub use model::Report;
pub use recorder::{Outcome, RunRecorder};
