//! The practice view ([`crate::learn`]): a title bar, the exercise list by topic beside the
//! selected exercise (prompt, readable data, answer input, then the verdict, hints,
//! explanation and a PromQL answer's preview), and a status bar; or, in exam mode, the question
//! with the timer, and the score by topic at the end.
//!
//! Like the dashboard's views it only renders: every text it shows is in the
//! [`LearnApp`] state, and it draws at any size down to 1×1 without panicking.

use burnwatch_learn::model::Unit;
use burnwatch_learn::{Answer, Exercise, Topic};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Tabs, Wrap};

mod exam;

use super::centered;
use super::widgets::{bold, dim, truncate, width};
use crate::learn::editor::TextArea;
use crate::learn::{AnswerInput, Attempt, Focus, LearnApp, data};

/// The prompt before a one-line answer.
const PROMPT: &str = "› ";

/// Draws the practice view (or the exam) into the whole frame.
pub fn draw(frame: &mut Frame, app: &LearnApp) {
    let [top, body, status] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0), Constraint::Length(1)])
            .areas(frame.area());
    draw_title(frame, top, app);
    if let Some(exam) = app.exam() {
        exam::draw(frame, body, status, exam);
    } else {
        draw_practice(frame, body, app);
        draw_status(frame, status, app);
    }
    if app.help() {
        draw_help(frame, frame.area());
    }
}

fn draw_title(frame: &mut Frame, area: Rect, app: &LearnApp) {
    let title = " burnwatch learn ";
    let solved = format!(
        " {}/{} solved ",
        app.solved_count(),
        app.curriculum().exercises().len()
    );
    let [left, tabs, right] = Layout::horizontal([
        Constraint::Length(width(title) as u16),
        Constraint::Min(0),
        Constraint::Length(width(&solved) as u16),
    ])
    .areas(area);
    frame.render_widget(
        Paragraph::new(title).style(
            Style::new()
                .fg(Color::Black)
                .bg(Color::Cyan)
                .add_modifier(Modifier::BOLD),
        ),
        left,
    );
    frame.render_widget(
        Tabs::new(["Practice", "Exam"])
            .select(usize::from(app.exam().is_some()))
            .highlight_style(
                Style::new()
                    .fg(Color::Cyan)
                    .add_modifier(Modifier::BOLD | Modifier::REVERSED),
            )
            .divider("│"),
        tabs,
    );
    frame.render_widget(Paragraph::new(Line::styled(solved, bold(Color::Green))), right);
}

fn draw_practice(frame: &mut Frame, area: Rect, app: &LearnApp) {
    let list_width = (area.width / 3).clamp(20.min(area.width), 40);
    let [list, right] = Layout::horizontal([Constraint::Length(list_width), Constraint::Min(0)]).areas(area);
    draw_list(frame, list, app);
    let (number, exercise) = app.selected();
    let attempt = app.attempt();
    let multiline = matches!(&exercise.answer, Answer::Config(_));
    let [text, input, result] = if multiline {
        Layout::vertical([
            Constraint::Percentage(30),
            Constraint::Min(5),
            Constraint::Percentage(25),
        ])
        .areas(right)
    } else {
        Layout::vertical([Constraint::Fill(3), Constraint::Length(3), Constraint::Fill(2)]).areas(right)
    };
    draw_exercise(frame, text, number, exercise, attempt, app.focus());
    draw_answer(frame, input, exercise, attempt, app.focus() == Focus::Input);
    draw_result(frame, result, exercise, attempt);
}

/// The list's rows: a heading per topic, then its exercises.
enum ListRow {
    Topic(Topic, usize, usize),
    Exercise(usize),
}

fn draw_list(frame: &mut Frame, area: Rect, app: &LearnApp) {
    let focused = app.focus() == Focus::List;
    let block = Block::bordered()
        .title(Line::styled(
            " Exercises ",
            Style::new().add_modifier(Modifier::BOLD),
        ))
        .border_style(if focused {
            Style::new().fg(Color::Yellow)
        } else {
            Style::new()
        });
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let curriculum = app.curriculum();
    let mut rows = Vec::new();
    for topic in Topic::ALL {
        let numbers: Vec<usize> = curriculum.of_topic(topic).map(|(n, _)| n).collect();
        if numbers.is_empty() {
            continue;
        }
        let solved = curriculum
            .of_topic(topic)
            .filter(|(_, e)| app.is_solved(&e.id))
            .count();
        rows.push(ListRow::Topic(topic, solved, numbers.len()));
        rows.extend(numbers.into_iter().map(ListRow::Exercise));
    }
    let (selected, _) = app.selected();
    let at = rows
        .iter()
        .position(|r| matches!(r, ListRow::Exercise(n) if *n == selected))
        .unwrap_or(0);
    // Scroll only when the selection leaves the rows shown; keep its topic heading in view when
    // it is the first exercise of the topic.
    let height = inner.height as usize;
    let mut offset = app.list_offset().get().min(rows.len().saturating_sub(1));
    let top = if at > 0 && matches!(rows[at - 1], ListRow::Topic(..)) {
        at - 1
    } else {
        at
    };
    if top < offset {
        offset = top;
    } else if height > 0 && at >= offset + height {
        offset = at + 1 - height;
    }
    app.list_offset().set(offset);
    let w = inner.width as usize;
    let lines: Vec<Line> = rows
        .iter()
        .skip(offset)
        .take(height)
        .map(|row| match row {
            ListRow::Topic(topic, solved, total) => Line::from(vec![
                Span::styled(truncate(topic.title(), w.saturating_sub(8)), bold(Color::Cyan)),
                Span::styled(format!(" {solved}/{total}"), dim()),
            ]),
            ListRow::Exercise(n) => {
                let exercise = &curriculum.exercises()[n - 1];
                let mark = if app.is_solved(&exercise.id) {
                    Span::styled("✓", bold(Color::Green))
                } else {
                    Span::styled("·", dim())
                };
                let label = format!(" {n:>2} {}", exercise.title);
                let style = if *n != selected {
                    Style::new()
                } else if focused {
                    Style::new().add_modifier(Modifier::REVERSED)
                } else {
                    Style::new().add_modifier(Modifier::BOLD)
                };
                Line::from(vec![
                    Span::raw(" "),
                    mark,
                    Span::styled(truncate(&label, w.saturating_sub(2)), style),
                ])
            }
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

/// What form the answer takes, shown under the prompt.
pub(crate) fn answer_form(exercise: &Exercise) -> String {
    match &exercise.answer {
        Answer::Promql(p) => {
            let mut when: Vec<String> = Vec::new();
            if !p.at.is_empty() {
                when.push(format!("at {}", p.at.join(", ")));
            }
            if let Some(r) = &p.range {
                when.push(format!("from {} to {} every {}", r.start, r.end, r.step));
            }
            format!(
                "Answer: a PromQL expression, compared with the reference {}.",
                when.join(" and ")
            )
        }
        Answer::Number(n) => match n.unit {
            Unit::Duration => "Answer: a duration (43m12s, 43.2 min, 2592 s).".into(),
            Unit::Ratio => "Answer: a ratio (0.001 or 0.1%).".into(),
            Unit::Number => "Answer: a number (14.4 or 14.4x).".into(),
        },
        Answer::Choice(c) => format!("Answer: one of {}.", c.options.join(" · ")),
        Answer::Config(_) => "Answer: fix the configuration in the editor; Ctrl-S checks it.".into(),
    }
}

/// Text from the curriculum's YAML block scalars, whose lines break at the author's editor
/// width: lines of a paragraph are joined so the pane wraps them at its own width. Blank
/// lines, indented lines (code, a reference answer) and list items keep their own line.
pub(crate) fn reflow(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut joinable = false;
    for line in text.trim_end().lines() {
        let own =
            line.is_empty() || line.starts_with(' ') || line.starts_with("- ") || line.starts_with("* ");
        match out.last_mut() {
            Some(last) if joinable && !own => {
                last.push(' ');
                last.push_str(line);
            }
            _ => out.push(line.to_string()),
        }
        joinable = !line.is_empty() && !line.starts_with(' ');
    }
    out
}

/// The exercise's prompt, the answer's form and its data, in `area`, scrolled by `scroll`.
pub(crate) fn exercise_lines(exercise: &Exercise) -> Vec<Line<'static>> {
    let mut lines: Vec<Line> = reflow(&exercise.prompt).into_iter().map(Line::raw).collect();
    lines.push(Line::styled(answer_form(exercise), dim()));
    let data = data::readable(exercise);
    if !data.is_empty() {
        lines.push(Line::raw(""));
        lines.push(Line::styled("Data", bold(Color::Cyan)));
        lines.extend(data.into_iter().map(|l| {
            if l.trim_start().starts_with('→') {
                Line::styled(l, Style::new().fg(Color::Green))
            } else {
                Line::raw(l)
            }
        }));
    }
    lines
}

fn draw_exercise(
    frame: &mut Frame,
    area: Rect,
    number: usize,
    exercise: &Exercise,
    attempt: Option<&Attempt>,
    focus: Focus,
) {
    let block = Block::bordered()
        .title(Line::from(vec![
            Span::styled(
                format!(" {number} · {} ", exercise.title),
                Style::new().add_modifier(Modifier::BOLD),
            ),
            Span::styled(format!("({}) ", exercise.topic.title()), dim()),
        ]))
        .border_style(if focus == Focus::Exercise {
            Style::new().fg(Color::Yellow)
        } else {
            Style::new()
        });
    let scroll = attempt.map_or(0, |a| a.scroll);
    frame.render_widget(
        Paragraph::new(exercise_lines(exercise))
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0))
            .block(block),
        area,
    );
}

fn draw_answer(frame: &mut Frame, area: Rect, exercise: &Exercise, attempt: Option<&Attempt>, focused: bool) {
    let hint = match (focused, &exercise.answer) {
        (true, Answer::Config(_)) => " ^S: check · ^T: hint · ^X: explanation · Esc: leave ",
        (true, _) => " Enter: check · ^T: hint · ^X: explanation · Esc: leave ",
        (false, _) => " Enter/i: type the answer ",
    };
    match attempt {
        Some(a) => answer_input(frame, area, exercise, &a.input, focused, hint),
        None => answer_input(
            frame,
            area,
            exercise,
            &AnswerInput::for_exercise(exercise),
            focused,
            hint,
        ),
    }
}

/// The answer box: a one-line input, or the multi-line editor for a configuration; `hint`
/// on its bottom border.
pub(crate) fn answer_input(
    frame: &mut Frame,
    area: Rect,
    exercise: &Exercise,
    input: &AnswerInput,
    focused: bool,
    hint: &str,
) {
    let kind = match &exercise.answer {
        Answer::Promql(_) => "PromQL",
        Answer::Number(_) => "number",
        Answer::Choice(_) => "choice",
        Answer::Config(_) => "configuration",
    };
    let block = Block::bordered()
        .title(Line::styled(
            format!(" Answer ({kind}) "),
            Style::new().add_modifier(Modifier::BOLD),
        ))
        .title_bottom(Line::styled(hint.to_string(), dim()))
        .border_style(if focused {
            Style::new().fg(Color::Yellow)
        } else {
            Style::new()
        });
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.width == 0 || inner.height == 0 {
        return;
    }
    match input {
        AnswerInput::Line(line) => {
            let text = line.text();
            let cursor = line.cursor();
            let room = (inner.width as usize).saturating_sub(width(PROMPT) + 1);
            let scroll = cursor.saturating_sub(room);
            let shown: String = text.chars().skip(scroll).take(room + 1).collect();
            let body = if text.is_empty() && !focused {
                Span::styled("press Enter to answer", dim())
            } else {
                Span::raw(shown)
            };
            frame.render_widget(
                Paragraph::new(Line::from(vec![Span::styled(PROMPT, bold(Color::Yellow)), body])),
                inner,
            );
            if focused {
                let before: String = text.chars().skip(scroll).take(cursor - scroll).collect();
                let x = (width(PROMPT) + width(&before)).min(inner.width as usize - 1) as u16;
                frame.set_cursor_position((inner.x + x, inner.y));
            }
        }
        AnswerInput::Area(area) => draw_editor(frame, inner, area, focused),
    }
}

/// The multi-line editor: line numbers, the lines (cut at the right edge), scrolled so the
/// cursor's line is on screen.
fn draw_editor(frame: &mut Frame, inner: Rect, area: &TextArea, focused: bool) {
    let (row, col) = area.cursor();
    let height = inner.height as usize;
    let skip = (row + 1).saturating_sub(height);
    let gutter = 4;
    let room = (inner.width as usize).saturating_sub(gutter);
    let lines: Vec<Line> = area
        .lines()
        .enumerate()
        .skip(skip)
        .take(height)
        .map(|(i, l)| {
            Line::from(vec![
                Span::styled(format!("{:>3} ", i + 1), dim()),
                Span::raw(truncate(l, room)),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
    if focused && room > 0 {
        let text: String = area
            .lines()
            .nth(row)
            .unwrap_or_default()
            .chars()
            .take(col)
            .collect();
        let x = (gutter + width(&text)).min(inner.width as usize - 1) as u16;
        frame.set_cursor_position((inner.x + x, inner.y + (row - skip) as u16));
    }
}

/// The verdict, the hints shown, the explanation and the preview, one after the other.
pub(crate) fn result_lines(exercise: &Exercise, attempt: Option<&Attempt>) -> Vec<Line<'static>> {
    let mut lines: Vec<Line> = Vec::new();
    let Some(a) = attempt else {
        lines.push(Line::styled(
            "Enter opens the exercise; type an answer and press Enter to check it.",
            dim(),
        ));
        return lines;
    };
    if let Some(checked) = &a.checked {
        let (mark, colour) = if checked.correct {
            ("✓ Correct", Color::Green)
        } else {
            ("✗ Not yet", Color::Red)
        };
        let mut head = vec![Span::styled(mark, bold(colour))];
        if checked.answer != a.input.text() {
            head.push(Span::styled(
                "  (the answer checked before your last edit)",
                dim(),
            ));
        }
        lines.push(Line::from(head));
        for f in &checked.feedback {
            lines.push(Line::styled(format!("  {f}"), Style::new().fg(colour)));
        }
    }
    for (i, hint) in exercise.hints.iter().take(a.hints).enumerate() {
        lines.push(Line::from(vec![
            Span::styled(
                format!("Hint {}/{}: ", i + 1, exercise.hints.len()),
                bold(Color::Yellow),
            ),
            Span::raw(hint.clone()),
        ]));
    }
    if let Some(explanation) = &a.explanation {
        lines.push(Line::styled("Explanation", bold(Color::Cyan)));
        lines.extend(
            reflow(explanation)
                .into_iter()
                .map(|l| Line::raw(format!("  {l}"))),
        );
    }
    if let Some(p) = &a.preview
        && a.input.text() == p.answer
    {
        match &p.result {
            Ok(table) => {
                lines.push(Line::styled("Your query's result", bold(Color::Cyan)));
                lines.extend(table.lines().map(|l| Line::raw(format!("  {l}"))));
            }
            Err(e) => {
                lines.push(Line::styled("Your query", bold(Color::Cyan)));
                lines.extend(
                    e.lines()
                        .map(|l| Line::styled(format!("  {l}"), Style::new().fg(Color::Red))),
                );
            }
        }
    }
    if lines.is_empty() {
        let left = exercise.hints.len() - a.hints.min(exercise.hints.len());
        lines.push(Line::styled(
            format!("Enter checks the answer · ^T shows a hint ({left} left) · ^X the explanation"),
            dim(),
        ));
    }
    lines
}

fn draw_result(frame: &mut Frame, area: Rect, exercise: &Exercise, attempt: Option<&Attempt>) {
    let checked = attempt.and_then(|a| a.checked.as_ref());
    let (title, colour) = match checked {
        Some(c) if c.correct => (" correct ", Color::Green),
        Some(_) => (" not yet ", Color::Red),
        None => (" result ", Color::Reset),
    };
    let block = Block::bordered()
        .title(Line::styled(title, bold(colour)))
        .border_style(Style::new().fg(colour));
    frame.render_widget(
        Paragraph::new(result_lines(exercise, attempt))
            .wrap(Wrap { trim: false })
            .scroll((attempt.map_or(0, |a| a.result_scroll), 0))
            .block(block),
        area,
    );
}

fn draw_status(frame: &mut Frame, area: Rect, app: &LearnApp) {
    let hints = match app.focus() {
        Focus::List => " Enter: open · e: exam · ?: help · q: quit ",
        Focus::Exercise => " i: answer · h: hint · x: explanation · n/p: next/prev · Esc: list ",
        Focus::Input => " Esc: leave the input ",
    };
    let right_width = (width(hints) as u16).min(area.width);
    let [left, right] = Layout::horizontal([Constraint::Min(0), Constraint::Length(right_width)]).areas(area);
    if let Some((notice, problem)) = app.notice() {
        let style = if problem { bold(Color::Red) } else { dim() };
        frame.render_widget(
            Paragraph::new(Line::styled(
                truncate(&format!(" {notice}"), left.width as usize),
                style,
            )),
            left,
        );
    }
    frame.render_widget(Paragraph::new(Line::styled(hints, dim())), right);
}

/// Every key of the practice view: `(key, action)`; an empty key starts a group.
pub const KEYS: &[(&str, &str)] = &[
    ("", "Exercise list"),
    ("↑↓ j k PgUp PgDn g G", "move the selection"),
    ("Enter → l", "open the exercise and type the answer"),
    ("Tab", "open the exercise without typing (h, x, n, p work there)"),
    ("e", "start a mock exam"),
    ("q, Ctrl-C", "quit (progress is saved after every check)"),
    ("", "Answer input: keys are text"),
    (
        "Enter",
        "check the answer (a configuration: Ctrl-S; Enter is a new line)",
    ),
    (
        "Ctrl-T / Ctrl-X",
        "next hint / the explanation and reference answer",
    ),
    ("← → Home End ^A ^E ^U", "move the cursor; Ctrl-U clears the line"),
    ("↑↓ PgUp PgDn", "scroll the result (lines of a configuration)"),
    ("Esc", "leave the input"),
    ("", "Open exercise"),
    ("i Enter", "type the answer"),
    ("h / x", "next hint / the explanation and reference answer"),
    ("n / p", "next / previous exercise"),
    ("↑↓ j k / PgUp PgDn", "scroll the exercise / the result"),
    ("Esc ← Tab", "back to the list"),
    ("", "Exam"),
    ("Enter (^S)", "answer and go to the next question"),
    ("Ctrl-F", "finish now and see the score"),
    ("Esc", "after the score: back to practice"),
];

fn draw_help(frame: &mut Frame, area: Rect) {
    let key_width = KEYS.iter().map(|(k, _)| width(k)).max().unwrap_or(0);
    let lines: Vec<Line> = KEYS
        .iter()
        .map(|(k, what)| {
            if k.is_empty() {
                Line::styled(*what, bold(Color::Cyan))
            } else {
                Line::from(vec![
                    Span::styled(format!("  {k:<key_width$}  "), bold(Color::Yellow)),
                    Span::raw(*what),
                ])
            }
        })
        .collect();
    let popup = centered(area, 90, lines.len() as u16 + 2);
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

#[cfg(test)]
mod tests {
    use super::reflow;

    #[test]
    fn paragraphs_are_joined_and_code_keeps_its_lines() {
        let text =
            "Write a selector that\nreturns the api job.\n\nFor example:\n  up{job=\"api\"}\n- one\n- two\n";
        assert_eq!(
            reflow(text),
            [
                "Write a selector that returns the api job.",
                "",
                "For example:",
                "  up{job=\"api\"}",
                "- one",
                "- two",
            ]
        );
    }
}
