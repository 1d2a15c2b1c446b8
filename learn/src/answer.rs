//! Reading numeric answers the way people write them, and writing expected values back.
//!
//! A duration may be compound and spaced (`43m12s`, `43 min 12 s`, `1h 30m`), fractional
//! (`43.2m`, `0.72h`, `43.2 min`), or a bare number, read as seconds (Prometheus's unit for
//! time). A ratio is a fraction (`0.001`) or a percentage (`0.1%`). A plain number may carry a
//! multiplier sign (`14.4x`, `14.4×`). Thousands separators are tolerated (`43,200`,
//! `43 200`); a comma that is not one is read as a decimal point (`0,5`).
//!
//! Every error names what could not be read, so the practice view can say it under the input.

use crate::model::Unit;

/// A numeric answer as read: its value in the unit's base (seconds, a fraction, the number)
/// and how it was understood, for echoing back (`43 min 12 s = 2592 s`).
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    /// The value in the unit's base.
    pub value: f64,
    /// What was read, in words: `2592 s (43m12s)`, `0.1% (0.001)`, `14.4`.
    pub echo: String,
}

/// Duration units with their length in seconds. Longer spellings first is not needed: a unit
/// word is matched whole.
const DURATION_UNITS: &[(&[&str], f64)] = &[
    (&["ms", "msec", "msecs", "millisecond", "milliseconds"], 0.001),
    (&["s", "sec", "secs", "second", "seconds"], 1.0),
    (&["m", "min", "mins", "minute", "minutes"], 60.0),
    (&["h", "hr", "hrs", "hour", "hours"], 3600.0),
    (&["d", "day", "days"], 86_400.0),
    (&["w", "wk", "wks", "week", "weeks"], 604_800.0),
];

/// Reads `text` as a number in `unit`.
pub fn parse(text: &str, unit: Unit) -> Result<Reading, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("type a number".to_string());
    }
    match unit {
        Unit::Duration => parse_duration(text),
        Unit::Ratio => parse_ratio(text),
        Unit::Number => parse_plain(text),
    }
}

/// Removes thousands separators (`43,200`, `43 200`, `43_200`) and turns a lone decimal comma
/// into a point.
fn normalise(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let has_point = text.contains('.');
    for (i, &c) in chars.iter().enumerate() {
        let digit_before = i > 0 && chars[i - 1].is_ascii_digit();
        if (c == ',' || c == ' ' || c == '_' || c == '\u{a0}' || c == '\u{202f}') && digit_before {
            // A separator when exactly three digits follow and then no further digit.
            let group = chars[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if group == 3 {
                continue;
            }
            if c == ',' && !has_point && group > 0 {
                out.push('.');
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// Splits a leading decimal number (with optional sign and exponent) from the rest.
fn leading_number(s: &str) -> Option<(f64, &str)> {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let digits_start = i;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
        i += 1;
    }
    if i == digits_start || !s[digits_start..i].bytes().any(|c| c.is_ascii_digit()) {
        return None;
    }
    // An exponent only when digits follow it (`1e3`, not `1e`).
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let mut j = i + 1;
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            i = j;
        }
    }
    let v: f64 = s[..i].parse().ok()?;
    v.is_finite().then_some((v, &s[i..]))
}

fn parse_duration(text: &str) -> Result<Reading, String> {
    let norm = normalise(text);
    let mut rest = norm.trim();
    if leading_number(rest).is_some_and(|(_, after)| after.trim_start().starts_with('%')) {
        return Err(format!(
            "{text:?} is a percentage; a duration is asked (such as 43m12s or 2592 s)"
        ));
    }
    let mut total = 0.0;
    let mut parts = 0;
    while !rest.is_empty() {
        let Some((v, after)) = leading_number(rest) else {
            return Err(format!(
                "cannot read {rest:?} in {text:?} as a duration: expected a number such as 43m12s, 43.2 min or 2592 s"
            ));
        };
        let after = after.trim_start();
        let word_len = after
            .chars()
            .take_while(|c| c.is_alphabetic())
            .map(char::len_utf8)
            .sum::<usize>();
        let word = &after[..word_len];
        let seconds_per = if word.is_empty() {
            if parts > 0 {
                return Err(format!(
                    "{text:?}: the number after the first part needs a unit (s, m, h, d)"
                ));
            }
            1.0
        } else {
            let lower = word.to_ascii_lowercase();
            match DURATION_UNITS
                .iter()
                .find(|(names, _)| names.contains(&lower.as_str()))
            {
                Some((_, s)) => *s,
                None => {
                    return Err(format!(
                        "{text:?}: unknown duration unit {word:?} (use ms, s, m or min, h, d, w)"
                    ));
                }
            }
        };
        total += v * seconds_per;
        parts += 1;
        rest = after[word_len..].trim_start();
        // `43m and 12s`, `43m, 12s`
        rest = rest.strip_prefix("and").map_or(rest, str::trim_start);
        rest = rest.strip_prefix(',').map_or(rest, str::trim_start);
    }
    Ok(Reading {
        value: total,
        echo: format!("{} ({})", seconds_text(total), format_duration(total)),
    })
}

fn parse_ratio(text: &str) -> Result<Reading, String> {
    let norm = normalise(text);
    let Some((v, after)) = leading_number(norm.trim()) else {
        return Err(format!("cannot read {text:?} as a ratio: write 0.001 or 0.1%"));
    };
    let after = after.trim();
    let value = match after {
        "" => v,
        "%" | "percent" | "pct" => v / 100.0,
        "‰" => v / 1000.0,
        other => {
            return Err(format!(
                "{text:?}: cannot read {other:?} after the number; write 0.001 or 0.1%"
            ));
        }
    };
    Ok(Reading {
        value,
        echo: format!("{} ({})", format_percent(value), plain(value)),
    })
}

fn parse_plain(text: &str) -> Result<Reading, String> {
    let norm = normalise(text);
    let Some((v, after)) = leading_number(norm.trim()) else {
        return Err(format!("cannot read {text:?} as a number"));
    };
    match after.trim() {
        "" | "x" | "X" | "×" | "times" => Ok(Reading {
            value: v,
            echo: plain(v),
        }),
        "%" => Err(format!(
            "{text:?} is a percentage; a plain number is asked (such as 14.4)"
        )),
        other => Err(format!("{text:?}: cannot read {other:?} after the number")),
    }
}

/// A float without noise: up to 12 significant digits, no trailing zeros (`14.4`, `0.001`).
pub fn plain(v: f64) -> String {
    if v == 0.0 {
        return "0".to_string();
    }
    if !v.is_finite() {
        // As Prometheus writes them.
        return if v.is_nan() {
            "NaN"
        } else if v > 0.0 {
            "+Inf"
        } else {
            "-Inf"
        }
        .to_string();
    }
    let digits = 12 - 1 - v.abs().log10().floor() as i32;
    let s = if (0..=20).contains(&digits) {
        format!("{v:.*}", digits as usize)
    } else if digits < 0 {
        format!("{v:.0}")
    } else {
        return format!("{v:e}");
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// `v` rounded to `digits` significant digits, without trailing zeros (`0.463`, `10`).
pub fn significant(v: f64, digits: i32) -> String {
    if v == 0.0 || !v.is_finite() {
        return plain(v);
    }
    let scale = 10f64.powi(digits - 1 - v.abs().log10().floor() as i32);
    plain((v * scale).round() / scale)
}

/// `0.001` as `0.1%`.
pub fn format_percent(ratio: f64) -> String {
    format!("{}%", plain(ratio * 100.0))
}

fn seconds_text(s: f64) -> String {
    format!("{} s", plain(s))
}

/// Seconds as people write them, readable back by [`parse`]: `43m12s`, `1d2h`, `1.5s`,
/// `250ms`; a fraction of a second beyond the millisecond is kept in the seconds.
pub fn format_duration(seconds: f64) -> String {
    if !seconds.is_finite() {
        return plain(seconds);
    }
    if seconds < 0.0 {
        return format!("-{}", format_duration(-seconds));
    }
    if seconds == 0.0 {
        return "0s".to_string();
    }
    if seconds < 1.0 {
        return format!("{}ms", plain(seconds * 1000.0));
    }
    let whole = seconds.floor();
    let frac = seconds - whole;
    let mut rest = whole as u64;
    let mut out = String::new();
    for (unit, len) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if rest >= len {
            out.push_str(&format!("{}{unit}", rest / len));
            rest %= len;
        }
    }
    if rest > 0 || frac > 1e-9 {
        out.push_str(&format!("{}s", plain(rest as f64 + frac)));
    }
    out
}

/// The expected value of a numeric answer as text a learner could have typed.
pub fn format_value(value: f64, unit: Unit) -> String {
    match unit {
        Unit::Duration => format_duration(value),
        Unit::Ratio => format_percent(value),
        Unit::Number => plain(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: &str) -> f64 {
        parse(s, Unit::Duration)
            .unwrap_or_else(|e| panic!("{s}: {e}"))
            .value
    }

    #[test]
    fn durations_in_the_forms_people_write() {
        for (text, want) in [
            ("43m12s", 2592.0),
            ("43.2 min", 2592.0),
            ("43.2m", 2592.0),
            ("2592 s", 2592.0),
            ("2592", 2592.0),
            ("2,592 s", 2592.0),
            ("0.72h", 2592.0),
            ("43 minutes 12 seconds", 2592.0),
            ("43m and 12s", 2592.0),
            ("1d", 86_400.0),
            ("1h 30m", 5400.0),
            ("250ms", 0.25),
            ("1 week", 604_800.0),
            ("43,2 min", 2592.0),
        ] {
            assert!(
                (secs(text) - want).abs() < 1e-9,
                "{text}: {} != {want}",
                secs(text)
            );
        }
    }

    #[test]
    fn unreadable_durations_say_what_could_not_be_read() {
        let err = parse("43 parsecs", Unit::Duration).unwrap_err();
        assert!(err.contains("unknown duration unit \"parsecs\""), "{err}");
        let err = parse("about an hour", Unit::Duration).unwrap_err();
        assert!(err.contains("cannot read \"about an hour\""), "{err}");
        let err = parse("0.1%", Unit::Duration).unwrap_err();
        assert!(err.contains("percentage"), "{err}");
        let err = parse("43m 12", Unit::Duration).unwrap_err();
        assert!(err.contains("needs a unit"), "{err}");
        assert_eq!(parse("   ", Unit::Duration).unwrap_err(), "type a number");
    }

    #[test]
    fn ratios_and_plain_numbers() {
        let r = parse("0.1%", Unit::Ratio).unwrap();
        assert!((r.value - 0.001).abs() < 1e-15);
        assert_eq!(r.echo, "0.1% (0.001)");
        assert!((parse("0.001", Unit::Ratio).unwrap().value - 0.001).abs() < 1e-15);
        assert!((parse("99.9 %", Unit::Ratio).unwrap().value - 0.999).abs() < 1e-12);
        assert!(
            parse("0.1 apples", Unit::Ratio)
                .unwrap_err()
                .contains("\"apples\"")
        );
        for text in ["14.4", "14.4x", "14.4 ×", " 14,4 "] {
            assert!(
                (parse(text, Unit::Number).unwrap().value - 14.4).abs() < 1e-12,
                "{text}"
            );
        }
        assert_eq!(parse("43,200", Unit::Number).unwrap().value, 43_200.0);
        assert_eq!(parse("1 000 000", Unit::Number).unwrap().value, 1e6);
        assert!(parse("1e3", Unit::Number).unwrap().value == 1000.0);
    }

    #[test]
    fn formatted_values_read_back() {
        for (v, unit, text) in [
            (2592.0, Unit::Duration, "43m12s"),
            (90_061.5, Unit::Duration, "1d1h1m1.5s"),
            (0.25, Unit::Duration, "250ms"),
            (0.001, Unit::Ratio, "0.1%"),
            (14.4, Unit::Number, "14.4"),
            (1.0 / 3.0, Unit::Number, "0.333333333333"),
        ] {
            assert_eq!(format_value(v, unit), text);
            let back = parse(text, unit).unwrap().value;
            assert!((back - v).abs() <= 1e-9 * v.abs(), "{text}");
        }
    }
}
