//! Multiwindow, multi-burn-rate alerts (SRE Workbook, chapter 5, "Alerting on SLOs", approach 6).
//!
//! Each alert fires when the burn rate over a long window *and* over a short window (1/12 of
//! the long one, so the alert also stops soon after the problem does) both exceed a threshold.
//! The threshold is derived from the share of the budget the alert may let burn:
//!
//! ```text
//! threshold = budget share × period / long window
//! ```
//!
//! The Workbook's table for a 30-day period: page when 2% burns in 1h (14.4×, short 5m) or 5% in
//! 6h (6×, short 30m); ticket when 10% burns in 1d (3×, short 2h) or 10% in 3d (1×, short 6h).
//! Other periods scale by the formula: 28 days gives 13.44 / 5.6 / 2.8 / 0.933. The table can be
//! replaced (Sloth's `AlertWindows` spec), so the shares and windows are data, not constants.

use std::fmt;
use std::time::Duration;

use super::math;

/// Which alert a window belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Wake someone up.
    Page,
    /// Look at it in working hours.
    Ticket,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Page => "page",
            Severity::Ticket => "ticket",
        })
    }
}

/// One row of the table: a long and a short window and the budget share they guard.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AlertWindow {
    /// The alert this row belongs to.
    pub severity: Severity,
    /// Share of the period's budget that may burn within `long` before the alert fires (0.02).
    pub budget_share: f64,
    /// The long window (1h).
    pub long: Duration,
    /// The short window (5m).
    pub short: Duration,
}

impl AlertWindow {
    /// The burn-rate threshold for a period: budget share × period / long window.
    pub fn burn_rate_threshold(&self, period: Duration) -> f64 {
        math::burn_rate_for_budget(self.budget_share, self.long, period)
    }
}

/// The rows used for one SLO, page rows first.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowTable {
    /// The rows.
    pub windows: Vec<AlertWindow>,
}

const MINUTE: u64 = 60;
const HOUR: u64 = 3_600;
const DAY: u64 = 86_400;

impl Default for WindowTable {
    /// The Workbook's table (shares 2% / 5% / 10% / 10%).
    fn default() -> Self {
        let row = |severity, budget_share, long, short| AlertWindow {
            severity,
            budget_share,
            long: Duration::from_secs(long),
            short: Duration::from_secs(short),
        };
        WindowTable {
            windows: vec![
                row(Severity::Page, 0.02, HOUR, 5 * MINUTE),
                row(Severity::Page, 0.05, 6 * HOUR, 30 * MINUTE),
                row(Severity::Ticket, 0.10, DAY, 2 * HOUR),
                row(Severity::Ticket, 0.10, 3 * DAY, 6 * HOUR),
            ],
        }
    }
}

impl WindowTable {
    /// The rows of one severity.
    pub fn of(&self, severity: Severity) -> impl Iterator<Item = &AlertWindow> {
        self.windows.iter().filter(move |w| w.severity == severity)
    }

    /// Every distinct window (long and short), shortest first: the SLI windows to record.
    pub fn all_windows(&self) -> Vec<Duration> {
        let mut all: Vec<Duration> = self.windows.iter().flat_map(|w| [w.short, w.long]).collect();
        all.sort();
        all.dedup();
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thresholds(days: u64) -> Vec<f64> {
        let period = Duration::from_secs(days * DAY);
        WindowTable::default()
            .windows
            .iter()
            .map(|w| w.burn_rate_threshold(period))
            .collect()
    }

    #[test]
    fn thirty_days_gives_the_workbook_factors() {
        assert_eq!(thresholds(30), vec![14.4, 6.0, 3.0, 1.0]);
    }

    #[test]
    fn twenty_eight_days_scales_by_the_formula() {
        let t = thresholds(28);
        assert_eq!(&t[..3], &[13.44, 5.6, 2.8]);
        assert!((t[3] - 0.9333333333333).abs() < 1e-9, "{}", t[3]);
    }

    #[test]
    fn windows_to_record() {
        let all: Vec<u64> = WindowTable::default()
            .all_windows()
            .iter()
            .map(|d| d.as_secs())
            .collect();
        assert_eq!(all, vec![300, 1_800, 3_600, 7_200, 21_600, 86_400, 259_200]);
    }
}
