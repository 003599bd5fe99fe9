//! The mock providers over real HTTP on 127.0.0.1, as the reference service and the
//! load driver call them.

use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate};
use recoverylab::calendar::add_business_days;
use recoverylab::providers::{
    MockProviders, ProviderSettings, INBOX_CAPACITY, MAX_BODY_BYTES, MAX_TEXT_BYTES,
};
use recoverylab::server::bind_loopback;
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

/// Real seconds per business day that no test outlasts, so letters stay in transit.
const SLOW_CLOCK: f64 = 3_600.0;

fn client() -> Client {
    Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("the HTTP client builds")
}

fn date(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).expect("test dates are valid")
}

fn settings(seed: u64, seconds_per_business_day: f64) -> ProviderSettings {
    ProviderSettings {
        seed,
        seconds_per_business_day,
        postal_transit_business_days: 5..=10,
        start_date: date(2026, 11, 25),
    }
}

async fn start(settings: ProviderSettings) -> MockProviders {
    MockProviders::spawn(settings)
        .await
        .expect("the mock providers start")
}

async fn post_json(client: &Client, url: String, body: Value) -> (StatusCode, Value) {
    let response = client
        .post(url)
        .json(&body)
        .send()
        .await
        .expect("the request completes");
    let status = response.status();
    let body = response.json().await.expect("the response is JSON");
    (status, body)
}

async fn get_json(client: &Client, url: String) -> (StatusCode, Value) {
    let response = client.get(url).send().await.expect("the request completes");
    let status = response.status();
    let body = response.json().await.expect("the response is JSON");
    (status, body)
}

fn letter_to(line1: &str) -> Value {
    json!({
        "name": "Jane Doe",
        "line1": line1,
        "line2": "Apt 4",
        "city": "Springfield",
        "state": "IL",
        "zip": "62701",
    })
}

fn letterbox_url(postal: &str, line1: &str, zip: &str) -> reqwest::Url {
    reqwest::Url::parse_with_params(
        &format!("{postal}/v1/letterbox"),
        [("line1", line1), ("zip", zip)],
    )
    .expect("the letterbox URL parses")
}

#[tokio::test]
async fn email_send_and_read_back() {
    let providers = start(settings(0, SLOW_CLOCK)).await;
    let client = client();
    let email = providers.email.url();

    let message =
        json!({"to": "jane@example.org", "subject": "Reset your password", "text": "Code: 493817"});
    let (status, accepted) = post_json(&client, format!("{email}/v1/messages"), message).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let id = accepted["id"].as_str().expect("id is a string");
    assert!(id.starts_with("em_"), "{id}");
    assert!(
        id["em_".len()..].chars().all(|c| c.is_ascii_hexdigit()),
        "{id}"
    );
    assert_eq!(accepted["status"], "delivered");

    let (status, inbox) = get_json(
        &client,
        format!("{email}/v1/inboxes/jane@example.org/messages"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let messages = inbox["messages"].as_array().expect("messages is an array");
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["id"], id);
    assert_eq!(messages[0]["to"], "jane@example.org");
    assert_eq!(messages[0]["subject"], "Reset your password");
    assert_eq!(messages[0]["text"], "Code: 493817");
    let received_at = messages[0]["received_at"]
        .as_str()
        .expect("received_at is a string");
    assert!(
        DateTime::parse_from_rfc3339(received_at).is_ok(),
        "{received_at}"
    );

    let (status, stats) = get_json(&client, format!("{email}/v1/stats")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        stats,
        json!({"sent": 1, "delivered": 1, "failed": 0, "in_transit": 0})
    );

    providers.stop().await.expect("the mock providers stop");
}

#[tokio::test]
async fn email_inbox_lists_oldest_first() {
    let providers = start(settings(0, SLOW_CLOCK)).await;
    let client = client();
    let email = providers.email.url();

    for n in 1..=3 {
        let message =
            json!({"to": "jane@example.org", "subject": format!("Message {n}"), "text": "hello"});
        let (status, _) = post_json(&client, format!("{email}/v1/messages"), message).await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    let other = json!({"to": "john@example.org", "subject": "Not for Jane", "text": "hello"});
    post_json(&client, format!("{email}/v1/messages"), other).await;

    let (_, inbox) = get_json(
        &client,
        format!("{email}/v1/inboxes/jane@example.org/messages"),
    )
    .await;
    let subjects: Vec<&str> = inbox["messages"]
        .as_array()
        .expect("messages is an array")
        .iter()
        .map(|message| message["subject"].as_str().expect("subject is a string"))
        .collect();
    assert_eq!(subjects, ["Message 1", "Message 2", "Message 3"]);

    providers.stop().await.expect("the mock providers stop");
}

#[tokio::test]
async fn email_idempotency_key_delivers_once() {
    let providers = start(settings(0, SLOW_CLOCK)).await;
    let client = client();
    let email = providers.email.url();
    let message = json!({"to": "jane@example.org", "subject": "Code", "text": "123456", "idempotency_key": "reset-1"});

    let first = client
        .post(format!("{email}/v1/messages"))
        .json(&message)
        .send()
        .await
        .expect("first send");
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.expect("JSON");

    let second = client
        .post(format!("{email}/v1/messages"))
        .json(&message)
        .send()
        .await
        .expect("second send");
    assert_eq!(second.status(), StatusCode::ACCEPTED);
    assert_eq!(
        second
            .headers()
            .get("idempotent-replayed")
            .map(|v| v.as_bytes()),
        Some(&b"true"[..])
    );
    let second: Value = second.json().await.expect("JSON");
    assert_eq!(second, first);

    let (_, inbox) = get_json(
        &client,
        format!("{email}/v1/inboxes/jane@example.org/messages"),
    )
    .await;
    assert_eq!(inbox["messages"].as_array().map(Vec::len), Some(1));
    let (_, stats) = get_json(&client, format!("{email}/v1/stats")).await;
    assert_eq!(stats["sent"], 1);
    assert_eq!(stats["delivered"], 1);

    providers.stop().await.expect("the mock providers stop");
}

#[tokio::test]
async fn email_lookup_uses_canonical_address() {
    let providers = start(settings(0, SLOW_CLOCK)).await;
    let client = client();
    let email = providers.email.url();

    let message = json!({"to": "  Jane.Doe@Example.ORG ", "subject": "Hi", "text": "hello"});
    let (status, _) = post_json(&client, format!("{email}/v1/messages"), message).await;
    assert_eq!(status, StatusCode::ACCEPTED);

    for address in [
        "jane.doe@example.org",
        "JANE.DOE@EXAMPLE.ORG",
        "%20Jane.Doe@example.org%20",
    ] {
        let (status, inbox) =
            get_json(&client, format!("{email}/v1/inboxes/{address}/messages")).await;
        assert_eq!(status, StatusCode::OK, "{address}");
        assert_eq!(
            inbox["messages"].as_array().map(Vec::len),
            Some(1),
            "{address}"
        );
    }

    providers.stop().await.expect("the mock providers stop");
}

#[tokio::test]
async fn email_unknown_address_is_empty() {
    let providers = start(settings(0, SLOW_CLOCK)).await;
    let (status, inbox) = get_json(
        &client(),
        format!(
            "{}/v1/inboxes/nobody@example.org/messages",
            providers.email.url()
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(inbox, json!({"messages": []}));
    providers.stop().await.expect("the mock providers stop");
}

#[tokio::test]
async fn email_inbox_keeps_latest_messages() {
    let providers = start(settings(0, SLOW_CLOCK)).await;
    let client = client();
    let email = providers.email.url();

    let total = INBOX_CAPACITY + 5;
    for n in 0..total {
        let message = json!({"to": "busy@example.org", "subject": n.to_string(), "text": "x"});
        let (status, _) = post_json(&client, format!("{email}/v1/messages"), message).await;
        assert_eq!(status, StatusCode::ACCEPTED, "message {n}");
    }

    let (_, inbox) = get_json(
        &client,
        format!("{email}/v1/inboxes/busy@example.org/messages"),
    )
    .await;
    let messages = inbox["messages"].as_array().expect("messages is an array");
    assert_eq!(messages.len(), INBOX_CAPACITY);
    assert_eq!(messages[0]["subject"], "5");
    assert_eq!(
        messages[INBOX_CAPACITY - 1]["subject"],
        (total - 1).to_string()
    );

    let (_, stats) = get_json(&client, format!("{email}/v1/stats")).await;
    assert_eq!(stats["sent"], total);

    providers.stop().await.expect("the mock providers stop");
}

#[tokio::test]
async fn sms_send_and_read_back() {
    let providers = start(settings(0, SLOW_CLOCK)).await;
    let client = client();
    let sms = providers.sms.url();

    let message = json!({"to": "+1 555-555-0142", "text": "Your code is 771203"});
    let (status, accepted) = post_json(&client, format!("{sms}/v1/messages"), message).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let id = accepted["id"].as_str().expect("id is a string");
    assert!(id.starts_with("sm_"), "{id}");
    assert_eq!(accepted["status"], "delivered");

    for number in [
        "5555550142",
        "15555550142",
        "+15555550142",
        "(555)%20555-0142",
        "555.555.0142",
    ] {
        let (status, handset) =
            get_json(&client, format!("{sms}/v1/handsets/{number}/messages")).await;
        assert_eq!(status, StatusCode::OK, "{number}");
        let messages = handset["messages"]
            .as_array()
            .expect("messages is an array");
        assert_eq!(messages.len(), 1, "{number}");
        assert_eq!(messages[0]["id"], id);
        assert_eq!(messages[0]["to"], "+1 555-555-0142");
        assert_eq!(messages[0]["text"], "Your code is 771203");
        assert!(messages[0].get("subject").is_none());
        let received_at = messages[0]["received_at"]
            .as_str()
            .expect("received_at is a string");
        assert!(
            DateTime::parse_from_rfc3339(received_at).is_ok(),
            "{received_at}"
        );
    }

    let (_, other) = get_json(&client, format!("{sms}/v1/handsets/5555550199/messages")).await;
    assert_eq!(other, json!({"messages": []}));

    let (_, stats) = get_json(&client, format!("{sms}/v1/stats")).await;
    assert_eq!(
        stats,
        json!({"sent": 1, "delivered": 1, "failed": 0, "in_transit": 0})
    );

    providers.stop().await.expect("the mock providers stop");
}

#[tokio::test]
async fn sms_idempotency_key_delivers_once() {
    let providers = start(settings(0, SLOW_CLOCK)).await;
    let client = client();
    let sms = providers.sms.url();
    let message = json!({"to": "555-555-0142", "text": "Code 1", "idempotency_key": "otp:42"});

    let (_, first) = post_json(&client, format!("{sms}/v1/messages"), message.clone()).await;
    let (status, second) = post_json(&client, format!("{sms}/v1/messages"), message).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(second, first);

    let (_, handset) = get_json(&client, format!("{sms}/v1/handsets/5555550142/messages")).await;
    assert_eq!(handset["messages"].as_array().map(Vec::len), Some(1));
    let (_, stats) = get_json(&client, format!("{sms}/v1/stats")).await;
    assert_eq!(stats["sent"], 1);

    providers.stop().await.expect("the mock providers stop");
}

#[tokio::test]
async fn postal_receipt_dates_follow_calendar() {
    let providers = start(settings(9, SLOW_CLOCK)).await;
    let client = client();
    let postal = providers.postal.url();

    let letter = json!({"to": letter_to("1 Main St"), "text": "Temporary password: blue-7-kite"});
    let (status, receipt) = post_json(&client, format!("{postal}/v1/letters"), letter).await;
    assert_eq!(status, StatusCode::ACCEPTED);

    let id = receipt["id"].as_str().expect("id is a string");
    assert!(id.starts_with("lt_"), "{id}");
    assert_eq!(receipt["status"], "in_transit");
    assert_eq!(receipt["mailed_on"], "2026-11-25");
    let transit = receipt["transit_business_days"]
        .as_u64()
        .expect("transit is a number");
    assert!((5..=10).contains(&transit), "{transit}");
    let expected = add_business_days(date(2026, 11, 25), u32::try_from(transit).expect("small"));
    assert_eq!(receipt["expected_delivery_date"], expected.to_string());

    let (status, letter) = get_json(&client, format!("{postal}/v1/letters/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(letter["status"], "in_transit");
    assert_eq!(letter["expected_delivery_date"], expected.to_string());
    assert!(letter.get("delivered_at").is_none());
    assert!(letter.get("text").is_none());

    let (status, letterbox) = get_json(
        &client,
        letterbox_url(&postal, "1 Main St", "62701").to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(letterbox, json!({"letters": []}));

    let (_, stats) = get_json(&client, format!("{postal}/v1/stats")).await;
    assert_eq!(
        stats,
        json!({"sent": 1, "delivered": 0, "failed": 0, "in_transit": 1})
    );

    providers.stop().await.expect("the mock providers stop");
}

#[tokio::test]
async fn postal_letter_lands_after_transit() {
    // Five business days of 0.2 s each: the letter lands 1 s after it is mailed.
    let settings = ProviderSettings {
        postal_transit_business_days: 5..=5,
        ..settings(1, 0.2)
    };
    let providers = start(settings).await;
    let client = client();
    let postal = providers.postal.url();
    let letterbox = letterbox_url(&postal, "  12  ELM street ", "62701").to_string();

    let mailed = Instant::now();
    let letter = json!({"to": letter_to("12 Elm Street"), "text": "Your PIN is 0042"});
    let (status, receipt) = post_json(&client, format!("{postal}/v1/letters"), letter).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let id = receipt["id"].as_str().expect("id is a string").to_owned();

    let (_, early) = get_json(&client, letterbox.clone()).await;
    assert!(
        mailed.elapsed() < Duration::from_secs(1),
        "the machine is too slow for this check"
    );
    assert_eq!(early, json!({"letters": []}));

    // Poll until the letter lands, for at most 10 s.
    let mut landed = None;
    for _ in 0..200 {
        let (_, body) = get_json(&client, letterbox.clone()).await;
        if body["letters"]
            .as_array()
            .is_some_and(|letters| !letters.is_empty())
        {
            landed = Some((mailed.elapsed(), body));
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (waited, body) = landed.expect("the letter lands within 10 s");
    assert!(
        waited >= Duration::from_secs(1),
        "the letter landed after {waited:?}"
    );

    let letters = body["letters"].as_array().expect("letters is an array");
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0]["id"], id.as_str());
    assert_eq!(letters[0]["text"], "Your PIN is 0042");
    assert_eq!(letters[0]["to"], letter_to("12 Elm Street"));
    assert_eq!(letters[0]["mailed_on"], receipt["mailed_on"]);
    assert_eq!(
        letters[0]["delivered_on"],
        receipt["expected_delivery_date"]
    );

    let (_, status) = get_json(&client, format!("{postal}/v1/letters/{id}")).await;
    assert_eq!(status["status"], "delivered");
    let delivered_at = status["delivered_at"]
        .as_str()
        .expect("delivered_at is a string");
    assert!(
        DateTime::parse_from_rfc3339(delivered_at).is_ok(),
        "{delivered_at}"
    );

    let (_, stats) = get_json(&client, format!("{postal}/v1/stats")).await;
    assert_eq!(
        stats,
        json!({"sent": 1, "delivered": 1, "failed": 0, "in_transit": 0})
    );

    providers.stop().await.expect("the mock providers stop");
}

#[tokio::test]
async fn postal_virtual_date_advances() {
    // One business day per 0.1 s, so a letter mailed after 0.35 s goes out on the
    // third business day after the start.
    let providers = start(settings(0, 0.1)).await;
    let client = client();
    let postal = providers.postal.url();

    tokio::time::sleep(Duration::from_millis(350)).await;
    let letter = json!({"to": letter_to("1 Main St"), "text": "hello"});
    let (_, receipt) = post_json(&client, format!("{postal}/v1/letters"), letter).await;
    let mailed_on: NaiveDate = receipt["mailed_on"]
        .as_str()
        .expect("a date")
        .parse()
        .expect("YYYY-MM-DD");

    // Wed 11-25 + 3 business days skips Thanksgiving and the weekend: Tue 12-01.
    // A slow request can push mailing into a later business day, never an earlier one.
    assert!(mailed_on >= date(2026, 12, 1), "{mailed_on}");
    assert!(mailed_on <= date(2026, 12, 31), "{mailed_on}");

    providers.stop().await.expect("the mock providers stop");
}

async fn transit_days(seed: u64, letters: usize) -> Vec<u64> {
    let providers = start(settings(seed, SLOW_CLOCK)).await;
    let client = client();
    let postal = providers.postal.url();

    let mut days = Vec::with_capacity(letters);
    for n in 0..letters {
        let letter = json!({"to": letter_to(&format!("{n} Main St")), "text": "hello"});
        let (status, receipt) = post_json(&client, format!("{postal}/v1/letters"), letter).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        days.push(
            receipt["transit_business_days"]
                .as_u64()
                .expect("transit is a number"),
        );
    }

    providers.stop().await.expect("the mock providers stop");
    days
}

#[tokio::test]
async fn postal_same_seed_same_transit_days() {
    let first = transit_days(42, 25).await;
    let second = transit_days(42, 25).await;
    let other_seed = transit_days(43, 25).await;

    assert_eq!(first, second);
    assert_ne!(first, other_seed);
    assert!(
        first.iter().all(|days| (5..=10).contains(days)),
        "{first:?}"
    );
    // 25 uniform draws from six values repeat one value every time with probability 6^-24.
    assert!(first.iter().any(|days| *days != first[0]), "{first:?}");
}

#[tokio::test]
async fn postal_idempotency_key_mails_once() {
    let providers = start(settings(0, SLOW_CLOCK)).await;
    let client = client();
    let postal = providers.postal.url();
    let letter =
        json!({"to": letter_to("1 Main St"), "text": "hello", "idempotency_key": "letter-1"});

    let (_, first) = post_json(&client, format!("{postal}/v1/letters"), letter.clone()).await;
    let response = client
        .post(format!("{postal}/v1/letters"))
        .json(&letter)
        .send()
        .await
        .expect("second send");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert!(response.headers().get("idempotent-replayed").is_some());
    let second: Value = response.json().await.expect("JSON");
    assert_eq!(second, first);

    let (_, stats) = get_json(&client, format!("{postal}/v1/stats")).await;
    assert_eq!(stats["sent"], 1);
    assert_eq!(stats["in_transit"], 1);

    providers.stop().await.expect("the mock providers stop");
}

/// Which mock a bad request goes to.
#[derive(Clone, Copy, Debug)]
enum Mock {
    Email,
    Sms,
    Postal,
}

/// A request that a mock must reject, with the status and `code` expected.
struct BadRequest {
    name: &'static str,
    mock: Mock,
    method: Method,
    path: &'static str,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    status: StatusCode,
    code: &'static str,
}

impl BadRequest {
    /// Builds a POST of a JSON value that must be rejected with 400.
    fn json(
        name: &'static str,
        mock: Mock,
        path: &'static str,
        body: Value,
        code: &'static str,
    ) -> Self {
        Self::raw(
            name,
            mock,
            path,
            Some("application/json"),
            body.to_string().into_bytes(),
            400,
            code,
        )
    }

    /// Builds a POST of any bytes with any content type.
    fn raw(
        name: &'static str,
        mock: Mock,
        path: &'static str,
        content_type: Option<&'static str>,
        body: impl Into<Vec<u8>>,
        status: u16,
        code: &'static str,
    ) -> Self {
        Self {
            name,
            mock,
            method: Method::POST,
            path,
            content_type,
            body: body.into(),
            status: StatusCode::from_u16(status).expect("a valid status"),
            code,
        }
    }

    /// Builds a request without a body.
    fn bodiless(
        name: &'static str,
        mock: Mock,
        method: Method,
        path: &'static str,
        status: u16,
        code: &'static str,
    ) -> Self {
        Self {
            method,
            content_type: None,
            ..Self::raw(name, mock, path, None, Vec::new(), status, code)
        }
    }
}

#[rustfmt::skip]
fn bad_requests() -> Vec<BadRequest> {
    use Mock::{Email, Postal, Sms};
    const JSON: Option<&str> = Some("application/json");
    let messages = "/v1/messages";
    let letters = "/v1/letters";

    let email = |to: Value, key: Value| json!({"to": to, "subject": "s", "text": "t", "idempotency_key": key});
    let valid_email = email(json!("jane@example.org"), Value::Null).to_string();
    let oversize = json!({"to": "jane@example.org", "subject": "s", "text": "x".repeat(MAX_BODY_BYTES)}).to_string();
    let long_text = json!({"to": "jane@example.org", "subject": "s", "text": "x".repeat(MAX_TEXT_BYTES + 1)});
    let address = |state: &str, zip: Value| json!({"name": "J", "line1": "1 Main St", "city": "S", "state": state, "zip": zip});
    let letter = |to: Value| json!({"to": to, "text": "t"});

    vec![
        BadRequest::raw("email malformed JSON", Email, messages, JSON, r#"{"to": "jane@example.org","#, 400, "malformed_json"),
        BadRequest::raw("email empty body", Email, messages, JSON, "", 400, "malformed_json"),
        BadRequest::raw("email trailing garbage", Email, messages, JSON, format!("{valid_email} x"), 400, "malformed_json"),
        BadRequest::json("email missing subject", Email, messages, json!({"to": "jane@example.org", "text": "t"}), "invalid_request"),
        BadRequest::json("email to is a number", Email, messages, email(json!(42), Value::Null), "invalid_request"),
        BadRequest::json("email body is an array", Email, messages, json!([valid_email.clone()]), "invalid_request"),
        BadRequest::json("email key is a number", Email, messages, email(json!("jane@example.org"), json!(7)), "invalid_request"),
        BadRequest::raw("email text/plain body", Email, messages, Some("text/plain"), valid_email.clone(), 415, "unsupported_media_type"),
        BadRequest::raw("email no content type", Email, messages, None, valid_email.clone(), 415, "unsupported_media_type"),
        BadRequest::raw("email oversize body", Email, messages, JSON, oversize, 413, "payload_too_large"),
        BadRequest::json("email text too long", Email, messages, long_text, "invalid_request"),
        BadRequest::json("email address without @", Email, messages, email(json!("jane.example.org"), Value::Null), "invalid_request"),
        BadRequest::json("email address with two @", Email, messages, email(json!("jane@doe@example.org"), Value::Null), "invalid_request"),
        BadRequest::json("email address empty domain", Email, messages, email(json!("jane@"), Value::Null), "invalid_request"),
        BadRequest::json("email address too long", Email, messages, email(json!(format!("{}@example.org", "a".repeat(250))), Value::Null), "invalid_request"),
        BadRequest::json("email key with space", Email, messages, email(json!("jane@example.org"), json!("a b")), "invalid_request"),
        BadRequest::json("email key empty", Email, messages, email(json!("jane@example.org"), json!("")), "invalid_request"),
        BadRequest::json("email key too long", Email, messages, email(json!("jane@example.org"), json!("k".repeat(129))), "invalid_request"),
        BadRequest::bodiless("email inbox of non-address", Email, Method::GET, "/v1/inboxes/not-an-address/messages", 400, "invalid_request"),
        BadRequest::bodiless("email unknown path", Email, Method::GET, "/v1/nothing-here", 404, "not_found"),
        BadRequest::bodiless("email wrong method", Email, Method::DELETE, messages, 405, "method_not_allowed"),
        BadRequest::json("sms seven digits", Sms, messages, json!({"to": "555-0142", "text": "t"}), "invalid_request"),
        BadRequest::json("sms twelve digits", Sms, messages, json!({"to": "123456789012", "text": "t"}), "invalid_request"),
        BadRequest::json("sms letters in number", Sms, messages, json!({"to": "555-CALL-NOW", "text": "t"}), "invalid_request"),
        BadRequest::json("sms missing text", Sms, messages, json!({"to": "5555550142"}), "invalid_request"),
        BadRequest::json("sms text is null", Sms, messages, json!({"to": "5555550142", "text": null}), "invalid_request"),
        BadRequest::raw("sms malformed JSON", Sms, messages, JSON, "{to: 5555550142}", 400, "malformed_json"),
        BadRequest::raw("sms oversize body", Sms, messages, JSON, vec![b' '; MAX_BODY_BYTES + 1], 413, "payload_too_large"),
        BadRequest::bodiless("sms handset of short number", Sms, Method::GET, "/v1/handsets/12345/messages", 400, "invalid_request"),
        BadRequest::json("postal zip four digits", Postal, letters, letter(address("IL", json!("6270"))), "invalid_request"),
        BadRequest::json("postal zip plus four", Postal, letters, letter(address("IL", json!("62701-1234"))), "invalid_request"),
        BadRequest::json("postal zip is a number", Postal, letters, letter(address("IL", json!(62701))), "invalid_request"),
        BadRequest::json("postal state spelled out", Postal, letters, letter(address("Illinois", json!("62701"))), "invalid_request"),
        BadRequest::json("postal blank line1", Postal, letters, letter(json!({"name": "J", "line1": " ", "city": "S", "state": "IL", "zip": "62701"})), "invalid_request"),
        BadRequest::json("postal missing zip", Postal, letters, letter(json!({"name": "J", "line1": "1 Main St", "city": "S", "state": "IL"})), "invalid_request"),
        BadRequest::json("postal to is a string", Postal, letters, letter(json!("1 Main St, Springfield IL 62701")), "invalid_request"),
        BadRequest::raw("postal malformed JSON", Postal, letters, JSON, r#"{"to": {"#, 400, "malformed_json"),
        BadRequest::raw("postal form body", Postal, letters, Some("application/x-www-form-urlencoded"), "text=hello", 415, "unsupported_media_type"),
        BadRequest::bodiless("postal unknown letter id", Postal, Method::GET, "/v1/letters/lt_00000000deadbeef", 404, "not_found"),
        BadRequest::bodiless("postal letterbox without params", Postal, Method::GET, "/v1/letterbox", 400, "invalid_request"),
        BadRequest::bodiless("postal letterbox without zip", Postal, Method::GET, "/v1/letterbox?line1=1%20Main%20St", 400, "invalid_request"),
        BadRequest::bodiless("postal letterbox without line1", Postal, Method::GET, "/v1/letterbox?zip=62701", 400, "invalid_request"),
        BadRequest::bodiless("postal letterbox bad zip", Postal, Method::GET, "/v1/letterbox?line1=1%20Main%20St&zip=abcde", 400, "invalid_request"),
        BadRequest::bodiless("postal wrong method", Postal, Method::PUT, letters, 405, "method_not_allowed"),
    ]
}

#[tokio::test]
async fn bad_requests_get_problem_documents() {
    let providers = start(settings(0, SLOW_CLOCK)).await;
    let client = client();

    for case in bad_requests() {
        let base = match case.mock {
            Mock::Email => providers.email.url(),
            Mock::Sms => providers.sms.url(),
            Mock::Postal => providers.postal.url(),
        };
        let mut request = client.request(case.method.clone(), format!("{base}{}", case.path));
        if let Some(content_type) = case.content_type {
            request = request.header("content-type", content_type);
        }
        if case.method == Method::POST {
            request = request.body(case.body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|error| panic!("{}: {error}", case.name));

        let name = case.name;
        assert_eq!(response.status(), case.status, "{name}: status");
        let content_type = response
            .headers()
            .get("content-type")
            .map(|value| value.to_str().unwrap_or(""));
        assert_eq!(
            content_type,
            Some("application/problem+json"),
            "{name}: content type"
        );

        let problem: Value = response
            .json()
            .await
            .unwrap_or_else(|error| panic!("{name}: body is not JSON: {error}"));
        assert_eq!(problem["code"], case.code, "{name}: code in {problem}");
        assert_eq!(
            problem["status"],
            case.status.as_u16(),
            "{name}: status member"
        );
        assert_eq!(problem["type"], "about:blank", "{name}: type");
        assert_eq!(
            problem["title"],
            case.status.canonical_reason().unwrap_or(""),
            "{name}: title"
        );
        let detail = problem["detail"].as_str().unwrap_or("");
        assert!(!detail.is_empty(), "{name}: detail in {problem}");
    }

    // None of the rejected requests was delivered.
    for base in [
        providers.email.url(),
        providers.sms.url(),
        providers.postal.url(),
    ] {
        let (_, stats) = get_json(&client, format!("{base}/v1/stats")).await;
        assert_eq!(stats["sent"], 0, "{base}");
    }

    providers.stop().await.expect("the mock providers stop");
}

#[tokio::test]
async fn problem_detail_names_missing_field() {
    let providers = start(settings(0, SLOW_CLOCK)).await;
    let body =
        json!({"to": {"name": "J", "line1": "1 Main St", "city": "S", "state": "IL"}, "text": "t"});
    let (status, problem) = post_json(
        &client(),
        format!("{}/v1/letters", providers.postal.url()),
        body,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let detail = problem["detail"].as_str().expect("detail is a string");
    assert!(detail.contains("zip"), "{detail}");
    providers.stop().await.expect("the mock providers stop");
}

#[tokio::test]
async fn spawn_rejects_invalid_settings() {
    let invalid = ProviderSettings {
        seconds_per_business_day: 0.0,
        ..ProviderSettings::default()
    };
    let error = match MockProviders::spawn(invalid).await {
        Ok(_) => panic!("invalid settings were accepted"),
        Err(error) => error,
    };
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    assert!(
        error.to_string().contains("seconds_per_business_day"),
        "{error}"
    );
}

#[tokio::test]
async fn spawn_on_serves_given_listeners() {
    let email = bind_loopback().await.expect("bind");
    let sms = bind_loopback().await.expect("bind");
    let postal = bind_loopback().await.expect("bind");
    let addresses = [
        email.local_addr().expect("address"),
        sms.local_addr().expect("address"),
        postal.local_addr().expect("address"),
    ];

    let providers = MockProviders::spawn_on(settings(0, SLOW_CLOCK), email, sms, postal)
        .await
        .expect("the mock providers start");
    assert_eq!(
        [
            providers.email.addr,
            providers.sms.addr,
            providers.postal.addr
        ],
        addresses
    );

    let client = client();
    for base in [
        providers.email.url(),
        providers.sms.url(),
        providers.postal.url(),
    ] {
        let (status, stats) = get_json(&client, format!("{base}/v1/stats")).await;
        assert_eq!(status, StatusCode::OK, "{base}");
        assert_eq!(stats["sent"], 0, "{base}");
    }

    providers.stop().await.expect("the mock providers stop");
}
