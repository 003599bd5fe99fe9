//! Delivery records: which provider message carried what for which flow, and
//! the latest status the provider reported for it.
//!
//! A provider's status report can reach the service before the response to
//! the send itself, so reports and sends are merged by (channel, provider id) in
//! whichever order they arrive. The merge rules live here; the stores only
//! read and write whole records.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::account::AccountId;
use super::flow::Channel;

/// The provider a message went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryChannel {
    Email,
    Sms,
    Postal,
}

impl DeliveryChannel {
    /// Returns the channel's name as stored and logged, such as `sms`.
    pub fn name(self) -> &'static str {
        match self {
            DeliveryChannel::Email => "email",
            DeliveryChannel::Sms => "sms",
            DeliveryChannel::Postal => "postal",
        }
    }
}

impl From<Channel> for DeliveryChannel {
    fn from(channel: Channel) -> Self {
        match channel {
            Channel::Email => DeliveryChannel::Email,
            Channel::Sms => DeliveryChannel::Sms,
        }
    }
}

/// The kind of content a message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryContent {
    /// A one-time code.
    Code,
    /// A temporary password, by email or by letter.
    TemporaryPassword,
    /// A notice with no secret, such as "your password was changed".
    Notice,
}

/// The status of a message, from the provider's acceptance to its outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// The provider accepted the message and reported nothing since.
    Accepted,
    /// The provider handed the message on: a text to the carrier, a letter to
    /// the mail stream.
    Sent,
    Delivered,
    /// The carrier could not deliver a text (Twilio `undelivered`).
    Undelivered,
    /// The provider could not send a text at all (Twilio `failed` or `canceled`).
    Failed,
    /// The email bounced.
    Bounced,
    /// The letter came back to the sender.
    Returned,
}

impl DeliveryStatus {
    /// Returns the message's stage: 0 accepted, 1 on its way, 2 an outcome.
    fn stage(self) -> u8 {
        match self {
            DeliveryStatus::Accepted => 0,
            DeliveryStatus::Sent => 1,
            DeliveryStatus::Delivered
            | DeliveryStatus::Undelivered
            | DeliveryStatus::Failed
            | DeliveryStatus::Bounced
            | DeliveryStatus::Returned => 2,
        }
    }

    /// Whether the provider reported that the message will not reach the person.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            DeliveryStatus::Undelivered
                | DeliveryStatus::Failed
                | DeliveryStatus::Bounced
                | DeliveryStatus::Returned
        )
    }
}

/// The key of a delivery record: a provider's message id is unique only
/// within that provider.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DeliveryKey {
    pub channel: DeliveryChannel,
    pub provider_id: String,
}

/// A message the engine sent and the provider accepted.
#[derive(Debug, Clone)]
pub struct SentMessage {
    pub key: DeliveryKey,
    pub flow_id: String,
    pub account_id: AccountId,
    pub content: DeliveryContent,
    pub sent_at: DateTime<Utc>,
    /// When the record may be purged.
    pub keep_until: DateTime<Utc>,
}

/// A status a provider reported for one of its messages.
#[derive(Debug, Clone)]
pub struct StatusReport {
    pub key: DeliveryKey,
    pub status: DeliveryStatus,
    /// The provider's reason for a failure, such as Twilio's `30003`.
    pub error_code: Option<String>,
    pub reported_at: DateTime<Utc>,
    /// When the record may be purged if no send claims it.
    pub keep_until: DateTime<Utc>,
}

/// The engine's record of a send: the flow, the account and the content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendDetails {
    pub flow_id: String,
    pub account_id: AccountId,
    pub content: DeliveryContent,
    pub sent_at: DateTime<Utc>,
}

/// One provider message: the send, once its record arrived, and the latest
/// status reported for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub key: DeliveryKey,
    /// `None` while only status reports have arrived for this id.
    pub send: Option<SendDetails>,
    pub status: DeliveryStatus,
    pub error_code: Option<String>,
    pub updated_at: DateTime<Utc>,
    pub keep_until: DateTime<Utc>,
}

impl Delivery {
    /// Returns the record after the send arrives, keeping the status of any
    /// report that came first.
    pub fn with_send(existing: Option<Delivery>, sent: SentMessage) -> Delivery {
        let send = SendDetails {
            flow_id: sent.flow_id,
            account_id: sent.account_id,
            content: sent.content,
            sent_at: sent.sent_at,
        };
        match existing {
            Some(mut delivery) => {
                delivery.send = Some(send);
                delivery.updated_at = delivery.updated_at.max(sent.sent_at);
                delivery.keep_until = delivery.keep_until.max(sent.keep_until);
                delivery
            }
            None => Delivery {
                key: sent.key,
                send: Some(send),
                status: DeliveryStatus::Accepted,
                error_code: None,
                updated_at: sent.sent_at,
                keep_until: sent.keep_until,
            },
        }
    }

    /// Returns the record after a status report. Reports can arrive out of
    /// order, so a report of an earlier stage than the recorded status, such
    /// as `sent` after `delivered`, is ignored. A later report of the same
    /// stage replaces the earlier one.
    pub fn with_report(existing: Option<Delivery>, report: StatusReport) -> Delivery {
        let Some(mut delivery) = existing else {
            return Delivery {
                key: report.key,
                send: None,
                status: report.status,
                error_code: report.error_code,
                updated_at: report.reported_at,
                keep_until: report.keep_until,
            };
        };
        if report.status.stage() >= delivery.status.stage() {
            delivery.status = report.status;
            delivery.error_code = report.error_code;
            delivery.updated_at = delivery.updated_at.max(report.reported_at);
        }
        delivery.keep_until = delivery.keep_until.max(report.keep_until);
        delivery
    }

    /// Whether this is a letter with a temporary password that came back to
    /// the sender: it may have been opened on the way, so its temporary
    /// password must no longer work.
    pub fn revokes_temporary_password(&self) -> bool {
        self.status == DeliveryStatus::Returned
            && self
                .send
                .as_ref()
                .is_some_and(|send| send.content == DeliveryContent::TemporaryPassword)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn start() -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH
    }

    fn key() -> DeliveryKey {
        DeliveryKey {
            channel: DeliveryChannel::Sms,
            provider_id: "SM01".to_owned(),
        }
    }

    fn sent() -> SentMessage {
        SentMessage {
            key: key(),
            flow_id: "ab".to_owned(),
            account_id: 7,
            content: DeliveryContent::Code,
            sent_at: start(),
            keep_until: start() + Duration::minutes(40),
        }
    }

    fn report(status: DeliveryStatus, after_s: i64) -> StatusReport {
        StatusReport {
            key: key(),
            status,
            error_code: status.is_failure().then(|| "30003".to_owned()),
            reported_at: start() + Duration::seconds(after_s),
            keep_until: start() + Duration::seconds(after_s) + Duration::minutes(30),
        }
    }

    #[test]
    fn report_before_send_keeps_status() {
        let early = Delivery::with_report(None, report(DeliveryStatus::Undelivered, 0));
        assert_eq!(early.send, None, "a report alone has no send");
        let merged = Delivery::with_send(Some(early), sent());
        assert_eq!(merged.status, DeliveryStatus::Undelivered);
        assert_eq!(merged.error_code.as_deref(), Some("30003"));
        assert_eq!(merged.send.map(|send| send.account_id), Some(7));
    }

    #[test]
    fn earlier_stage_report_ignored() {
        let delivered = Delivery::with_report(
            Some(Delivery::with_send(None, sent())),
            report(DeliveryStatus::Delivered, 2),
        );
        let late_sent = Delivery::with_report(Some(delivered), report(DeliveryStatus::Sent, 3));
        assert_eq!(late_sent.status, DeliveryStatus::Delivered);
    }

    #[test]
    fn keep_until_takes_the_later() {
        let early = Delivery::with_report(None, report(DeliveryStatus::Sent, 0));
        let merged = Delivery::with_send(Some(early), sent());
        assert_eq!(merged.keep_until, start() + Duration::minutes(40));
    }

    #[test]
    fn only_returned_letters_revoke() {
        let mut letter = sent();
        letter.key.channel = DeliveryChannel::Postal;
        letter.content = DeliveryContent::TemporaryPassword;
        let mailed = Delivery::with_send(None, letter);
        assert!(!mailed.revokes_temporary_password(), "a letter in transit");
        let mut returned = report(DeliveryStatus::Returned, 5);
        returned.key.channel = DeliveryChannel::Postal;
        let returned = Delivery::with_report(Some(mailed), returned);
        assert!(returned.revokes_temporary_password(), "a returned letter");
        let code = Delivery::with_report(
            Some(Delivery::with_send(None, sent())),
            report(DeliveryStatus::Returned, 5),
        );
        assert!(!code.revokes_temporary_password(), "a code message");
    }
}
