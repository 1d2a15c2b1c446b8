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
use crate::tsdb::{Labels, LabelsBuilder};

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

fn is_comparison(op: u16) -> bool {
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
            Ok(Value::Vector(vector_scalar(op, l, r, false, return_bool)))
        }
        (Value::Scalar { v: l, .. }, Value::Vector(r)) => {
            Ok(Value::Vector(vector_scalar(op, r, l, true, return_bool)))
        }
        (Value::Vector(l), Value::Vector(r)) => {
            let default = BinModifier::default();
            let m = b.modifier.as_ref().unwrap_or(&default);
            let out = match op {
                T_LAND => set_and(l, r, m),
                T_LOR => set_or(l, r, m),
                T_LUNLESS => set_unless(l, r, m),
                _ => vector_vector(op, l, r, m, return_bool)?,
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
fn vector_scalar(op: u16, vec: Vector, s: f64, swapped: bool, return_bool: bool) -> Vector {
    let mut out = Vec::with_capacity(vec.len());
    for mut e in vec {
        let (l, r) = if swapped { (s, e.v) } else { (e.v, s) };
        let res = apply(op, l, r);
        if is_comparison(op) {
            if return_bool {
                e.v = if res.is_some() { 1.0 } else { 0.0 };
                e.drop_name = true;
            } else if res.is_some() {
                // The vector element's own value survives, whichever side it was on.
            } else {
                continue;
            }
        } else {
            e.v = res.unwrap_or(f64::NAN);
            e.drop_name = true;
        }
        out.push(e);
    }
    out
}

/// The match signature of a series: the `on` labels, or all labels but the `ignoring` ones and the
/// metric name.
fn signature(l: &Labels, matching: &Option<LabelModifier>) -> Labels {
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
    let sigs: HashSet<Labels> = r.iter().map(|s| signature(&s.labels, &m.matching)).collect();
    l.into_iter()
        .filter(|s| sigs.contains(&signature(&s.labels, &m.matching)))
        .collect()
}

fn set_or(l: Vector, r: Vector, m: &BinModifier) -> Vector {
    let sigs: HashSet<Labels> = l.iter().map(|s| signature(&s.labels, &m.matching)).collect();
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
    let sigs: HashSet<Labels> = r.iter().map(|s| signature(&s.labels, &m.matching)).collect();
    l.into_iter()
        .filter(|s| !sigs.contains(&signature(&s.labels, &m.matching)))
        .collect()
}

/// Arithmetic and comparison between two vectors.
fn vector_vector(
    op: u16,
    lhs: Vector,
    rhs: Vector,
    m: &BinModifier,
    return_bool: bool,
) -> Result<Vector, QueryError> {
    if lhs.is_empty() || rhs.is_empty() {
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

    let mut one_sigs: HashMap<Labels, InstantSample> = HashMap::with_capacity(one.len());
    for s in one {
        let sig = signature(&s.labels, &m.matching);
        if let Some(dup) = one_sigs.get(&sig) {
            let side = if one_to_many { "left" } else { "right" };
            return Err(QueryError::Execution(format!(
                "found duplicate series for the match group {sig} on the {side} hand-side of the operation: \
                 [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                s.labels, dup.labels
            )));
        }
        one_sigs.insert(sig, s);
    }

    let mut matched: HashMap<Labels, HashSet<Labels>> = HashMap::new();
    let mut out = Vec::new();
    for ms in many {
        let sig = signature(&ms.labels, &m.matching);
        let Some(os) = one_sigs.get(&sig) else { continue };
        let drop_name = return_bool || !is_comparison(op) || ms.drop_name;
        let labels = result_labels(&ms.labels, &os.labels, m, include, one_to_one);
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
                    "multiple matches for matching labels grouping labels must ensure unique matches"
                        .to_string(),
                ));
            }
        }
        let (l, r) = if one_to_many { (os.v, ms.v) } else { (ms.v, os.v) };
        let res = apply(op, l, r);
        let v = if is_comparison(op) {
            match (return_bool, res) {
                (true, Some(_)) => 1.0,
                (true, None) => 0.0,
                (false, Some(x)) => x,
                (false, None) => continue,
            }
        } else {
            res.unwrap_or(f64::NAN)
        };
        out.push(InstantSample {
            labels,
            t: ms.t,
            v,
            drop_name,
        });
    }
    Ok(out)
}

/// The labels of a vector-vector result: the "many" side's labels, cut down to the `on` labels (or
/// without the `ignoring` ones) for one-to-one matching, plus `group_x(...)` labels copied from the
/// "one" side.
fn result_labels(
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
        && !inc.is_empty() {
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
