//! The sending queue and retry sender shared by the network exporters, after the OTel
//! Collector's `exporterhelper`.
//!
//! A network exporter supplies a [`RequestSender`], which makes one attempt to deliver one
//! OTLP request and classifies a failure as retryable or permanent. [`QueuedExporter`]
//! wraps it into a [`Consumer`]:
//!
//! - **Sending queue** (`sending_queue`): one bounded in-memory queue per signal, holding up
//!   to `queue_size` requests, drained by `num_consumers` concurrent senders. The gauges
//!   `otelcol_exporter_queue_size` and `otelcol_exporter_queue_capacity` report it. With
//!   `sending_queue.enabled: false`, [`Consumer::consume`] sends synchronously (with
//!   retries) and returns the outcome to the caller.
//! - **Retry sender** (`retry_on_failure`): exponential backoff ([`Backoff`]) with jitter,
//!   giving up after `max_elapsed_time`. A delay the server asks for (gRPC `RetryInfo`,
//!   HTTP `Retry-After`) is honoured: the next attempt waits at least that long.
//! - **Latency**: each attempt to send a request is timed into
//!   `burnwatch_exporter_send_duration_seconds{exporter, otel_signal}` (otelcol has no such
//!   metric; see [`crate::telemetry::SEND_DURATION_BUCKETS_NS`]).
//! - **Accounting**: every request ends as `otelcol_exporter_sent_<items>` or
//!   `otelcol_exporter_send_failed_<items>` with an error log line naming the exporter,
//!   the endpoint and the reason. Items a server rejects in an OTLP `partial_success` are
//!   counted as failed too. Nothing is dropped silently.
//!
//! # Divergence from the OTel Collector: a full queue applies back-pressure
//!
//! The OTel Collector drops a request when the sending queue is full and counts it in
//! `otelcol_exporter_enqueue_failed_<items>`. burnwatch instead makes `consume()` wait for
//! room, because burnwatch promises that everything it accepted is exported or counted as
//! failed; the wait propagates to the receivers, and the `memory_limiter` in front refuses
//! new data when memory rises. `consume()` returns [`ConsumeError::Unavailable`] (and counts
//! `enqueue_failed`) only once shutdown has begun.
//!
//! # Shutdown
//!
//! [`Consumer::shutdown_by`] stops taking new data (callers waiting for room get
//! `Unavailable`), then keeps sending what is queued, with each request still bounded by
//! its own timeout, until the queue is empty or the deadline passes. The service passes
//! the end of the collector's shutdown timeout (`--shutdown-timeout`), so a slow backend
//! gets all of it: draining used to stop after one request timeout (5 s) whatever the
//! shutdown timeout, and most acknowledged spans were dropped behind a slow backend.
//! During shutdown nothing is retried: a failed attempt, or a request waiting for its
//! next retry, is counted as failed at once. At the deadline, requests still in flight
//! are abandoned and whatever is still queued is counted as failed, with one log line
//! each, so shutdown ends on time. [`Consumer::shutdown`] without a deadline drains for
//! the `drain_timeout` given to [`QueuedExporter::new`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::ComponentId;
use crate::consumer::{ConsumeError, Consumer, Signal, Telemetry};
use crate::exporters::helper::{QueueConfig, RetryConfig};
use crate::telemetry::{ExporterMetrics, SelfTelemetry};

/// Why one attempt to deliver a request failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SendError {
    /// The same request may succeed later (OTLP spec, "Failures": gRPC `UNAVAILABLE` and
    /// friends, HTTP 429/502/503/504, connection errors).
    #[error("{message}")]
    Retryable {
        /// What went wrong, for the log.
        message: String,
        /// The delay the server asked for (gRPC `RetryInfo`, HTTP `Retry-After`), if any.
        retry_after: Option<Duration>,
    },
    /// Sending the same request again cannot succeed (a malformed request, an
    /// authentication failure, any status the OTLP spec does not list as retryable).
    #[error("{message}")]
    Permanent {
        /// What went wrong, for the log.
        message: String,
    },
}

impl SendError {
    /// A retryable error without a server-requested delay.
    pub fn retryable(message: impl Into<String>) -> Self {
        SendError::Retryable {
            message: message.into(),
            retry_after: None,
        }
    }

    /// A permanent error.
    pub fn permanent(message: impl Into<String>) -> Self {
        SendError::Permanent {
            message: message.into(),
        }
    }
}

/// What a server said about a request it accepted: the OTLP `partial_success` field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendOutcome {
    /// How many items the server rejected (`rejected_spans`, `rejected_data_points`,
    /// `rejected_log_records`).
    pub rejected: u64,
    /// The server's `error_message`: why items were rejected, or a warning when none were.
    pub message: String,
}

impl SendOutcome {
    /// An outcome from a `partial_success` field; negative counts (a broken server) are
    /// read as zero.
    pub fn partial(rejected: i64, message: String) -> Self {
        SendOutcome {
            rejected: u64::try_from(rejected).unwrap_or(0),
            message,
        }
    }
}

/// Makes one attempt to deliver one OTLP request to a destination.
#[async_trait]
pub trait RequestSender: Send + Sync + 'static {
    /// Sends `data` once, within the exporter's request timeout.
    async fn send(&self, data: &Telemetry) -> Result<SendOutcome, SendError>;

    /// Where requests of `signal` go, for log lines.
    fn destination(&self, signal: Signal) -> String;
}

/// Exponential backoff with jitter, as `retry_on_failure` configures it.
///
/// Each delay is drawn uniformly from `[interval × (1 − r), interval × (1 + r)]` for the
/// randomization factor `r`; the interval then grows by `multiplier` up to
/// `max_interval`. No delay is handed out once the total time since the first attempt
/// plus that delay would pass `max_elapsed_time` (zero means never give up).
#[derive(Debug, Clone)]
pub struct Backoff {
    interval: Duration,
    multiplier: f64,
    randomization_factor: f64,
    max_interval: Duration,
    max_elapsed_time: Duration,
    started: Instant,
}

impl Backoff {
    /// A backoff starting now, at `initial_interval`.
    pub fn new(config: &RetryConfig) -> Self {
        Backoff {
            interval: config.initial_interval.0,
            multiplier: config.multiplier,
            randomization_factor: config.randomization_factor,
            max_interval: config.max_interval.0,
            max_elapsed_time: config.max_elapsed_time.0,
            started: Instant::now(),
        }
    }

    /// Time since the backoff started (the first attempt).
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The next delay, or `None` when retrying must stop.
    pub fn next_delay(&mut self) -> Option<Duration> {
        let elapsed = self.elapsed();
        self.next_delay_at(elapsed, rand::random::<f64>())
    }

    /// The next delay given the time `elapsed` since the first attempt and a uniform
    /// random number `unit` in `[0, 1)`. Separate from [`Backoff::next_delay`] so the
    /// arithmetic can be tested without clocks or chance.
    pub fn next_delay_at(&mut self, elapsed: Duration, unit: f64) -> Option<Duration> {
        let current = self.interval.as_secs_f64();
        let delta = self.randomization_factor * current;
        let low = current - delta;
        let drawn = low + unit.clamp(0.0, 1.0) * 2.0 * delta;
        // `try_from_secs_f64` refuses NaN and overflow; a broken multiplier must not panic.
        let delay = Duration::try_from_secs_f64(drawn.max(0.0)).unwrap_or(self.max_interval);
        self.interval = Duration::try_from_secs_f64(current * self.multiplier)
            .map_or(self.max_interval, |grown| grown.min(self.max_interval));
        if self.exceeds_budget(elapsed, delay) {
            None
        } else {
            Some(delay)
        }
    }

    /// Whether waiting `delay` more, after `elapsed`, passes `max_elapsed_time`.
    pub fn exceeds_budget(&self, elapsed: Duration, delay: Duration) -> bool {
        !self.max_elapsed_time.is_zero() && elapsed.saturating_add(delay) > self.max_elapsed_time
    }
}

/// Settings for a [`QueuedExporter`].
#[derive(Debug, Clone)]
pub struct QueueSettings {
    /// The exporter's id, for metrics labels and logs.
    pub id: ComponentId,
    /// Where the `otelcol_exporter_*` metrics are registered.
    pub telemetry: Arc<SelfTelemetry>,
    /// `retry_on_failure`.
    pub retry: RetryConfig,
    /// `sending_queue`.
    pub queue: QueueConfig,
    /// How long [`Consumer::shutdown`] (without a deadline) keeps draining the queue
    /// before counting what is left as failed.
    pub drain_timeout: Duration,
}

/// A [`Consumer`] that queues requests and sends them through a [`RequestSender`] with
/// retries. See the module documentation for the semantics.
pub struct QueuedExporter {
    id: ComponentId,
    telemetry: Arc<SelfTelemetry>,
    queue: QueueConfig,
    drain_timeout: Duration,
    retrier: Arc<Retrier>,
    /// Cancelled when shutdown begins: waits for room and for retries end.
    closing: CancellationToken,
    /// Cancelled when the drain deadline passes: senders stop taking queued requests and
    /// abandon the ones in flight.
    abandon: CancellationToken,
    state: Mutex<State>,
    workers: Mutex<JoinSet<()>>,
}

/// Per-signal state, created on a signal's first request so that an exporter only
/// reports metrics (and runs senders) for the signals its pipelines carry.
#[derive(Default)]
struct State {
    closed: bool,
    signals: [Option<Arc<SignalState>>; 3],
}

struct SignalState {
    signal: Signal,
    metrics: ExporterMetrics,
    /// `None` when `sending_queue.enabled` is false.
    queue: Option<SignalQueue>,
}

struct SignalQueue {
    /// Taken at shutdown, so senders see the end of the queue once it is empty.
    tx: Mutex<Option<mpsc::Sender<Telemetry>>>,
    rx: Arc<tokio::sync::Mutex<mpsc::Receiver<Telemetry>>>,
    /// Set while the queue is full, so the warning is logged once per episode.
    full: AtomicBool,
}

fn signal_index(signal: Signal) -> usize {
    match signal {
        Signal::Traces => 0,
        Signal::Metrics => 1,
        Signal::Logs => 2,
    }
}

/// Locks a std mutex, recovering the data if another thread panicked while holding it:
/// the state here stays consistent at every step, so a poisoned lock is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl QueuedExporter {
    /// An exporter sending through `sender`. Must be called inside a Tokio runtime when
    /// the queue is enabled (senders are spawned on a signal's first request).
    pub fn new(settings: QueueSettings, sender: Arc<dyn RequestSender>) -> Self {
        let closing = CancellationToken::new();
        let retrier = Arc::new(Retrier {
            id: settings.id.clone(),
            sender,
            retry: settings.retry,
            closing: closing.clone(),
        });
        QueuedExporter {
            id: settings.id,
            telemetry: settings.telemetry,
            queue: settings.queue,
            drain_timeout: settings.drain_timeout,
            retrier,
            closing,
            abandon: CancellationToken::new(),
            state: Mutex::new(State::default()),
            workers: Mutex::new(JoinSet::new()),
        }
    }

    /// The state for `signal`, created (and its senders started) on first use; `None` once
    /// shutdown has begun.
    fn signal_state(&self, signal: Signal) -> Option<Arc<SignalState>> {
        let mut state = lock(&self.state);
        if state.closed {
            return None;
        }
        let slot = &mut state.signals[signal_index(signal)];
        let signal_state = slot.get_or_insert_with(|| Arc::new(self.start_signal(signal)));
        Some(Arc::clone(signal_state))
    }

    fn start_signal(&self, signal: Signal) -> SignalState {
        let metrics = ExporterMetrics::for_sender(&self.telemetry, &self.id, signal);
        if !self.queue.enabled {
            return SignalState {
                signal,
                metrics,
                queue: None,
            };
        }
        // Validation rejects zero, but a config built in code skips validation; an
        // mpsc channel of capacity zero panics.
        let capacity = self.queue.queue_size.max(1);
        metrics
            .queue_capacity
            .set(i64::try_from(capacity).unwrap_or(i64::MAX));
        metrics.queue_size.set(0);
        let (tx, rx) = mpsc::channel(capacity);
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        let mut workers = lock(&self.workers);
        for _ in 0..self.queue.num_consumers.max(1) {
            workers.spawn(run_sender(
                Arc::clone(&rx),
                Arc::clone(&self.retrier),
                metrics.clone(),
                self.abandon.clone(),
            ));
        }
        tracing::debug!(
            exporter = %self.id,
            signal = %signal,
            queue_size = capacity,
            num_consumers = self.queue.num_consumers,
            "Sending queue started."
        );
        SignalState {
            signal,
            metrics,
            queue: Some(SignalQueue {
                tx: Mutex::new(Some(tx)),
                rx,
                full: AtomicBool::new(false),
            }),
        }
    }

    /// Refuses a request because shutdown has begun, counting it as an enqueue failure.
    fn refuse(&self, signal: Signal, items: usize, metrics: &ExporterMetrics) -> ConsumeError {
        metrics.enqueue_failed.add(items as u64);
        tracing::warn!(
            exporter = %self.id,
            signal = %signal,
            refused_items = items,
            "Refusing data: the exporter is shutting down."
        );
        ConsumeError::Unavailable(format!("exporter {} is shutting down", self.id))
    }

    /// Enqueues `data`, waiting for room while the queue is full.
    async fn enqueue(
        &self,
        signal: Signal,
        queue: &SignalQueue,
        metrics: &ExporterMetrics,
        data: Telemetry,
    ) -> Result<(), ConsumeError> {
        let items = data.item_count();
        let Some(tx) = lock(&queue.tx).clone() else {
            return Err(self.refuse(signal, items, metrics));
        };
        let data = match tx.try_send(data) {
            Ok(()) => {
                queue.full.store(false, Ordering::Relaxed);
                metrics.queue_size.add(1);
                return Ok(());
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(self.refuse(signal, items, metrics)),
            Err(mpsc::error::TrySendError::Full(data)) => data,
        };
        if !queue.full.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                exporter = %self.id,
                signal = %signal,
                queue_size = self.queue.queue_size,
                endpoint = %self.retrier.sender.destination(signal),
                "Sending queue is full; holding new data until there is room (back-pressure)."
            );
        }
        tokio::select! {
            biased;
            _ = self.closing.cancelled() => Err(self.refuse(signal, items, metrics)),
            sent = tx.send(data) => match sent {
                Ok(()) => {
                    metrics.queue_size.add(1);
                    Ok(())
                }
                Err(_) => Err(self.refuse(signal, items, metrics)),
            },
        }
    }
}

#[async_trait]
impl Consumer for QueuedExporter {
    async fn consume(&self, data: Telemetry) -> Result<(), ConsumeError> {
        let signal = data.signal();
        let Some(state) = self.signal_state(signal) else {
            // Registering is idempotent: this returns the same counters as before.
            let metrics = ExporterMetrics::for_sender(&self.telemetry, &self.id, signal);
            return Err(self.refuse(signal, data.item_count(), &metrics));
        };
        match &state.queue {
            Some(queue) => self.enqueue(signal, queue, &state.metrics, data).await,
            None => self.retrier.export(data, &state.metrics).await,
        }
    }

    async fn shutdown(&self) {
        self.shutdown_by(tokio::time::Instant::now() + self.drain_timeout)
            .await;
    }

    async fn shutdown_by(&self, deadline: tokio::time::Instant) {
        let signals: Vec<Arc<SignalState>> = {
            let mut state = lock(&self.state);
            state.closed = true;
            state.signals.iter().flatten().cloned().collect()
        };
        self.closing.cancel();
        for signal_state in &signals {
            if let Some(queue) = &signal_state.queue {
                lock(&queue.tx).take();
            }
        }
        let mut workers = std::mem::take(&mut *lock(&self.workers));
        let drained =
            tokio::time::timeout_at(deadline, async { while workers.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tracing::warn!(
                exporter = %self.id,
                "The sending queue was not drained before the shutdown deadline; abandoning \
                 in-flight requests and counting them and the rest of the queue as failed."
            );
            // Senders return promptly once abandoned: they select on this token both
            // while waiting for a request and while sending one.
            self.abandon.cancel();
            while workers.join_next().await.is_some() {}
        }
        for signal_state in &signals {
            let Some(queue) = &signal_state.queue else {
                continue;
            };
            let (mut requests, mut items) = (0usize, 0usize);
            {
                let mut rx = queue.rx.lock().await;
                while let Ok(data) = rx.try_recv() {
                    requests += 1;
                    items += data.item_count();
                }
            }
            signal_state.metrics.queue_size.set(0);
            if requests > 0 {
                signal_state.metrics.send_failed.add(items as u64);
                tracing::error!(
                    exporter = %self.id,
                    signal = %signal_state.signal,
                    dropped_requests = requests,
                    dropped_items = items,
                    "Queued data was not sent before shutdown ended; it is dropped."
                );
            }
        }
        tracing::debug!(exporter = %self.id, "Exporter shut down.");
    }
}

/// One of a queue's concurrent senders: takes requests until the queue ends (all senders
/// dropped and the queue empty) or the drain deadline passes, when the request in flight
/// is abandoned and counted as failed.
async fn run_sender(
    rx: Arc<tokio::sync::Mutex<mpsc::Receiver<Telemetry>>>,
    retrier: Arc<Retrier>,
    metrics: ExporterMetrics,
    abandon: CancellationToken,
) {
    loop {
        let next = {
            let mut rx = rx.lock().await;
            tokio::select! {
                biased;
                _ = abandon.cancelled() => None,
                data = rx.recv() => data,
            }
        };
        let Some(data) = next else { break };
        metrics.queue_size.add(-1);
        let signal = data.signal();
        let items = data.item_count();
        tokio::select! {
            biased;
            // The outcome is already logged and counted; a queued request has no caller
            // to report it to.
            _ = retrier.export(data, &metrics) => {}
            _ = abandon.cancelled() => {
                metrics.send_failed.add(items as u64);
                tracing::error!(
                    exporter = %retrier.id,
                    signal = %signal,
                    endpoint = %retrier.sender.destination(signal),
                    dropped_items = items,
                    "A request still in flight at the shutdown deadline was abandoned; its items are counted as failed."
                );
                break;
            }
        }
    }
}

/// Sends one request with retries, and accounts for the outcome.
struct Retrier {
    id: ComponentId,
    sender: Arc<dyn RequestSender>,
    retry: RetryConfig,
    closing: CancellationToken,
}

impl Retrier {
    async fn export(&self, data: Telemetry, metrics: &ExporterMetrics) -> Result<(), ConsumeError> {
        let signal = data.signal();
        let items = data.item_count();
        let mut backoff = Backoff::new(&self.retry);
        let mut attempts: u32 = 0;
        loop {
            attempts += 1;
            // Every attempt is timed, a failed one too: `send_duration`'s count is the number
            // of requests made (see telemetry::SEND_DURATION_BUCKETS_NS).
            let started = Instant::now();
            let sent = self.sender.send(&data).await;
            metrics.send_duration.observe_duration(started.elapsed());
            let err = match sent {
                Ok(outcome) => {
                    self.record_success(signal, items, outcome, metrics);
                    return Ok(());
                }
                Err(err) => err,
            };
            let retry_after = match &err {
                SendError::Permanent { .. } => {
                    return Err(self.give_up(signal, items, metrics, &err, "the error is permanent"));
                }
                SendError::Retryable { retry_after, .. } => *retry_after,
            };
            if !self.retry.enabled {
                return Err(self.give_up(signal, items, metrics, &err, "retry_on_failure is disabled"));
            }
            if self.closing.is_cancelled() {
                return Err(self.give_up(signal, items, metrics, &err, "the exporter is shutting down"));
            }
            let Some(mut wait) = backoff.next_delay() else {
                let reason = format!(
                    "no success after {attempts} attempts in {:.1?} (retry_on_failure.max_elapsed_time is {})",
                    backoff.elapsed(),
                    self.retry.max_elapsed_time
                );
                return Err(self.give_up(signal, items, metrics, &err, &reason));
            };
            if let Some(requested) = retry_after {
                // The server's delay is a floor: retrying sooner would only be refused
                // again (OTLP spec, "Throttling"). Our own backoff still applies on top.
                wait = wait.max(requested);
                if backoff.exceeds_budget(backoff.elapsed(), wait) {
                    let reason = format!(
                        "the server asked to wait {requested:?}, past retry_on_failure.max_elapsed_time ({})",
                        self.retry.max_elapsed_time
                    );
                    return Err(self.give_up(signal, items, metrics, &err, &reason));
                }
            }
            tracing::warn!(
                exporter = %self.id,
                signal = %signal,
                endpoint = %self.sender.destination(signal),
                items,
                attempt = attempts,
                retry_in = ?wait,
                error = %err,
                "Exporting failed; will retry."
            );
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.closing.cancelled() => {
                    return Err(self.give_up(signal, items, metrics, &err, "the exporter is shutting down"));
                }
            }
        }
    }

    fn record_success(&self, signal: Signal, items: usize, outcome: SendOutcome, metrics: &ExporterMetrics) {
        let items = items as u64;
        let rejected = outcome.rejected.min(items);
        metrics.sent.add(items - rejected);
        if rejected > 0 {
            // OTLP spec, "Partial Success": the rejected items are not retried.
            metrics.send_failed.add(rejected);
            tracing::error!(
                exporter = %self.id,
                signal = %signal,
                endpoint = %self.sender.destination(signal),
                rejected_items = rejected,
                accepted_items = items - rejected,
                message = %outcome.message,
                "The server rejected part of the data (partial success); the rejected items are dropped."
            );
        } else if !outcome.message.is_empty() {
            tracing::warn!(
                exporter = %self.id,
                signal = %signal,
                endpoint = %self.sender.destination(signal),
                message = %outcome.message,
                "The server accepted the data with a warning (partial success)."
            );
        }
    }

    /// Counts `items` as failed, logs why, and returns the error for a synchronous caller.
    fn give_up(
        &self,
        signal: Signal,
        items: usize,
        metrics: &ExporterMetrics,
        err: &SendError,
        reason: &str,
    ) -> ConsumeError {
        metrics.send_failed.add(items as u64);
        tracing::error!(
            exporter = %self.id,
            signal = %signal,
            endpoint = %self.sender.destination(signal),
            dropped_items = items,
            reason,
            error = %err,
            "Exporting failed; the data is dropped."
        );
        let message = format!(
            "exporting to {} failed ({reason}): {err}",
            self.sender.destination(signal)
        );
        match err {
            SendError::Permanent { .. } => ConsumeError::Permanent(message),
            SendError::Retryable { .. } => ConsumeError::Unavailable(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GoDuration;

    fn retry(initial_ms: u64, max_ms: u64, max_elapsed_ms: u64, randomization: f64) -> RetryConfig {
        RetryConfig {
            enabled: true,
            initial_interval: GoDuration::from_millis(initial_ms),
            randomization_factor: randomization,
            multiplier: 1.5,
            max_interval: GoDuration::from_millis(max_ms),
            max_elapsed_time: GoDuration::from_millis(max_elapsed_ms),
        }
    }

    #[test]
    fn backoff_grows_by_the_multiplier_up_to_max_interval() {
        let mut b = Backoff::new(&retry(1000, 3000, 0, 0.0));
        let delays: Vec<u128> = (0..5)
            .map(|_| b.next_delay_at(Duration::ZERO, 0.5).unwrap().as_millis())
            .collect();
        assert_eq!(delays, vec![1000, 1500, 2250, 3000, 3000]);
    }

    #[test]
    fn backoff_jitter_stays_within_the_randomization_factor() {
        // Default settings: 5s initial, factor 0.5 → between 2.5s and 7.5s.
        let mut low = Backoff::new(&RetryConfig::default());
        assert_eq!(
            low.next_delay_at(Duration::ZERO, 0.0),
            Some(Duration::from_millis(2500))
        );
        let mut high = Backoff::new(&RetryConfig::default());
        assert_eq!(
            high.next_delay_at(Duration::ZERO, 1.0),
            Some(Duration::from_millis(7500))
        );
    }

    #[test]
    fn backoff_stops_when_the_next_wait_passes_max_elapsed_time() {
        let mut b = Backoff::new(&retry(100, 1000, 1000, 0.0));
        assert_eq!(
            b.next_delay_at(Duration::from_millis(800), 0.5),
            Some(Duration::from_millis(100))
        );
        // 900ms elapsed + 150ms wait > 1s.
        assert_eq!(b.next_delay_at(Duration::from_millis(900), 0.5), None);
    }

    #[test]
    fn backoff_with_zero_max_elapsed_time_never_stops() {
        let mut b = Backoff::new(&retry(100, 200, 0, 0.5));
        assert!(b.next_delay_at(Duration::from_secs(1_000_000), 0.99).is_some());
    }

    #[test]
    fn backoff_survives_a_nan_multiplier() {
        let mut config = retry(100, 200, 0, 0.5);
        config.multiplier = f64::NAN;
        let mut b = Backoff::new(&config);
        assert!(b.next_delay_at(Duration::ZERO, 0.5).is_some());
        assert_eq!(
            b.next_delay_at(Duration::ZERO, 0.5),
            Some(Duration::from_millis(200))
        );
    }
}
