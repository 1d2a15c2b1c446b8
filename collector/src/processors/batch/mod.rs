//! `processors: batch` — groups data into larger requests by size and time, as the OTel
//! Collector's `batch` processor does.

mod split;

use std::mem;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::component::{BuildContext, BuildError};
use crate::config::{ConfigError, GoDuration};
use crate::consumer::{ConsumeError, Consumer, Signal, Telemetry};
use crate::telemetry::{Counter, Histogram};

/// `processors.batch`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BatchConfig {
    /// Send a batch this long after its first item arrived, whatever its size (default
    /// 200ms). `0` sends every request as it comes, only splitting it.
    #[serde(default = "default_timeout")]
    pub timeout: GoDuration,
    /// Send as soon as a batch holds this many spans, data points or log records
    /// (default 8192).
    #[serde(default = "default_send_batch_size")]
    pub send_batch_size: u64,
    /// The most items one outgoing batch may hold; larger batches are split (0 = no cap).
    #[serde(default)]
    pub send_batch_max_size: u64,
    /// Accepted for compatibility; batching by client metadata is not supported, so this
    /// must stay empty.
    #[serde(default)]
    pub metadata_keys: Vec<String>,
    /// Accepted for compatibility with `metadata_keys`.
    #[serde(default)]
    pub metadata_cardinality_limit: u64,
}

fn default_timeout() -> GoDuration {
    GoDuration::from_millis(200)
}
fn default_send_batch_size() -> u64 {
    8192
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            timeout: default_timeout(),
            send_batch_size: default_send_batch_size(),
            send_batch_max_size: 0,
            metadata_keys: Vec::new(),
            metadata_cardinality_limit: 0,
        }
    }
}

impl BatchConfig {
    /// Checks the configuration; `path` is this component's YAML path.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        if self.send_batch_max_size > 0 && self.send_batch_max_size < self.send_batch_size {
            return Err(ConfigError::at(
                format!("{path}.send_batch_max_size"),
                format!("must be >= send_batch_size ({})", self.send_batch_size),
            ));
        }
        if !self.metadata_keys.is_empty() {
            return Err(ConfigError::at(
                format!("{path}.metadata_keys"),
                "batching by client metadata is not supported; remove metadata_keys",
            ));
        }
        Ok(())
    }
}

/// Builds a `batch` processor in front of `next` and starts its task, so it must run
/// inside a Tokio runtime.
pub fn build(
    config: &BatchConfig,
    next: Arc<dyn Consumer>,
    ctx: &BuildContext,
) -> Result<Arc<dyn Consumer>, BuildError> {
    Ok(Arc::new(BatchProcessor::start(config, next, ctx)?))
}

/// The `batch` processor: a bounded hand-off to one task that merges requests until
/// `send_batch_size` items or `timeout` is reached, cuts them to `send_batch_max_size`,
/// and passes them to `next` one at a time.
///
/// Memory stays bounded: `consume` waits while the hand-off is full, which it is whenever
/// `next` is slower than the incoming data, so receivers hold their clients instead of
/// the processor buffering without limit. At most the hand-off, one batch being
/// assembled per signal, and the batch being sent are held.
pub struct BatchProcessor {
    id: String,
    tx: mpsc::Sender<Telemetry>,
    stop: CancellationToken,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl BatchProcessor {
    /// Starts the batching task in front of `next`.
    pub fn start(
        config: &BatchConfig,
        next: Arc<dyn Consumer>,
        ctx: &BuildContext,
    ) -> Result<Self, BuildError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| BuildError::Invalid {
            id: ctx.id.clone(),
            message: "the batch processor must be started inside a Tokio runtime".to_string(),
        })?;
        let id = ctx.id.to_string();
        // As the OTel Collector's batcher, one slot per CPU: enough for concurrent
        // receivers to hand off without waiting on each other, small enough that a slow
        // exporter pushes back at once.
        let capacity = std::thread::available_parallelism().map_or(1, |n| n.get());
        let (tx, rx) = mpsc::channel(capacity);
        let stop = ctx.shutdown.child_token();
        let batcher = Batcher {
            id: id.clone(),
            timeout: config.timeout.0,
            send_batch_size: usize::try_from(config.send_batch_size).unwrap_or(usize::MAX),
            send_batch_max_size: usize::try_from(config.send_batch_max_size).unwrap_or(usize::MAX),
            next,
            pending: Default::default(),
            metrics: BatchMetrics::new(ctx, &id),
        };
        let task = runtime.spawn(batcher.run(rx, stop.clone()));
        Ok(BatchProcessor {
            id,
            tx,
            stop,
            task: Mutex::new(Some(task)),
        })
    }
}

#[async_trait]
impl Consumer for BatchProcessor {
    async fn consume(&self, data: Telemetry) -> Result<(), ConsumeError> {
        if data.item_count() == 0 {
            // Nothing to deliver; the OTel Collector's batcher drops item-less requests
            // the same way.
            return Ok(());
        }
        // Waits while the hand-off is full: this is the backpressure.
        self.tx.send(data).await.map_err(|_| {
            ConsumeError::Unavailable(format!(
                "processor {} is shut down and accepts no more data",
                self.id
            ))
        })
    }

    async fn shutdown(&self) {
        // The task stops taking new data, sends what it holds to `next`, and ends.
        self.stop.cancel();
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task
            && let Err(err) = task.await
        {
            tracing::error!(processor = %self.id, error = %err, "The batch processor's task failed.");
        }
    }
}

/// What made a batch go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    /// `send_batch_size` was reached (or `timeout` is 0 and data arrived).
    Size,
    /// `timeout` elapsed since the batch's first item arrived.
    Timeout,
    /// The processor is shutting down.
    Shutdown,
}

/// The bucket bounds of `otelcol_processor_batch_batch_send_size`, as the OTel
/// Collector's batch processor declares them (its `metadata.yaml`).
const SEND_SIZE_BOUNDS: &[u64] = &[
    10, 25, 50, 75, 100, 250, 500, 750, 1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10000, 20000,
    30000, 50000, 100000,
];

/// The processor's self-telemetry, under the OTel Collector's names.
struct BatchMetrics {
    size_trigger: Counter,
    timeout_trigger: Counter,
    /// `otelcol_processor_batch_batch_send_size`: items per batch sent, a histogram with
    /// the OTel Collector's bucket bounds ([`SEND_SIZE_BOUNDS`]). It used to be two gauges
    /// named `_sum` and `_count`, which Prometheus typed as gauges and
    /// `histogram_quantile` could not use.
    send_size: Histogram,
    /// Items `next` did not accept, per signal (indexed like [`Signal::ALL`]).
    failed: [Counter; 3],
}

impl BatchMetrics {
    fn new(ctx: &BuildContext, id: &str) -> Self {
        let tel = &ctx.telemetry;
        let labels = [("processor", id)];
        BatchMetrics {
            size_trigger: tel.counter(
                "otelcol_processor_batch_batch_size_trigger_send",
                "Number of times the batch was sent due to a size trigger.",
                &labels,
            ),
            timeout_trigger: tel.counter(
                "otelcol_processor_batch_timeout_trigger_send",
                "Number of times the batch was sent due to a timeout trigger.",
                &labels,
            ),
            send_size: tel.histogram(
                "otelcol_processor_batch_batch_send_size",
                "Number of units in the batch",
                &labels,
                SEND_SIZE_BOUNDS,
            ),
            failed: Signal::ALL.map(|signal| {
                let noun = signal.item_noun();
                tel.counter(
                    &format!("otelcol_processor_batch_send_failed_{noun}"),
                    &format!(
                        "Number of {} the batch processor accepted but the next component refused.",
                        noun.replace('_', " ")
                    ),
                    &labels,
                )
            }),
        }
    }
}

fn index(signal: Signal) -> usize {
    match signal {
        Signal::Traces => 0,
        Signal::Metrics => 1,
        Signal::Logs => 2,
    }
}

/// The batch being assembled for one signal.
#[derive(Default)]
struct Pending {
    /// The requests taken so far, merged only when the batch goes out, so raw requests
    /// are copied once (into the merged encoding) rather than once per merge.
    parts: Vec<Telemetry>,
    items: usize,
    /// When the batch must go out: `timeout` after its first item arrived.
    deadline: Option<Instant>,
}

/// The task's state.
struct Batcher {
    id: String,
    timeout: Duration,
    send_batch_size: usize,
    /// 0 = no cap.
    send_batch_max_size: usize,
    next: Arc<dyn Consumer>,
    /// One batch per signal, indexed like [`Signal::ALL`]. A processor instance serves one
    /// pipeline and so one signal, but nothing breaks if it is handed several.
    pending: [Pending; 3],
    metrics: BatchMetrics,
}

impl Batcher {
    async fn run(mut self, mut rx: mpsc::Receiver<Telemetry>, stop: CancellationToken) {
        let mut closing = false;
        loop {
            let deadline = self.pending.iter().filter_map(|p| p.deadline).min();
            tokio::select! {
                biased;
                _ = stop.cancelled(), if !closing => {
                    // Refuse new data, but take what is already in the hand-off: it was
                    // accepted, so it must reach `next`.
                    rx.close();
                    closing = true;
                }
                received = rx.recv() => match received {
                    Some(data) => self.add(data).await,
                    None => break,
                },
                _ = sleep_until(deadline), if deadline.is_some() => self.on_deadline().await,
            }
        }
        for signal in Signal::ALL {
            self.send_all(signal, Trigger::Shutdown).await;
        }
        tracing::debug!(processor = %self.id, "The batch processor has flushed and stopped.");
    }

    async fn add(&mut self, data: Telemetry) {
        let signal = data.signal();
        let items = data.item_count();
        if items == 0 {
            return;
        }
        let pending = &mut self.pending[index(signal)];
        if pending.parts.is_empty() && !self.timeout.is_zero() {
            // A timeout too large to represent as an instant never fires.
            pending.deadline = Instant::now().checked_add(self.timeout);
        }
        pending.parts.push(data);
        pending.items += items;
        if self.timeout.is_zero() {
            // No timer: every request goes out at once, only cut to the maximum size.
            self.send_all(signal, Trigger::Size).await;
        } else if pending.items >= self.send_batch_size {
            self.send_by_size(signal).await;
        }
    }

    async fn on_deadline(&mut self) {
        let now = Instant::now();
        for signal in Signal::ALL {
            if self.pending[index(signal)].deadline.is_some_and(|d| d <= now) {
                self.send_all(signal, Trigger::Timeout).await;
            }
        }
    }

    /// Sends batches of at most `send_batch_max_size` while at least `send_batch_size`
    /// items are pending, as the OTel Collector does; the rest waits for more data or
    /// the timeout (whose deadline, set by the oldest item, stays).
    async fn send_by_size(&mut self, signal: Signal) {
        let pending = &mut self.pending[index(signal)];
        let parts = mem::take(&mut pending.parts);
        let mut remaining = pending.items;
        let max = self.send_batch_max_size;
        if max == 0 || remaining <= max {
            pending.items = 0;
            pending.deadline = None;
            for data in split::merge(parts) {
                self.send(data, Trigger::Size).await;
            }
            return;
        }
        // Every piece but the last holds exactly `max` >= `send_batch_size` items, so
        // what stays behind is at most the last piece.
        let mut pieces = split::merge(parts)
            .into_iter()
            .flat_map(|data| split::chunk(data, max));
        let mut to_send = Vec::new();
        while remaining > 0 && remaining >= self.send_batch_size {
            let Some(piece) = pieces.next() else { break };
            remaining = remaining.saturating_sub(piece.item_count());
            to_send.push(piece);
        }
        pending.parts = pieces.collect();
        pending.items = pending.parts.iter().map(Telemetry::item_count).sum();
        if pending.items == 0 {
            pending.deadline = None;
        }
        for piece in to_send {
            self.send(piece, Trigger::Size).await;
        }
    }

    /// Sends everything pending for `signal`, cut to `send_batch_max_size`.
    async fn send_all(&mut self, signal: Signal, trigger: Trigger) {
        let pending = &mut self.pending[index(signal)];
        let items = pending.items;
        pending.items = 0;
        pending.deadline = None;
        let parts = mem::take(&mut pending.parts);
        let max = self.send_batch_max_size;
        for data in split::merge(parts) {
            if max == 0 || items <= max {
                self.send(data, trigger).await;
            } else {
                for piece in split::chunk(data, max) {
                    self.send(piece, trigger).await;
                }
            }
        }
    }

    async fn send(&self, data: Telemetry, trigger: Trigger) {
        let items = data.item_count();
        let signal = data.signal();
        match trigger {
            Trigger::Size => self.metrics.size_trigger.add(1),
            Trigger::Timeout => self.metrics.timeout_trigger.add(1),
            Trigger::Shutdown => {}
        }
        self.metrics.send_size.observe(items as u64);
        if let Err(err) = self.next.consume(data).await {
            // The batch was accepted upstream long ago, so there is no caller to hand the
            // error to: the exporter behind `next` has already retried (or queued) as it
            // is configured to. Count and say what was lost.
            self.metrics.failed[index(signal)].add(items as u64);
            tracing::error!(
                processor = %self.id,
                signal = %signal,
                items,
                error = %err,
                "The next component refused a batch; its items are dropped."
            );
        }
    }
}

/// Sleeps until `deadline`; forever when there is none (the select! branch is disabled
/// then anyway).
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
