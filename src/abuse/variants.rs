//! Identifier variants: the same email or username written in other case,
//! with spaces around it, or in fullwidth letters must find the same account
//! and share its rate limits. A look-alike with Cyrillic letters must be a
//! different identifier that neither finds the account nor spends its
//! limits.

use chrono::NaiveDate;

use super::probe::{IdentityLookup, Prober, Reply};
use super::AttackReport;
use crate::people::{JourneyKind, Person};

/// Victims: one for lookups, one for look-alikes, one for each rate limit
/// (forgot-username, forgot-password, sign-in lockout).
pub const PEOPLE_NEEDED: u64 = 5;

/// Failed identity checks per identifier that make the next response "try
/// later".
const IDENTITY_LIMIT: usize = 5;
/// Failed password attempts that lock an account.
const LOCK_THRESHOLD: usize = 10;

/// Spellings that fold to `identifier` under trimming, NFKC and case folding.
pub fn equivalent_spellings(identifier: &str) -> Vec<(&'static str, String)> {
    vec![
        ("upper case", identifier.to_uppercase()),
        ("spaces around", format!("  {identifier}\t")),
        (
            "no-break spaces around",
            format!("\u{a0}{identifier}\u{a0}"),
        ),
        ("fullwidth", fullwidth(identifier)),
        (
            "fullwidth upper case",
            fullwidth(&identifier.to_uppercase()),
        ),
    ]
}

/// Returns `identifier` with Latin a, e, o, c and p replaced by their
/// Cyrillic look-alikes, or `None` when it has none of them.
pub fn look_alike(identifier: &str) -> Option<String> {
    let swapped: String = identifier
        .chars()
        .map(|c| match c {
            'a' => 'а',
            'e' => 'е',
            'o' => 'о',
            'c' => 'с',
            'p' => 'р',
            other => other,
        })
        .collect();
    (swapped != identifier).then_some(swapped)
}

/// Maps printable ASCII to the fullwidth forms U+FF01 to U+FF5E, which NFKC
/// maps back.
fn fullwidth(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '!'..='~' => char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap_or(c),
            other => other,
        })
        .collect()
}

pub async fn run(prober: &Prober<'_>, first_index: u64) -> anyhow::Result<AttackReport> {
    let people: Vec<Person> = (0..PEOPLE_NEEDED)
        .map(|offset| prober.person(first_index + offset, JourneyKind::SignIn))
        .collect();
    prober.enroll(&people).await?;
    let [lookups, look_alikes, username_limit, password_limit, lockout] = &people[..] else {
        unreachable!("PEOPLE_NEEDED people were built");
    };

    let mut report = AttackReport::default();
    equivalent_lookups(prober, lookups, &mut report).await?;
    look_alike_lookups(prober, look_alikes, &mut report).await?;
    shared_identity_limits(prober, username_limit, password_limit, &mut report).await?;
    shared_lockout(prober, lockout, &mut report).await?;
    Ok(report)
}

/// The two identity lookups, in the order the checks report them.
const LOOKUPS: [IdentityLookup; 2] = [
    IdentityLookup::ForgotUsername,
    IdentityLookup::ForgotPassword,
];

/// Sends `lookup` for `someone` under `identifier`, from a new address.
async fn look_up(
    prober: &Prober<'_>,
    lookup: IdentityLookup,
    identifier: &str,
    someone: &Person,
    date_of_birth: NaiveDate,
) -> anyhow::Result<Reply> {
    prober
        .look_up(
            lookup,
            identifier,
            &someone.ssn,
            date_of_birth,
            &prober.fresh_address(),
        )
        .await
}

/// Equivalent spellings find the account in every lookup.
async fn equivalent_lookups(
    prober: &Prober<'_>,
    someone: &Person,
    report: &mut AttackReport,
) -> anyhow::Result<()> {
    let mut misses = Vec::new();
    let mut tries = 0;
    for lookup in LOOKUPS {
        for (name, spelling) in equivalent_spellings(lookup.identifier(someone)) {
            let reply = look_up(prober, lookup, &spelling, someone, someone.date_of_birth).await?;
            tries += 1;
            // Forgot-username must also return this account's username.
            let found = reply.is_success()
                && (lookup != IdentityLookup::ForgotUsername
                    || reply.body.get("username").and_then(|value| value.as_str())
                        == Some(someone.username.as_str()));
            if !found {
                misses.push(format!(
                    "{} with {} in {name}: {}",
                    lookup.name(),
                    lookup.field(),
                    reply.outcome()
                ));
            }
        }
    }
    // Two sign-ins, to stay well within the code messages an account may
    // receive in an hour.
    for (name, username) in equivalent_spellings(&someone.username)
        .into_iter()
        .step_by(3)
    {
        let reply = prober
            .sign_in(&username, &someone.password, &prober.fresh_address())
            .await?;
        tries += 1;
        if !reply.is_success() {
            misses.push(format!(
                "sign_in with username in {name}: {}",
                reply.outcome()
            ));
        }
    }
    report.check(
        "equivalent spellings find the account",
        format!("all {tries} lookups with case, space and fullwidth variants succeed"),
        if misses.is_empty() {
            format!("{tries} of {tries} succeeded")
        } else {
            misses.join("; ")
        },
        misses.is_empty(),
    );
    Ok(())
}

/// Look-alikes never find the account, and their failures leave the real
/// identifier's limit untouched.
async fn look_alike_lookups(
    prober: &Prober<'_>,
    someone: &Person,
    report: &mut AttackReport,
) -> anyhow::Result<()> {
    let email = look_alike(&someone.email)
        .expect("synthetic emails end in example.*, which has an a and an e");
    let username =
        look_alike(&someone.username).unwrap_or_else(|| format!("{}а", someone.username));
    let mut found = Vec::new();
    for (lookup, identifier) in LOOKUPS.into_iter().zip([&email, &username]) {
        let reply = look_up(prober, lookup, identifier, someone, someone.date_of_birth).await?;
        if reply.outcome() != "could_not_verify" {
            found.push(format!("{}: {}", lookup.name(), reply.outcome()));
        }
    }
    let sign_in_reply = prober
        .sign_in(&username, &someone.password, &prober.fresh_address())
        .await?;
    if sign_in_reply.outcome() != "invalid_credentials" {
        found.push(format!("sign_in: {}", sign_in_reply.outcome()));
    }
    report.check(
        "look-alikes find no account",
        "could_not_verify, could_not_verify, invalid_credentials with Cyrillic look-alikes and the right details",
        if found.is_empty() {
            "as expected".to_owned()
        } else {
            found.join("; ")
        },
        found.is_empty(),
    );

    // The look-alike email has used one failure already, so spend the rest
    // of its limit.
    let forgot_username = IdentityLookup::ForgotUsername;
    for _ in 1..IDENTITY_LIMIT {
        look_up(
            prober,
            forgot_username,
            &email,
            someone,
            someone.date_of_birth,
        )
        .await?;
    }
    let real = look_up(
        prober,
        forgot_username,
        &someone.email,
        someone,
        someone.date_of_birth,
    )
    .await?;
    report.check(
        "look-alike failures spare the real email",
        format!("after {IDENTITY_LIMIT} failures with a look-alike email, the real one succeeds"),
        real.outcome(),
        real.is_success(),
    );
    Ok(())
}

/// Failures under equivalent spellings count against one identifier, so
/// varying the spelling buys no extra attempts.
async fn shared_identity_limits(
    prober: &Prober<'_>,
    username_victim: &Person,
    password_victim: &Person,
    report: &mut AttackReport,
) -> anyhow::Result<()> {
    for (lookup, victim) in LOOKUPS.into_iter().zip([username_victim, password_victim]) {
        let identifier = lookup.identifier(victim);
        let wrong_birth_date = victim.date_of_birth + chrono::Duration::days(1);
        for (_, spelling) in equivalent_spellings(identifier)
            .into_iter()
            .take(IDENTITY_LIMIT)
        {
            look_up(prober, lookup, &spelling, victim, wrong_birth_date).await?;
        }

        let after = look_up(prober, lookup, identifier, victim, victim.date_of_birth).await?;
        report.check(
            format!("{} limit shared by spellings", lookup.name()),
            format!(
                "after {IDENTITY_LIMIT} failures under {IDENTITY_LIMIT} spellings of one {}, the right details get try_later",
                lookup.field()
            ),
            after.outcome(),
            after.outcome() == "try_later",
        );
    }
    Ok(())
}

/// Wrong passwords under equivalent spellings of the username lock the one
/// account.
async fn shared_lockout(
    prober: &Prober<'_>,
    someone: &Person,
    report: &mut AttackReport,
) -> anyhow::Result<()> {
    let spellings = equivalent_spellings(&someone.username);
    for attempt in 0..LOCK_THRESHOLD {
        let (_, username) = &spellings[attempt % spellings.len()];
        prober
            .sign_in(
                username,
                &format!("not-the-password-{attempt}"),
                &prober.fresh_address(),
            )
            .await?;
    }
    let after = prober
        .sign_in(
            &someone.username,
            &someone.password,
            &prober.fresh_address(),
        )
        .await?;
    report.check(
        "sign_in lockout shared by spellings",
        format!("after {LOCK_THRESHOLD} wrong passwords under 5 spellings of one username, the right password gets try_later"),
        after.outcome(),
        after.outcome() == "try_later",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journeys::identifiers::canonical;

    #[test]
    fn equivalent_spellings_fold_to_the_identifier() {
        let identifier = "jane.doe12@example.org";
        for (name, spelling) in equivalent_spellings(identifier) {
            assert_ne!(spelling, identifier, "{name} changes the spelling");
            assert_eq!(canonical(&spelling), identifier, "{name}");
        }
    }

    #[test]
    fn look_alike_stays_apart_after_folding() {
        let identifier = "jane.doe12@example.org";
        let swapped = look_alike(identifier).expect("has an a");
        assert_ne!(canonical(&swapped), identifier);
        assert_eq!(look_alike("xyz"), None);
    }
}
