//! The practice view (`burnwatch learn`): the curriculum's exercises by topic with solved marks,
//! the selected exercise's prompt and data, an answer input graded by
//! `burnwatch_learn::grade`, hints one at a time, the explanation, a live preview of a PromQL
//! answer's result, and a timed mock exam. It works offline: the grader evaluates answers over
//! each exercise's own data, with the engines linked into the binary.
//!
//! The shape is the dashboard's ([`crate::app`]): [`LearnApp`] holds plain state and turns a key
//! into a state change plus a [`LearnAction`]; [`session::Session`] carries the actions out
//! (grading, saving progress, drawing an exam); [`crate::ui::learn::draw`] only renders;
//! [`run`] owns the terminal.
//!
//! Focus decides where keys go, so typing never collides with commands: in the exercise list
//! the arrows and `j`/`k` move and Enter opens an exercise with the answer input focused; there
//! every printable key is text, and commands take Ctrl (`^T` hint, `^X` explanation) or Enter
//! (check); Esc leaves the input for the exercise itself, where single letters are commands
//! again (`h` hint, `x` explanation, `n`/`p` next/previous exercise).

pub mod data;
pub mod editor;
pub mod exam;
mod run;
pub mod session;

use std::cell::Cell;
use std::collections::{BTreeMap, HashSet};

use burnwatch_learn::{Answer, Curriculum, Exercise};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::app::LineInput;
use editor::TextArea;
pub use exam::ExamState;
pub use run::run;

/// Rows moved by PageUp / PageDown in the exercise list.
const PAGE: isize = 10;

/// Where keys go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Focus {
    /// The exercise list: arrows move, Enter opens.
    List,
    /// The open exercise: single-letter commands (hint, explanation, next).
    Exercise,
    /// The answer input: keys are text.
    Input,
}

/// The answer being written: one line (PromQL, a number, a choice) or a configuration in the
/// multi-line editor (loaded with the broken configuration).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnswerInput {
    /// A one-line answer, edited as the PromQL view's prompt.
    Line(LineInput),
    /// A multi-line answer.
    Area(TextArea),
}

impl AnswerInput {
    /// The input an exercise's answer is written in.
    pub fn for_exercise(exercise: &Exercise) -> AnswerInput {
        match &exercise.answer {
            Answer::Config(c) => AnswerInput::Area(TextArea::new(&c.broken)),
            _ => AnswerInput::Line(LineInput::default()),
        }
    }

    /// The answer as the grader gets it.
    pub fn text(&self) -> String {
        match self {
            AnswerInput::Line(l) => l.text().to_string(),
            AnswerInput::Area(a) => a.text(),
        }
    }

    /// Whether nothing has been typed (an editor is never empty: it starts with the broken
    /// configuration).
    pub fn is_blank(&self) -> bool {
        self.text().trim().is_empty()
    }

    /// The answer, or `None` when the learner has given none: nothing typed, or a
    /// configuration left as it was given (the broken one, which an exam must not count as an
    /// attempt).
    pub fn answer_to(&self, exercise: &Exercise) -> Option<String> {
        let text = self.text();
        let untouched = match &exercise.answer {
            Answer::Config(c) => text.trim_end() == c.broken.trim_end(),
            _ => false,
        };
        (!untouched && !text.trim().is_empty()).then_some(text)
    }

    fn edit(&mut self, key: KeyEvent) -> bool {
        match self {
            AnswerInput::Line(l) => l.edit(key),
            AnswerInput::Area(a) => a.edit(key),
        }
    }
}

/// The grader's verdict on one answer, as the view shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    /// Whether the answer is right.
    pub correct: bool,
    /// How the answer differs from the expected one (or what was understood).
    pub feedback: Vec<String>,
    /// The answer checked, so the view can tell when the input has changed since.
    pub answer: String,
}

/// A PromQL answer's result over the exercise's data, rendered by the grader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preview {
    /// The answer previewed.
    pub answer: String,
    /// The result table, or why there is none (a parse error with its position).
    pub result: Result<String, String>,
}

/// One exercise's work in progress; kept while the learner moves around the list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// The answer being written.
    pub input: AnswerInput,
    /// How many hints are shown.
    pub hints: usize,
    /// The last check's verdict.
    pub checked: Option<Checked>,
    /// The explanation and reference answer, once shown (after a right answer or on request).
    pub explanation: Option<String>,
    /// The live preview of a PromQL answer.
    pub preview: Option<Preview>,
    /// Lines of the exercise pane scrolled off the top.
    pub scroll: u16,
    /// Lines of the result pane scrolled off the top.
    pub result_scroll: u16,
}

impl Attempt {
    fn new(exercise: &Exercise) -> Attempt {
        Attempt {
            input: AnswerInput::for_exercise(exercise),
            hints: 0,
            checked: None,
            explanation: None,
            preview: None,
            scroll: 0,
            result_scroll: 0,
        }
    }
}

/// What the loop must do after a key ([`session::Session::perform`] does it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LearnAction {
    /// Nothing beyond redrawing.
    None,
    /// Leave.
    Quit,
    /// Grade the open exercise's answer, record it and save the progress.
    Check,
    /// Show the open exercise's explanation and reference answer.
    Explain,
    /// Draw a mock exam and start it.
    StartExam,
    /// End the exam now and score it (time is up, or the learner finishes early).
    ExamFinish,
}

/// The practice view's state.
#[derive(Debug)]
pub struct LearnApp {
    curriculum: &'static Curriculum,
    /// The selected exercise, an index into the curriculum.
    selected: usize,
    focus: Focus,
    attempts: BTreeMap<usize, Attempt>,
    solved: HashSet<String>,
    help: bool,
    /// What the status bar says: where progress is saved, or a problem saving it.
    notice: Option<(String, bool)>,
    exam: Option<ExamState>,
    /// The first list row drawn last time (kept by the renderer so the list scrolls only when
    /// the selection leaves it).
    list_offset: Cell<usize>,
}

impl LearnApp {
    /// The view over `curriculum`, the first exercise selected, the list focused.
    pub fn new(curriculum: &'static Curriculum) -> LearnApp {
        LearnApp {
            curriculum,
            selected: 0,
            focus: Focus::List,
            attempts: BTreeMap::new(),
            solved: HashSet::new(),
            help: false,
            notice: None,
            exam: None,
            list_offset: Cell::new(0),
        }
    }

    /// The curriculum.
    pub fn curriculum(&self) -> &'static Curriculum {
        self.curriculum
    }

    /// The selected exercise's number (from 1, as `learn show N`) and the exercise.
    pub fn selected(&self) -> (usize, &'static Exercise) {
        let exercises = self.curriculum.exercises();
        let i = self.selected.min(exercises.len().saturating_sub(1));
        (i + 1, &exercises[i])
    }

    /// Where keys go.
    pub fn focus(&self) -> Focus {
        self.focus
    }

    /// The selected exercise's attempt, if it has been opened.
    pub fn attempt(&self) -> Option<&Attempt> {
        self.attempts.get(&self.selected)
    }

    /// The selected exercise's attempt, opened if it was not.
    pub fn attempt_mut(&mut self) -> &mut Attempt {
        let (_, exercise) = self.selected();
        self.attempts
            .entry(self.selected)
            .or_insert_with(|| Attempt::new(exercise))
    }

    /// Whether the exercise with this id has been answered right (from the saved progress).
    pub fn is_solved(&self, id: &str) -> bool {
        self.solved.contains(id)
    }

    /// How many exercises are solved.
    pub fn solved_count(&self) -> usize {
        self.curriculum
            .exercises()
            .iter()
            .filter(|e| self.solved.contains(&e.id))
            .count()
    }

    /// Replaces the solved set (after loading or saving progress).
    pub fn set_solved(&mut self, ids: impl IntoIterator<Item = String>) {
        self.solved = ids.into_iter().collect();
    }

    /// Whether the key overlay is shown.
    pub fn help(&self) -> bool {
        self.help
    }

    /// The status bar's message and whether it is a problem.
    pub fn notice(&self) -> Option<(&str, bool)> {
        self.notice.as_ref().map(|(m, e)| (m.as_str(), *e))
    }

    /// Sets the status bar's message; `problem` shows it in red.
    pub fn set_notice(&mut self, message: impl Into<String>, problem: bool) {
        self.notice = Some((message.into(), problem));
    }

    /// The exam under way or ended, if any.
    pub fn exam(&self) -> Option<&ExamState> {
        self.exam.as_ref()
    }

    /// The exam, for the session to grade and advance it.
    pub fn exam_mut(&mut self) -> Option<&mut ExamState> {
        self.exam.as_mut()
    }

    /// Starts `exam` (or, with `None`, leaves exam mode).
    pub fn set_exam(&mut self, exam: Option<ExamState>) {
        self.exam = exam;
    }

    /// The first list row drawn last time (kept by the renderer).
    pub fn list_offset(&self) -> &Cell<usize> {
        &self.list_offset
    }

    /// Records a check of the open exercise; a right answer also brings the explanation.
    pub fn set_checked(&mut self, checked: Checked, explanation: Option<String>) {
        let attempt = self.attempt_mut();
        attempt.checked = Some(checked);
        attempt.result_scroll = 0;
        if explanation.is_some() {
            attempt.explanation = explanation;
        }
    }

    /// Shows the open exercise's explanation (with the reference answer).
    pub fn set_explanation(&mut self, text: String) {
        let attempt = self.attempt_mut();
        attempt.explanation = Some(text);
        attempt.result_scroll = 0;
    }

    /// The PromQL answer that needs a (new) preview: the open exercise is a PromQL one, and
    /// its input differs from what was last previewed.
    pub fn preview_wanted(&self) -> Option<(usize, String)> {
        let (number, exercise) = self.selected();
        if !matches!(exercise.answer, Answer::Promql(_)) {
            return None;
        }
        let attempt = self.attempt()?;
        let text = attempt.input.text();
        let stale = attempt.preview.as_ref().is_none_or(|p| p.answer != text);
        (stale && !text.trim().is_empty()).then_some((number, text))
    }

    /// Takes a preview for exercise `number` (dropped when another exercise is open now).
    pub fn set_preview(&mut self, number: usize, preview: Preview) {
        if self.selected().0 == number {
            self.attempt_mut().preview = Some(preview);
        }
    }

    /// Selects exercise index `i` (clamped); the focus stays where it is.
    fn select(&mut self, i: isize) {
        let last = self.curriculum.exercises().len() as isize - 1;
        self.selected = i.clamp(0, last.max(0)) as usize;
    }

    /// Applies one key. Key releases are ignored.
    pub fn on_key(&mut self, key: KeyEvent) -> LearnAction {
        if key.kind == KeyEventKind::Release {
            return LearnAction::None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && key.code == KeyCode::Char('c') {
            return LearnAction::Quit;
        }
        if self.help {
            self.help = false;
            return LearnAction::None;
        }
        if self.exam.is_some() {
            return exam::on_key(self, key);
        }
        if self.focus == Focus::Input {
            return self.on_input_key(key);
        }
        match key.code {
            KeyCode::Char('q') if !ctrl => return LearnAction::Quit,
            KeyCode::Char('?') => {
                self.help = true;
                return LearnAction::None;
            }
            _ => {}
        }
        match self.focus {
            Focus::List => self.on_list_key(key),
            _ => self.on_exercise_key(key),
        }
    }

    fn on_list_key(&mut self, key: KeyEvent) -> LearnAction {
        let at = self.selected as isize;
        match key.code {
            KeyCode::Up | KeyCode::Char('k') => self.select(at - 1),
            KeyCode::Down | KeyCode::Char('j') => self.select(at + 1),
            KeyCode::PageUp => self.select(at - PAGE),
            KeyCode::PageDown => self.select(at + PAGE),
            KeyCode::Home | KeyCode::Char('g') => self.select(0),
            KeyCode::End | KeyCode::Char('G') => self.select(isize::MAX / 2),
            KeyCode::Enter | KeyCode::Right | KeyCode::Char('l') => {
                self.attempt_mut();
                self.focus = Focus::Input;
            }
            KeyCode::Tab => {
                self.attempt_mut();
                self.focus = Focus::Exercise;
            }
            KeyCode::Char('e') => return LearnAction::StartExam,
            _ => {}
        }
        LearnAction::None
    }

    fn on_exercise_key(&mut self, key: KeyEvent) -> LearnAction {
        let at = self.selected as isize;
        match key.code {
            KeyCode::Enter | KeyCode::Char('i') => self.focus = Focus::Input,
            KeyCode::Char('h') => self.next_hint(),
            KeyCode::Char('x') => return LearnAction::Explain,
            KeyCode::Char('n') => {
                self.select(at + 1);
                self.attempt_mut();
            }
            KeyCode::Char('p') => {
                self.select(at - 1);
                self.attempt_mut();
            }
            KeyCode::Down | KeyCode::Char('j') => {
                let a = self.attempt_mut();
                a.scroll = a.scroll.saturating_add(1);
            }
            KeyCode::Up | KeyCode::Char('k') => {
                let a = self.attempt_mut();
                a.scroll = a.scroll.saturating_sub(1);
            }
            KeyCode::PageDown => self.scroll_result(5),
            KeyCode::PageUp => self.scroll_result(-5),
            KeyCode::Esc | KeyCode::Left | KeyCode::Backspace | KeyCode::Tab | KeyCode::BackTab => {
                self.focus = Focus::List;
            }
            _ => {}
        }
        LearnAction::None
    }

    fn on_input_key(&mut self, key: KeyEvent) -> LearnAction {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let multiline = matches!(self.attempt().map(|a| &a.input), Some(AnswerInput::Area(_)));
        match key.code {
            KeyCode::Esc => self.focus = Focus::Exercise,
            KeyCode::Char('s') if ctrl => return self.check(),
            KeyCode::Enter if !multiline => return self.check(),
            KeyCode::Char('t') if ctrl => self.next_hint(),
            KeyCode::Char('x') if ctrl => return LearnAction::Explain,
            KeyCode::PageDown if !multiline => self.scroll_result(5),
            KeyCode::PageUp if !multiline => self.scroll_result(-5),
            KeyCode::Down if !multiline => self.scroll_result(1),
            KeyCode::Up if !multiline => self.scroll_result(-1),
            _ => {
                self.attempt_mut().input.edit(key);
            }
        }
        LearnAction::None
    }

    fn check(&mut self) -> LearnAction {
        if self.attempt_mut().input.is_blank() {
            return LearnAction::None;
        }
        LearnAction::Check
    }

    fn next_hint(&mut self) {
        let (_, exercise) = self.selected();
        let a = self.attempt_mut();
        a.hints = (a.hints + 1).min(exercise.hints.len());
    }

    fn scroll_result(&mut self, by: i32) {
        let a = self.attempt_mut();
        a.result_scroll = a.result_scroll.saturating_add_signed(by as i16);
    }
}

#[cfg(test)]
mod tests;
