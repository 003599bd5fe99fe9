//! The mock providers over real HTTP on 127.0.0.1, in the shapes the reference
//! service and the load driver call them: Twilio's for SMS, Lob's for letters,
//! the mock's own send API and Mailpit's read API for email.

mod mock_helpers;

use std::time::{Duration, Instant};

use chrono::DateTime;
use mock_helpers::*;
use recoverylab::calendar::add_business_days;
use recoverylab::providers::{
    MockProviders, ProviderSettings, INBOX_CAPACITY, MAX_BODY_BYTES, MAX_TEXT_BYTES,
};
use recoverylab::server::bind_loopback;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[tokio::test]
async fn email_send_and_read_back() {
    let providers = start(settings(0, SLOW_CLOCK)).await;
    let client = client();
    let email = providers.email.url();

    let accepted = send_email(&client, &email, "jane@example.org", "Code: 493817").await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED);
    let id = accepted.body["id"].as_str().expect("id is a string");
    assert!(id.starts_with("em_"), "{id}");
    assert!(
        id["em_".len()..].chars().all(|c| c.is_ascii_hexdigit()),
        "{id}"
    );
    assert_eq!(accepted.body["status"], "queued");

    let messages = listed(
        &client,
        format!("{email}/v1/inboxes/jane@example.org/messages"),
    )
    .await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["id"], id);
    assert_eq!(messages[0]["to"], "jane@example.org");
    assert_eq!(messages[0]["subject"], "Your code");
    assert_eq!(messages[0]["text"], "Code: 493817");
    let received_at = messages[0]["received_at"]
        .as_str()
        .expect("received_at is a string");
    assert!(
        DateTime::parse_from_rfc3339(received_at).is_ok(),
        "{received_at}"
    );

    let stats = stats(&client, &email).await;
    assert_eq!(stats["requests"], 1);
    assert_eq!(stats["accepted"], 1);
    assert_eq!(stats["delivered"], 1);
    assert_eq!(stats["in_transit"], 0);
    assert_eq!(stats["retry_duplicates"], 0);
    assert_eq!(stats["delivery_delay_ms"]["count"], 1);
    assert_eq!(
        stats["faults"]["http_500"], 0,
        "every fault kind is listed: {stats}"
    );
    assert_eq!(stats["faults"]["returned_to_sender"], 0, "{stats}");

    providers.stop().await.expect("the mock providers stop");
}

#[tokio::test]
async fn email_inbox_lists_oldest_first() {
    let providers = start(settings(0, SLOW_CLOCK)).await;
    let client = client();
    let email = providers.email.url();

    for n in 1..=3 {
        let reply = send_email(&client, &email, "jane@example.org", &format!("Message {n}")).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED);
    }
    send_email(&client, &email, "john@example.org", "Not for Jane").await;

    let texts: Vec<Value> = listed(
        &client,
        format!("{email}/v1/inboxes/jane@example.org/messages"),
    )
    .await
    .into_iter()
    .map(|message| message["text"].clone())
    .collect();
    assert_eq!(texts, ["Message 1", "Message 2", "Message 3"]);

    providers.stop().await.expect("the mock providers stop");
}

#[tokio::test]
async fn email_idempotency_key_delivers_once() {
    let providers = start(settings(0, SLOW_CLOCK)).await;
    let client = client();
    let email = providers.email.url();
    let send = || {
        email_request(
            &client,
            &email,
            "jane@example.org",
            "123456",
            Some("reset-1"),
            None,
        )
    };

    let first = read(send().send().await.expect("first send")).await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    assert!(first.headers.get("idempotent-replayed").is_none());

    let second = read(send().send().await.expect("second send")).await;
    assert_eq!(second.status, StatusCode::ACCEPTED);
    assert_eq!(
        second
            .headers
            .get("idempotent-replayed")
            .map(|v| v.as_bytes()),
        Some(&b"true"[..])
    );
    assert_eq!(second.body, first.body);

    let messages = listed(
        &client,
        format!("{email}/v1/inboxes/jane@example.org/messages"),
    )
    .await;
    assert_eq!(messages.len(), 1);
    let stats = stats(&client, &email).await;
    assert_eq!(stats["accepted"], 1);
    assert_eq!(stats["retries"], 1);
    assert_eq!(stats["replayed"], 1);
    assert_eq!(stats["delivered"], 1);

    providers.stop().await.expect("the mock providers stop");
}

#[tokio::test]
async fn email_lookup_uses_canonical_address() {
    let providers = start(settings(0, SLOW_CLOCK)).await;
    let client = client();
    let email = providers.email.url();

    let reply = send_email(&client, &email, "  Jane.Doe@Example.ORG ", "hello").await;
    assert_eq!(reply.status, StatusCode::ACCEPTED);

    for address in [
        "jane.doe@example.org",
        "JANE.DOE@EXAMPLE.ORG",
        "%20Jane.Doe@example.org%20",
    ] {
        let messages = listed(&client, format!("{email}/v1/inboxes/{address}/messages")).await;
        assert_eq!(messages.len(), 1, "{address}");
    }

    providers.stop().await.expect("the mock providers stop");
}

#[tokio::test]
async fn email_unknown_address_is_empty() {
    let providers = start(settings(0, SLOW_CLOCK)).await;
    let reply = get_json(
        &client(),
        format!(
            "{}/v1/inboxes/nobody@example.org/messages",
            providers.email.url()
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, json!({"messages": []}));
    providers.stop().await.expect("the mock providers stop");
}

#[tokio::test]
async fn email_inbox_keeps_latest_messages() {
    let providers = start(settings(0, SLOW_CLOCK)).await;
    let client = client();
    let email = providers.email.url();

    let total = INBOX_CAPACITY + 5;
    for n in 0..total {
        let reply = send_email(&client, &email, "busy@example.org", &n.to_string()).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "message {n}");
    }

    let messages = listed(
        &client,
        format!("{email}/v1/inboxes/busy@example.org/messages"),
    )
    .await;
    assert_eq!(messages.len(), INBOX_CAPACITY);
    assert_eq!(messages[0]["text"], "5");
    assert_eq!(
        messages[INBOX_CAPACITY - 1]["text"],
        (total - 1).to_string()
    );
    assert_eq!(stats(&client, &email).await["accepted"], total);

    providers.stop().await.expect("the mock providers stop");
}

#[tokio::test]
async fn mailpit_lists_searches_and_reads() {
    let providers = start(settings(0, SLOW_CLOCK)).await;
    let client = client();
    let email = providers.email.url();
    for (to, text) in [
        ("jane@example.org", "first"),
        ("john@example.org", "second"),
        ("Jane@Example.org", "third"),
    ] {
        send_email(&client, &email, to, text).await;
    }

    let list = get_json(&client, format!("{email}/api/v1/messages?start=0&limit=2")).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body["total"], 3);
    assert_eq!(list.body["count"], 2);
    let newest = &list.body["messages"][0];
    assert_eq!(newest["Snippet"], "third", "newest first: {}", list.body);
    assert_eq!(newest["To"][0]["Address"], "Jane@Example.org");
    assert_eq!(newest["Subject"], "Your code");
    for field in ["ID", "MessageID", "From", "Created", "Size"] {
        assert!(newest.get(field).is_some(), "summary has {field}: {newest}");
    }

    let search = get_json(
        &client,
        format!("{email}/api/v1/search?query=to:jane@example.org"),
    )
    .await;
    assert_eq!(search.status, StatusCode::OK);
    let snippets: Vec<&Value> = search.body["messages"]
        .as_array()
        .expect("messages is an array")
        .iter()
        .map(|message| &message["Snippet"])
        .collect();
    assert_eq!(snippets, [&json!("third"), &json!("first")]);

    let id = newest["ID"].as_str().expect("ID is a string");
    let message = get_json(&client, format!("{email}/api/v1/message/{id}")).await;
    assert_eq!(message.status, StatusCode::OK);
    assert_eq!(message.body["Text"], "third");
    assert_eq!(message.body["HTML"], "");
    assert!(message.body["Date"].is_string(), "{}", message.body);

    let unknown = get_json(
        &client,
        format!("{email}/api/v1/message/em_0000000000000099"),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let bad_query = get_json(&client, format!("{email}/api/v1/search?query=subject:code")).await;
    assert_eq!(bad_query.status, StatusCode::BAD_REQUEST);

    providers.stop().await.expect("the mock providers stop");
}

#[tokio::test]
async fn sms_send_and_read_back() {
    let providers = start(settings(0, SLOW_CLOCK)).await;
    let client = client();
    let sms = providers.sms.url();

    let created = Sms::new("+1 555-555-0142", "Your code is 771203")
        .send(&client, &sms)
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let sid = created.body["sid"]
        .as_str()
        .expect("sid is a string")
        .to_owned();
    assert!(sid.starts_with("SM"), "{sid}");
    assert_eq!(sid.len(), 34, "{sid}");
    assert_eq!(created.body["account_sid"], ACCOUNT_SID);
    assert_eq!(created.body["to"], "+15555550142");
    assert_eq!(created.body["from"], "+15555550100");
    assert_eq!(created.body["error_code"], Value::Null);
    assert!(
        created.body.get("body").is_none(),
        "the answer carries no body"
    );
    assert_eq!(
        created.body["uri"],
        format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json")
    );
    assert_eq!(created.body["status"], "queued");

    let status = get_json(&client, sms_status_url(&sms, &sid)).await;
    assert_eq!(status.status, StatusCode::OK);
    assert_eq!(status.body["status"], "delivered");

    for number in [
        "5555550142",
        "15555550142",
        "+15555550142",
        "(555)%20555-0142",
        "555.555.0142",
    ] {
        let messages = listed(&client, format!("{sms}/v1/handsets/{number}/messages")).await;
        assert_eq!(messages.len(), 1, "{number}");
        assert_eq!(messages[0]["id"], sid.as_str());
        assert_eq!(messages[0]["to"], "+15555550142");
        assert_eq!(messages[0]["text"], "Your code is 771203");
        let received_at = messages[0]["received_at"]
            .as_str()
            .expect("received_at is a string");
        assert!(
            DateTime::parse_from_rfc3339(received_at).is_ok(),
            "{received_at}"
        );
    }
    assert!(
        listed(&client, format!("{sms}/v1/handsets/5555550199/messages"))
            .await
            .is_empty()
    );

    let stats = stats(&client, &sms).await;
    assert_eq!(stats["accepted"], 1);
    assert_eq!(stats["delivered"], 1);
    assert_eq!(stats["in_transit"], 0);

    providers.stop().await.expect("the mock providers stop");
}

#[tokio::test]
async fn sms_idempotency_token_delivers_once() {
    let providers = start(settings(0, SLOW_CLOCK)).await;
    let client = client();
    let sms = providers.sms.url();
    let message = Sms {
        key: Some("otp:42"),
        ..Sms::new("555-555-0142", "Code 1")
    };

    let first = message.send(&client, &sms).await;
    let second = message.send(&client, &sms).await;
    assert_eq!(second.status, StatusCode::CREATED);
    assert_eq!(second.body["sid"], first.body["sid"]);
    assert_eq!(
        second.body["status"], "delivered",
        "a replay shows the current status"
    );
    assert!(second.headers.get("idempotent-replayed").is_some());

    assert_eq!(
        listed(&client, format!("{sms}/v1/handsets/5555550142/messages"))
            .await
            .len(),
        1
    );
    let stats = stats(&client, &sms).await;
    assert_eq!(stats["accepted"], 1);
    assert_eq!(stats["replayed"], 1);

    providers.stop().await.expect("the mock providers stop");
}

/// A rejected send: case name, form fields, HTTP status and Twilio error code.
type TwilioCase = (&'static str, Vec<(&'static str, &'static str)>, u16, u32);

#[tokio::test]
async fn sms_errors_use_twilio_codes() {
    let providers = start(settings(0, SLOW_CLOCK)).await;
    let client = client();
    let sms = providers.sms.url();
    let url = format!("{sms}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json");

    let cases: [TwilioCase; 7] = [
        (
            "missing To",
            vec![("From", "+15555550100"), ("Body", "x")],
            400,
            21604,
        ),
        (
            "invalid To",
            vec![("To", "555-0142"), ("From", "+15555550100"), ("Body", "x")],
            400,
            21211,
        ),
        (
            "missing From",
            vec![("To", "5555550142"), ("Body", "x")],
            400,
            21603,
        ),
        (
            "missing Body",
            vec![("To", "5555550142"), ("From", "+15555550100")],
            400,
            21602,
        ),
        (
            "empty Body",
            vec![("To", "5555550142"), ("From", "+15555550100"), ("Body", "")],
            400,
            21602,
        ),
        (
            "remote StatusCallback",
            vec![
                ("To", "5555550142"),
                ("From", "+1555"),
                ("Body", "x"),
                ("StatusCallback", "http://example.org/x"),
            ],
            400,
            21609,
        ),
        (
            "relative StatusCallback",
            vec![
                ("To", "5555550142"),
                ("From", "+1555"),
                ("Body", "x"),
                ("StatusCallback", "/x"),
            ],
            400,
            21609,
        ),
    ];
    for (case, form, status, code) in cases {
        let reply = read(client.post(&url).form(&form).send().await.expect(case)).await;
        assert_eq!(reply.status.as_u16(), status, "{case}: {:?}", reply.body);
        assert_eq!(reply.body["code"], code, "{case}: {:?}", reply.body);
        assert_eq!(reply.body["status"], status, "{case}");
        assert!(reply.body["message"].is_string(), "{case}");
        assert!(reply.body["more_info"].is_string(), "{case}");
    }

    let long_body = "x".repeat(MAX_TEXT_BYTES + 1);
    let reply = Sms::new("5555550142", &long_body).send(&client, &sms).await;
    assert_eq!(reply.body["code"], 21617);
    let bad_key = Sms {
        key: Some("has space"),
        ..Sms::new("5555550142", "x")
    };
    assert_eq!(
        bad_key.send(&client, &sms).await.status,
        StatusCode::BAD_REQUEST
    );

    let json_body = read(
        client
            .post(&url)
            .json(&json!({"To": "5555550142"}))
            .send()
            .await
            .expect("json"),
    )
    .await;
    assert!(json_body.status.is_client_error(), "{:?}", json_body.status);

    let bad_account = read(
        client
            .post(format!("{sms}/2010-04-01/Accounts/AC123/Messages.json"))
            .form(&[("To", "5555550142"), ("From", "+1555"), ("Body", "x")])
            .send()
            .await
            .expect("bad account"),
    )
    .await;
    assert_eq!(bad_account.status, StatusCode::NOT_FOUND);
    assert_eq!(bad_account.body["code"], 20404);

    for path in [
        "SM00000000000000000000000000000099.json",
        "SM00000000000000000000000000000001",
    ] {
        let reply = get_json(
            &client,
            format!("{sms}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{path}"),
        )
        .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(reply.body["code"], 20404, "{path}");
    }
    assert_eq!(
        stats(&client, &sms).await["requests"],
        0,
        "rejected sends are not requests"
    );

    providers.stop().await.expect("the mock providers stop");
}

#[tokio::test]
async fn postal_receipt_has_lob_shape() {
    let providers = start(settings(9, SLOW_CLOCK)).await;
    let client = client();
    let postal = providers.postal.url();

    let body = json!({
        "description": "Temporary password",
        "to": lob_address("1 Main St"),
        "from": lob_address("9 Office Rd"),
        "file": "Temporary password: blue-7-kite",
        "metadata": {"flow": "f1"},
    });
    let receipt = mail_letter(&client, &postal, &body, None).await;
    assert_eq!(receipt.status, StatusCode::OK, "{:?}", receipt.body);
    let letter = &receipt.body;
    let id = letter["id"].as_str().expect("id is a string");
    assert!(id.starts_with("ltr_"), "{id}");
    assert_eq!(letter["object"], "letter");
    assert_eq!(letter["status"], "mailed");
    assert_eq!(letter["description"], "Temporary password");
    assert_eq!(letter["to"], lob_address("1 Main St"));
    assert_eq!(letter["metadata"], json!({"flow": "f1"}));
    assert_eq!(letter["tracking_events"], json!([]));
    assert!(letter.get("file").is_none(), "the answer carries no file");
    let expected: chrono::NaiveDate = letter["expected_delivery_date"]
        .as_str()
        .expect("a date")
        .parse()
        .expect("YYYY-MM-DD");
    let earliest = add_business_days(date(2026, 11, 25), 5);
    let latest = add_business_days(date(2026, 11, 25), 10);
    assert!((earliest..=latest).contains(&expected), "{expected}");
    for field in ["send_date", "date_created"] {
        let value = letter[field].as_str().expect("a timestamp");
        assert!(
            DateTime::parse_from_rfc3339(value).is_ok(),
            "{field}: {value}"
        );
    }

    let status = get_json(&client, format!("{postal}/v1/letters/{id}")).await;
    assert_eq!(status.status, StatusCode::OK);
    assert_eq!(
        status.body["expected_delivery_date"],
        letter["expected_delivery_date"]
    );
    assert!(
        listed(
            &client,
            letterbox_url(&postal, "1 Main St", "62701").to_string()
        )
        .await
        .is_empty(),
        "the letter is in transit"
    );
    let stats = stats(&client, &postal).await;
    assert_eq!(stats["accepted"], 1);
    assert_eq!(stats["in_transit"], 1);

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
    let receipt = mail_letter(
        &client,
        &postal,
        &letter("12 Elm Street", "Your PIN is 0042"),
        None,
    )
    .await;
    assert_eq!(receipt.status, StatusCode::OK);
    let id = receipt.body["id"]
        .as_str()
        .expect("id is a string")
        .to_owned();

    let early = listed(&client, letterbox.clone()).await;
    assert!(
        mailed.elapsed() < Duration::from_secs(1),
        "the machine is too slow for this check"
    );
    assert!(early.is_empty());

    let landed = wait_for(Duration::from_secs(10), || async {
        let letters = listed(&client, letterbox.clone()).await;
        (!letters.is_empty()).then(|| (mailed.elapsed(), letters))
    })
    .await;
    let (waited, letters) = landed.expect("the letter lands within 10 s");
    assert!(
        waited >= Duration::from_secs(1),
        "the letter landed after {waited:?}"
    );
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0]["id"], id.as_str());
    assert_eq!(letters[0]["text"], "Your PIN is 0042");
    assert_eq!(letters[0]["to"]["line1"], "12 Elm Street");
    assert_eq!(
        letters[0]["delivered_on"],
        receipt.body["expected_delivery_date"]
    );

    let status = get_json(&client, format!("{postal}/v1/letters/{id}")).await;
    assert_eq!(status.body["status"], "delivered");
    let names: Vec<&Value> = status.body["tracking_events"]
        .as_array()
        .expect("tracking events")
        .iter()
        .map(|event| &event["name"])
        .collect();
    assert_eq!(
        names,
        [
            "Mailed",
            "In Transit",
            "Processed for Delivery",
            "Delivered"
        ]
    );
    let event = &status.body["tracking_events"][0];
    assert!(
        event["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("evnt_")),
        "{event}"
    );
    assert_eq!(event["object"], "tracking_event");
    assert_eq!(event["type"], "normal");
    assert_eq!(event["location"], "62701");

    let stats = stats(&client, &postal).await;
    assert_eq!(stats["delivered"], 1);
    assert_eq!(stats["in_transit"], 0);
    assert!(
        stats["delivery_delay_ms"]["p50"]
            .as_u64()
            .is_some_and(|ms| ms >= 1_000),
        "{stats}"
    );

    providers.stop().await.expect("the mock providers stop");
}

#[tokio::test]
async fn postal_virtual_date_advances() {
    // One business day per 0.1 s and no transit, so a letter mailed after 0.35 s
    // is due on the third business day after the start.
    let settings = ProviderSettings {
        postal_transit_business_days: 0..=0,
        ..settings(0, 0.1)
    };
    let providers = start(settings).await;
    let client = client();
    let postal = providers.postal.url();

    tokio::time::sleep(Duration::from_millis(350)).await;
    let receipt = mail_letter(&client, &postal, &letter("1 Main St", "hello"), None).await;
    let mailed_on: chrono::NaiveDate = receipt.body["expected_delivery_date"]
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

/// Mails `letters` letters to distinct addresses and returns their expected
/// delivery dates.
async fn delivery_dates(seed: u64, letters: usize) -> Vec<Value> {
    let providers = start(settings(seed, SLOW_CLOCK)).await;
    let client = client();
    let postal = providers.postal.url();
    let mut dates = Vec::with_capacity(letters);
    for n in 0..letters {
        let receipt = mail_letter(
            &client,
            &postal,
            &letter(&format!("{n} Main St"), "hello"),
            None,
        )
        .await;
        assert_eq!(receipt.status, StatusCode::OK);
        dates.push(receipt.body["expected_delivery_date"].clone());
    }
    providers.stop().await.expect("the mock providers stop");
    dates
}

#[tokio::test]
async fn postal_same_seed_same_transit() {
    let first = delivery_dates(42, 25).await;
    assert_eq!(first, delivery_dates(42, 25).await);
    assert_ne!(first, delivery_dates(43, 25).await);
    // 25 uniform draws from six values repeat one value every time with probability 6^-24.
    assert!(first.iter().any(|date| *date != first[0]), "{first:?}");
}

#[tokio::test]
async fn postal_idempotency_key_mails_once() {
    let providers = start(settings(0, SLOW_CLOCK)).await;
    let client = client();
    let postal = providers.postal.url();
    let body = letter("1 Main St", "hello");

    let first = mail_letter(&client, &postal, &body, Some("letter-1")).await;
    let second = mail_letter(&client, &postal, &body, Some("letter-1")).await;
    assert_eq!(second.status, StatusCode::OK);
    assert!(second.headers.get("idempotent-replayed").is_some());
    assert_eq!(second.body["id"], first.body["id"]);

    let stats = stats(&client, &postal).await;
    assert_eq!(stats["accepted"], 1);
    assert_eq!(stats["replayed"], 1);
    assert_eq!(stats["in_transit"], 1);

    providers.stop().await.expect("the mock providers stop");
}

#[tokio::test]
async fn postal_errors_use_lob_shape() {
    let providers = start(settings(0, SLOW_CLOCK)).await;
    let client = client();
    let postal = providers.postal.url();

    let with_to = |to: Value| json!({"to": to, "file": "t"});
    let mut bad_zip = lob_address("1 Main St");
    bad_zip["address_zip"] = json!("6270");
    let mut bad_state = lob_address("1 Main St");
    bad_state["address_state"] = json!("Illinois");
    let mut blank_line = lob_address("1 Main St");
    blank_line["address_line1"] = json!(" ");
    let mut remote_webhook = letter("1 Main St", "t");
    remote_webhook["metadata"] = json!({"webhook_url": "http://10.0.0.1/hook"});
    let cases = [
        ("four-digit ZIP", with_to(bad_zip), "invalid_request"),
        ("spelled-out state", with_to(bad_state), "invalid_request"),
        ("blank line1", with_to(blank_line), "invalid_request"),
        (
            "missing file",
            json!({"to": lob_address("1 Main St")}),
            "invalid_request",
        ),
        (
            "to is a string",
            with_to(json!("1 Main St")),
            "invalid_request",
        ),
        ("remote webhook", remote_webhook, "invalid_request"),
    ];
    for (case, body, code) in cases {
        let reply = mail_letter(&client, &postal, &body, None).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{case}: {:?}",
            reply.body
        );
        assert_eq!(reply.body["error"]["code"], code, "{case}");
        assert_eq!(reply.body["error"]["status_code"], 400, "{case}");
        assert!(reply.body["error"]["message"].is_string(), "{case}");
    }
    let malformed = read(
        client
            .post(format!("{postal}/v1/letters"))
            .header("content-type", "application/json")
            .body("{\"to\": {")
            .send()
            .await
            .expect("malformed"),
    )
    .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(malformed.body["error"]["code"], "malformed_json");

    let unknown = get_json(&client, format!("{postal}/v1/letters/ltr_00000000deadbeef")).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.body["error"]["code"], "not_found");

    providers.stop().await.expect("the mock providers stop");
}

/// Which mock a bad request goes to.
#[derive(Clone, Copy, Debug)]
enum Mock {
    Email,
    Sms,
    Postal,
}

/// A request to one of the mock's own endpoints that must be rejected with a
/// problem document.
struct BadRequest {
    name: &'static str,
    mock: Mock,
    method: Method,
    path: &'static str,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    code: &'static str,
}

#[rustfmt::skip]
fn bad_requests() -> Vec<BadRequest> {
    use Mock::{Email, Postal, Sms};
    const JSON: Option<&str> = Some("application/json");
    let post = |name, mock, content_type, body: Vec<u8>, status, code| BadRequest {
        name, mock, method: Method::POST, path: "/v1/messages", content_type, body, status, code,
    };
    let get = |name, mock, method, path, status, code| BadRequest {
        name, mock, method, path, content_type: None, body: Vec::new(), status, code,
    };
    let email = |to: Value| json!({"to": to, "subject": "s", "text": "t"}).to_string().into_bytes();
    let oversize = json!({"to": "jane@example.org", "subject": "s", "text": "x".repeat(MAX_BODY_BYTES)}).to_string().into_bytes();
    let long_text = json!({"to": "jane@example.org", "subject": "s", "text": "x".repeat(MAX_TEXT_BYTES + 1)}).to_string().into_bytes();

    vec![
        post("email malformed JSON", Email, JSON, br#"{"to": "jane@example.org","#.to_vec(), 400, "malformed_json"),
        post("email empty body", Email, JSON, Vec::new(), 400, "malformed_json"),
        post("email missing subject", Email, JSON, br#"{"to": "jane@example.org", "text": "t"}"#.to_vec(), 400, "invalid_request"),
        post("email to is a number", Email, JSON, email(json!(42)), 400, "invalid_request"),
        post("email text/plain body", Email, Some("text/plain"), email(json!("jane@example.org")), 415, "unsupported_media_type"),
        post("email no content type", Email, None, email(json!("jane@example.org")), 415, "unsupported_media_type"),
        post("email oversize body", Email, JSON, oversize, 413, "payload_too_large"),
        post("email text too long", Email, JSON, long_text, 400, "invalid_request"),
        post("email address without @", Email, JSON, email(json!("jane.example.org")), 400, "invalid_request"),
        post("email address with two @", Email, JSON, email(json!("jane@doe@example.org")), 400, "invalid_request"),
        post("email address too long", Email, JSON, email(json!(format!("{}@example.org", "a".repeat(250)))), 400, "invalid_request"),
        post("email remote callback", Email, JSON, json!({"to": "a@example.org", "subject": "s", "text": "t", "status_callback": "http://example.org/cb"}).to_string().into_bytes(), 400, "invalid_request"),
        get("email inbox of non-address", Email, Method::GET, "/v1/inboxes/not-an-address/messages", 400, "invalid_request"),
        get("email unknown path", Email, Method::GET, "/v1/nothing-here", 404, "not_found"),
        get("email wrong method", Email, Method::DELETE, "/v1/messages", 405, "method_not_allowed"),
        get("email mailpit bad limit", Email, Method::GET, "/api/v1/messages?limit=many", 400, "invalid_request"),
        get("sms old send path", Sms, Method::POST, "/v1/messages", 404, "not_found"),
        get("sms handset of short number", Sms, Method::GET, "/v1/handsets/12345/messages", 400, "invalid_request"),
        get("postal letterbox without params", Postal, Method::GET, "/v1/letterbox", 400, "invalid_request"),
        get("postal letterbox without zip", Postal, Method::GET, "/v1/letterbox?line1=1%20Main%20St", 400, "invalid_request"),
        get("postal letterbox without line1", Postal, Method::GET, "/v1/letterbox?zip=62701", 400, "invalid_request"),
        get("postal letterbox bad zip", Postal, Method::GET, "/v1/letterbox?line1=1%20Main%20St&zip=abcde", 400, "invalid_request"),
        get("postal wrong method", Postal, Method::PUT, "/v1/letters", 405, "method_not_allowed"),
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
        let reply = read(
            request
                .body(case.body)
                .send()
                .await
                .unwrap_or_else(|error| panic!("{}: {error}", case.name)),
        )
        .await;

        let name = case.name;
        assert_eq!(
            reply.status.as_u16(),
            case.status,
            "{name}: status of {:?}",
            reply.body
        );
        assert_eq!(
            reply
                .headers
                .get("content-type")
                .and_then(|value| value.to_str().ok()),
            Some("application/problem+json"),
            "{name}: content type"
        );
        assert_eq!(
            reply.body["code"], case.code,
            "{name}: code in {}",
            reply.body
        );
        assert_eq!(reply.body["status"], case.status, "{name}: status member");
        assert_eq!(reply.body["type"], "about:blank", "{name}: type");
        assert!(
            reply.body["detail"]
                .as_str()
                .is_some_and(|detail| !detail.is_empty()),
            "{name}: detail"
        );
    }

    for base in [
        providers.email.url(),
        providers.sms.url(),
        providers.postal.url(),
    ] {
        assert_eq!(stats(&client, &base).await["accepted"], 0, "{base}");
    }
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
        let reply = get_json(&client, format!("{base}/v1/stats")).await;
        assert_eq!(reply.status, StatusCode::OK, "{base}");
        assert_eq!(reply.body["requests"], 0, "{base}");
    }

    providers.stop().await.expect("the mock providers stop");
}
