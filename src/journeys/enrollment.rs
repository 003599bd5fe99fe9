//! An account to enroll, as the admin API receives it, and its validation.

use chrono::{Datelike, NaiveDate};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::account::{MailingAddress, SecondFactor};
use super::identifiers::{canonical, canonical_phone};
use super::password_policy::check_new_password;
use crate::people::never_real;

pub const SECURITY_QUESTION_COUNT: usize = 3;

/// One security question with its answer.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecurityQuestion {
    pub question: String,
    #[schema(value_type = String)]
    pub answer: SecretString,
}

/// A person to enroll.
// No `Debug`: it carries the SSN, date of birth, password and answers.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Enrollment {
    pub username: String,
    #[schema(value_type = String)]
    pub password: SecretString,
    /// `9XX-XX-XXXX`: only never-issued areas are accepted.
    #[schema(value_type = String)]
    pub ssn: SecretString,
    #[schema(value_type = String, format = Date)]
    pub date_of_birth: NaiveDate,
    /// An address under example.com, example.net, example.org or `.test`.
    pub email: String,
    /// A number in the fictional 555-0100 to 555-0199 block.
    pub cell_phone: String,
    pub primary_phone: String,
    pub mailing_address: MailingAddress,
    pub second_factor: SecondFactor,
    pub security_questions: Vec<SecurityQuestion>,
}

/// An enrollment field that failed validation. The message never repeats a
/// secret value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

fn field_error(field: &str, reason: &str) -> FieldError {
    FieldError {
        field: field.to_owned(),
        reason: reason.to_owned(),
    }
}

impl Enrollment {
    /// Checks every field, including that the person cannot be real.
    pub fn validate(&self, today: NaiveDate) -> Result<(), FieldError> {
        let username = canonical(&self.username);
        if username.is_empty() || username.chars().count() > 64 {
            return Err(field_error("username", "must have 1 to 64 characters"));
        }
        if let Err(rejection) = check_new_password(self.password.expose_secret(), &self.username) {
            return Err(field_error("password", &rejection.to_string()));
        }
        if !never_real::is_never_issued_ssn(self.ssn.expose_secret()) {
            return Err(field_error(
                "ssn",
                "must be 9XX-XX-XXXX in the never-issued areas 900 to 999, with non-zero group and serial",
            ));
        }
        if self.date_of_birth >= today || self.date_of_birth.year() < 1900 {
            return Err(field_error(
                "date_of_birth",
                "must be a date between 1900-01-01 and yesterday",
            ));
        }
        if !never_real::is_reserved_email(&self.email) || self.email.len() > 254 {
            return Err(field_error(
                "email",
                "must be an address under example.com, example.net, example.org or a .test domain",
            ));
        }
        for (field, phone) in [
            ("cell_phone", &self.cell_phone),
            ("primary_phone", &self.primary_phone),
        ] {
            if !never_real::is_fictional_phone(phone) {
                return Err(field_error(
                    field,
                    "must be a ten-digit number in the fictional 555-0100 to 555-0199 block",
                ));
            }
        }
        self.validate_address()?;
        self.validate_questions()
    }

    fn validate_address(&self) -> Result<(), FieldError> {
        let address = &self.mailing_address;
        for (field, value) in [
            ("mailing_address.name", &address.name),
            ("mailing_address.line1", &address.line1),
            ("mailing_address.city", &address.city),
        ] {
            if value.trim().is_empty() || value.len() > 200 {
                return Err(field_error(field, "must have 1 to 200 characters"));
            }
        }
        if address.state.len() != 2 || !address.state.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(field_error(
                "mailing_address.state",
                "must be a two-letter state code",
            ));
        }
        if address.zip.len() != 5 || !address.zip.chars().all(|c| c.is_ascii_digit()) {
            return Err(field_error("mailing_address.zip", "must be five digits"));
        }
        Ok(())
    }

    fn validate_questions(&self) -> Result<(), FieldError> {
        if self.security_questions.len() != SECURITY_QUESTION_COUNT {
            return Err(field_error(
                "security_questions",
                "must hold exactly three questions",
            ));
        }
        for (index, item) in self.security_questions.iter().enumerate() {
            if item.question.trim().is_empty() || item.question.len() > 200 {
                return Err(field_error(
                    &format!("security_questions[{index}].question"),
                    "must have 1 to 200 characters",
                ));
            }
            let answer = item.answer.expose_secret();
            if answer.trim().is_empty() || answer.chars().count() > 200 {
                return Err(field_error(
                    &format!("security_questions[{index}].answer"),
                    "must have 1 to 200 characters",
                ));
            }
        }
        Ok(())
    }

    pub fn canonical_username(&self) -> String {
        canonical(&self.username)
    }

    pub fn canonical_email(&self) -> String {
        canonical(&self.email)
    }

    pub fn canonical_cell_phone(&self) -> String {
        canonical_phone(&self.cell_phone)
    }

    pub fn canonical_primary_phone(&self) -> String {
        canonical_phone(&self.primary_phone)
    }
}
