//! The SLO table: one row per SLO in the snapshot's order (least budget left first), narrowed by
//! the filter.
//!
//! Columns: service, SLO, objective, SLI over the period, budget remaining (a bar coloured by the
//! policy band), the budget's burndown over the period as a sparkline (the detail view's chart,
//! computed by `burnwatch_slo::slo::burndown`), the burn rate over each alert window, and the
//! firing alerts. The windows are the
//! long and short windows of the SLOs' alert rows (`5m 30m 1h 2h 6h 1d 3d` for a 30-day period).
//! When the terminal is narrow, optional columns go first (other windows, then SLI, then
//! objective), so 80 columns keep service, SLO, budget, the burn over the window that drives the
//! time to exhaustion (`1h`), and the alerts.

use burnwatch_slo::duration::parse_prometheus_duration_ms;
use burnwatch_slo::slo::Severity;
use burnwatch_slo::slo::status::SloStatus;
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Row, Table, TableState};

use super::widgets::{
    NA, bold, burn, dim, objective, pct, policy_color, policy_of, real, text_bar, truncate, width,
};
use super::{View, message};
use crate::app::App;
use crate::model::BurndownPoint;

/// The style of the selected row: a dark background that keeps every status colour readable
/// (reversing would turn the green budget text into a green background).
const SELECTED: Style = Style::new().bg(Color::Indexed(237)).add_modifier(Modifier::BOLD);

/// Width of a burn-rate column (`1234.5x`).
const BURN_WIDTH: u16 = 7;

/// One table column.
#[derive(Clone, Debug, PartialEq)]
enum Col {
    Service(u16),
    Slo(u16),
    Objective,
    Sli(String),
    Budget { bar: u16 },
    Trend(u16),
    Burn(String),
    Alerts,
}

impl Col {
    fn width(&self) -> u16 {
        match self {
            Col::Service(w) | Col::Slo(w) => *w,
            Col::Objective => 9,
            Col::Sli(_) => 9,
            Col::Budget { bar } => bar + 1 + 8,
            Col::Trend(w) => *w,
            Col::Burn(_) => BURN_WIDTH,
            Col::Alerts => 12,
        }
    }

    fn header(&self) -> String {
        match self {
            Col::Service(_) => "Service".into(),
            Col::Slo(_) => "SLO".into(),
            Col::Objective => "Objective".into(),
            Col::Sli(period) => format!("SLI {period}"),
            Col::Budget { .. } => "Budget left".into(),
            Col::Trend(_) => "Burndown".into(),
            Col::Burn(w) => format!("{w:>width$}", width = BURN_WIDTH as usize),
            Col::Alerts => "Firing".into(),
        }
    }
}

/// Draws the SLO table into `area`.
pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let visible = app.visible_slos();
    let total = app.snapshot().map_or(0, |s| s.slos.len());
    let mut title = if app.filter().is_empty() {
        format!(" SLOs ({total}) ")
    } else {
        format!(" SLOs ({} of {total}) · filter: {} ", visible.len(), app.filter())
    };
    if app.view() == View::Slos && !visible.is_empty() {
        title.push_str("· Enter: detail ");
    }
    let block = Block::bordered().title(Line::styled(title, Style::new().add_modifier(Modifier::BOLD)));
    let inner = block.inner(area);
    frame.render_widget(block, area);

    let Some(snapshot) = app.snapshot() else {
        message(frame, inner, "waiting for the first snapshot…", dim());
        return;
    };
    if snapshot.slos.is_empty() {
        message(
            frame,
            inner,
            "no SLOs: none were loaded, or none could be evaluated yet",
            dim(),
        );
        return;
    }
    if visible.is_empty() {
        message(
            frame,
            inner,
            &format!("no SLO matches the filter \"{}\" (Esc clears it)", app.filter()),
            dim(),
        );
        return;
    }

    let columns = choose_columns(&visible, inner.width);
    let body_rows = inner.height.saturating_sub(1) as usize;
    let selected = app.selected_index().unwrap_or(0).min(visible.len() - 1);
    let offset = keep_visible(app.slo_offset().get(), selected, body_rows, visible.len());
    app.slo_offset().set(offset);

    // Only the rows on screen are built: 200 SLOs cost what 40 do.
    let end = (offset + body_rows.max(1)).min(visible.len());
    // The highlight symbol takes 2 cells, the spacing 1 between columns; Firing gets the rest.
    let used: u16 = 2
        + columns
            .iter()
            .filter(|c| **c != Col::Alerts)
            .map(Col::width)
            .sum::<u16>()
        + columns.len().saturating_sub(1) as u16;
    let alerts_width = inner.width.saturating_sub(used) as usize;
    let rows: Vec<Row> = visible[offset..end]
        .iter()
        .map(|s| row(s, &columns, alerts_width, snapshot.budget_trends.get(&s.id)))
        .collect();
    let header = Row::new(columns.iter().map(|c| Cell::from(c.header())))
        .style(Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD));
    let widths: Vec<Constraint> = columns
        .iter()
        .map(|c| match c {
            Col::Alerts => Constraint::Min(c.width()),
            _ => Constraint::Length(c.width()),
        })
        .collect();
    let table = Table::new(rows, widths)
        .header(header)
        .column_spacing(1)
        .row_highlight_style(SELECTED)
        .highlight_symbol("▶ ")
        .highlight_spacing(ratatui::widgets::HighlightSpacing::Always);
    let mut state = TableState::new().with_selected(Some(selected - offset));
    frame.render_stateful_widget(table, inner, &mut state);
}

/// The first row to draw so that `selected` is on screen, moving `offset` as little as possible
/// (the table scrolls only when the selection leaves the visible rows).
fn keep_visible(offset: usize, selected: usize, rows: usize, len: usize) -> usize {
    let rows = rows.max(1);
    let mut offset = offset.min(len.saturating_sub(rows));
    if selected < offset {
        offset = selected;
    } else if selected >= offset + rows {
        offset = selected + 1 - rows;
    }
    offset
}

/// The alert windows of the shown SLOs, `(seconds, name)`, in priority order: the window the
/// time to exhaustion uses first, then each row's long and short window, page rows before
/// ticket rows.
fn windows(visible: &[&SloStatus]) -> Vec<(u64, String)> {
    let mut out: Vec<(u64, String)> = Vec::new();
    let mut add = |slo: &SloStatus, name: &str| {
        if out.iter().any(|(_, n)| n == name) {
            return;
        }
        let secs = slo
            .windows
            .iter()
            .find(|w| w.window == name)
            .map(|w| w.seconds)
            .or_else(|| parse_prometheus_duration_ms(name).map(|ms| (ms / 1000).max(0) as u64))
            .unwrap_or(u64::MAX);
        out.push((secs, name.to_string()));
    };
    if let Some(first) = visible.iter().find(|s| !s.exhaustion.burn_window.is_empty()) {
        add(first, &first.exhaustion.burn_window);
    }
    for severity in [Severity::Page, Severity::Ticket] {
        for slo in visible {
            for alert in slo.alerts.iter().filter(|a| a.severity == severity) {
                for row in &alert.rows {
                    add(slo, &row.long);
                    add(slo, &row.short);
                }
            }
        }
    }
    out
}

/// Picks the columns that fit in `width` cells: the five essential ones, then optional ones in
/// priority order while they fit; the alerts column takes what is left.
fn choose_columns(visible: &[&SloStatus], width_cells: u16) -> Vec<Col> {
    let wide = width_cells >= 110;
    let longest = |f: fn(&SloStatus) -> &str, header: u16, cap: u16| {
        let w = visible.iter().map(|s| width(f(s))).max().unwrap_or(0) as u16;
        w.clamp(header, cap)
    };
    let service = longest(|s| &s.service, 7, if wide { 24 } else { 14 });
    let slo = longest(|s| &s.slo, 3, if wide { 32 } else { 18 });
    let bar = if wide { 10 } else { 5 };
    let windows = windows(visible);
    let period = visible.first().map_or_else(String::new, |s| s.period.clone());

    // The highlight symbol takes 2 cells; every column after the first adds 1 of spacing.
    let fixed = |cols: &[Col]| -> u16 {
        2 + cols.iter().map(Col::width).sum::<u16>() + cols.len().saturating_sub(1) as u16
    };
    let mut cols = vec![Col::Service(service), Col::Slo(slo), Col::Budget { bar }];
    if let Some((_, w)) = windows.first() {
        cols.push(Col::Burn(w.clone()));
    }
    cols.push(Col::Alerts);
    let mut optional = vec![
        Col::Trend(if wide { 16 } else { 8 }),
        Col::Objective,
        Col::Sli(period),
    ];
    optional.extend(windows.iter().skip(1).map(|(_, w)| Col::Burn(w.clone())));
    for col in optional {
        let mut trial = cols.clone();
        trial.push(col.clone());
        if fixed(&trial) <= width_cells {
            cols = trial;
        }
    }
    // Display order: names, objective, SLI, budget, burn columns shortest window first, alerts.
    let rank = |c: &Col| -> (u8, u64) {
        match c {
            Col::Service(_) => (0, 0),
            Col::Slo(_) => (1, 0),
            Col::Objective => (2, 0),
            Col::Sli(_) => (3, 0),
            Col::Budget { .. } => (4, 0),
            Col::Trend(_) => (5, 0),
            Col::Burn(w) => (
                6,
                windows.iter().find(|(_, n)| n == w).map_or(u64::MAX, |(s, _)| *s),
            ),
            Col::Alerts => (7, 0),
        }
    };
    cols.sort_by_key(rank);
    cols
}

fn row<'a>(
    slo: &'a SloStatus,
    columns: &[Col],
    alerts_width: usize,
    trend: Option<&Vec<BurndownPoint>>,
) -> Row<'a> {
    let cells = columns.iter().map(|c| match c {
        Col::Service(w) => Cell::from(truncate(&slo.service, *w as usize)),
        Col::Slo(w) => Cell::from(truncate(&slo.slo, *w as usize)),
        Col::Objective => Cell::from(objective(slo.objective)),
        Col::Sli(_) => {
            let sli = slo
                .windows
                .iter()
                .find(|w| w.period)
                .and_then(|w| real(w.error_ratio))
                .map(|r| 1.0 - r);
            match sli {
                Some(v) => Cell::from(pct(Some(v))),
                None => Cell::from(Span::styled("N/A", Style::new().fg(NA))),
            }
        }
        Col::Budget { bar } => budget_cell(slo, *bar),
        Col::Trend(w) => trend_cell(slo, trend, *w),
        Col::Burn(window) => burn_cell(slo, window),
        Col::Alerts => alerts_cell(slo, alerts_width),
    });
    Row::new(cells)
}

/// The budget bar and number, coloured by the policy band. An overspent budget shows its negative
/// number over an empty bar; no number shows `N/A` in grey.
pub(crate) fn budget_cell(slo: &SloStatus, bar: u16) -> Cell<'static> {
    if slo.error.is_some() {
        return Cell::from(Span::styled("error", bold(Color::Red)));
    }
    let color = policy_color(policy_of(slo));
    let remaining = real(slo.budget_remaining);
    let style = Style::new().fg(color);
    Cell::from(Line::from(vec![
        Span::styled(text_bar(remaining.unwrap_or(0.0), bar as usize), style),
        Span::styled(format!(" {:>8}", budget_text(remaining)), style),
    ]))
}

/// Eight heights of a one-cell bar, lowest first.
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// The burndown as a `width`-cell sparkline, coloured by the policy band: the period split into
/// `width` equal spans, each showing the budget left at its last point, on a scale from 0 (or
/// the lowest overspent value) to 1. An SLO whose burndown is not fetched yet, or has no
/// numbers (no traffic), shows dots.
fn trend_cell(slo: &SloStatus, trend: Option<&Vec<BurndownPoint>>, width: u16) -> Cell<'static> {
    let Some(points) = trend.filter(|p| slo.error.is_none() && p.iter().any(|x| real(x.remaining).is_some()))
    else {
        return Cell::from(Span::styled("·".repeat(width as usize), dim()));
    };
    Cell::from(Span::styled(
        sparkline(points, width as usize),
        Style::new().fg(policy_color(policy_of(slo))),
    ))
}

/// The text of a burndown sparkline `width` cells wide (see [`trend_cell`]).
pub(crate) fn sparkline(points: &[BurndownPoint], width: usize) -> String {
    let values: Vec<Option<f64>> = points.iter().map(|p| real(p.remaining)).collect();
    let lo = values.iter().flatten().fold(0.0_f64, |a, b| a.min(*b));
    let hi = 1.0_f64.max(values.iter().flatten().fold(f64::MIN, |a, b| a.max(*b)));
    let span = hi - lo;
    (0..width)
        .map(|i| {
            // The last point of the i-th of `width` equal slices (the final cell ends on the
            // newest point, the "Budget left" number).
            let end = ((i + 1) * values.len())
                .div_ceil(width)
                .clamp(1, values.len().max(1));
            match values.get(end - 1).copied().flatten() {
                None => ' ',
                Some(v) => {
                    let level = if span > 0.0 { (v - lo) / span * 7.0 } else { 7.0 };
                    BARS[level.round().clamp(0.0, 7.0) as usize]
                }
            }
        })
        .collect()
}

/// Budget left in at most eight characters: two decimals down to -999.99%, whole percents
/// beyond, and `<-9999%` past that (a store holding minutes of a bad spike can get there).
pub(crate) fn budget_text(remaining: Option<f64>) -> String {
    match remaining {
        Some(v) if v.is_finite() && v < -99.99 => "<-9999%".to_string(),
        Some(v) if v.is_finite() && v.abs() >= 10.0 => format!("{:.0}%", v * 100.0),
        v => pct(v),
    }
}

/// The colour a burn rate over `window` deserves: that of the most severe alert row guarding this
/// window whose factor it reaches (page red, ticket yellow), grey without a number.
fn burn_color(slo: &SloStatus, window: &str, value: Option<f64>) -> Color {
    let Some(v) = real(value) else {
        return NA;
    };
    let mut color = Color::Reset;
    for alert in &slo.alerts {
        for row in &alert.rows {
            if (row.long == window || row.short == window) && v >= row.burn_rate_threshold {
                match alert.severity {
                    Severity::Page => return Color::Red,
                    Severity::Ticket => color = Color::Yellow,
                }
            }
        }
    }
    color
}

fn burn_cell(slo: &SloStatus, window: &str) -> Cell<'static> {
    let Some(w) = slo.windows.iter().find(|w| w.window == window) else {
        // This SLO's alert table has no such window (another period): nothing to show.
        return Cell::from(Span::styled(format!("{:>7}", "·"), dim()));
    };
    let color = burn_color(slo, window, w.burn_rate);
    Cell::from(Span::styled(
        format!("{:>7}", burn(w.burn_rate)),
        Style::new().fg(color),
    ))
}

/// The firing alerts: severities in their colours, then the alert name when it fits.
fn alerts_cell(slo: &SloStatus, width_cells: usize) -> Cell<'static> {
    if let Some(e) = &slo.error {
        let first = e.lines().next().unwrap_or_default();
        return Cell::from(Span::styled(
            truncate(&format!("error: {first}"), width_cells),
            Style::new().fg(Color::Red),
        ));
    }
    let firing: Vec<_> = slo.alerts.iter().filter(|a| a.enabled && a.firing).collect();
    if firing.is_empty() {
        return Cell::from(Span::styled("—", dim()));
    }
    let mut spans = Vec::new();
    let mut used = 0;
    for a in &firing {
        let style = match a.severity {
            Severity::Page => bold(Color::Red),
            Severity::Ticket => bold(Color::Yellow),
        };
        let word = a.severity.to_string();
        used += width(&word) + 1;
        spans.push(Span::styled(word, style));
        spans.push(Span::raw(" "));
    }
    let mut names: Vec<&str> = firing.iter().map(|a| a.name.as_str()).collect();
    names.dedup();
    let names = names.join(", ");
    if used + width(&names) <= width_cells {
        spans.push(Span::raw(names));
    }
    Cell::from(Line::from(spans))
}

#[cfg(test)]
mod tests {
    use super::{BurndownPoint, budget_text, keep_visible, sparkline};

    fn points(values: &[Option<f64>]) -> Vec<BurndownPoint> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| BurndownPoint {
                t_ms: i as i64,
                remaining: *v,
                ideal: 0.0,
            })
            .collect()
    }

    #[test]
    fn the_sparkline_ends_on_the_newest_point_and_scales_to_overspending() {
        let p = points(&[Some(1.0), Some(1.0), Some(0.5), Some(0.0)]);
        assert_eq!(sparkline(&p, 4), "██▅▁");
        // Two cells over four points: the last point of each half.
        assert_eq!(sparkline(&p, 2), "█▁");
        // Wider than the points: every cell still shows a point.
        assert_eq!(sparkline(&p, 8).chars().count(), 8);
        assert!(sparkline(&p, 8).ends_with('▁'));
        // Overspent: the scale reaches down to -1, and 0 sits half way.
        let p = points(&[Some(1.0), Some(0.0), Some(-1.0)]);
        assert_eq!(sparkline(&p, 3), "█▅▁");
        // NaN and missing points are blank, never a panic.
        let p = points(&[Some(f64::NAN), None, Some(1.0)]);
        assert_eq!(sparkline(&p, 3), "  █");
        assert_eq!(sparkline(&[], 3), "   ");
    }

    #[test]
    fn budgets_fit_eight_characters() {
        assert_eq!(budget_text(Some(0.4435)), "44.35%");
        assert_eq!(budget_text(Some(-3.9199)), "-391.99%");
        assert_eq!(budget_text(Some(-23.8428)), "-2384%");
        assert_eq!(budget_text(Some(-1e9)), "<-9999%");
        assert_eq!(budget_text(None), "N/A");
        for v in [0.0, -9.99, -10.0, -99.99, -100.0, 1.0] {
            assert!(budget_text(Some(v)).chars().count() <= 8, "{v}");
        }
    }

    #[test]
    fn the_table_scrolls_only_when_the_selection_leaves_the_screen() {
        assert_eq!(keep_visible(0, 5, 10, 100), 0);
        assert_eq!(keep_visible(0, 10, 10, 100), 1);
        assert_eq!(keep_visible(5, 7, 10, 100), 5);
        assert_eq!(keep_visible(5, 3, 10, 100), 3);
        // A shrunk list pulls the offset back so the screen stays full.
        assert_eq!(keep_visible(95, 2, 10, 12), 2);
        assert_eq!(keep_visible(0, 0, 0, 0), 0);
    }
}
