//! One synthetic person, rebuilt from (seed, index) by any process.

use chrono::NaiveDate;
use fake::faker::address::en::{CityName, StateAbbr, StreetName, StreetSuffix};
use fake::faker::name::en::{FirstName, LastName};
use fake::Fake;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::journey_kind::{JourneyKind, JourneyMix};
use crate::journeys::account::{MailingAddress, SecondFactor};

/// Never-issued SSN areas 900 to 999, each with groups 01 to 99 and serials
/// 0001 to 9999: 98,990,100 distinct numbers. A population can hold at most
/// this many people, because the service enrolls one account per SSN.
pub const SSN_SPACE: u64 = 100 * 99 * 9999;
/// Area codes 200 to 999 with the fictional 555-0100 to 555-0199 block:
/// 80,000 numbers, so people 80,000 indexes apart share a handset.
pub const PHONE_SPACE: u64 = 800 * 100;

const QUESTIONS: [&str; 6] = [
    "What was the name of your first pet?",
    "In what city did your parents meet?",
    "What was the make of your first car?",
    "What was your childhood nickname?",
    "What street did you grow up on?",
    "What was the name of your first school?",
];

/// A synthetic person: identity, secrets and the journey they need. Every
/// value is one that cannot belong to a real person.
#[derive(Clone, Serialize)]
pub struct Person {
    pub index: u64,
    pub journey: JourneyKind,
    pub first_name: String,
    pub last_name: String,
    pub username: String,
    pub password: String,
    /// `9XX-XX-XXXX`, in the never-issued areas.
    pub ssn: String,
    pub date_of_birth: NaiveDate,
    pub email: String,
    /// Ten digits in the fictional 555-0100 to 555-0199 block.
    pub cell_phone: String,
    pub primary_phone: String,
    pub mailing_address: MailingAddress,
    pub second_factor: SecondFactor,
    pub security_questions: Vec<QuestionAnswer>,
    /// A stable client address in the benchmarking range 198.18.0.0/15, sent
    /// as a header value only.
    pub client_address: String,
    /// The password this person chooses when a journey requires a new one.
    pub new_password: String,
}

#[derive(Clone, Serialize)]
pub struct QuestionAnswer {
    pub question: String,
    pub answer: String,
}

impl std::fmt::Debug for Person {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Person")
            .field("index", &self.index)
            .field("journey", &self.journey)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Builds person `index` of the population of `seed` with `mix`.
pub fn person(seed: u64, index: u64, mix: &JourneyMix) -> Person {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index);
    let journey = mix.kind_of(index);

    let first_name: String = FirstName().fake_with_rng(&mut rng);
    let last_name: String = LastName().fake_with_rng(&mut rng);
    let username = format!(
        "{}.{}{}",
        ascii_lower(&first_name),
        ascii_lower(&last_name),
        index
    );
    let domain = ["example.com", "example.net", "example.org"][(index % 3) as usize];
    let email = format!("{username}@{domain}");

    // Offsets derived from the seed spread populations of different seeds
    // over the spaces while keeping indexes within one population distinct.
    let ssn = ssn_for((index + seed.wrapping_mul(7919)) % SSN_SPACE);
    let cell_phone = phone_for((index + seed) % PHONE_SPACE);
    let primary_phone = phone_for((index + seed + PHONE_SPACE / 2) % PHONE_SPACE);

    let year = rng.random_range(1940..=2005);
    let date_of_birth = NaiveDate::from_yo_opt(year, rng.random_range(1..=365))
        .expect("day 1 to 365 exists every year");

    let street: String = StreetName().fake_with_rng(&mut rng);
    let suffix: String = StreetSuffix().fake_with_rng(&mut rng);
    let mailing_address = MailingAddress {
        name: format!("{first_name} {last_name}"),
        line1: format!("{} {street} {suffix}", 100 + index),
        line2: None,
        city: CityName().fake_with_rng(&mut rng),
        state: StateAbbr().fake_with_rng(&mut rng),
        zip: format!("{:05}", rng.random_range(10_000..99_999)),
    };

    let second_factor = match journey {
        JourneyKind::TempPasswordPostal => SecondFactor::Email,
        JourneyKind::TempPasswordEmail => SecondFactor::Sms,
        _ if rng.random_bool(0.5) => SecondFactor::Email,
        _ => SecondFactor::Sms,
    };

    let first_question = rng.random_range(0..QUESTIONS.len());
    let security_questions = (0..3)
        .map(|offset| {
            let answer_first: String = FirstName().fake_with_rng(&mut rng);
            let answer_last: String = LastName().fake_with_rng(&mut rng);
            QuestionAnswer {
                question: QUESTIONS[(first_question + offset * 2) % QUESTIONS.len()].to_owned(),
                answer: format!("{answer_first} {answer_last}"),
            }
        })
        .collect();

    Person {
        index,
        journey,
        password: passphrase(&mut rng),
        new_password: passphrase(&mut rng),
        first_name,
        last_name,
        username,
        ssn,
        date_of_birth,
        email,
        cell_phone,
        primary_phone,
        mailing_address,
        second_factor,
        security_questions,
        client_address: client_address_for(index),
    }
}

fn ascii_lower(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphabetic)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn ssn_for(slot: u64) -> String {
    let serial = slot % 9999 + 1;
    let group = (slot / 9999) % 99 + 1;
    let area = 900 + slot / (9999 * 99);
    format!("{area:03}-{group:02}-{serial:04}")
}

fn phone_for(slot: u64) -> String {
    let area_code = 200 + slot / 100;
    let line = 100 + slot % 100;
    format!("{area_code}5550{line}")
}

fn client_address_for(index: u64) -> String {
    let host = index % (1 << 17);
    format!(
        "198.{}.{}.{}",
        18 + (host >> 16),
        (host >> 8) & 0xff,
        host & 0xff
    )
}

/// Generates a random 20-character password, long enough for the policy and never common.
fn passphrase(rng: &mut ChaCha8Rng) -> String {
    const LETTERS: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    (0..20)
        .map(|_| char::from(LETTERS[rng.random_range(0..LETTERS.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::people::never_real;

    fn mix() -> JourneyMix {
        JourneyMix::new([3, 1, 2, 1, 1])
    }

    #[test]
    fn same_seed_and_index_rebuild_the_same_person() {
        let first = serde_json::to_string(&person(7, 12, &mix())).unwrap();
        let again = serde_json::to_string(&person(7, 12, &mix())).unwrap();
        assert_eq!(first, again);
        let other_seed = serde_json::to_string(&person(8, 12, &mix())).unwrap();
        assert_ne!(first, other_seed);
    }

    #[test]
    fn people_carry_only_never_real_values() {
        for index in 0..2000 {
            let someone = person(3, index, &mix());
            assert!(
                never_real::is_never_issued_ssn(&someone.ssn),
                "ssn of {index}"
            );
            assert!(
                never_real::is_fictional_phone(&someone.cell_phone),
                "cell of {index}"
            );
            assert!(
                never_real::is_fictional_phone(&someone.primary_phone),
                "primary of {index}"
            );
            assert!(
                never_real::is_reserved_email(&someone.email),
                "email of {index}"
            );
            assert!(
                someone.client_address.starts_with("198.18.")
                    || someone.client_address.starts_with("198.19.")
            );
        }
    }

    #[test]
    fn identifiers_are_distinct_within_a_population() {
        let mut ssns = std::collections::HashSet::new();
        let mut phones = std::collections::HashSet::new();
        for index in 0..5000 {
            let someone = person(1, index, &mix());
            assert!(ssns.insert(someone.ssn.clone()), "duplicate ssn at {index}");
            assert!(
                phones.insert(someone.cell_phone.clone()),
                "duplicate cell phone at {index}"
            );
        }
    }

    #[test]
    fn temporary_password_kinds_get_the_matching_second_factor() {
        for index in 0..100 {
            let someone = person(5, index, &mix());
            match someone.journey {
                JourneyKind::TempPasswordPostal => {
                    assert_eq!(someone.second_factor, SecondFactor::Email)
                }
                JourneyKind::TempPasswordEmail => {
                    assert_eq!(someone.second_factor, SecondFactor::Sms)
                }
                _ => {}
            }
        }
    }
}
