//! The restart drill: the service runs as its own process on a SQLite file,
//! is killed with SIGKILL in the middle of a run, and starts again on the
//! same file while the run goes on. The mock providers live in this test's
//! process, so letters stay in transit across the restart.
//!
//! Run it alone with `cargo test --release --test restart_drill -- --nocapture`.

use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use recoverylab::load::enroll::enrollment_json;
use recoverylab::load::inbox::temporary_password_in;
use recoverylab::load::Targets;
use recoverylab::people::{person, JourneyMix, Person};
use recoverylab::providers::{MockProviders, ProviderSettings};
use recoverylab::run::{run, RemoteTarget, RunOptions};
use secrecy::SecretString;
use serde_json::{json, Value};

const ADMIN_TOKEN: &str = "drill-admin-token-0123456789";
const SERVER_KEY: &str = "drill-server-key-0123456789abcdef";
/// Seed of the two people the drill checks by hand; the run's scenario
/// uses another seed, so their accounts never meet.
const DRILL_SEED: u64 = 777;

/// A `recoverylab serve` process.
struct ServiceProcess {
    child: Child,
}

impl ServiceProcess {
    fn start(database: &Path, port: u16, providers: &MockProviders) -> ServiceProcess {
        let child = Command::new(env!("CARGO_BIN_EXE_recoverylab"))
            .args(["serve", "--hash-profile", "fast", "--trust-forwarded-for"])
            .arg("--database")
            .arg(database)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            // The process's own mocks are unused: it sends to this test's.
            .args(["--email-listen", "127.0.0.1:0"])
            .args(["--sms-listen", "127.0.0.1:0"])
            .args(["--postal-listen", "127.0.0.1:0"])
            .args(["--email-provider-url", &providers.email.url()])
            .args(["--sms-provider-url", &providers.sms.url()])
            .args(["--postal-provider-url", &providers.postal.url()])
            .env("RECOVERYLAB_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("RECOVERYLAB_SERVER_KEY", SERVER_KEY)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("recoverylab serve starts");
        ServiceProcess { child }
    }

    /// Sends SIGKILL: no shutdown code runs, as in a crash or an OOM kill.
    fn kill(mut self) {
        self.child.kill().expect("the service process is killed");
        self.child.wait().expect("the killed process is reaped");
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_loopback_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("an ephemeral loopback port")
        .port()
}

async fn wait_until_healthy(client: &reqwest::Client, service: &str) {
    let give_up = Instant::now() + Duration::from_secs(60);
    loop {
        let answer = client.get(format!("{service}/health")).send().await;
        if matches!(&answer, Ok(response) if response.status().is_success()) {
            return;
        }
        assert!(
            Instant::now() < give_up,
            "the service at {service} did not become healthy within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn drill_person(kind_weights: [u32; 5], index: u64) -> Person {
    person(DRILL_SEED, index, &JourneyMix::new(kind_weights))
}

async fn post(client: &reqwest::Client, url: String, who: &Person, body: Value) -> (u16, Value) {
    let request = client
        .post(url)
        .header("x-forwarded-for", who.client_address.as_str());
    let request = match body {
        Value::Null => request,
        body => request.json(&body),
    };
    let response = request.send().await.expect("the service answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Mails a temporary password to a J4e person and returns once the service
/// has accepted the order.
async fn order_letter(client: &reqwest::Client, service: &str, who: &Person) {
    let (status, answer) = post(
        client,
        format!("{service}/v1/forgot-password"),
        who,
        json!({"username": who.username, "ssn": who.ssn, "date_of_birth": who.date_of_birth}),
    )
    .await;
    assert_eq!(status, 200, "forgot-password: {answer}");
    let flow = answer["flow_id"].as_str().expect("a flow id").to_owned();
    for (path, body) in [
        ("cannot-remember-answers", Value::Null),
        ("accept-terms", json!({"terms_version": 1})),
        (
            "verify-address",
            json!({"mailing_address": who.mailing_address, "primary_phone": who.primary_phone}),
        ),
        ("mail-temporary-password", Value::Null),
    ] {
        let (status, answer) = post(
            client,
            format!("{service}/v1/flows/{flow}/{path}"),
            who,
            body,
        )
        .await;
        assert_eq!(status, 200, "{path}: {answer}");
    }
}

async fn sign_in(
    client: &reqwest::Client,
    service: &str,
    who: &Person,
    password: &str,
) -> (u16, Value) {
    post(
        client,
        format!("{service}/v1/sign-in"),
        who,
        json!({"username": who.username, "password": password}),
    )
    .await
}

async fn wait_for_letter(client: &reqwest::Client, postal: &str, who: &Person) -> String {
    let give_up = Instant::now() + Duration::from_secs(30);
    loop {
        let letterbox: Value = client
            .get(format!("{postal}/v1/letterbox"))
            .query(&[
                ("line1", who.mailing_address.line1.as_str()),
                ("zip", who.mailing_address.zip.as_str()),
            ])
            .send()
            .await
            .expect("the postal mock answers")
            .json()
            .await
            .expect("a letterbox");
        if let Some(text) = letterbox["letters"]
            .as_array()
            .and_then(|letters| letters.last())
            .and_then(|letter| letter["text"].as_str())
        {
            return text.to_owned();
        }
        assert!(Instant::now() < give_up, "the letter never arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sums the email mock's accepted sends, whatever its counters are called.
async fn emails_accepted(client: &reqwest::Client, email: &str) -> u64 {
    let stats: Value = match client.get(format!("{email}/v1/stats")).send().await {
        Ok(response) => response.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    ["accepted", "sent"]
        .iter()
        .filter_map(|field| stats[*field].as_u64())
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_survives_sigkill_mid_run() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let database: PathBuf = folder.path().join("service.sqlite");
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/restart-drill.toml");
    let providers = MockProviders::spawn(ProviderSettings {
        seconds_per_business_day: 0.2,
        ..ProviderSettings::default()
    })
    .await
    .expect("the mocks start");
    let port = free_loopback_port();
    let service = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    let first = ServiceProcess::start(&database, port, &providers);
    wait_until_healthy(&client, &service).await;

    // Two people the drill follows by hand: one locked out, one with a
    // temporary password that will be in the mail during the outage.
    let locked = drill_person([1, 0, 0, 0, 0], 0);
    let mailed = drill_person([0, 0, 0, 1, 0], 1);
    let enrolled = client
        .post(format!("{service}/v1/admin/enrollments"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"people": [enrollment_json(&locked), enrollment_json(&mailed)]}))
        .send()
        .await
        .expect("enrollment answers");
    assert!(
        enrolled.status().is_success(),
        "enrollment: {}",
        enrolled.status()
    );
    for _ in 0..10 {
        let (status, _) = sign_in(&client, &service, &locked, "not the password 1").await;
        assert_ne!(status, 200);
    }
    let (status, answer) = sign_in(&client, &service, &locked, &locked.password).await;
    assert_eq!(status, 429, "locked before the restart: {answer}");
    assert_eq!(answer["code"], "try_later");

    // The run, in this process, against the service process.
    let targets = Targets {
        service: service.clone(),
        email: providers.email.url(),
        sms: providers.sms.url(),
        postal: providers.postal.url(),
    };
    let out = folder.path().join("report");
    let run_task = tokio::spawn(run(RunOptions {
        scenario,
        out: Some(out.clone()),
        remote: Some(RemoteTarget {
            targets,
            admin_token: SecretString::from(ADMIN_TOKEN.to_owned()),
        }),
        scan_logs: Vec::new(),
        inject_delay: Vec::new(),
    }));

    // Kill once the load is well under way, with a letter just ordered.
    let busy = Instant::now() + Duration::from_secs(60);
    while emails_accepted(&client, &providers.email.url()).await < 20 {
        assert!(Instant::now() < busy, "the run never got under way");
        assert!(!run_task.is_finished(), "the run ended before the restart");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    order_letter(&client, &service, &mailed).await;
    first.kill();
    let emails_before_kill = emails_accepted(&client, &providers.email.url()).await;
    let killed_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let second = ServiceProcess::start(&database, port, &providers);
    wait_until_healthy(&client, &service).await;
    println!(
        "service down for {:.1} s",
        killed_at.elapsed().as_secs_f64()
    );

    // What the first process saved is still in force.
    let (status, answer) = sign_in(&client, &service, &locked, &locked.password).await;
    assert_eq!(status, 429, "the lockout survived the restart: {answer}");
    let letter = wait_for_letter(&client, &providers.postal.url(), &mailed).await;
    let temporary = temporary_password_in(&letter).expect("the letter holds a temporary password");
    let (status, answer) = sign_in(&client, &service, &mailed, &temporary).await;
    assert_eq!(
        status, 200,
        "the mailed temporary password survived the restart: {answer}"
    );
    assert!(answer["flow_id"].is_string());

    let result = run_task
        .await
        .expect("the run task does not panic")
        .expect("the run finishes despite the restart");
    let report = result.report;
    println!(
        "{}",
        std::fs::read_to_string(out.join("report.md")).unwrap_or_default()
    );
    assert!(
        !report.service_outages.is_empty(),
        "the report shows the outage window"
    );
    let outage = report.service_outages[0];
    let end = outage.end_s.expect("the service came back during the run");
    assert!(end > outage.start_s, "{outage:?}");
    let mut completed_after_restart = 0;
    for (kind, journey) in &report.journeys {
        assert!(journey.accounting_holds(), "{kind}: {journey:?}");
        completed_after_restart += journey.completed;
    }
    assert!(completed_after_restart > 0);
    // The load went on after the restart: the service sent more email.
    let emails_after_run = emails_accepted(&client, &providers.email.url()).await;
    assert!(
        emails_after_run > emails_before_kill + 5,
        "{emails_before_kill} emails before the kill, {emails_after_run} after the run"
    );
    drop(second);
    providers.stop().await.expect("the mocks stop");
}
