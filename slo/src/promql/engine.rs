//! Query planning: instant and range queries, steps, the final clean-up of labels.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use promql_parser::parser::{self, Expr};

use super::QueryError;
use super::depth;
use super::eval::{EvalSettings, Evaluator};
use super::stats::QueryStats;
use super::steps::{self, Grid};
use super::value::{Annotations, Matrix, SeriesIndex, Value, Vector};
use crate::tsdb::{FloatHistogram, HSample, Labels, Queryable, Sample};
use std::rc::Rc;

/// Engine settings.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// How far back an instant selector looks for a sample (Prometheus default 5m).
    pub lookback_delta: Duration,
    /// Most samples a query may hold at once (Prometheus default 50 000 000).
    pub max_samples: usize,
    /// Longest a query may run (Prometheus default 2m).
    pub timeout: Duration,
    /// Step of subqueries that give none (`x[1h:]`); Prometheus uses the global evaluation
    /// interval, 1m by default.
    pub default_subquery_step: Duration,
    /// Evaluate range queries one step at a time throughout, never series by series across
    /// all steps (see `steps`). The results are the same; this exists so tests can show it.
    pub step_by_step: bool,
    /// Prometheus 3.x's experimental `promql-delayed-name-removal` feature: functions and
    /// operators mark the metric name for removal and it goes at the end of the query, so
    /// `sum(rate({__name__=~"a|b"}[5m]))` works. Off by default, as in Prometheus: each node drops
    /// the name at once and fails with "vector cannot contain metrics with the same labelset"
    /// when that leaves two series alike. Prometheus's test harness runs with it on, and so does
    /// [`testscript`](super::testscript).
    pub delayed_name_removal: bool,
    /// Prometheus's `promql-per-step-stats` feature: the API's `stats=all` adds the samples read
    /// at each step (`totalQueryableSamplesPerStep`). Off by default, as in Prometheus, which
    /// then answers `stats=all` with the totals only.
    pub per_step_stats: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_delta: Duration::from_secs(300),
            max_samples: 50_000_000,
            timeout: Duration::from_secs(120),
            default_subquery_step: Duration::from_secs(60),
            step_by_step: false,
            delayed_name_removal: false,
            per_step_stats: false,
        }
    }
}

/// A query's value with its annotations.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryResult {
    /// The value: for range queries always a matrix sorted by labels.
    pub value: Value,
    /// Warnings and infos.
    pub annotations: Annotations,
    /// Samples read and held, and where the time went (the API's `stats`).
    pub stats: QueryStats,
}

/// The PromQL engine.
#[derive(Clone, Debug, Default)]
pub struct Engine {
    opts: EngineOptions,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Engine {
    /// An engine with `opts`.
    pub fn new(opts: EngineOptions) -> Self {
        Engine { opts }
    }

    /// The settings.
    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }

    /// Parses `query`, mapping the parser's message into [`QueryError::Parse`].
    ///
    /// A query nesting deeper than [`depth::MAX_DEPTH`] is refused before parsing
    /// ([`QueryError::TooDeep`]); one deeper than [`depth::INLINE_DEPTH`] is parsed on a thread with
    /// a large stack. The tree can then be up to `MAX_DEPTH` deep, and dropping it recurses: drop a
    /// tree that may be deep on a large stack too, or with [`depth::dismantle`].
    pub fn parse(query: &str) -> Result<Expr, QueryError> {
        let bound = depth::check_query(query)?;
        depth::on_query_stack(bound, || parse_here(query))
    }

    fn evaluator<'a>(
        &self,
        q: &'a dyn Queryable,
        expr: &Expr,
        start: i64,
        end: i64,
        step: i64,
    ) -> Evaluator<'a> {
        Evaluator::new(
            q,
            EvalSettings {
                start,
                end,
                step,
                lookback: ms(self.opts.lookback_delta).max(1),
                sub_step: ms(self.opts.default_subquery_step).max(1),
                deadline: Instant::now().checked_add(self.opts.timeout),
                max_samples: self.opts.max_samples,
                delayed_name_removal: self.opts.delayed_name_removal,
            },
            expr,
        )
    }

    /// Evaluates `query` at time `t` (ms since the epoch).
    ///
    /// Parsing, evaluation and dropping the tree all happen on a large stack when the query nests
    /// deeply (see [`depth`]).
    pub fn instant_query(
        &self,
        q: &(dyn Queryable + Sync),
        query: &str,
        t: i64,
    ) -> Result<QueryResult, QueryError> {
        let begun = Instant::now();
        let bound = depth::check_query(query)?;
        depth::on_query_stack(bound, || {
            let expr = parse_here(query)?;
            let prepared = begun.elapsed();
            let r = self.instant_here(q, &expr, t);
            with_preparation(r, prepared, begun)
        })
    }

    /// Evaluates a parsed expression at time `t`, on a large stack when it nests deeply.
    pub fn instant_expr(
        &self,
        q: &(dyn Queryable + Sync),
        expr: &Expr,
        t: i64,
    ) -> Result<QueryResult, QueryError> {
        let d = checked_depth(expr)?;
        depth::on_query_stack(d, || self.instant_here(q, expr, t))
    }

    /// [`Self::instant_expr`] on this thread.
    fn instant_here(&self, q: &dyn Queryable, expr: &Expr, t: i64) -> Result<QueryResult, QueryError> {
        let begun = Instant::now();
        let mut ev = self.evaluator(q, expr, t, t, 0);
        if !self.opts.step_by_step {
            // A function over a subquery (`avg_over_time((…)[7d:1m])`, as Sloth's latency SLIs
            // are written) evaluates its inner expression at every subquery step: whole-range
            // evaluation does that series by series instead of building a vector per step.
            let grid = Grid {
                start: t,
                step: 1,
                n: 1,
            };
            ev.grid = Some(grid);
            steps::precompute_subqueries(&mut ev, expr, grid)?;
        }
        let value = ev.eval(expr, t)?;
        let evaluated = Instant::now();
        let value = match value {
            Value::Vector(v) => Value::Vector(finish_vector(v)?),
            Value::Matrix(m) => Value::Matrix(finish_matrix(m)?),
            other => other,
        };
        ev.stats.held(held_by(&value));
        let stats = eval_stats(ev.stats, begun, evaluated, t, 0);
        Ok(QueryResult {
            value,
            annotations: ev.annotations,
            stats,
        })
    }

    /// Evaluates `query` at every `step` from `start` to `end` (ms), giving a matrix sorted by labels.
    ///
    /// Parsing, evaluation and dropping the tree all happen on a large stack when the query nests
    /// deeply (see [`depth`]).
    pub fn range_query(
        &self,
        q: &(dyn Queryable + Sync),
        query: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryResult, QueryError> {
        let begun = Instant::now();
        let bound = depth::check_query(query)?;
        depth::on_query_stack(bound, || {
            let expr = parse_here(query)?;
            let prepared = begun.elapsed();
            let r = self.range_here(q, &expr, start, end, step);
            with_preparation(r, prepared, begun)
        })
    }

    /// Evaluates a parsed expression over a range, on a large stack when it nests deeply.
    pub fn range_expr(
        &self,
        q: &(dyn Queryable + Sync),
        expr: &Expr,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryResult, QueryError> {
        let d = checked_depth(expr)?;
        depth::on_query_stack(d, || self.range_here(q, expr, start, end, step))
    }

    /// [`Self::range_expr`] on this thread.
    fn range_here(
        &self,
        q: &dyn Queryable,
        expr: &Expr,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryResult, QueryError> {
        if step <= 0 {
            return Err(QueryError::BadQuery(
                "zero or negative query resolution step widths are not accepted. Try a positive integer"
                    .to_string(),
            ));
        }
        if end < start {
            return Err(QueryError::BadQuery(
                "end timestamp must not be before start time".to_string(),
            ));
        }
        match expr.value_type() {
            parser::value::ValueType::Vector | parser::value::ValueType::Scalar => {}
            other => {
                return Err(QueryError::BadQuery(format!(
                    "invalid expression type \"{other}\" for range query, must be Scalar or instant Vector"
                )));
            }
        }
        let begun = Instant::now();
        let mut ev = self.evaluator(q, expr, start, end, step);
        let n = usize::try_from((end - start) / step)
            .ok()
            .and_then(|n| n.checked_add(1))
            .unwrap_or(usize::MAX);
        let grid = Grid { start, step, n };
        ev.grid = Some(grid);
        if !self.opts.step_by_step && steps::precompute(&mut ev, expr, grid)? {
            let key = expr as *const Expr as usize;
            let m = ev
                .pre
                .remove(&key)
                .map(|m| Rc::try_unwrap(m).unwrap_or_else(|m| (*m).clone()));
            let m = steps::into_matrix(m.unwrap_or_default(), grid);
            let points = m.iter().map(|s| s.samples.len()).sum::<usize>();
            if points > self.opts.max_samples {
                return Err(QueryError::TooManySamples);
            }
            ev.stats.held(points);
            let evaluated = Instant::now();
            let value = Value::Matrix(finish_matrix(m)?);
            return Ok(QueryResult {
                value,
                annotations: ev.annotations,
                stats: eval_stats(ev.stats, begun, evaluated, start, step),
            });
        }
        let mut index = SeriesIndex::default();
        let mut out: Matrix = Vec::new();
        let mut total = 0usize;
        let mut t = start;
        while t <= end {
            ev.samples_now = total;
            type Point = (Labels, bool, f64, Option<std::sync::Arc<FloatHistogram>>);
            let points: Vec<Point> = match ev.eval(expr, t)? {
                Value::Vector(v) => v.into_iter().map(|s| (s.labels, s.drop_name, s.v, s.h)).collect(),
                Value::Scalar { v, .. } => vec![(Labels::empty(), false, v, None)],
                other => {
                    return Err(QueryError::BadQuery(format!(
                        "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                        other.type_name()
                    )));
                }
            };
            total += points.len();
            if total > self.opts.max_samples {
                return Err(QueryError::TooManySamples);
            }
            for (labels, drop_name, v, h) in points {
                let i = index.slot(&labels, drop_name, &mut out);
                if out[i].samples.last().is_some_and(|p| p.t == t)
                    || out[i].histograms.last().is_some_and(|p| p.t == t)
                {
                    return Err(QueryError::Execution(
                        "vector cannot contain metrics with the same labelset".to_string(),
                    ));
                }
                match h {
                    Some(h) => out[i].histograms.push(HSample { t, h }),
                    None => out[i].samples.push(Sample { t, v }),
                }
            }
            ev.stats.held(total);
            t = match t.checked_add(step) {
                Some(x) => x,
                None => break,
            };
        }
        let evaluated = Instant::now();
        let value = Value::Matrix(finish_matrix(out)?);
        Ok(QueryResult {
            value,
            annotations: ev.annotations,
            stats: eval_stats(ev.stats, begun, evaluated, start, step),
        })
    }
}

/// Samples a final value holds (`peakSamples` counts the result too).
fn held_by(v: &Value) -> usize {
    match v {
        Value::Vector(v) => v.len(),
        Value::Matrix(m) => m.iter().map(|s| s.samples.len() + s.histograms.len()).sum(),
        Value::Scalar { .. } => 1,
        Value::String { .. } => 0,
    }
}

/// The statistics of an evaluation that began at `begun`, finished evaluating at `evaluated` and
/// has just sorted its result. Preparation and the API's queue are added by the callers.
fn eval_stats(
    samples: super::stats::SampleStats,
    begun: Instant,
    evaluated: Instant,
    start: i64,
    step: i64,
) -> QueryStats {
    let now = Instant::now();
    let inner_eval = evaluated.duration_since(begun);
    let result_sort = now.duration_since(evaluated);
    QueryStats {
        samples,
        timings: super::stats::Timings {
            eval_total: inner_eval + result_sort,
            result_sort,
            inner_eval,
            exec_total: inner_eval + result_sort,
            ..Default::default()
        },
        start,
        step,
    }
}

/// Adds the time spent parsing (`prepared`, since `begun`) to a result's timings.
fn with_preparation(
    r: Result<QueryResult, QueryError>,
    prepared: Duration,
    begun: Instant,
) -> Result<QueryResult, QueryError> {
    r.map(|mut r| {
        let t = &mut r.stats.timings;
        t.query_preparation = prepared;
        t.eval_total = begun.elapsed();
        t.exec_total = t.eval_total;
        r
    })
}

/// Parses on this thread: the caller has checked the nesting and chosen the stack.
fn parse_here(query: &str) -> Result<Expr, QueryError> {
    // Regexes are Go's syntax: checked and made readable for the parser first (see `matcher`).
    let query = crate::tsdb::matcher::prepare_query(query).map_err(QueryError::Parse)?;
    let expr = parse_guarded(&query).map_err(QueryError::Parse)?;
    // `promql-parser` reads a number too large for a float as infinity; Prometheus refuses it.
    if let Some(msg) = super::parse_error::number_out_of_range(&query) {
        return Err(QueryError::Parse(msg));
    }
    Ok(expr)
}

/// `promql_parser::parser::parse`, with a panic inside the parser turned into a parse error.
///
/// The parser panics on some inputs (a duration such as `x[1e308]` overflows its
/// `Duration::from_secs_f64`); one query must never take a worker, let alone the process, down.
/// Parsing touches no shared state, so nothing is left half-changed by an unwinding parse.
pub fn parse_guarded(query: &str) -> Result<Expr, String> {
    match without_panics(|| parser::parse(query)) {
        Some(result) => result,
        None => Err(format!(
            "1:1: parse error: the query could not be parsed (a number in it is out of range?): {query:?}"
        )),
    }
}

thread_local! {
    /// How many [`without_panics`] calls this thread is inside.
    static GUARDED: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Whether this thread is inside a guarded call into the PromQL parser crate, whose panic is
/// caught and answered as a parse error: a process's panic hook logs such a panic quietly
/// instead of printing it (over the dashboard's screen, say).
pub fn in_guarded_call() -> bool {
    GUARDED.try_with(|g| g.get() > 0).unwrap_or(false)
}

/// Runs `f`, returning `None` if it panicked (for calls into the PromQL parser crate).
pub(crate) fn without_panics<T>(f: impl FnOnce() -> T) -> Option<T> {
    GUARDED.with(|g| g.set(g.get() + 1));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(g.get() - 1));
    result.ok()
}

/// The depth of a tree handed in already parsed, refused past [`depth::MAX_DEPTH`] (it was
/// parsed by someone else, so there is no position to give).
fn checked_depth(expr: &Expr) -> Result<usize, QueryError> {
    let d = depth::expr_depth(expr);
    if d > depth::MAX_DEPTH {
        return Err(QueryError::TooDeep {
            offset: 0,
            limit: depth::MAX_DEPTH,
        });
    }
    Ok(d)
}

/// The labels a dropped metric name takes with it: the name and, as with Prometheus's
/// type-and-unit labels feature, the `__type__` and `__unit__` metadata of that name.
pub(crate) fn drop_name_labels(l: &Labels) -> Labels {
    if l.has("__type__") || l.has("__unit__") {
        l.drop_names(&["__type__".to_string(), "__unit__".to_string()])
            .without_metric_name()
    } else {
        l.without_metric_name()
    }
}

/// Applies delayed name removal to a final instant vector and rejects duplicate label sets.
pub(crate) fn finish_vector(mut v: Vector) -> Result<Vector, QueryError> {
    for s in &mut v {
        if s.drop_name {
            s.labels = drop_name_labels(&s.labels);
            s.drop_name = false;
        }
    }
    let mut seen = std::collections::HashSet::with_capacity(v.len());
    for s in &v {
        if !seen.insert(&s.labels) {
            return Err(QueryError::Execution(
                "vector cannot contain metrics with the same labelset".to_string(),
            ));
        }
    }
    Ok(v)
}

/// Applies delayed name removal to a final matrix, merging series that end up with the same labels
/// when their points do not collide, and sorts it by labels.
pub(crate) fn finish_matrix(mut m: Matrix) -> Result<Matrix, QueryError> {
    // Series come here with distinct (labels, drop_name); only removing a name can make two
    // label sets equal, so without any removal there is nothing to merge.
    if m.iter().all(|s| !s.drop_name) {
        m.sort_by(|a, b| a.labels.cmp(&b.labels));
        return Ok(m);
    }
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut out: Matrix = Vec::with_capacity(m.len());
    for mut s in m {
        if s.drop_name {
            s.labels = drop_name_labels(&s.labels);
            s.drop_name = false;
        }
        match index.get(&s.labels) {
            None => {
                index.insert(s.labels.clone(), out.len());
                out.push(s);
            }
            Some(&i) => {
                let mut merged = std::mem::take(&mut out[i].samples).into_vec();
                merged.extend(s.samples.iter().copied());
                merged.sort_by_key(|p| p.t);
                if merged.windows(2).any(|w| w[0].t == w[1].t) {
                    return Err(QueryError::Execution(
                        "vector cannot contain metrics with the same labelset".to_string(),
                    ));
                }
                out[i].samples = merged.into();
                let mut hs = std::mem::take(&mut out[i].histograms);
                hs.extend(s.histograms);
                hs.sort_by_key(|p| p.t);
                if hs.windows(2).any(|w| w[0].t == w[1].t)
                    || hs
                        .iter()
                        .any(|h| out[i].samples.binary_search_by_key(&h.t, |p| p.t).is_ok())
                {
                    return Err(QueryError::Execution(
                        "vector cannot contain metrics with the same labelset".to_string(),
                    ));
                }
                out[i].histograms = hs;
            }
        }
    }
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(out)
}
