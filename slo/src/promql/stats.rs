//! Query statistics: what the API's `stats` parameter reports (Prometheus's `util/stats`).
//!
//! Two sample counts, with Prometheus's definitions:
//!
//! - `totalQueryableSamples`: the samples the query read from the store, counted per evaluation
//!   step as if each step ran as an instant query (Prometheus's `TotalSamplesPerStep` comment:
//!   optimisations of range evaluation that reuse a window between steps do not lower it). An
//!   instant selector counts one sample per series that has one at the step, a range selector
//!   every sample in its window, a function over a subquery the subquery's points in its window.
//! - `peakSamples`: the most samples the query held in memory at once, the figure compared with
//!   the sample limit ([`EngineOptions::max_samples`](super::EngineOptions::max_samples)). Each
//!   engine holds different intermediate values, so this agrees with Prometheus 2.42 where both
//!   hold the same things: selectors, range selectors, a range query's result, a range function's
//!   windows series by series in a range query. It differs where the engines work differently:
//!   an instant query's range function holds every series' window at once here (Prometheus one
//!   series at a time), and Prometheus's aggregations and binary operators also count the copy of
//!   each step's input they make, which burnwatch does not make.
//!
//! Divergence in `totalQueryableSamples`: samples read by the inner expression of a subquery are
//! not counted (Prometheus discards them too when the subquery is a function argument, but counts
//! them for a subquery that is the whole query).

use std::time::Duration;

/// Sample counts of one query.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SampleStats {
    /// Samples read, summed over steps (`totalQueryableSamples`).
    pub total: i64,
    /// Samples read at each step, from the first (`totalQueryableSamplesPerStep`); one entry for
    /// an instant query.
    pub per_step: Vec<i64>,
    /// Most samples held at once (`peakSamples`).
    pub peak: usize,
}

impl SampleStats {
    /// Counts for a query of `steps` steps.
    pub(crate) fn with_steps(steps: usize) -> Self {
        SampleStats {
            total: 0,
            per_step: vec![0; steps],
            peak: 0,
        }
    }

    /// Adds `n` samples read at step `k`.
    pub(crate) fn read_at(&mut self, k: usize, n: usize) {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        self.total = self.total.saturating_add(n);
        if let Some(s) = self.per_step.get_mut(k) {
            *s = s.saturating_add(n);
        }
    }

    /// Notes that `n` samples are held now.
    pub(crate) fn held(&mut self, n: usize) {
        self.peak = self.peak.max(n);
    }
}

/// Where a query's time went (Prometheus's query timers).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Timings {
    /// Parsing, evaluating and sorting (`evalTotalTime`).
    pub eval_total: Duration,
    /// Sorting the result (`resultSortTime`).
    pub result_sort: Duration,
    /// Parsing and planning the query before evaluation (`queryPreparationTime`).
    pub query_preparation: Duration,
    /// Evaluating the expression (`innerEvalTime`).
    pub inner_eval: Duration,
    /// Waiting for a worker to run the query (`execQueueTime`); set by the API.
    pub exec_queue: Duration,
    /// From the query being queued to its result (`execTotalTime`); set by the API.
    pub exec_total: Duration,
}

/// A query's statistics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueryStats {
    /// Sample counts.
    pub samples: SampleStats,
    /// Time spent.
    pub timings: Timings,
    /// Evaluation start (ms) and step (ms; 0 for an instant query), for the per-step times.
    pub start: i64,
    /// See [`QueryStats::start`].
    pub step: i64,
}

impl QueryStats {
    /// `(time in ms, samples read)` for every step.
    pub fn per_step(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.samples.per_step.iter().enumerate().map(|(k, n)| {
            let t = self
                .start
                .saturating_add(self.step.saturating_mul(i64::try_from(k).unwrap_or(i64::MAX)));
            (t, *n)
        })
    }
}
