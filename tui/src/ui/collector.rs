//! The collector view, from the collector's self-telemetry: whether its target is up, the
//! accepted / refused / failed item rates per signal, each exporter's sent and failed items, send
//! latency p50/p99 and queue fill, each pipeline's items in, out, refused and dropped, resident
//! memory against the `memory_limiter` limit with the soft limit (where
//! refusing starts) marked, and below, charts of the last hour: accepted, refused and failed
//! items per second (one line per signal) and RSS with both limits as flat lines. The charts take
//! the rows left over: in a short terminal (80×24 with two pipelines) the rows of numbers win.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Block, Cell, Chart, Dataset, GraphType, LegendPosition, LineGauge, Paragraph, Row, Table,
};

use super::message;
use super::widgets::{NA, bold, chart_bounds, dim, finite_range, mib, rate, real, truncate, unit};
use crate::app::{App, View};
use crate::model::CollectorView;

/// A point of a line: `(t_ms, value)`.
type Point = (i64, Option<f64>);

/// Each signal's line colour in the charts (spans, metric points, log records).
const SIGNAL_COLORS: [Color; 3] = [Color::Green, Color::Cyan, Color::Magenta];

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
    let exporters = exporter_names(c);
    let queue_height = exporters.len().max(1) as u16 + 1;
    let pipelines_height = c.pipelines.len().max(1) as u16 + 1;
    let [status, signals, _, queues, _, pipelines, _, memory, charts] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(signals_height),
        Constraint::Length(1),
        Constraint::Length(queue_height),
        Constraint::Length(1),
        Constraint::Length(pipelines_height),
        Constraint::Length(1),
        Constraint::Length(3),
        Constraint::Min(0),
    ])
    .areas(inner);
    frame.render_widget(Paragraph::new(status_line(c)), status);
    draw_signals(frame, signals, c);
    draw_queues(frame, queues, c, &exporters, app.scroll(View::Collector));
    draw_pipelines(frame, pipelines, c);
    draw_memory(frame, memory, c);
    draw_charts(frame, charts, c);
}

/// Every exporter the collector reports, with a queue or rates: queues first, in their order.
fn exporter_names(c: &CollectorView) -> Vec<&str> {
    let mut names: Vec<&str> = c.queues.iter().map(|q| q.exporter.as_str()).collect();
    for e in &c.exporters {
        if !names.contains(&e.exporter.as_str()) {
            names.push(&e.exporter);
        }
    }
    names
}

/// The last hour's charts, side by side: accepted, refused and failed items per second (a line
/// per signal), then RSS against the limits. Skipped when there is no room for a readable chart.
fn draw_charts(frame: &mut Frame, area: Rect, c: &CollectorView) {
    if area.height < 6 || area.width < 40 {
        return;
    }
    let [title, row] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(
                "Last hour ",
                Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
            ),
            Span::styled("(one point a minute)  ", dim()),
            Span::styled("spans ", Style::new().fg(SIGNAL_COLORS[0])),
            Span::styled("metric_points ", Style::new().fg(SIGNAL_COLORS[1])),
            Span::styled("log_records", Style::new().fg(SIGNAL_COLORS[2])),
        ])),
        title,
    );
    let cols: [Rect; 4] = Layout::horizontal([Constraint::Ratio(1, 4); 4]).areas(row);
    let per_signal = |pick: fn(&crate::model::SignalHistory) -> &crate::model::TimeLine| {
        c.history
            .iter()
            .enumerate()
            .map(|(i, h)| (SIGNAL_COLORS[i % SIGNAL_COLORS.len()], pick(h).as_slice()))
            .collect::<Vec<_>>()
    };
    line_chart(
        frame,
        cols[0],
        "accepted/s",
        &per_signal(|h| &h.accepted),
        short_rate,
    );
    line_chart(
        frame,
        cols[1],
        "refused/s",
        &per_signal(|h| &h.refused),
        short_rate,
    );
    line_chart(frame, cols[2], "failed/s", &per_signal(|h| &h.failed), short_rate);
    // The limits are flat lines over the RSS line's time range.
    let flat = |v: Option<f64>| -> Vec<(i64, Option<f64>)> {
        match real(v) {
            Some(v) if v.is_finite() && v > 0.0 => c.rss_history.iter().map(|(t, _)| (*t, Some(v))).collect(),
            _ => Vec::new(),
        }
    };
    let limit = flat(c.memory_limit_bytes);
    let soft = flat(c.memory_soft_limit_bytes);
    let memory = [
        (Color::Blue, c.rss_history.as_slice()),
        (Color::Red, limit.as_slice()),
        (Color::Yellow, soft.as_slice()),
    ];
    line_chart(frame, cols[3], "RSS · limit · soft", &memory, |v| {
        mib(Some(v)).replace(" MiB", "M")
    });
}

/// A bordered chart titled `title` of `lines` (colour, points), x in minutes before the newest
/// point, y from 0 labelled by `label`. No values at all reads N/A.
fn line_chart(
    frame: &mut Frame,
    area: Rect,
    title: &str,
    lines: &[(Color, &[Point])],
    label: fn(f64) -> String,
) {
    let block = Block::bordered()
        .title(Line::styled(format!(" {title} "), dim()))
        .border_style(dim());
    let end = lines.iter().flat_map(|(_, p)| p.iter().map(|p| p.0)).max();
    let data: Vec<Vec<(f64, f64)>> = lines
        .iter()
        .map(|(_, points)| {
            points
                .iter()
                .filter_map(|(t, v)| {
                    let v = v.filter(|v| v.is_finite())?;
                    // In f64: a server's i64 timestamps may be far enough apart to overflow.
                    Some(((*t as f64 - end.unwrap_or(*t) as f64) / 60_000.0, v))
                })
                .collect()
        })
        .collect();
    let Some((_, yhi)) = finite_range(data.iter().flatten().map(|p| p.1)) else {
        let inner = block.inner(area);
        frame.render_widget(block, area);
        message(frame, inner, "N/A", Style::new().fg(NA));
        return;
    };
    let xlo = finite_range(lines.iter().flat_map(|(_, p)| p.iter().map(|p| p.0 as f64)))
        .map_or(-60.0, |(lo, _)| (lo - end.unwrap_or(0) as f64) / 60_000.0);
    let top = yhi.max(0.0) * 1.1;
    let y = chart_bounds(0.0, if top.is_finite() { top } else { yhi });
    let x = chart_bounds(xlo, 0.0);
    // Points outside the bounds (negative rates, values near f64::MAX) are drawn at the edge:
    // ratatui would otherwise walk a line across an astronomically large grid.
    let data: Vec<Vec<(f64, f64)>> = data
        .into_iter()
        .map(|pts| {
            pts.into_iter()
                .map(|(t, v)| (t.clamp(x[0], x[1]), v.clamp(y[0], y[1])))
                .collect()
        })
        .collect();
    let datasets: Vec<Dataset> = lines
        .iter()
        .zip(&data)
        .map(|((color, _), pts)| {
            Dataset::default()
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::new().fg(*color))
                .data(pts)
        })
        .collect();
    let chart = Chart::new(datasets)
        .block(block)
        .x_axis(
            Axis::default()
                .bounds(x)
                .labels(super::detail::time_labels(x[0], x[1], "m"))
                .style(dim()),
        )
        .y_axis(
            Axis::default()
                .bounds(y)
                .labels([Line::from(label(y[0])), Line::from(label(y[1]))])
                .style(dim()),
        )
        .legend_position(None::<LegendPosition>);
    frame.render_widget(chart, area);
}

/// A rate for an axis label: `0`, `12`, `1.2k`, `3.4M`.
fn short_rate(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 10.0 || a == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
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

fn draw_queues(frame: &mut Frame, area: Rect, c: &CollectorView, names: &[&str], scroll: usize) {
    if area.height == 0 {
        return;
    }
    let [title, rest] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
    let name_width = 22u16.min(area.width / 4);
    frame.render_widget(
        Paragraph::new(Line::styled(
            format!(
                "{:<w$}{:>9} {:>9} {:>8} {:>8}   Queue",
                "Exporter",
                "Sent",
                "Failed",
                "p50",
                "p99",
                w = name_width as usize
            ),
            Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
        )),
        title,
    );
    if names.is_empty() {
        frame.render_widget(
            Paragraph::new(Line::styled("no exporters reported: N/A", dim())),
            rest,
        );
        return;
    }
    let skip = scroll.min(names.len().saturating_sub(1));
    for (i, name) in names.iter().skip(skip).enumerate() {
        let y = rest.y + i as u16;
        if y >= rest.bottom() {
            break;
        }
        let line = Rect { y, height: 1, ..rest };
        let [name_area, rates, count, gauge] = Layout::horizontal([
            Constraint::Length(name_width),
            Constraint::Length(38),
            Constraint::Length(14),
            Constraint::Min(0),
        ])
        .areas(line);
        frame.render_widget(
            Paragraph::new(truncate(name, name_width.saturating_sub(1) as usize)),
            name_area,
        );
        let r = c.exporters.iter().find(|e| e.exporter == *name);
        let sent = r.and_then(|r| r.sent_per_s);
        let failed = r.and_then(|r| r.failed_per_s);
        let failed_color = match real(failed) {
            None => NA,
            Some(f) if f > 0.0 => Color::Red,
            Some(_) => Color::Reset,
        };
        frame.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(
                    format!("{:>9} ", rate(sent)),
                    Style::new().fg(if real(sent).is_some() { Color::Reset } else { NA }),
                ),
                Span::styled(format!("{:>9} ", rate(failed)), Style::new().fg(failed_color)),
                latency_span(r.and_then(|r| r.send_p50_s)),
                latency_span(r.and_then(|r| r.send_p99_s)),
            ])),
            rates,
        );
        let Some(q) = c.queues.iter().find(|q| q.exporter == *name) else {
            let rest = Rect {
                width: line.right().saturating_sub(count.x),
                ..count
            };
            frame.render_widget(Paragraph::new(Line::styled("no sending queue", dim())), rest);
            continue;
        };
        let fill =
            (q.capacity.is_finite() && q.capacity > 0.0 && q.size.is_finite()).then(|| q.size / q.capacity);
        let color = match fill {
            None => NA,
            Some(f) if f >= 0.9 => Color::Red,
            Some(f) if f >= 0.5 => Color::Yellow,
            Some(_) => Color::Green,
        };
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

/// A send-latency quantile in an 8-wide column and a space: milliseconds below a second,
/// `N/A` (dim) without sends in the window.
fn latency_span(seconds: Option<f64>) -> Span<'static> {
    let text = match real(seconds) {
        None => return Span::styled(format!("{:>8} ", "N/A"), dim()),
        Some(s) if s.is_infinite() => format!("{}Inf", if s > 0.0 { "+" } else { "-" }),
        Some(s) if s.abs() < 1.0 => format!("{:.1}ms", s * 1000.0),
        Some(s) if s.abs() < 1e6 => format!("{s:.2}s"),
        Some(s) => format!("{s:.0e}s"),
    };
    Span::raw(format!("{text:>8} "))
}

/// One row per pipeline: its signal and the items per second that came in, went out to its
/// exporters and connectors, were refused back to the sender, and were dropped in between
/// (red when any were).
fn draw_pipelines(frame: &mut Frame, area: Rect, c: &CollectorView) {
    if area.height == 0 {
        return;
    }
    let header = Row::new(
        ["Pipeline", "Signal"]
            .into_iter()
            .map(String::from)
            .chain(["In", "Out", "Refused", "Dropped"].map(|h| format!("{h:>9}"))),
    )
    .style(bold(Color::Cyan));
    let rows: Vec<Row> = c
        .pipelines
        .iter()
        .map(|p| {
            let color = |v: Option<f64>| match real(v) {
                None => NA,
                Some(v) if v > 0.0 => Color::Red,
                Some(_) => Color::Reset,
            };
            let cell = |v: Option<f64>, c: Color| {
                Cell::from(Line::styled(format!("{:>9}", rate(v)), Style::new().fg(c)))
            };
            let plain = |v: Option<f64>| cell(v, if real(v).is_some() { Color::Reset } else { NA });
            Row::new(vec![
                Cell::from(truncate(&p.pipeline, 24)),
                Cell::from(truncate(&p.signal, 8)),
                plain(p.incoming_per_s),
                plain(p.outgoing_per_s),
                cell(p.refused_per_s, color(p.refused_per_s)),
                cell(p.dropped_per_s, color(p.dropped_per_s)),
            ])
        })
        .collect();
    let empty = rows.is_empty();
    let table = Table::new(
        rows,
        [
            Constraint::Length(24),
            Constraint::Length(8),
            Constraint::Length(9),
            Constraint::Length(9),
            Constraint::Length(9),
            Constraint::Length(9),
        ],
    )
    .header(header)
    .column_spacing(1);
    frame.render_widget(table, area);
    if empty {
        // A one-row message, not a table row: the first column would cut it short.
        let [_, rest] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
        frame.render_widget(
            Paragraph::new(Line::styled("no pipeline counts reported: N/A", dim())),
            rest,
        );
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
