//! The PromQL view: an input line, then the answer as a table (instant query) or a line chart
//! (range query over the last hour, one line per series). A failed query shows the server's
//! message and, when it names a position, a caret under that column of the input.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Block, Cell, Chart, Dataset, GraphType, LegendPosition, Paragraph, Row, Table, Wrap,
};

use super::message;
use super::widgets::{bold, bounds, dim, finite_range, truncate, width};
use crate::app::{App, View};
use crate::model::QueryOutcome;

/// Line colours, cycled over the series.
const PALETTE: [Color; 8] = [
    Color::Cyan,
    Color::Yellow,
    Color::Green,
    Color::Magenta,
    Color::LightBlue,
    Color::LightRed,
    Color::LightGreen,
    Color::White,
];

/// The prompt before the input text.
const PROMPT: &str = "› ";

/// Draws the PromQL view into `area`.
pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    // A parse error with a position gets a caret line right under the input.
    let caret = match app.outcome() {
        Some(QueryOutcome::Error {
            position: Some(p), ..
        }) => Some(*p),
        _ => None,
    };
    let [input, caret_row, result] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Length(u16::from(caret.is_some())),
        Constraint::Min(0),
    ])
    .areas(area);
    let scroll = draw_input(frame, input, app);
    if let Some(p) = caret {
        draw_caret(frame, caret_row, input, p, scroll);
    }
    draw_result(frame, result, app);
}

/// Draws the input box; returns how many characters are scrolled off its left edge (the caret
/// line must use the same shift).
fn draw_input(frame: &mut Frame, area: Rect, app: &App) -> usize {
    let focused = app.query_focused();
    let mode = if app.chart() {
        "chart, last 1h"
    } else {
        "table, instant"
    };
    let hint = if focused {
        " Enter: run · ^G/F2: table/chart · Esc: leave input "
    } else {
        " Enter/i: edit · ^G/F2: table/chart "
    };
    let block = Block::bordered()
        .title(Line::from(vec![
            Span::styled(" PromQL ", Style::new().add_modifier(Modifier::BOLD)),
            Span::styled(format!("({mode}) "), dim()),
        ]))
        .title_bottom(Line::styled(hint, dim()))
        .border_style(if focused {
            Style::new().fg(Color::Yellow)
        } else {
            Style::new()
        });
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let text = app.query().text();
    let cursor = app.query().cursor();
    let room = (inner.width as usize).saturating_sub(PROMPT.chars().count() + 1);
    // Keep the cursor on screen: scroll the text left once it passes the right edge.
    let scroll = cursor.saturating_sub(room);
    let shown: String = text.chars().skip(scroll).take(room + 1).collect();
    let line = if text.is_empty() && !focused {
        Line::from(vec![
            Span::styled(PROMPT, bold(Color::Yellow)),
            Span::styled("press Enter to type a query", dim()),
        ])
    } else if text.is_empty() {
        Line::from(vec![
            Span::styled(PROMPT, bold(Color::Yellow)),
            Span::styled(
                "e.g. sum by (code) (rate(http_server_request_duration_seconds_count[5m]))",
                dim(),
            ),
        ])
    } else {
        Line::from(vec![Span::styled(PROMPT, bold(Color::Yellow)), Span::raw(shown)])
    };
    frame.render_widget(Paragraph::new(line), inner);
    if focused && inner.width > 0 && inner.height > 0 {
        let before: String = text.chars().skip(scroll).take(cursor - scroll).collect();
        let x = inner.x + (width(PROMPT) + width(&before)).min(inner.width as usize - 1) as u16;
        frame.set_cursor_position((x, inner.y));
    }
    scroll
}

/// A `^` under input column `position` (the border, the prompt, then the text scrolled by
/// `scroll` characters), or the position in words when that column is off screen.
fn draw_caret(frame: &mut Frame, area: Rect, input: Rect, position: usize, scroll: usize) {
    let col = (1 + width(PROMPT)).saturating_add(position.saturating_sub(scroll));
    let line = if position < scroll || col >= input.width as usize {
        Line::styled(format!(" error at character {position}"), bold(Color::Red))
    } else {
        Line::from(vec![
            Span::raw(" ".repeat(col)),
            Span::styled("^", bold(Color::Red)),
            Span::styled(format!(" character {position}"), Style::new().fg(Color::Red)),
        ])
    };
    frame.render_widget(Paragraph::new(line), area);
}

fn draw_result(frame: &mut Frame, area: Rect, app: &App) {
    let running = if app.query_running() { " · running…" } else { "" };
    match app.outcome() {
        None => {
            let block = Block::bordered().title(format!(" result{running} "));
            let inner = block.inner(area);
            frame.render_widget(block, area);
            let text = if app.query_running() {
                "running…"
            } else {
                "no query run yet: type one and press Enter"
            };
            message(frame, inner, text, dim());
        }
        Some(QueryOutcome::Error { message, .. }) => {
            let block = Block::bordered()
                .title(Line::styled(format!(" query failed{running} "), bold(Color::Red)))
                .border_style(Style::new().fg(Color::Red));
            frame.render_widget(
                Paragraph::new(message.clone())
                    .style(Style::new().fg(Color::Red))
                    .wrap(Wrap { trim: false })
                    .block(block),
                area,
            );
        }
        Some(QueryOutcome::Table { rows }) => {
            let block =
                Block::bordered().title(format!(" result · {} series (instant){running} ", rows.len()));
            if rows.is_empty() {
                let inner = block.inner(area);
                frame.render_widget(block, area);
                message(frame, inner, "empty result: no series matched", dim());
                return;
            }
            let value_width = rows.iter().map(|(_, v)| width(v)).max().unwrap_or(5).clamp(5, 24) as u16;
            let skip = app.scroll(View::Promql).min(rows.len().saturating_sub(1));
            let label_width = area.width.saturating_sub(value_width + 4) as usize;
            let body: Vec<Row> = rows
                .iter()
                .skip(skip)
                .take(area.height as usize)
                .map(|(labels, value)| {
                    Row::new(vec![
                        Cell::from(truncate(labels, label_width)),
                        Cell::from(format!("{value:>w$}", w = value_width as usize)),
                    ])
                })
                .collect();
            let header = Row::new(vec![
                "Series".to_string(),
                format!("{:>w$}", "Value", w = value_width as usize),
            ])
            .style(Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD));
            let table = Table::new(body, [Constraint::Min(10), Constraint::Length(value_width)])
                .header(header)
                .column_spacing(1)
                .block(block);
            frame.render_widget(table, area);
        }
        Some(QueryOutcome::Lines { series }) => draw_chart(frame, area, series, running),
    }
}

fn draw_chart(frame: &mut Frame, area: Rect, series: &[(String, Vec<(i64, f64)>)], running: &str) {
    let block = Block::bordered().title(format!(
        " result · {} series (range, last 1h){running} ",
        series.len()
    ));
    let end = series.iter().flat_map(|(_, pts)| pts.iter().map(|p| p.0)).max();
    let Some(end) = end else {
        let inner = block.inner(area);
        frame.render_widget(block, area);
        message(frame, inner, "empty result: no series matched", dim());
        return;
    };
    // x in minutes before the newest point; non-finite values are left out (a gap in the line).
    let data: Vec<Vec<(f64, f64)>> = series
        .iter()
        .map(|(_, pts)| {
            pts.iter()
                .filter(|p| p.1.is_finite())
                .map(|p| ((p.0 as f64 - end as f64) / 60_000.0, p.1))
                .collect()
        })
        .collect();
    let (ylo, yhi) = finite_range(data.iter().flatten().map(|p| p.1)).unwrap_or((0.0, 1.0));
    let (xlo, _) = finite_range(data.iter().flatten().map(|p| p.0)).unwrap_or((-60.0, 0.0));
    let y = bounds(ylo, yhi);
    let x = bounds(xlo, 0.0);
    let legend_width = (area.width / 3).max(10) as usize;
    let datasets: Vec<Dataset> = series
        .iter()
        .zip(&data)
        .enumerate()
        .map(|(i, ((name, _), pts))| {
            let name = if name.is_empty() { "{}" } else { name.as_str() };
            Dataset::default()
                .name(truncate(name, legend_width))
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::new().fg(PALETTE[i % PALETTE.len()]))
                .data(pts)
        })
        .collect();
    let ylabels = [y[0], (y[0] + y[1]) / 2.0, y[1]]
        .iter()
        .map(|v| Line::from(short_number(*v)))
        .collect::<Vec<_>>();
    let chart = Chart::new(datasets)
        .block(block)
        .x_axis(
            Axis::default()
                .bounds(x)
                .labels(super::detail::time_labels(x[0], x[1], "m"))
                .style(dim()),
        )
        .y_axis(Axis::default().bounds(y).labels(ylabels).style(dim()))
        .legend_position(Some(LegendPosition::TopLeft))
        .hidden_legend_constraints((Constraint::Ratio(1, 2), Constraint::Ratio(2, 3)));
    frame.render_widget(chart, area);
}

/// An axis label: at most four significant digits, scientific for very large or small numbers.
fn short_number(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".to_string()
    } else if !(1e-3..1e6).contains(&a) {
        format!("{v:.2e}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::short_number;

    #[test]
    fn axis_numbers_stay_short() {
        assert_eq!(short_number(0.0), "0");
        assert_eq!(short_number(12.5), "12.5");
        assert_eq!(short_number(0.00012), "1.20e-4");
        assert_eq!(short_number(2.5e9), "2.50e9");
    }
}
