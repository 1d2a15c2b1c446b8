//! Rendering: [`draw`] paints one frame from the [`App`] state and its snapshot. It does no I/O
//! and changes nothing but the SLO table's scroll position (kept in a `Cell` of the app).
//!
//! The frame is a tab bar (one line), the current view, and a status bar (one line): the data
//! source, the last refresh, fetch errors, the demo knob and key hints. The help overlay (`?`)
//! draws over all of it. One file per view: [`slos`], [`detail`], [`dora`], [`collector`],
//! [`promql`], [`traces`], [`help`]; shared formatting and guards live in [`widgets`].
//!
//! Every view must draw any [`Snapshot`](crate::model::Snapshot) without panicking, at any
//! terminal size down to 1×1: numbers go through [`widgets`] (NaN reads `N/A`), gauge ratios
//! through [`widgets::unit`], chart bounds through [`widgets::bounds`].

pub mod collector;
pub mod detail;
pub mod dora;
pub mod help;
pub mod learn;
pub mod promql;
pub mod slos;
pub mod traces;
pub mod widgets;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Tabs};

use crate::app::{App, View};
use widgets::{bold, dim, pct, truncate, width};

/// Draws the whole dashboard into `frame`. `knob` is the demo traffic's current error rate when
/// the dashboard runs with `--demo` (the status bar then shows it and the `+`/`-` keys).
pub fn draw(frame: &mut Frame, app: &App, knob: Option<f64>) {
    let [tabs, body, status] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0), Constraint::Length(1)])
            .areas(frame.area());
    draw_tabs(frame, tabs, app);
    match app.view() {
        View::Slos => slos::draw(frame, body, app),
        View::Detail => detail::draw(frame, body, app),
        View::Dora => dora::draw(frame, body, app),
        View::Collector => collector::draw(frame, body, app),
        View::Promql => promql::draw(frame, body, app),
        View::Traces => traces::draw(frame, body, app),
    }
    draw_status(frame, status, app, knob);
    if app.help() {
        help::draw(frame, frame.area());
    }
}

fn draw_tabs(frame: &mut Frame, area: Rect, app: &App) {
    let title = format!(" {} ", app.title());
    let title_width = (width(&title) as u16).min(area.width / 3);
    let [left, right] = Layout::horizontal([Constraint::Length(title_width), Constraint::Min(0)]).areas(area);
    frame.render_widget(
        Paragraph::new(truncate(&title, left.width as usize)).style(
            Style::new()
                .fg(Color::Black)
                .bg(Color::Cyan)
                .add_modifier(Modifier::BOLD),
        ),
        left,
    );
    let titles = View::ALL
        .iter()
        .map(|v| format!("{} {}", v.index() + 1, v.title()));
    frame.render_widget(
        Tabs::new(titles)
            .select(app.view().index())
            .highlight_style(
                Style::new()
                    .fg(Color::Cyan)
                    .add_modifier(Modifier::BOLD | Modifier::REVERSED),
            )
            .divider("│"),
        right,
    );
}

fn draw_status(frame: &mut Frame, area: Rect, app: &App, knob: Option<f64>) {
    if app.filter_editing() {
        let line = Line::from(vec![
            Span::styled("/", bold(Color::Yellow)),
            Span::raw(app.filter().to_string()),
            Span::styled("█", Style::new().fg(Color::Yellow)),
            Span::styled("   Enter: keep filter · Esc: clear · ↑/↓: move", dim()),
        ]);
        frame.render_widget(Paragraph::new(line), area);
        return;
    }
    let hints = match app.view() {
        View::Promql if app.query_focused() => " Enter: run · ^G: chart · Esc: leave input ",
        _ => " ?: help · q: quit ",
    };
    let mut right: Vec<Span> = Vec::new();
    if let Some(rate) = knob {
        right.push(Span::styled(
            format!("demo errors {}  [+/-] ", pct(Some(rate))),
            bold(Color::Yellow),
        ));
    }
    // On a narrow terminal the knob wins over the hints (`?` still works).
    if knob.is_none() || area.width >= 100 || app.query_focused() {
        right.push(Span::styled(hints, dim()));
    }
    let right_width: usize = right.iter().map(|s| width(&s.content)).sum();
    let right_width = (right_width as u16).min(area.width);
    let [left_area, right_area] =
        Layout::horizontal([Constraint::Min(0), Constraint::Length(right_width)]).areas(area);

    let mut left: Vec<Span> = Vec::new();
    match app.snapshot() {
        None => left.push(Span::styled(
            if app.fetching() {
                " fetching the first snapshot…"
            } else {
                " waiting for the first snapshot…"
            },
            dim(),
        )),
        Some(s) => {
            left.push(Span::raw(format!(" {} ", s.source)));
            left.push(Span::styled("· ", dim()));
            left.push(Span::raw(widgets::clock(s.at_ms)));
            if app.fetching() {
                left.push(Span::styled(" ⟳", Style::new().fg(Color::Cyan)));
            }
        }
    }
    let errors: Vec<&str> = app.errors().collect();
    if let Some(first) = errors.first() {
        let first = first.lines().next().unwrap_or_default();
        let n = errors.len();
        left.push(Span::styled(" · ", dim()));
        left.push(Span::styled(
            format!("{n} error{}: {first}", if n == 1 { "" } else { "s" }),
            bold(Color::Red),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(left)), left_area);
    frame.render_widget(Paragraph::new(Line::from(right)), right_area);
}

/// A `width` × `height` rectangle centred in `area`, clipped to it.
pub(crate) fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// A grey one-line message centred vertically in `area` (loading, no data, hints).
pub(crate) fn message(frame: &mut Frame, area: Rect, text: &str, style: Style) {
    let lines: Vec<Line> = text.lines().map(|l| Line::styled(l.to_string(), style)).collect();
    let h = (lines.len() as u16).min(area.height);
    let inner = Rect {
        y: area.y + (area.height - h) / 2,
        height: h,
        ..area
    };
    frame.render_widget(
        Paragraph::new(lines)
            .alignment(ratatui::layout::Alignment::Center)
            .wrap(ratatui::widgets::Wrap { trim: true }),
        inner,
    );
}
