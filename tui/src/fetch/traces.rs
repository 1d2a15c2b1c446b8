//! The Traces view's data: per operation, the call rate, the error share and the p50/p90/p99
//! durations from the spanmetrics connector's series, and one operation's quantiles over the
//! last hour. The PromQL is [`burnwatch_slo::spanmetrics`]'s; this module only runs it and joins
//! the answers by operation.

use std::collections::BTreeMap;

use burnwatch_slo::api::client::{ClientError, QueryKind};
use burnwatch_slo::spanmetrics::{self, Operation, QuantileSource};
use burnwatch_slo::tsdb::Labels;

use super::{HttpBackend, short_error};
use crate::model::{OperationLatency, OperationRow, TracesView};

/// The rate window of the table and of the bucket quantiles: four 15 s scrapes.
pub const TRACES_WINDOW: &str = "1m";
/// How far back an operation's latency chart looks.
pub const LATENCY_RANGE_MS: i64 = 3_600_000;
/// The chart's step: one point a minute.
pub const LATENCY_STEP_MS: i64 = 60_000;
/// The quantiles the table and the chart show, with their column names.
pub const QUANTILES: [(f64, &str); 3] = [(0.5, "p50"), (0.9, "p90"), (0.99, "p99")];

fn operation_of(labels: &Labels) -> Operation {
    let get = |name| labels.get(name).unwrap_or_default();
    Operation::new(get("service_name"), get("span_name"), get("span_kind"))
}

impl HttpBackend {
    /// Which quantile source the server has at `at_ms`: the summary when any of it exists, else
    /// the buckets, else none.
    async fn quantile_source(&self, at_ms: i64) -> Result<Option<QuantileSource>, ClientError> {
        for (source, probe) in spanmetrics::source_probes() {
            if self.scalar(&probe, at_ms).await?.is_some_and(|n| n > 0.0) {
                return Ok(Some(source));
            }
        }
        Ok(None)
    }

    /// The Traces view at `at_ms`; failures are noted in `errors` and leave numbers missing.
    pub(super) async fn traces(&self, at_ms: i64, errors: &mut Vec<String>) -> TracesView {
        let mut view = TracesView {
            window: TRACES_WINDOW.to_string(),
            ..TracesView::default()
        };
        let note =
            |e: ClientError, errors: &mut Vec<String>| errors.push(format!("traces: {}", short_error(&e)));
        view.source = match self.quantile_source(at_ms).await {
            Ok(s) => s,
            Err(e) => {
                note(e, errors);
                None
            }
        };
        let mut rows: BTreeMap<Operation, OperationRow> = BTreeMap::new();
        fn row(rows: &mut BTreeMap<Operation, OperationRow>, op: Operation) -> &mut OperationRow {
            rows.entry(op.clone()).or_insert_with(|| OperationRow {
                op,
                ..OperationRow::default()
            })
        }
        let fetch = async |expr: String, errors: &mut Vec<String>| match self.vector(&expr, at_ms).await {
            Ok(v) => v,
            Err(e) => {
                note(e, errors);
                Vec::new()
            }
        };
        let calls = fetch(spanmetrics::calls_rate(TRACES_WINDOW), errors).await;
        let failed = fetch(spanmetrics::errors_rate(TRACES_WINDOW), errors).await;
        let mut quantiles = Vec::new();
        if let Some(source) = view.source {
            for (q, _) in QUANTILES {
                quantiles.push(fetch(spanmetrics::quantile(source, q, TRACES_WINDOW), errors).await);
            }
        }
        for (labels, v) in &calls {
            row(&mut rows, operation_of(labels)).rate_per_s = Some(*v).filter(|v| !v.is_nan());
        }
        for (i, series) in quantiles.iter().enumerate() {
            for (labels, v) in series {
                // `histogram_quantile` over no observations is NaN: no value, not a latency.
                let v = Some(*v).filter(|v| !v.is_nan());
                let r = row(&mut rows, operation_of(labels));
                match i {
                    0 => r.p50_ms = v,
                    1 => r.p90_ms = v,
                    _ => r.p99_ms = v,
                }
            }
        }
        for r in rows.values_mut() {
            // Failed calls are a share of all calls; an operation with calls and no failed-span
            // series had none fail. Without calls there is no share.
            let failed = failed
                .iter()
                .find(|(l, _)| operation_of(l) == r.op)
                .map_or(0.0, |(_, v)| *v);
            r.error_ratio = r.rate_per_s.filter(|c| *c > 0.0).map(|c| failed / c);
        }
        view.operations = rows.into_values().collect();
        view
    }

    /// `op`'s p50/p90/p99 over the hour up to `at_ms`, one point a minute. A failed query leaves
    /// its line empty; the error is not the chart's to report (the table's fetch says it).
    pub async fn operation_latency_at(&self, op: &Operation, at_ms: i64) -> OperationLatency {
        let source = self.quantile_source(at_ms).await.ok().flatten();
        let start = at_ms - LATENCY_RANGE_MS;
        let mut lines = Vec::new();
        for (q, name) in QUANTILES {
            let mut points = Vec::new();
            if let Some(source) = source {
                let expr = spanmetrics::operation_quantile(source, q, op, TRACES_WINDOW);
                let kind = QueryKind::Range {
                    start,
                    end: at_ms,
                    step: LATENCY_STEP_MS,
                };
                if let Ok(res) = self.endpoint.query(&expr, &kind, self.timeout).await {
                    points = super::range_points(&res.value, start, at_ms, LATENCY_STEP_MS);
                }
            }
            lines.push((name.to_string(), points));
        }
        OperationLatency {
            op: op.clone(),
            source,
            lines,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use burnwatch_slo::api::{self, ApiState};
    use burnwatch_slo::promql::EngineOptions;
    use burnwatch_slo::shared::{SharedStorage, new_shared};
    use burnwatch_slo::spanmetrics::{BUCKETS, CALLS, ERROR_STATUS, QUANTILES as SUMMARY};

    use super::*;
    use crate::fetch::DEFAULT_COLLECTOR_JOB;

    /// 10 minutes of data at 15 s, ending here.
    const END_MS: i64 = 1_767_229_200_000;

    async fn serve(store: SharedStorage) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = ApiState::new(store, EngineOptions::default());
        tokio::spawn(api::serve(listener, state, std::future::pending()));
        format!("http://{addr}")
    }

    fn labels(name: &str, service: &str, span: &str, extra: &[(&str, &str)]) -> Labels {
        let mut pairs = vec![
            ("__name__", name),
            ("service_name", service),
            ("span_name", span),
            ("span_kind", "SPAN_KIND_SERVER"),
            ("job", "burnwatch-spanmetrics"),
        ];
        pairs.extend_from_slice(extra);
        Labels::from_pairs(pairs)
    }

    /// `POST /pay`: 10 calls/s, 2/s failing, summary p50/p90/p99 = 20/80/250 ms rising by 1 ms a
    /// scrape; `GET /cart`: 4 calls/s, none failing, a summary too. With `buckets`, also the
    /// histogram of `GET /cart` (half under 5 ms, all under 10 ms) and no summary at all.
    fn store(summary: bool) -> SharedStorage {
        let store = new_shared();
        {
            let mut s = store.write().unwrap();
            let start = END_MS - 600_000;
            for i in 0..=40i64 {
                let t = start + i * 15_000;
                let secs = (i * 15) as f64;
                let pay = |extra: &[(&str, &str)]| labels(CALLS, "checkout", "POST /pay", extra);
                s.append(&pay(&[("status_code", "STATUS_CODE_UNSET")]), t, 8.0 * secs)
                    .unwrap();
                s.append(&pay(&[("status_code", ERROR_STATUS)]), t, 2.0 * secs)
                    .unwrap();
                let cart = labels(CALLS, "cart", "GET /cart", &[("status_code", "STATUS_CODE_OK")]);
                s.append(&cart, t, 4.0 * secs).unwrap();
                if summary {
                    for (q, v) in [("0.5", 20.0), ("0.9", 80.0), ("0.99", 250.0), ("0.999", 900.0)] {
                        let l = labels(SUMMARY, "checkout", "POST /pay", &[("quantile", q)]);
                        s.append(&l, t, v + i as f64).unwrap();
                        let l = labels(SUMMARY, "cart", "GET /cart", &[("quantile", q)]);
                        s.append(&l, t, v / 10.0).unwrap();
                    }
                } else {
                    for (le, share) in [("5", 0.5), ("10", 1.0), ("+Inf", 1.0)] {
                        let l = labels(BUCKETS, "cart", "GET /cart", &[("le", le)]);
                        s.append(&l, t, 4.0 * secs * share).unwrap();
                    }
                }
            }
        }
        store
    }

    fn backend(url: String) -> HttpBackend {
        HttpBackend::new(url, Vec::new(), Duration::from_secs(10), DEFAULT_COLLECTOR_JOB)
    }

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-9)
    }

    #[tokio::test]
    async fn operations_show_rate_error_share_and_exact_quantiles_from_the_summary() {
        let url = serve(store(true)).await;
        let b = backend(url);
        let mut errors = Vec::new();
        let view = b.traces(END_MS, &mut errors).await;
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(view.source, Some(QuantileSource::Summary));
        assert_eq!(view.window, "1m");
        let names: Vec<&str> = view.operations.iter().map(|r| r.op.span_name.as_str()).collect();
        assert_eq!(names, ["GET /cart", "POST /pay"]);
        let cart = &view.operations[0];
        assert_eq!(cart.op, Operation::new("cart", "GET /cart", "SPAN_KIND_SERVER"));
        assert!(close(cart.rate_per_s, 4.0), "{cart:?}");
        assert_eq!(cart.error_ratio, Some(0.0));
        assert!(close(cart.p99_ms, 25.0), "{cart:?}");
        let pay = &view.operations[1];
        assert!(close(pay.rate_per_s, 10.0), "{pay:?}");
        assert!(close(pay.error_ratio, 0.2), "{pay:?}");
        // The last scrape's values: base + 40.
        assert!(close(pay.p50_ms, 60.0), "{pay:?}");
        assert!(close(pay.p90_ms, 120.0), "{pay:?}");
        assert!(close(pay.p99_ms, 290.0), "{pay:?}");
    }

    #[tokio::test]
    async fn without_the_summary_quantiles_come_from_the_buckets_and_say_so() {
        let url = serve(store(false)).await;
        let b = backend(url);
        let mut errors = Vec::new();
        let view = b.traces(END_MS, &mut errors).await;
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(view.source, Some(QuantileSource::Histogram));
        let cart = view
            .operations
            .iter()
            .find(|r| r.op.span_name == "GET /cart")
            .unwrap();
        // Half the calls under 5 ms: the median is the bucket's bound; p90 interpolates to 9 ms.
        assert!(close(cart.p50_ms, 5.0), "{cart:?}");
        assert!(close(cart.p90_ms, 9.0), "{cart:?}");
        let pay = view
            .operations
            .iter()
            .find(|r| r.op.span_name == "POST /pay")
            .unwrap();
        assert_eq!((pay.p50_ms, pay.p99_ms), (None, None), "no buckets for POST /pay");
        assert!(close(pay.rate_per_s, 10.0));
    }

    #[tokio::test]
    async fn no_spanmetrics_series_is_an_empty_view_not_an_error() {
        let url = serve(new_shared()).await;
        let b = backend(url);
        let mut errors = Vec::new();
        let view = b.traces(END_MS, &mut errors).await;
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(view.source, None);
        assert!(view.operations.is_empty());
        let op = Operation::new("checkout", "POST /pay", "SPAN_KIND_SERVER");
        let chart = b.operation_latency_at(&op, END_MS).await;
        assert_eq!(chart.source, None);
        assert!(chart.lines.iter().all(|(_, p)| p.is_empty()));
    }

    #[tokio::test]
    async fn an_operations_chart_has_its_quantiles_each_minute_of_the_last_hour() {
        let url = serve(store(true)).await;
        let b = backend(url);
        let op = Operation::new("checkout", "POST /pay", "SPAN_KIND_SERVER");
        let chart = b.operation_latency_at(&op, END_MS).await;
        assert_eq!(chart.source, Some(QuantileSource::Summary));
        let names: Vec<&str> = chart.lines.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["p50", "p90", "p99"]);
        let p99 = &chart.lines[2].1;
        assert_eq!(p99.len(), 61);
        assert_eq!(p99.first().unwrap().0, END_MS - LATENCY_RANGE_MS);
        // Before the data starts, no value (the lookback is 5 minutes).
        assert_eq!(p99[0].1, None);
        // The data's last scrape is at END_MS: p99 = 250 + 40.
        assert_eq!(p99.last().unwrap(), &(END_MS, Some(290.0)));
        // Two minutes earlier: 8 scrapes before the last one.
        assert_eq!(p99[58], (END_MS - 120_000, Some(282.0)));
    }

    #[tokio::test]
    async fn an_unreachable_server_leaves_the_traces_empty_and_says_why() {
        let b = backend("http://127.0.0.1:9".to_string());
        let mut errors = Vec::new();
        let view = b.traces(END_MS, &mut errors).await;
        assert!(view.operations.is_empty());
        assert!(!errors.is_empty());
        assert!(errors[0].starts_with("traces: "), "{errors:?}");
    }
}
