//! Delivers alerts to Alertmanagers, as Prometheus 3.x's `notifier` package does.
//!
//! [`Notifier::send`] adds the external labels, applies the alert relabelling and puts the
//! alerts on the queue of every configured Alertmanager. Each Alertmanager has its own bounded
//! queue (the oldest alerts are dropped when it is full) and its own task, which posts batches
//! of at most `max_batch_size` alerts to `{scheme}://{target}{path_prefix}/api/v2/alerts` with
//! the set's timeout, credentials and TLS. A batch that fails is logged, counted in
//! `prometheus_notifications_errors_total` and `..._dropped_total`, and not retried: as in
//! Prometheus, the rule manager re-sends every firing alert each resend delay (1m), so the next
//! send carries the current state rather than a stale one. [`Notifier::metrics`] exposes the
//! `prometheus_notifications_*` figures.
//!
//! ```no_run
//! # async fn demo() -> Result<(), burnwatch_slo::notifier::NotifierError> {
//! use burnwatch_slo::notifier::{AlertmanagerConfig, Notifier, NotifierOptions};
//!
//! let am = AlertmanagerConfig::from_url("http://127.0.0.1:9093")?;
//! let notifier = Notifier::new(NotifierOptions::default(), vec![am])?;
//! notifier.send(Vec::new()); // the rule manager's alerts
//! notifier.stop().await; // sends what is queued, then returns
//! # Ok(()) }
//! ```

mod config;
mod metrics;
mod payload;
mod tls;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use config::{
    AlertmanagerConfig, Auth, DEFAULT_MAX_BATCH_SIZE, DEFAULT_QUEUE_CAPACITY, DEFAULT_TIMEOUT,
    NotifierOptions, RelabelHook, Scheme, Secret, TlsConfig,
};
pub use metrics::{AlertmanagerMetrics, LATENCY_BUCKETS, NotifierMetrics};
pub use payload::format_rfc3339_millis;

use crate::alert::Alert;
use metrics::AmCounters;

/// A configuration the notifier cannot run with, or a send that could not be made.
#[derive(Debug, thiserror::Error)]
pub enum NotifierError {
    /// A bad value, named by its YAML path.
    #[error("{key}: {message}")]
    Config {
        /// The YAML path of the offending key (`alerting.alertmanagers[0].tls_config.ca_file`).
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// [`Notifier::new`] was called outside a Tokio runtime.
    #[error("the notifier needs a Tokio runtime to run its send loops")]
    NoRuntime,
}

impl NotifierError {
    pub(crate) fn config(key: impl Into<String>, message: impl Into<String>) -> NotifierError {
        NotifierError::Config {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Sends alerts to one or more Alertmanagers; see the [module docs](self).
#[derive(Debug)]
pub struct Notifier {
    /// The options fixed at start (queue capacity, batch size, drain, user agent); external
    /// labels and the global relabel hook live in `state`, which a reload replaces.
    options: NotifierOptions,
    state: RwLock<State>,
    runtime: tokio::runtime::Handle,
    stop: CancellationToken,
    stopped: AtomicBool,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// What [`Notifier::apply_config`] replaces.
struct State {
    external_labels: BTreeMap<String, String>,
    alert_relabel: Option<RelabelHook>,
    sets: Vec<AmSet>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("external_labels", &self.external_labels)
            .field("alert_relabel", &self.alert_relabel.as_ref().map(|_| "<hook>"))
            .field("sets", &self.sets)
            .finish()
    }
}

/// One `alerting.alertmanagers` entry and the send loops of its targets.
#[derive(Debug)]
struct AmSet {
    config: Arc<AlertmanagerConfig>,
    loops: Vec<Arc<SendLoop>>,
}

/// One Alertmanager: its queue, its counters, the wake-up its task waits on, and the settings
/// its next batch is sent with (replaced by a reload that keeps this Alertmanager).
#[derive(Debug)]
struct SendLoop {
    url: String,
    queue: Mutex<VecDeque<Alert>>,
    has_work: Notify,
    counters: AmCounters,
    target: Mutex<Target>,
    /// Cancelled when the notifier stops or a reload removes this Alertmanager.
    stop: CancellationToken,
}

/// How a send loop reaches its Alertmanager.
#[derive(Clone, Debug)]
struct Target {
    /// The YAML path of its `alerting.alertmanagers` entry, for errors.
    key: String,
    config: Arc<AlertmanagerConfig>,
    client: reqwest::Client,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Notifier {
    /// Checks the configuration and starts one send task per distinct Alertmanager. Must be
    /// called inside a Tokio runtime. `alertmanagers[i]` is named `alerting.alertmanagers[i]`
    /// in errors.
    pub fn new(
        options: NotifierOptions,
        alertmanagers: Vec<AlertmanagerConfig>,
    ) -> Result<Notifier, NotifierError> {
        if options.queue_capacity == 0 {
            return Err(NotifierError::config(
                "--alertmanager.notification-queue-capacity",
                "must be at least 1",
            ));
        }
        if options.max_batch_size == 0 {
            return Err(NotifierError::config(
                "--alertmanager.notification-batch-size",
                "must be at least 1",
            ));
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| NotifierError::NoRuntime)?;
        let notifier = Notifier {
            state: RwLock::new(State {
                external_labels: options.external_labels.clone(),
                alert_relabel: options.alert_relabel.clone(),
                sets: Vec::new(),
            }),
            options,
            runtime,
            stop: CancellationToken::new(),
            stopped: AtomicBool::new(false),
            tasks: Mutex::new(Vec::new()),
        };
        let (external_labels, alert_relabel) = (
            notifier.options.external_labels.clone(),
            notifier.options.alert_relabel.clone(),
        );
        notifier.apply_config(external_labels, alert_relabel, alertmanagers)?;
        Ok(notifier)
    }

    /// Replaces the external labels, the global relabel hook and the Alertmanagers, as
    /// Prometheus's `ApplyConfig` does on a reload: an Alertmanager still configured (same entry
    /// position, same URL) keeps its queue, counters and task and sends its next batch with the
    /// new settings; a new one gets a task; one no longer configured is stopped (its queue drained
    /// or dropped as at shutdown). A bad configuration is refused whole and the old one keeps
    /// running.
    pub fn apply_config(
        &self,
        external_labels: BTreeMap<String, String>,
        alert_relabel: Option<RelabelHook>,
        alertmanagers: Vec<AlertmanagerConfig>,
    ) -> Result<(), NotifierError> {
        // Check and build everything before touching the running state.
        let mut built = Vec::with_capacity(alertmanagers.len());
        for (i, config) in alertmanagers.into_iter().enumerate() {
            let key = format!("alerting.alertmanagers[{i}]");
            config.validate(&key)?;
            let client = tls::build_client(&config, &key)?;
            built.push(Target {
                key,
                config: Arc::new(config),
                client,
            });
        }
        if self.stopped.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        let mut old_sets = std::mem::take(&mut state.sets);
        let mut sets = Vec::with_capacity(built.len());
        for (i, target) in built.into_iter().enumerate() {
            // Within a set, one loop per distinct URL (Prometheus deduplicates discovered targets).
            let mut seen = HashSet::new();
            let mut loops = Vec::new();
            for url in target.config.targets.iter().map(|t| target.config.post_url(t)) {
                if !seen.insert(url.clone()) {
                    continue;
                }
                let kept = old_sets.get_mut(i).and_then(|old| {
                    let at = old.loops.iter().position(|l| l.url == url)?;
                    Some(old.loops.remove(at))
                });
                let send_loop = match kept {
                    Some(send_loop) => {
                        *lock(&send_loop.target) = target.clone();
                        send_loop
                    }
                    None => self.start_loop(url, target.clone()),
                };
                loops.push(send_loop);
            }
            sets.push(AmSet {
                config: target.config.clone(),
                loops,
            });
        }
        for gone in old_sets.iter().flat_map(|s| s.loops.iter()) {
            gone.stop.cancel();
        }
        *state = State {
            external_labels,
            alert_relabel,
            sets,
        };
        Ok(())
    }

    fn start_loop(&self, url: String, target: Target) -> Arc<SendLoop> {
        let send_loop = Arc::new(SendLoop {
            url,
            queue: Mutex::new(VecDeque::new()),
            has_work: Notify::new(),
            counters: AmCounters::default(),
            target: Mutex::new(target),
            stop: self.stop.child_token(),
        });
        let task = SendTask {
            send_loop: send_loop.clone(),
            max_batch_size: self.options.max_batch_size,
            drain_on_shutdown: self.options.drain_on_shutdown,
            user_agent: self.options.user_agent.clone(),
        };
        lock(&self.tasks).push(self.runtime.spawn(task.run()));
        send_loop
    }

    /// Queues `alerts` for every Alertmanager, after adding the external labels and applying the
    /// relabelling (global, then each set's own). Returns at once; a stopped notifier ignores
    /// new alerts, as Prometheus's does.
    pub fn send(&self, alerts: Vec<Alert>) {
        if self.stopped.load(Ordering::Acquire) || alerts.is_empty() {
            return;
        }
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        let alerts = relabel(alerts, &state.external_labels, state.alert_relabel.as_ref());
        if alerts.is_empty() {
            return;
        }
        for set in &state.sets {
            let set_alerts = match &set.config.alert_relabel {
                Some(hook) => relabel(alerts.clone(), &BTreeMap::new(), Some(hook)),
                None => alerts.clone(),
            };
            if set_alerts.is_empty() {
                continue;
            }
            for send_loop in &set.loops {
                send_loop.add(&set_alerts, self.options.queue_capacity);
            }
        }
    }

    /// The URLs alerts are posted to, one per Alertmanager.
    pub fn alertmanagers(&self) -> Vec<String> {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        state
            .sets
            .iter()
            .flat_map(|s| s.loops.iter().map(|l| l.url.clone()))
            .collect()
    }

    /// A snapshot of the `prometheus_notifications_*` figures.
    pub fn metrics(&self) -> NotifierMetrics {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        let alertmanagers: Vec<AlertmanagerMetrics> = state
            .sets
            .iter()
            .flat_map(|s| s.loops.iter())
            .map(|l| {
                let c = &l.counters;
                AlertmanagerMetrics {
                    url: l.url.clone(),
                    sent: c.sent.load(Ordering::Relaxed),
                    errors: c.errors.load(Ordering::Relaxed),
                    dropped: c.dropped.load(Ordering::Relaxed),
                    queue_length: l.len(),
                    latency_buckets: std::array::from_fn(|i| c.latency_buckets[i].load(Ordering::Relaxed)),
                    latency_sum_seconds: c.latency_sum_nanos.load(Ordering::Relaxed) as f64 / 1e9,
                }
            })
            .collect();
        NotifierMetrics {
            queue_capacity: self.options.queue_capacity,
            alertmanagers_discovered: alertmanagers.len(),
            alertmanagers,
        }
    }

    /// Stops accepting alerts and waits for the send tasks: each sends what its queue holds
    /// first when `drain_on_shutdown` is set (every batch bounded by the set's timeout), or
    /// drops and counts it otherwise. A batch being sent when `stop` is called is finished.
    pub async fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        self.stop.cancel();
        let tasks = std::mem::take(&mut *lock(&self.tasks));
        for task in tasks {
            if let Err(err) = task.await {
                tracing::error!(error = %err, "An Alertmanager send task failed.");
            }
        }
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        // The tasks notice and finish on their own (draining if configured) while the runtime lives.
        self.stop.cancel();
    }
}

/// A [`RelabelHook`] running compiled `alert_relabel_configs` ([`crate::relabel`]) over an
/// alert's labels: the alert is dropped when a step drops it.
pub fn relabel_hook(steps: Vec<crate::relabel::Relabeler>) -> RelabelHook {
    Arc::new(move |labels: &mut BTreeMap<String, String>| {
        let before = crate::tsdb::Labels::from_pairs(labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        match crate::relabel::process(&before, &steps) {
            Some(after) => {
                *labels = after
                    .iter()
                    .map(|l| (l.name.as_str().to_string(), l.value.as_str().to_string()))
                    .collect();
                true
            }
            None => false,
        }
    })
}

/// Prometheus's `relabelAlerts`: each external label the alert lacks (or has empty) is added,
/// then the hook may rewrite the labels or drop the alert.
fn relabel(
    alerts: Vec<Alert>,
    external: &BTreeMap<String, String>,
    hook: Option<&RelabelHook>,
) -> Vec<Alert> {
    if external.is_empty() && hook.is_none() {
        return alerts;
    }
    alerts
        .into_iter()
        .filter_map(|mut alert| {
            for (name, value) in external {
                if alert.labels.get(name).is_none_or(|v| v.is_empty()) {
                    alert.labels.insert(name.clone(), value.clone());
                }
            }
            match hook {
                Some(hook) => hook(&mut alert.labels).then_some(alert),
                None => Some(alert),
            }
        })
        .collect()
}

impl SendLoop {
    fn len(&self) -> usize {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Prometheus's `sendLoop.add`: a batch larger than the queue keeps its newest alerts, and a
    /// full queue drops its oldest in favour of the new ones; both are counted as dropped.
    fn add(&self, alerts: &[Alert], capacity: usize) {
        let mut dropped = 0;
        let alerts = if alerts.len() > capacity {
            let d = alerts.len() - capacity;
            tracing::warn!(alertmanager = %self.url, count = d, "Alert batch larger than queue capacity, dropping alerts.");
            dropped += d;
            &alerts[d..]
        } else {
            alerts
        };
        {
            let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            let over = (queue.len() + alerts.len()).saturating_sub(capacity);
            if over > 0 {
                tracing::warn!(alertmanager = %self.url, count = over, "Alert notification queue full, dropping alerts.");
                dropped += over;
                queue.drain(..over);
            }
            queue.extend(alerts.iter().cloned());
        }
        if dropped > 0 {
            self.counters.dropped.fetch_add(dropped as u64, Ordering::Relaxed);
        }
        self.has_work.notify_one();
    }

    fn next_batch(&self, max: usize) -> Vec<Alert> {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let n = queue.len().min(max);
        queue.drain(..n).collect()
    }
}

/// What one send task owns.
struct SendTask {
    send_loop: Arc<SendLoop>,
    max_batch_size: usize,
    drain_on_shutdown: bool,
    user_agent: String,
}

impl SendTask {
    async fn run(self) {
        let stop = self.send_loop.stop.clone();
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                () = self.send_loop.has_work.notified() => {}
            }
            self.send_one_batch().await;
            if self.send_loop.len() > 0 {
                self.send_loop.has_work.notify_one();
            }
        }
        if self.drain_on_shutdown {
            while self.send_loop.len() > 0 {
                self.send_one_batch().await;
            }
        } else {
            let left = self.send_loop.next_batch(usize::MAX).len();
            if left > 0 {
                tracing::warn!(alertmanager = %self.send_loop.url, count = left, "Alert notification queue not drained on shutdown, dropping alerts.");
                self.send_loop
                    .counters
                    .dropped
                    .fetch_add(left as u64, Ordering::Relaxed);
            }
        }
    }

    async fn send_one_batch(&self) {
        let batch = self.send_loop.next_batch(self.max_batch_size);
        if batch.is_empty() {
            return;
        }
        let counters = &self.send_loop.counters;
        let n = batch.len() as u64;
        let begin = Instant::now();
        match self.post(&batch).await {
            Ok(()) => {
                counters.observe_latency(begin.elapsed().as_secs_f64());
                counters.sent.fetch_add(n, Ordering::Relaxed);
            }
            Err(err) => {
                tracing::error!(alertmanager = %self.send_loop.url, count = n, error = %err, "Error sending alerts.");
                counters.errors.fetch_add(n, Ordering::Relaxed);
                counters.dropped.fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    /// One `POST`; any 2xx is success (Prometheus's `sendOne`).
    async fn post(&self, batch: &[Alert]) -> Result<(), String> {
        let target = lock(&self.send_loop.target).clone();
        let mut request = target
            .client
            .post(&self.send_loop.url)
            .timeout(target.config.timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::USER_AGENT, &self.user_agent)
            .body(payload::encode(batch));
        let key = &target.key;
        match &target.config.auth {
            Some(Auth::Basic { username, password }) => {
                let password = password
                    .read(&format!("{key}.basic_auth.password_file"))
                    .map_err(|e| e.to_string())?;
                request = request.basic_auth(username, Some(password));
            }
            Some(Auth::Authorization { kind, credentials }) => {
                let credentials = credentials
                    .read(&format!("{key}.authorization.credentials_file"))
                    .map_err(|e| e.to_string())?;
                request = request.header(reqwest::header::AUTHORIZATION, format!("{kind} {credentials}"));
            }
            None => {}
        }
        let response = request.send().await.map_err(|err| error_chain(&err))?;
        let status = response.status();
        if status.is_success() {
            // Read the body so the connection can be reused; its content does not matter.
            let _ = response.bytes().await;
            return Ok(());
        }
        // Prometheus reports only the status; the start of the body says why (bad labels, auth).
        let body = response.text().await.unwrap_or_default();
        let body: String = body.trim().chars().take(256).collect();
        if body.is_empty() {
            Err(format!("bad response status {status}"))
        } else {
            Err(format!("bad response status {status}: {body}"))
        }
    }
}

/// An error with its sources, so "error sending request" says that the connection was refused.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
