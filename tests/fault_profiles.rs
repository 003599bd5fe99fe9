//! Fault profiles: validation of the files, determinism of the draws, and every
//! fault kind as a client sees it over real HTTP on 127.0.0.1.

mod mock_helpers;

use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use mock_helpers::*;
use recoverylab::providers::{Fault, FaultProfile, ProviderSettings};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn parse(text: &str) -> Result<FaultProfile, String> {
    FaultProfile::parse(Path::new("mocks/bad.toml"), text).map_err(|error| error.to_string())
}

#[test]
fn bad_profiles_name_file_key_and_fix() {
    // (case, profile text, key path the message names, words of the fix)
    let cases = [
        (
            "unknown key",
            "[sms]\ncolour = 2",
            "colour",
            "mocks/README.md",
        ),
        (
            "unknown provider",
            "[fax]\nlatency = 1",
            "fax",
            "mocks/README.md",
        ),
        (
            "unknown fault",
            "[sms.faults]\nhttp_418 = 0.1",
            "sms.faults.http_418",
            "use one of",
        ),
        (
            "probability 1.5",
            "[sms.faults]\nhttp_500 = 1.5",
            "sms.faults.http_500",
            "probability from 0 to 1",
        ),
        (
            "negative probability",
            "[email.faults]\nhttp_503 = -0.1",
            "email.faults.http_503",
            "probability from 0 to 1",
        ),
        (
            "sum above 1",
            "[sms.faults]\nhttp_500 = 0.6\nhttp_503 = 0.5",
            "sms.faults",
            "sum to at most 1",
        ),
        (
            "min above max",
            "[email]\nlatency = { distribution = \"uniform\", min_ms = 50, max_ms = 10 }",
            "email.latency.min_ms",
            "min no greater than max",
        ),
        (
            "sigma -1",
            "[sms]\nlatency = { distribution = \"lognormal\", median_ms = 40, sigma = -1 }",
            "sms.latency.sigma",
            "from 0 to",
        ),
        (
            "infinite mean",
            "[sms]\ndelivery_delay = { distribution = \"exponential\", mean_s = inf }",
            "sms.delivery_delay.mean_s",
            "from 0 to",
        ),
        (
            "wrong unit suffix",
            "[sms]\nlatency = { distribution = \"fixed\", value_s = 1 }",
            "sms.latency.value_s",
            "use value_ms",
        ),
        (
            "unknown distribution",
            "[sms]\nlatency = { distribution = \"pareto\", value_ms = 1 }",
            "sms.latency.distribution",
            "\"lognormal\"",
        ),
        (
            "fractional postal days",
            "[postal]\ndelivery_delay = { distribution = \"fixed\", value = 2.5 }",
            "postal.delivery_delay.value",
            "whole number",
        ),
        (
            "outage end before start",
            "[[email.outages]]\nstart_s = 20\nend_s = 10\nkind = \"http_503\"",
            "email.outages[0].end_s",
            "end_s greater than start_s",
        ),
        (
            "outage end equals start",
            "[[email.outages]]\nstart_s = 5\nend_s = 5\nkind = \"hang\"",
            "email.outages[0].end_s",
            "end_s greater than start_s",
        ),
        (
            "unknown outage kind",
            "[[sms.outages]]\nstart_s = 1\nend_s = 2\nkind = \"http_418\"",
            "http_418",
            "http_503",
        ),
        (
            "bounce under sms",
            "[sms.faults]\nbounce = 0.1",
            "sms.faults.bounce",
            "applies only to email",
        ),
        (
            "undeliverable under email",
            "[email.faults]\nundeliverable = 0.1",
            "email.faults.undeliverable",
            "applies only to sms",
        ),
        (
            "returns under sms",
            "[sms.faults]\nreturned_to_sender = 0.1",
            "sms.faults.returned_to_sender",
            "only to postal",
        ),
        (
            "unknown error code",
            "[sms.fault_settings]\nundeliverable_error_code = 30001",
            "sms.fault_settings.undeliverable_error_code",
            "30003, 30005, 30006 or 30008",
        ),
        (
            "hang too long",
            "[sms.fault_settings]\nhang_s = 1e9",
            "sms.fault_settings.hang_s",
            "number of seconds",
        ),
        ("seed as text", "seed = \"seven\"", "seed", "whole number"),
    ];
    for (case, text, key, fix) in cases {
        let message = match parse(text) {
            Ok(_) => panic!("case {case}: the profile was accepted"),
            Err(message) => message,
        };
        assert!(
            message.contains("mocks/bad.toml"),
            "case {case} names the file: {message}"
        );
        assert!(message.contains(key), "case {case} names {key}: {message}");
        assert!(
            message.contains(fix),
            "case {case} says the fix {fix:?}: {message}"
        );
    }
}

#[test]
fn missing_profile_file_named() {
    let error =
        FaultProfile::load(Path::new("mocks/does-not-exist.toml")).expect_err("no such file");
    assert!(
        error.to_string().contains("mocks/does-not-exist.toml"),
        "{error}"
    );
    assert!(error.to_string().contains("check the path"), "{error}");
}

#[test]
fn shipped_profiles_load() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("mocks");
    for name in [
        "healthy",
        "flaky-sms",
        "email-outage",
        "postal-returns",
        "slow",
        "flaky",
    ] {
        let path = folder.join(format!("{name}.toml"));
        let profile = FaultProfile::load(&path).unwrap_or_else(|error| panic!("{name}: {error}"));
        assert!(profile.description.is_some(), "{name} has a description");
    }

    let healthy = FaultProfile::load(&folder.join("healthy.toml")).expect("healthy loads");
    assert_eq!(healthy.sms, FaultProfile::healthy().sms);
    assert_eq!(healthy.email, FaultProfile::healthy().email);
    assert_eq!(healthy.postal, FaultProfile::healthy().postal);

    let flaky = FaultProfile::load(&folder.join("flaky.toml")).expect("flaky loads");
    let sms = &flaky.sms.faults;
    assert!(
        sms.get(Fault::Http500) + sms.get(Fault::Http503) >= 0.2,
        "at least 20% SMS 5xx"
    );
    assert_eq!(sms.get(Fault::HangAfterAccept), 0.05);
    assert_eq!(sms.get(Fault::SilentLoss), 0.02);
    assert_eq!(flaky.email.outages.len(), 1, "one email outage window");
}

/// A profile that fails SMS sends in every way a retry can repair, with no hangs.
const RETRYABLE_SMS: &str = r#"
seed = 99
[sms]
latency = { distribution = "uniform", min_ms = 0, max_ms = 5 }
[sms.faults]
http_500 = 0.15
http_503 = 0.10
http_429 = 0.05
connection_reset = 0.05
silent_loss = 0.05
duplicate = 0.05
undeliverable = 0.05
[sms.fault_settings]
retry_after_s = 0
"#;

/// Sends message `ordinal` to `number` with its own key, retrying up to 4
/// attempts on a 5xx, a 429 or a connection error.
async fn send_with_retries(client: &reqwest::Client, base: &str, number: String, ordinal: usize) {
    let key = format!("{number}-{ordinal}");
    let body = format!("Code {ordinal} for {number}");
    let message = Sms {
        key: Some(&key),
        ..Sms::new(&number, &body)
    };
    for _ in 0..4 {
        match message.request(client, base).send().await {
            Ok(response) if response.status().is_success() => return,
            Ok(response) => assert!(
                response.status().is_server_error()
                    || response.status() == StatusCode::TOO_MANY_REQUESTS,
                "unexpected {}",
                response.status()
            ),
            Err(error) => assert!(!error.is_timeout(), "{error}"),
        }
    }
}

/// Sends three messages to each of ten numbers, in order or all at once in
/// reverse order, and returns the SMS mock's fault counts and acceptances.
async fn fault_counts(concurrently: bool) -> (Value, Value) {
    let providers = start(with_profile(RETRYABLE_SMS)).await;
    let client = client();
    let sms = providers.sms.url();
    let mut sends: Vec<(String, usize)> = (0..10)
        .flat_map(|n| (1..=3).map(move |ordinal| (format!("55555501{n:02}"), ordinal)))
        .collect();
    if concurrently {
        sends.reverse();
        // Messages to one number keep their order, so that ordinal n is the same
        // message in both runs; the numbers interleave freely.
        let by_number = (0..10).map(|n| {
            let number = format!("55555501{n:02}");
            let client = client.clone();
            let sms = sms.clone();
            async move {
                for ordinal in 1..=3 {
                    send_with_retries(&client, &sms, number.clone(), ordinal).await;
                }
            }
        });
        join_all(by_number.rev()).await;
    } else {
        for (number, ordinal) in sends {
            send_with_retries(&client, &sms, number, ordinal).await;
        }
    }
    let stats = stats(&client, &sms).await;
    providers.stop().await.expect("the mock providers stop");
    (stats["faults"].clone(), stats["accepted"].clone())
}

#[tokio::test]
async fn same_seed_same_fault_counts() {
    let (in_order, accepted_in_order) = fault_counts(false).await;
    let (concurrent, accepted_concurrent) = fault_counts(true).await;
    assert_eq!(in_order, concurrent, "fault counts differ between orders");
    assert_eq!(accepted_in_order, accepted_concurrent);
    let drawn: u64 = in_order
        .as_object()
        .expect("faults")
        .values()
        .filter_map(Value::as_u64)
        .sum();
    assert!(drawn > 0, "the profile drew faults: {in_order}");
}

/// Starts the mocks with one SMS fault at probability 1 and `extra` profile lines.
async fn sms_with_fault(fault: &str, extra: &str) -> recoverylab::providers::MockProviders {
    start(with_profile(&format!(
        "[sms.faults]\n{fault} = 1.0\n{extra}"
    )))
    .await
}

#[tokio::test]
async fn http_faults_answer_their_status() {
    let client = client();
    for (fault, status, code) in [
        ("http_500", 500, 20500),
        ("http_503", 503, 20503),
        ("http_429", 429, 20429),
    ] {
        let providers = sms_with_fault(fault, "[sms.fault_settings]\nretry_after_s = 3").await;
        let sms = providers.sms.url();
        let reply = Sms::new("5555550142", "Code 1").send(&client, &sms).await;
        assert_eq!(reply.status.as_u16(), status, "{fault}");
        assert_eq!(reply.body["code"], code, "{fault}: {:?}", reply.body);
        let retry_after = reply
            .headers
            .get("retry-after")
            .map(|value| value.as_bytes().to_vec());
        if status == 429 {
            assert_eq!(retry_after.as_deref(), Some(&b"3"[..]), "{fault}");
        } else {
            assert_eq!(retry_after, None, "{fault}");
        }
        let stats = stats(&client, &sms).await;
        assert_eq!(stats["faults"][fault], 1, "{fault}");
        assert_eq!(stats["accepted"], 0, "{fault}");
        assert!(
            listed(&client, format!("{sms}/v1/handsets/5555550142/messages"))
                .await
                .is_empty()
        );
        providers.stop().await.expect("the mock providers stop");
    }

    let providers = start(with_profile(
        "[email.faults]\nhttp_429 = 1.0\n[postal.faults]\nhttp_500 = 1.0",
    ))
    .await;
    let email = send_email(&client, &providers.email.url(), "jane@example.org", "x").await;
    assert_eq!(email.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(email.body["code"], "rate_limited");
    assert_eq!(
        email
            .headers
            .get("retry-after")
            .map(|value| value.as_bytes()),
        Some(&b"1"[..])
    );
    let postal = mail_letter(
        &client,
        &providers.postal.url(),
        &letter("1 Main St", "x"),
        None,
    )
    .await;
    assert_eq!(postal.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(postal.body["error"]["code"], "internal_server_error");
    providers.stop().await.expect("the mock providers stop");
}

#[tokio::test]
async fn connection_reset_answers_nothing() {
    let providers = sms_with_fault("connection_reset", "").await;
    let client = client();
    let sms = providers.sms.url();
    let error = Sms::new("5555550142", "Code 1")
        .request(&client, &sms)
        .send()
        .await
        .expect_err("the connection is reset without an answer");
    assert!(!error.is_timeout(), "{error}");
    assert!(error.status().is_none(), "{error}");

    let stats = stats(&client, &sms).await;
    assert_eq!(stats["faults"]["connection_reset"], 1);
    assert_eq!(stats["accepted"], 0);
    providers.stop().await.expect("the mock providers stop");
}

#[tokio::test]
async fn hang_before_accept_delivers_nothing() {
    let providers =
        sms_with_fault("hang_before_accept", "[sms.fault_settings]\nhang_s = 0.3").await;
    let client = client();
    let sms = providers.sms.url();
    let sent = Instant::now();
    let reply = Sms::new("5555550142", "Code 1").send(&client, &sms).await;
    assert!(
        sent.elapsed() >= Duration::from_millis(300),
        "held for {:?}",
        sent.elapsed()
    );
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        listed(&client, format!("{sms}/v1/handsets/5555550142/messages"))
            .await
            .is_empty()
    );
    assert_eq!(stats(&client, &sms).await["accepted"], 0);
    providers.stop().await.expect("the mock providers stop");
}

#[tokio::test]
async fn retried_key_delivers_once_after_hang() {
    let providers = sms_with_fault("hang_after_accept", "[sms.fault_settings]\nhang_s = 30").await;
    let sms = providers.sms.url();
    let message = Sms {
        key: Some("otp-1"),
        ..Sms::new("5555550142", "Code 1")
    };

    let impatient = client_with_timeout(Duration::from_millis(300));
    let error = message
        .request(&impatient, &sms)
        .send()
        .await
        .expect_err("the answer hangs");
    assert!(error.is_timeout(), "{error}");

    let client = client();
    let retry = message.send(&client, &sms).await;
    assert_eq!(
        retry.status,
        StatusCode::CREATED,
        "a replay answers at once"
    );
    let handset = format!("{sms}/v1/handsets/5555550142/messages");
    let delivered = wait_for(Duration::from_secs(5), || async {
        let messages = listed(&client, handset.clone()).await;
        (!messages.is_empty()).then_some(messages)
    })
    .await
    .expect("the hung message is delivered");
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0]["id"], retry.body["sid"]);

    let stats = stats(&client, &sms).await;
    assert_eq!(stats["accepted"], 1);
    assert_eq!(stats["retries"], 1);
    assert_eq!(stats["replayed"], 1);
    assert_eq!(stats["faults"]["hang_after_accept"], 1);
    assert_eq!(stats["retry_duplicates"], 0);
    // Stopping cuts the hung request short.
    let stopping = Instant::now();
    providers.stop().await.expect("the mock providers stop");
    assert!(
        stopping.elapsed() < Duration::from_secs(10),
        "stop took {:?}",
        stopping.elapsed()
    );
}

#[tokio::test]
async fn silent_loss_never_delivers() {
    let mut receiver = CallbackReceiver::start().await;
    let providers = sms_with_fault("silent_loss", "").await;
    let client = client();
    let sms = providers.sms.url();
    let callback = receiver.url();
    let message = Sms {
        callback: Some(&callback),
        ..Sms::new("5555550142", "Code 1")
    };
    let reply = message.send(&client, &sms).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.body["status"], "queued");

    assert!(
        receiver.next(Duration::from_millis(500)).await.is_none(),
        "no status callback"
    );
    assert!(
        listed(&client, format!("{sms}/v1/handsets/5555550142/messages"))
            .await
            .is_empty()
    );
    let sid = reply.body["sid"].as_str().expect("sid");
    assert_eq!(
        get_json(&client, sms_status_url(&sms, sid)).await.body["status"],
        "queued"
    );
    let stats = stats(&client, &sms).await;
    assert_eq!(stats["lost"], 1);
    assert_eq!(stats["in_transit"], 0);
    assert_eq!(stats["delivered"], 0);
    providers.stop().await.expect("the mock providers stop");
}

#[tokio::test]
async fn duplicate_fault_delivers_twice() {
    let providers = sms_with_fault("duplicate", "").await;
    let client = client();
    let sms = providers.sms.url();
    Sms::new("5555550142", "Code 1").send(&client, &sms).await;
    let messages = listed(&client, format!("{sms}/v1/handsets/5555550142/messages")).await;
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["text"], messages[1]["text"]);
    let stats = stats(&client, &sms).await;
    assert_eq!(stats["duplicates_injected"], 1);
    assert_eq!(
        stats["retry_duplicates"], 0,
        "injected duplicates are counted apart"
    );
    assert_eq!(stats["delivered"], 1);
    providers.stop().await.expect("the mock providers stop");
}

#[tokio::test]
async fn resend_without_key_is_retry_duplicate() {
    let providers = start(settings(0, SLOW_CLOCK)).await;
    let client = client();
    let sms = providers.sms.url();
    let email = providers.email.url();
    for _ in 0..2 {
        Sms::new("5555550142", "Code 1").send(&client, &sms).await;
        send_email(&client, &email, "jane@example.org", "Code 1").await;
        let keyed = Sms {
            key: Some("k-1"),
            ..Sms::new("5555550143", "Code 2")
        };
        keyed.send(&client, &sms).await;
    }
    assert_eq!(
        stats(&client, &sms).await["retry_duplicates"],
        1,
        "only the send without a key"
    );
    assert_eq!(stats(&client, &email).await["retry_duplicates"], 1);
    providers.stop().await.expect("the mock providers stop");
}

#[tokio::test]
async fn bounce_reported_by_callback() {
    let mut receiver = CallbackReceiver::start().await;
    let providers = start(with_profile("[email.faults]\nbounce = 1.0")).await;
    let client = client();
    let email = providers.email.url();
    let request = email_request(
        &client,
        &email,
        "jane@example.org",
        "x",
        None,
        Some(&receiver.url()),
    );
    let reply = read(request.send().await.expect("send")).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED);

    let callback = receiver
        .next(Duration::from_secs(5))
        .await
        .expect("a bounce callback");
    assert!(
        callback.content_type.starts_with("application/json"),
        "{}",
        callback.content_type
    );
    assert_eq!(
        callback.json(),
        json!({"id": reply.body["id"], "status": "bounced", "reason": "mailbox_unavailable"})
    );
    assert!(listed(
        &client,
        format!("{email}/v1/inboxes/jane@example.org/messages")
    )
    .await
    .is_empty());
    let stats = stats(&client, &email).await;
    assert_eq!(stats["bounced"], 1);
    assert_eq!(stats["faults"]["bounce"], 1);
    providers.stop().await.expect("the mock providers stop");
}

/// Collects `count` callbacks, or fewer if none comes for 5 s.
async fn collect(receiver: &mut CallbackReceiver, count: usize) -> Vec<Callback> {
    let mut callbacks = Vec::new();
    while callbacks.len() < count {
        match receiver.next(Duration::from_secs(5)).await {
            Some(callback) => callbacks.push(callback),
            None => break,
        }
    }
    callbacks
}

#[tokio::test]
async fn undeliverable_sms_reports_error_code() {
    let mut receiver = CallbackReceiver::start().await;
    let providers = sms_with_fault(
        "undeliverable",
        "[sms.fault_settings]\nundeliverable_error_code = 30005",
    )
    .await;
    let client = client();
    let sms = providers.sms.url();
    let callback = receiver.url();
    let message = Sms {
        callback: Some(&callback),
        ..Sms::new("5555550142", "Code 1")
    };
    let sid = message.send(&client, &sms).await.body["sid"].clone();

    let callbacks = collect(&mut receiver, 2).await;
    let statuses: Vec<Option<String>> = callbacks
        .iter()
        .map(|c| c.form_field("MessageStatus"))
        .collect();
    assert!(statuses.contains(&Some("sent".to_owned())), "{statuses:?}");
    let undelivered = callbacks
        .iter()
        .find(|c| c.form_field("MessageStatus").as_deref() == Some("undelivered"))
        .expect("an undelivered callback");
    assert_eq!(
        undelivered.form_field("ErrorCode").as_deref(),
        Some("30005")
    );
    assert_eq!(
        undelivered.form_field("MessageSid").as_deref(),
        sid.as_str()
    );

    let status = get_json(&client, sms_status_url(&sms, sid.as_str().expect("sid"))).await;
    assert_eq!(status.body["status"], "undelivered");
    assert_eq!(status.body["error_code"], 30005);
    assert_eq!(status.body["error_message"], "Unknown destination handset");
    assert!(
        listed(&client, format!("{sms}/v1/handsets/5555550142/messages"))
            .await
            .is_empty()
    );
    assert_eq!(stats(&client, &sms).await["undeliverable"], 1);
    providers.stop().await.expect("the mock providers stop");
}

#[tokio::test]
async fn returned_letter_tracks_return() {
    let mut receiver = CallbackReceiver::start().await;
    let profile = "[postal]\ndelivery_delay = { distribution = \"fixed\", value = 2 }\n[postal.faults]\nreturned_to_sender = 1.0";
    let providers = start(ProviderSettings {
        seconds_per_business_day: 0.05,
        ..with_profile(profile)
    })
    .await;
    let client = client();
    let postal = providers.postal.url();
    let mut body = letter("1 Main St", "Temporary password");
    body["metadata"] = json!({"webhook_url": receiver.url()});
    let id = mail_letter(&client, &postal, &body, None).await.body["id"].clone();
    let id = id.as_str().expect("id");

    let returned = wait_for(Duration::from_secs(5), || async {
        let letter = get_json(&client, format!("{postal}/v1/letters/{id}"))
            .await
            .body;
        (letter["status"] == "returned_to_sender").then_some(letter)
    })
    .await
    .expect("the letter is returned");
    let names: Vec<&Value> = returned["tracking_events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|event| &event["name"])
        .collect();
    assert_eq!(
        names,
        [
            "Mailed",
            "In Transit",
            "Processed for Delivery",
            "Returned to Sender"
        ]
    );
    assert!(listed(
        &client,
        letterbox_url(&postal, "1 Main St", "62701").to_string()
    )
    .await
    .is_empty());

    let webhooks = collect(&mut receiver, 4).await;
    let event_types: Vec<Value> = webhooks
        .iter()
        .map(|hook| hook.json()["event_type"]["id"].clone())
        .collect();
    assert!(
        event_types.contains(&json!("letter.returned_to_sender")),
        "{event_types:?}"
    );
    let last = webhooks
        .iter()
        .map(Callback::json)
        .find(|hook| hook["event_type"]["id"] == "letter.returned_to_sender")
        .expect("the return webhook");
    assert_eq!(last["object"], "event");
    assert_eq!(last["body"]["id"], id);
    let stats = stats(&client, &postal).await;
    assert_eq!(stats["returned"], 1);
    assert_eq!(stats["in_transit"], 0);
    providers.stop().await.expect("the mock providers stop");
}

#[tokio::test]
async fn outage_window_rejects_then_recovers() {
    let profile = "[[email.outages]]\nstart_s = 0\nend_s = 1\nkind = \"http_503\"\n\
                   [[sms.outages]]\nstart_s = 0\nend_s = 1\nkind = \"connection_reset\"";
    let started = Instant::now();
    let providers = start(with_profile(profile)).await;
    let client = client();
    let email = providers.email.url();
    let sms = providers.sms.url();

    let during = send_email(&client, &email, "jane@example.org", "x").await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the machine is too slow for this check"
    );
    assert_eq!(during.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        Sms::new("5555550142", "x")
            .request(&client, &sms)
            .send()
            .await
            .is_err(),
        "reset"
    );

    tokio::time::sleep(Duration::from_millis(1_100).saturating_sub(started.elapsed())).await;
    let after = send_email(&client, &email, "jane@example.org", "x").await;
    assert_eq!(after.status, StatusCode::ACCEPTED);

    let stats = stats(&client, &email).await;
    assert_eq!(stats["outage_rejections"], 1);
    assert_eq!(stats["requests"], 2);
    assert_eq!(
        stats["faults"]["http_503"], 0,
        "outages are not drawn faults"
    );
    providers.stop().await.expect("the mock providers stop");
}

#[tokio::test]
async fn callbacks_reach_receiver() {
    let mut receiver = CallbackReceiver::start().await;
    let providers = start(ProviderSettings {
        postal_transit_business_days: 0..=0,
        ..settings(0, 0.01)
    })
    .await;
    let client = client();
    let callback = receiver.url();

    let sms = Sms {
        callback: Some(&callback),
        ..Sms::new("5555550142", "Code 1")
    };
    let sid = sms.send(&client, &providers.sms.url()).await.body["sid"].clone();
    let mut statuses: Vec<String> = collect(&mut receiver, 2)
        .await
        .iter()
        .inspect(|callback| {
            assert_eq!(callback.form_field("MessageSid").as_deref(), sid.as_str());
            assert_eq!(
                callback.form_field("AccountSid").as_deref(),
                Some(ACCOUNT_SID)
            );
            assert_eq!(callback.form_field("To").as_deref(), Some("+15555550142"));
        })
        .filter_map(|callback| callback.form_field("MessageStatus"))
        .collect();
    statuses.sort();
    assert_eq!(statuses, ["delivered", "sent"]);

    let request = email_request(
        &client,
        &providers.email.url(),
        "jane@example.org",
        "x",
        None,
        Some(&callback),
    );
    let id = read(request.send().await.expect("send")).await.body["id"].clone();
    let email = receiver
        .next(Duration::from_secs(5))
        .await
        .expect("an email callback");
    assert_eq!(email.json(), json!({"id": id, "status": "delivered"}));

    let mut body = letter("1 Main St", "x");
    body["metadata"] = json!({"webhook_url": callback});
    mail_letter(&client, &providers.postal.url(), &body, None).await;
    let webhooks = collect(&mut receiver, 4).await;
    let event_types: Vec<Value> = webhooks
        .iter()
        .map(|hook| hook.json()["event_type"]["id"].clone())
        .collect();
    assert!(
        event_types.contains(&json!("letter.delivered")),
        "{event_types:?}"
    );
    providers.stop().await.expect("the mock providers stop");
}

#[tokio::test]
async fn hang_outage_holds_then_fails() {
    let profile = "[postal.fault_settings]\nhang_s = 0.3\n\
                   [[postal.outages]]\nstart_s = 0\nend_s = 60\nkind = \"hang\"";
    let providers = start(with_profile(profile)).await;
    let client = client();
    let postal = providers.postal.url();

    let sent = Instant::now();
    let reply = mail_letter(
        &client,
        &postal,
        &letter("1 Main St", "x"),
        Some("letter-1"),
    )
    .await;
    assert!(
        sent.elapsed() >= Duration::from_millis(300),
        "held for {:?}",
        sent.elapsed()
    );
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.body["error"]["code"], "service_unavailable");

    let stats = stats(&client, &postal).await;
    assert_eq!(stats["outage_rejections"], 1);
    assert_eq!(stats["accepted"], 0);
    assert_eq!(stats["retries"], 0, "an outage does not register the key");
    providers.stop().await.expect("the mock providers stop");
}
