//! Grading: an answer is checked by the engines burnwatch runs, never by comparing text.
//!
//! - PromQL ([`promql`]): the answer and the exercise's reference are evaluated over the
//!   exercise's data set at every `at` time and over its `range`, and the results compared as
//!   sets of label sets and values (relative tolerance 1e-9). The feedback says how they differ.
//! - Numbers ([`number`]): read with their unit ([`crate::answer`]) and compared within the
//!   exercise's tolerance (1e-3 relative by default).
//! - Choices ([`choice`]): case-insensitive, a unique prefix is enough.
//! - Collector configurations ([`config`]): validated by the collector's own loader, then
//!   their pipelines compared with the fixed configuration's.
//!
//! [`derive`] computes the value an SLO or DORA exercise states with slo's functions, so the
//! curriculum's numbers are checked against the engine.
//!
//! ```
//! use burnwatch_learn::{Curriculum, grade};
//!
//! let c = Curriculum::builtin();
//! let (_, ex) = c.find("slo-allowed-downtime-999-30d").unwrap();
//! assert!(grade::check(ex, "43m12s").correct);
//! let wrong = grade::check(ex, "43 min");
//! assert!(!wrong.correct);
//! assert!(wrong.expected.is_none(), "the answer is only shown when asked for");
//! assert_eq!(grade::reveal(ex), "43m12s");
//! ```

pub mod choice;
pub mod config;
pub mod derive;
pub mod number;
pub mod promql;

use serde::Serialize;

use crate::answer;
use crate::model::{Answer, Exercise};

/// The outcome of checking one answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// The answer is right.
    pub correct: bool,
    /// How the answer was read and, when wrong, how it differs from the expected one: one
    /// sentence a line (a parse error with its position, missing labels, a factor of 60, the
    /// validator's error).
    pub feedback: Vec<String>,
    /// The reference answer as text, only when the caller asked to see it
    /// ([`Verdict::revealing`]).
    pub expected: Option<String>,
}

impl Verdict {
    /// A right answer, with what was read.
    pub(crate) fn right(feedback: Vec<String>) -> Verdict {
        Verdict {
            correct: true,
            feedback,
            expected: None,
        }
    }

    /// A wrong answer, with why.
    pub(crate) fn wrong(feedback: Vec<String>) -> Verdict {
        Verdict {
            correct: false,
            feedback,
            expected: None,
        }
    }

    /// This verdict with [`Verdict::expected`] filled with `exercise`'s reference answer, for
    /// when the learner asks to see it.
    pub fn revealing(mut self, exercise: &Exercise) -> Verdict {
        self.expected = Some(reveal(exercise));
        self
    }
}

/// Checks `answer` to `exercise`. Never panics, whatever the answer; a PromQL answer's
/// evaluation is bounded in time and samples ([`promql::LIMITS`]).
pub fn check(exercise: &Exercise, answer: &str) -> Verdict {
    match &exercise.answer {
        Answer::Promql(p) => promql::check(exercise, p, answer),
        Answer::Number(n) => number::check(n, answer),
        Answer::Choice(c) => choice::check(c, answer),
        Answer::Config(c) => config::check(c, answer),
    }
}

/// The reference answer as text a learner could have typed: the reference query, the value
/// with its unit (`43m12s`, `0.1%`), the correct option, the fixed configuration.
pub fn reveal(exercise: &Exercise) -> String {
    match &exercise.answer {
        Answer::Promql(p) => p.reference.clone(),
        Answer::Number(n) => answer::format_value(n.value, n.unit),
        Answer::Choice(c) => c.correct.clone(),
        Answer::Config(c) => c.fixed.clone(),
    }
}

/// For PromQL exercises: the answer's result at the exercise's first evaluation time, as a
/// small table (what the practice view shows under the input). An error text when the answer
/// does not parse or run, or the exercise is not a PromQL one.
pub fn preview(exercise: &Exercise, answer: &str) -> Result<String, String> {
    match &exercise.answer {
        Answer::Promql(p) => promql::preview(exercise, p, answer),
        other => Err(format!(
            "a {} answer has no query result to preview",
            other.kind()
        )),
    }
}

#[cfg(test)]
mod tests;
