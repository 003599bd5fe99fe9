//! Reading the mock inboxes the way a person reads email, a phone or a
//! letterbox: polling until the expected message arrives or the wait ends.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use goose::prelude::*;
use serde::Deserialize;

use super::driver::{Driver, Stop};

/// A mock email inbox or SMS handset, as `GET .../messages` returns it.
#[derive(Deserialize)]
pub struct Inbox {
    pub messages: Vec<Message>,
}

#[derive(Deserialize)]
pub struct Message {
    #[serde(default)]
    pub subject: Option<String>,
    pub text: String,
    pub received_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct Letterbox {
    letters: Vec<DeliveredLetter>,
}

#[derive(Deserialize)]
struct DeliveredLetter {
    id: String,
    text: String,
}

/// The mailbox a person checks for a message.
#[derive(Clone, Copy)]
pub enum Mailbox {
    Email { subject: &'static str },
    Sms,
}

impl Mailbox {
    pub fn provider(self) -> &'static str {
        match self {
            Mailbox::Email { .. } => "email",
            Mailbox::Sms => "sms",
        }
    }
}

/// The outcome of a person's wait for a message or a letter.
#[derive(Debug)]
pub enum Delivery {
    /// The message arrived; its text.
    Arrived(String),
    /// The service's page for the flow reported the delivery failed, with the
    /// provider's status, such as `undelivered`, `bounced` or `returned`.
    Failed(String),
    /// Nothing arrived before the person stopped waiting.
    TimedOut,
}

/// Delivery statuses that mean the message will never arrive.
const FAILED_STATUSES: [&str; 5] = [
    "undelivered",
    "failed",
    "bounced",
    "returned",
    "returned_to_sender",
];

const FIRST_POLL: Duration = Duration::from_millis(10);
const MAX_POLL: Duration = Duration::from_millis(250);
/// How often a waiting person looks at the flow's page for a failed delivery.
const FLOW_CHECK_INTERVAL: Duration = Duration::from_millis(500);

#[derive(Deserialize)]
struct FlowStatus {
    #[serde(default)]
    delivery: Option<DeliveryStatus>,
}

#[derive(Deserialize)]
struct DeliveryStatus {
    status: String,
}

impl Driver<'_> {
    /// Waits for a message sent at or after `since`, for at most the
    /// scenario's code wait, and looks at the flow's page now and then for a
    /// reported delivery failure.
    pub async fn wait_for_message(
        &mut self,
        mailbox: Mailbox,
        since: DateTime<Utc>,
        flow: &str,
    ) -> Result<Delivery, Stop> {
        let (url, name) = match &mailbox {
            Mailbox::Email { .. } => (
                format!(
                    "{}/v1/inboxes/{}/messages",
                    self.shared.targets.email, self.person.email
                ),
                "inbox.email",
            ),
            Mailbox::Sms => (
                format!(
                    "{}/v1/handsets/{}/messages",
                    self.shared.targets.sms, self.person.cell_phone
                ),
                "inbox.sms",
            ),
        };
        let expected_subject = match mailbox {
            Mailbox::Email { subject } => Some(subject),
            Mailbox::Sms => None,
        };
        let started = Instant::now();
        let give_up = started + self.shared.scenario.code_wait;
        let mut flow_checked = started;
        let mut pause = FIRST_POLL;
        loop {
            let inbox: Option<Inbox> = self.fetch_json(&url, name, &[]).await;
            let found = inbox.and_then(|inbox| {
                inbox.messages.into_iter().rev().find(|message| {
                    message.received_at >= since
                        && (expected_subject.is_none()
                            || message.subject.as_deref() == expected_subject)
                })
            });
            if let Some(message) = found {
                self.shared.recorder.record_delivery(
                    self.user_index(),
                    mailbox.provider(),
                    started.elapsed(),
                );
                return Ok(Delivery::Arrived(message.text));
            }
            if flow_checked.elapsed() >= FLOW_CHECK_INTERVAL {
                flow_checked = Instant::now();
                if let Some(status) = self.failed_delivery(flow).await {
                    return Ok(Delivery::Failed(status));
                }
            }
            match self.pause_before_poll(pause, give_up).await? {
                Some(next) => pause = next,
                None => return Ok(Delivery::TimedOut),
            }
        }
    }

    /// Returns the status of the flow's latest delivery when the service
    /// reports that it failed.
    async fn failed_delivery(&mut self, flow: &str) -> Option<String> {
        let url = format!("{}/v1/flows/{flow}", self.shared.targets.service);
        let status: FlowStatus = self.fetch_json(&url, "flow.status", &[]).await?;
        let status = status.delivery?.status;
        FAILED_STATUSES.contains(&status.as_str()).then_some(status)
    }

    /// Returns the id of the newest letter in the person's letterbox, so a
    /// later wait can tell a new letter from one an earlier run left there.
    pub async fn newest_letter_id(&mut self) -> Option<String> {
        let (url, query) = self.letterbox_request();
        let letterbox: Option<Letterbox> = self.fetch_json(&url, "letterbox.postal", &query).await;
        letterbox.and_then(|letterbox| letterbox.letters.into_iter().last().map(|letter| letter.id))
    }

    fn letterbox_request(&self) -> (String, [(&'static str, String); 2]) {
        let address = &self.person.mailing_address;
        let url = format!("{}/v1/letterbox", self.shared.targets.postal);
        (
            url,
            [
                ("line1", address.line1.clone()),
                ("zip", address.zip.clone()),
            ],
        )
    }

    /// Waits for a letter newer than `previous` in the person's letterbox,
    /// for at most the longest transit plus the code wait, and looks at the
    /// flow's page now and then for a letter returned to sender.
    pub async fn wait_for_letter(
        &mut self,
        previous: Option<&str>,
        flow: &str,
    ) -> Result<Delivery, Stop> {
        let (url, query) = self.letterbox_request();
        let scenario = &self.shared.scenario;
        let started = Instant::now();
        // The code wait is slack for a busy machine.
        let give_up = started + scenario.max_postal_transit() + scenario.code_wait;
        let poll =
            Duration::from_secs_f64((scenario.seconds_per_business_day / 4.0).clamp(0.02, 1.0));
        let mut flow_checked = started;
        loop {
            let letterbox: Option<Letterbox> =
                self.fetch_json(&url, "letterbox.postal", &query).await;
            let newest = letterbox.and_then(|letterbox| letterbox.letters.into_iter().last());
            if let Some(letter) = newest.filter(|letter| Some(letter.id.as_str()) != previous) {
                self.shared.recorder.record_delivery(
                    self.user_index(),
                    "postal",
                    started.elapsed(),
                );
                return Ok(Delivery::Arrived(letter.text));
            }
            if flow_checked.elapsed() >= FLOW_CHECK_INTERVAL {
                flow_checked = Instant::now();
                if let Some(status) = self.failed_delivery(flow).await {
                    return Ok(Delivery::Failed(status));
                }
            }
            if self.pause_before_poll(poll, give_up).await?.is_none() {
                return Ok(Delivery::TimedOut);
            }
        }
    }

    /// Sleeps before the next poll and returns the pause after it, or `None`
    /// once the wait is over.
    async fn pause_before_poll(
        &mut self,
        pause: Duration,
        give_up: Instant,
    ) -> Result<Option<Duration>, Stop> {
        let Some(wait_left) = give_up
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
        else {
            return Ok(None);
        };
        if !self.shared.sleep(pause.min(wait_left)).await {
            return Err(Stop::Interrupted);
        }
        Ok(Some((pause * 2).min(MAX_POLL)))
    }

    async fn fetch_json<T: serde::de::DeserializeOwned>(
        &mut self,
        url: &str,
        name: &str,
        query: &[(&str, String)],
    ) -> Option<T> {
        let builder = self
            .user
            .get_request_builder(&GooseMethod::Get, url)
            .ok()?
            .query(query);
        let request = GooseRequest::builder()
            .method(GooseMethod::Get)
            .path(url)
            .name(name)
            .set_request_builder(builder)
            .build();
        let goose = self.user.request(request).await.ok()?;
        let response = goose.response.ok()?;
        if !response.status().is_success() {
            return None;
        }
        response.json().await.ok()
    }
}

/// Returns the six-digit code in a code message.
pub fn code_in(text: &str) -> Option<String> {
    let start = text.find("code is ")? + "code is ".len();
    let code: String = text[start..].chars().take(6).collect();
    (code.len() == 6 && code.chars().all(|c| c.is_ascii_digit())).then_some(code)
}

/// Returns the temporary password in a message or letter.
pub fn temporary_password_in(text: &str) -> Option<String> {
    let start = text.find("password is ")? + "password is ".len();
    let password: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    (password.len() == crate::journeys::secrets::TEMPORARY_PASSWORD_LENGTH).then_some(password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_code_and_temporary_password() {
        assert_eq!(
            code_in("Your security code is 012345. It expires").as_deref(),
            Some("012345")
        );
        assert_eq!(code_in("no code here"), None);
        assert_eq!(
            temporary_password_in("Your temporary password is AbCdEfGh2345. Sign in").as_deref(),
            Some("AbCdEfGh2345")
        );
    }
}
