//! The engine computations an SLO or DORA exercise's answer follows from ([`Derive`]), run
//! with slo's own functions: the error-budget arithmetic of `burnwatch_slo::slo::math`, the
//! budget policy's bands, the DORA report and its 2024 tiers. The curriculum's stated values
//! are tested against these, so an exercise can never teach a number the tool would not print.

use std::time::Duration;

use burnwatch_slo::api::params;
use burnwatch_slo::dora::{self, Window};
use burnwatch_slo::slo::PolicyStatus;
use burnwatch_slo::slo::math;

use crate::model::{Answer, Derive, DoraKey, Exercise};

/// What a derivation gives: a number in the answer unit's base, or an option's name.
#[derive(Clone, Debug, PartialEq)]
pub enum Derived {
    /// Seconds, a fraction, or a plain number.
    Number(f64),
    /// A policy colour (`Yellow`) or a DORA tier (`elite`).
    Choice(String),
}

fn duration(s: &str) -> Result<Duration, String> {
    let ms = burnwatch_slo::duration::parse_prometheus_duration_ms(s)
        .filter(|ms| *ms > 0)
        .ok_or_else(|| format!("{s:?} is not a positive Prometheus duration (30d, 1h)"))?;
    Ok(Duration::from_millis(ms as u64))
}

fn some(v: Option<f64>, what: &str) -> Result<f64, String> {
    v.ok_or_else(|| format!("{what} is undefined here"))
}

/// Runs `exercise`'s derivation, when it has one. A choice derivation gives the option as the
/// engine names it; compare case-insensitively.
pub fn derive(exercise: &Exercise) -> Option<Result<Derived, String>> {
    let (d, as_choice) = match &exercise.answer {
        Answer::Number(n) => (n.derive.as_ref()?, false),
        Answer::Choice(c) => (c.derive.as_ref()?, true),
        _ => return None,
    };
    Some(compute(d, exercise.data.as_deref(), as_choice))
}

/// Computes `d`; `data` holds a DORA exercise's events; `as_choice` asks a DORA key for its tier.
pub fn compute(d: &Derive, data: Option<&str>, as_choice: bool) -> Result<Derived, String> {
    let n = Derived::Number;
    Ok(match d {
        Derive::ErrorBudget { objective } => n(math::error_budget(*objective)),
        Derive::AllowedDowntime { objective, period } => {
            n(math::allowed_downtime(duration(period)?, *objective).as_secs_f64())
        }
        Derive::BudgetRemaining {
            objective,
            error_ratio,
        } => n(some(
            math::budget_remaining(*error_ratio, *objective),
            "the budget of a 100% objective",
        )?),
        Derive::BurnRate {
            objective,
            error_ratio,
        } => n(some(
            math::burn_rate(*error_ratio, *objective),
            "the burn rate of a 100% objective",
        )?),
        Derive::TimeToExhaustion {
            remaining,
            burn_rate,
            period,
        } => n(
            math::time_to_exhaustion(*remaining, *burn_rate, duration(period)?)
                .ok_or("the budget is never exhausted at that burn rate")?
                .as_secs_f64(),
        ),
        Derive::BurnRateThreshold {
            budget_share,
            long_window,
            period,
        } => n(math::burn_rate_for_budget(
            *budget_share,
            duration(long_window)?,
            duration(period)?,
        )),
        Derive::PolicyColour { consumed } => Derived::Choice(
            PolicyStatus::from_consumed(*consumed)
                .ok_or("no policy colour for NaN")?
                .to_string(),
        ),
        Derive::Dora {
            key,
            end,
            window_days,
        } => {
            let data = data.ok_or("a DORA derivation needs the events in `data`")?;
            let (log, errors) = dora::parse_jsonl(data);
            if let Some(e) = errors.first() {
                return Err(format!("data line {}: {}", e.position.number(), e.reason));
            }
            let end_ms = params::parse_time(end)?;
            let length = (window_days * 86_400_000.0).round();
            if !(1.0..9e15).contains(&length) {
                return Err(format!("window_days {window_days} is not a usable window"));
            }
            let window = Window::new(end_ms, length as i64).map_err(|e| e.to_string())?;
            let r = dora::compute(&log, window, None);
            if as_choice {
                let tier = match key {
                    DoraKey::DeploymentFrequency => r.frequency_tier(),
                    DoraKey::LeadTime => r.lead_time_tier(),
                    DoraKey::ChangeFailureRate => r.change_failure_tier(),
                    DoraKey::TimeToRestore => r.recovery_tier(),
                };
                Derived::Choice(
                    tier.ok_or("no tier: the window has nothing to classify")?
                        .as_str()
                        .to_string(),
                )
            } else {
                n(match key {
                    DoraKey::DeploymentFrequency => r.frequency.per_day,
                    DoraKey::LeadTime => some(r.lead_time.median_s, "the lead time without changes")?,
                    DoraKey::ChangeFailureRate => some(
                        r.change_failure.value(),
                        "the change failure rate without deployments",
                    )?,
                    DoraKey::TimeToRestore => {
                        some(r.recovery.median_s, "the recovery time without recoveries")?
                    }
                })
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Curriculum;

    /// Every built-in exercise with a derivation states what the engine computes.
    #[test]
    fn every_builtin_value_is_the_engines() {
        let mut derived = 0;
        for ex in Curriculum::builtin().exercises() {
            let Some(got) = derive(ex) else { continue };
            let got = got.unwrap_or_else(|e| panic!("{}: derive fails: {e}", ex.id));
            match (&ex.answer, got) {
                (Answer::Number(n), Derived::Number(v)) => assert!(
                    (n.value - v).abs() <= 1e-9 * v.abs().max(1e-12),
                    "{}: states {} but the engine computes {v}",
                    ex.id,
                    n.value
                ),
                (Answer::Choice(c), Derived::Choice(v)) => assert!(
                    c.correct.eq_ignore_ascii_case(&v),
                    "{}: states {} but the engine says {v}",
                    ex.id,
                    c.correct
                ),
                (a, d) => panic!("{}: a {} answer derived as {d:?}", ex.id, a.kind()),
            }
            derived += 1;
        }
        assert!(derived >= 2, "the built-in curriculum derives {derived} values");
    }

    #[test]
    fn workbook_numbers() {
        let num = |d: Derive| match compute(&d, None, false).unwrap() {
            Derived::Number(v) => v,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            num(Derive::AllowedDowntime {
                objective: 0.999,
                period: "30d".into()
            }),
            2592.0
        );
        assert_eq!(
            num(Derive::BurnRateThreshold {
                budget_share: 0.02,
                long_window: "1h".into(),
                period: "30d".into()
            }),
            14.4
        );
        assert_eq!(
            num(Derive::BurnRate {
                objective: 0.999,
                error_ratio: 0.0144
            }),
            14.4
        );
        assert_eq!(
            compute(&Derive::PolicyColour { consumed: 0.8 }, None, true).unwrap(),
            Derived::Choice("Red".into())
        );
        let err = compute(
            &Derive::AllowedDowntime {
                objective: 0.999,
                period: "30 days".into(),
            },
            None,
            false,
        )
        .unwrap_err();
        assert!(err.contains("\"30 days\""), "{err}");
    }
}
