//! Scraping Prometheus text and OpenMetrics targets, as Prometheus's scrape manager does.
//!
//! The configuration is a whole `prometheus.yml` ([`crate::promconfig::PrometheusConfig`];
//! [`ScrapeConfigFile`] is the same type under its older name). A [`ScrapeManager`] runs one pool
//! per job and can [`ScrapeManager::apply`] a new configuration (a reload): pools whose job is
//! unchanged keep running, changed or removed ones stop and their series get staleness markers.
//!
//! Targets, following Prometheus's `scrape/target.go` `PopulateLabels`:
//! - each discovered address ([`crate::discovery`]: `static_configs`, `file_sd_configs`) starts
//!   as `__address__` plus its group's labels; `job`, `__scheme__`, `__metrics_path__`,
//!   `__scrape_interval__`, `__scrape_timeout__` are set when absent, and every `params` entry
//!   becomes `__param_<name>` (its first value). These are the target's "discovered labels";
//! - `relabel_configs` run over them; a dropped target is listed in `droppedTargets`;
//! - `__meta_*` labels are removed, `instance` defaults to `__address__`, and the target's
//!   labels are the result without any label starting with `__`; the scrape URL is
//!   `__scheme__://__address__/__metrics_path__?params` with `__param_*` overriding `params`.
//!   Prometheus 2.x appended `:80`/`:443` to an address without a port; 3.x does not, and neither
//!   does burnwatch.
//!
//! Per scrape, following `scrape/scrape.go`:
//! - the request carries the job's authentication and TLS settings, Prometheus's `Accept` header
//!   and `X-Prometheus-Scrape-Timeout-Seconds`; a body larger than `body_size_limit` fails the
//!   scrape ("body size limit exceeded");
//! - the body is parsed with [`super::text`] in the format its `Content-Type` declares;
//! - each series gets the target labels (with `honor_labels: false`, the default, a scraped label
//!   that clashes with a target label is kept as `exported_<name>`; with `honor_labels: true`
//!   the scraped value wins), then `metric_relabel_configs` run; a dropped series is not stored;
//! - `sample_limit` (samples kept after relabelling) and the label limits fail the whole scrape
//!   when exceeded, with Prometheus's messages; nothing of that scrape is stored, as Prometheus
//!   rolls back its appender;
//! - samples without a timestamp get the scrape's start time; with `honor_timestamps: true` (the
//!   default) a timestamp in the body is kept, and such series are not tracked for staleness;
//! - OpenMetrics exemplars of kept samples go to the store's exemplar ring under the series'
//!   final labels (stamped with the scrape time when they have no timestamp), and the body's
//!   `# TYPE`/`# HELP`/`# UNIT` lines to the target's metadata (kept while the target is
//!   scraped; see [`crate::tsdb::metadata`] and [`crate::tsdb::exemplars`]);
//! - `up`, `scrape_duration_seconds`, `scrape_samples_scraped`,
//!   `scrape_samples_post_metric_relabeling` and `scrape_series_added` are written at the scrape
//!   time with the target labels;
//! - a series present in the previous scrape and missing from this one gets a staleness marker;
//!   a failed scrape writes `up` 0 and staleness markers for every series of the previous scrape.
//!
//! `scrape_series_added` counts the series of this scrape that were not in the previous one
//! (Prometheus counts series new to its per-target scrape cache; for a steady target both are
//! the series count on the first scrape and 0 afterwards).
//!
//! Scrapes of a target start at once and then every `scrape_interval` (Prometheus spreads
//! targets over the interval with a hash-based offset; this scraper does not). When the shutdown
//! token fires, loops stop without writing end-of-run staleness markers, as on a Prometheus
//! shutdown; a scrape in flight is abandoned and writes nothing. A target that disappears (its
//! file_sd entry removed, its job changed by a reload) gets its staleness markers, as Prometheus's
//! `endOfRunStaleness`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio_util::sync::CancellationToken;

use super::text::{self, Format};
use crate::discovery::{FileSd, TargetGroup};
use crate::promconfig::PrometheusConfig;
use crate::relabel::{self, Relabeler};
use crate::shared::SharedStorage;
use crate::tsdb::{Labels, LabelsBuilder, METRIC_NAME, stale_nan};

pub use crate::promconfig::{GlobalConfig, PromDuration, ScrapeConfig, StaticConfig};

/// The older name of [`PrometheusConfig`] (a `--scrape-config` file is a `prometheus.yml`).
pub type ScrapeConfigFile = PrometheusConfig;

/// The `Accept` header Prometheus 2.x sends: OpenMetrics preferred, the text format as fallback.
pub const ACCEPT_HEADER: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

const USER_AGENT: &str = concat!("burnwatch/", env!("CARGO_PKG_VERSION"));

/// One target, resolved from a job: where to scrape and the labels to add.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// The job (scrape pool) it belongs to.
    pub job: String,
    /// `scheme://host:port/path?params`.
    pub url: String,
    /// Target labels: the relabelled set without `__`-prefixed labels.
    pub labels: Labels,
    /// The labels before relabelling (`__address__`, `__meta_*`, ...).
    pub discovered: Labels,
    /// Scrape interval.
    pub interval: Duration,
    /// Scrape timeout.
    pub timeout: Duration,
    /// `honor_labels`.
    pub honor_labels: bool,
    /// `honor_timestamps`.
    pub honor_timestamps: bool,
}

/// What discovery and relabelling made of one discovered address.
#[derive(Clone, Debug)]
pub enum Resolved {
    /// A target to scrape.
    Active(Target),
    /// Dropped by `relabel_configs`; the discovered labels.
    Dropped(Labels),
    /// Relabelling produced something unscrapable (no address, a bad interval).
    Invalid(Labels, String),
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Runs Prometheus's `PopulateLabels` for one address of a group of `job`.
pub fn resolve_target(
    cfg: &PrometheusConfig,
    job: &ScrapeConfig,
    steps: &[Relabeler],
    group: &TargetGroup,
    address: &str,
) -> Resolved {
    let (interval, timeout) = cfg.interval_and_timeout(job);
    let mut b = LabelsBuilder::new(&Labels::empty());
    for (k, v) in &group.labels {
        b.set(k.clone(), v.clone());
    }
    b.set("__address__", address.to_string());
    let defaults = [
        ("job", job.job_name.clone()),
        ("__scrape_interval__", PromDuration(interval).to_string()),
        ("__scrape_timeout__", PromDuration(timeout).to_string()),
        ("__metrics_path__", job.metrics_path.clone()),
        ("__scheme__", job.scheme.clone()),
    ];
    for (k, v) in defaults {
        if b.get(k).is_none_or(str::is_empty) {
            b.set(k, v);
        }
    }
    for (k, v) in &job.params {
        if let Some(first) = v.first() {
            b.set(format!("__param_{k}"), first.clone());
        }
    }
    let discovered = b.build();
    let Some(lset) = relabel::process(&discovered, steps) else {
        return Resolved::Dropped(discovered);
    };
    let invalid = |e: String| Resolved::Invalid(discovered.clone(), e);
    let addr = match lset.get("__address__") {
        Some(a) if !a.is_empty() => a.to_string(),
        _ => return invalid("no address".into()),
    };
    if addr.contains('/') {
        return invalid(format!("{addr:?} is not a valid hostname"));
    }
    let scheme = lset.get("__scheme__").unwrap_or("http");
    if scheme != "http" && scheme != "https" {
        return invalid(format!("invalid scheme: {scheme:?}"));
    }
    let dur = |name: &str, what: &str| -> Result<Duration, String> {
        let v = lset.get(name).unwrap_or("");
        let d = PromDuration::parse(v).map_err(|e| format!("error parsing {what}: {e}"))?;
        if d.0.is_zero() {
            return Err(format!("{what} cannot be 0"));
        }
        Ok(d.0)
    };
    let interval = match dur("__scrape_interval__", "scrape interval") {
        Ok(d) => d,
        Err(e) => return invalid(e),
    };
    let timeout = match dur("__scrape_timeout__", "scrape timeout") {
        Ok(d) => d,
        Err(e) => return invalid(e),
    };
    if timeout > interval {
        return invalid(format!(
            "scrape timeout cannot be greater than scrape interval ({:?} > {:?})",
            PromDuration(timeout).to_string(),
            PromDuration(interval).to_string()
        ));
    }
    // The URL: params with `__param_*` overriding the first value of each.
    let mut params: BTreeMap<String, Vec<String>> = job.params.clone();
    for l in &lset {
        if let Some(k) = l.name.as_str().strip_prefix("__param_") {
            let e = params.entry(k.to_string()).or_default();
            if e.is_empty() {
                e.push(l.value.to_string());
            } else {
                e[0] = l.value.to_string();
            }
        }
    }
    let query: Vec<String> = params
        .iter()
        .flat_map(|(k, vs)| {
            vs.iter()
                .map(move |v| format!("{}={}", query_escape(k), query_escape(v)))
        })
        .collect();
    let path = lset.get("__metrics_path__").unwrap_or("");
    let mut url = format!("{scheme}://{addr}{path}");
    if !query.is_empty() {
        url.push('?');
        url.push_str(&query.join("&"));
    }
    // Meta labels go; `instance` defaults to the address; the target's labels are the rest
    // without `__` labels.
    let mut out = LabelsBuilder::new(&Labels::empty());
    for l in &lset {
        if !l.name.as_str().starts_with("__") {
            out.set(l.name.clone(), l.value.clone());
        }
    }
    if lset.get("instance").is_none_or(str::is_empty) {
        out.set("instance", addr.clone());
    }
    Resolved::Active(Target {
        job: job.job_name.clone(),
        url,
        labels: out.build(),
        discovered,
        interval,
        timeout,
        honor_labels: job.honor_labels,
        honor_timestamps: job.honor_timestamps,
    })
}

impl PrometheusConfig {
    /// Every target of the static configs of every job, after relabelling (targets dropped by
    /// relabelling or invalid are left out). File-discovered targets come from a running
    /// [`ScrapeManager`].
    pub fn targets(&self) -> Vec<Target> {
        let mut out = Vec::new();
        for job in &self.scrape_configs {
            let steps = relabel::compile_all(&job.relabel_configs).unwrap_or_default();
            for g in TargetGroup::from_static(&job.static_configs) {
                for addr in &g.targets {
                    if let Resolved::Active(t) = resolve_target(self, job, &steps, &g, addr) {
                        out.push(t);
                    }
                }
            }
        }
        out
    }
}

/// The health of one target, as `/api/v1/targets` reports it.
#[derive(Clone, Debug)]
pub struct TargetStatus {
    /// The target.
    pub target: Target,
    /// `up`, `down` or `unknown` (not scraped yet).
    pub health: &'static str,
    /// The last scrape's error, empty when it succeeded.
    pub last_error: String,
    /// When the last scrape started (Unix ms), if any.
    pub last_scrape_ms: Option<i64>,
    /// How long it took.
    pub last_duration: Duration,
}

/// The targets of every pool, for `/api/v1/targets`.
#[derive(Debug, Default)]
pub struct TargetsView {
    /// Active targets by job, then by target key.
    pub active: BTreeMap<String, BTreeMap<String, TargetStatus>>,
    /// Discovered labels of dropped targets, by job.
    pub dropped: BTreeMap<String, Vec<Labels>>,
}

/// The job-wide settings every scrape of a pool uses.
struct JobRuntime {
    metric_relabel: Vec<Relabeler>,
    sample_limit: usize,
    label_limit: usize,
    label_name_length_limit: usize,
    label_value_length_limit: usize,
    body_size_limit: usize,
    http: crate::promconfig::HttpClient,
}

struct Pool {
    /// What the pool was started from: a reload keeps the pool when these are unchanged.
    job: ScrapeConfig,
    global: GlobalConfig,
    base: Option<std::path::PathBuf>,
    /// Cancelled when the pool is removed by a reload (its targets then write staleness).
    removed: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

/// Runs the scrape pools of a configuration and applies new ones.
pub struct ScrapeManager {
    store: SharedStorage,
    shutdown: CancellationToken,
    pools: Mutex<HashMap<String, Pool>>,
    view: Arc<RwLock<TargetsView>>,
}

impl std::fmt::Debug for ScrapeManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScrapeManager").finish_non_exhaustive()
    }
}

impl ScrapeManager {
    /// A manager writing into `store`, stopping when `shutdown` fires; no pools yet.
    pub fn new(store: SharedStorage, shutdown: CancellationToken) -> Arc<ScrapeManager> {
        Arc::new(ScrapeManager {
            store,
            shutdown,
            pools: Mutex::new(HashMap::new()),
            view: Arc::new(RwLock::new(TargetsView::default())),
        })
    }

    /// The targets of every pool.
    pub fn view(&self) -> Arc<RwLock<TargetsView>> {
        self.view.clone()
    }

    /// Starts, keeps or stops pools so they match `cfg` (which has been validated). Fails, changing
    /// nothing, when a job's HTTP client cannot be built (an unreadable certificate).
    pub fn apply(&self, cfg: &PrometheusConfig) -> Result<(), crate::promconfig::ConfigError> {
        // Build every new job's runtime first: a failure leaves the running pools alone.
        let mut fresh = Vec::new();
        {
            let pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
            for (i, job) in cfg.scrape_configs.iter().enumerate() {
                let unchanged = pools.get(&job.job_name).is_some_and(|p| {
                    p.job == *job && p.global == cfg.global && p.base == cfg.base_dir && !p.task.is_finished()
                });
                if unchanged {
                    continue;
                }
                let p = format!("scrape_configs[{i}]");
                let http = job.http().build(&p, cfg, USER_AGENT)?;
                let runtime = JobRuntime {
                    metric_relabel: relabel::compile_all(&job.metric_relabel_configs).map_err(|(j, e)| {
                        crate::promconfig::ConfigError::at(format!("{p}.metric_relabel_configs[{j}]"), e)
                    })?,
                    sample_limit: job.sample_limit as usize,
                    label_limit: job.label_limit as usize,
                    label_name_length_limit: job.label_name_length_limit as usize,
                    label_value_length_limit: job.label_value_length_limit as usize,
                    body_size_limit: job.body_size_limit.0 as usize,
                    http,
                };
                let steps = relabel::compile_all(&job.relabel_configs).map_err(|(j, e)| {
                    crate::promconfig::ConfigError::at(format!("{p}.relabel_configs[{j}]"), e)
                })?;
                fresh.push((job.clone(), Arc::new(runtime), steps));
            }
        }
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        let wanted: HashSet<&str> = cfg.scrape_configs.iter().map(|j| j.job_name.as_str()).collect();
        let mut stopped = Vec::new();
        pools.retain(|name, pool| {
            let keep = wanted.contains(name.as_str()) && !fresh.iter().any(|(j, _, _)| &j.job_name == name);
            if !keep {
                pool.removed.cancel();
                stopped.push(name.clone());
            }
            keep
        });
        {
            let mut view = self.view.write().unwrap_or_else(|e| e.into_inner());
            for name in &stopped {
                view.active.remove(name);
                view.dropped.remove(name);
            }
        }
        for (job, runtime, steps) in fresh {
            let removed = self.shutdown.child_token();
            let task = tokio::spawn(run_pool(PoolCtx {
                cfg: Arc::new(cfg.clone()),
                job: job.clone(),
                runtime,
                steps,
                store: self.store.clone(),
                view: self.view.clone(),
                removed: removed.clone(),
                shutdown: self.shutdown.clone(),
            }));
            pools.insert(
                job.job_name.clone(),
                Pool {
                    job,
                    global: cfg.global.clone(),
                    base: cfg.base_dir.clone(),
                    removed,
                    task,
                },
            );
        }
        Ok(())
    }

    /// Waits until every pool has stopped (after the shutdown token fired).
    pub async fn wait(&self) {
        let tasks: Vec<_> = {
            let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
            pools.drain().map(|(_, p)| p.task).collect()
        };
        for t in tasks {
            let _ = t.await;
        }
    }
}

/// Scrapes every target of `config` into `store` until `shutdown` fires.
pub async fn run_scrapes(config: ScrapeConfigFile, store: SharedStorage, shutdown: CancellationToken) {
    let manager = ScrapeManager::new(store, shutdown.clone());
    if let Err(error) = manager.apply(&config) {
        tracing::error!(error = %error, "Cannot start the scrapes.");
        return;
    }
    shutdown.cancelled().await;
    manager.wait().await;
}

struct PoolCtx {
    cfg: Arc<PrometheusConfig>,
    job: ScrapeConfig,
    runtime: Arc<JobRuntime>,
    steps: Vec<Relabeler>,
    store: SharedStorage,
    view: Arc<RwLock<TargetsView>>,
    removed: CancellationToken,
    shutdown: CancellationToken,
}

struct RunningTarget {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

/// One job: discovery, then a loop per target; re-syncs when file_sd changes.
async fn run_pool(ctx: PoolCtx) {
    let statics = TargetGroup::from_static(&ctx.job.static_configs);
    let mut file_sd = FileSd::new(
        &ctx.job.job_name,
        &ctx.job.file_sd_configs,
        ctx.cfg.base_dir.as_deref(),
    );
    let poll = ctx
        .job
        .file_sd_configs
        .iter()
        .map(|c| c.refresh_interval.0)
        .min()
        .unwrap_or(Duration::from_secs(1))
        .min(Duration::from_secs(1));
    let mut running: HashMap<String, RunningTarget> = HashMap::new();
    let mut last_groups: Option<Vec<TargetGroup>> = None;
    loop {
        let mut groups = statics.clone();
        if !file_sd.is_empty() {
            groups.extend(file_sd.refresh());
        }
        if last_groups.as_ref() != Some(&groups) {
            sync_targets(&ctx, &groups, &mut running);
            last_groups = Some(groups);
        }
        if file_sd.is_empty() {
            ctx.removed.cancelled().await;
        } else {
            tokio::select! {
                _ = ctx.removed.cancelled() => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
        if ctx.removed.is_cancelled() {
            break;
        }
    }
    for (_, t) in running.drain() {
        let _ = t.task.await;
    }
}

fn sync_targets(ctx: &PoolCtx, groups: &[TargetGroup], running: &mut HashMap<String, RunningTarget>) {
    let mut wanted: BTreeMap<String, Target> = BTreeMap::new();
    let mut dropped = Vec::new();
    for g in groups {
        for addr in &g.targets {
            match resolve_target(&ctx.cfg, &ctx.job, &ctx.steps, g, addr) {
                Resolved::Active(t) => {
                    // Identical targets are scraped once (Prometheus deduplicates by hash).
                    wanted.insert(format!("{}{}", t.url, t.labels), t);
                }
                Resolved::Dropped(l) => dropped.push(l),
                Resolved::Invalid(l, error) => {
                    tracing::warn!(job = %ctx.job.job_name, labels = %l, error = %error,
                        "Creating target failed.");
                }
            }
        }
    }
    running.retain(|key, t| {
        let keep = wanted.contains_key(key);
        if !keep {
            t.stop.cancel();
        }
        keep
    });
    let mut view = ctx.view.write().unwrap_or_else(|e| e.into_inner());
    let active = view.active.entry(ctx.job.job_name.clone()).or_default();
    active.retain(|k, _| wanted.contains_key(k));
    for (key, target) in wanted {
        if running.contains_key(&key) {
            continue;
        }
        active.insert(
            key.clone(),
            TargetStatus {
                target: target.clone(),
                health: "unknown",
                last_error: String::new(),
                last_scrape_ms: None,
                last_duration: Duration::ZERO,
            },
        );
        let stop = ctx.removed.child_token();
        let looper = ScrapeLoop {
            key: key.clone(),
            target,
            runtime: ctx.runtime.clone(),
            store: ctx.store.clone(),
            view: ctx.view.clone(),
            previous: HashSet::new(),
        };
        let task = tokio::spawn(looper.run(stop.clone(), ctx.shutdown.clone()));
        running.insert(key, RunningTarget { stop, task });
    }
    view.dropped.insert(ctx.job.job_name.clone(), dropped);
}

/// The state of one target's loop: what the previous scrape wrote, for staleness.
struct ScrapeLoop {
    key: String,
    target: Target,
    runtime: Arc<JobRuntime>,
    store: SharedStorage,
    view: Arc<RwLock<TargetsView>>,
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

/// Prometheus's `%.50s`: at most 50 characters.
fn trunc50(s: &str) -> String {
    s.chars().take(50).collect()
}

impl ScrapeLoop {
    async fn run(mut self, stop: CancellationToken, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(self.target.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = ticker.tick() => {
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = self.scrape_once() => {}
                    }
                }
            }
        }
        // The target's metadata goes with its loop, as with Prometheus's scrape cache.
        self.store
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .metadata_mut()
            .remove_target(&self.metadata_key());
        // Removed (not shut down): its series end now (Prometheus's `endOfRunStaleness`).
        if !shutdown.is_cancelled() && !self.previous.is_empty() {
            let ts = now_ms();
            let mut store = self.store.write().unwrap_or_else(|e| e.into_inner());
            for gone in &self.previous {
                let _ = store.append(gone, ts, stale_nan());
            }
            for name in REPORT_NAMES {
                let _ = store.append(&self.report_labels(name), ts, stale_nan());
            }
            let _ = store.end_batch();
        }
    }

    async fn fetch(&self) -> Fetched {
        let req = self
            .runtime
            .http
            .client
            .get(&self.target.url)
            .header(reqwest::header::ACCEPT, ACCEPT_HEADER)
            .header(
                "X-Prometheus-Scrape-Timeout-Seconds",
                format!("{}", self.target.timeout.as_secs_f64()),
            )
            .timeout(self.target.timeout);
        let mut resp = self
            .runtime
            .http
            .authorize(req)?
            .send()
            .await
            .map_err(|e| crate::promconfig::HttpClient::error_text(&e))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(format!("server returned HTTP status {status}"));
        }
        let format = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map_or(Format::Prometheus, Format::from_content_type);
        let limit = self.runtime.body_size_limit;
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| {
            format!(
                "reading the body: {}",
                crate::promconfig::HttpClient::error_text(&e)
            )
        })? {
            body.extend_from_slice(&chunk);
            if limit > 0 && body.len() > limit {
                return Err(format!("body size limit exceeded (limit: {limit} bytes)"));
            }
        }
        Ok((body, format))
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

    /// Prometheus's `verifyLabelLimits`.
    fn check_label_limits(&self, l: &Labels) -> Result<(), String> {
        let rt = &self.runtime;
        let metric = l.metric_name().unwrap_or("");
        if rt.label_limit > 0 && l.len() > rt.label_limit {
            return Err(format!(
                "label_limit exceeded (metric: {}, number of labels: {}, limit: {})",
                trunc50(metric),
                l.len(),
                rt.label_limit
            ));
        }
        for lab in l {
            let (n, v) = (lab.name.as_str(), lab.value.as_str());
            if rt.label_name_length_limit > 0 && n.len() > rt.label_name_length_limit {
                return Err(format!(
                    "label_name_length_limit exceeded (metric: {}, label name: {}, length: {}, limit: {})",
                    trunc50(metric),
                    trunc50(n),
                    n.len(),
                    rt.label_name_length_limit
                ));
            }
            if rt.label_value_length_limit > 0 && v.len() > rt.label_value_length_limit {
                return Err(format!(
                    "label_value_length_limit exceeded (metric: {}, label name: {}, value: {:?}, length: {}, limit: {})",
                    trunc50(metric),
                    trunc50(n),
                    trunc50(v),
                    v.len(),
                    rt.label_value_length_limit
                ));
            }
        }
        Ok(())
    }

    /// The target's key in the store's metadata: job, then target, so listings come by job.
    fn metadata_key(&self) -> String {
        format!("{}\u{1}{}", self.target.job, self.key)
    }

    fn report_labels(&self, name: &str) -> Labels {
        let mut b = LabelsBuilder::new(&self.target.labels);
        b.set(METRIC_NAME.to_string(), name.to_string());
        b.build()
    }

    /// The scraped samples after target labels and metric relabelling (with the index of each
    /// in `samples`), or why the scrape fails and how many samples had passed relabelling.
    fn relabel_samples(
        &self,
        samples: &[text::ParsedSample],
    ) -> Result<Vec<(Labels, usize)>, (String, usize)> {
        let mut kept = Vec::with_capacity(samples.len());
        for (i, s) in samples.iter().enumerate() {
            let labels = self.with_target_labels(&s.labels);
            let Some(labels) = relabel::process(&labels, &self.runtime.metric_relabel) else {
                continue;
            };
            if labels.is_empty() {
                continue;
            }
            if labels.metric_name().is_none_or(str::is_empty) {
                return Err((
                    format!("__name__ label is missing after relabelling: {labels}"),
                    kept.len(),
                ));
            }
            self.check_label_limits(&labels).map_err(|e| (e, kept.len()))?;
            kept.push((labels, i));
        }
        let limit = self.runtime.sample_limit;
        if limit > 0 && kept.len() > limit {
            return Err((
                format!("sample limit exceeded ({} samples, limit: {limit})", kept.len()),
                kept.len(),
            ));
        }
        Ok(kept)
    }

    async fn scrape_once(&mut self) {
        let start = Instant::now();
        let ts = now_ms();
        let fetched = self.fetch().await;
        let mut samples = Vec::new();
        let mut metadata = Vec::new();
        let parsed = match fetched {
            Ok((body, format)) => text::parse_bytes_with_metadata(
                &body,
                format,
                |s| samples.push(s),
                |family, line| metadata.push((family, line)),
            )
            .map(|_| ())
            .map_err(|e| format!("parsing the {format} body: {e}")),
            Err(e) => Err(e),
        };
        // A limit that fails the scrape still reports how much was scraped and kept.
        let relabelled = match parsed {
            Ok(()) => self
                .relabel_samples(&samples)
                .map_err(|(e, kept)| (e, samples.len(), kept)),
            Err(e) => Err((e, 0, 0)),
        };
        let duration = start.elapsed();

        let max_t = crate::tsdb::max_valid_time(now_ms());
        let mut store = self.store.write().unwrap_or_else(|e| e.into_inner());
        let mut current = HashSet::new();
        let (up, scraped, post, added, error) = match relabelled {
            Ok(kept) => {
                let mut refused = 0usize;
                let mut first_refusal = None;
                let mut added = 0usize;
                for (labels, i) in &kept {
                    let s = &samples[*i];
                    let (t, tracked) = match s.timestamp_ms {
                        Some(t) if self.target.honor_timestamps => (t, false),
                        _ => {
                            if !self.previous.contains(labels) {
                                added += 1;
                            }
                            (ts, true)
                        }
                    };
                    // An explicit timestamp more than 10 minutes ahead of the clock is
                    // dropped and counted, the rest of the scrape kept (Prometheus's
                    // `timeLimitAppender`, "out of bounds").
                    let appended = crate::tsdb::check_not_ahead(labels, t, max_t)
                        .and_then(|()| store.append(labels, t, s.value));
                    match appended {
                        Ok(r) if tracked => {
                            // Keep the store's label set (shared strings), not a second copy.
                            current.insert(store.labels_of(r).cloned().unwrap_or_else(|| labels.clone()));
                        }
                        Ok(_) => {}
                        Err(e) => {
                            if tracked {
                                current.insert(labels.clone());
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
                self.append_exemplars(&mut store, &kept, &samples, ts);
                (1.0, samples.len(), kept.len(), added, String::new())
            }
            Err((error, scraped, kept)) => {
                tracing::warn!(target = %self.target.url, error = %error, "Scrape failed.");
                (0.0, scraped, kept, 0, error)
            }
        };
        // Metadata lines count whatever happened to the samples (Prometheus sets its cache while
        // parsing); a failed scrape does not age entries out.
        let successful = up == 1.0;
        store
            .metadata_mut()
            .scrape(&self.metadata_key(), &self.target.labels, metadata, successful);
        // Staleness (Prometheus's `staleness markers`): series of the previous scrape that are
        // gone now, or all of them when the scrape failed.
        for gone in self.previous.difference(&current) {
            // A refusal means the series already has a newer sample; nothing to mark.
            let _ = store.append(gone, ts, stale_nan());
        }
        self.previous = current;

        let report = [
            ("up", up),
            ("scrape_duration_seconds", duration.as_secs_f64()),
            ("scrape_samples_scraped", scraped as f64),
            ("scrape_samples_post_metric_relabeling", post as f64),
            ("scrape_series_added", added as f64),
        ];
        for (name, v) in report {
            if let Err(error) = store.append(&self.report_labels(name), ts, v) {
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
        drop(store);
        let mut view = self.view.write().unwrap_or_else(|e| e.into_inner());
        if let Some(st) = view
            .active
            .get_mut(&self.target.job)
            .and_then(|m| m.get_mut(&self.key))
        {
            st.health = if up == 1.0 { "up" } else { "down" };
            st.last_error = error;
            st.last_scrape_ms = Some(ts);
            st.last_duration = duration;
        }
    }
}

impl ScrapeLoop {
    /// Stores the exemplars of the kept samples under their final labels, an exemplar without
    /// a timestamp getting the scrape's (Prometheus's scrape loop). As in Prometheus, a refused
    /// exemplar (out of order, labels too long) does not fail the scrape; it is logged at debug.
    fn append_exemplars(
        &self,
        store: &mut crate::tsdb::Storage,
        kept: &[(Labels, usize)],
        samples: &[text::ParsedSample],
        ts: i64,
    ) {
        for (labels, i) in kept {
            let Some(e) = &samples[*i].exemplar else {
                continue;
            };
            let exemplar = crate::tsdb::exemplars::Exemplar {
                labels: e.labels.clone(),
                value: e.value,
                t: e.timestamp_ms.unwrap_or(ts),
                has_ts: e.timestamp_ms.is_some(),
            };
            if let Err(error) = store.exemplars_mut().add(labels, exemplar) {
                tracing::debug!(target = %self.target.url, series = %labels, error = %error,
                    "Error while adding an exemplar.");
            }
        }
    }
}

/// The report series every scrape writes.
const REPORT_NAMES: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];
