//! Sloth's `AlertWindows` spec: a replacement for the Workbook's multiwindow table, for one SLO
//! period (<https://sloth.dev/usage/slo-period-windows/>).
//!
//! ```yaml
//! apiVersion: sloth.slok.dev/v1
//! kind: AlertWindows
//! spec:
//!   sloPeriod: 7d
//!   page:
//!     quick: {errorBudgetPercent: 8, shortWindow: 5m, longWindow: 1h}
//!     slow: {errorBudgetPercent: 12.5, shortWindow: 30m, longWindow: 6h}
//!   ticket:
//!     quick: {errorBudgetPercent: 20, shortWindow: 2h, longWindow: 1d}
//!     slow: {errorBudgetPercent: 42, shortWindow: 6h, longWindow: 3d}
//! ```
//!
//! `errorBudgetPercent` is the share of the period's budget a row lets burn within its long
//! window; the burn-rate threshold follows from it exactly as in Sloth
//! (`percent / 100 × sloPeriod / longWindow`, [`AlertWindow::burn_rate_threshold`]). As in Sloth,
//! a table applies to the SLOs whose period equals its `sloPeriod` ([`apply`]); SLOs with any
//! other period keep the Workbook's table scaled to their period.
//!
//! Sloth itself only checks that the values are present; burnwatch also refuses tables that
//! cannot work: a share outside (0, 100], a short window not shorter than its long window, or a
//! long window longer than the period.

use std::time::Duration;

use serde::Deserialize;

use super::{SpecError, typed};
use crate::duration::parse_prometheus_duration_ms;
use crate::slo::math::prometheus_duration;
use crate::slo::{AlertWindow, Severity, SloSpec, WindowTable};

/// The `apiVersion` of an `AlertWindows` document.
pub const API_VERSION: &str = "sloth.slok.dev/v1";

/// The `kind` of an `AlertWindows` document.
pub const KIND: &str = "AlertWindows";

/// A window table read from an `AlertWindows` file, with the period it was written for.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowsSpec {
    /// The SLO period the table is for (`spec.sloPeriod`).
    pub slo_period: Duration,
    /// The four rows: page quick, page slow, ticket quick, ticket slow.
    pub table: WindowTable,
    /// The file it came from, for messages.
    pub file: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct File {
    #[allow(dead_code)]
    api_version: String,
    #[allow(dead_code)]
    kind: String,
    spec: Spec,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Spec {
    slo_period: String,
    page: QuickSlow,
    ticket: QuickSlow,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuickSlow {
    quick: Window,
    slow: Window,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Window {
    error_budget_percent: f64,
    short_window: String,
    long_window: String,
}

/// Whether a parsed YAML document is an `AlertWindows` spec (so an SLO reader can point the user
/// at `--windows` instead of calling it an unknown format).
pub fn is_alert_windows(doc: &serde_norway::Value) -> bool {
    doc.get("kind").and_then(|k| k.as_str()) == Some(KIND)
        && doc.get("apiVersion").and_then(|v| v.as_str()) == Some(API_VERSION)
}

/// Reads an `AlertWindows` file.
pub fn load_file(path: &std::path::Path) -> Result<WindowsSpec, SpecError> {
    let name = path.display().to_string();
    let text =
        std::fs::read_to_string(path).map_err(|e| SpecError::new(&name, "", format!("cannot read: {e}")))?;
    parse_str(&text, &name)
}

/// Reads the text of an `AlertWindows` file called `file` (used in messages).
pub fn parse_str(text: &str, file: &str) -> Result<WindowsSpec, SpecError> {
    let doc: serde_norway::Value = serde_norway::from_str(text)
        .map_err(|e| SpecError::new(file, "", format!("is not valid YAML: {e}")))?;
    match doc.get("apiVersion").and_then(|v| v.as_str()) {
        Some(API_VERSION) => {}
        Some(other) => {
            return Err(SpecError::new(
                file,
                "apiVersion",
                format!("is {other:?}; an alert window table has apiVersion \"{API_VERSION}\""),
            ));
        }
        None => {
            return Err(SpecError::new(
                file,
                "",
                format!(
                    "is not an alert window table: expected `apiVersion: {API_VERSION}` and `kind: {KIND}`"
                ),
            ));
        }
    }
    match doc.get("kind").and_then(|v| v.as_str()) {
        Some(KIND) => {}
        other => {
            return Err(SpecError::new(
                file,
                "kind",
                format!(
                    "is {:?}; an alert window table has kind \"{KIND}\"",
                    other.unwrap_or("")
                ),
            ));
        }
    }
    let f: File = typed(doc, file)?;
    let period = duration(&f.spec.slo_period, file, "spec.sloPeriod")?;
    let mut windows = Vec::with_capacity(4);
    for (severity, name, pair) in [
        (Severity::Page, "page", &f.spec.page),
        (Severity::Ticket, "ticket", &f.spec.ticket),
    ] {
        for (speed, w) in [("quick", &pair.quick), ("slow", &pair.slow)] {
            let at = format!("spec.{name}.{speed}");
            windows.push(window(w, severity, period, file, &at)?);
        }
    }
    Ok(WindowsSpec {
        slo_period: period,
        table: WindowTable { windows },
        file: file.to_string(),
    })
}

fn window(
    w: &Window,
    severity: Severity,
    period: Duration,
    file: &str,
    at: &str,
) -> Result<AlertWindow, SpecError> {
    let pct = w.error_budget_percent;
    if !(pct > 0.0 && pct <= 100.0) {
        return Err(SpecError::new(
            file,
            format!("{at}.errorBudgetPercent"),
            format!("must be in (0, 100], got {pct}"),
        ));
    }
    let short = duration(&w.short_window, file, &format!("{at}.shortWindow"))?;
    let long = duration(&w.long_window, file, &format!("{at}.longWindow"))?;
    // The short window exists to stop the alert soon after the errors stop (Workbook ch. 5,
    // approach 6); one as long as the long window would change nothing.
    if short >= long {
        return Err(SpecError::new(
            file,
            format!("{at}.shortWindow"),
            format!(
                "must be shorter than longWindow ({}), got {}",
                prometheus_duration(long),
                prometheus_duration(short)
            ),
        ));
    }
    if long > period {
        return Err(SpecError::new(
            file,
            format!("{at}.longWindow"),
            format!(
                "must not be longer than spec.sloPeriod ({}), got {}",
                prometheus_duration(period),
                prometheus_duration(long)
            ),
        ));
    }
    Ok(AlertWindow {
        severity,
        // Rounded like math::error_budget so that 12.5% is exactly 0.125 in the thresholds.
        budget_share: (pct / 100.0 * 1e12).round() / 1e12,
        long,
        short,
    })
}

fn duration(text: &str, file: &str, at: &str) -> Result<Duration, SpecError> {
    match parse_prometheus_duration_ms(text) {
        Some(ms) if ms > 0 => Ok(Duration::from_millis(ms as u64)),
        _ => Err(SpecError::new(
            file,
            at,
            format!("{text:?} is not a positive duration such as 5m, 1h or 30d"),
        )),
    }
}

/// Gives every SLO whose period equals a table's `sloPeriod` that table. Two tables for the same
/// period are refused, as Sloth refuses them.
pub fn apply(specs: &mut [SloSpec], tables: &[WindowsSpec]) -> Result<(), SpecError> {
    for (i, t) in tables.iter().enumerate() {
        if let Some(prev) = tables[..i].iter().find(|p| p.slo_period == t.slo_period) {
            return Err(SpecError::new(
                &t.file,
                "spec.sloPeriod",
                format!(
                    "{} is already given by {}; one window table per period",
                    prometheus_duration(t.slo_period),
                    prev.file
                ),
            ));
        }
    }
    for spec in specs {
        if let Some(t) = tables.iter().find(|t| t.slo_period == spec.period.length()) {
            spec.windows = t.table.clone();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEVEN_DAYS: &str = "apiVersion: sloth.slok.dev/v1
kind: AlertWindows
spec:
  sloPeriod: 7d
  page:
    quick:
      errorBudgetPercent: 8
      shortWindow: 5m
      longWindow: 1h
    slow:
      errorBudgetPercent: 12.5
      shortWindow: 30m
      longWindow: 6h
  ticket:
    quick:
      errorBudgetPercent: 20
      shortWindow: 2h
      longWindow: 1d
    slow:
      errorBudgetPercent: 42
      shortWindow: 6h
      longWindow: 3d
";

    fn err(text: &str) -> String {
        parse_str(text, "w.yaml").unwrap_err().to_string()
    }

    #[test]
    fn reads_sloths_seven_day_table() {
        let w = parse_str(SEVEN_DAYS, "w.yaml").unwrap();
        assert_eq!(w.slo_period, Duration::from_secs(7 * 86_400));
        let rows: Vec<(Severity, f64, u64, u64)> = w
            .table
            .windows
            .iter()
            .map(|r| (r.severity, r.budget_share, r.long.as_secs(), r.short.as_secs()))
            .collect();
        assert_eq!(
            rows,
            vec![
                (Severity::Page, 0.08, 3_600, 300),
                (Severity::Page, 0.125, 21_600, 1_800),
                (Severity::Ticket, 0.2, 86_400, 7_200),
                (Severity::Ticket, 0.42, 259_200, 21_600),
            ]
        );
        // Sloth's speeds for this table: 8% × 168h / 1h = 13.44, 12.5% × 168h / 6h = 3.5,
        // 20% × 168h / 24h = 1.4, 42% × 168h / 72h = 0.98.
        let thresholds: Vec<f64> = w
            .table
            .windows
            .iter()
            .map(|r| r.burn_rate_threshold(w.slo_period))
            .collect();
        assert_eq!(thresholds, vec![13.44, 3.5, 1.4, 0.98]);
    }

    #[test]
    fn the_workbook_table_written_as_a_spec_equals_the_default() {
        let text = SEVEN_DAYS
            .replace("sloPeriod: 7d", "sloPeriod: 30d")
            .replace("errorBudgetPercent: 8", "errorBudgetPercent: 2")
            .replace("errorBudgetPercent: 12.5", "errorBudgetPercent: 5")
            .replace("errorBudgetPercent: 20", "errorBudgetPercent: 10")
            .replace("errorBudgetPercent: 42", "errorBudgetPercent: 10");
        assert_eq!(parse_str(&text, "w.yaml").unwrap().table, WindowTable::default());
    }

    #[test]
    fn errors_name_the_file_and_the_field() {
        let bad = SEVEN_DAYS.replace("errorBudgetPercent: 42", "errorBudgetPercent: 0");
        assert_eq!(
            err(&bad),
            "w.yaml: spec.ticket.slow.errorBudgetPercent must be in (0, 100], got 0"
        );
        let bad = SEVEN_DAYS.replace("errorBudgetPercent: 8", "errorBudgetPercent: 120");
        assert!(err(&bad).starts_with("w.yaml: spec.page.quick.errorBudgetPercent must be in (0, 100]"));
        let bad = SEVEN_DAYS.replace("shortWindow: 30m", "shortWindow: 6h");
        assert_eq!(
            err(&bad),
            "w.yaml: spec.page.slow.shortWindow must be shorter than longWindow (6h), got 6h"
        );
        let bad = SEVEN_DAYS.replace("longWindow: 3d", "longWindow: 8d");
        assert_eq!(
            err(&bad),
            "w.yaml: spec.ticket.slow.longWindow must not be longer than spec.sloPeriod (7d), got 8d"
        );
        let bad = SEVEN_DAYS.replace("sloPeriod: 7d", "sloPeriod: week");
        assert!(err(&bad).starts_with("w.yaml: spec.sloPeriod \"week\" is not a positive duration"));
        let bad = SEVEN_DAYS.replace("shortWindow: 2h", "shortWindow: 0s");
        assert!(err(&bad).starts_with("w.yaml: spec.ticket.quick.shortWindow \"0s\" is not a positive"));
        let bad = SEVEN_DAYS.replace("longWindow: 1h\n", "longWindow: 1h\n      window: 2h\n");
        assert!(
            err(&bad).contains("unknown key 'window' in spec.page.quick; expected one of"),
            "{}",
            err(&bad)
        );
        let bad = SEVEN_DAYS.replace(
            "    slow:\n      errorBudgetPercent: 42",
            "    slo:\n      errorBudgetPercent: 42",
        );
        assert!(
            err(&bad).contains("unknown key 'slo' in spec.ticket"),
            "{}",
            err(&bad)
        );
        assert!(err(&SEVEN_DAYS.replace("kind: AlertWindows", "kind: SLO")).contains("kind is \"SLO\""));
        assert!(err("version: prometheus/v1\n").contains("is not an alert window table"));
        assert!(err(&SEVEN_DAYS.replace("sloth.slok.dev/v1", "sloth.slok.dev/v2")).contains("apiVersion is"));
        assert!(err("spec: [").contains("is not valid YAML"));
    }

    #[test]
    fn apply_matches_tables_to_slos_by_period() {
        let seven = parse_str(SEVEN_DAYS, "7d.yaml").unwrap();
        let sloth = crate::slo::spec::parse_str(
            "version: prometheus/v1\nservice: s\nperiod: 7d\nslos:\n  - name: a\n    objective: 99\n    sli:\n      raw:\n        error_ratio_query: x[{{.window}}]\n",
            "s.yaml",
        )
        .unwrap();
        let mut specs = sloth.clone();
        let thirty = sloth.iter().cloned().map(|mut s| {
            s.name = "b".into();
            s.period = crate::slo::Period::Rolling(Duration::from_secs(30 * 86_400));
            s
        });
        specs.extend(thirty);
        apply(&mut specs, std::slice::from_ref(&seven)).unwrap();
        assert_eq!(specs[0].windows, seven.table);
        assert_eq!(
            specs[1].windows,
            WindowTable::default(),
            "a 30d SLO keeps the Workbook table"
        );
        let again = WindowsSpec {
            file: "other.yaml".into(),
            ..seven.clone()
        };
        let e = apply(&mut specs, &[seven, again]).unwrap_err().to_string();
        assert_eq!(
            e,
            "other.yaml: spec.sloPeriod 7d is already given by 7d.yaml; one window table per period"
        );
    }
}
