//! The DORA view: the five metrics over the window with their 2024 tier and the trend against
//! the window before; under them one bar per week of the window for each metric; then the
//! recent deployments and incidents with their links (a failed deployment names its incident,
//! the incident its cause and its recovery), where the server lists its events. Every number is
//! computed by `burnwatch_slo::dora` (`dora report --prometheus-url` prints the same). Without
//! any `dora_*` series it says how to send deployment events. Scrolling moves the event list.

use burnwatch_slo::dora::metrics::format_seconds;
use burnwatch_slo::dora::query::{per_day, percent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table};

use super::message;
use super::widgets::{NA, bold, clock, dim, real, truncate};
use crate::app::{App, View};
use crate::model::{DoraMetric, RecentEvent, RecentEvents, Trend};

/// The hint shown when there is nothing to show.
pub const NO_DATA_HINT: &str =
    "no dora_* series: POST events to /api/v1/dora/events (see `burnwatch dora --help`)";

/// Eight heights of a one-cell bar, lowest first.
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// Short metric names for the weekly bars.
const SHORT: [&str; 5] = ["Deploys", "Lead time", "Change fail", "Recovery", "Rework"];

/// Draws the DORA view into `area`.
pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let Some(snapshot) = app.snapshot() else {
        let block = Block::bordered().title(" DORA ");
        let inner = block.inner(area);
        frame.render_widget(block, area);
        message(frame, inner, "waiting for the first snapshot…", dim());
        return;
    };
    let dora = &snapshot.dora;
    let title = if dora.window.is_empty() {
        " DORA metrics ".to_string()
    } else {
        format!(
            " DORA metrics over {} (trend: against the {} before) ",
            dora.window, dora.window
        )
    };
    let block = Block::bordered().title(Line::styled(title, Style::new().add_modifier(Modifier::BOLD)));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if !dora.has_data || dora.metrics.is_empty() {
        message(frame, inner, NO_DATA_HINT, Style::new().fg(Color::Yellow));
        return;
    }
    let weeks = dora.metrics.iter().map(|m| m.weekly.len()).max().unwrap_or(0);
    let table_h = dora.metrics.len() as u16 + 1;
    let weekly_h = if weeks > 0 {
        dora.metrics.len() as u16 + 2
    } else {
        0
    };
    let [table_area, weekly_area, recent_area] = Layout::vertical([
        Constraint::Length(table_h),
        Constraint::Length(weekly_h),
        Constraint::Min(0),
    ])
    .areas(inner);

    let rows: Vec<Row> = dora.metrics.iter().map(metric_row).collect();
    let header = Row::new(vec!["Metric", "Value", "Tier", "Trend", "Previous"])
        .style(Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD));
    let table = Table::new(
        rows,
        [
            Constraint::Length(32),
            Constraint::Length(14),
            Constraint::Length(8),
            Constraint::Length(7),
            Constraint::Min(10),
        ],
    )
    .header(header)
    .column_spacing(2);
    frame.render_widget(table, table_area);
    if weeks > 0 {
        frame.render_widget(Paragraph::new(weekly_lines(&dora.metrics, weeks)), weekly_area);
    }
    recent_list(frame, recent_area, dora.recent.as_ref(), app.scroll(View::Dora));
}

/// One line per metric: a bar per week, scaled to the metric's highest week, and the newest
/// week's value.
fn weekly_lines(metrics: &[DoraMetric], weeks: usize) -> Vec<Line<'static>> {
    let mut out = vec![Line::styled(
        format!("Weekly, {weeks} weeks, oldest → newest (the last ends now)"),
        Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
    )];
    for (i, m) in metrics.iter().enumerate() {
        let name = SHORT.get(i).copied().unwrap_or(m.name.as_str());
        let values: Vec<Option<f64>> = m.weekly.iter().map(|w| real(w.value)).collect();
        let max = values.iter().flatten().fold(0.0_f64, |a, b| a.max(*b));
        let mut spans = vec![Span::raw(format!("{:<12}", truncate(name, 12)))];
        for v in &values {
            let cell = match v {
                None => Span::styled("· ", Style::new().fg(NA)),
                Some(v) => {
                    let level = if max > 0.0 {
                        ((v / max) * (BARS.len() - 1) as f64).round().clamp(0.0, 7.0) as usize
                    } else {
                        0
                    };
                    Span::styled(format!("{} ", BARS[level]), Style::new().fg(Color::Blue))
                }
            };
            spans.push(cell);
        }
        let newest = values.last().copied().flatten();
        let shown = newest.map_or_else(|| "N/A".to_string(), |v| show(i, v));
        spans.push(Span::styled(format!(" this week {shown}"), dim()));
        out.push(Line::from(spans));
    }
    out
}

/// A weekly value in the unit of metric number `i`.
fn show(i: usize, v: f64) -> String {
    match i {
        0 => per_day(v),
        1 | 3 => format_seconds(v),
        _ => percent(v),
    }
}

/// The recent events, newest first, from row `scroll` on.
fn recent_list(frame: &mut Frame, area: Rect, recent: Option<&RecentEvents>, scroll: usize) {
    if area.height == 0 {
        return;
    }
    let title = Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD);
    let Some(recent) = recent else {
        let lines = vec![
            Line::styled("Recent deployments and incidents", title),
            Line::styled(
                "this server does not list DORA events (a Prometheus server keeps only the series)",
                dim(),
            ),
        ];
        frame.render_widget(Paragraph::new(lines), area);
        return;
    };
    let mut lines = vec![Line::styled(
        format!(
            "Recent deployments and incidents ({} of {}, newest first)",
            recent.events.len(),
            recent.total
        ),
        title,
    )];
    let skip = scroll.min(recent.events.len().saturating_sub(1));
    lines.extend(recent.events.iter().skip(skip).map(event_line));
    frame.render_widget(Paragraph::new(lines), area);
}

/// One event: time, kind, id, service, and its links.
fn event_line(e: &RecentEvent) -> Line<'static> {
    let when = Span::styled(format!("{} ", short_time(e.time_ms)), dim());
    let id = truncate(&e.id, 14);
    let service = truncate(&e.service, 12);
    if e.kind == "incident" {
        let cause = match &e.deployment {
            Some(d) => format!("caused by {d}"),
            None => "no deployment named".to_string(),
        };
        let recovery = match e.recovery_s {
            Some(s) => Span::styled(
                format!("recovered in {}", format_seconds(s)),
                Style::new().fg(Color::Green),
            ),
            None => Span::styled("open".to_string(), bold(Color::Red)),
        };
        return Line::from(vec![
            when,
            Span::styled("incident   ", bold(Color::Red)),
            Span::raw(format!("{id:<14} {service:<12} ")),
            Span::raw(format!("{cause} → ")),
            recovery,
        ]);
    }
    let status = if e.failed {
        Span::styled("failed", bold(Color::Red))
    } else {
        Span::styled("ok", Style::new().fg(Color::Green))
    };
    let mut spans = vec![
        when,
        Span::styled("deployment ", bold(Color::Blue)),
        Span::raw(format!("{id:<14} {service:<12} ")),
        status,
    ];
    if !e.incidents.is_empty() {
        spans.push(Span::raw(format!(" → {}", e.incidents.join(", "))));
    }
    if e.remediation {
        spans.push(Span::styled(" (rework)", dim()));
    }
    Line::from(spans)
}

/// `MM-DD HH:MM` in UTC.
fn short_time(ms: i64) -> String {
    let text = burnwatch_slo::api::params::format_rfc3339(ms);
    // 2024-05-01T12:00:00Z → 05-01 12:00
    match (text.get(5..10), text.get(11..16)) {
        (Some(d), Some(t)) => format!("{d} {t}"),
        _ => clock(ms),
    }
}

/// The colour of a DORA tier.
pub fn tier_color(tier: &str) -> Color {
    match tier {
        "elite" => Color::Cyan,
        "high" => Color::Green,
        "medium" => Color::Yellow,
        "low" => Color::Red,
        _ => Color::Reset,
    }
}

fn metric_row(m: &DoraMetric) -> Row<'static> {
    let value = match (real(m.value), m.display.as_str()) {
        // A missing value reads N/A whatever the backend wrote for it (never `NaN`).
        (None, _) | (_, "") => Span::styled("N/A", Style::new().fg(NA)),
        (Some(_), d) => Span::styled(d.to_string(), Style::new().add_modifier(Modifier::BOLD)),
    };
    let tier = match &m.tier {
        Some(t) => Span::styled(t.clone(), bold(tier_color(t))),
        None => Span::styled("—", dim()),
    };
    Row::new(vec![
        Cell::from(m.name.clone()),
        Cell::from(value),
        Cell::from(tier),
        Cell::from(trend(m)),
        Cell::from(previous(m)),
    ])
}

/// The arrow shows which way the number moved; its colour says whether that is good.
fn trend(m: &DoraMetric) -> Span<'static> {
    let arrow = match (real(m.value), real(m.previous)) {
        (Some(_), Some(_)) if m.trend == Trend::Same => "→",
        (Some(v), Some(p)) if v > p => "↑",
        (Some(v), Some(p)) if v < p => "↓",
        (Some(_), Some(_)) => "→",
        _ => return Span::styled("N/A", Style::new().fg(NA)),
    };
    let color = match m.trend {
        Trend::Better => Color::Green,
        Trend::Worse => Color::Red,
        Trend::Same => Color::Reset,
        Trend::Unknown => NA,
    };
    Span::styled(format!("  {arrow}"), bold(color))
}

/// The previous window's value, formatted by the backend in the current value's unit.
fn previous(m: &DoraMetric) -> Span<'static> {
    if real(m.previous).is_none() || m.previous_display.is_empty() {
        return Span::styled("N/A", Style::new().fg(NA));
    }
    Span::raw(m.previous_display.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(display: &str, value: Option<f64>, previous: Option<f64>, trend: Trend) -> DoraMetric {
        DoraMetric {
            name: "m".into(),
            value,
            display: display.into(),
            tier: None,
            previous,
            previous_display: previous.map_or("N/A".into(), |p| format!("{p}/day")),
            trend,
            weekly: Vec::new(),
        }
    }

    #[test]
    fn previous_values_show_the_backends_text_or_n_a() {
        let text = |m: &DoraMetric| previous(m).content.to_string();
        assert_eq!(
            text(&metric("2.4/day", Some(2.4), Some(1.25), Trend::Better)),
            "1.25/day"
        );
        assert_eq!(text(&metric("N/A", None, None, Trend::Unknown)), "N/A");
        assert_eq!(text(&metric("N/A", None, Some(f64::NAN), Trend::Unknown)), "N/A");
    }

    #[test]
    fn arrows_follow_the_number_and_colours_follow_the_judgement() {
        // Lead time went down: the arrow points down, and it is green because that is better.
        let s = trend(&metric("2h", Some(7200.0), Some(9000.0), Trend::Better));
        assert_eq!((s.content.trim(), s.style.fg), ("↓", Some(Color::Green)));
        let s = trend(&metric("5/day", Some(5.0), Some(4.0), Trend::Worse));
        assert_eq!((s.content.trim(), s.style.fg), ("↑", Some(Color::Red)));
        let s = trend(&metric("5/day", Some(5.0), Some(5.01), Trend::Same));
        assert_eq!(s.content.trim(), "→");
        assert_eq!(
            trend(&metric("N/A", None, Some(1.0), Trend::Unknown)).content,
            "N/A"
        );
    }
}
