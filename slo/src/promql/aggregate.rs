//! Aggregation operators: `sum`, `avg`, `min`, `max`, `count`, `group`, `stddev`, `stdvar`,
//! `quantile`, `topk`, `bottomk`, `count_values`, `limitk`, `limit_ratio`.
//!
//! Groups are formed from `by (...)` labels, or all labels minus `without (...)` ones and the metric
//! name; results come in the order groups first appear. Float arithmetic mirrors Prometheus 3.x:
//! Kahan-compensated sums, direct means that switch to incremental means on overflow, Welford
//! variance.

use std::collections::HashMap;

use promql_parser::parser::token::{
    T_AVG, T_BOTTOMK, T_COUNT, T_COUNT_VALUES, T_GROUP, T_LIMIT_RATIO, T_LIMITK, T_MAX, T_MIN, T_QUANTILE,
    T_STDDEV, T_STDVAR, T_SUM, T_TOPK,
};
use promql_parser::parser::{AggregateExpr, LabelModifier};

use super::QueryError;
use super::eval::Evaluator;
use super::functions::{KahanMean, kahan_inc, quantile};
use super::value::{InstantSample, Value};
use crate::tsdb::{Labels, LabelsBuilder, METRIC_NAME};

/// The grouping key of a series: its hash and (built only for a group's first member) its labels.
pub(crate) fn group_hash(l: &Labels, m: &Option<LabelModifier>) -> u64 {
    match m {
        None => 0,
        Some(LabelModifier::Include(by)) => l.signature(true, &by.labels),
        Some(LabelModifier::Exclude(without)) => l.signature(false, &without.labels),
    }
}

pub(crate) fn group_labels(l: &Labels, m: &Option<LabelModifier>) -> Labels {
    match m {
        None => Labels::empty(),
        Some(LabelModifier::Include(by)) => l.keep(&by.labels),
        Some(LabelModifier::Exclude(without)) => l.drop_names(&without.labels).without_metric_name(),
    }
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`, as `count_values` uses for label values.
pub(crate) fn format_go_f(v: f64) -> String {
    burnwatch_gofmt::format_f(v)
}

/// A deterministic 64-bit hash of a label set, spread over the whole range (FNV-1a with a
/// SplitMix64 finaliser); `limit_ratio` keeps a series when `hash / u64::MAX` is below the ratio, so
/// the same series are kept at every step and `limit_ratio(r) or limit_ratio(-(1-r))` is the input.
fn labels_hash(l: &Labels) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for lbl in l {
        for b in lbl
            .name
            .bytes()
            .chain([0xff])
            .chain(lbl.value.bytes())
            .chain([0xff])
        {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

struct Group {
    labels: Labels,
    drop_name: bool,
    members: Vec<InstantSample>,
}

/// Evaluates an aggregation at `t`.
pub(crate) fn eval(ev: &mut Evaluator<'_>, a: &AggregateExpr, t: i64) -> Result<Value, QueryError> {
    let op = a.op.id();
    // The parameter is evaluated first, as Prometheus does.
    let mut param_f = None;
    let mut param_s = None;
    if let Some(p) = &a.param {
        if op == T_COUNT_VALUES {
            param_s = Some(ev.eval_string(p, t)?);
        } else {
            param_f = Some(ev.eval_scalar(p, t)?);
        }
    }
    let mut input = ev.eval_vector_h(&a.expr, t)?;
    // Native histograms: `count`, `group`, `limitk`, `limit_ratio`, `count_values` take them like floats; `sum` and
    // `avg` add them up (a group mixing both kinds gives nothing, with a warning); the other
    // aggregations ignore them with an info annotation (Prometheus 3.x `aggregation`).
    if input.iter().any(|s| s.h.is_some()) {
        match op {
            T_COUNT | T_GROUP | T_LIMITK | T_LIMIT_RATIO | T_SUM | T_AVG | T_COUNT_VALUES => {}
            _ => {
                ev.annotations
                    .info(format!("ignored histogram in {} aggregation", a.op));
                input.retain(|s| s.h.is_none());
            }
        }
    }

    let mut order: Vec<Group> = Vec::new();
    let mut index: HashMap<u64, usize> = HashMap::new();
    for s in input {
        let i = *index
            .entry(group_hash(&s.labels, &a.modifier))
            .or_insert_with(|| {
                let labels = group_labels(&s.labels, &a.modifier);
                order.push(Group {
                    labels,
                    drop_name: false,
                    members: Vec::new(),
                });
                order.len() - 1
            });
        // Delayed name removal: a group keeping `__name__` (by (__name__)) loses it at the end when
        // any member was marked.
        if s.drop_name && order[i].labels.has(METRIC_NAME) {
            order[i].drop_name = true;
        }
        order[i].members.push(s);
    }

    let out = match op {
        T_TOPK | T_BOTTOMK | T_LIMITK => {
            let p = param_f.unwrap_or(f64::NAN);
            if p.is_nan() {
                return Err(QueryError::Execution("Parameter value is NaN".to_string()));
            }
            if !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&p) {
                return Err(QueryError::Execution(format!("Scalar value {p} overflows int64")));
            }
            let k = p as i64;
            if k < 1 {
                return Ok(Value::Vector(Vec::new()));
            }
            let k = usize::try_from(k).unwrap_or(usize::MAX);
            let mut out = Vec::new();
            for g in order {
                let mut members = g.members;
                if op != T_LIMITK {
                    let top = op == T_TOPK;
                    // NaN is the least wanted in both directions; ties keep input order.
                    members.sort_by(|x, y| {
                        use std::cmp::Ordering::*;
                        match (x.v.is_nan(), y.v.is_nan()) {
                            (true, true) => Equal,
                            (true, false) => Greater,
                            (false, true) => Less,
                            _ if top => y.v.partial_cmp(&x.v).unwrap_or(Equal),
                            _ => x.v.partial_cmp(&y.v).unwrap_or(Equal),
                        }
                    });
                }
                members.truncate(k);
                out.extend(members);
            }
            out
        }
        T_LIMIT_RATIO => {
            let p = param_f.unwrap_or(f64::NAN);
            if p.is_nan() {
                return Err(QueryError::Execution("Ratio value is NaN".to_string()));
            }
            let ratio = if p > 1.0 {
                ev.annotations.warn(format!(
                    "ratio value should be between -1 and 1, got {}, capping to 1",
                    super::functions::format_go_g(p)
                ));
                1.0
            } else if p < -1.0 {
                ev.annotations.warn(format!(
                    "ratio value should be between -1 and 1, got {}, capping to -1",
                    super::functions::format_go_g(p)
                ));
                -1.0
            } else {
                p
            };
            if ratio == 0.0 {
                return Ok(Value::Vector(Vec::new()));
            }
            let mut out = Vec::new();
            for g in order {
                for s in g.members {
                    let off = labels_hash(&s.labels) as f64 / u64::MAX as f64;
                    if (ratio >= 0.0 && off < ratio) || (ratio < 0.0 && off >= 1.0 + ratio) {
                        out.push(s);
                    }
                }
            }
            out
        }
        T_COUNT_VALUES => {
            let label = param_s.unwrap_or_default();
            if label.is_empty() || label.chars().any(|c| c == '\u{fffd}') {
                return Err(QueryError::Execution(format!("invalid label name {label:?}")));
            }
            let mut out: Vec<InstantSample> = Vec::new();
            let mut idx: HashMap<Labels, usize> = HashMap::new();
            // As Prometheus: the value label is set on each series first, then the series are
            // grouped, `by` keeping the value label too and `without` able to remove it.
            let modifier = match &a.modifier {
                Some(LabelModifier::Exclude(without)) => Some(LabelModifier::Exclude(without.clone())),
                Some(LabelModifier::Include(by)) => {
                    let mut by = by.clone();
                    if !by.labels.contains(&label) {
                        by.labels.push(label.clone());
                    }
                    Some(LabelModifier::Include(by))
                }
                None => Some(LabelModifier::Include(promql_parser::label::Labels::new(vec![
                    &label,
                ]))),
            };
            for g in order {
                for s in g.members {
                    let mut b = LabelsBuilder::new(&s.labels);
                    let value = match &s.h {
                        Some(h) => super::functions::histogram_go_string(h),
                        None => format_go_f(s.v),
                    };
                    b.set(label.clone(), value);
                    let l = group_labels(&b.build(), &modifier);
                    match idx.get(&l) {
                        Some(i) => out[*i].v += 1.0,
                        None => {
                            idx.insert(l.clone(), out.len());
                            out.push(InstantSample {
                                labels: l,
                                t,
                                v: 1.0,
                                h: None,
                                drop_name: false,
                            });
                        }
                    }
                }
            }
            out
        }
        _ => {
            if op == T_QUANTILE {
                let q = param_f.unwrap_or(f64::NAN);
                if q.is_nan() || !(0.0..=1.0).contains(&q) {
                    ev.annotations.warn(format!(
                        "quantile value should be between 0 and 1, got {}",
                        super::functions::format_go_g(q)
                    ));
                }
            }
            let mut out = Vec::with_capacity(order.len());
            for g in order {
                if matches!(op, T_SUM | T_AVG) && g.members.iter().any(|s| s.h.is_some()) {
                    if let Some(h) = sum_histograms(ev, &g.members, op == T_AVG) {
                        out.push(InstantSample {
                            labels: g.labels,
                            t,
                            v: 0.0,
                            h: Some(std::sync::Arc::new(h)),
                            drop_name: g.drop_name,
                        });
                    }
                    continue;
                }
                let v = match Acc::new(op, 1) {
                    Some(mut acc) => {
                        for s in &g.members {
                            acc.add(0, s.v);
                        }
                        acc.value(op, 0)
                    }
                    None if op == T_QUANTILE => quantile(
                        param_f.unwrap_or(f64::NAN),
                        g.members.iter().map(|s| s.v).collect(),
                    ),
                    None => {
                        return Err(QueryError::Execution(format!("unsupported aggregation {}", a.op)));
                    }
                };
                out.push(InstantSample {
                    labels: g.labels,
                    t,
                    v,
                    h: None,
                    drop_name: g.drop_name,
                });
            }
            out
        }
    };
    ev.add_samples(out.len())?;
    Ok(Value::Vector(out))
}

/// `sum` (or `avg`) of a group holding histograms; `None`, with a warning, when the group also
/// holds floats or mixes exponential and custom buckets.
fn sum_histograms(
    ev: &mut Evaluator<'_>,
    members: &[InstantSample],
    avg: bool,
) -> Option<crate::tsdb::FloatHistogram> {
    use crate::tsdb::CounterResetHint;
    if members.iter().any(|s| s.h.is_none()) {
        ev.annotations
            .warn("encountered a mix of histograms and floats for aggregation");
        return None;
    }
    let hints = || {
        members
            .iter()
            .filter_map(|s| s.h.as_ref())
            .map(|h| h.counter_reset_hint)
    };
    if hints().any(|h| h == CounterResetHint::CounterReset)
        && hints().any(|h| h == CounterResetHint::NotCounterReset)
    {
        ev.annotations
            .warn("conflicting counter resets during histogram aggregation");
    }
    let mut acc: Option<crate::tsdb::FloatHistogram> = None;
    for s in members {
        let Some(h) = &s.h else { continue };
        acc = Some(match acc {
            None => (**h).clone(),
            Some(a) => match a.combine_reconciling(h, 1.0) {
                Ok((x, reconciled)) => {
                    if reconciled {
                        ev.annotations
                            .info("mismatched custom buckets were reconciled during aggregation");
                    }
                    x
                }
                Err(_) => {
                    let name = s.labels.metric_name().unwrap_or("").to_string();
                    ev.annotations.warn(format!(
                        "vector contains a mix of histograms with exponential and custom buckets schemas for metric name {name:?}"
                    ));
                    return None;
                }
            },
        });
    }
    let mut h = acc?;
    if avg {
        h = h.div(members.len() as f64);
    }
    if h.counter_reset_hint != CounterResetHint::Gauge {
        h.counter_reset_hint = CounterResetHint::Unknown;
    }
    Some(h)
}

/// Per group (and step, for whole-range evaluation): the running state of one of the folding
/// aggregations, fed its members in order.
pub(crate) enum Acc {
    /// `sum`: Kahan sum and compensation.
    Sum(Vec<(f64, f64)>),
    Avg(Vec<KahanMean>),
    Min(Vec<f64>),
    Max(Vec<f64>),
    Count(Vec<f64>),
    /// `stddev`/`stdvar`: Welford's count, mean and sum of squared deviations.
    Var(Vec<(f64, f64, f64)>),
}

impl Acc {
    pub(crate) fn new(op: u16, n: usize) -> Option<Acc> {
        Some(match op {
            T_SUM => Acc::Sum(vec![(0.0, 0.0); n]),
            T_AVG => Acc::Avg((0..n).map(|_| KahanMean::default()).collect()),
            T_MIN => Acc::Min(vec![f64::NAN; n]),
            T_MAX => Acc::Max(vec![f64::NAN; n]),
            T_COUNT | T_GROUP => Acc::Count(vec![0.0; n]),
            T_STDDEV | T_STDVAR => Acc::Var(vec![(0.0, 0.0, 0.0); n]),
            _ => return None,
        })
    }

    pub(crate) fn add(&mut self, k: usize, x: f64) {
        match self {
            Acc::Sum(v) => v[k] = kahan_inc(x, v[k].0, v[k].1),
            Acc::Avg(v) => v[k].add(x),
            Acc::Min(v) => {
                if v[k].is_nan() || x < v[k] {
                    v[k] = x;
                }
            }
            Acc::Max(v) => {
                if v[k].is_nan() || x > v[k] {
                    v[k] = x;
                }
            }
            Acc::Count(v) => v[k] += 1.0,
            Acc::Var(v) => {
                let (n, mean, m2) = &mut v[k];
                *n += 1.0;
                let d = x - *mean;
                *mean += d / *n;
                *m2 += d * (x - *mean);
            }
        }
    }

    pub(crate) fn value(&self, op: u16, k: usize) -> f64 {
        match self {
            Acc::Sum(v) => v[k].0 + v[k].1,
            Acc::Avg(v) => v[k].value(),
            Acc::Min(v) | Acc::Max(v) => v[k],
            Acc::Count(_) if op == T_GROUP => 1.0,
            Acc::Count(v) => v[k],
            Acc::Var(v) => {
                let var = v[k].2 / v[k].0;
                if op == T_STDDEV { var.sqrt() } else { var }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_ratio_hash_spreads_over_unit_interval() {
        let offs: Vec<f64> = (0..200)
            .map(|i| labels_hash(&Labels::from_pairs([("instance", i.to_string())])) as f64 / u64::MAX as f64)
            .collect();
        let below = offs.iter().filter(|o| **o < 0.5).count();
        assert!((70..130).contains(&below), "{below} of 200 below 0.5");
    }
}
