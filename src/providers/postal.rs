//! Mock postal provider shaped like a subset of Lob's letters API: letters are
//! mailed, tracked through a compressed business-day calendar, and land in
//! letterboxes that synthetic people read, or go back to the sender.
//!
//! Tracking events wait in a min-heap by due time. A timer task applies them as
//! they fall due and sends webhooks, and every request first applies the events
//! due at its own time, so no request reports an older state.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{NaiveDate, SecondsFormat, Utc};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::attempts::AttemptBook;
use super::desk::{Admission, Desk, Runtime};
use super::faults::{postal_business_days, AttemptDraw, Fault, Provider};
use super::fields::{check_not_blank, check_zip, idempotency_header};
use super::inbox::{lock, serialize_shared, BoundedMap, Inboxes, IDEMPOTENCY_CAPACITY};
use super::lob::{
    injected_error, validate_request, LetterView, LobAddress, LobError, LobJson, MailLetterRequest,
    Mailing, TrackingEvent,
};
use super::problem::{Problem, QueryParams};
use super::profile::Distribution;
use super::stats::{Counter, ProviderStats};
use super::timeline::{share_with_timer, Advance, Timeline};
use super::{finish_router, ProviderSettings, ProviderSettingsError, IDEMPOTENT_REPLAYED};
use crate::calendar::checked_add_business_days;

/// Names of the tracking events of a delivered letter, in order.
const DELIVERED_EVENTS: [&str; 4] = [
    "Mailed",
    "In Transit",
    "Processed for Delivery",
    "Delivered",
];

/// Name of the last tracking event of a returned letter.
const RETURNED_EVENT: &str = "Returned to Sender";

/// Shared state of one postal mock: its clock, letters, letterboxes and counters.
/// Cloning is cheap and shares the state.
#[derive(Clone)]
pub struct PostalState {
    shared: Arc<PostalShared>,
}

struct PostalShared {
    desk: Desk,
    office: Mutex<PostOffice>,
    wake: Arc<Notify>,
}

/// The postal mock's mutable state, behind one mutex.
struct PostOffice {
    clock: VirtualClock,
    /// Transit in business days, from the profile or from the settings' range.
    transit: Distribution,
    book: AttemptBook,
    letters: BoundedMap<LetterRecord>,
    letterboxes: Inboxes<LetterboxAddress, DeliveredLetter>,
    /// Tracking events to come: the letter id and the event's position.
    timeline: Timeline<(String, usize)>,
    next_sequence: u64,
    next_event: u64,
    /// Latest time any request has used, so that no request reports an earlier state.
    latest_request: Instant,
}

impl PostalState {
    /// Creates an empty postal mock whose virtual clock starts now at
    /// `settings.start_date`.
    pub fn new(settings: &ProviderSettings) -> Result<Self, ProviderSettingsError> {
        Self::with_runtime(settings, Runtime::standalone())
    }

    pub(crate) fn with_runtime(
        settings: &ProviderSettings,
        runtime: Runtime,
    ) -> Result<Self, ProviderSettingsError> {
        settings.validate()?;
        let (min, max) = settings.postal_transit_business_days.clone().into_inner();
        let profile = &settings.profile.postal;
        let transit = profile.delivery_delay.unwrap_or(Distribution::Uniform {
            min: f64::from(min),
            max: f64::from(max),
        });
        let start = runtime.started;
        let stop = runtime.stop_signal();
        let office = PostOffice {
            clock: VirtualClock {
                start,
                seconds_per_business_day: settings.seconds_per_business_day,
                elapsed_business_days: 0,
                today: settings.start_date,
            },
            transit,
            book: AttemptBook::new(),
            letters: BoundedMap::new(IDEMPOTENCY_CAPACITY),
            letterboxes: Inboxes::new(),
            timeline: Timeline::new(),
            next_sequence: 1,
            next_event: 1,
            latest_request: start,
        };
        let mut profile = profile.clone();
        profile.delivery_delay = Some(transit);
        let shared = PostalShared {
            desk: Desk::new(Provider::Postal, profile, settings.draw_seed(), runtime),
            office: Mutex::new(office),
            wake: Arc::new(Notify::new()),
        };
        let shared = share_with_timer(shared, stop);
        Ok(Self { shared })
    }
}

/// Builds the postal mock's router: Lob's `POST /v1/letters` and
/// `GET /v1/letters/{id}`, and the mock's own `GET /v1/letterbox` and `GET /v1/stats`.
pub fn postal_router(state: PostalState) -> Router {
    let routes = Router::new()
        .route("/v1/letters", post(mail_letter))
        .route("/v1/letters/{id}", get(letter_status))
        .route("/v1/letterbox", get(list_letterbox))
        .route("/v1/stats", get(stats))
        .with_state(state);
    finish_router(routes)
}

/// The mock's record of one mailed letter.
struct LetterRecord {
    view: LetterView,
    webhook_url: Option<Url>,
    letterbox: LetterboxAddress,
    /// The letter as its letterbox will list it, until it lands.
    letter: Option<DeliveredLetter>,
    returned: bool,
    /// Whether the letter lands twice, the second copy an injected duplicate.
    duplicate: bool,
    accepted_at: Instant,
}

impl LetterRecord {
    /// Appends the tracking event `name`, moves `status` along, and returns the
    /// webhook event type.
    fn add_event(&mut self, event_id: String, name: &'static str) -> &'static str {
        self.view.tracking_events.push(TrackingEvent {
            id: event_id,
            object: "tracking_event",
            event_type: "normal",
            name,
            time: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            location: self.view.to.address_zip.clone(),
        });
        let (status, event_type) = match name {
            "Mailed" => ("mailed", "letter.mailed"),
            "In Transit" => ("in_transit", "letter.in_transit"),
            "Processed for Delivery" => ("processed_for_delivery", "letter.processed_for_delivery"),
            "Delivered" => ("delivered", "letter.delivered"),
            _ => ("returned_to_sender", "letter.returned_to_sender"),
        };
        self.view.status = status;
        event_type
    }
}

/// A letterbox's key: the ZIP code and the canonical first address line.
#[derive(Clone, PartialEq, Eq, Hash)]
struct LetterboxAddress {
    zip: String,
    line1: String,
}

impl LetterboxAddress {
    /// Returns the key in one string, the canonical recipient of fault draws.
    fn recipient(&self) -> String {
        format!("{}|{}", self.zip, self.line1)
    }
}

/// A delivered letter as a letterbox lists it.
#[derive(Serialize)]
struct DeliveredLetter {
    id: String,
    to: PostalAddress,
    text: String,
    mailed_on: NaiveDate,
    delivered_on: NaiveDate,
    /// Whether the mock delivered this copy as an injected duplicate.
    #[serde(skip)]
    injected: bool,
}

/// A delivered letter's address in the letterbox listing.
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
    headers: HeaderMap,
    LobJson(request): LobJson<MailLetterRequest>,
) -> Result<Response, LobError> {
    let mailing = validate_request(request)?;
    let key = idempotency_header(&headers, "Idempotency-Key").map_err(LobError::invalid)?;
    Ok(state.mail(Instant::now(), mailing, key).await)
}

impl PostalState {
    async fn mail(&self, now: Instant, mailing: Mailing, key: Option<String>) -> Response {
        let desk = &self.shared.desk;
        let letterbox = LetterboxAddress {
            zip: mailing.to.address_zip.clone(),
            line1: canonical_line1(&mailing.to.address_line1),
        };
        let (admission, view) = {
            let mut office = lock(&self.shared.office);
            let now = office.catch_up(desk, now).0;
            let office = &mut *office;
            let recipient = letterbox.recipient();
            match desk.admit(&mut office.book, now, &recipient, key.as_deref()) {
                Admission::Accept(draw) => {
                    let view = office.post(desk, now, letterbox, mailing, &draw);
                    office.book.accept(&recipient, key.as_deref(), &view.id);
                    (Admission::Accept(draw), Some(view))
                }
                Admission::Replay(id) => {
                    let view = office.letters.get(&id).map(|record| record.view.clone());
                    (Admission::Replay(id), view)
                }
                other => (other, None),
            }
        };
        self.shared.wake.notify_one();

        let respond = |view: Option<LetterView>, replayed: bool| match (view, replayed) {
            (Some(view), false) => (StatusCode::OK, Json(view)).into_response(),
            (Some(view), true) => {
                (StatusCode::OK, [(IDEMPOTENT_REPLAYED, "true")], Json(view)).into_response()
            }
            (None, _) => LobError {
                status: StatusCode::NOT_FOUND,
                code: "not_found".to_owned(),
                message: "the letter of this idempotency key is no longer kept".to_owned(),
            }
            .into_response(),
        };
        desk.respond_to(admission, view, injected_error, respond)
            .await
    }

    fn letter(&self, now: Instant, id: &str) -> Option<LetterView> {
        let (_, callbacks) = lock(&self.shared.office).catch_up(&self.shared.desk, now);
        self.shared.send_webhooks(callbacks);
        lock(&self.shared.office)
            .letters
            .get(id)
            .map(|record| record.view.clone())
    }

    fn letterbox(&self, now: Instant, address: &LetterboxAddress) -> Vec<Arc<DeliveredLetter>> {
        self.shared.advance(now);
        lock(&self.shared.office).letterboxes.messages(address)
    }

    fn stats(&self, now: Instant) -> ProviderStats {
        self.shared.advance(now);
        self.shared.desk.stats.snapshot()
    }
}

/// A webhook to send: the URL, the letter id and the event body.
type Webhook = (Url, String, serde_json::Value);

impl PostalShared {
    fn send_webhooks(&self, webhooks: Vec<Webhook>) {
        for (url, id, body) in webhooks {
            self.desk.callbacks.post_json(url, id, &body);
        }
    }
}

impl Advance for PostalShared {
    fn advance(&self, now: Instant) -> Option<Instant> {
        let (next, webhooks) = {
            let mut office = lock(&self.office);
            let (_, webhooks) = office.catch_up(&self.desk, now);
            (office.timeline.next_due(), webhooks)
        };
        self.send_webhooks(webhooks);
        next
    }

    fn schedule_changed(&self) -> Arc<Notify> {
        self.wake.clone()
    }
}

impl PostOffice {
    /// Creates the record of an accepted letter and schedules its tracking events.
    fn post(
        &mut self,
        desk: &Desk,
        now: Instant,
        letterbox: LetterboxAddress,
        mailing: Mailing,
        draw: &AttemptDraw,
    ) -> LetterView {
        let id = format!("ltr_{:016x}", self.next_sequence);
        self.next_sequence += 1;

        let transit_business_days = transit_days(&self.transit, draw.delivery_delay.unwrap_or(0.0));
        let mailed_on = self.clock.date_at(now);
        // The clock saturates at chrono's last date, and so do letters mailed near it.
        let expected_delivery_date =
            checked_add_business_days(mailed_on, u64::from(transit_business_days))
                .unwrap_or(NaiveDate::MAX);
        let created = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
        let view = LetterView {
            id: id.clone(),
            object: "letter",
            description: mailing.description,
            metadata: mailing.metadata,
            to: mailing.to.clone(),
            from: mailing.from,
            expected_delivery_date,
            send_date: created.clone(),
            date_created: created,
            tracking_events: Vec::new(),
            status: "mailed",
        };
        let letter = DeliveredLetter {
            id: id.clone(),
            to: letterbox_address(&mailing.to),
            text: mailing.text,
            mailed_on,
            delivered_on: expected_delivery_date,
            injected: false,
        };
        let record = LetterRecord {
            view: view.clone(),
            webhook_url: mailing.webhook_url,
            letterbox,
            letter: Some(letter),
            returned: draw.fault == Some(Fault::ReturnedToSender),
            duplicate: draw.fault == Some(Fault::Duplicate),
            accepted_at: now,
        };
        self.letters.insert(id.clone(), record);

        if draw.fault == Some(Fault::SilentLoss) {
            desk.stats.add(Counter::Lost);
        } else {
            desk.stats.start_transit();
            let mailed_at = now + draw.latency;
            let transit = self.clock.duration_of(transit_business_days);
            for step in 0..DELIVERED_EVENTS.len() {
                // Mailed at once, the middle events at a third and two thirds of the
                // transit, the last one when it ends.
                let offset = transit.mul_f64(step as f64 / (DELIVERED_EVENTS.len() - 1) as f64);
                let due = mailed_at
                    .checked_add(offset)
                    .unwrap_or_else(|| far_future(now));
                self.timeline.push(due, (id.clone(), step));
            }
        }
        tracing::debug!(%id, transit_business_days, %mailed_on, fault = draw.fault.map(Fault::name), "letter mailed");
        view
    }

    /// Applies every tracking event due at `now` and returns the time the request
    /// should use with the webhooks to send.
    ///
    /// Handlers read the time before they wait for the lock, so a request can arrive
    /// here with a time earlier than one already handled. It then uses the later
    /// time, so that it never reports a delivered letter as in transit.
    fn catch_up(&mut self, desk: &Desk, now: Instant) -> (Instant, Vec<Webhook>) {
        let now = now.max(self.latest_request);
        self.latest_request = now;
        let mut webhooks = Vec::new();
        // Each event is applied at its due time, so a late request does not
        // lengthen the recorded delivery delay.
        while let Some((due, (id, step))) = self.timeline.pop_due(now) {
            webhooks.extend(self.track(desk, due, &id, step));
        }
        (now, webhooks)
    }

    /// Adds tracking event `step` to letter `id`, lands or returns the letter at
    /// the last step, and returns the webhook of the event.
    fn track(&mut self, desk: &Desk, now: Instant, id: &str, step: usize) -> Option<Webhook> {
        let last = step == DELIVERED_EVENTS.len() - 1;
        let event_id = format!("evnt_{:016x}", self.next_event);
        self.next_event += 1;
        let Some(record) = self.letters.get_mut(id) else {
            if last {
                desk.stats.end_transit(Counter::Lost);
            }
            return None;
        };

        let name = if last && record.returned {
            RETURNED_EVENT
        } else {
            DELIVERED_EVENTS[step]
        };
        let event_type = record.add_event(event_id, name);
        if last {
            self.finish(desk, now, id);
        }

        let record = self.letters.get(id)?;
        let url = record.webhook_url.clone()?;
        let body = json!({
            "id": format!("evt_{:016x}", self.next_event),
            "object": "event",
            "event_type": {"id": event_type, "object": "event_type", "resource": "letters", "enabled_for_test": true},
            "reference_id": id,
            "date_created": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            "body": record.view,
        });
        Some((url, id.to_owned(), body))
    }

    /// Ends the transit of letter `id`: returns it, or lands it in its letterbox.
    fn finish(&mut self, desk: &Desk, now: Instant, id: &str) {
        let Some(record) = self.letters.get_mut(id) else {
            return;
        };
        if record.returned {
            desk.stats.end_transit(Counter::Returned);
            return;
        }
        desk.stats
            .record_delivery(now.saturating_duration_since(record.accepted_at));
        let duplicate = record.duplicate;
        let letterbox = record.letterbox.clone();
        if let Some(letter) = record.letter.take() {
            self.deliver(desk, letterbox, letter, duplicate);
        }
    }

    /// Puts a landed letter, and its injected copy, into the letterbox.
    fn deliver(
        &mut self,
        desk: &Desk,
        letterbox: LetterboxAddress,
        letter: DeliveredLetter,
        duplicate: bool,
    ) {
        let earlier = self.letterboxes.messages(&letterbox);
        if earlier
            .iter()
            .any(|earlier| !earlier.injected && earlier.text == letter.text)
        {
            desk.stats.add(Counter::RetryDuplicates);
        }
        tracing::debug!(id = %letter.id, "letter delivered");
        if duplicate {
            let copy = DeliveredLetter {
                id: letter.id.clone(),
                to: letter.to.clone(),
                text: letter.text.clone(),
                mailed_on: letter.mailed_on,
                delivered_on: letter.delivered_on,
                injected: true,
            };
            self.letterboxes.push(letterbox.clone(), letter);
            self.letterboxes.push(letterbox, copy);
            desk.stats.add(Counter::DuplicatesInjected);
        } else {
            self.letterboxes.push(letterbox, letter);
        }
    }
}

/// Returns the whole business days of a transit draw from `distribution`.
///
/// A uniform draw maps onto the whole days from min to max with equal
/// probability; other draws are rounded to the nearest day.
fn transit_days(distribution: &Distribution, draw: f64) -> u32 {
    match *distribution {
        Distribution::Uniform { min, max } if max > min => {
            let fraction = ((draw - min) / (max - min)).clamp(0.0, 1.0);
            let days = (min + (fraction * (max - min + 1.0)).floor()).min(max);
            postal_business_days(days)
        }
        _ => postal_business_days(draw),
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

/// Returns a time 30 years after `now`, for a transit too long to add.
/// Settings validation makes this unreachable.
fn far_future(now: Instant) -> Instant {
    const THIRTY_YEARS: Duration = Duration::from_secs(30 * 365 * 24 * 60 * 60);
    now.checked_add(THIRTY_YEARS).unwrap_or(now)
}

async fn letter_status(
    State(state): State<PostalState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<LetterView>, LobError> {
    let Path(id) = id.map_err(|rejection| LobError::from(Problem::from(rejection)))?;
    match state.letter(Instant::now(), &id) {
        Some(letter) => Ok(Json(letter)),
        None => Err(LobError {
            status: StatusCode::NOT_FOUND,
            code: "not_found".to_owned(),
            message: format!(
                "no letter has this id; the mock keeps the latest {IDEMPOTENCY_CAPACITY} letters"
            ),
        }),
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

async fn stats(State(state): State<PostalState>) -> Json<ProviderStats> {
    Json(state.stats(Instant::now()))
}

/// Returns a validated Lob address in the letterbox listing's field names.
fn letterbox_address(address: &LobAddress) -> PostalAddress {
    PostalAddress {
        name: address.name.clone(),
        line1: address.address_line1.clone(),
        line2: address.address_line2.clone(),
        city: address.address_city.clone(),
        state: address.address_state.clone(),
        zip: address.address_zip.clone(),
    }
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
    use std::collections::BTreeMap;

    use super::*;
    use crate::providers::FaultProfile;

    fn date(year: i32, month: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(year, month, day).expect("test dates are valid")
    }

    fn seconds(value: u64) -> Duration {
        Duration::from_secs(value)
    }

    fn state(transit: std::ops::RangeInclusive<u32>) -> PostalState {
        let settings = ProviderSettings {
            seed: 7,
            seconds_per_business_day: 10.0,
            postal_transit_business_days: transit,
            start_date: date(2026, 11, 25),
            profile: FaultProfile::healthy(),
        };
        PostalState::new(&settings).expect("valid settings")
    }

    fn mailing(line1: &str) -> Mailing {
        let to = LobAddress {
            name: "Jane Doe".to_owned(),
            address_line1: line1.to_owned(),
            address_line2: None,
            address_city: "Springfield".to_owned(),
            address_state: "IL".to_owned(),
            address_zip: "62701".to_owned(),
        };
        Mailing {
            description: None,
            to,
            from: None,
            text: "Your temporary password is 1234".to_owned(),
            metadata: BTreeMap::new(),
            webhook_url: None,
        }
    }

    fn letterbox_key(line1: &str) -> LetterboxAddress {
        LetterboxAddress {
            zip: "62701".to_owned(),
            line1: canonical_line1(line1),
        }
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
    fn uniform_transit_covers_whole_days() {
        let uniform = Distribution::Uniform {
            min: 5.0,
            max: 10.0,
        };
        assert_eq!(transit_days(&uniform, 5.0), 5);
        assert_eq!(transit_days(&uniform, 10.0), 10);
        let mut counts = [0u32; 11];
        for step in 0..6_000 {
            let draw = 5.0 + 5.0 * f64::from(step) / 6_000.0;
            counts[transit_days(&uniform, draw) as usize] += 1;
        }
        for days in 5..=10 {
            assert!(
                (900..=1_100).contains(&counts[days]),
                "{days} days: {counts:?}"
            );
        }
        let fixed = Distribution::Fixed { value: 3.0 };
        assert_eq!(transit_days(&fixed, 3.0), 3);
        assert_eq!(transit_days(&fixed, 2.6), 3, "other draws round");
    }

    #[tokio::test]
    async fn letter_lands_after_transit() {
        let state = state(5..=5);
        let start = state.shared.desk.runtime.started;
        let response = state.mail(start, mailing("1 Main St"), None).await;
        assert_eq!(response.status(), StatusCode::OK);

        let just_before = start + seconds(49);
        assert!(state
            .letterbox(just_before, &letterbox_key("1 main st"))
            .is_empty());
        assert_eq!(state.stats(just_before).in_transit, 1);

        let landed = start + seconds(50);
        let letters = state.letterbox(landed, &letterbox_key("  1   MAIN st "));
        assert_eq!(letters.len(), 1);
        assert_eq!(letters[0].mailed_on, date(2026, 11, 25));
        assert_eq!(letters[0].delivered_on, date(2026, 12, 3));
        let letter = state.letter(landed, &letters[0].id).expect("known id");
        assert_eq!(letter.status, "delivered");
        assert_eq!(letter.tracking_events.len(), 4);
        let stats = state.stats(landed);
        assert_eq!((stats.delivered, stats.in_transit), (1, 0));
    }

    #[tokio::test]
    async fn late_request_sees_latest_state() {
        let state = state(5..=5);
        let start = state.shared.desk.runtime.started;
        let _ = state.mail(start, mailing("1 Main St"), None).await;

        // One request delivers the letter at 60 s. A request that read the time
        // earlier but got the lock later must not report the letter in transit.
        assert_eq!(state.stats(start + seconds(60)).delivered, 1);
        let id = state.letterbox(start + seconds(1), &letterbox_key("1 Main St"))[0]
            .id
            .clone();
        let letter = state.letter(start + seconds(1), &id).expect("known id");
        assert_eq!(letter.status, "delivered");
    }

    #[test]
    fn line1_canonical_form() {
        assert_eq!(
            canonical_line1("  12  Elm\tStreet  Apt 4 "),
            "12 elm street apt 4"
        );
    }
}
