//! Classic-histogram functions: `histogram_quantile` and `histogram_fraction` over `le` buckets.
//!
//! Follows Prometheus's `BucketQuantile`: buckets are sorted, equal bounds merged, counts forced
//! monotonic (an info annotation says so) with differences below 1e-12 relative treated as noise,
//! and the quantile interpolated linearly inside its bucket. Native histograms are not stored by
//! this engine, so the functions see only classic buckets.

use std::collections::HashMap;

use crate::promql::eval::Evaluator;
use crate::promql::value::{InstantSample, Vector};
use crate::tsdb::Labels;

#[derive(Clone, Copy)]
struct Bucket {
    upper: f64,
    count: f64,
}

struct Group {
    labels: Labels,
    name: String,
    buckets: Vec<Bucket>,
}

/// Prometheus `util/almost.Equal`.
pub(crate) fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < epsilon * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

/// Sorts, merges equal bounds; `None` unless the last bound is +Inf.
fn prepare(mut b: Vec<Bucket>) -> Option<Vec<Bucket>> {
    b.sort_by(|x, y| x.upper.partial_cmp(&y.upper).unwrap_or(std::cmp::Ordering::Equal));
    if b.last().is_none_or(|l| l.upper != f64::INFINITY) {
        return None;
    }
    let mut out: Vec<Bucket> = Vec::with_capacity(b.len());
    for x in b {
        match out.last_mut() {
            Some(l) if l.upper == x.upper => l.count += x.count,
            _ => out.push(x),
        }
    }
    Some(out)
}

/// Forces cumulative counts to be monotonic; returns whether a real decrease was fixed.
fn ensure_monotonic(b: &mut [Bucket]) -> bool {
    let mut forced = false;
    let Some(first) = b.first() else { return false };
    let mut prev = first.count;
    for x in b.iter_mut().skip(1) {
        let curr = x.count;
        if curr == prev {
            continue;
        }
        if almost_equal(prev, curr, 1e-12) {
            x.count = prev;
            continue;
        }
        if curr < prev {
            x.count = prev;
            forced = true;
            continue;
        }
        prev = curr;
    }
    forced
}

fn bucket_quantile(q: f64, buckets: Vec<Bucket>) -> (f64, bool) {
    if q.is_nan() {
        return (f64::NAN, false);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, false);
    }
    if q > 1.0 {
        return (f64::INFINITY, false);
    }
    let Some(mut b) = prepare(buckets) else {
        return (f64::NAN, false);
    };
    let forced = ensure_monotonic(&mut b);
    if b.len() < 2 {
        return (f64::NAN, forced);
    }
    let observations = b[b.len() - 1].count;
    if observations == 0.0 {
        return (f64::NAN, forced);
    }
    let mut rank = q * observations;
    let idx = b[..b.len() - 1].partition_point(|x| x.count < rank);
    if idx == b.len() - 1 {
        return (b[b.len() - 2].upper, forced);
    }
    if idx == 0 && b[0].upper <= 0.0 {
        return (b[0].upper, forced);
    }
    let mut start = 0.0;
    let end = b[idx].upper;
    let mut count = b[idx].count;
    if idx > 0 {
        start = b[idx - 1].upper;
        count -= b[idx - 1].count;
        rank -= b[idx - 1].count;
    }
    (start + (end - start) * (rank / count), forced)
}

fn bucket_fraction(lower: f64, upper: f64, buckets: Vec<Bucket>) -> f64 {
    let Some(b) = prepare(buckets) else {
        return f64::NAN;
    };
    let count = b[b.len() - 1].count;
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let (mut rank, mut lower_rank, mut upper_rank) = (0.0, 0.0, 0.0);
    let (mut lower_set, mut upper_set) = (false, false);
    for (i, x) in b.iter().enumerate() {
        // The first bucket starts at 0 when its upper bound is positive (as in histogram_quantile),
        // else at -Inf.
        let lb = if i > 0 {
            b[i - 1].upper
        } else if x.upper > 0.0 {
            0.0
        } else {
            f64::NEG_INFINITY
        };
        let ub = x.upper;
        // No interpolation inside an infinitely wide bucket: its observations count as sitting at
        // the infinite end, so a bound inside `(x, +Inf]` lies below all of them and a bound inside
        // `[-Inf, x]` above all of them.
        let interp = |v: f64| {
            if lb.is_finite() && ub.is_finite() {
                rank + (x.count - rank) * (v - lb) / (ub - lb)
            } else if ub == f64::INFINITY {
                rank
            } else {
                x.count
            }
        };
        if !lower_set && lb >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && lb >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        if !lower_set && lb < lower && ub > lower {
            lower_rank = interp(lower);
            lower_set = true;
        }
        if !upper_set && lb < upper && ub > upper {
            upper_rank = interp(upper);
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank = x.count;
    }
    if !lower_set || lower_rank > count {
        lower_rank = count;
    }
    if !upper_set || upper_rank > count {
        upper_rank = count;
    }
    (upper_rank - lower_rank) / count
}

/// Groups bucket series by their labels without `le`, warning about unparsable `le` values.
fn groups(ev: &mut Evaluator<'_>, vec: Vector) -> Vec<Group> {
    let mut out: Vec<Group> = Vec::new();
    let mut idx: HashMap<Labels, usize> = HashMap::new();
    for s in vec {
        let name = s.labels.metric_name().unwrap_or("").to_string();
        let le = s.labels.get("le").unwrap_or("");
        let Some(upper) = parse_le(le) else {
            ev.annotations.warn(format!(
                "bucket label \"le\" is missing or has a malformed value of {le:?} for metric name {name:?}"
            ));
            continue;
        };
        let key = s.labels.drop_names(&["le".to_string()]);
        let i = *idx.entry(key.clone()).or_insert_with(|| {
            out.push(Group {
                labels: key,
                name,
                buckets: Vec::new(),
            });
            out.len() - 1
        });
        out[i].buckets.push(Bucket { upper, count: s.v });
    }
    out
}

/// Parses an `le` value as Go's `strconv.ParseFloat` would for the forms exporters write.
fn parse_le(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        _ => s.parse::<f64>().ok(),
    }
}

/// `histogram_quantile(q, buckets)`.
pub(super) fn quantile(ev: &mut Evaluator<'_>, q: f64, vec: Vector) -> Vector {
    let t = vec.first().map_or(0, |s| s.t);
    if q.is_nan() || !(0.0..=1.0).contains(&q) {
        ev.annotations.warn(format!(
            "quantile value should be between 0 and 1, got {}",
            super::format_go_g(q)
        ));
    }
    let mut out = Vec::new();
    for g in groups(ev, vec) {
        let (v, forced) = bucket_quantile(q, g.buckets);
        if forced {
            ev.annotations.info(format!(
                "input to histogram_quantile needed to be fixed for monotonicity (see \
                 https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) \
                 for metric name {:?}",
                g.name
            ));
        }
        out.push(InstantSample {
            labels: g.labels,
            t,
            v,
            drop_name: true,
        });
    }
    out
}

/// `histogram_fraction(lower, upper, buckets)`.
pub(super) fn fraction(ev: &mut Evaluator<'_>, lower: f64, upper: f64, vec: Vector) -> Vector {
    let t = vec.first().map_or(0, |s| s.t);
    groups(ev, vec)
        .into_iter()
        .map(|g| InstantSample {
            v: bucket_fraction(lower, upper, g.buckets),
            labels: g.labels,
            t,
            drop_name: true,
        })
        .collect()
}

/// The label value `histogram_quantiles` gives a quantile: `0.0`, `0.25`, `NaN`.
fn quantile_label(q: f64) -> String {
    if q.is_finite() && q.fract() == 0.0 {
        format!("{q:.1}")
    } else {
        crate::promql::value::format_float(q)
    }
}

/// `histogram_quantiles(buckets, "label", q...)`: one result per group and quantile, told apart by
/// `label`.
pub(super) fn quantiles(ev: &mut Evaluator<'_>, label: &str, qs: &[f64], vec: Vector) -> Vector {
    let t = vec.first().map_or(0, |s| s.t);
    for q in qs {
        if q.is_nan() || !(0.0..=1.0).contains(q) {
            ev.annotations.warn(format!(
                "quantile value should be between 0 and 1, got {}",
                super::format_go_g(*q)
            ));
        }
    }
    let mut out = Vec::new();
    for g in groups(ev, vec) {
        for q in qs {
            let (v, forced) = bucket_quantile(*q, g.buckets.clone());
            if forced {
                ev.annotations.info(format!(
                    "input to histogram_quantile needed to be fixed for monotonicity (see \
                     https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) \
                     for metric name {:?}",
                    g.name
                ));
            }
            let mut b = crate::tsdb::LabelsBuilder::new(&g.labels);
            b.set(label.to_string(), quantile_label(*q));
            out.push(InstantSample {
                labels: b.build(),
                t,
                v,
                drop_name: true,
            });
        }
    }
    out
}
