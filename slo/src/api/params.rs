//! Request parameters as Prometheus reads them: form values from the URL and a POSTed
//! `application/x-www-form-urlencoded` body, timestamps (`web/api/v1.parseTime`) and durations
//! (`parseDuration`, which takes float seconds or Prometheus durations such as `1h30m`).

/// Form values in Go's `Request.Form` order: body values first, then URL query values, so that
/// [`Form::get`] returns what Go's `FormValue` would.
#[derive(Clone, Debug, Default)]
pub struct Form {
    pairs: Vec<(String, String)>,
}

impl Form {
    /// Parses the body (when given) and then the URL query string.
    pub fn parse(query: Option<&str>, body: Option<&[u8]>) -> Result<Form, String> {
        let mut pairs = Vec::new();
        if let Some(b) = body {
            let text = std::str::from_utf8(b).map_err(|e| format!("body is not UTF-8: {e}"))?;
            decode_into(text, &mut pairs)?;
        }
        if let Some(q) = query {
            decode_into(q, &mut pairs)?;
        }
        Ok(Form { pairs })
    }

    /// The first value of `key`, if any.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The first value of `key` unless absent or empty (Go's `FormValue(key) != ""`).
    pub fn non_empty(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }

    /// Every value of `key`, in order.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Decodes `a=1&b=x+y%21` into pairs, failing like Go's `url.ParseQuery` on a bad `%` escape or a
/// `;` separator.
fn decode_into(text: &str, out: &mut Vec<(String, String)>) -> Result<(), String> {
    for part in text.split('&') {
        if part.is_empty() {
            continue;
        }
        if part.contains(';') {
            return Err("invalid semicolon separator in query".to_string());
        }
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        out.push((unescape(k)?, unescape(v)?));
    }
    Ok(())
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn unescape(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let pair = bytes.get(i + 1..i + 3);
                match pair.and_then(|p| Some(hex(p[0])? << 4 | hex(p[1])?)) {
                    Some(b) => out.push(b),
                    None => {
                        let end = (i + 3).min(bytes.len());
                        let bad = String::from_utf8_lossy(&bytes[i..end]);
                        return Err(format!("invalid URL escape {bad:?}"));
                    }
                }
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| format!("invalid UTF-8 after unescaping {s:?}"))
}

/// Prometheus's lowest and highest API timestamps as `parseTime` accepts them by name
/// (`minTimeFormatted` / `maxTimeFormatted`), which clients send for "unbounded".
const MIN_TIME_FORMATTED: &str = "-292273086-05-16T16:47:06Z";
const MAX_TIME_FORMATTED: &str = "292277025-08-18T07:12:54.999999999Z";

/// Parses an API timestamp into milliseconds since the epoch: float Unix seconds (rounded to the
/// millisecond) or RFC 3339 with optional fractional seconds.
pub fn parse_time(s: &str) -> Result<i64, String> {
    let err = || format!("cannot parse {s:?} to a valid timestamp");
    if let Some(f) = parse_go_float(s) {
        if !f.is_finite() {
            return Err(err());
        }
        let secs = f.trunc();
        let frac_ms = ((f - secs) * 1000.0).round();
        let ms = secs * 1000.0 + frac_ms;
        // Beyond ±2^63 ms the value has no millisecond timestamp.
        if ms.abs() >= 9.2e18 {
            return Err(err());
        }
        return Ok(ms as i64);
    }
    if let Some(t) = parse_rfc3339(s) {
        return Ok(t);
    }
    match s {
        MIN_TIME_FORMATTED => Ok(i64::MIN / 1000 * 1000),
        MAX_TIME_FORMATTED => Ok(i64::MAX / 1000 * 1000),
        _ => Err(err()),
    }
}

/// Go's `strconv.ParseFloat` for the decimal forms clients send; Rust's parser also takes
/// `inf`/`nan`, which Go takes too (and which `parse_time` then refuses).
fn parse_go_float(s: &str) -> Option<f64> {
    if s.is_empty() || s.contains('_') {
        return None;
    }
    s.parse::<f64>().ok()
}

fn digits(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Days from 1970-01-01 to the civil date (proleptic Gregorian), Howard Hinnant's algorithm.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A millisecond timestamp as RFC 3339 UTC, with milliseconds only when not zero:
/// `2023-11-14T22:13:20.123Z`, `1970-01-01T00:00:00Z`.
pub fn format_rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let frac = ms.rem_euclid(1000);
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    let (h, mi, s) = (sod / 3600, sod % 3600 / 60, sod % 60);
    if frac == 0 {
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    } else {
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{frac:03}Z")
    }
}

/// Civil date (year, month, day) from days since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`), the inverse of [`days_from_civil`].
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// RFC 3339 (`2006-01-02T15:04:05.999999999Z07:00`, Go's `time.RFC3339Nano` parse layout) to
/// milliseconds; fractional seconds are truncated to the millisecond as `timestamp.FromTime` does.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let year = digits(&s[0..4])?;
    let month = digits(&s[5..7])?;
    let day = digits(&s[8..10])?;
    let hour = digits(&s[11..13])?;
    let min = digits(&s[14..16])?;
    let sec = digits(&s[17..19])?;
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&month)
        || day < 1
        || day > month_days[(month - 1) as usize]
        || hour > 23
        || min > 59
        || sec > 59
    {
        return None;
    }
    let mut rest = &s[19..];
    let mut frac_ms = 0i64;
    if let Some(r) = rest.strip_prefix('.') {
        let n = r.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        let frac = &r[..n];
        let first3 = format!("{:0<3}", &frac[..n.min(3)]);
        frac_ms = digits(&first3)?;
        rest = &r[n..];
    }
    let offset_s = if rest == "Z" {
        0
    } else {
        let rb = rest.as_bytes();
        if rb.len() != 6 || rb[3] != b':' {
            return None;
        }
        let sign = match rb[0] {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let oh = digits(&rest[1..3])?;
        let om = digits(&rest[4..6])?;
        if oh > 23 || om > 59 {
            return None;
        }
        sign * (oh * 3600 + om * 60)
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + min * 60 + sec - offset_s;
    Some(secs * 1000 + frac_ms)
}

/// Parses an API duration into nanoseconds: float seconds or a Prometheus duration
/// (`[0-9]+(y|w|d|h|m|s|ms)` units, largest first, e.g. `1h30m`).
pub fn parse_duration_ns(s: &str) -> Result<i128, String> {
    if let Some(f) = parse_go_float(s) {
        let ns = f * 1e9;
        if !ns.is_finite() || ns > i64::MAX as f64 || ns < i64::MIN as f64 {
            return Err(format!(
                "cannot parse {s:?} to a valid duration. It overflows int64"
            ));
        }
        return Ok(ns as i128);
    }
    match parse_prometheus_duration_ms(s) {
        Some(ms) => Ok(i128::from(ms) * 1_000_000),
        None => Err(format!("cannot parse {s:?} to a valid duration")),
    }
}

pub use crate::duration::parse_prometheus_duration_ms;
