//! Reading the mock inboxes the way a person reads email, a phone or a
//! letterbox: polling until the expected message arrives or the wait ends.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use goose::prelude::*;
use serde::Deserialize;

use super::driver::{Driver, Stop};

#[derive(Deserialize)]
struct Inbox {
    messages: Vec<Message>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    subject: Option<String>,
    text: String,
    received_at: DateTime<Utc>,
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
pub enum Mailbox {
    Email { subject: &'static str },
    Sms,
}

const FIRST_POLL: Duration = Duration::from_millis(10);
const MAX_POLL: Duration = Duration::from_millis(250);

impl Driver<'_> {
    /// Waits for a message sent at or after `since` and returns its text.
    pub async fn wait_for_message(
        &mut self,
        mailbox: Mailbox,
        since: DateTime<Utc>,
    ) -> Result<String, Stop> {
        let (provider, url, name) = match &mailbox {
            Mailbox::Email { .. } => (
                "email",
                format!(
                    "{}/v1/inboxes/{}/messages",
                    self.shared.targets.email, self.person.email
                ),
                "inbox.email",
            ),
            Mailbox::Sms => (
                "sms",
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
                    provider,
                    started.elapsed(),
                );
                return Ok(message.text);
            }
            pause = self.pause_before_poll(pause, give_up, provider).await?;
        }
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

    /// Waits for a letter newer than `previous` in the person's letterbox and
    /// returns its text.
    pub async fn wait_for_letter(&mut self, previous: Option<String>) -> Result<String, Stop> {
        let (url, query) = self.letterbox_request();
        let scenario = &self.shared.scenario;
        let started = Instant::now();
        // The maximum transit, plus the code wait as slack for a busy machine.
        let give_up = started + scenario.max_postal_transit() + scenario.code_wait;
        let poll =
            Duration::from_secs_f64((scenario.seconds_per_business_day / 4.0).clamp(0.02, 1.0));
        loop {
            let letterbox: Option<Letterbox> =
                self.fetch_json(&url, "letterbox.postal", &query).await;
            let newest = letterbox.and_then(|letterbox| letterbox.letters.into_iter().last());
            if let Some(letter) = newest.filter(|letter| Some(&letter.id) != previous.as_ref()) {
                self.shared.recorder.record_delivery(
                    self.user_index(),
                    "postal",
                    started.elapsed(),
                );
                return Ok(letter.text);
            }
            self.pause_before_poll(poll, give_up, "postal").await?;
        }
    }

    async fn pause_before_poll(
        &mut self,
        pause: Duration,
        give_up: Instant,
        provider: &str,
    ) -> Result<Duration, Stop> {
        let Some(run_left) = super::remaining(self.shared.deadline) else {
            return Err(Stop::Interrupted);
        };
        let Some(wait_left) = give_up.checked_duration_since(Instant::now()) else {
            return Err(Stop::Failed(format!("{provider}_not_delivered")));
        };
        tokio::time::sleep(pause.min(run_left).min(wait_left)).await;
        Ok((pause * 2).min(MAX_POLL))
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
