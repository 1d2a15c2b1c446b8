//! `/api/v1/status/{config,flags,runtimeinfo,tsdb}` and `/metrics`: what the server runs with,
//! in Prometheus 3.x's JSON (the field sets are checked against Prometheus 2.42 side by side in
//! `tests/serve_status_api.rs`).
//!
//! [`ServerInfo`] holds what these endpoints report and is shared by every clone of the API
//! state: the command line ([`ServerInfo::flags`], under Prometheus's flag names where the meaning
//! is the same), the loaded configuration ([`ConfigStatus`], updated by the reloader), the
//! `--web.cors.origin` pattern and the API's own counters ([`ApiMetrics`]).
//!
//! Divergences from Prometheus, by endpoint:
//!
//! - `config`: the YAML is the loaded file re-marshalled with the defaults Prometheus prints
//!   filled in for `global` (intervals, timeout), each scrape job (`honor_timestamps`,
//!   intervals, `metrics_path`, `scheme`, `follow_redirects`, `enable_http2`) and each relabel
//!   rule (`separator`, `regex`, `replacement`, `action`), keys in Prometheus's order and secrets
//!   (`password`, `credentials`, `bearer_token`, `client_secret`, `secret_key`) as `<secret>`.
//!   Defaults of sections burnwatch does not model (`tls_config`, `alerting`, `remote_write`
//!   queue settings) are not filled in: those print as written. Without `--config` it is what
//!   Prometheus prints for an empty file.
//! - `runtimeinfo`: `goroutineCount` is the number of live Tokio tasks, `GOMAXPROCS` the number of
//!   Tokio worker threads, `GOGC` and `GODEBUG` are empty; `corruptionCount` is always 0 (a
//!   corrupt write-ahead-log segment is truncated at start-up and logged, see `tsdb::persist`).
//! - `tsdb`: burnwatch has one in-memory head, so the figures cover all of the data, where
//!   Prometheus's cover the head block (the last 2-3 hours).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_norway::{Mapping, Value};

use super::cors::CorsOrigin;
use super::self_metrics::{ApiMetrics, HeadNumbers};
use super::{ApiError, ApiState, json, read_form, success, with_store};
use crate::promconfig::PrometheusConfig;
use crate::tsdb::Storage;

/// What the status endpoints report; cheap to clone (the changing parts are shared).
#[derive(Clone, Debug)]
pub struct ServerInfo {
    /// The command line as `/api/v1/status/flags` reports it: flag name (without `--`) and
    /// value, Prometheus's names where the meaning is the same.
    pub flags: Arc<Vec<(String, String)>>,
    /// `storageRetention` of `runtimeinfo` (`35d`; empty when nothing is removed by age).
    pub storage_retention: String,
    /// `--web.cors.origin`.
    pub cors: CorsOrigin,
    /// The loaded configuration.
    pub config: Arc<ConfigStatus>,
    /// The API's own counters.
    pub metrics: Arc<ApiMetrics>,
    start: SystemTime,
}

impl Default for ServerInfo {
    fn default() -> Self {
        ServerInfo {
            flags: Arc::new(Vec::new()),
            storage_retention: String::new(),
            cors: CorsOrigin::default(),
            config: Arc::new(ConfigStatus::default()),
            metrics: Arc::new(ApiMetrics::default()),
            start: SystemTime::now(),
        }
    }
}

/// The configuration file as last loaded, and whether the last (re)load worked.
#[derive(Debug)]
pub struct ConfigStatus {
    yaml: RwLock<String>,
    external_labels: RwLock<Vec<(String, String)>>,
    last_successful: AtomicBool,
    last_success_ms: AtomicI64,
}

impl Default for ConfigStatus {
    fn default() -> Self {
        ConfigStatus {
            yaml: RwLock::new(render_config("", &PrometheusConfig::default())),
            external_labels: RwLock::new(Vec::new()),
            last_successful: AtomicBool::new(true),
            last_success_ms: AtomicI64::new(super::now_ms()),
        }
    }
}

impl ConfigStatus {
    /// Records a successful load of `cfg`, parsed from `text`.
    pub fn loaded(&self, text: &str, cfg: &PrometheusConfig) {
        let yaml = render_config(text, cfg);
        *self.yaml.write().unwrap_or_else(|e| e.into_inner()) = yaml;
        *self.external_labels.write().unwrap_or_else(|e| e.into_inner()) = cfg
            .global
            .external_labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        self.last_successful.store(true, Ordering::SeqCst);
        self.last_success_ms.store(super::now_ms(), Ordering::SeqCst);
    }

    /// Records a reload that failed (the previous configuration keeps running).
    pub fn failed(&self) {
        self.last_successful.store(false, Ordering::SeqCst);
    }

    /// Whether the last load worked.
    pub fn last_successful(&self) -> bool {
        self.last_successful.load(Ordering::SeqCst)
    }

    /// When the last successful load happened (Unix ms).
    pub fn last_success_ms(&self) -> i64 {
        self.last_success_ms.load(Ordering::SeqCst)
    }

    /// `global.external_labels`, in name order.
    pub fn external_labels(&self) -> Vec<(String, String)> {
        self.external_labels
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The YAML `/api/v1/status/config` reports.
    pub fn yaml(&self) -> String {
        self.yaml.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// `prometheus_config_last_reload_*` in the text format.
    pub fn metrics_text(&self) -> String {
        let ok = u8::from(self.last_successful());
        let ts = self.last_success_ms() as f64 / 1000.0;
        format!(
            "# HELP prometheus_config_last_reload_successful Whether the last configuration reload attempt was successful.\n\
             # TYPE prometheus_config_last_reload_successful gauge\n\
             prometheus_config_last_reload_successful {ok}\n\
             # HELP prometheus_config_last_reload_success_timestamp_seconds Timestamp of the last successful configuration reload.\n\
             # TYPE prometheus_config_last_reload_success_timestamp_seconds gauge\n\
             prometheus_config_last_reload_success_timestamp_seconds {}\n",
            burnwatch_gofmt::format_exposition(ts),
        )
    }
}

/// Keys whose values Prometheus prints as `<secret>` (its `config.Secret` fields).
const SECRET_KEYS: [&str; 5] = [
    "password",
    "credentials",
    "bearer_token",
    "client_secret",
    "secret_key",
];

/// Prometheus's order of a scrape job's keys (its `ScrapeConfig` struct with the HTTP client
/// settings inlined, then the service discoveries, which its `MarshalYAML` appends).
const SCRAPE_KEY_ORDER: [&str; 35] = [
    "job_name",
    "honor_labels",
    "honor_timestamps",
    "params",
    "scrape_interval",
    "scrape_timeout",
    "metrics_path",
    "scheme",
    "body_size_limit",
    "sample_limit",
    "target_limit",
    "label_limit",
    "label_name_length_limit",
    "label_value_length_limit",
    "basic_auth",
    "authorization",
    "oauth2",
    "bearer_token",
    "bearer_token_file",
    "tls_config",
    "proxy_url",
    "no_proxy",
    "proxy_from_environment",
    "proxy_connect_header",
    "follow_redirects",
    "enable_http2",
    "relabel_configs",
    "metric_relabel_configs",
    "static_configs",
    "file_sd_configs",
    "dns_sd_configs",
    "kubernetes_sd_configs",
    "consul_sd_configs",
    "http_sd_configs",
    "ec2_sd_configs",
];

const TOP_KEY_ORDER: [&str; 7] = [
    "global",
    "alerting",
    "rule_files",
    "scrape_config_files",
    "scrape_configs",
    "remote_write",
    "remote_read",
];

const RELABEL_KEY_ORDER: [&str; 7] = [
    "source_labels",
    "separator",
    "regex",
    "modulus",
    "target_label",
    "replacement",
    "action",
];

fn s(v: &str) -> Value {
    Value::String(v.to_string())
}

/// `m` with its keys in `order`, the keys not named there after them as they came.
fn ordered(mut m: Mapping, order: &[&str]) -> Mapping {
    let mut out = Mapping::new();
    for k in order {
        if let Some(v) = m.remove(*k) {
            out.insert(s(k), v);
        }
    }
    for (k, v) in m {
        out.insert(k, v);
    }
    out
}

/// Replaces secret values anywhere in `v`.
fn redact(v: &mut Value) {
    match v {
        Value::Mapping(m) => {
            for (k, val) in m.iter_mut() {
                let secret = k.as_str().is_some_and(|k| SECRET_KEYS.contains(&k));
                if secret && !matches!(val, Value::Null) {
                    *val = s("<secret>");
                } else {
                    redact(val);
                }
            }
        }
        Value::Sequence(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// A relabel rule with Prometheus's defaults filled in.
fn relabel_defaults(v: Value) -> Value {
    let Value::Mapping(mut m) = v else { return v };
    let action = m
        .get("action")
        .and_then(Value::as_str)
        .unwrap_or("replace")
        .to_ascii_lowercase();
    for (k, d) in [("separator", ";"), ("regex", "(.*)")] {
        if !m.contains_key(k) {
            m.insert(s(k), s(d));
        }
    }
    if !m.contains_key("replacement") {
        m.insert(s("replacement"), s("$1"));
    }
    m.insert(s("action"), s(&action));
    Value::Mapping(ordered(m, &RELABEL_KEY_ORDER))
}

/// The configuration as `/api/v1/status/config` shows it: `text` (the file `cfg` was parsed
/// from) re-marshalled with Prometheus's defaults filled in (see the module doc).
pub fn render_config(text: &str, cfg: &PrometheusConfig) -> String {
    let doc: Value = if text.trim().is_empty() {
        Value::Mapping(Mapping::new())
    } else {
        serde_norway::from_str(text).unwrap_or(Value::Mapping(Mapping::new()))
    };
    let mut top = match doc {
        Value::Mapping(m) => m,
        _ => Mapping::new(),
    };
    // global, with the intervals Prometheus always prints.
    let mut global = match top.remove("global") {
        Some(Value::Mapping(m)) => m,
        _ => Mapping::new(),
    };
    let g = &cfg.global;
    global.insert(s("scrape_interval"), s(&g.scrape_interval.to_string()));
    global.insert(
        s("scrape_timeout"),
        s(&crate::promconfig::PromDuration(g.timeout()).to_string()),
    );
    global.insert(s("evaluation_interval"), s(&g.evaluation_interval.to_string()));
    // Label sets print sorted by name (they are sorted `labels.Labels` in Prometheus).
    match global.remove("external_labels") {
        Some(Value::Mapping(m)) if !m.is_empty() => {
            let mut pairs: Vec<(Value, Value)> = m.into_iter().collect();
            pairs.sort_by(|a, b| a.0.as_str().cmp(&b.0.as_str()));
            global.insert(s("external_labels"), Value::Mapping(pairs.into_iter().collect()));
        }
        _ => {}
    }
    top.insert(
        s("global"),
        Value::Mapping(ordered(
            global,
            &[
                "scrape_interval",
                "scrape_timeout",
                "evaluation_interval",
                "external_labels",
            ],
        )),
    );
    if let Some(Value::Sequence(jobs)) = top.remove("scrape_configs") {
        let mut out = Vec::with_capacity(jobs.len());
        for (job, parsed) in jobs.into_iter().zip(&cfg.scrape_configs) {
            let Value::Mapping(mut m) = job else {
                out.push(job);
                continue;
            };
            let (interval, timeout) = cfg.interval_and_timeout(parsed);
            let dur = |d| crate::promconfig::PromDuration(d).to_string();
            m.insert(s("honor_timestamps"), Value::Bool(parsed.honor_timestamps));
            m.insert(s("scrape_interval"), s(&dur(interval)));
            m.insert(s("scrape_timeout"), s(&dur(timeout)));
            m.insert(s("metrics_path"), s(&parsed.metrics_path));
            m.insert(s("scheme"), s(&parsed.scheme));
            for k in ["follow_redirects", "enable_http2"] {
                if !m.contains_key(k) {
                    m.insert(s(k), Value::Bool(true));
                }
            }
            for k in ["relabel_configs", "metric_relabel_configs"] {
                if let Some(Value::Sequence(rules)) = m.remove(k) {
                    let rules = rules.into_iter().map(relabel_defaults).collect();
                    m.insert(s(k), Value::Sequence(rules));
                }
            }
            out.push(Value::Mapping(ordered(m, &SCRAPE_KEY_ORDER)));
        }
        top.insert(s("scrape_configs"), Value::Sequence(out));
    }
    let mut doc = Value::Mapping(ordered(top, &TOP_KEY_ORDER));
    redact(&mut doc);
    flow_label_lists(&serde_norway::to_string(&doc).unwrap_or_default())
}

/// `source_labels` as a flow sequence (`[a, b]`), as Prometheus's `model.LabelNames` marshals
/// (its field is tagged `flow`); serde writes every sequence in block style.
fn flow_label_lists(yaml: &str) -> String {
    let mut out = String::with_capacity(yaml.len());
    let mut lines = yaml.lines().peekable();
    while let Some(line) = lines.next() {
        let key = line.trim_start().trim_start_matches("- ");
        if key != "source_labels:" {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        // The items follow at the key's indentation (serde does not indent a sequence in a map).
        let indent = line.len() - key.len();
        let item_prefix = format!("{}- ", " ".repeat(indent));
        let mut items = Vec::new();
        while let Some(item) = lines.peek().and_then(|l| l.strip_prefix(item_prefix.as_str())) {
            items.push(item.to_string());
            lines.next();
        }
        out.push_str(&line[..indent]);
        out.push_str(&format!("source_labels: [{}]\n", items.join(", ")));
    }
    out
}

/// `/api/v1/status/config`.
pub(super) async fn config(State(state): State<ApiState>) -> Response {
    let mut data = String::from("{\"yaml\":");
    json::write_str(&mut data, &state.server.config.yaml());
    data.push('}');
    success(&data, &[])
}

/// `/api/v1/status/flags`: an object of every flag, keys sorted (Go marshals a map sorted).
pub(super) async fn flags(State(state): State<ApiState>) -> Response {
    let sorted: BTreeMap<&str, &str> = state
        .server
        .flags
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut data = String::from("{");
    for (i, (k, v)) in sorted.iter().enumerate() {
        if i > 0 {
            data.push(',');
        }
        json::write_str(&mut data, k);
        data.push(':');
        json::write_str(&mut data, v);
    }
    data.push('}');
    success(&data, &[])
}

/// Go's `time.Time` JSON form: RFC 3339 with nanoseconds, trailing zeros dropped.
fn rfc3339_nano(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    let base = super::params::format_rfc3339(secs.saturating_mul(1000));
    let nanos = d.subsec_nanos();
    if nanos == 0 {
        return base;
    }
    let frac = format!("{nanos:09}");
    format!("{}.{}Z", base.trim_end_matches('Z'), frac.trim_end_matches('0'))
}

/// `/api/v1/status/runtimeinfo`.
pub(super) async fn runtimeinfo(State(state): State<ApiState>) -> Response {
    let info = &state.server;
    let cwd = std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|e| format!("<error retrieving current working directory: {e}>"));
    let rt = tokio::runtime::Handle::current().metrics();
    let mut data = String::from("{\"startTime\":");
    json::write_str(&mut data, &rfc3339_nano(info.start));
    data.push_str(",\"CWD\":");
    json::write_str(&mut data, &cwd);
    data.push_str(&format!(
        ",\"reloadConfigSuccess\":{},\"lastConfigTime\":",
        info.config.last_successful()
    ));
    // Prometheus reads it back from a gauge of whole seconds.
    let last = info.config.last_success_ms().div_euclid(1000) * 1000;
    json::write_str(&mut data, &super::params::format_rfc3339(last));
    data.push_str(&format!(
        ",\"corruptionCount\":0,\"goroutineCount\":{},\"GOMAXPROCS\":{},\"GOGC\":\"\",\"GODEBUG\":\"\",\"storageRetention\":",
        rt.num_alive_tasks(),
        rt.num_workers()
    ));
    json::write_str(&mut data, &info.storage_retention);
    data.push('}');
    success(&data, &[])
}

/// One `{"name":..,"value":..}` list of the tsdb status.
fn write_stats(out: &mut String, key: &str, mut items: Vec<(String, usize)>, limit: usize) {
    // Largest first; ties by name, so the answer is stable.
    items.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    items.truncate(limit);
    out.push(',');
    json::write_str(out, key);
    out.push_str(":[");
    for (i, (name, value)) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":");
        json::write_str(out, name);
        out.push_str(&format!(",\"value\":{value}}}"));
    }
    out.push(']');
}

/// The store's size for `/metrics` and the tsdb status.
pub(crate) fn head_numbers(store: &Storage) -> HeadNumbers {
    let mut h = HeadNumbers {
        series: store.num_series(),
        ..HeadNumbers::default()
    };
    for s in store.all_series() {
        let chunks = s.chunks();
        h.chunks += chunks.chunks().len() + usize::from(!s.histograms().is_empty());
        let mut first = chunks.chunks().first().map(|c| c.time_range().0);
        let mut last = chunks.last().map(|x| x.t);
        if let (Some(a), Some(b)) = (s.histograms().first(), s.histograms().last()) {
            first = Some(first.map_or(a.t, |f| f.min(a.t)));
            last = Some(last.map_or(b.t, |l| l.max(b.t)));
        }
        if let Some(f) = first {
            h.min_time = Some(h.min_time.map_or(f, |m| m.min(f)));
        }
        if let Some(l) = last {
            h.max_time = Some(h.max_time.map_or(l, |m| m.max(l)));
        }
    }
    h
}

/// The tsdb status JSON of `store`, each list cut to `limit` entries.
pub fn tsdb_status(store: &Storage, limit: usize) -> String {
    let head = head_numbers(store);
    // name -> value -> series count: the postings Prometheus's `MemPostings.Stats` walks.
    let mut postings: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
    for s in store.all_series() {
        for l in s.labels().iter() {
            *postings
                .entry(l.name.as_str())
                .or_default()
                .entry(l.value.as_str())
                .or_default() += 1;
        }
    }
    let pairs: usize = postings.values().map(BTreeMap::len).sum();
    let mut data = format!(
        "{{\"headStats\":{{\"numSeries\":{},\"numLabelPairs\":{pairs},\"chunkCount\":{},\"minTime\":{},\"maxTime\":{}}}",
        head.series,
        head.chunks,
        head.min_time.unwrap_or(i64::MAX),
        head.max_time.unwrap_or(i64::MIN)
    );
    let by_metric: Vec<(String, usize)> = postings
        .get(crate::tsdb::METRIC_NAME)
        .map(|vs| vs.iter().map(|(v, n)| (v.to_string(), *n)).collect())
        .unwrap_or_default();
    let value_counts = postings.iter().map(|(k, vs)| (k.to_string(), vs.len())).collect();
    let memory = postings
        .iter()
        .map(|(k, vs)| (k.to_string(), vs.keys().map(|v| v.len()).sum()))
        .collect();
    let pair_counts = postings
        .iter()
        .flat_map(|(k, vs)| vs.iter().map(move |(v, n)| (format!("{k}={v}"), *n)))
        .collect();
    write_stats(&mut data, "seriesCountByMetricName", by_metric, limit);
    write_stats(&mut data, "labelValueCountByLabelName", value_counts, limit);
    write_stats(&mut data, "memoryInBytesByLabelName", memory, limit);
    write_stats(&mut data, "seriesCountByLabelValuePair", pair_counts, limit);
    data.push('}');
    data
}

/// `/api/v1/status/tsdb` with Prometheus 3.x's `limit` (default 10).
pub(super) async fn tsdb(
    State(state): State<ApiState>,
    method: Method,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let form = match read_form(&method, raw.as_deref(), &headers, &[]) {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let limit = match form.non_empty("limit") {
        None => 10,
        Some(l) => match l.parse::<i64>() {
            Ok(n) if n >= 1 => usize::try_from(n).unwrap_or(usize::MAX),
            _ => return ApiError::bad_data("limit must be a positive number").into_response(),
        },
    };
    match with_store(&state, move |s| tsdb_status(s, limit)).await {
        Ok(data) => success(&data, &[]),
        Err(e) => e.into_response(),
    }
}

/// `/metrics`: the API's families, the store's size, the reload gauges and the rule manager's
/// `prometheus_rule_*` families.
pub(super) async fn metrics(State(state): State<ApiState>) -> Response {
    let head = with_store(&state, head_numbers).await.unwrap_or_default();
    let mut body = String::new();
    state.server.metrics.write_text(&mut body, &head);
    body.push_str(&state.server.config.metrics_text());
    if let Some(rules) = &state.rules {
        body.push_str(&rules.metrics_text());
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsdb::Labels;

    #[test]
    fn config_is_remarshalled_with_prometheus_defaults_and_secrets_hidden() {
        let text = "\
global:
  scrape_interval: 15s
  external_labels: {env: test}
scrape_configs:
  - job_name: a
    static_configs: [{targets: ['127.0.0.1:9100']}]
    basic_auth: {username: u, password: hunter2}
    relabel_configs:
      - source_labels: [__address__]
        target_label: instance
";
        let cfg = PrometheusConfig::parse(text).unwrap();
        let yaml = render_config(text, &cfg);
        assert_eq!(
            yaml,
            "\
global:
  scrape_interval: 15s
  scrape_timeout: 10s
  evaluation_interval: 1m
  external_labels:
    env: test
scrape_configs:
- job_name: a
  honor_timestamps: true
  scrape_interval: 15s
  scrape_timeout: 10s
  metrics_path: /metrics
  scheme: http
  basic_auth:
    username: u
    password: <secret>
  follow_redirects: true
  enable_http2: true
  relabel_configs:
  - source_labels: [__address__]
    separator: ;
    regex: (.*)
    target_label: instance
    replacement: $1
    action: replace
  static_configs:
  - targets:
    - 127.0.0.1:9100
"
        );
        assert_eq!(
            render_config("", &PrometheusConfig::default()),
            "global:\n  scrape_interval: 1m\n  scrape_timeout: 10s\n  evaluation_interval: 1m\n"
        );
    }

    #[test]
    fn tsdb_status_counts_series_pairs_and_bytes() {
        let mut store = Storage::new();
        let l = |pairs: &[(&str, &str)]| Labels::from_pairs(pairs.iter().copied());
        store
            .append(&l(&[("__name__", "up"), ("job", "a")]), 1000, 1.0)
            .unwrap();
        store
            .append(&l(&[("__name__", "up"), ("job", "bb")]), 2000, 1.0)
            .unwrap();
        store
            .append(&l(&[("__name__", "x"), ("job", "a")]), 3000, 1.0)
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&tsdb_status(&store, 10)).unwrap();
        assert_eq!(
            v["headStats"],
            serde_json::json!({"numSeries": 3, "numLabelPairs": 4, "chunkCount": 3,
                "minTime": 1000, "maxTime": 3000})
        );
        assert_eq!(
            v["seriesCountByMetricName"],
            serde_json::json!([{"name": "up", "value": 2}, {"name": "x", "value": 1}])
        );
        assert_eq!(
            v["labelValueCountByLabelName"],
            serde_json::json!([{"name": "__name__", "value": 2}, {"name": "job", "value": 2}])
        );
        // The bytes of the distinct values: job "a" + "bb", __name__ "up" + "x".
        assert_eq!(
            v["memoryInBytesByLabelName"],
            serde_json::json!([{"name": "__name__", "value": 3}, {"name": "job", "value": 3}])
        );
        assert_eq!(v["seriesCountByLabelValuePair"][0]["name"], "__name__=up");
        let one: serde_json::Value = serde_json::from_str(&tsdb_status(&store, 1)).unwrap();
        assert_eq!(one["seriesCountByLabelValuePair"].as_array().unwrap().len(), 1);
        let empty: serde_json::Value = serde_json::from_str(&tsdb_status(&Storage::new(), 10)).unwrap();
        assert_eq!(empty["headStats"]["minTime"], i64::MAX);
        assert_eq!(empty["headStats"]["maxTime"], i64::MIN);
    }

    #[test]
    fn start_time_is_go_rfc3339_nano() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::new(1_700_000_000, 120_000_000);
        assert_eq!(rfc3339_nano(t), "2023-11-14T22:13:20.12Z");
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::new(1_700_000_000, 0);
        assert_eq!(rfc3339_nano(t), "2023-11-14T22:13:20Z");
    }
}
