//! The status endpoints, `format_query`, `/federate`, `/metrics` and CORS of `burnwatch serve`
//! (issue 15 §2), each side by side with a real Prometheus 2.42 started by the test with the
//! same configuration file, flags and data.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use burnwatch_slo::ingest::remote_write::{Label, Sample, TimeSeries, WriteRequest, encode_write_request};
use common::{
    Proc, burnwatch_bin, free_port, http_get, http_request, post_remote_write, require_tool, spawn,
    urlencode, wait_for, write_file,
};
use serde_json::Value;

/// The configuration both servers run: external labels, a job with relabelling and a secret,
/// and no targets (so neither scrapes anything and the stored data is the test's alone).
const CONFIG: &str = "\
global:
  scrape_interval: 15s
  evaluation_interval: 30s
  external_labels:
    region: eu
    env: test
scrape_configs:
  - job_name: node
    scrape_interval: 1m
    metrics_path: /probe
    basic_auth:
      username: scraper
      password: hunter2
    static_configs:
      - targets: []
    relabel_configs:
      - source_labels: [__address__]
        target_label: host
      - regex: drop_.*
        action: labeldrop
  - job_name: other
    honor_labels: true
    static_configs:
      - targets: []
";

/// A Prometheus 2.42 and a `burnwatch serve` over the same config file, both in `dir`.
struct Pair {
    prometheus: String,
    burnwatch: String,
    _procs: Vec<Proc>,
}

/// Starts both with `args` given to each (Prometheus's flag spellings, which serve takes too);
/// `None` when Prometheus is missing outside CI.
fn start_pair(dir: &Path, args: &[&str]) -> Option<Pair> {
    let prometheus = require_tool("prometheus", "apt-get install -y prometheus")?;
    let cfg = write_file(dir, "prometheus.yml", CONFIG);
    let cfg_arg = format!("--config.file={}", cfg.display());
    let pport = free_port();
    let plisten = format!("--web.listen-address=127.0.0.1:{pport}");
    let tsdb = format!("--storage.tsdb.path={}", dir.join("prom-data").display());
    let mut pargs = vec![
        cfg_arg.as_str(),
        plisten.as_str(),
        tsdb.as_str(),
        "--web.enable-remote-write-receiver",
    ];
    pargs.extend_from_slice(args);
    let prom = spawn("prometheus", &prometheus, &pargs, dir, &[]);
    let bport = free_port();
    let blisten = format!("127.0.0.1:{bport}");
    let mut bargs = vec![
        "serve",
        "--log-level",
        "warn",
        "--listen",
        &blisten,
        cfg_arg.as_str(),
    ];
    bargs.extend_from_slice(args);
    let bw = spawn("burnwatch", &burnwatch_bin(), &bargs, dir, &[]);
    let pair = Pair {
        prometheus: format!("http://127.0.0.1:{pport}"),
        burnwatch: format!("http://{blisten}"),
        _procs: vec![prom, bw],
    };
    for base in [&pair.prometheus, &pair.burnwatch] {
        let ready = wait_for(Duration::from_secs(60), || {
            http_get(&format!("{base}/-/ready")).filter(|(s, _)| *s == 200)
        });
        assert!(
            ready.is_some(),
            "{base} did not become ready:\n{}\n{}",
            pair._procs[0].output(),
            pair._procs[1].output()
        );
    }
    Some(pair)
}

fn get_json(url: &str) -> Value {
    let (status, body) = http_get(url).unwrap_or_else(|| panic!("{url} does not answer"));
    assert_eq!(status, 200, "{url}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: not JSON ({e}): {body}"))
}

/// A JSON value's shape: objects with their keys and the shapes of the values, arrays as the
/// shape of their first element, scalars as their type.
fn shape(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Value::Array(a) => Value::Array(a.first().map(shape).into_iter().collect()),
        Value::String(_) => Value::from("string"),
        Value::Number(_) => Value::from("number"),
        Value::Bool(_) => Value::from("bool"),
        Value::Null => Value::Null,
    }
}

#[test]
fn status_config_flags_runtimeinfo_and_buildinfo_answer_as_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--query.timeout=1m30s",
        "--query.max-samples=1234567",
        "--query.lookback-delta=7m",
        "--storage.tsdb.retention.time=20d",
        "--web.enable-lifecycle",
    ];
    let Some(pair) = start_pair(dir.path(), &args) else {
        return;
    };
    // config: the same YAML, defaults filled in and the password hidden.
    let p = get_json(&format!("{}/api/v1/status/config", pair.prometheus));
    let b = get_json(&format!("{}/api/v1/status/config", pair.burnwatch));
    assert_eq!(
        b["data"]["yaml"].as_str().unwrap(),
        p["data"]["yaml"].as_str().unwrap(),
        "status/config differs from Prometheus 2.42's"
    );
    assert!(b["data"]["yaml"].as_str().unwrap().contains("password: <secret>"));
    assert_eq!(shape(&b), shape(&p));

    // flags: every flag burnwatch reports under a Prometheus name has Prometheus's value.
    let p = get_json(&format!("{}/api/v1/status/flags", pair.prometheus));
    let b = get_json(&format!("{}/api/v1/status/flags", pair.burnwatch));
    let shared = [
        "config.file",
        "query.timeout",
        "query.max-samples",
        "query.lookback-delta",
        "storage.tsdb.retention.time",
        "web.cors.origin",
        "web.enable-lifecycle",
        "web.config.file",
        "enable-feature",
    ];
    for k in shared {
        assert_eq!(b["data"][k], p["data"][k], "flag {k}");
    }
    assert!(
        b["data"]["web.listen-address"]
            .as_str()
            .is_some_and(|a| pair.burnwatch.ends_with(a)),
        "{b}"
    );
    // burnwatch's own flags follow, as strings like every value.
    assert!(
        b["data"]["label-limit"]
            .as_str()
            .is_some_and(|v| v.parse::<u64>().is_ok()),
        "{b}"
    );

    // runtimeinfo: Prometheus's fields with Prometheus's types, and the values that can agree.
    let p = get_json(&format!("{}/api/v1/status/runtimeinfo", pair.prometheus));
    let b = get_json(&format!("{}/api/v1/status/runtimeinfo", pair.burnwatch));
    assert_eq!(shape(&b), shape(&p), "burnwatch {b}\nprometheus {p}");
    for k in ["CWD", "reloadConfigSuccess", "corruptionCount", "GOGC", "GODEBUG"] {
        assert_eq!(b["data"][k], p["data"][k], "runtimeinfo.{k}");
    }
    assert_eq!(b["data"]["storageRetention"], "");
    assert!(b["data"]["GOMAXPROCS"].as_u64().is_some_and(|n| n >= 1));
    assert!(b["data"]["goroutineCount"].as_u64().is_some_and(|n| n >= 1));
    let start = b["data"]["startTime"].as_str().unwrap();
    assert!(start.ends_with('Z') && start.len() >= 20, "{start}");

    // buildinfo: Prometheus 2.42's field set.
    let p = get_json(&format!("{}/api/v1/status/buildinfo", pair.prometheus));
    let b = get_json(&format!("{}/api/v1/status/buildinfo", pair.burnwatch));
    assert_eq!(shape(&b), shape(&p));
}

/// One series to write: label pairs, then samples as (ms, value).
type SeriesSpec<'a> = (Vec<(&'a str, &'a str)>, Vec<(i64, f64)>);

/// A remote-write request of `series`.
fn write_request(series: &[SeriesSpec]) -> Vec<u8> {
    let req = WriteRequest {
        timeseries: series
            .iter()
            .map(|(labels, samples)| TimeSeries {
                labels: labels.iter().map(|(k, v)| Label::new(*k, *v)).collect(),
                samples: samples
                    .iter()
                    .map(|(t, v)| Sample {
                        value: *v,
                        timestamp: *t,
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    encode_write_request(&req)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The same data for both servers: series with distinct counts per metric, per label and per
/// label pair, one series ending in a staleness marker and one whose newest sample is older
/// than the lookback delta.
fn load_same_data(pair: &Pair) -> i64 {
    let now = now_ms();
    let t = |ago_s: i64| now - ago_s * 1000;
    let stale = f64::from_bits(0x7ff0_0000_0000_0002);
    let mut series = Vec::new();
    for i in 0..5 {
        let inst = ["i0", "i1", "i2", "i3", "i4"][i];
        let job = if i < 3 { "fed" } else { "api" };
        series.push((
            vec![
                ("__name__", "http_requests_total"),
                ("job", job),
                ("instance", inst),
            ],
            vec![(t(60), 10.0 * i as f64), (t(30), 10.0 * i as f64 + 2.5)],
        ));
    }
    for (i, inst) in ["i0", "i1", "i2"].iter().enumerate() {
        series.push((
            vec![("__name__", "queue_depth"), ("job", "fed"), ("instance", inst)],
            vec![(t(20), 1e6 + i as f64)],
        ));
    }
    series.push((
        vec![("__name__", "gone"), ("job", "fed"), ("instance", "i0")],
        vec![(t(40), 1.0), (t(10), stale)],
    ));
    series.push((
        vec![("__name__", "old"), ("job", "fed"), ("instance", "i0")],
        vec![(t(1200), 3.0)],
    ));
    series.push((
        vec![("__name__", "own_env"), ("job", "fed"), ("env", "mine")],
        vec![(t(15), -0.5)],
    ));
    let body = write_request(&series);
    for base in [&pair.prometheus, &pair.burnwatch] {
        let (status, text) = post_remote_write(base, &body);
        assert!(status == 204 || status == 200, "{base}: {status} {text}");
    }
    now
}

/// The exposition as families of line sets (Prometheus sorts series by name only, so the order
/// inside a family is not fixed there).
fn families(text: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut current = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            current = rest.to_string();
            out.entry(current.clone()).or_default();
        } else if !line.is_empty() {
            out.entry(current.clone()).or_default().insert(line.to_string());
        }
    }
    out
}

fn federate(base: &str, matches: &[&str]) -> (u16, String) {
    let q: Vec<String> = matches
        .iter()
        .map(|m| format!("match[]={}", urlencode(m)))
        .collect();
    http_get(&format!("{base}/federate?{}", q.join("&"))).expect("federate answers")
}

/// The tsdb status lists as sets (ties are in no fixed order in Prometheus), each checked to be
/// sorted by value, largest first.
fn stat_sets(data: &Value) -> BTreeMap<String, BTreeSet<(String, u64)>> {
    let mut out = BTreeMap::new();
    for key in [
        "seriesCountByMetricName",
        "labelValueCountByLabelName",
        "memoryInBytesByLabelName",
        "seriesCountByLabelValuePair",
    ] {
        let items: Vec<(String, u64)> = data[key]
            .as_array()
            .unwrap_or_else(|| panic!("{key} missing: {data}"))
            .iter()
            .map(|i| {
                (
                    i["name"].as_str().unwrap().to_string(),
                    i["value"].as_u64().unwrap(),
                )
            })
            .collect();
        assert!(
            items.windows(2).all(|w| w[0].1 >= w[1].1),
            "{key} not sorted: {items:?}"
        );
        out.insert(key.to_string(), items.into_iter().collect());
    }
    out
}

#[test]
fn tsdb_status_and_federate_match_prometheus_on_the_same_data() {
    let dir = tempfile::tempdir().unwrap();
    let Some(pair) = start_pair(dir.path(), &[]) else {
        return;
    };
    load_same_data(&pair);
    // tsdb status: the head numbers and every list (Prometheus 2.42 has no `limit`; 9 < 10
    // metric names, so the default limit cuts nothing but the pair list, compared by count).
    let p = get_json(&format!("{}/api/v1/status/tsdb", pair.prometheus));
    let b = get_json(&format!("{}/api/v1/status/tsdb", pair.burnwatch));
    assert_eq!(shape(&b), shape(&p));
    for k in ["numSeries", "numLabelPairs", "minTime", "maxTime", "chunkCount"] {
        assert_eq!(
            b["data"]["headStats"][k], p["data"]["headStats"][k],
            "headStats.{k}"
        );
    }
    let (ps, bs) = (stat_sets(&p["data"]), stat_sets(&b["data"]));
    for key in [
        "seriesCountByMetricName",
        "labelValueCountByLabelName",
        "memoryInBytesByLabelName",
    ] {
        assert_eq!(bs[key], ps[key], "{key}");
    }
    // Which pairs make the top 10 among equal counts is Prometheus's heap order; the counts
    // of the top 10 are the same.
    let counts = |s: &BTreeSet<(String, u64)>| {
        let mut c: Vec<u64> = s.iter().map(|(_, n)| *n).collect();
        c.sort_unstable();
        c
    };
    assert_eq!(
        counts(&bs["seriesCountByLabelValuePair"]),
        counts(&ps["seriesCountByLabelValuePair"])
    );
    // 3.x's `limit`.
    let one = get_json(&format!("{}/api/v1/status/tsdb?limit=1", pair.burnwatch));
    assert_eq!(
        one["data"]["seriesCountByMetricName"],
        serde_json::json!([{"name": "http_requests_total", "value": 5}])
    );
    let (status, body) = http_get(&format!("{}/api/v1/status/tsdb?limit=0", pair.burnwatch)).unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("limit must be a positive number"), "{body}");

    // federate: the same families and lines, stale and old series left out, external labels.
    for matches in [
        vec!["{job=\"fed\"}"],
        vec!["http_requests_total", "{instance=\"i0\"}"],
        vec!["queue_depth{instance=~\"i[12]\"}", "own_env"],
    ] {
        let (ps, p) = federate(&pair.prometheus, &matches);
        let (bs, b) = federate(&pair.burnwatch, &matches);
        assert_eq!((bs, families(&b)), (ps, families(&p)), "match[] {matches:?}");
    }
    let (_, b) = federate(&pair.burnwatch, &["{job=\"fed\"}"]);
    assert!(!b.contains("gone") && !b.contains("old{"), "{b}");
    assert!(
        b.contains("own_env{env=\"mine\",job=\"fed\",instance=\"\",region=\"eu\"} -0.5 "),
        "{b}"
    );
    assert!(
        b.contains("queue_depth{instance=\"i2\",job=\"fed\",env=\"test\",region=\"eu\"} 1.000002e+06 "),
        "{b}"
    );
    // No match[]: empty; not a selector: 400 with the parse error as text.
    let (ps, p) = federate(&pair.prometheus, &[]);
    let (bs, b) = federate(&pair.burnwatch, &[]);
    assert_eq!((bs, b.as_str()), (ps, p.as_str()));
    let (ps, _) = federate(&pair.prometheus, &["rate(up[5m])"]);
    let (bs, b) = federate(&pair.burnwatch, &["rate(up[5m])"]);
    assert_eq!(bs, ps);
    // Prometheus names where its selector parser stopped (`1:5: parse error: unexpected "("`);
    // burnwatch parses the whole query and says what it is not, as its /api/v1/series does.
    assert!(b.contains("parse error") && b.contains("series selector"), "{b}");
}

#[test]
fn prometheus_federating_from_serve_holds_the_same_values() {
    let Some(prometheus) = require_tool("prometheus", "apt-get install -y prometheus") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let Some(pair) = start_pair(dir.path(), &[]) else {
        return;
    };
    load_same_data(&pair);
    let target = pair.burnwatch.trim_start_matches("http://");
    let cfg = write_file(
        dir.path(),
        "federating.yml",
        &format!(
            "scrape_configs:\n  - job_name: federate\n    scrape_interval: 1s\n    honor_labels: true\n    \
             metrics_path: /federate\n    params:\n      'match[]': ['{{job=\"fed\"}}']\n    \
             static_configs:\n      - targets: ['{target}']\n"
        ),
    );
    let port = free_port();
    let fed = spawn(
        "federating",
        &prometheus,
        &[
            &format!("--config.file={}", cfg.display()),
            &format!("--storage.tsdb.path={}", dir.path().join("fed-data").display()),
            &format!("--web.listen-address=127.0.0.1:{port}"),
        ],
        dir.path(),
        &[],
    );
    let base = format!("http://127.0.0.1:{port}");
    let query = |b: &str| -> Option<BTreeSet<(String, String)>> {
        let url = format!(
            "{b}/api/v1/query?query={}",
            urlencode("{job=\"fed\",__name__!~\"up|scrape_.*\"}")
        );
        let (status, body) = http_get(&url)?;
        let v: Value = serde_json::from_str(&body).ok()?;
        if status != 200 {
            return None;
        }
        Some(
            v["data"]["result"]
                .as_array()?
                .iter()
                .map(|r| {
                    (
                        r["metric"].to_string(),
                        r["value"][1].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect(),
        )
    };
    // What burnwatch federates, with the external labels Prometheus adds on its side.
    let (_, text) = federate(&pair.burnwatch, &["{job=\"fed\"}"]);
    let expected: usize = families(&text).values().map(BTreeSet::len).sum();
    assert_eq!(expected, 7, "{text}");
    let mut last = None;
    let held = wait_for(Duration::from_secs(60), || {
        let got = query(&base)?;
        last = Some(got.clone());
        (got.len() == expected).then_some(got)
    });
    let held = held.unwrap_or_else(|| {
        panic!(
            "the federating Prometheus did not get the {expected} series; last {last:?}\n{}",
            fed.output()
        )
    });
    // Every value the federating Prometheus holds is burnwatch's, labels and all.
    let own: BTreeSet<(String, String)> = query(&pair.burnwatch).unwrap();
    for (labels, value) in &held {
        let m: Value = serde_json::from_str(labels).unwrap();
        assert_eq!(m["region"], "eu", "external labels arrive: {labels}");
        let mut without: serde_json::Map<String, Value> = m.as_object().unwrap().clone();
        without.remove("region");
        if without.get("env").is_some_and(|e| e == "test") {
            without.remove("env");
        }
        let key = Value::Object(without).to_string();
        assert!(
            own.iter().any(|(l, v)| {
                let a: Value = serde_json::from_str(l).unwrap();
                a == serde_json::from_str::<Value>(&key).unwrap() && v == value
            }),
            "{labels} = {value} is not a series of burnwatch's: {own:?}"
        );
    }
}

/// The expressions of the upstream PromQL test corpus (`eval` lines), read in place.
fn corpus_expressions() -> Vec<String> {
    let dir = Path::new("/work/shared/promql-testdata");
    let Ok(entries) = std::fs::read_dir(dir) else {
        assert!(
            !common::in_ci(),
            "the PromQL test corpus is missing at {}",
            dir.display()
        );
        eprintln!(
            "\n!!! the PromQL test corpus is missing at {}; hand-written queries only\n",
            dir.display()
        );
        return Vec::new();
    };
    let mut files: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    files.sort();
    let mut out = BTreeSet::new();
    for f in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "test"))
    {
        for line in std::fs::read_to_string(f).unwrap_or_default().lines() {
            let Some(rest) = line.strip_prefix("eval") else {
                continue;
            };
            let words: Vec<&str> = rest.split_whitespace().collect();
            let skip = if words.get(1) == Some(&"instant") {
                4 // _kind instant at T
            } else if words.get(1) == Some(&"range") {
                8 // _kind range from A to B step S
            } else if words.first() == Some(&"instant") {
                3
            } else if words.first() == Some(&"range") {
                7
            } else {
                continue;
            };
            if words.len() > skip {
                out.insert(words[skip..].join(" "));
            }
        }
    }
    out.into_iter().collect()
}

const HAND_WRITTEN: &[&str] = &[
    "up",
    "sum by(job)(rate(http_requests_total{job=\"a\",code=~\"5..\"}[5m])) / on(job) group_left sum by(job) (rate(http_requests_total[5m]))",
    "histogram_quantile(0.99, sum by (le, service) (rate(http_server_request_duration_seconds_bucket{service=\"checkout\",http_route=\"/api/payment\"}[5m])))",
    "(1 - (sum(rate(http_requests_total{code=~\"5..\"}[1h])) / sum(rate(http_requests_total[1h])))) > (14.4 * 0.001) and (1 - (sum(rate(http_requests_total{code=~\"5..\"}[5m])) / sum(rate(http_requests_total[5m])))) > (14.4 * 0.001)",
    "max_over_time(deriv(rate(distance_covered_total[5s])[30s:5s])[10m:])",
    "-foo offset 5m @ 100",
    "topk(3, sum without (instance) (rate(node_cpu_seconds_total{mode!=\"idle\"}[1m])))",
    "label_replace(up, \"foo\", \"$1\", \"job\", \"(.*)\")",
    "a + on(b) group_right(c, d) e",
    "1 + 2 * 3 ^ 4 % 5",
    "\"a string\"",
    "count_values(\"value\", up) or vector(0) unless on() absent(up)",
];

#[test]
fn format_query_prints_as_prometheus_on_hand_written_and_corpus_queries() {
    let dir = tempfile::tempdir().unwrap();
    let Some(pair) = start_pair(dir.path(), &[]) else {
        return;
    };
    let mut queries: Vec<String> = HAND_WRITTEN.iter().map(|s| s.to_string()).collect();
    queries.extend(corpus_expressions());
    let format = |base: &str, q: &str| -> (u16, Value) {
        let resp = http_request(
            "POST",
            &format!("{base}/api/v1/format_query"),
            &[("Content-Type", "application/x-www-form-urlencoded")],
            format!("query={}", urlencode(q)).as_bytes(),
        )
        .expect("format_query answers");
        (
            resp.status,
            serde_json::from_slice(&resp.body).unwrap_or(Value::Null),
        )
    };
    let (mut compared, mut newer_syntax) = (0, 0);
    let mut differ = Vec::new();
    let mut known: BTreeMap<&str, usize> = BTreeMap::new();
    for q in &queries {
        let (ps, p) = format(&pair.prometheus, q);
        if ps != 200 {
            // Syntax newer than 2.42 (3.x functions, duration expressions, ...) or a query
            // the corpus expects to fail: nothing to compare against.
            newer_syntax += 1;
            continue;
        }
        compared += 1;
        let (bs, b) = format(&pair.burnwatch, q);
        if (bs, &b["data"]) == (ps, &p["data"]) {
            continue;
        }
        if let (Some(p), Some(b)) = (p["data"].as_str(), b["data"].as_str())
            && let Some(why) = known_divergence(q, p, b)
        {
            *known.entry(why).or_default() += 1;
            continue;
        }
        {
            differ.push(format!(
                "{q}\n  prometheus: {}\n  burnwatch ({bs}): {}",
                p["data"],
                if bs == 200 {
                    b["data"].clone()
                } else {
                    b["error"].clone()
                }
            ));
        }
    }
    eprintln!(
        "format_query: {compared} queries compared with Prometheus 2.42, {newer_syntax} not taken by 2.42, \
         known divergences {known:?}, {} differ",
        differ.len()
    );
    assert!(
        known.values().sum::<usize>() <= 20,
        "more known divergences than expected: {known:?}"
    );
    assert!(compared >= HAND_WRITTEN.len(), "compared only {compared}");
    assert!(
        differ.is_empty(),
        "{} of {compared} differ:\n{}",
        differ.len(),
        differ.join("\n")
    );
    // An error answers as the query API does.
    let (ps, p) = format(&pair.prometheus, "sum(up");
    let (bs, b) = format(&pair.burnwatch, "sum(up");
    assert_eq!((bs, &b["errorType"]), (ps, &p["errorType"]));
}

/// Why burnwatch's `format_query` text `b` may differ from Prometheus 2.42's `p` for `q`, when it
/// is one of the documented divergences (see `slo/src/api/format.rs`).
fn known_divergence(q: &str, p: &str, b: &str) -> Option<&'static str> {
    // A Go string escape of a byte that is not UTF-8 (`"\xff"`): Rust strings hold code points.
    if p.contains("\\x") {
        return Some("byte escape");
    }
    // A unary `+` on a vector: promql-parser drops it (the value is the same).
    let without_plus: String = {
        let c: Vec<char> = p.chars().collect();
        c.iter()
            .enumerate()
            .filter(|(i, ch)| {
                !(**ch == '+'
                    && c.get(i + 1)
                        .is_some_and(|n| n.is_alphabetic() || *n == '(' || *n == '{')
                    && !p[p.char_indices().nth(*i).map_or(0, |(o, _)| o)..].starts_with("+Inf"))
            })
            .map(|(_, ch)| *ch)
            .collect()
    };
    if without_plus == b {
        return Some("unary plus");
    }
    // Prometheus 2.42 does not indent the lines of a subquery with `@` inside a split call.
    let flat = |s: &str| s.lines().map(str::trim_start).collect::<Vec<_>>().join("\n");
    if q.contains('@') && flat(p) == flat(b) {
        return Some("2.42 @ subquery indentation");
    }
    None
}

/// The CORS headers of a response, by lower-case name.
fn cors_headers(resp: &common::Response) -> BTreeMap<String, String> {
    resp.headers
        .iter()
        .filter(|(k, _)| {
            k.to_ascii_lowercase().starts_with("access-control-") || k.eq_ignore_ascii_case("vary")
        })
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect()
}

#[test]
fn options_and_cors_origin_answer_as_prometheus() {
    for pattern in [None, Some(r"https?://grafana\.example")] {
        let dir = tempfile::tempdir().unwrap();
        let flag = pattern.map(|p| format!("--web.cors.origin={p}"));
        let args: Vec<&str> = flag.iter().map(String::as_str).collect();
        let Some(pair) = start_pair(dir.path(), &args) else {
            return;
        };
        let origins = [
            None,
            Some("https://grafana.example"),
            Some("https://grafana.example.evil"),
            Some("http://other"),
        ];
        let requests = [
            ("OPTIONS", "/api/v1/query"),
            ("OPTIONS", "/api/v1/series"),
            ("OPTIONS", "/api/v1/status/config"),
            ("GET", "/api/v1/query?query=1"),
            ("GET", "/api/v1/query?query=sum("),
            ("GET", "/api/v1/status/flags"),
            ("GET", "/api/v1/labels"),
        ];
        for origin in origins {
            for (method, path) in requests {
                let headers: Vec<(&str, &str)> = origin.iter().map(|o| ("Origin", *o)).collect();
                let p = http_request(method, &format!("{}{path}", pair.prometheus), &headers, b"").unwrap();
                let b = http_request(method, &format!("{}{path}", pair.burnwatch), &headers, b"").unwrap();
                assert_eq!(
                    (b.status, cors_headers(&b)),
                    (p.status, cors_headers(&p)),
                    "{method} {path} from {origin:?} with --web.cors.origin {pattern:?}"
                );
            }
        }
    }
}

/// `# TYPE` of every family in an exposition.
fn types(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect()
}

#[test]
fn metrics_without_config_has_prometheus_names_and_counts_requests() {
    let Some(prometheus) = require_tool("prometheus", "apt-get install -y prometheus") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // serve without --config: /metrics is there all the same.
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let _bw = spawn(
        "burnwatch",
        &burnwatch_bin(),
        &["serve", "--log-level", "warn", "--listen", &listen],
        dir.path(),
        &[],
    );
    let base = format!("http://{listen}");
    assert!(
        wait_for(Duration::from_secs(60), || http_get(&format!("{base}/-/ready"))
            .filter(|(s, _)| *s == 200))
        .is_some()
    );
    let now = now_ms();
    let body = write_request(&[
        (vec![("__name__", "a"), ("job", "x")], vec![(now - 1000, 1.0)]),
        (vec![("__name__", "b"), ("job", "x")], vec![(now - 1000, 2.0)]),
    ]);
    assert_eq!(post_remote_write(&base, &body).0, 204);
    for _ in 0..3 {
        assert_eq!(
            http_get(&format!("{base}/api/v1/query?query=sum(a)")).unwrap().0,
            200
        );
    }
    assert_eq!(
        http_get(&format!("{base}/api/v1/query?query=sum(")).unwrap().0,
        400
    );
    assert_eq!(
        http_get(&format!("{base}/api/v1/label/job/values")).unwrap().0,
        200
    );
    let (status, text) = http_get(&format!("{base}/metrics")).unwrap();
    assert_eq!(status, 200);
    let value = |name: &str, labels: &[(&str, &str)]| common::sample_value(&text, name, labels);
    assert_eq!(
        value(
            "prometheus_http_requests_total",
            &[("handler", "/api/v1/query"), ("code", "200")]
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        value(
            "prometheus_http_requests_total",
            &[("handler", "/api/v1/query"), ("code", "400")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            "prometheus_http_requests_total",
            &[("handler", "/api/v1/label/:name/values"), ("code", "200")]
        ),
        Some(1.0)
    );
    assert_eq!(value("prometheus_tsdb_head_series", &[]), Some(2.0));
    assert_eq!(
        value(
            "prometheus_engine_query_duration_seconds_count",
            &[("slice", "inner_eval")]
        ),
        Some(3.0)
    );
    assert!(
        value("process_resident_memory_bytes", &[]).is_some_and(|v| v > 1e6),
        "{text}"
    );
    assert_eq!(value("prometheus_config_last_reload_successful", &[]), Some(1.0));

    // Every family has the name and type it has in Prometheus 2.42's own /metrics.
    let pport = free_port();
    let cfg = write_file(dir.path(), "p.yml", "global: {}\n");
    let _prom = spawn(
        "prometheus",
        &prometheus,
        &[
            &format!("--config.file={}", cfg.display()),
            &format!("--storage.tsdb.path={}", dir.path().join("p").display()),
            &format!("--web.listen-address=127.0.0.1:{pport}"),
        ],
        dir.path(),
        &[],
    );
    let purl = format!("http://127.0.0.1:{pport}");
    wait_for(Duration::from_secs(60), || {
        http_get(&format!("{purl}/-/ready")).filter(|(s, _)| *s == 200)
    })
    .expect("Prometheus starts");
    // A query and a label-values request first, so the request families have children (the Go
    // client leaves out a family with none).
    http_get(&format!("{purl}/api/v1/query?query=1")).unwrap();
    http_get(&format!("{purl}/api/v1/label/job/values")).unwrap();
    let ptext = http_get(&format!("{purl}/metrics")).unwrap().1;
    let (ours, theirs) = (types(&text), types(&ptext));
    assert!(ours.len() >= 12, "{ours:?}");
    for (name, kind) in &ours {
        assert_eq!(
            theirs.get(name),
            Some(kind),
            "{name} ({kind}) in Prometheus 2.42's /metrics"
        );
    }
}

#[test]
fn up_serves_the_same_status_metrics_and_cors() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(dir.path(), "collector.yaml", common::EPHEMERAL_CONFIG);
    let data_dir = dir.path().join("data");
    let listen = format!("127.0.0.1:{}", free_port());
    let base = format!("http://{listen}");
    let up = spawn(
        "up",
        &burnwatch_bin(),
        &[
            "up",
            "--headless",
            "--config",
            config.to_str().unwrap(),
            "--listen",
            &listen,
            "--data-dir",
            data_dir.to_str().unwrap(),
            "--web.cors.origin=https://grafana\\.example",
        ],
        dir.path(),
        &[],
    );
    let ready = wait_for(Duration::from_secs(60), || {
        http_get(&format!("{base}/-/ready")).filter(|(s, _)| *s == 200)
    });
    assert!(ready.is_some(), "up did not serve its API:\n{}", up.output());
    let flags = get_json(&format!("{base}/api/v1/status/flags"));
    assert_eq!(flags["data"]["web.cors.origin"], "https://grafana\\.example");
    assert_eq!(flags["data"]["storage.tsdb.path"], data_dir.display().to_string());
    assert_eq!(flags["data"]["headless"], "true");
    let info = get_json(&format!("{base}/api/v1/status/runtimeinfo"));
    // 35d, written as Go writes a model.Duration.
    assert_eq!(info["data"]["storageRetention"], "5w");
    let yaml = get_json(&format!("{base}/api/v1/status/config"));
    assert!(
        yaml["data"]["yaml"]
            .as_str()
            .unwrap()
            .starts_with("global:\n  scrape_interval: 1m\n")
    );
    let pretty = get_json(&format!(
        "{base}/api/v1/format_query?query={}",
        urlencode("sum(rate(x[5m]))by(job)")
    ));
    assert_eq!(pretty["data"], "sum by (job) (rate(x[5m]))");
    // OPTIONS from the allowed origin and from another one.
    let ok = http_request(
        "OPTIONS",
        &format!("{base}/api/v1/query_range"),
        &[("Origin", "https://grafana.example")],
        b"",
    )
    .unwrap();
    assert_eq!(ok.status, 204);
    assert_eq!(
        ok.header("Access-Control-Allow-Origin"),
        Some("https://grafana.example")
    );
    let other = http_request(
        "GET",
        &format!("{base}/api/v1/labels"),
        &[("Origin", "https://evil.example")],
        b"",
    )
    .unwrap();
    assert_eq!(other.status, 200);
    assert_eq!(other.header("Access-Control-Allow-Origin"), None);
    assert_eq!(
        other.header("Access-Control-Allow-Methods"),
        Some("GET, POST, OPTIONS")
    );
    // /metrics: the requests above, and the series the store holds once up has scraped itself.
    let counted = wait_for(Duration::from_secs(60), || {
        let (_, text) = http_get(&format!("{base}/metrics"))?;
        let labels = common::sample_value(
            &text,
            "prometheus_http_requests_total",
            &[("handler", "/api/v1/labels"), ("code", "200")],
        )?;
        let series = common::sample_value(&text, "prometheus_tsdb_head_series", &[])?;
        (labels == 1.0 && series > 0.0).then_some(text)
    });
    assert!(counted.is_some(), "{}", up.output());
    let rules = counted.unwrap();
    assert!(
        rules.contains("prometheus_rule_group_"),
        "up's SLO rule metrics are there too"
    );
}
