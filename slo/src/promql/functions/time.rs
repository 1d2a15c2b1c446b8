//! Date functions: `minute`, `hour`, `day_of_week`, `day_of_month`, `day_of_year`,
//! `days_in_month`, `month`, `year`, read from sample values as Unix seconds in UTC.

use crate::api::params::civil_from_days;
use crate::promql::value::Vector;

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Go's `int64(v)` for NaN, infinities and values outside `int64` gives `math.MinInt64` on amd64,
/// and `time.Unix(math.MinInt64, 0)` wraps around Go's calendar to this date (what Prometheus 2.42
/// answers for `year(vector(NaN))` and the rest): 292277026596-12-04T15:30, a Sunday, day 339.
/// Other seconds within about 8e9 of `math.MinInt64` wrap too; they are computed without it.
fn date_part_of_min_int64(name: &str) -> f64 {
    match name {
        "minute" => 30.0,
        "hour" => 15.0,
        "day_of_week" => 0.0,
        "day_of_month" => 4.0,
        "day_of_year" => 339.0,
        "days_in_month" => 31.0,
        "month" => 12.0,
        "year" => 292_277_026_596.0,
        _ => f64::NAN,
    }
}

fn date_part(name: &str, secs: f64) -> f64 {
    // 2^63: `int64` holds [-2^63, 2^63).
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if !(-TWO_63..TWO_63).contains(&secs) {
        return date_part_of_min_int64(name);
    }
    // Go's time.Unix(int64(v), 0): truncation toward zero.
    let s = secs.trunc() as i64;
    let days = s.div_euclid(86_400);
    let sod = s.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    match name {
        "minute" => ((sod / 60) % 60) as f64,
        "hour" => (sod / 3600) as f64,
        "day_of_week" => (days + 4).rem_euclid(7) as f64,
        "day_of_month" => f64::from(d),
        "day_of_year" => {
            let before: u32 = (1..m).map(|mm| days_in_month(y, mm)).sum();
            f64::from(before + d)
        }
        "days_in_month" => f64::from(days_in_month(y, m)),
        "month" => f64::from(m),
        "year" => y as f64,
        _ => f64::NAN,
    }
}

/// Applies the date function `name` to every element; the metric name is dropped.
pub(super) fn date_fn(name: &str, mut vec: Vector) -> Vector {
    for s in &mut vec {
        s.v = date_part(name, s.v);
        s.drop_name = true;
    }
    vec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_match_known_calendar_days() {
        // 2024-02-29T13:45:00Z, a Thursday in a leap year.
        let t = 1_709_214_300.0;
        assert_eq!(date_part("year", t), 2024.0);
        assert_eq!(date_part("month", t), 2.0);
        assert_eq!(date_part("day_of_month", t), 29.0);
        assert_eq!(date_part("days_in_month", t), 29.0);
        assert_eq!(date_part("day_of_year", t), 60.0);
        assert_eq!(date_part("day_of_week", t), 4.0);
        assert_eq!(date_part("hour", t), 13.0);
        assert_eq!(date_part("minute", t), 45.0);
        // Before the epoch: 1969-12-31T23:59:59Z is a Wednesday.
        assert_eq!(date_part("year", -1.0), 1969.0);
        assert_eq!(date_part("day_of_week", -1.0), 3.0);
    }

    /// Prometheus 2.42 answers `month(vector(NaN))` with 12 (Go's `int64(NaN)` is MinInt64 on
    /// amd64); burnwatch gave NaN. Found by the differential test as `month(fz_gauge)`.
    #[test]
    fn nan_and_out_of_range_seconds_are_go_s_min_int64_date() {
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e300, -9.3e18] {
            assert_eq!(date_part("year", v), 292_277_026_596.0, "{v}");
            assert_eq!(date_part("month", v), 12.0);
            assert_eq!(date_part("day_of_month", v), 4.0);
            assert_eq!(date_part("day_of_week", v), 0.0);
            assert_eq!(date_part("day_of_year", v), 339.0);
            assert_eq!(date_part("days_in_month", v), 31.0);
            assert_eq!(date_part("hour", v), 15.0);
            assert_eq!(date_part("minute", v), 30.0);
        }
        // In range: computed (Prometheus: -285198644592 and 285198648531).
        assert_eq!(date_part("year", -9e18), -285_198_644_592.0);
        assert_eq!(date_part("year", 9e18), 285_198_648_531.0);
    }
}
