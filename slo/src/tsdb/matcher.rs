//! Label matchers with Prometheus semantics.
//!
//! Regular expressions are fully anchored (`^(?s:re)$`): `job=~"api"` matches only `api`, and `.`
//! matches a newline too, as in Prometheus 3.x (`labels.NewFastRegexMatcher`). A matcher compares
//! against the empty string when the label is absent, so `{foo=""}` selects series without `foo`.

use regex::Regex;

use super::labels::Labels;

/// How a [`Matcher`] compares a label value.
#[derive(Clone, Debug)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~` with the anchored regex.
    Regex(Regex),
    /// `!~` with the anchored regex.
    NotRegex(Regex),
}

/// One label matcher, such as `job=~"api|web"`.
#[derive(Clone, Debug)]
pub struct Matcher {
    /// The label name.
    pub name: String,
    /// The comparison.
    pub op: MatchOp,
    /// The value or the regex source, as the user wrote it.
    pub value: String,
}

/// A regex in a matcher did not compile.
#[derive(Debug, thiserror::Error)]
#[error("invalid regular expression {value:?} for label {name:?}: {reason}")]
pub struct MatcherError {
    /// The label name.
    pub name: String,
    /// The regex source.
    pub value: String,
    /// Why it did not compile.
    pub reason: String,
}

/// Compiles `re` anchored at both ends, with `.` matching newlines.
pub fn anchored_regex(re: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("^(?s:{re})$"))
}

impl Matcher {
    /// `name="value"`.
    pub fn equal(name: &str, value: &str) -> Self {
        Matcher {
            name: name.to_string(),
            op: MatchOp::Equal,
            value: value.to_string(),
        }
    }

    /// `name!="value"`.
    pub fn not_equal(name: &str, value: &str) -> Self {
        Matcher {
            name: name.to_string(),
            op: MatchOp::NotEqual,
            value: value.to_string(),
        }
    }

    /// `name=~"re"`.
    pub fn regex(name: &str, re: &str) -> Result<Self, MatcherError> {
        let compiled = anchored_regex(re).map_err(|e| MatcherError {
            name: name.to_string(),
            value: re.to_string(),
            reason: e.to_string(),
        })?;
        Ok(Matcher {
            name: name.to_string(),
            op: MatchOp::Regex(compiled),
            value: re.to_string(),
        })
    }

    /// `name!~"re"`.
    pub fn not_regex(name: &str, re: &str) -> Result<Self, MatcherError> {
        let compiled = anchored_regex(re).map_err(|e| MatcherError {
            name: name.to_string(),
            value: re.to_string(),
            reason: e.to_string(),
        })?;
        Ok(Matcher {
            name: name.to_string(),
            op: MatchOp::NotRegex(compiled),
            value: re.to_string(),
        })
    }

    /// Whether `value` (the empty string for an absent label) satisfies the matcher.
    pub fn matches(&self, value: &str) -> bool {
        match &self.op {
            MatchOp::Equal => self.value == value,
            MatchOp::NotEqual => self.value != value,
            MatchOp::Regex(re) => re.is_match(value),
            MatchOp::NotRegex(re) => !re.is_match(value),
        }
    }

    /// Whether the series with `labels` satisfies the matcher.
    pub fn matches_labels(&self, labels: &Labels) -> bool {
        self.matches(labels.get(&self.name).unwrap_or(""))
    }
}
