//! An exercise's `data` made readable: a PromQL exercise's `load` blocks with each series'
//! samples spelled out (the test-script notation `0+60x60` becomes "61 samples every 1m
//! from 0m to 60m: 0, 60, 120 … 3600"), a DORA exercise's JSON-lines events as one line per
//! event. Anything else is shown as written. Presentation only: nothing here grades.

use std::time::Duration;

use burnwatch_learn::{Exercise, Topic};
use burnwatch_slo::duration::parse_prometheus_duration_ms;
use burnwatch_slo::slo::math::format_duration;

/// The lines shown under "Data" for `exercise` (empty when it has none).
pub fn readable(exercise: &Exercise) -> Vec<String> {
    let Some(data) = exercise.data.as_deref() else {
        return Vec::new();
    };
    match exercise.topic {
        Topic::Promql => promql_load(data),
        Topic::Dora => dora_events(data),
        _ => data.lines().map(str::to_string).collect(),
    }
}

/// The `load` blocks with a description under each series line.
fn promql_load(data: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut step: Option<&str> = None;
    for line in data.lines() {
        let trimmed = line.trim();
        if let Some(s) = trimmed.strip_prefix("load ") {
            step = Some(s.trim());
            out.push(format!("{trimmed}   (time 0 is the first sample)"));
            continue;
        }
        out.push(line.to_string());
        if let (Some(step), Some((_, values))) = (step, split_series(trimmed))
            && let Some(described) = describe_samples(values, step)
        {
            out.push(format!("      → {described}"));
        }
    }
    out
}

/// Splits a series line of a `load` block into the series and its values.
fn split_series(line: &str) -> Option<(&str, &str)> {
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let end = match line.find('{') {
        // The label values may hold spaces: the series ends at the closing brace.
        Some(open) if line[..open].chars().all(|c| !c.is_whitespace()) => {
            let close = line.rfind('}')?;
            close + 1
        }
        _ => line.find(char::is_whitespace)?,
    };
    let (series, values) = line.split_at(end);
    Some((series, values.trim()))
}

/// One `load` value token: `n` samples from `start` stepping by `delta`; `None` for a missing
/// (`_`) or stale sample run.
struct Run {
    start: Option<f64>,
    delta: f64,
    count: u64,
}

/// Reads a token of the test-script notation: `1.5`, `_`, `stale`, `a+bxn`, `a-bxn`, `axn`,
/// `_xn` (a run of `n + 1` samples).
fn run(token: &str) -> Option<Run> {
    let (head, times) = match token.rsplit_once('x') {
        Some((h, n)) if !h.is_empty() && n.chars().all(|c| c.is_ascii_digit()) && !n.is_empty() => {
            (h, n.parse::<u64>().ok()?.checked_add(1)?)
        }
        _ => (token, 1),
    };
    if head == "_" || head == "stale" {
        return Some(Run {
            start: None,
            delta: 0.0,
            count: times,
        });
    }
    // `a+b` / `a-b`: the sign after the first character (a may itself be negative).
    let split = head
        .char_indices()
        .skip(1)
        .find(|&(i, c)| (c == '+' || c == '-') && !head[..i].ends_with(['e', 'E']));
    let (start, delta) = match split {
        Some((i, _)) => (
            head[..i].parse().ok()?,
            head[i..].trim_start_matches('+').parse().ok()?,
        ),
        None => (head.parse().ok()?, 0.0),
    };
    Some(Run {
        start: Some(start),
        delta,
        count: times,
    })
}

/// "61 samples every 1m from 0m to 60m: 0, 60, 120 … 3600", without expanding the runs.
fn describe_samples(values: &str, step: &str) -> Option<String> {
    let runs: Vec<Run> = values.split_whitespace().map(run).collect::<Option<_>>()?;
    let count: u64 = runs.iter().map(|r| r.count).sum();
    if count == 0 {
        return None;
    }
    // The first three values and the last, `None` for a gap.
    let mut first: Vec<Option<f64>> = Vec::new();
    for r in &runs {
        for i in 0..r.count.min(3) {
            if first.len() < 3 {
                first.push(r.start.map(|s| s + r.delta * i as f64));
            }
        }
    }
    let last = runs
        .last()
        .map(|r| r.start.map(|s| s + r.delta * (r.count - 1) as f64))?;
    let show = |v: Option<f64>| v.map_or("_".to_string(), |v| format!("{v}"));
    let mut shown: Vec<String> = first.iter().map(|v| show(*v)).collect();
    if count > 3 {
        if count > 4 {
            shown.push("…".into());
        }
        shown.push(show(last));
    }
    let span = parse_prometheus_duration_ms(step)
        .filter(|ms| *ms > 0)
        .map(|ms| {
            let end = Duration::from_millis((ms as u64).saturating_mul(count - 1));
            format!(" from 0s to {}", format_duration(end))
        })
        .unwrap_or_default();
    let plural = if count == 1 { "" } else { "s" };
    Some(format!(
        "{count} sample{plural} every {step}{span}: {}",
        shown.join(", ").replace(", …,", " …")
    ))
}

/// One line per event: `deployment d2  2024-05-03T10:00:00Z  failure  commits 08:00`.
fn dora_events(data: &str) -> Vec<String> {
    data.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let Ok(serde_json::Value::Object(event)) = serde_json::from_str::<serde_json::Value>(line) else {
                return line.to_string();
            };
            let field = |k: &str| event.get(k).and_then(|v| v.as_str()).unwrap_or("");
            let mut out = format!("{:<10} {:<4} {}", field("type"), field("id"), field("time"));
            for k in [
                "status",
                "service",
                "deployment",
                "resolved",
                "resolved_time",
                "end",
            ] {
                if let Some(v) = event.get(k).and_then(|v| v.as_str())
                    && k != "service"
                {
                    out.push_str(&format!("  {k} {v}"));
                }
            }
            if let Some(commits) = event.get("commits").and_then(|c| c.as_array()) {
                let times: Vec<&str> = commits
                    .iter()
                    .filter_map(|c| c.get("time").and_then(|t| t.as_str()))
                    .collect();
                if !times.is_empty() {
                    out.push_str(&format!("  commits at {}", times.join(", ")));
                }
            }
            out
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_notation_is_spelled_out() {
        assert_eq!(
            describe_samples("0+60x60", "1m").unwrap(),
            "61 samples every 1m from 0s to 1h: 0, 60, 120 … 3600"
        );
        assert_eq!(
            describe_samples("1 2 _ 4", "15s").unwrap(),
            "4 samples every 15s from 0s to 45s: 1, 2, _, 4"
        );
        assert_eq!(
            describe_samples("5", "1m").unwrap(),
            "1 sample every 1m from 0s to 0s: 5"
        );
        assert_eq!(
            describe_samples("-1-2x2 10x1", "1m").unwrap(),
            "5 samples every 1m from 0s to 4m: -1, -3, -5 … 10"
        );
        assert_eq!(
            describe_samples("1e3+1e3x2", "1m").unwrap(),
            "3 samples every 1m from 0s to 2m: 1000, 2000, 3000"
        );
        // Not the notation: shown as written, no description.
        assert!(describe_samples("0+60y60", "1m").is_none());
        assert!(describe_samples("0+1x99999999999999999999", "1m").is_none());
    }

    #[test]
    fn series_lines_split_after_the_labels_even_with_spaces_in_values() {
        let (series, values) = split_series(r#"up{job="a b", instance="x"} 1+1x3"#).unwrap();
        assert_eq!((series, values), (r#"up{job="a b", instance="x"}"#, "1+1x3"));
        assert_eq!(split_series("up 1 2"), Some(("up", "1 2")));
        assert_eq!(split_series("# comment"), None);
    }
}
