//! `burnwatch collector`: run or validate a collector configuration.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use burnwatch_collector::otelcol::{Config, DEFAULT_CONFIG};
use burnwatch_collector::service::Collector;
use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct CollectorArgs {
    #[command(subcommand)]
    action: Option<CollectorAction>,
    /// An OTel Collector-style YAML configuration. Without it, the embedded default runs:
    /// OTLP on localhost:4317/4318, Prometheus exposition on localhost:8889.
    #[arg(long, short = 'c', global = true)]
    config: Option<PathBuf>,
    /// How long to wait on SIGTERM / Ctrl-C for batches to flush and queues to drain.
    #[arg(long, default_value = "10s", value_parser = parse_duration, global = true)]
    shutdown_timeout: Duration,
}

#[derive(Debug, Subcommand)]
enum CollectorAction {
    /// Check a configuration and exit: 0 when valid, else the error naming the YAML path.
    Validate,
    /// Print the embedded default configuration.
    PrintDefaultConfig,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    burnwatch_collector::config::parse_go_duration(s)
}

fn load(args: &CollectorArgs) -> anyhow::Result<Config> {
    Ok(match &args.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default_config(),
    })
}

pub fn run(args: CollectorArgs) -> anyhow::Result<ExitCode> {
    match args.action {
        Some(CollectorAction::Validate) => {
            let config = load(&args)?;
            // Open the token, htpasswd and certificate files the config names, as start-up
            // would, so a missing or broken one fails here, naming its key and file.
            config.check_files().map_err(|mut err| {
                err.file = args.config.as_ref().map(|p| p.display().to_string());
                err
            })?;
            for warning in &config.unset_env {
                ewriteln!("warning: {warning}");
            }
            let source = args
                .config
                .as_ref()
                .map_or("the embedded default".to_string(), |p| p.display().to_string());
            println!(
                "{source} is valid: {} pipeline(s), {} receiver(s), {} processor(s), {} exporter(s).",
                config.pipelines.len(),
                config.receivers.len(),
                config.processors.len(),
                config.exporters.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(CollectorAction::PrintDefaultConfig) => {
            crate::output::print(DEFAULT_CONFIG)?;
            Ok(ExitCode::SUCCESS)
        }
        None => {
            let config = load(&args)?;
            init_logging(&config.telemetry.logs.level);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            runtime.block_on(serve(config, args.shutdown_timeout))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn serve(config: Config, shutdown_timeout: Duration) -> anyhow::Result<()> {
    let running = Collector::start(config)
        .await
        .context("the collector could not start")?;
    wait_for_signal().await;
    running.shutdown(shutdown_timeout).await;
    Ok(())
}

/// Waits for Ctrl-C (SIGINT) or SIGTERM, the signal Kubernetes sends a sidecar. Shared by
/// `collector`, `serve` and `up`.
pub(crate) async fn wait_for_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(err) => {
            tracing::warn!(error = %err, "Cannot listen for SIGTERM; only Ctrl-C will stop burnwatch.");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("Received SIGINT."),
        _ = term.recv() => tracing::info!("Received SIGTERM."),
    }
}

/// Logs go to stderr through `tracing`; `RUST_LOG` overrides the configured level.
pub fn init_logging(level: &str) {
    let filter = log_filter(level);
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colour only for a person at a terminal, not in a pod's log stream.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        // tracing-subscriber reports a failed write with `eprintln!`, which panics when stderr
        // is a pipe whose reader went away: a lost log line must not crash a server.
        .log_internal_errors(false)
        .try_init();
}

/// The log filter: `RUST_LOG` when set, else `level`.
pub(crate) fn log_filter(level: &str) -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level))
}
