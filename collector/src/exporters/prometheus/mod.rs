//! `exporters: prometheus` — serves the metrics it receives on `GET /metrics` for
//! Prometheus to scrape, as the OTel Collector's `prometheusexporter` does.
//!
//! Data flows OTLP request → [`translate`] (names, labels, `job`/`instance`,
//! `target_info`; outside any lock) → [`store`] (one accumulated value per series,
//! delta-to-cumulative, out-of-order points ignored, expiry after `metric_expiration`)
//! → [`render`] (text format 0.0.4, or OpenMetrics 1.0 when `enable_open_metrics` is
//! set and the scraper's `Accept` header asks for `application/openmetrics-text`).
//!
//! # Translation
//!
//! Names follow the OTLP → Prometheus rules of `otlptranslator`: tokens of
//! `[a-zA-Z0-9:]` joined by `_` (so invalid characters become `_` and runs collapse),
//! unit suffixes (`s` → `seconds`, `By` → `bytes`, `By/s` → `bytes_per_second`,
//! `{annotations}` dropped), `_total` on monotonic sums, `_ratio` on gauges with unit
//! `1`, a leading `_` before a digit, and the namespace in front. Attributes become
//! labels (`http.method` → `http_method`, `1x` → `key_1x`, `_x` → `key_x`). Every series
//! also gets `otel_scope_name`, `otel_scope_version`, `otel_scope_schema_url` and
//! `otel_scope_<attribute>` (unless `without_scope_info`), `job`
//! (`service.namespace/service.name`) and `instance` (`service.instance.id`), and the
//! configured `const_labels`. Each resource with a job and an instance gets a
//! `target_info` gauge (value 1, HELP "Target metadata") carrying its other attributes.
//!
//! # Exponential histograms
//!
//! The OTel Collector turns exponential histograms into native histograms, which only
//! the protobuf exposition can carry. This exporter serves text, so it converts them to
//! classic histograms instead of dropping them. With `base = 2^(2^-scale)`:
//!
//! - positive bucket `i` covers `(base^i, base^(i+1)]` and becomes `le = base^(i+1)`;
//! - negative bucket `i` covers `[-base^(i+1), -base^i)` and becomes `le = -base^i`,
//!   listed from the most negative up;
//! - the zero bucket's count is folded into the first positive bucket (all its values
//!   lie below that bound); with no positive buckets it gets its own `le` at the zero
//!   threshold;
//! - counts are made cumulative, `+Inf` is the total count, `_sum` the sum (0 if not
//!   recorded). Bounds that overflow to infinity fall into `+Inf`.
//!
//! Bounds are exact powers of two for `scale <= 0`; finer scales give irrational bounds
//! (`le="1.4142135623730951"`), which is correct if not pretty. Delta exponential
//! histograms are accumulated natively (downscaled to the coarser scale) and converted
//! after each update.
//!
//! # Where this differs from the OTel Collector
//!
//! - Attributes whose label names collide after sanitising are joined with `;` (as
//!   Prometheus' own OTLP translator does) instead of failing the whole metric; labels
//!   derived from the resource and scope win over point attributes of the same name,
//!   and `const_labels` never override a series' own label.
//! - An attribute named `__name__`, `le` or `quantile` is dropped and the point kept
//!   (the Collector's `client_golang` fails the whole metric); every attribute left out
//!   of a label set is counted in `otelcol_exporter_prometheus_dropped_labels{reason}`
//!   (`reserved`, `invalid_name`, `shadowed`).
//! - The namespace is sanitised like a metric name rather than prepended verbatim (a
//!   namespace such as `test-space` would otherwise make every name invalid).
//! - A point flagged `NO_RECORDED_VALUE` removes its series and the remaining points of
//!   the metric are still applied (the Collector stops at that point).
//! - No protobuf exposition, native histograms, TLS or `_created` samples.

pub mod config;
mod render;
// Shared with the prometheusremotewrite exporter: one OTLP → Prometheus translation and
// one accumulator (delta → cumulative, ordering, expiry) for pull and push.
pub(crate) mod store;
pub(crate) mod translate;

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use async_trait::async_trait;
use axum::Router;
use axum::extract::State;
use axum::http::header::{ACCEPT, ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio_util::sync::CancellationToken;

use self::config::PrometheusExporterConfig;
use self::render::{Format, RenderOptions};
use self::store::{DroppedLabels, Store};
use self::translate::Translator;
use crate::component::{BuildContext, BuildError};
use crate::consumer::{ConsumeError, Consumer, Signal, Telemetry};
use crate::telemetry::{Counter, ExporterMetrics, SelfTelemetry};

/// `Content-Type` of the text exposition format.
const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// `Content-Type` of OpenMetrics 1.0.
const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Builds the exporter and starts serving `/metrics` on `config.endpoint` until
/// `ctx.shutdown` is cancelled or the exporter is shut down.
pub async fn build(
    config: &PrometheusExporterConfig,
    ctx: &BuildContext,
) -> Result<Arc<dyn Consumer>, BuildError> {
    let listener = crate::component::bind(ctx, &config.endpoint, &format!("exporters.{}", ctx.id)).await?;
    let shared = Arc::new(Shared::new(config));
    let stop = ctx.shutdown.child_token();
    let app = router(Arc::clone(&shared));
    let token = stop.clone();
    let id = ctx.id.clone();
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(token.cancelled_owned())
            .await;
        if let Err(err) = served {
            tracing::error!(component = %id, error = %err, "The Prometheus exporter's server failed.");
        }
    });
    Ok(Arc::new(PrometheusExporter {
        shared,
        metrics: ExporterMetrics::new(&ctx.telemetry, &ctx.id, Signal::Metrics),
        dropped: DroppedLabelCounters::new(&ctx.telemetry, &ctx.id),
        stop,
    }))
}

/// The router serving `GET /metrics`.
fn router(shared: Arc<Shared>) -> Router {
    Router::new().route("/metrics", get(scrape)).with_state(shared)
}

/// State shared by the consumer and the HTTP handler.
#[derive(Debug)]
struct Shared {
    translator: Translator,
    store: RwLock<Store>,
    /// The store clock's origin: series times are milliseconds since this instant.
    epoch: Instant,
    expiration_ms: u64,
    send_timestamps: bool,
    open_metrics: bool,
    /// The size of the previous scrape, to allocate the next one in one go.
    last_size: AtomicUsize,
    last_sweep_ms: AtomicU64,
}

impl Shared {
    fn new(config: &PrometheusExporterConfig) -> Self {
        let translator = Translator::new(config);
        let store = Store::new(translator.target_family());
        Shared {
            translator,
            store: RwLock::new(store),
            epoch: Instant::now(),
            expiration_ms: u64::try_from(config.metric_expiration.0.as_millis())
                .unwrap_or(u64::MAX)
                .max(1),
            send_timestamps: config.send_timestamps,
            open_metrics: config.enable_open_metrics,
            last_size: AtomicUsize::new(0),
            last_sweep_ms: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn cutoff(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.expiration_ms)
    }

    /// Translates and stores one request; returns the number of points accepted and
    /// the attributes that could not become labels.
    fn ingest(
        &self,
        request: &opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest,
    ) -> (usize, DroppedLabels) {
        let batch = self.translator.translate(request);
        let dropped = batch.dropped;
        let now = self.now_ms();
        // A poisoned lock only means a panic elsewhere mid-update; the data is still
        // a valid map, so keep serving it.
        let mut store = self.store.write().unwrap_or_else(|e| e.into_inner());
        let accepted = store.apply(batch, now);
        // Without scrapes nothing would remove expired series; sweep now and then.
        if now.saturating_sub(self.last_sweep_ms.load(Ordering::Relaxed)) >= self.expiration_ms {
            store.sweep(self.cutoff(now));
            self.last_sweep_ms.store(now, Ordering::Relaxed);
        }
        (accepted, dropped)
    }

    /// Renders the current series.
    fn render(&self, format: Format) -> Vec<u8> {
        let now = self.now_ms();
        let opts = RenderOptions {
            format,
            send_timestamps: self.send_timestamps,
            cutoff_ms: self.cutoff(now),
        };
        let hint = self.last_size.load(Ordering::Relaxed);
        let mut out = Vec::with_capacity(hint + hint / 8 + 4096);
        let expired = {
            let store = self.store.read().unwrap_or_else(|e| e.into_inner());
            render::render(&store, &opts, &mut out)
        };
        if expired > 0 {
            self.store
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .sweep(opts.cutoff_ms);
        }
        self.last_size.store(out.len(), Ordering::Relaxed);
        out
    }
}

/// The exporter as pipelines see it.
struct PrometheusExporter {
    shared: Arc<Shared>,
    metrics: ExporterMetrics,
    dropped: DroppedLabelCounters,
    stop: CancellationToken,
}

/// `otelcol_exporter_prometheus_dropped_labels{exporter, reason}`: attributes that did
/// not become labels (the points were kept). The OTel Collector has no such metric (it
/// drops the whole metric and logs); this one makes the silent part visible.
#[derive(Debug, Clone)]
struct DroppedLabelCounters {
    reserved: Counter,
    invalid_name: Counter,
    shadowed: Counter,
}

impl DroppedLabelCounters {
    const NAME: &'static str = "otelcol_exporter_prometheus_dropped_labels";
    const HELP: &'static str = "Number of data point attributes left out of the exposed labels (the points are kept): reserved names (__name__, le on histograms, quantile on summaries), keys with no valid label name, and attributes shadowed by job, instance or otel_scope_* labels.";

    fn new(telemetry: &SelfTelemetry, id: &crate::config::ComponentId) -> Self {
        let id = id.to_string();
        let counter = |reason: &str| {
            telemetry.counter(
                Self::NAME,
                Self::HELP,
                &[("exporter", id.as_str()), ("reason", reason)],
            )
        };
        DroppedLabelCounters {
            reserved: counter("reserved"),
            invalid_name: counter("invalid_name"),
            shadowed: counter("shadowed"),
        }
    }

    fn add(&self, dropped: DroppedLabels) {
        self.reserved.add(dropped.reserved);
        self.invalid_name.add(dropped.invalid_name);
        self.shadowed.add(dropped.shadowed);
    }
}

#[async_trait]
impl Consumer for PrometheusExporter {
    async fn consume(&self, data: Telemetry) -> Result<(), ConsumeError> {
        let signal = data.signal();
        let Telemetry::Metrics(request) = data else {
            return Err(ConsumeError::Permanent(format!(
                "the prometheus exporter accepts metrics, not {signal}"
            )));
        };
        let (accepted, dropped) = self.shared.ingest(&request);
        self.metrics.sent.add(accepted as u64);
        self.dropped.add(dropped);
        Ok(())
    }

    async fn shutdown(&self) {
        self.stop.cancel();
    }
}

/// `GET /metrics`.
async fn scrape(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let accept = headers.get(ACCEPT).and_then(|v| v.to_str().ok());
    let format = negotiate(accept, shared.open_metrics);
    let gzip = headers
        .get(ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(accepts_gzip);
    // Rendering a large store is CPU work; keep it off the async workers.
    let rendered = tokio::task::spawn_blocking(move || {
        let body = shared.render(format);
        if gzip {
            gzip_body(&body).map(|b| (b, true))
        } else {
            Ok((body, false))
        }
    })
    .await;
    let (body, gzipped) = match rendered {
        Ok(Ok(body)) => body,
        Ok(Err(err)) => {
            tracing::error!(error = %err, "Compressing the scrape response failed.");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("compressing the response failed: {err}"),
            )
                .into_response();
        }
        Err(err) => {
            tracing::error!(error = %err, "Rendering the scrape response failed.");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("rendering the metrics failed: {err}"),
            )
                .into_response();
        }
    };
    let content_type = match format {
        Format::Text => TEXT_CONTENT_TYPE,
        Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
    };
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if gzipped {
        response
            .headers_mut()
            .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

/// Picks the exposition format from an `Accept` header, as `expfmt.Negotiate` does:
/// media ranges in order of preference (`q`), the first one we can produce wins, and
/// the text format is the fallback. OpenMetrics is only offered when enabled.
fn negotiate(accept: Option<&str>, open_metrics: bool) -> Format {
    let Some(accept) = accept else {
        return Format::Text;
    };
    let mut ranges: Vec<(f32, &str, Option<&str>)> = Vec::new();
    for part in accept.split(',') {
        let mut params = part.split(';');
        let media = params.next().unwrap_or("").trim();
        let mut q = 1.0f32;
        let mut version = None;
        for param in params {
            if let Some((k, v)) = param.split_once('=') {
                let v = v.trim().trim_matches('"');
                if k.trim().eq_ignore_ascii_case("q") {
                    q = v.parse().unwrap_or(0.0);
                } else if k.trim().eq_ignore_ascii_case("version") {
                    version = Some(v);
                }
            }
        }
        if q > 0.0 {
            ranges.push((q, media, version));
        }
    }
    // Stable: equal preferences keep the client's order.
    ranges.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (_, media, version) in ranges {
        if open_metrics
            && media.eq_ignore_ascii_case("application/openmetrics-text")
            && matches!(version, None | Some("1.0.0") | Some("0.0.1"))
        {
            return Format::OpenMetrics;
        }
        if media.eq_ignore_ascii_case("text/plain") && matches!(version, None | Some("0.0.4")) {
            return Format::Text;
        }
    }
    Format::Text
}

/// Whether an `Accept-Encoding` header allows gzip.
fn accepts_gzip(header: &str) -> bool {
    header.split(',').any(|part| {
        let mut params = part.split(';');
        let coding = params.next().unwrap_or("").trim();
        let refused = params.any(|p| {
            p.split_once('=').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("q") && v.trim().parse::<f32>().is_ok_and(|q| q <= 0.0)
            })
        });
        coding.eq_ignore_ascii_case("gzip") && !refused
    })
}

fn gzip_body(body: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Write as _;
    let mut encoder =
        flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), flate2::Compression::fast());
    encoder.write_all(body)?;
    encoder.finish()
}
