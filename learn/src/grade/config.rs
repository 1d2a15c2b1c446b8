//! Collector-configuration answers: the answer must pass the collector's own loader and
//! validator (`Config::from_yaml_with_env`, what `burnwatch collector validate` runs), and its
//! pipelines must be those of the exercise's fixed configuration.
//!
//! Pipelines compare as the OTel Collector builds them: receivers and exporters as sets (their
//! order in the list does not matter), processors in order (it does: `memory_limiter` must come
//! first to refuse data before the other processors buffer it). Connectors count on the side
//! they are listed on. Environment references (`${env:VAR}`) expand to nothing while grading,
//! so the learner's environment cannot change a verdict.

use std::collections::{BTreeMap, BTreeSet};

use burnwatch_collector::otelcol::{Config, Pipeline};

use super::Verdict;
use crate::model::ConfigAnswer;

/// One pipeline as compared: receivers, processors in order, exporters.
#[derive(Debug, PartialEq)]
struct Shape {
    receivers: BTreeSet<String>,
    processors: Vec<String>,
    exporters: BTreeSet<String>,
}

fn shape(p: &Pipeline) -> Shape {
    let ids =
        |v: &[burnwatch_collector::config::ComponentId]| v.iter().map(|i| i.to_string()).collect::<Vec<_>>();
    Shape {
        receivers: ids(&p.receivers)
            .into_iter()
            .chain(ids(&p.from_connectors))
            .collect(),
        processors: ids(&p.processors),
        exporters: ids(&p.exporters)
            .into_iter()
            .chain(ids(&p.to_connectors))
            .collect(),
    }
}

fn shapes(c: &Config) -> BTreeMap<String, Shape> {
    c.pipelines.iter().map(|p| (p.id.clone(), shape(p))).collect()
}

/// Loads and validates `text` as the collector would, with no environment.
pub fn validate(text: &str) -> Result<Config, String> {
    Config::from_yaml_with_env(text, &|_| None).map_err(|e| e.to_string())
}

fn list<'a>(items: impl IntoIterator<Item = &'a String>) -> String {
    let v: Vec<&str> = items.into_iter().map(String::as_str).collect();
    format!("[{}]", v.join(", "))
}

/// Grades a corrected configuration.
pub fn check(expected: &ConfigAnswer, text: &str) -> Verdict {
    if text.trim().is_empty() {
        return Verdict::wrong(vec!["give the corrected configuration (YAML)".to_string()]);
    }
    let answer = match validate(text) {
        Ok(c) => c,
        Err(e) => return Verdict::wrong(vec![format!("the collector refuses it: {e}")]),
    };
    let fixed = match validate(&expected.fixed) {
        Ok(c) => c,
        Err(e) => {
            return Verdict::wrong(vec![format!(
                "the exercise's fixed configuration is invalid: {e}"
            )]);
        }
    };
    let (mine, want) = (shapes(&answer), shapes(&fixed));
    let mut feedback = Vec::new();
    for id in want.keys().filter(|id| !mine.contains_key(*id)) {
        feedback.push(format!(
            "service.pipelines.{id} is missing: the fix keeps that pipeline"
        ));
    }
    for id in mine.keys().filter(|id| !want.contains_key(*id)) {
        feedback.push(format!(
            "service.pipelines.{id} is not in the fix: rename or remove it"
        ));
    }
    for (id, w) in &want {
        let Some(m) = mine.get(id) else { continue };
        if m.receivers != w.receivers {
            feedback.push(format!(
                "service.pipelines.{id}.receivers: {} is not what the fix has",
                list(&m.receivers)
            ));
        }
        if m.processors != w.processors {
            let same_set = m.processors.iter().collect::<BTreeSet<_>>()
                == w.processors.iter().collect::<BTreeSet<_>>()
                && m.processors.len() == w.processors.len();
            if same_set {
                feedback.push(format!(
                    "service.pipelines.{id}.processors: the right processors in the wrong order {}; order matters (memory_limiter first, batch last)",
                    list(&m.processors)
                ));
            } else {
                feedback.push(format!(
                    "service.pipelines.{id}.processors: {} is not what the fix has",
                    list(&m.processors)
                ));
            }
        }
        if m.exporters != w.exporters {
            feedback.push(format!(
                "service.pipelines.{id}.exporters: {} is not what the fix has",
                list(&m.exporters)
            ));
        }
    }
    if feedback.is_empty() {
        Verdict::right(vec![format!(
            "the collector accepts it; pipelines {} match the fix",
            list(mine.keys())
        )])
    } else {
        Verdict::wrong(feedback)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXED: &str = "receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:4317
processors:
  memory_limiter:
    check_interval: 1s
    limit_mib: 512
  batch: {}
exporters:
  otlp:
    endpoint: backend:4317
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [memory_limiter, batch]
      exporters: [otlp]
";

    fn exercise() -> ConfigAnswer {
        ConfigAnswer {
            broken: FIXED.replace("exporters: [otlp]", "exporters: [otlp/backend]"),
            fixed: FIXED.to_string(),
        }
    }

    #[test]
    fn the_fix_passes_and_the_broken_one_names_the_key() {
        let ex = exercise();
        assert!(check(&ex, FIXED).correct, "{:?}", check(&ex, FIXED).feedback);
        let v = check(&ex, &ex.broken);
        assert!(!v.correct);
        assert!(
            v.feedback[0].starts_with("the collector refuses it: service.pipelines.traces"),
            "{:?}",
            v.feedback
        );
        assert!(v.feedback[0].contains("otlp/backend"), "{:?}", v.feedback);
    }

    #[test]
    fn processor_order_and_bad_durations() {
        let ex = exercise();
        let swapped = FIXED.replace("[memory_limiter, batch]", "[batch, memory_limiter]");
        let v = check(&ex, &swapped);
        assert!(!v.correct);
        assert_eq!(
            v.feedback,
            vec![
                "service.pipelines.traces.processors: the right processors in the wrong order [batch, memory_limiter]; order matters (memory_limiter first, batch last)"
            ]
        );
        let bad_duration = FIXED.replace("check_interval: 1s", "check_interval: 1 second");
        let v = check(&ex, &bad_duration);
        assert!(!v.correct);
        assert!(
            v.feedback[0].contains("processors.memory_limiter.check_interval"),
            "{:?}",
            v.feedback
        );
        let v = check(&ex, "receivers: [");
        assert!(v.feedback[0].contains("invalid YAML"), "{:?}", v.feedback);
        let extra = FIXED.replace(
            "    traces:",
            "    traces/2:\n      receivers: [otlp]\n      exporters: [otlp]\n    traces:",
        );
        let v = check(&ex, &extra);
        assert_eq!(
            v.feedback,
            vec!["service.pipelines.traces/2 is not in the fix: rename or remove it"]
        );
    }
}
