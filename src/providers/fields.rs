//! Checks on the request fields that every provider shares.

use super::problem::Problem;

/// Maximum size of a message or letter text, in bytes of UTF-8.
pub const MAX_TEXT_BYTES: usize = 16 * 1024;

/// Maximum length of an idempotency key, in characters.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 128;

/// Rejects a `text` field longer than [`MAX_TEXT_BYTES`].
pub(crate) fn check_text(text: &str) -> Result<(), Problem> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(Problem::invalid_request(format!(
            "`text` is {} bytes long, more than the limit of {MAX_TEXT_BYTES} bytes; shorten the text",
            text.len()
        )));
    }
    Ok(())
}

/// Rejects an idempotency key that is not 1 to 128 visible ASCII characters.
pub(crate) fn check_idempotency_key(key: Option<&str>) -> Result<(), Problem> {
    let Some(key) = key else {
        return Ok(());
    };
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_CHARS {
        return Err(Problem::invalid_request(format!(
            "`idempotency_key` must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} characters long, got {}; \
             send a shorter key or omit the field",
            key.chars().count()
        )));
    }
    if !key.bytes().all(|byte| byte.is_ascii_graphic()) {
        return Err(Problem::invalid_request(
            "`idempotency_key` must contain only visible ASCII characters, without spaces or control characters",
        ));
    }
    Ok(())
}

/// Rejects a required text field that is empty after trimming.
pub(crate) fn check_not_blank(field: &str, value: &str) -> Result<(), Problem> {
    if value.trim().is_empty() {
        return Err(Problem::invalid_request(format!(
            "`{field}` must not be empty"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_limit_is_inclusive() {
        assert!(check_text(&"a".repeat(MAX_TEXT_BYTES)).is_ok());
        assert!(check_text(&"a".repeat(MAX_TEXT_BYTES + 1)).is_err());
    }

    #[test]
    fn text_limit_counts_bytes() {
        // 'é' is two bytes in UTF-8.
        let text = "é".repeat(MAX_TEXT_BYTES / 2 + 1);
        assert!(check_text(&text).is_err());
    }

    #[test]
    fn idempotency_key_accepts_visible_ascii() {
        assert!(check_idempotency_key(None).is_ok());
        assert!(check_idempotency_key(Some("a")).is_ok());
        assert!(check_idempotency_key(Some("reset:42/attempt-1~!")).is_ok());
        assert!(check_idempotency_key(Some(&"k".repeat(MAX_IDEMPOTENCY_KEY_CHARS))).is_ok());
    }

    #[test]
    fn idempotency_key_rejects_bad_keys() {
        let too_long = "k".repeat(MAX_IDEMPOTENCY_KEY_CHARS + 1);
        for key in [
            "",
            "has space",
            "tab\there",
            "ключ",
            "line\nbreak",
            too_long.as_str(),
        ] {
            let problem = check_idempotency_key(Some(key)).expect_err(key);
            assert_eq!(problem.code(), "invalid_request", "{key:?}");
        }
    }

    #[test]
    fn blank_fields_rejected() {
        assert!(check_not_blank("name", "Jane").is_ok());
        assert!(check_not_blank("name", "").is_err());
        assert!(check_not_blank("name", " \t ").is_err());
    }
}
