//! The error-budget burndown of one SLO over its period, as the SRE Workbook draws it (chapter 5,
//! "Error budget burndown"): at each point, the budget spent from the start of the rolling period
//! up to that point, assuming traffic stays as it was.
//!
//! A point at `t` is `1 - ratio([start, t]) × share / budget`, where `ratio` is the SLI's error
//! ratio over the time since the period started ([`rules::sli_expr`] over that window, the very
//! expression the generated rules record) and `share` the elapsed part of the period. The last
//! point covers the whole period, so it equals [`super::status::SloStatus::budget_remaining`]
//! (`slo:period_error_budget_remaining:ratio`). The ideal line is a budget spent evenly: 1 at the
//! start, 0 at the end.
//!
//! The points run through a [`SliSource`], so `burnwatch slo status --json` (in process or with
//! `--prometheus-url`) and the dashboard (over HTTP) compute the same numbers.

use std::collections::BTreeMap;
use std::time::Duration;

use super::SloSpec;
use super::rules;
use super::status::{SliSource, SloStatus, SourceError};

/// Points on a burndown after its start (the start itself, 1, is one more).
pub const POINTS: u32 = 30;

/// One point of the burndown.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct BurndownPoint {
    /// Time, ms since the epoch.
    pub t_ms: i64,
    /// Share of the period's budget left at `t_ms` (1 = untouched, below 0 = overspent); `None`
    /// where the value is not a number.
    pub remaining: Option<f64>,
    /// Where an SLO spending its budget evenly over the period would be: 1 at the period's start,
    /// 0 at its end.
    pub ideal: f64,
}

/// The burndown of `slo` over the period ending at `at_ms`, in `points` steps after the start
/// (oldest first, `points + 1` entries). A window without events spends nothing: its point stays
/// at what the budget was at the start, 1. A period without any event has no budget figure
/// (`budget_remaining` is `None`, "no traffic"): every point is `None` then, not a full budget.
/// The first query that fails fails the whole burndown.
pub async fn burndown(
    slo: &SloSpec,
    source: &dyn SliSource,
    at_ms: i64,
    points: u32,
) -> Result<Vec<BurndownPoint>, SourceError> {
    let points = points.max(1);
    let period = slo.period.length();
    let period_ms = i64::try_from(period.as_millis()).unwrap_or(i64::MAX);
    let budget = slo.error_budget_ratio();
    let start = at_ms.saturating_sub(period_ms);
    let mut out = Vec::with_capacity(points as usize + 1);
    out.push(BurndownPoint {
        t_ms: start,
        remaining: Some(1.0),
        ideal: 1.0,
    });
    for i in 1..=points {
        let elapsed = period / points * i;
        // Whole seconds, so the window is a duration PromQL accepts; the last point is the
        // whole period, the window the period SLI uses.
        let elapsed = if i == points {
            period
        } else {
            Duration::from_secs(elapsed.as_secs().max(1))
        };
        let t = start.saturating_add(i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX));
        let share = elapsed.as_secs_f64() / period.as_secs_f64();
        let expr = rules::sli_expr(slo, elapsed);
        let result = source.instant(&expr, t).await?;
        let has_events = result.first().is_some_and(|s| s.value.is_finite());
        let remaining = match result.first().map(|s| s.value) {
            // The same arithmetic as the period's `slo:period_error_budget_remaining:ratio`
            // (1 - ratio / budget) when share is 1.
            Some(ratio) if ratio.is_finite() => Some(1.0 - ratio * share / budget),
            // No events since the period started (0/0), or no series: nothing spent yet.
            _ => Some(1.0),
        };
        out.push(BurndownPoint {
            t_ms: t,
            remaining,
            ideal: 1.0 - share,
        });
        if i == points && !has_events {
            for p in &mut out {
                p.remaining = None;
            }
        }
    }
    Ok(out)
}

/// The burndown of each SLO of `slos` whose status in `statuses` has no error, by id; one that
/// cannot be computed (a query failed since the status was taken) is left out.
pub async fn burndowns(
    slos: &[SloSpec],
    statuses: &[SloStatus],
    source: &dyn SliSource,
    at_ms: i64,
) -> BTreeMap<String, Vec<BurndownPoint>> {
    let mut out = BTreeMap::new();
    for slo in slos {
        let id = slo.id();
        if statuses.iter().any(|s| s.id == id && s.error.is_none())
            && let Ok(points) = burndown(slo, source, at_ms, POINTS).await
        {
            out.insert(id, points);
        }
    }
    out
}

/// `slo status --json`: [`super::status::to_json`]'s array, each SLO with a `burndown` array
/// (the dashboard's chart and sparkline, [`POINTS`] steps after the period's start; `null` when
/// it could not be computed).
pub fn status_json(statuses: &[SloStatus], burndowns: &BTreeMap<String, Vec<BurndownPoint>>) -> String {
    let array: Vec<serde_json::Value> = statuses
        .iter()
        .map(|s| {
            let mut v = serde_json::to_value(s).unwrap_or(serde_json::Value::Null);
            if let Some(obj) = v.as_object_mut() {
                let points = burndowns
                    .get(&s.id)
                    .and_then(|p| serde_json::to_value(p).ok())
                    .unwrap_or(serde_json::Value::Null);
                obj.insert("burndown".to_string(), points);
            }
            v
        })
        .collect();
    // Plain structs of strings, numbers and maps (NaN is mapped to None first) always serialise.
    serde_json::to_string_pretty(&array).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promql::Engine;
    use crate::slo::spec::parse_str;
    use crate::slo::status::{EngineSource, evaluate_one};
    use crate::tsdb::{Labels, Storage};

    const SPEC: &str = r#"
version: "prometheus/v1"
service: "shop"
period: 4h
slos:
  - name: "availability"
    objective: 99
    sli:
      events:
        error_query: sum(rate(requests_total{job="shop",code="500"}[{{.window}}]))
        total_query: sum(rate(requests_total{job="shop"}[{{.window}}]))
    alerting: {page_alert: {disable: true}, ticket_alert: {disable: true}}
"#;

    /// 100 requests a minute for 4 hours; 1 of them fails from minute 120 on.
    fn store() -> Storage {
        let mut s = Storage::new();
        let total = Labels::from_pairs([("__name__", "requests_total"), ("job", "shop")]);
        let bad = Labels::from_pairs([("__name__", "requests_total"), ("job", "shop"), ("code", "500")]);
        let mut e = 0.0;
        for m in 0..=240u64 {
            let t = (m * 60_000) as i64;
            if m > 120 {
                e += 1.0;
            }
            s.append(&total, t, (m * 100) as f64).unwrap();
            s.append(&bad, t, e).unwrap();
        }
        s
    }

    fn slo() -> SloSpec {
        match parse_str(SPEC, "t.yaml") {
            Ok(mut v) => v.remove(0),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn the_last_point_is_the_budget_left_and_the_first_half_spends_nothing() {
        let s = store();
        let slo = slo();
        assert_eq!(slo.period.length(), Duration::from_secs(4 * 3600));
        let src = EngineSource::new(Engine::default(), &s);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let at = 240 * 60_000;
        let points = rt.block_on(burndown(&slo, &src, at, 8)).unwrap();
        let status = rt.block_on(evaluate_one(&slo, &src, at));
        assert_eq!(points.len(), 9);
        assert_eq!(points[0].t_ms, 0);
        assert_eq!(points[8].t_ms, at);
        assert_eq!(points.last().unwrap().remaining, status.budget_remaining);
        // Errors start at 2h: the first four points have spent nothing.
        for p in &points[1..=4] {
            assert_eq!(p.remaining, Some(1.0), "{p:?}");
        }
        // Then the budget goes down, point by point.
        for w in points[4..].windows(2) {
            assert!(w[1].remaining.unwrap() < w[0].remaining.unwrap(), "{points:?}");
        }
        // Half the period at 1% errors (the total counts the bad series too: 1 of 101) spends
        // about half the 1% budget.
        let last = points[8].remaining.unwrap();
        assert!((last - 0.5).abs() < 0.02, "{last}");
        assert_eq!(points[4].ideal, 0.5);
    }

    /// No traffic at all: the table says N/A, so the burndown has no numbers either (it showed
    /// a full budget beside an N/A budget).
    #[test]
    fn no_traffic_in_the_period_has_no_burndown_numbers() {
        let mut s = Storage::new();
        let total = Labels::from_pairs([("__name__", "requests_total"), ("job", "shop")]);
        for m in 0..=240u64 {
            s.append(&total, (m * 60_000) as i64, 7.0).unwrap();
        }
        let slo = slo();
        let src = EngineSource::new(Engine::default(), &s);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let at = 240 * 60_000;
        let points = rt.block_on(burndown(&slo, &src, at, 4)).unwrap();
        let status = rt.block_on(evaluate_one(&slo, &src, at));
        assert_eq!(status.budget_remaining, None);
        assert!(points.iter().all(|p| p.remaining.is_none()), "{points:?}");
    }

    #[test]
    fn a_failing_source_fails_the_burndown() {
        struct Broken;
        impl SliSource for Broken {
            fn instant<'a>(&'a self, expr: &'a str, _at_ms: i64) -> crate::slo::status::SourceFuture<'a> {
                Box::pin(std::future::ready(Err(SourceError {
                    query: expr.to_string(),
                    message: "down".into(),
                })))
            }
            fn describe(&self) -> String {
                "broken".into()
            }
        }
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let err = rt.block_on(burndown(&slo(), &Broken, 1_000_000, 4)).unwrap_err();
        assert_eq!(err.message, "down");
    }
}
