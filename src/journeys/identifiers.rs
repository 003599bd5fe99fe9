//! Canonical forms of identifiers and security answers.
//!
//! Emails, usernames and addresses are compared and rate-limited in one
//! canonical form: trimmed, NFKC-normalised and case-folded. Folding stops
//! there, so a look-alike such as a Cyrillic `а` in place of a Latin `a` stays
//! a different identifier.

use unicode_normalization::UnicodeNormalization;

/// Returns the canonical form of an email address, username or address line.
pub fn canonical(identifier: &str) -> String {
    let normalized: String = identifier.trim().nfkc().collect();
    caseless::default_case_fold_str(&normalized)
}

/// Returns the canonical form of a security answer: canonical, with every run
/// of inner whitespace collapsed to one space.
pub fn canonical_answer(answer: &str) -> String {
    collapse_whitespace(&canonical(answer))
}

/// Returns an address line in canonical form with inner whitespace collapsed.
pub fn canonical_address_line(line: &str) -> String {
    collapse_whitespace(&canonical(line))
}

/// Returns the digits of a phone number, dropping a leading US country code.
pub fn canonical_phone(phone: &str) -> String {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    match digits.strip_prefix('1') {
        Some(national) if digits.len() == 11 => national.to_owned(),
        _ => digits,
    }
}

fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_folds_case_width_and_spaces() {
        assert_eq!(canonical("  Jane.Doe@Example.ORG "), "jane.doe@example.org");
        assert_eq!(
            canonical("ＪＡＮＥ"),
            "jane",
            "fullwidth letters fold under NFKC"
        );
        assert_eq!(
            canonical("STRASSE"),
            canonical("straße"),
            "full case folding"
        );
    }

    #[test]
    fn canonical_keeps_lookalikes_apart() {
        // Cyrillic small a (U+0430) looks like Latin a but is another letter.
        assert_ne!(canonical("j\u{0430}ne"), canonical("jane"));
    }

    #[test]
    fn canonical_answer_collapses_inner_whitespace() {
        assert_eq!(canonical_answer("  Blue \t  WHALE "), "blue whale");
    }

    #[test]
    fn canonical_phone_drops_country_code() {
        assert_eq!(canonical_phone("+1 (555) 555-0142"), "5555550142");
        assert_eq!(canonical_phone("555.555.0142"), "5555550142");
    }
}
