//! `burnwatch`: the command line that wires the collector, the SLO engine and the
//! dashboard. It stays thin: parsing arguments, setting up logging, and calling the
//! library crates.

// First: its `ewriteln!`/`ewrite!` macros are used by the modules after it.
#[macro_use]
mod output;
mod alloc;
mod cli_collector;
mod cli_dora;
mod cli_learn;
mod cli_promql;
mod cli_serve;
mod cli_slo;
mod cli_slo_eval;
mod cli_tui;
mod cli_up;
mod demo;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A small OpenTelemetry Collector-compatible pipeline and SLO tool.
#[derive(Debug, Parser)]
#[command(name = "burnwatch", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the OpenTelemetry Collector-compatible sidecar (OTLP in, Prometheus/OTLP out).
    Collector(cli_collector::CollectorArgs),
    /// Serve the embedded time-series store and PromQL engine over Prometheus's HTTP API.
    Serve(cli_serve::ServeArgs),
    /// Practise PromQL: run a query, run test scripts, or (without a subcommand) an interactive shell.
    Promql(cli_promql::PromqlArgs),
    /// DORA metrics from deployment and incident events: a report with tiers, or series to load.
    Dora(cli_dora::DoraArgs),
    /// SLO arithmetic and specs: budgets, burn rates, the alert window table, spec validation.
    Slo(cli_slo::SloArgs),
    /// Everything in one process: the collector, the store scraping it, the API on :9090, the SLO
    /// engine and the burn-rate dashboard (`--demo` adds traffic, `--headless` drops the dashboard).
    Up(cli_up::UpArgs),
    /// The burn-rate dashboard against any Prometheus-compatible API.
    Tui(cli_tui::TuiArgs),
    /// Practice for the CNPE exam: graded PromQL, SLO-math, DORA and collector-config exercises
    /// (`list`, `show N`, `check N ANSWER`, `exam`; without a subcommand, the practice view).
    Learn(cli_learn::LearnArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A quiet exit(0) on a closed stdout only for the commands that print results: a server
    // (`collector`, `serve`, `up`) must never end on a panic hook's exit(0), which would skip its
    // flushes and the store's snapshot.
    let prints_results = matches!(
        cli.command,
        Command::Promql(_) | Command::Dora(_) | Command::Slo(_) | Command::Tui(_) | Command::Learn(_)
    );
    output::install_panic_hook(prints_results);
    if !prints_results {
        alloc::start_background_purge();
    }
    let result = match cli.command {
        Command::Collector(args) => cli_collector::run(args),
        Command::Serve(args) => cli_serve::run(args),
        Command::Promql(args) => cli_promql::run(args),
        Command::Dora(args) => cli_dora::run(args),
        Command::Slo(args) => cli_slo::run(args),
        Command::Up(args) => cli_up::run_up(args),
        Command::Tui(args) => cli_tui::run_tui(args),
        Command::Learn(args) => cli_learn::run(args),
    };
    match result {
        Ok(code) => code,
        // The reader went away (`burnwatch dora export | head`): it has what it wanted.
        Err(err) if output::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            ewriteln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
