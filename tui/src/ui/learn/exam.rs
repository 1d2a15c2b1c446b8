//! The exam screens: the question with the timer and its answer input while the exam runs;
//! then the score, by topic with a bar each, and every question's verdict with the reference
//! answer.

use burnwatch_learn::exam::ExamResult;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::super::widgets::{bold, dim, text_bar, truncate, width};
use super::{answer_input, exercise_lines};
use crate::learn::ExamState;

/// Draws the exam into `body` and its key hints into `status`.
pub fn draw(frame: &mut Frame, body: Rect, status: Rect, exam: &ExamState) {
    let multiline = matches!(exam.input(), crate::learn::AnswerInput::Area(_));
    let hints = match (exam.result(), multiline) {
        (Some(_), _) => " ↑↓: scroll · Esc: back to practice ",
        (None, false) => " Enter: next · ^N/^P: skip/back · ^F: finish ",
        (None, true) => " ^S: next · ^N/^P: skip/back · ^F: finish ",
    };
    match exam.result() {
        Some(result) => draw_score(frame, body, exam, result),
        None => draw_question(frame, body, exam),
    }
    let hints_width = (width(hints) as u16).min(status.width);
    let [left, right] =
        Layout::horizontal([Constraint::Min(0), Constraint::Length(hints_width)]).areas(status);
    let (i, n, ..) = exam.question();
    let summary = match exam.result() {
        Some(r) => format!(" exam over: {}/{} right", r.correct, r.total),
        None => format!(" question {} of {n} · {} answered", i + 1, exam.answered()),
    };
    frame.render_widget(Paragraph::new(Line::styled(summary, dim())), left);
    frame.render_widget(Paragraph::new(Line::styled(hints, dim())), right);
}

/// `mm:ss`.
fn clock(d: std::time::Duration) -> String {
    let s = d.as_secs();
    format!("{:02}:{:02}", s / 60, s % 60)
}

fn draw_question(frame: &mut Frame, area: Rect, exam: &ExamState) {
    let (i, n, exercise, _) = exam.question();
    let multiline = matches!(exam.input(), crate::learn::AnswerInput::Area(_));
    let [text, input] = Layout::vertical([
        Constraint::Min(3),
        if multiline {
            Constraint::Percentage(55)
        } else {
            Constraint::Length(3)
        },
    ])
    .areas(area);
    let left = exam.remaining();
    let timer_colour = if left.as_secs() < 60 {
        Color::Red
    } else if left.as_secs() < 300 {
        Color::Yellow
    } else {
        Color::Green
    };
    let block = Block::bordered()
        .title(Line::from(vec![
            Span::styled(
                format!(" Exam · question {} of {n} ", i + 1),
                Style::new().add_modifier(Modifier::BOLD),
            ),
            Span::styled(format!("({}) ", exercise.topic.title()), dim()),
        ]))
        .title(
            Line::styled(
                format!(" {} left of {} ", clock(left), clock(exam.limit())),
                bold(timer_colour),
            )
            .right_aligned(),
        );
    let mut lines = vec![Line::styled(exercise.title.clone(), bold(Color::Reset))];
    lines.extend(exercise_lines(exercise));
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(block),
        text,
    );
    let hint = if multiline {
        " fix the configuration; ^S goes on (no feedback until the end) "
    } else {
        " type the answer; Enter goes on (no feedback until the end) "
    };
    answer_input(frame, input, exercise, exam.input(), true, hint);
}

fn draw_score(frame: &mut Frame, area: Rect, exam: &ExamState, result: &ExamResult) {
    let colour = |share: f64| {
        if share >= 0.8 {
            Color::Green
        } else if share >= 0.5 {
            Color::Yellow
        } else {
            Color::Red
        }
    };
    let share = result.score();
    let mut lines = vec![
        Line::from(vec![
            Span::styled(
                format!(
                    "Score {}/{} ({:.0}%)",
                    result.correct,
                    result.total,
                    share * 100.0
                ),
                bold(colour(share)),
            ),
            Span::styled(
                format!(
                    "   time used {} of {}",
                    clock(exam.limit().saturating_sub(exam.remaining())),
                    clock(exam.limit())
                ),
                dim(),
            ),
        ]),
        Line::raw(""),
        Line::styled("By topic", bold(Color::Cyan)),
    ];
    for t in &result.by_topic {
        let s = if t.total == 0 {
            0.0
        } else {
            t.correct as f64 / t.total as f64
        };
        lines.push(Line::from(vec![
            Span::raw(format!("  {:<18}", t.topic.title())),
            Span::styled(text_bar(s, 10), Style::new().fg(colour(s))),
            Span::raw(format!(" {}/{}", t.correct, t.total)),
        ]));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled("Questions", bold(Color::Cyan)));
    let w = area.width.saturating_sub(8) as usize;
    for (item, q) in result.items.iter().zip(&exam.exam().questions) {
        let (mark, c) = if item.verdict.correct {
            ("✓", Color::Green)
        } else {
            ("✗", Color::Red)
        };
        lines.push(Line::from(vec![
            Span::styled(format!("  {mark} "), bold(c)),
            Span::raw(truncate(
                &format!("{:>2} {} ({})", item.number, q.exercise.title, item.topic.title()),
                w,
            )),
        ]));
        if !item.verdict.correct {
            for f in &item.verdict.feedback {
                lines.push(Line::styled(format!("      {f}"), Style::new().fg(Color::Red)));
            }
            if let Some(expected) = &item.verdict.expected {
                let mut rows = expected.trim_end().lines();
                if let Some(first) = rows.next() {
                    lines.push(Line::from(vec![
                        Span::styled("      answer: ", dim()),
                        Span::raw(first.to_string()),
                    ]));
                }
                lines.extend(rows.map(|l| Line::raw(format!("              {l}"))));
            }
        }
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((exam.scroll(), 0))
            .block(Block::bordered().title(Line::styled(" Exam result ", bold(colour(share))))),
        area,
    );
}
