//! Numeric answers: read with their unit, compared within a relative tolerance.
//!
//! On a miss the feedback echoes what was read (`read 43 min as 2580 s (43m)`) and says how far
//! off it is: by a factor people slip by (60 between seconds and minutes, 100 between a ratio
//! and a percentage, 1000, 3600, 24) or by a percentage.

use super::Verdict;
use crate::answer;
use crate::model::{NumberAnswer, Unit};

/// The relative tolerance when the exercise states none: a third significant digit.
pub const DEFAULT_TOLERANCE: f64 = 1e-3;

/// Whether `got` is within `tolerance` (relative) of `want`; an exact zero needs an answer
/// within `tolerance` of zero.
pub fn close(got: f64, want: f64, tolerance: f64) -> bool {
    let diff = (got - want).abs();
    diff <= tolerance * want.abs() || (want == 0.0 && diff <= tolerance)
}

/// Factors by which an answer is typically off, with what they suggest.
const FACTORS: &[(f64, &str)] = &[
    (
        60.0,
        "60 times the expected value: minutes read as seconds, or a per-minute figure where per second is asked?",
    ),
    (
        1.0 / 60.0,
        "1/60 of the expected value: seconds where minutes were meant, or per second where per minute is asked?",
    ),
    (3600.0, "3600 times the expected value: hours read as seconds?"),
    (
        1.0 / 3600.0,
        "1/3600 of the expected value: seconds where hours were meant?",
    ),
    (
        100.0,
        "100 times the expected value: a percentage written without the % sign? (0.1% is 0.001)",
    ),
    (
        0.01,
        "1/100 of the expected value: a ratio where a percentage was meant, or a % sign too many?",
    ),
    (
        1000.0,
        "1000 times the expected value: milliseconds where seconds are asked?",
    ),
    (0.001, "1/1000 of the expected value: a unit off by a thousand?"),
    (24.0, "24 times the expected value: hours where days are meant?"),
    (
        1.0 / 24.0,
        "1/24 of the expected value: days where hours are meant?",
    ),
    (-1.0, "the expected value with the opposite sign"),
];

/// Grades a numeric answer.
pub fn check(expected: &NumberAnswer, text: &str) -> Verdict {
    let reading = match answer::parse(text, expected.unit) {
        Ok(r) => r,
        Err(e) => return Verdict::wrong(vec![e]),
    };
    let tolerance = expected.tolerance.unwrap_or(DEFAULT_TOLERANCE);
    let read = format!("read {:?} as {}", text.trim(), reading.echo);
    if close(reading.value, expected.value, tolerance) {
        return Verdict::right(vec![read]);
    }
    Verdict::wrong(vec![read, how_far(reading.value, expected.value, expected.unit)])
}

/// One sentence on how `got` differs from `want`.
pub fn how_far(got: f64, want: f64, unit: Unit) -> String {
    if want != 0.0 && got != 0.0 {
        let ratio = got / want;
        for (factor, note) in FACTORS {
            if close(ratio, *factor, 1e-3) {
                return format!("Your answer is {note}");
            }
        }
    }
    if want == 0.0 {
        return "Your answer is not zero.".to_string();
    }
    let off = (got - want) / want.abs();
    let dir = if off > 0.0 { "too high" } else { "too low" };
    let by = off.abs();
    let hint = match unit {
        Unit::Duration if by < 0.05 => " (check the seconds: 0.2 min is 12 s)",
        _ => "",
    };
    if by >= 2.0 {
        format!(
            "Your answer is {dir}, by a factor of {}{hint}.",
            answer::significant((got / want).abs().max((want / got).abs()), 3)
        )
    } else {
        format!(
            "Your answer is {dir} by {}%{hint}.",
            answer::significant(by * 100.0, 3)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn downtime() -> NumberAnswer {
        NumberAnswer {
            value: 2592.0,
            unit: Unit::Duration,
            tolerance: None,
            derive: None,
        }
    }

    #[test]
    fn right_in_every_form() {
        for text in ["43m12s", "43.2 min", "43.2m", "2592 s", "0.72h", "2,592"] {
            let v = check(&downtime(), text);
            assert!(v.correct, "{text}: {:?}", v.feedback);
            assert!(v.feedback[0].contains("2592 s (43m12s)"), "{:?}", v.feedback);
        }
    }

    #[test]
    fn forty_three_minutes_is_not_43_point_2() {
        let v = check(&downtime(), "43 min");
        assert!(!v.correct);
        assert_eq!(v.feedback[0], "read \"43 min\" as 2580 s (43m)");
        assert!(v.feedback[1].contains("too low by 0.463%"), "{:?}", v.feedback);
        assert!(v.feedback[1].contains("0.2 min is 12 s"), "{:?}", v.feedback);
    }

    #[test]
    fn minutes_given_as_seconds_is_a_factor_of_60() {
        // 43.2 without a unit is 43.2 seconds: 1/60 of the answer.
        let v = check(&downtime(), "43.2");
        assert!(!v.correct);
        assert!(
            v.feedback[1].contains("1/60 of the expected value"),
            "{:?}",
            v.feedback
        );
    }

    #[test]
    fn a_ratio_without_its_percent_sign_is_off_by_100() {
        let budget = NumberAnswer {
            value: 0.001,
            unit: Unit::Ratio,
            tolerance: None,
            derive: None,
        };
        assert!(check(&budget, "0.1%").correct);
        assert!(check(&budget, "0.001").correct);
        let v = check(&budget, "0.1");
        assert!(!v.correct);
        assert_eq!(v.feedback[0], "read \"0.1\" as 10% (0.1)");
        assert!(
            v.feedback[1].contains("100 times the expected value"),
            "{:?}",
            v.feedback
        );
        let v = check(&budget, "one in a thousand");
        assert!(!v.correct);
        assert!(
            v.feedback[0].contains("cannot read \"one in a thousand\""),
            "{:?}",
            v.feedback
        );
    }

    #[test]
    fn tolerance_is_relative() {
        let burn = NumberAnswer {
            value: 14.4,
            unit: Unit::Number,
            tolerance: None,
            derive: None,
        };
        assert!(check(&burn, "14.41").correct, "within 1e-3");
        assert!(!check(&burn, "14.5").correct);
        assert!(check(&burn, "14.4x").correct);
        let v = check(&burn, "144");
        assert!(v.feedback[1].contains("by a factor of 10"), "{:?}", v.feedback);
    }
}
