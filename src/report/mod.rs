//! Run reports: the recorder that load users write into, the report model,
//! and its renderings.

pub mod html;
pub mod junit;
pub mod markdown;
pub mod model;
pub mod progress;
pub mod recorder;
pub mod schema;
pub mod thresholds;
pub mod timeline;
pub mod write;

pub use model::Report;
pub use recorder::{Outcome, RunRecorder};
