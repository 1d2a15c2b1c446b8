//! `burnwatch dora`: DORA metrics from a JSON-lines file of deployment and incident events.
//! `report` prints the five metrics and their DORA 2024 tiers (a table, or JSON with --json);
//! with `--prometheus-url` instead of `--events` it reads them from the `dora_*` series of a
//! Prometheus-compatible server, as the dashboard's DORA view does (the same numbers: both run
//! `burnwatch_slo::dora::query`), with the window before and the weekly values;
//! `export` prints the `dora_*` series as OpenMetrics text with timestamps.
//!
//! Bad lines are skipped and named on stderr as `FILE:LINE: reason`; the exit code stays 0 as
//! long as the file could be read, so a report over a log with a few broken lines still comes
//! out. An unreadable file or a bad flag exits 1.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use burnwatch_slo::api::params;
use burnwatch_slo::dora::{self, EventLog, SeriesWriter, Window, query};
use burnwatch_slo::slo::status::HttpSource;
use burnwatch_slo::tsdb::Labels;
use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct DoraArgs {
    #[command(subcommand)]
    action: DoraAction,
}

#[derive(Debug, Subcommand)]
enum DoraAction {
    /// Print deployment frequency, lead time, change failure rate, recovery time and rework rate
    /// over a window, each with the DORA 2024 tier it supports.
    Report(ReportArgs),
    /// Print the dora_* series as OpenMetrics text with timestamps (for `burnwatch serve --load`
    /// or `promtool tsdb create-blocks-from openmetrics`).
    Export(ExportArgs),
}

#[derive(Debug, Args)]
struct ReportArgs {
    /// JSON-lines file of deployment and incident events.
    #[arg(long, value_name = "FILE", required_unless_present = "prometheus_url")]
    events: Option<PathBuf>,
    /// Read the metrics from the dora_* series of this Prometheus-compatible server instead (such
    /// as http://localhost:9090): what the dashboard's DORA view shows. Counts are exact, medians
    /// are interpolated within the histogram buckets.
    #[arg(long, value_name = "URL", conflicts_with_all = ["events", "service"])]
    prometheus_url: Option<String>,
    /// Credentials and TLS trust for a secured --prometheus-url (as `tui` takes them).
    #[command(flatten)]
    auth: crate::cli_tui::ClientAuthArgs,
    /// Length of the window ending at --at: a Prometheus duration such as 30d, 4w or 90d.
    #[arg(long, default_value = "30d")]
    window: String,
    /// End of the window: RFC 3339 or Unix seconds (default: now).
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// Only this service's events.
    #[arg(long)]
    service: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ExportArgs {
    /// JSON-lines file of deployment and incident events.
    #[arg(long, value_name = "FILE")]
    events: PathBuf,
}

pub fn run(args: DoraArgs) -> anyhow::Result<ExitCode> {
    match args.action {
        DoraAction::Report(r) => report(&r),
        DoraAction::Export(e) => export(&e),
    }
}

/// Reads the events file, printing each skipped line to stderr as `FILE:LINE: reason`.
fn read_events(path: &Path) -> anyhow::Result<EventLog> {
    // Bytes, not a string: a line that is not UTF-8 is reported and skipped like any bad line.
    let bytes = std::fs::read(path).with_context(|| format!("cannot read --events {}", path.display()))?;
    let (log, errors) = dora::parse_jsonl_bytes(&bytes);
    for e in &errors {
        ewriteln!("{}:{}: {}", path.display(), e.position.number(), e.reason);
    }
    if !errors.is_empty() {
        ewriteln!(
            "{}: skipped {} bad line(s), kept {} event(s)",
            path.display(),
            errors.len(),
            log.len()
        );
    }
    Ok(log)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn report(args: &ReportArgs) -> anyhow::Result<ExitCode> {
    let Some(length) = params::parse_prometheus_duration_ms(&args.window) else {
        bail!(
            "--window {:?} is not a duration such as 7d, 30d or 12w",
            args.window
        );
    };
    let end = match &args.at {
        Some(s) => params::parse_time(s).map_err(|e| anyhow::anyhow!("--at: {e}"))?,
        None => now_ms(),
    };
    let window = Window::new(end, length).with_context(|| format!("--window {}", args.window))?;
    if let Some(url) = &args.prometheus_url {
        return report_from_series(args, url, end, length);
    }
    let Some(events) = &args.events else {
        bail!("give --events FILE (an events file) or --prometheus-url URL (a server with dora_* series)");
    };
    let log = read_events(events)?;
    let report = dora::compute(&log, window, args.service.as_deref());
    if args.json {
        crate::output::print(&format!("{}\n", report.to_json()))?;
    } else {
        crate::output::print(&report.to_table())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// How long one query to `--prometheus-url` may take (as `slo status`): longer than Prometheus's
/// default query timeout, so the server's own timeout answers first.
const QUERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(130);

/// `dora report --prometheus-url`: the metrics from the server's dora_* series. A query that
/// fails is named on stderr and the exit code is 1.
fn report_from_series(args: &ReportArgs, url: &str, end: i64, length_ms: i64) -> anyhow::Result<ExitCode> {
    let endpoint = args.auth.endpoint(url)?;
    let source = HttpSource::new(&endpoint, QUERY_TIMEOUT);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let window = std::time::Duration::from_millis(u64::try_from(length_ms).unwrap_or(0));
    let (report, errors) = runtime.block_on(query::from_series(&source, end, window));
    if args.json {
        let text = serde_json::to_string_pretty(&report).context("cannot write the report as JSON")?;
        crate::output::print(&format!("{text}\n"))?;
    } else {
        crate::output::print(&report.to_table())?;
    }
    for e in &errors {
        ewriteln!("error: {}", e.to_string().replace('\n', " "));
    }
    Ok(if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn export(args: &ExportArgs) -> anyhow::Result<ExitCode> {
    let log = read_events(&args.events)?;
    let mut writer = SeriesWriter::new();
    let batch = writer.write(&log, &|_: &Labels| None);
    // One batch into an empty writer: the only refusals left would be time-order ones, which a
    // single sorted batch cannot produce; report them anyway rather than hide them.
    for e in &batch.errors {
        ewriteln!("{}:{}: {}", args.events.display(), e.position.number(), e.reason);
    }
    crate::output::print(&dora::to_openmetrics(&batch.samples))?;
    Ok(ExitCode::SUCCESS)
}
