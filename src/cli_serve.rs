//! `burnwatch serve`: the embedded store and PromQL engine behind Prometheus's HTTP API.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use burnwatch_slo::api::{self, ApiState, params};
use burnwatch_slo::ingest::{self, LabelLimits, ScrapeManager, remote_write};
use burnwatch_slo::promconfig::reload::{Reloader, lifecycle_routes, rule_patterns};
use burnwatch_slo::promconfig::{PromDuration, PrometheusConfig};
use burnwatch_slo::promql::EngineOptions;
use burnwatch_slo::shared::{SharedStorage, new_shared};
use burnwatch_slo::tsdb::persist::{DurableStore, PersistOptions};
use clap::Args;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address for the Prometheus-compatible HTTP API.
    #[arg(long, default_value = "127.0.0.1:9090", value_name = "HOST:PORT")]
    listen: String,
    /// Prometheus's web configuration file (exporter-toolkit format): `basic_auth_users` maps
    /// user names to bcrypt hashes, and every endpoint then requires HTTP basic authentication;
    /// `tls_server_config` (`cert_file`, `key_file`) serves HTTPS.
    #[arg(long = "web.config.file", value_name = "FILE")]
    web_config_file: Option<PathBuf>,
    /// An OpenMetrics / Prometheus text file with timestamps to import before serving (the input of
    /// `promtool tsdb create-blocks-from openmetrics`). Repeatable.
    #[arg(long = "load", value_name = "FILE")]
    load: Vec<PathBuf>,
    /// A Prometheus configuration file (`prometheus.yml`): `global`, `scrape_configs`
    /// (`static_configs`, `file_sd_configs`, relabelling, auth, TLS, limits) and `rule_files` run;
    /// a key burnwatch does not support is an error naming it. Reloaded on SIGHUP and on
    /// `POST /-/reload` (with --web.enable-lifecycle). Prometheus's spelling --config.file and
    /// the older --scrape-config work too.
    #[arg(
        long = "config",
        alias = "config.file",
        alias = "scrape-config",
        value_name = "FILE"
    )]
    config: Option<PathBuf>,
    /// Enables `POST /-/reload` (Prometheus's --web.enable-lifecycle); without it the endpoint
    /// answers 403, as in Prometheus.
    #[arg(long = "web.enable-lifecycle")]
    web_enable_lifecycle: bool,
    /// Regex for the origins allowed to read the API from a browser (CORS), anchored at both
    /// ends, as Prometheus's --web.cors.origin: `https?://(grafana|dashboards)\.example\.com`.
    /// The default `.*` allows any origin (`Access-Control-Allow-Origin: *`).
    #[arg(long = "web.cors.origin", default_value = api::cors::DEFAULT_ORIGIN, value_name = "REGEX")]
    web_cors_origin: String,
    /// Directory for durable data (created if missing): a write-ahead log flushed every second
    /// and a snapshot every 5 minutes and on shutdown, so the store survives restarts and
    /// crashes. Without it the store lives in memory only. One process per directory.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// With --data-dir: remove data older than the newest sample minus this (checked every
    /// minute and at startup). Prometheus's spelling --storage.tsdb.retention.time works too.
    #[arg(long, default_value = "35d", value_parser = parse_duration, alias = "storage.tsdb.retention.time")]
    retention: Duration,
    /// Longest a query may run (Prometheus's --query.timeout, which works too).
    #[arg(long, default_value = "2m", value_parser = parse_duration, alias = "query.timeout")]
    query_timeout: Duration,
    /// Most samples a query may hold in memory (Prometheus's --query.max-samples, which works
    /// too).
    #[arg(long, default_value_t = 50_000_000, alias = "query.max-samples")]
    query_max_samples: usize,
    /// How far back an instant selector looks for a sample (Prometheus's --query.lookback-delta,
    /// which works too).
    #[arg(long, default_value = "5m", value_parser = parse_duration, alias = "query.lookback-delta")]
    query_lookback_delta: Duration,
    #[command(flatten)]
    label_limits: LabelLimitArgs,
    #[command(flatten)]
    features: FeatureArgs,
    /// Log level (`RUST_LOG` overrides it).
    #[arg(long, default_value = "info")]
    log_level: String,
}

/// The label limits on remote-written series, shared by `serve` and `up`.
#[derive(Debug, Args)]
pub struct LabelLimitArgs {
    /// Most labels a remote-written series may have, `__name__` included (as Prometheus's
    /// scrape `label_limit`); a request with a series over it gets 400. 0: no limit.
    #[arg(long, default_value_t = remote_write::DEFAULT_LABEL_LIMIT, value_name = "N")]
    label_limit: usize,
    /// Longest label name of a remote-written series, in bytes (Prometheus's
    /// `label_name_length_limit`). 0: no limit.
    #[arg(long, default_value_t = remote_write::DEFAULT_LABEL_NAME_LENGTH_LIMIT, value_name = "BYTES")]
    label_name_length_limit: usize,
    /// Longest label value of a remote-written series, in bytes (Prometheus's
    /// `label_value_length_limit`). 0: no limit.
    #[arg(long, default_value_t = remote_write::DEFAULT_LABEL_VALUE_LENGTH_LIMIT, value_name = "BYTES")]
    label_value_length_limit: usize,
}

/// Prometheus's `--enable-feature` flags that change what queries answer.
#[derive(Debug, Args)]
pub struct FeatureArgs {
    /// Experimental Prometheus features, comma-separated or repeated. Known:
    /// `promql-delayed-name-removal` (Prometheus 3.x: functions and operators drop `__name__` at
    /// the end of the query instead of where they run, so `sum(rate({__name__=~"a|b"}[5m]))`
    /// works), `promql-per-step-stats` (the query API's `stats=all` adds the samples read at
    /// each step), `exemplar-storage` (accepted for Prometheus compatibility: burnwatch always
    /// keeps exemplars). Other names are warned about and ignored, as Prometheus does.
    #[arg(long = "enable-feature", value_name = "FEATURE", value_delimiter = ',')]
    pub(crate) enable_feature: Vec<String>,
    /// Most exemplars kept, across all series, in one ring that overwrites the oldest
    /// (Prometheus's --storage.exemplars.exemplars-limit, same default); 0 keeps none.
    #[arg(long = "storage.exemplars.exemplars-limit", value_name = "N",
        default_value_t = burnwatch_slo::tsdb::exemplars::DEFAULT_EXEMPLARS_LIMIT)]
    pub(crate) exemplars_limit: usize,
}

impl FeatureArgs {
    /// Applies the storage flags (the exemplar limit) to `store`.
    pub fn apply_to_store(&self, store: &SharedStorage) {
        let mut guard = store.write().unwrap_or_else(|p| p.into_inner());
        guard.exemplars_mut().set_limit(self.exemplars_limit);
    }

    /// `opts` with the enabled features, warning about unknown ones.
    pub fn engine_options(&self, mut opts: EngineOptions) -> EngineOptions {
        for f in &self.enable_feature {
            match f.trim() {
                "promql-delayed-name-removal" => opts.delayed_name_removal = true,
                "promql-per-step-stats" => opts.per_step_stats = true,
                // Exemplars are always kept (tsdb::exemplars), so the flag changes nothing.
                "exemplar-storage" => {}
                "" => {}
                other => tracing::warn!(feature = other, "Unknown option for --enable-feature; ignored."),
            }
        }
        opts
    }
}

impl LabelLimitArgs {
    /// The limits as the API takes them.
    pub fn limits(&self) -> LabelLimits {
        LabelLimits {
            label_limit: self.label_limit,
            label_name_length_limit: self.label_name_length_limit,
            label_value_length_limit: self.label_value_length_limit,
        }
    }
}

/// The command line as `/api/v1/status/flags` shows it: Prometheus's flag names where the meaning
/// is the same (`web.listen-address`, `storage.tsdb.path`, `query.timeout`, ...), values as
/// Prometheus prints them (durations as `2m`, unset paths empty), then burnwatch's own flags.
fn status_flags(args: &ServeArgs) -> Vec<(String, String)> {
    let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
    let dur = |d: Duration| PromDuration(d).to_string();
    let limits = &args.label_limits;
    [
        ("web.listen-address", args.listen.clone()),
        ("web.config.file", path(&args.web_config_file)),
        ("web.enable-lifecycle", args.web_enable_lifecycle.to_string()),
        ("web.cors.origin", args.web_cors_origin.clone()),
        ("config.file", path(&args.config)),
        ("storage.tsdb.path", path(&args.data_dir)),
        ("storage.tsdb.retention.time", dur(args.retention)),
        ("query.timeout", dur(args.query_timeout)),
        ("query.max-samples", args.query_max_samples.to_string()),
        ("query.lookback-delta", dur(args.query_lookback_delta)),
        ("enable-feature", args.features.enable_feature.join(",")),
        ("log.level", args.log_level.clone()),
        (
            "load",
            args.load
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(","),
        ),
        ("label-limit", limits.label_limit.to_string()),
        (
            "label-name-length-limit",
            limits.label_name_length_limit.to_string(),
        ),
        (
            "label-value-length-limit",
            limits.label_value_length_limit.to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    params::parse_prometheus_duration_ms(s)
        .and_then(|ms| u64::try_from(ms).ok())
        .map(Duration::from_millis)
        .ok_or_else(|| format!("{s:?} is not a duration such as 30s, 5m or 1h30m"))
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    crate::cli_collector::init_logging(&args.log_level);
    // A bad web config fails before the store is opened.
    let web = match &args.web_config_file {
        Some(path) => api::web_config::WebConfig::load(path)?,
        None => api::web_config::WebConfig::default(),
    };
    let durable = match &args.data_dir {
        Some(dir) => Some(open_durable(dir, args.retention)?),
        None => None,
    };
    let store = durable.as_ref().map_or_else(new_shared, DurableStore::storage);
    args.features.apply_to_store(&store);
    load_files(&store, &args.load)?;
    if let Some(d) = &durable
        && !args.load.is_empty()
    {
        // The import is one batch: on disk (in the OS) before the server answers. (Without
        // --load nothing is flushed here: a store opened read-only on a full disk still serves.)
        d.flush().context("after --load")?;
    }
    let config = match &args.config {
        Some(path) => {
            let cfg =
                PrometheusConfig::load(path).with_context(|| format!("in --config {}", path.display()))?;
            // Rule files are checked before anything starts, as Prometheus refuses to start.
            burnwatch_slo::rules::load_rule_files(&rule_patterns(&cfg))
                .with_context(|| format!("in the rule_files of --config {}", path.display()))?;
            Some((path.clone(), cfg))
        }
        None => None,
    };
    let engine = args.features.engine_options(EngineOptions {
        lookback_delta: args.query_lookback_delta,
        max_samples: args.query_max_samples,
        timeout: args.query_timeout,
        ..EngineOptions::default()
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let durable_note = durable.is_some();
    let mut state = ApiState::new(store.clone(), engine);
    if let Some(dir) = &args.data_dir {
        // DORA event ids survive restarts through a journal beside the store's data.
        let path = dir.join(api::dora::JOURNAL_FILE);
        let dora = api::dora::DoraState::with_journal(store, &path)
            .with_context(|| format!("cannot open the DORA event journal {}", path.display()))?;
        state.dora = Some(dora);
    }
    state.write_limits = args.label_limits.limits();
    state.server.cors = api::cors::CorsOrigin::new(&args.web_cors_origin).map_err(anyhow::Error::msg)?;
    state.server.flags = std::sync::Arc::new(status_flags(&args));
    if args.data_dir.is_some() {
        state.server.storage_retention = PromDuration(args.retention).to_string();
    }
    let lifecycle = args.web_enable_lifecycle;
    runtime.block_on(serve(args.listen, state, web, config, lifecycle, durable_note))?;
    if let Some(d) = durable {
        let dir = d.dir().display().to_string();
        let snap = d
            .shutdown()
            .with_context(|| format!("cannot write the shutdown snapshot in --data-dir {dir}"))?;
        tracing::info!(snapshot = %snap.path.display(), bytes = snap.bytes, series = snap.series,
            samples = snap.samples, "Wrote the shutdown snapshot.");
    }
    Ok(ExitCode::SUCCESS)
}

/// Opens the data directory and logs what was recovered from it.
fn open_durable(dir: &std::path::Path, retention: Duration) -> anyhow::Result<DurableStore> {
    let options = PersistOptions {
        retention,
        ..PersistOptions::default()
    };
    let d = DurableStore::open(dir, options).with_context(|| format!("in --data-dir {}", dir.display()))?;
    let r = d.recovery();
    let from = match &r.snapshot {
        Some(p) => format!("{} and {} WAL segments", p.display(), r.segments),
        None if r.segments > 0 => format!("{} WAL segments (no snapshot yet)", r.segments),
        None => "nothing (a new data directory)".to_string(),
    };
    tracing::info!(
        data_dir = %dir.display(),
        wal_records = r.wal_records,
        truncated_segments = r.truncated.len(),
        retention_dropped_samples = r.retention.samples,
        elapsed_ms = r.elapsed.as_millis() as u64,
        "Recovered {} series and {} samples from {from}.", r.series, r.samples
    );
    Ok(d)
}

/// Imports each file; a file that does not import stops the start, naming the file and line.
fn load_files(store: &SharedStorage, files: &[PathBuf]) -> anyhow::Result<()> {
    for path in files {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read --load {}", path.display()))?;
        let mut guard = store.write().unwrap_or_else(|p| p.into_inner());
        let stats = ingest::import_text(&mut guard, &text)
            .with_context(|| format!("in --load {}", path.display()))?;
        tracing::info!(
            file = %path.display(),
            samples = stats.samples,
            series = stats.series,
            min_time_ms = ?stats.min_t,
            max_time_ms = ?stats.max_t,
            "Loaded the file."
        );
    }
    Ok(())
}

async fn serve(
    listen: String,
    state: ApiState,
    web: api::web_config::WebConfig,
    config: Option<(PathBuf, PrometheusConfig)>,
    lifecycle: bool,
    durable: bool,
) -> anyhow::Result<()> {
    let mut state = state;
    let store = state.store.clone();
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr().map_or(listen.clone(), |a| a.to_string());
    let scheme = if web.tls().is_some() { "https" } else { "http" };
    let shutdown = CancellationToken::new();
    let scrapes = ScrapeManager::new(store.clone(), shutdown.clone());
    let reloader = match config {
        Some((path, cfg)) => Some(
            Reloader::start(path, cfg, &scrapes, &mut state, shutdown.clone())
                .map_err(|e| anyhow::anyhow!(e))?,
        ),
        None => None,
    };
    state.extra_routes = Some(lifecycle_routes(scrapes.clone(), reloader.clone(), lifecycle));
    if let Some(r) = reloader.clone() {
        tokio::spawn(r.reload_on_sighup(shutdown.clone()));
    }
    if durable {
        tracing::info!(endpoint = %format!("{scheme}://{addr}"), "Serving the Prometheus HTTP API.");
    } else {
        tracing::info!(
            endpoint = %format!("{scheme}://{addr}"),
            "Serving the Prometheus HTTP API. The store is in memory only (use --data-dir to keep it)."
        );
    }
    let stop = shutdown.clone();
    let server = api::serve_with(listener, state, web, async move {
        crate::cli_collector::wait_for_signal().await;
        stop.cancel();
    });
    server.await.context("the HTTP server failed")?;
    shutdown.cancel();
    scrapes.wait().await;
    if let Some(r) = reloader {
        r.stopped().await;
    }
    tracing::info!("Stopped.");
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        features: super::FeatureArgs,
    }

    fn options(args: &[&str]) -> burnwatch_slo::promql::EngineOptions {
        Cli::try_parse_from(std::iter::once("serve").chain(args.iter().copied()))
            .unwrap()
            .features
            .engine_options(Default::default())
    }

    #[test]
    fn enable_feature_turns_on_delayed_name_removal() {
        assert!(
            !options(&[]).delayed_name_removal,
            "off by default, as in Prometheus"
        );
        assert!(options(&["--enable-feature=promql-delayed-name-removal"]).delayed_name_removal);
        assert!(
            options(&["--enable-feature", "exemplar-storage,promql-delayed-name-removal"])
                .delayed_name_removal
        );
        assert!(!options(&["--enable-feature=no-such-feature"]).delayed_name_removal);
    }
}
