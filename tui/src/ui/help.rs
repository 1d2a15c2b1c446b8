//! The help overlay (`?`): every key, in a popup centred over the dashboard. Any key closes it.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::centered;
use super::widgets::{bold, dim};

/// Every key and what it does, grouped as the overlay shows them: `(key, action)`; an empty key
/// starts a group named by the action.
pub const KEYS: &[(&str, &str)] = &[
    ("", "Everywhere"),
    (
        "Tab Shift-Tab 1-6",
        "views: SLOs Detail DORA Collector PromQL Traces",
    ),
    ("r, F5", "refresh now"),
    ("/", "filter SLOs (Enter keeps it, Esc clears it)"),
    ("+ / -", "demo error rate up / down (with --demo)"),
    ("?", "this help (any key closes it)"),
    ("q, Ctrl-C", "quit"),
    ("", "SLOs"),
    ("↑↓ j k PgUp PgDn g G", "move the selection"),
    ("Enter → l", "open the selected SLO's detail"),
    ("Esc", "clear the filter"),
    ("", "Detail, DORA, Collector"),
    ("↑↓ j k", "previous / next SLO (Detail), scroll (others)"),
    ("Esc Backspace ← h", "back to the SLO table"),
    (
        "Traces: s S Enter",
        "sort column / reverse; Enter: p50/p90/p99 over the last hour",
    ),
    ("", "PromQL: typing goes to the input while it has focus"),
    ("Enter", "run the query (or focus the input)"),
    ("Ctrl-G, F2", "table (instant) / line chart (last hour)"),
    ("← → Home End ^A ^E", "move the cursor; Ctrl-U clears the line"),
    ("↑↓ PgUp PgDn", "scroll the result"),
    ("Esc", "leave the input (q, Tab, digits work again)"),
];

/// Draws the overlay centred in `area`.
pub fn draw(frame: &mut Frame, area: Rect) {
    let key_width = KEYS.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
    let lines: Vec<Line> = KEYS
        .iter()
        .map(|(k, what)| {
            if k.is_empty() {
                Line::styled(*what, bold(Color::Cyan))
            } else {
                Line::from(vec![
                    Span::styled(
                        format!("  {k:<key_width$}  "),
                        Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
                    ),
                    Span::raw(*what),
                ])
            }
        })
        .collect();
    let popup = centered(area, 84, lines.len() as u16 + 2);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(
                Block::bordered()
                    .title(Line::styled(" keys ", bold(Color::Reset)))
                    .title_bottom(Line::styled(" any key closes ", dim()))
                    .border_style(Style::new().fg(Color::Cyan)),
            )
            .style(Style::new().bg(Color::Black)),
        popup,
    );
}
