//! The five journeys as a person walks them, step by step, over HTTP.

use std::time::Instant;

use chrono::Utc;
use goose::prelude::*;
use serde_json::{json, Value};

use super::driver::{Driver, Stop};
use super::inbox::{code_in, temporary_password_in, Mailbox};
use super::LoadShared;
use crate::journeys::account::SecondFactor;
use crate::people::JourneyKind;
use crate::report::Outcome;

/// The terms-of-service version the reference service requires users to accept.
const TERMS_VERSION: u32 = 1;

/// Step names, as they appear in reports, of the steps the recovery
/// journeys share.
struct RecoverySteps {
    sign_in: &'static str,
    confirm_contact: &'static str,
    code: &'static str,
    new_password: &'static str,
    accept_terms: &'static str,
}

const FORGOT_PASSWORD_STEPS: RecoverySteps = RecoverySteps {
    sign_in: "forgot_password.sign_in",
    confirm_contact: "forgot_password.confirm_contact",
    code: "forgot_password.code",
    new_password: "forgot_password.new_password",
    accept_terms: "forgot_password.accept_terms",
};

const POSTAL_STEPS: RecoverySteps = RecoverySteps {
    sign_in: "temp_password_postal.sign_in",
    confirm_contact: "temp_password_postal.confirm_contact",
    code: "temp_password_postal.code",
    new_password: "temp_password_postal.new_password",
    accept_terms: "temp_password_postal.final_terms",
};

const EMAIL_STEPS: RecoverySteps = RecoverySteps {
    sign_in: "temp_password_email.sign_in",
    confirm_contact: "temp_password_email.confirm_contact",
    code: "temp_password_email.code",
    new_password: "temp_password_email.new_password",
    accept_terms: "temp_password_email.final_terms",
};

/// Runs one journey of `kind` for the next unused person of that kind and
/// records its outcome. A journey cut short by the run's deadline stays in
/// flight. Goose records every journey as a successful transaction because
/// the recorder counts outcomes; goose's own report still lists each failed request.
pub async fn run_one(
    user: &mut GooseUser,
    shared: &LoadShared,
    kind: JourneyKind,
) -> TransactionResult {
    if super::remaining(shared.deadline).is_none() {
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
    let result = match kind {
        JourneyKind::SignIn => sign_in(&mut driver).await,
        JourneyKind::ForgotUsername => forgot_username(&mut driver).await,
        JourneyKind::ForgotPassword => forgot_password(&mut driver).await,
        JourneyKind::TempPasswordPostal => temp_password_postal(&mut driver).await,
        JourneyKind::TempPasswordEmail => temp_password_email(&mut driver).await,
    };
    let outcome = match result {
        Ok(()) => Outcome::Completed,
        Err(Stop::Failed(reason)) => Outcome::Failed(reason),
        Err(Stop::Abandoned) => Outcome::Abandoned,
        Err(Stop::Interrupted) => return Ok(()),
    };
    shared
        .recorder
        .journey_ended(user_index, kind, &outcome, started.elapsed());
    Ok(())
}

/// J1: username and password, then the code from the second factor.
async fn sign_in(driver: &mut Driver<'_>) -> Result<(), Stop> {
    let since = Utc::now();
    let body = json!({"username": driver.person.username, "password": driver.person.password});
    let answer = driver
        .step("sign_in.password", "/v1/sign-in", Some(body))
        .await?;
    let flow = flow_id(&answer)?;
    let mailbox = second_factor_mailbox(driver.person.second_factor);
    let session = enter_code(driver, &flow, mailbox, since, "sign_in.code").await?;
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
    let channel = driver.person.second_factor;
    let since = Utc::now();
    driver
        .step(
            "forgot_password.channel",
            &format!("/v1/flows/{flow}/channel"),
            Some(json!({"channel": channel})),
        )
        .await?;

    enter_code(
        driver,
        &flow,
        second_factor_mailbox(channel),
        since,
        FORGOT_PASSWORD_STEPS.code,
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

    let previous_letter = driver.newest_letter_id().await;
    driver
        .step(
            "temp_password_postal.mail",
            &format!("/v1/flows/{flow}/mail-temporary-password"),
            None,
        )
        .await?;

    let letter = driver.wait_for_letter(previous_letter).await?;
    let temporary = temporary_password_in(&letter)
        .ok_or_else(|| Stop::Failed("letter_without_password".to_owned()))?;
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
    let since = Utc::now();
    driver
        .step(
            "temp_password_email.send",
            &format!("/v1/flows/{flow}/email-temporary-password"),
            None,
        )
        .await?;
    let message = driver
        .wait_for_message(
            Mailbox::Email {
                subject: "Your temporary password",
            },
            since,
        )
        .await?;
    let temporary = temporary_password_in(&message)
        .ok_or_else(|| Stop::Failed("email_without_password".to_owned()))?;
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
        .step(
            steps.confirm_contact,
            &format!("/v1/flows/{flow}/confirm-contact"),
            None,
        )
        .await?;
    enter_code(driver, &flow, code_mailbox, since, steps.code).await?;
    finish_with_new_password(driver, &flow, steps).await
}

/// Reads the newest code and submits it, first mistyped if the person makes
/// a typo. Returns the service's response to the correct code.
async fn enter_code(
    driver: &mut Driver<'_>,
    flow: &str,
    mailbox: Mailbox,
    since: chrono::DateTime<Utc>,
    step: &'static str,
) -> Result<Value, Stop> {
    let message = driver.wait_for_message(mailbox, since).await?;
    let code = code_in(&message).ok_or_else(|| Stop::Failed("message_without_code".to_owned()))?;
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
