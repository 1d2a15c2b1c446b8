//! The sending client: a queue bounded in bytes, split into shards by series so each
//! series' samples arrive in order, one HTTP connection per shard, retries with
//! exponential backoff, and an optional write-ahead log.

use std::collections::VecDeque;
use std::hash::{Hash as _, Hasher as _};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::encode::{self, BatchLimits, EncodedBatch};
use crate::proto::{MetricMetadata, TimeSeries};
use crate::transport::{Connection, Endpoint};
use crate::wal::Wal;

/// How requests are authorized.
#[derive(Clone, PartialEq, Eq)]
pub enum Authorization {
    /// `Authorization: Basic base64(username:password)`.
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: String,
    },
    /// `Authorization: <scheme> <credentials>`; `Bearer` for a bearer token (Prometheus's
    /// `authorization: {type, credentials}`).
    Credentials {
        /// The scheme, such as `Bearer`.
        scheme: String,
        /// The credentials.
        credentials: String,
    },
}

impl std::fmt::Debug for Authorization {
    // Credentials never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Authorization::Basic { username, .. } => write!(f, "Basic({username}, <secret>)"),
            Authorization::Credentials { scheme, .. } => write!(f, "{scheme}(<secret>)"),
        }
    }
}

/// Retries of failed requests: 5xx, 429 and network errors are retried; other 4xx never.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Retry at all; when false a failed request is given up at once.
    pub enabled: bool,
    /// The first wait.
    pub initial_interval: Duration,
    /// The longest wait between attempts.
    pub max_interval: Duration,
    /// Growth of the wait after each attempt (>= 1).
    pub multiplier: f64,
    /// Random jitter as a fraction of each wait (0..=1).
    pub randomization_factor: f64,
    /// Give a request up after this long in total; `None` retries for ever.
    pub max_elapsed_time: Option<Duration>,
}

impl Default for RetryPolicy {
    /// The OTel Collector's `prometheusremotewrite` defaults: 50ms, growing 1.5x to 200ms,
    /// for at most a minute.
    fn default() -> Self {
        RetryPolicy {
            enabled: true,
            initial_interval: Duration::from_millis(50),
            max_interval: Duration::from_millis(200),
            multiplier: 1.5,
            randomization_factor: 0.5,
            max_elapsed_time: Some(Duration::from_secs(60)),
        }
    }
}

/// The write-ahead log's settings (the OTel Collector's `wal` section).
#[derive(Debug, Clone, PartialEq)]
pub struct WalConfig {
    /// Where the log's files live.
    pub directory: PathBuf,
    /// The most requests the log holds undelivered; more are refused (retryably).
    pub buffer_size: usize,
    /// How often the files of delivered requests are deleted.
    pub truncate_frequency: Duration,
}

/// A client's configuration. Nothing here is OTel-specific: Prometheus's `remote_write`
/// maps onto it as well (`queue_config.max_shards` → `shards`, `max_samples_per_send` →
/// `limits.max_samples`, `capacity` × average request size → `queue_capacity_bytes`).
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// A name for logs (the exporter id or the remote_write name).
    pub name: String,
    /// The receiver's URL (`http://` or `https://`).
    pub url: String,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    /// Authorization, if any.
    pub authorization: Option<Authorization>,
    /// Per-attempt timeout (connecting included).
    pub timeout: Duration,
    /// TLS settings for `https://` URLs.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The name the server certificate is checked against (and sent in SNI) instead of the
    /// URL's host (Prometheus's `tls_config.server_name`, otelcol's `server_name_override`).
    pub tls_server_name: Option<String>,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// Concurrent senders; series are assigned to one by a hash of their labels.
    pub shards: usize,
    /// Limits on one request.
    pub limits: BatchLimits,
    /// The most compressed bytes waiting to be sent; a request that would go over is
    /// refused with [`EnqueueError::QueueFull`].
    pub queue_capacity_bytes: usize,
    /// Retries.
    pub retry: RetryPolicy,
    /// The write-ahead log, if any.
    pub wal: Option<WalConfig>,
}

impl ClientConfig {
    /// A configuration for `url` with the defaults of the OTel Collector's exporter: 5
    /// shards, 3 MB requests, 5 s timeout, a 256 MiB queue and no WAL.
    pub fn new(url: impl Into<String>) -> Self {
        ClientConfig {
            name: "remote_write".into(),
            url: url.into(),
            headers: Vec::new(),
            authorization: None,
            timeout: Duration::from_secs(5),
            tls: None,
            tls_server_name: None,
            user_agent: format!("burnwatch/{}", env!("CARGO_PKG_VERSION")),
            shards: 5,
            limits: BatchLimits::default(),
            queue_capacity_bytes: 256 << 20,
            retry: RetryPolicy::default(),
            wal: None,
        }
    }
}

/// Why a client could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The URL cannot be used.
    #[error("url: {0}")]
    Url(String),
    /// A header name or value is invalid.
    #[error("headers.{name}: {reason}")]
    Header {
        /// The header's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// Another setting is invalid.
    #[error("{0}")]
    Invalid(String),
    /// The WAL directory cannot be used.
    #[error("wal: {0}")]
    Wal(String),
}

/// Why data was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    /// The queue holds too many bytes already; try again later.
    #[error("the remote-write queue is full ({queued} of {capacity} bytes used, {needed} more needed)")]
    QueueFull {
        /// Bytes queued.
        queued: usize,
        /// The capacity.
        capacity: usize,
        /// What this request needed.
        needed: usize,
    },
    /// The WAL holds `buffer_size` undelivered requests already; try again later.
    #[error("the remote-write WAL holds {0} undelivered requests (wal.buffer_size); try again later")]
    WalFull(usize),
    /// Writing the WAL failed; nothing of this call was kept.
    #[error("{0}")]
    Wal(String),
    /// The client is shutting down.
    #[error("the remote-write client is shutting down")]
    Closed,
}

impl EnqueueError {
    /// Whether trying the same data again later can succeed.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, EnqueueError::Closed)
    }
}

/// Counters, updated as requests finish. Samples count float samples; histograms count
/// native histogram samples; items count what the caller said each call carried (the
/// exporter's OTLP data points, a Prometheus sender's samples).
#[derive(Debug, Default)]
pub struct Stats {
    /// Float samples delivered.
    pub samples_sent: AtomicU64,
    /// Histogram samples delivered.
    pub histograms_sent: AtomicU64,
    /// Metadata entries delivered.
    pub metadata_sent: AtomicU64,
    /// Compressed bytes delivered.
    pub bytes_sent: AtomicU64,
    /// Requests delivered.
    pub requests_sent: AtomicU64,
    /// Samples (float + histogram) refused by the receiver or given up after retries.
    pub samples_failed: AtomicU64,
    /// Samples refused at enqueue (queue or WAL full, client closed) or lost at shutdown
    /// without a WAL.
    pub samples_dropped: AtomicU64,
    /// Samples in attempts that were retried (counted once per retry).
    pub samples_retried: AtomicU64,
    /// Items delivered.
    pub items_sent: AtomicU64,
    /// Items failed.
    pub items_failed: AtomicU64,
    /// Items dropped.
    pub items_dropped: AtomicU64,
    /// Compressed bytes waiting.
    pub queued_bytes: AtomicU64,
    /// Requests waiting.
    pub queued_requests: AtomicU64,
}

impl Stats {
    fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// What happened to one request, for an [`Observer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomeKind {
    /// The receiver answered 2xx.
    Sent,
    /// The receiver refused it (4xx other than 429), or retries were given up.
    Failed,
    /// Lost at shutdown (no WAL to keep it).
    Dropped,
}

/// One finished request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// What happened.
    pub kind: OutcomeKind,
    /// The items it carried.
    pub items: u64,
    /// Float samples.
    pub samples: u64,
    /// Histogram samples.
    pub histograms: u64,
}

/// Called for every finished request (from the shard tasks; keep it cheap).
pub type Observer = Arc<dyn Fn(Outcome) + Send + Sync>;

/// What [`Client::shutdown`] left behind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Requests left in the WAL, sent after the next start.
    pub kept_in_wal: u64,
    /// Requests lost (no WAL).
    pub dropped: u64,
}

#[derive(Debug)]
struct Queued {
    batch: EncodedBatch,
    items: u64,
    seq: Option<u64>,
}

#[derive(Default)]
struct Shard {
    queue: Mutex<VecDeque<Queued>>,
    notify: Notify,
}

struct Inner {
    name: String,
    endpoint: Endpoint,
    headers: HeaderMap,
    timeout: Duration,
    limits: BatchLimits,
    capacity: usize,
    retry: RetryPolicy,
    shards: Vec<Shard>,
    stats: Arc<Stats>,
    wal: Option<(Wal, usize)>,
    /// Requests in the WAL not yet acknowledged.
    wal_pending: AtomicUsize,
    queued_bytes: AtomicUsize,
    closing: AtomicBool,
    /// Cancelled at the shutdown deadline: in-flight attempts and waits stop.
    abort: CancellationToken,
    observer: Option<Observer>,
}

/// A remote-write sender. Cheap to share behind an `Arc`; dropping it without
/// [`Client::shutdown`] stops the senders at once.
pub struct Client {
    inner: Arc<Inner>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("name", &self.inner.name)
            .field("url", &self.inner.endpoint.uri)
            .finish()
    }
}

fn build_headers(config: &ClientConfig) -> Result<HeaderMap, StartError> {
    let mut headers = HeaderMap::new();
    headers.insert(http::header::CONTENT_ENCODING, HeaderValue::from_static("snappy"));
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-protobuf"),
    );
    headers.insert(
        HeaderName::from_static("x-prometheus-remote-write-version"),
        HeaderValue::from_static("0.1.0"),
    );
    let ua = HeaderValue::from_str(&config.user_agent).map_err(|e| StartError::Header {
        name: "User-Agent".into(),
        reason: e.to_string(),
    })?;
    headers.insert(http::header::USER_AGENT, ua);
    for (name, value) in &config.headers {
        let bad = |reason: &str| StartError::Header {
            name: name.clone(),
            reason: reason.to_string(),
        };
        let n = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad("not a valid header name"))?;
        // Prometheus refuses to let configured headers replace the protocol's own.
        if [
            "content-encoding",
            "content-type",
            "x-prometheus-remote-write-version",
            "content-length",
            "host",
        ]
        .contains(&n.as_str())
        {
            return Err(bad(
                "is set by the remote-write protocol and cannot be overridden",
            ));
        }
        let v = HeaderValue::from_str(value)
            .map_err(|_| bad("not a valid header value (printable ASCII only)"))?;
        headers.insert(n, v);
    }
    if let Some(auth) = &config.authorization {
        let value = match auth {
            Authorization::Basic { username, password } => format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
            ),
            Authorization::Credentials { scheme, credentials } => format!("{scheme} {credentials}"),
        };
        let mut v = HeaderValue::from_str(&value).map_err(|_| StartError::Header {
            name: "Authorization".into(),
            reason: "the credentials are not a valid header value".into(),
        })?;
        v.set_sensitive(true);
        headers.insert(http::header::AUTHORIZATION, v);
    }
    Ok(headers)
}

/// The shard of a series: a hash of its labels, so a series always uses one sender.
fn shard_of(series: &TimeSeries, shards: usize) -> usize {
    let mut h = std::hash::DefaultHasher::new();
    for l in &series.labels {
        l.name.hash(&mut h);
        l.value.hash(&mut h);
    }
    (h.finish() % shards as u64) as usize
}

impl Client {
    /// Starts the senders (one task per shard) and, with a WAL, queues what the log
    /// still holds from a previous run. Must be called inside a Tokio runtime.
    pub fn start(config: ClientConfig, observer: Option<Observer>) -> Result<Client, StartError> {
        let endpoint = Endpoint::new(&config.url, config.tls.clone(), config.tls_server_name.as_deref())
            .map_err(StartError::Url)?;
        let headers = build_headers(&config)?;
        if config.shards == 0 {
            return Err(StartError::Invalid(
                "the number of shards must be at least 1".into(),
            ));
        }
        if config.queue_capacity_bytes == 0 {
            return Err(StartError::Invalid(
                "the queue capacity must be greater than 0".into(),
            ));
        }
        if config.timeout.is_zero() {
            return Err(StartError::Invalid("the timeout must be greater than 0".into()));
        }
        let shards: Vec<Shard> = (0..config.shards).map(|_| Shard::default()).collect();
        let stats = Arc::new(Stats::default());
        let mut replay = Vec::new();
        let wal = match &config.wal {
            Some(w) => {
                if w.buffer_size == 0 {
                    return Err(StartError::Wal("buffer_size must be greater than 0".into()));
                }
                let (wal, records) = Wal::open(&w.directory).map_err(StartError::Wal)?;
                replay = records;
                Some((wal, w.buffer_size))
            }
            None => None,
        };
        let inner = Arc::new(Inner {
            name: config.name.clone(),
            endpoint,
            headers,
            timeout: config.timeout,
            limits: config.limits,
            capacity: config.queue_capacity_bytes,
            retry: config.retry.clone(),
            shards,
            stats,
            wal,
            wal_pending: AtomicUsize::new(0),
            queued_bytes: AtomicUsize::new(0),
            closing: AtomicBool::new(false),
            abort: CancellationToken::new(),
            observer,
        });
        if !replay.is_empty() {
            tracing::info!(client = %inner.name, requests = replay.len(), "Sending the requests left in the remote-write WAL by the previous run.");
        }
        for record in replay {
            let shard = record.shard as usize % inner.shards.len();
            inner.wal_pending.fetch_add(1, Ordering::Relaxed);
            inner.push(
                shard,
                Queued {
                    batch: record.batch,
                    items: record.items,
                    seq: Some(record.seq),
                },
            );
        }
        let mut tasks = Vec::with_capacity(inner.shards.len() + 1);
        for i in 0..inner.shards.len() {
            tasks.push(tokio::spawn(run_shard(Arc::clone(&inner), i)));
        }
        if let Some(w) = &config.wal {
            let inner2 = Arc::clone(&inner);
            let every = w.truncate_frequency.max(Duration::from_millis(10));
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = tick.tick() => {}
                        _ = inner2.abort.cancelled() => return,
                    }
                    if let Some((wal, _)) = &inner2.wal {
                        wal.truncate();
                    }
                    if inner2.closing.load(Ordering::Acquire) {
                        return;
                    }
                }
            }));
        }
        Ok(Client {
            inner,
            tasks: Mutex::new(tasks),
        })
    }

    /// The counters.
    pub fn stats(&self) -> Arc<Stats> {
        Arc::clone(&self.inner.stats)
    }

    /// The queue's capacity in bytes.
    pub fn capacity_bytes(&self) -> usize {
        self.inner.capacity
    }

    /// Queues `series` (and `metadata`) for sending; `items` is what the caller counts
    /// them as (spread over the requests in proportion to their samples). On `Ok` the data
    /// is queued, and with a WAL it is on disk. On an error nothing of this call was kept,
    /// and its samples and items are already counted in [`Stats::samples_dropped`] and
    /// [`Stats::items_dropped`]: a caller only logs the refusal (counting it again would
    /// count it twice).
    pub fn enqueue(
        &self,
        series: Vec<TimeSeries>,
        metadata: Vec<MetricMetadata>,
        items: u64,
    ) -> Result<(), EnqueueError> {
        let inner = &self.inner;
        if inner.closing.load(Ordering::Acquire) {
            let samples: usize = series
                .iter()
                .map(|ts| ts.samples.len() + ts.histograms.len())
                .sum();
            inner.dropped_at_enqueue(samples as u64, items);
            return Err(EnqueueError::Closed);
        }
        let n = inner.shards.len();
        let mut per_shard: Vec<Vec<TimeSeries>> = (0..n).map(|_| Vec::new()).collect();
        for ts in series {
            let s = shard_of(&ts, n);
            per_shard[s].push(ts);
        }
        let mut batches: Vec<(usize, EncodedBatch)> = Vec::new();
        let mut metadata = Some(metadata);
        for (shard, series) in per_shard.into_iter().enumerate() {
            // Metadata rides with shard 0; its order relative to samples does not matter.
            let meta = if shard == 0 {
                metadata.take().unwrap_or_default()
            } else {
                Vec::new()
            };
            if series.is_empty() && meta.is_empty() {
                continue;
            }
            for req in encode::split(series, meta, inner.limits) {
                batches.push((shard, encode::encode(&req)));
            }
        }
        if batches.is_empty() {
            return Ok(());
        }
        let weights = spread(items, &batches);
        let needed: usize = batches.iter().map(|(_, b)| b.body.len()).sum();
        let samples: u64 = batches.iter().map(|(_, b)| b.samples + b.histograms).sum();
        let reserved = inner
            .queued_bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
                (q + needed <= inner.capacity).then_some(q + needed)
            });
        if let Err(queued) = reserved {
            inner.dropped_at_enqueue(samples, items);
            return Err(EnqueueError::QueueFull {
                queued,
                capacity: inner.capacity,
                needed,
            });
        }
        let mut seqs: Vec<Option<u64>> = vec![None; batches.len()];
        if let Some((wal, buffer_size)) = &inner.wal {
            let pending = inner.wal_pending.fetch_add(batches.len(), Ordering::AcqRel);
            let fail = |err: EnqueueError, written: &[Option<u64>]| {
                for seq in written.iter().flatten() {
                    wal.ack(*seq);
                }
                wal.truncate();
                inner.wal_pending.fetch_sub(batches.len(), Ordering::AcqRel);
                inner.queued_bytes.fetch_sub(needed, Ordering::AcqRel);
                inner.dropped_at_enqueue(samples, items);
                err
            };
            if pending + batches.len() > *buffer_size && pending > 0 {
                return Err(fail(EnqueueError::WalFull(pending), &[]));
            }
            for (i, ((shard, batch), w)) in batches.iter().zip(&weights).enumerate() {
                match wal.append(*shard as u32, *w, batch) {
                    Ok(seq) => seqs[i] = Some(seq),
                    Err(e) => return Err(fail(EnqueueError::Wal(e), &seqs)),
                }
            }
        }
        for (((shard, batch), items), seq) in batches.into_iter().zip(weights).zip(seqs) {
            inner.push(shard, Queued { batch, items, seq });
        }
        Ok(())
    }

    /// Stops accepting data and sends what is queued until `deadline`; then stops the
    /// senders. What is left stays in the WAL (sent after the next start) or, without
    /// one, is counted as dropped.
    pub async fn shutdown(&self, deadline: Instant) -> ShutdownReport {
        let inner = &self.inner;
        inner.closing.store(true, Ordering::Release);
        for s in &inner.shards {
            s.notify.notify_one();
        }
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        let mut rest = Vec::new();
        let mut expired = false;
        for mut task in tasks {
            if expired {
                rest.push(task);
                continue;
            }
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                expired = true;
                inner.abort.cancel();
                rest.push(task);
            }
        }
        inner.abort.cancel();
        for task in rest {
            let _ = task.await;
        }
        let mut report = ShutdownReport::default();
        for shard in &inner.shards {
            let left: Vec<Queued> = shard
                .queue
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .drain(..)
                .collect();
            for q in left {
                inner.dequeued(&q);
                inner.lost_or_kept(&q, &mut report);
            }
        }
        if let Some((wal, _)) = &inner.wal {
            wal.truncate();
        }
        if report.kept_in_wal > 0 {
            tracing::info!(client = %inner.name, requests = report.kept_in_wal, "Remote-write requests not delivered before the shutdown deadline stay in the WAL for the next start.");
        }
        if report.dropped > 0 {
            tracing::warn!(client = %inner.name, requests = report.dropped, "Remote-write requests not delivered before the shutdown deadline were dropped (no WAL configured).");
        }
        report
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.inner.abort.cancel();
    }
}

/// Spreads `items` over batches in proportion to their samples; the totals add up exactly.
fn spread(items: u64, batches: &[(usize, EncodedBatch)]) -> Vec<u64> {
    let total: u64 = batches.iter().map(|(_, b)| b.samples + b.histograms).sum();
    let mut out = Vec::with_capacity(batches.len());
    let mut given = 0u64;
    for (i, (_, b)) in batches.iter().enumerate() {
        let share = if i + 1 == batches.len() {
            items - given
        } else if total == 0 {
            0
        } else {
            (u128::from(items) * u128::from(b.samples + b.histograms) / u128::from(total)) as u64
        };
        given += share;
        out.push(share);
    }
    out
}

/// How one request ended.
enum Delivery {
    Sent,
    Failed,
    Aborted,
}

impl Inner {
    /// Counts what [`Client::enqueue`] refused: every refusal, one place.
    fn dropped_at_enqueue(&self, samples: u64, items: u64) {
        Stats::add(&self.stats.samples_dropped, samples);
        Stats::add(&self.stats.items_dropped, items);
    }

    fn push(&self, shard: usize, q: Queued) {
        Stats::add(&self.stats.queued_requests, 1);
        self.stats
            .queued_bytes
            .fetch_add(q.batch.body.len() as u64, Ordering::Relaxed);
        self.shards[shard]
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(q);
        self.shards[shard].notify.notify_one();
    }

    fn pop(&self, shard: usize) -> Option<Queued> {
        self.shards[shard]
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front()
    }

    /// Releases a request's queue space.
    fn dequeued(&self, q: &Queued) {
        let len = q.batch.body.len();
        self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
        self.stats.queued_bytes.fetch_sub(len as u64, Ordering::Relaxed);
        self.stats.queued_requests.fetch_sub(1, Ordering::Relaxed);
    }

    fn ack(&self, q: &Queued) {
        if let (Some((wal, _)), Some(seq)) = (&self.wal, q.seq) {
            wal.ack(seq);
            self.wal_pending.fetch_sub(1, Ordering::AcqRel);
        }
    }

    fn observe(&self, kind: OutcomeKind, q: &Queued) {
        if let Some(observer) = &self.observer {
            observer(Outcome {
                kind,
                items: q.items,
                samples: q.batch.samples,
                histograms: q.batch.histograms,
            });
        }
    }

    fn lost_or_kept(&self, q: &Queued, report: &mut ShutdownReport) {
        if q.seq.is_some() {
            report.kept_in_wal += 1;
        } else {
            report.dropped += 1;
            Stats::add(&self.stats.samples_dropped, q.batch.samples + q.batch.histograms);
            Stats::add(&self.stats.items_dropped, q.items);
            self.observe(OutcomeKind::Dropped, q);
        }
    }

    fn finish(&self, q: &Queued, delivery: &Delivery) {
        let s = &self.stats;
        match delivery {
            Delivery::Sent => {
                Stats::add(&s.samples_sent, q.batch.samples);
                Stats::add(&s.histograms_sent, q.batch.histograms);
                Stats::add(&s.metadata_sent, q.batch.metadata);
                Stats::add(&s.bytes_sent, q.batch.body.len() as u64);
                Stats::add(&s.requests_sent, 1);
                Stats::add(&s.items_sent, q.items);
                self.ack(q);
                self.observe(OutcomeKind::Sent, q);
            }
            Delivery::Failed => {
                Stats::add(&s.samples_failed, q.batch.samples + q.batch.histograms);
                Stats::add(&s.items_failed, q.items);
                self.ack(q);
                self.observe(OutcomeKind::Failed, q);
            }
            Delivery::Aborted => {}
        }
    }

    /// Sends one request, retrying as the policy says.
    async fn deliver(&self, conn: &mut Connection, q: &Queued) -> Delivery {
        let started = Instant::now();
        let mut interval = self.retry.initial_interval;
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let sent = tokio::select! {
                r = conn.post(&self.headers, q.batch.body.clone(), self.timeout) => r,
                _ = self.abort.cancelled() => return Delivery::Aborted,
            };
            let (reason, retry_after) = match sent {
                Ok(reply) if reply.status.is_success() => return Delivery::Sent,
                Ok(reply)
                    if reply.status.is_server_error() || reply.status == StatusCode::TOO_MANY_REQUESTS =>
                {
                    let after = reply
                        .headers
                        .get(http::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(parse_retry_after);
                    (format!("{} {}", reply.status, message(&reply.body)), after)
                }
                Ok(reply) => {
                    tracing::error!(
                        client = %self.name,
                        status = %reply.status,
                        message = %message(&reply.body),
                        samples = q.batch.samples + q.batch.histograms,
                        "The remote-write receiver refused a request; it is dropped, not retried."
                    );
                    return Delivery::Failed;
                }
                Err(e) => (e, None),
            };
            let mut delay = match retry_after {
                Some(d) => d,
                None => jitter(interval, self.retry.randomization_factor),
            };
            let out_of_time = self
                .retry
                .max_elapsed_time
                .is_some_and(|max| started.elapsed() + delay > max);
            if !self.retry.enabled || out_of_time {
                tracing::error!(
                    client = %self.name,
                    error = %reason,
                    attempts = attempt,
                    samples = q.batch.samples + q.batch.histograms,
                    "A remote-write request failed and is given up."
                );
                return Delivery::Failed;
            }
            if attempt == 1 || attempt.is_multiple_of(20) {
                tracing::warn!(client = %self.name, error = %reason, attempt, retry_in = ?delay, "A remote-write request failed; retrying.");
            }
            Stats::add(&self.stats.samples_retried, q.batch.samples + q.batch.histograms);
            if let Some(max) = self.retry.max_elapsed_time {
                delay = delay.min(max.saturating_sub(started.elapsed()));
            }
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = self.abort.cancelled() => return Delivery::Aborted,
            }
            interval = self
                .retry
                .max_interval
                .min(interval.mul_f64(self.retry.multiplier.max(1.0)));
        }
    }
}

async fn run_shard(inner: Arc<Inner>, shard: usize) {
    let mut conn = Connection::new(inner.endpoint.clone());
    loop {
        let Some(q) = inner.pop(shard) else {
            if inner.closing.load(Ordering::Acquire) {
                return;
            }
            tokio::select! {
                _ = inner.shards[shard].notify.notified() => continue,
                _ = inner.abort.cancelled() => return,
            }
        };
        let delivery = inner.deliver(&mut conn, &q).await;
        if let Delivery::Aborted = delivery {
            // Back to the front, so shutdown keeps it in the WAL (or counts it).
            inner.shards[shard]
                .queue
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push_front(q);
            return;
        }
        inner.dequeued(&q);
        inner.finish(&q, &delivery);
    }
}

/// The receiver's error message: its body, trimmed to one readable line.
fn message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let mut out: String = text
        .chars()
        .take(512)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().count() > 512 {
        out.push('…');
    }
    out
}

/// `Retry-After`: seconds, or an HTTP date.
fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
}

fn jitter(d: Duration, factor: f64) -> Duration {
    if factor <= 0.0 {
        return d;
    }
    let unit: f64 = rand::random();
    let secs = d.as_secs_f64();
    let delta = factor * secs;
    Duration::from_secs_f64((secs - delta + unit * 2.0 * delta).max(0.0))
}

#[cfg(test)]
mod tests;
