//! Small pieces the views share: number formatting that never prints `NaN`, status colours, a
//! text bar for table cells, and guards for the ratatui widgets that panic on bad input (a
//! [`Gauge`](ratatui::widgets::Gauge) ratio outside [0, 1]) or draw nothing useful (chart bounds
//! that are not finite or not ordered).

use burnwatch_slo::slo::PolicyStatus;
use burnwatch_slo::slo::status::{SloStatus, format_burn, format_percent};
use ratatui::style::{Color, Modifier, Style};
use unicode_width::UnicodeWidthChar as _;

/// The colour of "no number" (N/A, no data, no traffic).
pub const NA: Color = Color::DarkGray;

/// The colour of a policy band; `None` (no traffic, no data) is grey.
pub fn policy_color(policy: Option<PolicyStatus>) -> Color {
    match policy {
        Some(PolicyStatus::Green) => Color::Green,
        Some(PolicyStatus::Yellow) => Color::Yellow,
        Some(PolicyStatus::Red) => Color::Red,
        Some(PolicyStatus::Exhausted) => Color::Magenta,
        None => NA,
    }
}

/// The policy band of an SLO: the one the status carries, else derived from the remaining
/// budget (a backend that filled only the number), else none.
pub fn policy_of(slo: &SloStatus) -> Option<PolicyStatus> {
    slo.policy.or_else(|| {
        slo.budget_remaining
            .filter(|b| !b.is_nan())
            .and_then(|b| PolicyStatus::from_consumed(1.0 - b))
    })
}

/// A number that is really there: `None` for a missing value and for NaN (0/0, no traffic).
pub fn real(v: Option<f64>) -> Option<f64> {
    v.filter(|v| !v.is_nan())
}

/// A ratio as a percentage (`72.50%`, `-35.00%`), `N/A` for none or NaN, `+Inf%` / `-Inf%` for
/// infinities.
pub fn pct(v: Option<f64>) -> String {
    match real(v) {
        Some(v) if v.is_infinite() => format!("{}Inf%", if v > 0.0 { "+" } else { "-" }),
        v => format_percent(v),
    }
}

/// A burn rate (`14.4x`), `N/A` for none or NaN, `+Infx` for an infinite burn.
pub fn burn(v: Option<f64>) -> String {
    match real(v) {
        Some(v) if v.is_infinite() => format!("{}Infx", if v > 0.0 { "+" } else { "-" }),
        v => format_burn(v),
    }
}

/// An objective as people write it: `99.9%`, `99.95%`, `99%`.
pub fn objective(v: f64) -> String {
    if !v.is_finite() {
        return "N/A".to_string();
    }
    // Four decimals absorb the binary error of 0.999 × 100 = 99.89999…
    let s = format!("{:.4}", v * 100.0);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}%")
}

/// A per-second rate (`1234.5/s`), `N/A` for none or NaN.
pub fn rate(v: Option<f64>) -> String {
    match real(v) {
        None => "N/A".to_string(),
        Some(v) if v.is_infinite() => "+Inf/s".to_string(),
        Some(v) if v.abs() >= 100.0 => format!("{v:.0}/s"),
        Some(v) => format!("{v:.1}/s"),
    }
}

/// Bytes in MiB (`52.3 MiB`), `N/A` for none or NaN.
pub fn mib(v: Option<f64>) -> String {
    match real(v) {
        None => "N/A".to_string(),
        Some(v) => format!("{:.1} MiB", v / 1_048_576.0),
    }
}

/// The wall-clock time of `ms` (UTC), `HH:MM:SS UTC`.
pub fn clock(ms: i64) -> String {
    let full = burnwatch_slo::api::params::format_rfc3339(ms);
    // `YYYY-MM-DDTHH:MM:SS…`: the time of day sits at bytes 11..19 for every year 0..=9999.
    full.get(11..19).map_or(full.clone(), |t| format!("{t} UTC"))
}

/// `v` clamped into [0, 1], NaN as 0: what ratatui's gauges accept without panicking.
pub fn unit(v: f64) -> f64 {
    if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) }
}

/// The largest magnitude a chart axis reaches. ratatui's canvas scales a point by the grid's size
/// before dividing by the axis span, so a bound near `f64::MAX` overflows to infinity and a line
/// to it walks `usize::MAX` cells (a hang). Values beyond are drawn at this edge.
const CHART_LIMIT: f64 = 1e300;

/// [`bounds`] for a chart whose points are then clamped into them: no bound's magnitude exceeds
/// [`CHART_LIMIT`].
pub fn chart_bounds(lo: f64, hi: f64) -> [f64; 2] {
    let cap = |v: f64| {
        if v.is_nan() {
            v
        } else {
            v.clamp(-CHART_LIMIT, CHART_LIMIT)
        }
    };
    bounds(cap(lo), cap(hi))
}

/// Axis bounds that ratatui can use: finite, ordered and not empty. Non-finite input falls back
/// to `[0, 1]`; a flat range is widened so the line sits in the middle.
pub fn bounds(lo: f64, hi: f64) -> [f64; 2] {
    if !lo.is_finite() || !hi.is_finite() {
        return [0.0, 1.0];
    }
    let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
    if hi - lo > f64::EPSILON * hi.abs().max(1.0) {
        [lo, hi]
    } else {
        let pad = (lo.abs() * 0.1).max(1e-9);
        // Even a pad at f64's edge must leave a finite, ordered range.
        let (a, b) = (lo - pad, hi + pad);
        if a.is_finite() && b.is_finite() && a < b {
            [a, b]
        } else {
            [0.0, 1.0]
        }
    }
}

/// The smallest and largest finite values, `None` when there are none.
pub fn finite_range(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
}

/// A horizontal bar of `width` cells filled to `ratio` (clamped), in eighths of a cell, with `░`
/// for the empty part so the bar's length is visible in any colour scheme.
pub fn text_bar(ratio: f64, width: usize) -> String {
    const PARTIAL: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
    let eighths = (unit(ratio) * width as f64 * 8.0).round() as usize;
    let full = eighths / 8;
    let rest = eighths % 8;
    let mut s = String::with_capacity(width * 3);
    for _ in 0..full.min(width) {
        s.push('█');
    }
    let mut used = full.min(width);
    if rest > 0 && used < width {
        s.push(PARTIAL[rest]);
        used += 1;
    }
    for _ in used..width {
        s.push('░');
    }
    s
}

/// `s` cut to `width` terminal cells, with `…` marking the cut.
pub fn truncate(s: &str, width: usize) -> String {
    let total: usize = s.chars().map(|c| c.width().unwrap_or(0)).sum();
    if total <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > width - 1 {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// The terminal width of `s`.
pub fn width(s: &str) -> usize {
    s.chars().map(|c| c.width().unwrap_or(0)).sum()
}

/// A bold style in `color`.
pub fn bold(color: Color) -> Style {
    Style::new().fg(color).add_modifier(Modifier::BOLD)
}

/// A dim (grey) style for hints and missing values.
pub fn dim() -> Style {
    Style::new().fg(NA)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_odd_numbers_read_as_people_expect() {
        assert_eq!(pct(None), "N/A");
        assert_eq!(pct(Some(f64::NAN)), "N/A");
        assert_eq!(pct(Some(-0.35)), "-35.00%");
        assert_eq!(pct(Some(f64::INFINITY)), "+Inf%");
        assert_eq!(burn(Some(f64::NAN)), "N/A");
        assert_eq!(burn(Some(f64::INFINITY)), "+Infx");
        assert_eq!(burn(Some(14.4)), "14.4x");
        assert_eq!(objective(0.999), "99.9%");
        assert_eq!(objective(0.99), "99%");
        assert_eq!(objective(0.9995), "99.95%");
        assert_eq!(rate(Some(f64::NAN)), "N/A");
        assert_eq!(rate(Some(12.34)), "12.3/s");
        assert_eq!(clock(14_400_000), "04:00:00 UTC");
    }

    #[test]
    fn bounds_are_always_finite_and_ordered() {
        for (lo, hi) in [
            (0.0, 1.0),
            (1.0, 0.0),
            (5.0, 5.0),
            (0.0, 0.0),
            (f64::NAN, 1.0),
            (f64::NEG_INFINITY, f64::INFINITY),
            (f64::MAX, f64::MAX),
            (-f64::MAX, -f64::MAX),
        ] {
            let [a, b] = bounds(lo, hi);
            assert!(a.is_finite() && b.is_finite() && a < b, "{lo} {hi} -> {a} {b}");
        }
        assert_eq!(
            finite_range([f64::NAN, 2.0, -1.0, f64::INFINITY]),
            Some((-1.0, 2.0))
        );
        assert_eq!(finite_range([f64::NAN]), None);
    }

    #[test]
    fn bars_fill_in_eighths_and_clamp() {
        assert_eq!(text_bar(0.5, 4), "██░░");
        assert_eq!(text_bar(-0.35, 4), "░░░░");
        assert_eq!(text_bar(f64::NAN, 3), "░░░");
        assert_eq!(text_bar(7.0, 3), "███");
        assert_eq!(text_bar(1.0 / 16.0, 2), "▏░");
        assert_eq!(truncate("checkout-service", 8), "checkou…");
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abc", 0), "");
    }
}
