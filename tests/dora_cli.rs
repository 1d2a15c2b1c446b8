//! `burnwatch dora` end to end: the report (table and JSON) over examples/dora/events.jsonl, bad
//! lines named on stderr, events POSTed to a running `burnwatch serve` read back through
//! `/api/v1/query`, and the OpenMetrics export loaded by promtool and by `burnwatch serve --load`.
//!
//! The expected numbers of examples/dora/events.jsonl over (2024-05-01, 2024-05-31]:
//! - checkout: 20 deployments (one failed, checkout-8; checkout-14 and -18 caused incidents),
//!   lead times 15 x 3h, 4 x 24h, 1 x 27h (c0a1e08, first deployed by checkout-9), recoveries
//!   1h30m and 40m, remediation deployments checkout-9 and -15;
//! - search: 4 deployments with 48h lead times, search-24 caused a 26h incident;
//! - all: 24 deployments = 0.8/day (high), median lead 3h (elite), p90 48h, 4 of 24 failed =
//!   16.7% (high), median recovery 1h30m (high), rework 2 of 24 = 8.3%; overall high.
//!   checkout-0 (April) is outside the window.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use common::*;

const AT: &str = "2024-05-31T00:00:00Z";

fn example() -> String {
    repo_root()
        .join("examples/dora/events.jsonl")
        .to_str()
        .unwrap()
        .to_string()
}

fn burnwatch(args: &[&str]) -> Output {
    Command::new(burnwatch_bin()).args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn dora_report_prints_a_table_with_tiers() {
    let out = burnwatch(&["dora", "report", "--events", &example(), "--at", AT]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "", "the example has no bad lines");
    let text = stdout(&out);
    let row = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} row in:\n{text}"))
            .to_string()
    };
    assert!(
        text.contains("window 30d (2024-05-01T00:00:00Z .. 2024-05-31T00:00:00Z"),
        "{text}"
    );
    let freq = row("deployment frequency");
    assert!(
        freq.contains("0.80/day, daily to weekly (24 deployments)") && freq.ends_with("high"),
        "{freq}"
    );
    let lead = row("lead time for changes");
    assert!(
        lead.contains("median 3h, p90 2d (24 changes)") && lead.ends_with("elite"),
        "{lead}"
    );
    let cfr = row("change failure rate");
    assert!(cfr.contains("16.7% (4 of 24)") && cfr.ends_with("high"), "{cfr}");
    let rec = row("failed deployment recovery time");
    assert!(
        rec.contains("median 1h 30m (3 recoveries, 0 open)") && rec.ends_with("high"),
        "{rec}"
    );
    let rework = row("deployment rework rate");
    assert!(
        rework.contains("8.3% (2 of 24)") && rework.ends_with("none (no 2024 levels)"),
        "{rework}"
    );
    assert!(text.contains("overall: high"), "{text}");
}

#[test]
fn dora_report_json_for_one_service() {
    let out = burnwatch(&[
        "dora",
        "report",
        "--events",
        &example(),
        "--at",
        AT,
        "--service",
        "search",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let m = &json["metrics"];
    assert_eq!(json["service"], "search");
    assert_eq!(json["window"]["start"], "2024-05-01T00:00:00Z");
    assert_eq!(json["window"]["seconds"], 2_592_000.0);
    // 4 in 30 days is just under once a week: medium.
    assert_eq!(m["deployment_frequency"]["deployments"], 4);
    assert_eq!(m["deployment_frequency"]["bucket"], "weekly_to_monthly");
    assert_eq!(m["deployment_frequency"]["tier"], "medium");
    assert_eq!(m["lead_time"]["median_seconds"], 172_800.0);
    assert_eq!(m["lead_time"]["tier"], "high");
    assert_eq!(m["change_failure_rate"]["value"], 0.25);
    assert_eq!(m["change_failure_rate"]["tier"], "low");
    assert_eq!(m["recovery_time"]["median_seconds"], 93_600.0);
    assert_eq!(m["recovery_time"]["tier"], "low");
    assert_eq!(m["rework_rate"]["value"], 0.0);
    assert!(m["rework_rate"]["tier"].is_null());
    assert_eq!(json["overall_tier"], "low");
}

#[test]
fn dora_report_on_an_empty_window_says_na() {
    let out = burnwatch(&[
        "dora",
        "report",
        "--events",
        &example(),
        "--at",
        "2023-01-01T00:00:00Z",
        "--window",
        "7d",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(!text.contains("NaN"), "{text}");
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(json["metrics"]["change_failure_rate"]["value"].is_null());
    assert!(json["metrics"]["lead_time"]["median_seconds"].is_null());
    assert!(json["overall_tier"].is_null());
    let table = burnwatch(&[
        "dora",
        "report",
        "--events",
        &example(),
        "--at",
        "2023-01-01T00:00:00Z",
    ]);
    assert!(
        stdout(&table).contains("n/a (no deployments)"),
        "{}",
        stdout(&table)
    );
}

#[test]
fn dora_report_names_bad_lines_on_stderr_and_keeps_the_good_ones() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(
        dir.path(),
        "events.jsonl",
        concat!(
            r#"{"type":"deployment","id":"d1","service":"api","time":"2024-05-10T12:00:00Z","status":"success"}"#,
            "\n",
            r#"{"type":"deployment","id":"d2","service":"api","status":"success"}"#,
            "\n",
            r#"{"type":"incident","id":"i1","service":"api","start":"2024-05-10T13:00:00Z","resolved":"2024-05-10T12:00:00Z","deployment":"d1"}"#,
            "\n",
            r#"{"type":"deploy","id":"d3"}"#,
            "\n",
            r#"{"type":"deployment","id":"d1","service":"api","time":"2024-05-11T12:00:00Z","status":"failure"}"#,
            "\n",
        ),
    );
    let path = file.to_str().unwrap();
    let out = burnwatch(&["dora", "report", "--events", path, "--at", AT, "--json"]);
    assert!(
        out.status.success(),
        "bad lines do not fail the run: {}",
        stderr(&out)
    );
    let err = stderr(&out);
    assert!(err.contains(&format!("{path}:2: missing field `time`")), "{err}");
    assert!(
        err.contains(&format!(
            "{path}:3: resolved 2024-05-10T12:00:00Z is before start"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("{path}:4: unknown variant `deploy`")),
        "{err}"
    );
    assert!(
        err.contains(&format!("{path}:5: duplicate deployment id \"d1\"")),
        "{err}"
    );
    assert!(err.contains("skipped 4 bad line(s), kept 1 event(s)"), "{err}");
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["deployments"], 1);
    assert_eq!(json["metrics"]["change_failure_rate"]["value"], 0.0);
}

#[test]
fn dora_report_fails_on_an_unreadable_file_or_bad_flags() {
    let out = burnwatch(&["dora", "report", "--events", "/nonexistent/events.jsonl"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot read --events /nonexistent/events.jsonl"),
        "{}",
        stderr(&out)
    );
    let out = burnwatch(&["dora", "report", "--events", &example(), "--window", "a month"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("--window \"a month\" is not a duration"),
        "{}",
        stderr(&out)
    );
    let out = burnwatch(&["dora", "report", "--events", &example(), "--at", "tomorrow"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--at"), "{}", stderr(&out));
}

fn start_serve(dir: &std::path::Path, extra: &[&str]) -> (Proc, String) {
    let listen = format!("127.0.0.1:{}", free_port());
    let mut args = vec!["serve", "--listen", listen.as_str()];
    args.extend_from_slice(extra);
    let proc = spawn("burnwatch-serve", &burnwatch_bin(), &args, dir, &[]);
    let base = format!("http://{listen}");
    let ready = wait_for(Duration::from_secs(30), || {
        http_get(&format!("{base}/-/ready")).filter(|(s, _)| *s == 200)
    });
    assert!(
        ready.is_some(),
        "burnwatch serve did not start:\n{}",
        proc.output()
    );
    (proc, base)
}

/// The single value of an instant query through the HTTP API.
fn query_value(base: &str, q: &str, at: &str) -> Option<f64> {
    let url = format!("{base}/api/v1/query?query={}&time={at}", encode(q));
    let (status, body) = http_get(&url)?;
    assert_eq!(status, 200, "{q}: {body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let result = json["data"]["result"].as_array()?;
    let first = result.first()?;
    first["value"][1].as_str()?.parse().ok()
}

/// Percent-encoding for a query parameter.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn dora_events_posted_to_serve_are_queryable() {
    let dir = tempfile::tempdir().unwrap();
    let (_serve, base) = start_serve(dir.path(), &[]);
    let body = std::fs::read(example()).unwrap();
    let url = format!("{base}/api/v1/dora/events");
    let res = http_request("POST", &url, &[("Content-Type", "application/x-ndjson")], &body).unwrap();
    assert_eq!(res.status, 200, "{}", res.text());
    let reply: serde_json::Value = serde_json::from_slice(&res.body).unwrap();
    assert_eq!(reply["accepted"], 29, "{reply}");
    assert_eq!(reply["rejected"], 0, "{reply}");

    // The series are sparse (one sample per event), so read their newest values with
    // last_over_time: 25 deployments in all (checkout-0 in April too).
    assert_eq!(
        query_value(&base, "sum(last_over_time(dora_deployments_total[90d]))", AT),
        Some(25.0)
    );
    assert_eq!(
        query_value(
            &base,
            r#"last_over_time(dora_deployments_total{service="checkout",status="failure"}[90d])"#,
            AT
        ),
        Some(1.0)
    );
    // At the instant of an event the plain selector sees it.
    assert_eq!(
        query_value(
            &base,
            r#"dora_deployments_total{service="search"}"#,
            "2024-05-24T15:00:00Z"
        ),
        Some(4.0)
    );
    // Counted since the start of the log, the failure ratio is 4 of 25.
    let cfr = query_value(
        &base,
        "sum(last_over_time(dora_failed_deployments_total[90d])) / sum(last_over_time(dora_deployments_total[90d]))",
        AT,
    )
    .unwrap();
    assert!((cfr - 4.0 / 25.0).abs() < 1e-9, "{cfr}");
    let total = |name: &str| query_value(&base, &format!("sum(last_over_time({name}[90d]))"), AT);
    assert_eq!(total("dora_lead_time_seconds_count"), Some(25.0));
    assert_eq!(total("dora_recovery_time_seconds_count"), Some(3.0));
    assert_eq!(total("dora_rework_deployments_total"), Some(2.0));
    assert_eq!(total("dora_incidents_total"), Some(4.0));

    // A JSON array with a bad item and an old event: counted what it can, says what it refused.
    let more = r#"[
        {"type":"deployment","id":"late","service":"checkout","time":"2024-06-01T10:00:00Z","status":"success"},
        {"type":"deployment","id":"old","service":"checkout","time":"2024-05-01T10:00:00Z","status":"success"},
        {"type":"incident","id":"i9","service":"checkout","start":"2024-06-01T11:00:00Z","resolved":"2024-06-01T10:00:00Z"}
    ]"#;
    let res = http_request(
        "POST",
        &url,
        &[("Content-Type", "application/json")],
        more.as_bytes(),
    )
    .unwrap();
    assert_eq!(res.status, 200, "{}", res.text());
    let reply: serde_json::Value = serde_json::from_slice(&res.body).unwrap();
    assert_eq!(reply["accepted"], 1, "{reply}");
    assert_eq!(reply["rejected"], 2, "{reply}");
    assert_eq!(reply["errors"][0]["item"], 2, "{reply}");
    assert!(
        reply["errors"][0]["error"]
            .as_str()
            .unwrap()
            .contains("not newer"),
        "{reply}"
    );
    assert_eq!(reply["errors"][1]["item"], 3, "{reply}");
    assert_eq!(
        query_value(
            &base,
            "sum(last_over_time(dora_deployments_total[90d]))",
            "2024-06-02T00:00:00Z"
        ),
        Some(26.0)
    );

    // Nothing usable: 400.
    let ndjson = [("Content-Type", "application/x-ndjson")];
    let res = http_request("POST", &url, &ndjson, b"{\"type\":\"nope\"}\n").unwrap();
    assert_eq!(res.status, 400, "{}", res.text());
    assert!(res.text().contains("line"), "{}", res.text());
}

#[test]
fn dora_export_loads_into_promtool_and_serve() {
    let dir = tempfile::tempdir().unwrap();
    let out = burnwatch(&["dora", "export", "--events", &example()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.ends_with("# EOF\n"));
    let file = write_file(dir.path(), "dora.om", &text);

    // burnwatch serve --load reads it back.
    let (_serve, base) = start_serve(dir.path(), &["--load", file.to_str().unwrap()]);
    let total = |name: &str| query_value(&base, &format!("sum(last_over_time({name}[90d]))"), AT);
    assert_eq!(total("dora_deployments_total"), Some(25.0));
    assert_eq!(total("dora_failed_deployments_total"), Some(4.0));

    // And so does the real Prometheus tooling.
    let Some(promtool) = require_tool("promtool", "apt-get install prometheus") else {
        return;
    };
    let blocks = dir.path().join("blocks");
    let created = Command::new(&promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&file)
        .arg(&blocks)
        .output()
        .unwrap();
    assert!(
        created.status.success(),
        "promtool refused the export: {}{}",
        stdout(&created),
        stderr(&created)
    );
    // promtool 2.42's dump opens the directory as a database and wants its (here empty) WAL.
    std::fs::create_dir_all(blocks.join("wal")).unwrap();
    let dump = Command::new(&promtool)
        .args(["tsdb", "dump"])
        .arg(&blocks)
        .output()
        .unwrap();
    assert!(dump.status.success(), "{}", stderr(&dump));
    let dump = stdout(&dump);
    // checkout's 20th successful deployment in all (checkout-0 .. -20 less the failed -8), at
    // 2024-05-21T10:00:00Z = 1716285600000 ms.
    let line = dump
        .lines()
        .find(|l| {
            l.contains("__name__=\"dora_deployments_total\"")
                && l.contains("service=\"checkout\"")
                && l.contains("status=\"success\"")
                && l.ends_with(" 1716285600000")
        })
        .unwrap_or_else(|| panic!("no checkout success sample at 2024-05-21T10:00Z in the dump"));
    assert!(line.contains(" 20 "), "{line}");
}

#[test]
fn dora_report_names_an_invalid_utf8_line_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = Vec::new();
    bytes.extend_from_slice(
        br#"{"type":"deployment","id":"d1","service":"api","time":"2024-05-10T12:00:00Z","status":"success"}"#,
    );
    bytes.push(b'\n');
    // Latin-1 "é" inside a service name: not UTF-8.
    bytes.extend_from_slice(br#"{"type":"deployment","id":"d2","service":"caf"#);
    bytes.push(0xe9);
    bytes.extend_from_slice(br#"","time":"2024-05-11T12:00:00Z","status":"success"}"#);
    bytes.push(b'\n');
    bytes.extend_from_slice(
        br#"{"type":"deployment","id":"d3","service":"api","time":"2024-05-12T12:00:00Z","status":"failure"}"#,
    );
    bytes.push(b'\n');
    let file = dir.path().join("events.jsonl");
    std::fs::write(&file, &bytes).unwrap();
    let path = file.to_str().unwrap();
    let out = burnwatch(&["dora", "report", "--events", path, "--at", AT, "--json"]);
    assert!(
        out.status.success(),
        "one bad line does not fail the run: {}",
        stderr(&out)
    );
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "{path}:2: the line is not valid UTF-8 (invalid byte 0xe9 at column 46)"
        )),
        "{err}"
    );
    assert!(err.contains("skipped 1 bad line(s), kept 2 event(s)"), "{err}");
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["deployments"], 2, "{json}");
}

/// Issue #14 §3 "the dashboard renders, slo computes": `dora report --prometheus-url` and the
/// dashboard's DORA view (the tui's fetch, over HTTP) read the same series of a running `burnwatch
/// serve` and show the same numbers: values, windows before, tiers, trends and weekly bars. The
/// view's recent events come back from the server's list with their links.
#[test]
fn dora_report_from_series_shows_what_the_dashboard_shows() {
    let dir = tempfile::tempdir().unwrap();
    let (_serve, base) = start_serve(dir.path(), &[]);
    let body = std::fs::read(example()).unwrap();
    let url = format!("{base}/api/v1/dora/events");
    let res = http_request("POST", &url, &[("Content-Type", "application/x-ndjson")], &body).unwrap();
    assert_eq!(res.status, 200, "{}", res.text());

    let out = burnwatch(&["dora", "report", "--prometheus-url", &base, "--at", AT, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let cli: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(cli["has_data"], true, "{cli}");
    assert_eq!(cli["window"], "30d");

    let at_ms = burnwatch_slo::api::params::parse_rfc3339(AT).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let backend = burnwatch_tui::fetch::HttpBackend::new(
        base.as_str(),
        Vec::new(),
        Duration::from_secs(60),
        burnwatch_tui::fetch::DEFAULT_COLLECTOR_JOB,
    );
    let snap = rt.block_on(backend.fetch(None, at_ms));
    // Through JSON text as the CLI's went (serde_json's float parsing is not correctly rounded).
    let view: serde_json::Value = serde_json::from_str(&serde_json::to_string(&snap.dora).unwrap()).unwrap();
    assert_eq!(cli["metrics"], view["metrics"], "CLI:\n{cli:#}\nview:\n{view:#}");
    // Real numbers, not two empty answers: 19 deployments in the 30 days up to AT.
    let freq = cli["metrics"][0]["value"].as_f64().unwrap();
    assert!(freq > 0.0, "{cli}");
    assert_eq!(cli["metrics"][0]["weekly"].as_array().unwrap().len(), 5);

    // The table says the same.
    let out = burnwatch(&["dora", "report", "--prometheus-url", &base, "--at", AT]);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    let first = &snap.dora.metrics[0];
    assert!(table.contains(&first.display), "{table}");

    // Recent events: the newest first, a failed deployment linked to its incident.
    let recent = snap.dora.recent.expect("burnwatch serve lists its events");
    assert_eq!(recent.total, 29);
    assert!(
        recent.events.windows(2).all(|w| w[0].time_ms >= w[1].time_ms),
        "{recent:?}"
    );
    let linked = recent
        .events
        .iter()
        .find(|e| e.kind == "incident" && e.deployment.is_some())
        .expect("an incident caused by a deployment");
    let cause = linked.deployment.as_deref().unwrap();
    if let Some(d) = recent.events.iter().find(|e| e.id == cause) {
        assert!(d.failed && d.incidents.contains(&linked.id), "{d:?}");
    }

    // --service filters events, not series: refused by name with --prometheus-url.
    let out = burnwatch(&[
        "dora",
        "report",
        "--prometheus-url",
        &base,
        "--service",
        "checkout",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--service"), "{}", stderr(&out));
}
