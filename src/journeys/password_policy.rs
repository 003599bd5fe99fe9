//! The rules a new password must meet: 12 to 128 characters of any Unicode,
//! no composition rules, and not the username, containing it, common, or the
//! current password.

use std::collections::HashSet;
use std::sync::OnceLock;

use serde::Serialize;

use super::identifiers::canonical;

pub const MIN_PASSWORD_CHARS: usize = 12;
pub const MAX_PASSWORD_CHARS: usize = 128;

/// The reason a new password was rejected, with a stable code per variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum PasswordRejection {
    #[error("the password has fewer than {MIN_PASSWORD_CHARS} characters; choose a longer one")]
    TooShort,
    #[error("the password has more than {MAX_PASSWORD_CHARS} characters; choose a shorter one")]
    TooLong,
    #[error("the password is or contains the username; choose one without it")]
    ContainsUsername,
    #[error("the password is in the list of common passwords; choose a less common one")]
    Common,
    #[error("the password equals the current password; choose a new one")]
    SameAsCurrent,
}

impl PasswordRejection {
    pub fn code(self) -> &'static str {
        match self {
            PasswordRejection::TooShort => "password_too_short",
            PasswordRejection::TooLong => "password_too_long",
            PasswordRejection::ContainsUsername => "password_contains_username",
            PasswordRejection::Common => "password_common",
            PasswordRejection::SameAsCurrent => "password_same_as_current",
        }
    }
}

/// Checks every rule that needs no hash; the caller checks "same as current"
/// by verifying the candidate against the stored hash.
pub fn check_new_password(candidate: &str, username: &str) -> Result<(), PasswordRejection> {
    let length = candidate.chars().count();
    if length < MIN_PASSWORD_CHARS {
        return Err(PasswordRejection::TooShort);
    }
    if length > MAX_PASSWORD_CHARS {
        return Err(PasswordRejection::TooLong);
    }
    let folded = canonical(candidate);
    let username = canonical(username);
    if !username.is_empty() && folded.contains(&username) {
        return Err(PasswordRejection::ContainsUsername);
    }
    if common_passwords().contains(folded.as_str()) {
        return Err(PasswordRejection::Common);
    }
    Ok(())
}

// NOTE: the built-in list is short. A deployment that needs breach-corpus
// coverage should load a larger list; the rule's code path stays the same.
fn common_passwords() -> &'static HashSet<&'static str> {
    static LIST: OnceLock<HashSet<&'static str>> = OnceLock::new();
    LIST.get_or_init(|| {
        include_str!("common_passwords.txt")
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_cases() {
        let cases = [
            ("short", "eleven char", Err(PasswordRejection::TooShort)),
            ("long", &"x".repeat(129), Err(PasswordRejection::TooLong)),
            ("exactly twelve", "twelve chars", Ok(())),
            ("exactly 128", &"y".repeat(128), Ok(())),
            (
                "unicode counts characters",
                "ééééééééééé",
                Err(PasswordRejection::TooShort),
            ),
            (
                "username inside",
                "my-Jane_Doe77-pass",
                Err(PasswordRejection::ContainsUsername),
            ),
            (
                "common, any case",
                "PassWord1234",
                Err(PasswordRejection::Common),
            ),
            ("passphrase", "purple tractor sings at dawn", Ok(())),
        ];
        for (case, candidate, expected) in cases {
            assert_eq!(
                check_new_password(candidate, "jane_doe77"),
                expected,
                "case: {case}"
            );
        }
    }
}
