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

fn date_part(name: &str, secs: f64) -> f64 {
    if !secs.is_finite() {
        return f64::NAN;
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
}
