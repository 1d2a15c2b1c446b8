//! burnwatch's practice mode: a curriculum of graded exercises for people preparing for the
//! CNPE exam (PromQL, SLO math, DORA, collector configuration).
//!
//! The curriculum is built into the binary ([`Curriculum::builtin`]): YAML files under
//! `src/curriculum/`, one per [`Topic`], read at start-up and checked ([`model`]). Exercises
//! are numbered from 1 in curriculum order, the numbers `learn show N` and `learn check N`
//! take.

pub mod model;

pub use model::{Answer, Curriculum, CurriculumError, Exercise, Topic};
