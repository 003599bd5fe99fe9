//! The five journeys as a person walks them, step by step, over HTTP.

use std::sync::atomic::Ordering;
use std::time::Instant;

use chrono::Utc;
use goose::prelude::*;
use serde_json::{json, Value};

use super::driver::{Driver, Stop};
use super::inbox::{code_in, temporary_password_in, Delivery, Mailbox};
use super::LoadShared;
use crate::journeys::account::SecondFactor;
use crate::people::JourneyKind;
use crate::report::Outcome;

/// The terms-of-service version the reference service requires users to accept.
const TERMS_VERSION: u32 = 1;

/// How many times a person requests a message or letter again that did not
/// come, before giving up.
const MAX_RESENDS: usize = 3;

/// Step names, as they appear in reports, of a code entry and of the ways to
/// ask for another code.
struct CodeSteps {
    code: &'static str,
    resend: &'static str,
    /// The step that chooses the channel, in journeys that let the person
    /// choose it again after a failed delivery.
    channel: Option<&'static str>,
}

/// Step names, as they appear in reports, of the steps the recovery
/// journeys share.
struct RecoverySteps {
    sign_in: &'static str,
    confirm_contact: &'static str,
    code: CodeSteps,
    new_password: &'static str,
    accept_terms: &'static str,
}

const SIGN_IN_CODE_STEPS: CodeSteps = CodeSteps {
    code: "sign_in.code",
    resend: "sign_in.resend_code",
    channel: None,
};

const FORGOT_PASSWORD_STEPS: RecoverySteps = RecoverySteps {
    sign_in: "forgot_password.sign_in",
    confirm_contact: "forgot_password.confirm_contact",
    code: CodeSteps {
        code: "forgot_password.code",
        resend: "forgot_password.resend_code",
        channel: Some("forgot_password.channel"),
    },
    new_password: "forgot_password.new_password",
    accept_terms: "forgot_password.accept_terms",
};

const POSTAL_STEPS: RecoverySteps = RecoverySteps {
    sign_in: "temp_password_postal.sign_in",
    confirm_contact: "temp_password_postal.confirm_contact",
    code: CodeSteps {
        code: "temp_password_postal.code",
        resend: "temp_password_postal.resend_code",
        channel: None,
    },
    new_password: "temp_password_postal.new_password",
    accept_terms: "temp_password_postal.final_terms",
};

const EMAIL_STEPS: RecoverySteps = RecoverySteps {
    sign_in: "temp_password_email.sign_in",
    confirm_contact: "temp_password_email.confirm_contact",
    code: CodeSteps {
        code: "temp_password_email.code",
        resend: "temp_password_email.resend_code",
        channel: None,
    },
    new_password: "temp_password_email.new_password",
    accept_terms: "temp_password_email.final_terms",
};

/// Every step name a journey records, as reports and thresholds name them.
pub const STEP_NAMES: [&str; 33] = [
    "forgot_password.accept_terms",
    "forgot_password.answers",
    "forgot_password.channel",
    "forgot_password.code",
    "forgot_password.confirm_contact",
    "forgot_password.identity",
    "forgot_password.new_password",
    "forgot_password.resend_code",
    "forgot_password.sign_in",
    "forgot_username.identity",
    "sign_in.code",
    "sign_in.password",
    "sign_in.resend_code",
    "temp_password_email.cannot_remember",
    "temp_password_email.code",
    "temp_password_email.confirm_contact",
    "temp_password_email.final_terms",
    "temp_password_email.identity",
    "temp_password_email.new_password",
    "temp_password_email.resend_code",
    "temp_password_email.send",
    "temp_password_email.sign_in",
    "temp_password_postal.accept_terms",
    "temp_password_postal.cannot_remember",
    "temp_password_postal.code",
    "temp_password_postal.confirm_contact",
    "temp_password_postal.final_terms",
    "temp_password_postal.identity",
    "temp_password_postal.mail",
    "temp_password_postal.new_password",
    "temp_password_postal.resend_code",
    "temp_password_postal.sign_in",
    "temp_password_postal.verify_address",
];

/// Reasons the harness gives a failed journey, beyond the service's own
/// problem codes, with what each means. docs/scenarios.md lists them too.
pub const HARNESS_FAILURE_REASONS: [(&str, &str); 15] = [
    (
        "sms_not_delivered",
        "no text message arrived, even after resends",
    ),
    (
        "email_not_delivered",
        "no email arrived, even after resends",
    ),
    (
        "postal_not_delivered",
        "no letter arrived within the longest transit",
    ),
    (
        "sms_undeliverable",
        "the SMS provider kept reporting the text undelivered",
    ),
    (
        "email_bounced",
        "the email provider kept reporting a bounce",
    ),
    ("letter_returned", "every letter came back to sender"),
    (
        "resend_too_soon",
        "the service kept refusing a resend as too soon",
    ),
    (
        "service_unreachable",
        "the service refused connections for 30 seconds",
    ),
    (
        "connection_lost",
        "the connection broke after a step was sent",
    ),
    (
        "service_timeout",
        "the service did not answer a step within 30 seconds",
    ),
    (
        "message_without_code",
        "a code message held no six-digit code",
    ),
    (
        "letter_without_password",
        "a letter held no temporary password",
    ),
    (
        "email_without_password",
        "a temporary-password email held none",
    ),
    (
        "wrong_username_returned",
        "forgot-username returned another username",
    ),
    (
        "answer_without_flow_id",
        "a step's answer lacked the flow id",
    ),
];

/// Runs one journey of `kind` for the next unused person of that kind and
/// records its outcome. A journey cut short by the run's deadline stays in
/// flight. Goose records every journey as a successful transaction because
/// the recorder counts outcomes; goose's own report still lists each failed request.
pub async fn run_one(
    user: &mut GooseUser,
    shared: &LoadShared,
    kind: JourneyKind,
) -> TransactionResult {
    if shared.remaining().is_none() {
        return Ok(());
    }
    let Some(person) = shared.next_person(kind) else {
        shared
            .people_exhausted
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return Ok(());
    };
    let mut driver = Driver::new(user, shared, person);
    let user_index = driver.user_index();
    shared.recorder.journey_started(user_index, kind);
    let started = Instant::now();
    shared.users_busy.fetch_add(1, Ordering::Relaxed);
    let result = match kind {
        JourneyKind::SignIn => sign_in(&mut driver).await,
        JourneyKind::ForgotUsername => forgot_username(&mut driver).await,
        JourneyKind::ForgotPassword => forgot_password(&mut driver).await,
        JourneyKind::TempPasswordPostal => temp_password_postal(&mut driver).await,
        JourneyKind::TempPasswordEmail => temp_password_email(&mut driver).await,
    };
    shared.users_busy.fetch_sub(1, Ordering::Relaxed);
    let outcome = match result {
        Ok(()) => Outcome::Completed,
        Err(Stop::Failed(reason)) => Outcome::Failed(reason),
        Err(Stop::Abandoned) => Outcome::Abandoned,
        Err(Stop::Interrupted) => return Ok(()),
    };
    shared.recorder.journey_ended(
        user_index,
        kind,
        &outcome,
        started.elapsed(),
        driver.last_step(),
    );
    Ok(())
}

/// J1: username and password, then the code from the second factor.
async fn sign_in(driver: &mut Driver<'_>) -> Result<(), Stop> {
    let since = Utc::now();
    let body = json!({"username": driver.person.username, "password": driver.person.password});
    let answer = driver
        .step_that_sends("sign_in.password", "/v1/sign-in", Some(body))
        .await?;
    let flow = flow_id(&answer)?;
    let mailbox = second_factor_mailbox(driver.person.second_factor);
    let session = enter_code(driver, &flow, mailbox, since, &SIGN_IN_CODE_STEPS).await?;
    expect_session(&session)
}

/// J2: email, SSN and date of birth give back the username.
async fn forgot_username(driver: &mut Driver<'_>) -> Result<(), Stop> {
    let person = &driver.person;
    let body =
        json!({"email": person.email, "ssn": person.ssn, "date_of_birth": person.date_of_birth});
    let expected = person.username.clone();
    let answer = driver
        .step(
            "forgot_username.identity",
            "/v1/forgot-username",
            Some(body),
        )
        .await?;
    if answer.get("username").and_then(Value::as_str) != Some(expected.as_str()) {
        return Err(Stop::Failed("wrong_username_returned".to_owned()));
    }
    Ok(())
}

/// J3: identity, answers, channel, code, new password, terms.
async fn forgot_password(driver: &mut Driver<'_>) -> Result<(), Stop> {
    let flow = start_forgot_password(driver, "forgot_password.identity").await?;

    driver.think().await?;
    // People type answers in their own case and spacing; the service normalises.
    let answers: Vec<String> = driver
        .person
        .security_questions
        .iter()
        .enumerate()
        .map(|(i, item)| {
            if i == 0 {
                format!("  {}  ", item.answer.to_uppercase())
            } else {
                item.answer.clone()
            }
        })
        .collect();
    driver
        .step(
            "forgot_password.answers",
            &format!("/v1/flows/{flow}/answers"),
            Some(json!({"answers": answers})),
        )
        .await?;

    driver.think().await?;
    let mut channel = driver.person.second_factor;
    let mut since = Utc::now();
    let channel_path = format!("/v1/flows/{flow}/channel");
    match driver
        .step_that_sends(
            "forgot_password.channel",
            &channel_path,
            Some(json!({"channel": channel})),
        )
        .await
    {
        Ok(_) => {}
        // A person whose text cannot be sent requests the code by email instead.
        Err(rejected)
            if rejected.code == "provider_unavailable" && channel == SecondFactor::Sms =>
        {
            driver.think().await?;
            channel = SecondFactor::Email;
            since = Utc::now();
            driver
                .step_that_sends(
                    "forgot_password.channel",
                    &channel_path,
                    Some(json!({"channel": channel})),
                )
                .await?;
        }
        Err(rejected) => return Err(rejected.into()),
    }

    enter_code(
        driver,
        &flow,
        second_factor_mailbox(channel),
        since,
        &FORGOT_PASSWORD_STEPS.code,
    )
    .await?;
    finish_with_new_password(driver, &flow, &FORGOT_PASSWORD_STEPS).await
}

/// J4e: terms, address check, a letter, then sign-in with the temporary password.
async fn temp_password_postal(driver: &mut Driver<'_>) -> Result<(), Stop> {
    let flow = start_forgot_password(driver, "temp_password_postal.identity").await?;
    driver
        .step(
            "temp_password_postal.cannot_remember",
            &format!("/v1/flows/{flow}/cannot-remember-answers"),
            None,
        )
        .await?;
    driver
        .step(
            "temp_password_postal.accept_terms",
            &format!("/v1/flows/{flow}/accept-terms"),
            Some(json!({"terms_version": TERMS_VERSION})),
        )
        .await?;

    driver.think().await?;
    let body = json!({"mailing_address": driver.person.mailing_address, "primary_phone": driver.person.primary_phone});
    driver
        .step(
            "temp_password_postal.verify_address",
            &format!("/v1/flows/{flow}/verify-address"),
            Some(body),
        )
        .await?;

    let mail_path = format!("/v1/flows/{flow}/mail-temporary-password");
    let mut previous_letter = driver.newest_letter_id().await;
    driver
        .step_that_sends("temp_password_postal.mail", &mail_path, None)
        .await?;
    let mut mailed = 1;
    let letter = loop {
        match driver
            .wait_for_letter(previous_letter.as_deref(), &flow)
            .await?
        {
            Delivery::Arrived(letter) => break letter,
            Delivery::TimedOut => return Err(Stop::Failed("postal_not_delivered".to_owned())),
            Delivery::Failed(_) if mailed > MAX_RESENDS => {
                return Err(Stop::Failed("letter_returned".to_owned()))
            }
            Delivery::Failed(_) => {
                previous_letter = driver.newest_letter_id().await;
                ask_again(driver, "temp_password_postal.mail", &mail_path, None).await?;
                mailed += 1;
            }
        }
    };
    let temporary = temporary_password_in(&letter)
        .ok_or_else(|| Stop::Failed("letter_without_password".to_owned()))?;
    driver.shared.secrets.add_temporary_password(&temporary);
    sign_in_with_temporary_password(
        driver,
        &temporary,
        &POSTAL_STEPS,
        Mailbox::Email {
            subject: "Your security code",
        },
    )
    .await
}

/// J4s: the temporary password by email, then sign-in with it and an SMS code.
async fn temp_password_email(driver: &mut Driver<'_>) -> Result<(), Stop> {
    let flow = start_forgot_password(driver, "temp_password_email.identity").await?;
    driver
        .step(
            "temp_password_email.cannot_remember",
            &format!("/v1/flows/{flow}/cannot-remember-answers"),
            None,
        )
        .await?;
    let send_path = format!("/v1/flows/{flow}/email-temporary-password");
    let mut since = Utc::now();
    driver
        .step_that_sends("temp_password_email.send", &send_path, None)
        .await?;
    let mailbox = Mailbox::Email {
        subject: "Your temporary password",
    };
    let mut sent = 1;
    let message = loop {
        match driver.wait_for_message(mailbox, since, &flow).await? {
            Delivery::Arrived(message) => break message,
            Delivery::TimedOut => return Err(Stop::Failed("email_not_delivered".to_owned())),
            Delivery::Failed(_) if sent > MAX_RESENDS => {
                return Err(Stop::Failed("email_bounced".to_owned()))
            }
            Delivery::Failed(_) => {
                since = Utc::now();
                ask_again(driver, "temp_password_email.send", &send_path, None).await?;
                sent += 1;
            }
        }
    };
    let temporary = temporary_password_in(&message)
        .ok_or_else(|| Stop::Failed("email_without_password".to_owned()))?;
    driver.shared.secrets.add_temporary_password(&temporary);
    sign_in_with_temporary_password(driver, &temporary, &EMAIL_STEPS, Mailbox::Sms).await
}

async fn start_forgot_password(
    driver: &mut Driver<'_>,
    step: &'static str,
) -> Result<String, Stop> {
    let person = &driver.person;
    let body = json!({"username": person.username, "ssn": person.ssn, "date_of_birth": person.date_of_birth});
    let answer = driver.step(step, "/v1/forgot-password", Some(body)).await?;
    flow_id(&answer)
}

async fn sign_in_with_temporary_password(
    driver: &mut Driver<'_>,
    temporary: &str,
    steps: &RecoverySteps,
    code_mailbox: Mailbox,
) -> Result<(), Stop> {
    driver.think().await?;
    let body = json!({"username": driver.person.username, "password": temporary});
    let answer = driver
        .step(steps.sign_in, "/v1/sign-in", Some(body))
        .await?;
    let flow = flow_id(&answer)?;
    let since = Utc::now();
    driver
        .step_that_sends(
            steps.confirm_contact,
            &format!("/v1/flows/{flow}/confirm-contact"),
            None,
        )
        .await?;
    enter_code(driver, &flow, code_mailbox, since, &steps.code).await?;
    finish_with_new_password(driver, &flow, steps).await
}

/// Reads the newest code and submits it, first mistyped if the person makes
/// a typo. Returns the service's response to the correct code.
async fn enter_code(
    driver: &mut Driver<'_>,
    flow: &str,
    mailbox: Mailbox,
    since: chrono::DateTime<Utc>,
    steps: &CodeSteps,
) -> Result<Value, Stop> {
    let code = receive_code(driver, flow, mailbox, since, steps).await?;
    let step = steps.code;
    driver.think().await?;
    let path = format!("/v1/flows/{flow}/code");
    if driver.makes_typo() {
        let typo = mistype(&code);
        match driver.step(step, &path, Some(json!({"code": typo}))).await {
            Err(rejected) if rejected.code == "wrong_code" => {}
            Err(rejected) => return Err(rejected.into()),
            Ok(_) => return Err(Stop::Failed("mistyped_code_accepted".to_owned())),
        }
    }
    Ok(driver
        .step(step, &path, Some(json!({"code": code})))
        .await?)
}

/// Waits for the code and requests another when it does not come: at once
/// after a reported delivery failure, by the other channel where the journey
/// allows it, and after the code wait otherwise; at most [`MAX_RESENDS`]
/// times, then gives up with the reason of the last failure.
async fn receive_code(
    driver: &mut Driver<'_>,
    flow: &str,
    mut mailbox: Mailbox,
    mut since: chrono::DateTime<Utc>,
    steps: &CodeSteps,
) -> Result<String, Stop> {
    let mut resends = 0;
    loop {
        let delivery = driver.wait_for_message(mailbox, since, flow).await?;
        let failed_delivery = matches!(delivery, Delivery::Failed(_));
        let reason = match delivery {
            Delivery::Arrived(text) => {
                let code = code_in(&text)
                    .ok_or_else(|| Stop::Failed("message_without_code".to_owned()))?;
                driver.shared.secrets.add_code(&code);
                return Ok(code);
            }
            Delivery::Failed(_) => match mailbox {
                Mailbox::Sms => "sms_undeliverable",
                Mailbox::Email { .. } => "email_bounced",
            },
            Delivery::TimedOut => match mailbox {
                Mailbox::Sms => "sms_not_delivered",
                Mailbox::Email { .. } => "email_not_delivered",
            },
        };
        if resends == MAX_RESENDS {
            return Err(Stop::Failed(reason.to_owned()));
        }
        resends += 1;
        driver.think().await?;
        since = Utc::now();
        match steps.channel.filter(|_| failed_delivery) {
            Some(channel_step) => {
                let (other, channel) = match mailbox {
                    Mailbox::Sms => (second_factor_mailbox(SecondFactor::Email), "email"),
                    Mailbox::Email { .. } => (Mailbox::Sms, "sms"),
                };
                mailbox = other;
                let body = json!({ "channel": channel });
                let path = format!("/v1/flows/{flow}/channel");
                ask_again(driver, channel_step, &path, Some(body)).await?;
            }
            None => {
                let path = format!("/v1/flows/{flow}/resend-code");
                ask_again(driver, steps.resend, &path, None).await?;
            }
        }
    }
}

/// How many times a person tries again when the service rejects a resend as too soon.
const TOO_SOON_TRIES: usize = 3;

/// Requests that the service send a message again, waiting for the
/// `Retry-After` of each rejection as too soon.
async fn ask_again(
    driver: &mut Driver<'_>,
    step: &'static str,
    path: &str,
    body: Option<Value>,
) -> Result<Value, Stop> {
    for _ in 0..TOO_SOON_TRIES {
        match driver.step_that_sends(step, path, body.clone()).await {
            Err(rejected) if rejected.code == "resend_too_soon" => {
                let pause = rejected
                    .retry_after
                    .unwrap_or(std::time::Duration::from_secs(1));
                driver.wait(pause).await?;
            }
            outcome => return Ok(outcome?),
        }
    }
    Err(Stop::Failed("resend_too_soon".to_owned()))
}

async fn finish_with_new_password(
    driver: &mut Driver<'_>,
    flow: &str,
    steps: &RecoverySteps,
) -> Result<(), Stop> {
    driver.think().await?;
    let body = json!({"password": driver.person.new_password});
    driver
        .step(
            steps.new_password,
            &format!("/v1/flows/{flow}/new-password"),
            Some(body),
        )
        .await?;
    let answer = driver
        .step(
            steps.accept_terms,
            &format!("/v1/flows/{flow}/accept-terms"),
            Some(json!({"terms_version": TERMS_VERSION})),
        )
        .await?;
    expect_session(&answer)
}

fn second_factor_mailbox(factor: SecondFactor) -> Mailbox {
    match factor {
        SecondFactor::Email => Mailbox::Email {
            subject: "Your security code",
        },
        SecondFactor::Sms => Mailbox::Sms,
    }
}

fn flow_id(answer: &Value) -> Result<String, Stop> {
    answer
        .get("flow_id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| Stop::Failed("answer_without_flow_id".to_owned()))
}

fn expect_session(answer: &Value) -> Result<(), Stop> {
    match answer.get("session_token").and_then(Value::as_str) {
        Some(token) if !token.is_empty() => Ok(()),
        _ => Err(Stop::Failed("signed_in_without_session".to_owned())),
    }
}

/// Changes the last digit, so the typo is always wrong.
fn mistype(code: &str) -> String {
    let mut digits: Vec<char> = code.chars().collect();
    if let Some(last) = digits.last_mut() {
        *last = if *last == '9' {
            '0'
        } else {
            char::from(*last as u8 + 1)
        };
    }
    digits.into_iter().collect()
}
