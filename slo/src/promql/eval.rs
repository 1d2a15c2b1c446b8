//! The evaluator: one `match` over the expression, evaluated at one timestamp.
//!
//! Range queries evaluate the expression at every step (see [`super::engine`]); subqueries do the
//! same at their own aligned steps. Series data for each selector is fetched once per query (for the
//! whole time span the query can touch, computed by [`needed_ranges`]) and cached, so a 1000-step
//! query reads the store once per selector.

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::{AtModifier, Expr, MatrixSelector, Offset, SubqueryExpr, VectorSelector};

use super::QueryError;
use super::value::{Annotations, InstantSample, Matrix, RangeSeries, Samples, SeriesIndex, Value, Vector};
use crate::tsdb::{HSample, Matcher, Queryable, Sample, SeriesPoints, is_stale_nan};

/// Milliseconds in a `std::time::Duration`, saturating.
pub(crate) fn dur_ms(d: &std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Signed milliseconds of an `offset` modifier.
pub(crate) fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => dur_ms(d),
        Some(Offset::Neg(d)) => -dur_ms(d),
    }
}

/// Milliseconds since the epoch of a `SystemTime` (negative before 1970).
pub(crate) fn system_time_ms(t: &SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => dur_ms(&d),
        Err(e) => -dur_ms(&e.duration()),
    }
}

/// What a matrix-typed function argument covered: the window `(end - range, end]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RangeWindow {
    /// Window length in ms.
    pub range: i64,
    /// Window end (evaluation time after `@` and `offset`) in ms.
    pub end: i64,
}

/// Per-query evaluation state.
pub(crate) struct Evaluator<'a> {
    q: &'a dyn Queryable,
    /// Query start in ms (`start()`).
    pub start: i64,
    /// Query end in ms (`end()`).
    pub end: i64,
    /// Query step in ms (0 for instant queries).
    pub step: i64,
    pub(crate) lookback: i64,
    pub(crate) sub_step: i64,
    deadline: Option<Instant>,
    max_samples: usize,
    /// Samples held by the current step's intermediate values.
    pub samples_now: usize,
    /// Warnings and infos gathered so far.
    pub annotations: Annotations,
    cache: HashMap<usize, Arc<Vec<SeriesPoints>>>,
    /// Per selector (by address), per cached series: where its last window started and ended,
    /// so the next step's window is found by stepping forward instead of two binary searches.
    cursors: HashMap<usize, Vec<Cursor>>,
    /// Memoised subquery inner results: subquery address → inner time → value.
    sub_memo: HashMap<usize, BTreeMap<i64, Rc<Value>>>,
    empty_labels: crate::tsdb::Labels,
    ranges: HashMap<usize, (i64, i64)>,
    /// Evaluation calls since the last deadline check.
    ticks: u32,
    /// Subexpressions already evaluated for every step of the range query (see
    /// [`super::steps`]), by expression address, and the query's steps.
    pub(crate) pre: HashMap<usize, Rc<super::steps::StepMatrix>>,
    /// Points (series × steps) of every whole-range result built so far, kept or not: with the
    /// sample limit, a bound on what whole-range evaluation may allocate (see `steps::fits`).
    pub(crate) whole_range_points: usize,
    /// How many subqueries the expression being evaluated lies inside.
    sub_depth: u32,
    pub(crate) grid: Option<super::steps::Grid>,
    /// See [`EngineOptions::delayed_name_removal`](super::EngineOptions::delayed_name_removal).
    pub(crate) delayed_name_removal: bool,
    /// Samples read and held, for the API's `stats` (see [`super::stats`]).
    pub(crate) stats: super::stats::SampleStats,
}

/// Settings the evaluator needs from the engine.
pub(crate) struct EvalSettings {
    pub start: i64,
    pub end: i64,
    pub step: i64,
    pub lookback: i64,
    pub sub_step: i64,
    pub deadline: Option<Instant>,
    pub max_samples: usize,
    pub delayed_name_removal: bool,
}

impl<'a> Evaluator<'a> {
    pub(crate) fn new(q: &'a dyn Queryable, s: EvalSettings, expr: &Expr) -> Self {
        let mut ranges = HashMap::new();
        needed_ranges(expr, s.start, s.end, s.start, s.end, s.lookback, &mut ranges);
        Evaluator {
            q,
            start: s.start,
            end: s.end,
            step: s.step,
            lookback: s.lookback,
            sub_step: s.sub_step,
            deadline: s.deadline,
            max_samples: s.max_samples,
            samples_now: 0,
            annotations: Annotations::default(),
            cache: HashMap::new(),
            cursors: HashMap::new(),
            sub_memo: HashMap::new(),
            empty_labels: crate::tsdb::Labels::empty(),
            ranges,
            ticks: 0,
            pre: HashMap::new(),
            whole_range_points: 0,
            sub_depth: 0,
            grid: None,
            delayed_name_removal: s.delayed_name_removal,
            stats: super::stats::SampleStats::with_steps(if s.step > 0 {
                usize::try_from((s.end - s.start) / s.step).map_or(0, |n| n.saturating_add(1))
            } else {
                1
            }),
        }
    }

    /// The most samples the query may hold at once.
    pub(crate) fn max_samples(&self) -> usize {
        self.max_samples
    }

    /// Accounts for `n` more samples held in memory; errors past the limit.
    pub(crate) fn add_samples(&mut self, n: usize) -> Result<(), QueryError> {
        self.samples_now = self.samples_now.saturating_add(n);
        self.stats.held(self.samples_now);
        if self.samples_now > self.max_samples {
            return Err(QueryError::TooManySamples);
        }
        Ok(())
    }

    /// Counts `n` samples read from the store by the step at time `t` (`totalQueryableSamples`).
    /// Not inside a subquery: its points are counted where a function reads their window, as
    /// Prometheus counts them.
    pub(crate) fn count_read(&mut self, t: i64, n: usize) {
        if self.sub_depth > 0 {
            return;
        }
        let k = if self.step > 0 {
            usize::try_from(t.saturating_sub(self.start) / self.step).unwrap_or(usize::MAX)
        } else {
            0
        };
        self.stats.read_at(k, n);
    }

    /// Runs `f` as inside a subquery: what it reads is not counted (see [`Self::count_read`]).
    pub(crate) fn uncounted<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> T {
        self.sub_depth += 1;
        let r = f(self);
        self.sub_depth -= 1;
        r
    }

    /// Checks the deadline now; for loops that each do much work (a series across all steps).
    pub(crate) fn check_deadline_now(&self) -> Result<(), QueryError> {
        match self.deadline {
            Some(d) if Instant::now() > d => Err(QueryError::Timeout),
            _ => Ok(()),
        }
    }

    pub(crate) fn check_deadline(&mut self) -> Result<(), QueryError> {
        self.ticks += 1;
        if self.ticks >= 64 {
            self.ticks = 0;
            if let Some(d) = self.deadline
                && Instant::now() > d
            {
                return Err(QueryError::Timeout);
            }
        }
        Ok(())
    }

    /// Evaluates `expr` at time `t` (ms).
    pub(crate) fn eval(&mut self, expr: &Expr, t: i64) -> Result<Value, QueryError> {
        self.check_deadline()?;
        if !self.pre.is_empty()
            && let Some(k) = self.grid.and_then(|g| g.index(t))
            && let Some(m) = self.pre.get(&(expr as *const Expr as usize))
        {
            let v = super::steps::vector_at(m, k, t);
            self.add_samples(v.len())?;
            return Ok(Value::Vector(v));
        }
        match expr {
            Expr::NumberLiteral(n) => Ok(Value::Scalar { t, v: n.val }),
            Expr::StringLiteral(s) => Ok(Value::String { t, s: s.val.clone() }),
            Expr::Paren(p) => self.eval(&p.expr, t),
            Expr::Unary(u) => match self.eval(&u.expr, t)? {
                Value::Scalar { t, v } => Ok(Value::Scalar { t, v: -v }),
                Value::Vector(mut vec) => {
                    for s in &mut vec {
                        s.v = -s.v;
                        if let Some(h) = &s.h {
                            s.h = Some(std::sync::Arc::new(h.mul(-1.0)));
                        }
                        s.drop_name = true;
                    }
                    self.settle_names(Value::Vector(vec))
                }
                other => Err(QueryError::Execution(format!(
                    "unary expression only allowed on expressions of type scalar or vector, got: {}",
                    other.type_name()
                ))),
            },
            Expr::VectorSelector(vs) => Ok(Value::Vector(self.select_vector(vs, t, false)?)),
            Expr::MatrixSelector(ms) => {
                let (m, _) = self.select_matrix(ms, t)?;
                Ok(Value::Matrix(m))
            }
            Expr::Subquery(sq) => {
                let (m, _) = self.eval_subquery(sq, t)?;
                Ok(Value::Matrix(m))
            }
            Expr::Call(call) => {
                let v = super::functions::call(self, call, t)?;
                // A range function's result is held with the windows it was computed from (as
                // Prometheus counts it); only for `peakSamples`, not against the limit.
                if let Value::Vector(out) = &v
                    && call
                        .args
                        .args
                        .iter()
                        .any(|a| a.value_type() == promql_parser::parser::value::ValueType::Matrix)
                {
                    self.stats.held(self.samples_now.saturating_add(out.len()));
                }
                self.settle_names(v)
            }
            Expr::Aggregate(agg) => super::aggregate::eval(self, agg, t),
            Expr::Binary(b) => {
                let v = super::binary::eval(self, b, t)?;
                self.settle_names(v)
            }
            Expr::Extension(_) => Err(QueryError::Execution(
                "extension expressions are not supported".to_string(),
            )),
        }
    }

    /// Without delayed name removal (Prometheus's default), a node that marked the metric name
    /// for removal drops it now, and fails if that leaves two series with one label set
    /// (`rangeEval`'s "vector cannot contain metrics with the same labelset").
    fn settle_names(&self, v: Value) -> Result<Value, QueryError> {
        match v {
            Value::Vector(vec) if !self.delayed_name_removal && vec.iter().any(|s| s.drop_name) => {
                Ok(Value::Vector(super::engine::finish_vector(vec)?))
            }
            other => Ok(other),
        }
    }

    /// Evaluates an expression that must give an instant vector, for a float-only consumer:
    /// native-histogram samples are left out (use [`Self::eval_vector_h`] to keep them).
    pub(crate) fn eval_vector(&mut self, expr: &Expr, t: i64) -> Result<Vector, QueryError> {
        let mut v = self.eval_vector_h(expr, t)?;
        v.retain(|s| s.h.is_none());
        Ok(v)
    }

    /// Evaluates an expression that must give an instant vector, histograms included.
    pub(crate) fn eval_vector_h(&mut self, expr: &Expr, t: i64) -> Result<Vector, QueryError> {
        match self.eval(expr, t)? {
            Value::Vector(v) => Ok(v),
            other => Err(QueryError::Execution(format!(
                "expected instant vector, got {}",
                other.type_name()
            ))),
        }
    }

    /// Evaluates an expression that must give a scalar.
    pub(crate) fn eval_scalar(&mut self, expr: &Expr, t: i64) -> Result<f64, QueryError> {
        match self.eval(expr, t)? {
            Value::Scalar { v, .. } => Ok(v),
            other => Err(QueryError::Execution(format!(
                "expected scalar, got {}",
                other.type_name()
            ))),
        }
    }

    /// Evaluates an expression that must give a string.
    pub(crate) fn eval_string(&mut self, expr: &Expr, t: i64) -> Result<String, QueryError> {
        match self.eval(expr, t)? {
            Value::String { s, .. } => Ok(s),
            other => Err(QueryError::Execution(format!(
                "expected string, got {}",
                other.type_name()
            ))),
        }
    }

    /// Evaluates a matrix-typed argument (a range selector or a subquery, possibly in parentheses),
    /// histogram points included.
    pub(crate) fn eval_range_arg_h(
        &mut self,
        expr: &Expr,
        t: i64,
    ) -> Result<(Matrix, RangeWindow), QueryError> {
        match expr {
            Expr::MatrixSelector(ms) => self.select_matrix(ms, t),
            Expr::Subquery(sq) => self.eval_subquery(sq, t),
            Expr::Paren(p) => self.eval_range_arg_h(&p.expr, t),
            other => Err(QueryError::Execution(format!(
                "expected range vector, got {}",
                other.value_type()
            ))),
        }
    }

    /// The time a selector or subquery is evaluated at: `@` pins it, `offset` shifts it.
    pub(crate) fn effective_time(&self, at: &Option<AtModifier>, offset: &Option<Offset>, t: i64) -> i64 {
        let base = match at {
            None => t,
            Some(AtModifier::Start) => self.start,
            Some(AtModifier::End) => self.end,
            Some(AtModifier::At(st)) => system_time_ms(st),
        };
        base.saturating_sub(offset_ms(offset))
    }

    /// The cached series of a selector.
    pub(crate) fn series_of(&mut self, vs: &VectorSelector) -> Result<Arc<Vec<SeriesPoints>>, QueryError> {
        let key = vs as *const VectorSelector as usize;
        if let Some(c) = self.cache.get(&key) {
            return Ok(Arc::clone(c));
        }
        let matchers = to_matchers(vs)?;
        let (mint, maxt) = self.ranges.get(&key).copied().unwrap_or((i64::MIN, i64::MAX));
        let data = Arc::new(self.q.select_all(&matchers, mint, maxt));
        self.cache.insert(key, Arc::clone(&data));
        Ok(data)
    }

    /// An instant vector selector at `t`: per series the newest sample in `(t' - lookback, t']`
    /// (Prometheus 3.x left-open lookback), unless that sample is a staleness marker.
    ///
    /// With `sample_times`, each element carries its sample's own timestamp instead of `t` (for
    /// `timestamp()`).
    pub(crate) fn select_vector(
        &mut self,
        vs: &VectorSelector,
        t: i64,
        sample_times: bool,
    ) -> Result<Vector, QueryError> {
        let series = self.series_of(vs)?;
        let te = self.effective_time(&vs.at, &vs.offset, t);
        let lo = te.saturating_sub(self.lookback);
        let mut out = Vec::new();
        let cursors = cursors_for(
            &mut self.cursors,
            vs as *const VectorSelector as usize,
            series.len(),
        );
        let deadline = self.deadline;
        for (k, (s, cur)) in series.iter().zip(cursors.iter_mut()).enumerate() {
            check_deadline_every(k, deadline)?;
            let (_, idx) = cur.window(&s.floats, lo, te);
            let hidx = if s.histograms.is_empty() {
                0
            } else {
                s.histograms.partition_point(|p| p.t <= te)
            };
            let f = idx.checked_sub(1).map(|i| s.floats[i]);
            let h = hidx.checked_sub(1).map(|i| &s.histograms[i]);
            // The newest sample of either kind wins; a staleness marker is a float sample.
            let (pt, v, h) = match (f, h) {
                (Some(f), Some(h)) if h.t > f.t => (h.t, 0.0, Some(instant_histogram(&h.h))),
                (Some(f), _) => (f.t, f.v, None),
                (None, Some(h)) => (h.t, 0.0, Some(instant_histogram(&h.h))),
                (None, None) => continue,
            };
            if pt <= lo || (h.is_none() && is_stale_nan(v)) {
                continue;
            }
            out.push(InstantSample {
                labels: s.labels.clone(),
                t: if sample_times { pt } else { t },
                v,
                h,
                drop_name: false,
            });
        }
        self.count_read(t, out.len());
        self.add_samples(out.len())?;
        Ok(out)
    }

    /// A range selector at `t`: per series the samples in `(t' - range, t']`, staleness markers
    /// removed.
    pub(crate) fn select_matrix(
        &mut self,
        ms: &MatrixSelector,
        t: i64,
    ) -> Result<(Matrix, RangeWindow), QueryError> {
        let series = self.series_of(&ms.vs)?;
        let te = self.effective_time(&ms.vs.at, &ms.vs.offset, t);
        let range = dur_ms(&ms.range);
        let lo = te.saturating_sub(range);
        let mut out = Vec::new();
        let mut n = 0;
        // `+ 1`: a matrix selector starts with its vector selector, so their addresses match.
        let cursors = cursors_for(
            &mut self.cursors,
            ms as *const MatrixSelector as usize + 1,
            series.len(),
        );
        let deadline = self.deadline;
        for (i, (s, cur)) in series.iter().zip(cursors.iter_mut()).enumerate() {
            check_deadline_every(i, deadline)?;
            let (a, b) = cur.window(&s.floats, lo, te);
            let window = s.floats.get(a..b).unwrap_or_default();
            let pts: Samples = if window.iter().any(|p| is_stale_nan(p.v)) {
                Samples::from(
                    window
                        .iter()
                        .filter(|p| !is_stale_nan(p.v))
                        .copied()
                        .collect::<Vec<_>>(),
                )
            } else {
                Samples::window(&series, i, a..b)
            };
            let hs: Vec<HSample> = if s.histograms.is_empty() {
                Vec::new()
            } else {
                let ha = s.histograms.partition_point(|p| p.t <= lo);
                let hb = s.histograms.partition_point(|p| p.t <= te);
                s.histograms.get(ha..hb).unwrap_or_default().to_vec()
            };
            if pts.is_empty() && hs.is_empty() {
                continue;
            }
            n += pts.len() + hs.len();
            // Per series, so a window over many series stops at the limit rather than after.
            if self.samples_now.saturating_add(n) > self.max_samples {
                return Err(QueryError::TooManySamples);
            }
            out.push(RangeSeries {
                labels: s.labels.clone(),
                samples: pts,
                histograms: hs,
                drop_name: false,
            });
        }
        self.count_read(t, n);
        self.add_samples(n)?;
        Ok((out, RangeWindow { range, end: te }))
    }

    /// A subquery at `t`: the inner expression evaluated at every multiple of the subquery step in
    /// `(t' - range, t']`.
    pub(crate) fn eval_subquery(
        &mut self,
        sq: &SubqueryExpr,
        t: i64,
    ) -> Result<(Matrix, RangeWindow), QueryError> {
        let te = self.effective_time(&sq.at, &sq.offset, t);
        let range = dur_ms(&sq.range);
        let step = sq
            .step
            .as_ref()
            .map(dur_ms)
            .filter(|s| *s > 0)
            .unwrap_or(self.sub_step);
        let lo = te.saturating_sub(range);
        // First step-aligned time strictly after the window start (Go truncating division, as in
        // Prometheus's engine).
        let mut ts = step.saturating_mul(lo / step);
        if ts <= lo {
            ts = ts.saturating_add(step);
        }
        let mut index = SeriesIndex::default();
        let mut out: Matrix = Vec::new();
        let mut n: usize = 0;
        let key = sq as *const SubqueryExpr as usize;
        // Inner results depend only on the inner evaluation time, and consecutive outer steps share
        // most of them: memoise per subquery, dropping times before the current window. Only when
        // the subquery can be evaluated again (a range query's next step, an enclosing subquery's
        // next time): the memo costs far more per point than the points themselves, and an
        // instant query's `x[3y:1s]` would hold 94 million entries for nothing.
        let memoise = self.step > 0 || self.sub_depth > 0;
        if let Some(memo) = self.sub_memo.get_mut(&key) {
            *memo = memo.split_off(&lo.saturating_add(1));
        }
        // The samples held before the subquery; its inner evaluations' intermediate values are
        // released after each inner step, so what it holds is its points (as Prometheus counts a
        // subquery: the inner range evaluation's result).
        let base = self.samples_now;
        while ts <= te {
            self.check_deadline()?;
            let cached = if memoise {
                self.sub_memo.get(&key).and_then(|m| m.get(&ts)).cloned()
            } else {
                None
            };
            let val = match cached {
                Some(v) => v,
                None => {
                    self.sub_depth += 1;
                    let v = self.eval(&sq.expr, ts);
                    self.sub_depth -= 1;
                    let v = Rc::new(v?);
                    if memoise {
                        self.sub_memo.entry(key).or_default().insert(ts, Rc::clone(&v));
                    }
                    v
                }
            };
            match val.as_ref() {
                Value::Vector(vec) => {
                    n += vec.len();
                    for s in vec {
                        let i = index.slot(&s.labels, s.drop_name, &mut out);
                        match &s.h {
                            Some(h) => out[i].histograms.push(HSample {
                                t: ts,
                                h: std::sync::Arc::clone(h),
                            }),
                            None => out[i].samples.push(Sample { t: ts, v: s.v }),
                        }
                    }
                }
                Value::Scalar { v, .. } => {
                    n += 1;
                    let i = index.slot(&self.empty_labels, false, &mut out);
                    out[i].samples.push(Sample { t: ts, v: *v });
                }
                other => {
                    return Err(QueryError::Execution(format!(
                        "subquery is only allowed on instant vector, got {}",
                        other.type_name()
                    )));
                }
            }
            // Checked at every inner step, not once at the end: a long subquery at a fine step
            // (`x[3y:1s]`) must stop at the limit, not after materialising all of it.
            self.samples_now = base.saturating_add(n);
            self.stats.held(self.samples_now);
            if self.samples_now > self.max_samples {
                return Err(QueryError::TooManySamples);
            }
            ts = match ts.checked_add(step) {
                Some(x) => x,
                None => break,
            };
        }
        self.samples_now = base.saturating_add(n);
        // Read by the function over the subquery as a range selector's window.
        self.count_read(t, n);
        Ok((out, RangeWindow { range, end: te }))
    }
}

/// Checks `deadline` at every 1024th iteration `k` of a loop over series, for loops that cannot
/// borrow the evaluator to call [`Evaluator::check_deadline`].
fn check_deadline_every(k: usize, deadline: Option<Instant>) -> Result<(), QueryError> {
    if k % 1024 == 1023 && deadline.is_some_and(|d| Instant::now() > d) {
        return Err(QueryError::Timeout);
    }
    Ok(())
}

/// Where a series' previous window lay, for stepping to the next one.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cursor {
    /// Index of the first sample after the window start (`t > lo`).
    a: usize,
    /// Index of the first sample after the window end (`t > te`).
    b: usize,
    lo: i64,
    te: i64,
}

impl Cursor {
    const FRESH: Cursor = Cursor {
        a: 0,
        b: 0,
        lo: i64::MIN,
        te: i64::MIN,
    };

    /// The index range of samples with `lo < t <= te`. Range queries move the window forward by
    /// one step, usually a sample or two: walk a few samples from the previous bounds, and fall
    /// back to a binary search for long jumps or when the window moved backwards (subqueries and
    /// `@` can do that).
    fn window(&mut self, pts: &[Sample], lo: i64, te: i64) -> (usize, usize) {
        let forward = lo >= self.lo && te >= self.te;
        self.a = if forward {
            advance(pts, self.a, lo)
        } else {
            pts.partition_point(|p| p.t <= lo)
        };
        self.b = if forward {
            advance(pts, self.b.max(self.a), te)
        } else {
            pts.partition_point(|p| p.t <= te)
        };
        self.lo = lo;
        self.te = te;
        (self.a, self.b)
    }
}

/// `partition_point(|p| p.t <= bound)` for a sorted slice, knowing the answer is at least `from`.
fn advance(pts: &[Sample], from: usize, bound: i64) -> usize {
    let mut i = from.min(pts.len());
    for _ in 0..8 {
        match pts.get(i) {
            Some(p) if p.t <= bound => i += 1,
            _ => return i,
        }
    }
    i + pts[i..].partition_point(|p| p.t <= bound)
}

/// The cursors of one selector, created (fresh) on first use.
fn cursors_for(map: &mut HashMap<usize, Vec<Cursor>>, key: usize, n: usize) -> &mut Vec<Cursor> {
    let v = map.entry(key).or_default();
    if v.len() != n {
        *v = vec![Cursor::FRESH; n];
    }
    v
}

/// A stored histogram as an instant selector returns it: a counter-reset hint relates a
/// histogram to the one stored before it, which later steps (or subqueries) do not see next to
/// it, so `reset`/`not_reset` become unknown; `gauge` stays.
fn instant_histogram(
    h: &std::sync::Arc<crate::tsdb::FloatHistogram>,
) -> std::sync::Arc<crate::tsdb::FloatHistogram> {
    use crate::tsdb::CounterResetHint;
    match h.counter_reset_hint {
        CounterResetHint::CounterReset | CounterResetHint::NotCounterReset => {
            let mut c = (**h).clone();
            c.counter_reset_hint = CounterResetHint::Unknown;
            std::sync::Arc::new(c)
        }
        _ => std::sync::Arc::clone(h),
    }
}

/// The store matchers of a selector: its metric name plus its label matchers.
///
/// `or` groups (`{a="1" or b="2"}`) are not PromQL; the parser accepts them, so they are refused.
pub(crate) fn to_matchers(vs: &VectorSelector) -> Result<Vec<Matcher>, QueryError> {
    if !vs.matchers.or_matchers.is_empty() {
        return Err(QueryError::Execution(format!(
            "'or' in label matchers is not supported: {vs}"
        )));
    }
    let mut out = Vec::with_capacity(vs.matchers.matchers.len() + 1);
    if let Some(name) = &vs.name {
        out.push(Matcher::equal(crate::tsdb::METRIC_NAME, name));
    }
    for m in &vs.matchers.matchers {
        let bad = |e: crate::tsdb::MatcherError| QueryError::Execution(e.to_string());
        out.push(match &m.op {
            PMatchOp::Equal => Matcher::equal(&m.name, &m.value),
            PMatchOp::NotEqual => Matcher::not_equal(&m.name, &m.value),
            PMatchOp::Re(_) => Matcher::regex(&m.name, &m.value).map_err(bad)?,
            PMatchOp::NotRe(_) => Matcher::not_regex(&m.name, &m.value).map_err(bad)?,
        });
    }
    Ok(out)
}

/// Records, per selector (by address), the time span `[mint, maxt]` of samples any step can read.
///
/// `[start, end]` is the span of evaluation times of `expr`; `(qs, qe)` are the query's own start
/// and end, which `@ start()` and `@ end()` refer to.
#[allow(clippy::too_many_arguments)]
fn needed_ranges(
    expr: &Expr,
    start: i64,
    end: i64,
    qs: i64,
    qe: i64,
    lookback: i64,
    out: &mut HashMap<usize, (i64, i64)>,
) {
    let pin = |at: &Option<AtModifier>, off: &Option<Offset>| -> (i64, i64) {
        let (s, e) = match at {
            None => (start, end),
            Some(AtModifier::Start) => (qs, qs),
            Some(AtModifier::End) => (qe, qe),
            Some(AtModifier::At(st)) => (system_time_ms(st), system_time_ms(st)),
        };
        let o = offset_ms(off);
        (s.saturating_sub(o), e.saturating_sub(o))
    };
    let mut record = |vs: &VectorSelector, back: i64| {
        let (s, e) = pin(&vs.at, &vs.offset);
        let key = vs as *const VectorSelector as usize;
        let span = (s.saturating_sub(back), e);
        out.entry(key)
            .and_modify(|r| *r = (r.0.min(span.0), r.1.max(span.1)))
            .or_insert(span);
    };
    match expr {
        Expr::VectorSelector(vs) => record(vs, lookback),
        Expr::MatrixSelector(ms) => record(&ms.vs, dur_ms(&ms.range)),
        Expr::Subquery(sq) => {
            let (s, e) = pin(&sq.at, &sq.offset);
            needed_ranges(
                &sq.expr,
                s.saturating_sub(dur_ms(&sq.range)),
                e,
                qs,
                qe,
                lookback,
                out,
            );
        }
        Expr::Paren(p) => needed_ranges(&p.expr, start, end, qs, qe, lookback, out),
        Expr::Unary(u) => needed_ranges(&u.expr, start, end, qs, qe, lookback, out),
        Expr::Binary(b) => {
            needed_ranges(&b.lhs, start, end, qs, qe, lookback, out);
            needed_ranges(&b.rhs, start, end, qs, qe, lookback, out);
        }
        Expr::Aggregate(a) => {
            needed_ranges(&a.expr, start, end, qs, qe, lookback, out);
            if let Some(p) = &a.param {
                needed_ranges(p, start, end, qs, qe, lookback, out);
            }
        }
        Expr::Call(c) => {
            for a in &c.args.args {
                needed_ranges(a, start, end, qs, qe, lookback, out);
            }
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}
