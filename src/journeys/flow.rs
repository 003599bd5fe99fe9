//! The step machine: a flow's journey, the step it expects next, and the
//! one-time code rules that live inside a flow.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::account::{Account, AccountId};
use super::delivery::{Delivery, DeliveryKey, DeliveryStatus};
use super::error::StepError;
use super::policy::Policy;
use super::response::{DeliveryView, FlowStatus};
use super::window::EventWindow;

/// The journey a flow belongs to. A forgot-password flow becomes one of the
/// temporary-password journeys when the user cannot remember the answers, and
/// a sign-in with a temporary password becomes a temporary-password sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Journey {
    SignIn,
    ForgotUsername,
    ForgotPassword,
    /// The second factor is email, so the temporary password goes by post.
    PostalTemporaryPassword,
    /// The second factor is SMS, so the temporary password goes by email.
    EmailTemporaryPassword,
    TemporaryPasswordSignIn,
}

/// The step a flow expects next. Its serialized name is the route's last
/// segment with `_` in place of `-`, as in `new_password` for `/new-password`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Code,
    Answers,
    Channel,
    NewPassword,
    AcceptTerms,
    VerifyAddress,
    MailTemporaryPassword,
    EmailTemporaryPassword,
    ConfirmContact,
}

impl Step {
    /// Returns the step's name as it appears in responses.
    pub fn name(self) -> &'static str {
        match self {
            Step::Code => "code",
            Step::Answers => "answers",
            Step::Channel => "channel",
            Step::NewPassword => "new_password",
            Step::AcceptTerms => "accept_terms",
            Step::VerifyAddress => "verify_address",
            Step::MailTemporaryPassword => "mail_temporary_password",
            Step::EmailTemporaryPassword => "email_temporary_password",
            Step::ConfirmContact => "confirm_contact",
        }
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.name())
    }
}

/// A channel that can carry a one-time code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Sms,
}

impl From<super::account::SecondFactor> for Channel {
    fn from(factor: super::account::SecondFactor) -> Self {
        match factor {
            super::account::SecondFactor::Email => Channel::Email,
            super::account::SecondFactor::Sms => Channel::Sms,
        }
    }
}

/// A one-time code outstanding in a flow, kept as a keyed digest.
#[derive(Clone, Serialize, Deserialize)]
pub struct IssuedCode {
    pub digest: String,
    pub channel: Channel,
    pub issued_at: DateTime<Utc>,
    pub wrong_submissions: u32,
}

/// A journey in progress, kept server-side under an opaque id.
#[derive(Clone, Serialize, Deserialize)]
pub struct Flow {
    pub id: String,
    pub account_id: AccountId,
    pub journey: Journey,
    pub step: Step,
    pub code: Option<IssuedCode>,
    /// Codes sent in this flow after the first, for the resend limits.
    pub resends: EventWindow,
    pub last_code_sent_at: Option<DateTime<Utc>>,
    /// The channel of the last code sent, where a resend goes even after that
    /// code was voided.
    #[serde(default)]
    pub last_code_channel: Option<Channel>,
    /// The provider message of the last code or temporary password sent.
    #[serde(default)]
    pub last_delivery: Option<DeliveryKey>,
    /// When the flow's temporary password was last sent. Once it is set, the
    /// flow sends another only after the provider reports a failure.
    #[serde(default)]
    pub temporary_password_sent_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub last_active_at: DateTime<Utc>,
}

/// The kind of code send, which decides the limits it is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeSend {
    /// The first code of the flow; only the per-account hourly cap applies.
    First,
    /// A new code in a flow that sent one before.
    Resend,
    /// A new code after the provider reported the last one failed. The
    /// 30-second interval does not apply; the hourly limits still count it.
    ResendAfterFailure,
}

impl CodeSend {
    fn is_resend(self) -> bool {
        self != CodeSend::First
    }
}

/// The result of checking a submitted code.
pub enum CodeCheck {
    Accepted,
    Rejected(StepError),
}

impl Flow {
    pub fn new(
        id: String,
        account_id: AccountId,
        journey: Journey,
        step: Step,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            account_id,
            journey,
            step,
            code: None,
            resends: EventWindow::default(),
            last_code_sent_at: None,
            last_code_channel: None,
            last_delivery: None,
            temporary_password_sent_at: None,
            created_at: now,
            last_active_at: now,
        }
    }

    pub fn is_expired(&self, now: DateTime<Utc>, policy: &Policy) -> bool {
        now - self.last_active_at >= policy.flow_idle_timeout
    }

    /// Checks that the flow is alive and expects `step`, and marks it active.
    pub fn begin_step(
        &mut self,
        step: Step,
        now: DateTime<Utc>,
        policy: &Policy,
    ) -> Result<(), StepError> {
        if self.is_expired(now, policy) {
            return Err(StepError::FlowNotFound);
        }
        if self.step != step {
            return Err(StepError::OutOfOrder {
                expected: self.step,
            });
        }
        self.last_active_at = now;
        Ok(())
    }

    /// Checks the resend and per-account message limits before a code is sent.
    pub fn check_code_send(
        &mut self,
        account: &mut Account,
        send: CodeSend,
        now: DateTime<Utc>,
        policy: &Policy,
    ) -> Result<(), StepError> {
        if send.is_resend() {
            if self.code.is_none() && self.last_code_sent_at.is_none() {
                return Err(StepError::NoActiveCode);
            }
            if let (CodeSend::Resend, Some(last)) = (send, self.last_code_sent_at) {
                let since = now - last;
                if since < policy.resend_min_interval {
                    let wait = policy.resend_min_interval - since;
                    return Err(StepError::ResendTooSoon {
                        retry_after_s: wait.num_seconds().max(1),
                    });
                }
            }
            if self.resends.count_recent(now, chrono::Duration::hours(1))
                >= policy.resends_per_flow_per_hour
            {
                return Err(StepError::ResendLimit);
            }
        }
        if account
            .code_messages
            .count_recent(now, chrono::Duration::hours(1))
            >= policy.code_messages_per_account_per_hour
        {
            return Err(StepError::ResendLimit);
        }
        Ok(())
    }

    /// Returns the kind of a resend, given the status of the last message:
    /// a reported failure waives the 30-second interval.
    pub fn resend_kind(last_status: Option<DeliveryStatus>) -> CodeSend {
        if last_status.is_some_and(DeliveryStatus::is_failure) {
            CodeSend::ResendAfterFailure
        } else {
            CodeSend::Resend
        }
    }

    /// Records a code the provider accepted; it voids any code outstanding in
    /// this flow.
    pub fn record_code_sent(
        &mut self,
        account: &mut Account,
        code: IssuedCode,
        send: CodeSend,
        policy: &Policy,
    ) {
        let now = code.issued_at;
        if send.is_resend() {
            self.resends.record(now, policy.resends_per_flow_per_hour);
        }
        account
            .code_messages
            .record(now, policy.code_messages_per_account_per_hour);
        self.last_code_sent_at = Some(now);
        self.last_code_channel = Some(code.channel);
        self.code = Some(code);
    }

    /// Starts a channel choice and returns the kind of code send it makes.
    /// A forgot-password flow takes the choice at its channel step. It takes
    /// it again, as a resend, while it waits for a code whose delivery the
    /// provider reported failed.
    pub fn begin_channel_choice(
        &mut self,
        last_status: Option<DeliveryStatus>,
        now: DateTime<Utc>,
        policy: &Policy,
    ) -> Result<CodeSend, StepError> {
        if self.may_choose_channel_again(last_status) {
            self.begin_step(Step::Code, now, policy)?;
            return Ok(CodeSend::ResendAfterFailure);
        }
        self.begin_step(Step::Channel, now, policy)?;
        Ok(CodeSend::First)
    }

    fn may_choose_channel_again(&self, last_status: Option<DeliveryStatus>) -> bool {
        self.journey == Journey::ForgotPassword
            && self.step == Step::Code
            && last_status.is_some_and(DeliveryStatus::is_failure)
    }

    /// Starts a temporary-password send at `step` and returns whether it is a
    /// resend. The first send is always allowed; another only after the
    /// provider reported the last one failed, and at most the flow's hourly
    /// resend limit.
    pub fn begin_temporary_password_send(
        &mut self,
        step: Step,
        last_status: Option<DeliveryStatus>,
        now: DateTime<Utc>,
        policy: &Policy,
    ) -> Result<bool, StepError> {
        self.begin_step(step, now, policy)?;
        if self.temporary_password_sent_at.is_none() {
            return Ok(false);
        }
        if !last_status.is_some_and(DeliveryStatus::is_failure) {
            return Err(StepError::AlreadySent);
        }
        if self.resends.count_recent(now, chrono::Duration::hours(1))
            >= policy.resends_per_flow_per_hour
        {
            return Err(StepError::ResendLimit);
        }
        Ok(true)
    }

    /// Records a temporary password the provider accepted.
    pub fn record_temporary_password_sent(
        &mut self,
        delivery: DeliveryKey,
        is_resend: bool,
        now: DateTime<Utc>,
        policy: &Policy,
    ) {
        if is_resend {
            self.resends.record(now, policy.resends_per_flow_per_hour);
        }
        self.temporary_password_sent_at = Some(now);
        self.last_delivery = Some(delivery);
    }

    /// Returns what the person can do next in this flow, given its last
    /// delivery. The flow and account are not changed.
    pub fn status(
        &self,
        account: &Account,
        last: Option<&Delivery>,
        now: DateTime<Utc>,
        policy: &Policy,
    ) -> FlowStatus {
        let last_status = last.map(|delivery| delivery.status);
        let failed = last_status.is_some_and(DeliveryStatus::is_failure);
        let waits_for_temporary_password = self.temporary_password_sent_at.is_some() && !failed;
        let can_resend = match self.step {
            Step::Code => {
                self.allows_code_send(account, Self::resend_kind(last_status), now, policy)
            }
            Step::MailTemporaryPassword | Step::EmailTemporaryPassword => self
                .clone()
                .begin_temporary_password_send(self.step, last_status, now, policy)
                .is_ok_and(|is_resend| is_resend),
            _ => false,
        };
        let can_choose_channel = match self.step {
            Step::Channel => self.allows_code_send(account, CodeSend::First, now, policy),
            Step::Code if self.may_choose_channel_again(last_status) => {
                self.allows_code_send(account, CodeSend::ResendAfterFailure, now, policy)
            }
            _ => false,
        };
        FlowStatus {
            journey: self.journey,
            next_step: (!waits_for_temporary_password).then_some(self.step),
            delivery: last.map(DeliveryView::from),
            can_resend,
            can_choose_channel,
        }
    }

    fn allows_code_send(
        &self,
        account: &Account,
        send: CodeSend,
        now: DateTime<Utc>,
        policy: &Policy,
    ) -> bool {
        self.clone()
            .check_code_send(&mut account.clone(), send, now, policy)
            .is_ok()
    }

    /// Applies the code rules to a submission: expiry, single use, and the
    /// wrong-submission limit. `matches` is whether the submitted code's
    /// digest equals the outstanding one. Failures count toward the lockout.
    pub fn check_code(
        &mut self,
        account: &mut Account,
        matches: bool,
        now: DateTime<Utc>,
        policy: &Policy,
    ) -> CodeCheck {
        let Some(code) = self.code.as_mut() else {
            return CodeCheck::Rejected(StepError::NoActiveCode);
        };
        if now - code.issued_at >= policy.code_validity {
            self.code = None;
            return CodeCheck::Rejected(StepError::CodeExpired);
        }
        if matches {
            self.code = None;
            return CodeCheck::Accepted;
        }
        code.wrong_submissions += 1;
        let voided = code.wrong_submissions >= policy.code_max_wrong;
        if voided {
            self.code = None;
        }
        if account.record_failure(now, policy) {
            return CodeCheck::Rejected(StepError::TryLater);
        }
        CodeCheck::Rejected(StepError::WrongCode { voided })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow_at(journey: Journey, step: Step) -> Flow {
        Flow::new(
            "ab".to_owned(),
            1,
            journey,
            step,
            DateTime::<Utc>::UNIX_EPOCH,
        )
    }

    #[test]
    fn resend_kind_follows_last_status() {
        assert_eq!(Flow::resend_kind(None), CodeSend::Resend);
        assert_eq!(
            Flow::resend_kind(Some(DeliveryStatus::Delivered)),
            CodeSend::Resend
        );
        for failure in [
            DeliveryStatus::Undelivered,
            DeliveryStatus::Failed,
            DeliveryStatus::Bounced,
        ] {
            assert_eq!(
                Flow::resend_kind(Some(failure)),
                CodeSend::ResendAfterFailure,
                "{failure:?}"
            );
        }
    }

    #[test]
    fn channel_choice_reopens_only_after_failure() {
        let policy = Policy::default();
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let mut waiting = flow_at(Journey::ForgotPassword, Step::Code);
        assert_eq!(
            waiting.begin_channel_choice(Some(DeliveryStatus::Sent), now, &policy),
            Err(StepError::OutOfOrder {
                expected: Step::Code
            })
        );
        assert_eq!(
            waiting.begin_channel_choice(Some(DeliveryStatus::Undelivered), now, &policy),
            Ok(CodeSend::ResendAfterFailure)
        );
        let mut first = flow_at(Journey::ForgotPassword, Step::Channel);
        assert_eq!(
            first.begin_channel_choice(None, now, &policy),
            Ok(CodeSend::First)
        );
        let mut sign_in = flow_at(Journey::SignIn, Step::Code);
        assert!(sign_in
            .begin_channel_choice(Some(DeliveryStatus::Undelivered), now, &policy)
            .is_err());
    }

    #[test]
    fn temporary_password_resent_only_after_failure() {
        let policy = Policy::default();
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let step = Step::MailTemporaryPassword;
        let mut flow = flow_at(Journey::PostalTemporaryPassword, step);
        assert_eq!(
            flow.begin_temporary_password_send(step, None, now, &policy),
            Ok(false)
        );
        let key = DeliveryKey {
            channel: crate::journeys::delivery::DeliveryChannel::Postal,
            provider_id: "ltr_1".to_owned(),
        };
        flow.record_temporary_password_sent(key.clone(), false, now, &policy);
        assert_eq!(
            flow.begin_temporary_password_send(step, Some(DeliveryStatus::Sent), now, &policy),
            Err(StepError::AlreadySent)
        );
        for _ in 0..policy.resends_per_flow_per_hour {
            assert_eq!(
                flow.begin_temporary_password_send(
                    step,
                    Some(DeliveryStatus::Returned),
                    now,
                    &policy
                ),
                Ok(true)
            );
            flow.record_temporary_password_sent(key.clone(), true, now, &policy);
        }
        assert_eq!(
            flow.begin_temporary_password_send(step, Some(DeliveryStatus::Returned), now, &policy),
            Err(StepError::ResendLimit),
            "the hourly resend limit counts letters too"
        );
    }

    #[test]
    fn step_names_match_serialized_names() {
        for step in [
            Step::Code,
            Step::Answers,
            Step::Channel,
            Step::NewPassword,
            Step::AcceptTerms,
            Step::VerifyAddress,
            Step::MailTemporaryPassword,
            Step::EmailTemporaryPassword,
            Step::ConfirmContact,
        ] {
            assert_eq!(serde_json::to_value(step).unwrap(), step.name(), "{step:?}");
        }
    }
}
