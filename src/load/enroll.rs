//! Loading a run's people into the service through its admin API, in
//! batches, before the load starts.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use tokio::task::JoinSet;

use crate::config::Scenario;
use crate::people::{person, Person};
use crate::service::admin::EnrollmentResponse;

const BATCH_SIZE: u64 = 250;
const BATCHES_IN_FLIGHT: usize = 4;

/// Counts and duration of one enrollment.
#[derive(Debug, Clone, Copy)]
pub struct EnrollmentResult {
    pub enrolled: u64,
    pub already_enrolled: u64,
    pub elapsed: Duration,
}

/// Returns the enrollment body of one person.
pub fn enrollment_json(person: &Person) -> Value {
    json!({
        "username": person.username,
        "password": person.password,
        "ssn": person.ssn,
        "date_of_birth": person.date_of_birth,
        "email": person.email,
        "cell_phone": person.cell_phone,
        "primary_phone": person.primary_phone,
        "mailing_address": person.mailing_address,
        "second_factor": person.second_factor,
        "security_questions": person.security_questions,
    })
}

/// Enrolls people `first_index .. first_index + people` of the scenario.
pub async fn enroll_population(
    service_url: &str,
    admin_token: &SecretString,
    scenario: &Scenario,
) -> anyhow::Result<EnrollmentResult> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .context("building the enrollment HTTP client failed")?;
    let url = format!("{service_url}/v1/admin/enrollments");
    let started = Instant::now();
    let mut result = EnrollmentResult {
        enrolled: 0,
        already_enrolled: 0,
        elapsed: Duration::ZERO,
    };
    let mut in_flight = JoinSet::new();
    let mut next = 0;
    while next < scenario.people || !in_flight.is_empty() {
        while next < scenario.people && in_flight.len() < BATCHES_IN_FLIGHT {
            let end = (next + BATCH_SIZE).min(scenario.people);
            let people: Vec<Value> = (next..end)
                .map(|offset| {
                    enrollment_json(&person(
                        scenario.seed,
                        scenario.first_index + offset,
                        &scenario.mix,
                    ))
                })
                .collect();
            let request = client
                .post(&url)
                .bearer_auth(admin_token.expose_secret())
                .json(&json!({ "people": people }));
            in_flight.spawn(send_batch(request, next));
            next = end;
        }
        if let Some(joined) = in_flight.join_next().await {
            let summary = joined.context("an enrollment task failed")??;
            result.enrolled += summary.enrolled as u64;
            result.already_enrolled += summary.already_enrolled as u64;
        }
    }
    result.elapsed = started.elapsed();
    Ok(result)
}

async fn send_batch(
    request: reqwest::RequestBuilder,
    first: u64,
) -> anyhow::Result<EnrollmentResponse> {
    let response = request
        .send()
        .await
        .with_context(|| format!("enrollment request for people from offset {first} failed"))?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        bail!("the service rejected the enrollment batch from offset {first} with HTTP {status}: {body}");
    }
    response.json().await.with_context(|| {
        format!("the enrollment answer for offset {first} is not an enrollment summary")
    })
}
