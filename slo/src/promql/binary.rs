//! Binary operators: arithmetic, comparison (filtering or `bool`), `and`/`or`/`unless`, and vector
//! matching with `on`/`ignoring`/`group_left`/`group_right`.
//!
//! Semantics follow Prometheus's `VectorBinop`/`VectorscalarBinop`/`VectorAnd|Or|Unless`: the match
//! signature ignores `__name__` unless `on(...)` names it; the "one" side must be unique per match
//! group, and one-to-one matches must be unique on the "many" side too, checked before comparison
//! filtering (so `a > on(job) b` fails even when the comparison would drop the duplicates).

use std::collections::{HashMap, HashSet};

use promql_parser::parser::token::{
    T_ADD, T_ATAN2, T_DIV, T_EQLC, T_GTE, T_GTR, T_LAND, T_LOR, T_LSS, T_LTE, T_LUNLESS, T_MOD, T_MUL, T_NEQ,
    T_POW, T_SUB,
};
use promql_parser::parser::{BinModifier, BinaryExpr, LabelModifier, VectorMatchCardinality};

use super::QueryError;
use super::eval::Evaluator;
use super::value::{InstantSample, Value, Vector};
use crate::tsdb::{FloatHistogram, Labels, LabelsBuilder};

use std::sync::Arc;

/// One operand of an element-wise operation: a float, or a native histogram.
type Operand<'a> = (f64, Option<&'a Arc<FloatHistogram>>);

/// The result of an element-wise operation.
enum Outcome {
    /// Emit this value.
    Value(f64, Option<Arc<FloatHistogram>>),
    /// A filtering comparison that does not hold.
    Filtered,
    /// The operator does not apply to these sample types (Prometheus drops the element with an
    /// info annotation).
    Incompatible(&'static str, &'static str),
    /// Two histograms that cannot be combined (exponential and custom buckets).
    MixedSchemas,
}

fn op_name(op: u16) -> &'static str {
    match op {
        T_ADD => "+",
        T_SUB => "-",
        T_MUL => "*",
        T_DIV => "/",
        T_POW => "^",
        T_MOD => "%",
        T_ATAN2 => "atan2",
        T_EQLC => "==",
        T_NEQ => "!=",
        T_GTR => ">",
        T_LSS => "<",
        T_GTE => ">=",
        T_LTE => "<=",
        _ => "?",
    }
}

/// Applies `op` to two operands, floats or histograms (Prometheus `vectorElemBinop`).
fn elem(ev: &mut Evaluator<'_>, op: u16, l: Operand<'_>, r: Operand<'_>, return_bool: bool) -> Outcome {
    let cmp = is_comparison(op);
    let kind = |h: Option<&Arc<FloatHistogram>>| if h.is_some() { "histogram" } else { "float" };
    match (l.1, r.1) {
        (None, None) => match binop_value(op, l.0, r.0, return_bool) {
            Some(v) => Outcome::Value(v, None),
            None => Outcome::Filtered,
        },
        (Some(a), Some(b)) if cmp && matches!(op, T_EQLC | T_NEQ) => {
            let holds = a.equals(b) == (op == T_EQLC);
            match (return_bool, holds) {
                (true, _) => Outcome::Value(if holds { 1.0 } else { 0.0 }, None),
                (false, true) => Outcome::Value(0.0, Some(Arc::clone(a))),
                (false, false) => Outcome::Filtered,
            }
        }
        (Some(a), Some(b)) if matches!(op, T_ADD | T_SUB) => {
            match a.combine_reconciling(b, if op == T_ADD { 1.0 } else { -1.0 }) {
                Ok((h, reconciled)) => {
                    if reconciled {
                        let what = if op == T_ADD { "addition" } else { "subtraction" };
                        ev.annotations
                            .info(format!("mismatched custom buckets were reconciled during {what}"));
                    }
                    Outcome::Value(0.0, Some(Arc::new(h)))
                }
                Err(_) => Outcome::MixedSchemas,
            }
        }
        (Some(a), None) if op == T_MUL => Outcome::Value(0.0, Some(Arc::new(a.mul(r.0)))),
        (None, Some(b)) if op == T_MUL => Outcome::Value(0.0, Some(Arc::new(b.mul(l.0)))),
        (Some(a), None) if op == T_DIV => Outcome::Value(0.0, Some(Arc::new(a.div(r.0)))),
        _ => Outcome::Incompatible(kind(l.1), kind(r.1)),
    }
}

/// Records the annotation an [`Outcome`] asks for.
fn annotate(ev: &mut Evaluator<'_>, op: u16, o: &Outcome) {
    match o {
        Outcome::Incompatible(a, b) => ev.annotations.info(format!(
            "incompatible sample types encountered for binary operator {:?}: {a} {} {b}",
            op_name(op),
            op_name(op)
        )),
        Outcome::MixedSchemas => ev.annotations.warn(format!(
            "vector contains a mix of histograms with exponential and custom buckets schemas for binary operator {:?}",
            op_name(op)
        )),
        _ => {}
    }
}

/// Applies a float operator; `None` for comparisons that do not hold (the element is filtered out).
/// Comparisons return the left value when they hold.
fn apply(op: u16, l: f64, r: f64) -> Option<f64> {
    match op {
        T_ADD => Some(l + r),
        T_SUB => Some(l - r),
        T_MUL => Some(l * r),
        T_DIV => Some(l / r),
        T_POW => Some(l.powf(r)),
        T_MOD => Some(l % r),
        T_ATAN2 => Some(l.atan2(r)),
        T_EQLC => (l == r).then_some(l),
        T_NEQ => (l != r).then_some(l),
        T_GTR => (l > r).then_some(l),
        T_LSS => (l < r).then_some(l),
        T_GTE => (l >= r).then_some(l),
        T_LTE => (l <= r).then_some(l),
        _ => None,
    }
}

pub(crate) fn is_comparison(op: u16) -> bool {
    matches!(op, T_EQLC | T_NEQ | T_GTR | T_LSS | T_GTE | T_LTE)
}

/// Evaluates a binary expression at `t`.
pub(crate) fn eval(ev: &mut Evaluator<'_>, b: &BinaryExpr, t: i64) -> Result<Value, QueryError> {
    let op = b.op.id();
    let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
    // `and` with an empty side needs no evaluation of the other, but both sides are evaluated to
    // keep errors and annotations identical to Prometheus.
    let lhs = ev.eval(&b.lhs, t)?;
    let rhs = ev.eval(&b.rhs, t)?;
    match (lhs, rhs) {
        (Value::Scalar { v: l, .. }, Value::Scalar { v: r, .. }) => {
            let v = if is_comparison(op) {
                if apply(op, l, r).is_some() { 1.0 } else { 0.0 }
            } else {
                apply(op, l, r).unwrap_or(f64::NAN)
            };
            Ok(Value::Scalar { t, v })
        }
        (Value::Vector(l), Value::Scalar { v: r, .. }) => {
            Ok(Value::Vector(vector_scalar(ev, op, l, r, false, return_bool)))
        }
        (Value::Scalar { v: l, .. }, Value::Vector(r)) => {
            Ok(Value::Vector(vector_scalar(ev, op, r, l, true, return_bool)))
        }
        (Value::Vector(l), Value::Vector(r)) => {
            let default = BinModifier::default();
            let m = b.modifier.as_ref().unwrap_or(&default);
            let out = match op {
                T_LAND => set_and(l, r, m),
                T_LOR => set_or(l, r, m),
                T_LUNLESS => set_unless(l, r, m),
                _ => vector_vector(ev, op, l, r, m, return_bool)?,
            };
            ev.add_samples(out.len())?;
            Ok(Value::Vector(out))
        }
        (l, r) => Err(QueryError::Execution(format!(
            "binary expression must contain only scalar and instant vector types, got {} and {}",
            l.type_name(),
            r.type_name()
        ))),
    }
}

/// Vector-scalar operations; `swapped` when the scalar is on the left.
fn vector_scalar(
    ev: &mut Evaluator<'_>,
    op: u16,
    vec: Vector,
    s: f64,
    swapped: bool,
    return_bool: bool,
) -> Vector {
    let mut out = Vec::with_capacity(vec.len());
    for mut e in vec {
        let h = e.h.take();
        let (l, r) = if swapped {
            ((s, None), (e.v, h.as_ref()))
        } else {
            ((e.v, h.as_ref()), (s, None))
        };
        let res = elem(ev, op, l, r, return_bool);
        match res {
            Outcome::Value(v, nh) => {
                if is_comparison(op) && !return_bool {
                    // The vector element's own value survives, whichever side it was on.
                    e.h = h;
                } else {
                    e.v = v;
                    e.h = nh;
                    e.drop_name = true;
                }
            }
            Outcome::Filtered => continue,
            other => {
                annotate(ev, op, &other);
                continue;
            }
        }
        out.push(e);
    }
    out
}

/// The match signature of a series: a hash of the `on` labels, or of all labels but the `ignoring`
/// ones and the metric name.
pub(crate) fn signature(l: &Labels, matching: &Option<LabelModifier>) -> u64 {
    match matching {
        Some(LabelModifier::Include(on)) => l.signature(true, &on.labels),
        Some(LabelModifier::Exclude(ign)) => l.signature(false, &ign.labels),
        None => l.signature(false, &[]),
    }
}

/// The labels a signature stands for, for error messages.
fn signature_labels(l: &Labels, matching: &Option<LabelModifier>) -> Labels {
    match matching {
        Some(LabelModifier::Include(on)) => l.keep(&on.labels),
        Some(LabelModifier::Exclude(ign)) => l.drop_names(&ign.labels).without_metric_name(),
        None => l.without_metric_name(),
    }
}

fn set_and(l: Vector, r: Vector, m: &BinModifier) -> Vector {
    if l.is_empty() || r.is_empty() {
        return Vec::new();
    }
    let sigs: HashSet<u64> = r.iter().map(|s| signature(&s.labels, &m.matching)).collect();
    l.into_iter()
        .filter(|s| sigs.contains(&signature(&s.labels, &m.matching)))
        .collect()
}

fn set_or(l: Vector, r: Vector, m: &BinModifier) -> Vector {
    let sigs: HashSet<u64> = l.iter().map(|s| signature(&s.labels, &m.matching)).collect();
    let mut out = l;
    out.extend(
        r.into_iter()
            .filter(|s| !sigs.contains(&signature(&s.labels, &m.matching))),
    );
    out
}

fn set_unless(l: Vector, r: Vector, m: &BinModifier) -> Vector {
    if r.is_empty() {
        return l;
    }
    let sigs: HashSet<u64> = r.iter().map(|s| signature(&s.labels, &m.matching)).collect();
    l.into_iter()
        .filter(|s| !sigs.contains(&signature(&s.labels, &m.matching)))
        .collect()
}

/// Arithmetic and comparison between two vectors.
fn vector_vector(
    ev: &mut Evaluator<'_>,
    op: u16,
    lhs: Vector,
    rhs: Vector,
    m: &BinModifier,
    return_bool: bool,
) -> Result<Vector, QueryError> {
    let no_fill = m.fill_values.lhs.is_none() && m.fill_values.rhs.is_none();
    if no_fill && (lhs.is_empty() || rhs.is_empty()) {
        return Ok(Vec::new());
    }
    let (include, one_to_many) = match &m.card {
        VectorMatchCardinality::ManyToOne(ls) => (Some(&ls.labels), false),
        VectorMatchCardinality::OneToMany(ls) => (Some(&ls.labels), true),
        _ => (None, false),
    };
    let one_to_one = include.is_none();
    // Work as many-to-one: swap sides for group_right and swap values back when computing.
    let (many, one) = if one_to_many { (rhs, lhs) } else { (lhs, rhs) };

    let mut one_sigs: HashMap<u64, InstantSample> = HashMap::with_capacity(one.len());
    for s in one {
        let sig = signature(&s.labels, &m.matching);
        if let Some(dup) = one_sigs.get(&sig) {
            let side = if one_to_many { "left" } else { "right" };
            return Err(QueryError::Execution(format!(
                "found duplicate series for the match group {} on the {side} hand-side of the operation: \
                 [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                signature_labels(&s.labels, &m.matching),
                s.labels,
                dup.labels
            )));
        }
        one_sigs.insert(sig, s);
    }

    let mut matched: HashMap<u64, HashSet<Labels>> = HashMap::new();
    let mut used_one: HashSet<u64> = HashSet::new();
    // Fill values by role, after the group_right swap as in Prometheus: an unmatched "many" sample
    // takes `fill_right`, an unmatched "one" sample takes `fill_left`.
    let (fill_other, fill_many) = (m.fill_values.rhs, m.fill_values.lhs);
    let mut out = Vec::new();
    for ms in many {
        let sig = signature(&ms.labels, &m.matching);
        let Some(os) = one_sigs.get(&sig) else {
            // `fill*` modifiers (experimental): an unmatched sample meets the fill value instead.
            if let Some(f) = fill_other {
                let (l, r) = if one_to_many {
                    ((f, None), (ms.v, ms.h.as_ref()))
                } else {
                    ((ms.v, ms.h.as_ref()), (f, None))
                };
                let drop_name = return_bool || !is_comparison(op) || ms.drop_name;
                let labels = result_labels(&ms.labels, &Labels::empty(), m, include, one_to_one);
                match elem(ev, op, l, r, return_bool) {
                    Outcome::Value(v, h) => out.push(InstantSample {
                        labels,
                        t: ms.t,
                        v,
                        h,
                        drop_name,
                    }),
                    other => annotate(ev, op, &other),
                }
            }
            continue;
        };
        used_one.insert(sig);
        let drop_name = return_bool || !is_comparison(op) || ms.drop_name;
        let labels = result_labels(&ms.labels, &os.labels, m, include, one_to_one);
        // Prometheus 3.x checks uniqueness before a comparison filters the pair out
        // (operators.test: "we track many-to-one vector matching errors even when all but 0 or
        // 1 series on the many side are filtered away"); 2.x checked after.
        if one_to_one {
            if matched.contains_key(&sig) {
                return Err(QueryError::Execution(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
                        .to_string(),
                ));
            }
            matched.insert(sig, HashSet::new());
        } else {
            let key = if drop_name {
                labels.without_metric_name()
            } else {
                labels.clone()
            };
            let set = matched.entry(sig).or_default();
            if !set.insert(key) {
                return Err(QueryError::Execution(
                    "multiple matches for matching labels; grouping labels must ensure unique matches"
                        .to_string(),
                ));
            }
        }
        let (l, r) = if one_to_many {
            ((os.v, os.h.as_ref()), (ms.v, ms.h.as_ref()))
        } else {
            ((ms.v, ms.h.as_ref()), (os.v, os.h.as_ref()))
        };
        let (v, h) = match elem(ev, op, l, r, return_bool) {
            Outcome::Value(v, h) => (v, h),
            Outcome::Filtered => continue,
            other => {
                annotate(ev, op, &other);
                continue;
            }
        };
        out.push(InstantSample {
            labels,
            t: ms.t,
            v,
            h,
            drop_name,
        });
    }
    if let Some(f) = fill_many {
        for (sig, os) in &one_sigs {
            if used_one.contains(sig) {
                continue;
            }
            let (l, r) = if one_to_many {
                ((os.v, os.h.as_ref()), (f, None))
            } else {
                ((f, None), (os.v, os.h.as_ref()))
            };
            let labels = match &m.matching {
                Some(LabelModifier::Include(on)) => os.labels.keep(&on.labels),
                Some(LabelModifier::Exclude(ign)) => os.labels.drop_names(&ign.labels),
                None => os.labels.clone(),
            };
            match elem(ev, op, l, r, return_bool) {
                Outcome::Value(v, h) => out.push(InstantSample {
                    labels,
                    t: os.t,
                    v,
                    h,
                    drop_name: true,
                }),
                other => annotate(ev, op, &other),
            }
        }
    }
    Ok(out)
}

/// The value of a vector-vector element: `None` when a filtering comparison drops it.
pub(crate) fn binop_value(op: u16, l: f64, r: f64, return_bool: bool) -> Option<f64> {
    let res = apply(op, l, r);
    if is_comparison(op) {
        match (return_bool, res) {
            (true, Some(_)) => Some(1.0),
            (true, None) => Some(0.0),
            (false, x) => x,
        }
    } else {
        Some(res.unwrap_or(f64::NAN))
    }
}

/// The labels of a vector-vector result: the "many" side's labels, cut down to the `on` labels (or
/// without the `ignoring` ones) for one-to-one matching, plus `group_x(...)` labels copied from the
/// "one" side.
pub(crate) fn result_labels(
    many: &Labels,
    one: &Labels,
    m: &BinModifier,
    include: Option<&Vec<String>>,
    one_to_one: bool,
) -> Labels {
    let mut l = if one_to_one {
        match &m.matching {
            Some(LabelModifier::Include(on)) => many.keep(&on.labels),
            Some(LabelModifier::Exclude(ign)) => many.drop_names(&ign.labels),
            None => many.clone(),
        }
    } else {
        many.clone()
    };
    if let Some(inc) = include
        && !inc.is_empty()
    {
        let mut b = LabelsBuilder::new(&l);
        for name in inc {
            match one.get(name) {
                Some(v) => b.set(name.clone(), v.to_string()),
                None => b.del(name),
            };
        }
        l = b.build();
    }
    l
}
