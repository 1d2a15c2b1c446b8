//! The HTTP backend against the real API (`burnwatch_slo::api`) on a loopback port, over data
//! whose answers are known.

use std::path::PathBuf;
use std::time::Duration;

use burnwatch_slo::api::{self, ApiState};
use burnwatch_slo::dora::{self, SeriesWriter, Window};
use burnwatch_slo::ingest;
use burnwatch_slo::promql::EngineOptions;
use burnwatch_slo::shared::{SharedStorage, new_shared};
use burnwatch_slo::slo::spec;

use super::*;

fn repo_file(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

/// Serves `store` on a free loopback port until the test's runtime ends.
async fn serve(store: SharedStorage) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = ApiState::new(store, EngineOptions::default());
    tokio::spawn(api::serve(listener, state, std::future::pending()));
    format!("http://{addr}")
}

fn store_with(text: &str) -> SharedStorage {
    let store = new_shared();
    ingest::import_text(&mut store.write().unwrap(), text).unwrap();
    store
}

fn checkout_specs() -> Vec<SloSpec> {
    spec::load_file(&repo_file("examples/slos/checkout-sloth.yaml")).unwrap()
}

/// The end of examples/metrics/checkout.om: 2026-01-01T01:00:00Z.
const CHECKOUT_END_MS: i64 = 1_767_229_200_000;

#[tokio::test]
async fn slos_come_sorted_by_budget_with_the_selected_slos_series() {
    let text = std::fs::read_to_string(repo_file("examples/metrics/checkout.om")).unwrap();
    let url = serve(store_with(&text)).await;
    let specs = checkout_specs();
    let backend = HttpBackend::new(url, specs.clone(), Duration::from_secs(10), DEFAULT_COLLECTOR_JOB);
    let selected = specs[0].id();
    let snap = backend.fetch(Some(&selected), CHECKOUT_END_MS).await;

    assert_eq!(snap.slos.len(), specs.len());
    assert!(snap.errors.is_empty(), "{:?}", snap.errors);
    for s in &snap.slos {
        assert_eq!(s.error, None, "{}", s.id);
        assert!(s.budget_remaining.is_some(), "{} has a budget", s.id);
    }
    let budgets: Vec<f64> = snap.slos.iter().map(|s| s.budget_remaining.unwrap()).collect();
    assert!(budgets.windows(2).all(|w| w[0] <= w[1]), "sorted: {budgets:?}");

    let detail = snap.detail.expect("the selected SLO's series");
    assert_eq!(detail.id, selected);
    assert_eq!(detail.burndown.len(), BURNDOWN_POINTS as usize + 1);
    let first = detail.burndown.first().unwrap();
    let last = detail.burndown.last().unwrap();
    assert_eq!((first.ideal, first.remaining), (1.0, Some(1.0)));
    assert!(last.ideal.abs() < 1e-12, "the ideal line ends at 0");
    assert_eq!(last.t_ms, CHECKOUT_END_MS);
    // The last point covers the whole period: what the SLO table calls budget remaining.
    let status = snap.slos.iter().find(|s| s.id == selected).unwrap();
    let remaining = last.remaining.unwrap();
    assert!(
        (remaining - status.budget_remaining.unwrap()).abs() < 1e-9,
        "burndown ends at {remaining}, the table says {:?}",
        status.budget_remaining
    );
    // The data covers the last hour only: the budget is untouched until then.
    assert_eq!(detail.burndown[BURNDOWN_POINTS as usize - 1].remaining, Some(1.0));

    let spans: Vec<&str> = detail.sparklines.iter().map(|s| s.span.as_str()).collect();
    assert_eq!(spans, ["5m", "1h", "6h"]);
    for s in &detail.sparklines {
        assert_eq!(s.points.len(), SPARK_POINTS as usize, "{}", s.span);
        assert_eq!(s.points.last().unwrap().0, CHECKOUT_END_MS);
        for (_, v) in &s.points {
            if let Some(v) = v {
                assert!((0.0..=1.0).contains(v), "an SLI is a share: {v}");
            }
        }
    }
    // The 5m sparkline lies entirely within the data.
    assert!(detail.sparklines[0].points.iter().all(|(_, v)| v.is_some()));
    // The 6h one mostly before it: no traffic there, not a made-up number.
    assert!(detail.sparklines[2].points[..40].iter().all(|(_, v)| v.is_none()));
}

#[tokio::test]
async fn dora_counts_agree_with_the_report_from_the_events() {
    let text = std::fs::read_to_string(repo_file("examples/dora/events.jsonl")).unwrap();
    let (log, bad) = dora::parse_jsonl(&text);
    assert!(bad.is_empty());
    let store = new_shared();
    {
        let mut guard = store.write().unwrap();
        let mut writer = SeriesWriter::new();
        dora::append_events(&mut guard, &mut writer, &log);
    }
    let url = serve(store).await;
    let backend = HttpBackend::new(url, Vec::new(), Duration::from_secs(10), DEFAULT_COLLECTOR_JOB);
    // 2024-05-30T00:00:00Z, after the last event.
    let at = 1_717_027_200_000;
    let snap = backend.fetch(None, at).await;
    assert!(snap.errors.is_empty(), "{:?}", snap.errors);
    assert!(snap.dora.has_data);
    assert_eq!(snap.dora.window, "30d");
    let names: Vec<&str> = snap.dora.metrics.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Deployment frequency",
            "Lead time for changes",
            "Change failure rate",
            "Failed deployment recovery time",
            "Deployment rework rate"
        ]
    );
    let report = dora::compute(&log, Window::new(at, 30 * 86_400_000).unwrap(), None);
    let freq = snap.dora.metrics[0].value.unwrap();
    assert!(
        (freq - report.frequency.per_day).abs() < 1e-9,
        "{freq} vs {}",
        report.frequency.per_day
    );
    assert_eq!(
        snap.dora.metrics[0].tier.as_deref(),
        report.frequency_tier().map(|t| t.as_str())
    );
    let cfr = snap.dora.metrics[2].value.unwrap();
    assert!((cfr - report.change_failure.value().unwrap()).abs() < 1e-9);
    let rework = snap.dora.metrics[4].value.unwrap();
    assert!((rework - report.rework.value().unwrap()).abs() < 1e-9);
    assert_eq!(snap.dora.metrics[4].tier, None, "no tier table for rework");
    // Medians come from buckets: the tier agrees even where the interpolated value does not.
    assert_eq!(
        snap.dora.metrics[1].tier.as_deref(),
        report.lead_time_tier().map(|t| t.as_str())
    );
    // The window before holds the first days of the log only.
    assert!(snap.dora.metrics[0].previous.is_some());
}

#[tokio::test]
async fn collector_view_reads_the_collectors_own_metrics() {
    let job = DEFAULT_COLLECTOR_JOB;
    let mut text = String::new();
    for (i, t) in [1_000_i64, 1_015, 1_030, 1_045, 1_060].into_iter().enumerate() {
        let n = i as u64;
        text.push_str(&format!(
            "otelcol_receiver_accepted_spans_total{{job=\"{job}\",receiver=\"otlp\",transport=\"grpc\"}} {} {t}\n\
             otelcol_receiver_refused_spans_total{{job=\"{job}\",receiver=\"otlp\",transport=\"grpc\"}} 0 {t}\n\
             otelcol_processor_refused_spans_total{{job=\"{job}\",processor=\"memory_limiter\"}} {} {t}\n\
             otelcol_exporter_send_failed_spans_total{{job=\"{job}\",exporter=\"otlp/jaeger\"}} {} {t}\n\
             otelcol_exporter_enqueue_failed_spans_total{{job=\"{job}\",exporter=\"otlp/jaeger\"}} {} {t}\n\
             otelcol_exporter_queue_size{{job=\"{job}\",exporter=\"otlp/jaeger\"}} 250 {t}\n\
             otelcol_exporter_queue_capacity{{job=\"{job}\",exporter=\"otlp/jaeger\"}} 1000 {t}\n\
             otelcol_exporter_queue_capacity{{job=\"{job}\",exporter=\"prometheus\"}} 0 {t}\n\
             otelcol_process_memory_rss{{job=\"{job}\"}} 104857600 {t}\n\
             burnwatch_memory_limiter_limit_bytes{{job=\"{job}\",processor=\"memory_limiter\"}} 536870912 {t}\n\
             burnwatch_memory_limiter_soft_limit_bytes{{job=\"{job}\",processor=\"memory_limiter\"}} 429496729 {t}\n\
             up{{job=\"{job}\",instance=\"localhost:8888\"}} 1 {t}\n",
            n * 1500,
            n * 30,
            n * 15,
            n * 15,
        ));
    }
    text.push_str("# EOF\n");
    let url = serve(store_with(&text)).await;
    let backend = HttpBackend::new(url, Vec::new(), Duration::from_secs(10), job);
    let snap = backend.fetch(None, 1_060_000).await;
    assert!(snap.errors.is_empty(), "{:?}", snap.errors);
    let c = &snap.collector;
    assert_eq!(c.up, Some(true));
    let spans = &c.signals[0];
    assert_eq!(spans.signal, "spans");
    // 1500 spans per 15 s scrape.
    assert!(
        (spans.accepted_per_s.unwrap() - 100.0).abs() < 1e-9,
        "{:?}",
        spans.accepted_per_s
    );
    assert!(
        (spans.refused_per_s.unwrap() - 2.0).abs() < 1e-9,
        "{:?}",
        spans.refused_per_s
    );
    // send_failed and enqueue_failed of one exporter: the same labels but for the name, which
    // made the query fail ("vector cannot contain metrics with the same labelset") once names
    // are dropped at `rate`, as Prometheus does by default.
    assert!(
        (spans.failed_per_s.unwrap() - 2.0).abs() < 1e-9,
        "{:?}",
        spans.failed_per_s
    );
    // Nothing about metric points: not 0, unknown.
    assert_eq!(c.signals[1].accepted_per_s, None);
    assert_eq!(c.queues.len(), 1, "exporters without a queue are left out");
    assert_eq!(
        (
            c.queues[0].exporter.as_str(),
            c.queues[0].size,
            c.queues[0].capacity
        ),
        ("otlp/jaeger", 250.0, 1000.0)
    );
    assert_eq!(c.rss_bytes, Some(104_857_600.0));
    assert_eq!(c.memory_limit_bytes, Some(536_870_912.0));
    assert_eq!(c.memory_soft_limit_bytes, Some(429_496_729.0));
    // The DORA view says there is nothing rather than showing zeros.
    assert!(!snap.dora.has_data);
    assert!(snap.dora.metrics.is_empty());
}

/// Per exporter sent/failed rates and send-latency quantiles, per pipeline in/out/refused and the
/// dropped rest, as `burnwatch_slo::collector_view` computes them from the collector's series.
#[tokio::test]
async fn collector_view_has_exporter_latency_and_pipeline_rows() {
    let job = DEFAULT_COLLECTOR_JOB;
    let mut text = String::new();
    for (i, t) in [1_000_i64, 1_015, 1_030, 1_045, 1_060].into_iter().enumerate() {
        let n = i as u64;
        let e = "exporter=\"otlp/jaeger\",otel_signal=\"traces\"";
        let p = "pipeline=\"traces/in\",otel_signal=\"traces\"";
        // Per 15 s: 1500 spans sent, 15 failed; 30 sends, half within 10 ms and half within
        // 50 ms; 1500 spans into the pipeline, 1350 out, 60 refused.
        text.push_str(&format!(
            "otelcol_exporter_sent_spans_total{{job=\"{job}\",exporter=\"otlp/jaeger\"}} {sent} {t}\n\
             otelcol_exporter_send_failed_spans_total{{job=\"{job}\",exporter=\"otlp/jaeger\"}} {failed} {t}\n\
             burnwatch_exporter_send_duration_seconds_bucket{{job=\"{job}\",{e},le=\"0.01\"}} {half} {t}\n\
             burnwatch_exporter_send_duration_seconds_bucket{{job=\"{job}\",{e},le=\"0.05\"}} {all} {t}\n\
             burnwatch_exporter_send_duration_seconds_bucket{{job=\"{job}\",{e},le=\"+Inf\"}} {all} {t}\n\
             burnwatch_pipeline_incoming_items_total{{job=\"{job}\",{p}}} {sent} {t}\n\
             burnwatch_pipeline_outgoing_items_total{{job=\"{job}\",{p}}} {out} {t}\n\
             burnwatch_pipeline_refused_items_total{{job=\"{job}\",{p}}} {refused} {t}\n",
            sent = n * 1500,
            failed = n * 15,
            half = n * 15,
            all = n * 30,
            out = n * 1350,
            refused = n * 60,
        ));
    }
    text.push_str("# EOF\n");
    let url = serve(store_with(&text)).await;
    let backend = HttpBackend::new(url, Vec::new(), Duration::from_secs(10), job);
    let snap = backend.fetch(None, 1_060_000).await;
    assert!(snap.errors.is_empty(), "{:?}", snap.errors);
    let c = &snap.collector;
    let close = |v: Option<f64>, want: f64| v.is_some_and(|v| (v - want).abs() < 1e-9);
    assert_eq!(c.exporters.len(), 1, "{:?}", c.exporters);
    let e = &c.exporters[0];
    assert_eq!(e.exporter, "otlp/jaeger");
    assert!(close(e.sent_per_s, 100.0), "{e:?}");
    assert!(close(e.failed_per_s, 1.0), "{e:?}");
    // histogram_quantile: the median is the first bucket's bound; p99 interpolates 14.7 of the
    // second bucket's 15 observations between 10 and 50 ms.
    assert!(close(e.send_p50_s, 0.01), "{e:?}");
    assert!(close(e.send_p99_s, 0.01 + 0.04 * 14.7 / 15.0), "{e:?}");
    assert_eq!(c.pipelines.len(), 1, "{:?}", c.pipelines);
    let p = &c.pipelines[0];
    assert_eq!((p.pipeline.as_str(), p.signal.as_str()), ("traces/in", "traces"));
    assert!(close(p.incoming_per_s, 100.0), "{p:?}");
    assert!(close(p.outgoing_per_s, 90.0), "{p:?}");
    assert!(close(p.refused_per_s, 4.0), "{p:?}");
    assert!(close(p.dropped_per_s, 6.0), "{p:?}");
}

#[tokio::test]
async fn typed_queries_give_tables_lines_and_positioned_errors() {
    let text = std::fs::read_to_string(repo_file("examples/metrics/checkout.om")).unwrap();
    let url = serve(store_with(&text)).await;
    let backend = HttpBackend::new(url, Vec::new(), Duration::from_secs(10), DEFAULT_COLLECTOR_JOB);
    match backend
        .run_query("sum by (code) (http_requests_total)", None, CHECKOUT_END_MS)
        .await
    {
        QueryOutcome::Table { rows } => {
            assert!(rows.len() >= 2, "{rows:?}");
            assert!(rows.iter().any(|(l, _)| l == "{code=\"200\"}"), "{rows:?}");
        }
        other => panic!("expected a table, got {other:?}"),
    }
    match backend
        .run_query(
            "sum(rate(http_requests_total[5m]))",
            Some(3_600_000),
            CHECKOUT_END_MS,
        )
        .await
    {
        QueryOutcome::Lines { series } => {
            assert_eq!(series.len(), 1);
            assert!(series[0].1.len() > 100, "{} points", series[0].1.len());
        }
        other => panic!("expected lines, got {other:?}"),
    }
    match backend.run_query("sum(rate(x[5m])", None, CHECKOUT_END_MS).await {
        QueryOutcome::Error { message, position } => {
            assert!(message.contains("parse error"), "{message}");
            // Prometheus 2.42 reports an unclosed parenthesis at the end of the query
            // (`1:16: parse error: unclosed left parenthesis`), and so does the API.
            assert_eq!(position, Some(15), "{message}");
        }
        other => panic!("expected an error, got {other:?}"),
    }
    assert_eq!(
        backend
            .run_query("1 + 1", None, CHECKOUT_END_MS)
            .await
            .rows_for_test(),
        vec![("scalar".to_string(), "2".to_string())]
    );
}

#[tokio::test]
async fn an_unreachable_server_is_said_once_and_nothing_is_made_up() {
    // A port nothing listens on: bind, note it, close.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let backend = HttpBackend::new(
        format!("http://127.0.0.1:{port}"),
        checkout_specs(),
        Duration::from_secs(2),
        DEFAULT_COLLECTOR_JOB,
    );
    let snap = backend.fetch(None, CHECKOUT_END_MS).await;
    assert_eq!(
        snap.errors.first().map(String::as_str),
        Some(&*format!("cannot reach http://127.0.0.1:{port}"))
    );
    assert!(
        snap.slos
            .iter()
            .all(|s| s.budget_remaining.is_none() && s.error.is_some())
    );
    assert_eq!(snap.collector.rss_bytes, None);
    assert!(!snap.dora.has_data);
}

#[test]
fn parse_positions_are_zero_based_columns() {
    assert_eq!(parse_position("1:7: parse error: unexpected"), Some(6));
    assert_eq!(
        parse_position("invalid parameter \"query\": 1:4: parse error: unclosed left parenthesis"),
        Some(3)
    );
    assert_eq!(parse_position("2:1: parse error"), None);
    assert_eq!(parse_position("execution: too many samples"), None);
}

impl QueryOutcome {
    fn rows_for_test(self) -> Vec<(String, String)> {
        match self {
            QueryOutcome::Table { rows } => rows,
            other => panic!("expected a table, got {other:?}"),
        }
    }
}

#[test]
fn a_native_histogram_shows_its_count_and_sum() {
    use burnwatch_slo::promql::InstantSample;
    use burnwatch_slo::tsdb::histogram::FloatHistogram;
    let h = FloatHistogram {
        count: 12.0,
        sum: 3.5,
        positive: vec![(1, 12.0)],
        ..FloatHistogram::default()
    };
    let v = Value::Vector(vec![InstantSample {
        labels: Labels::from_pairs([("__name__", "req")]),
        t: 0,
        v: 0.0,
        h: Some(std::sync::Arc::new(h)),
        drop_name: false,
    }]);
    assert_eq!(
        outcome(v).rows_for_test(),
        vec![("req".to_string(), "histogram count=12 sum=3.5".to_string())]
    );
}
