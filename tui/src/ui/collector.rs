//! The collector view, from the collector's self-telemetry: whether its target is up, the
//! accepted / refused / failed item rates per signal, each exporter queue's fill, and resident
//! memory against the `memory_limiter` limit with the soft limit (where refusing starts) marked.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, LineGauge, Paragraph, Row, Table};

use super::message;
use super::widgets::{NA, bold, dim, mib, rate, real, truncate, unit};
use crate::app::{App, View};
use crate::model::CollectorView;

/// Draws the collector view into `area`.
pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let block = Block::bordered().title(Line::styled(
        " Collector ",
        Style::new().add_modifier(Modifier::BOLD),
    ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(snapshot) = app.snapshot() else {
        message(frame, inner, "waiting for the first snapshot…", dim());
        return;
    };
    let c = &snapshot.collector;
    let signals_height = c.signals.len().max(1) as u16 + 1;
    let queue_height = c.queues.len().max(1) as u16 + 1;
    let [status, signals, _, queues, _, memory] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(signals_height),
        Constraint::Length(1),
        Constraint::Length(queue_height),
        Constraint::Length(1),
        Constraint::Length(3),
    ])
    .areas(inner);
    frame.render_widget(Paragraph::new(status_line(c)), status);
    draw_signals(frame, signals, c);
    draw_queues(frame, queues, c, app.scroll(View::Collector));
    draw_memory(frame, memory, c);
}

fn status_line(c: &CollectorView) -> Line<'static> {
    match c.up {
        Some(true) => Line::from(vec![
            Span::raw("self-telemetry target "),
            Span::styled("up", bold(Color::Green)),
            Span::styled(" (rates per second over the last minute)", dim()),
        ]),
        Some(false) => Line::from(vec![
            Span::raw("self-telemetry target "),
            Span::styled("DOWN", bold(Color::Red).add_modifier(Modifier::REVERSED)),
            Span::styled(
                " (its last scrape failed: the numbers below are stale or missing)",
                Style::new().fg(Color::Red),
            ),
        ]),
        None => Line::styled(
            "the collector's self-telemetry is not scraped (no `up` series): N/A",
            Style::new().fg(NA),
        ),
    }
}

fn draw_signals(frame: &mut Frame, area: Rect, c: &CollectorView) {
    let header = Row::new(vec!["Signal", "   Accepted", "    Refused", "     Failed"])
        .style(Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD));
    let cell = |v: Option<f64>, bad: Color| {
        let color = match real(v) {
            None => NA,
            Some(x) if x > 0.0 => bad,
            Some(_) => Color::Reset,
        };
        Cell::from(Span::styled(format!("{:>11}", rate(v)), Style::new().fg(color)))
    };
    let mut rows: Vec<Row> = c
        .signals
        .iter()
        .map(|s| {
            Row::new(vec![
                Cell::from(s.signal.clone()),
                cell(s.accepted_per_s, Color::Green),
                cell(s.refused_per_s, Color::Yellow),
                cell(s.failed_per_s, Color::Red),
            ])
        })
        .collect();
    if rows.is_empty() {
        rows.push(Row::new(vec![Cell::from(Span::styled(
            "no otelcol_* rates: N/A",
            dim(),
        ))]));
    }
    let table = Table::new(
        rows,
        [
            Constraint::Length(14),
            Constraint::Length(11),
            Constraint::Length(11),
            Constraint::Length(11),
        ],
    )
    .header(header)
    .column_spacing(2);
    frame.render_widget(table, area);
}

fn draw_queues(frame: &mut Frame, area: Rect, c: &CollectorView, scroll: usize) {
    if area.height == 0 {
        return;
    }
    let [title, rest] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
    frame.render_widget(
        Paragraph::new(Line::styled(
            "Exporter queues",
            Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
        )),
        title,
    );
    if c.queues.is_empty() {
        frame.render_widget(
            Paragraph::new(Line::styled("no sending queues reported: N/A", dim())),
            rest,
        );
        return;
    }
    let skip = scroll.min(c.queues.len().saturating_sub(1));
    let name_width = 22u16.min(area.width / 3);
    for (i, q) in c.queues.iter().skip(skip).enumerate() {
        let y = rest.y + i as u16;
        if y >= rest.bottom() {
            break;
        }
        let line = Rect { y, height: 1, ..rest };
        let [name, count, gauge] = Layout::horizontal([
            Constraint::Length(name_width),
            Constraint::Length(14),
            Constraint::Min(0),
        ])
        .areas(line);
        let fill =
            (q.capacity.is_finite() && q.capacity > 0.0 && q.size.is_finite()).then(|| q.size / q.capacity);
        let color = match fill {
            None => NA,
            Some(f) if f >= 0.9 => Color::Red,
            Some(f) if f >= 0.5 => Color::Yellow,
            Some(_) => Color::Green,
        };
        frame.render_widget(
            Paragraph::new(truncate(&q.exporter, name_width.saturating_sub(1) as usize)),
            name,
        );
        frame.render_widget(
            Paragraph::new(format!("{:>6}/{:<6}", num(q.size), num(q.capacity))),
            count,
        );
        let label = match fill {
            None => "N/A ".to_string(),
            Some(f) => format!("{:>3.0}%", unit(f) * 100.0),
        };
        frame.render_widget(bar(fill.unwrap_or(0.0), label, color), gauge);
    }
}

/// A one-row gauge: `label`, then a bar of `█` over `░` filled to `ratio` (clamped: ratatui
/// panics outside [0, 1]).
fn bar(ratio: f64, label: String, color: Color) -> LineGauge<'static> {
    LineGauge::default()
        .ratio(unit(ratio))
        .label(Line::styled(label, Style::new().fg(color)))
        .filled_symbol("█")
        .unfilled_symbol("░")
        .filled_style(Style::new().fg(color))
        .unfilled_style(Style::new().fg(Color::Indexed(238)))
}

fn num(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.0}")
    } else {
        "N/A".to_string()
    }
}

fn draw_memory(frame: &mut Frame, area: Rect, c: &CollectorView) {
    if area.height == 0 {
        return;
    }
    let [title, gauge_row, marker_row] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let rss = real(c.rss_bytes).filter(|v| v.is_finite());
    let limit = real(c.memory_limit_bytes).filter(|v| v.is_finite() && *v > 0.0);
    let soft = real(c.memory_soft_limit_bytes).filter(|v| v.is_finite() && *v > 0.0);
    let heading = Span::styled(
        "Memory  ",
        Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
    );
    let (Some(rss), Some(limit)) = (rss, limit) else {
        let text = match rss {
            Some(r) => format!("RSS {} (no memory_limiter limit reported)", mib(Some(r))),
            None => "RSS N/A".to_string(),
        };
        frame.render_widget(
            Paragraph::new(Line::from(vec![heading, Span::styled(text, Style::new().fg(NA))])),
            title,
        );
        return;
    };
    let color = if rss >= limit {
        Color::Red
    } else if soft.is_some_and(|s| rss >= s) {
        Color::Yellow
    } else {
        Color::Green
    };
    let text = format!(
        "RSS {} of {} limit{}",
        mib(Some(rss)),
        mib(Some(limit)),
        soft.map_or(String::new(), |s| format!(
            " · soft limit {} (refusing starts)",
            mib(Some(s))
        ))
    );
    frame.render_widget(Paragraph::new(Line::from(vec![heading, Span::raw(text)])), title);
    let label = format!("{:>3.0}%", unit(rss / limit) * 100.0);
    let label_width = label.chars().count() as u16;
    frame.render_widget(bar(rss / limit, label, color), gauge_row);
    if let Some(s) = soft {
        // LineGauge draws the label and one space, then the bar over the rest of the row: the
        // marker goes under the soft limit's share of that bar.
        let bar_x = label_width + 1;
        let bar_width = marker_row.width.saturating_sub(bar_x);
        if bar_width == 0 {
            return;
        }
        let col = bar_x as usize
            + (unit(s / limit) * f64::from(bar_width))
                .floor()
                .min(f64::from(bar_width - 1)) as usize;
        let words = " soft limit";
        let line = if col + 1 + words.chars().count() <= marker_row.width as usize {
            " ".repeat(col) + "▲" + words
        } else {
            // Too close to the right edge for the words: put them before the marker.
            let words = "soft limit ";
            " ".repeat(col.saturating_sub(words.chars().count())) + words + "▲"
        };
        frame.render_widget(
            Paragraph::new(Line::styled(line, Style::new().fg(Color::Yellow))),
            marker_row,
        );
    }
}
