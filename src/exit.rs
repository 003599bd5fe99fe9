//! The process exit codes of `run` and `compare`, documented in the README.
//!
//! Errors carry their kind as an [`ExitError`] in the `anyhow` chain; an
//! error without one is a run error.

use std::fmt;

/// The reason a command ended without success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    /// A gate failed: a threshold, a regression check, an abuse check, or
    /// the secret-leak check. The reports were written.
    GateFailed,
    /// The input was wrong: command-line arguments, a scenario file, or a
    /// report given to `compare`. Nothing ran.
    InvalidInput,
    /// The run could not start or finish: the stack failed, the target did
    /// not respond, a file could not be written, or the run was stopped early.
    RunError,
}

impl ExitKind {
    pub fn code(self) -> u8 {
        match self {
            ExitKind::GateFailed => 1,
            ExitKind::InvalidInput => 2,
            ExitKind::RunError => 3,
        }
    }
}

/// An error tagged with the exit code it should end the process with.
#[derive(Debug)]
pub struct ExitError {
    pub kind: ExitKind,
    pub message: String,
}

impl fmt::Display for ExitError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.message)
    }
}

impl std::error::Error for ExitError {}

/// Returns an error that ends the process with `kind`'s exit code.
pub fn fail(kind: ExitKind, message: impl Into<String>) -> anyhow::Error {
    ExitError {
        kind,
        message: message.into(),
    }
    .into()
}

/// Returns the exit kind an error carries anywhere in its chain, or
/// [`ExitKind::RunError`] when it carries none.
pub fn kind_of(error: &anyhow::Error) -> ExitKind {
    error
        .chain()
        .find_map(|cause| cause.downcast_ref::<ExitError>())
        .map_or(ExitKind::RunError, |tagged| tagged.kind)
}

/// Extension for tagging the error of a `Result` as invalid input.
pub trait InvalidInput<T> {
    /// Marks the error as invalid input: exit code 2.
    fn invalid_input(self) -> anyhow::Result<T>;
}

impl<T, E> InvalidInput<T> for Result<T, E>
where
    E: Into<anyhow::Error>,
{
    fn invalid_input(self) -> anyhow::Result<T> {
        self.map_err(|error| {
            let error: anyhow::Error = error.into();
            fail(ExitKind::InvalidInput, format!("{error:#}"))
        })
    }
}
