//! burnwatch's practice mode: a curriculum of graded exercises for people preparing for the
//! CNPE exam (PromQL, SLO math, DORA, collector configuration).
//!
//! The curriculum is built into the binary ([`Curriculum::builtin`]): YAML files under
//! `src/curriculum/`, one per [`Topic`], read at start-up and checked ([`model`]). Exercises
//! are numbered from 1 in curriculum order, the numbers `learn show N` and `learn check N`
//! take.
//!
//! Answers are graded by the engines burnwatch runs ([`grade::check`] gives a [`Verdict`]): a
//! PromQL answer is evaluated beside the reference over the exercise's data set
//! ([`dataset`]); a number is read with its unit ([`answer`]) and compared within a
//! tolerance; a collector configuration goes through the collector's own validator.
//! [`progress`] saves what is solved; [`exam`] draws and scores a mock exam.
//!
//! ```
//! use burnwatch_learn::{Curriculum, grade};
//!
//! let c = Curriculum::builtin();
//! let (_, ex) = c.find("promql-request-rate").unwrap();
//! assert!(grade::check(ex, "rate(http_requests_total[5m])").correct);
//! let v = grade::check(ex, "rate(http_requests_total[5m]) * 60");
//! assert!(!v.correct);
//! assert!(v.feedback[0].contains("60 times the expected"), "{:?}", v.feedback);
//! ```

pub mod answer;
pub mod dataset;
pub mod exam;
pub mod grade;
pub mod model;
pub mod progress;

pub use exam::{Exam, ExamResult};
pub use grade::Verdict;
pub use model::{Answer, Curriculum, CurriculumError, Exercise, Topic};
pub use progress::Progress;
