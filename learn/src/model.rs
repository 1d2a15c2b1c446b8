//! The exercise model and the built-in curriculum.
//!
//! Each topic's exercises are one YAML file under `src/curriculum/` (a list of [`Exercise`]s),
//! compiled into the binary. [`Curriculum::parse`] reads them with the file and list position
//! of every mistake, and checks what serde cannot: unique ids, each exercise in its topic's file,
//! a `correct` choice among the options, PromQL answers with somewhere to evaluate.
//!
//! Expected answers are never compared as text: a PromQL answer is evaluated beside its
//! `reference` over the exercise's `data`; a number is parsed with its unit and compared within
//! a tolerance; a configuration is run through the collector's own validator. Where an SLO or
//! DORA answer follows from the engine's arithmetic, `derive` names that computation, so the
//! stated `value` is checked against the engine rather than trusted.

use std::sync::OnceLock;

use serde::Deserialize;

/// What an exercise is about; the exam scores by topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    /// PromQL: selectors, rates, aggregation, histograms, subqueries, vector matching.
    Promql,
    /// SLO math: budgets, burn rates, time to exhaustion, alert thresholds, the budget policy.
    Slo,
    /// DORA's four keys from deployment and incident events, and their tiers.
    Dora,
    /// OpenTelemetry Collector configuration: find and fix the mistake.
    Collector,
}

impl Topic {
    /// Every topic, in curriculum order.
    pub const ALL: [Topic; 4] = [Topic::Promql, Topic::Slo, Topic::Dora, Topic::Collector];

    /// The name used in YAML, on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Promql => "promql",
            Topic::Slo => "slo",
            Topic::Dora => "dora",
            Topic::Collector => "collector",
        }
    }

    /// A heading for people.
    pub fn title(self) -> &'static str {
        match self {
            Topic::Promql => "PromQL",
            Topic::Slo => "SLO math",
            Topic::Dora => "DORA",
            Topic::Collector => "Collector config",
        }
    }
}

/// One exercise.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exercise {
    /// A stable slug (`promql-rate-per-second`): progress is saved under it, so it never changes
    /// once released, while the exercise's number may.
    pub id: String,
    /// The topic; must be the topic of the file the exercise is in.
    pub topic: Topic,
    /// A one-line title for lists.
    pub title: String,
    /// What is asked, in a few sentences.
    pub prompt: String,
    /// The data the exercise is about. For PromQL exercises: `load` blocks in the Prometheus
    /// test-script format (`load 1m` then `metric{labels} 0+10x60` lines), time 0 at the first
    /// sample. For DORA exercises: the events as JSON lines, as `burnwatch dora report` reads
    /// them. Otherwise free text shown with the prompt, if any.
    #[serde(default)]
    pub data: Option<String>,
    /// Hints, revealed one at a time.
    #[serde(default)]
    pub hints: Vec<String>,
    /// Why the answer is what it is: shown after a correct answer or on request.
    pub explanation: String,
    /// The expected answer and how it is graded.
    pub answer: Answer,
}

/// The expected answer of an exercise, by kind: in YAML a map with exactly one of the keys
/// `promql`, `number`, `choice`, `config`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(try_from = "AnswerKeys")]
pub enum Answer {
    /// A PromQL expression, graded by evaluating it beside the reference.
    Promql(PromqlAnswer),
    /// A number with a unit (`43m12s`, `0.1%`, `14.4`).
    Number(NumberAnswer),
    /// One of a few named options (a tier, a policy colour).
    Choice(ChoiceAnswer),
    /// A corrected OpenTelemetry Collector configuration.
    Config(ConfigAnswer),
}

/// How an [`Answer`] is written in YAML. `serde_norway` reads an externally tagged enum only
/// from a YAML tag (`!promql`), so the single-key map form curriculum authors write is read
/// through this struct.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerKeys {
    promql: Option<PromqlAnswer>,
    number: Option<NumberAnswer>,
    choice: Option<ChoiceAnswer>,
    config: Option<ConfigAnswer>,
}

impl TryFrom<AnswerKeys> for Answer {
    type Error = String;

    fn try_from(k: AnswerKeys) -> Result<Answer, String> {
        let mut kinds = Vec::new();
        kinds.extend(k.promql.map(Answer::Promql));
        kinds.extend(k.number.map(Answer::Number));
        kinds.extend(k.choice.map(Answer::Choice));
        kinds.extend(k.config.map(Answer::Config));
        if kinds.len() == 1 {
            Ok(kinds.remove(0))
        } else {
            Err(format!(
                "an answer needs exactly one of promql, number, choice, config; found {}",
                kinds.len()
            ))
        }
    }
}

impl Answer {
    /// The kind's name, as in YAML and JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            Answer::Promql(_) => "promql",
            Answer::Number(_) => "number",
            Answer::Choice(_) => "choice",
            Answer::Config(_) => "config",
        }
    }
}

/// A PromQL answer: the answer and `reference` must give the same result (as sets of label
/// sets and values, tolerance 1e-9) at every instant in `at` and, when given, over `range`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromqlAnswer {
    /// The reference query.
    pub reference: String,
    /// Instant evaluation times as Prometheus durations after the data's time 0 (`30m`).
    #[serde(default)]
    pub at: Vec<String>,
    /// A range evaluation, when the exercise is about behaviour over time.
    #[serde(default)]
    pub range: Option<RangeSpec>,
}

/// A range evaluation: `start`, `end` and `step` as Prometheus durations (`start` and `end`
/// after the data's time 0).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeSpec {
    /// First evaluation time.
    pub start: String,
    /// Last evaluation time.
    pub end: String,
    /// Resolution.
    pub step: String,
}

/// A numeric answer.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumberAnswer {
    /// The expected value in the unit's base: seconds for [`Unit::Duration`], a fraction
    /// (0.001, not 0.1) for [`Unit::Ratio`], the plain number otherwise.
    pub value: f64,
    /// How answers are read.
    pub unit: Unit,
    /// Relative tolerance; the grader's default when absent.
    #[serde(default)]
    pub tolerance: Option<f64>,
    /// The engine computation `value` must equal, when there is one.
    #[serde(default)]
    pub derive: Option<Derive>,
}

/// How a numeric answer is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// A duration: `43m12s`, `43.2 min`, `2592 s`, `0.72h`; a bare number is seconds.
    Duration,
    /// A ratio: `0.001`, `0.1%`.
    Ratio,
    /// A plain number (a burn rate, a count): `14.4`, `14.4x`.
    Number,
}

/// A choice among named options.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChoiceAnswer {
    /// The options, as shown.
    pub options: Vec<String>,
    /// The right option (one of `options`).
    pub correct: String,
    /// The engine computation that picks `correct`, when there is one.
    #[serde(default)]
    pub derive: Option<Derive>,
}

/// A broken collector configuration to fix. An answer is right when the collector's validator
/// accepts it and its pipelines (receivers, processors in order, exporters) are those of `fixed`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigAnswer {
    /// The configuration as given to the learner, with the mistake.
    pub broken: String,
    /// A corrected configuration.
    pub fixed: String,
}

/// A computation of the engine's that an SLO or DORA exercise's answer follows from. Durations
/// are Prometheus durations (`30d`), objectives and ratios fractions (`0.999`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "compute", rename_all = "snake_case", deny_unknown_fields)]
pub enum Derive {
    /// The error budget as a ratio: `1 - objective`.
    ErrorBudget {
        /// The objective.
        objective: f64,
    },
    /// Downtime allowed by `objective` over `period` (seconds).
    AllowedDowntime {
        /// The objective.
        objective: f64,
        /// The SLO period.
        period: String,
    },
    /// Budget remaining (a ratio of the budget) after an `error_ratio` over the period.
    BudgetRemaining {
        /// The objective.
        objective: f64,
        /// The error ratio over the whole period.
        error_ratio: f64,
    },
    /// The burn rate of an `error_ratio`.
    BurnRate {
        /// The objective.
        objective: f64,
        /// The error ratio over the window.
        error_ratio: f64,
    },
    /// Time until a `remaining` budget (a ratio of the budget) is spent at `burn_rate`.
    TimeToExhaustion {
        /// Budget remaining, 0..=1.
        remaining: f64,
        /// The burn rate.
        burn_rate: f64,
        /// The SLO period.
        period: String,
    },
    /// The burn-rate threshold that spends `budget_share` of the budget in `long_window`
    /// (a multiwindow alert's factor: 2% in 1h of 30d is 14.4).
    BurnRateThreshold {
        /// The share of the budget, 0..=1.
        budget_share: f64,
        /// The alert's long window.
        long_window: String,
        /// The SLO period.
        period: String,
    },
    /// The budget policy's colour for `consumed` (a ratio of the budget): green below 50%,
    /// yellow below 80%, red from 80%.
    PolicyColour {
        /// Budget consumed, 0..=1.
        consumed: f64,
    },
    /// A DORA key computed by the engine from the exercise's `data` events over the
    /// `window_days` days ending at `end` (RFC 3339); for a choice, that key's tier.
    Dora {
        /// Which key.
        key: DoraKey,
        /// The window's end.
        end: String,
        /// The window's length in days.
        window_days: f64,
    },
}

/// DORA's four keys, in the units the grader reads answers in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DoraKey {
    /// Deployments per day.
    DeploymentFrequency,
    /// Median commit-to-deploy time (a duration).
    LeadTime,
    /// Failed deployments over all deployments (a ratio).
    ChangeFailureRate,
    /// Median time from incident to recovery (a duration).
    TimeToRestore,
}

/// A mistake in the curriculum's YAML: which file, which exercise, what.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct CurriculumError {
    /// The curriculum file.
    pub file: String,
    /// What is wrong and where (exercise id or list position).
    pub message: String,
}

/// Exercises in curriculum order.
#[derive(Clone, Debug, PartialEq)]
pub struct Curriculum {
    exercises: Vec<Exercise>,
}

/// The built-in curriculum's files, in order, with the topic each holds.
const BUILTIN: [(&str, Topic, &str); 4] = [
    (
        "promql.yaml",
        Topic::Promql,
        include_str!("curriculum/promql.yaml"),
    ),
    ("slo.yaml", Topic::Slo, include_str!("curriculum/slo.yaml")),
    ("dora.yaml", Topic::Dora, include_str!("curriculum/dora.yaml")),
    (
        "collector.yaml",
        Topic::Collector,
        include_str!("curriculum/collector.yaml"),
    ),
];

impl Curriculum {
    /// The curriculum compiled into the binary. Its files are checked by this crate's tests, so
    /// a mistake in them fails the build's tests rather than a user's session.
    pub fn builtin() -> &'static Curriculum {
        static BUILT: OnceLock<Curriculum> = OnceLock::new();
        BUILT.get_or_init(|| match Curriculum::parse(&BUILTIN) {
            Ok(c) => c,
            Err(err) => panic!("the built-in curriculum is invalid: {err}"),
        })
    }

    /// Reads curriculum files: `(file name, topic, YAML text)`, in order.
    pub fn parse(files: &[(&str, Topic, &str)]) -> Result<Curriculum, CurriculumError> {
        let mut exercises: Vec<Exercise> = Vec::new();
        for &(file, topic, text) in files {
            let fail = |message: String| CurriculumError {
                file: file.to_string(),
                message,
            };
            let list: Vec<Exercise> = serde_norway::from_str(text).map_err(|err| fail(err.to_string()))?;
            for (i, exercise) in list.into_iter().enumerate() {
                let at = format!("exercise {} ({:?})", i + 1, exercise.id);
                if exercise.topic != topic {
                    return Err(fail(format!(
                        "{at}: topic {} in the {} file",
                        exercise.topic.as_str(),
                        topic.as_str()
                    )));
                }
                if let Some(problem) = exercise.problem() {
                    return Err(fail(format!("{at}: {problem}")));
                }
                if exercises.iter().any(|e| e.id == exercise.id) {
                    return Err(fail(format!("{at}: the id is used twice")));
                }
                exercises.push(exercise);
            }
        }
        Ok(Curriculum { exercises })
    }

    /// Every exercise, in order (exercise N is `exercises()[N - 1]`).
    pub fn exercises(&self) -> &[Exercise] {
        &self.exercises
    }

    /// Exercise `number` (from 1).
    pub fn get(&self, number: usize) -> Option<&Exercise> {
        number.checked_sub(1).and_then(|i| self.exercises.get(i))
    }

    /// An exercise by number (from 1) or id, with its number.
    pub fn find(&self, key: &str) -> Option<(usize, &Exercise)> {
        let key = key.trim();
        if let Ok(n) = key.parse::<usize>() {
            return self.get(n).map(|e| (n, e));
        }
        self.exercises
            .iter()
            .enumerate()
            .find(|(_, e)| e.id == key)
            .map(|(i, e)| (i + 1, e))
    }

    /// The exercises of one topic, with their numbers.
    pub fn of_topic(&self, topic: Topic) -> impl Iterator<Item = (usize, &Exercise)> {
        self.exercises
            .iter()
            .enumerate()
            .filter(move |(_, e)| e.topic == topic)
            .map(|(i, e)| (i + 1, e))
    }
}

impl Exercise {
    /// What serde cannot check, as a sentence; `None` when the exercise is well formed.
    fn problem(&self) -> Option<String> {
        let slug = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
        if self.id.is_empty() || !self.id.chars().all(slug) {
            return Some("the id must be lowercase letters, digits and dashes".into());
        }
        if self.title.trim().is_empty() || self.prompt.trim().is_empty() {
            return Some("the title and prompt must not be empty".into());
        }
        if self.explanation.trim().is_empty() {
            return Some("the explanation must not be empty".into());
        }
        match &self.answer {
            Answer::Promql(p) => {
                if p.at.is_empty() && p.range.is_none() {
                    return Some("a PromQL answer needs `at` times or a `range`".into());
                }
                if self.data.is_none() {
                    return Some("a PromQL exercise needs `data` to evaluate over".into());
                }
                let times =
                    p.at.iter()
                        .chain(p.range.iter().flat_map(|r| [&r.start, &r.end, &r.step]));
                for t in times {
                    if burnwatch_slo::duration::parse_prometheus_duration_ms(t).is_none() {
                        return Some(format!(
                            "{t:?} is not a Prometheus duration (such as 30m or 1h5m)"
                        ));
                    }
                }
            }
            Answer::Number(n) => {
                if !n.value.is_finite() {
                    return Some("the expected value must be a finite number".into());
                }
                if n.tolerance.is_some_and(|t| !(0.0..1.0).contains(&t)) {
                    return Some("the tolerance must be in [0, 1)".into());
                }
            }
            Answer::Choice(c) => {
                if !c.options.contains(&c.correct) {
                    return Some(format!(
                        "the correct choice {:?} is not among the options",
                        c.correct
                    ));
                }
            }
            Answer::Config(c) => {
                if c.broken == c.fixed {
                    return Some("the broken and fixed configurations are the same".into());
                }
            }
        }
        if let (Topic::Dora, None) = (self.topic, &self.data) {
            return Some("a DORA exercise needs its events in `data`".into());
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_curriculum_parses_with_every_topic() {
        let c = Curriculum::parse(&BUILTIN).unwrap_or_else(|e| panic!("{e}"));
        for topic in Topic::ALL {
            assert!(
                c.of_topic(topic).next().is_some(),
                "no {} exercise",
                topic.as_str()
            );
        }
        let (n, first) = c.find("1").unwrap();
        assert_eq!((n, first.topic), (1, Topic::Promql));
        assert_eq!(c.find(&first.id).map(|(n, _)| n), Some(1));
        assert!(c.find("0").is_none());
        assert!(c.find("no-such-exercise").is_none());
    }

    const ONE: &str = r#"
- id: slo-budget
  topic: slo
  title: Error budget
  prompt: What is the error budget of a 99.9% objective?
  explanation: One minus the objective.
  answer:
    number: {value: 0.001, unit: ratio, derive: {compute: error_budget, objective: 0.999}}
"#;

    #[test]
    fn mistakes_name_the_file_and_exercise() {
        let ok = Curriculum::parse(&[("slo.yaml", Topic::Slo, ONE)]).unwrap();
        assert_eq!(ok.exercises().len(), 1);

        let err = Curriculum::parse(&[("promql.yaml", Topic::Promql, ONE)]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "promql.yaml: exercise 1 (\"slo-budget\"): topic slo in the promql file"
        );

        let twice = format!("{ONE}{}", ONE.trim_start_matches('\n'));
        let err = Curriculum::parse(&[("slo.yaml", Topic::Slo, &twice)]).unwrap_err();
        assert!(
            err.to_string()
                .contains("exercise 2 (\"slo-budget\"): the id is used twice"),
            "{err}"
        );

        let typo = ONE.replace("unit: ratio", "unit: ratios");
        let err = Curriculum::parse(&[("slo.yaml", Topic::Slo, &typo)]).unwrap_err();
        assert!(err.to_string().starts_with("slo.yaml: "), "{err}");
        assert!(err.to_string().contains("ratios"), "{err}");

        let bad_choice = r#"
- id: slo-colour
  topic: slo
  title: Colour
  prompt: Which colour?
  explanation: Policy.
  answer:
    choice: {options: [green, red], correct: blue}
"#;
        let err = Curriculum::parse(&[("slo.yaml", Topic::Slo, bad_choice)]).unwrap_err();
        assert!(
            err.to_string().contains("\"blue\" is not among the options"),
            "{err}"
        );
    }
}
