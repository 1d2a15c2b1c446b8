//! `burnwatch slo generate` (Prometheus rules in Sloth's shape) and `burnwatch slo status` (the
//! values those rules record, computed now from the raw series, with the alerts that fire).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use burnwatch_slo::api::params;
use burnwatch_slo::api::params::format_rfc3339 as rfc3339;
use burnwatch_slo::promql::Engine;
use burnwatch_slo::slo::SloSpec;
use burnwatch_slo::slo::burndown;
use burnwatch_slo::slo::rule_alerts;
use burnwatch_slo::slo::rules::{self, GenerateOptions};
use burnwatch_slo::slo::status::{
    self, DataState, EngineSource, HttpSource, SliSource, SloStatus, format_burn, format_percent,
};
use burnwatch_slo::tsdb::Storage;
use clap::Args;

use crate::cli_slo;

/// How long one query to `--prometheus-url` may take: longer than Prometheus's default query
/// timeout (2 minutes), so the server's own timeout answers first.
const QUERY_TIMEOUT: Duration = Duration::from_secs(130);

/// `burnwatch slo generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Sloth (`version: prometheus/v1`) or OpenSLO (`apiVersion: openslo/v1`) spec files.
    #[arg(long, value_name = "FILE", num_args = 1.., required = true)]
    spec: Vec<PathBuf>,
    /// AlertWindows files (repeatable, one per period); each applies to the SLOs with its period.
    #[arg(long, value_name = "FILE")]
    windows: Vec<PathBuf>,
    /// The period of SLOs whose file sets none (Sloth's --default-slo-period).
    #[arg(long, default_value = "30d")]
    period: String,
    /// Write the rules to FILE instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Write the rule file as JSON (Prometheus reads JSON rule files too) instead of YAML.
    #[arg(long)]
    json: bool,
    /// `prometheus`: a Prometheus rule file; `prometheusrule`: the same groups wrapped as the
    /// Prometheus Operator's `monitoring.coreos.com/v1` PrometheusRule (Sloth's `--kubernetes`).
    #[arg(long, value_enum, default_value_t = RulesFormat::Prometheus)]
    format: RulesFormat,
    /// The PrometheusRule's `metadata.name` (default `burnwatch-slo-<service>`).
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// The PrometheusRule's `metadata.namespace` (default: none, the current context's).
    #[arg(long, value_name = "NAMESPACE")]
    namespace: Option<String>,
    /// A label for the PrometheusRule's metadata (repeatable), such as the one the Prometheus
    /// Operator's `ruleSelector` matches: `--label release=prometheus`.
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
    labels: Vec<(String, String)>,
}

/// What `slo generate` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RulesFormat {
    /// A Prometheus rule file (`groups:`).
    Prometheus,
    /// A `monitoring.coreos.com/v1` PrometheusRule holding the same groups.
    #[value(name = "prometheusrule")]
    PrometheusRule,
}

/// Parses `--label KEY=VALUE`, naming what is wrong.
fn parse_label(text: &str) -> Result<(String, String), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not KEY=VALUE"))?;
    if key.is_empty() {
        return Err(format!("{text:?} has an empty key"));
    }
    Ok((key.to_string(), value.to_string()))
}

/// `burnwatch slo status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Sloth (`version: prometheus/v1`) or OpenSLO (`apiVersion: openslo/v1`) spec files.
    #[arg(long, value_name = "FILE", num_args = 1.., required = true)]
    spec: Vec<PathBuf>,
    /// AlertWindows files (repeatable, one per period); each applies to the SLOs with its period.
    #[arg(long, value_name = "FILE")]
    windows: Vec<PathBuf>,
    /// The period of SLOs whose file sets none (Sloth's --default-slo-period).
    #[arg(long, default_value = "30d")]
    period: String,
    /// An OpenMetrics / Prometheus text file with timestamps to evaluate over (repeatable).
    #[arg(long = "load", value_name = "FILE", conflicts_with = "prometheus_url")]
    load: Vec<PathBuf>,
    /// Ask this Prometheus-compatible server instead (such as http://localhost:9090).
    #[arg(long, value_name = "URL")]
    prometheus_url: Option<String>,
    /// Credentials and TLS trust for a secured --prometheus-url (as `tui` takes them).
    #[command(flatten)]
    auth: crate::cli_tui::ClientAuthArgs,
    /// Evaluation time: RFC 3339 or Unix seconds (default: the newest loaded sample, or now).
    #[arg(long, value_name = "T")]
    at: Option<String>,
    /// Print JSON (one object per SLO, `null` where there is no number) instead of tables.
    #[arg(long)]
    json: bool,
}

/// The SLOs of the spec files, with the same `--windows` / `--period` handling as the other `slo`
/// commands.
fn load(spec: &[PathBuf], windows: &[PathBuf], period: &str) -> anyhow::Result<Vec<SloSpec>> {
    let period = cli_slo::duration_flag("--period", period)?;
    cli_slo::load_specs(spec, windows, period)
}

/// Runs `slo generate`.
pub fn run_generate(args: GenerateArgs) -> anyhow::Result<ExitCode> {
    let slos = load(&args.spec, &args.windows, &args.period)?;
    let opts = GenerateOptions::default();
    let text = match args.format {
        RulesFormat::Prometheus
            if args.name.is_some() || args.namespace.is_some() || !args.labels.is_empty() =>
        {
            bail!("--name, --namespace and --label describe a PrometheusRule: add --format prometheusrule")
        }
        RulesFormat::Prometheus if args.json => {
            let mut s = rules::to_json(&slos, &opts)?;
            s.push('\n');
            s
        }
        RulesFormat::Prometheus => rules::to_yaml(&slos, &opts)?,
        RulesFormat::PrometheusRule => {
            let labels = args.labels.iter().cloned().collect();
            let rule = rules::prometheus_rule(
                &slos,
                &opts,
                args.name.as_deref(),
                args.namespace.as_deref(),
                &labels,
            )?;
            if args.json {
                let mut s = rules::prometheus_rule_json(&rule)?;
                s.push('\n');
                s
            } else {
                rules::prometheus_rule_yaml(&rule, &opts)?
            }
        }
    };
    match &args.output {
        Some(path) => {
            std::fs::write(path, &text).with_context(|| format!("cannot write {}", path.display()))?;
            ewriteln!(
                "wrote {} rule groups for {} SLOs to {}",
                rules::rule_file(&slos, &opts).groups.len(),
                slos.len(),
                path.display()
            );
        }
        None => crate::output::print(&text)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `slo status`.
pub fn run_status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let slos = load(&args.spec, &args.windows, &args.period)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let at_flag = match &args.at {
        Some(t) => Some(
            params::parse_time(t).map_err(|e| anyhow::anyhow!("--at: {e} (use RFC 3339 or Unix seconds)"))?,
        ),
        None => None,
    };
    // With --json each SLO also carries its burndown (the dashboard's chart and sparkline).
    let (statuses, burndowns) = match (args.load.is_empty(), &args.prometheus_url) {
        (true, None) => {
            bail!("give --load FILE (data to evaluate) or --prometheus-url URL (a server to ask)")
        }
        (false, Some(_)) => bail!("give either --load FILE or --prometheus-url URL, not both"),
        (true, Some(url)) => {
            let endpoint = args.auth.endpoint(url)?;
            let source = HttpSource::new(&endpoint, QUERY_TIMEOUT);
            let at = at_flag.unwrap_or_else(now_ms);
            let mut statuses = runtime.block_on(status::evaluate(&slos, &source as &dyn SliSource, at));
            // Now (no --at), the server's rule evaluator says what fires, if it holds the SLOs'
            // alerting rules: what Alertmanager receives, `for` and all.
            if at_flag.is_none() {
                match runtime.block_on(rule_alerts::fetch(&endpoint, QUERY_TIMEOUT)) {
                    Ok(rules) => rules.apply(&mut statuses),
                    Err(e) => ewriteln!(
                        "warning: cannot read {url}'s alerting rules ({e}); the alerts shown are computed from the SLIs"
                    ),
                }
            }
            let burndowns = if args.json {
                runtime.block_on(burndown::burndowns(&slos, &statuses, &source, at))
            } else {
                BTreeMap::new()
            };
            (statuses, burndowns)
        }
        (false, None) => {
            let mut store = Storage::new();
            let mut newest: Option<i64> = None;
            for path in &args.load {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read --load {}", path.display()))?;
                let stats = burnwatch_slo::ingest::import_text(&mut store, &text)
                    .with_context(|| format!("in --load {}", path.display()))?;
                newest = newest.max(stats.max_t);
            }
            let at = at_flag.or(newest).unwrap_or_else(now_ms);
            let source = EngineSource::new(Engine::default(), &store);
            let statuses = runtime.block_on(status::evaluate(&slos, &source as &dyn SliSource, at));
            let burndowns = if args.json {
                runtime.block_on(burndown::burndowns(&slos, &statuses, &source, at))
            } else {
                BTreeMap::new()
            };
            (statuses, burndowns)
        }
    };
    if args.json {
        crate::output::print(&format!("{}\n", burndown::status_json(&statuses, &burndowns)))?;
    } else {
        crate::output::print(&render(&statuses))?;
    }
    let failed: Vec<&SloStatus> = statuses.iter().filter(|s| s.error.is_some()).collect();
    for s in &failed {
        if !args.json {
            ewriteln!("error: {}: {}", s.id, s.error.as_deref().unwrap_or(""));
        }
    }
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The dashboard's SLO table as text (`burnwatch tui --once`): one line per SLO, least budget
/// first as given, with the burn rate over every alert window and the firing alerts.
pub fn slo_table(statuses: &[SloStatus], errors: &[String]) -> String {
    let windows: Vec<String> = statuses
        .iter()
        .flat_map(|s| {
            s.windows
                .iter()
                .filter(|w| !w.period)
                .map(|w| (w.seconds, w.window.clone()))
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|(_, w)| w)
        .collect();
    let mut header: Vec<String> = ["SERVICE", "SLO", "OBJECTIVE", "SLI", "BUDGET LEFT", "POLICY"]
        .map(String::from)
        .to_vec();
    header.extend(windows.iter().map(|w| format!("BURN {w}")));
    header.push("FIRING".to_string());
    let mut rows = vec![header];
    for s in statuses {
        let period = s.windows.iter().find(|w| w.period);
        let sli = period.and_then(|w| w.error_ratio).map(|r| 1.0 - r);
        let mut row = vec![
            s.service.clone(),
            s.slo.clone(),
            format_percent(Some(s.objective)),
            if s.error.is_some() {
                "error".to_string()
            } else {
                format_percent(sli)
            },
            format_percent(s.budget_remaining),
            s.policy.map_or("N/A".to_string(), |p| p.to_string()),
        ];
        for w in &windows {
            let burn = s
                .windows
                .iter()
                .find(|x| &x.window == w)
                .and_then(|x| x.burn_rate);
            row.push(format_burn(burn));
        }
        let firing: Vec<String> = s
            .alerts
            .iter()
            .filter(|a| a.firing)
            .map(|a| format!("{} ({})", a.name, a.severity))
            .collect();
        row.push(if firing.is_empty() {
            "-".to_string()
        } else {
            firing.join(", ")
        });
        rows.push(row);
    }
    let mut out = table(&rows, "");
    for s in statuses {
        if let Some(e) = &s.error {
            let _ = writeln!(out, "{}: {}", s.id, e.lines().next().unwrap_or_default());
        }
    }
    for e in errors {
        let _ = writeln!(out, "error: {e}");
    }
    out
}

/// Left-aligned columns, two spaces apart.
fn table(rows: &[Vec<String>], indent: &str) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = indent.to_string();
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == r.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}  ", w = widths[c]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn no_number(state: DataState) -> &'static str {
    match state {
        DataState::Ok => "",
        DataState::NoTraffic => "no traffic",
        DataState::NoData => "no data",
    }
}

/// The readable report: a header, budget lines, the window table and the alert table per SLO.
fn render(statuses: &[SloStatus]) -> String {
    let mut out = String::new();
    for (i, s) in statuses.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let _ = writeln!(
            out,
            "{}  objective {}  period {}  at {}",
            s.id,
            format_percent(Some(s.objective)),
            s.period,
            rfc3339(s.at_ms)
        );
        if let Some(e) = &s.error {
            let _ = writeln!(out, "  cannot evaluate: {e}");
            continue;
        }
        let policy = match (s.policy, &s.policy_action) {
            (Some(p), Some(a)) => format!("{p} ({a})"),
            _ => "N/A (no traffic in the period)".to_string(),
        };
        let exhaustion = match (&s.exhaustion.human, s.exhaustion.burn_rate) {
            (Some(h), Some(b)) => format!(
                "{h} at the {} burn rate ({})",
                s.exhaustion.burn_window,
                format_burn(Some(b))
            ),
            (None, Some(b)) => format!(
                "never at the {} burn rate ({})",
                s.exhaustion.burn_window,
                format_burn(Some(b))
            ),
            _ => format!("N/A (no {} burn rate)", s.exhaustion.burn_window),
        };
        out.push_str(&table(
            &[
                vec!["budget remaining".into(), format_percent(s.budget_remaining)],
                vec!["policy".into(), policy],
                vec!["period burn rate".into(), format_burn(s.period_burn_rate)],
                vec!["current burn rate".into(), format_burn(s.current_burn_rate)],
                vec!["time to exhaustion".into(), exhaustion],
            ],
            "  ",
        ));
        let mut rows = vec![vec![
            "WINDOW".to_string(),
            "ERROR RATIO".into(),
            "BURN RATE".into(),
            String::new(),
        ]];
        for w in &s.windows {
            let note = match (w.period, w.state) {
                (true, DataState::Ok) => "period".to_string(),
                (true, st) => format!("period, {}", no_number(st)),
                (false, st) => no_number(st).to_string(),
            };
            rows.push(vec![
                w.window.clone(),
                format_percent(w.error_ratio),
                format_burn(w.burn_rate),
                note,
            ]);
        }
        out.push('\n');
        out.push_str(&table(&rows, "  "));
        let mut rows = vec![vec![
            "ALERT".to_string(),
            "SEVERITY".into(),
            "LONG/SHORT".into(),
            "THRESHOLD".into(),
            "LONG".into(),
            "SHORT".into(),
            "STATE".into(),
        ]];
        for a in &s.alerts {
            let name = if a.name.is_empty() {
                "(unnamed)".to_string()
            } else {
                a.name.clone()
            };
            for (j, r) in a.rows.iter().enumerate() {
                let state = if !a.enabled {
                    "disabled".to_string()
                } else if r.firing {
                    "FIRING".to_string()
                } else {
                    "ok".to_string()
                };
                rows.push(vec![
                    if j == 0 { name.clone() } else { String::new() },
                    if j == 0 {
                        a.severity.to_string()
                    } else {
                        String::new()
                    },
                    format!("{}/{}", r.long, r.short),
                    format!(
                        "{} ({})",
                        format_burn(Some(r.burn_rate_threshold)),
                        format_percent(Some(r.error_ratio_threshold))
                    ),
                    format_percent(r.long_error_ratio),
                    format_percent(r.short_error_ratio),
                    state,
                ]);
            }
        }
        out.push('\n');
        out.push_str(&table(&rows, "  "));
        let firing: Vec<String> = s
            .alerts
            .iter()
            .filter(|a| a.firing)
            .map(|a| format!("{} ({})", a.name, a.severity))
            .collect();
        let _ = writeln!(
            out,
            "  firing: {}",
            if firing.is_empty() {
                "none".to_string()
            } else {
                firing.join(", ")
            }
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_times_read_as_utc() {
        let t = table(
            &[
                vec!["a".into(), "bb".into(), "c".into()],
                vec!["ddd".into(), "e".into(), "f".into()],
            ],
            "  ",
        );
        assert_eq!(t, "  a    bb  c\n  ddd  e   f\n");
        assert_eq!(rfc3339(14_400_000), "1970-01-01T04:00:00Z");
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}
