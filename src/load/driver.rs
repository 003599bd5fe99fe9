//! One synthetic person's side of a journey: timed steps against the
//! service, think time, typos and abandonment.

use std::time::{Duration, Instant};

use goose::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use super::LoadShared;
use crate::people::Person;

/// The reason a journey stopped before completing.
#[derive(Debug)]
pub enum Stop {
    /// The service or a provider returned an error the person could not get past.
    Failed(String),
    /// The person gave up at a step.
    Abandoned,
    /// The run's deadline passed mid-journey; the journey stays in flight.
    Interrupted,
}

/// A rejected step: the problem document's `code`, or a transport reason.
#[derive(Debug)]
pub struct Rejected {
    pub status: u16,
    pub code: String,
    /// The answer's `Retry-After`, in whole seconds.
    pub retry_after: Option<Duration>,
}

/// Transport reason of a request the service never received: the
/// connection was refused, as while the service restarts.
pub const SERVICE_UNREACHABLE: &str = "service_unreachable";

/// How long a person keeps reloading a page while the service refuses
/// connections, before giving up on the journey.
const SERVICE_OUTAGE_PATIENCE: Duration = Duration::from_secs(30);
const RELOAD_PAUSE: Duration = Duration::from_millis(250);

/// How many times a person sends a step that the service could not pass to
/// its provider, and the pause before the second try, doubled after each.
const PROVIDER_TRIES: u32 = 4;
const PROVIDER_PAUSE: Duration = Duration::from_secs(1);

impl From<Rejected> for Stop {
    fn from(rejected: Rejected) -> Self {
        match rejected.code.as_str() {
            RUN_OVER => Stop::Interrupted,
            _ => Stop::Failed(rejected.code),
        }
    }
}

/// Code of a step given up while the person waited to send it again,
/// because the run reached its deadline or was stopped. The journey stays
/// in flight.
const RUN_OVER: &str = "run_over";

pub struct Driver<'a> {
    pub user: &'a mut GooseUser,
    pub shared: &'a LoadShared,
    pub person: Person,
    pub rng: ChaCha8Rng,
    user_index: usize,
    /// The distinct steps this journey sent, in order, for its funnel.
    steps_reached: Vec<&'static str>,
}

impl<'a> Driver<'a> {
    pub fn new(user: &'a mut GooseUser, shared: &'a LoadShared, person: Person) -> Self {
        let user_index = user.weighted_users_index;
        // Behaviour draws are seeded per person, so reruns make the same choices.
        let mut rng = ChaCha8Rng::seed_from_u64(shared.scenario.seed ^ 0x6265_6861_7669_6f75);
        rng.set_stream(person.index);
        Self {
            user,
            shared,
            person,
            rng,
            user_index,
            steps_reached: Vec::new(),
        }
    }

    /// Returns the last step this journey sent that got a response.
    pub fn last_step(&self) -> Option<&'static str> {
        self.steps_reached.last().copied()
    }

    /// Counts the step in the journey's funnel the first time it is sent.
    /// A step sent again, such as a resend, still counts as the latest.
    fn note_reached(&mut self, step: &'static str) {
        match self.steps_reached.iter().position(|seen| *seen == step) {
            Some(index) => {
                let seen = self.steps_reached.remove(index);
                self.steps_reached.push(seen);
            }
            None => {
                let position = self.steps_reached.len() as u64;
                self.shared.recorder.step_reached(
                    self.user_index,
                    self.person.journey,
                    step,
                    position,
                );
                self.steps_reached.push(step);
            }
        }
    }

    pub fn user_index(&self) -> usize {
        self.user_index
    }

    /// Sends one step to the service and records its latency under `step`.
    /// Returns the JSON body of a 2xx response, or the problem code otherwise.
    ///
    /// While the service refuses connections the person reloads the page, for
    /// at most [`SERVICE_OUTAGE_PATIENCE`]; a refused request never reached the
    /// service, so sending it again is safe. The recorder notes the outage.
    pub async fn step(
        &mut self,
        step: &'static str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Rejected> {
        debug_assert!(
            super::journeys::STEP_NAMES.contains(&step),
            "{step} is missing from STEP_NAMES"
        );
        let patience = Instant::now() + SERVICE_OUTAGE_PATIENCE;
        loop {
            let started = Instant::now();
            let outcome = self.send_step(step, path, body.as_ref()).await;
            match outcome {
                Err(rejected) if rejected.code == SERVICE_UNREACHABLE => {
                    self.shared.recorder.service_unreachable();
                    let Some(patience_left) = patience.checked_duration_since(Instant::now())
                    else {
                        return Err(rejected);
                    };
                    if !self.shared.sleep(RELOAD_PAUSE.min(patience_left)).await {
                        return Err(transport(RUN_OVER));
                    }
                }
                outcome => {
                    self.note_reached(step);
                    self.shared.recorder.service_answered();
                    self.shared.recorder.record_step(
                        self.user_index,
                        step,
                        started.elapsed(),
                        outcome
                            .as_ref()
                            .err()
                            .map(|rejected| rejected.code.as_str()),
                    );
                    return outcome;
                }
            }
        }
    }

    /// Sends a step that makes the service send a message. While the service
    /// returns `provider_unavailable`, the person tries again after a pause,
    /// at most [`PROVIDER_TRIES`] times in all.
    pub async fn step_that_sends(
        &mut self,
        step: &'static str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Rejected> {
        let mut pause = PROVIDER_PAUSE;
        let mut tries = 1;
        loop {
            match self.step(step, path, body.clone()).await {
                Err(rejected)
                    if rejected.code == "provider_unavailable" && tries < PROVIDER_TRIES =>
                {
                    if !self.shared.sleep(pause).await {
                        return Err(transport(RUN_OVER));
                    }
                    pause *= 2;
                    tries += 1;
                }
                outcome => return outcome,
            }
        }
    }

    /// Sleeps for `pause`, or until the run's deadline or stop if that comes
    /// first.
    pub async fn wait(&mut self, pause: Duration) -> Result<(), Stop> {
        match self.shared.sleep(pause).await {
            true => Ok(()),
            false => Err(Stop::Interrupted),
        }
    }

    async fn send_step(
        &mut self,
        step: &'static str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, Rejected> {
        let builder = self
            .user
            .get_request_builder(&GooseMethod::Post, path)
            .map_err(|_| transport("invalid_url"))?
            .header("x-forwarded-for", self.person.client_address.as_str());
        let builder = match body {
            Some(body) => builder.json(body),
            None => builder,
        };
        let request = GooseRequest::builder()
            .method(GooseMethod::Post)
            .path(path)
            .name(step)
            .set_request_builder(builder)
            .build();
        match self.user.request(request).await {
            Ok(goose) => read_answer(goose.response).await,
            Err(_) => Err(transport("request_failed")),
        }
    }

    /// Sleeps for a think time drawn from the scenario's range, then decides
    /// whether the person abandons here.
    pub async fn think(&mut self) -> Result<(), Stop> {
        let (low, high) = self.shared.scenario.think_time_ms;
        if high > 0 {
            let pause = Duration::from_millis(self.rng.random_range(low..=high));
            self.wait(pause).await?;
        }
        if self.shared.remaining().is_none() {
            return Err(Stop::Interrupted);
        }
        let abandon = self.shared.scenario.abandon_probability;
        if abandon > 0.0 && self.rng.random_bool(abandon) {
            return Err(Stop::Abandoned);
        }
        Ok(())
    }

    /// Decides whether the person mistypes the next code.
    pub fn makes_typo(&mut self) -> bool {
        let typo = self.shared.scenario.typo_probability;
        typo > 0.0 && self.rng.random_bool(typo)
    }
}

fn transport(code: &str) -> Rejected {
    Rejected {
        status: 0,
        code: code.to_owned(),
        retry_after: None,
    }
}

async fn read_answer(
    response: Result<reqwest::Response, reqwest::Error>,
) -> Result<Value, Rejected> {
    let response = match response {
        Ok(response) => response,
        Err(error) if error.is_timeout() => return Err(transport("service_timeout")),
        Err(error) if error.is_connect() => return Err(transport(SERVICE_UNREACHABLE)),
        // Sent, but the connection broke before the response: the step may or
        // may not have happened, so it is not sent again.
        Err(_) => return Err(transport("connection_lost")),
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if (200..300).contains(&status) {
        return Ok(body);
    }
    let code = body
        .get("code")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("http_{status}"));
    Err(Rejected {
        status,
        code,
        retry_after,
    })
}
