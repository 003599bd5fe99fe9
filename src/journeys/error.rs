//! The reasons a step is rejected. Each variant has a stable code that
//! clients classify, and the service maps them to HTTP problem documents.

use super::flow::Step;
use super::password_policy::PasswordRejection;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    #[error("no active flow has this id; it may have expired after 30 idle minutes, so start the journey again")]
    FlowNotFound,
    #[error("this flow expects the step {expected} next; send that step")]
    OutOfOrder { expected: Step },
    #[error("the details could not be verified; check them and try again")]
    CouldNotVerify,
    #[error("too many attempts; try again later")]
    TryLater,
    #[error("the username or password is incorrect")]
    InvalidCredentials,
    #[error("the code is incorrect")]
    WrongCode { voided: bool },
    #[error("the code has expired; request a new code")]
    CodeExpired,
    #[error("no code is outstanding for this flow; request a new code")]
    NoActiveCode,
    #[error(
        "a code was sent less than {retry_after_s} seconds ago; wait before requesting another"
    )]
    ResendTooSoon { retry_after_s: i64 },
    #[error("the code resend limit is reached; wait an hour or start again later")]
    ResendLimit,
    #[error("the temporary password was already sent and no failure was reported; sign in with it once it arrives")]
    AlreadySent,
    #[error("one or more answers are incorrect")]
    WrongAnswers,
    #[error("{0}")]
    Password(PasswordRejection),
    #[error("the terms of service version {got} is not the current version {current}; accept version {current}")]
    TermsVersion { got: u32, current: u32 },
    #[error("the {provider} provider could not take the message; try again shortly")]
    ProviderUnavailable { provider: &'static str },
    #[error("the service could not complete the step; try again shortly")]
    Unavailable,
}

impl StepError {
    /// Returns the stable, machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            StepError::FlowNotFound => "flow_not_found",
            StepError::OutOfOrder { .. } => "step_out_of_order",
            StepError::CouldNotVerify => "could_not_verify",
            StepError::TryLater => "try_later",
            StepError::InvalidCredentials => "invalid_credentials",
            StepError::WrongCode { voided: false } => "wrong_code",
            StepError::WrongCode { voided: true } => "code_voided",
            StepError::CodeExpired => "code_expired",
            StepError::NoActiveCode => "no_active_code",
            StepError::ResendTooSoon { .. } => "resend_too_soon",
            StepError::ResendLimit => "resend_limit",
            StepError::AlreadySent => "already_sent",
            StepError::WrongAnswers => "wrong_answers",
            StepError::Password(rejection) => rejection.code(),
            StepError::TermsVersion { .. } => "terms_version",
            StepError::ProviderUnavailable { .. } => "provider_unavailable",
            StepError::Unavailable => "service_unavailable",
        }
    }
}
