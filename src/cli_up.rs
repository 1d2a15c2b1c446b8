//! `burnwatch up`: the whole pipeline in one process (`burnwatch tui`, the dashboard alone, is in
//! `cli_tui`).
//!
//! `up` starts, in this order: the durable store (its directory lock stops a second `up` before
//! anything binds), the collector, the store's scrapes of the collector's Prometheus exporters and
//! its self-telemetry, the Prometheus-compatible API, the demo traffic when asked, then the
//! dashboard (or, with `--headless`, a loop that logs SLO alerts as they start and stop firing).
//! Shutdown runs the other way: the demo flushes its SDK, the collector flushes its batches, the
//! scrapes and the API stop, and the store writes its snapshot.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use burnwatch_collector::otelcol::Config;
use burnwatch_collector::service::Collector;
use burnwatch_slo::api::client::{ClientOptions, Endpoint};
use burnwatch_slo::api::{self, ApiState};
use burnwatch_slo::ingest::scrape::{PromDuration, ScrapeConfig, StaticConfig};
use burnwatch_slo::ingest::{self, ScrapeConfigFile};
use burnwatch_slo::notifier::{AlertmanagerConfig, Notifier, NotifierOptions};
use burnwatch_slo::promql::EngineOptions;
use burnwatch_slo::rules::manager::AlertSink;
use burnwatch_slo::rules::{ManagerOptions, RuleManager};
use burnwatch_slo::shared::SharedStorage;
use burnwatch_slo::slo::SloSpec;
use burnwatch_slo::slo::rules::GenerateOptions;
use burnwatch_slo::slo::spec::{self, windows_spec};
use burnwatch_slo::tsdb::persist::{DurableStore, PersistOptions};
use burnwatch_tui::fetch::{DEFAULT_COLLECTOR_JOB, HttpBackend};
use burnwatch_tui::model::{Backend, DemoKnob};
use burnwatch_tui::run::RunOptions;
use clap::Args;
use tokio_util::sync::CancellationToken;

use crate::demo::{self, DemoControl, DemoOptions};

/// The SLO specs `up` and `tui` use without `--slos`: the demo checkout service's, written
/// against what the collector exports from its OpenTelemetry metrics. Embedded, so the binary
/// works from any directory.
const BUNDLED_SLOS: [(&str, &str); 3] = [
    (
        "examples/demo-slos/checkout-sloth.yaml",
        include_str!("../examples/demo-slos/checkout-sloth.yaml"),
    ),
    (
        "examples/demo-slos/payment-openslo.yaml",
        include_str!("../examples/demo-slos/payment-openslo.yaml"),
    ),
    (
        "examples/demo-slos/payment-latency-spanmetrics.yaml",
        include_str!("../examples/demo-slos/payment-latency-spanmetrics.yaml"),
    ),
];

/// The job the collector's Prometheus exporters are scraped under. Their series keep their own
/// `job` and `instance` (`honor_labels`), as the OTel Collector's documentation advises.
const EXPORTER_JOB: &str = "otelcol-prometheus-exporter";

/// The collector configuration `up` runs without `--config`: the collector's embedded default
/// (OTLP on localhost:4317/4318, Prometheus exposition on localhost:8889), with spans routed
/// through the spanmetrics connector into the metrics pipeline, so SLOs can be defined on the
/// services' traces alone (`traces_span_metrics_*`, as otelcol-contrib names them; the bundled
/// `payment-latency` SLO is one). Flushed every 15 s, the store's scrape interval, rather than
/// otelcol's 60 s, so the dashboard sees spans within a scrape or two.
const UP_COLLECTOR_CONFIG: &str = "\
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: localhost:4317
      http:
        endpoint: localhost:4318
processors:
  memory_limiter:
    check_interval: 1s
    limit_mib: 512
  batch: {}
connectors:
  spanmetrics:
    metrics_flush_interval: 15s
exporters:
  prometheus:
    endpoint: localhost:8889
  debug:
    verbosity: basic
extensions:
  health_check:
    endpoint: localhost:13133
service:
  extensions: [health_check]
  telemetry:
    metrics:
      address: localhost:8888
  pipelines:
    traces:
      receivers: [otlp]
      processors: [memory_limiter, batch]
      exporters: [spanmetrics]
    metrics:
      receivers: [otlp, spanmetrics]
      processors: [memory_limiter, batch]
      exporters: [prometheus]
    logs:
      receivers: [otlp]
      processors: [memory_limiter, batch]
      exporters: [debug]
";

#[derive(Debug, Args)]
pub struct UpArgs {
    /// An OTel Collector-style YAML configuration for the collector (default: the embedded one:
    /// OTLP on localhost:4317/4318, Prometheus exposition on localhost:8889, spans through the
    /// spanmetrics connector into the metrics).
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Directory for the store's write-ahead log and snapshots (created if missing), and, with
    /// the dashboard, the log file `burnwatch.log`. One process per directory.
    #[arg(long, default_value = "./burnwatch-data", value_name = "DIR")]
    data_dir: PathBuf,
    /// Remove data older than the newest sample minus this.
    #[arg(long, default_value = "35d", value_parser = prom_duration, alias = "storage.tsdb.retention.time")]
    retention: Duration,
    /// Address for the Prometheus-compatible HTTP API.
    #[arg(long, default_value = "127.0.0.1:9090", value_name = "HOST:PORT")]
    listen: String,
    /// Prometheus's web configuration file (exporter-toolkit format) for the API, as `serve`
    /// takes it. The dashboard gets in with a credential only this process knows and trusts the
    /// server's own certificate; `--demo` is refused with `basic_auth_users` or
    /// `tls_server_config` (it sends to the API over plain HTTP without credentials).
    #[arg(long = "web.config.file", value_name = "FILE")]
    web_config_file: Option<PathBuf>,
    /// Regex for the origins allowed to read the API from a browser (CORS), anchored at both
    /// ends, as `serve` and Prometheus take it; the default `.*` allows any origin.
    #[arg(long = "web.cors.origin", default_value = api::cors::DEFAULT_ORIGIN, value_name = "REGEX")]
    web_cors_origin: String,
    /// SLO specs: a Sloth or OpenSLO file, or a directory of them (`*.yaml`, `*.yml`; a Sloth
    /// `AlertWindows` file among them replaces the alert window table). Default: the bundled
    /// specs of the demo checkout service.
    #[arg(long, value_name = "PATH")]
    slos: Option<PathBuf>,
    /// Run the built-in demo: a checkout service instrumented with OpenTelemetry sending to the
    /// collector, with drifting errors and latency and occasional spikes.
    #[arg(long)]
    demo: bool,
    /// No dashboard (the sidecar mode): logs go to stderr, SLO alerts are logged as they start
    /// and stop firing.
    #[arg(long)]
    headless: bool,
    /// How often the store scrapes the collector.
    #[arg(long, default_value = "15s", value_parser = prom_duration)]
    scrape_interval: Duration,
    /// A Prometheus configuration file (`prometheus.yml`) whose `scrape_configs` are scraped
    /// beside up's own jobs, as `serve --config` runs them (relabelling, file_sd, auth, TLS,
    /// limits; `global` sets their defaults). `rule_files`, `alerting` and `remote_write` are
    /// refused (up evaluates its SLOs itself): run such a file with `serve --config`.
    #[arg(long = "prometheus-config", value_name = "FILE")]
    prometheus_config: Option<PathBuf>,
    /// An Alertmanager (API v2) to send the alerts of the SLOs' generated rules to, such as
    /// `http://127.0.0.1:9093` (a path after the host is its path prefix). Repeat it for an
    /// Alertmanager cluster: every one gets every alert, as from Prometheus.
    #[arg(long = "alertmanager", value_name = "URL")]
    alertmanagers: Vec<String>,
    /// A Prometheus remote-write 1.0 endpoint (Prometheus's `/api/v1/write`, Mimir's
    /// `/api/v1/push`, VictoriaMetrics' `/api/v1/write`, ...) to forward every sample the store
    /// takes to: scraped, remote-written in, imported and recorded by the SLO rules, as
    /// Prometheus's `remote_write` does. Repeatable.
    #[arg(long = "remote-write", value_name = "URL")]
    remote_writes: Vec<String>,
    /// How often the SLOs' generated recording and alerting rules (`slo generate`'s) are
    /// evaluated in process; Prometheus's `evaluation_interval`. `/api/v1/rules` and
    /// `/api/v1/alerts` report them.
    #[arg(long, default_value = "30s", value_parser = prom_duration)]
    evaluation_interval: Duration,
    /// How often the dashboard (or the headless alert log) re-evaluates.
    #[arg(long, default_value = "5s", value_parser = prom_duration)]
    refresh: Duration,
    /// How long to wait at shutdown for batches to flush.
    #[arg(long, default_value = "10s", value_parser = prom_duration)]
    shutdown_timeout: Duration,
    /// Log level (`RUST_LOG` overrides it).
    #[arg(long, default_value = "info")]
    log_level: String,
    #[command(flatten)]
    label_limits: crate::cli_serve::LabelLimitArgs,
    #[command(flatten)]
    features: crate::cli_serve::FeatureArgs,
}

pub(crate) fn prom_duration(s: &str) -> Result<Duration, String> {
    burnwatch_slo::api::params::parse_prometheus_duration_ms(s)
        .and_then(|ms| u64::try_from(ms).ok())
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("{s:?} is not a positive duration such as 5s, 15s or 1m"))
}

/// Loads the SLO specs from `path` (a file or a directory), or the bundled ones.
pub fn load_slos(path: Option<&Path>) -> anyhow::Result<Vec<SloSpec>> {
    let period = Duration::from_secs(30 * 86_400);
    let mut specs = Vec::new();
    let mut tables = Vec::new();
    let mut add = |name: &str, text: &str| -> anyhow::Result<()> {
        if text
            .lines()
            .any(|l| l.trim_start().starts_with("kind:") && l.contains("AlertWindows"))
        {
            tables.push(windows_spec::parse_str(text, name)?);
        } else {
            specs.extend(spec::parse_str_with(text, name, period)?);
        }
        Ok(())
    };
    match path {
        None => {
            for (name, text) in BUNDLED_SLOS {
                add(name, text)?;
            }
        }
        Some(p) if p.is_dir() => {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("cannot read --slos {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .collect();
            files.sort();
            if files.is_empty() {
                bail!(
                    "--slos {}: no *.yaml or *.yml files in the directory",
                    p.display()
                );
            }
            for f in files {
                let text =
                    std::fs::read_to_string(&f).with_context(|| format!("cannot read {}", f.display()))?;
                add(&f.display().to_string(), &text)?;
            }
        }
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("cannot read --slos {}", p.display()))?;
            add(&p.display().to_string(), &text)?;
        }
    }
    windows_spec::apply(&mut specs, &tables)?;
    if specs.is_empty() {
        bail!("no SLOs in the specs given");
    }
    Ok(specs)
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

pub fn run_up(args: UpArgs) -> anyhow::Result<ExitCode> {
    let config = match &args.config {
        Some(path) => Config::from_file(path)?,
        None => Config::from_yaml(UP_COLLECTOR_CONFIG).context("the embedded collector configuration")?,
    };
    let slos = load_slos(args.slos.as_deref())?;
    let mut web = match &args.web_config_file {
        Some(path) => api::web_config::WebConfig::load(path)?,
        None => api::web_config::WebConfig::default(),
    };
    if (web.requires_auth() || web.tls().is_some()) && args.demo {
        // The demo sends its history and DORA events to this API without credentials: rather
        // than start it to be refused with 401, say so.
        bail!(
            "--web.config.file with basic_auth_users or tls_server_config cannot be used with \
             --demo: the demo sends its history and DORA events to the API over plain HTTP \
             without credentials"
        );
    }
    // The dashboard is a client of this process's own API: a credential only this process
    // knows, and trust in exactly the server's own certificate.
    let dashboard_client = if args.headless {
        ClientOptions::default()
    } else {
        own_api_client(&mut web, args.web_config_file.as_deref())?
    };
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create --data-dir {}", args.data_dir.display()))?;
    if args.headless {
        crate::cli_collector::init_logging(&args.log_level);
    } else {
        // The dashboard owns the terminal: logs go to a file beside the data.
        init_file_logging(&args.data_dir.join("burnwatch.log"), &args.log_level)?;
    }
    let durable = DurableStore::open(
        &args.data_dir,
        PersistOptions {
            retention: args.retention,
            ..PersistOptions::default()
        },
    )
    .with_context(|| format!("in --data-dir {}", args.data_dir.display()))?;
    let r = durable.recovery();
    tracing::info!(data_dir = %args.data_dir.display(), series = r.series, samples = r.samples,
        "Opened the store.");
    let store = durable.storage();
    args.features.apply_to_store(&store);
    let runtime = runtime()?;
    let shutdown = CancellationToken::new();
    let started = runtime.block_on(start(&args, &slos, config, web, store.clone(), shutdown.clone()));
    let mut parts = match started {
        Ok(p) => p,
        Err(e) => {
            let _ = durable.shutdown();
            return Err(e);
        }
    };
    let signals = runtime.spawn(cancel_on_signal(shutdown.clone()));
    let ui_result = if args.headless {
        ewriteln!(
            "burnwatch up: API on {}, collector OTLP on {}; Ctrl-C or SIGTERM stops it.",
            parts.api_url,
            parts.otlp_grpc
        );
        runtime.block_on(watch_alerts(
            parts.rule_manager.clone(),
            args.refresh,
            shutdown.clone(),
        ));
        Ok(())
    } else {
        let endpoint = Endpoint::new(&parts.api_url, &dashboard_client)
            .context("cannot set up the dashboard's client of the API")?;
        let backend: Arc<dyn Backend> = Arc::new(HttpBackend::new(
            endpoint,
            slos,
            Duration::from_secs(30),
            DEFAULT_COLLECTOR_JOB,
        ));
        let knob = parts.demo_control.clone().map(|k| k as Arc<dyn DemoKnob>);
        let options = RunOptions {
            refresh: args.refresh,
            title: format!("burnwatch up — {}", parts.api_url),
        };
        burnwatch_tui::run::run(backend, knob, options, shutdown.clone(), runtime.handle().clone())
    };
    shutdown.cancel();
    signals.abort();
    runtime.block_on(parts.stop(args.shutdown_timeout));
    drop(runtime);
    let snap = durable.shutdown().context("cannot write the shutdown snapshot")?;
    tracing::info!(snapshot = %snap.path.display(), series = snap.series, samples = snap.samples,
        "Wrote the shutdown snapshot.");
    ui_result.context("the terminal failed")?;
    ewriteln!(
        "burnwatch up stopped; {} series kept in {}.",
        snap.series,
        args.data_dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// How `up`'s dashboard gets into its own API under `--web.config.file`: a process credential
/// added to `web`'s users when it requires basic auth, and the server's own certificate
/// (`tls_server_config.cert_file`, relative to the config file) trusted as it is, whatever
/// names it carries.
fn own_api_client(
    web: &mut api::web_config::WebConfig,
    path: Option<&Path>,
) -> anyhow::Result<ClientOptions> {
    let mut options = ClientOptions::default();
    if let Some((user, password)) = web.add_process_credential()? {
        options.username = Some(user);
        options.password = Some(password);
    }
    if let (Some(tls), Some(path)) = (&web.tls_server_config, path) {
        let cert = path.parent().unwrap_or(Path::new(".")).join(&tls.cert_file);
        // The file was read a moment ago to build the server; read again for the client.
        let pem = std::fs::read(&cert)
            .with_context(|| format!("cannot read tls_server_config.cert_file {}", cert.display()))?;
        options.ca_pem = Some(pem);
    }
    Ok(options)
}

/// Reads `up --prometheus-config`: its scrape jobs join up's own. The sections `up` does not run
/// are refused by name rather than ignored, and so are job names up uses itself.
fn load_prometheus_config(path: &Path) -> anyhow::Result<ScrapeConfigFile> {
    let cfg =
        ScrapeConfigFile::load(path).with_context(|| format!("in --prometheus-config {}", path.display()))?;
    let unsupported = [
        ("rule_files", !cfg.rule_files.is_empty()),
        (
            "alerting",
            !cfg.alerting.alertmanagers.is_empty() || !cfg.alerting.alert_relabel_configs.is_empty(),
        ),
        ("remote_write", !cfg.remote_write.is_empty()),
    ];
    for (key, set) in unsupported {
        if set {
            bail!(
                "in --prometheus-config {}: {key}: up takes only global and scrape_configs from this file \
                 (it evaluates its SLOs itself); run a file with {key} with `burnwatch serve --config`",
                path.display()
            );
        }
    }
    for (i, job) in cfg.scrape_configs.iter().enumerate() {
        if job.job_name == EXPORTER_JOB || job.job_name == DEFAULT_COLLECTOR_JOB {
            bail!(
                "in --prometheus-config {}: scrape_configs[{i}].job_name: {:?} is a job up scrapes itself; \
                 choose another name",
                path.display(),
                job.job_name
            );
        }
    }
    Ok(cfg)
}

/// What `/api/v1/status/flags`, `runtimeinfo` and the CORS headers report for `up`:
/// Prometheus's flag names where the meaning is the same (the engine's settings are the
/// defaults `up` runs with), then up's own flags.
fn status_info(args: &UpArgs, info: &mut api::status::ServerInfo) -> anyhow::Result<()> {
    use burnwatch_slo::promconfig::PromDuration;
    info.cors = api::cors::CorsOrigin::new(&args.web_cors_origin).map_err(anyhow::Error::msg)?;
    info.storage_retention = PromDuration(args.retention).to_string();
    let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
    let dur = |d: Duration| PromDuration(d).to_string();
    let engine = EngineOptions::default();
    let flags = [
        ("web.listen-address", args.listen.clone()),
        ("web.config.file", path(&args.web_config_file)),
        ("web.cors.origin", args.web_cors_origin.clone()),
        ("config.file", path(&args.prometheus_config)),
        ("storage.tsdb.path", args.data_dir.display().to_string()),
        ("storage.tsdb.retention.time", dur(args.retention)),
        ("query.timeout", dur(engine.timeout)),
        ("query.max-samples", engine.max_samples.to_string()),
        ("query.lookback-delta", dur(engine.lookback_delta)),
        ("enable-feature", args.features.enable_feature.join(",")),
        ("log.level", args.log_level.clone()),
        ("config", path(&args.config)),
        ("slos", path(&args.slos)),
        ("demo", args.demo.to_string()),
        ("headless", args.headless.to_string()),
        ("scrape-interval", dur(args.scrape_interval)),
        ("evaluation-interval", dur(args.evaluation_interval)),
        ("alertmanager", args.alertmanagers.join(",")),
        ("remote-write", args.remote_writes.join(",")),
        ("refresh", dur(args.refresh)),
        ("shutdown-timeout", dur(args.shutdown_timeout)),
    ];
    info.flags = Arc::new(flags.into_iter().map(|(k, v)| (k.to_string(), v)).collect());
    Ok(())
}

/// What `up` started, to stop in reverse.
struct Running {
    collector: Option<burnwatch_collector::service::RunningCollector>,
    demo: Option<demo::DemoHandle>,
    demo_control: Option<Arc<DemoControl>>,
    scrapes: tokio::task::JoinHandle<()>,
    rules: tokio::task::JoinHandle<()>,
    /// The SLOs' generated rules, evaluated in process: the headless alert log reads its alerts.
    rule_manager: RuleManager,
    notifier: Option<Arc<Notifier>>,
    remote_writes: Vec<Arc<burnwatch_remote::Client>>,
    api: tokio::task::JoinHandle<std::io::Result<()>>,
    api_url: String,
    otlp_grpc: String,
}

impl Running {
    async fn stop(&mut self, timeout: Duration) {
        if let Some(d) = self.demo.take() {
            d.stop().await;
        }
        if let Some(c) = self.collector.take() {
            c.shutdown(timeout).await;
        }
        let _ = (&mut self.scrapes).await;
        let _ = (&mut self.rules).await;
        if let Some(n) = self.notifier.take() {
            // After the rules' last evaluation: what it sent is delivered (or dropped) now.
            n.stop().await;
        }
        // Last: what the scrapes and the rules appended is queued; deliver it within the timeout.
        let deadline = tokio::time::Instant::now() + timeout;
        for c in self.remote_writes.drain(..) {
            let report = c.shutdown(deadline).await;
            if report.dropped > 0 {
                tracing::warn!(
                    requests = report.dropped,
                    "Remote write could not deliver everything before the shutdown timeout."
                );
            }
        }
        match (&mut self.api).await {
            Ok(Err(e)) => tracing::warn!(error = %e, "The API server failed."),
            Err(e) => tracing::warn!(error = %e, "The API server task failed."),
            Ok(Ok(())) => {}
        }
    }
}

async fn start(
    args: &UpArgs,
    slos: &[SloSpec],
    config: Config,
    web: api::web_config::WebConfig,
    store: SharedStorage,
    shutdown: CancellationToken,
) -> anyhow::Result<Running> {
    // A bad --prometheus-config stops the start before anything binds.
    let extra_scrapes = match &args.prometheus_config {
        Some(path) => Some(load_prometheus_config(path)?),
        None => None,
    };
    let prometheus_config = extra_scrapes.clone();
    let remote_writes = start_remote_writes(&args.remote_writes, &store)?;
    // The API first: a busy port fails before anything else starts.
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on --listen {}", args.listen))?;
    let api_addr = listener.local_addr().context("the API listener has no address")?;
    let collector = Collector::start(config)
        .await
        .context("the collector could not start")?;
    let bound = collector.bound().all();
    let host = |a: std::net::SocketAddr| {
        // A wildcard bind is reached on loopback.
        if a.ip().is_unspecified() {
            format!("127.0.0.1:{}", a.port())
        } else {
            a.to_string()
        }
    };
    let exporters: Vec<String> = bound
        .iter()
        .filter(|(label, _)| label.starts_with("exporters.prometheus"))
        .map(|(_, a)| host(*a))
        .collect();
    let telemetry: Vec<String> = bound
        .iter()
        .filter(|(label, _)| label == "service.telemetry.metrics")
        .map(|(_, a)| host(*a))
        .collect();
    let otlp_grpc = bound
        .iter()
        .find(|(label, _)| label.starts_with("receivers.otlp") && label.ends_with(".grpc"))
        .map(|(_, a)| host(*a));
    let interval = PromDuration(args.scrape_interval);
    let job = |name: &str, targets: Vec<String>, honor_labels: bool| ScrapeConfig {
        job_name: name.to_string(),
        scrape_interval: Some(interval),
        scrape_timeout: None,
        metrics_path: "/metrics".to_string(),
        scheme: "http".to_string(),
        honor_labels,
        honor_timestamps: true,
        static_configs: vec![StaticConfig {
            targets,
            labels: Default::default(),
        }],
        ..Default::default()
    };
    let mut scrape_configs = Vec::new();
    if !exporters.is_empty() {
        scrape_configs.push(job(EXPORTER_JOB, exporters, true));
    }
    if !telemetry.is_empty() {
        scrape_configs.push(job(DEFAULT_COLLECTOR_JOB, telemetry, false));
    }
    if scrape_configs.is_empty() {
        tracing::warn!(
            "The collector has no Prometheus exporter and no self-telemetry endpoint: nothing to scrape."
        );
    }
    let scrape_file = match extra_scrapes {
        // The file's jobs, then up's own (their names were checked not to clash).
        Some(mut file) => {
            file.scrape_configs.extend(scrape_configs);
            file
        }
        None => ScrapeConfigFile {
            scrape_configs,
            ..Default::default()
        },
    };
    let scrapes = tokio::spawn(ingest::run_scrapes(scrape_file, store.clone(), shutdown.clone()));
    let mut state = ApiState::new(
        store.clone(),
        args.features.engine_options(EngineOptions::default()),
    );
    // DORA event ids survive restarts through a journal beside the store's data.
    let journal = args.data_dir.join(api::dora::JOURNAL_FILE);
    let scheme = if web.tls().is_some() { "https" } else { "http" };
    let api_url = format!("{scheme}://{}", host(api_addr));
    let (manager, notifier) = slo_rules(args, slos, &api_url, store.clone())?;
    let dora = api::dora::DoraState::with_journal(store, &journal)
        .with_context(|| format!("cannot open the DORA event journal {}", journal.display()))?;
    state.dora = Some(dora);
    state.write_limits = args.label_limits.limits();
    state.rules = Some(manager.clone());
    status_info(args, &mut state.server)?;
    if let (Some(path), Some(cfg)) = (&args.prometheus_config, &prometheus_config) {
        // The status page shows the user's file (up's own jobs are not in it).
        state
            .server
            .config
            .loaded(&std::fs::read_to_string(path).unwrap_or_default(), cfg);
    }
    let rules = tokio::spawn(manager.clone().run(shutdown.clone()));
    let stop = shutdown.clone();
    let api = tokio::spawn(api::serve_with(listener, state, web, async move {
        stop.cancelled().await
    }));
    tracing::info!(endpoint = %api_url, "Serving the Prometheus HTTP API.");

    let (demo, demo_control) = if args.demo {
        let Some(grpc) = &otlp_grpc else {
            bail!("--demo sends OTLP/gRPC, but the collector configuration has no otlp receiver with grpc");
        };
        let control = Arc::new(DemoControl::default());
        let handle = demo::start(
            DemoOptions {
                otlp_endpoint: format!("http://{grpc}"),
                api_url: Some(api_url.clone()),
                ..DemoOptions::default()
            },
            control.clone(),
        )
        .await
        .context("the demo could not start")?;
        (Some(handle), Some(control))
    } else {
        (None, None)
    };
    Ok(Running {
        collector: Some(collector),
        demo,
        demo_control,
        scrapes,
        rules,
        rule_manager: manager,
        notifier,
        remote_writes,
        api,
        api_url,
        otlp_grpc: otlp_grpc.unwrap_or_else(|| "(no gRPC receiver)".to_string()),
    })
}

/// Starts a remote-write client per `--remote-write` URL and puts them behind the store's log
/// (see [`burnwatch_slo::forward`]). Must run inside the runtime.
fn start_remote_writes(
    urls: &[String],
    store: &SharedStorage,
) -> anyhow::Result<Vec<Arc<burnwatch_remote::Client>>> {
    let mut clients = Vec::new();
    for url in urls {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            bail!("--remote-write {url:?}: must start with http:// or https://");
        }
        let mut config = burnwatch_remote::ClientConfig::new(url.clone());
        config.name = format!("remote_write {url}");
        let client = burnwatch_remote::Client::start(config, None)
            .with_context(|| format!("cannot start --remote-write {url}"))?;
        clients.push(Arc::new(client));
    }
    let targets = clients
        .iter()
        .map(|c| burnwatch_slo::forward::Target {
            client: c.clone(),
            relabel: Vec::new(),
            external_labels: Vec::new(),
        })
        .collect();
    let mut guard = store.write().unwrap_or_else(|p| p.into_inner());
    burnwatch_slo::forward::install(&mut guard, targets);
    Ok(clients)
}

/// The rule manager of the SLOs' generated rules (exactly what `slo generate` writes for them),
/// sending their alerts to `--alertmanager`s when there are any. Must run inside the runtime.
fn slo_rules(
    args: &UpArgs,
    slos: &[SloSpec],
    api_url: &str,
    store: SharedStorage,
) -> anyhow::Result<(RuleManager, Option<Arc<Notifier>>)> {
    const SOURCE: &str = "<the SLOs' generated rules>";
    let yaml = burnwatch_slo::slo::rules::to_yaml(slos, &GenerateOptions::default())
        .context("cannot generate the SLOs' rules")?;
    let file = burnwatch_slo::rules::parse_rule_file(SOURCE, &yaml)
        .context("the SLOs' generated rules do not load")?;
    let notifier = if args.alertmanagers.is_empty() {
        None
    } else {
        let targets = args
            .alertmanagers
            .iter()
            .map(|url| AlertmanagerConfig::from_url(url).with_context(|| format!("in --alertmanager {url}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let n = Notifier::new(NotifierOptions::default(), targets).context("cannot start the notifier")?;
        Some(Arc::new(n))
    };
    let sink = notifier
        .clone()
        .map(|n| -> AlertSink { Arc::new(move |alerts| n.send(alerts)) });
    let options = ManagerOptions {
        evaluation_interval: args.evaluation_interval,
        external_url: api_url.to_string(),
        engine: args.features.engine_options(EngineOptions::default()),
        ..ManagerOptions::default()
    };
    Ok((RuleManager::new(vec![file], store, options, sink), notifier))
}

/// The headless alert log: on each tick, the rule manager's firing SLO alerts (what
/// `--alertmanager`s receive) are compared with the last look, and each alert that starts or stops
/// firing is logged with its labels and summary, so a sidecar's logs carry them.
async fn watch_alerts(manager: RuleManager, every: Duration, stop: CancellationToken) {
    use burnwatch_slo::rules::manager::AlertState;
    use burnwatch_slo::slo::rules::{ID_LABEL, SEVERITY_LABEL};
    let mut firing: std::collections::BTreeSet<std::collections::BTreeMap<String, String>> =
        Default::default();
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let label = |labels: &std::collections::BTreeMap<String, String>, name: &str| {
        labels.get(name).cloned().unwrap_or_default()
    };
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let now: Vec<_> = manager
            .alerts()
            .into_iter()
            .filter(|a| a.state == AlertState::Firing)
            .collect();
        for a in now.iter().filter(|a| !firing.contains(&a.labels)) {
            tracing::warn!(alert = %label(&a.labels, "alertname"), slo = %label(&a.labels, ID_LABEL),
                severity = %label(&a.labels, SEVERITY_LABEL), value = a.value,
                summary = %label(&a.annotations, "summary"), labels = ?a.labels,
                "SLO alert firing.");
        }
        let still: std::collections::BTreeSet<_> = now.into_iter().map(|a| a.labels).collect();
        for gone in firing.difference(&still) {
            tracing::info!(alert = %label(gone, "alertname"), slo = %label(gone, ID_LABEL),
                severity = %label(gone, SEVERITY_LABEL), labels = ?gone, "SLO alert resolved.");
        }
        firing = still;
    }
}

/// Cancels `token` on Ctrl-C or SIGTERM (with the dashboard in raw mode, Ctrl-C arrives as a key
/// instead, and the dashboard handles it).
pub(crate) async fn cancel_on_signal(token: CancellationToken) {
    tokio::select! {
        _ = crate::cli_collector::wait_for_signal() => token.cancel(),
        _ = token.cancelled() => {}
    }
}

fn init_file_logging(path: &Path, level: &str) -> anyhow::Result<()> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open the log file {}", path.display()))?;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(crate::cli_collector::log_filter(level))
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        // A failed write (a full disk) is reported with `eprintln!`, over the dashboard.
        .log_internal_errors(false)
        .try_init();
    crate::output::logs_go_to_a_file();
    Ok(())
}
