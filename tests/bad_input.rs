//! Bad input to every endpoint of the service and of the mock providers.
//! Every response must be a 4xx problem document with a `code`: never a 5xx,
//! never a panic, never a dropped connection.

mod common;

use common::{Reply, TestApp, ADMIN_TOKEN};
use recoverylab::load::enroll::enrollment_json;
use recoverylab::people::JourneyKind;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;
use serde_json::{json, Map, Value};

/// A flow id of the right shape that no flow has.
const UNKNOWN_FLOW: &str = "0123456789abcdef0123456789abcdef";
/// The body limit of every endpoint except enrollment, in bytes.
const STEP_LIMIT: usize = 64 * 1024;
/// The body limit of enrollment, in bytes.
const ENROLLMENT_LIMIT: usize = 4 * 1024 * 1024;
/// The JSON nesting depth of the deeply nested cases, well past serde_json's
/// recursion limit of 128 but within the 64 KiB body limit.
const NESTING_DEPTH: usize = 20_000;

/// One request body: a case name, the Content-Type header (if any), bytes,
/// and the status a JSON endpoint must return when the case fixes one.
struct BodyCase {
    name: String,
    content_type: Option<&'static str>,
    bytes: Vec<u8>,
    status: Option<u16>,
}

impl BodyCase {
    fn json(name: impl Into<String>, value: &Value) -> Self {
        Self::raw(
            name,
            Some("application/json"),
            value.to_string().into_bytes(),
        )
    }

    fn raw(name: impl Into<String>, content_type: Option<&'static str>, bytes: Vec<u8>) -> Self {
        Self {
            name: name.into(),
            content_type,
            bytes,
            status: None,
        }
    }

    fn expecting(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }
}

/// Returns `value` with every string turned into a number and every other
/// scalar into a string, keeping the shape.
fn with_wrong_types(value: &Value) -> Value {
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(key, item)| (key.clone(), with_wrong_types(item)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(with_wrong_types).collect()),
        Value::String(_) => json!(12345),
        Value::Number(_) | Value::Bool(_) | Value::Null => json!("12345"),
    }
}

fn fields_of(sample: &Value) -> &Map<String, Value> {
    sample.as_object().expect("a sample body is a JSON object")
}

/// Returns the bad bodies for a JSON endpoint whose valid body looks like
/// `sample` and whose body limit is `limit` bytes.
fn body_cases(sample: &Value, limit: usize) -> Vec<BodyCase> {
    let fields = fields_of(sample);
    let first_field = fields
        .keys()
        .next()
        .expect("a sample body has a field")
        .clone();
    let valid = sample.to_string().into_bytes();
    let mut cases = vec![
        BodyCase::raw(
            "malformed JSON",
            Some("application/json"),
            b"{\"a\": ".to_vec(),
        )
        .expecting(400),
        BodyCase::raw(
            "trailing garbage",
            Some("application/json"),
            [valid.as_slice(), b"}}"].concat(),
        ),
        BodyCase::raw(
            "single quotes",
            Some("application/json"),
            b"{'a': 'b'}".to_vec(),
        ),
        BodyCase::json("missing every field", &json!({})),
        BodyCase::json("wrong types", &with_wrong_types(sample)),
        BodyCase::json("array body", &json!([sample])),
        BodyCase::json("string body", &json!("text")),
        BodyCase::json("number body", &json!(42)),
        BodyCase::json("null body", &Value::Null),
        BodyCase::raw("text/plain content type", Some("text/plain"), valid.clone()).expecting(415),
        BodyCase::raw(
            "form content type",
            Some("application/x-www-form-urlencoded"),
            b"a=b".to_vec(),
        ),
        BodyCase::raw("no content type", None, valid.clone()).expecting(415),
        BodyCase::raw("empty body", Some("application/json"), Vec::new()).expecting(400),
        BodyCase::raw(
            "oversize body",
            Some("application/json"),
            oversize_body(limit),
        )
        .expecting(413),
        BodyCase::raw(
            "invalid UTF-8 in a string",
            Some("application/json"),
            invalid_utf8_body(&first_field),
        )
        .expecting(400),
        BodyCase::raw(
            "invalid UTF-8 outside strings",
            Some("application/json"),
            b"{\xff\xfe}".to_vec(),
        ),
        BodyCase::raw(
            "deeply nested arrays",
            Some("application/json"),
            nested_body("[", "]", None),
        ),
        BodyCase::raw(
            "deeply nested field",
            Some("application/json"),
            nested_body("[", "]", Some(&first_field)),
        ),
        BodyCase::raw(
            "deeply nested objects",
            Some("application/json"),
            nested_body("{\"a\":", "}", None),
        ),
    ];
    let mut unknown = fields.clone();
    unknown.insert("unexpected_field".to_owned(), json!(true));
    cases.push(BodyCase::json("unknown field", &Value::Object(unknown)));
    for field in fields.keys() {
        let mut missing = fields.clone();
        missing.remove(field);
        cases.push(BodyCase::json(
            format!("missing {field}"),
            &Value::Object(missing),
        ));
        let mut null = fields.clone();
        null.insert(field.clone(), Value::Null);
        cases.push(BodyCase::json(
            format!("null {field}"),
            &Value::Object(null),
        ));
    }
    cases
}

/// Returns a JSON body 1 KiB larger than `limit`.
fn oversize_body(limit: usize) -> Vec<u8> {
    format!("{{\"padding\": \"{}\"}}", "a".repeat(limit + 1024)).into_bytes()
}

fn invalid_utf8_body(field: &str) -> Vec<u8> {
    [
        format!("{{\"{field}\": \"").as_bytes(),
        b"\xff\xfe\xc3\x28",
        b"\"}",
    ]
    .concat()
}

/// Returns `open` and `close` nested [`NESTING_DEPTH`] deep, inside `field`
/// of an object when a field is given.
fn nested_body(open: &str, close: &str, field: Option<&str>) -> Vec<u8> {
    let nested = format!(
        "{}{}",
        open.repeat(NESTING_DEPTH),
        close.repeat(NESTING_DEPTH)
    );
    match field {
        Some(field) => format!("{{\"{field}\": {nested}}}").into_bytes(),
        None => nested.into_bytes(),
    }
}

/// Asserts a 4xx problem document with a non-empty `code`.
#[track_caller]
fn assert_client_problem(reply: &Reply, case: &str) {
    assert!(
        reply.status.is_client_error(),
        "{case}: expected a 4xx status, got {} {:?}",
        reply.status,
        reply.body
    );
    assert_eq!(
        reply.content_type, "application/problem+json",
        "{case}: content type"
    );
    let code = reply.body.get("code").and_then(Value::as_str).unwrap_or("");
    assert!(
        !code.is_empty(),
        "{case}: the problem has a code: {:?}",
        reply.body
    );
}

/// Sends `body` with `method` to `url`, with an optional bearer token.
async fn send_body(
    app: &TestApp,
    method: Method,
    url: &str,
    body: &BodyCase,
    token: Option<&str>,
) -> Reply {
    let mut request = app.client.request(method, url).body(body.bytes.clone());
    if let Some(content_type) = body.content_type {
        request = request.header(CONTENT_TYPE, content_type);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    app.send(request).await
}

/// Sends every bad body to a JSON endpoint and checks each response.
async fn check_json_endpoint(
    app: &TestApp,
    url: &str,
    sample: &Value,
    limit: usize,
    token: Option<&str>,
) {
    check_body_cases(app, url, body_cases(sample, limit), token).await;
}

/// Sends each case to `url` and checks for a 4xx problem document.
async fn check_body_cases(app: &TestApp, url: &str, cases: Vec<BodyCase>, token: Option<&str>) {
    for case in cases {
        let reply = send_body(app, Method::POST, url, &case, token).await;
        let name = format!("POST {url} with {}", case.name);
        assert_client_problem(&reply, &name);
        if let Some(status) = case.status {
            assert_eq!(reply.status.as_u16(), status, "{name}: status");
        }
    }
}

fn answers_sample() -> Value {
    json!({"answers": ["one", "two", "three"]})
}

fn address_sample() -> Value {
    json!({
        "mailing_address": {"name": "Ann Example", "line1": "1 Main St", "city": "Springfield", "state": "IL", "zip": "62701"},
        "primary_phone": "2025550142"
    })
}

/// Returns the service's flow steps that take a JSON body, with a valid body each.
fn flow_steps_with_body() -> Vec<(&'static str, Value)> {
    vec![
        ("code", json!({"code": "123456"})),
        ("answers", answers_sample()),
        ("channel", json!({"channel": "email"})),
        (
            "new-password",
            json!({"password": "a long enough passphrase"}),
        ),
        ("accept-terms", json!({"terms_version": 1})),
        ("verify-address", address_sample()),
    ]
}

/// The service's flow steps that take no body.
const FLOW_STEPS_WITHOUT_BODY: [&str; 5] = [
    "resend-code",
    "confirm-contact",
    "cannot-remember-answers",
    "mail-temporary-password",
    "email-temporary-password",
];

// ---- service: JSON bodies ------------------------------------------------------

#[tokio::test]
async fn sign_in_rejects_bad_bodies() {
    let app = TestApp::spawn().await;
    let sample = json!({"username": "ann.example1", "password": "a long enough passphrase"});
    check_json_endpoint(
        &app,
        &format!("{}/v1/sign-in", app.url),
        &sample,
        STEP_LIMIT,
        None,
    )
    .await;
}

#[tokio::test]
async fn forgot_username_rejects_bad_bodies() {
    let app = TestApp::spawn().await;
    let sample =
        json!({"email": "ann@example.org", "ssn": "900-12-3456", "date_of_birth": "1980-01-31"});
    check_json_endpoint(
        &app,
        &format!("{}/v1/forgot-username", app.url),
        &sample,
        STEP_LIMIT,
        None,
    )
    .await;
}

#[tokio::test]
async fn forgot_password_rejects_bad_bodies() {
    let app = TestApp::spawn().await;
    let sample =
        json!({"username": "ann.example1", "ssn": "900-12-3456", "date_of_birth": "1980-01-31"});
    check_json_endpoint(
        &app,
        &format!("{}/v1/forgot-password", app.url),
        &sample,
        STEP_LIMIT,
        None,
    )
    .await;
}

#[tokio::test]
async fn flow_steps_reject_bad_bodies() {
    let app = TestApp::spawn().await;
    for (step, sample) in flow_steps_with_body() {
        let url = format!("{}/v1/flows/{UNKNOWN_FLOW}/{step}", app.url);
        check_json_endpoint(&app, &url, &sample, STEP_LIMIT, None).await;
    }
}

#[tokio::test]
async fn live_flow_rejects_bad_bodies() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::ForgotPassword, 1).await;
    let flow = app.forgot_password(&someone).await.assert_ok().flow_id();
    let url = format!("{}/v1/flows/{flow}/answers", app.url);
    check_json_endpoint(&app, &url, &answers_sample(), STEP_LIMIT, None).await;

    // None of the bad bodies moved or spent the flow.
    app.answers(&flow, &someone).await.assert_ok();
}

#[tokio::test]
async fn bodiless_steps_ignore_bad_bodies() {
    let app = TestApp::spawn().await;
    for step in FLOW_STEPS_WITHOUT_BODY {
        let url = format!("{}/v1/flows/{UNKNOWN_FLOW}/{step}", app.url);
        for case in body_cases(&json!({"unexpected": "body"}), STEP_LIMIT) {
            let reply = send_body(&app, Method::POST, &url, &case, None).await;
            reply.assert_problem(404, "flow_not_found");
        }
    }
}

#[tokio::test]
async fn enrollment_rejects_bad_bodies() {
    let app = TestApp::spawn().await;
    let someone = app.person(JourneyKind::SignIn, 1);
    let sample = json!({"people": [enrollment_json(&someone)]});
    let url = format!("{}/v1/admin/enrollments", app.url);
    check_json_endpoint(&app, &url, &sample, ENROLLMENT_LIMIT, Some(ADMIN_TOKEN)).await;

    let person_fields = fields_of(&sample["people"][0]).clone();
    for field in person_fields.keys() {
        let mut person = person_fields.clone();
        person.remove(field);
        let case = BodyCase::json(
            format!("person without {field}"),
            &json!({"people": [person]}),
        );
        let reply = send_body(&app, Method::POST, &url, &case, Some(ADMIN_TOKEN)).await;
        assert_client_problem(&reply, &case.name);
    }
    app.enroll(&[&someone]).await.assert_ok();
}

#[tokio::test]
async fn hostile_values_get_problems() {
    let app = TestApp::spawn().await;
    let long = "x".repeat(60_000);
    let cases = [
        (
            "sign-in with a 60 KB username",
            "/v1/sign-in",
            json!({"username": long, "password": "a long enough passphrase"}),
        ),
        (
            "sign-in with NUL characters",
            "/v1/sign-in",
            json!({"username": "\u{0}\u{0}", "password": "\u{0}"}),
        ),
        (
            "sign-in with empty strings",
            "/v1/sign-in",
            json!({"username": "", "password": ""}),
        ),
        (
            "forgot-password with a 60 KB username",
            "/v1/forgot-password",
            json!({"username": long, "ssn": "900-12-3456", "date_of_birth": "1980-01-31"}),
        ),
        (
            "forgot-username with a 60 KB email",
            "/v1/forgot-username",
            json!({"email": long, "ssn": long, "date_of_birth": "1980-01-31"}),
        ),
        (
            "forgot-password with an impossible date",
            "/v1/forgot-password",
            json!({"username": "ann", "ssn": "900-12-3456", "date_of_birth": "1980-02-30"}),
        ),
        (
            "forgot-password with a far-future date",
            "/v1/forgot-password",
            json!({"username": "ann", "ssn": "900-12-3456", "date_of_birth": "+262143-12-31"}),
        ),
        (
            "forgot-username with a control-character email",
            "/v1/forgot-username",
            json!({"email": "\u{1b}[31m@example.org", "ssn": "\u{7f}", "date_of_birth": "1980-01-31"}),
        ),
        (
            "accept-terms with a negative version",
            "/v1/flows/{flow}/accept-terms",
            json!({"terms_version": -1}),
        ),
        (
            "accept-terms beyond u32",
            "/v1/flows/{flow}/accept-terms",
            json!({"terms_version": 4_294_967_296_u64}),
        ),
        (
            "accept-terms with a fraction",
            "/v1/flows/{flow}/accept-terms",
            json!({"terms_version": 1.5}),
        ),
        (
            "channel that is not one",
            "/v1/flows/{flow}/channel",
            json!({"channel": "carrier pigeon"}),
        ),
        (
            "code of 60 KB",
            "/v1/flows/{flow}/code",
            json!({"code": long}),
        ),
    ];
    for (case, path, body) in cases {
        let path = path.replace("{flow}", UNKNOWN_FLOW);
        let reply = app.post(&path, body).await;
        assert_client_problem(&reply, case);
    }
}

#[tokio::test]
async fn garbage_forwarded_for_falls_back() {
    let app = TestApp::spawn().await;
    let body = json!({"username": "nobody", "ssn": "900-12-3456", "date_of_birth": "1980-01-31"});
    let long = "9".repeat(4_000);
    for address in [
        "not an address",
        "",
        ",,,",
        "999.999.999.999",
        "::ffff:zz",
        long.as_str(),
    ] {
        let reply = app
            .post_from("/v1/forgot-password", body.clone(), address)
            .await;
        assert_client_problem(&reply, &format!("X-Forwarded-For {:.20}", address));
    }
}

#[tokio::test]
async fn answers_need_exactly_three() {
    let app = TestApp::spawn().await;
    let someone = app.enrolled(JourneyKind::ForgotPassword, 2).await;
    let flow = app.forgot_password(&someone).await.assert_ok().flow_id();
    let answers: Vec<&str> = someone
        .security_questions
        .iter()
        .map(|item| item.answer.as_str())
        .collect();
    let cases = [
        ("no answers", json!({"answers": []})),
        ("2 answers", json!({"answers": answers[..2]})),
        (
            "4 answers",
            json!({"answers": [answers[0], answers[1], answers[2], answers[2]]}),
        ),
    ];
    for (case, body) in cases {
        let reply = app.step(&flow, "answers", body).await;
        assert_eq!(reply.status.as_u16(), 422, "status for {case}");
        assert_eq!(reply.code(), "invalid_field", "code for {case}");
        reply.assert_echoes_none(&answers);
    }

    // A miscounted request is not a wrong answer: the flow still takes the right ones.
    app.answers(&flow, &someone).await.assert_ok();
}

// ---- service: flow ids, routes and methods --------------------------------------------

#[tokio::test]
async fn unknown_flow_ids_not_found() {
    let app = TestApp::spawn().await;
    let long_hex = "a".repeat(65);
    let flow_ids = [
        ("well-formed hex", UNKNOWN_FLOW),
        (
            "64 hex digits",
            "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        ),
        ("65 hex digits", long_hex.as_str()),
        ("upper-case hex", "0123456789ABCDEF0123456789ABCDEF"),
        ("garbage", "not-a-flow"),
        ("SQL", "1'%20OR%20'1'='1"),
        ("dot segments", "..%2F..%2Fadmin"),
        ("percent-encoded Unicode", "%C3%A9t%C3%A9"),
        ("percent-encoded invalid UTF-8", "%FF%FE"),
        ("percent-encoded NUL", "%00"),
    ];
    for (case, flow_id) in flow_ids {
        for (step, sample) in flow_steps_with_body() {
            let reply = app
                .post(&format!("/v1/flows/{flow_id}/{step}"), sample)
                .await;
            assert_client_problem(&reply, &format!("{step} with a {case} flow id"));
        }
        for step in FLOW_STEPS_WITHOUT_BODY {
            let reply = app.post_empty(&format!("/v1/flows/{flow_id}/{step}")).await;
            assert_client_problem(&reply, &format!("{step} with a {case} flow id"));
        }
        let status = app
            .send(app.client.get(format!("{}/v1/flows/{flow_id}", app.url)))
            .await;
        assert_client_problem(&status, &format!("flow status with a {case} flow id"));
    }
}

#[tokio::test]
async fn well_formed_unknown_flow_is_404() {
    let app = TestApp::spawn().await;
    for (step, sample) in flow_steps_with_body() {
        let reply = app
            .post(&format!("/v1/flows/{UNKNOWN_FLOW}/{step}"), sample)
            .await;
        reply.assert_problem(404, "flow_not_found");
    }
    for step in FLOW_STEPS_WITHOUT_BODY {
        app.post_empty(&format!("/v1/flows/{UNKNOWN_FLOW}/{step}"))
            .await
            .assert_problem(404, "flow_not_found");
    }
    app.send(
        app.client
            .get(format!("{}/v1/flows/{UNKNOWN_FLOW}", app.url)),
    )
    .await
    .assert_problem(404, "flow_not_found");
}

#[tokio::test]
async fn unknown_routes_not_found() {
    let app = TestApp::spawn().await;
    let long_path = format!("/v1/{}", "a".repeat(4_000));
    let routes = [
        (Method::GET, "/"),
        (Method::GET, "/v1"),
        (Method::POST, "/v1/flows"),
        (Method::GET, "/v1/flows/"),
        (Method::POST, "/v1/provider-events"),
        (Method::POST, "/v1/provider-events/fax"),
        (
            Method::POST,
            "/v1/flows/0123456789abcdef0123456789abcdef/unknown-step",
        ),
        (Method::POST, "/v1/flows//code"),
        (Method::POST, "/v1/sign-in/extra"),
        (Method::POST, "/v2/sign-in"),
        (Method::GET, "/v1/admin"),
        (Method::GET, "/health/"),
        (Method::GET, "/%FF"),
        (Method::GET, long_path.as_str()),
    ];
    for (method, path) in routes {
        let case = format!("{method} {path:.60}");
        let reply = app
            .send(app.client.request(method, format!("{}{path}", app.url)))
            .await;
        assert_eq!(reply.status.as_u16(), 404, "{case}: status");
        assert_client_problem(&reply, &case);
    }
}

#[tokio::test]
async fn wrong_methods_not_allowed() {
    let app = TestApp::spawn().await;
    let flow_path = format!("/v1/flows/{UNKNOWN_FLOW}/code");
    let routes = [
        (Method::GET, "/v1/sign-in"),
        (Method::PUT, "/v1/forgot-username"),
        (Method::DELETE, "/v1/forgot-password"),
        (Method::GET, flow_path.as_str()),
        (Method::PATCH, flow_path.as_str()),
        (Method::POST, "/v1/flows/0123456789abcdef0123456789abcdef"),
        (Method::DELETE, "/v1/flows/0123456789abcdef0123456789abcdef"),
        (Method::GET, "/v1/provider-events/sms"),
        (Method::PUT, "/v1/provider-events/email"),
        (Method::GET, "/v1/provider-events/postal"),
        (Method::POST, "/v1/session"),
        (Method::DELETE, "/v1/session"),
        (Method::POST, "/health"),
        (Method::PUT, "/openapi.json"),
        (Method::GET, "/v1/admin/enrollments"),
        (Method::DELETE, "/v1/admin/enrollments"),
        (Method::OPTIONS, "/v1/sign-in"),
    ];
    for (method, path) in routes {
        let case = format!("{method} {path}");
        let reply = app
            .send(app.client.request(method, format!("{}{path}", app.url)))
            .await;
        assert_eq!(reply.status.as_u16(), 405, "{case}: status");
        assert_client_problem(&reply, &case);
    }
}

#[tokio::test]
async fn session_rejects_bad_tokens() {
    let app = TestApp::spawn().await;
    let url = format!("{}/v1/session", app.url);
    let long = format!("Bearer {}", "a".repeat(600));
    let headers: [(&str, Option<&[u8]>); 9] = [
        ("no header", None),
        ("empty header", Some(b"")),
        ("bearer without a token", Some(b"Bearer ")),
        ("unknown token", Some(b"Bearer 0123456789abcdef")),
        ("basic scheme", Some(b"Basic dXNlcjpwYXNz")),
        ("lower-case scheme", Some(b"bearer 0123456789abcdef")),
        ("600-byte token", Some(long.as_bytes())),
        ("non-ASCII bytes", Some(b"Bearer \xff\xfe")),
        ("admin token", Some(b"Bearer test-admin-token")),
    ];
    for (case, header) in headers {
        let mut request = app.client.get(&url);
        if let Some(value) = header {
            request = request.header(
                AUTHORIZATION,
                reqwest::header::HeaderValue::from_bytes(value).expect("a header value"),
            );
        }
        let reply = app.send(request).await;
        assert_eq!(reply.status.as_u16(), 401, "{case}: status");
        assert_eq!(reply.code(), "invalid_session", "{case}: code");
        assert_client_problem(&reply, case);
    }
}

#[tokio::test]
async fn get_endpoints_ignore_bodies() {
    let app = TestApp::spawn().await;
    for path in ["/health", "/openapi.json"] {
        let url = format!("{}{path}", app.url);
        for case in body_cases(&json!({"unexpected": "body"}), STEP_LIMIT) {
            let reply = send_body(&app, Method::GET, &url, &case, None).await;
            assert!(
                reply.status.is_success(),
                "GET {path} with {}: {}",
                case.name,
                reply.status
            );
        }
    }
    let url = format!("{}/v1/session", app.url);
    for case in body_cases(&json!({"unexpected": "body"}), STEP_LIMIT) {
        let reply = send_body(&app, Method::GET, &url, &case, Some("0123456789abcdef")).await;
        reply.assert_problem(401, "invalid_session");
    }
}

// ---- service: provider status callbacks ------------------------------------------

/// Sends every bad body to a provider callback that takes JSON. Providers add
/// fields over time, so an unknown field is accepted and not among the cases.
async fn check_callback_endpoint(app: &TestApp, path: &str, sample: &Value) {
    let cases = body_cases(sample, STEP_LIMIT)
        .into_iter()
        .filter(|case| case.name != "unknown field")
        .collect();
    check_body_cases(app, &format!("{}{path}", app.url), cases, None).await;
}

#[tokio::test]
async fn email_callback_rejects_bad_bodies() {
    let app = TestApp::spawn().await;
    // `reason` is optional, so the sample leaves it out of the missing-field cases.
    let sample = json!({"id": "em_0123", "status": "bounced"});
    check_callback_endpoint(&app, "/v1/provider-events/email", &sample).await;
    let bad_values = [
        (
            "unknown status",
            json!({"id": "em_0123", "status": "opened"}),
        ),
        ("empty id", json!({"id": "", "status": "delivered"})),
        (
            "id with a slash",
            json!({"id": "em/0123", "status": "delivered"}),
        ),
        (
            "id of 129 characters",
            json!({"id": "e".repeat(129), "status": "delivered"}),
        ),
        (
            "reason with spaces",
            json!({"id": "em_0123", "status": "bounced", "reason": "no such user"}),
        ),
    ];
    for (case, body) in bad_values {
        let reply = app.post("/v1/provider-events/email", body).await;
        assert_client_problem(&reply, case);
        assert_eq!(reply.code(), "invalid_request", "{case}: code");
    }
}

#[tokio::test]
async fn postal_callback_rejects_bad_bodies() {
    let app = TestApp::spawn().await;
    let sample = json!({"event_type": {"id": "letter.delivered"}, "body": {"id": "ltr_0123"}});
    check_callback_endpoint(&app, "/v1/provider-events/postal", &sample).await;
    let bad_values = [
        (
            "event type not an object",
            json!({"event_type": "letter.delivered", "body": {"id": "ltr_0123"}}),
        ),
        (
            "letter without an id",
            json!({"event_type": {"id": "letter.delivered"}, "body": {}}),
        ),
        (
            "letter id with spaces",
            json!({"event_type": {"id": "letter.delivered"}, "body": {"id": "ltr 0123"}}),
        ),
    ];
    for (case, body) in bad_values {
        let reply = app.post("/v1/provider-events/postal", body).await;
        assert_client_problem(&reply, case);
    }
}

#[tokio::test]
async fn sms_callback_rejects_bad_forms() {
    let app = TestApp::spawn().await;
    let url = format!("{}/v1/provider-events/sms", app.url);
    let form = "application/x-www-form-urlencoded";
    let long_sid = format!("MessageSid={}&MessageStatus=sent", "S".repeat(129));
    let cases: Vec<(&str, Option<&'static str>, Vec<u8>, u16)> = vec![
        ("empty body", Some(form), Vec::new(), 400),
        (
            "missing MessageSid",
            Some(form),
            b"MessageStatus=sent".to_vec(),
            400,
        ),
        (
            "missing MessageStatus",
            Some(form),
            b"MessageSid=SM01".to_vec(),
            400,
        ),
        (
            "unknown MessageStatus",
            Some(form),
            b"MessageSid=SM01&MessageStatus=lost".to_vec(),
            400,
        ),
        (
            "inbound MessageStatus",
            Some(form),
            b"MessageSid=SM01&MessageStatus=received".to_vec(),
            400,
        ),
        (
            "empty MessageSid",
            Some(form),
            b"MessageSid=&MessageStatus=sent".to_vec(),
            400,
        ),
        (
            "MessageSid with a slash",
            Some(form),
            b"MessageSid=SM%2F01&MessageStatus=sent".to_vec(),
            400,
        ),
        (
            "MessageSid of 129 characters",
            Some(form),
            long_sid.into_bytes(),
            400,
        ),
        (
            "ErrorCode with spaces",
            Some(form),
            b"MessageSid=SM01&MessageStatus=undelivered&ErrorCode=30+003".to_vec(),
            400,
        ),
        (
            "invalid UTF-8",
            Some(form),
            b"MessageSid=%FF%FE&MessageStatus=sent".to_vec(),
            400,
        ),
        (
            "JSON body",
            Some("application/json"),
            br#"{"MessageSid": "SM01"}"#.to_vec(),
            415,
        ),
        (
            "no content type",
            None,
            b"MessageSid=SM01&MessageStatus=sent".to_vec(),
            415,
        ),
        (
            "oversize body",
            Some(form),
            vec![b'a'; STEP_LIMIT + 1024],
            413,
        ),
    ];
    for (case, content_type, bytes, status) in cases {
        let body = BodyCase::raw(case, content_type, bytes);
        let reply = send_body(&app, Method::POST, &url, &body, None).await;
        assert_client_problem(&reply, case);
        assert_eq!(reply.status.as_u16(), status, "{case}: status");
    }

    // Twilio sends more fields than the service reads, and an empty ErrorCode.
    let reply = app
        .send(app.client.post(&url).form(&[
            ("MessageSid", "SM01"),
            ("MessageStatus", "delivered"),
            ("ErrorCode", ""),
            ("ApiVersion", "2010-04-01"),
        ]))
        .await;
    assert_eq!(reply.status.as_u16(), 204, "a full Twilio callback");
}

// ---- service: enrollment --------------------------------------------------------------

/// Posts `body` to the enrollment endpoint with the admin token.
async fn post_enrollment(app: &TestApp, body: &Value) -> Reply {
    let url = format!("{}/v1/admin/enrollments", app.url);
    app.send(app.client.post(url).bearer_auth(ADMIN_TOKEN).json(body))
        .await
}

#[tokio::test]
async fn enrollment_needs_admin_token() {
    let app = TestApp::spawn().await;
    let someone = app.person(JourneyKind::SignIn, 3);
    let url = format!("{}/v1/admin/enrollments", app.url);
    let body = json!({"people": [enrollment_json(&someone)]});
    let tokens = [
        ("no token", None),
        ("empty token", Some("")),
        ("wrong token", Some("not-the-admin-token")),
        ("token prefix", Some(&ADMIN_TOKEN[..ADMIN_TOKEN.len() - 1])),
        ("token with a suffix", Some("test-admin-tokenx")),
        ("upper-case token", Some("TEST-ADMIN-TOKEN")),
    ];
    for (case, token) in tokens {
        let mut request = app.client.post(&url).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let reply = app.send(request).await;
        assert_eq!(reply.status.as_u16(), 401, "{case}: status");
        assert_eq!(reply.code(), "invalid_admin_token", "{case}: code");
        assert_client_problem(&reply, case);
    }

    // None of the rejected requests enrolled the person.
    let enrolled = app.enroll(&[&someone]).await;
    assert_eq!(
        enrolled.assert_ok().body["enrolled"],
        1,
        "the person is new"
    );
}

#[tokio::test]
async fn enrollment_checks_token_before_body() {
    let app = TestApp::spawn().await;
    let url = format!("{}/v1/admin/enrollments", app.url);
    let someone = app.person(JourneyKind::SignIn, 4);
    // An unauthenticated caller learns nothing about the body's schema and
    // cannot make the service buffer and parse up to 4 MiB.
    for case in body_cases(
        &json!({"people": [enrollment_json(&someone)]}),
        ENROLLMENT_LIMIT,
    ) {
        for token in [None, Some("not-the-admin-token")] {
            let reply = send_body(&app, Method::POST, &url, &case, token).await;
            let name = format!("{} with token {token:?}", case.name);
            assert_eq!(reply.status.as_u16(), 401, "{name}: status");
            assert_eq!(reply.code(), "invalid_admin_token", "{name}: code");
        }
    }
}

#[tokio::test]
async fn enrollment_rejects_real_looking_values() {
    let app = TestApp::spawn().await;
    let cases = [
        ("ssn", json!("123-45-6789"), "people[0].ssn"),
        ("ssn", json!("899-99-9999"), "people[0].ssn"),
        ("ssn", json!("900-00-1234"), "people[0].ssn"),
        ("ssn", json!("900123456"), "people[0].ssn"),
        ("cell_phone", json!("2025550200"), "people[0].cell_phone"),
        ("cell_phone", json!("2028675309"), "people[0].cell_phone"),
        (
            "primary_phone",
            json!("2025550099"),
            "people[0].primary_phone",
        ),
        ("email", json!("ann.person@gmail.com"), "people[0].email"),
        (
            "email",
            json!("ann.person@notexample.com"),
            "people[0].email",
        ),
        (
            "email",
            json!("ann.person@example.com.evil.org"),
            "people[0].email",
        ),
        ("email", json!("ann.person@test"), "people[0].email"),
    ];
    for (index, (field, value, named)) in cases.into_iter().enumerate() {
        let mut person = enrollment_json(&app.person(JourneyKind::SignIn, 10 + index as u64));
        person[field] = value.clone();
        let reply = post_enrollment(&app, &json!({"people": [person]})).await;
        let case = format!("{field} {value}");
        assert_eq!(reply.status.as_u16(), 422, "{case}: status");
        assert_eq!(reply.code(), "invalid_field", "{case}: code");
        let detail = reply.body["detail"].as_str().unwrap_or("");
        assert!(
            detail.starts_with(named),
            "{case}: the detail names {named}: {detail}"
        );
        reply.assert_echoes_none(&[value.as_str().expect("a string value")]);
    }
}

#[tokio::test]
async fn enrollment_names_later_person() {
    let app = TestApp::spawn().await;
    let valid = enrollment_json(&app.person(JourneyKind::SignIn, 20));
    let mut invalid = enrollment_json(&app.person(JourneyKind::SignIn, 21));
    invalid["ssn"] = json!("078-05-1120");
    let reply = post_enrollment(&app, &json!({"people": [valid, invalid]})).await;
    reply.assert_problem(422, "invalid_field");
    let detail = reply.body["detail"].as_str().unwrap_or("");
    assert!(
        detail.starts_with("people[1].ssn"),
        "the detail names the second person: {detail}"
    );
    reply.assert_echoes_none(&["078-05-1120"]);

    // The batch is rejected whole: the valid person was not enrolled.
    let someone = app.person(JourneyKind::SignIn, 20);
    assert_eq!(
        app.enroll(&[&someone]).await.assert_ok().body["enrolled"],
        1,
        "the valid person is still new"
    );
}

#[tokio::test]
async fn enrollment_batch_size_bounds() {
    let app = TestApp::spawn().await;
    let person = enrollment_json(&app.person(JourneyKind::SignIn, 30));
    let cases = [("0 people", 0), ("1001 people", 1001)];
    for (case, count) in cases {
        let reply = post_enrollment(&app, &json!({"people": vec![person.clone(); count]})).await;
        assert_eq!(reply.status.as_u16(), 422, "{case}: status");
        assert_eq!(reply.code(), "invalid_field", "{case}: code");
    }
}

// ---- mock providers ---------------------------------------------------------------

/// The account sid the service uses unless configured.
const ACCOUNT_SID: &str = "AC00000000000000000000000000000000";

fn email_sample() -> Value {
    json!({"to": "ann@example.org", "subject": "Hello", "text": "A message"})
}

fn letter_sample() -> Value {
    json!({
        "to": {"name": "Ann Example", "address_line1": "1 Main St", "address_city": "Springfield", "address_state": "IL", "address_zip": "62701"},
        "file": "A letter"
    })
}

/// The error shape a mock endpoint responds with.
#[derive(Clone, Copy)]
enum ErrorShape {
    /// An RFC 9457 problem document with a string `code`.
    Problem,
    /// Lob's `{"error": {"message", "status_code", "code"}}`.
    Lob,
    /// Twilio's `{"code": <int>, "message", "more_info", "status"}`.
    Twilio,
}

/// Asserts a 4xx error in `shape`.
#[track_caller]
fn assert_client_error(reply: &Reply, case: &str, shape: ErrorShape) {
    match shape {
        ErrorShape::Problem => assert_client_problem(reply, case),
        ErrorShape::Lob => {
            assert!(
                reply.status.is_client_error(),
                "{case}: expected a 4xx status, got {} {:?}",
                reply.status,
                reply.body
            );
            let error = &reply.body["error"];
            assert!(
                error["code"].as_str().is_some_and(|code| !code.is_empty()),
                "{case}: a Lob error: {:?}",
                reply.body
            );
            assert_eq!(
                error["status_code"],
                reply.status.as_u16(),
                "{case}: status_code"
            );
        }
        ErrorShape::Twilio => {
            assert!(
                reply.status.is_client_error(),
                "{case}: expected a 4xx status, got {} {:?}",
                reply.status,
                reply.body
            );
            assert!(
                reply.body["code"].as_u64().is_some(),
                "{case}: a Twilio error: {:?}",
                reply.body
            );
            assert_eq!(
                reply.body["status"],
                reply.status.as_u16(),
                "{case}: status member"
            );
        }
    }
}

/// Sends every bad body to a mock provider's JSON send endpoint. The mocks
/// ignore unknown fields, so that case must only not fail on the server.
async fn check_provider_endpoint(app: &TestApp, url: &str, sample: &Value, shape: ErrorShape) {
    for case in body_cases(sample, STEP_LIMIT) {
        let reply = send_body(app, Method::POST, url, &case, None).await;
        let name = format!("POST {url} with {}", case.name);
        if case.name == "unknown field" {
            assert!(
                !reply.status.is_server_error(),
                "{name}: got {}",
                reply.status
            );
            continue;
        }
        assert_client_error(&reply, &name, shape);
        if let Some(status) = case.status {
            assert_eq!(reply.status.as_u16(), status, "{name}: status");
        }
    }
}

/// Returns bad form bodies for the Twilio-shaped send, with the status each needs.
fn twilio_form_cases() -> Vec<(&'static str, Option<&'static str>, Vec<u8>, u16)> {
    const FORM: Option<&str> = Some("application/x-www-form-urlencoded");
    let valid = b"To=2025550142&From=%2B15555550100&Body=A+message".to_vec();
    vec![
        ("empty body", FORM, Vec::new(), 400),
        ("missing To", FORM, b"From=%2B1555&Body=x".to_vec(), 400),
        ("missing From", FORM, b"To=2025550142&Body=x".to_vec(), 400),
        (
            "missing Body",
            FORM,
            b"To=2025550142&From=%2B1555".to_vec(),
            400,
        ),
        (
            "To is letters",
            FORM,
            b"To=call-me&From=%2B1555&Body=x".to_vec(),
            400,
        ),
        (
            "To is fullwidth digits",
            FORM,
            "To=５５５５５５０１４２&From=1&Body=x".as_bytes().to_vec(),
            400,
        ),
        (
            "broken percent escape",
            FORM,
            b"To=%ZZ&From=%2B1555&Body=x".to_vec(),
            400,
        ),
        (
            "relative StatusCallback",
            FORM,
            [valid.as_slice(), b"&StatusCallback=%2Fx"].concat(),
            400,
        ),
        (
            "remote StatusCallback",
            FORM,
            [
                valid.as_slice(),
                b"&StatusCallback=http%3A%2F%2F10.0.0.1%2F",
            ]
            .concat(),
            400,
        ),
        (
            "oversize body",
            FORM,
            [valid.as_slice(), b"&Pad=", &vec![b'a'; STEP_LIMIT]].concat(),
            413,
        ),
        (
            "JSON body",
            Some("application/json"),
            br#"{"To": "2025550142"}"#.to_vec(),
            415,
        ),
        ("no content type", None, valid, 415),
    ]
}

#[tokio::test]
async fn email_mock_rejects_bad_input() {
    let app = TestApp::spawn().await;
    let base = app.providers.email.url();
    check_provider_endpoint(
        &app,
        &format!("{base}/v1/messages"),
        &email_sample(),
        ErrorShape::Problem,
    )
    .await;

    let long = format!("{}@example.org", "a".repeat(300));
    for address in [
        "not-an-address",
        "two@@example.org",
        "%FF%FE",
        "%20",
        long.as_str(),
    ] {
        let reply = app
            .send(
                app.client
                    .get(format!("{base}/v1/inboxes/{address}/messages")),
            )
            .await;
        assert_client_problem(&reply, &format!("inbox {address:.30}"));
    }
}

#[tokio::test]
async fn sms_mock_rejects_bad_input() {
    let app = TestApp::spawn().await;
    let base = app.providers.sms.url();
    let url = format!("{base}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json");
    for (case, content_type, bytes, status) in twilio_form_cases() {
        let body = BodyCase::raw(case, content_type, bytes);
        let reply = send_body(&app, Method::POST, &url, &body, None).await;
        let name = format!("POST {url} with {case}");
        assert_client_error(&reply, &name, ErrorShape::Twilio);
        assert_eq!(reply.status.as_u16(), status, "{name}: status");
    }
    // The form decoder replaces invalid UTF-8, so such a body is sent as it decodes.
    let lossy = BodyCase::raw(
        "invalid UTF-8",
        Some("application/x-www-form-urlencoded"),
        b"To=2025550142&From=1&Body=\xff\xfe".to_vec(),
    );
    let reply = send_body(&app, Method::POST, &url, &lossy, None).await;
    assert!(
        !reply.status.is_server_error(),
        "send with invalid UTF-8: {}",
        reply.status
    );
    for token in ["", "has space", "ключ"] {
        let request = app
            .client
            .post(&url)
            .header("I-Twilio-Idempotency-Token", token.as_bytes())
            .form(&[
                ("To", "2025550142"),
                ("From", "+15555550100"),
                ("Body", "x"),
            ]);
        let reply = app.send(request).await;
        assert_client_error(&reply, &format!("token {token:?}"), ErrorShape::Twilio);
    }

    for number in [
        "abc",
        "555-0142",
        "123456789012",
        "%FF",
        "%EF%BC%95%EF%BC%95%EF%BC%95",
    ] {
        let reply = app
            .send(
                app.client
                    .get(format!("{base}/v1/handsets/{number}/messages")),
            )
            .await;
        assert_client_problem(&reply, &format!("handset {number}"));
    }
}

#[tokio::test]
async fn postal_mock_rejects_bad_input() {
    let app = TestApp::spawn().await;
    let base = app.providers.postal.url();
    check_provider_endpoint(
        &app,
        &format!("{base}/v1/letters"),
        &letter_sample(),
        ErrorShape::Lob,
    )
    .await;

    let long_id = "l".repeat(2_000);
    for id in ["ltr_0000000000000000", "unknown", "%FF", long_id.as_str()] {
        let reply = app
            .send(app.client.get(format!("{base}/v1/letters/{id}")))
            .await;
        assert_client_error(&reply, &format!("letter {id:.30}"), ErrorShape::Lob);
    }
    let queries = [
        ("no query", ""),
        ("only line1", "?line1=1%20Main%20St"),
        ("only zip", "?zip=62701"),
        ("blank line1", "?line1=%20&zip=62701"),
        ("letters in the ZIP code", "?line1=1%20Main%20St&zip=abcde"),
        ("six-digit ZIP code", "?line1=1%20Main%20St&zip=627011"),
        ("repeated zip", "?line1=1%20Main%20St&zip=62701&zip=62702"),
    ];
    for (case, query) in queries {
        let reply = app
            .send(app.client.get(format!("{base}/v1/letterbox{query}")))
            .await;
        assert_client_problem(&reply, &format!("letterbox with {case}"));
    }
    // The mock decodes the query lossily, so invalid UTF-8 names an empty letterbox.
    let lossy = app
        .send(
            app.client
                .get(format!("{base}/v1/letterbox?line1=%FF&zip=62701")),
        )
        .await;
    assert!(
        !lossy.status.is_server_error(),
        "letterbox with invalid UTF-8: {}",
        lossy.status
    );
}

#[tokio::test]
async fn mocks_reject_unknown_routes_and_methods() {
    let app = TestApp::spawn().await;
    let bases = [
        app.providers.email.url(),
        app.providers.sms.url(),
        app.providers.postal.url(),
    ];
    for base in &bases {
        let cases = [
            (Method::GET, "/", 404),
            (Method::GET, "/v1/unknown", 404),
            (Method::POST, "/v1/stats", 405),
            (Method::DELETE, "/v1/stats", 405),
        ];
        for (method, path, status) in cases {
            let case = format!("{method} {base}{path}");
            let reply = app
                .send(app.client.request(method, format!("{base}{path}")))
                .await;
            assert_eq!(reply.status.as_u16(), status, "{case}: status");
            assert_client_problem(&reply, &case);
        }
        let stats = app
            .send(app.client.get(format!("{base}/v1/stats")).body("not json"))
            .await;
        assert!(
            stats.status.is_success(),
            "GET {base}/v1/stats ignores a body: {}",
            stats.status
        );
    }
    let wrong_methods = [
        (Method::GET, format!("{}/v1/messages", bases[0])),
        (
            Method::PUT,
            format!("{}/v1/inboxes/ann@example.org/messages", bases[0]),
        ),
        (
            Method::GET,
            format!(
                "{}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
                bases[1]
            ),
        ),
        (
            Method::POST,
            format!("{}/v1/handsets/2025550142/messages", bases[1]),
        ),
        (Method::GET, format!("{}/v1/letters", bases[2])),
        (
            Method::DELETE,
            format!("{}/v1/letters/ltr_0000000000000001", bases[2]),
        ),
        (Method::POST, format!("{}/v1/letterbox", bases[2])),
    ];
    for (method, url) in wrong_methods {
        let case = format!("{method} {url}");
        let reply = app.send(app.client.request(method, &url)).await;
        assert_eq!(reply.status.as_u16(), 405, "{case}: status");
        assert_client_problem(&reply, &case);
    }
}
