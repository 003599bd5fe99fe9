//! Checks that a value can never belong to a real person: SSN areas 900 to
//! 999 are never issued, 555-0100 to 555-0199 is the fictional phone block,
//! and example.com, example.net, example.org and `.test` are reserved
//! domains (RFC 2606). Enrollment rejects anything else, so the reference
//! service cannot hold a real person's data by mistake.

use crate::journeys::identifiers::canonical_phone;

const RESERVED_EMAIL_DOMAINS: [&str; 3] = ["example.com", "example.net", "example.org"];

/// Returns whether `ssn` is `9XX-XX-XXXX` with a non-zero group and serial.
pub fn is_never_issued_ssn(ssn: &str) -> bool {
    let bytes = ssn.as_bytes();
    let shape_ok = bytes.len() == 11
        && bytes[3] == b'-'
        && bytes[6] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 3 || i == 6 || b.is_ascii_digit());
    shape_ok && bytes[0] == b'9' && &ssn[4..6] != "00" && &ssn[7..11] != "0000"
}

/// Returns whether `phone` is a ten-digit number in the 555-0100 to 555-0199 block.
pub fn is_fictional_phone(phone: &str) -> bool {
    let digits = canonical_phone(phone);
    digits.len() == 10 && &digits[3..6] == "555" && &digits[6..8] == "01"
}

/// Returns whether `email` is an address under a reserved domain.
pub fn is_reserved_email(email: &str) -> bool {
    let Some((local, domain)) = email.trim().rsplit_once('@') else {
        return false;
    };
    let domain = domain.to_ascii_lowercase();
    let reserved = RESERVED_EMAIL_DOMAINS
        .iter()
        .any(|reserved| domain == *reserved || domain.ends_with(&format!(".{reserved}")))
        || domain.ends_with(".test");
    !local.is_empty() && !local.contains('@') && reserved
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssn_area_must_be_never_issued() {
        assert!(is_never_issued_ssn("900-12-3456"));
        assert!(is_never_issued_ssn("999-99-9999"));
        assert!(!is_never_issued_ssn("123-45-6789"));
        assert!(!is_never_issued_ssn("900-00-3456"));
        assert!(!is_never_issued_ssn("900-12-0000"));
        assert!(!is_never_issued_ssn("900123456"));
    }

    #[test]
    fn phone_must_be_in_fictional_block() {
        assert!(is_fictional_phone("+1 202-555-0100"));
        assert!(is_fictional_phone("(202) 555-0199"));
        assert!(!is_fictional_phone("202-555-0200"));
        assert!(!is_fictional_phone("202-867-5309"));
    }

    #[test]
    fn email_must_use_reserved_domain() {
        assert!(is_reserved_email("jane@example.org"));
        assert!(is_reserved_email("jane@mail.example.com"));
        assert!(is_reserved_email("jane@agency.test"));
        assert!(!is_reserved_email("jane@gmail.com"));
        assert!(!is_reserved_email("jane@example.org.evil.com"));
        assert!(!is_reserved_email("@example.org"));
    }
}
