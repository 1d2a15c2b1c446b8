//! `burnwatch slo`: error-budget arithmetic at the terminal and SLO spec checking.
//!
//! * `budget` — allowed downtime and bad events for an objective over a window.
//! * `burn` — what an error ratio does to the budget: burn rate, time to exhaustion, policy
//!   status, and which alert rows it trips and after how long.
//! * `alerts` — the multiwindow multi-burn-rate table for an objective and period (the
//!   Workbook's, or an `AlertWindows` file with `--windows`).
//! * `validate` — reads Sloth and OpenSLO spec files and lists the SLOs, or the first error of
//!   each broken file (exit 1).
//!
//! Every command prints JSON instead of a table with `--json`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use burnwatch_slo::duration::parse_prometheus_duration_ms;
use burnwatch_slo::slo::math::{self, format_duration, prometheus_duration};
use burnwatch_slo::slo::spec::{self, SpecError, windows_spec};
use burnwatch_slo::slo::{BudgetingMethod, Period, PolicyStatus, Sli, SloSpec, WindowTable};
use clap::{Args, Subcommand};
use serde_json::{Value as Json, json};

use crate::output::print;

/// `burnwatch slo` and its subcommand.
#[derive(Debug, Args)]
pub struct SloArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: SloCommand,
}

/// The `slo` subcommands.
#[derive(Debug, Subcommand)]
pub enum SloCommand {
    /// Allowed downtime and bad-event fraction for an objective over a window.
    Budget(BudgetArgs),
    /// Burn rate, time to budget exhaustion, policy status and the alerts an error ratio trips.
    Burn(BurnArgs),
    /// The multiwindow multi-burn-rate alert table for an objective and period.
    Alerts(AlertsArgs),
    /// Read Sloth or OpenSLO spec files and list their SLOs, or name the error (exit 1).
    Validate(ValidateArgs),
    /// Prometheus recording and alerting rules for the SLOs of spec files, in Sloth's shape.
    Generate(crate::cli_slo_eval::GenerateArgs),
    /// SLIs, burn rates, budget, policy and firing alerts now (or --at T), from loaded files or a
    /// Prometheus server: the values the generated rules record.
    Status(crate::cli_slo_eval::StatusArgs),
}

/// `slo budget`.
#[derive(Debug, Args)]
pub struct BudgetArgs {
    /// The objective in percent, in (0, 100): 99.9.
    #[arg(long, value_name = "PERCENT")]
    objective: f64,
    /// The compliance period: a Prometheus duration such as 30d, 28d or 7d.
    #[arg(long, default_value = "30d")]
    window: String,
    /// Total events in the window, to also print how many may fail.
    #[arg(long, value_name = "N")]
    total_events: Option<u64>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// `slo burn`.
#[derive(Debug, Args)]
pub struct BurnArgs {
    /// The objective in percent, in (0, 100): 99.9.
    #[arg(long, value_name = "PERCENT")]
    objective: f64,
    /// The observed error ratio, in [0, 1]: 0.0144 for 1.44% of requests failing.
    #[arg(long, value_name = "RATIO")]
    error_ratio: f64,
    /// The compliance period (a Prometheus duration).
    #[arg(long)]
    window: Option<String>,
    /// Share of the budget already spent (0.25 = a quarter); over 1 when overspent.
    #[arg(long, value_name = "SHARE", default_value_t = 0.0)]
    consumed: f64,
    /// An AlertWindows file (Sloth's `sloth.slok.dev/v1` format) replacing the Workbook's table.
    #[arg(long, value_name = "FILE")]
    windows: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// `slo alerts`.
#[derive(Debug, Args)]
pub struct AlertsArgs {
    /// The objective in percent, in (0, 100): 99.9.
    #[arg(long, value_name = "PERCENT")]
    objective: f64,
    /// The compliance period (default: the --windows file's sloPeriod, or 30d).
    #[arg(long)]
    window: Option<String>,
    /// An AlertWindows file (Sloth's `sloth.slok.dev/v1` format) replacing the Workbook's table.
    #[arg(long, value_name = "FILE")]
    windows: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// `slo validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Sloth (`version: prometheus/v1`) or OpenSLO (`apiVersion: openslo/v1`) spec files.
    #[arg(long, value_name = "FILE", num_args = 1.., required = true)]
    spec: Vec<PathBuf>,
    /// AlertWindows files (repeatable, one per period); each applies to the SLOs with its period.
    #[arg(long, value_name = "FILE")]
    windows: Vec<PathBuf>,
    /// The period of SLOs whose file sets none (Sloth's --default-slo-period).
    #[arg(long, default_value = "30d")]
    period: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs one `slo` subcommand.
pub fn run(args: SloArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        SloCommand::Budget(a) => budget(&a),
        SloCommand::Burn(a) => burn(&a),
        SloCommand::Alerts(a) => alerts(&a),
        SloCommand::Validate(a) => validate(&a),
        SloCommand::Generate(a) => crate::cli_slo_eval::run_generate(a),
        SloCommand::Status(a) => crate::cli_slo_eval::run_status(a),
    }
}

/// Reads spec files and applies window tables: what every command taking `--spec` needs. The
/// first broken file stops it, with an error naming the file, the SLO and the field.
pub fn load_specs(
    specs: &[PathBuf],
    windows: &[PathBuf],
    default_period: Duration,
) -> anyhow::Result<Vec<SloSpec>> {
    let tables = load_tables(windows)?;
    let mut all = Vec::new();
    for path in specs {
        all.extend(spec::load_file_with(path, default_period)?);
    }
    windows_spec::apply(&mut all, &tables)?;
    Ok(all)
}

fn load_tables(paths: &[PathBuf]) -> anyhow::Result<Vec<windows_spec::WindowsSpec>> {
    paths
        .iter()
        .map(|p| windows_spec::load_file(p).map_err(anyhow::Error::from))
        .collect()
}

/// Parses `--objective` (a percentage) into a ratio.
fn objective(percent: f64) -> anyhow::Result<f64> {
    if !(percent > 0.0 && percent < 100.0) {
        bail!("--objective {percent}: must be in (0, 100), such as 99.9");
    }
    Ok(percent / 100.0)
}

/// Parses a duration flag such as `--window 30d`.
pub fn duration_flag(flag: &str, text: &str) -> anyhow::Result<Duration> {
    match parse_prometheus_duration_ms(text) {
        Some(ms) if ms > 0 => Ok(Duration::from_millis(ms as u64)),
        _ => bail!("{flag} {text:?}: not a positive duration such as 30d, 28d or 7d"),
    }
}

fn budget(a: &BudgetArgs) -> anyhow::Result<ExitCode> {
    let objective = objective(a.objective)?;
    let window = duration_flag("--window", &a.window)?;
    let budget = math::error_budget(objective);
    let downtime = math::allowed_downtime(window, objective);
    let bad_events = a
        .total_events
        .map(|n| math::allowed_bad_events(n as f64, objective));
    if a.json {
        let mut out = json!({
            "objective_percent": a.objective,
            "window": prometheus_duration(window),
            "window_seconds": window.as_secs_f64(),
            "error_budget_ratio": budget,
            "bad_event_fraction": budget,
            "allowed_downtime": format_duration(downtime),
            "allowed_downtime_seconds": downtime.as_secs_f64(),
        });
        if let (Some(n), Some(bad)) = (a.total_events, bad_events) {
            out["total_events"] = json!(n);
            out["allowed_bad_events"] = json!(bad);
        }
        print(&format!("{out:#}\n"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = vec![
        ("objective", format!("{}%", a.objective)),
        ("window", prometheus_duration(window)),
        (
            "error budget",
            format!("{} of events (bad-event fraction {budget})", percent(budget)),
        ),
        ("allowed downtime", format_duration(downtime)),
    ];
    if let (Some(n), Some(bad)) = (a.total_events, bad_events) {
        rows.push(("allowed bad events", format!("{} of {n}", number(bad))));
    }
    print(&key_values(&rows))?;
    Ok(ExitCode::SUCCESS)
}

/// The window table and period for `burn` and `alerts`: `--windows` gives both unless `--window`
/// is set, in which case they must agree (a table is written for one period, as in Sloth).
fn table_and_period(
    window: Option<&str>,
    windows: Option<&PathBuf>,
) -> anyhow::Result<(WindowTable, Duration)> {
    let flag = window.map(|w| duration_flag("--window", w)).transpose()?;
    let Some(path) = windows else {
        return Ok((
            WindowTable::default(),
            flag.unwrap_or(spec::sloth::DEFAULT_PERIOD),
        ));
    };
    let t = windows_spec::load_file(path)?;
    if let Some(p) = flag
        && p != t.slo_period
    {
        bail!(
            "--windows {} is written for a {} period (spec.sloPeriod) but --window is {}; a window table \
             applies only to its own period",
            path.display(),
            prometheus_duration(t.slo_period),
            prometheus_duration(p)
        );
    }
    Ok((t.table, t.slo_period))
}

fn burn(a: &BurnArgs) -> anyhow::Result<ExitCode> {
    let objective = objective(a.objective)?;
    if !(0.0..=1.0).contains(&a.error_ratio) {
        bail!(
            "--error-ratio {}: must be in [0, 1] (0.0144 for 1.44% of events failing)",
            a.error_ratio
        );
    }
    if !(a.consumed.is_finite() && a.consumed >= 0.0) {
        bail!(
            "--consumed {}: must be a share of the budget >= 0 (0.25 for a quarter)",
            a.consumed
        );
    }
    let (table, period) = table_and_period(a.window.as_deref(), a.windows.as_ref())?;
    let budget = math::error_budget(objective);
    let rate = math::burn_rate(a.error_ratio, objective).context("the objective leaves no error budget")?;
    let remaining = 1.0 - a.consumed;
    let exhaustion = math::time_to_exhaustion(remaining, rate, period);
    let status = PolicyStatus::from_consumed(a.consumed);
    let alert_rows: Vec<AlertRow> = table
        .windows
        .iter()
        .map(|w| {
            let threshold = w.burn_rate_threshold(period);
            AlertRow {
                window: *w,
                threshold,
                fires_after: math::time_to_fire(a.error_ratio, objective, w.long, threshold),
            }
        })
        .collect();
    if a.json {
        let out = json!({
            "objective_percent": a.objective,
            "window": prometheus_duration(period),
            "window_seconds": period.as_secs_f64(),
            "error_budget_ratio": budget,
            "error_ratio": a.error_ratio,
            "burn_rate": rate,
            "consumed": a.consumed,
            "remaining": remaining,
            "time_to_exhaustion": exhaustion.map(format_duration),
            "time_to_exhaustion_seconds": exhaustion.map(|d| d.as_secs_f64()),
            "policy_status": status,
            "policy_action": status.map(PolicyStatus::action),
            "alerts": alert_rows.iter().map(|r| json!({
                "severity": r.window.severity,
                "long_window": prometheus_duration(r.window.long),
                "short_window": prometheus_duration(r.window.short),
                "budget_share": r.window.budget_share,
                "burn_rate_threshold": r.threshold,
                "fires": r.fires_after.is_some(),
                "time_to_fire": r.fires_after.map(format_duration),
                "time_to_fire_seconds": r.fires_after.map(|d| d.as_secs_f64()),
            })).collect::<Vec<Json>>(),
        });
        print(&format!("{out:#}\n"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let exhaustion_text = match exhaustion {
        Some(d) if d.is_zero() => "already exhausted".to_string(),
        Some(d) => format!(
            "in {} (at {} with {} of the budget left)",
            format_duration(d),
            times(rate),
            percent(remaining)
        ),
        None => "never at this burn rate".to_string(),
    };
    let status_text = match status {
        Some(s) => format!("{s} ({})", s.action()),
        None => "unknown".to_string(),
    };
    let kv = [
        (
            "objective",
            format!("{}% (error budget {})", a.objective, percent(budget)),
        ),
        ("window", prometheus_duration(period)),
        ("error ratio", percent(a.error_ratio)),
        ("burn rate", times(rate)),
        ("budget consumed", percent(a.consumed)),
        ("budget exhausted", exhaustion_text),
        ("policy", status_text),
    ];
    print(&format!("{}\n", key_values(&kv)))?;
    let mut lines = vec![vec![
        "SEVERITY".to_string(),
        "LONG".into(),
        "SHORT".into(),
        "THRESHOLD".into(),
        "TRIPS".into(),
        "FIRES AFTER".into(),
    ]];
    for r in &alert_rows {
        lines.push(vec![
            r.window.severity.to_string(),
            prometheus_duration(r.window.long),
            prometheus_duration(r.window.short),
            times(r.threshold),
            if r.fires_after.is_some() { "yes" } else { "no" }.into(),
            r.fires_after.map_or_else(|| "-".to_string(), format_duration),
        ]);
    }
    print(&columns(&lines))?;
    Ok(ExitCode::SUCCESS)
}

struct AlertRow {
    window: burnwatch_slo::slo::AlertWindow,
    threshold: f64,
    fires_after: Option<Duration>,
}

fn alerts(a: &AlertsArgs) -> anyhow::Result<ExitCode> {
    let objective = objective(a.objective)?;
    let (table, period) = table_and_period(a.window.as_deref(), a.windows.as_ref())?;
    let budget = math::error_budget(objective);
    let rows: Vec<(burnwatch_slo::slo::AlertWindow, f64, Option<Duration>)> = table
        .windows
        .iter()
        .map(|w| {
            let threshold = w.burn_rate_threshold(period);
            // Detection time at a total outage: the long window fills to the threshold first.
            (
                *w,
                threshold,
                math::time_to_fire(1.0, objective, w.long, threshold),
            )
        })
        .collect();
    if a.json {
        let out = json!({
            "objective_percent": a.objective,
            "window": prometheus_duration(period),
            "window_seconds": period.as_secs_f64(),
            "error_budget_ratio": budget,
            "table": if a.windows.is_some() { "file" } else { "workbook" },
            "alerts": rows.iter().map(|(w, threshold, fire)| json!({
                "severity": w.severity,
                "long_window": prometheus_duration(w.long),
                "short_window": prometheus_duration(w.short),
                "budget_share": w.budget_share,
                "burn_rate_threshold": threshold,
                "error_ratio_threshold": round12(threshold * budget),
                "time_to_fire_at_100_percent": fire.map(format_duration),
                "time_to_fire_at_100_percent_seconds": fire.map(|d| d.as_secs_f64()),
            })).collect::<Vec<Json>>(),
        });
        print(&format!("{out:#}\n"))?;
        return Ok(ExitCode::SUCCESS);
    }
    print(&format!(
        "objective {}% over {} (error budget {}), {} table\n",
        a.objective,
        prometheus_duration(period),
        percent(budget),
        match &a.windows {
            Some(p) => p.display().to_string(),
            None => "the SRE Workbook's".to_string(),
        }
    ))?;
    let mut lines = vec![vec![
        "SEVERITY".to_string(),
        "LONG".into(),
        "SHORT".into(),
        "BUDGET".into(),
        "BURN RATE".into(),
        "ERROR RATIO".into(),
        "FIRES AT 100% ERRORS".into(),
    ]];
    for (w, threshold, fire) in &rows {
        lines.push(vec![
            w.severity.to_string(),
            prometheus_duration(w.long),
            prometheus_duration(w.short),
            percent(w.budget_share),
            times(*threshold),
            percent(threshold * budget),
            fire.map_or_else(|| "never".to_string(), format_duration),
        ]);
    }
    print(&columns(&lines))?;
    Ok(ExitCode::SUCCESS)
}

fn validate(a: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let period = duration_flag("--period", &a.period)?;
    let tables = load_tables(&a.windows)?;
    let mut slos: Vec<SloSpec> = Vec::new();
    let mut errors: Vec<SpecError> = Vec::new();
    for path in &a.spec {
        match spec::load_file_with(path, period) {
            Ok(found) => slos.extend(found),
            Err(e) => errors.push(e),
        }
    }
    if let Err(e) = windows_spec::apply(&mut slos, &tables) {
        errors.push(e);
    }
    let table_of = |s: &SloSpec| {
        tables
            .iter()
            .find(|t| t.slo_period == s.period.length())
            .map_or_else(|| "workbook".to_string(), |t| t.file.clone())
    };
    if a.json {
        let out = json!({
            "valid": errors.is_empty(),
            "slos": slos.iter().map(|s| json!({
                "id": s.id(),
                "service": s.service,
                "name": s.name,
                "objective_percent": s.objective_percent,
                "period": prometheus_duration(s.period.length()),
                "calendar": matches!(s.period, Period::Calendar { .. }),
                "budgeting": budgeting_name(&s.budgeting),
                "sli": sli_name(&s.sli),
                "error_ratio_query": s.sli.error_ratio_expr("{{.window}}"),
                "windows": table_of(s),
                "origin": s.origin,
            })).collect::<Vec<Json>>(),
            "errors": errors.iter().map(|e| json!({
                "file": e.file,
                "path": e.path,
                "message": e.message,
                "error": e.to_string(),
            })).collect::<Vec<Json>>(),
        });
        print(&format!("{out:#}\n"))?;
    } else {
        if !slos.is_empty() {
            let mut lines = vec![vec![
                "ID".to_string(),
                "OBJECTIVE".into(),
                "PERIOD".into(),
                "BUDGETING".into(),
                "SLI".into(),
                "WINDOWS".into(),
                "FROM".into(),
            ]];
            for s in &slos {
                let period = match s.period {
                    Period::Rolling(d) => prometheus_duration(d),
                    Period::Calendar { length, .. } => format!("{} calendar", prometheus_duration(length)),
                };
                lines.push(vec![
                    s.id(),
                    format!("{}%", s.objective_percent),
                    period,
                    budgeting_name(&s.budgeting),
                    sli_name(&s.sli).to_string(),
                    table_of(s),
                    s.origin.clone(),
                ]);
            }
            print(&columns(&lines))?;
        }
        for e in &errors {
            ewriteln!("error: {e}");
        }
        if errors.is_empty() {
            print(&format!(
                "{} SLO(s) in {} file(s): valid\n",
                slos.len(),
                a.spec.len()
            ))?;
        }
    }
    Ok(if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn budgeting_name(b: &BudgetingMethod) -> String {
    match b {
        BudgetingMethod::Occurrences => "occurrences".to_string(),
        BudgetingMethod::Timeslices { slice, slice_target } => {
            format!(
                "timeslices {} >= {}",
                prometheus_duration(*slice),
                percent(*slice_target)
            )
        }
    }
}

fn sli_name(s: &Sli) -> &'static str {
    match s {
        Sli::Events { .. } => "events",
        Sli::Raw { .. } => "raw",
        Sli::Latency { .. } => "latency",
    }
}

/// A ratio as a percentage with up to four significant digits: `0.1%`, `1.344%`, `0.09333%`.
fn percent(ratio: f64) -> String {
    format!("{}%", significant(ratio * 100.0, 4, 12))
}

/// A burn rate with up to four significant digits and three decimals: `14.4×`, `0.933×`.
fn times(rate: f64) -> String {
    format!("{}×", significant(rate, 4, 3))
}

/// A count that may be fractional (allowed bad events): `1000`, `2.5`.
fn number(v: f64) -> String {
    significant(v, 12, 12)
}

/// `v` rounded to `digits` significant digits but at most `max_decimals` decimals, without
/// trailing zeros.
fn significant(v: f64, digits: i32, max_decimals: i32) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let magnitude = v.abs().log10().floor() as i32;
    let decimals = (digits - 1 - magnitude).clamp(0, max_decimals) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn round12(v: f64) -> f64 {
    (v * 1e12).round() / 1e12
}

/// `key   value` lines with the values aligned.
fn key_values(rows: &[(&str, String)]) -> String {
    let width = rows.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
    rows.iter().map(|(k, v)| format!("{k:<width$}  {v}\n")).collect()
}

/// Rows of cells as aligned columns (two spaces apart, no trailing spaces).
fn columns(rows: &[Vec<String>]) -> String {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..n)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            if i + 1 == r.len() {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(widths[i] - cell.chars().count() + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_enough_digits() {
        assert_eq!(percent(0.001), "0.1%");
        assert_eq!(percent(0.01344), "1.344%");
        assert_eq!(percent(0.000933333), "0.09333%");
        assert_eq!(percent(0.25), "25%");
        assert_eq!(times(14.4), "14.4×");
        assert_eq!(times(0.9333333333), "0.933×");
        assert_eq!(times(13.44), "13.44×");
        assert_eq!(times(6.0), "6×");
        assert_eq!(number(1000.0), "1000");
        assert_eq!(number(2.5), "2.5");
    }

    #[test]
    fn columns_align() {
        let rows = vec![vec!["A".to_string(), "BB".into()], vec!["ccc".into(), "d".into()]];
        assert_eq!(columns(&rows), "A    BB\nccc  d\n");
    }
}
