//! The DORA 2024 performance levels and the classifier that places one metric value in them.
//!
//! Source: Google Cloud / DORA, *Accelerate State of DevOps Report 2024*, section "Software
//! delivery performance", table of the four performance levels (elite 19% of respondents,
//! high 22%, medium 35%, low 25%):
//!
//! | metric                           | elite                      | high                   | medium                  | low                              |
//! |----------------------------------|----------------------------|------------------------|-------------------------|----------------------------------|
//! | change lead time                 | less than one day          | one day to one week    | one week to one month   | one month to six months          |
//! | deployment frequency             | on demand (several a day)  | daily to weekly        | weekly to monthly       | monthly to once every six months |
//! | change fail rate                 | 5%                         | 20%                    | 10%                     | 40%                              |
//! | failed deployment recovery time  | less than one hour         | less than one day      | less than one day       | one week to one month            |
//!
//! The report gives no levels for the fifth metric it introduced that year, the deployment
//! rework rate, so burnwatch reports that value without a tier.
//!
//! Rules of the classifier (one per metric, all "a better value never gives a worse tier"):
//! - Ranges: a value on an edge shared by two levels takes the better level ("between one day
//!   and one week" includes both ends; "less than one day" excludes one day). Months are 30
//!   days, six months 182 days.
//! - Values past the worst level's range (lead time over six months, fewer than one deployment
//!   every six months, recovery over a month) are still `low`: it is the last level.
//! - Change fail rate: the report's figures are typical rates of each level, and they are not
//!   monotone: high (20%) fails more often than medium (10%). burnwatch reads each figure as
//!   the upper limit of its level and picks the best level whose limit the rate does not
//!   exceed: <= 5% elite, <= 20% high, otherwise low. Medium (10%) is therefore never the
//!   answer for the change fail rate alone: any rate within medium's limit is within high's
//!   too, and a lower rate must not earn a worse level.
//! - Recovery time: high and medium share "less than one day", so the better one (high) wins;
//!   a recovery of one day up to a week falls between the table's rows and is `low`.

use std::fmt;

/// A DORA performance level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    /// The best level. Ordered first, so `min` of several tiers is the best, `max` the worst.
    Elite,
    /// Second level.
    High,
    /// Third level.
    Medium,
    /// The last level.
    Low,
}

impl Tier {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Elite => "elite",
            Tier::High => "high",
            Tier::Medium => "medium",
            Tier::Low => "low",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Seconds in an hour.
pub const HOUR_S: f64 = 3600.0;
/// Seconds in a day.
pub const DAY_S: f64 = 86_400.0;
/// Seconds in a week.
pub const WEEK_S: f64 = 7.0 * DAY_S;
/// Seconds in a month, as the classifier counts it (30 days).
pub const MONTH_S: f64 = 30.0 * DAY_S;
/// Seconds in six months, as the classifier counts it (182 days).
pub const SIX_MONTHS_S: f64 = 182.0 * DAY_S;

/// The report's change fail rate of the elite level, read as its upper limit.
pub const CFR_ELITE: f64 = 0.05;
/// The report's change fail rate of the high level, read as its upper limit.
pub const CFR_HIGH: f64 = 0.20;
/// The report's change fail rate of the medium level (lower than high's; see the module docs).
pub const CFR_MEDIUM: f64 = 0.10;
/// The report's change fail rate of the low level.
pub const CFR_LOW: f64 = 0.40;

/// The deployment-frequency bands of the 2024 table, as named in reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrequencyBucket {
    /// More than one deployment a day on average.
    OnDemand,
    /// Between once a day and once a week.
    DailyToWeekly,
    /// Between once a week and once a month.
    WeeklyToMonthly,
    /// Between once a month and once every six months.
    MonthlyToSixMonthly,
    /// Fewer than once every six months (below the table).
    FewerThanSixMonthly,
}

impl FrequencyBucket {
    /// A short description for tables.
    pub fn as_str(self) -> &'static str {
        match self {
            FrequencyBucket::OnDemand => "on demand (several a day)",
            FrequencyBucket::DailyToWeekly => "daily to weekly",
            FrequencyBucket::WeeklyToMonthly => "weekly to monthly",
            FrequencyBucket::MonthlyToSixMonthly => "monthly to every six months",
            FrequencyBucket::FewerThanSixMonthly => "fewer than once every six months",
        }
    }

    /// A stable identifier for JSON output.
    pub fn key(self) -> &'static str {
        match self {
            FrequencyBucket::OnDemand => "on_demand",
            FrequencyBucket::DailyToWeekly => "daily_to_weekly",
            FrequencyBucket::WeeklyToMonthly => "weekly_to_monthly",
            FrequencyBucket::MonthlyToSixMonthly => "monthly_to_six_monthly",
            FrequencyBucket::FewerThanSixMonthly => "fewer_than_six_monthly",
        }
    }

    /// The level this band belongs to.
    pub fn tier(self) -> Tier {
        match self {
            FrequencyBucket::OnDemand => Tier::Elite,
            FrequencyBucket::DailyToWeekly => Tier::High,
            FrequencyBucket::WeeklyToMonthly => Tier::Medium,
            FrequencyBucket::MonthlyToSixMonthly | FrequencyBucket::FewerThanSixMonthly => Tier::Low,
        }
    }
}

/// The band of an average of `per_day` deployments a day. Exactly one a day is "daily to
/// weekly": elite needs several a day.
pub fn frequency_bucket(per_day: f64) -> FrequencyBucket {
    if per_day > 1.0 {
        FrequencyBucket::OnDemand
    } else if per_day >= 1.0 / 7.0 {
        FrequencyBucket::DailyToWeekly
    } else if per_day >= 1.0 / 30.0 {
        FrequencyBucket::WeeklyToMonthly
    } else if per_day >= 1.0 / 182.0 {
        FrequencyBucket::MonthlyToSixMonthly
    } else {
        FrequencyBucket::FewerThanSixMonthly
    }
}

/// The level of a change lead time of `seconds` (the median over changes).
pub fn lead_time_tier(seconds: f64) -> Tier {
    if seconds < DAY_S {
        Tier::Elite
    } else if seconds <= WEEK_S {
        Tier::High
    } else if seconds <= MONTH_S {
        Tier::Medium
    } else {
        Tier::Low
    }
}

/// The level of a change fail rate `rate` (a fraction, 0.1 = 10%); see the module docs for why
/// medium is never returned.
pub fn change_fail_rate_tier(rate: f64) -> Tier {
    // Levels in order of merit with their limits; the first whose limit holds wins.
    let levels = [
        (Tier::Elite, CFR_ELITE),
        (Tier::High, CFR_HIGH),
        (Tier::Medium, CFR_MEDIUM),
        (Tier::Low, CFR_LOW),
    ];
    levels
        .iter()
        .find(|(_, limit)| rate <= *limit)
        .map_or(Tier::Low, |(tier, _)| *tier)
}

/// The level of a failed-deployment recovery time of `seconds` (the median over failures).
pub fn recovery_time_tier(seconds: f64) -> Tier {
    if seconds < HOUR_S {
        Tier::Elite
    } else if seconds < DAY_S {
        // High and medium both read "less than one day"; the better level takes it.
        Tier::High
    } else {
        Tier::Low
    }
}
