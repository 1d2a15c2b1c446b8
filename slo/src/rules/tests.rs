//! Rule files, the manager's state machine and the API, without a clock: the manager is driven
//! with `evaluate_at`.

use std::sync::{Arc, Mutex};

use super::*;
use crate::alert::Alert;
use crate::promql::{Engine, Value};
use crate::shared::{SharedStorage, new_shared};
use crate::tsdb::{Labels, Queryable, is_stale_nan};

const MIN: i64 = 60_000;

/// A series for [`store_with`]: its labels and samples.
type SeriesDef<'a> = (&'a [(&'a str, &'a str)], &'a [(i64, f64)]);
/// What [`recorder`] keeps: each batch with the wall-clock time it came.
type Sent = Arc<Mutex<Vec<(i64, Vec<Alert>)>>>;

fn store_with(series: &[SeriesDef<'_>]) -> SharedStorage {
    let store = new_shared();
    {
        let mut s = store.write().unwrap();
        for (labels, samples) in series {
            let l = Labels::from_pairs(labels.iter().copied());
            for (t, v) in *samples {
                s.append(&l, *t, *v).unwrap();
            }
        }
    }
    store
}

fn manager(yaml: &str, store: &SharedStorage, sink: Option<AlertSink>) -> RuleManager {
    let file = parse_rule_file("rules.yml", yaml).unwrap();
    RuleManager::new(vec![file], store.clone(), ManagerOptions::default(), sink)
}

fn recorder() -> (AlertSink, Sent) {
    let got: Sent = Arc::default();
    let g = got.clone();
    let sink: AlertSink = Arc::new(move |alerts: Vec<Alert>| {
        g.lock().unwrap().push((crate::tsdb::wall_clock_ms(), alerts));
    });
    (sink, got)
}

fn instant(store: &SharedStorage, q: &str, t: i64) -> Vec<(String, f64)> {
    let guard = store.read().unwrap();
    match Engine::default()
        .instant_query(&*guard as &(dyn Queryable + Sync), q, t)
        .unwrap()
        .value
    {
        Value::Vector(v) => v.into_iter().map(|s| (s.labels.to_string(), s.v)).collect(),
        other => panic!("not a vector: {other:?}"),
    }
}

fn raw(store: &SharedStorage, name: &str) -> Vec<(i64, f64)> {
    let guard = store.read().unwrap();
    let m = [crate::tsdb::Matcher::equal("__name__", name)];
    guard
        .select(&m, i64::MIN, i64::MAX)
        .into_iter()
        .flat_map(|s| s.samples)
        .map(|s| (s.t, s.v))
        .collect()
}

// ---- files

#[test]
fn rule_file_errors_name_file_group_rule_and_field() {
    let err = |yaml: &str| parse_rule_file("r.yml", yaml).unwrap_err().to_string();
    let e = err("groups:\n- name: a\n  rules: []\n- name: a\n  rules: []\n");
    assert_eq!(e, "r.yml: group \"a\": repeated in the same file");
    let e =
        err("groups:\n- name: g\n  rules:\n  - record: ok\n    expr: up\n  - alert: A\n    expr: sum(up\n");
    assert!(
        e.starts_with("r.yml: group \"g\", rule 1 (\"A\"), field expr: could not parse expression: 1:"),
        "{e}"
    );
    let e = err("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    labels:\n      bad-name: x\n");
    assert_eq!(
        e,
        "r.yml: group \"g\", rule 0 (\"A\"), field labels.bad-name: invalid label name: bad-name"
    );
    let e = err("groups:\n- name: g\n  rules:\n  - record: r\n    expr: up\n    for: 5m\n");
    assert!(
        e.ends_with("field for: invalid field 'for' in recording rule"),
        "{e}"
    );
    let e = err("groups:\n- name: g\n  rules:\n  - record: 'bad name'\n    expr: up\n");
    assert!(e.ends_with("invalid recording rule name: bad name"), "{e}");
    let e = err("groups:\n- name: g\n  rules:\n  - record: r\n    alert: A\n    expr: up\n");
    assert!(e.ends_with("only one of 'record' and 'alert' must be set"), "{e}");
    let e = err(
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    annotations:\n      s: '{{ nope }}'\n",
    );
    assert!(e.contains("field annotations.s: template: __alert_A:"), "{e}");
    let e = err("groups:\n- name: g\n  interval: 5x\n  rules: []\n");
    assert!(e.contains("field interval: not a valid duration string"), "{e}");
    let e = err("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    severity: page\n");
    assert!(
        e.starts_with("r.yml: groups[0].rules[0]: unknown field `severity`"),
        "{e}"
    );
    assert!(parse_rule_file("empty.yml", "").unwrap().groups.is_empty());
}

#[test]
fn generated_slo_rules_and_the_dashboard_rules_load() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    for spec in [
        "examples/slos/checkout-sloth.yaml",
        "examples/slos/checkout-openslo.yaml",
    ] {
        let slos = crate::slo::spec::load_file(std::path::Path::new(&format!("{root}/{spec}"))).unwrap();
        let yaml = crate::slo::rules::to_yaml(&slos, &Default::default()).unwrap();
        let f = parse_rule_file(spec, &yaml).unwrap_or_else(|e| panic!("{e}"));
        assert!(!f.groups.is_empty());
    }
    let files = load_rule_files(&[format!("{root}/dashboards/rules/*.yml")]).unwrap();
    assert_eq!(files.len(), 1);
    assert!(
        files[0]
            .groups
            .iter()
            .any(|g| g.rules.iter().any(RuleSpec::is_alerting))
    );
}

#[test]
fn glob_patterns_match_as_go_filepath_match() {
    assert_eq!(file::glob_match("*.yml", "a.yml"), Ok(true));
    assert_eq!(file::glob_match("*.yml", "a.yaml"), Ok(false));
    assert_eq!(file::glob_match("r?.y[a-m]l", "r1.yml"), Ok(true));
    assert_eq!(file::glob_match("[^a]*", "abc"), Ok(false));
    assert!(file::glob_match("[a", "a").is_err());
    assert!(matches!(
        load_rule_files(&["/nonexistent/[x"]),
        Err(RuleFileError::Pattern { .. })
    ));
}

// ---- recording rules

#[test]
fn recording_rules_write_at_the_evaluation_time_and_mark_vanished_series_stale() {
    let store = store_with(&[
        (&[("__name__", "up"), ("job", "a")], &[(0, 1.0), (MIN, 1.0)]),
        (&[("__name__", "up"), ("job", "b")], &[(0, 0.0)]),
    ]);
    let m = manager(
        "groups:\n- name: g\n  rules:\n  - record: job:up:sum\n    expr: sum by (job) (up)\n    labels:\n      team: x\n",
        &store,
        None,
    );
    m.evaluate_at(MIN);
    assert_eq!(
        instant(&store, "job:up:sum", MIN),
        vec![
            (
                "{__name__=\"job:up:sum\", job=\"a\", team=\"x\"}".to_string(),
                1.0
            ),
            (
                "{__name__=\"job:up:sum\", job=\"b\", team=\"x\"}".to_string(),
                0.0
            )
        ]
    );
    // job="b" has no sample within the 5m lookback at 6m: its recording goes stale then.
    m.evaluate_at(6 * MIN + 1);
    let b: Vec<(i64, f64)> = {
        let guard = store.read().unwrap();
        let ms = [
            crate::tsdb::Matcher::equal("job", "b"),
            crate::tsdb::Matcher::equal("__name__", "job:up:sum"),
        ];
        guard.select(&ms, 0, i64::MAX)[0]
            .samples
            .iter()
            .map(|s| (s.t, s.v))
            .collect()
    };
    assert_eq!(b.len(), 2);
    assert_eq!(b[0], (MIN, 0.0));
    assert_eq!(b[1].0, 6 * MIN + 1);
    assert!(is_stale_nan(b[1].1));
    let g = &m.groups()[0];
    assert_eq!(g.rules[0].health, Health::Good);
    assert_eq!(g.last_eval_ms, Some(6 * MIN + 1));
}

#[test]
fn recording_rule_limit_and_duplicate_labelsets_fail_the_rule() {
    let store = store_with(&[
        (&[("__name__", "up"), ("job", "a")], &[(0, 1.0)]),
        (&[("__name__", "up"), ("job", "b")], &[(0, 1.0)]),
    ]);
    let m = manager(
        "groups:\n- name: g\n  limit: 1\n  rules:\n  - record: r\n    expr: up\n- name: h\n  rules:\n  - record: r2\n    expr: up\n    labels:\n      job: same\n",
        &store,
        None,
    );
    m.evaluate_at(MIN);
    let gs = m.groups();
    assert_eq!(gs[0].rules[0].health, Health::Bad);
    assert_eq!(
        gs[0].rules[0].last_error.as_deref(),
        Some("exceeded limit of 1 with 2 series")
    );
    assert_eq!(
        gs[1].rules[0].last_error.as_deref(),
        Some("vector contains metrics with the same labelset after applying rule labels")
    );
    assert!(raw(&store, "r").is_empty());
    // The self-metrics are in the store too, queryable as Prometheus's self-scrape makes them.
    assert_eq!(
        instant(&store, "prometheus_rule_evaluation_failures_total", MIN),
        vec![
            (
                "{__name__=\"prometheus_rule_evaluation_failures_total\", rule_group=\"rules.yml;g\"}"
                    .to_string(),
                1.0
            ),
            (
                "{__name__=\"prometheus_rule_evaluation_failures_total\", rule_group=\"rules.yml;h\"}"
                    .to_string(),
                1.0
            ),
        ]
    );
    let metrics = m.metrics_text();
    assert!(
        metrics.contains("prometheus_rule_evaluation_failures_total{rule_group=\"rules.yml;g\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("prometheus_rule_group_rules{rule_group=\"rules.yml;h\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("prometheus_rule_group_interval_seconds{rule_group=\"rules.yml;g\"} 60"),
        "{metrics}"
    );
}

// ---- alerting rules

const ALERT_RULES: &str = r#"
groups:
- name: alerts
  rules:
  - alert: Down
    expr: up == 0
    for: 2m
    labels:
      severity: page
      instance_copy: '{{ $labels.instance }}'
    annotations:
      summary: '{{ $labels.instance }} down, value {{ $value }} ({{ $value | humanizePercentage }})'
      broken: '{{ index $labels }}{{ humanize "x" }}'
"#;

fn down_store(until_min: i64) -> SharedStorage {
    let samples: Vec<(i64, f64)> = (0..=20)
        .map(|i| (i * MIN, if i <= until_min { 0.0 } else { 1.0 }))
        .collect();
    store_with(&[(&[("__name__", "up"), ("instance", "h:1")], &samples)])
}

#[test]
fn alerts_go_pending_firing_resolved_and_are_sent_as_prometheus_sends_them() {
    let store = down_store(5);
    let (sink, got) = recorder();
    let m = manager(ALERT_RULES, &store, Some(sink));
    m.set_restored();
    m.evaluate_at(0);
    let a = m.alerts();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].state, AlertState::Pending);
    assert_eq!(a[0].labels.get("alertname").map(String::as_str), Some("Down"));
    assert_eq!(a[0].labels.get("instance_copy").map(String::as_str), Some("h:1"));
    assert_eq!(a[0].annotations["summary"], "h:1 down, value 0 (0%)");
    assert!(
        a[0].annotations["broken"].starts_with("<error expanding template: template: __alert_Down:"),
        "{}",
        a[0].annotations["broken"]
    );
    assert!(got.lock().unwrap().is_empty(), "pending alerts are not sent");
    m.evaluate_at(MIN);
    assert_eq!(m.alerts()[0].state, AlertState::Pending);
    m.evaluate_at(2 * MIN);
    assert_eq!(m.alerts()[0].state, AlertState::Firing);
    {
        let sent = got.lock().unwrap();
        assert_eq!(sent.len(), 1);
        let alert = &sent[0].1[0];
        assert_eq!(alert.starts_at_ms, 2 * MIN);
        // endsAt = now + 4 × max(resend delay 1m, interval 1m).
        assert_eq!(alert.ends_at_ms, 2 * MIN + 4 * MIN);
        assert_eq!(alert.generator_url, "/graph?g0.expr=up+%3D%3D+0&g0.tab=1");
    }
    // Within the resend delay: not sent again; after it: re-sent.
    m.evaluate_at(3 * MIN);
    assert_eq!(got.lock().unwrap().len(), 1);
    m.evaluate_at(3 * MIN + 1);
    assert_eq!(got.lock().unwrap().len(), 2);
    // up is 1 from 6m: resolved and sent with endsAt = the resolution time.
    m.evaluate_at(6 * MIN);
    assert!(m.alerts().is_empty());
    {
        let sent = got.lock().unwrap();
        let last = &sent.last().unwrap().1[0];
        assert_eq!(last.ends_at_ms, 6 * MIN);
        assert_eq!(last.starts_at_ms, 2 * MIN);
    }
    // ALERTS: pending at 0 and 1m, firing from 2m, then stale at 6m.
    let pending: Vec<i64> = {
        let guard = store.read().unwrap();
        let ms = [
            crate::tsdb::Matcher::equal("__name__", "ALERTS"),
            crate::tsdb::Matcher::equal("alertstate", "pending"),
        ];
        guard.select(&ms, 0, i64::MAX)[0]
            .samples
            .iter()
            .filter(|s| !is_stale_nan(s.v))
            .map(|s| s.t)
            .collect()
    };
    assert_eq!(pending, vec![0, MIN]);
    let for_state = raw(&store, "ALERTS_FOR_STATE");
    assert_eq!(for_state[0], (0, 0.0));
    assert!(is_stale_nan(for_state.last().unwrap().1));
    // Resolved alerts are re-sent every resend delay for 15 minutes, then forgotten.
    let before = got.lock().unwrap().len();
    m.evaluate_at(7 * MIN + 1);
    assert_eq!(got.lock().unwrap().len(), before + 1);
    m.evaluate_at(6 * MIN + 15 * MIN + 1);
    m.evaluate_at(6 * MIN + 16 * MIN + 2);
    let after = got.lock().unwrap().len();
    m.evaluate_at(6 * MIN + 18 * MIN);
    assert_eq!(got.lock().unwrap().len(), after, "forgotten after the retention");
}

#[test]
fn keep_firing_for_holds_a_firing_alert() {
    let store = down_store(2);
    let m = manager(
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up == 0\n    keep_firing_for: 2m\n",
        &store,
        None,
    );
    m.set_restored();
    for i in 0..=3 {
        m.evaluate_at(i * MIN);
    }
    // The expression stopped returning it at 3m; it keeps firing at 3m and 4m, resolves at 5m.
    let a = m.alerts();
    assert_eq!(a[0].state, AlertState::Firing);
    assert_eq!(a[0].keep_firing_since_ms, Some(3 * MIN));
    m.evaluate_at(4 * MIN);
    assert_eq!(m.alerts().len(), 1);
    m.evaluate_at(5 * MIN);
    assert!(m.alerts().is_empty());
}

#[test]
fn alert_limit_clears_the_rules_alerts() {
    let store = store_with(&[
        (&[("__name__", "up"), ("i", "1")], &[(0, 0.0)]),
        (&[("__name__", "up"), ("i", "2")], &[(0, 0.0)]),
    ]);
    let m = manager(
        "groups:\n- name: g\n  limit: 1\n  rules:\n  - alert: A\n    expr: up == 0\n",
        &store,
        None,
    );
    m.evaluate_at(0);
    assert!(m.alerts().is_empty());
    assert_eq!(
        m.groups()[0].rules[0].last_error.as_deref(),
        Some("exceeded limit of 1 with 2 alerts")
    );
}

#[test]
fn for_state_is_restored_after_a_restart() {
    let yaml = "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up == 0\n    for: 30m\n";
    let samples: Vec<(i64, f64)> = (0..=60).map(|i| (i * MIN, 0.0)).collect();
    let store = store_with(&[(&[("__name__", "up"), ("instance", "x")], &samples)]);
    let first = manager(yaml, &store, None);
    first.set_restored();
    // Active since 0; the server goes down after the evaluation at 10m.
    for i in 0..=10 {
        first.evaluate_at(i * MIN);
    }
    drop(first);
    // It comes back at 15m: a new manager over the same store.
    let second = manager(yaml, &store, None);
    second.evaluate_at(15 * MIN);
    second.evaluate_at(16 * MIN);
    second.restore_for_state(16 * MIN);
    // 10m spent pending, 20m remaining (more than the grace period): active_at moves by the
    // 6m outage (down at 10m, restored at 16m).
    assert_eq!(second.alerts()[0].active_at_ms, 6 * MIN);
    second.evaluate_at(35 * MIN);
    assert_eq!(second.alerts()[0].state, AlertState::Pending);
    second.evaluate_at(36 * MIN);
    assert_eq!(second.alerts()[0].state, AlertState::Firing);
    // Without the restore the alert would have been active since 15m and still pending.
    let third = manager(
        yaml,
        &store_with(&[(&[("__name__", "up"), ("instance", "x")], &samples)]),
        None,
    );
    third.evaluate_at(15 * MIN);
    third.evaluate_at(36 * MIN);
    assert_eq!(third.alerts()[0].state, AlertState::Pending);
}

#[test]
fn reload_keeps_state_of_unchanged_rules_and_marks_dropped_series_stale() {
    let store = down_store(20);
    let yaml = "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up == 0\n    for: 1m\n  - record: r\n    expr: up\n";
    let m = manager(yaml, &store, None);
    m.set_restored();
    m.evaluate_at(0);
    m.evaluate_at(MIN);
    assert_eq!(m.alerts()[0].state, AlertState::Firing);
    // Same alert, the recording rule dropped, a new group added.
    let new_yaml = "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up == 0\n    for: 1m\n- name: h\n  rules:\n  - record: r2\n    expr: up\n";
    m.reload(vec![parse_rule_file("rules.yml", new_yaml).unwrap()]);
    assert_eq!(m.alerts()[0].state, AlertState::Firing, "state kept");
    assert_eq!(m.alerts()[0].active_at_ms, 0);
    m.evaluate_at(2 * MIN);
    let r = raw(&store, "r");
    assert!(
        is_stale_nan(r.last().unwrap().1),
        "the dropped rule's series is stale: {r:?}"
    );
    assert_eq!(raw(&store, "r2"), vec![(2 * MIN, 0.0)]);
    assert_eq!(m.groups().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_evaluates_groups_until_cancelled() {
    let now = crate::tsdb::wall_clock_ms();
    let store = store_with(&[(&[("__name__", "up")], &[(now, 1.0)])]);
    let file = parse_rule_file(
        "rules.yml",
        "groups:\n- name: g\n  interval: 100ms\n  rules:\n  - record: r\n    expr: up\n",
    )
    .unwrap();
    let m = RuleManager::new(vec![file], store.clone(), ManagerOptions::default(), None);
    let cancel = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(m.clone().run(cancel.clone()));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while raw(&store, "r").len() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "three evaluations within 60 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    cancel.cancel();
    task.await.unwrap();
    let times: Vec<i64> = raw(&store, "r").iter().map(|s| s.0).collect();
    // Evaluation times lie on the group's grid: one interval apart (missed ones skipped).
    assert!(times.windows(2).all(|w| (w[1] - w[0]) % 100 == 0), "{times:?}");
}

// ---- API

async fn api_get(state: crate::api::ApiState, uri: &str) -> (axum::http::StatusCode, String) {
    use tower::ServiceExt;
    let req = axum::http::Request::get(uri)
        .body(axum::body::Body::empty())
        .unwrap();
    let resp = crate::api::router(state).oneshot(req).await.unwrap();
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn rules_and_alerts_endpoints_answer_prometheus_json() {
    let store = down_store(20);
    let yaml = "groups:\n- name: g\n  rules:\n  - alert: Down\n    expr: up == 0\n    for: 1m\n    labels:\n      severity: page\n    annotations:\n      s: '{{ $labels.instance }}'\n  - record: r\n    expr: up\n";
    let m = manager(yaml, &store, None);
    m.evaluate_at(0);
    let mut state = crate::api::ApiState::new(store.clone(), Default::default());
    let (status, body) = api_get(state.clone(), "/api/v1/alerts").await;
    assert_eq!(status, 200);
    assert_eq!(
        body, "{\"status\":\"success\",\"data\":{\"alerts\":[]}}",
        "no manager: empty"
    );
    state.rules = Some(m.clone());
    let (_, body) = api_get(state.clone(), "/api/v1/alerts").await;
    assert_eq!(
        body,
        "{\"status\":\"success\",\"data\":{\"alerts\":[{\"labels\":{\"alertname\":\"Down\",\"instance\":\"h:1\",\"severity\":\"page\"},\
         \"annotations\":{\"s\":\"h:1\"},\"state\":\"pending\",\"activeAt\":\"1970-01-01T00:00:00Z\",\"value\":\"0e+00\"}]}}"
    );
    let (_, body) = api_get(state.clone(), "/api/v1/rules").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let g = &v["data"]["groups"][0];
    assert_eq!(g["name"], "g");
    assert_eq!(g["file"], "rules.yml");
    assert_eq!(g["interval"], 60);
    assert_eq!(g["limit"], 0);
    assert_eq!(g["rules"][0]["type"], "alerting");
    assert_eq!(g["rules"][0]["state"], "pending");
    assert_eq!(g["rules"][0]["duration"], 60);
    assert_eq!(g["rules"][0]["health"], "ok");
    assert_eq!(g["rules"][0]["lastEvaluation"], "1970-01-01T00:00:00Z");
    assert_eq!(g["rules"][0]["alerts"][0]["labels"]["alertname"], "Down");
    assert_eq!(g["rules"][1]["type"], "recording");
    assert_eq!(g["rules"][1]["query"], "up");
    let (_, body) = api_get(state.clone(), "/api/v1/rules?type=record").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"]["groups"][0]["rules"].as_array().unwrap().len(), 1);
    let (_, body) = api_get(state.clone(), "/api/v1/rules?rule_name[]=nope").await;
    assert_eq!(body, "{\"status\":\"success\",\"data\":{\"groups\":[]}}");
    let (_, body) = api_get(
        state.clone(),
        "/api/v1/rules?rule_group[]=g&file[]=rules.yml&rule_name[]=Down",
    )
    .await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"]["groups"][0]["rules"][0]["name"], "Down");
    let (status, body) = api_get(state, "/api/v1/rules?type=bogus").await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid parameter \\\"type\\\": not supported value \\\"bogus\\\"\"}"
    );
}
