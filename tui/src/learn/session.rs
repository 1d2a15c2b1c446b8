//! What the practice view's keys ask for beyond state: grading with `burnwatch_learn::grade`,
//! recording and saving progress (after every check, atomically, so quitting at any moment
//! loses nothing), previews of PromQL answers, and the exam's draw, clock and score.

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use burnwatch_learn::exam::Exam;
use burnwatch_learn::progress::Progress;
use burnwatch_learn::{Exercise, grade};

use super::exam::ExamState;
use super::{Checked, LearnAction, LearnApp, Preview};

/// Questions in a mock exam: every topic at least once, about twenty minutes.
pub const EXAM_QUESTIONS: usize = 10;

/// Whether the loop goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Keep going.
    Continue,
    /// The learner quit.
    Quit,
}

/// The learner's progress and where it is saved.
#[derive(Debug)]
pub struct Session {
    progress: Progress,
    path: PathBuf,
    exam_seed: Option<u64>,
}

impl Session {
    /// Reads the progress at `path` (missing is empty; a corrupt file is kept as `.bak` by
    /// the loader and reported by [`Session::start`]).
    pub fn open(path: PathBuf) -> Session {
        Session {
            progress: Progress::load(&path),
            path,
            exam_seed: None,
        }
    }

    /// Draws every exam with `seed` instead of one from the clock (tests).
    pub fn with_exam_seed(mut self, seed: u64) -> Session {
        self.exam_seed = Some(seed);
        self
    }

    /// The progress as recorded so far.
    pub fn progress(&self) -> &Progress {
        &self.progress
    }

    /// The progress file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Shows the loaded progress in `app`: the solved marks, and where progress is saved (or
    /// why the file could not be read).
    pub fn start(&self, app: &mut LearnApp) {
        self.show_solved(app);
        match &self.progress.load_error {
            Some(e) => app.set_notice(e.clone(), true),
            None => app.set_notice(format!("progress: {}", self.path.display()), false),
        }
    }

    fn show_solved(&self, app: &mut LearnApp) {
        let solved = app
            .curriculum()
            .exercises()
            .iter()
            .filter(|e| self.progress.is_solved(&e.id))
            .map(|e| e.id.clone())
            .collect::<Vec<_>>();
        app.set_solved(solved);
    }

    fn save(&self, app: &mut LearnApp) {
        match self.progress.save(&self.path) {
            Ok(()) => app.set_notice(format!("progress saved to {}", self.path.display()), false),
            Err(e) => app.set_notice(
                format!("cannot save progress to {}: {e}", self.path.display()),
                true,
            ),
        }
        self.show_solved(app);
    }

    /// Carries out `action` on `app`.
    pub fn perform(&mut self, app: &mut LearnApp, action: LearnAction) -> Flow {
        match action {
            LearnAction::None => {}
            LearnAction::Quit => return Flow::Quit,
            LearnAction::Check => self.check(app),
            LearnAction::Explain => {
                let (_, exercise) = app.selected();
                app.set_explanation(explanation(exercise));
            }
            LearnAction::StartExam => {
                let seed = self.exam_seed.unwrap_or_else(|| {
                    SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |d| d.as_nanos() as u64)
                });
                let exam = Exam::draw(app.curriculum(), seed, EXAM_QUESTIONS);
                app.set_exam(Some(ExamState::new(exam, Instant::now())));
            }
            LearnAction::ExamFinish => self.finish_exam(app),
        }
        Flow::Continue
    }

    /// Grades the open exercise's answer, records it with the hints shown, and saves.
    fn check(&mut self, app: &mut LearnApp) {
        let (_, exercise) = app.selected();
        let attempt = app.attempt_mut();
        let answer = attempt.input.text();
        let hints = attempt.hints as u32;
        let verdict = grade::check(exercise, &answer);
        self.progress.record(&exercise.id, verdict.correct, hints);
        let shown = verdict.correct.then(|| explanation(exercise));
        app.set_checked(
            Checked {
                correct: verdict.correct,
                feedback: verdict.feedback,
                answer,
            },
            shown,
        );
        self.save(app);
    }

    /// Scores the exam, records its answered questions as checks, and saves.
    fn finish_exam(&mut self, app: &mut LearnApp) {
        let Some(state) = app.exam_mut() else {
            return;
        };
        if state.ended() {
            return;
        }
        let result = state.exam().score(&state.answers());
        for item in result.items.iter().filter(|i| i.answered) {
            self.progress.record(&item.id, item.verdict.correct, 0);
        }
        state.finish(result);
        self.save(app);
    }

    /// Computes the preview of the open PromQL answer when it changed; returns whether there
    /// is a new one to draw.
    pub fn preview(&self, app: &mut LearnApp) -> bool {
        let Some((number, answer)) = app.preview_wanted() else {
            return false;
        };
        let (_, exercise) = app.selected();
        let result = grade::preview(exercise, &answer);
        app.set_preview(number, Preview { answer, result });
        true
    }

    /// Moves the exam's clock to `now` and ends the exam when time is up; returns whether
    /// there is something new to draw.
    pub fn tick(&mut self, app: &mut LearnApp, now: Instant) -> bool {
        let Some(state) = app.exam_mut() else {
            return false;
        };
        let changed = state.tick(now);
        if state.time_up() {
            self.finish_exam(app);
            return true;
        }
        changed
    }
}

/// The explanation, then the reference answer.
fn explanation(exercise: &Exercise) -> String {
    format!(
        "{}\n\nReference answer:\n{}",
        exercise.explanation.trim_end(),
        indent(&grade::reveal(exercise))
    )
}

fn indent(text: &str) -> String {
    text.trim_end()
        .lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
