//! DORA metrics: worked examples with hand-computed values, the level edges, empty windows, bad
//! input with line numbers, and the series as PromQL reads them.

use super::events::{Position, parse_body, parse_jsonl};
use super::metrics::{Window, compute, format_seconds, format_time, quantile};
use super::series::{SeriesWriter, append_events, newest_stored, to_openmetrics};
use super::tiers::{self, DAY_S, FrequencyBucket, HOUR_S, MONTH_S, Tier, WEEK_S};
use crate::api::params::parse_rfc3339;
use crate::promql::{Engine, Value};
use crate::tsdb::{Labels, Storage};

const DAY_MS: i64 = 86_400_000;

fn t(s: &str) -> i64 {
    parse_rfc3339(s).unwrap()
}

/// 30 days ending 2024-05-31T00:00:00Z: (2024-05-01T00:00:00Z, 2024-05-31T00:00:00Z].
fn may() -> Window {
    Window::new(t("2024-05-31T00:00:00Z"), 30 * DAY_MS).unwrap()
}

fn dep(
    id: &str,
    service: &str,
    time: &str,
    status: &str,
    commits: &[(&str, &str)],
    remediation: bool,
) -> String {
    let commits: Vec<String> = commits
        .iter()
        .map(|(sha, time)| format!(r#"{{"sha":"{sha}","time":"{time}"}}"#))
        .collect();
    format!(
        r#"{{"type":"deployment","id":"{id}","service":"{service}","time":"{time}","status":"{status}","commits":[{}],"remediation":{remediation}}}"#,
        commits.join(",")
    )
}

fn inc(id: &str, service: &str, start: &str, resolved: Option<&str>, deployment: Option<&str>) -> String {
    let resolved = resolved.map_or("null".to_string(), |r| format!("\"{r}\""));
    let deployment = deployment.map_or("null".to_string(), |d| format!("\"{d}\""));
    format!(
        r#"{{"type":"incident","id":"{id}","service":"{service}","start":"{start}","resolved":{resolved},"deployment":{deployment}}}"#
    )
}

fn log_of(lines: &[String]) -> super::EventLog {
    let (log, errors) = parse_jsonl(&lines.join("\n"));
    assert!(errors.is_empty(), "{errors:?}");
    log
}

/// `n` successful deployments of `service`, one a day from 2024-05-02 at noon.
fn daily(service: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            dep(
                &format!("{service}-{i}"),
                service,
                &format!("2024-05-{:02}T12:00:00Z", i + 2),
                "success",
                &[],
                false,
            )
        })
        .collect()
}

#[test]
fn quantile_interpolates_between_closest_ranks() {
    let mut v = vec![4.0, 1.0, 3.0, 2.0];
    assert_eq!(quantile(&mut v, 0.5), Some(2.5));
    // rank 0.9 * 3 = 2.7: 3 + 0.7 * (4 - 3)
    assert!((quantile(&mut v, 0.9).unwrap() - 3.7).abs() < 1e-12);
    assert_eq!(quantile(&mut [7.0], 0.9), Some(7.0));
    assert_eq!(quantile(&mut [], 0.5), None);
}

#[test]
fn deployment_frequency_counts_both_statuses_per_day_of_window() {
    // 15 deployments in 30 days (one of them failed) = 0.5 a day: daily to weekly, high.
    let mut lines = daily("api", 14);
    lines.push(dep("f1", "api", "2024-05-20T13:00:00Z", "failure", &[], false));
    let r = compute(&log_of(&lines), may(), None);
    assert_eq!(r.frequency.deployments, 15);
    assert_eq!(r.frequency.per_day, 0.5);
    assert_eq!(r.frequency.bucket, Some(FrequencyBucket::DailyToWeekly));
    assert_eq!(r.frequency_tier(), Some(Tier::High));
}

#[test]
fn window_is_open_at_the_start_and_closed_at_the_end() {
    let lines = [
        dep("at-start", "api", "2024-05-01T00:00:00Z", "success", &[], false),
        dep(
            "after-start",
            "api",
            "2024-05-01T00:00:00.001Z",
            "success",
            &[],
            false,
        ),
        dep("at-end", "api", "2024-05-31T00:00:00Z", "success", &[], false),
        dep(
            "after-end",
            "api",
            "2024-05-31T00:00:00.001Z",
            "success",
            &[],
            false,
        ),
    ];
    let r = compute(&log_of(&lines), may(), None);
    assert_eq!(r.frequency.deployments, 2);
}

#[test]
fn service_filter_keeps_only_that_service() {
    let mut lines = daily("api", 3);
    lines.extend(daily("web", 5));
    let log = log_of(&lines);
    assert_eq!(compute(&log, may(), Some("web")).frequency.deployments, 5);
    assert_eq!(compute(&log, may(), Some("api")).frequency.deployments, 3);
    assert_eq!(compute(&log, may(), None).frequency.deployments, 8);
    assert_eq!(compute(&log, may(), Some("nope")).frequency.deployments, 0);
}

#[test]
fn lead_time_median_and_p90_from_commit_to_deploy() {
    // Lead times 1h, 2h, 3h, 10h: median 2.5h = 9000s; p90 at rank 2.7 = 3h + 0.7 * 7h = 7.9h.
    let lines = [
        dep(
            "d1",
            "api",
            "2024-05-10T12:00:00Z",
            "success",
            &[("a", "2024-05-10T11:00:00Z"), ("b", "2024-05-10T10:00:00Z")],
            false,
        ),
        dep(
            "d2",
            "api",
            "2024-05-11T12:00:00Z",
            "success",
            &[("c", "2024-05-11T09:00:00Z"), ("d", "2024-05-11T02:00:00Z")],
            false,
        ),
    ];
    let r = compute(&log_of(&lines), may(), None);
    assert_eq!(r.lead_time.changes, 4);
    assert_eq!(r.lead_time.median_s, Some(9000.0));
    assert!((r.lead_time.p90_s.unwrap() - 7.9 * 3600.0).abs() < 1e-6);
    assert_eq!(r.lead_time_tier(), Some(Tier::Elite));
}

#[test]
fn lead_time_counts_a_commit_once_at_its_first_successful_deployment() {
    // c1 fails to deploy at 10:00, succeeds at 12:00 (lead 4h), is carried again at 18:00.
    let lines = [
        dep(
            "f",
            "api",
            "2024-05-10T10:00:00Z",
            "failure",
            &[("c1", "2024-05-10T08:00:00Z")],
            false,
        ),
        dep(
            "ok",
            "api",
            "2024-05-10T12:00:00Z",
            "success",
            &[("c1", "2024-05-10T08:00:00Z")],
            false,
        ),
        dep(
            "again",
            "api",
            "2024-05-10T18:00:00Z",
            "success",
            &[("c1", "2024-05-10T08:00:00Z")],
            false,
        ),
        // The same sha in another service is another change.
        dep(
            "web",
            "web",
            "2024-05-12T08:00:00Z",
            "success",
            &[("c1", "2024-05-10T08:00:00Z")],
            false,
        ),
    ];
    let r = compute(&log_of(&lines), may(), Some("api"));
    assert_eq!(r.lead_time.changes, 1);
    assert_eq!(r.lead_time.median_s, Some(4.0 * 3600.0));
    let all = compute(&log_of(&lines), may(), None);
    assert_eq!(all.lead_time.changes, 2);
    // 4h and 48h: the median is 26h, more than a day: high.
    assert_eq!(all.lead_time.median_s, Some(26.0 * 3600.0));
    assert_eq!(all.lead_time_tier(), Some(Tier::High));
}

#[test]
fn change_failure_rate_counts_failed_status_and_deployments_named_by_incidents() {
    let lines = [
        dep("d1", "api", "2024-05-10T10:00:00Z", "success", &[], false),
        dep("d2", "api", "2024-05-11T10:00:00Z", "failure", &[], false),
        dep("d3", "api", "2024-05-12T10:00:00Z", "success", &[], false),
        dep("d4", "api", "2024-05-13T10:00:00Z", "success", &[], false),
        // d3 caused two incidents: it is one failed deployment. The second incident starts after
        // the window; the failure still belongs to d3's time.
        inc(
            "i1",
            "api",
            "2024-05-12T11:00:00Z",
            Some("2024-05-12T12:00:00Z"),
            Some("d3"),
        ),
        inc("i2", "api", "2024-06-02T11:00:00Z", None, Some("d3")),
        // An incident that no deployment caused does not make a deployment failed.
        inc(
            "i3",
            "api",
            "2024-05-13T11:00:00Z",
            Some("2024-05-13T12:00:00Z"),
            None,
        ),
    ];
    let r = compute(&log_of(&lines), may(), None);
    assert_eq!(r.change_failure.count, 2);
    assert_eq!(r.change_failure.deployments, 4);
    assert_eq!(r.change_failure.value(), Some(0.5));
    assert_eq!(r.change_failure_tier(), Some(Tier::Low));
    assert_eq!(r.incidents, 2, "i2 starts after the window");
}

/// 20 deployments, the first `failed` of them failed.
fn cfr_of(failed: usize) -> (Option<f64>, Option<Tier>) {
    let lines: Vec<String> = (0..20)
        .map(|i| {
            let status = if i < failed { "failure" } else { "success" };
            dep(
                &format!("d{i}"),
                "api",
                &format!("2024-05-{:02}T12:00:00Z", i + 2),
                status,
                &[],
                false,
            )
        })
        .collect();
    let r = compute(&log_of(&lines), may(), None);
    (r.change_failure.value(), r.change_failure_tier())
}

#[test]
fn change_failure_rate_band_edges() {
    assert_eq!(cfr_of(0), (Some(0.0), Some(Tier::Elite)));
    // Exactly 5%: elite's limit, inclusive.
    assert_eq!(cfr_of(1), (Some(0.05), Some(Tier::Elite)));
    // Exactly 20%: high's limit, inclusive.
    assert_eq!(cfr_of(4), (Some(0.2), Some(Tier::High)));
    assert_eq!(cfr_of(5), (Some(0.25), Some(Tier::Low)));
    assert_eq!(cfr_of(20), (Some(1.0), Some(Tier::Low)));
}

#[test]
fn change_failure_rate_at_the_medium_figure_is_high_because_the_bands_are_not_monotone() {
    // The 2024 table gives medium 10% and high 20%. A team failing 10% of deployments is within
    // high's limit, and a lower rate must never earn a worse level than a higher one: high.
    assert_eq!(cfr_of(2), (Some(0.1), Some(Tier::High)));
    assert_eq!(tiers::change_fail_rate_tier(tiers::CFR_MEDIUM), Tier::High);
    // Medium is never the answer: scan 0..=100%.
    for i in 0..=1000 {
        assert_ne!(tiers::change_fail_rate_tier(f64::from(i) / 1000.0), Tier::Medium);
    }
    // And the classification is monotone in the rate.
    let mut prev = Tier::Elite;
    for i in 0..=1000 {
        let tier = tiers::change_fail_rate_tier(f64::from(i) / 1000.0);
        assert!(tier >= prev, "rate {i}/1000 gave {tier} after {prev}");
        prev = tier;
    }
}

#[test]
fn recovery_time_median_of_deployment_caused_incidents_resolved_in_the_window() {
    let lines = [
        dep("d1", "api", "2024-05-10T10:00:00Z", "success", &[], false),
        // 30 minutes, 2 hours, 5 hours: median 2h, less than a day: high.
        inc(
            "i1",
            "api",
            "2024-05-10T11:00:00Z",
            Some("2024-05-10T11:30:00Z"),
            Some("d1"),
        ),
        inc(
            "i2",
            "api",
            "2024-05-11T11:00:00Z",
            Some("2024-05-11T13:00:00Z"),
            Some("d1"),
        ),
        inc(
            "i3",
            "api",
            "2024-05-12T11:00:00Z",
            Some("2024-05-12T16:00:00Z"),
            Some("d-old"),
        ),
        // Not caused by a deployment: not a failed-deployment recovery.
        inc(
            "i4",
            "api",
            "2024-05-13T11:00:00Z",
            Some("2024-05-20T11:00:00Z"),
            None,
        ),
        // Resolved after the window: not counted; open: counted as open.
        inc(
            "i5",
            "api",
            "2024-05-30T11:00:00Z",
            Some("2024-06-03T11:00:00Z"),
            Some("d1"),
        ),
        inc("i6", "api", "2024-05-29T11:00:00Z", None, Some("d1")),
    ];
    let r = compute(&log_of(&lines), may(), None);
    assert_eq!(r.recovery.recoveries, 3);
    assert_eq!(r.recovery.median_s, Some(2.0 * HOUR_S));
    assert_eq!(r.recovery.open, 1);
    assert_eq!(r.recovery_tier(), Some(Tier::High));
}

#[test]
fn rework_rate_is_reported_without_a_tier() {
    let lines = [
        dep("d1", "api", "2024-05-10T10:00:00Z", "success", &[], false),
        dep("d2", "api", "2024-05-11T10:00:00Z", "success", &[], true),
        dep("d3", "api", "2024-05-12T10:00:00Z", "success", &[], false),
        dep("d4", "api", "2024-05-13T10:00:00Z", "success", &[], false),
    ];
    let r = compute(&log_of(&lines), may(), None);
    assert_eq!(r.rework.value(), Some(0.25));
    let json = r.to_json();
    assert_eq!(json["metrics"]["rework_rate"]["value"], 0.25);
    assert!(json["metrics"]["rework_rate"]["tier"].is_null());
    assert!(r.to_table().contains("25.0% (1 of 4)"));
    assert!(r.to_table().contains("none (no 2024 levels)"));
}

#[test]
fn empty_window_gives_no_numbers_and_no_nan() {
    let lines = [dep(
        "old",
        "api",
        "2024-01-10T10:00:00Z",
        "success",
        &[("a", "2024-01-10T09:00:00Z")],
        true,
    )];
    let r = compute(&log_of(&lines), may(), None);
    assert_eq!(r.frequency.deployments, 0);
    assert_eq!(r.frequency.per_day, 0.0);
    assert_eq!(r.frequency.bucket, None);
    assert_eq!(r.lead_time.median_s, None);
    assert_eq!(r.change_failure.value(), None);
    assert_eq!(r.recovery.median_s, None);
    assert_eq!(r.rework.value(), None);
    assert_eq!(r.overall_tier(), None);
    let json = r.to_json();
    for metric in [
        "lead_time",
        "change_failure_rate",
        "recovery_time",
        "deployment_frequency",
    ] {
        assert!(json["metrics"][metric]["tier"].is_null(), "{metric}");
    }
    assert!(json["metrics"]["change_failure_rate"]["value"].is_null());
    assert!(json["metrics"]["lead_time"]["median_seconds"].is_null());
    let text = json.to_string();
    assert!(!text.to_lowercase().contains("nan"), "{text}");
    let table = r.to_table();
    assert!(!table.contains("NaN"), "{table}");
    assert!(table.contains("n/a (no deployments)"), "{table}");
    assert!(table.contains("overall: n/a"), "{table}");
}

#[test]
fn overall_tier_is_the_lowest_of_the_four() {
    // Daily deployments (high), 2h lead times (elite), one failure in 20 (elite), a 30-minute
    // recovery (elite): overall high.
    let mut lines: Vec<String> = (0..20)
        .map(|i| {
            let day = i + 2;
            dep(
                &format!("d{i}"),
                "api",
                &format!("2024-05-{day:02}T12:00:00Z"),
                "success",
                &[(&format!("c{i}"), &format!("2024-05-{day:02}T10:00:00Z"))],
                false,
            )
        })
        .collect();
    lines.push(inc(
        "i1",
        "api",
        "2024-05-05T13:00:00Z",
        Some("2024-05-05T13:30:00Z"),
        Some("d3"),
    ));
    let r = compute(&log_of(&lines), may(), None);
    assert_eq!(r.frequency_tier(), Some(Tier::High));
    assert_eq!(r.lead_time_tier(), Some(Tier::Elite));
    assert_eq!(r.change_failure_tier(), Some(Tier::Elite));
    assert_eq!(r.recovery_tier(), Some(Tier::Elite));
    assert_eq!(r.overall_tier(), Some(Tier::High));
    assert_eq!(r.to_json()["overall_tier"], "high");
}

#[test]
fn frequency_band_edges() {
    use FrequencyBucket::*;
    // Exactly once a day is not "several a day".
    assert_eq!(tiers::frequency_bucket(1.0), DailyToWeekly);
    assert_eq!(tiers::frequency_bucket(1.0 + 1e-9), OnDemand);
    assert_eq!(tiers::frequency_bucket(1.0 / 7.0), DailyToWeekly);
    assert_eq!(tiers::frequency_bucket(1.0 / 7.0 - 1e-9), WeeklyToMonthly);
    assert_eq!(tiers::frequency_bucket(1.0 / 30.0), WeeklyToMonthly);
    assert_eq!(tiers::frequency_bucket(1.0 / 30.0 - 1e-9), MonthlyToSixMonthly);
    assert_eq!(tiers::frequency_bucket(1.0 / 182.0), MonthlyToSixMonthly);
    assert_eq!(tiers::frequency_bucket(1.0 / 182.0 - 1e-9), FewerThanSixMonthly);
    assert_eq!(FewerThanSixMonthly.tier(), Tier::Low);
    // 30 deployments in 30 days is exactly one a day: high, not elite.
    let r = compute(&log_of(&daily("api", 29)), may(), None);
    assert_eq!(r.frequency_tier(), Some(Tier::High));
    let mut lines = daily("api", 29);
    lines.push(dep("x", "api", "2024-05-30T13:00:00Z", "success", &[], false));
    lines.push(dep("y", "api", "2024-05-30T14:00:00Z", "success", &[], false));
    // 31 in 30 days: more than one a day.
    assert_eq!(
        compute(&log_of(&lines), may(), None).frequency_tier(),
        Some(Tier::Elite)
    );
}

#[test]
fn lead_time_band_edges() {
    assert_eq!(tiers::lead_time_tier(DAY_S - 0.001), Tier::Elite);
    // "Less than one day" excludes one day; "between one day and one week" includes both ends.
    assert_eq!(tiers::lead_time_tier(DAY_S), Tier::High);
    assert_eq!(tiers::lead_time_tier(WEEK_S), Tier::High);
    assert_eq!(tiers::lead_time_tier(WEEK_S + 0.001), Tier::Medium);
    assert_eq!(tiers::lead_time_tier(MONTH_S), Tier::Medium);
    assert_eq!(tiers::lead_time_tier(MONTH_S + 0.001), Tier::Low);
    assert_eq!(tiers::lead_time_tier(400.0 * DAY_S), Tier::Low);
    // Through the report: a single change with exactly one day of lead time is high.
    let lines = [dep(
        "d",
        "api",
        "2024-05-10T12:00:00Z",
        "success",
        &[("a", "2024-05-09T12:00:00Z")],
        false,
    )];
    assert_eq!(
        compute(&log_of(&lines), may(), None).lead_time_tier(),
        Some(Tier::High)
    );
}

#[test]
fn recovery_band_edges() {
    assert_eq!(tiers::recovery_time_tier(HOUR_S - 0.001), Tier::Elite);
    assert_eq!(tiers::recovery_time_tier(HOUR_S), Tier::High);
    assert_eq!(tiers::recovery_time_tier(DAY_S - 0.001), Tier::High);
    // One day up to a week is in no row of the table: low, the last level.
    assert_eq!(tiers::recovery_time_tier(DAY_S), Tier::Low);
    assert_eq!(tiers::recovery_time_tier(3.0 * DAY_S), Tier::Low);
    // Through the report: an incident of exactly one hour.
    let lines = [
        dep("d", "api", "2024-05-10T12:00:00Z", "success", &[], false),
        inc(
            "i",
            "api",
            "2024-05-10T13:00:00Z",
            Some("2024-05-10T14:00:00Z"),
            Some("d"),
        ),
    ];
    assert_eq!(
        compute(&log_of(&lines), may(), None).recovery_tier(),
        Some(Tier::High)
    );
}

#[test]
fn bad_lines_are_reported_with_line_numbers_and_good_ones_kept() {
    let text = [
        dep("d1", "api", "2024-05-10T12:00:00Z", "success", &[], false),
        r#"{"type":"deployment","id":"d2","service":"api","status":"success"}"#.to_string(),
        inc("i1", "api", "2024-05-10T13:00:00Z", Some("2024-05-10T12:00:00Z"), Some("d1")),
        r#"{"type":"rollout","id":"r1"}"#.to_string(),
        String::new(),
        dep("d1", "api", "2024-05-11T12:00:00Z", "failure", &[], false),
        "not json".to_string(),
        dep("d3", "api", "2024-05-10T12:00:00Z", "success", &[("a", "2024-05-10T13:00:00Z")], false),
        r#"{"type":"deployment","id":"d4","service":"api","time":"2024-05-10T12:00:00Z","status":"success","remediaton":true}"#.to_string(),
        r#"{"type":"incident","id":"i2","service":"api","start":"2024-05-10T13:00:00Z"}"#.to_string(),
        dep("d5", "api", "yesterday", "success", &[], false),
        r#"{"type":"deployment","id":"d6","service":"api","time":"2024-05-10T12:00:00Z","status":"maybe"}"#.to_string(),
        inc("i3", "api", "2024-05-10T13:00:00Z", None, None),
        dep("", "api", "2024-05-10T12:00:00Z", "success", &[], false),
    ]
    .join("\n");
    let (log, errors) = parse_jsonl(&text);
    let lines: Vec<usize> = errors.iter().map(|e| e.position.number()).collect();
    assert_eq!(lines, vec![2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 14], "{errors:#?}");
    let reason = |line: usize| {
        errors
            .iter()
            .find(|e| e.position == Position::Line(line))
            .unwrap()
            .reason
            .clone()
    };
    assert!(reason(2).contains("missing field `time`"), "{}", reason(2));
    assert!(reason(3).contains("before start"), "{}", reason(3));
    assert!(reason(4).contains("unknown variant `rollout`"), "{}", reason(4));
    assert!(
        reason(6).contains("duplicate deployment id \"d1\" (first seen at line 1"),
        "{}",
        reason(6)
    );
    assert!(reason(7).contains("not valid JSON"), "{}", reason(7));
    assert!(reason(8).contains("after the deployment time"), "{}", reason(8));
    assert!(reason(9).contains("unknown field `remediaton`"), "{}", reason(9));
    assert!(reason(10).contains("missing field `resolved`"), "{}", reason(10));
    assert!(
        reason(11).contains("field `time`: \"yesterday\" is not an RFC 3339"),
        "{}",
        reason(11)
    );
    assert!(reason(12).contains("unknown variant `maybe`"), "{}", reason(12));
    assert!(
        reason(14).contains("field `id` must not be empty"),
        "{}",
        reason(14)
    );
    assert_eq!(errors[0].to_string(), format!("line 2: {}", reason(2)));
    // The good events stay: d1 (the first), i3 (open, no deployment).
    assert_eq!(log.deployments.len(), 1);
    assert_eq!(log.deployments[0].1.status, super::DeployStatus::Success);
    assert_eq!(log.incidents.len(), 1);
    assert_eq!(log.incidents[0].1.id, "i3");
    assert_eq!(log.incidents[0].0, Position::Line(13));
}

#[test]
fn body_may_be_a_json_array_with_item_positions() {
    let body = format!(
        "[{}, {{\"type\":\"incident\"}}, {}]",
        dep("d1", "api", "2024-05-10T12:00:00Z", "success", &[], false),
        inc("i1", "api", "2024-05-10T13:00:00Z", None, Some("d1"))
    );
    let (log, errors) = parse_body(body.as_bytes()).unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].position, Position::Item(2));
    assert!(
        errors[0].to_string().starts_with("item 2: missing field"),
        "{}",
        errors[0]
    );
    assert!(parse_body(b"[1, 2").is_err());
    // A JSON-lines body that is not UTF-8 is one bad line (the handler answers 400: nothing
    // usable); an array that is not UTF-8 is a bad body.
    let (log, errors) = parse_body(&[0xff, 0xfe]).unwrap();
    assert_eq!((log.len(), errors[0].position), (0, Position::Line(1)));
    assert!(parse_body(b"[\xff]").is_err());
    // An array item that is not an object.
    let (_, errors) = parse_body(b"[3]").unwrap();
    assert!(errors[0].reason.contains("JSON object"));
}

#[test]
fn time_formats() {
    assert_eq!(format_time(t("2024-05-01T00:00:00Z")), "2024-05-01T00:00:00Z");
    assert_eq!(
        format_time(t("2024-02-29T23:59:59.250Z")),
        "2024-02-29T23:59:59.250Z"
    );
    assert_eq!(format_time(t("1969-12-31T23:59:59Z")), "1969-12-31T23:59:59Z");
    assert_eq!(format_seconds(0.0), "0s");
    assert_eq!(format_seconds(45.0), "45s");
    assert_eq!(format_seconds(9000.0), "2h 30m");
    assert_eq!(format_seconds(2.0 * DAY_S + 3.0 * HOUR_S + 59.0), "2d 3h");
    assert_eq!(format_seconds(30.0 * DAY_S), "30d");
    assert!(Window::new(0, 0).is_err());
}

fn query(store: &Storage, q: &str, at: i64) -> Vec<(Labels, f64)> {
    match Engine::default().instant_query(store, q, at).unwrap().value {
        Value::Vector(v) => v.into_iter().map(|s| (s.labels, s.v)).collect(),
        Value::Scalar { v, .. } => vec![(Labels::empty(), v)],
        other => panic!("unexpected {other:?}"),
    }
}

fn scalar(store: &Storage, q: &str, at: i64) -> f64 {
    let v = query(store, q, at);
    assert_eq!(v.len(), 1, "{q}: {v:?}");
    v[0].1
}

/// The newest value of `selector` (summed over its series) within 90 days before `at`: DORA
/// series are sparse, so a plain selector finds nothing once the 5-minute lookback has passed.
fn total(store: &Storage, selector: &str, at: i64) -> f64 {
    scalar(store, &format!("sum(last_over_time({selector}[90d]))"), at)
}

#[test]
fn series_give_the_dora_metrics_through_promql() {
    let lines = [
        // Listed out of time order: a batch is sorted before it is written.
        dep(
            "d2",
            "api",
            "2024-05-11T12:00:00Z",
            "failure",
            &[("b", "2024-05-11T09:00:00Z")],
            false,
        ),
        dep(
            "d1",
            "api",
            "2024-05-10T12:00:00Z",
            "success",
            &[("a", "2024-05-10T11:00:00Z"), ("z", "2024-05-09T12:00:00Z")],
            false,
        ),
        dep(
            "d3",
            "api",
            "2024-05-12T12:00:00Z",
            "success",
            &[("b", "2024-05-11T09:00:00Z")],
            true,
        ),
        dep("d4", "api", "2024-05-13T12:00:00Z", "success", &[], false),
        inc(
            "i1",
            "api",
            "2024-05-13T13:00:00Z",
            Some("2024-05-13T15:00:00Z"),
            Some("d4"),
        ),
        inc(
            "i2",
            "api",
            "2024-05-14T13:00:00Z",
            Some("2024-05-14T14:00:00Z"),
            None,
        ),
    ];
    let log = log_of(&lines);
    let mut store = Storage::new();
    let mut writer = SeriesWriter::new();
    let out = append_events(&mut store, &mut writer, &log);
    assert_eq!(out.batch.accepted, 6);
    assert!(out.batch.errors.is_empty(), "{:?}", out.batch.errors);
    assert!(out.store_errors.is_empty(), "{:?}", out.store_errors);
    let end = t("2024-05-31T00:00:00Z");
    assert_eq!(
        total(&store, r#"dora_deployments_total{status="success"}"#, end),
        3.0
    );
    assert_eq!(
        total(&store, r#"dora_deployments_total{status="failure"}"#, end),
        1.0
    );
    // d2 failed, d4 caused i1: 2 failed deployments.
    assert_eq!(total(&store, "dora_failed_deployments_total", end), 2.0);
    assert_eq!(total(&store, "dora_rework_deployments_total", end), 1.0);
    assert_eq!(total(&store, "dora_incidents_total", end), 2.0);
    // Lead times: a 1h, z 24h (d1), b 27h (d3: d2 failed). Sum 52h.
    assert_eq!(total(&store, "dora_lead_time_seconds_count", end), 3.0);
    assert_eq!(total(&store, "dora_lead_time_seconds_sum", end), 52.0 * 3600.0);
    assert_eq!(
        total(&store, r#"dora_lead_time_seconds_bucket{le="86400.0"}"#, end),
        2.0
    );
    assert_eq!(
        total(&store, r#"dora_lead_time_seconds_bucket{le="+Inf"}"#, end),
        3.0
    );
    // Only i1 is a failed-deployment recovery: 2h.
    assert_eq!(total(&store, "dora_recovery_time_seconds_count", end), 1.0);
    assert_eq!(total(&store, "dora_recovery_time_seconds_sum", end), 7200.0);
    // The 0 sample before the first event lets increase() count every event of the window:
    // 3 successful deployments over a window ending at the last one (nothing to extrapolate).
    let last = t("2024-05-13T12:00:00Z");
    assert_eq!(
        scalar(
            &store,
            r#"increase(dora_deployments_total{status="success"}[4d])"#,
            last
        ),
        3.0
    );
    // Before the first deployment, nothing.
    assert!(query(&store, "dora_deployments_total", t("2024-05-10T11:00:00Z")).is_empty());
}

#[test]
fn later_batches_continue_counters_and_refuse_duplicates_and_older_events() {
    let mut store = Storage::new();
    let mut writer = SeriesWriter::new();
    let first = log_of(&[
        dep("d1", "api", "2024-05-10T12:00:00Z", "success", &[], false),
        dep("d2", "api", "2024-05-11T12:00:00Z", "success", &[], false),
    ]);
    append_events(&mut store, &mut writer, &first);
    let second = log_of(&[
        dep("d1", "api", "2024-05-12T12:00:00Z", "success", &[], false),
        dep("d0", "api", "2024-05-09T12:00:00Z", "success", &[], false),
        dep("d3", "api", "2024-05-12T12:00:00Z", "success", &[], false),
        // Another service has its own series: an older time is fine there.
        dep("w1", "web", "2024-05-01T12:00:00Z", "success", &[], false),
    ]);
    let out = append_events(&mut store, &mut writer, &second);
    assert_eq!(out.batch.accepted, 2);
    let reasons: Vec<String> = out.batch.errors.iter().map(ToString::to_string).collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons[0].starts_with("line 1: duplicate deployment id \"d1\""),
        "{reasons:?}"
    );
    assert!(
        reasons[1].starts_with("line 2: deployment \"d0\" at 2024-05-09T12:00:00Z is not newer"),
        "{reasons:?}"
    );
    let end = t("2024-05-31T00:00:00Z");
    assert_eq!(
        total(&store, r#"dora_deployments_total{service="api"}"#, end),
        3.0
    );
    assert_eq!(
        total(&store, r#"dora_deployments_total{service="web"}"#, end),
        1.0
    );
}

#[test]
fn incident_arriving_after_its_deployment_marks_it_failed_once() {
    let mut store = Storage::new();
    let mut writer = SeriesWriter::new();
    append_events(
        &mut store,
        &mut writer,
        &log_of(&[dep("d1", "api", "2024-05-10T12:00:00Z", "success", &[], false)]),
    );
    append_events(
        &mut store,
        &mut writer,
        &log_of(&[
            inc(
                "i1",
                "web",
                "2024-05-10T13:00:00Z",
                Some("2024-05-10T14:00:00Z"),
                Some("d1"),
            ),
            inc("i2", "web", "2024-05-10T15:00:00Z", None, Some("d1")),
        ]),
    );
    let end = t("2024-05-31T00:00:00Z");
    // Counted under the deployment's service, once.
    let failed = query(&store, "last_over_time(dora_failed_deployments_total[90d])", end);
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].0.get("service"), Some("api"));
    assert_eq!(failed[0].1, 1.0);
    assert_eq!(total(&store, r#"dora_incidents_total{service="web"}"#, end), 2.0);
}

#[test]
fn writer_continues_a_series_already_in_the_store() {
    // As after `burnwatch serve --load` of an export: the counter goes on from the stored value.
    let mut store = Storage::new();
    let labels = Labels::from_pairs([
        ("__name__", "dora_deployments_total"),
        ("service", "api"),
        ("status", "success"),
    ]);
    store.append(&labels, t("2024-05-01T00:00:00Z"), 7.0).unwrap();
    assert_eq!(
        newest_stored(&store, &labels),
        Some((t("2024-05-01T00:00:00Z"), 7.0))
    );
    let mut writer = SeriesWriter::new();
    let out = append_events(
        &mut store,
        &mut writer,
        &log_of(&[dep("d1", "api", "2024-05-10T12:00:00Z", "success", &[], false)]),
    );
    assert!(out.store_errors.is_empty(), "{:?}", out.store_errors);
    assert_eq!(
        scalar(&store, "dora_deployments_total", t("2024-05-10T12:00:00Z")),
        8.0
    );
}

#[test]
fn openmetrics_export_loads_back_with_the_same_values() {
    let lines = [
        dep(
            "d1",
            "api",
            "2024-05-10T12:00:00Z",
            "success",
            &[("a", "2024-05-10T11:00:00Z")],
            false,
        ),
        dep(
            "d2",
            "api",
            "2024-05-10T12:00:00Z",
            "success",
            &[("b", "2024-05-10T10:00:00Z")],
            true,
        ),
        dep(
            "d3",
            r#"web \"x\""#,
            "2024-05-11T12:00:00Z",
            "failure",
            &[],
            false,
        ),
        inc(
            "i1",
            "api",
            "2024-05-10T13:00:00Z",
            Some("2024-05-10T13:20:00Z"),
            Some("d1"),
        ),
    ];
    let mut writer = SeriesWriter::new();
    let batch = writer.write(&log_of(&lines), &|_: &Labels| None);
    let text = to_openmetrics(&batch.samples);
    assert!(text.ends_with("# EOF\n"));
    assert!(text.contains("# TYPE dora_deployments counter\n"), "{text}");
    // Two deployments at one instant make one sample of 2, after the 0 one millisecond before.
    assert!(
        text.contains(
            "dora_deployments_total{service=\"api\",status=\"success\"} 0 1715342399.999\n\
             dora_deployments_total{service=\"api\",status=\"success\"} 2 1715342400.000\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"dora_deployments_total{service="web \"x\"",status="failure"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"dora_lead_time_seconds_bucket{le="3600.0",service="api"} 1 1715342400.000"#),
        "{text}"
    );
    let mut store = Storage::new();
    let stats = crate::ingest::import_text(&mut store, &text).unwrap();
    assert_eq!(stats.samples, batch.samples.len());
    let end = t("2024-05-31T00:00:00Z");
    assert_eq!(total(&store, "dora_lead_time_seconds_sum", end), 3.0 * 3600.0);
    assert_eq!(total(&store, "dora_recovery_time_seconds_sum", end), 1200.0);
    assert_eq!(total(&store, "dora_failed_deployments_total", end), 2.0);
    // The median lead time through histogram_quantile lies in the (3600, 7200] bucket.
    let q = scalar(
        &store,
        "histogram_quantile(0.5, sum by (le) (last_over_time(dora_lead_time_seconds_bucket[90d])))",
        end,
    );
    assert!((1800.0..=7200.0).contains(&q), "{q}");
}

#[tokio::test]
async fn post_events_counts_them_and_lists_bad_lines() {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt as _;

    let store = crate::shared::new_shared();
    let app = crate::api::router(crate::api::ApiState::new(store.clone(), Default::default()));
    let body = [
        dep("d1", "api", "2024-05-10T12:00:00Z", "success", &[], false),
        "{\"type\":\"deployment\"}".to_string(),
        dep("d2", "api", "2024-05-11T12:00:00Z", "failure", &[], false),
    ]
    .join("\n");
    let post = |body: String| {
        Request::post("/api/v1/dora/events")
            .header("content-type", "application/x-ndjson")
            .body(Body::from(body))
            .unwrap()
    };
    let res = app.clone().oneshot(post(body)).await.unwrap();
    assert_eq!(res.status(), 200);
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(json["accepted"], 2);
    assert_eq!(json["rejected"], 1);
    assert_eq!(json["errors"][0]["line"], 2);
    assert!(
        json["errors"][0]["error"]
            .as_str()
            .unwrap()
            .contains("missing field")
    );
    {
        let guard = store.read().unwrap();
        assert_eq!(
            total(&guard, "dora_deployments_total", t("2024-05-31T00:00:00Z")),
            2.0
        );
    }
    // The same events again: nothing usable, 400 with the reasons.
    let again = dep("d1", "api", "2024-05-10T12:00:00Z", "success", &[], false);
    let res = app.clone().oneshot(post(again)).await.unwrap();
    assert_eq!(res.status(), 400);
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(json["accepted"], 0);
    assert!(json["errors"][0]["error"].as_str().unwrap().contains("duplicate"));
    // An empty body and a broken array are refused.
    let res = app.clone().oneshot(post(String::new())).await.unwrap();
    assert_eq!(res.status(), 400);
    let res = app.clone().oneshot(post("[{".to_string())).await.unwrap();
    assert_eq!(res.status(), 400);
    // A JSON array body: item positions.
    let array = format!(
        "[{}]",
        dep("d9", "api", "2024-05-20T12:00:00Z", "success", &[], false)
    );
    let res = app.oneshot(post(array)).await.unwrap();
    assert_eq!(res.status(), 200);
}

#[test]
fn events_outside_a_sane_time_range_are_refused_with_their_line() {
    let lines = [
        dep("y0", "api", "0000-01-01T00:00:00Z", "success", &[], false),
        dep("y9999", "api", "9999-12-31T23:59:59Z", "success", &[], false),
        dep("y2199", "api", "2199-01-01T00:00:00Z", "success", &[], false),
        dep(
            "old-commit",
            "api",
            "2024-05-10T12:00:00Z",
            "success",
            &[("abc", "0001-01-01T00:00:00Z")],
            false,
        ),
        inc(
            "i1",
            "api",
            "2024-05-10T12:00:00Z",
            Some("2199-01-01T00:00:00Z"),
            None,
        ),
        dep("good", "api", "2024-05-10T12:00:00Z", "success", &[], false),
    ];
    let (log, errors) = parse_jsonl(&lines.join("\n"));
    let got: Vec<usize> = errors.iter().map(|e| e.position.number()).collect();
    assert_eq!(got, vec![1, 2, 3, 4, 5], "{errors:?}");
    for e in &errors {
        assert!(e.reason.contains("outside the accepted range"), "{e}");
    }
    assert!(
        errors[2].reason.contains("field `time`: 2199-01-01T00:00:00Z"),
        "{}",
        errors[2]
    );
    assert!(errors[3].reason.contains("commits[0].time"), "{}", errors[3]);
    assert!(errors[4].reason.contains("field `resolved`"), "{}", errors[4]);
    assert_eq!(log.len(), 1, "the good event is kept");
}

#[tokio::test]
async fn a_far_future_dora_post_is_refused_and_stores_nothing() {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt as _;

    let store = crate::shared::new_shared();
    let app = crate::api::router(crate::api::ApiState::new(store.clone(), Default::default()));
    let body = dep("future", "api", "2199-01-01T00:00:00Z", "success", &[], false);
    let req = Request::post("/api/v1/dora/events")
        .header("content-type", "application/x-ndjson")
        .body(Body::from(body))
        .unwrap();
    let res = app.oneshot(req).await.unwrap();
    assert_eq!(res.status(), 400);
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(json["errors"][0]["line"], 1, "{json}");
    assert_eq!(store.read().unwrap().num_samples(), 0);
}

#[tokio::test]
async fn dora_post_without_a_json_content_type_gets_415_and_stores_nothing() {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt as _;

    let store = crate::shared::new_shared();
    let app = crate::api::router(crate::api::ApiState::new(store.clone(), Default::default()));
    let post = |ct: Option<&str>, day: u32| {
        let mut req = Request::post("/api/v1/dora/events");
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        let time = format!("2024-05-{day:02}T12:00:00Z");
        req.body(Body::from(dep(
            &format!("d{day}"),
            "api",
            &time,
            "success",
            &[],
            false,
        )))
        .unwrap()
    };
    // What a cross-site page can send without a CORS preflight, and no type at all.
    for ct in [
        Some("text/plain"),
        Some("text/plain;charset=UTF-8"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        None,
    ] {
        let res = app.clone().oneshot(post(ct, 1)).await.unwrap();
        assert_eq!(res.status(), 415, "{ct:?}");
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert!(
            json["error"].as_str().unwrap().contains("application/x-ndjson"),
            "{json}"
        );
    }
    assert_eq!(store.read().unwrap().num_samples(), 0);
    // The JSON types are taken (what the demo and the docs send).
    for (day, ct) in [
        (10, "application/x-ndjson"),
        (11, "application/json; charset=utf-8"),
        (12, "application/jsonl"),
    ] {
        let res = app.clone().oneshot(post(Some(ct), day)).await.unwrap();
        assert_eq!(res.status(), 200, "{ct}");
    }
}

#[test]
fn an_invalid_utf8_line_is_reported_by_number_and_the_rest_kept() {
    let mut bytes = dep("d1", "api", "2024-05-10T12:00:00Z", "success", &[], false).into_bytes();
    bytes.extend_from_slice(b"\n{\"type\":\"deployment\",\xff\xfe}\r\n");
    bytes.extend_from_slice(dep("d2", "api", "2024-05-11T12:00:00Z", "success", &[], false).as_bytes());
    let (log, errors) = super::parse_jsonl_bytes(&bytes);
    assert_eq!(log.len(), 2);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].position, Position::Line(2));
    assert!(
        errors[0]
            .reason
            .contains("not valid UTF-8 (invalid byte 0xff at column 22)"),
        "{}",
        errors[0]
    );
    // The POST body gets the same treatment: 200 with the bad line listed.
    let (log, errors) = parse_body(&bytes).unwrap();
    assert_eq!((log.len(), errors.len()), (2, 1));
}

#[tokio::test]
async fn dora_event_ids_survive_a_restart_through_the_journal() {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt as _;

    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join(crate::api::dora::JOURNAL_FILE);
    let store = crate::shared::new_shared();
    let app = |state: crate::api::dora::DoraState| {
        let mut api = crate::api::ApiState::new(store.clone(), Default::default());
        api.dora = Some(state);
        crate::api::router(api)
    };
    let post = |app: axum::Router, body: String| async move {
        let req = Request::post("/api/v1/dora/events")
            .header("content-type", "application/x-ndjson")
            .body(Body::from(body))
            .unwrap();
        let res = app.oneshot(req).await.unwrap();
        let status = res.status().as_u16();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
        (
            status,
            serde_json::from_slice::<serde_json::Value>(&bytes).unwrap(),
        )
    };
    let first = crate::api::dora::DoraState::with_journal(store.clone(), &journal).unwrap();
    let body = [
        dep(
            "d1",
            "api",
            "2024-05-10T12:00:00Z",
            "success",
            &[("c1", "2024-05-10T09:00:00Z")],
            false,
        ),
        inc(
            "i1",
            "api",
            "2024-05-10T13:00:00Z",
            Some("2024-05-10T14:00:00Z"),
            Some("d1"),
        ),
    ]
    .join("\n");
    let (status, reply) = post(app(first), body).await;
    assert_eq!(
        (status, &reply["accepted"]),
        (200, &serde_json::json!(2)),
        "{reply}"
    );

    // A restart: a new writer over the same (durable) store, reading the journal back.
    let restarted = crate::api::dora::DoraState::with_journal(store.clone(), &journal).unwrap();
    let again = [
        // The same id with a later time, and as a failure: both counted again without the
        // journal (the store has no sample of these series at or after them).
        dep("d1", "api", "2024-05-11T12:00:00Z", "success", &[], false),
        dep("d1", "api", "2024-05-10T12:00:00Z", "failure", &[], false),
    ];
    for body in again {
        let (status, reply) = post(app(restarted.clone()), body).await;
        assert_eq!(status, 400, "{reply}");
        assert!(
            reply["errors"][0]["error"]
                .as_str()
                .unwrap()
                .contains("duplicate deployment id"),
            "{reply}"
        );
    }
    // An incident naming d1 under a new id does not count d1 as failed a second time, and
    // commit c1 is not observed again by a retry that carries it.
    let more = [
        inc(
            "i2",
            "api",
            "2024-05-12T13:00:00Z",
            Some("2024-05-12T14:00:00Z"),
            Some("d1"),
        ),
        dep(
            "d2",
            "api",
            "2024-05-12T15:00:00Z",
            "success",
            &[("c1", "2024-05-10T09:00:00Z")],
            false,
        ),
    ]
    .join("\n");
    let (status, reply) = post(app(restarted), more).await;
    assert_eq!(status, 200, "{reply}");
    let guard = store.read().unwrap();
    let end = t("2024-05-31T00:00:00Z");
    assert_eq!(total(&guard, "dora_deployments_total", end), 2.0);
    assert_eq!(total(&guard, "dora_failed_deployments_total", end), 1.0);
    assert_eq!(total(&guard, "dora_lead_time_seconds_count", end), 1.0);
}
