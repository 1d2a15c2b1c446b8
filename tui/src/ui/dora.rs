//! The DORA view: the five metrics over the window with their 2024 tier and the trend against
//! the window before. Without any `dora_*` series it says how to send deployment events.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Row, Table};

use super::message;
use super::widgets::{NA, bold, dim, real};
use crate::app::{App, View};
use crate::model::{DoraMetric, Trend};

/// The hint shown when there is nothing to show.
pub const NO_DATA_HINT: &str =
    "no dora_* series: POST events to /api/v1/dora/events (see `burnwatch dora --help`)";

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
    if !dora.has_data || dora.metrics.is_empty() {
        let inner = block.inner(area);
        frame.render_widget(block, area);
        message(frame, inner, NO_DATA_HINT, Style::new().fg(Color::Yellow));
        return;
    }
    let rows: Vec<Row> = dora
        .metrics
        .iter()
        .skip(app.scroll(View::Dora).min(dora.metrics.len().saturating_sub(1)))
        .map(metric_row)
        .collect();
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
    .column_spacing(2)
    .block(block);
    frame.render_widget(table, area);
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
