//! Enrollment: validating, hashing and storing a batch of people.

use secrecy::ExposeSecret;

use super::{Engine, SSN_DOMAIN};
use crate::journeys::account::Account;
use crate::journeys::enrollment::{Enrollment, FieldError};
use crate::journeys::hashing::{KeyedDigest, PasswordHasherProfile};
use crate::journeys::identifiers::canonical_answer;
use crate::store::InsertSummary;

impl Engine {
    /// Validates, hashes and stores a batch of people; a batch with any
    /// invalid person is rejected whole, naming the person's position.
    pub async fn enroll(&self, people: Vec<Enrollment>) -> Result<InsertSummary, EnrollError> {
        let today = self.now().date_naive();
        for (index, person) in people.iter().enumerate() {
            person
                .validate(today)
                .map_err(|error| EnrollError::Invalid { index, error })?;
        }

        // One chunk per hashing permit, so a batch uses every core the
        // service allows for hashing and no more.
        let chunk_size = people.len().div_ceil(self.hashing_parallelism).max(1);
        let mut chunks = Vec::new();
        let mut people = people.into_iter().peekable();
        while people.peek().is_some() {
            chunks.push(people.by_ref().take(chunk_size).collect::<Vec<_>>());
        }

        let tasks = chunks.into_iter().map(|chunk| {
            let digest = self.digest.clone();
            self.run_hashing(move |hasher| {
                chunk
                    .into_iter()
                    .map(|person| account_from_enrollment(hasher, &digest, person))
                    .collect::<Vec<_>>()
            })
        });
        let mut accounts = Vec::new();
        for chunk in futures_util::future::join_all(tasks).await {
            accounts.extend(chunk.map_err(|_| EnrollError::Unavailable)?);
        }

        self.store.insert_accounts(accounts).await.map_err(|error| {
            tracing::error!(error = %error, cause = ?std::error::Error::source(&error), "enrollment insert failed");
            EnrollError::Unavailable
        })
    }
}

/// The reason an enrollment batch was rejected.
#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    #[error("person at index {index} is invalid: {error}")]
    Invalid { index: usize, error: FieldError },
    #[error("the service could not store the batch; try again shortly")]
    Unavailable,
}

fn account_from_enrollment(
    hasher: &PasswordHasherProfile,
    digest: &KeyedDigest,
    person: Enrollment,
) -> Account {
    let mut questions = Vec::with_capacity(person.security_questions.len());
    let mut answer_hashes = Vec::with_capacity(person.security_questions.len());
    for item in &person.security_questions {
        questions.push(item.question.trim().to_owned());
        answer_hashes.push(hasher.hash(&canonical_answer(item.answer.expose_secret())));
    }
    Account {
        id: 0,
        username: person.username.trim().to_owned(),
        username_key: person.canonical_username(),
        password_hash: hasher.hash(person.password.expose_secret()),
        ssn_digest: digest.digest(SSN_DOMAIN, person.ssn.expose_secret().trim()),
        date_of_birth: person.date_of_birth,
        email: person.canonical_email(),
        cell_phone: person.canonical_cell_phone(),
        primary_phone: person.canonical_primary_phone(),
        mailing_address: person.mailing_address.clone(),
        second_factor: person.second_factor,
        security_questions: questions,
        answer_hashes,
        terms_version: 0,
        locked_until: None,
        must_change_password: false,
        failures: Default::default(),
        code_messages: Default::default(),
        temporary_password: None,
    }
}
