//! Enumeration probe: can an attacker tell an existing account from an
//! unknown one, or learn which field was wrong, from an identity check's
//! response or its response time?
//!
//! Every identity check (sign-in, forgot-username, forgot-password step 1
//! and the address check of the postal temporary password) is probed with
//! an existing account and one wrong field, and with an unknown account.
//! The responses must be identical in status, headers and body. Probes run
//! one at a time, and those of one identity check run back to back, so the
//! median of their paired time differences must stay within the tolerance.
//! A lockout probe also checks that eleven wrong passwords get the same
//! responses for an unknown username as for an existing one.

use std::collections::BTreeMap;

use chrono::Duration as DateDuration;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use super::probe::{IdentityLookup, Prober, Reply};
use super::timing::compare_paired;
use super::{AbuseSettings, AttackReport, TimingResult};
use crate::people::{JourneyKind, Person};

/// Accounts locked, and unknown usernames tried as often, by the lockout probe.
const LOCKOUT_PAIRS: u64 = 2;
/// Wrong passwords sent to each username of the lockout probe: one past the
/// 10 failures that lock an account.
const LOCKOUT_ATTEMPTS: usize = 11;
/// Untimed probes of each check before the timed ones, so that connection
/// set-up and cold caches fall on no kind.
const WARM_UP: u64 = 5;

const TERMS_VERSION: u32 = 1;

/// Returns the population indexes the probe uses: a victim per timed sample,
/// the lockout pairs, and strangers for the unknown-account probes.
pub fn people_needed(samples: usize) -> u64 {
    let samples = samples as u64;
    samples + LOCKOUT_PAIRS + strangers_needed(samples)
}

fn strangers_needed(samples: u64) -> u64 {
    3 * samples + LOCKOUT_PAIRS + WARM_UP
}

/// One timed probe: an identity check and the kind of wrong input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Probe {
    SignInWrongPassword,
    SignInUnknown,
    UsernameWrongSsn,
    UsernameWrongBirthDate,
    UsernameUnknown,
    PasswordWrongSsn,
    PasswordWrongBirthDate,
    PasswordUnknown,
    AddressWrongAddress,
    AddressWrongPhone,
}

impl Probe {
    const ALL: [Probe; 10] = [
        Probe::SignInWrongPassword,
        Probe::SignInUnknown,
        Probe::UsernameWrongSsn,
        Probe::UsernameWrongBirthDate,
        Probe::UsernameUnknown,
        Probe::PasswordWrongSsn,
        Probe::PasswordWrongBirthDate,
        Probe::PasswordUnknown,
        Probe::AddressWrongAddress,
        Probe::AddressWrongPhone,
    ];

    /// Returns the identity check, as named in the report.
    fn check(self) -> &'static str {
        match self {
            Probe::SignInWrongPassword | Probe::SignInUnknown => "sign_in",
            Probe::UsernameWrongSsn | Probe::UsernameWrongBirthDate | Probe::UsernameUnknown => {
                "forgot_username"
            }
            Probe::PasswordWrongSsn | Probe::PasswordWrongBirthDate | Probe::PasswordUnknown => {
                "forgot_password"
            }
            Probe::AddressWrongAddress | Probe::AddressWrongPhone => "verify_address",
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Probe::SignInWrongPassword => "existing_wrong_password",
            Probe::UsernameWrongSsn | Probe::PasswordWrongSsn => "existing_wrong_ssn",
            Probe::UsernameWrongBirthDate | Probe::PasswordWrongBirthDate => {
                "existing_wrong_date_of_birth"
            }
            Probe::SignInUnknown | Probe::UsernameUnknown | Probe::PasswordUnknown => "unknown",
            Probe::AddressWrongAddress => "wrong_mailing_address",
            Probe::AddressWrongPhone => "wrong_primary_phone",
        }
    }

    /// Returns the identity lookup the probe sends, if it sends one.
    fn lookup(self) -> Option<IdentityLookup> {
        match self {
            Probe::UsernameWrongSsn | Probe::UsernameWrongBirthDate | Probe::UsernameUnknown => {
                Some(IdentityLookup::ForgotUsername)
            }
            Probe::PasswordWrongSsn | Probe::PasswordWrongBirthDate | Probe::PasswordUnknown => {
                Some(IdentityLookup::ForgotPassword)
            }
            _ => None,
        }
    }

    /// Returns the kind whose response times this one's are compared with.
    fn compared_with(self) -> Option<Probe> {
        match self {
            Probe::SignInWrongPassword => Some(Probe::SignInUnknown),
            Probe::UsernameWrongSsn | Probe::UsernameWrongBirthDate => Some(Probe::UsernameUnknown),
            Probe::PasswordWrongSsn | Probe::PasswordWrongBirthDate => Some(Probe::PasswordUnknown),
            Probe::AddressWrongAddress => Some(Probe::AddressWrongPhone),
            _ => None,
        }
    }
}

/// The probes that run back to back: those of one identity check.
const BLOCKS: [&[Probe]; 4] = [
    &[Probe::SignInWrongPassword, Probe::SignInUnknown],
    &[
        Probe::UsernameWrongSsn,
        Probe::UsernameWrongBirthDate,
        Probe::UsernameUnknown,
    ],
    &[
        Probe::PasswordWrongSsn,
        Probe::PasswordWrongBirthDate,
        Probe::PasswordUnknown,
    ],
    &[Probe::AddressWrongAddress, Probe::AddressWrongPhone],
];

/// The people one round of probes uses.
struct Round<'p> {
    victim: &'p Person,
    stranger: [&'p Person; 3],
}

pub async fn run(
    prober: &Prober<'_>,
    first_index: u64,
    settings: &AbuseSettings,
) -> anyhow::Result<AttackReport> {
    let samples = settings.timing_samples as u64;
    // Postal temporary-password people have email as their second factor,
    // which the address check needs.
    let victims: Vec<Person> = (0..samples + LOCKOUT_PAIRS)
        .map(|offset| prober.person(first_index + offset, JourneyKind::TempPasswordPostal))
        .collect();
    let strangers: Vec<Person> = (0..strangers_needed(samples))
        .map(|offset| {
            prober.person(
                first_index + samples + LOCKOUT_PAIRS + offset,
                JourneyKind::SignIn,
            )
        })
        .collect();
    prober.enroll(&victims).await?;
    let (victims, locked_victims) = victims.split_at(samples as usize);
    let (round_strangers, other_strangers) = strangers.split_at(3 * samples as usize);
    let (lockout_strangers, warm_up_strangers) = other_strangers.split_at(LOCKOUT_PAIRS as usize);

    let mut report = AttackReport::default();
    let mut answers: BTreeMap<&'static str, BTreeMap<String, Vec<Reply>>> = BTreeMap::new();
    lockout(
        prober,
        locked_victims,
        lockout_strangers,
        &mut report,
        &mut answers,
    )
    .await?;

    for stranger in warm_up_strangers {
        for probe in [
            Probe::SignInUnknown,
            Probe::UsernameUnknown,
            Probe::PasswordUnknown,
        ] {
            let round = Round {
                victim: &victims[0],
                stranger: [stranger; 3],
            };
            send(prober, probe, &round).await?;
        }
    }

    let rounds: Vec<Round> = victims
        .iter()
        .enumerate()
        .map(|(at, victim)| Round {
            victim,
            stranger: [
                &round_strangers[3 * at],
                &round_strangers[3 * at + 1],
                &round_strangers[3 * at + 2],
            ],
        })
        .collect();
    // The probes of one identity check in one round run back to back, in a
    // shuffled order, so that the machine's drift over seconds falls on both
    // sides of each paired difference.
    let mut rng = ChaCha8Rng::seed_from_u64(prober.seed ^ 0x656e_756d);
    let mut order: Vec<(usize, Vec<Probe>)> = (0..rounds.len())
        .flat_map(|round| BLOCKS.iter().map(move |block| (round, block.to_vec())))
        .collect();
    order.shuffle(&mut rng);
    let mut times: BTreeMap<Probe, Vec<f64>> = Probe::ALL
        .into_iter()
        .map(|probe| (probe, vec![0.0; rounds.len()]))
        .collect();
    for (round, mut block) in order {
        block.shuffle(&mut rng);
        for probe in block {
            let reply = send(prober, probe, &rounds[round]).await?;
            let slot = &mut times.get_mut(&probe).expect("every probe has times")[round];
            *slot = reply.elapsed.as_secs_f64() * 1e6;
            answers
                .entry(probe.check())
                .or_default()
                .entry(probe.kind().to_owned())
                .or_default()
                .push(reply);
        }
    }

    for (check, kinds) in &answers {
        uniform_answers(&mut report, check, kinds);
    }
    let tolerance_us = settings.timing_tolerance.as_secs_f64() * 1e6;
    for probe in Probe::ALL {
        let Some(other) = probe.compared_with() else {
            continue;
        };
        let medians = compare_paired(&times[&probe], &times[&other], prober.seed);
        let pass = medians.within(tolerance_us);
        report.check(
            format!("{} timing: {} against {}", probe.check(), probe.kind(), other.kind()),
            format!(
                "median of paired differences within ±{:.1} ms (95% interval)",
                tolerance_us / 1e3
            ),
            format!(
                "{}difference {:+.2} ms, 95% interval {:+.2} to {:+.2} ms, medians {:.2} and {:.2} ms",
                timing_verdict(&medians, tolerance_us),
                medians.difference_us / 1e3,
                medians.low_us / 1e3,
                medians.high_us / 1e3,
                medians.first_median_us / 1e3,
                medians.second_median_us / 1e3
            ),
            pass,
        );
        report.timing.push(TimingResult {
            check: probe.check().to_owned(),
            first: probe.kind().to_owned(),
            second: other.kind().to_owned(),
            samples: times[&probe].len().min(times[&other].len()),
            medians,
            tolerance_us,
            pass,
        });
    }
    Ok(report)
}

/// Sends ten wrong passwords, and one more, to existing and unknown
/// usernames: the sequences of responses must be the same. The locked
/// accounts then join the forgot-username and forgot-password probes.
async fn lockout(
    prober: &Prober<'_>,
    locked: &[Person],
    strangers: &[Person],
    report: &mut AttackReport,
    answers: &mut BTreeMap<&'static str, BTreeMap<String, Vec<Reply>>>,
) -> anyhow::Result<()> {
    let mut sequences: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut fingerprints: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (kind, people) in [("existing", locked), ("unknown", strangers)] {
        for (at, someone) in people.iter().enumerate() {
            let label = format!("{kind} #{}", at + 1);
            for attempt in 0..LOCKOUT_ATTEMPTS {
                let reply = prober
                    .sign_in(
                        &someone.username,
                        &wrong_password(attempt),
                        &prober.fresh_address(),
                    )
                    .await?;
                sequences
                    .entry(label.clone())
                    .or_default()
                    .push(reply.outcome());
                fingerprints
                    .entry(label.clone())
                    .or_default()
                    .push(reply.fingerprint());
            }
        }
    }
    let distinct: std::collections::BTreeSet<&Vec<String>> = fingerprints.values().collect();
    let observed: Vec<String> = sequences
        .iter()
        .map(|(label, sequence)| format!("{label}: {}", summarise(sequence)))
        .collect();
    report.check(
        "sign_in lockout answers alike",
        format!("the same {LOCKOUT_ATTEMPTS} answers for existing and unknown usernames"),
        observed.join("; "),
        distinct.len() == 1,
    );

    for someone in locked {
        for lookup in [
            IdentityLookup::ForgotUsername,
            IdentityLookup::ForgotPassword,
        ] {
            // The locked account's own details, all right: only the lock
            // stops the check.
            let reply = prober
                .look_up(
                    lookup,
                    lookup.identifier(someone),
                    &someone.ssn,
                    someone.date_of_birth,
                    &prober.fresh_address(),
                )
                .await?;
            answers
                .entry(lookup.name())
                .or_default()
                .entry("locked_account".to_owned())
                .or_default()
                .push(reply);
        }
    }
    Ok(())
}

/// Returns why a timing comparison failed, as a prefix of its observation,
/// or nothing when it passed.
fn timing_verdict(medians: &super::timing::MedianDifference, tolerance_us: f64) -> &'static str {
    if medians.within(tolerance_us) {
        ""
    } else if medians.low_us > tolerance_us || medians.high_us < -tolerance_us {
        "a difference larger than the tolerance: "
    } else {
        "inconclusive, because the interval is wider than the tolerance (raise abuse.timing_samples or run on a quieter machine): "
    }
}

/// Shortens a sequence of responses to runs, such as `invalid_credentials x9,
/// try_later x2`.
fn summarise(sequence: &[String]) -> String {
    let mut runs: Vec<(String, usize)> = Vec::new();
    for answer in sequence {
        match runs.last_mut() {
            Some((last, count)) if last == answer => *count += 1,
            _ => runs.push((answer.clone(), 1)),
        }
    }
    runs.iter()
        .map(|(answer, count)| format!("{answer} x{count}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Returns a password no synthetic person has, because synthetic passwords have 20 letters
/// and digits, without a hyphen.
fn wrong_password(attempt: usize) -> String {
    format!("not-the-password-{attempt}")
}

/// Checks that every response of one identity check is the same, whatever
/// the kind of probe.
fn uniform_answers(report: &mut AttackReport, check: &str, kinds: &BTreeMap<String, Vec<Reply>>) {
    let mut distinct: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    let mut total = 0;
    for (kind, replies) in kinds {
        for reply in replies {
            total += 1;
            let entry = distinct.entry(reply.fingerprint()).or_default();
            if !entry.contains(&kind.as_str()) {
                entry.push(kind);
            }
        }
    }
    let observed = if distinct.len() == 1 {
        let reply = &kinds.values().next().expect("a kind")[0];
        format!(
            "all {total} answers identical: HTTP {} {}",
            reply.status,
            reply.outcome()
        )
    } else {
        let groups: Vec<String> = distinct
            .iter()
            .map(|(fingerprint, kinds)| {
                let status: String = fingerprint.chars().take(3).collect();
                format!("HTTP {status} for {}", kinds.join(" and "))
            })
            .collect();
        format!(
            "{} different answers: {}",
            distinct.len(),
            groups.join("; ")
        )
    };
    let kinds: Vec<&str> = kinds.keys().map(String::as_str).collect();
    report.check(
        format!("{check} answers alike"),
        format!("one status, header set and body for {}", kinds.join(", ")),
        observed,
        distinct.len() == 1,
    );
}

/// Sends one probe and returns the response of its timed request.
async fn send(prober: &Prober<'_>, probe: Probe, round: &Round<'_>) -> anyhow::Result<Reply> {
    let victim = round.victim;
    let address = prober.fresh_address();
    let other_birth_date = victim.date_of_birth + DateDuration::days(1);
    let Some(lookup) = probe.lookup() else {
        return send_other(prober, probe, round, &address).await;
    };
    // Each lookup has its own stranger, so no identifier is tried twice.
    let stranger = match lookup {
        IdentityLookup::ForgotUsername => round.stranger[1],
        IdentityLookup::ForgotPassword => round.stranger[2],
    };
    let (someone, ssn, date_of_birth) = match probe {
        Probe::UsernameWrongSsn | Probe::PasswordWrongSsn => {
            (victim, &stranger.ssn, victim.date_of_birth)
        }
        Probe::UsernameWrongBirthDate | Probe::PasswordWrongBirthDate => {
            (victim, &victim.ssn, other_birth_date)
        }
        _ => (stranger, &stranger.ssn, stranger.date_of_birth),
    };
    prober
        .look_up(
            lookup,
            lookup.identifier(someone),
            ssn,
            date_of_birth,
            &address,
        )
        .await
}

/// Sends a sign-in or address-check probe from `address`.
async fn send_other(
    prober: &Prober<'_>,
    probe: Probe,
    round: &Round<'_>,
    address: &str,
) -> anyhow::Result<Reply> {
    let victim = round.victim;
    match probe {
        Probe::SignInWrongPassword => {
            prober
                .sign_in(&victim.username, &wrong_password(0), address)
                .await
        }
        Probe::SignInUnknown => {
            prober
                .sign_in(&round.stranger[0].username, &wrong_password(0), address)
                .await
        }
        _ => {
            let flow = reach_address_check(prober, victim, address).await?;
            let mut mailing_address = victim.mailing_address.clone();
            let mut primary_phone = victim.primary_phone.clone();
            if probe == Probe::AddressWrongAddress {
                mailing_address.line1 = format!("{} Apt 9", mailing_address.line1);
            } else {
                primary_phone = round.stranger[0].primary_phone.clone();
            }
            let body = json!({"mailing_address": mailing_address, "primary_phone": primary_phone});
            prober
                .post(
                    &format!("/v1/flows/{flow}/verify-address"),
                    Some(body),
                    address,
                )
                .await
        }
    }
}

/// Walks a forgot-password flow of `victim` to the address check: identity,
/// "cannot remember the answers", and the terms. Returns the flow id.
async fn reach_address_check(
    prober: &Prober<'_>,
    victim: &Person,
    address: &str,
) -> anyhow::Result<String> {
    let started = prober
        .look_up(
            IdentityLookup::ForgotPassword,
            &victim.username,
            &victim.ssn,
            victim.date_of_birth,
            address,
        )
        .await?;
    anyhow::ensure!(
        started.is_success(),
        "forgot-password with a victim's right details answered {}; the probe cannot reach the address check",
        started.outcome()
    );
    let flow = started.flow_id()?;
    for (step, body) in [
        ("cannot-remember-answers", None),
        (
            "accept-terms",
            Some(json!({"terms_version": TERMS_VERSION})),
        ),
    ] {
        let reply = prober
            .post(&format!("/v1/flows/{flow}/{step}"), body, address)
            .await?;
        anyhow::ensure!(
            reply.is_success(),
            "the {step} step answered {} on the way to the address check",
            reply.outcome()
        );
    }
    Ok(flow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarise_counts_runs() {
        let sequence: Vec<String> = ["a", "a", "b", "a"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        assert_eq!(summarise(&sequence), "a x2, b x1, a x1");
    }

    #[test]
    fn every_compared_probe_shares_its_check() {
        for probe in Probe::ALL {
            if let Some(other) = probe.compared_with() {
                assert_eq!(probe.check(), other.check(), "{probe:?}");
            }
        }
    }
}
