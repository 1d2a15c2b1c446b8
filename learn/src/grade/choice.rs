//! Choice answers: an option's name, case-insensitively, or a prefix that names one option
//! only (`y` for Yellow).

use super::Verdict;
use crate::model::ChoiceAnswer;

/// The option `text` names: an exact match (ignoring case and surrounding space) or the only
/// option starting with it.
pub fn resolve<'a>(options: &'a [String], text: &str) -> Result<&'a str, String> {
    let t = text.trim().to_lowercase();
    if t.is_empty() {
        return Err(format!("choose one of: {}", options.join(", ")));
    }
    if let Some(o) = options.iter().find(|o| o.to_lowercase() == t) {
        return Ok(o);
    }
    let matching: Vec<&String> = options
        .iter()
        .filter(|o| o.to_lowercase().starts_with(&t))
        .collect();
    match matching.as_slice() {
        [one] => Ok(one),
        [] => Err(format!(
            "{:?} is not one of the options: {}",
            text.trim(),
            options.join(", ")
        )),
        many => Err(format!(
            "{:?} could be any of {}; type more of it",
            text.trim(),
            many.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// Grades a choice.
pub fn check(expected: &ChoiceAnswer, text: &str) -> Verdict {
    match resolve(&expected.options, text) {
        Ok(chosen) if chosen == expected.correct => Verdict::right(vec![format!("read as {chosen}")]),
        Ok(chosen) => Verdict::wrong(vec![format!("read as {chosen}, which is not the answer")]),
        Err(e) => Verdict::wrong(vec![e]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn colours() -> ChoiceAnswer {
        ChoiceAnswer {
            options: vec!["Green".into(), "Yellow".into(), "Red".into(), "Exhausted".into()],
            correct: "Yellow".into(),
            derive: None,
        }
    }

    #[test]
    fn case_and_unique_prefixes() {
        for text in ["Yellow", "yellow", " YELLOW ", "y", "yel"] {
            assert!(check(&colours(), text).correct, "{text}");
        }
        let v = check(&colours(), "red");
        assert!(!v.correct);
        assert_eq!(v.feedback, vec!["read as Red, which is not the answer"]);
        let v = check(&colours(), "blue");
        assert_eq!(
            v.feedback,
            vec!["\"blue\" is not one of the options: Green, Yellow, Red, Exhausted"]
        );
        let tiers = ChoiceAnswer {
            options: vec!["elite".into(), "high".into(), "medium".into(), "low".into()],
            correct: "low".into(),
            derive: None,
        };
        assert!(check(&tiers, "lo").correct);
        let ambiguous = ChoiceAnswer {
            options: vec!["Red".into(), "Reddish".into()],
            correct: "Reddish".into(),
            derive: None,
        };
        assert!(
            !check(&ambiguous, "red").correct,
            "an exact match wins over a prefix"
        );
        assert!(check(&ambiguous, "redd").correct);
        let v = check(&ambiguous, "re");
        assert!(
            v.feedback[0].contains("could be any of Red, Reddish"),
            "{:?}",
            v.feedback
        );
    }
}
