//! The Traces view: operations from the spanmetrics connector's series, busiest first by
//! default, with the error percentage and the p50/p90/p99 durations; `s`/`S` change the sort,
//! Enter opens the selected operation's quantiles over the last hour as a line chart.
//!
//! The status line says where the quantiles come from: exact (the HdrHistogram summary burnwatch's
//! connector writes) or interpolated from histogram buckets (a real otelcol's connector).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Cell, Chart, Dataset, GraphType, LegendPosition, Paragraph, Row, Table};

use super::message;
use super::widgets::{NA, bold, chart_bounds, dim, finite_range, real, truncate};
use crate::app::{App, TraceColumn, TraceSort};
use crate::model::{OperationLatency, OperationRow, TracesView};
use burnwatch_slo::spanmetrics::{CALLS, Operation};

/// The width of each number column: `100.00%`, `1234/s`, `12.3ms`.
const NUM_W: u16 = 7;
/// The span kind column: `internal`, `consumer`.
const KIND_W: u16 = 8;

/// The p50, p90 and p99 lines' colours.
const LINE_COLORS: [Color; 3] = [Color::Green, Color::Yellow, Color::Red];

/// Draws the Traces view into `area`.
pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    if app.operation_open()
        && let Some(op) = app.selected_operation()
    {
        draw_operation(frame, area, app, op);
        return;
    }
    let sort = app.trace_sort();
    let block = Block::bordered().title(Line::from(vec![
        Span::styled(" Traces ", Style::new().add_modifier(Modifier::BOLD)),
        Span::styled(
            format!(
                "· sort: {} {} (s, S) · Enter: latency over time ",
                column_name(sort.column),
                arrow(sort)
            ),
            dim(),
        ),
    ]));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(snapshot) = app.snapshot() else {
        message(frame, inner, "waiting for the first snapshot…", dim());
        return;
    };
    let [status, table] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(inner);
    frame.render_widget(Paragraph::new(status_line(&snapshot.traces)), status);
    let rows = app.operations();
    if rows.is_empty() {
        message(
            frame,
            table,
            &format!(
                "no operations: no {CALLS} series\n(spans become metrics through a spanmetrics connector)"
            ),
            dim(),
        );
        return;
    }
    draw_table(frame, table, &rows, app.selected_operation(), sort);
}

fn status_line(t: &TracesView) -> Line<'static> {
    let mut spans = vec![
        Span::raw(format!("{} operations", t.operations.len())),
        Span::styled(
            if t.window.is_empty() {
                String::new()
            } else {
                format!(" · rates over {}", t.window)
            },
            dim(),
        ),
        Span::styled(" · ", dim()),
    ];
    match t.source {
        Some(s) => spans.push(Span::styled(s.describe(), Style::new().fg(Color::Cyan))),
        None => spans.push(Span::styled(
            "no duration series: quantiles N/A",
            Style::new().fg(NA),
        )),
    }
    Line::from(spans)
}

fn column_name(c: TraceColumn) -> &'static str {
    match c {
        TraceColumn::Operation => "operation",
        TraceColumn::Rate => "rate",
        TraceColumn::Errors => "errors",
        TraceColumn::P50 => "p50",
        TraceColumn::P90 => "p90",
        TraceColumn::P99 => "p99",
    }
}

fn arrow(sort: TraceSort) -> &'static str {
    if sort.descending { "▼" } else { "▲" }
}

/// `SPAN_KIND_SERVER` as `server`.
fn kind(k: &str) -> String {
    k.strip_prefix("SPAN_KIND_").unwrap_or(k).to_lowercase()
}

/// A duration in milliseconds for people: `0.42ms`, `12.3ms`, `250ms`, `1.25s`, `N/A`.
pub fn duration_ms(v: Option<f64>) -> String {
    match real(v) {
        None => "N/A".to_string(),
        Some(v) if v.is_infinite() => format!("{}Inf", if v > 0.0 { "+" } else { "-" }),
        // Past a million seconds, exponent form: a value near f64::MAX written out in full is
        // 300 digits and pushes every other figure off the line.
        Some(v) if v.abs() >= 1e9 => format!("{:.1e}s", v / 1000.0),
        Some(v) if v.abs() >= 1000.0 => format!("{:.2}s", v / 1000.0),
        Some(v) if v.abs() >= 100.0 => format!("{v:.0}ms"),
        Some(v) if v.abs() >= 10.0 => format!("{v:.1}ms"),
        Some(v) => format!("{v:.2}ms"),
    }
}

/// A calls-per-second rate: `1234/s`, `12.3/s`, `0.05/s`.
fn calls(v: Option<f64>) -> String {
    match real(v) {
        None => "N/A".to_string(),
        Some(v) if v.is_infinite() => "+Inf/s".to_string(),
        Some(v) if v.abs() >= 100.0 => format!("{v:.0}/s"),
        Some(v) if v.abs() >= 1.0 => format!("{v:.1}/s"),
        Some(v) => format!("{v:.2}/s"),
    }
}

/// An error share as a percentage with two decimals (`0.05%`), `N/A` without calls.
fn error_pct(v: Option<f64>) -> String {
    match real(v) {
        None => "N/A".to_string(),
        Some(v) if v.is_infinite() => "+Inf%".to_string(),
        Some(v) => format!("{:.2}%", v * 100.0),
    }
}

fn error_color(v: Option<f64>) -> Color {
    match real(v) {
        None => NA,
        Some(v) if v >= 0.05 => Color::Red,
        Some(v) if v > 0.0 => Color::Yellow,
        Some(_) => Color::Reset,
    }
}

fn draw_table(
    frame: &mut Frame,
    area: Rect,
    rows: &[&OperationRow],
    selected: Option<&Operation>,
    sort: TraceSort,
) {
    if area.height < 2 {
        return;
    }
    let head = |c: TraceColumn, text: &str, right: bool| {
        let mark = if c == sort.column { arrow(sort) } else { " " };
        let label = format!("{text}{mark}");
        Cell::from(if right {
            format!("{label:>w$}", w = NUM_W as usize)
        } else {
            label
        })
    };
    let header = Row::new(vec![
        Cell::from("  Service"),
        head(TraceColumn::Operation, "Operation", false),
        Cell::from("Kind"),
        head(TraceColumn::Rate, "Rate", true),
        head(TraceColumn::Errors, "Errors", true),
        head(TraceColumn::P50, "p50", true),
        head(TraceColumn::P90, "p90", true),
        head(TraceColumn::P99, "p99", true),
    ])
    .style(Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD));
    // Only the rows that fit are built: the table may list hundreds of operations. The
    // selection stays on screen, at the bottom once it moves past the first page.
    let visible = (area.height - 1) as usize;
    let selected_index = selected.and_then(|op| rows.iter().position(|r| &r.op == op));
    let skip = selected_index.map_or(0, |i| (i + 1).saturating_sub(visible));
    let num_w = NUM_W;
    let fixed = KIND_W + num_w * 5 + 7;
    let flexible = area.width.saturating_sub(fixed);
    // `▶ ` plus `checkout`/`payments` at 80 columns; wider terminals give the span name the
    // room, up to a width that keeps the numbers near the names.
    let service_w = (flexible * 2 / 5).clamp(6, 26);
    let op_w = flexible.saturating_sub(service_w).clamp(4, 60);
    let body: Vec<Row> = rows
        .iter()
        .enumerate()
        .skip(skip)
        .take(visible)
        .map(|(i, r)| {
            let is_selected = Some(i) == selected_index;
            let marker = if is_selected { "▶ " } else { "  " };
            let num = |text: String, color: Color| {
                Cell::from(Span::styled(
                    format!("{text:>w$}", w = NUM_W as usize),
                    Style::new().fg(color),
                ))
            };
            let plain = |v: Option<f64>| if real(v).is_some() { Color::Reset } else { NA };
            let row = Row::new(vec![
                Cell::from(format!(
                    "{marker}{}",
                    truncate(&r.op.service, service_w.saturating_sub(2) as usize)
                )),
                Cell::from(truncate(&r.op.span_name, op_w as usize)),
                Cell::from(kind(&r.op.span_kind)),
                num(calls(r.rate_per_s), plain(r.rate_per_s)),
                num(error_pct(r.error_ratio), error_color(r.error_ratio)),
                num(duration_ms(r.p50_ms), plain(r.p50_ms)),
                num(duration_ms(r.p90_ms), plain(r.p90_ms)),
                num(duration_ms(r.p99_ms), plain(r.p99_ms)),
            ]);
            if is_selected {
                row.style(Style::new().add_modifier(Modifier::REVERSED))
            } else {
                row
            }
        })
        .collect();
    let table = Table::new(
        body,
        [
            Constraint::Length(service_w),
            Constraint::Length(op_w),
            Constraint::Length(KIND_W),
            Constraint::Length(num_w),
            Constraint::Length(num_w),
            Constraint::Length(num_w),
            Constraint::Length(num_w),
            Constraint::Length(num_w),
        ],
    )
    .header(header)
    .column_spacing(1);
    frame.render_widget(table, area);
}

fn draw_operation(frame: &mut Frame, area: Rect, app: &App, op: &Operation) {
    let block = Block::bordered().title(Line::from(vec![
        Span::styled(
            format!(
                " Traces › {} {} ({}) ",
                op.service,
                op.span_name,
                kind(&op.span_kind)
            ),
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Span::styled("· latency, last hour · ↑↓: other operation · Esc: back ", dim()),
    ]));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let chart = app
        .snapshot()
        .and_then(|s| s.operation.as_ref())
        .filter(|c| &c.op == op);
    let Some(chart) = chart else {
        message(frame, inner, "fetching this operation's latency…", dim());
        return;
    };
    let [status, body] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(inner);
    frame.render_widget(Paragraph::new(latency_status(chart)), status);
    draw_latency_chart(frame, body, chart);
}

/// The source and each line's newest value.
fn latency_status(c: &OperationLatency) -> Line<'static> {
    let mut spans = Vec::new();
    for (i, (name, points)) in c.lines.iter().enumerate() {
        let last = points.iter().rev().find_map(|p| p.1);
        spans.push(Span::styled(
            format!("{name} "),
            bold(LINE_COLORS[i % LINE_COLORS.len()]),
        ));
        spans.push(Span::raw(format!("{}  ", duration_ms(last))));
    }
    match c.source {
        Some(s) => spans.push(Span::styled(format!("· {}", s.describe()), dim())),
        None => spans.push(Span::styled("· no duration series: N/A", Style::new().fg(NA))),
    }
    Line::from(spans)
}

fn draw_latency_chart(frame: &mut Frame, area: Rect, c: &OperationLatency) {
    let end = c.lines.iter().flat_map(|(_, p)| p.iter().map(|p| p.0)).max();
    // x in minutes before the newest point; points without a value are gaps.
    let data: Vec<Vec<(f64, f64)>> = c
        .lines
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
    let Some((ylo, yhi)) = finite_range(data.iter().flatten().map(|p| p.1)) else {
        message(
            frame,
            area,
            "no latency for this operation in the last hour: N/A",
            dim(),
        );
        return;
    };
    let (xlo, _) = finite_range(c.lines.iter().flat_map(|(_, p)| p.iter().map(|p| p.0 as f64)))
        .map_or((-60.0, 0.0), |(lo, _)| {
            ((lo - end.unwrap_or(0) as f64) / 60_000.0, 0.0)
        });
    // Latency charts start at zero, so a flat line is not read as a spike.
    let top = yhi * 1.05;
    let y = chart_bounds(ylo.min(0.0), if top.is_finite() { top } else { yhi });
    let x = chart_bounds(xlo, 0.0);
    // Points outside the bounds are drawn at the edge: ratatui would otherwise walk a line across
    // an astronomically large grid.
    let data: Vec<Vec<(f64, f64)>> = data
        .into_iter()
        .map(|pts| {
            pts.into_iter()
                .map(|(t, v)| (t.clamp(x[0], x[1]), v.clamp(y[0], y[1])))
                .collect()
        })
        .collect();
    let datasets: Vec<Dataset> = c
        .lines
        .iter()
        .zip(&data)
        .enumerate()
        .map(|(i, ((name, _), pts))| {
            Dataset::default()
                .name(name.clone())
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::new().fg(LINE_COLORS[i % LINE_COLORS.len()]))
                .data(pts)
        })
        .collect();
    let ylabels = [y[0], (y[0] + y[1]) / 2.0, y[1]]
        .iter()
        .map(|v| Line::from(duration_ms(Some(*v))))
        .collect::<Vec<_>>();
    let chart = Chart::new(datasets)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_rates_read_as_people_expect() {
        assert_eq!(duration_ms(Some(0.42)), "0.42ms");
        assert_eq!(duration_ms(Some(12.34)), "12.3ms");
        assert_eq!(duration_ms(Some(250.0)), "250ms");
        assert_eq!(duration_ms(Some(1250.0)), "1.25s");
        assert_eq!(duration_ms(Some(f64::NAN)), "N/A");
        assert_eq!(duration_ms(None), "N/A");
        assert_eq!(duration_ms(Some(-f64::MAX)), "-1.8e305s");
        assert_eq!(duration_ms(Some(f64::NEG_INFINITY)), "-Inf");
        assert_eq!(calls(Some(0.05)), "0.05/s");
        assert_eq!(calls(Some(1234.0)), "1234/s");
        assert_eq!(error_pct(Some(0.0005)), "0.05%");
        assert_eq!(kind("SPAN_KIND_SERVER"), "server");
        assert_eq!(kind("custom"), "custom");
    }
}
