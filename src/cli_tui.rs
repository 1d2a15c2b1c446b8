//! `burnwatch tui`: the dashboard against any Prometheus-compatible API, secured or not.
//!
//! A server behind basic auth or TLS (Prometheus's `--web.config.file`, `burnwatch serve
//! --web.config.file`, a reverse proxy) is reached with [`ClientAuthArgs`]: `--username`,
//! `--password-file`, `--ca-file`, `--insecure-skip-verify`, the command-line form of the
//! `basic_auth` and `tls_config` a Prometheus scrape or remote-write configuration holds.
//! `slo status --prometheus-url` takes the same flags.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use burnwatch_slo::api::client::{ClientOptions, Endpoint, QueryKind};
use burnwatch_tui::fetch::{DEFAULT_COLLECTOR_JOB, HttpBackend};
use burnwatch_tui::model::Backend as _;
use burnwatch_tui::run::RunOptions;
use clap::Args;
use tokio_util::sync::CancellationToken;

use crate::cli_up::{cancel_on_signal, load_slos, prom_duration, runtime};

#[derive(Debug, Args)]
pub struct TuiArgs {
    /// The Prometheus-compatible API to read (a real Prometheus, `burnwatch serve`, `burnwatch up`).
    #[arg(long, default_value = "http://127.0.0.1:9090", value_name = "URL")]
    prometheus_url: String,
    #[command(flatten)]
    auth: ClientAuthArgs,
    /// SLO specs: a file or a directory of them (default: the bundled demo specs).
    #[arg(long, value_name = "PATH")]
    slos: Option<PathBuf>,
    /// The scrape job holding the collector's own `otelcol_*` metrics.
    #[arg(long, default_value = DEFAULT_COLLECTOR_JOB)]
    collector_job: String,
    /// How often to refresh.
    #[arg(long, default_value = "5s", value_parser = prom_duration)]
    refresh: Duration,
    /// Longest a query may take.
    #[arg(long, default_value = "30s", value_parser = prom_duration)]
    timeout: Duration,
    /// Print one snapshot and exit: the SLO table as text, or everything with --json.
    #[arg(long)]
    once: bool,
    /// With --once: print every view's data as JSON.
    #[arg(long, requires = "once")]
    json: bool,
}

/// How to get into a secured Prometheus-compatible API.
#[derive(Debug, Clone, Default, Args)]
pub struct ClientAuthArgs {
    /// Basic-auth user name for the API (the password comes from --password-file).
    #[arg(long, value_name = "USER")]
    username: Option<String>,
    /// A file holding the basic-auth password (a trailing newline is ignored), as Prometheus's
    /// `basic_auth.password_file`.
    #[arg(long, value_name = "FILE", requires = "username")]
    password_file: Option<PathBuf>,
    /// PEM CA certificates to trust for an https:// URL instead of the system's roots (the
    /// server's own self-signed certificate works too).
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// Accept any certificate from an https:// server: the traffic is encrypted but the server
    /// is not authenticated.
    #[arg(long)]
    insecure_skip_verify: bool,
}

impl ClientAuthArgs {
    /// The API at `url`, reached with these flags.
    ///
    /// # Errors
    ///
    /// The password or CA file cannot be read or holds no certificate.
    pub fn endpoint(&self, url: &str) -> anyhow::Result<Endpoint> {
        let options = ClientOptions::from_files(
            self.username.clone(),
            self.password_file.as_deref(),
            self.ca_file.as_deref(),
            self.insecure_skip_verify,
        )?;
        Ok(Endpoint::new(url, &options)?)
    }
}

pub fn run_tui(args: TuiArgs) -> anyhow::Result<ExitCode> {
    let slos = load_slos(args.slos.as_deref())?;
    let endpoint = args.auth.endpoint(&args.prometheus_url)?;
    let backend = Arc::new(HttpBackend::new(
        endpoint.clone(),
        slos,
        args.timeout,
        &args.collector_job,
    ));
    let runtime = runtime()?;
    if args.once {
        // A script reading `--once` must see an unreachable server (or refused credentials) fail,
        // not a table of errors exiting 0 (issue #12): ask the server one trivial query first.
        let now = QueryKind::Instant {
            time: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        };
        let probe = endpoint.query("vector(1)", &now, args.timeout);
        runtime
            .block_on(probe)
            .with_context(|| format!("--prometheus-url {} does not answer queries", args.prometheus_url))?;
        // The detail of the SLO the dashboard selects first: the one with the least budget.
        let mut snap = runtime.block_on(backend.snapshot(None));
        if let Some(first) = snap.slos.first().map(|s| s.id.clone()) {
            snap = runtime.block_on(backend.snapshot(Some(&first)));
        }
        let text = if args.json {
            let mut s = serde_json::to_string_pretty(&snap).context("cannot encode the snapshot")?;
            s.push('\n');
            s
        } else {
            crate::cli_slo_eval::slo_table(&snap.slos, &snap.errors)
        };
        crate::output::print(&text)?;
        return Ok(ExitCode::SUCCESS);
    }
    let shutdown = CancellationToken::new();
    let signals = runtime.spawn(cancel_on_signal(shutdown.clone()));
    let options = RunOptions {
        refresh: args.refresh,
        title: format!("burnwatch tui — {}", args.prometheus_url),
    };
    let result = burnwatch_tui::run::run(backend, None, options, shutdown.clone(), runtime.handle().clone());
    shutdown.cancel();
    signals.abort();
    result.context("the terminal failed")?;
    Ok(ExitCode::SUCCESS)
}
