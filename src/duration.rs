//! Durations as people write them in flags and scenario files: a number and
//! a unit, such as `500ms`, `0.5s`, `2m` or `1h`.

/// Parses a non-negative duration with the unit `ms`, `s`, `m` or `h` into
/// seconds. The error describes what is wrong, for the caller's message.
pub fn parse_seconds(text: &str) -> Result<f64, &'static str> {
    let text = text.trim();
    let (number, seconds_per_unit) = if let Some(number) = text.strip_suffix("ms") {
        (number, 0.001)
    } else if let Some(number) = text.strip_suffix('s') {
        (number, 1.0)
    } else if let Some(number) = text.strip_suffix('m') {
        (number, 60.0)
    } else if let Some(number) = text.strip_suffix('h') {
        (number, 3600.0)
    } else {
        return Err("has no unit");
    };
    let amount: f64 = number.trim().parse().map_err(|_| "is not a number")?;
    if !amount.is_finite() || amount < 0.0 {
        return Err("is not a non-negative number");
    }
    Ok(amount * seconds_per_unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_scale_to_seconds() {
        for (text, seconds) in [
            ("500ms", 0.5),
            ("0.5s", 0.5),
            (" 10s ", 10.0),
            ("2m", 120.0),
            ("1h", 3600.0),
            ("0ms", 0.0),
        ] {
            assert_eq!(parse_seconds(text), Ok(seconds), "{text}");
        }
    }

    #[test]
    fn bad_durations_say_why() {
        for (text, reason) in [
            ("10", "has no unit"),
            ("10 d", "has no unit"),
            ("fast s", "is not a number"),
            ("-1s", "is not a non-negative number"),
            ("infs", "is not a non-negative number"),
        ] {
            assert_eq!(parse_seconds(text), Err(reason), "{text}");
        }
    }
}
