//! Code brute force: an attacker who has a victim's password guesses the
//! sign-in code, opening a new flow each time three wrong guesses void the
//! code, until the account locks.
//!
//! The attacker reads the real code from the mock inbox and never guesses
//! it, so an accepted guess can only mean a broken check, never luck. While
//! the account is locked, the real code of a spare flow and the right
//! password must both get "try later".

use chrono::Utc;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use super::probe::Prober;
use super::AttackReport;
use crate::people::{JourneyKind, Person};

/// Failed code or password attempts, counted per account across all its
/// flows, that lock the account.
const LOCK_THRESHOLD: usize = 10;
/// Sign-in flows the attacker opens per victim, the spare one included. Each
/// sends one code, within the 10 code messages per account per hour.
const MAX_FLOWS: usize = 6;
/// Guesses per flow before opening another: one past the three that void a
/// code, to see that a voided code stays void.
const GUESSES_PER_FLOW: usize = 4;

/// The observations of one victim's attack.
#[derive(Debug, Default)]
struct VictimOutcome {
    guesses: usize,
    /// Guesses rejected as wrong (`wrong_code` or `code_voided`) before the
    /// first `try_later`.
    wrong_before_lock: usize,
    accepted: usize,
    flows: usize,
    locked: bool,
    /// Responses other than the expected ones, by code.
    unexpected: Vec<String>,
    real_code_while_locked: String,
    password_while_locked: String,
}

pub async fn run(
    prober: &Prober<'_>,
    first_index: u64,
    victims: usize,
) -> anyhow::Result<AttackReport> {
    let people: Vec<Person> = (0..victims as u64)
        .map(|offset| prober.person(first_index + offset, JourneyKind::SignIn))
        .collect();
    prober.enroll(&people).await?;

    let mut rng = ChaCha8Rng::seed_from_u64(prober.seed ^ 0x0062_7275_7465);
    let mut outcomes = Vec::with_capacity(victims);
    for victim in &people {
        outcomes.push(attack_one(prober, victim, &mut rng).await?);
    }

    let mut report = AttackReport::default();
    let accepted: usize = outcomes.iter().map(|outcome| outcome.accepted).sum();
    let guesses: usize = outcomes.iter().map(|outcome| outcome.guesses).sum();
    report.check(
        "no guessed code accepted",
        "0 of the wrong guesses accepted",
        format!("{accepted} of {guesses} accepted"),
        accepted == 0,
    );
    let locked = outcomes.iter().filter(|outcome| outcome.locked).count();
    report.check(
        "every victim locked",
        format!("{victims} of {victims} accounts locked"),
        format!("{locked} of {victims} locked"),
        locked == victims,
    );
    let max_wrong = outcomes
        .iter()
        .map(|outcome| outcome.wrong_before_lock)
        .max()
        .unwrap_or(0);
    let flows: Vec<String> = outcomes
        .iter()
        .map(|outcome| outcome.flows.to_string())
        .collect();
    report.check(
        "lockout counted across flows",
        format!(
            "at most {} guesses rejected as wrong before the lock, whatever the number of flows (the {LOCK_THRESHOLD}th failure locks)",
            LOCK_THRESHOLD - 1
        ),
        format!(
            "at most {max_wrong} rejected as wrong, over {} flows per victim",
            flows.join(", ")
        ),
        locked == victims && max_wrong < LOCK_THRESHOLD,
    );
    let real_code: Vec<&str> = outcomes
        .iter()
        .map(|outcome| outcome.real_code_while_locked.as_str())
        .collect();
    report.check(
        "real code rejected while locked",
        "try_later for every victim",
        real_code.join(", "),
        real_code.iter().all(|answer| *answer == "try_later"),
    );
    let password: Vec<&str> = outcomes
        .iter()
        .map(|outcome| outcome.password_while_locked.as_str())
        .collect();
    report.check(
        "right password rejected while locked",
        "try_later for every victim",
        password.join(", "),
        password.iter().all(|answer| *answer == "try_later"),
    );
    let unexpected: Vec<String> = outcomes
        .iter()
        .flat_map(|outcome| outcome.unexpected.iter().cloned())
        .collect();
    report.check(
        "guesses answered with known codes",
        "wrong_code, code_voided, no_active_code or try_later",
        if unexpected.is_empty() {
            "no other answer".to_owned()
        } else {
            unexpected.join(", ")
        },
        unexpected.is_empty(),
    );
    Ok(report)
}

/// Guesses codes for one victim until the account locks or the flows run
/// out, then tries the real code and password.
async fn attack_one(
    prober: &Prober<'_>,
    victim: &Person,
    rng: &mut ChaCha8Rng,
) -> anyhow::Result<VictimOutcome> {
    let address = prober.fresh_address();
    let mut outcome = VictimOutcome::default();

    // A spare flow whose real code is tried once the account is locked.
    let since = Utc::now();
    let spare = prober
        .sign_in(&victim.username, &victim.password, &address)
        .await?;
    let spare_flow = spare.flow_id()?;
    let spare_code = prober.code_for(victim, since).await?;
    outcome.flows = 1;

    'flows: while outcome.flows < MAX_FLOWS {
        let since = Utc::now();
        let signed_in = prober
            .sign_in(&victim.username, &victim.password, &address)
            .await?;
        if signed_in.outcome() == "try_later" {
            outcome.locked = true;
            break;
        }
        let flow = signed_in.flow_id()?;
        outcome.flows += 1;
        let real_code = prober.code_for(victim, since).await?;
        for _ in 0..GUESSES_PER_FLOW {
            let guess = wrong_guess(rng, &[&real_code, &spare_code]);
            let answer = prober
                .post(
                    &format!("/v1/flows/{flow}/code"),
                    Some(json!({ "code": guess })),
                    &address,
                )
                .await?;
            outcome.guesses += 1;
            match answer.outcome().as_str() {
                "ok" => outcome.accepted += 1,
                "wrong_code" | "code_voided" => outcome.wrong_before_lock += 1,
                // A voided code is no longer active.
                "no_active_code" => {}
                "try_later" => {
                    outcome.locked = true;
                    break 'flows;
                }
                other => outcome.unexpected.push(other.to_owned()),
            }
        }
    }

    outcome.real_code_while_locked = prober
        .post(
            &format!("/v1/flows/{spare_flow}/code"),
            Some(json!({ "code": spare_code })),
            &address,
        )
        .await?
        .outcome();
    outcome.password_while_locked = prober
        .sign_in(&victim.username, &victim.password, &address)
        .await?
        .outcome();
    Ok(outcome)
}

/// Draws a six-digit code other than the codes in `avoid`.
fn wrong_guess(rng: &mut ChaCha8Rng, avoid: &[&str]) -> String {
    loop {
        let guess = format!("{:06}", rng.random_range(0..1_000_000));
        if !avoid.contains(&guess.as_str()) {
            return guess;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_guess_avoids_the_real_codes() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..1_000 {
            let guess = wrong_guess(&mut rng, &["000001", "999999"]);
            assert_eq!(guess.len(), 6);
            assert_ne!(guess, "000001");
            assert_ne!(guess, "999999");
        }
    }
}
