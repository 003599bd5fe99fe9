//! Mock postal provider: mails letters that land in letterboxes after a random number
//! of business days on a compressed clock.
//!
//! Letters in transit wait in a min-heap by landing time. Every request first moves
//! the letters that are due into their letterboxes, so no timer task runs and the
//! work per request does not grow with the number of letters mailed.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::fields::{check_idempotency_key, check_not_blank, check_text};
use super::inbox::{
    lock, serialize_shared, BoundedMap, DeliveryCounters, Inboxes, Stats, IDEMPOTENCY_CAPACITY,
};
use super::problem::{JsonBody, PathParam, Problem, QueryParams};
use super::{finish_router, ProviderSettings, ProviderSettingsError, IDEMPOTENT_REPLAYED};
use crate::calendar::checked_add_business_days;

/// Shared state of one postal mock: its clock, letters in transit, letterboxes and
/// counters. Cloning is cheap and shares the state.
#[derive(Clone)]
pub struct PostalState {
    shared: Arc<PostalShared>,
}

struct PostalShared {
    office: Mutex<PostOffice>,
    counters: DeliveryCounters,
}

impl PostalState {
    /// Creates an empty postal mock whose virtual clock starts now at
    /// `settings.start_date`.
    pub fn new(settings: &ProviderSettings) -> Result<Self, ProviderSettingsError> {
        Self::starting_at(settings, Instant::now())
    }

    fn starting_at(
        settings: &ProviderSettings,
        start: Instant,
    ) -> Result<Self, ProviderSettingsError> {
        settings.validate()?;
        let office = PostOffice {
            clock: VirtualClock {
                start,
                seconds_per_business_day: settings.seconds_per_business_day,
                elapsed_business_days: 0,
                today: settings.start_date,
            },
            transit_rng: ChaCha8Rng::seed_from_u64(settings.seed),
            transit_business_days: settings.postal_transit_business_days.clone(),
            in_transit: BinaryHeap::new(),
            letterboxes: Inboxes::new(),
            letters: BoundedMap::new(IDEMPOTENCY_CAPACITY),
            letters_by_idempotency_key: BoundedMap::new(IDEMPOTENCY_CAPACITY),
            next_sequence: 1,
            latest_request: start,
        };
        let shared = PostalShared {
            office: Mutex::new(office),
            counters: DeliveryCounters::default(),
        };
        Ok(Self {
            shared: Arc::new(shared),
        })
    }

    /// Mails a letter at `now` and returns its status, or the status of the earlier
    /// letter with the same idempotency key and `true`.
    fn mail(
        &self,
        now: Instant,
        to: PostalAddress,
        text: String,
        idempotency_key: Option<String>,
    ) -> (LetterView, bool) {
        let mut office = lock(&self.shared.office);
        let now = office.catch_up(now, &self.shared.counters);

        if let Some(key) = &idempotency_key {
            if let Some(record) = office.letters_by_idempotency_key.get(key) {
                return (record.view(now), true);
            }
        }

        let record = office.post(now, text, to);
        if let Some(key) = idempotency_key {
            office
                .letters_by_idempotency_key
                .insert(key, record.clone());
        }
        self.shared.counters.record_in_transit();
        // A transit of 0 business days lands at once.
        office.catch_up(now, &self.shared.counters);
        (record.view(now), false)
    }

    fn letter(&self, now: Instant, id: &str) -> Option<LetterView> {
        let mut office = lock(&self.shared.office);
        let now = office.catch_up(now, &self.shared.counters);
        office.letters.get(id).map(|record| record.view(now))
    }

    fn letterbox(&self, now: Instant, address: &LetterboxAddress) -> Vec<Arc<DeliveredLetter>> {
        let mut office = lock(&self.shared.office);
        office.catch_up(now, &self.shared.counters);
        office.letterboxes.messages(address)
    }

    fn stats(&self, now: Instant) -> Stats {
        let mut office = lock(&self.shared.office);
        office.catch_up(now, &self.shared.counters);
        self.shared.counters.snapshot()
    }
}

/// Builds the postal mock's router: `POST /v1/letters`, `GET /v1/letters/{id}`,
/// `GET /v1/letterbox` and `GET /v1/stats`.
pub fn postal_router(state: PostalState) -> Router {
    let routes = Router::new()
        .route("/v1/letters", post(mail_letter))
        .route("/v1/letters/{id}", get(letter_status))
        .route("/v1/letterbox", get(list_letterbox))
        .route("/v1/stats", get(stats))
        .with_state(state);
    finish_router(routes)
}

/// The postal mock's mutable state, behind one mutex.
struct PostOffice {
    clock: VirtualClock,
    transit_rng: ChaCha8Rng,
    transit_business_days: RangeInclusive<u32>,
    in_transit: BinaryHeap<LetterInTransit>,
    letterboxes: Inboxes<LetterboxAddress, DeliveredLetter>,
    /// Status of the latest letters by id, for `GET /v1/letters/{id}`.
    letters: BoundedMap<LetterRecord>,
    letters_by_idempotency_key: BoundedMap<LetterRecord>,
    next_sequence: u64,
    /// Latest time any request has used, so that no request reports an earlier state.
    latest_request: Instant,
}

impl PostOffice {
    /// Draws a transit time, puts the letter in transit and returns its record.
    fn post(&mut self, now: Instant, text: String, to: PostalAddress) -> LetterRecord {
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        let id = format!("lt_{sequence:016x}");

        let transit_business_days = self
            .transit_rng
            .random_range(self.transit_business_days.clone());
        let mailed_on = self.clock.date_at(now);
        // The clock saturates at chrono's last date, and so do letters mailed near it.
        let expected_delivery_date =
            checked_add_business_days(mailed_on, u64::from(transit_business_days))
                .unwrap_or(NaiveDate::MAX);

        let transit = self.clock.duration_of(transit_business_days);
        let deliver_at = now.checked_add(transit).unwrap_or_else(|| far_future(now));
        let delivered_at = TimeDelta::from_std(transit)
            .ok()
            .and_then(|transit| Utc::now().checked_add_signed(transit));

        let record = LetterRecord {
            id: id.clone(),
            mailed_on,
            expected_delivery_date,
            transit_business_days,
            deliver_at,
            delivered_at,
        };
        self.letters.insert(id.clone(), record.clone());

        let letterbox = LetterboxAddress {
            zip: to.zip.clone(),
            line1: canonical_line1(&to.line1),
        };
        let letter = DeliveredLetter {
            id: id.clone(),
            to,
            text,
            mailed_on,
            delivered_on: expected_delivery_date,
        };
        self.in_transit.push(LetterInTransit {
            deliver_at,
            sequence,
            letterbox,
            letter,
        });

        tracing::debug!(%id, transit_business_days, %mailed_on, "letter mailed");
        record
    }

    /// Moves every letter that is due at `now` into its letterbox and returns the
    /// time the request should use.
    ///
    /// Handlers read the time before they wait for the lock, so a request can arrive
    /// here with a time earlier than one already handled. It then uses the later
    /// time, so that it never reports a delivered letter as in transit.
    fn catch_up(&mut self, now: Instant, counters: &DeliveryCounters) -> Instant {
        let now = now.max(self.latest_request);
        self.latest_request = now;
        while self
            .in_transit
            .peek()
            .is_some_and(|letter| letter.deliver_at <= now)
        {
            let Some(due) = self.in_transit.pop() else {
                break;
            };
            tracing::debug!(id = %due.letter.id, "letter delivered");
            self.letterboxes.push(due.letterbox, due.letter);
            counters.record_arrival();
        }
        now
    }
}

/// The mock's compressed calendar: one business day passes every
/// `seconds_per_business_day` real seconds after `start`.
struct VirtualClock {
    start: Instant,
    seconds_per_business_day: f64,
    /// Business days counted into `today` so far, so each call only adds the days
    /// since the previous one.
    elapsed_business_days: u64,
    today: NaiveDate,
}

impl VirtualClock {
    /// Returns the virtual date at `now`: the start date plus one business day for
    /// every `seconds_per_business_day` elapsed.
    fn date_at(&mut self, now: Instant) -> NaiveDate {
        let elapsed = now.saturating_duration_since(self.start).as_secs_f64();
        // `as` saturates, and the clock only moves forward.
        let business_days = (elapsed / self.seconds_per_business_day).floor() as u64;
        if business_days > self.elapsed_business_days {
            let added = business_days - self.elapsed_business_days;
            self.today = checked_add_business_days(self.today, added).unwrap_or(NaiveDate::MAX);
            self.elapsed_business_days = business_days;
        }
        self.today
    }

    /// Returns the real time that `business_days` last on this clock.
    fn duration_of(&self, business_days: u32) -> Duration {
        // Settings validation keeps this product far below Duration::MAX.
        Duration::try_from_secs_f64(f64::from(business_days) * self.seconds_per_business_day)
            .unwrap_or(Duration::MAX)
    }
}

/// Returns a landing time 30 years after `now`, for a transit too long to add.
/// Settings validation makes this unreachable.
fn far_future(now: Instant) -> Instant {
    const THIRTY_YEARS: Duration = Duration::from_secs(30 * 365 * 24 * 60 * 60);
    now.checked_add(THIRTY_YEARS).unwrap_or(now)
}

/// Status data of a mailed letter, without its text.
#[derive(Clone)]
struct LetterRecord {
    id: String,
    mailed_on: NaiveDate,
    expected_delivery_date: NaiveDate,
    transit_business_days: u32,
    deliver_at: Instant,
    /// Wall-clock landing time, `None` if it does not fit in a `DateTime`.
    delivered_at: Option<DateTime<Utc>>,
}

impl LetterRecord {
    /// Builds the JSON view of the letter at `now`. A letter counts as delivered
    /// once its landing time has passed, which is also when `catch_up` moves it
    /// into the letterbox.
    fn view(&self, now: Instant) -> LetterView {
        let delivered = self.deliver_at <= now;
        LetterView {
            id: self.id.clone(),
            status: if delivered { "delivered" } else { "in_transit" },
            mailed_on: self.mailed_on,
            expected_delivery_date: self.expected_delivery_date,
            transit_business_days: self.transit_business_days,
            delivered_at: if delivered { self.delivered_at } else { None },
        }
    }
}

/// A letter's status as `POST /v1/letters` and `GET /v1/letters/{id}` return it.
#[derive(Debug, Serialize)]
struct LetterView {
    id: String,
    status: &'static str,
    mailed_on: NaiveDate,
    expected_delivery_date: NaiveDate,
    transit_business_days: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    delivered_at: Option<DateTime<Utc>>,
}

/// A letter waiting in the heap, ordered so that the earliest landing time is on top.
struct LetterInTransit {
    deliver_at: Instant,
    sequence: u64,
    letterbox: LetterboxAddress,
    letter: DeliveredLetter,
}

impl Ord for LetterInTransit {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed, because BinaryHeap is a max-heap. Ties land in mailing order.
        (other.deliver_at, other.sequence).cmp(&(self.deliver_at, self.sequence))
    }
}

impl PartialOrd for LetterInTransit {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for LetterInTransit {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for LetterInTransit {}

/// A letterbox's key: the ZIP code and the canonical first address line.
#[derive(Clone, PartialEq, Eq, Hash)]
struct LetterboxAddress {
    zip: String,
    line1: String,
}

/// A delivered letter as a letterbox lists it.
#[derive(Serialize)]
struct DeliveredLetter {
    id: String,
    to: PostalAddress,
    text: String,
    mailed_on: NaiveDate,
    delivered_on: NaiveDate,
}

/// A validated postal address with trimmed fields.
#[derive(Debug, Clone, Serialize)]
struct PostalAddress {
    name: String,
    line1: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    line2: Option<String>,
    city: String,
    state: String,
    zip: String,
}

#[derive(Clone, Deserialize)]
struct PostalAddressRequest {
    name: String,
    line1: String,
    #[serde(default)]
    line2: Option<String>,
    city: String,
    state: String,
    zip: String,
}

#[derive(Deserialize)]
struct MailLetterRequest {
    to: PostalAddressRequest,
    text: String,
    #[serde(default)]
    idempotency_key: Option<String>,
}

#[derive(Deserialize)]
struct LetterboxQuery {
    line1: Option<String>,
    zip: Option<String>,
}

#[derive(Serialize)]
struct LetterList {
    #[serde(serialize_with = "serialize_shared")]
    letters: Vec<Arc<DeliveredLetter>>,
}

async fn mail_letter(
    State(state): State<PostalState>,
    JsonBody(request): JsonBody<MailLetterRequest>,
) -> Result<Response, Problem> {
    let to = validate_address(&request.to)?;
    check_text(&request.text)?;
    check_idempotency_key(request.idempotency_key.as_deref())?;

    let (letter, replayed) = state.mail(Instant::now(), to, request.text, request.idempotency_key);

    let mut response = (StatusCode::ACCEPTED, Json(letter)).into_response();
    if replayed {
        response
            .headers_mut()
            .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    }
    Ok(response)
}

async fn letter_status(
    State(state): State<PostalState>,
    PathParam(id): PathParam<String>,
) -> Result<Json<LetterView>, Problem> {
    match state.letter(Instant::now(), &id) {
        Some(letter) => Ok(Json(letter)),
        None => Err(Problem::not_found(format!(
            "no letter has the id {id:?}; the mock keeps the latest {IDEMPOTENCY_CAPACITY} letters"
        ))),
    }
}

async fn list_letterbox(
    State(state): State<PostalState>,
    QueryParams(query): QueryParams<LetterboxQuery>,
) -> Result<Json<LetterList>, Problem> {
    let (line1, zip) = match (query.line1, query.zip) {
        (Some(line1), Some(zip)) => (line1, zip),
        (None, Some(_)) => {
            return Err(Problem::invalid_request(
                "query parameter `line1` is missing",
            ))
        }
        (Some(_), None) => {
            return Err(Problem::invalid_request("query parameter `zip` is missing"))
        }
        (None, None) => {
            return Err(Problem::invalid_request(
                "query parameters `line1` and `zip` are missing",
            ));
        }
    };
    check_not_blank("line1", &line1)?;
    let zip = check_zip("zip", &zip)?;

    let address = LetterboxAddress {
        zip,
        line1: canonical_line1(&line1),
    };
    Ok(Json(LetterList {
        letters: state.letterbox(Instant::now(), &address),
    }))
}

async fn stats(State(state): State<PostalState>) -> Json<Stats> {
    Json(state.stats(Instant::now()))
}

/// Returns the address with trimmed fields and an upper-case state, or rejects a
/// blank name, line1 or city, a state that is not two letters, or a ZIP code that
/// is not five digits.
fn validate_address(to: &PostalAddressRequest) -> Result<PostalAddress, Problem> {
    check_not_blank("to.name", &to.name)?;
    check_not_blank("to.line1", &to.line1)?;
    check_not_blank("to.city", &to.city)?;

    let state = to.state.trim();
    if state.len() != 2 || !state.bytes().all(|byte| byte.is_ascii_alphabetic()) {
        return Err(Problem::invalid_request(
            "`to.state` must be a two-letter state code, such as CA",
        ));
    }

    let line2 = to
        .line2
        .as_deref()
        .map(str::trim)
        .filter(|line| !line.is_empty());
    Ok(PostalAddress {
        name: to.name.trim().to_owned(),
        line1: to.line1.trim().to_owned(),
        line2: line2.map(str::to_owned),
        city: to.city.trim().to_owned(),
        state: state.to_ascii_uppercase(),
        zip: check_zip("to.zip", &to.zip)?,
    })
}

/// Returns the trimmed ZIP code, or rejects one that is not exactly five digits.
fn check_zip(field: &str, zip: &str) -> Result<String, Problem> {
    let zip = zip.trim();
    if zip.len() != 5 || !zip.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(Problem::invalid_request(format!(
            "`{field}` must be a five-digit ZIP code, such as 94105"
        )));
    }
    Ok(zip.to_owned())
}

/// Returns the first address line lower-cased, with whitespace runs collapsed to
/// one space and none at either end.
fn canonical_line1(line1: &str) -> String {
    line1
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(year: i32, month: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(year, month, day).expect("test dates are valid")
    }

    fn settings(seed: u64, transit: RangeInclusive<u32>) -> ProviderSettings {
        ProviderSettings {
            seed,
            seconds_per_business_day: 10.0,
            postal_transit_business_days: transit,
            start_date: date(2026, 11, 25),
        }
    }

    fn address(line1: &str) -> PostalAddress {
        PostalAddress {
            name: "Jane Doe".to_owned(),
            line1: line1.to_owned(),
            line2: None,
            city: "Springfield".to_owned(),
            state: "IL".to_owned(),
            zip: "62701".to_owned(),
        }
    }

    /// Mails a letter to `line1` in ZIP 62701 at `now`.
    fn mail(
        state: &PostalState,
        now: Instant,
        line1: &str,
        key: Option<&str>,
    ) -> (LetterView, bool) {
        let text = "Your temporary password is 1234".to_owned();
        state.mail(now, address(line1), text, key.map(str::to_owned))
    }

    fn letterbox_key(line1: &str) -> LetterboxAddress {
        LetterboxAddress {
            zip: "62701".to_owned(),
            line1: canonical_line1(line1),
        }
    }

    fn seconds(value: u64) -> Duration {
        Duration::from_secs(value)
    }

    #[test]
    fn clock_counts_business_days() {
        let start = Instant::now();
        let mut clock = VirtualClock {
            start,
            seconds_per_business_day: 10.0,
            elapsed_business_days: 0,
            today: date(2026, 11, 25),
        };
        assert_eq!(clock.date_at(start), date(2026, 11, 25));
        assert_eq!(clock.date_at(start + seconds(9)), date(2026, 11, 25));
        // Thanksgiving and the weekend are skipped.
        assert_eq!(clock.date_at(start + seconds(10)), date(2026, 11, 27));
        assert_eq!(clock.date_at(start + seconds(25)), date(2026, 11, 30));
        assert_eq!(clock.date_at(start + seconds(50)), date(2026, 12, 3));
        // An earlier instant does not move the clock back.
        assert_eq!(clock.date_at(start + seconds(5)), date(2026, 12, 3));
    }

    #[test]
    fn letter_lands_after_transit() {
        let start = Instant::now();
        let state = PostalState::starting_at(&settings(7, 5..=5), start).expect("valid settings");

        let (record, replayed) = mail(&state, start, "1 Main St", None);
        assert!(!replayed);
        assert_eq!(record.mailed_on, date(2026, 11, 25));
        assert_eq!(record.transit_business_days, 5);
        assert_eq!(record.expected_delivery_date, date(2026, 12, 3));

        let just_before = start + seconds(49);
        assert!(state
            .letterbox(just_before, &letterbox_key("1 main st"))
            .is_empty());
        let status = state.letter(just_before, &record.id).expect("known id");
        assert_eq!(status.status, "in_transit");
        assert_eq!(status.delivered_at, None);
        assert_eq!(
            state.stats(just_before),
            Stats {
                sent: 1,
                delivered: 0,
                failed: 0,
                in_transit: 1
            }
        );

        let landed = start + seconds(50);
        let letters = state.letterbox(landed, &letterbox_key("  1   MAIN st "));
        assert_eq!(letters.len(), 1);
        assert_eq!(letters[0].id, record.id);
        assert_eq!(letters[0].delivered_on, date(2026, 12, 3));
        let status = state.letter(landed, &record.id).expect("known id");
        assert_eq!(status.status, "delivered");
        assert!(status.delivered_at.is_some());
        assert_eq!(
            state.stats(landed),
            Stats {
                sent: 1,
                delivered: 1,
                failed: 0,
                in_transit: 0
            }
        );
    }

    #[test]
    fn letters_land_in_deadline_order() {
        let start = Instant::now();
        let state = PostalState::starting_at(&settings(3, 5..=10), start).expect("valid settings");

        // (landing time in seconds after start, id) of each letter.
        let mut expected = Vec::new();
        for n in 0..20u64 {
            let (letter, _) = mail(&state, start + seconds(n), "1 Main St", None);
            let landing = n + 10 * u64::from(letter.transit_business_days);
            expected.push((landing, letter.id));
        }
        // Ids are zero-padded sequence numbers, so ties sort in mailing order.
        expected.sort();
        let expected: Vec<String> = expected.into_iter().map(|(_, id)| id).collect();

        let end = start + seconds(200);
        let landed: Vec<String> = state
            .letterbox(end, &letterbox_key("1 Main St"))
            .iter()
            .map(|letter| letter.id.clone())
            .collect();
        assert_eq!(landed, expected);
    }

    #[test]
    fn idempotent_mail_returns_first_letter() {
        let start = Instant::now();
        let state = PostalState::starting_at(&settings(7, 5..=5), start).expect("valid settings");

        let (first, _) = mail(&state, start, "1 Main St", Some("letter-1"));
        let (again, replayed) = mail(&state, start + seconds(60), "1 Main St", Some("letter-1"));
        assert!(replayed);
        assert_eq!(again.id, first.id);
        assert_eq!(again.status, "delivered");
        assert_eq!(
            state
                .letterbox(start + seconds(60), &letterbox_key("1 Main St"))
                .len(),
            1
        );
        assert_eq!(state.stats(start + seconds(60)).sent, 1);
    }

    #[test]
    fn same_seed_draws_same_transit_days() {
        let draw = |seed| {
            let start = Instant::now();
            let state =
                PostalState::starting_at(&settings(seed, 5..=10), start).expect("valid settings");
            (0..30)
                .map(|_| {
                    mail(&state, start, "1 Main St", None)
                        .0
                        .transit_business_days
                })
                .collect::<Vec<u32>>()
        };
        let first = draw(42);
        assert_eq!(first, draw(42));
        assert_ne!(first, draw(43));
        assert!(
            first.iter().all(|days| (5..=10).contains(days)),
            "{first:?}"
        );
    }

    #[test]
    fn late_request_sees_latest_state() {
        let start = Instant::now();
        let state = PostalState::starting_at(&settings(7, 5..=5), start).expect("valid settings");
        let (letter, _) = mail(&state, start, "1 Main St", None);

        // One request delivers the letter at 60 s. A request that read the time
        // earlier but got the lock later must not report the letter in transit.
        assert_eq!(state.stats(start + seconds(60)).delivered, 1);
        let status = state
            .letter(start + seconds(1), &letter.id)
            .expect("known id");
        assert_eq!(status.status, "delivered");
    }

    #[test]
    fn zero_day_transit_lands_at_once() {
        let start = Instant::now();
        let state = PostalState::starting_at(&settings(1, 0..=0), start).expect("valid settings");
        let (record, _) = mail(&state, start, "1 Main St", None);
        assert_eq!(record.expected_delivery_date, record.mailed_on);
        assert_eq!(state.letterbox(start, &letterbox_key("1 Main St")).len(), 1);
    }

    #[test]
    fn address_fields_validated() {
        let valid = PostalAddressRequest {
            name: " Jane Doe ".to_owned(),
            line1: "1 Main St".to_owned(),
            line2: Some("  ".to_owned()),
            city: "Springfield".to_owned(),
            state: "il".to_owned(),
            zip: " 62701 ".to_owned(),
        };
        let address = validate_address(&valid).expect("valid address");
        assert_eq!(address.name, "Jane Doe");
        assert_eq!(address.line2, None);
        assert_eq!(address.state, "IL");
        assert_eq!(address.zip, "62701");

        let invalid: [fn(&mut PostalAddressRequest); 7] = [
            |a| a.name = " ".to_owned(),
            |a| a.line1 = String::new(),
            |a| a.city = String::new(),
            |a| a.state = "Illinois".to_owned(),
            |a| a.state = "I1".to_owned(),
            |a| a.zip = "6270".to_owned(),
            |a| a.zip = "62701-1234".to_owned(),
        ];
        for (case, change) in invalid.iter().enumerate() {
            let mut request = valid.clone();
            change(&mut request);
            let problem = validate_address(&request).expect_err("invalid address");
            assert_eq!(problem.code(), "invalid_request", "case {case}");
        }
    }

    #[test]
    fn line1_canonical_form() {
        assert_eq!(
            canonical_line1("  12  Elm\tStreet  Apt 4 "),
            "12 elm street apt 4"
        );
    }
}
