//! The practice view's multi-line editor for configuration answers: the broken configuration is
//! loaded into it and fixed in place, with no `$EDITOR` to spawn. Each line is a
//! [`LineInput`], so a line edits with the same keys as the PromQL prompt; the editor adds what
//! lines need: Enter splits (keeping the indentation, as YAML wants), Backspace at a line's start
//! joins it to the one above, ↑ ↓ PgUp PgDn move between lines, Tab inserts two spaces.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::app::LineInput;

/// Rows moved by PageUp / PageDown.
const PAGE: usize = 10;

/// A multi-line text with a cursor (a row and a character column in it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextArea {
    lines: Vec<LineInput>,
    row: usize,
}

impl Default for TextArea {
    fn default() -> Self {
        TextArea {
            lines: vec![LineInput::default()],
            row: 0,
        }
    }
}

impl TextArea {
    /// An editor holding `text` (a final newline does not make an empty last line), with the
    /// cursor at its start.
    pub fn new(text: &str) -> TextArea {
        let mut lines: Vec<LineInput> = text
            .strip_suffix('\n')
            .unwrap_or(text)
            .split('\n')
            .map(|l| {
                let mut input = LineInput::default();
                input.set(l);
                input.set_cursor(0);
                input
            })
            .collect();
        if lines.is_empty() {
            lines.push(LineInput::default());
        }
        TextArea { lines, row: 0 }
    }

    /// The text, lines joined with `\n` and a final newline.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for l in &self.lines {
            out.push_str(l.text());
            out.push('\n');
        }
        out
    }

    /// The lines.
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().map(LineInput::text)
    }

    /// The cursor: (row, column in characters).
    pub fn cursor(&self) -> (usize, usize) {
        (self.row, self.lines[self.row].cursor())
    }

    /// Applies one key; returns whether the key was the editor's (it may not have changed the
    /// text: ← at the very start is still an editing key).
    pub fn edit(&mut self, key: KeyEvent) -> bool {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let col = self.lines[self.row].cursor();
        let len = self.lines[self.row].text().chars().count();
        match key.code {
            KeyCode::Enter => self.split(),
            KeyCode::Tab => {
                self.lines[self.row].insert(' ');
                self.lines[self.row].insert(' ');
            }
            KeyCode::Backspace if col == 0 => {
                if self.row > 0 {
                    let rest = self.lines.remove(self.row);
                    self.row -= 1;
                    self.join_after(rest.text());
                }
            }
            KeyCode::Delete if col == len => {
                if self.row + 1 < self.lines.len() {
                    let next = self.lines.remove(self.row + 1);
                    self.join_after(next.text());
                    self.lines[self.row].set_cursor(col);
                }
            }
            KeyCode::Left if col == 0 && self.row > 0 => {
                self.row -= 1;
                self.lines[self.row].end();
            }
            KeyCode::Right if col == len && self.row + 1 < self.lines.len() => {
                self.row += 1;
                self.lines[self.row].home();
            }
            KeyCode::Up => self.move_rows(-1),
            KeyCode::Down => self.move_rows(1),
            KeyCode::PageUp => self.move_rows(-(PAGE as isize)),
            KeyCode::PageDown => self.move_rows(PAGE as isize),
            KeyCode::Home if ctrl => self.move_rows(isize::MIN / 2),
            KeyCode::End if ctrl => self.move_rows(isize::MAX / 2),
            _ => return self.lines[self.row].edit(key),
        }
        true
    }

    /// Splits the current line at the cursor; the new line starts with the old one's
    /// indentation.
    fn split(&mut self) {
        let line = &self.lines[self.row];
        let chars: Vec<char> = line.text().chars().collect();
        let (head, tail) = chars.split_at(line.cursor());
        let indent: String = head.iter().take_while(|c| **c == ' ').collect();
        let head: String = head.iter().collect();
        let tail: String = tail.iter().collect();
        self.lines[self.row].set(&head);
        let mut next = LineInput::default();
        next.set(&format!("{indent}{}", tail.trim_start_matches(' ')));
        next.set_cursor(indent.chars().count());
        self.row += 1;
        self.lines.insert(self.row, next);
    }

    /// Appends `text` to the current line, the cursor where the two meet.
    fn join_after(&mut self, text: &str) {
        let line = &mut self.lines[self.row];
        let at = line.text().chars().count();
        let joined = format!("{}{text}", line.text());
        line.set(&joined);
        line.set_cursor(at);
    }

    /// Moves the cursor `delta` rows (clamped), keeping its column where the line is long
    /// enough.
    fn move_rows(&mut self, delta: isize) {
        let col = self.lines[self.row].cursor();
        let last = self.lines.len() as isize - 1;
        self.row = (self.row as isize).saturating_add(delta).clamp(0, last) as usize;
        self.lines[self.row].set_cursor(col);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn typed(area: &mut TextArea, s: &str) {
        for c in s.chars() {
            area.edit(key(KeyCode::Char(c)));
        }
    }

    #[test]
    fn enter_splits_and_keeps_the_indentation_backspace_joins() {
        let mut a = TextArea::new("service:\n  pipelines: {}\n");
        assert_eq!(a.text(), "service:\n  pipelines: {}\n");
        a.edit(key(KeyCode::Down));
        a.edit(key(KeyCode::End));
        a.edit(key(KeyCode::Enter));
        assert_eq!(a.cursor(), (2, 2));
        typed(&mut a, "x: 1");
        assert_eq!(a.text(), "service:\n  pipelines: {}\n  x: 1\n");
        // Backspace at the start of a line joins it to the one above.
        a.edit(key(KeyCode::Home));
        a.edit(key(KeyCode::Backspace));
        assert_eq!(a.text(), "service:\n  pipelines: {}  x: 1\n");
        assert_eq!(a.cursor(), (1, 15));
        // Delete at the end joins the next line; ← at a line's start goes to the line above.
        a.edit(key(KeyCode::Up));
        a.edit(key(KeyCode::End));
        a.edit(key(KeyCode::Delete));
        assert_eq!(a.text(), "service:  pipelines: {}  x: 1\n");
        a.edit(key(KeyCode::Home));
        a.edit(key(KeyCode::Left));
        assert_eq!(a.cursor(), (0, 0));
    }

    #[test]
    fn rows_keep_the_column_where_they_can_and_stay_in_the_text() {
        let mut a = TextArea::new("abcdef\nab\nabcdef");
        a.edit(key(KeyCode::End));
        a.edit(key(KeyCode::Down));
        assert_eq!(a.cursor(), (1, 2));
        a.edit(key(KeyCode::PageDown));
        assert_eq!(a.cursor(), (2, 2));
        a.edit(key(KeyCode::PageUp));
        a.edit(key(KeyCode::Up));
        assert_eq!(a.cursor(), (0, 2));
        a.edit(key(KeyCode::Tab));
        assert_eq!(a.lines().next(), Some("ab  cdef"));
        // A multibyte character is one column.
        typed(&mut a, "é");
        a.edit(key(KeyCode::Backspace));
        assert_eq!(a.lines().next(), Some("ab  cdef"));
    }
}
