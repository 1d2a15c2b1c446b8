//! The Grafana dashboards in `dashboards/grafana/` (issue 15 §1).
//!
//! - Structure: every dashboard parses as Grafana's JSON model with a current `schemaVersion`,
//!   its stable `uid`, an `__inputs` entry for import and a `datasource` variable of type
//!   prometheus that every panel and target references (`${datasource}`); panel ids are unique,
//!   every panel lies inside the 24-column grid and no two overlap; every `$variable` an
//!   expression or a variable query uses is defined (before it, for variables) or is one of
//!   Grafana's built-ins. A second test breaks copies of the dashboards on purpose and checks
//!   that each check reports it.
//! - The DORA dashboard's expressions are the ones `burnwatch dora report` and the dashboard's DORA
//!   view run (`burnwatch_slo::dora::query`).
//! - Differential: `burnwatch up --demo --headless` runs until the demo's month of history, its
//!   DORA events, a couple of minutes of live traffic and collector self-metrics (with an OTLP
//!   exporter whose endpoint refuses connections, so failures, queues and send latency have
//!   series) and a firing alert are in its store (about three minutes); every raw sample is then read back from that store (`burnwatch serve --data-dir`)
//!   and written as OpenMetrics, which goes into a real Prometheus 2.42 (`promtool tsdb
//!   create-blocks-from openmetrics`) and into a fresh `burnwatch serve --load`. The recording
//!   rules `burnwatch slo generate` writes for the demo's SLOs are evaluated over the last six
//!   hours by Prometheus (each rule a range query every minute, as Prometheus's rule manager and
//!   `promtool tsdb create-blocks-from rules` do, rules that read other rules' series in a later
//!   pass) and their samples go into both as well, so both hold exactly the same samples. Then,
//!   as Grafana would, each template variable's values are read from the server
//!   (`/api/v1/label/NAME/values?match[]=...`, the same on both), substituted (every SLO of the
//!   detail dashboard in turn), and every target runs as a range query over its panel's time
//!   range on both: no error, data where the data set has it, the same series and values
//!   (relative 1e-9).
//!
//! Documented Prometheus 2.x / 3.x differences (burnwatch follows 3.x) are kept out of the
//! comparison by the choice of times: 2.42's range windows and lookback are closed `[t - r, t]`,
//! 3.x's left-open, so query steps sit at an offset within the minute that no sample has (the
//! recorded samples are [`RULE_PHASE_MS`] past the minute, raw ones wherever their scrape or the
//! history put them, and every window in the dashboards is whole minutes; a subquery's inner
//! steps are whole hours, which no recorded sample is). `rate()` limits its extrapolation at a
//! counter's zero point before (2.x) or after (3.x) the extrapolation threshold: the collector's
//! counters start at zero when `up` starts, so collector panels are compared from two minutes
//! after their first sample on, and the send-latency buckets, which stay near zero, are compared
//! by series only ([`VALUES_NOT_COMPARED`]).
//!
//! The dashboards are not validated against a published JSON schema: `@grafana/schema` (npm,
//! 13.2.3 checked) ships TypeScript types and defaults generated from Grafana's CUE kinds, no
//! JSON Schema, and no other package found does (see the README).

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::prom_pair::post_form;
use common::{
    Proc, burnwatch_bin, free_port, http_get, repo_root, require_tool, spawn, urlencode, wait_for, write_file,
};
use serde_json::Value as Json;

/// The dashboards and their stable uids (links and provisioning depend on them).
const DASHBOARDS: [(&str, &str); 4] = [
    ("slo-overview.json", "burnwatch-slo-overview"),
    ("slo-detail.json", "burnwatch-slo-detail"),
    ("collector.json", "burnwatch-collector"),
    ("dora.json", "burnwatch-dora"),
];

/// The `schemaVersion` Grafana 12 writes (the dashboards were written for 12; 11.x reads them
/// too and 13 migrates them on load).
const SCHEMA_VERSION: i64 = 41;

/// Grafana's global variables a query may use besides the dashboard's own.
const BUILT_INS: [&str; 6] = [
    "__from",
    "__to",
    "__interval",
    "__interval_ms",
    "__rate_interval",
    "__range",
];

const MIN_MS: i64 = 60_000;

/// Where in the minute the recording rules are evaluated: not on the whole minute, where the
/// lookback of a subquery's inner steps (whole hours, 5 minutes back) would end exactly on a
/// recorded sample, which 2.42's closed lookback takes and 3.x's left-open one does not (seen
/// on the burndown's last point, where the recorded series stop before the hour without data
/// between the demo's history and its live traffic).
const RULE_PHASE_MS: i64 = 7_250;

/// Panels whose values are not compared (their series are, and errors), with the documented
/// 2.x/3.x difference that makes the values differ on this data: per-attempt latency buckets
/// of a three-minute run hold counts near zero, where `rate()` limits its extrapolation at the
/// zero point before (2.x) or after (3.x) the extrapolation threshold.
const VALUES_NOT_COMPARED: [(&str, &str); 1] = [(
    "Exporter send latency",
    "rate() over buckets near zero: 2.x and 3.x limit extrapolation differently",
)];

fn dashboards_dir() -> PathBuf {
    repo_root().join("dashboards/grafana")
}

fn load_dashboards() -> Vec<(String, Json)> {
    DASHBOARDS
        .iter()
        .map(|(file, _)| {
            let path = dashboards_dir().join(file);
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file} does not parse: {e}"));
            (file.to_string(), json)
        })
        .collect()
}

/// Every panel, the panels inside rows included.
fn panels(dash: &Json) -> Vec<&Json> {
    let mut out = Vec::new();
    for p in dash["panels"].as_array().into_iter().flatten() {
        out.push(p);
        out.extend(p["panels"].as_array().into_iter().flatten());
    }
    out
}

/// The names a text refers to as `$name`, `${name}`, `${name:format}` or `[[name]]`.
fn variable_refs(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' {
            let (start, braced) = if b.get(i + 1) == Some(&b'{') {
                (i + 2, true)
            } else {
                (i + 1, false)
            };
            let mut end = start;
            while end < b.len() && ident(b[end]) {
                end += 1;
            }
            if end > start && (!braced || matches!(b.get(end), Some(b'}' | b':'))) {
                out.push(text[start..end].to_string());
            }
            i = end.max(i + 1);
        } else if text[i..].starts_with("[[") {
            if let Some(close) = text[i..].find("]]") {
                let name = text[i + 2..i + close].split(':').next().unwrap_or_default();
                if !name.is_empty() && name.bytes().all(ident) {
                    out.push(name.to_string());
                }
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    out
}

/// The text of a variable's query (Grafana writes a string, or an object with `query`).
fn variable_query(var: &Json) -> String {
    match &var["query"] {
        Json::String(s) => s.clone(),
        q => q["query"].as_str().unwrap_or_default().to_string(),
    }
}

/// What is wrong with one dashboard (`uid` its expected uid); empty when nothing is.
fn problems(file: &str, uid: &str, dash: &Json) -> Vec<String> {
    let mut out = Vec::new();
    let mut bad = |m: String| out.push(format!("{file}: {m}"));
    if dash["uid"] != uid {
        bad(format!("uid is {}, not the stable {uid}", dash["uid"]));
    }
    if dash["schemaVersion"].as_i64() != Some(SCHEMA_VERSION) {
        bad(format!(
            "schemaVersion is {}, not {SCHEMA_VERSION}",
            dash["schemaVersion"]
        ));
    }
    if dash["title"].as_str().is_none_or(str::is_empty) {
        bad("no title".into());
    }
    let inputs = dash["__inputs"].as_array().cloned().unwrap_or_default();
    if !inputs
        .iter()
        .any(|i| i["type"] == "datasource" && i["pluginId"] == "prometheus" && i["name"].is_string())
    {
        bad("no __inputs entry for a prometheus data source (import asks for it)".into());
    }
    let vars = dash["templating"]["list"].as_array().cloned().unwrap_or_default();
    let mut defined: Vec<String> = Vec::new();
    let ds_var = vars.iter().find(|v| v["name"] == "datasource");
    match ds_var {
        Some(v) if v["type"] == "datasource" && v["query"] == "prometheus" => {
            // Imported: `${DS_...}` of __inputs is what the variable starts on.
            let input = v["current"]["value"].as_str().unwrap_or_default();
            let named = inputs
                .iter()
                .any(|i| format!("${{{}}}", i["name"].as_str().unwrap_or("")) == input);
            if !named {
                bad(format!(
                    "the datasource variable starts on {input:?}, not an __inputs name"
                ));
            }
        }
        _ => bad("no `datasource` variable of type datasource with query prometheus".into()),
    }
    for v in &vars {
        let name = v["name"].as_str().unwrap_or_default().to_string();
        for r in variable_refs(&variable_query(v)) {
            if !defined.contains(&r) && !BUILT_INS.contains(&r.as_str()) {
                bad(format!(
                    "variable {name}'s query uses ${r}, which no variable before it defines"
                ));
            }
        }
        if v["type"] == "query" {
            if !is_ds_var_ref(&v["datasource"]) {
                bad(format!(
                    "variable {name}'s data source is {}, not ${{datasource}}",
                    v["datasource"]
                ));
            }
            if !variable_query(v).starts_with("label_values(") {
                bad(format!(
                    "variable {name}: only label_values(...) queries are resolvable here"
                ));
            }
        }
        if defined.contains(&name) {
            bad(format!("variable {name} is defined twice"));
        }
        defined.push(name);
    }
    let mut ids = HashSet::new();
    let mut boxes: Vec<(String, i64, i64, i64, i64)> = Vec::new();
    for p in panels(dash) {
        let title = p["title"].as_str().unwrap_or("(untitled)").to_string();
        match p["id"].as_i64() {
            Some(id) if ids.insert(id) => {}
            Some(id) => bad(format!("panel id {id} ({title}) is used twice")),
            None => bad(format!("panel {title} has no numeric id")),
        }
        let g = &p["gridPos"];
        let (x, y, w, h) = (g["x"].as_i64(), g["y"].as_i64(), g["w"].as_i64(), g["h"].as_i64());
        let (Some(x), Some(y), Some(w), Some(h)) = (x, y, w, h) else {
            bad(format!("panel {title} has no complete gridPos"));
            continue;
        };
        if x < 0 || y < 0 || w < 1 || h < 1 || x + w > 24 {
            bad(format!(
                "panel {title} lies outside the 24-column grid: x {x}, y {y}, w {w}, h {h}"
            ));
        }
        for (other, ox, oy, ow, oh) in &boxes {
            if x < ox + ow && *ox < x + w && y < oy + oh && *oy < y + h {
                bad(format!("panels {other} and {title} overlap"));
            }
        }
        boxes.push((title.clone(), x, y, w, h));
        if p["type"] == "row" {
            continue;
        }
        if !is_ds_var_ref(&p["datasource"]) {
            bad(format!(
                "panel {title}'s data source is {}, not ${{datasource}}",
                p["datasource"]
            ));
        }
        let targets = p["targets"].as_array().cloned().unwrap_or_default();
        if targets.is_empty() {
            bad(format!("panel {title} has no target"));
        }
        let mut refs = HashSet::new();
        for t in &targets {
            if !refs.insert(t["refId"].as_str().unwrap_or_default().to_string()) {
                bad(format!("panel {title}: refId {} twice", t["refId"]));
            }
            if !is_ds_var_ref(&t["datasource"]) {
                bad(format!(
                    "panel {title} target {}: data source {}",
                    t["refId"], t["datasource"]
                ));
            }
            let expr = t["expr"].as_str().unwrap_or_default();
            if expr.trim().is_empty() {
                bad(format!("panel {title} target {}: no expr", t["refId"]));
            }
            for r in variable_refs(expr) {
                if !defined.contains(&r) && !BUILT_INS.contains(&r.as_str()) {
                    bad(format!(
                        "panel {title} target {}: ${r} is no variable",
                        t["refId"]
                    ));
                }
            }
        }
    }
    // Any other data source reference (annotations aside, which may use Grafana's built-in one).
    let mut stack: Vec<(&Json, String)> = vec![(dash, String::new())];
    while let Some((v, path)) = stack.pop() {
        match v {
            Json::Object(m) => {
                for (k, child) in m {
                    let p = format!("{path}.{k}");
                    if k == "datasource" && !path.starts_with(".annotations") && !is_ds_var_ref(child) {
                        // The datasource variable itself has none; a query variable's is checked above.
                        bad(format!("{p} is {child}, not the ${{datasource}} variable"));
                    }
                    stack.push((child, p));
                }
            }
            Json::Array(a) => stack.extend(a.iter().enumerate().map(|(i, c)| (c, format!("{path}[{i}]")))),
            _ => {}
        }
    }
    out
}

fn is_ds_var_ref(ds: &Json) -> bool {
    ds["type"] == "prometheus" && ds["uid"] == "${datasource}"
}

#[test]
fn every_dashboard_is_well_formed() {
    let dashboards = load_dashboards();
    let mut all = Vec::new();
    let mut uids = HashSet::new();
    for ((file, dash), (_, uid)) in dashboards.iter().zip(DASHBOARDS) {
        all.extend(problems(file, uid, dash));
        assert!(uids.insert(dash["uid"].to_string()), "uid {} twice", dash["uid"]);
    }
    assert!(all.is_empty(), "dashboard problems:\n{}", all.join("\n"));
    // The panels the issue lists are there.
    let titles = |i: usize| -> Vec<String> {
        panels(&dashboards[i].1)
            .iter()
            .map(|p| p["title"].as_str().unwrap().to_string())
            .collect()
    };
    for (i, wanted) in [
        (0, &["SLOs", "Error budget left", "Firing alerts"][..]),
        (
            1,
            &[
                "SLI per window",
                "Error budget burndown (30 days)",
                "Multiwindow alerts",
                "Time to exhaustion",
            ][..],
        ),
        (
            2,
            &[
                "Spans: accepted, refused, failed",
                "Exporter queue fill",
                "Batch sizes",
                "Memory: RSS against the memory_limiter",
                "Exporter send latency",
                "Pipelines",
            ][..],
        ),
        (
            3,
            &[
                "Deployment frequency",
                "Lead time for changes",
                "Change failure rate",
                "Failed deployment recovery time",
                "Deployment rework rate",
            ][..],
        ),
    ] {
        let have = titles(i);
        for w in wanted {
            assert!(have.iter().any(|t| t == w), "{}: no panel {w:?}", dashboards[i].0);
        }
    }
}

#[test]
fn provisioning_files_point_grafana_at_the_dashboards_and_a_prometheus_source() {
    let dir = dashboards_dir().join("provisioning");
    let read = |p: &str| -> serde_norway::Value {
        let text = std::fs::read_to_string(dir.join(p)).unwrap();
        serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{p}: {e}"))
    };
    let ds = read("datasources/burnwatch.yaml");
    assert_eq!(ds["apiVersion"].as_u64(), Some(1));
    let source = &ds["datasources"][0];
    assert_eq!(source["type"].as_str(), Some("prometheus"));
    assert!(source["url"].as_str().unwrap().starts_with("http://"));
    let prov = read("dashboards/burnwatch.yaml");
    assert_eq!(prov["apiVersion"].as_u64(), Some(1));
    let provider = &prov["providers"][0];
    assert_eq!(provider["type"].as_str(), Some("file"));
    assert!(
        provider["options"]["path"]
            .as_str()
            .is_some_and(|p| p.starts_with('/'))
    );
}

#[test]
fn the_structural_checks_catch_broken_dashboards() {
    let (file, dash) = load_dashboards().swap_remove(1);
    let uid = DASHBOARDS[1].1;
    assert!(problems(&file, uid, &dash).is_empty());
    let broken = |f: &dyn Fn(&mut Json), expect: &str| {
        let mut d = dash.clone();
        f(&mut d);
        let found = problems(&file, uid, &d);
        assert!(
            found.iter().any(|p| p.contains(expect)),
            "breaking it ({expect}) went unnoticed: {found:?}"
        );
    };
    broken(
        &|d| {
            let id = d["panels"][0]["id"].clone();
            d["panels"][1]["id"] = id;
        },
        "is used twice",
    );
    broken(
        &|d| {
            let grid = d["panels"][0]["gridPos"].clone();
            d["panels"][1]["gridPos"] = grid;
        },
        "overlap",
    );
    broken(
        &|d| d["panels"][0]["gridPos"]["x"] = 22.into(),
        "outside the 24-column grid",
    );
    broken(
        &|d| {
            d["panels"][0]["targets"][0]["datasource"] =
                serde_json::json!({"type": "prometheus", "uid": "abc"})
        },
        "data source",
    );
    broken(
        &|d| d["panels"][0]["targets"][0]["expr"] = "up{job=\"$nothing\"}".into(),
        "$nothing is no variable",
    );
    broken(&|d| d["uid"] = "other".into(), "stable");
    broken(&|d| d["schemaVersion"] = 16.into(), "schemaVersion");
    broken(
        &|d| {
            let list = d["templating"]["list"].as_array_mut().unwrap();
            list.swap(1, 2);
        },
        "which no variable before it defines",
    );
    broken(
        &|d| d["templating"]["list"][0]["current"]["value"] = "prom-uid-1".into(),
        "not an __inputs name",
    );
}

#[test]
fn dora_panels_run_the_dora_reports_expressions() {
    use burnwatch_slo::dora::query::{count_in_window, median_in_window};
    let dora = load_dashboards().swap_remove(3).1;
    let exprs: Vec<String> = panels(&dora)
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().iter())
        .map(|t| t["expr"].as_str().unwrap().to_string())
        .collect();
    let day = 86_400_000;
    for (window, off) in [(30, 0), (30, 30), (7, 0)] {
        let (w, o) = (window * day, off * day);
        for wanted in [
            format!("({}) / {window}", count_in_window("dora_deployments_total", w, o)),
            median_in_window("dora_lead_time_seconds_bucket", w, o),
            format!(
                "(({}) or vector(0)) / ({})",
                count_in_window("dora_failed_deployments_total", w, o),
                count_in_window("dora_deployments_total", w, o)
            ),
            median_in_window("dora_recovery_time_seconds_bucket", w, o),
            format!(
                "(({}) or vector(0)) / ({})",
                count_in_window("dora_rework_deployments_total", w, o),
                count_in_window("dora_deployments_total", w, o)
            ),
        ] {
            assert!(exprs.contains(&wanted), "no DORA target runs {wanted}");
        }
    }
}

// ------------------------------------------------------------------------------------------
// Differential: burnwatch serve against Prometheus 2.42 on the same samples.

/// The demo SLO specs `up` evaluates by default.
const DEMO_SLOS: [&str; 3] = [
    "examples/demo-slos/checkout-sloth.yaml",
    "examples/demo-slos/payment-openslo.yaml",
    "examples/demo-slos/payment-latency-spanmetrics.yaml",
];

/// The collector of the `up` run: `up`'s pipelines (spans through spanmetrics into the metrics),
/// plus a logs pipeline and an OTLP exporter with a sending queue whose endpoint refuses
/// connections, so the Collector dashboard's refused/failed, queue and per-exporter panels have
/// series to read (failed sends included).
fn collector_config(dead_port: u16) -> String {
    format!(
        "\
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:0
      http:
        endpoint: 127.0.0.1:0
processors:
  memory_limiter:
    check_interval: 1s
    limit_mib: 512
  batch:
    timeout: 1s
exporters:
  prometheus:
    endpoint: 127.0.0.1:0
  debug: {{}}
  otlp/nowhere:
    endpoint: 127.0.0.1:{dead_port}
    tls:
      insecure: true
    timeout: 1s
    retry_on_failure:
      enabled: false
    sending_queue:
      queue_size: 50
      num_consumers: 1
connectors:
  spanmetrics:
    metrics_flush_interval: 1s
service:
  telemetry:
    metrics:
      address: 127.0.0.1:0
  pipelines:
    traces:
      receivers: [otlp]
      processors: [memory_limiter, batch]
      exporters: [debug, spanmetrics, otlp/nowhere]
    metrics:
      receivers: [otlp, spanmetrics]
      processors: [memory_limiter, batch]
      exporters: [prometheus]
    logs:
      receivers: [otlp]
      processors: [memory_limiter, batch]
      exporters: [debug]
"
    )
}

/// A query's result as `(labels, [(t_ms, value text)])`, sorted by labels.
type Series = Vec<(BTreeMap<String, String>, Vec<(i64, String)>)>;

fn parse_matrix(result: &Json) -> Series {
    let mut out: Series = result
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let labels = s["metric"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            assert!(
                s.get("histograms").is_none(),
                "native histograms are not handled here: {s}"
            );
            let points = s["values"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    let t = (p[0].as_f64().unwrap() * 1000.0).round() as i64;
                    (t, p[1].as_str().unwrap().to_string())
                })
                .collect();
            (labels, points)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// `t_ms` as the API's seconds with milliseconds.
fn secs(t_ms: i64) -> String {
    format!("{}.{:03}", t_ms.div_euclid(1000), t_ms.rem_euclid(1000))
}

/// A label value in OpenMetrics / Prometheus text quoting.
fn quote(v: &str) -> String {
    let mut s = String::with_capacity(v.len() + 2);
    s.push('"');
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

/// promtool's block length: `create-blocks-from openmetrics` reads its whole input once for
/// every 2-hour block it writes, so a month in one file is read 360 times (15 minutes for the
/// demo's store here). The samples are written one file per block range instead.
const BLOCK_MS: i64 = 2 * 60 * MIN_MS;

/// OpenMetrics sample lines by the 2-hour block range they fall in.
type Chunks = BTreeMap<i64, String>;

/// Adds `series` to `chunks` as OpenMetrics sample lines (name from `__name__`), each series'
/// samples in time order.
fn add_openmetrics(chunks: &mut Chunks, series: &Series) {
    for (labels, points) in series {
        let name = &labels["__name__"];
        let rest: Vec<String> = labels
            .iter()
            .filter(|(k, _)| *k != "__name__")
            .map(|(k, v)| format!("{k}={}", quote(v)))
            .collect();
        let head = if rest.is_empty() {
            name.clone()
        } else {
            format!("{name}{{{}}}", rest.join(","))
        };
        for (t, v) in points {
            let out = chunks.entry(t.div_euclid(BLOCK_MS)).or_default();
            let _ = writeln!(out, "{head} {v} {}", secs(*t));
        }
    }
}

/// Writes each chunk to `dir/{prefix}-{block}.om` and imports it into the TSDB at `tsdb`; the
/// files, oldest first.
fn import_chunks(chunks: Chunks, dir: &Path, prefix: &str, promtool: &Path, tsdb: &Path) -> Vec<PathBuf> {
    chunks
        .into_iter()
        .map(|(block, text)| {
            let path = write_file(dir, &format!("{prefix}-{block}.om"), &format!("{text}# EOF\n"));
            create_blocks(promtool, &path, tsdb);
            path
        })
        .collect()
}

fn query(base: &str, expr: &str, t_ms: i64) -> Json {
    let (status, body) = post_form(base, "/api/v1/query", &[("query", expr), ("time", &secs(t_ms))])
        .unwrap_or_else(|| panic!("{base} does not answer {expr}"));
    assert_eq!(status, 200, "{base}: {expr}: {body}");
    body["data"]["result"].clone()
}

fn query_range(base: &str, expr: &str, start: i64, end: i64, step_ms: i64) -> Result<Series, String> {
    let step = format!("{}", step_ms as f64 / 1000.0);
    let params = [
        ("query", expr),
        ("start", &secs(start)),
        ("end", &secs(end)),
        ("step", &step),
    ];
    match post_form(base, "/api/v1/query_range", &params) {
        Some((200, body)) if body["status"] == "success" => Ok(parse_matrix(&body["data"]["result"])),
        Some((status, body)) => Err(format!("HTTP {status}: {body}")),
        None => Err("no answer".to_string()),
    }
}

/// `promtool tsdb create-blocks-from openmetrics FILE DIR`.
fn create_blocks(promtool: &Path, file: &Path, dir: &Path) {
    let out = Command::new(promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(file)
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool create-blocks-from openmetrics {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts Prometheus over the blocks in `tsdb`; the process and its base URL.
fn start_prometheus(bin: &Path, dir: &Path, tsdb: &Path, name: &str) -> (Proc, String) {
    let config = write_file(dir, "prometheus.yml", "global:\n  scrape_interval: 15s\n");
    let listen = format!("127.0.0.1:{}", free_port());
    let args = [
        format!("--config.file={}", config.display()),
        format!("--storage.tsdb.path={}", tsdb.display()),
        format!("--web.listen-address={listen}"),
        "--storage.tsdb.retention.time=100y".to_string(),
        "--query.max-samples=200000000".to_string(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let proc = spawn(name, bin, &args, dir, &[]);
    let base = format!("http://{listen}");
    let ready = wait_for(Duration::from_secs(120), || {
        http_get(&format!("{base}/-/ready")).filter(|(s, _)| *s == 200)
    });
    assert!(ready.is_some(), "{name} did not start:\n{}", proc.output());
    (proc, base)
}

/// A recording rule of the generated rule file.
struct Recording {
    record: String,
    expr: String,
    labels: BTreeMap<String, String>,
}

/// The recording rules `burnwatch slo generate` writes for the demo SLOs, in file order.
fn generated_recordings(dir: &Path) -> Vec<Recording> {
    let rules = dir.join("rules.yml");
    let mut args = vec!["slo".to_string(), "generate".to_string()];
    for s in DEMO_SLOS {
        args.push("--spec".into());
        args.push(repo_root().join(s).display().to_string());
    }
    args.extend(["-o".to_string(), rules.display().to_string()]);
    let out = Command::new(burnwatch_bin()).args(&args).output().unwrap();
    assert!(
        out.status.success(),
        "slo generate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file: serde_norway::Value =
        serde_norway::from_str(&std::fs::read_to_string(&rules).unwrap()).unwrap();
    let mut out = Vec::new();
    for group in file["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            let Some(record) = rule["record"].as_str() else {
                continue;
            };
            let labels = rule["labels"]
                .as_mapping()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.as_str().unwrap().to_string(), v.as_str().unwrap().to_string()))
                        .collect()
                })
                .unwrap_or_default();
            out.push(Recording {
                record: record.to_string(),
                expr: rule["expr"].as_str().unwrap().to_string(),
                labels,
            });
        }
    }
    out
}

/// Whether `expr` names the metric `name` (not as part of a longer name).
fn names_metric(expr: &str, name: &str) -> bool {
    let part = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    expr.match_indices(name).any(|(i, _)| {
        !expr[..i].chars().next_back().is_some_and(part)
            && !expr[i + name.len()..].chars().next().is_some_and(part)
    })
}

/// The pass each rule is evaluated in: 0 for rules over raw series, one more than the latest
/// pass of any recorded series a rule reads (every SLO records the same names, so a name's
/// pass is the latest of all rules recording it).
fn passes(rules: &[Recording]) -> Vec<usize> {
    let mut pass = vec![0usize; rules.len()];
    for _ in 0..=rules.len() {
        let mut changed = false;
        for i in 0..rules.len() {
            let needed = (0..rules.len())
                .filter(|&j| {
                    rules[j].record != rules[i].record && names_metric(&rules[i].expr, &rules[j].record)
                })
                .map(|j| pass[j] + 1)
                .max()
                .unwrap_or(0);
            if needed > pass[i] {
                pass[i] = needed;
                changed = true;
            }
        }
        if !changed {
            return pass;
        }
    }
    panic!("the generated recording rules read each other in a cycle");
}

/// Parses Grafana's relative `now-6h` / panel `timeFrom` `30d` into milliseconds.
fn relative_ms(text: &str) -> i64 {
    let t = text.trim_start_matches("now-");
    let (n, unit) = t.split_at(t.len() - 1);
    let n: i64 = n.parse().unwrap_or_else(|_| panic!("time range {text}"));
    n * match unit {
        "m" => MIN_MS,
        "h" => 60 * MIN_MS,
        "d" => 24 * 60 * MIN_MS,
        _ => panic!("time range unit in {text}"),
    }
}

/// Replaces the dashboard variables (`$x`, `${x}`) and the built-ins a target uses.
fn substitute(expr: &str, vars: &BTreeMap<String, String>, from_ms: i64, to_ms: i64) -> String {
    let mut out = expr
        .replace("${__from:date:seconds}", &(from_ms / 1000).to_string())
        .replace("${__to:date:seconds}", &(to_ms / 1000).to_string());
    // Longest names first, so `$slo` never eats the start of `$slo_x`.
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    for n in names {
        out = out
            .replace(&format!("${{{n}}}"), &vars[n])
            .replace(&format!("${n}"), &vars[n]);
    }
    out
}

/// The values of `label_values(SELECTOR, LABEL)` as Grafana asks for them
/// (`/api/v1/label/LABEL/values?match[]=SELECTOR&start&end`), on one server.
fn label_values(base: &str, selector: &str, label: &str, start: i64, end: i64) -> Vec<String> {
    let url = format!(
        "{base}/api/v1/label/{label}/values?match[]={}&start={}&end={}",
        urlencode(selector),
        secs(start),
        secs(end)
    );
    let (status, body) = http_get(&url).unwrap_or_else(|| panic!("{base}: no answer to {url}"));
    assert_eq!(status, 200, "{url}: {body}");
    let v: Json = serde_json::from_str(&body).unwrap();
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// Whether two API sample values are the same number (NaN equals NaN, relative 1e-9).
fn same_value(a: &str, b: &str) -> bool {
    let (Ok(x), Ok(y)) = (a.parse::<f64>(), b.parse::<f64>()) else {
        return a == b;
    };
    if x.is_nan() || y.is_nan() {
        return x.is_nan() && y.is_nan();
    }
    if x.is_infinite() || y.is_infinite() {
        return x == y;
    }
    (x - y).abs() <= 1e-9 * x.abs().max(y.abs()) || (x - y).abs() < 1e-300
}

/// The first difference between two results, if any.
fn difference(p: &Series, b: &Series) -> Option<String> {
    let pl: Vec<_> = p.iter().map(|s| &s.0).collect();
    let bl: Vec<_> = b.iter().map(|s| &s.0).collect();
    if pl != bl {
        return Some(format!(
            "series differ:\n  prometheus {pl:?}\n  burnwatch  {bl:?}"
        ));
    }
    for ((labels, pp), (_, bp)) in p.iter().zip(b) {
        if pp.len() != bp.len() || pp.iter().zip(bp).any(|(x, y)| x.0 != y.0) {
            let times = |v: &Vec<(i64, String)>| v.iter().map(|x| x.0).collect::<Vec<_>>();
            return Some(format!(
                "{labels:?}: steps differ:\n  prometheus {:?}\n  burnwatch  {:?}",
                times(pp),
                times(bp)
            ));
        }
        if let Some((x, y)) = pp.iter().zip(bp).find(|(x, y)| !same_value(&x.1, &y.1)) {
            return Some(format!(
                "{labels:?} at {}: prometheus {}, burnwatch {}",
                x.0, x.1, y.1
            ));
        }
    }
    None
}

/// The metric names `expr` selects by name (`name{...}` or `name[...]`).
fn selected_metrics(expr: &str) -> Vec<&str> {
    let part = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut out = Vec::new();
    let mut in_string = false;
    let mut start = None;
    for (i, c) in expr.char_indices() {
        if c == '"' {
            in_string = !in_string;
        }
        if in_string {
            start = None;
            continue;
        }
        match (part(c), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                if c == '{' || c == '[' {
                    out.push(&expr[s..i]);
                }
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// Metrics a dashboard reads that the demo's data set cannot hold, and why.
const NOT_IN_THE_DEMO: [(&str, &str); 1] = [(
    "otelcol_exporter_sent_log_records_total",
    "the demo sends no logs, so no exporter counts sent log records",
)];

/// Why a target may come back empty on this data set, if it may: it selects a metric of
/// [`NOT_IN_THE_DEMO`]; it reads `ALERTS` (the run waits for one alert to fire, not for every
/// SLO's); the demo's DORA history is 30 days long, so a window
/// ending 30 days back holds none of it. Any other empty result fails the test (a misspelt
/// metric, a wrong label value).
fn may_be_empty(expr: &str) -> Option<String> {
    let selected = selected_metrics(expr);
    if let Some((_, why)) = NOT_IN_THE_DEMO.iter().find(|(m, _)| selected.contains(m)) {
        return Some((*why).to_string());
    }
    if selected.contains(&"ALERTS") {
        return Some("none of these alerts pended or fired during the run".into());
    }
    if selected.iter().any(|m| m.starts_with("dora_")) && expr.contains("offset 30d") {
        return Some("the DORA history is 30 days long".into());
    }
    None
}

#[test]
fn selected_metrics_are_the_names_before_matchers_and_ranges() {
    assert_eq!(
        selected_metrics(
            r#"sum(rate(a_total{job="x{y}"}[1m])) / b:c[5m] + on (d) e{f=~"g[h]"} and {__name__="z"}"#
        ),
        ["a_total", "b:c", "e"]
    );
}

#[test]
fn every_panel_query_agrees_between_burnwatch_and_prometheus() {
    let Some(promtool) = require_tool("promtool", "apt-get install -y prometheus") else {
        return;
    };
    let Some(prometheus) = require_tool("prometheus", "apt-get install -y prometheus") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();

    // 1. The demo: a month of history, DORA events, live traffic and collector self-metrics.
    let config = write_file(dir, "collector.yaml", &collector_config(free_port()));
    let data_dir = dir.join("up-data");
    let listen = format!("127.0.0.1:{}", free_port());
    let up_base = format!("http://{listen}");
    let mut up = spawn(
        "up",
        &burnwatch_bin(),
        &[
            "up",
            "--demo",
            "--headless",
            "--config",
            config.to_str().unwrap(),
            "--listen",
            &listen,
            "--data-dir",
            data_dir.to_str().unwrap(),
        ],
        dir,
        &[],
    );
    let ready = wait_for(Duration::from_secs(60), || {
        http_get(&format!("{up_base}/-/ready")).filter(|(s, _)| *s == 200)
    });
    assert!(ready.is_some(), "up did not serve its API:\n{}", up.output());
    let conditions = [
        // The month of history (requests and the payment route's span metrics).
        "count(last_over_time(http_server_requests_total{instance=\"demo-history\"}[31d]))",
        "count(last_over_time(traces_span_metrics_calls_total{instance=\"demo-history\"}[31d]))",
        // DORA events, as dora_* series.
        "count(last_over_time(dora_deployments_total[1y]))",
        // Over three minutes of collector scrapes (every 15 s), so its 1m and 5m rates have
        // data past the two minutes after the first one that are left out (see the module docs).
        "count_over_time(otelcol_process_memory_rss{job=\"burnwatch-collector\"}[1h]) >= 14",
        "count(otelcol_processor_batch_batch_send_size_count{job=\"burnwatch-collector\"})",
        "count(http_server_requests_total{instance!=\"demo-history\"})",
        "count(otelcol_exporter_send_failed_spans_total{exporter=\"otlp/nowhere\"} > 0)",
        "count(burnwatch_exporter_send_duration_seconds_count{exporter=\"otlp/nowhere\"} > 0)",
        // The demo's first spike (75 s in) fires the availability page alert about two minutes
        // later: the alert panels then have a firing alert to show.
        "count(ALERTS{alertstate=\"firing\"})",
    ];
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    };
    let mut missing = String::new();
    let fed = wait_for(Duration::from_secs(400), || {
        assert!(
            up.child.try_wait().unwrap().is_none(),
            "up exited early:\n{}",
            up.output()
        );
        missing = conditions
            .iter()
            .filter(|c| query(&up_base, c, now()).as_array().is_none_or(|a| a.is_empty()))
            .copied()
            .collect::<Vec<_>>()
            .join(", ");
        if missing.is_empty() {
            return Some(());
        }
        std::thread::sleep(Duration::from_secs(2));
        None
    });
    assert!(
        fed.is_some(),
        "the demo did not feed the store; still missing: {missing}\n{}",
        up.output()
    );
    let status = up.terminate(Duration::from_secs(60));
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "up did not stop cleanly:\n{}",
        up.output()
    );

    // 2. Every raw sample, read back from the store up left behind.
    let (_store, store) = common::start_serve_with_data("store", dir, &data_dir, &[]);
    let rules = generated_recordings(dir);
    let recorded: BTreeSet<&str> = rules.iter().map(|r| r.record.as_str()).collect();
    let names: Vec<String> = {
        let (_, body) = http_get(&format!("{store}/api/v1/label/__name__/values")).unwrap();
        let v: Json = serde_json::from_str(&body).unwrap();
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    let read_at = now();
    let mut raw = Chunks::new();
    let mut last_ms = 0;
    let mut sample_phases = BTreeSet::new();
    let mut collector_first = i64::MAX;
    let mut samples = 0usize;
    for name in names.iter().filter(|n| !recorded.contains(n.as_str())) {
        let result = query(&store, &format!("{{__name__={}}}[400d]", quote(name)), read_at);
        let series = parse_matrix(&result);
        for (labels, points) in &series {
            for (t, _) in points {
                last_ms = last_ms.max(*t);
                sample_phases.insert(t.rem_euclid(MIN_MS));
                if name.starts_with("otelcol_")
                    && labels.get("job").is_some_and(|j| j == "burnwatch-collector")
                {
                    collector_first = collector_first.min(*t);
                }
            }
            samples += points.len();
        }
        add_openmetrics(&mut raw, &series);
    }
    drop(_store);
    assert!(samples > 100_000, "only {samples} samples in the demo's store");
    eprintln!(
        "read {samples} samples of {} metrics from the demo's store",
        names.len()
    );

    // 3. Prometheus over the same samples; the recording rules evaluated by it, pass by pass.
    let tsdb = dir.join("prometheus-data");
    let mut loads = import_chunks(raw, dir, "raw", &promtool, &tsdb);
    eprintln!("imported them into Prometheus's TSDB as {} files", loads.len());
    let (mut prom, mut prom_base) = start_prometheus(&prometheus, dir, &tsdb, "prometheus-0");
    // Rules run every minute over the last six hours of data, RULE_PHASE_MS past the minute.
    let eval_end = last_ms.div_euclid(MIN_MS) * MIN_MS + RULE_PHASE_MS;
    let eval_start = eval_end - 6 * 60 * MIN_MS;
    let pass_of = passes(&rules);
    for pass in 0..=pass_of.iter().copied().max().unwrap_or(0) {
        let mut recorded = Chunks::new();
        for (rule, _) in rules.iter().zip(&pass_of).filter(|(_, p)| **p == pass) {
            let mut result = query_range(&prom_base, &rule.expr, eval_start, eval_end, MIN_MS)
                .unwrap_or_else(|e| panic!("Prometheus evaluating {}: {e}", rule.record));
            for (labels, _) in &mut result {
                labels.insert("__name__".into(), rule.record.clone());
                labels.extend(rule.labels.clone());
            }
            add_openmetrics(&mut recorded, &result);
        }
        loads.extend(import_chunks(
            recorded,
            dir,
            &format!("rules-{pass}"),
            &promtool,
            &tsdb,
        ));
        drop(prom);
        (prom, prom_base) = start_prometheus(&prometheus, dir, &tsdb, &format!("prometheus-{}", pass + 1));
    }

    // 4. burnwatch over the very same samples.
    let listen = format!("127.0.0.1:{}", free_port());
    let mut args = vec!["serve".to_string(), "--listen".into(), listen.clone()];
    for l in &loads {
        args.extend(["--load".to_string(), l.display().to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let bw = spawn("burnwatch", &burnwatch_bin(), &args, dir, &[]);
    let bw_base = format!("http://{listen}");
    let ready = wait_for(Duration::from_secs(180), || {
        http_get(&format!("{bw_base}/-/ready")).filter(|(s, _)| *s == 200)
    });
    assert!(
        ready.is_some(),
        "burnwatch serve --load did not start:\n{}",
        bw.output()
    );

    // Query steps sit at an offset within the minute no sample has (see the module docs).
    sample_phases.insert(RULE_PHASE_MS);
    let offset = (1_000..MIN_MS)
        .step_by(1_000)
        .map(|o| o + 500)
        .find(|o| !sample_phases.contains(o))
        .expect("a free offset within the minute");
    let to = eval_end - RULE_PHASE_MS + offset;
    assert!(
        to > collector_first + 2 * MIN_MS,
        "the collector's metrics span under two minutes"
    );

    // 5. Every target of every dashboard, with every variable value, on both.
    let mut failures = Vec::new();
    let mut empty = Vec::new();
    let mut compared = 0usize;
    let mut points = 0usize;
    for (file, dash) in load_dashboards() {
        let dash_range = relative_ms(dash["time"]["from"].as_str().unwrap());
        // Variable values as Grafana resolves them, in order; All stays All (its allValue).
        let mut combos: Vec<BTreeMap<String, String>> = vec![BTreeMap::new()];
        for var in dash["templating"]["list"].as_array().unwrap() {
            if var["type"] != "query" {
                continue;
            }
            let name = var["name"].as_str().unwrap().to_string();
            let q = variable_query(var);
            let inner = q
                .strip_prefix("label_values(")
                .and_then(|s| s.strip_suffix(')'))
                .unwrap();
            let (selector, label) = inner.rsplit_once(',').unwrap();
            let mut next = Vec::new();
            for combo in &combos {
                let selector = substitute(selector.trim(), combo, to - dash_range, to);
                let from_prom = label_values(&prom_base, &selector, label.trim(), to - dash_range, to);
                let from_bw = label_values(&bw_base, &selector, label.trim(), to - dash_range, to);
                assert_eq!(from_bw, from_prom, "{file}: values of ${name} ({q})");
                assert!(
                    !from_prom.is_empty(),
                    "{file}: ${name} ({selector}) has no values"
                );
                if var["includeAll"] == true {
                    let mut c = combo.clone();
                    c.insert(name.clone(), var["allValue"].as_str().unwrap().to_string());
                    next.push(c);
                } else {
                    for v in from_prom {
                        let mut c = combo.clone();
                        c.insert(name.clone(), v);
                        next.push(c);
                    }
                }
            }
            combos = next;
        }
        for panel in panels(&dash) {
            let title = panel["title"].as_str().unwrap();
            let range = panel["timeFrom"].as_str().map_or(dash_range, relative_ms);
            // About 250 points a panel, whole minutes (Grafana's interval for a wide panel).
            let step = ((range / 250 + MIN_MS - 1) / MIN_MS).max(1) * MIN_MS;
            let mut from = to - range;
            if file == "collector.json" {
                from = from.max(collector_first + 2 * MIN_MS);
            }
            let from = to - (to - from) / step * step;
            for target in panel["targets"].as_array().into_iter().flatten() {
                for vars in &combos {
                    let expr = substitute(target["expr"].as_str().unwrap(), vars, from, to);
                    let at = format!("{file} / {title} / {} with {vars:?}", target["refId"]);
                    if expr.contains('$') {
                        failures.push(format!("{at}: unresolved variable in {expr}"));
                        continue;
                    }
                    let p = query_range(&prom_base, &expr, from, to, step);
                    let b = query_range(&bw_base, &expr, from, to, step);
                    compared += 1;
                    match (p, b) {
                        (Ok(p), Ok(b)) => {
                            let skip_values = VALUES_NOT_COMPARED.iter().any(|(t, _)| *t == title);
                            let labels = |s: &Series| s.iter().map(|x| x.0.clone()).collect::<Vec<_>>();
                            let d = if skip_values {
                                (labels(&p) != labels(&b)).then(|| {
                                    format!(
                                        "series differ: prometheus {:?}, burnwatch {:?}",
                                        labels(&p),
                                        labels(&b)
                                    )
                                })
                            } else {
                                difference(&p, &b)
                            };
                            if let Some(d) = d {
                                failures.push(format!("{at}: {d}\n  query: {expr}"));
                            } else if p.is_empty() {
                                match may_be_empty(&expr) {
                                    Some(why) => empty.push(format!("{at}: {why}")),
                                    None => failures
                                        .push(format!("{at}: no data on either server\n  query: {expr}")),
                                }
                            }
                            points += p.iter().map(|s| s.1.len()).sum::<usize>();
                        }
                        (p, b) => failures.push(format!(
                            "{at}: an error\n  prometheus: {:?}\n  burnwatch: {:?}\n  query: {expr}",
                            p.err(),
                            b.err()
                        )),
                    }
                }
            }
        }
    }
    eprintln!("compared {compared} range queries, {points} points each side");
    eprintln!(
        "empty on both, as the data set has nothing for them:\n  {}",
        empty.join("\n  ")
    );
    assert!(
        failures.is_empty(),
        "{} of {compared} panel queries disagree or fail:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    drop(prom);
}
