//! How Go, and so Prometheus and the OpenTelemetry Collector, write a float64: the one home of
//! that compatibility rule for every burnwatch crate.
//!
//! - [`write_f`], [`write_e`], [`write_g`]: Go's `strconv.FormatFloat(v, 'f' | 'e' | 'g', -1, 64)`,
//!   the shortest digits that read back as `v`. `'g'` switches to exponent form below 1e-4 and
//!   from 1e6 on (`1e+06`), which is also what `fmt`'s `%g` and `%v` print.
//! - [`write_exposition`]: a sample value in the Prometheus text format (client_golang's
//!   `writeFloat`: `'g'`, and `0` for negative zero).
//! - [`write_openmetrics`]: Prometheus's `FormatOpenMetricsFloat` (`'g'` with `.0` appended to a
//!   whole number: `1.0`, `100000.0`, `1e+06`), the OpenMetrics exposition's numbers and the form
//!   Prometheus 3 stores `le` and `quantile` label values in; [`normalize_float_label`] applies it
//!   to a label value as Prometheus 3's scrape does.
//! - [`write_api_value`]: a sample value in Prometheus's HTTP API JSON (`'f'`, or `'e'` outside
//!   `[1e-6, 1e21)`); [`write_json_float`]: Go's `encoding/json` float64 (also the OTel
//!   Collector's string form of a double attribute), the same with `e-7` for `e-07`.
//!
//! Every form writes `NaN`, `+Inf` and `-Inf` for the non-finite values, as Go does.
//!
//! The digits come from `ryu`, which, like Go's `strconv`, picks the shortest digits that round
//! trip and, between two equally near candidates, the even one: `-1125877809678695.25` is
//! `-1125877809678695.2` in Go and here. Rust's own `{}` and `{:e}` round such ties up
//! (`…695.3`), so they are not a Go formatter.
//!
//! ```
//! assert_eq!(burnwatch_gofmt::format_g(1e6), "1e+06");
//! assert_eq!(burnwatch_gofmt::format_f(1e6), "1000000");
//! assert_eq!(burnwatch_gofmt::format_openmetrics(1.0), "1.0");
//! assert_eq!(burnwatch_gofmt::normalize_float_label("1"), "1.0");
//! let mut out = String::from("v=");
//! burnwatch_gofmt::write_api_value(&mut out, 1e-7);
//! assert_eq!(out, "v=1e-07");
//! ```

use std::borrow::Cow;

/// Where formatted text goes: a `String` or a byte buffer. Everything written is ASCII.
pub trait Sink {
    /// Appends ASCII text.
    fn put_str(&mut self, s: &str);
    /// Appends ASCII bytes (digits).
    fn put_bytes(&mut self, b: &[u8]);
    /// Appends one ASCII byte.
    fn put_byte(&mut self, b: u8);
}

impl Sink for String {
    fn put_str(&mut self, s: &str) {
        self.push_str(s);
    }
    fn put_bytes(&mut self, b: &[u8]) {
        // Only ASCII digits come here: a few are cheaper pushed one by one than validated.
        if b.len() <= 8 {
            for &c in b {
                self.push(char::from(c));
            }
        } else {
            self.push_str(std::str::from_utf8(b).unwrap_or_default());
        }
    }
    fn put_byte(&mut self, b: u8) {
        self.push(char::from(b));
    }
}

impl Sink for Vec<u8> {
    fn put_str(&mut self, s: &str) {
        self.extend_from_slice(s.as_bytes());
    }
    fn put_bytes(&mut self, b: &[u8]) {
        self.extend_from_slice(b);
    }
    fn put_byte(&mut self, b: u8) {
        self.push(b);
    }
}

/// The shortest round-trip decimal digits of `|v|`, as Go's `decimalSlice`: `|v| = 0.d[..nd] ×
/// 10^dp`, no leading or trailing zeros; `nd == 0` for zero.
struct Digits {
    d: [u8; 24],
    nd: usize,
    dp: i32,
}

impl Digits {
    fn of(abs: f64) -> Digits {
        let mut out = Digits {
            d: [0; 24],
            nd: 0,
            dp: 0,
        };
        if abs == 0.0 {
            return out;
        }
        if abs.fract() == 0.0 && abs < 1e15 {
            // Whole numbers below 2^53 are exact and their neighbours a whole unit away, so their
            // shortest digits are their own: counters skip ryu.
            let mut buf = itoa::Buffer::new();
            let s = buf.format(abs as u64).as_bytes();
            out.d[..s.len()].copy_from_slice(s);
            out.nd = s.len();
            out.dp = s.len() as i32;
            while out.nd > 0 && out.d[out.nd - 1] == b'0' {
                out.nd -= 1;
            }
            return out;
        }
        let mut buf = ryu::Buffer::new();
        // ryu's layouts are "123.45", "0.0001", "1e16" and "1.5e-7"; only the digits, the point
        // and the exponent are read from them.
        let s = buf.format_finite(abs).as_bytes();
        let (mantissa, exp) = match s.iter().position(|&b| b == b'e') {
            Some(i) => (&s[..i], parse_exp(&s[i + 1..])),
            None => (s, 0),
        };
        let mut point = None;
        let mut seen = 0i32;
        for &b in mantissa {
            if b == b'.' {
                point = Some(seen);
                continue;
            }
            seen += 1;
            if out.nd == 0 && b == b'0' {
                // A leading zero moves the point left by one place.
                out.dp -= 1;
            } else if out.nd < out.d.len() {
                out.d[out.nd] = b;
                out.nd += 1;
            }
        }
        out.dp += point.unwrap_or(seen) + exp;
        while out.nd > 0 && out.d[out.nd - 1] == b'0' {
            out.nd -= 1;
        }
        out
    }

    fn bytes(&self, range: std::ops::Range<usize>) -> &[u8] {
        &self.d[range]
    }

    /// Whether Go's shortest `'g'` writes these digits in exponent form.
    fn g_uses_exponent(&self) -> bool {
        let exp = self.dp - 1;
        // Go: `eprec = 6` for the shortest form, and zero (nd == 0, dp == 0) stays in 'f' form.
        self.nd > 0 && !(-4..6).contains(&exp)
    }
}

fn parse_exp(b: &[u8]) -> i32 {
    let (neg, digits) = match b.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, b),
    };
    let mut x = 0i32;
    for &c in digits {
        x = x * 10 + i32::from(c - b'0');
    }
    if neg { -x } else { x }
}

/// `NaN`, `+Inf` or `-Inf` for a non-finite value.
fn special(v: f64) -> Option<&'static str> {
    if v.is_nan() {
        Some("NaN")
    } else if v.is_infinite() {
        Some(if v > 0.0 { "+Inf" } else { "-Inf" })
    } else {
        None
    }
}

/// Go's `fmtE` with the shortest precision.
fn put_e<S: Sink>(out: &mut S, neg: bool, d: &Digits) {
    if neg {
        out.put_byte(b'-');
    }
    out.put_byte(if d.nd == 0 { b'0' } else { d.d[0] });
    if d.nd > 1 {
        out.put_byte(b'.');
        out.put_bytes(d.bytes(1..d.nd));
    }
    let x = if d.nd == 0 { 0 } else { d.dp - 1 };
    out.put_str(if x < 0 { "e-" } else { "e+" });
    if x.abs() < 10 {
        out.put_byte(b'0');
    }
    out.put_str(itoa::Buffer::new().format(x.unsigned_abs()));
}

/// Go's `fmtF` with the shortest precision (`max(nd - dp, 0)` decimals), written a slice at a
/// time.
fn put_f<S: Sink>(out: &mut S, neg: bool, d: &Digits) {
    if neg {
        out.put_byte(b'-');
    }
    if d.dp <= 0 {
        // 0.000ddd
        out.put_str("0");
        if d.nd > 0 {
            out.put_byte(b'.');
            put_zeros(out, (-d.dp) as usize);
            out.put_bytes(d.bytes(0..d.nd));
        }
    } else if d.dp as usize >= d.nd {
        // ddd000
        out.put_bytes(d.bytes(0..d.nd));
        put_zeros(out, d.dp as usize - d.nd);
    } else {
        // dd.ddd
        let dp = d.dp as usize;
        out.put_bytes(d.bytes(0..dp));
        out.put_byte(b'.');
        out.put_bytes(d.bytes(dp..d.nd));
    }
}

fn put_zeros<S: Sink>(out: &mut S, mut n: usize) {
    const ZEROS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
    while n > 0 {
        let k = n.min(ZEROS.len());
        out.put_str(&ZEROS[..k]);
        n -= k;
    }
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`: `1000000`, `0.0000001`, `-0`.
pub fn write_f<S: Sink>(out: &mut S, v: f64) {
    match special(v) {
        Some(s) => out.put_str(s),
        None => put_f(out, v.is_sign_negative(), &Digits::of(v.abs())),
    }
}

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)`: `1e+06`, `1.5e-07`, `0e+00`.
pub fn write_e<S: Sink>(out: &mut S, v: f64) {
    match special(v) {
        Some(s) => out.put_str(s),
        None => put_e(out, v.is_sign_negative(), &Digits::of(v.abs())),
    }
}

/// Go's `strconv.FormatFloat(v, 'g', -1, 64)`, also `fmt`'s `%g` and `%v`: exponent form when
/// the decimal exponent is below -4 or at least 6 (`0.0001`, `1e-05`, `123456`, `1e+06`).
pub fn write_g<S: Sink>(out: &mut S, v: f64) {
    if let Some(s) = special(v) {
        out.put_str(s);
        return;
    }
    if v != 0.0 && v.fract() == 0.0 && v.abs() < 1e6 {
        // Whole numbers under a million are their digits: the exposition's counters skip the
        // digit search.
        out.put_str(itoa::Buffer::new().format(v as i64));
        return;
    }
    if v != 0.0 && v.fract() == 0.0 && v.abs() < 1e15 {
        // Whole numbers from a million to 1e15 (big counters): exponent form `d.ddde+XX`, the
        // exponent always two digits (6 to 14), straight from the integer's digits.
        if v < 0.0 {
            out.put_byte(b'-');
        }
        let mut buf = itoa::Buffer::new();
        let digits = buf.format(v.abs() as u64).as_bytes();
        let mut nd = digits.len();
        while digits[nd - 1] == b'0' {
            nd -= 1;
        }
        out.put_byte(digits[0]);
        if nd > 1 {
            out.put_byte(b'.');
            out.put_bytes(&digits[1..nd]);
        }
        let exp = digits.len() - 1;
        out.put_bytes(&[b'e', b'+', b'0' + (exp / 10) as u8, b'0' + (exp % 10) as u8]);
        return;
    }
    let d = Digits::of(v.abs());
    if d.g_uses_exponent() {
        put_e(out, v.is_sign_negative(), &d);
    } else {
        put_f(out, v.is_sign_negative(), &d);
    }
}

/// A sample value in the Prometheus text exposition format, as client_golang's `writeFloat`
/// writes it: `'g'`, except that negative zero is `0` (Go compares `f == 0`).
pub fn write_exposition<S: Sink>(out: &mut S, v: f64) {
    if v == 0.0 {
        out.put_byte(b'0');
    } else {
        write_g(out, v);
    }
}

/// Prometheus's `labels.FormatOpenMetricsFloat`: `'g'`, with `.0` appended when that has neither
/// a point nor an exponent (`1.0`, `-1.0`, `0.0` also for negative zero, `100000.0`, `1e+06`).
pub fn write_openmetrics<S: Sink>(out: &mut S, v: f64) {
    if let Some(s) = special(v) {
        out.put_str(s);
        return;
    }
    if v == 0.0 {
        out.put_str("0.0");
        return;
    }
    if v.fract() == 0.0 && v.abs() < 1e6 {
        out.put_str(itoa::Buffer::new().format(v as i64));
        out.put_str(".0");
        return;
    }
    let d = Digits::of(v.abs());
    if d.g_uses_exponent() {
        put_e(out, v.is_sign_negative(), &d);
    } else {
        put_f(out, v.is_sign_negative(), &d);
        if d.nd as i32 <= d.dp {
            out.put_str(".0");
        }
    }
}

/// A sample value as Prometheus's HTTP API writes it (`jsonutil.MarshalFloat`, without the
/// quotes): `'f'`, or `'e'` below 1e-6 and from 1e21 on (`1e-07`, `1.5e+21`).
///
/// A range query's answer is mostly these numbers, so whole numbers (counters) take a fast path
/// through `itoa`: below 1e15 a whole float is exact in an `i64` and its shortest digits are its
/// own.
pub fn write_api_value<S: Sink>(out: &mut S, v: f64) {
    if let Some(s) = special(v) {
        out.put_str(s);
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        if v == 0.0 && v.is_sign_negative() {
            out.put_byte(b'-');
        }
        out.put_str(itoa::Buffer::new().format(v as i64));
    } else {
        let d = Digits::of(v.abs());
        if (1e-6..1e21).contains(&v.abs()) {
            put_f(out, v.is_sign_negative(), &d);
        } else {
            put_e(out, v.is_sign_negative(), &d);
        }
    }
}

/// A float64 as Go's `encoding/json` writes it (also ES6's `Number.prototype.toString` for
/// finite values, pdata's rule for doubles): `'f'`, or `'e'` below 1e-6 and from 1e21 on with a
/// one-digit negative exponent kept short (`1e-7`, `1e+21`). JSON has no NaN or infinities; they
/// are written as Go's names here, for the caller to refuse.
pub fn write_json_float<S: Sink>(out: &mut S, v: f64) {
    if let Some(s) = special(v) {
        out.put_str(s);
        return;
    }
    let abs = v.abs();
    if abs == 0.0 || (1e-6..1e21).contains(&abs) {
        write_f(out, v);
        return;
    }
    let d = Digits::of(abs);
    let x = d.dp - 1;
    if (-9..0).contains(&x) {
        // Go trims `e-07` to `e-7`.
        if v < 0.0 {
            out.put_byte(b'-');
        }
        out.put_byte(d.d[0]);
        if d.nd > 1 {
            out.put_byte(b'.');
            out.put_bytes(d.bytes(1..d.nd));
        }
        out.put_bytes(&[b'e', b'-', b'0' + (-x) as u8]);
    } else {
        put_e(out, v < 0.0, &d);
    }
}

/// [`write_json_float`] into a new `String`.
pub fn format_json_float(v: f64) -> String {
    let mut s = String::new();
    write_json_float(&mut s, v);
    s
}

/// [`write_f`] into a new `String`.
pub fn format_f(v: f64) -> String {
    let mut s = String::new();
    write_f(&mut s, v);
    s
}

/// [`write_e`] into a new `String`.
pub fn format_e(v: f64) -> String {
    let mut s = String::new();
    write_e(&mut s, v);
    s
}

/// [`write_g`] into a new `String`.
pub fn format_g(v: f64) -> String {
    let mut s = String::new();
    write_g(&mut s, v);
    s
}

/// [`write_exposition`] into a new `String`.
pub fn format_exposition(v: f64) -> String {
    let mut s = String::new();
    write_exposition(&mut s, v);
    s
}

/// [`write_openmetrics`] into a new `String`.
pub fn format_openmetrics(v: f64) -> String {
    let mut s = String::new();
    write_openmetrics(&mut s, v);
    s
}

/// [`write_api_value`] into a new `String`.
pub fn format_api_value(v: f64) -> String {
    let mut s = String::new();
    write_api_value(&mut s, v);
    s
}

/// Go's `strconv.ParseFloat(s, 64)` for the forms label values take: decimal numbers with an
/// optional sign and exponent, and `Inf`, `Infinity`, `NaN` in any case. Out-of-range numbers
/// (`1e400`) fail, as Go's `ErrRange` does.
///
/// Divergence: Go also reads hexadecimal floats (`0x1p-2`) and `_` digit separators after a
/// base prefix; those are left as they are here.
pub fn parse_go_float(s: &str) -> Option<f64> {
    let v: f64 = s.parse().ok()?;
    if v.is_infinite() {
        let word = s.trim_start_matches(['+', '-']).to_ascii_lowercase();
        if word != "inf" && word != "infinity" {
            return None;
        }
    }
    Some(v)
}

/// A `le` or `quantile` label value as Prometheus 3 stores it on scrape
/// (`normalizeFloatsInLabelValues`): a value Go reads as a float is rewritten by
/// [`write_openmetrics`] (`1` → `1.0`, `1000000` → `1e+06`, `+Inf` stays), anything else is kept
/// as written.
pub fn normalize_float_label(value: &str) -> Cow<'_, str> {
    match parse_go_float(value) {
        Some(v) => {
            let mut s = String::with_capacity(value.len() + 2);
            write_openmetrics(&mut s, v);
            if s == value {
                Cow::Borrowed(value)
            } else {
                Cow::Owned(s)
            }
        }
        None => Cow::Borrowed(value),
    }
}

/// The texts a bucket boundary or quantile `v` is found under in a store: what Prometheus 2.x
/// keeps from the text format as client_golang exposes it (`'g'`: `1`, `1e+06`), what Prometheus 3
/// and OpenMetrics exposition give ([`write_openmetrics`]: `1.0`), and the plain decimal other
/// clients write (`'f'`, and `'f'` with `.0`: `1000000`, `1000000.0`), without repeats.
pub fn float_label_spellings(v: f64) -> Vec<String> {
    let f = format_f(v);
    let f_dot = if v.is_finite() && !f.contains('.') {
        format!("{f}.0")
    } else {
        f.clone()
    };
    let mut all = vec![format_exposition(v), format_openmetrics(v), f, f_dot];
    let mut seen = Vec::with_capacity(all.len());
    all.retain(|s| {
        if seen.contains(s) {
            false
        } else {
            seen.push(s.clone());
            true
        }
    });
    all
}

#[cfg(test)]
mod tests;
