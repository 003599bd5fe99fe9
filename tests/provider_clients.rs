//! Tests of the service's provider clients against stand-in providers that
//! each test starts on 127.0.0.1. They cover the wire shapes of the three
//! APIs, which failures are retried and how often, the idempotency key on
//! every attempt, and errors and logs free of the message's content.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use recoverylab::journeys::account::MailingAddress;
use recoverylab::journeys::notifier::{
    EmailMessage, Letter, LetterReceipt, Notifier, ProviderError, SmsMessage,
};
use recoverylab::service::provider_clients::{
    HttpNotifier, ProviderClientSettings, ProviderUrls, RetryPolicy, SmsSender,
};
use secrecy::SecretString;
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const FLOW_ID: &str = "5f0c2a9e4b7d41e8a3c6d2b1f0e9a8c7";
const CODE_TEXT: &str =
    "Your security code is 834201. It expires in 10 minutes. We will never call you to ask for it.";
const LETTER_TEXT: &str = "Your temporary password is Hq7mPz3kWx9R. Sign in within 30 days.";
const PHONE: &str = "5555550142";
const EMAIL: &str = "pat.doe@example.org";
const SUBJECT: &str = "Your security code";
const PUBLIC_URL: &str = "http://127.0.0.1:4000";

/// The three provider APIs, each with its idempotency header and 2xx response.
#[derive(Debug, Clone, Copy)]
enum Provider {
    Sms,
    Email,
    Postal,
}

const PROVIDERS: [Provider; 3] = [Provider::Sms, Provider::Email, Provider::Postal];

impl Provider {
    fn idempotency_header(self) -> &'static str {
        match self {
            Provider::Sms => "I-Twilio-Idempotency-Token",
            Provider::Email | Provider::Postal => "Idempotency-Key",
        }
    }

    fn receipt_id(self) -> &'static str {
        match self {
            Provider::Sms => "SM0123456789abcdef0123456789abcdef",
            Provider::Email => "em_01hx",
            Provider::Postal => "ltr_4868c3b754655f90",
        }
    }

    fn accepted(self) -> ResponseTemplate {
        match self {
            Provider::Sms => ResponseTemplate::new(201).set_body_json(json!({
                "sid": self.receipt_id(),
                "account_sid": "AC00000000000000000000000000000000",
                "to": "+15555550142",
                "from": "+15555550100",
                "status": "queued",
                "error_code": null,
                "error_message": null,
            })),
            Provider::Email => ResponseTemplate::new(202)
                .set_body_json(json!({"id": self.receipt_id(), "status": "queued"})),
            Provider::Postal => ResponseTemplate::new(200).set_body_json(json!({
                "id": self.receipt_id(),
                "object": "letter",
                "expected_delivery_date": "2026-12-14",
                "send_date": "2026-12-04",
                "tracking_events": [],
                "status": "mailed",
            })),
        }
    }

    /// Returns an error response in the provider's error shape.
    fn failed(self, status: u16) -> ResponseTemplate {
        let body = match self {
            Provider::Sms => json!({
                "code": 20000 + status,
                "message": format!("The 'To' number +1{PHONE} failed"),
                "more_info": "https://www.twilio.com/docs/errors",
                "status": status,
            }),
            Provider::Email => json!({
                "type": "about:blank",
                "status": status,
                "code": "injected_fault",
                "detail": format!("could not deliver to {EMAIL}"),
            }),
            Provider::Postal => json!({
                "error": {"message": "address_line1 is 1 Main St", "status_code": status, "code": "injected_fault"},
            }),
        };
        ResponseTemplate::new(status).set_body_json(body)
    }
}

fn fast_policy() -> RetryPolicy {
    RetryPolicy {
        attempts: 4,
        timeout: Duration::from_millis(300),
        base_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        max_retry_after: Duration::from_secs(5),
    }
}

/// Returns settings that send every provider's requests to `base_url`.
fn settings(base_url: &str, public_url: Option<&str>) -> ProviderClientSettings {
    ProviderClientSettings {
        urls: ProviderUrls {
            email: base_url.to_owned(),
            sms: base_url.to_owned(),
            postal: base_url.to_owned(),
        },
        retry: fast_policy(),
        sms_sender: SmsSender::default(),
        public_url: public_url.map(str::to_owned),
    }
}

fn notifier(base_url: &str, public_url: Option<&str>) -> HttpNotifier {
    HttpNotifier::new(settings(base_url, public_url))
}

fn idempotency_key(provider: Provider) -> String {
    idempotency_key_in_flow(provider, FLOW_ID)
}

/// Returns a key as the engine builds them: the flow id, then what is sent.
fn idempotency_key_in_flow(provider: Provider, flow_id: &str) -> String {
    match provider {
        Provider::Sms | Provider::Email => format!("{flow_id}:code:0:1764885600000"),
        Provider::Postal => format!("{flow_id}:letter"),
    }
}

fn mailing_address() -> MailingAddress {
    MailingAddress {
        name: "Pat Doe".to_owned(),
        line1: "1 Main St".to_owned(),
        line2: Some("Apt 2".to_owned()),
        city: "Springfield".to_owned(),
        state: "IL".to_owned(),
        zip: "62701".to_owned(),
    }
}

/// Sends one message through `provider` and returns the receipt id.
async fn send(notifier: &HttpNotifier, provider: Provider) -> Result<String, ProviderError> {
    send_in_flow(notifier, provider, FLOW_ID).await
}

async fn send_in_flow(
    notifier: &HttpNotifier,
    provider: Provider,
    flow_id: &str,
) -> Result<String, ProviderError> {
    let idempotency_key = idempotency_key_in_flow(provider, flow_id);
    match provider {
        Provider::Sms => notifier
            .send_sms(SmsMessage {
                to: PHONE.to_owned(),
                text: SecretString::from(CODE_TEXT),
                idempotency_key,
            })
            .await
            .map(|receipt| receipt.id),
        Provider::Email => notifier
            .send_email(EmailMessage {
                to: EMAIL.to_owned(),
                subject: SUBJECT.to_owned(),
                text: SecretString::from(CODE_TEXT),
                idempotency_key,
            })
            .await
            .map(|receipt| receipt.id),
        Provider::Postal => notifier
            .mail_letter(Letter {
                to: mailing_address(),
                text: SecretString::from(LETTER_TEXT),
                idempotency_key,
            })
            .await
            .map(|receipt| receipt.id),
    }
}

async fn loopback_mock_server() -> MockServer {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    MockServer::builder().listener(listener).start().await
}

/// Starts a stand-in that responds with `responses` in turn, the last one
/// from then on.
async fn stand_in(responses: Vec<ResponseTemplate>) -> MockServer {
    let server = loopback_mock_server().await;
    let count = responses.len();
    for (index, response) in responses.into_iter().enumerate() {
        let mock = Mock::given(method("POST")).respond_with(response);
        let mock = if index + 1 < count {
            mock.up_to_n_times(1)
        } else {
            mock
        };
        mock.mount(&server).await;
    }
    server
}

async fn received(server: &MockServer) -> Vec<Request> {
    server
        .received_requests()
        .await
        .expect("request recording is on")
}

#[track_caller]
fn assert_same_key_on_every_attempt(case: &str, provider: Provider, keys: &[Option<String>]) {
    let expected = idempotency_key(provider);
    for (attempt, key) in keys.iter().enumerate() {
        assert_eq!(
            key.as_deref(),
            Some(expected.as_str()),
            "{case}: idempotency key of attempt {}",
            attempt + 1
        );
    }
}

fn header(request: &Request, name: &str) -> Option<String> {
    request
        .headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

fn keys_of(provider: Provider, requests: &[Request]) -> Vec<Option<String>> {
    requests
        .iter()
        .map(|request| header(request, provider.idempotency_header()))
        .collect()
}

#[tokio::test]
async fn server_errors_tried_four_times() {
    for provider in PROVIDERS {
        for status in [500, 502, 503, 504] {
            let case = format!("{provider:?} HTTP {status}");
            let server = stand_in(vec![provider.failed(status)]).await;

            let error = send(&notifier(&server.uri(), None), provider)
                .await
                .expect_err(&case);

            let requests = received(&server).await;
            assert_eq!(requests.len(), 4, "{case}: attempts");
            assert_same_key_on_every_attempt(&case, provider, &keys_of(provider, &requests));
            assert!(!error.permanent, "{case}: {error}");
            assert!(
                error.reason.contains("gave up after 4 attempts"),
                "{case}: {error}"
            );
            assert!(
                error.reason.contains(&format!("HTTP {status}")),
                "{case}: {error}"
            );
        }
    }
}

#[tokio::test]
async fn rate_limit_waits_retry_after() {
    let sends = PROVIDERS.map(|provider| async move {
        let case = format!("{provider:?} HTTP 429");
        let server = stand_in(vec![provider.failed(429).insert_header("Retry-After", "1")]).await;

        let started = Instant::now();
        let error = send(&notifier(&server.uri(), None), provider)
            .await
            .expect_err(&case);
        let elapsed = started.elapsed();

        let requests = received(&server).await;
        assert_eq!(requests.len(), 4, "{case}: attempts");
        assert_same_key_on_every_attempt(&case, provider, &keys_of(provider, &requests));
        assert!(!error.permanent, "{case}: {error}");
        // Three waits of 1 s each; the policy's own backoff is at most 20 ms.
        assert!(
            elapsed >= Duration::from_millis(2_950),
            "{case}: Retry-After not honoured, 4 attempts took {elapsed:?}"
        );
    });
    futures_util::future::join_all(sends).await;
}

#[tokio::test]
async fn long_retry_after_capped() {
    let server = stand_in(vec![Provider::Sms
        .failed(503)
        .insert_header("Retry-After", "60")])
    .await;
    let policy = RetryPolicy {
        max_retry_after: Duration::from_millis(50),
        ..fast_policy()
    };
    let notifier = HttpNotifier::new(ProviderClientSettings {
        retry: policy,
        ..settings(&server.uri(), None)
    });

    let started = Instant::now();
    send(&notifier, Provider::Sms)
        .await
        .expect_err("HTTP 503 on every attempt");
    let elapsed = started.elapsed();

    assert_eq!(received(&server).await.len(), 4, "attempts");
    assert!(
        elapsed >= Duration::from_millis(150),
        "three capped waits of 50 ms took only {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(5),
        "Retry-After of 60 s not capped: {elapsed:?}"
    );
}

#[tokio::test]
async fn timeouts_tried_four_times() {
    for provider in PROVIDERS {
        let case = format!("{provider:?} slow response");
        let slow = provider.accepted().set_delay(Duration::from_secs(2));
        let server = stand_in(vec![slow]).await;

        let error = send(&notifier(&server.uri(), None), provider)
            .await
            .expect_err(&case);

        let requests = received(&server).await;
        assert_eq!(requests.len(), 4, "{case}: attempts");
        assert_same_key_on_every_attempt(&case, provider, &keys_of(provider, &requests));
        assert!(!error.permanent, "{case}: {error}");
        assert!(error.reason.contains("timeout"), "{case}: {error}");
    }
}

/// How a [`DroppingServer`] ends each connection after reading the request head.
#[derive(Debug, Clone, Copy)]
enum Ending {
    /// Closes it in order, so the client sees it end before any response.
    Close,
    /// Resets it (`SO_LINGER` 0), so the client sees a connection reset.
    Reset,
}

/// A TCP server on 127.0.0.1 that reads each request's head, records its
/// idempotency key, and ends the connection without a response. It counts
/// the connections it accepts, which wiremock cannot.
struct DroppingServer {
    url: String,
    accepts: Arc<AtomicUsize>,
    keys: Arc<Mutex<Vec<Option<String>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl DroppingServer {
    async fn start(ending: Ending, key_header: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("bound address"));
        let accepts = Arc::new(AtomicUsize::new(0));
        let keys = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn({
            let accepts = Arc::clone(&accepts);
            let keys = Arc::clone(&keys);
            async move {
                while let Ok((mut stream, _)) = listener.accept().await {
                    accepts.fetch_add(1, Ordering::SeqCst);
                    let head = read_request_head(&mut stream).await;
                    keys.lock().unwrap().push(header_value(&head, key_header));
                    if let Ending::Reset = ending {
                        stream.set_zero_linger().expect("set SO_LINGER");
                    }
                    drop(stream);
                }
            }
        });
        Self {
            url,
            accepts,
            keys,
            task,
        }
    }
}

impl Drop for DroppingServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads up to the blank line that ends the request head, at most 16 KiB
/// and 2 s.
async fn read_request_head(stream: &mut tokio::net::TcpStream) -> String {
    let mut head = Vec::new();
    let mut buffer = [0; 1024];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while !head.windows(4).any(|window| window == b"\r\n\r\n") && head.len() < 16 * 1024 {
        let read = tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await;
        match read {
            Ok(Ok(count)) if count > 0 => head.extend_from_slice(&buffer[..count]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

fn header_value(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}

#[tokio::test]
async fn dropped_connections_tried_four_times() {
    for ending in [Ending::Close, Ending::Reset] {
        for provider in PROVIDERS {
            let case = format!("{provider:?} {ending:?}");
            let server = DroppingServer::start(ending, provider.idempotency_header()).await;

            let error = send(&notifier(&server.url, None), provider)
                .await
                .expect_err(&case);

            assert_eq!(
                server.accepts.load(Ordering::SeqCst),
                4,
                "{case}: connections"
            );
            let keys = server.keys.lock().unwrap().clone();
            assert_eq!(keys.len(), 4, "{case}: request heads read");
            assert_same_key_on_every_attempt(&case, provider, &keys);
            assert!(!error.permanent, "{case}: {error}");
            assert!(error.reason.contains("connection error"), "{case}: {error}");
        }
    }
}

/// The log of every test in this file, which each test reads by its own
/// flow ids.
#[derive(Clone, Default)]
struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLogs {
    /// Returns the log, installing it as the global subscriber on first use.
    /// A global one, because a thread's own subscriber misses events while
    /// tests on other threads set and drop theirs.
    fn global() -> &'static CapturedLogs {
        static LOGS: OnceLock<CapturedLogs> = OnceLock::new();
        LOGS.get_or_init(|| {
            let logs = CapturedLogs::default();
            let sink = logs.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::DEBUG)
                .with_ansi(false)
                .with_writer(move || sink.clone())
                .finish();
            tracing::subscriber::set_global_default(subscriber)
                .expect("no other test installs a subscriber");
            logs
        })
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// Returns the lines logged for `flow_id`.
    fn of_flow(&self, flow_id: &str) -> String {
        let field = format!("flow_id={flow_id} ");
        self.text()
            .lines()
            .filter(|line| line.contains(&field))
            .map(|line| format!("{line}\n"))
            .collect()
    }
}

#[tokio::test]
async fn refused_connections_tried_four_times() {
    // A port that was just free: nothing listens, so each connect is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind loopback")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let logs = CapturedLogs::global();
    for provider in PROVIDERS {
        let case = format!("{provider:?} refused");
        let flow_id = format!("refused{provider:?}");

        let error = send_in_flow(&notifier(&url, None), provider, &flow_id)
            .await
            .expect_err(&case);

        // No server can count refused connections: the client's log and
        // error give the count.
        let text = logs.of_flow(&flow_id);
        let retries = text.matches("retrying").count();
        assert_eq!(retries, 3, "{case}: retries logged in\n{text}");
        for attempt in 1..=3 {
            assert!(
                text.contains(&format!("attempt={attempt}")),
                "{case}: attempt {attempt} logged in\n{text}"
            );
        }
        assert_eq!(
            text.matches("giving up").count(),
            1,
            "{case}: give-up logged once in\n{text}"
        );
        assert!(
            error.reason.contains("gave up after 4 attempts"),
            "{case}: {error}"
        );
        assert!(error.reason.contains("connection error"), "{case}: {error}");
    }
}

#[tokio::test]
async fn client_errors_tried_once() {
    for provider in PROVIDERS {
        for status in [400, 401, 403, 404, 409, 422] {
            let case = format!("{provider:?} HTTP {status}");
            let server = stand_in(vec![provider.failed(status)]).await;

            let error = send(&notifier(&server.uri(), None), provider)
                .await
                .expect_err(&case);

            assert_eq!(received(&server).await.len(), 1, "{case}: attempts");
            assert!(error.permanent, "{case}: {error}");
            assert!(error.reason.contains("permanent"), "{case}: {error}");
            assert!(
                error.reason.contains(&format!("HTTP {status}")),
                "{case}: {error}"
            );
        }
    }
}

#[tokio::test]
async fn success_after_two_failures() {
    for provider in PROVIDERS {
        let case = format!("{provider:?}");
        let server = stand_in(vec![
            provider.failed(503),
            provider.failed(500),
            provider.accepted(),
        ])
        .await;

        let receipt = send(&notifier(&server.uri(), None), provider)
            .await
            .expect(&case);

        assert_eq!(receipt, provider.receipt_id(), "{case}: receipt id");
        let requests = received(&server).await;
        assert_eq!(requests.len(), 3, "{case}: attempts");
        assert_same_key_on_every_attempt(&case, provider, &keys_of(provider, &requests));
    }
}

#[tokio::test]
async fn unreadable_receipt_not_retried() {
    for provider in PROVIDERS {
        let case = format!("{provider:?}");
        let server = stand_in(vec![
            ResponseTemplate::new(200).set_body_json(json!({"unexpected": true}))
        ])
        .await;

        let error = send(&notifier(&server.uri(), None), provider)
            .await
            .expect_err(&case);

        assert_eq!(received(&server).await.len(), 1, "{case}: attempts");
        assert!(!error.permanent, "{case}: {error}");
        assert!(error.reason.contains("not a"), "{case}: {error}");
    }
}

/// Decodes an `application/x-www-form-urlencoded` body into its pairs.
fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    let mut url = reqwest::Url::parse("http://form.invalid/").unwrap();
    url.set_query(Some(std::str::from_utf8(body).expect("form body is UTF-8")));
    url.query_pairs().into_owned().collect()
}

fn form_field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// Sends one message through a stand-in that accepts it, checks the receipt
/// id, and returns the one request the stand-in received.
async fn accepted_request(provider: Provider, public_url: Option<&str>) -> Request {
    let server = stand_in(vec![provider.accepted()]).await;

    let receipt = send(&notifier(&server.uri(), public_url), provider)
        .await
        .expect("accepted");

    assert_eq!(receipt, provider.receipt_id(), "{provider:?} receipt id");
    let mut requests = received(&server).await;
    assert_eq!(requests.len(), 1, "{provider:?} attempts");
    let request = requests.remove(0);
    assert_eq!(request.method.as_str(), "POST", "{provider:?} method");
    assert_eq!(
        header(&request, provider.idempotency_header()),
        Some(idempotency_key(provider)),
        "{provider:?} idempotency header"
    );
    request
}

async fn mail_letter(notifier: &HttpNotifier, to: MailingAddress) -> LetterReceipt {
    notifier
        .mail_letter(Letter {
            to,
            text: SecretString::from(LETTER_TEXT),
            idempotency_key: idempotency_key(Provider::Postal),
        })
        .await
        .expect("accepted")
}

/// Checks that `request` posted JSON to `path`, and returns the JSON.
#[track_caller]
fn json_body(request: &Request, path: &str) -> Value {
    assert_eq!(request.url.path(), path);
    assert_eq!(
        header(request, "content-type").as_deref(),
        Some("application/json"),
        "content type of the request to {path}"
    );
    request.body_json().expect("JSON body")
}

#[tokio::test]
async fn sms_sent_as_twilio_message() {
    let request = accepted_request(Provider::Sms, Some(PUBLIC_URL)).await;

    assert_eq!(
        request.url.path(),
        "/2010-04-01/Accounts/AC00000000000000000000000000000000/Messages.json"
    );
    assert_eq!(
        header(&request, "content-type").as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    let fields = form_fields(&request.body);
    assert_eq!(form_field(&fields, "To"), Some("+15555550142"));
    assert_eq!(form_field(&fields, "From"), Some("+15555550100"));
    assert_eq!(form_field(&fields, "Body"), Some(CODE_TEXT));
    assert_eq!(
        form_field(&fields, "StatusCallback"),
        Some("http://127.0.0.1:4000/v1/provider-events/sms")
    );
    assert_eq!(fields.len(), 4, "no other fields: {fields:?}");
}

#[tokio::test]
async fn sms_sender_configurable() {
    let server = stand_in(vec![Provider::Sms.accepted()]).await;
    let sender = SmsSender {
        account_sid: "AC0123456789abcdef0123456789abcdef".to_owned(),
        from: "+15555550199".to_owned(),
    };
    let notifier = HttpNotifier::new(ProviderClientSettings {
        sms_sender: sender,
        ..settings(&server.uri(), None)
    });

    send(&notifier, Provider::Sms).await.expect("accepted");

    let requests = received(&server).await;
    assert_eq!(
        requests[0].url.path(),
        "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json"
    );
    let fields = form_fields(&requests[0].body);
    assert_eq!(form_field(&fields, "From"), Some("+15555550199"));
}

#[tokio::test]
async fn sms_without_public_url_has_no_callback() {
    let request = accepted_request(Provider::Sms, None).await;

    let fields = form_fields(&request.body);
    assert_eq!(form_field(&fields, "StatusCallback"), None);
}

#[tokio::test]
async fn email_sent_as_json() {
    let request = accepted_request(Provider::Email, Some(PUBLIC_URL)).await;

    let body = json_body(&request, "/v1/messages");
    assert_eq!(
        body,
        json!({
            "to": EMAIL,
            "subject": SUBJECT,
            "text": CODE_TEXT,
            "status_callback": "http://127.0.0.1:4000/v1/provider-events/email",
        })
    );
}

#[tokio::test]
async fn letter_sent_as_lob_letter() {
    // A trailing slash on the public URL must not double the callback's.
    let request = accepted_request(Provider::Postal, Some("http://127.0.0.1:4000/")).await;

    let body = json_body(&request, "/v1/letters");
    assert_eq!(
        body,
        json!({
            "to": {
                "name": "Pat Doe",
                "address_line1": "1 Main St",
                "address_line2": "Apt 2",
                "address_city": "Springfield",
                "address_state": "IL",
                "address_zip": "62701",
            },
            "file": LETTER_TEXT,
            "metadata": {"webhook_url": "http://127.0.0.1:4000/v1/provider-events/postal"},
        })
    );
}

#[tokio::test]
async fn letter_receipt_has_delivery_date() {
    let server = stand_in(vec![Provider::Postal.accepted()]).await;

    let receipt = mail_letter(&notifier(&server.uri(), None), mailing_address()).await;

    assert_eq!(receipt.id, Provider::Postal.receipt_id());
    assert_eq!(
        receipt.expected_delivery_date,
        NaiveDate::from_ymd_opt(2026, 12, 14).unwrap()
    );
}

#[tokio::test]
async fn letter_without_line2_or_public_url() {
    let server = stand_in(vec![Provider::Postal.accepted()]).await;
    let mut address = mailing_address();
    address.line2 = None;

    mail_letter(&notifier(&server.uri(), None), address).await;

    let body: Value = received(&server).await[0].body_json().expect("JSON body");
    assert_eq!(body["to"].get("address_line2"), None, "{body}");
    assert_eq!(body.get("metadata"), None, "{body}");
}

#[tokio::test]
async fn errors_and_logs_hold_no_message_content() {
    let secrets = [
        "834201",
        "Hq7mPz3kWx9R",
        PHONE,
        EMAIL,
        SUBJECT,
        "1 Main St",
        "Pat Doe",
    ];
    let logs = CapturedLogs::global();
    for provider in PROVIDERS {
        for status in [422, 503] {
            let case = format!("{provider:?} HTTP {status}");
            let flow_id = format!("secrets{provider:?}{status}");
            let server = stand_in(vec![provider.failed(status)]).await;

            let error = send_in_flow(
                &notifier(&server.uri(), Some(PUBLIC_URL)),
                provider,
                &flow_id,
            )
            .await
            .expect_err(&case);

            let shown = format!("{error} {error:?}");
            assert!(
                !logs.of_flow(&flow_id).is_empty(),
                "{case}: nothing logged for the flow in\n{}",
                logs.text()
            );
            // Every test's sends use the same secrets: none may be in any line.
            let logged = logs.text();
            for secret in secrets {
                assert!(
                    !shown.contains(secret),
                    "{case}: error shows {secret:?}: {shown}"
                );
                assert!(
                    !logged.contains(secret),
                    "{case}: log shows {secret:?}:\n{logged}"
                );
            }
        }
    }
}
