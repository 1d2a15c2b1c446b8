//! Whole-range evaluation: a subexpression evaluated for every step of a range query at once,
//! series by series.
//!
//! The evaluator in [`super::eval`] works one timestamp at a time, which is what Prometheus's
//! semantics are written in. For a range query that means building an instant vector per step
//! and operator: cloning every series' labels, re-finding its window and re-hashing it into
//! groups at each of up to 11 000 steps. The common building blocks of dashboards do not need
//! that: a selector, a range function over a selector (`rate(x[5m])`), element-wise math,
//! arithmetic with a number, and `sum`/`avg`/`min`/`max`/`count` by some labels can be computed
//! per series across all steps with a window that only moves forward, and grouped once.
//!
//! [`precompute`] walks a range query's expression and evaluates each largest subtree of that
//! kind this way; the step evaluator then takes the subtree's value at a step from the result
//! (see `Evaluator::eval`) instead of evaluating it. When the whole expression is such a subtree
//! the range query needs no step loop at all. Anything else (native histograms in the data,
//! `topk`, vector matching, subqueries, …) keeps the step-by-step path, so the results are the
//! same by construction: each node below reuses the functions the step path calls, in the same
//! order of series, and the tests run every range query both ways.

use std::collections::HashMap;
use std::rc::Rc;

use promql_parser::parser::token::{
    T_ADD, T_ATAN2, T_BOTTOMK, T_DIV, T_LIMITK, T_MOD, T_MUL, T_POW, T_SUB, T_TOPK,
};
use promql_parser::parser::{
    AggregateExpr, AtModifier, BinModifier, BinaryExpr, Call, Expr, MatrixSelector, Offset, SubqueryExpr,
    VectorMatchCardinality, VectorSelector,
};

use super::QueryError;
use super::aggregate::{Acc, group_hash, group_labels};
use super::binary::{binop_value, is_comparison, result_labels, signature};
use super::eval::{Evaluator, RangeWindow, dur_ms};
use super::functions::histogram::{Bucket, bucket_quantile, parse_le};
use super::functions::{math, over_time, rate, unwrap_parens};
use super::value::{InstantSample, Matrix, RangeSeries, Samples};
use crate::tsdb::{Labels, METRIC_NAME, Sample, is_stale_nan};

/// The evaluation times of a range query: `start + k * step` for `k < n`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Grid {
    pub start: i64,
    pub step: i64,
    pub n: usize,
}

impl Grid {
    fn time(&self, k: usize) -> i64 {
        self.start.saturating_add(self.step.saturating_mul(k as i64))
    }

    /// The step index of `t`, when `t` is one of the grid's times.
    pub(crate) fn index(&self, t: i64) -> Option<usize> {
        let d = t.checked_sub(self.start)?;
        if d < 0 || d % self.step != 0 {
            return None;
        }
        usize::try_from(d / self.step).ok().filter(|k| *k < self.n)
    }
}

/// One series of a whole-range result: its value at each step where it has one.
#[derive(Clone)]
pub(crate) struct StepSeries {
    pub labels: Labels,
    pub drop_name: bool,
    pub vals: Vec<f64>,
    pub has: Vec<bool>,
}

impl StepSeries {
    fn empty(labels: Labels, drop_name: bool, n: usize) -> Self {
        StepSeries {
            labels,
            drop_name,
            vals: vec![0.0; n],
            has: vec![false; n],
        }
    }
}

/// A whole-range result: series in the order the step evaluator would list them.
pub(crate) type StepMatrix = Vec<StepSeries>;

/// The instant vector a whole-range result holds at step `k`.
pub(crate) fn vector_at(m: &StepMatrix, k: usize, t: i64) -> Vec<InstantSample> {
    m.iter()
        .filter(|s| s.has[k])
        .map(|s| InstantSample {
            labels: s.labels.clone(),
            t,
            v: s.vals[k],
            h: None,
            drop_name: s.drop_name,
        })
        .collect()
}

/// The range query's matrix from a whole-range result (before name removal and sorting).
pub(crate) fn into_matrix(m: StepMatrix, grid: Grid) -> Matrix {
    m.into_iter()
        .filter_map(|s| {
            let pts: Vec<Sample> = (0..grid.n)
                .filter(|&k| s.has[k])
                .map(|k| Sample {
                    t: grid.time(k),
                    v: s.vals[k],
                })
                .collect();
            (!pts.is_empty()).then(|| RangeSeries {
                labels: s.labels,
                samples: Samples::from(pts),
                histograms: Vec::new(),
                drop_name: s.drop_name,
            })
        })
        .collect()
}

/// Evaluates every largest whole-range subtree of `expr` into `ev.pre`; returns whether `expr`
/// itself is one.
pub(crate) fn precompute(ev: &mut Evaluator<'_>, expr: &Expr, grid: Grid) -> Result<bool, QueryError> {
    // `topk`/`bottomk` list a step's members sorted by value; a whole-range result keeps one
    // order for all steps, which would change the order (and so the last bits of a sum) seen
    // by an operator above it. So only the query's own result is computed this way.
    if let Expr::Aggregate(a) = unwrap_parens(expr)
        && matches!(a.op.id(), T_TOPK | T_BOTTOMK)
        && let Some(m) = top(ev, a, grid)?
    {
        ev.pre.insert(expr as *const Expr as usize, Rc::new(m));
        return Ok(true);
    }
    precompute_below(ev, expr, grid)
}

/// For an instant query at `grid`'s one time: evaluates every function over a subquery in `expr`
/// (outside other subqueries) whole-range into `ev.pre`, so its inner expression is computed
/// series by series over the subquery's steps rather than as a vector per step.
///
/// Only these nodes: the rest of an instant query has one step to evaluate, nothing to gain,
/// and its sample statistics (`peakSamples`) are pinned to Prometheus's by the step path.
/// The result is the same either way, as for range queries (the tests run both).
pub(crate) fn precompute_subqueries(
    ev: &mut Evaluator<'_>,
    expr: &Expr,
    grid: Grid,
) -> Result<(), QueryError> {
    match expr {
        Expr::Call(c)
            if c.args.args.len() == 1
                && window_fn(c.func.name).is_some()
                && matches!(unwrap_parens(&c.args.args[0]), Expr::Subquery(_)) =>
        {
            let counted = ev.stats.clone();
            match eval(ev, expr, grid)? {
                Some(m) => {
                    ev.pre.insert(expr as *const Expr as usize, Rc::new(m));
                }
                None => ev.stats = counted,
            }
        }
        Expr::Paren(p) => precompute_subqueries(ev, &p.expr, grid)?,
        Expr::Unary(u) => precompute_subqueries(ev, &u.expr, grid)?,
        Expr::Binary(b) => {
            precompute_subqueries(ev, &b.lhs, grid)?;
            precompute_subqueries(ev, &b.rhs, grid)?;
        }
        Expr::Aggregate(a) => precompute_subqueries(ev, &a.expr, grid)?,
        // `timestamp()` reads its argument's sample times; a subquery's inner expression is
        // evaluated at its own times, not at the query's.
        Expr::Call(c) if c.func.name != "timestamp" => {
            for a in &c.args.args {
                precompute_subqueries(ev, a, grid)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// [`precompute`] for an expression that is not the query's result.
fn precompute_below(ev: &mut Evaluator<'_>, expr: &Expr, grid: Grid) -> Result<bool, QueryError> {
    // A node that gives up part way may have read some operands already; they are read again
    // below or by the step path, so what it counted is undone.
    let counted = ev.stats.clone();
    if let Some(m) = eval(ev, expr, grid)? {
        ev.pre.insert(expr as *const Expr as usize, Rc::new(m));
        return Ok(true);
    }
    ev.stats = counted;
    match expr {
        Expr::Paren(p) => {
            precompute_below(ev, &p.expr, grid)?;
        }
        Expr::Unary(u) => {
            precompute_below(ev, &u.expr, grid)?;
        }
        Expr::Binary(b) => {
            precompute_below(ev, &b.lhs, grid)?;
            precompute_below(ev, &b.rhs, grid)?;
        }
        // `limitk` keeps the first members in the order of the step's vector, and a whole-range
        // aggregation lists its groups in one order for all steps: leave its input to the step
        // path.
        Expr::Aggregate(a) if a.op.id() != T_LIMITK => {
            precompute_below(ev, &a.expr, grid)?;
        }
        // `timestamp()` reads its selector's sample times itself; subqueries evaluate their
        // inner expression at their own times.
        Expr::Call(c) if c.func.name != "timestamp" => {
            for a in &c.args.args {
                precompute_below(ev, a, grid)?;
            }
        }
        _ => {}
    }
    Ok(false)
}

/// Whole-range evaluation of `expr`, or `None` when it is not of a supported shape or its data
/// holds native histograms (the step path then evaluates it). Without delayed name removal, a
/// node's marked names go at once, as `Evaluator::eval` does per step.
fn eval(ev: &mut Evaluator<'_>, expr: &Expr, grid: Grid) -> Result<Option<StepMatrix>, QueryError> {
    let m = eval_node(ev, expr, grid)?;
    match m {
        Some(m) if !ev.delayed_name_removal && m.iter().any(|s| s.drop_name) => settle_names(m).map(Some),
        other => Ok(other),
    }
}

/// Drops marked names now; series left alike merge when their steps do not overlap and fail
/// with Prometheus's "vector cannot contain metrics with the same labelset" when they do.
fn settle_names(m: StepMatrix) -> Result<StepMatrix, QueryError> {
    let mut out: StepMatrix = Vec::with_capacity(m.len());
    let mut index: HashMap<Labels, usize> = HashMap::with_capacity(m.len());
    for mut s in m {
        if s.drop_name {
            s.labels = super::engine::drop_name_labels(&s.labels);
            s.drop_name = false;
        }
        match index.get(&s.labels) {
            None => {
                index.insert(s.labels.clone(), out.len());
                out.push(s);
            }
            Some(&i) => {
                let into = &mut out[i];
                for k in 0..s.has.len() {
                    if s.has[k] {
                        if into.has[k] {
                            return Err(QueryError::Execution(
                                "vector cannot contain metrics with the same labelset".to_string(),
                            ));
                        }
                        into.has[k] = true;
                        into.vals[k] = s.vals[k];
                    }
                }
            }
        }
    }
    Ok(out)
}

/// [`eval`] before names settle.
fn eval_node(ev: &mut Evaluator<'_>, expr: &Expr, grid: Grid) -> Result<Option<StepMatrix>, QueryError> {
    match expr {
        Expr::Paren(p) => eval(ev, &p.expr, grid),
        Expr::VectorSelector(vs) => selector(ev, vs, grid),
        Expr::Unary(u) => Ok(eval(ev, &u.expr, grid)?.map(|mut m| {
            for s in &mut m {
                s.vals.iter_mut().for_each(|v| *v = -*v);
                s.drop_name = true;
            }
            m
        })),
        Expr::Call(c) => call(ev, c, grid),
        Expr::Binary(b) => binary(ev, b, grid),
        Expr::Aggregate(a) => aggregate(ev, a, grid),
        _ => Ok(None),
    }
}

/// Whether a result of `series × steps` points may be built here. Larger ones are left to the
/// step path, which enforces the query's sample limit exactly as Prometheus counts it.
///
/// Every whole-range result built during the query counts against the limit, kept or not (a
/// bound on what this path allocates; Prometheus's range evaluation holds its operands' matrices
/// the same way), so several large operands cannot together take many times the limit.
fn fits(ev: &Evaluator<'_>, series: usize, grid: Grid) -> bool {
    ev.whole_range_points
        .saturating_add(series.saturating_mul(grid.n))
        <= ev.max_samples()
}

/// [`fits`], and if so counts the result's points as built.
fn reserve(ev: &mut Evaluator<'_>, series: usize, grid: Grid) -> bool {
    if !fits(ev, series, grid) {
        return false;
    }
    ev.whole_range_points = ev
        .whole_range_points
        .saturating_add(series.saturating_mul(grid.n));
    true
}

/// An instant selector at every step: the newest sample in `(t' - lookback, t']` unless it is a
/// staleness marker (as `Evaluator::select_vector`).
fn selector(
    ev: &mut Evaluator<'_>,
    vs: &VectorSelector,
    grid: Grid,
) -> Result<Option<StepMatrix>, QueryError> {
    let series = ev.series_of(vs)?;
    if series.iter().any(|s| !s.histograms.is_empty()) || !reserve(ev, series.len(), grid) {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(series.len());
    let mut held = ev.samples_now;
    for s in series.iter() {
        ev.check_deadline_now()?;
        let mut r = StepSeries::empty(s.labels.clone(), false, grid.n);
        let pts = &s.floats;
        // Evaluation times only grow with the step (an `@` pins them), so the index of the
        // first sample after the time only moves forward.
        let mut next = 0;
        for k in 0..grid.n {
            let te = ev.effective_time(&vs.at, &vs.offset, grid.time(k));
            while next < pts.len() && pts[next].t <= te {
                next += 1;
            }
            if let Some(p) = next.checked_sub(1).map(|i| pts[i])
                && p.t > te.saturating_sub(ev.lookback)
                && !is_stale_nan(p.v)
            {
                r.vals[k] = p.v;
                r.has[k] = true;
                ev.count_read(grid.time(k), 1);
                held += 1;
            }
        }
        ev.stats.held(held);
        out.push(r);
    }
    Ok(Some(out))
}

/// What a function over a range selector computes from one window.
type WindowFn = fn(&str, &[Sample], RangeWindow) -> Option<f64>;

fn window_fn(name: &str) -> Option<WindowFn> {
    Some(match name {
        "rate" => |_, s, w| rate::extrapolated(s, w, true, true),
        "increase" => |_, s, w| rate::extrapolated(s, w, true, false),
        "delta" => |_, s, w| rate::extrapolated(s, w, false, false),
        "irate" => |_, s, _| rate::instant(s, true),
        "idelta" => |_, s, _| rate::instant(s, false),
        "deriv" => |_, s, _| (s.len() >= 2).then(|| rate::linear_regression(s, s[0].t).0),
        "avg_over_time"
        | "min_over_time"
        | "max_over_time"
        | "sum_over_time"
        | "count_over_time"
        | "last_over_time"
        | "first_over_time"
        | "present_over_time"
        | "stddev_over_time"
        | "stdvar_over_time"
        | "mad_over_time"
        | "changes"
        | "resets"
        | "ts_of_min_over_time"
        | "ts_of_max_over_time"
        | "ts_of_first_over_time"
        | "ts_of_last_over_time" => |name, s, _| over_time::one(name, s, &[]),
        _ => return None,
    })
}

fn call(ev: &mut Evaluator<'_>, c: &Call, grid: Grid) -> Result<Option<StepMatrix>, QueryError> {
    let name = c.func.name;
    let args = &c.args.args;
    if name == "histogram_quantile" && args.len() == 2 {
        return histogram_quantile(ev, &args[0], &args[1], grid);
    }
    if args.len() != 1 {
        return Ok(None);
    }
    if let Some(f) = window_fn(name) {
        return match unwrap_parens(&args[0]) {
            Expr::MatrixSelector(ms) => range_function(ev, name, f, ms, grid),
            Expr::Subquery(sq) => subquery_function(ev, name, f, sq, grid),
            _ => Ok(None),
        };
    }
    if matches!(
        name,
        "abs"
            | "ceil"
            | "floor"
            | "exp"
            | "ln"
            | "log2"
            | "log10"
            | "sqrt"
            | "sgn"
            | "deg"
            | "rad"
            | "sin"
            | "cos"
            | "tan"
            | "asin"
            | "acos"
            | "atan"
            | "sinh"
            | "cosh"
            | "tanh"
            | "asinh"
            | "acosh"
            | "atanh"
    ) {
        return Ok(eval(ev, &args[0], grid)?.map(|mut m| {
            for s in &mut m {
                s.vals.iter_mut().for_each(|v| *v = math::apply(name, *v));
                s.drop_name = true;
            }
            m
        }));
    }
    Ok(None)
}

/// A function over a range selector at every step: per series, the window `(t' - range, t']`
/// slides forward over the series' samples (staleness markers removed, as
/// `Evaluator::select_matrix` does).
fn range_function(
    ev: &mut Evaluator<'_>,
    name: &str,
    f: WindowFn,
    ms: &MatrixSelector,
    grid: Grid,
) -> Result<Option<StepMatrix>, QueryError> {
    let series = ev.series_of(&ms.vs)?;
    if series.iter().any(|s| !s.histograms.is_empty()) || !reserve(ev, series.len(), grid) {
        return Ok(None);
    }
    let w = Windows {
        at: &ms.vs.at,
        offset: &ms.vs.offset,
        range: dur_ms(&ms.range),
    };
    let keeps_name = matches!(name, "last_over_time" | "first_over_time");
    let mut out = Vec::with_capacity(series.len());
    let mut noted = None;
    // Results of the series done so far; a series' windows are held on top of them.
    let mut held = ev.samples_now;
    for s in series.iter() {
        ev.check_deadline_now()?;
        let filtered: Vec<Sample>;
        let pts: &[Sample] = if s.floats.iter().any(|p| is_stale_nan(p.v)) {
            filtered = s.floats.iter().filter(|p| !is_stale_nan(p.v)).copied().collect();
            &filtered
        } else {
            &s.floats
        };
        let (r, seen, last_window) = slide(
            ev,
            name,
            f,
            pts,
            &w,
            grid,
            StepSeries::empty(s.labels.clone(), !keeps_name, grid.n),
            held,
        );
        if seen {
            rate::note_not_counter(ev, name, &s.labels, &mut noted);
        }
        // Prometheus adds a series' results while its last window is still held.
        let results = r.has.iter().filter(|h| **h).count();
        ev.stats.held(held + last_window + results);
        held += results;
        out.push(r);
    }
    Ok(Some(out))
}

/// A function over a subquery at every step (`max_over_time(rate(x[1m])[10m:1m])`): the inner
/// expression is evaluated once on the subquery's own step grid across the union of all windows,
/// then each series' points are windowed as a range selector's samples are. The step path
/// evaluates the inner expression at the same aligned times (`Evaluator::eval_subquery`).
fn subquery_function(
    ev: &mut Evaluator<'_>,
    name: &str,
    f: WindowFn,
    sq: &SubqueryExpr,
    grid: Grid,
) -> Result<Option<StepMatrix>, QueryError> {
    if grid.n == 0 {
        return Ok(None);
    }
    let step = sq
        .step
        .as_ref()
        .map(dur_ms)
        .filter(|s| *s > 0)
        .unwrap_or(ev.sub_step);
    let w = Windows {
        at: &sq.at,
        offset: &sq.offset,
        range: dur_ms(&sq.range),
    };
    let lo = ev
        .effective_time(w.at, w.offset, grid.time(0))
        .saturating_sub(w.range);
    let last = ev.effective_time(w.at, w.offset, grid.time(grid.n - 1));
    // The first step-aligned time after the first window's start (Go's truncating division, as
    // in `eval_subquery`).
    let mut first = step.saturating_mul(lo / step);
    if first <= lo {
        first = first.saturating_add(step);
    }
    let n = if first > last {
        0
    } else {
        usize::try_from((last - first) / step).map_or(usize::MAX, |n| n.saturating_add(1))
    };
    let inner_grid = Grid {
        start: first,
        step,
        n,
    };
    if !fits(ev, 1, inner_grid) {
        return Ok(None);
    }
    // The inner expression's reads are not counted; its points are, as each window reads them.
    let Some(mut inner) = ev.uncounted(|ev| eval(ev, &sq.expr, inner_grid))? else {
        return Ok(None);
    };
    // `Evaluator::eval_subquery` lists a subquery's series in the order they first appear at its
    // inner steps (each step's vector in series order): so does this, for an instant query's
    // result order and for the order an operator above folds them in. A stable sort keeps the
    // series order among those first seen at the same step.
    inner.sort_by_key(|s| s.has.iter().position(|h| *h).unwrap_or(usize::MAX));
    if !reserve(ev, inner.len(), grid) {
        return Ok(None);
    }
    let keeps_name = matches!(name, "last_over_time" | "first_over_time");
    let mut out = Vec::with_capacity(inner.len());
    let mut noted = None;
    let mut held = ev.samples_now;
    for s in inner {
        ev.check_deadline_now()?;
        let pts: Vec<Sample> = (0..inner_grid.n)
            .filter(|&k| s.has[k])
            .map(|k| Sample {
                t: inner_grid.time(k),
                v: s.vals[k],
            })
            .collect();
        let drop_name = s.drop_name || !keeps_name;
        let (r, seen, last_window) = slide(
            ev,
            name,
            f,
            &pts,
            &w,
            grid,
            StepSeries::empty(s.labels.clone(), drop_name, grid.n),
            held,
        );
        if seen {
            rate::note_not_counter(ev, name, &s.labels, &mut noted);
        }
        // Prometheus adds a series' results while its last window is still held.
        let results = r.has.iter().filter(|h| **h).count();
        ev.stats.held(held + last_window + results);
        held += results;
        out.push(r);
    }
    Ok(Some(out))
}

/// Where a function argument's windows lie: `(t' - range, t']` with `t'` the step time after
/// `@` and `offset`.
struct Windows<'a> {
    at: &'a Option<AtModifier>,
    offset: &'a Option<Offset>,
    range: i64,
}

/// Applies `f` to the window of `pts` at every step, filling `r`; also says whether any window
/// held a point and how many the last step's window held. Window times only grow with the step,
/// so both ends only move forward. Each window's samples count as read at its step and as held
/// on top of `held` samples.
#[allow(clippy::too_many_arguments)]
fn slide(
    ev: &mut Evaluator<'_>,
    name: &str,
    f: WindowFn,
    pts: &[Sample],
    w: &Windows<'_>,
    grid: Grid,
    mut r: StepSeries,
    held: usize,
) -> (StepSeries, bool, usize) {
    let (mut a, mut b) = (0, 0);
    let mut seen = false;
    let mut last_window = 0;
    for k in 0..grid.n {
        let te = ev.effective_time(w.at, w.offset, grid.time(k));
        let lo = te.saturating_sub(w.range);
        while a < pts.len() && pts[a].t <= lo {
            a += 1;
        }
        b = b.max(a);
        while b < pts.len() && pts[b].t <= te {
            b += 1;
        }
        last_window = b - a;
        if a == b {
            continue;
        }
        ev.count_read(grid.time(k), b - a);
        ev.stats.held(held + (b - a));
        seen = true;
        if let Some(v) = f(
            name,
            &pts[a..b],
            RangeWindow {
                range: w.range,
                end: te,
            },
        ) {
            r.vals[k] = v;
            r.has[k] = true;
        }
    }
    (r, seen, last_window)
}

/// The number a binary operand is, looking through parentheses and signs.
fn number(e: &Expr) -> Option<f64> {
    match e {
        Expr::NumberLiteral(n) => Some(n.val),
        Expr::Paren(p) => number(&p.expr),
        Expr::Unary(u) => number(&u.expr).map(|v| -v),
        _ => None,
    }
}

/// A vector and a number (`x * 8`, `x > 5000`, `1 - x`), as `binary::vector_scalar` does it.
fn binary(ev: &mut Evaluator<'_>, b: &BinaryExpr, grid: Grid) -> Result<Option<StepMatrix>, QueryError> {
    let op = b.op.id();
    if !(is_comparison(op) || matches!(op, T_ADD | T_SUB | T_MUL | T_DIV | T_POW | T_MOD | T_ATAN2)) {
        return Ok(None);
    }
    let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
    let (vec_side, s, swapped) = match (number(&b.lhs), number(&b.rhs)) {
        (None, Some(r)) => (&b.lhs, r, false),
        (Some(l), None) => (&b.rhs, l, true),
        (None, None) => return vector_vector(ev, b, grid),
        _ => return Ok(None),
    };
    let Some(mut m) = eval(ev, vec_side, grid)? else {
        return Ok(None);
    };
    let keep_value = is_comparison(op) && !return_bool;
    for series in &mut m {
        for k in 0..grid.n {
            if !series.has[k] {
                continue;
            }
            let e = series.vals[k];
            let (l, r) = if swapped { (s, e) } else { (e, s) };
            match binop_value(op, l, r, return_bool) {
                None => series.has[k] = false,
                Some(v) if !keep_value => series.vals[k] = v,
                Some(_) => {}
            }
        }
        if !keep_value {
            series.drop_name = true;
        }
    }
    Ok(Some(m))
}

/// Two vectors with `on`/`ignoring` and `group_left`/`group_right` (no `fill`), as
/// `binary::vector_vector` does it. The pairs are matched once: when no step could hold a
/// duplicate match (every signature unique on the "one" side, and on the "many" side too for
/// one-to-one matching) or two pairs with one result label set, each step just combines the
/// pairs present at it; otherwise the step path (with its errors) evaluates it.
fn vector_vector(
    ev: &mut Evaluator<'_>,
    b: &BinaryExpr,
    grid: Grid,
) -> Result<Option<StepMatrix>, QueryError> {
    let op = b.op.id();
    let default = BinModifier::default();
    let m = b.modifier.as_ref().unwrap_or(&default);
    if m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some() {
        return Ok(None);
    }
    let return_bool = m.return_bool;
    let (include, one_to_many) = match &m.card {
        VectorMatchCardinality::ManyToOne(ls) => (Some(&ls.labels), false),
        VectorMatchCardinality::OneToMany(ls) => (Some(&ls.labels), true),
        VectorMatchCardinality::OneToOne => (None, false),
        VectorMatchCardinality::ManyToMany => return Ok(None),
    };
    let one_to_one = include.is_none();
    let Some(lhs) = eval(ev, &b.lhs, grid)? else {
        return Ok(None);
    };
    let Some(rhs) = eval(ev, &b.rhs, grid)? else {
        return Ok(None);
    };
    let (many, one) = if one_to_many { (&rhs, &lhs) } else { (&lhs, &rhs) };
    let mut one_by_sig: HashMap<u64, usize> = HashMap::with_capacity(one.len());
    for (j, s) in one.iter().enumerate() {
        if one_by_sig.insert(signature(&s.labels, &m.matching), j).is_some() {
            return Ok(None);
        }
    }
    let mut many_sigs = std::collections::HashSet::new();
    let mut results = std::collections::HashSet::new();
    let mut pairs = Vec::new();
    for (i, s) in many.iter().enumerate() {
        let sig = signature(&s.labels, &m.matching);
        if one_to_one && !many_sigs.insert(sig) {
            return Ok(None);
        }
        let Some(&j) = one_by_sig.get(&sig) else { continue };
        let drop_name = return_bool || !is_comparison(op) || s.drop_name;
        let labels = result_labels(&s.labels, &one[j].labels, m, include, one_to_one);
        // Unique results without the name rule out both a repeated `group_left` key and two
        // pairs with one result label set (errors the step path reports at the steps concerned).
        if !results.insert(labels.without_metric_name()) {
            return Ok(None);
        }
        pairs.push((i, j, labels, drop_name));
    }
    if !reserve(ev, pairs.len(), grid) {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(pairs.len());
    for (i, j, labels, drop_name) in pairs {
        ev.check_deadline_now()?;
        let (ms, os) = (&many[i], &one[j]);
        let mut r = StepSeries::empty(labels, drop_name, grid.n);
        for k in 0..grid.n {
            if !(ms.has[k] && os.has[k]) {
                continue;
            }
            let (l, rv) = if one_to_many {
                (os.vals[k], ms.vals[k])
            } else {
                (ms.vals[k], os.vals[k])
            };
            if let Some(v) = binop_value(op, l, rv, return_bool) {
                r.vals[k] = v;
                r.has[k] = true;
            }
        }
        out.push(r);
    }
    Ok(Some(out))
}

/// `sum`, `avg`, `min`, `max`, `count`, `group`, `stddev`, `stdvar` with `by`/`without`: groups
/// are found once per series, then each step folds its members in series order, as
/// `aggregate::eval` folds the members of a step's vector.
fn aggregate(
    ev: &mut Evaluator<'_>,
    a: &AggregateExpr,
    grid: Grid,
) -> Result<Option<StepMatrix>, QueryError> {
    let op = a.op.id();
    if a.param.is_some() || Acc::new(op, 0).is_none() {
        return Ok(None);
    }
    let Some(input) = eval(ev, &a.expr, grid)? else {
        return Ok(None);
    };
    let mut index: HashMap<u64, usize> = HashMap::new();
    let mut groups: Vec<(Labels, Acc, Vec<bool>)> = Vec::new();
    let mut member_of = Vec::with_capacity(input.len());
    for s in &input {
        let g = match index.get(&group_hash(&s.labels, &a.modifier)) {
            Some(g) => *g,
            None => {
                let labels = group_labels(&s.labels, &a.modifier);
                // A group keeping the metric name (`by (__name__)`) would take its members'
                // delayed name removal per step; the step path handles that.
                if labels.has(METRIC_NAME) {
                    return Ok(None);
                }
                index.insert(group_hash(&s.labels, &a.modifier), groups.len());
                let acc = Acc::new(op, grid.n).unwrap_or(Acc::Count(Vec::new()));
                groups.push((labels, acc, vec![false; grid.n]));
                groups.len() - 1
            }
        };
        member_of.push(g);
    }
    for (s, &g) in input.iter().zip(&member_of) {
        ev.check_deadline_now()?;
        let (_, acc, has) = &mut groups[g];
        for (k, (&present, &v)) in s.has.iter().zip(&s.vals).enumerate() {
            if present {
                acc.add(k, v);
                has[k] = true;
            }
        }
    }
    Ok(Some(
        groups
            .into_iter()
            .map(|(labels, acc, has)| StepSeries {
                labels,
                drop_name: false,
                vals: (0..grid.n)
                    .map(|k| if has[k] { acc.value(op, k) } else { 0.0 })
                    .collect(),
                has,
            })
            .collect(),
    ))
}

/// `topk`/`bottomk` with a number for `k`: per group and step, the members present are ordered
/// as `aggregate::eval` orders them (NaN last, ties in input order) and the first `k` kept.
fn top(ev: &mut Evaluator<'_>, a: &AggregateExpr, grid: Grid) -> Result<Option<StepMatrix>, QueryError> {
    let Some(p) = a.param.as_deref().and_then(number) else {
        return Ok(None);
    };
    // NaN and out-of-range values are errors the step path reports.
    if p.is_nan() || !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&p) {
        return Ok(None);
    }
    let Some(input) = eval(ev, &a.expr, grid)? else {
        return Ok(None);
    };
    let k = p as i64;
    if k < 1 {
        return Ok(Some(Vec::new()));
    }
    let k = usize::try_from(k).unwrap_or(usize::MAX);
    let mut index: HashMap<u64, usize> = HashMap::new();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, s) in input.iter().enumerate() {
        let g = *index
            .entry(group_hash(&s.labels, &a.modifier))
            .or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
        groups[g].push(i);
    }
    let descending = a.op.id() == T_TOPK;
    // Whether series `i` is kept at step `k`: `kept[i * grid.n + k]`.
    let mut kept = vec![false; input.len().saturating_mul(grid.n)];
    let mut present: Vec<(f64, usize)> = Vec::new();
    for members in &groups {
        ev.check_deadline_now()?;
        for step in 0..grid.n {
            present.clear();
            present.extend(
                members
                    .iter()
                    .filter(|&&i| input[i].has[step])
                    .map(|&i| (input[i].vals[step], i)),
            );
            present.sort_by(|x, y| {
                use std::cmp::Ordering::*;
                match (x.0.is_nan(), y.0.is_nan()) {
                    (true, true) => Equal,
                    (true, false) => Greater,
                    (false, true) => Less,
                    _ if descending => y.0.partial_cmp(&x.0).unwrap_or(Equal),
                    _ => x.0.partial_cmp(&y.0).unwrap_or(Equal),
                }
            });
            for &(_, i) in present.iter().take(k) {
                kept[i * grid.n + step] = true;
            }
        }
    }
    Ok(Some(
        input
            .into_iter()
            .enumerate()
            .map(|(i, s)| StepSeries {
                has: kept[i * grid.n..(i + 1) * grid.n].to_vec(),
                ..s
            })
            .collect(),
    ))
}

/// The bucket series of one classic histogram.
struct BucketGroup {
    /// Their labels without `le`.
    labels: Labels,
    /// Their metric name, for annotations.
    name: String,
    /// Each bucket's series (an index into the input) and upper bound.
    members: Vec<(usize, f64)>,
}

/// `histogram_quantile` of classic buckets with a number for the quantile: buckets are grouped
/// once (by their labels without `le`, as `histogram::groups` groups a step's vector), then each
/// step computes the quantile of the buckets present at it, in series order.
fn histogram_quantile(
    ev: &mut Evaluator<'_>,
    q: &Expr,
    buckets: &Expr,
    grid: Grid,
) -> Result<Option<StepMatrix>, QueryError> {
    // An out-of-range quantile gets a warning at every step; the step path gives it.
    let Some(q) = number(q).filter(|q| (0.0..=1.0).contains(q)) else {
        return Ok(None);
    };
    let Some(input) = eval(ev, buckets, grid)? else {
        return Ok(None);
    };
    let le = ["le".to_string()];
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut groups: Vec<BucketGroup> = Vec::new();
    for (i, s) in input.iter().enumerate() {
        if !s.has.iter().any(|h| *h) {
            continue;
        }
        let le_value = s.labels.get("le").unwrap_or("");
        let Some(upper) = parse_le(le_value) else {
            let name = s.labels.metric_name().unwrap_or("");
            ev.annotations.warn(format!(
                "bucket label \"le\" is missing or has a malformed value of {le_value:?} for metric name {name:?}"
            ));
            continue;
        };
        let key = s.labels.drop_names(&le);
        let g = *index.entry(key.clone()).or_insert_with(|| {
            groups.push(BucketGroup {
                labels: key,
                name: s.labels.metric_name().unwrap_or("").to_string(),
                members: Vec::new(),
            });
            groups.len() - 1
        });
        groups[g].members.push((i, upper));
    }
    let mut out = Vec::with_capacity(groups.len());
    for BucketGroup {
        labels,
        name,
        members,
    } in groups
    {
        ev.check_deadline_now()?;
        let mut r = StepSeries::empty(labels, true, grid.n);
        let mut forced_any = false;
        for k in 0..grid.n {
            let b: Vec<Bucket> = members
                .iter()
                .filter(|(i, _)| input[*i].has[k])
                .map(|&(i, upper)| Bucket {
                    upper,
                    count: input[i].vals[k],
                })
                .collect();
            if b.is_empty() {
                continue;
            }
            let (v, forced) = bucket_quantile(q, b);
            forced_any |= forced;
            r.vals[k] = v;
            r.has[k] = true;
        }
        if forced_any {
            ev.annotations.info(format!(
                "input to histogram_quantile needed to be fixed for monotonicity (see \
                 https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) \
                 for metric name {name:?}"
            ));
        }
        out.push(r);
    }
    Ok(Some(out))
}
