//! Property-based hostile input: random bodies, random JSON, valid bodies
//! with one field replaced by random JSON, and random content types, sent to
//! every endpoint of the service and of the mocks that takes a body. No
//! response may be a 5xx, no request may hang, and every server must still
//! respond afterwards. Bodies over the endpoints' size limits must get 413.
//! tests/bad_input.rs contains the hand-picked cases.

mod common;

use std::time::Duration;

use common::{TestApp, ADMIN_TOKEN};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use recoverylab::people::JourneyKind;
use serde_json::{json, Value};

/// Random cases per endpoint; each is one request on loopback.
const CASES: u32 = 96;
/// A request that takes longer than this counts as a hang.
const HANG_LIMIT: Duration = Duration::from_secs(5);

/// An endpoint that takes a body, with a valid body to mutate.
struct Endpoint {
    url: String,
    sample: Value,
    /// Whether the valid body is form-encoded rather than JSON.
    form: bool,
    admin: bool,
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |n| n.is_finite())
            .prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(".{0,12}", inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// A request body: its bytes and Content-Type header.
#[derive(Debug, Clone)]
struct Body {
    content_type: Option<String>,
    bytes: Vec<u8>,
}

fn content_type() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(Some("application/json".to_owned())),
        Just(Some("application/x-www-form-urlencoded".to_owned())),
        Just(Some("text/plain".to_owned())),
        Just(None),
        "[ -~]{0,40}".prop_map(Some),
    ]
}

/// Bodies built from the endpoint's valid sample: one field replaced by
/// random JSON, random JSON of any shape, random bytes, or an extreme body
/// from [`extreme_bytes`].
fn body(sample: Value, form: bool) -> impl Strategy<Value = Body> {
    let sample_for_extremes = sample.clone();
    let fields: Vec<String> = sample
        .as_object()
        .map(|object| object.keys().cloned().collect())
        .unwrap_or_default();
    let field_count = fields.len().max(1);
    let mutated = (0..field_count, json_value(), content_type()).prop_map(
        move |(index, replacement, content_type)| {
            let mut value = sample.clone();
            if let (Some(object), Some(field)) = (value.as_object_mut(), fields.get(index)) {
                object.insert(field.clone(), replacement);
            }
            let bytes = if form {
                form_bytes(&value)
            } else {
                value.to_string().into_bytes()
            };
            Body {
                content_type,
                bytes,
            }
        },
    );
    let random_json = (json_value(), content_type()).prop_map(|(value, content_type)| Body {
        content_type,
        bytes: value.to_string().into_bytes(),
    });
    let random_bytes = (prop::collection::vec(any::<u8>(), 0..512), content_type()).prop_map(
        |(bytes, content_type)| Body {
            content_type,
            bytes,
        },
    );
    let extreme = (extreme_bytes(sample_for_extremes, form), content_type()).prop_map(
        |(bytes, content_type)| Body {
            content_type,
            bytes,
        },
    );
    prop_oneof![mutated, random_json, random_bytes, extreme]
}

/// Bodies at the edges, all within the 64 KiB body limit. They are JSON
/// nested far past any parser's depth limit, the valid body with one field
/// of 16 or 60 KiB, and the valid body with non-UTF-8 bytes in a string.
/// Bodies over the limit are sent by [`oversized_bodies_get_413`].
fn extreme_bytes(sample: Value, form: bool) -> impl Strategy<Value = Vec<u8>> {
    let deep = (1usize..10_000, any::<bool>()).prop_map(|(depth, arrays)| {
        let text = if arrays {
            "[".repeat(depth) + &"]".repeat(depth)
        } else {
            "{\"a\":".repeat(depth) + "1" + &"}".repeat(depth)
        };
        text.into_bytes()
    });
    let encode = move |value: &Value| {
        if form {
            form_bytes(value)
        } else {
            value.to_string().into_bytes()
        }
    };
    let first_field = sample
        .as_object()
        .and_then(|object| object.keys().next().cloned());
    let huge_sample = sample.clone();
    let huge_field = first_field.clone();
    let huge = prop_oneof![Just(16usize << 10), Just(60 << 10)].prop_map(move |size| {
        let mut value = huge_sample.clone();
        if let (Some(object), Some(field)) = (value.as_object_mut(), &huge_field) {
            object.insert(field.clone(), Value::from("x".repeat(size)));
        }
        encode(&value)
    });
    let not_utf8 = Just(()).prop_map(move |()| {
        let mut value = sample.clone();
        if let (Some(object), Some(field)) = (value.as_object_mut(), &first_field) {
            object.insert(field.clone(), Value::from("MARKER"));
        }
        let text = if form {
            form_bytes(&value)
        } else {
            value.to_string().into_bytes()
        };
        replace_marker(&text, &[0xff, 0xfe, 0xc3, 0x28])
    });
    prop_oneof![deep, huge, not_utf8]
}

/// Replaces the first `MARKER` in `bytes` with `with`.
fn replace_marker(bytes: &[u8], with: &[u8]) -> Vec<u8> {
    match bytes.windows(6).position(|window| window == b"MARKER") {
        Some(at) => [&bytes[..at], with, &bytes[at + 6..]].concat(),
        None => [bytes, with].concat(),
    }
}

/// Form-encodes the scalar fields of a JSON object, as a Twilio callback or
/// send would carry them; nested values are sent as their JSON text.
fn form_bytes(value: &Value) -> Vec<u8> {
    let pairs: Vec<(String, String)> = value
        .as_object()
        .map(|object| {
            object
                .iter()
                .map(|(key, value)| {
                    let text = match value {
                        Value::String(text) => text.clone(),
                        other => other.to_string(),
                    };
                    (key.clone(), text)
                })
                .collect()
        })
        .unwrap_or_default();
    pairs
        .iter()
        .map(|(key, value)| format!("{}={}", percent_encode(key), percent_encode(value)))
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes()
}

/// Percent-encodes every byte but ASCII letters and digits.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => char::from(byte).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

async fn endpoints(app: &TestApp) -> Vec<Endpoint> {
    let someone = app.enrolled(JourneyKind::ForgotPassword, 900).await;
    let flow = app.forgot_password(&someone).await.assert_ok().flow_id();
    let service = |path: &str, sample: Value| Endpoint {
        url: format!("{}{path}", app.url),
        sample,
        form: false,
        admin: false,
    };
    vec![
        service(
            "/v1/sign-in",
            json!({"username": "ann.example1", "password": "a long passphrase"}),
        ),
        service(
            "/v1/forgot-username",
            json!({"email": "ann@example.org", "ssn": "900-00-0001", "date_of_birth": "1970-01-01"}),
        ),
        service(
            "/v1/forgot-password",
            json!({"username": "ann.example1", "ssn": "900-00-0001", "date_of_birth": "1970-01-01"}),
        ),
        service(
            &format!("/v1/flows/{flow}/answers"),
            json!({"answers": ["one", "two", "three"]}),
        ),
        service(
            &format!("/v1/flows/{flow}/channel"),
            json!({"channel": "email"}),
        ),
        service(&format!("/v1/flows/{flow}/code"), json!({"code": "123456"})),
        service(
            &format!("/v1/flows/{flow}/new-password"),
            json!({"password": "a long enough passphrase"}),
        ),
        service(
            &format!("/v1/flows/{flow}/accept-terms"),
            json!({"terms_version": 1}),
        ),
        service(
            "/v1/provider-events/email",
            json!({"id": "em_1", "status": "bounced", "reason": "mailbox_unavailable"}),
        ),
        service(
            "/v1/provider-events/postal",
            json!({"id": "evt_1", "event_type": {"id": "letter.returned_to_sender"}, "body": {"id": "ltr_1"}}),
        ),
        Endpoint {
            admin: true,
            ..service(
                "/v1/admin/enrollments",
                json!({"people": [recoverylab::load::enroll::enrollment_json(&app.person(JourneyKind::SignIn, 901))]}),
            )
        },
        Endpoint {
            form: true,
            ..service(
                "/v1/provider-events/sms",
                json!({"MessageSid": "SM1", "MessageStatus": "undelivered", "ErrorCode": "30003"}),
            )
        },
        Endpoint {
            url: format!("{}/v1/messages", app.providers.email.url()),
            sample: json!({"to": "ann@example.org", "subject": "Hello", "text": "Hi"}),
            form: false,
            admin: false,
        },
        Endpoint {
            url: format!(
                "{}/2010-04-01/Accounts/AC00000000000000000000000000000000/Messages.json",
                app.providers.sms.url()
            ),
            sample: json!({"To": "+15555550142", "From": "+15555550100", "Body": "Hi"}),
            form: true,
            admin: false,
        },
        Endpoint {
            url: format!("{}/v1/letters", app.providers.postal.url()),
            sample: json!({
                "to": {"name": "Ann Example", "address_line1": "1 Main St", "address_city": "Springfield", "address_state": "IL", "address_zip": "62701"},
                "file": "Hello"
            }),
            form: false,
            admin: false,
        },
    ]
}

#[test]
fn random_bodies_never_get_5xx_or_hang() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    // The app's background tasks and its drop need a runtime context.
    let _context = runtime.enter();
    let app = runtime.block_on(TestApp::spawn());
    let client = reqwest::Client::builder()
        .timeout(HANG_LIMIT)
        .build()
        .expect("a client");

    for endpoint in runtime.block_on(endpoints(&app)) {
        let mut runner = TestRunner::new(Config {
            cases: CASES,
            failure_persistence: None,
            ..Config::default()
        });
        let result = runner.run(&body(endpoint.sample.clone(), endpoint.form), |body| {
            let sent = runtime.block_on(post_raw(
                &endpoint.url,
                body.content_type.as_deref(),
                endpoint.admin,
                body.bytes.clone(),
            ));
            let status =
                sent.map_err(|error| TestCaseError::fail(format!("no answer: {error}")))?;
            prop_assert!(
                !(500..600).contains(&status),
                "{} answered {status}",
                endpoint.url
            );
            Ok(())
        });
        if let Err(failure) = result {
            panic!("{}: {failure}", endpoint.url);
        }
    }

    // Every server still responds.
    for url in [
        format!("{}/health", app.url),
        format!("{}/v1/stats", app.providers.email.url()),
        format!("{}/v1/stats", app.providers.sms.url()),
        format!("{}/v1/stats", app.providers.postal.url()),
    ] {
        let status = runtime
            .block_on(client.get(&url).send())
            .unwrap_or_else(|error| panic!("{url} no longer answers: {error}"))
            .status();
        assert!(status.is_success(), "{url} answered {status}");
    }
    drop(app);
}

/// The request bodies of [`oversized_bodies_get_413`]: over every limit,
/// the enrollment endpoint's 4 MiB included.
const OVERSIZED: usize = 5 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_get_413() {
    let app = TestApp::spawn().await;
    for endpoint in endpoints(&app).await {
        let content_type = if endpoint.form {
            "application/x-www-form-urlencoded"
        } else {
            "application/json"
        };
        // Spaces are valid JSON whitespace and a valid form value, so only
        // the size is wrong.
        let body = vec![b' '; OVERSIZED];
        let status = post_raw(&endpoint.url, Some(content_type), endpoint.admin, body)
            .await
            .unwrap_or_else(|error| panic!("{}: {error}", endpoint.url));
        assert_eq!(status, 413, "{} with a 5 MiB body", endpoint.url);
    }
}

/// Posts `body` over a raw connection and returns the response's status.
/// A server that rejects a request early, for its size or content type,
/// stops reading the body and closes the connection, so the rest of a large
/// body cannot be written. An HTTP client such as reqwest then reports the
/// failed write and drops the response, while this one reads the response
/// regardless.
async fn post_raw(
    url: &str,
    content_type: Option<&str>,
    admin: bool,
    body: Vec<u8>,
) -> Result<u16, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let url = reqwest::Url::parse(url).map_err(|error| error.to_string())?;
    let host = url.host_str().ok_or("the URL has no host")?.to_owned();
    let port = url.port().ok_or("the URL has no port")?;
    let path = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    let mut head = format!("POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n");
    if let Some(content_type) = content_type {
        // A random header value with a line break would end the head early.
        let content_type: String = content_type.chars().filter(|c| !c.is_control()).collect();
        head.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    if admin {
        head.push_str(&format!("Authorization: Bearer {ADMIN_TOKEN}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));

    let stream = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|error| format!("cannot connect: {error}"))?;
    let (mut reader, mut writer) = stream.into_split();
    let sender = tokio::spawn(async move {
        if writer.write_all(head.as_bytes()).await.is_ok() {
            let _ = writer.write_all(&body).await;
        }
        // Dropping the write half would send FIN, and hyper closes a
        // connection whose client has finished sending before it responds.
        // The half is dropped when the task is aborted, after the read.
        std::future::pending::<()>().await;
    });

    let mut response = Vec::new();
    let read = tokio::time::timeout(HANG_LIMIT, async {
        let mut buffer = [0u8; 1024];
        while !response.windows(2).any(|pair| pair == b"\r\n") {
            let read = reader.read(&mut buffer).await?;
            if read == 0 {
                break;
            }
            response.extend_from_slice(&buffer[..read]);
        }
        Ok::<(), std::io::Error>(())
    })
    .await;
    sender.abort();
    match read {
        Err(_) => return Err(format!("no status line within {HANG_LIMIT:?}")),
        Ok(Err(error)) if response.is_empty() => return Err(format!("no response: {error}")),
        Ok(_) => {}
    }
    let status_line = String::from_utf8_lossy(&response);
    status_line
        .split_whitespace()
        .nth(1)
        .and_then(|status| status.parse().ok())
        .ok_or_else(|| format!("not an HTTP response: {status_line:?}"))
}
