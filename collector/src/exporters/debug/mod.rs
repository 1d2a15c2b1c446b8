//! `exporters: debug` — writes what it receives to the log, as the OTel Collector's
//! `debug` exporter does.

mod format;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::component::BuildContext;
use crate::config::{ComponentId, ConfigError};
use crate::consumer::{ConsumeError, Consumer, Signal, Telemetry};
use crate::telemetry::{ExporterMetrics, SelfTelemetry};

/// `exporters.debug`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DebugExporterConfig {
    /// How much to write per request: `basic` (counts), `normal` (one line per item) or
    /// `detailed` (every field).
    #[serde(default)]
    pub verbosity: Verbosity,
    /// Log this many requests per second in full, then sample (default 2).
    #[serde(default = "default_sampling_initial")]
    pub sampling_initial: u64,
    /// After the initial ones, log every Nth request per second (default 1).
    #[serde(default = "default_sampling_thereafter")]
    pub sampling_thereafter: u64,
}

/// `exporters.debug.verbosity`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verbosity {
    /// One summary line per request: the number of items.
    #[default]
    Basic,
    /// One line per span, data point or log record.
    Normal,
    /// Every field of every item.
    Detailed,
}

fn default_sampling_initial() -> u64 {
    2
}
fn default_sampling_thereafter() -> u64 {
    1
}

impl Default for DebugExporterConfig {
    fn default() -> Self {
        DebugExporterConfig {
            verbosity: Verbosity::Basic,
            sampling_initial: default_sampling_initial(),
            sampling_thereafter: default_sampling_thereafter(),
        }
    }
}

impl DebugExporterConfig {
    /// Checks the configuration; `path` is this component's YAML path.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        if self.sampling_thereafter == 0 {
            return Err(ConfigError::at(
                format!("{path}.sampling_thereafter"),
                "must be greater than 0",
            ));
        }
        Ok(())
    }
}

/// Builds a `debug` exporter. It writes through `tracing` (the collector's log, on
/// stderr) and never fails.
pub fn build(config: &DebugExporterConfig, ctx: &BuildContext) -> Arc<dyn Consumer> {
    Arc::new(DebugExporter::new(config, ctx))
}

/// The `debug` exporter: logs a summary of every request, and at `normal` or `detailed`
/// verbosity its items, subject to per-second sampling.
pub struct DebugExporter {
    id: ComponentId,
    verbosity: Verbosity,
    sampler: Sampler,
    telemetry: Arc<SelfTelemetry>,
    /// Registered on a signal's first request, so only the signals this exporter serves
    /// show up in the self-telemetry. Indexed like [`Signal::ALL`].
    metrics: [OnceLock<ExporterMetrics>; 3],
    output: Output,
}

/// Where the exporter writes.
enum Output {
    /// The collector's log (`tracing`; the binary sends it to stderr).
    Log,
    /// A buffer the tests read. (Capturing `tracing` itself is unreliable in parallel
    /// tests: its per-call-site cache of who listens is process-wide.)
    #[cfg(test)]
    Buffer(Arc<Mutex<Vec<String>>>),
}

impl DebugExporter {
    /// A debug exporter for `config`.
    pub fn new(config: &DebugExporterConfig, ctx: &BuildContext) -> Self {
        DebugExporter {
            id: ctx.id.clone(),
            verbosity: config.verbosity,
            sampler: Sampler::new(config.sampling_initial, config.sampling_thereafter),
            telemetry: ctx.telemetry.clone(),
            metrics: Default::default(),
            output: Output::Log,
        }
    }

    fn write_summary(&self, signal: Signal, summary: format::Summary) {
        let exporter = &self.id;
        match &self.output {
            // Field names as in the OTel Collector's log line
            // (`Traces {"resource spans": 1, "spans": 3}`), in Rust's spelling.
            Output::Log => match signal {
                Signal::Traces => {
                    tracing::info!(
                        exporter = %exporter,
                        resource_spans = summary.resources,
                        spans = summary.items,
                        "Traces"
                    )
                }
                Signal::Metrics => tracing::info!(
                    exporter = %exporter,
                    resource_metrics = summary.resources,
                    metrics = summary.metrics,
                    data_points = summary.items,
                    "Metrics"
                ),
                Signal::Logs => {
                    tracing::info!(
                        exporter = %exporter,
                        resource_logs = summary.resources,
                        log_records = summary.items,
                        "Logs"
                    )
                }
            },
            #[cfg(test)]
            Output::Buffer(buffer) => {
                let line = match signal {
                    Signal::Traces => format!(
                        "Traces resource_spans={} spans={}",
                        summary.resources, summary.items
                    ),
                    Signal::Metrics => format!(
                        "Metrics resource_metrics={} metrics={} data_points={}",
                        summary.resources, summary.metrics, summary.items
                    ),
                    Signal::Logs => format!(
                        "Logs resource_logs={} log_records={}",
                        summary.resources, summary.items
                    ),
                };
                buffer.lock().expect("test buffer").push(line);
            }
        }
    }

    fn write_line(&self, line: String) {
        match &self.output {
            Output::Log => tracing::info!(exporter = %self.id, "{line}"),
            #[cfg(test)]
            Output::Buffer(buffer) => buffer.lock().expect("test buffer").push(line),
        }
    }

    fn metrics(&self, signal: Signal) -> &ExporterMetrics {
        self.metrics[index(signal)].get_or_init(|| ExporterMetrics::new(&self.telemetry, &self.id, signal))
    }
}

fn index(signal: Signal) -> usize {
    match signal {
        Signal::Traces => 0,
        Signal::Metrics => 1,
        Signal::Logs => 2,
    }
}

#[async_trait]
impl Consumer for DebugExporter {
    async fn consume(&self, data: Telemetry) -> Result<(), ConsumeError> {
        let signal = data.signal();
        let items = data.item_count();
        if self.sampler.admit(signal, Instant::now()) {
            self.write_summary(signal, format::summary(&data));
            let lines = match self.verbosity {
                Verbosity::Basic => Vec::new(),
                Verbosity::Normal => format::normal(&data),
                Verbosity::Detailed => format::detailed(&data),
            };
            for line in lines {
                self.write_line(line);
            }
        }
        // Sampled out or not, the data has been handled: writing to the log cannot fail
        // in a way the sender could act on.
        self.metrics(signal).sent.add(items as u64);
        Ok(())
    }
}

/// Per-second log sampling as zap's sampler does it, which the OTel Collector's debug
/// exporter configures from `sampling_initial` and `sampling_thereafter`: in each
/// one-second window, the first `initial` requests of a signal are logged, then every
/// `thereafter`-th one.
struct Sampler {
    initial: u64,
    thereafter: u64,
    /// Per signal: the current window's start and how many requests it has seen.
    windows: Mutex<[(Option<Instant>, u64); 3]>,
}

const SAMPLING_TICK: Duration = Duration::from_secs(1);

impl Sampler {
    fn new(initial: u64, thereafter: u64) -> Self {
        Sampler {
            initial,
            thereafter,
            windows: Mutex::new([(None, 0); 3]),
        }
    }

    /// Whether the request of `signal` arriving at `now` is logged.
    fn admit(&self, signal: Signal, now: Instant) -> bool {
        let Ok(mut windows) = self.windows.lock() else {
            return true;
        };
        let (start, count) = &mut windows[index(signal)];
        if start.is_none_or(|s| now.saturating_duration_since(s) >= SAMPLING_TICK) {
            *start = Some(now);
            *count = 0;
        }
        *count += 1;
        if *count <= self.initial {
            return true;
        }
        // `thereafter` is validated to be at least 1; `is_multiple_of(0)` is false except
        // for 0, so 0 would log nothing more, as in zap.
        (*count - self.initial).is_multiple_of(self.thereafter)
    }
}

#[cfg(test)]
mod tests;
