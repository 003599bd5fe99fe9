//! The secrets a run generated or received, by kind.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use crate::people::{JourneyMix, Person};

/// A kind of secret that must never appear in a log line, report or metric label.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SecretKind {
    Ssn,
    DateOfBirth,
    /// A person's password, before or after a journey changed it.
    Password,
    /// An answer to a security question.
    Answer,
    /// A one-time code the harness read from an inbox.
    Code,
    /// A temporary password the harness read from an email or a letter.
    TemporaryPassword,
}

impl SecretKind {
    pub const ALL: [SecretKind; 6] = [
        SecretKind::Ssn,
        SecretKind::DateOfBirth,
        SecretKind::Password,
        SecretKind::Answer,
        SecretKind::Code,
        SecretKind::TemporaryPassword,
    ];

    /// Returns the kind's name as report.json spells it.
    pub fn name(self) -> &'static str {
        match self {
            SecretKind::Ssn => "ssn",
            SecretKind::DateOfBirth => "date_of_birth",
            SecretKind::Password => "password",
            SecretKind::Answer => "answer",
            SecretKind::Code => "code",
            SecretKind::TemporaryPassword => "temporary_password",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Every secret of one run, stored once per value in its canonical form:
/// SSNs as `9XX-XX-XXXX` and dates of birth as `YYYY-MM-DD`. The scanner
/// derives the other renderings it matches.
///
/// Load users add to it from many tasks at once; each kind has its own lock,
/// held only for one insert.
#[derive(Default)]
pub struct SecretBook {
    kinds: [Mutex<HashSet<String>>; SecretKind::ALL.len()],
}

impl SecretBook {
    /// Adds one secret. Empty strings are ignored, as they match everywhere.
    pub fn add(&self, kind: SecretKind, secret: &str) {
        if secret.is_empty() {
            return;
        }
        let mut secrets = self.kinds[kind.index()]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !secrets.contains(secret) {
            secrets.insert(secret.to_owned());
        }
    }

    /// Adds a one-time code the harness received.
    pub fn add_code(&self, code: &str) {
        self.add(SecretKind::Code, code);
    }

    /// Adds a temporary password the harness received.
    pub fn add_temporary_password(&self, password: &str) {
        self.add(SecretKind::TemporaryPassword, password);
    }

    /// Adds a person's SSN, date of birth, password, new password and answers.
    pub fn add_person(&self, person: &Person) {
        self.add(SecretKind::Ssn, &person.ssn);
        self.add(
            SecretKind::DateOfBirth,
            &person.date_of_birth.format("%Y-%m-%d").to_string(),
        );
        self.add(SecretKind::Password, &person.password);
        self.add(SecretKind::Password, &person.new_password);
        for question in &person.security_questions {
            self.add(SecretKind::Answer, &question.answer);
        }
    }

    /// Adds every person of a population: indexes `first_index` to
    /// `first_index + people - 1` of `seed`, rebuilt one at a time.
    pub fn add_population(&self, seed: u64, first_index: u64, people: u64, mix: &JourneyMix) {
        for index in first_index..first_index.saturating_add(people) {
            self.add_person(&crate::people::person(seed, index, mix));
        }
    }

    /// Returns how many distinct secrets of each kind the book holds.
    pub fn counts(&self) -> BTreeMap<SecretKind, u64> {
        SecretKind::ALL
            .into_iter()
            .map(|kind| (kind, self.with_kind(kind, |secrets| secrets.len() as u64)))
            .collect()
    }

    /// Calls `read` with the secrets of `kind`, under that kind's lock.
    pub(super) fn with_kind<T>(
        &self,
        kind: SecretKind,
        read: impl FnOnce(&HashSet<String>) -> T,
    ) -> T {
        let secrets = self.kinds[kind.index()]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        read(&secrets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn person_adds_each_kind_once_per_value() {
        let book = SecretBook::default();
        let someone = crate::people::person(1, 0, &JourneyMix::new([1; 5]));
        book.add_person(&someone);
        book.add_person(&someone);
        let counts = book.counts();
        assert_eq!(counts[&SecretKind::Ssn], 1);
        assert_eq!(counts[&SecretKind::DateOfBirth], 1);
        assert_eq!(
            counts[&SecretKind::Password],
            2,
            "password and new password"
        );
        assert!(counts[&SecretKind::Answer] >= 1);
        assert_eq!(counts[&SecretKind::Code], 0);
    }

    #[test]
    fn empty_secret_is_ignored() {
        let book = SecretBook::default();
        book.add_code("");
        assert_eq!(book.counts()[&SecretKind::Code], 0);
    }
}
