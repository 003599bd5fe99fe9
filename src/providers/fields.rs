//! Checks on the request fields that every provider shares.

use axum::http::HeaderMap;

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

/// Returns the idempotency key in header `name`, or `None` without one, or a
/// message naming the header and the fix when it is not 1 to 128 visible ASCII
/// characters.
pub(crate) fn idempotency_header(
    headers: &HeaderMap,
    name: &str,
) -> Result<Option<String>, String> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(format!("send the `{name}` header once"));
    }
    let key = value.as_bytes();
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_CHARS {
        return Err(format!(
            "the `{name}` header must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} characters long, got {}; \
             send a shorter key or omit the header",
            key.len()
        ));
    }
    if !key.iter().all(|byte| byte.is_ascii_graphic()) {
        return Err(format!(
            "the `{name}` header must contain only visible ASCII characters, without spaces or control characters"
        ));
    }
    Ok(Some(String::from_utf8_lossy(key).into_owned()))
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

/// Returns the trimmed ZIP code, or rejects one that is not exactly five digits.
pub(crate) fn check_zip(field: &str, zip: &str) -> Result<String, Problem> {
    let zip = zip.trim();
    if zip.len() != 5 || !zip.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(Problem::invalid_request(format!(
            "`{field}` must be a five-digit ZIP code, such as 94105"
        )));
    }
    Ok(zip.to_owned())
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

    fn headers(values: &[&[u8]]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            let value = axum::http::HeaderValue::from_bytes(value).expect("a valid header value");
            headers.append("idempotency-key", value);
        }
        headers
    }

    #[test]
    fn idempotency_header_accepts_visible_ascii() {
        assert_eq!(
            idempotency_header(&headers(&[]), "Idempotency-Key"),
            Ok(None)
        );
        let long = "k".repeat(MAX_IDEMPOTENCY_KEY_CHARS);
        for key in ["a", "reset:42/attempt-1~!", long.as_str()] {
            let found = idempotency_header(&headers(&[key.as_bytes()]), "Idempotency-Key");
            assert_eq!(found, Ok(Some(key.to_owned())), "{key}");
        }
    }

    #[test]
    fn idempotency_header_rejects_bad_keys() {
        let too_long = "k".repeat(MAX_IDEMPOTENCY_KEY_CHARS + 1);
        let cases: [&[&[u8]]; 5] = [
            &[b""],
            &[b"has space"],
            &["ключ".as_bytes()],
            &[too_long.as_bytes()],
            &[b"one", b"two"],
        ];
        for values in cases {
            let error =
                idempotency_header(&headers(values), "Idempotency-Key").expect_err("rejected");
            assert!(error.contains("`Idempotency-Key`"), "{error}");
        }
    }

    #[test]
    fn blank_fields_rejected() {
        assert!(check_not_blank("name", "Jane").is_ok());
        assert!(check_not_blank("name", "").is_err());
        assert!(check_not_blank("name", " \t ").is_err());
    }
}
