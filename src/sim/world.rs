//! One shard of a virtual-time run: its people walk the journeys step by
//! step, each step queues for one of the shard's workers, and the journey
//! rules in `crate::journeys` decide every response.
//!
//! The rules are the service's own: a simulated flow and account are the
//! service's [`Flow`] and [`Account`], and a step calls the same methods the
//! engine calls, such as [`Flow::check_code_send`], [`Flow::check_code`] and
//! [`Account::active_temporary_password`]. What the simulator replaces is the
//! I/O around them: the store is the journey's own memory, hashing is a
//! drawn service time, and providers are draws from the fault profile.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::arrivals::Arrivals;
use super::capacity::WorkerPool;
use super::plan::{Plan, PostalTime, Starts, DAY_US, HOUR_US, SECOND_US};
use super::queue::EventQueue;
use super::tally::Tally;
use crate::calendar::add_business_days;
use crate::journeys::account::{
    Account, MailingAddress, SecondFactor, TemporaryPassword, TemporaryPasswordChannel,
};
use crate::journeys::delivery::{DeliveryChannel, DeliveryKey, DeliveryStatus};
use crate::journeys::error::StepError;
use crate::journeys::flow::{Channel, CodeCheck, CodeSend, Flow, IssuedCode, Journey, Step};
use crate::journeys::window::EventWindow;
use crate::load::journeys::STEP_NAMES;
use crate::people::JourneyKind;
use crate::providers::faults::{
    outage_at, pick_fault, postal_business_days, sample, Fault, Provider,
};
use crate::providers::profile::OutageKind;

/// Returns the position of `name` in [`STEP_NAMES`], at compile time.
const fn step(name: &str) -> u8 {
    let mut index = 0;
    while index < STEP_NAMES.len() {
        let candidate = STEP_NAMES[index].as_bytes();
        let wanted = name.as_bytes();
        if candidate.len() == wanted.len() {
            let mut byte = 0;
            while byte < wanted.len() && candidate[byte] == wanted[byte] {
                byte += 1;
            }
            if byte == wanted.len() {
                return index as u8;
            }
        }
        index += 1;
    }
    panic!("not a step name")
}

/// The report names of one journey kind's steps.
struct Steps {
    first: u8,
    cannot_remember: u8,
    accept_terms: u8,
    verify_address: u8,
    /// Mails or emails the temporary password.
    send: u8,
    answers: u8,
    channel: u8,
    sign_in: u8,
    confirm_contact: u8,
    code: u8,
    resend: u8,
    new_password: u8,
    final_terms: u8,
}

/// A step this kind never takes.
const NONE: u8 = u8::MAX;

/// The steps of no journey, which each kind's entry below starts from.
const NO_STEPS: Steps = Steps {
    first: NONE,
    cannot_remember: NONE,
    accept_terms: NONE,
    verify_address: NONE,
    send: NONE,
    answers: NONE,
    channel: NONE,
    sign_in: NONE,
    confirm_contact: NONE,
    code: NONE,
    resend: NONE,
    new_password: NONE,
    final_terms: NONE,
};

/// The steps of each kind, indexed like [`JourneyKind::ALL`].
const STEPS: [Steps; 5] = [
    Steps {
        first: step("sign_in.password"),
        code: step("sign_in.code"),
        resend: step("sign_in.resend_code"),
        ..NO_STEPS
    },
    Steps {
        first: step("forgot_username.identity"),
        ..NO_STEPS
    },
    Steps {
        first: step("forgot_password.identity"),
        answers: step("forgot_password.answers"),
        channel: step("forgot_password.channel"),
        code: step("forgot_password.code"),
        resend: step("forgot_password.resend_code"),
        new_password: step("forgot_password.new_password"),
        final_terms: step("forgot_password.accept_terms"),
        ..NO_STEPS
    },
    Steps {
        first: step("temp_password_postal.identity"),
        cannot_remember: step("temp_password_postal.cannot_remember"),
        accept_terms: step("temp_password_postal.accept_terms"),
        verify_address: step("temp_password_postal.verify_address"),
        send: step("temp_password_postal.mail"),
        sign_in: step("temp_password_postal.sign_in"),
        confirm_contact: step("temp_password_postal.confirm_contact"),
        code: step("temp_password_postal.code"),
        resend: step("temp_password_postal.resend_code"),
        new_password: step("temp_password_postal.new_password"),
        final_terms: step("temp_password_postal.final_terms"),
        ..NO_STEPS
    },
    Steps {
        first: step("temp_password_email.identity"),
        cannot_remember: step("temp_password_email.cannot_remember"),
        send: step("temp_password_email.send"),
        sign_in: step("temp_password_email.sign_in"),
        confirm_contact: step("temp_password_email.confirm_contact"),
        code: step("temp_password_email.code"),
        resend: step("temp_password_email.resend_code"),
        new_password: step("temp_password_email.new_password"),
        final_terms: step("temp_password_email.final_terms"),
        ..NO_STEPS
    },
];

/// Resends a person requests for a message that did not come, as the live
/// driver does.
const MAX_RESENDS: u8 = 3;
/// How many times a person retries a resend the service calls too soon.
const TOO_SOON_TRIES: u8 = 3;
/// When a day's letters land in letterboxes.
const LETTER_LANDS_AT_HOUR: u32 = 11;
/// Tries of a step that sends, and the first pause between them, as the
/// live driver's `step_that_sends` makes them; the pause doubles.
const PROVIDER_TRIES: u8 = 4;
const PROVIDER_PAUSE_US: u64 = SECOND_US;
/// Top bit of an event: the start of replayed load user `event & !USER_START`.
const USER_START: u64 = 1 << 63;

/// The end of a wait for a message or letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Wait {
    #[default]
    Arrived,
    /// The provider reported the delivery failed, or the letter came back.
    Failed,
    TimedOut,
}

/// The step or wait of a journey's next event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Phase {
    #[default]
    First,
    Answers,
    Channel,
    CannotRemember,
    AcceptTerms,
    VerifyAddress,
    SendTemporaryPassword,
    CodeWaitEnds(Wait),
    SubmitCode {
        typo: bool,
    },
    Resend,
    ChannelAgain,
    LetterLands(Wait),
    LetterRead,
    TemporaryEmailWaitEnds(Wait),
    TemporarySignIn,
    ConfirmContact,
    NewPassword,
    FinalTerms,
}

/// The service's records of one journey: its flow and its account.
struct Records {
    flow: Flow,
    account: Account,
}

/// A journey in progress.
struct Walk {
    /// The journey's own random numbers. Every draw of the journey comes
    /// from them, so a what-if run that changes one setting gives each
    /// journey the same draws, and rows differ by the setting's effect.
    rng: SmallRng,
    kind: Option<JourneyKind>,
    phase: Phase,
    started_us: u64,
    /// The replayed load user, or `u32::MAX` for an open arrival.
    user: u32,
    /// Journeys the replayed user runs after this one.
    remaining: u32,
    factor: Option<SecondFactor>,
    /// The channel of the awaited code.
    mailbox: Option<Channel>,
    resends: u8,
    sent: u8,
    /// Tries of the current step that the service rejected as
    /// `provider_unavailable`.
    provider_tries: u8,
    too_soon: u8,
    /// Whether the last delivery was reported failed.
    last_failed: bool,
    /// Whether the person took an SMS code by email instead.
    switched: bool,
    /// When the postal temporary password expires, kept while the flow is
    /// gone and the letter travels.
    temporary_expires_us: u64,
    records: Option<Box<Records>>,
}

impl Default for Walk {
    fn default() -> Self {
        Self {
            rng: SmallRng::seed_from_u64(0),
            kind: None,
            phase: Phase::default(),
            started_us: 0,
            user: 0,
            remaining: 0,
            factor: None,
            mailbox: None,
            resends: 0,
            sent: 0,
            provider_tries: 0,
            too_soon: 0,
            last_failed: false,
            switched: false,
            temporary_expires_us: 0,
            records: None,
        }
    }
}

impl Walk {
    fn kind(&self) -> JourneyKind {
        self.kind.expect("a journey in progress has a kind")
    }

    fn steps(&self) -> &'static Steps {
        &STEPS[self.kind().index()]
    }

    fn records(&mut self) -> &mut Records {
        self.records
            .as_mut()
            .expect("a step that reads the records runs with a flow")
    }
}

/// The outcome of a step: the next event, or the journey's end.
enum Next {
    At(u64, Phase),
    Completed,
    Failed(&'static str),
    Abandoned,
}

/// The result of one provider send, retries included.
struct Sent {
    accepted: bool,
    /// Time the client's attempts and backoff added to the step.
    extra_us: u64,
    /// After acceptance: delivered after this delay, in the unit of the
    /// profile's delay key, or reported failed, or never heard of.
    delivery: Delivery,
}

#[derive(Clone, Copy)]
enum Delivery {
    After(f64),
    FailedAfter(f64),
    Never,
}

/// One shard's run.
pub struct Shard<'p> {
    plan: &'p Plan,
    /// The random numbers of the journey being handled, swapped in from
    /// its `Walk` for the event.
    rng: SmallRng,
    /// The seed that journeys' seeds derive from.
    journey_seed: u64,
    queue: EventQueue<u64>,
    pool: WorkerPool,
    walks: Vec<Walk>,
    free: Vec<u32>,
    tally: Tally,
    epoch: DateTime<Utc>,
    arrivals: Option<Arrivals>,
    next_arrival_us: Option<u64>,
    /// Journeys this shard started, for the mix's round robin.
    started: u64,
    in_progress: u32,
    reading_letters: u32,
    /// The time the person receives the response to the event's step: the
    /// event's time, then the response's time once the step is served,
    /// provider calls included.
    answered_at: u64,
    /// The event's time on the rules' clock, converted once per event.
    event_at: DateTime<Utc>,
    /// The highest counts in the minute in progress.
    minute_peak_in_progress: u32,
    minute_peak_flows: u32,
    letters_in_transit: u64,
    next_minute: usize,
    user_cycle: Vec<JourneyKind>,
}

/// Mixes a shard number into the scenario seed.
fn shard_seed(seed: u64, shard: u32, stream: u64) -> u64 {
    let mut value = seed ^ (u64::from(shard) << 32) ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    value = (value ^ (value >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    value = (value ^ (value >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    value ^ (value >> 31)
}

impl<'p> Shard<'p> {
    /// Prepares shard `index` of `plan.instances`.
    pub fn new(plan: &'p Plan, index: u32) -> Self {
        let shards = plan.instances;
        // Events more than an hour ahead, letters above all, wait in hourly
        // buckets, so the heap contains the journeys of the coming hour.
        let mut queue = EventQueue::with_bucket_width(HOUR_US);
        let arrivals = match &plan.starts {
            Starts::Open { shape, days } => {
                let mut shape = (**shape).clone();
                shape.journeys_per_day /= f64::from(shards);
                Some(Arrivals::new(
                    shape,
                    shard_seed(plan.seed, index, 1),
                    plan.start,
                    f64::from(*days) * 86_400.0,
                ))
            }
            Starts::Replay {
                users,
                users_per_second,
                ..
            } => {
                for user in (index..*users).step_by(shards as usize) {
                    let at = (f64::from(user) / users_per_second * 1e6) as u64;
                    queue.push(at, USER_START | u64::from(user));
                }
                None
            }
        };
        let mut shard = Self {
            plan,
            rng: SmallRng::seed_from_u64(0),
            journey_seed: shard_seed(plan.seed, index, 2),
            queue,
            pool: WorkerPool::new(plan.workers_per_instance as usize),
            walks: Vec::new(),
            free: Vec::new(),
            tally: Tally::new(plan.report_days()),
            epoch: plan.start.and_utc(),
            arrivals,
            next_arrival_us: None,
            started: 0,
            in_progress: 0,
            reading_letters: 0,
            answered_at: 0,
            event_at: plan.start.and_utc(),
            minute_peak_in_progress: 0,
            minute_peak_flows: 0,
            letters_in_transit: 0,
            next_minute: 0,
            user_cycle: plan.mix.user_cycle(),
        };
        shard.next_arrival_us = shard.draw_arrival();
        shard
    }

    fn draw_arrival(&mut self) -> Option<u64> {
        self.arrivals
            .as_mut()
            .and_then(Iterator::next)
            .map(|seconds| (seconds * 1e6) as u64)
    }

    /// Runs the shard to the plan's horizon and returns what it counted.
    pub fn run(mut self) -> Tally {
        let horizon = self.plan.horizon_us;
        loop {
            let event_at = self.queue.peek_time();
            let now = match (self.next_arrival_us, event_at) {
                (Some(arrival), Some(event)) => arrival.min(event),
                (Some(arrival), None) => arrival,
                (None, Some(event)) => event,
                (None, None) => break,
            };
            if now >= horizon {
                break;
            }
            self.sample_minutes(now);
            if self.next_arrival_us == Some(now) && event_at.is_none_or(|event| now < event) {
                self.next_arrival_us = self.draw_arrival();
                let kind = self.plan.mix.kind_of(self.started);
                self.start(now, kind, u32::MAX, 0);
                continue;
            }
            let (_, event) = self.queue.pop().expect("an event is due");
            if event & USER_START != 0 {
                let user = (event & !USER_START) as u32;
                let kind = self.user_cycle[user as usize % self.user_cycle.len()];
                let journeys = match self.plan.starts {
                    Starts::Replay {
                        journeys_per_user, ..
                    } => journeys_per_user,
                    Starts::Open { .. } => 1,
                };
                self.start(now, kind, user, journeys - 1);
            } else {
                self.act(event as u32, now);
            }
        }
        self.sample_minutes(horizon);
        // A run that stops inside a minute, as a replayed [load] does,
        // keeps that minute's peaks and the letters in transit at its end.
        if self.next_minute < self.tally.in_progress_by_minute.len() {
            let day = self.next_minute / 1_440;
            self.close_minute();
            self.tally.days[day].letters_in_transit = self.letters_in_transit;
        }
        for walk in &self.walks {
            if let Some(kind) = walk.kind {
                self.tally.in_flight[kind.index()] += 1;
            }
        }
        self.tally
    }

    /// Closes every minute that ended by `now`: keeps its highest counts of
    /// journeys in progress and live flows, and at a day's last minute the
    /// letters in transit at midnight.
    fn sample_minutes(&mut self, now: u64) {
        let minutes = self.tally.in_progress_by_minute.len();
        while self.next_minute < minutes && (self.next_minute as u64 + 1) * 60 * SECOND_US <= now {
            self.close_minute();
        }
    }

    fn close_minute(&mut self) {
        let minute = self.next_minute;
        self.tally.in_progress_by_minute[minute] = self.minute_peak_in_progress;
        self.tally.flows_by_minute[minute] = self.minute_peak_flows;
        if minute % 1_440 == 1_439 {
            self.tally.days[minute / 1_440].letters_in_transit = self.letters_in_transit;
        }
        self.minute_peak_in_progress = self.in_progress;
        self.minute_peak_flows = self.in_progress - self.reading_letters;
        self.next_minute += 1;
    }

    /// Raises the minute's peaks to the current counts.
    fn note_levels(&mut self) {
        self.minute_peak_in_progress = self.minute_peak_in_progress.max(self.in_progress);
        self.minute_peak_flows = self
            .minute_peak_flows
            .max(self.in_progress - self.reading_letters);
    }

    fn day(&self, now: u64) -> usize {
        ((now / DAY_US) as usize).min(self.tally.days.len() - 1)
    }

    fn clock(&self, now: u64) -> DateTime<Utc> {
        self.epoch + TimeDelta::microseconds(now as i64)
    }

    fn start(&mut self, now: u64, kind: JourneyKind, user: u32, remaining: u32) {
        // An open arrival is the n-th of its shard; a replayed user's journey
        // is its user's n-th. Both orders stay the same whatever a what-if
        // run changes.
        let ordinal = match user {
            u32::MAX => self.started,
            user => (u64::from(user) << 32) | u64::from(remaining),
        };
        let mut rng = SmallRng::seed_from_u64(shard_seed(self.journey_seed, 0, ordinal));

        self.started += 1;
        self.in_progress += 1;
        self.note_levels();
        let day = self.day(now);
        self.tally.days[day].started += 1;
        self.tally.kind(kind).started += 1;

        let factor = match kind {
            JourneyKind::TempPasswordPostal => SecondFactor::Email,
            JourneyKind::TempPasswordEmail => SecondFactor::Sms,
            _ if rng.random_bool(0.5) => SecondFactor::Email,
            _ => SecondFactor::Sms,
        };

        let walk = Walk {
            rng,
            kind: Some(kind),
            phase: Phase::First,
            started_us: now,
            user,
            remaining,
            factor: Some(factor),
            ..Walk::default()
        };

        let slot = match self.free.pop() {
            Some(slot) => {
                self.walks[slot as usize] = walk;
                slot
            }
            None => {
                self.walks.push(walk);
                (self.walks.len() - 1) as u32
            }
        };
        self.queue.push(now, u64::from(slot));
    }

    fn act(&mut self, slot: u32, now: u64) {
        let mut walk = std::mem::take(&mut self.walks[slot as usize]);
        self.answered_at = now;
        self.event_at = self.clock(now);
        std::mem::swap(&mut self.rng, &mut walk.rng);
        let next = self.advance(&mut walk, now);
        std::mem::swap(&mut self.rng, &mut walk.rng);
        // A journey ends when the person receives the response to its last step.
        let ended = self.answered_at;
        match next {
            Next::At(at, phase) => {
                walk.phase = phase;
                self.walks[slot as usize] = walk;
                self.queue.push(at, u64::from(slot));
            }
            Next::Completed | Next::Failed(_) | Next::Abandoned => {
                self.end(&walk, ended, &next);
                self.free.push(slot);
                if walk.remaining > 0 && ended < self.plan.horizon_us {
                    self.start(ended, walk.kind(), walk.user, walk.remaining - 1);
                }
            }
        }
    }

    fn end(&mut self, walk: &Walk, now: u64, next: &Next) {
        self.in_progress -= 1;
        let day = self.day(now);
        let kind = self.tally.kind(walk.kind());
        match next {
            Next::Completed => {
                kind.completed += 1;
                let milliseconds = (now - walk.started_us) / 1_000;
                kind.time_to_recover_ms
                    .record(milliseconds.max(1))
                    .expect("auto-resizing histograms take any value");
                self.tally.days[day].completed += 1;
            }
            Next::Failed(reason) => {
                *kind.failed.entry(reason).or_default() += 1;
                self.tally.days[day].failed += 1;
            }
            Next::Abandoned => {
                kind.abandoned += 1;
                self.tally.days[day].abandoned += 1;
            }
            Next::At(..) => unreachable!("end takes a journey's last step"),
        }
    }

    /// Serves step `index` arriving at `now` and returns the time of its response.
    fn serve(&mut self, index: u8, now: u64) -> u64 {
        let index = usize::from(index);
        let uniform: f64 = self.rng.random();
        let service_us = self.plan.service.draw_us(index, uniform);
        let served = self.pool.serve(now, service_us);
        let latency = served.done_at_us - now;
        let step = &mut self.tally.steps[index];
        step.count += 1;
        let _ = step.latency_us.record(latency.max(1));
        let day = self.day(now);
        let _ = self.tally.day_wait_us[day].record(served.wait_us);
        self.tally.days[day].steps += 1;
        self.answered_at = served.done_at_us;
        served.done_at_us
    }

    fn reject(&mut self, index: u8, error: &StepError) -> &'static str {
        let code = error.code();
        *self.tally.steps[usize::from(index)]
            .errors
            .entry(code)
            .or_default() += 1;
        code
    }

    /// Draws a pause before the next step, or returns `None` when the person
    /// abandons, as the live driver's `think` does.
    fn think(&mut self) -> Option<u64> {
        let (low, high) = self.plan.think_us;
        let pause = if high > 0 {
            self.rng.random_range(low..=high)
        } else {
            0
        };
        let abandon = self.plan.abandon_probability;
        if abandon > 0.0 && self.rng.random_bool(abandon) {
            return None;
        }
        Some(pause)
    }

    fn then_think(&mut self, at: u64, phase: Phase) -> Next {
        match self.think() {
            Some(pause) => Next::At(at + pause, phase),
            None => Next::Abandoned,
        }
    }

    fn advance(&mut self, walk: &mut Walk, now: u64) -> Next {
        let steps = walk.steps();
        let at = self.event_at;
        let plan = self.plan;
        let policy = &plan.policy;
        match walk.phase {
            Phase::First => {
                let done = self.serve(steps.first, now);
                match walk.kind() {
                    JourneyKind::ForgotUsername => Next::Completed,
                    JourneyKind::SignIn => {
                        let account = synthetic_account(walk.factor.expect("set at start"));
                        if account.is_locked(at) {
                            return Next::Failed(self.reject(steps.first, &StepError::TryLater));
                        }
                        let flow = Flow::new(String::new(), 0, Journey::SignIn, Step::Code, at);
                        walk.records = Some(Box::new(Records { flow, account }));
                        let channel = Channel::from(walk.factor.expect("set at start"));
                        self.send_code(walk, steps.first, CodeSend::First, channel, now, done)
                    }
                    JourneyKind::ForgotPassword => {
                        walk.records = Some(new_records(walk, Journey::ForgotPassword, at));
                        self.then_think(done, Phase::Answers)
                    }
                    JourneyKind::TempPasswordPostal | JourneyKind::TempPasswordEmail => {
                        walk.records = Some(new_records(walk, Journey::ForgotPassword, at));
                        Next::At(done, Phase::CannotRemember)
                    }
                }
            }
            Phase::Answers => {
                match self.move_on(walk, steps.answers, Step::Answers, Step::Channel, now) {
                    Ok(done) => self.then_think(done, Phase::Channel),
                    Err(failed) => failed,
                }
            }
            Phase::Channel | Phase::ChannelAgain => {
                let done = self.serve(steps.channel, now);
                let last = walk.last_failed.then_some(DeliveryStatus::Undelivered);
                let send = match walk.records().flow.begin_channel_choice(last, at, policy) {
                    Ok(send) => send,
                    Err(error) => return Next::Failed(self.reject(steps.channel, &error)),
                };
                let channel = match (walk.phase, walk.mailbox) {
                    (Phase::ChannelAgain, Some(Channel::Sms)) => {
                        walk.switched = true;
                        Channel::Email
                    }
                    (Phase::ChannelAgain, _) => Channel::Sms,
                    _ => Channel::from(walk.factor.expect("set at start")),
                };
                self.send_code(walk, steps.channel, send, channel, now, done)
            }
            Phase::CannotRemember => {
                let done = self.serve(steps.cannot_remember, now);
                let records = walk.records();
                if let Err(error) = records.flow.begin_step(Step::Answers, at, policy) {
                    return Next::Failed(self.reject(steps.cannot_remember, &error));
                }
                if walk.kind() == JourneyKind::TempPasswordPostal {
                    let records = walk.records();
                    records.flow.journey = Journey::PostalTemporaryPassword;
                    records.flow.step = Step::AcceptTerms;
                    Next::At(done, Phase::AcceptTerms)
                } else {
                    let records = walk.records();
                    records.flow.journey = Journey::EmailTemporaryPassword;
                    records.flow.step = Step::EmailTemporaryPassword;
                    Next::At(done, Phase::SendTemporaryPassword)
                }
            }
            Phase::AcceptTerms => {
                let step = (Step::AcceptTerms, Step::VerifyAddress);
                match self.move_on(walk, steps.accept_terms, step.0, step.1, now) {
                    Ok(done) => self.then_think(done, Phase::VerifyAddress),
                    Err(failed) => failed,
                }
            }
            Phase::VerifyAddress => {
                let step = (Step::VerifyAddress, Step::MailTemporaryPassword);
                match self.move_on(walk, steps.verify_address, step.0, step.1, now) {
                    Ok(done) => Next::At(done, Phase::SendTemporaryPassword),
                    Err(failed) => failed,
                }
            }
            Phase::SendTemporaryPassword => self.send_temporary_password(walk, now),
            Phase::LetterLands(wait) => {
                self.letters_in_transit -= 1;
                let day = self.day(now);
                match wait {
                    Wait::Arrived => self.tally.days[day].letters_delivered += 1,
                    Wait::Failed => self.tally.days[day].letters_returned += 1,
                    Wait::TimedOut => {}
                }
                match wait {
                    Wait::Arrived => {
                        let read = self.read_delay_us();
                        Next::At(now + read, Phase::LetterRead)
                    }
                    Wait::Failed | Wait::TimedOut => {
                        self.reading_letters -= 1;
                        self.note_levels();
                        if wait == Wait::TimedOut {
                            return Next::Failed("postal_not_delivered");
                        }
                        walk.last_failed = true;
                        if walk.sent > MAX_RESENDS || walk.records.is_none() {
                            return Next::Failed("letter_returned");
                        }
                        Next::At(now, Phase::SendTemporaryPassword)
                    }
                }
            }
            Phase::LetterRead => {
                self.reading_letters -= 1;
                self.note_levels();
                self.then_think(now, Phase::TemporarySignIn)
            }
            Phase::TemporaryEmailWaitEnds(wait) => match wait {
                Wait::Arrived => self.then_think(now, Phase::TemporarySignIn),
                Wait::TimedOut => Next::Failed("email_not_delivered"),
                Wait::Failed if walk.sent > MAX_RESENDS => Next::Failed("email_bounced"),
                Wait::Failed => {
                    walk.last_failed = true;
                    Next::At(now, Phase::SendTemporaryPassword)
                }
            },
            Phase::TemporarySignIn => {
                let done = self.serve(steps.sign_in, now);
                let account = match walk.records.take() {
                    Some(records) => records.account,
                    None => {
                        let mut account = synthetic_account(SecondFactor::Email);
                        account.temporary_password = Some(TemporaryPassword {
                            hash: String::new(),
                            channel: TemporaryPasswordChannel::Post,
                            issued_at: at,
                            expires_at: self.clock(walk.temporary_expires_us),
                            message_id: None,
                        });
                        account
                    }
                };
                if account.is_locked(at) {
                    return Next::Failed(self.reject(steps.sign_in, &StepError::TryLater));
                }
                if account.active_temporary_password(at).is_none() {
                    self.reject(steps.sign_in, &StepError::InvalidCredentials);
                    if walk.kind() == JourneyKind::TempPasswordPostal {
                        let day = self.day(now);
                        self.tally.days[day].letters_expired += 1;
                    }
                    return Next::Failed("temporary_password_expired");
                }
                let flow = Flow::new(
                    String::new(),
                    0,
                    Journey::TemporaryPasswordSignIn,
                    Step::ConfirmContact,
                    at,
                );
                walk.records = Some(Box::new(Records { flow, account }));
                Next::At(done, Phase::ConfirmContact)
            }
            Phase::ConfirmContact => {
                let done = self.serve(steps.confirm_contact, now);
                if let Err(error) = walk
                    .records()
                    .flow
                    .begin_step(Step::ConfirmContact, at, policy)
                {
                    return Next::Failed(self.reject(steps.confirm_contact, &error));
                }
                let channel = Channel::from(walk.factor.expect("set at start"));
                self.send_code(
                    walk,
                    steps.confirm_contact,
                    CodeSend::First,
                    channel,
                    now,
                    done,
                )
            }
            Phase::CodeWaitEnds(wait) => {
                if wait == Wait::Arrived {
                    let typo = self.plan.typo_probability > 0.0
                        && self.rng.random_bool(self.plan.typo_probability);
                    return self.then_think(now, Phase::SubmitCode { typo });
                }
                if walk.resends == MAX_RESENDS {
                    return Next::Failed(match (wait, walk.mailbox) {
                        (Wait::Failed, Some(Channel::Sms)) => "sms_undeliverable",
                        (Wait::Failed, _) => "email_bounced",
                        (_, Some(Channel::Sms)) => "sms_not_delivered",
                        _ => "email_not_delivered",
                    });
                }
                walk.resends += 1;
                walk.too_soon = 0;
                walk.last_failed = wait == Wait::Failed;
                let again = if wait == Wait::Failed && steps.channel != NONE {
                    Phase::ChannelAgain
                } else {
                    Phase::Resend
                };
                self.then_think(now, again)
            }
            Phase::Resend => {
                let done = self.serve(steps.resend, now);
                if let Err(error) = walk.records().flow.begin_step(Step::Code, at, policy) {
                    return Next::Failed(self.reject(steps.resend, &error));
                }
                let last = walk.last_failed.then_some(DeliveryStatus::Undelivered);
                let send = Flow::resend_kind(last);
                let channel = walk.mailbox.expect("a resend follows a code");
                self.send_code(walk, steps.resend, send, channel, now, done)
            }
            Phase::SubmitCode { typo } => {
                let done = self.serve(steps.code, now);
                let records = walk.records();
                if let Err(error) = records.flow.begin_step(Step::Code, at, policy) {
                    return Next::Failed(self.reject(steps.code, &error));
                }
                let Records { flow, account } = records;
                match flow.check_code(account, !typo, at, policy) {
                    CodeCheck::Accepted => {}
                    CodeCheck::Rejected(StepError::WrongCode { voided: false }) if typo => {
                        self.reject(steps.code, &StepError::WrongCode { voided: false });
                        return Next::At(done, Phase::SubmitCode { typo: false });
                    }
                    CodeCheck::Rejected(error) => {
                        return Next::Failed(self.reject(steps.code, &error));
                    }
                }
                if walk.kind() == JourneyKind::SignIn {
                    return Next::Completed;
                }
                walk.records().flow.step = Step::NewPassword;
                self.then_think(done, Phase::NewPassword)
            }
            Phase::NewPassword => {
                let step = (Step::NewPassword, Step::AcceptTerms);
                match self.move_on(walk, steps.new_password, step.0, step.1, now) {
                    Ok(done) => Next::At(done, Phase::FinalTerms),
                    Err(failed) => failed,
                }
            }
            Phase::FinalTerms => {
                let step = Step::AcceptTerms;
                match self.move_on(walk, steps.final_terms, step, step, now) {
                    Ok(_) => Next::Completed,
                    Err(failed) => failed,
                }
            }
        }
    }

    /// Serves step `index`, which the flow must expect as `expected`, and
    /// moves the flow to `next`. Returns when the step is answered, or the
    /// journey's failure when the rules reject it.
    fn move_on(
        &mut self,
        walk: &mut Walk,
        index: u8,
        expected: Step,
        next: Step,
        now: u64,
    ) -> Result<u64, Next> {
        let done = self.serve(index, now);
        let at = self.event_at;
        let plan = self.plan;
        let flow = &mut walk.records().flow;
        if let Err(error) = flow.begin_step(expected, at, &plan.policy) {
            return Err(Next::Failed(self.reject(index, &error)));
        }
        flow.step = next;
        Ok(done)
    }

    /// Sends a code at step `index`, arriving at `now` and answered at
    /// `done`, with the rules' send checks; then the person waits for it.
    fn send_code(
        &mut self,
        walk: &mut Walk,
        index: u8,
        send: CodeSend,
        channel: Channel,
        now: u64,
        done: u64,
    ) -> Next {
        let at = self.event_at;
        let plan = self.plan;
        let policy = &plan.policy;
        let Records { flow, account } = walk.records();
        if let Err(error) = flow.check_code_send(account, send, at, policy) {
            if let StepError::ResendTooSoon { retry_after_s } = error {
                self.reject(index, &error);
                walk.too_soon += 1;
                if walk.too_soon == TOO_SOON_TRIES {
                    return Next::Failed("resend_too_soon");
                }
                let pause = retry_after_s.max(1) as u64 * SECOND_US;
                return Next::At(done + pause, walk.phase);
            }
            return Next::Failed(self.reject(index, &error));
        }

        let provider = match channel {
            Channel::Email => Provider::Email,
            Channel::Sms => Provider::Sms,
        };
        let sent = self.send(provider, now);
        let done = done + sent.extra_us;
        self.answered_at = done;
        if !sent.accepted {
            let error = StepError::ProviderUnavailable {
                provider: provider.name(),
            };
            let code = self.reject(index, &error);
            if let Some(retry) = retry_send(walk, done) {
                return retry;
            }
            // A person whose text cannot be sent requests the code by
            // email, once, where the journey offers the choice.
            if walk.phase == Phase::Channel && channel == Channel::Sms && !walk.switched {
                walk.mailbox = Some(Channel::Sms);
                walk.last_failed = false;
                return self.then_think(done, Phase::ChannelAgain);
            }
            return Next::Failed(code);
        }

        walk.provider_tries = 0;
        let Records { flow, account } = walk.records();
        let code = IssuedCode {
            digest: String::new(),
            channel,
            issued_at: at,
            wrong_submissions: 0,
        };
        flow.record_code_sent(account, code, send, policy);
        flow.step = Step::Code;

        let day = self.day(now);
        match channel {
            Channel::Email => self.tally.days[day].emails_sent += 1,
            Channel::Sms => self.tally.days[day].sms_sent += 1,
        }
        if walk.switched && walk.mailbox == Some(Channel::Sms) {
            self.tally.days[day].sms_moved_to_email += 1;
        }
        walk.mailbox = Some(channel);
        let (at, wait) = message_wait(sent.delivery, done, self.plan.code_wait_us);
        Next::At(at, Phase::CodeWaitEnds(wait))
    }

    /// Mails or emails the temporary password, with the rules' send checks.
    fn send_temporary_password(&mut self, walk: &mut Walk, now: u64) -> Next {
        let steps = walk.steps();
        let postal = walk.kind() == JourneyKind::TempPasswordPostal;
        let (step, channel, provider) = if postal {
            (
                Step::MailTemporaryPassword,
                TemporaryPasswordChannel::Post,
                Provider::Postal,
            )
        } else {
            (
                Step::EmailTemporaryPassword,
                TemporaryPasswordChannel::Email,
                Provider::Email,
            )
        };

        let done = self.serve(steps.send, now);
        let at = self.event_at;
        let plan = self.plan;
        let policy = &plan.policy;
        let last = walk.last_failed.then_some(DeliveryStatus::Returned);
        let Some(records) = walk.records.as_mut() else {
            return Next::Failed("letter_returned");
        };
        let is_resend = match records
            .flow
            .begin_temporary_password_send(step, last, at, policy)
        {
            Ok(is_resend) => is_resend,
            Err(error) => {
                self.reject(steps.send, &error);
                // A returned letter whose flow has expired leaves the person
                // to start again: the letter's return is the cause.
                return Next::Failed(if postal && walk.last_failed {
                    "letter_returned"
                } else {
                    error.code()
                });
            }
        };

        let sent = self.send(provider, now);
        let done = done + sent.extra_us;
        self.answered_at = done;
        if !sent.accepted {
            let error = StepError::ProviderUnavailable {
                provider: provider.name(),
            };
            let code = self.reject(steps.send, &error);
            return retry_send(walk, done).unwrap_or(Next::Failed(code));
        }

        walk.provider_tries = 0;
        walk.sent += 1;
        walk.last_failed = false;
        let key = DeliveryKey {
            channel: if postal {
                DeliveryChannel::Postal
            } else {
                DeliveryChannel::Email
            },
            provider_id: String::new(),
        };
        let records = walk.records();
        records
            .flow
            .record_temporary_password_sent(key, is_resend, at, policy);
        records.account.temporary_password = Some(TemporaryPassword {
            hash: String::new(),
            channel,
            issued_at: at,
            expires_at: at + policy.temporary_password_validity(channel),
            message_id: None,
        });

        let day = self.day(now);
        if !postal {
            self.tally.days[day].emails_sent += 1;
            let (at, wait) = message_wait(sent.delivery, done, self.plan.code_wait_us);
            return Next::At(at, Phase::TemporaryEmailWaitEnds(wait));
        }

        self.tally.days[day].letters_mailed += 1;
        self.letters_in_transit += 1;
        self.reading_letters += 1;
        // The flow expires while the letter travels; the account keeps the
        // temporary password's expiry.
        let expires = records
            .account
            .temporary_password
            .as_ref()
            .map(|temporary| temporary.expires_at)
            .expect("just set");
        walk.temporary_expires_us = (expires - self.epoch)
            .num_microseconds()
            .unwrap_or(i64::MAX) as u64;
        let (lands, wait) = match sent.delivery {
            Delivery::After(days) => (self.letter_lands(done, days), Wait::Arrived),
            Delivery::FailedAfter(days) => (self.letter_lands(done, days), Wait::Failed),
            Delivery::Never => {
                let longest = f64::from(self.plan.transit_business_days.1);
                let longest = match &self.plan.profile.postal.delivery_delay {
                    Some(delay) => delay.practical_max().ceil().max(longest),
                    None => longest,
                };
                (self.letter_lands(done, longest), Wait::TimedOut)
            }
        };
        if matches!(self.plan.postal, PostalTime::Calendar { .. }) {
            walk.records = None;
        }
        Next::At(lands, Phase::LetterLands(wait))
    }

    /// Returns when a letter mailed at `mailed` lands, after `business_days`.
    fn letter_lands(&self, mailed: u64, business_days: f64) -> u64 {
        let days = postal_business_days(business_days);
        match self.plan.postal {
            PostalTime::Compressed { business_day_us } => {
                mailed + u64::from(days) * business_day_us
            }
            PostalTime::Calendar { .. } => {
                let date: NaiveDate = self.clock(mailed).date_naive();
                let lands = add_business_days(date, days)
                    .and_time(NaiveTime::from_hms_opt(LETTER_LANDS_AT_HOUR, 0, 0).expect("valid"));
                let since = lands.and_utc() - self.epoch;
                (since.num_microseconds().unwrap_or(i64::MAX) as u64).max(mailed)
            }
        }
    }

    fn read_delay_us(&mut self) -> u64 {
        match self.plan.postal {
            PostalTime::Compressed { .. } => 0,
            PostalTime::Calendar {
                read_delay_hours: (low, high),
            } => {
                let hours = if high > low {
                    self.rng.random_range(low..high)
                } else {
                    low
                };
                (hours * HOUR_US as f64) as u64
            }
        }
    }

    /// Draws one send to `provider` at `now`, with the service client's
    /// retries, from the scenario's fault profile.
    fn send(&mut self, provider: Provider, now: u64) -> Sent {
        let plan = self.plan;
        let profile = plan.profile.channel(provider);
        let retry = &plan.retry;
        let timeout = retry.timeout.as_micros() as u64;
        let mut extra = 0u64;
        let attempts = retry.max_attempts();
        for attempt in 1..=attempts {
            let elapsed = Duration::from_micros(now + extra);
            let mut retry_after = None;
            if let Some(outage) = outage_at(profile, elapsed) {
                extra += match outage {
                    OutageKind::Hang => timeout,
                    OutageKind::Http503 | OutageKind::ConnectionReset => 1_000,
                };
            } else {
                let roll: f64 = self.rng.random();
                let latency_us = sample(profile.latency.as_ref(), &mut self.rng)
                    .map_or(0, |ms| (ms * 1_000.0) as u64);
                let delay = sample(profile.delivery_delay.as_ref(), &mut self.rng);
                let delay = delay.unwrap_or_else(|| self.default_delay(provider));
                let delivery = match pick_fault(profile, roll) {
                    None | Some(Fault::Duplicate) => Some(Delivery::After(delay)),
                    Some(Fault::HangAfterAccept) => {
                        extra += timeout;
                        Some(Delivery::After(delay))
                    }
                    Some(Fault::SilentLoss) => Some(Delivery::Never),
                    Some(Fault::Undeliverable | Fault::Bounce | Fault::ReturnedToSender) => {
                        Some(Delivery::FailedAfter(delay))
                    }
                    Some(Fault::HangBeforeAccept) => {
                        extra += timeout;
                        None
                    }
                    Some(Fault::Http429) => {
                        retry_after = Some(
                            Duration::from_secs(profile.fault_settings.retry_after_s)
                                .min(retry.max_retry_after)
                                .as_micros() as u64,
                        );
                        None
                    }
                    Some(Fault::Http500 | Fault::Http503 | Fault::ConnectionReset) => None,
                };
                extra += latency_us;
                if let Some(delivery) = delivery {
                    return Sent {
                        accepted: true,
                        extra_us: extra,
                        delivery,
                    };
                }
            }
            if attempt < attempts {
                extra += match retry_after {
                    Some(wait) => wait,
                    None => {
                        let cap = retry.backoff_cap(attempt).as_micros() as u64;
                        self.rng.random_range(0..=cap)
                    }
                };
            }
        }
        let day = self.day(now);
        self.tally.days[day].sends_failed += 1;
        Sent {
            accepted: false,
            extra_us: extra,
            delivery: Delivery::Never,
        }
    }

    /// Returns the delivery delay of a profile that sets none: none for email
    /// and SMS, and a draw from the scenario's transit range for letters.
    fn default_delay(&mut self, provider: Provider) -> f64 {
        match provider {
            Provider::Postal => {
                let (low, high) = self.plan.transit_business_days;
                f64::from(self.rng.random_range(low..=high))
            }
            _ => 0.0,
        }
    }
}

/// Returns when and how a person's wait for a message sent at `sent_at`
/// ends: at its delivery, at its reported failure, or after `wait_us`
/// without either.
fn message_wait(delivery: Delivery, sent_at: u64, wait_us: u64) -> (u64, Wait) {
    let deadline = sent_at + wait_us;
    let (at, wait) = match delivery {
        Delivery::After(seconds) => (sent_at + (seconds * 1e6) as u64, Wait::Arrived),
        Delivery::FailedAfter(seconds) => (sent_at + (seconds * 1e6) as u64, Wait::Failed),
        Delivery::Never => return (deadline, Wait::TimedOut),
    };
    if at <= deadline {
        (at, wait)
    } else {
        (deadline, Wait::TimedOut)
    }
}

/// Schedules the same step again after a pause while the person has tries
/// left, as the live driver does when a send answers `provider_unavailable`.
fn retry_send(walk: &mut Walk, done: u64) -> Option<Next> {
    if walk.provider_tries + 1 < PROVIDER_TRIES {
        let pause = PROVIDER_PAUSE_US << walk.provider_tries;
        walk.provider_tries += 1;
        return Some(Next::At(done + pause, walk.phase));
    }
    walk.provider_tries = 0;
    None
}

fn new_records(walk: &Walk, journey: Journey, at: DateTime<Utc>) -> Box<Records> {
    Box::new(Records {
        flow: Flow::new(String::new(), 0, journey, Step::Answers, at),
        account: synthetic_account(walk.factor.expect("set at start")),
    })
}

/// Builds an account with the rules' state and no personal data, because
/// the simulator needs no name, SSN or address to apply the rules.
fn synthetic_account(second_factor: SecondFactor) -> Account {
    Account {
        id: 0,
        username: String::new(),
        username_key: String::new(),
        password_hash: String::new(),
        ssn_digest: String::new(),
        date_of_birth: NaiveDate::MIN,
        email: String::new(),
        cell_phone: String::new(),
        primary_phone: String::new(),
        mailing_address: MailingAddress {
            name: String::new(),
            line1: String::new(),
            line2: None,
            city: String::new(),
            state: String::new(),
            zip: String::new(),
        },
        second_factor,
        security_questions: Vec::new(),
        answer_hashes: Vec::new(),
        terms_version: 1,
        locked_until: None,
        must_change_password: false,
        failures: EventWindow::default(),
        code_messages: EventWindow::default(),
        temporary_password: None,
    }
}
