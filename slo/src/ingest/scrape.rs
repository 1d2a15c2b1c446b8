//! Scraping Prometheus text and OpenMetrics targets, as Prometheus's scrape loop does.
//!
//! [`ScrapeConfigFile`] reads a subset of a Prometheus configuration file (`global` and
//! `scrape_configs` with `static_configs`); [`run_scrapes`] runs one loop per target until the
//! shutdown token fires. Per scrape, following Prometheus's `scrape/scrape.go`:
//! - the body is parsed with [`super::text`] in the format its `Content-Type` declares;
//! - each series gets the target labels (`job`, `instance`, `static_configs.labels`). With
//!   `honor_labels: false` (the default) a scraped label that clashes with a target label is kept
//!   as `exported_<name>`; with `honor_labels: true` the scraped value wins;
//! - samples without a timestamp get the scrape's start time; with `honor_timestamps: true` (the
//!   default) a timestamp in the body is kept, and such series are not tracked for staleness;
//! - the series `up`, `scrape_duration_seconds`, `scrape_samples_scraped`,
//!   `scrape_samples_post_metric_relabeling` and `scrape_series_added` are written at the scrape
//!   time with the target labels;
//! - a series present in the previous scrape and missing from this one gets a staleness marker;
//!   a failed scrape (connection error, timeout, non-2xx status, unparsable body) writes `up` 0
//!   and staleness markers for every series of the previous scrape. A parse error fails the whole
//!   scrape: nothing of that body is stored, as Prometheus rolls back its appender.
//!
//! `scrape_series_added` counts the series of this scrape that were not in the previous one
//! (Prometheus counts series new to its per-target scrape cache; for a steady target both are
//! the series count on the first scrape and 0 afterwards).
//!
//! Scrapes of a target start at once and then every `scrape_interval` (Prometheus spreads
//! targets over the interval with a hash-based offset; this scraper does not). When the shutdown
//! token fires, loops stop without writing end-of-run staleness markers, as on a Prometheus
//! shutdown; a scrape in flight is abandoned and writes nothing.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::IngestError;
use super::text::{self, Format};
use crate::shared::SharedStorage;
use crate::tsdb::{Labels, LabelsBuilder, METRIC_NAME, stale_nan};

/// The `Accept` header Prometheus 2.x sends: OpenMetrics preferred, the text format as fallback.
pub const ACCEPT_HEADER: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// A Prometheus duration (`15s`, `1m30s`, `100ms`, `1h`, `2d`), as `model.ParseDuration` reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PromDuration(pub Duration);

impl PromDuration {
    /// Parses `s`: units `y w d h m s ms` in that order, each at most once, or `0`.
    pub fn parse(s: &str) -> Result<PromDuration, String> {
        crate::duration::parse_prometheus_duration_ms(s)
            .and_then(|ms| u64::try_from(ms).ok())
            .map(|ms| PromDuration(Duration::from_millis(ms)))
            .ok_or_else(|| format!("invalid duration {s:?} (expected e.g. 15s, 1m30s, 500ms)"))
    }
}

impl<'de> Deserialize<'de> for PromDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        PromDuration::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Deserialises a duration field, naming the field in the error: the YAML library reports the
/// path of the enclosing mapping only.
fn named_duration<'de, D: serde::Deserializer<'de>>(d: D, key: &str) -> Result<PromDuration, D::Error> {
    let s = String::deserialize(d)?;
    PromDuration::parse(&s).map_err(|e| serde::de::Error::custom(format!("{key}: {e}")))
}

fn de_interval<'de, D: serde::Deserializer<'de>>(d: D) -> Result<PromDuration, D::Error> {
    named_duration(d, "scrape_interval")
}

fn de_opt_interval<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<PromDuration>, D::Error> {
    named_duration(d, "scrape_interval").map(Some)
}

fn de_opt_timeout<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<PromDuration>, D::Error> {
    named_duration(d, "scrape_timeout").map(Some)
}

fn default_interval() -> PromDuration {
    PromDuration(Duration::from_secs(60))
}

fn default_timeout() -> PromDuration {
    PromDuration(Duration::from_secs(10))
}

fn default_metrics_path() -> String {
    "/metrics".to_string()
}

fn default_scheme() -> String {
    "http".to_string()
}

fn default_true() -> bool {
    true
}

/// The `global` section.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalConfig {
    /// How often to scrape targets by default (`1m`).
    #[serde(default = "default_interval", deserialize_with = "de_interval")]
    pub scrape_interval: PromDuration,
    /// How long a scrape may take by default. Unset, it is 10s, or the global interval when
    /// that is shorter, as Prometheus does; only an explicit value larger than the interval
    /// is an error.
    #[serde(default, deserialize_with = "de_opt_timeout")]
    pub scrape_timeout: Option<PromDuration>,
}

impl GlobalConfig {
    /// The effective default scrape timeout.
    pub fn timeout(&self) -> Duration {
        self.scrape_timeout
            .map_or_else(|| default_timeout().0.min(self.scrape_interval.0), |t| t.0)
    }
}

impl Default for GlobalConfig {
    fn default() -> Self {
        GlobalConfig {
            scrape_interval: default_interval(),
            scrape_timeout: None,
        }
    }
}

/// One `static_configs` entry.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticConfig {
    /// `host:port` addresses to scrape.
    #[serde(default)]
    pub targets: Vec<String>,
    /// Labels added to every series of these targets.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// One `scrape_configs` entry.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeConfig {
    /// The `job` label of the targets; unique within the file.
    pub job_name: String,
    /// How often to scrape (default: `global.scrape_interval`).
    #[serde(default, deserialize_with = "de_opt_interval")]
    pub scrape_interval: Option<PromDuration>,
    /// How long a scrape may take (default: `global.scrape_timeout`, capped at the interval).
    #[serde(default, deserialize_with = "de_opt_timeout")]
    pub scrape_timeout: Option<PromDuration>,
    /// The HTTP path (default `/metrics`).
    #[serde(default = "default_metrics_path")]
    pub metrics_path: String,
    /// The URL scheme; only `http` is supported.
    #[serde(default = "default_scheme")]
    pub scheme: String,
    /// Whether scraped labels win over target labels (default false: they are renamed
    /// `exported_<name>`).
    #[serde(default)]
    pub honor_labels: bool,
    /// Whether timestamps in the body are kept (default true); otherwise the scrape time is used.
    #[serde(default = "default_true")]
    pub honor_timestamps: bool,
    /// The targets.
    #[serde(default)]
    pub static_configs: Vec<StaticConfig>,
}

/// A Prometheus configuration file, the scraping subset.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeConfigFile {
    /// Defaults for every job.
    #[serde(default)]
    pub global: GlobalConfig,
    /// The jobs.
    #[serde(default)]
    pub scrape_configs: Vec<ScrapeConfig>,
}

/// One target, resolved from a job: where to scrape and the labels to add.
#[derive(Clone, Debug)]
pub struct Target {
    /// `http://host:port/path`.
    pub url: String,
    /// Target labels: `job`, `instance` and the static labels.
    pub labels: Labels,
    /// Scrape interval.
    pub interval: Duration,
    /// Scrape timeout.
    pub timeout: Duration,
    /// `honor_labels`.
    pub honor_labels: bool,
    /// `honor_timestamps`.
    pub honor_timestamps: bool,
}

fn valid_label_name(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

impl ScrapeConfigFile {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Self, IngestError> {
        let text = std::fs::read_to_string(path).map_err(|source| IngestError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text)
    }

    /// Parses and validates YAML text. Unknown keys are errors naming their YAML path.
    pub fn parse(yaml: &str) -> Result<Self, IngestError> {
        let cfg: ScrapeConfigFile = serde_norway::from_str(yaml).map_err(|e| {
            let msg = e.to_string();
            // serde_norway prefixes the YAML path of the mapping ("scrape_configs[0]: unknown
            // field ..."); our duration fields add their key ("scrape_timeout: invalid ...").
            let mut path = String::new();
            let mut reason = msg.as_str();
            while let Some((head, tail)) = reason.split_once(": ")
                && !head.is_empty()
                && !head.contains([' ', '`', '"'])
            {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(head);
                reason = tail;
            }
            if path.is_empty() {
                path.push_str("(document)");
            }
            IngestError::Config {
                path,
                reason: reason.to_string(),
            }
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), IngestError> {
        let err = |path: String, reason: String| IngestError::Config { path, reason };
        if self.global.timeout() > self.global.scrape_interval.0 {
            return Err(err(
                "global.scrape_timeout".into(),
                format!(
                    "global scrape timeout {:?} is greater than the scrape interval {:?}",
                    self.global.timeout(),
                    self.global.scrape_interval.0
                ),
            ));
        }
        let mut jobs = HashSet::new();
        for (i, job) in self.scrape_configs.iter().enumerate() {
            let p = format!("scrape_configs[{i}]");
            if job.job_name.is_empty() {
                return Err(err(format!("{p}.job_name"), "must not be empty".into()));
            }
            if !jobs.insert(job.job_name.as_str()) {
                return Err(err(
                    format!("{p}.job_name"),
                    format!("job name {:?} is used twice", job.job_name),
                ));
            }
            if job.scheme != "http" {
                return Err(err(
                    format!("{p}.scheme"),
                    format!("only \"http\" is supported, found {:?}", job.scheme),
                ));
            }
            if !job.metrics_path.starts_with('/') {
                return Err(err(
                    format!("{p}.metrics_path"),
                    format!("{:?} must start with '/'", job.metrics_path),
                ));
            }
            let (interval, timeout) = self.interval_and_timeout(job);
            if interval.is_zero() {
                return Err(err(
                    format!("{p}.scrape_interval"),
                    "must be greater than 0".into(),
                ));
            }
            if timeout > interval {
                return Err(err(
                    format!("{p}.scrape_timeout"),
                    format!("scrape timeout {timeout:?} is greater than the scrape interval {interval:?}"),
                ));
            }
            for (j, sc) in job.static_configs.iter().enumerate() {
                for (k, t) in sc.targets.iter().enumerate() {
                    let ok = t.rsplit_once(':').is_some_and(|(host, port)| {
                        !host.is_empty() && !host.contains('/') && port.parse::<u16>().is_ok()
                    });
                    if !ok {
                        return Err(err(
                            format!("{p}.static_configs[{j}].targets[{k}]"),
                            format!("{t:?} is not a host:port address (no scheme or path)"),
                        ));
                    }
                }
                for name in sc.labels.keys() {
                    if !valid_label_name(name) {
                        return Err(err(
                            format!("{p}.static_configs[{j}].labels.{name}"),
                            format!("{name:?} is not a valid label name"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// A job's interval and timeout after defaults: Prometheus caps an inherited timeout at the
    /// job's interval.
    fn interval_and_timeout(&self, job: &ScrapeConfig) -> (Duration, Duration) {
        let interval = job.scrape_interval.unwrap_or(self.global.scrape_interval).0;
        let timeout = match job.scrape_timeout {
            Some(t) => t.0,
            None => self.global.timeout().min(interval),
        };
        (interval, timeout)
    }

    /// Every target of every job.
    pub fn targets(&self) -> Vec<Target> {
        let mut out = Vec::new();
        for job in &self.scrape_configs {
            let (interval, timeout) = self.interval_and_timeout(job);
            for sc in &job.static_configs {
                for addr in &sc.targets {
                    let mut b = LabelsBuilder::new(&Labels::empty());
                    b.set("job", job.job_name.clone());
                    for (k, v) in &sc.labels {
                        b.set(k.clone(), v.clone());
                    }
                    if b.get("instance").is_none() {
                        b.set("instance", addr.clone());
                    }
                    out.push(Target {
                        url: format!("{}://{}{}", job.scheme, addr, job.metrics_path),
                        labels: b.build(),
                        interval,
                        timeout,
                        honor_labels: job.honor_labels,
                        honor_timestamps: job.honor_timestamps,
                    });
                }
            }
        }
        out
    }
}

/// Scrapes every target of `config` into `store` until `shutdown` fires.
pub async fn run_scrapes(config: ScrapeConfigFile, store: SharedStorage, shutdown: CancellationToken) {
    let client = match reqwest::Client::builder()
        .user_agent(concat!("burnwatch/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(error) => {
            tracing::error!(error = %error, "Cannot build the HTTP client for scraping; no target is scraped.");
            return;
        }
    };
    let mut tasks = tokio::task::JoinSet::new();
    for target in config.targets() {
        let mut looper = ScrapeLoop::new(target, client.clone(), store.clone());
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            let mut ticker = tokio::time::interval(looper.target.interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = ticker.tick() => {
                        tokio::select! {
                            _ = shutdown.cancelled() => break,
                            _ = looper.scrape_once() => {}
                        }
                    }
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// The state of one target's loop: what the previous scrape wrote, for staleness.
struct ScrapeLoop {
    target: Target,
    client: reqwest::Client,
    store: SharedStorage,
    /// Series of the previous scrape that got the scrape time (tracked for staleness).
    previous: HashSet<Labels>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// What a scrape brought back, or why it failed.
type Fetched = Result<(Vec<u8>, Format), String>;

impl ScrapeLoop {
    fn new(target: Target, client: reqwest::Client, store: SharedStorage) -> Self {
        ScrapeLoop {
            target,
            client,
            store,
            previous: HashSet::new(),
        }
    }

    async fn fetch(&self) -> Fetched {
        let resp = self
            .client
            .get(&self.target.url)
            .header(reqwest::header::ACCEPT, ACCEPT_HEADER)
            .header(
                "X-Prometheus-Scrape-Timeout-Seconds",
                format!("{}", self.target.timeout.as_secs_f64()),
            )
            .timeout(self.target.timeout)
            .send()
            .await
            .map_err(|e| format!("{e}"))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(format!("server returned HTTP status {status}"));
        }
        let format = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map_or(Format::Prometheus, Format::from_content_type);
        let body = resp.bytes().await.map_err(|e| format!("reading the body: {e}"))?;
        Ok((body.to_vec(), format))
    }

    /// The sample's labels with the target labels applied (Prometheus's `mutateSampleLabels`).
    fn with_target_labels(&self, scraped: &Labels) -> Labels {
        let mut b = LabelsBuilder::new(scraped);
        if self.target.honor_labels {
            for l in &self.target.labels {
                if !scraped.has(&l.name) {
                    b.set(l.name.clone(), l.value.clone());
                }
            }
        } else {
            let mut conflicts = Vec::new();
            for l in &self.target.labels {
                if let Some(v) = scraped.get(&l.name) {
                    conflicts.push((l.name.clone(), v.to_string()));
                }
                b.set(l.name.clone(), l.value.clone());
            }
            for (name, value) in conflicts {
                let mut exported = format!("exported_{name}");
                while b.get(&exported).is_some() {
                    exported = format!("exported_{exported}");
                }
                b.set(exported, value);
            }
        }
        b.build()
    }

    async fn scrape_once(&mut self) {
        let start = Instant::now();
        let ts = now_ms();
        let fetched = self.fetch().await;
        let mut samples = Vec::new();
        let parsed = match fetched {
            Ok((body, format)) => text::parse_bytes(&body, format, |s| samples.push(s))
                .map(|_| ())
                .map_err(|e| format!("parsing the {format} body: {e}")),
            Err(e) => Err(e),
        };
        let duration = start.elapsed().as_secs_f64();

        let max_t = crate::tsdb::max_valid_time(now_ms());
        let mut store = self.store.write().unwrap_or_else(|e| e.into_inner());
        let mut current = HashSet::new();
        let (up, scraped, added) = match parsed {
            Ok(()) => {
                let mut refused = 0usize;
                let mut first_refusal = None;
                let mut added = 0usize;
                for s in &samples {
                    let labels = self.with_target_labels(&s.labels);
                    let (t, tracked) = match s.timestamp_ms {
                        Some(t) if self.target.honor_timestamps => (t, false),
                        _ => {
                            if !self.previous.contains(&labels) {
                                added += 1;
                            }
                            (ts, true)
                        }
                    };
                    // An explicit timestamp more than 10 minutes ahead of the clock is
                    // dropped and counted, the rest of the scrape kept (Prometheus's
                    // `timeLimitAppender`, "out of bounds").
                    let appended = crate::tsdb::check_not_ahead(&labels, t, max_t)
                        .and_then(|()| store.append(&labels, t, s.value));
                    match appended {
                        Ok(r) if tracked => {
                            // Keep the store's label set (shared strings), not a second copy.
                            current.insert(store.labels_of(r).cloned().unwrap_or(labels));
                        }
                        Ok(_) => {}
                        Err(e) => {
                            if tracked {
                                current.insert(labels);
                            }
                            refused += 1;
                            first_refusal.get_or_insert(e);
                        }
                    }
                }
                if let Some(error) = first_refusal {
                    tracing::warn!(target = %self.target.url, refused, error = %error,
                        "The store refused samples of a scrape.");
                }
                (1.0, samples.len(), added)
            }
            Err(error) => {
                tracing::warn!(target = %self.target.url, error = %error, "Scrape failed.");
                (0.0, 0, 0)
            }
        };
        // Staleness (Prometheus's `staleness markers`): series of the previous scrape that are
        // gone now, or all of them when the scrape failed.
        for gone in self.previous.difference(&current) {
            // A refusal means the series already has a newer sample; nothing to mark.
            let _ = store.append(gone, ts, stale_nan());
        }
        self.previous = current;

        let report = [
            ("up", up),
            ("scrape_duration_seconds", duration),
            ("scrape_samples_scraped", scraped as f64),
            ("scrape_samples_post_metric_relabeling", scraped as f64),
            ("scrape_series_added", added as f64),
        ];
        for (name, v) in report {
            let mut b = LabelsBuilder::new(&self.target.labels);
            b.set(METRIC_NAME.to_string(), name.to_string());
            if let Err(error) = store.append(&b.build(), ts, v) {
                tracing::warn!(target = %self.target.url, series = name, error = %error,
                    "Cannot store a scrape report sample.");
            }
        }
        // One scrape is one batch for a durable store's write-ahead log. When the log cannot
        // write (it logged why), the scrape stays in memory for queries: a scrape has no
        // sender to refuse, and a snapshot makes it durable once there is space again.
        if let Err(error) = store.end_batch() {
            tracing::debug!(target = %self.target.url, error = %error, "A scrape is in memory only.");
        }
    }
}
