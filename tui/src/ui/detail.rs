//! The SLO detail view: a summary (objective, SLI, budget, policy, time to exhaustion), the
//! error-budget burndown over the period with the ideal line, the multiwindow burn-rate alert
//! table, and SLI sparklines over the last 5m / 1h / 6h.
//!
//! The status parts come from the snapshot's [`SloStatus`]; the series come from
//! [`SloDetail`](crate::model::SloDetail), fetched for the selected SLO only. While they belong
//! to another SLO (or have not arrived) the series panes say "loading…".

use burnwatch_slo::slo::Severity;
use burnwatch_slo::slo::status::SloStatus;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Block, Cell, Chart, Dataset, GraphType, LegendPosition, Paragraph, Row, Sparkline, SparklineBar,
    Table, Wrap,
};

use super::message;
use super::widgets::{
    NA, bold, bounds, burn, dim, finite_range, objective, pct, policy_color, policy_of, real,
};
use crate::app::App;
use crate::model::{BurndownPoint, SloDetail, Sparkline as SliSeries};

/// Draws the detail of the selected SLO into `area`.
pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let Some(slo) = app.selected() else {
        let block = Block::bordered().title(" SLO detail ");
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let text = if app.snapshot().is_none() {
            "waiting for the first snapshot…"
        } else {
            "no SLO selected: pick one in the SLOs view (1) and press Enter"
        };
        message(frame, inner, text, dim());
        return;
    };
    let detail = app
        .snapshot()
        .and_then(|s| s.detail.as_ref())
        .filter(|d| d.id == slo.id);

    let summary_lines = summary(slo);
    // The summary wraps on narrow terminals: count the rows it will take.
    let inner_width = area.width.saturating_sub(2).max(1) as usize;
    let summary_rows: usize = summary_lines
        .iter()
        .map(|l| l.width().div_ceil(inner_width).max(1))
        .sum();
    let alert_rows: usize = slo.alerts.iter().map(|a| a.rows.len()).sum();
    let wide = area.width >= 120;
    // On a tall terminal every part gets a border. On a short one (80×24) the summary, the
    // alert table and the sparklines go without (a title row each), so the burndown keeps
    // enough rows to show a shape.
    let tall = area.height >= 36;
    let frame_rows: u16 = if tall { 2 } else { 1 };
    let table_height = alert_rows as u16 + 1 + frame_rows;

    let [top, middle, bottom] = Layout::vertical([
        Constraint::Length(summary_rows as u16 + frame_rows),
        Constraint::Min(0),
        Constraint::Length(if tall { 6 } else { 3 }),
    ])
    .areas(area);
    draw_summary(frame, top, slo, summary_lines, tall);
    let (chart_area, table_area) = if wide {
        let [c, t] =
            Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(middle);
        (c, t)
    } else {
        let [c, t] = Layout::vertical([Constraint::Min(0), Constraint::Length(table_height)]).areas(middle);
        (c, t)
    };
    draw_burndown(frame, chart_area, slo, detail);
    draw_alert_table(frame, table_area, slo, tall);
    draw_sparklines(frame, bottom, slo, detail, tall);
}

fn summary(slo: &SloStatus) -> Vec<Line<'static>> {
    let policy = policy_of(slo);
    let color = policy_color(policy);
    let sli = slo
        .windows
        .iter()
        .find(|w| w.period)
        .and_then(|w| real(w.error_ratio))
        .map(|r| 1.0 - r);
    let current_window = slo
        .alerts
        .first()
        .and_then(|a| a.rows.first())
        .map(|r| r.short.clone());
    let mut lines = vec![
        Line::from(vec![
            Span::raw(format!(
                "objective {} over {}",
                objective(slo.objective),
                slo.period
            )),
            Span::styled(" · ", dim()),
            Span::raw(format!("SLI {}", pct(sli))),
            Span::styled(" · ", dim()),
            Span::raw(format!("burn now {}", burn(slo.current_burn_rate))),
            Span::styled(current_window.map_or(String::new(), |w| format!(" ({w})")), dim()),
        ]),
        Line::from(vec![
            Span::raw("budget left "),
            Span::styled(pct(slo.budget_remaining), bold(color)),
            Span::styled(" · ", dim()),
            Span::styled(
                match policy {
                    Some(p) => format!(
                        "{p}: {}",
                        slo.policy_action
                            .clone()
                            .unwrap_or_else(|| p.action().to_string())
                    ),
                    None => "no policy band (no traffic or no data)".to_string(),
                },
                Style::new().fg(color),
            ),
        ]),
    ];
    let exhaustion = match (
        &slo.exhaustion.human,
        real(slo.exhaustion.burn_rate),
        real(slo.budget_remaining),
    ) {
        (Some(h), _, _) => Span::styled(format!("budget gone in {h}"), bold(Color::Yellow)),
        (None, Some(_), Some(_)) => Span::styled("never at this rate", Style::new().fg(Color::Green)),
        _ => Span::styled("N/A", Style::new().fg(NA)),
    };
    lines.push(Line::from(vec![
        Span::raw("time to exhaustion: "),
        exhaustion,
        Span::styled(
            format!(
                " (at the {} burn rate, {})",
                slo.exhaustion.burn_window,
                burn(slo.exhaustion.burn_rate)
            ),
            dim(),
        ),
    ]));
    if let Some(e) = &slo.error {
        for l in e.lines() {
            lines.push(Line::styled(l.to_string(), Style::new().fg(Color::Red)));
        }
    }
    lines
}

/// A block with a border, or just its title row when space is short.
fn panel(bordered: bool) -> Block<'static> {
    if bordered { Block::bordered() } else { Block::new() }
}

fn draw_summary(frame: &mut Frame, area: Rect, slo: &SloStatus, lines: Vec<Line<'static>>, bordered: bool) {
    let title = Line::from(vec![
        Span::raw(" "),
        Span::styled(slo.service.clone(), bold(Color::Cyan)),
        Span::raw(" / "),
        Span::styled(slo.slo.clone(), bold(Color::Reset)),
        Span::styled("  ↑/↓: other SLO · Esc: back ", dim()),
    ]);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(panel(bordered).title(title)),
        area,
    );
}

/// The burndown x axis: time relative to the last point, in the largest unit that gives at least
/// two steps (days for a 30d period).
fn time_unit(span_ms: f64) -> (f64, &'static str) {
    if span_ms >= 2.0 * 86_400_000.0 {
        (86_400_000.0, "d")
    } else if span_ms >= 2.0 * 3_600_000.0 {
        (3_600_000.0, "h")
    } else {
        (60_000.0, "m")
    }
}

/// Relative-time axis labels for `[lo, hi]` in `unit`s (`d`, `h`, `m` or `s`): start, middle,
/// `now`.
///
/// Labels rounded to whole units repeat when the data spans less than the axis's unit allows
/// (`-1m -1m now` over 1.2 minutes, issue #12): a span under two units is labelled in the next
/// smaller unit (`-72s -36s now`), and the labels get as many decimals (up to three) as keep them
/// apart. A span of no width (one point) is labelled `now` in the middle only.
pub(crate) fn time_labels(lo: f64, hi: f64, unit: &str) -> Vec<Line<'static>> {
    let (mut lo, mut hi, mut unit) = (lo, hi, unit);
    while hi - lo < 2.0 {
        let (factor, smaller) = match unit {
            "d" => (24.0, "h"),
            "h" => (60.0, "m"),
            "m" => (60.0, "s"),
            _ => break,
        };
        (lo, hi, unit) = (lo * factor, hi * factor, smaller);
    }
    let label = |v: f64, decimals: usize| {
        let text = format!("{v:.decimals$}");
        let text = if text.contains('.') {
            text.trim_end_matches('0').trim_end_matches('.')
        } else {
            &text
        };
        if text.parse::<f64>().is_ok_and(|x| x == 0.0) {
            "now".to_string()
        } else {
            format!("{text}{unit}")
        }
    };
    let at = [lo, (lo + hi) / 2.0, hi];
    for decimals in 0..=3 {
        let labels = at.map(|v| label(v, decimals));
        if labels[0] != labels[1] && labels[1] != labels[2] {
            return labels.into_iter().map(Line::from).collect();
        }
    }
    vec![Line::from(""), Line::from("now"), Line::from("")]
}

fn draw_burndown(frame: &mut Frame, area: Rect, slo: &SloStatus, detail: Option<&SloDetail>) {
    let block = Block::bordered().title(format!(" error budget burndown ({}) ", slo.period));
    let Some(detail) = detail else {
        let inner = block.inner(area);
        frame.render_widget(block, area);
        message(frame, inner, "loading…", dim());
        return;
    };
    let points: &[BurndownPoint] = &detail.burndown;
    let end = points.iter().map(|p| p.t_ms).max().unwrap_or(0);
    let start = points.iter().map(|p| p.t_ms).min().unwrap_or(0);
    // In f64: the difference of two arbitrary i64 timestamps may not fit an i64.
    let (unit, unit_name) = time_unit(end as f64 - start as f64);
    let x = |t: i64| (t as f64 - end as f64) / unit;
    let remaining: Vec<(f64, f64)> = points
        .iter()
        .filter_map(|p| {
            real(p.remaining)
                .filter(|v| v.is_finite())
                .map(|v| (x(p.t_ms), v))
        })
        .collect();
    let ideal: Vec<(f64, f64)> = points
        .iter()
        .filter(|p| p.ideal.is_finite())
        .map(|p| (x(p.t_ms), p.ideal))
        .collect();
    if remaining.is_empty() && ideal.is_empty() {
        let inner = block.inner(area);
        frame.render_widget(block, area);
        message(
            frame,
            inner,
            "no burndown points (no traffic in the period?)",
            dim(),
        );
        return;
    }
    let (ylo, yhi) = finite_range(remaining.iter().chain(&ideal).map(|p| p.1)).unwrap_or((0.0, 1.0));
    // y from min(0, lowest value) to 1 (higher only if the data says so).
    let y = bounds(ylo.min(0.0), yhi.max(1.0));
    let xb = bounds(x(start), 0.0);
    let color = policy_color(policy_of(slo));
    let datasets = vec![
        Dataset::default()
            .name("ideal")
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(Style::new().fg(Color::DarkGray))
            .data(&ideal),
        Dataset::default()
            .name("remaining")
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(Style::new().fg(if color == NA { Color::Cyan } else { color }))
            .data(&remaining),
    ];
    let ylabels = vec![
        Line::from(pct(Some(y[0]))),
        Line::from(pct(Some((y[0] + y[1]) / 2.0))),
        Line::from(pct(Some(y[1]))),
    ];
    let chart = Chart::new(datasets)
        .block(block)
        .x_axis(
            Axis::default()
                .bounds(xb)
                .labels(time_labels(xb[0], xb[1], unit_name))
                .style(dim()),
        )
        .y_axis(Axis::default().bounds(y).labels(ylabels).style(dim()))
        // Bottom left: both lines start at the top left (a full budget) and the newest points,
        // the ones a reader looks at, are at the right.
        .legend_position(Some(LegendPosition::BottomLeft))
        .hidden_legend_constraints((Constraint::Ratio(1, 2), Constraint::Ratio(1, 2)));
    frame.render_widget(chart, area);
}

fn draw_alert_table(frame: &mut Frame, area: Rect, slo: &SloStatus, bordered: bool) {
    let block = panel(bordered).title(format!(
        " burn-rate alerts (budget {}) ",
        pct(Some(slo.error_budget))
    ));
    if slo.alerts.iter().all(|a| a.rows.is_empty()) {
        let inner = block.inner(area);
        frame.render_widget(block, area);
        message(frame, inner, "no alert rows", dim());
        return;
    }
    let budget = slo.error_budget;
    let as_burn = |r: Option<f64>| real(r).map(|r| r / budget);
    let mut rows = Vec::new();
    for alert in &slo.alerts {
        let sev_style = match alert.severity {
            Severity::Page => Style::new().fg(Color::Red),
            Severity::Ticket => Style::new().fg(Color::Yellow),
        };
        for r in &alert.rows {
            let long = as_burn(r.long_error_ratio);
            let short = as_burn(r.short_error_ratio);
            let state = if long.is_none() || short.is_none() {
                Span::styled("N/A", Style::new().fg(NA))
            } else if r.firing && alert.enabled {
                Span::styled("FIRING", bold(Color::Red).add_modifier(Modifier::REVERSED))
            } else if r.firing {
                Span::styled("over (alert off)", Style::new().fg(Color::Yellow))
            } else {
                Span::styled("ok", Style::new().fg(Color::Green))
            };
            let over = |v: Option<f64>| {
                Style::new().fg(match v {
                    None => NA,
                    Some(v) if v >= r.burn_rate_threshold => Color::Red,
                    Some(_) => Color::Reset,
                })
            };
            let severity = if alert.enabled {
                alert.severity.to_string()
            } else {
                format!("{} (off)", alert.severity)
            };
            rows.push(Row::new(vec![
                Cell::from(Span::styled(severity, sev_style)),
                Cell::from(format!("{}/{}", r.long, r.short)),
                Cell::from(format!("{:>7}", burn(Some(r.burn_rate_threshold)))),
                Cell::from(Span::styled(format!("{:>7}", burn(long)), over(long))),
                Cell::from(Span::styled(format!("{:>7}", burn(short)), over(short))),
                Cell::from(state),
            ]));
        }
    }
    let header = Row::new(vec![
        "Severity",
        "Long/short",
        " Factor",
        "   Long",
        "  Short",
        "State",
    ])
    .style(Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD));
    let table = Table::new(
        rows,
        [
            Constraint::Length(12),
            Constraint::Length(10),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Min(6),
        ],
    )
    .header(header)
    .column_spacing(1)
    .block(block);
    frame.render_widget(table, area);
}

/// Bar heights for SLI values, 0..=100: the range from `floor` to 1 maps to 12..=100, so the
/// worst point still shows a visible sliver (an eighth of a row even two rows high) and an
/// absent point (no traffic) is the only empty one. `floor` is the lower of the worst value and
/// `1 − 2 × budget` (the objective then sits half-way up when every point meets it), so a
/// near-perfect SLI does not turn small noise into full-height swings.
fn bar_heights(points: &[Option<f64>], error_budget: f64) -> Vec<Option<u64>> {
    let budget = if error_budget.is_finite() && error_budget > 0.0 {
        error_budget
    } else {
        0.001
    };
    let worst = finite_range(points.iter().flatten().copied()).map_or(1.0, |(lo, _)| lo);
    // Both bounds are finite (`worst` comes from finite values only), so clamp cannot panic.
    let floor = worst.min(1.0 - 2.0 * budget).clamp(0.0, 1.0 - 1e-9);
    points
        .iter()
        .map(|p| {
            p.filter(|v| v.is_finite())
                .map(|v| (((v - floor) / (1.0 - floor)).clamp(0.0, 1.0) * 88.0).round() as u64 + 12)
        })
        .collect()
}

/// Fits `points` into `width` bars: each bar is the worst (lowest) SLI of its bucket, so a short
/// dip stays visible; a bucket without any value is a gap.
fn resample(points: &[(i64, Option<f64>)], width: usize) -> Vec<Option<f64>> {
    if width == 0 || points.is_empty() {
        return Vec::new();
    }
    if points.len() <= width {
        return points.iter().map(|p| p.1).collect();
    }
    (0..width)
        .map(|i| {
            let a = i * points.len() / width;
            let b = ((i + 1) * points.len() / width).max(a + 1);
            points[a..b]
                .iter()
                .filter_map(|p| real(p.1))
                .fold(None, |acc: Option<f64>, v| Some(acc.map_or(v, |a| a.min(v))))
        })
        .collect()
}

/// The longest of the sparkline titles that fits `width`: the gap count always stays (a gap
/// is drawn as `·` and must be explained), the details go first.
fn sparkline_title(
    series: &SliSeries,
    gaps: usize,
    worst: Option<f64>,
    last: Option<f64>,
    width: usize,
) -> Line<'static> {
    let gap_text = match gaps {
        0 => String::new(),
        1 => "· 1 gap ".to_string(),
        n => format!("· {n} gaps "),
    };
    let candidates = [
        format!(
            " SLI {} ({} rate) · min {} · last {} ",
            series.span,
            series.rate_window,
            pct(worst),
            pct(last)
        ),
        format!(" SLI {} · min {} · last {} ", series.span, pct(worst), pct(last)),
        format!(" {} last {} ", series.span, pct(last)),
        format!(" {} ", series.span),
    ];
    let room = width.saturating_sub(width_of(&gap_text));
    let text = candidates
        .iter()
        .find(|c| width_of(c) <= room)
        .cloned()
        .unwrap_or_default();
    Line::from(vec![
        Span::raw(text),
        Span::styled(gap_text, Style::new().fg(Color::Yellow)),
    ])
}

fn width_of(s: &str) -> usize {
    super::widgets::width(s)
}

fn draw_sparklines(
    frame: &mut Frame,
    area: Rect,
    slo: &SloStatus,
    detail: Option<&SloDetail>,
    bordered: bool,
) {
    let spans: Vec<&SliSeries> = detail.map(|d| d.sparklines.iter().collect()).unwrap_or_default();
    let n = spans.len().max(3) as u32;
    let areas = Layout::horizontal((0..n).map(|_| Constraint::Ratio(1, n))).split(area);
    // With borders the title sits on the top border; without, on a row of its own.
    let split = |a: Rect, title: Line<'static>| -> (Block<'static>, Rect) {
        let block = panel(bordered).title(title);
        let mut inner = block.inner(a);
        if !bordered {
            // A column of space between neighbours that have no border to separate them.
            inner.width = inner.width.saturating_sub(1);
        }
        (block, inner)
    };
    if detail.is_none() {
        for (a, span) in areas.iter().zip(["5m", "1h", "6h"]) {
            let (block, inner) = split(*a, Line::from(format!(" SLI {span} ")));
            frame.render_widget(block, *a);
            message(frame, inner, "loading…", dim());
        }
        return;
    }
    for (i, a) in areas.iter().enumerate() {
        let Some(series) = spans.get(i) else {
            continue;
        };
        let title_width = a.width.saturating_sub(if bordered { 2 } else { 1 }) as usize;
        let gaps = series.points.iter().filter(|p| real(p.1).is_none()).count();
        let last = series.points.iter().rev().find_map(|p| real(p.1));
        let worst = finite_range(series.points.iter().filter_map(|p| real(p.1))).map(|r| r.0);
        let (block, inner) = split(*a, sparkline_title(series, gaps, worst, last, title_width));
        frame.render_widget(block, *a);
        if series.points.is_empty() {
            message(frame, inner, "no points", dim());
            continue;
        }
        let values = resample(&series.points, inner.width as usize);
        let heights = bar_heights(&values, slo.error_budget);
        let bars: Vec<SparklineBar> = values
            .iter()
            .zip(heights)
            .map(|(v, h)| {
                let below = real(*v).is_some_and(|v| v < slo.objective);
                SparklineBar::from(h).style(Some(Style::new().fg(if below {
                    Color::Red
                } else {
                    Color::Green
                })))
            })
            .collect();
        frame.render_widget(
            Sparkline::default()
                .data(bars)
                .max(100)
                .absent_value_symbol("·")
                .absent_value_style(Style::new().fg(Color::Yellow)),
            inner,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sli_bars_keep_gaps_and_put_the_objective_half_way() {
        // Budget 0.001: floor = 0.998, so 0.999 is half-way and 1.0 is full height.
        let h = bar_heights(&[Some(1.0), Some(0.999), None, Some(f64::NAN)], 0.001);
        assert_eq!(h, vec![Some(100), Some(56), None, None]);
        // A dip below the floor moves the floor down with it, and still shows.
        let h = bar_heights(&[Some(0.9), Some(1.0)], 0.001);
        assert_eq!(h, vec![Some(12), Some(100)]);
        // Odd budgets do not divide by zero.
        assert_eq!(bar_heights(&[Some(1.0)], 0.0), vec![Some(100)]);
        assert_eq!(bar_heights(&[Some(0.0)], f64::NAN), vec![Some(12)]);
    }

    fn label_texts(lo: f64, hi: f64, unit: &str) -> Vec<String> {
        time_labels(lo, hi, unit).iter().map(|l| l.to_string()).collect()
    }

    /// Issue #12: data spanning 1.2 minutes of a minute axis was labelled `-1m -1m now`.
    #[test]
    fn time_labels_do_not_repeat_when_the_data_spans_less_than_the_unit() {
        assert_eq!(label_texts(-1.2, 0.0, "m"), ["-72s", "-36s", "now"]);
        assert_eq!(label_texts(-1.0, 0.0, "m"), ["-60s", "-30s", "now"]);
        assert_eq!(label_texts(-60.0, 0.0, "m"), ["-60m", "-30m", "now"]);
        assert_eq!(label_texts(-30.0, 0.0, "d"), ["-30d", "-15d", "now"]);
        assert_eq!(label_texts(-3.0, 0.0, "m"), ["-3m", "-2m", "now"]);
        assert_eq!(label_texts(-1.5, 0.0, "d"), ["-36h", "-18h", "now"]);
        assert_eq!(label_texts(-1.0 / 60.0, 0.0, "m"), ["-1s", "-0.5s", "now"]);
        // One point: the axis is padded around it and the middle is now.
        let [lo, hi] = crate::ui::widgets::bounds(0.0, 0.0);
        assert_eq!(label_texts(lo, hi, "m"), ["", "now", ""]);
        for (lo, hi) in [(-1.2, 0.0), (-2.5, 0.0), (-0.1, 0.0), (-45.0, 0.0), (-7.0, 0.0)] {
            for unit in ["d", "h", "m", "s"] {
                let l = label_texts(lo, hi, unit);
                assert!(l[0] != l[1] && l[1] != l[2], "{lo} {hi} {unit}: {l:?}");
            }
        }
    }

    #[test]
    fn resampling_keeps_the_worst_point_of_each_bucket() {
        let pts: Vec<(i64, Option<f64>)> = vec![(0, Some(1.0)), (1, Some(0.5)), (2, None), (3, None)];
        assert_eq!(resample(&pts, 2), vec![Some(0.5), None]);
        assert_eq!(resample(&pts, 8).len(), 4);
        assert!(resample(&pts, 0).is_empty());
    }
}
