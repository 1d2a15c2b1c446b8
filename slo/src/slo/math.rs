//! Error-budget arithmetic. Every function is pure and states its formula and its source.
//!
//! Ratios are in `[0, 1]` (an objective of 99.9% is `0.999`); durations are [`Duration`]s.
//! Sources: Google SRE Workbook, chapter 2 "Implementing SLOs" (budget, allowed downtime) and
//! chapter 5 "Alerting on SLOs" (burn rate, budget consumed by an alert, detection time).

use std::time::Duration;

/// Error budget = 1 − objective (Workbook ch. 2).
///
/// The subtraction is rounded to 12 decimal places so that `1 - 0.999` is `0.001`, not
/// `0.0010000000000000009`: budgets are printed and multiplied into alert thresholds, and no
/// objective is written with more than 12 decimals of a ratio (`99.9999999999`).
pub fn error_budget(objective: f64) -> f64 {
    ((1.0 - objective) * 1e12).round() / 1e12
}

/// Bad events allowed among `total` events: total × (1 − objective).
pub fn allowed_bad_events(total: f64, objective: f64) -> f64 {
    total * error_budget(objective)
}

/// Downtime allowed in a period: period × (1 − objective). 99.9% over 30d is 43m12s.
pub fn allowed_downtime(period: Duration, objective: f64) -> Duration {
    Duration::from_secs_f64(period.as_secs_f64() * error_budget(objective))
}

/// Burn rate = error ratio / (1 − objective) (Workbook ch. 5): how many times faster than
/// "exactly spend the budget over the period" errors arrive. `None` for a 100% objective.
///
/// Rounded to 15 significant digits like the thresholds it is compared with, so that an error
/// ratio of 1.44% against a 99.9% objective burns at exactly 14.4 (not 14.399999999999999) and
/// reaches the 14.4× threshold.
pub fn burn_rate(error_ratio: f64, objective: f64) -> Option<f64> {
    let budget = error_budget(objective);
    (budget > 0.0).then(|| round_sig(error_ratio / budget))
}

/// Share of the budget consumed when the error ratio over the whole period is `error_ratio`:
/// error ratio / (1 − objective), the period's burn rate. Over 1 means the budget is overspent.
pub fn budget_consumed(period_error_ratio: f64, objective: f64) -> Option<f64> {
    burn_rate(period_error_ratio, objective)
}

/// Share of the budget remaining: 1 − consumed. Negative once overspent (as Sloth's
/// `slo:period_error_budget_remaining:ratio`).
pub fn budget_remaining(period_error_ratio: f64, objective: f64) -> Option<f64> {
    budget_consumed(period_error_ratio, objective).map(|c| 1.0 - c)
}

/// Time until the remaining budget is gone at a constant burn rate:
/// remaining × period / burn rate. Zero when nothing remains; `None` when the burn rate is zero
/// or negative (the budget never runs out at this rate).
pub fn time_to_exhaustion(remaining: f64, burn_rate: f64, period: Duration) -> Option<Duration> {
    // NaN compares false, so `burn_rate > 0.0` also refuses it.
    if !remaining.is_finite()
        || !burn_rate.is_finite()
        || burn_rate.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater)
    {
        return None;
    }
    if remaining <= 0.0 {
        return Some(Duration::ZERO);
    }
    Some(Duration::from_secs_f64(
        remaining * period.as_secs_f64() / burn_rate,
    ))
}

/// Share of the budget consumed by the time an alert on `long_window` at `burn_rate` fires:
/// burn rate × long window / period (Workbook ch. 5, "budget consumed" column: 14.4 × 1h / 30d
/// = 2%).
pub fn budget_consumed_at_alert(burn_rate: f64, long_window: Duration, period: Duration) -> f64 {
    burn_rate * long_window.as_secs_f64() / period.as_secs_f64()
}

/// The burn rate that consumes `budget_share` of the budget within `long_window`:
/// budget share × period / long window (Workbook ch. 5: 2% × 30d / 1h = 14.4).
pub fn burn_rate_for_budget(budget_share: f64, long_window: Duration, period: Duration) -> f64 {
    round_sig(budget_share * period.as_secs_f64() / long_window.as_secs_f64())
}

/// How long an alert over `window` with threshold `threshold` (a burn rate) takes to fire once
/// the error ratio jumps from zero to `error_ratio`: (1 − objective) / error ratio × window ×
/// threshold (Workbook ch. 5, "detection time"). `None` when the burn rate never reaches the
/// threshold (the alert never fires at this error ratio).
pub fn time_to_fire(error_ratio: f64, objective: f64, window: Duration, threshold: f64) -> Option<Duration> {
    let rate = burn_rate(error_ratio, objective)?;
    if rate.is_nan() || rate <= 0.0 || rate < threshold {
        return None;
    }
    Some(Duration::from_secs_f64(window.as_secs_f64() * threshold / rate))
}

/// Rounds to 15 significant digits, removing the binary noise of decimal arithmetic.
fn round_sig(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    format!("{v:.14e}").parse().unwrap_or(v)
}

/// Formats a duration the way people read SLO tables: `43m12s`, `1d2h`, `350ms`.
///
/// Rounds to the nearest second above one minute (`10m4.8s` → `10m5s`), and to the millisecond
/// below it.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    let mut secs = if ms >= 60_000 {
        (ms + 500) / 1000
    } else {
        ms / 1000
    };
    let rest_ms = if ms >= 60_000 { 0 } else { ms % 1000 };
    for (unit, len) in [("d", 86_400u128), ("h", 3_600), ("m", 60)] {
        if secs >= len {
            out.push_str(&format!("{}{unit}", secs / len));
            secs %= len;
        }
    }
    match (secs, rest_ms) {
        (0, 0) => {}
        (s, 0) => out.push_str(&format!("{s}s")),
        (0, m) => out.push_str(&format!("{m}ms")),
        (s, m) => {
            let frac = format!("{m:03}");
            out.push_str(&format!("{s}.{}s", frac.trim_end_matches('0')));
        }
    }
    out
}

/// Formats a duration as a Prometheus duration (`30d`, `1h`, `5m`, `1h30m`): the unit Sloth puts in
/// `sloth_window` and in the `[range]` of generated rules.
pub fn prometheus_duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    // Days are the largest unit, as Sloth users write periods (`28d`, not `4w`).
    for (unit, len) in [
        ("d", 86_400_000u128),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ] {
        if ms >= len {
            out.push_str(&format!("{}{unit}", ms / len));
            ms %= len;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400;

    fn days(n: u64) -> Duration {
        Duration::from_secs(n * DAY)
    }

    #[test]
    fn allowed_downtime_matches_the_workbook_table() {
        assert_eq!(format_duration(allowed_downtime(days(30), 0.999)), "43m12s");
        assert_eq!(format_duration(allowed_downtime(days(28), 0.999)), "40m19s");
        assert_eq!(format_duration(allowed_downtime(days(7), 0.999)), "10m5s");
        assert_eq!(format_duration(allowed_downtime(days(30), 0.99)), "7h12m");
        assert_eq!(format_duration(allowed_downtime(days(30), 0.9999)), "4m19s");
    }

    #[test]
    fn error_budget_has_no_binary_noise() {
        assert_eq!(error_budget(0.999), 0.001);
        assert_eq!(error_budget(0.9995), 0.0005);
        assert_eq!(error_budget(0.95), 0.05);
        assert_eq!(allowed_bad_events(1_000_000.0, 0.999), 1000.0);
    }

    #[test]
    fn burn_rate_is_error_ratio_over_budget() {
        assert_eq!(burn_rate(0.0144, 0.999), Some(14.4));
        assert_eq!(burn_rate(0.0, 0.999), Some(0.0));
        assert_eq!(burn_rate(0.1, 1.0), None);
    }

    #[test]
    fn workbook_alert_table_budget_consumed() {
        // Workbook ch. 5, table 5-8: 14.4× over 1h consumes 2%, 6× over 6h 5%, 1× over 3d 10%.
        let p = days(30);
        let cases = [(14.4, 3_600, 0.02), (6.0, 6 * 3_600, 0.05), (1.0, 3 * DAY, 0.10)];
        for (rate, window, share) in cases {
            let got = budget_consumed_at_alert(rate, Duration::from_secs(window), p);
            assert!((got - share).abs() < 1e-12, "{rate}× over {window}s: {got}");
        }
        assert_eq!(burn_rate_for_budget(0.02, Duration::from_secs(3_600), p), 14.4);
        assert_eq!(
            burn_rate_for_budget(0.02, Duration::from_secs(3_600), days(28)),
            13.44
        );
    }

    #[test]
    fn detection_time_matches_the_workbook() {
        // Workbook ch. 5: a 1h window at 14.4× detects a 100% error rate (for a 99.9% SLO) in
        // 0.001 / 1 × 1h × 14.4 = 51.84 s, and an error ratio of exactly 1.44% in the full hour.
        let t = time_to_fire(1.0, 0.999, Duration::from_secs(3_600), 14.4).unwrap();
        assert!((t.as_secs_f64() - 51.84).abs() < 1e-6, "{t:?}");
        let t = time_to_fire(0.0144, 0.999, Duration::from_secs(3_600), 14.4).unwrap();
        assert!((t.as_secs_f64() - 3_600.0).abs() < 1e-6, "{t:?}");
        assert_eq!(time_to_fire(0.01, 0.999, Duration::from_secs(3_600), 14.4), None);
    }

    #[test]
    fn time_to_exhaustion_at_constant_burn() {
        // A quarter of the budget spent, burning at 2×: 0.75 × 30d / 2 = 11.25 days.
        let t = time_to_exhaustion(0.75, 2.0, days(30)).unwrap();
        assert_eq!(t, Duration::from_secs(11 * DAY + 6 * 3_600));
        assert_eq!(time_to_exhaustion(-0.5, 2.0, days(30)), Some(Duration::ZERO));
        assert_eq!(time_to_exhaustion(0.5, 0.0, days(30)), None);
        assert_eq!(time_to_exhaustion(f64::NAN, 1.0, days(30)), None);
    }

    #[test]
    fn remaining_goes_negative_when_overspent() {
        let r = budget_remaining(0.002, 0.999).unwrap();
        assert!((r + 1.0).abs() < 1e-12, "{r}");
    }

    #[test]
    fn prometheus_durations() {
        assert_eq!(prometheus_duration(days(30)), "30d");
        assert_eq!(prometheus_duration(Duration::from_secs(300)), "5m");
        assert_eq!(prometheus_duration(Duration::from_secs(5_400)), "1h30m");
        assert_eq!(prometheus_duration(days(3)), "3d");
        assert_eq!(format_duration(Duration::from_millis(51_840)), "51.84s");
        assert_eq!(format_duration(Duration::from_millis(350)), "350ms");
        assert_eq!(format_duration(Duration::from_secs(86_400 + 7_200)), "1d2h");
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        proptest! {
            /// Burning at exactly 1× for the whole period consumes exactly the budget.
            #[test]
            fn burn_rate_one_over_the_period_spends_the_budget(objective in 0.5f64..0.99999) {
                let ratio = error_budget(objective);
                let consumed = budget_consumed(ratio, objective).unwrap();
                prop_assert!((consumed - 1.0).abs() < 1e-9);
                let remaining = budget_remaining(ratio, objective).unwrap();
                prop_assert!(remaining.abs() < 1e-9);
            }

            /// More errors never leave more budget.
            #[test]
            fn remaining_is_monotone_in_errors(objective in 0.5f64..0.99999, a in 0.0f64..1.0, b in 0.0f64..1.0) {
                let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
                prop_assert!(budget_remaining(hi, objective).unwrap() <= budget_remaining(lo, objective).unwrap());
            }

            /// An alert's threshold, fired on exactly that burn, consumes the share it was built from.
            #[test]
            fn threshold_and_consumed_share_are_inverse(share in 0.001f64..0.5, hours in 1u64..200, days in 1u64..120) {
                let long = Duration::from_secs(hours * 3_600);
                let period = Duration::from_secs(days * 86_400);
                let rate = burn_rate_for_budget(share, long, period);
                let back = budget_consumed_at_alert(rate, long, period);
                prop_assert!((back - share).abs() / share < 1e-9);
            }

            /// Exhaustion time at a constant burn spends exactly the remaining budget.
            #[test]
            fn exhaustion_spends_what_remains(remaining in 0.0f64..1.0, rate in 0.01f64..100.0) {
                let period = Duration::from_secs(30 * 86_400);
                let t = time_to_exhaustion(remaining, rate, period).unwrap();
                let spent = budget_consumed_at_alert(rate, t, period);
                prop_assert!((spent - remaining).abs() < 1e-6);
            }
        }
    }
}
