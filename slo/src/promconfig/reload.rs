//! Running a `prometheus.yml` in `serve`, and reloading it as Prometheus does.
//!
//! [`Reloader::start`] applies a validated config to a [`ScrapeManager`] and starts a
//! [`RuleManager`] over its `rule_files`; [`Reloader::reload`] reads the file again and applies
//! it, on SIGHUP ([`Reloader::reload_on_sighup`]) or `POST /-/reload` ([`lifecycle_routes`]).
//! Reloads run one at a time; a config that does not load (bad YAML, an unsupported key, a rule
//! file that does not parse, an unreadable certificate) changes nothing, is logged, and sets
//! `prometheus_config_last_reload_successful` to 0, as Prometheus's `reloadConfig` does.
//!
//! `/-/reload` answers 403 "Lifecycle API is not enabled." without `--web.enable-lifecycle`,
//! 200 after a successful reload and 500 "failed to reload config: ..." otherwise, as Prometheus.
//! Each load is recorded in the API's [`crate::api::status::ConfigStatus`]: `/metrics` serves the
//! reload gauges from it, `/api/v1/status/config` the file and `runtimeinfo` the outcome.
//!
//! Alerts of the rules go to `alerting.alertmanagers` through a [`Notifier`], replaced on
//! reload (the old one sends what it has queued, then stops).
//!
//! `remote_write` queues are applied as Prometheus applies them ([`super::remote::RemoteWrite`]):
//! unchanged ones keep running, removed ones flush and stop, new ones start from now; a new entry
//! that cannot start fails the reload.
//!
//! Divergence: a changed `global.evaluation_interval` reaches groups without their own interval
//! only after a restart (the rule manager keeps its options), which is logged.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::PrometheusConfig;
use crate::api::ApiState;
use crate::ingest::ScrapeManager;
use crate::notifier::{Notifier, NotifierOptions};
use crate::rules::{ManagerOptions, RuleManager, load_rule_files};

/// The notifier of the current config, swapped on reload; `None` without Alertmanagers.
type NotifierSlot = Arc<std::sync::RwLock<Option<Arc<Notifier>>>>;

/// A notifier for `cfg.alerting` (none when it lists no Alertmanager). Needs a Tokio runtime.
fn build_notifier(cfg: &PrometheusConfig) -> Result<Option<Arc<Notifier>>, String> {
    if cfg.alerting.alertmanagers.is_empty() {
        return Ok(None);
    }
    let (ams, hook) = cfg.alerting.notifier_configs(cfg).map_err(|e| e.to_string())?;
    let opts = NotifierOptions {
        external_labels: cfg.global.external_labels.clone(),
        alert_relabel: hook,
        ..Default::default()
    };
    Notifier::new(opts, ams)
        .map(|n| Some(Arc::new(n)))
        .map_err(|e| e.to_string())
}

/// The `rule_files` patterns resolved against the config file's directory.
pub fn rule_patterns(cfg: &PrometheusConfig) -> Vec<PathBuf> {
    cfg.rule_files.iter().map(|p| cfg.resolve(p)).collect()
}

/// What a reload changes: the scrape pools and the rule groups.
pub struct Reloader {
    path: PathBuf,
    scrapes: Arc<ScrapeManager>,
    rules: RuleManager,
    rules_task: tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    notifier: NotifierSlot,
    evaluation_interval: Duration,
    /// The `remote_write` queues.
    remote_write: super::remote::RemoteWrite,
    lock: tokio::sync::Mutex<()>,
    /// Where loads are recorded for the status endpoints and `/metrics`.
    status: Arc<crate::api::status::ConfigStatus>,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Reloader {
    /// Starts the scrapes and rule evaluation of the first config (already validated), and sets
    /// `state.rules` so `/api/v1/rules` and `/api/v1/alerts` report them.
    pub fn start(
        path: PathBuf,
        cfg: PrometheusConfig,
        scrapes: &Arc<ScrapeManager>,
        state: &mut ApiState,
        shutdown: CancellationToken,
    ) -> Result<Arc<Reloader>, String> {
        let files = load_rule_files(&rule_patterns(&cfg))
            .map_err(|e| format!("in the rule_files of {}: {e}", path.display()))?;
        scrapes
            .apply(&cfg)
            .map_err(|e| format!("in {}: {e}", path.display()))?;
        let opts = ManagerOptions {
            evaluation_interval: cfg.global.evaluation_interval.0,
            external_labels: cfg.global.external_labels.clone(),
            engine: state.engine.clone(),
            ..Default::default()
        };
        let remote_write = super::remote::RemoteWrite::start(&cfg, &state.store)
            .map_err(|e| format!("in {}: {e}", path.display()))?;
        let notifier: NotifierSlot = Arc::new(std::sync::RwLock::new(build_notifier(&cfg)?));
        let slot = notifier.clone();
        let sink: crate::rules::AlertSink = Arc::new(move |alerts| {
            let current = slot.read().unwrap_or_else(|e| e.into_inner()).clone();
            if let Some(n) = current {
                n.send(alerts);
            }
        });
        let rules = RuleManager::new(files, state.store.clone(), opts, Some(sink));
        state.rules = Some(rules.clone());
        let task = tokio::spawn(rules.clone().run(shutdown));
        // The file was read a moment ago to build `cfg`; read again for the status page.
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        state.server.config.loaded(&text, &cfg);
        tracing::info!(
            file = %path.display(),
            jobs = cfg.scrape_configs.len(),
            rule_files = cfg.rule_files.len(),
            "Loaded the configuration file."
        );
        Ok(Arc::new(Reloader {
            path,
            scrapes: scrapes.clone(),
            rules,
            rules_task: tokio::sync::Mutex::new(Some(task)),
            notifier,
            evaluation_interval: cfg.global.evaluation_interval.0,
            remote_write,
            lock: tokio::sync::Mutex::new(()),
            status: state.server.config.clone(),
        }))
    }

    fn load_and_apply(&self) -> Result<Option<Arc<Notifier>>, String> {
        // Read once: the text the status page shows is the one applied.
        let text = std::fs::read_to_string(&self.path)
            .map_err(|e| format!("cannot read {}: {e}", self.path.display()))?;
        let base = self.path.parent().map(std::path::Path::to_path_buf);
        let cfg = PrometheusConfig::parse_in(&text, base)
            .map_err(|e| format!("in {}: {e}", self.path.display()))?;
        let files = load_rule_files(&rule_patterns(&cfg))
            .map_err(|e| format!("in the rule_files of {}: {e}", self.path.display()))?;
        // Started before anything changes, so an entry that cannot start fails the reload.
        let remote_plan = self
            .remote_write
            .prepare(&cfg)
            .map_err(|e| format!("in {}: {e}", self.path.display()))?;
        let notifier = build_notifier(&cfg).map_err(|e| format!("in {}: {e}", self.path.display()))?;
        if let Err(e) = self.scrapes.apply(&cfg) {
            if let Some(n) = notifier {
                tokio::spawn(async move { n.stop().await });
            }
            return Err(format!("in {}: {e}", self.path.display()));
        }
        self.rules.reload(files);
        self.remote_write.apply(remote_plan);
        // The new Alertmanagers take over; the old notifier sends what it has queued and stops.
        let old = std::mem::replace(
            &mut *self.notifier.write().unwrap_or_else(|e| e.into_inner()),
            notifier,
        );
        if cfg.global.evaluation_interval.0 != self.evaluation_interval {
            tracing::warn!(
                "global.evaluation_interval changed; groups without their own interval keep the old one until a restart."
            );
        }
        self.status.loaded(&text, &cfg);
        Ok(old)
    }

    /// Reads the file again and applies it; the error says why nothing changed.
    pub async fn reload(&self) -> Result<(), String> {
        let _one_at_a_time = self.lock.lock().await;
        match self.load_and_apply() {
            Ok(old) => {
                if let Some(n) = old {
                    n.stop().await;
                }
                tracing::info!(file = %self.path.display(), "Completed loading of configuration file.");
                Ok(())
            }
            Err(error) => {
                self.status.failed();
                tracing::error!(file = %self.path.display(), error = %error,
                    "Error reloading the configuration file; the previous one keeps running.");
                Err(error)
            }
        }
    }

    /// Reloads on every SIGHUP until `shutdown`.
    pub async fn reload_on_sighup(self: Arc<Self>, shutdown: CancellationToken) {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(error) => {
                tracing::warn!(error = %error, "Cannot listen for SIGHUP; reload with POST /-/reload instead.");
                return;
            }
        };
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                got = hup.recv() => {
                    if got.is_none() {
                        return;
                    }
                    let _ = self.reload().await;
                }
            }
        }
    }

    /// Waits for the rule manager to stop (after the shutdown token fired).
    pub async fn stopped(&self) {
        if let Some(t) = self.rules_task.lock().await.take() {
            let _ = t.await;
        }
        let notifier = self.notifier.write().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(n) = notifier {
            n.stop().await;
        }
        // Last: what the scrapes and the rules appended is queued; deliver it or keep it for
        // a few seconds, as Prometheus's flush deadline does.
        let deadline = tokio::time::Instant::now() + super::remote::FLUSH_DEADLINE;
        self.remote_write.stop(deadline).await;
    }
}

/// `/api/v1/targets` and `/-/reload` (POST or PUT); `/metrics` is the API's own
/// ([`crate::api::status`]).
pub fn lifecycle_routes(
    scrapes: Arc<ScrapeManager>,
    reloader: Option<Arc<Reloader>>,
    lifecycle: bool,
) -> axum::Router {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let reload = move || {
        let reloader = reloader.clone();
        async move {
            if !lifecycle {
                return (StatusCode::FORBIDDEN, "Lifecycle API is not enabled.\n").into_response();
            }
            let Some(r) = reloader else {
                // No --config: nothing to reload.
                return StatusCode::OK.into_response();
            };
            match r.reload().await {
                Ok(()) => StatusCode::OK.into_response(),
                Err(e) => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("failed to reload config: {e}\n"),
                )
                    .into_response(),
            }
        }
    };
    crate::ingest::targets_api::routes(scrapes.view())
        .route("/-/reload", axum::routing::post(reload.clone()).put(reload))
}
