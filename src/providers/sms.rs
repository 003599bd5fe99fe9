//! Mock SMS provider shaped like a subset of Twilio's Messages resource: texts
//! are accepted, sent, then delivered to handsets that synthetic people read by
//! phone number, or fail as the fault profile sets.

use std::sync::{Arc, Mutex};

use axum::extract::rejection::{FormRejection, PathRejection};
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use reqwest::Url;
use serde::Serialize;
use serde_json::json;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::attempts::AttemptBook;
use super::callbacks::check_callback_url;
use super::desk::{Admission, Desk, Runtime};
use super::faults::{AttemptDraw, Fault, Provider};
use super::fields::{check_text, idempotency_header};
use super::inbox::{lock, serialize_shared, BoundedMap, Inboxes, IDEMPOTENCY_CAPACITY};
use super::problem::{PathParam, Problem};
use super::stats::{Counter, ProviderStats};
use super::timeline::{share_with_timer, Advance, Timeline};
use super::{finish_router, ProviderSettings};

/// Header that carries the idempotency key of a send, as Twilio names it.
pub const TWILIO_IDEMPOTENCY_HEADER: &str = "I-Twilio-Idempotency-Token";

/// Shared state of one SMS mock: its messages, handsets and counters. Cloning is
/// cheap and shares the state.
#[derive(Clone)]
pub struct SmsState {
    shared: Arc<SmsShared>,
}

struct SmsShared {
    desk: Desk,
    inner: Mutex<SmsInner>,
    wake: Arc<Notify>,
}

struct SmsInner {
    book: AttemptBook,
    messages: BoundedMap<SmsRecord>,
    handsets: Inboxes<String, SmsMessage>,
    timeline: Timeline<SmsEvent>,
    next_sequence: u64,
}

/// A status change that falls due later.
enum SmsEvent {
    Sent(String),
    Finished(String),
}

/// The mock's record of one accepted message.
struct SmsRecord {
    sid: String,
    account_sid: String,
    to: String,
    from: String,
    status: &'static str,
    error_code: Option<u32>,
    date_created: DateTime<Utc>,
    date_updated: DateTime<Utc>,
    status_callback: Option<Url>,
    handset: String,
    /// The text, until it is delivered.
    body: Option<String>,
    fault: Option<Fault>,
    accepted_at: Instant,
}

/// A delivered text message as a handset lists it.
#[derive(Serialize)]
struct SmsMessage {
    id: String,
    to: String,
    text: String,
    received_at: DateTime<Utc>,
    /// Whether the mock delivered this copy as an injected duplicate.
    #[serde(skip)]
    injected: bool,
}

#[derive(Serialize)]
struct MessageList {
    #[serde(serialize_with = "serialize_shared")]
    messages: Vec<Arc<SmsMessage>>,
}

/// A message as Twilio's Messages resource shows it, without the body.
#[derive(Serialize)]
struct TwilioMessage {
    sid: String,
    account_sid: String,
    to: String,
    from: String,
    status: &'static str,
    error_code: Option<u32>,
    error_message: Option<&'static str>,
    date_created: String,
    date_updated: String,
    uri: String,
}

impl SmsState {
    /// Creates an SMS mock that starts now, with the SMS part of `settings.profile`.
    pub fn new(settings: &ProviderSettings) -> Self {
        Self::with_runtime(settings, Runtime::standalone())
    }

    pub(crate) fn with_runtime(settings: &ProviderSettings, runtime: Runtime) -> Self {
        let stop = runtime.stop_signal();
        let desk = Desk::new(
            Provider::Sms,
            settings.profile.sms.clone(),
            settings.draw_seed(),
            runtime,
        );
        let inner = SmsInner {
            book: AttemptBook::new(),
            messages: BoundedMap::new(IDEMPOTENCY_CAPACITY),
            handsets: Inboxes::new(),
            timeline: Timeline::new(),
            next_sequence: 1,
        };
        let shared = SmsShared {
            desk,
            inner: Mutex::new(inner),
            wake: Arc::new(Notify::new()),
        };
        let shared = share_with_timer(shared, stop);
        Self { shared }
    }
}

impl Default for SmsState {
    fn default() -> Self {
        Self::new(&ProviderSettings::default())
    }
}

/// Builds the SMS mock's router: Twilio's
/// `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` and
/// `GET /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json`, and the mock's own
/// `GET /v1/handsets/{number}/messages` and `GET /v1/stats`.
pub fn sms_router(state: SmsState) -> Router {
    let routes = Router::new()
        .route(
            "/2010-04-01/Accounts/{account_sid}/Messages.json",
            post(create_message),
        )
        .route(
            "/2010-04-01/Accounts/{account_sid}/Messages/{file}",
            get(fetch_message),
        )
        .route("/v1/handsets/{number}/messages", get(list_messages))
        .route("/v1/stats", get(stats))
        .with_state(state);
    finish_router(routes)
}

/// An error in Twilio's JSON shape: `{"code", "message", "more_info", "status"}`.
struct TwilioError {
    status: StatusCode,
    code: u32,
    message: String,
}

impl IntoResponse for TwilioError {
    fn into_response(self) -> Response {
        let body = json!({
            "code": self.code,
            "message": self.message,
            "more_info": format!("https://www.twilio.com/docs/errors/{}", self.code),
            "status": self.status.as_u16(),
        });
        (self.status, Json(body)).into_response()
    }
}

/// Returns an error in Twilio's JSON shape.
fn twilio_error(status: StatusCode, code: u32, message: impl Into<String>) -> Response {
    TwilioError {
        status,
        code,
        message: message.into(),
    }
    .into_response()
}

/// A status callback to send: the URL, the message sid and the form fields.
type StatusCallback = (Url, String, Vec<(&'static str, String)>);

/// Returns the Twilio-shaped response of an injected failure with `status`.
fn injected_error(status: StatusCode) -> Response {
    let code = match status {
        StatusCode::TOO_MANY_REQUESTS => 20429,
        StatusCode::SERVICE_UNAVAILABLE => 20503,
        _ => 20500,
    };
    twilio_error(status, code, "the mock provider injected this failure")
}

fn not_found() -> Response {
    twilio_error(
        StatusCode::NOT_FOUND,
        20404,
        "The requested resource was not found",
    )
}

/// Returns whether `sid` is `AC` followed by 32 hexadecimal digits.
fn is_account_sid(sid: &str) -> bool {
    sid.strip_prefix("AC")
        .is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|byte| byte.is_ascii_hexdigit()))
}

/// A validated send request.
struct SmsRequest {
    to: String,
    handset: String,
    from: String,
    body: String,
    status_callback: Option<Url>,
    idempotency_key: Option<String>,
}

/// Checks the form of a send, in Twilio's order of checks and with its error codes.
fn validate_request(
    headers: &HeaderMap,
    fields: &[(String, String)],
) -> Result<SmsRequest, TwilioError> {
    let field = |name: &str| {
        fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let bad = |code: u32, message: String| TwilioError {
        status: StatusCode::BAD_REQUEST,
        code,
        message,
    };

    let to = field("To").filter(|to| !to.trim().is_empty());
    let to = to.ok_or_else(|| bad(21604, "A 'To' phone number is required.".to_owned()))?;
    let handset = canonical_phone_number(to).map_err(|problem| {
        bad(
            21211,
            format!(
                "The 'To' number is not a valid phone number: {}",
                problem.detail
            ),
        )
    })?;
    let from = field("From").filter(|from| !from.trim().is_empty());
    let from = from.ok_or_else(|| bad(21603, "A 'From' phone number is required.".to_owned()))?;
    let body = field("Body").filter(|body| !body.is_empty());
    let body = body.ok_or_else(|| bad(21602, "Message body is required.".to_owned()))?;
    check_text(body).map_err(|problem| bad(21617, problem.detail.replace("`text`", "`Body`")))?;
    let status_callback = match field("StatusCallback") {
        Some(url) => Some(
            check_callback_url(url)
                .map_err(|message| bad(21609, format!("Invalid StatusCallback: {message}")))?,
        ),
        None => None,
    };
    let idempotency_key = idempotency_header(headers, TWILIO_IDEMPOTENCY_HEADER)
        .map_err(|message| bad(20001, message))?;

    Ok(SmsRequest {
        to: e164(&handset),
        handset,
        from: from.trim().to_owned(),
        body: body.to_owned(),
        status_callback,
        idempotency_key,
    })
}

/// Returns the E.164 form of canonical digits: `+1` before ten digits, `+` before eleven.
fn e164(digits: &str) -> String {
    if digits.len() == 10 {
        format!("+1{digits}")
    } else {
        format!("+{digits}")
    }
}

async fn create_message(
    State(state): State<SmsState>,
    account_sid: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let Ok(Path(account_sid)) = account_sid else {
        return not_found();
    };
    if !is_account_sid(&account_sid) {
        return not_found();
    }
    let fields = match form {
        Ok(Form(fields)) => fields,
        Err(rejection) => {
            let status = match rejection.status() {
                StatusCode::PAYLOAD_TOO_LARGE | StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                    rejection.status()
                }
                _ => StatusCode::BAD_REQUEST,
            };
            return twilio_error(
                status,
                20001,
                "send the parameters form-encoded (application/x-www-form-urlencoded)",
            );
        }
    };
    let request = match validate_request(&headers, &fields) {
        Ok(request) => request,
        Err(error) => return error.into_response(),
    };
    state.send(account_sid, request).await
}

impl SmsState {
    async fn send(&self, account_sid: String, request: SmsRequest) -> Response {
        let desk = &self.shared.desk;
        let now = Instant::now();
        let (admission, view) = {
            let mut inner = lock(&self.shared.inner);
            let inner = &mut *inner;
            let key = request.idempotency_key.as_deref();
            match desk.admit(&mut inner.book, now, &request.handset, key) {
                Admission::Accept(draw) => {
                    let view = inner.accept(desk, now, &account_sid, request, &draw);
                    (Admission::Accept(draw), Some(view))
                }
                Admission::Replay(sid) => {
                    let view = inner.messages.get(&sid).map(SmsRecord::view);
                    (Admission::Replay(sid), view)
                }
                other => (other, None),
            }
        };
        self.shared.wake.notify_one();

        let respond = |view: Option<TwilioMessage>, replayed: bool| {
            // The first message of a replayed key was forgotten beyond the capacity.
            let Some(view) = view else {
                return not_found();
            };
            if replayed {
                // A replay shows the status as it is now.
                let view = self.current_view(&view.sid).unwrap_or(view);
                let replayed_header = [(super::IDEMPOTENT_REPLAYED, "true")];
                (StatusCode::CREATED, replayed_header, Json(view)).into_response()
            } else {
                // The first response shows the message as accepted: `queued`.
                (StatusCode::CREATED, Json(view)).into_response()
            }
        };
        desk.respond_to(admission, view, injected_error, respond)
            .await
    }

    fn current_view(&self, sid: &str) -> Option<TwilioMessage> {
        self.shared.advance(Instant::now());
        lock(&self.shared.inner)
            .messages
            .get(sid)
            .map(SmsRecord::view)
    }
}

impl SmsInner {
    /// Creates the message of an accepted attempt and schedules its status changes.
    fn accept(
        &mut self,
        desk: &Desk,
        now: Instant,
        account_sid: &str,
        request: SmsRequest,
        draw: &AttemptDraw,
    ) -> TwilioMessage {
        let sid = format!("SM{:032x}", self.next_sequence);
        self.next_sequence += 1;
        let created = Utc::now();
        let record = SmsRecord {
            sid: sid.clone(),
            account_sid: account_sid.to_owned(),
            to: request.to,
            from: request.from,
            status: "queued",
            error_code: None,
            date_created: created,
            date_updated: created,
            status_callback: request.status_callback,
            handset: request.handset,
            body: Some(request.body),
            fault: draw.fault,
            accepted_at: now,
        };
        let view = record.view();
        self.book
            .accept(&record.handset, request.idempotency_key.as_deref(), &sid);
        self.messages.insert(sid.clone(), record);

        if draw.fault == Some(Fault::SilentLoss) {
            desk.stats.add(Counter::Lost);
        } else {
            desk.stats.start_transit();
            let sent_at = now + draw.latency;
            self.timeline.push(sent_at, SmsEvent::Sent(sid.clone()));
            self.timeline.push(
                sent_at + draw.delivery_delay_duration(),
                SmsEvent::Finished(sid.clone()),
            );
        }
        tracing::debug!(%sid, fault = draw.fault.map(Fault::name), "text message accepted");
        view
    }

    /// Applies one due event and returns the callback it calls for.
    fn apply(&mut self, desk: &Desk, now: Instant, event: SmsEvent) -> Option<StatusCallback> {
        let (sid, finished) = match event {
            SmsEvent::Sent(sid) => (sid, false),
            SmsEvent::Finished(sid) => (sid, true),
        };
        let Some(record) = self.messages.get_mut(&sid) else {
            // Forgotten beyond the capacity, so nothing is left to deliver. Only the
            // last event ends the transit, so that it is counted once.
            if finished {
                desk.stats.end_transit(Counter::Lost);
            }
            return None;
        };
        record.date_updated = Utc::now();
        if !finished {
            record.status = "sent";
        } else if record.fault == Some(Fault::Undeliverable) {
            record.status = "undelivered";
            record.error_code = Some(desk.profile.fault_settings.undeliverable_error_code);
            record.body = None;
            desk.stats.end_transit(Counter::Undeliverable);
        } else {
            record.status = "delivered";
            desk.stats
                .record_delivery(now.saturating_duration_since(record.accepted_at));
            let copies = if record.fault == Some(Fault::Duplicate) {
                2
            } else {
                1
            };
            let message = (
                record.sid.clone(),
                record.to.clone(),
                record.body.take().unwrap_or_default(),
            );
            let handset = record.handset.clone();
            for copy in 0..copies {
                self.deliver(desk, &handset, &message, copy > 0);
            }
        }
        let record = self.messages.get(&sid)?;
        let url = record.status_callback.clone()?;
        let mut fields = vec![
            ("MessageSid", record.sid.clone()),
            ("MessageStatus", record.status.to_owned()),
            ("AccountSid", record.account_sid.clone()),
            ("To", record.to.clone()),
            ("From", record.from.clone()),
        ];
        if let Some(code) = record.error_code {
            fields.push(("ErrorCode", code.to_string()));
        }
        Some((url, sid, fields))
    }

    /// Puts one copy of a message into its handset and counts retry duplicates.
    fn deliver(
        &mut self,
        desk: &Desk,
        handset: &str,
        (sid, to, text): &(String, String, String),
        injected: bool,
    ) {
        if injected {
            desk.stats.add(Counter::DuplicatesInjected);
        } else {
            let earlier = self.handsets.messages(handset);
            if earlier
                .iter()
                .any(|message| !message.injected && message.text == *text)
            {
                desk.stats.add(Counter::RetryDuplicates);
            }
        }
        let message = SmsMessage {
            id: sid.clone(),
            to: to.clone(),
            text: text.clone(),
            received_at: Utc::now(),
            injected,
        };
        self.handsets.push(handset.to_owned(), message);
    }
}

impl Advance for SmsShared {
    fn advance(&self, now: Instant) -> Option<Instant> {
        let mut callbacks = Vec::new();
        let next = {
            let mut inner = lock(&self.inner);
            // Each event is applied at its due time, so a late timer does not
            // lengthen the recorded delivery delay.
            while let Some((due, event)) = inner.timeline.pop_due(now) {
                callbacks.extend(inner.apply(&self.desk, due, event));
            }
            inner.timeline.next_due()
        };
        for (url, sid, fields) in callbacks {
            self.desk.callbacks.post_form(url, sid, fields);
        }
        next
    }

    fn schedule_changed(&self) -> Arc<Notify> {
        self.wake.clone()
    }
}

impl SmsRecord {
    fn view(&self) -> TwilioMessage {
        TwilioMessage {
            sid: self.sid.clone(),
            account_sid: self.account_sid.clone(),
            to: self.to.clone(),
            from: self.from.clone(),
            status: self.status,
            error_code: self.error_code,
            error_message: self.error_code.map(undeliverable_message),
            date_created: self.date_created.to_rfc2822(),
            date_updated: self.date_updated.to_rfc2822(),
            uri: format!(
                "/2010-04-01/Accounts/{}/Messages/{}.json",
                self.account_sid, self.sid
            ),
        }
    }
}

/// Returns Twilio's message for an undeliverable error code.
fn undeliverable_message(code: u32) -> &'static str {
    match code {
        30003 => "Unreachable destination handset",
        30005 => "Unknown destination handset",
        30006 => "Landline or unreachable carrier",
        _ => "Unknown error",
    }
}

async fn fetch_message(
    State(state): State<SmsState>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Response {
    let Ok(Path((account_sid, file))) = path else {
        return not_found();
    };
    let Some(sid) = file.strip_suffix(".json") else {
        return not_found();
    };
    match state.current_view(sid) {
        Some(view) if view.account_sid == account_sid => Json(view).into_response(),
        _ => not_found(),
    }
}

async fn list_messages(
    State(state): State<SmsState>,
    PathParam(number): PathParam<String>,
) -> Result<Json<MessageList>, Problem> {
    let owner = canonical_phone_number(&number)?;
    state.shared.advance(Instant::now());
    Ok(Json(MessageList {
        messages: lock(&state.shared.inner).handsets.messages(&owner),
    }))
}

async fn stats(State(state): State<SmsState>) -> Json<ProviderStats> {
    state.shared.advance(Instant::now());
    Json(state.shared.desk.stats.snapshot())
}

/// Returns the number's digits, the form handsets are keyed by, or rejects a number
/// that is not a 10- or 11-digit phone number.
///
/// Spaces, dashes, dots, parentheses and one leading `+` are dropped first. An
/// 11-digit number that starts with the country code 1 loses it, so "+1 555-555-0142"
/// and "(555) 555-0142" reach the same handset. The problem detail does not quote
/// the number.
fn canonical_phone_number(raw: &str) -> Result<String, Problem> {
    let trimmed = raw.trim();
    let without_plus = trimmed.strip_prefix('+').unwrap_or(trimmed);

    let mut digits = String::with_capacity(without_plus.len());
    for c in without_plus.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => {
                return Err(Problem::invalid_request(
                    "the phone number may contain only digits, spaces, dashes, dots, parentheses and a leading `+`",
                ))
            }
        }
    }

    match digits.len() {
        10 => Ok(digits),
        11 => match digits.strip_prefix('1') {
            Some(national) => Ok(national.to_owned()),
            None => Ok(digits),
        },
        count => Err(Problem::invalid_request(format!(
            "the phone number has {count} digits; send 10 digits, or 11 with a country code, such as +1 555-555-0142"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatted_numbers_share_canonical_form() {
        for number in [
            "+1 555-555-0142",
            "(555) 555-0142",
            "555.555.0142",
            "15555550142",
            " 5555550142 ",
        ] {
            assert_eq!(
                canonical_phone_number(number).expect(number),
                "5555550142",
                "{number:?}"
            );
        }
    }

    #[test]
    fn eleven_digits_without_leading_one_kept() {
        assert_eq!(
            canonical_phone_number("+7 912 345-6789").expect("valid"),
            "79123456789"
        );
    }

    #[test]
    fn invalid_numbers_rejected() {
        let cases = [
            "",
            "555-0142",
            "555 555 014",
            "123456789012",
            "+1 555 555 014x",
            "555+555+0142",
            "++15555550142",
            "５５５５５５０１４２",
        ];
        for number in cases {
            let problem = canonical_phone_number(number).expect_err(number);
            assert_eq!(problem.code(), "invalid_request", "{number:?}");
        }
    }
}
