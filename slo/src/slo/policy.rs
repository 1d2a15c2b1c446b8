//! The error-budget policy: what the team does at each level of budget consumption.
//!
//! The bands are the project's seed policy, after the example policy in the SRE Workbook's
//! appendix B: consumed below 50% Green (normal feature work), 50% to below 80% Yellow (more
//! stability work and review), 80% to 100% Red (feature freeze), over 100% Exhausted.

use std::fmt;

/// The policy status for a consumed share of the budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyStatus {
    /// Under 50% consumed: normal feature work.
    Green,
    /// 50% to under 80%: more stability work and review.
    Yellow,
    /// 80% to 100%: feature freeze.
    Red,
    /// Over 100%: the budget is gone.
    Exhausted,
}

impl PolicyStatus {
    /// The status for `consumed`, a share of the budget (0.5 = half spent). NaN (no traffic, no
    /// data) has no status.
    pub fn from_consumed(consumed: f64) -> Option<Self> {
        if consumed.is_nan() {
            return None;
        }
        Some(if consumed < 0.5 {
            PolicyStatus::Green
        } else if consumed < 0.8 {
            PolicyStatus::Yellow
        } else if consumed <= 1.0 {
            PolicyStatus::Red
        } else {
            PolicyStatus::Exhausted
        })
    }

    /// What the policy asks of the team.
    pub fn action(self) -> &'static str {
        match self {
            PolicyStatus::Green => "normal feature work",
            PolicyStatus::Yellow => "more stability work and review",
            PolicyStatus::Red => "feature freeze",
            PolicyStatus::Exhausted => "budget exhausted: feature freeze until it recovers",
        }
    }
}

impl fmt::Display for PolicyStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PolicyStatus::Green => "Green",
            PolicyStatus::Yellow => "Yellow",
            PolicyStatus::Red => "Red",
            PolicyStatus::Exhausted => "Exhausted",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::PolicyStatus::{self, *};

    #[test]
    fn bands_and_their_edges() {
        let cases = [
            (0.0, Green),
            (0.4999, Green),
            (0.5, Yellow),
            (0.7999, Yellow),
            (0.8, Red),
            (1.0, Red),
            (1.0001, Exhausted),
            (-0.2, Green),
        ];
        for (consumed, want) in cases {
            assert_eq!(PolicyStatus::from_consumed(consumed), Some(want), "{consumed}");
        }
        assert_eq!(PolicyStatus::from_consumed(f64::NAN), None);
    }
}
