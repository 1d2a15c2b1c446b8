//! The practice view's mock exam: questions drawn by `burnwatch_learn::exam::Exam::draw` (one
//! of each topic, then at random), answered one after the other against a timer, with no
//! feedback until the end; then the score by topic and every question's verdict with the
//! reference answer. As in a real exam, an unanswered question counts as wrong, and when the
//! time is up the exam ends with what was answered.

use std::time::{Duration, Instant};

use burnwatch_learn::exam::{Exam, ExamResult};
use burnwatch_learn::{Answer, Exercise};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::{AnswerInput, LearnAction, LearnApp};

/// Time allowed per question: the CNPE exam gives about two minutes a question.
pub const PER_QUESTION: Duration = Duration::from_secs(120);

/// An exam under way or ended.
#[derive(Clone, Debug)]
pub struct ExamState {
    exam: Exam,
    index: usize,
    inputs: Vec<AnswerInput>,
    limit: Duration,
    started: Instant,
    remaining: Duration,
    result: Option<ExamResult>,
    scroll: u16,
}

impl ExamState {
    /// Starts `exam` at `now`, with [`PER_QUESTION`] for each question.
    pub fn new(exam: Exam, now: Instant) -> ExamState {
        let limit = PER_QUESTION.saturating_mul(exam.questions.len() as u32);
        ExamState {
            inputs: exam
                .questions
                .iter()
                .map(|q| AnswerInput::for_exercise(&q.exercise))
                .collect(),
            exam,
            index: 0,
            limit,
            started: now,
            remaining: limit,
            result: None,
            scroll: 0,
        }
    }

    /// The question shown: its position from 0, the number of questions, the exercise and
    /// its curriculum number.
    pub fn question(&self) -> (usize, usize, &Exercise, usize) {
        let q = &self.exam.questions[self.index];
        (self.index, self.exam.questions.len(), &q.exercise, q.number)
    }

    /// The answer being written to the question shown.
    pub fn input(&self) -> &AnswerInput {
        &self.inputs[self.index]
    }

    /// How many questions have an answer (a configuration left as given has none).
    pub fn answered(&self) -> usize {
        self.answers().iter().filter(|a| !a.is_empty()).count()
    }

    /// The time left, as of the last [`ExamState::tick`].
    pub fn remaining(&self) -> Duration {
        self.remaining
    }

    /// The time allowed.
    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// The score, once the exam has ended.
    pub fn result(&self) -> Option<&ExamResult> {
        self.result.as_ref()
    }

    /// Lines of the score screen scrolled off the top.
    pub fn scroll(&self) -> u16 {
        self.scroll
    }

    /// The drawn exam.
    pub fn exam(&self) -> &Exam {
        &self.exam
    }

    /// The answers, one per question in order, as the grader gets them: empty for a question
    /// without an answer.
    pub fn answers(&self) -> Vec<String> {
        self.inputs
            .iter()
            .zip(&self.exam.questions)
            .map(|(input, q)| input.answer_to(&q.exercise).unwrap_or_default())
            .collect()
    }

    /// Whether the exam has ended (scored).
    pub fn ended(&self) -> bool {
        self.result.is_some()
    }

    /// Ends the exam with its score.
    pub fn finish(&mut self, result: ExamResult) {
        self.result = Some(result);
        self.scroll = 0;
    }

    /// Updates the clock to `now`; returns whether the shown time changed (whole seconds).
    pub fn tick(&mut self, now: Instant) -> bool {
        if self.ended() {
            return false;
        }
        let left = self
            .limit
            .saturating_sub(now.saturating_duration_since(self.started));
        let changed =
            left.as_secs() != self.remaining.as_secs() || left.is_zero() != self.remaining.is_zero();
        self.remaining = left;
        changed
    }

    /// Whether the time is up and the exam still open.
    pub fn time_up(&self) -> bool {
        !self.ended() && self.remaining.is_zero()
    }
}

/// The exam's keys: while it runs, keys are the answer's text, Enter (Ctrl-S for a
/// configuration) goes to the next question (ending the exam after the last), Ctrl-N / Ctrl-P
/// move without answering, Ctrl-F ends it now; once scored, the arrows scroll and Esc, q or
/// Enter go back to practice.
pub(super) fn on_key(app: &mut LearnApp, key: KeyEvent) -> LearnAction {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let Some(state) = app.exam_mut() else {
        return LearnAction::None;
    };
    if state.ended() {
        match key.code {
            KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q') => app.set_exam(None),
            KeyCode::Down | KeyCode::Char('j') => state.scroll = state.scroll.saturating_add(1),
            KeyCode::Up | KeyCode::Char('k') => state.scroll = state.scroll.saturating_sub(1),
            KeyCode::PageDown => state.scroll = state.scroll.saturating_add(10),
            KeyCode::PageUp => state.scroll = state.scroll.saturating_sub(10),
            _ => {}
        }
        return LearnAction::None;
    }
    let multiline = matches!(
        state.exam.questions[state.index].exercise.answer,
        Answer::Config(_)
    );
    let last = state.index + 1 == state.exam.questions.len();
    match key.code {
        KeyCode::Char('f') if ctrl => return LearnAction::ExamFinish,
        KeyCode::Char('s') if ctrl => {
            if last {
                return LearnAction::ExamFinish;
            }
            state.index += 1;
        }
        KeyCode::Enter if !multiline => {
            if last {
                return LearnAction::ExamFinish;
            }
            state.index += 1;
        }
        KeyCode::Char('n') if ctrl => state.index = (state.index + 1).min(state.exam.questions.len() - 1),
        KeyCode::Char('p') if ctrl => state.index = state.index.saturating_sub(1),
        _ => {
            let index = state.index;
            state.inputs[index].edit(key);
        }
    }
    LearnAction::None
}
