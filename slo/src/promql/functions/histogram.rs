//! Classic-histogram functions: `histogram_quantile` and `histogram_fraction` over `le` buckets.
//!
//! Follows Prometheus's `BucketQuantile`: buckets are sorted, equal bounds merged, counts forced
//! monotonic (an info annotation says so) with differences below 1e-12 relative treated as noise,
//! and the quantile interpolated linearly inside its bucket. Native histograms follow
//! `HistogramQuantile`/`HistogramFraction` (logarithmic interpolation inside exponential buckets).

use std::collections::HashMap;

use crate::promql::eval::Evaluator;
use crate::promql::value::{InstantSample, Vector};
use crate::tsdb::{FloatHistogram, Labels};

#[derive(Clone, Copy)]
pub(crate) struct Bucket {
    pub(crate) upper: f64,
    pub(crate) count: f64,
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

pub(crate) fn bucket_quantile(q: f64, buckets: Vec<Bucket>) -> (f64, bool) {
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
    use std::hash::{Hash as _, Hasher as _};
    let le_name = ["le".to_string()];
    let mut out: Vec<Group> = Vec::new();
    // Keyed by a hash of the labels without `le` (as Prometheus keys by signature): the label set
    // itself is built once per group, not once per bucket series and step.
    let mut idx: HashMap<u64, usize> = HashMap::new();
    for s in vec {
        let le = s.labels.get("le").unwrap_or("");
        let Some(upper) = parse_le(le) else {
            let name = s.labels.metric_name().unwrap_or("");
            ev.annotations.warn(format!(
                "bucket label \"le\" is missing or has a malformed value of {le:?} for metric name {name:?}"
            ));
            continue;
        };
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for l in s.labels.iter().filter(|l| l.name != "le") {
            l.name.hash(&mut h);
            l.value.hash(&mut h);
        }
        let i = *idx.entry(h.finish()).or_insert_with(|| {
            out.push(Group {
                labels: s.labels.drop_names(&le_name),
                name: s.labels.metric_name().unwrap_or("").to_string(),
                buckets: Vec::new(),
            });
            out.len() - 1
        });
        out[i].buckets.push(Bucket { upper, count: s.v });
    }
    out
}

/// Parses an `le` value as Go's `strconv.ParseFloat` would for the forms exporters write.
pub(crate) fn parse_le(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        _ => s.parse::<f64>().ok(),
    }
}

/// Drops classic groups and native histograms that share a label set (Prometheus warns and
/// returns neither: the two kinds cannot be told apart in the result).
fn drop_conflicts(ev: &mut Evaluator<'_>, natives: Vector, groups: Vec<Group>) -> (Vector, Vec<Group>) {
    if natives.is_empty() || groups.is_empty() {
        return (natives, groups);
    }
    let clash: std::collections::HashSet<Labels> = groups
        .iter()
        .filter(|g| natives.iter().any(|n| n.labels == g.labels))
        .map(|g| g.labels.clone())
        .collect();
    for g in groups.iter().filter(|g| clash.contains(&g.labels)) {
        ev.annotations.warn(format!(
            "vector contains a mix of classic and native histograms for metric name {:?}",
            g.name
        ));
    }
    (
        natives
            .into_iter()
            .filter(|n| !clash.contains(&n.labels))
            .collect(),
        groups
            .into_iter()
            .filter(|g| !clash.contains(&g.labels))
            .collect(),
    )
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
    let (natives, vec): (Vector, Vector) = vec.into_iter().partition(|s| s.h.is_some());
    let classic = groups(ev, vec);
    let (natives, classic) = drop_conflicts(ev, natives, classic);
    let mut out = Vec::new();
    for s in natives {
        let Some(h) = &s.h else { continue };
        let v = native_quantile(q, h);
        quantile_nan_info(ev, h, v, &s.labels);
        out.push(InstantSample {
            v,
            labels: s.labels,
            t: s.t,
            h: None,
            drop_name: true,
        });
    }
    for g in classic {
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
            h: None,
            drop_name: true,
        });
    }
    out
}

/// `histogram_fraction(lower, upper, buckets)`.
pub(super) fn fraction(ev: &mut Evaluator<'_>, lower: f64, upper: f64, vec: Vector) -> Vector {
    let t = vec.first().map_or(0, |s| s.t);
    let (natives, vec): (Vector, Vector) = vec.into_iter().partition(|s| s.h.is_some());
    let classic = groups(ev, vec);
    let (natives, classic) = drop_conflicts(ev, natives, classic);
    let mut out: Vector = natives
        .into_iter()
        .filter_map(|s| {
            let h = s.h.as_ref()?;
            if nan_observations(h) {
                let name = s.labels.metric_name().unwrap_or("");
                ev.annotations.info(format!(
                    "input to histogram_fraction has NaN observations, which are excluded from all fractions for metric name {name:?}"
                ));
            }
            let v = native_fraction(lower, upper, h);
            Some(InstantSample {
                v,
                labels: s.labels,
                t: s.t,
                h: None,
                drop_name: true,
            })
        })
        .collect();
    out.extend(classic.into_iter().map(|g| InstantSample {
        v: bucket_fraction(lower, upper, g.buckets),
        labels: g.labels,
        t,
        h: None,
        drop_name: true,
    }));
    out
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
    let (natives, vec): (Vector, Vector) = vec.into_iter().partition(|s| s.h.is_some());
    let classic = groups(ev, vec);
    let (natives, classic) = drop_conflicts(ev, natives, classic);
    let mut out = Vec::new();
    for s in natives {
        let Some(h) = &s.h else { continue };
        for q in qs {
            let mut b = crate::tsdb::LabelsBuilder::new(&s.labels);
            b.set(label.to_string(), quantile_label(*q));
            out.push(InstantSample {
                labels: b.build(),
                t: s.t,
                v: {
                    let v = native_quantile(*q, h);
                    quantile_nan_info(ev, h, v, &s.labels);
                    v
                },
                h: None,
                drop_name: true,
            });
        }
    }
    for g in classic {
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
                h: None,
                drop_name: true,
            });
        }
    }
    out
}

/// The cumulative classic buckets of a custom-bucket histogram: the same answers follow from
/// Prometheus's native and classic algorithms for these, so the classic code serves both.
fn custom_as_classic(h: &FloatHistogram) -> Vec<Bucket> {
    let mut out = Vec::with_capacity(h.custom_values.len() + 1);
    let mut cum = 0.0;
    let mut k = 0;
    for i in 0..=h.custom_values.len() {
        let idx = i32::try_from(i).unwrap_or(i32::MAX);
        while h.positive.get(k).is_some_and(|b| b.0 < idx) {
            k += 1;
        }
        if let Some(b) = h.positive.get(k).filter(|b| b.0 == idx) {
            cum += b.1;
        }
        out.push(Bucket {
            upper: h.custom_values.get(i).copied().unwrap_or(f64::INFINITY),
            count: cum,
        });
    }
    out
}

/// Interpolates the position of `v` inside bucket `(lo, hi]`: linearly for custom buckets and
/// the zero bucket, logarithmically for exponential buckets (Prometheus `HistogramFraction`).
fn fraction_in_bucket(lo: f64, hi: f64, v: f64, linear: bool) -> f64 {
    if linear || (lo <= 0.0 && hi >= 0.0) {
        return (v - lo) / (hi - lo);
    }
    let (l, u, x) = (lo.abs().log2(), hi.abs().log2(), v.abs().log2());
    if lo > 0.0 {
        (x - l) / (u - l)
    } else {
        1.0 - (x - u) / (l - u)
    }
}

/// `histogram_quantile` of a native histogram (Prometheus `HistogramQuantile`).
pub(crate) fn native_quantile(q: f64, h: &FloatHistogram) -> f64 {
    if h.uses_custom_buckets() {
        return bucket_quantile(q, custom_as_classic(h)).0;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    if h.count == 0.0 || q.is_nan() {
        return f64::NAN;
    }
    let all = h.all_buckets();
    // Forward from the lowest bucket below the median, backwards from the highest above it, as
    // upstream does; with NaN observations (NaN sum) always forward.
    let forward = h.sum.is_nan() || q < 0.5;
    let rank = if forward { q * h.count } else { (1.0 - q) * h.count };
    if nan_observations(h) && rank > bucket_total(h) {
        // The quantile lies among the NaN observations.
        return f64::NAN;
    }
    let mut count = 0.0;
    let mut found: Option<(f64, f64, f64)> = None;
    let iter: Box<dyn Iterator<Item = &(f64, f64, f64)>> = if forward {
        Box::new(all.iter())
    } else {
        Box::new(all.iter().rev())
    };
    for b in iter {
        if b.2 == 0.0 {
            continue;
        }
        count += b.2;
        found = Some(*b);
        if count >= rank {
            break;
        }
    }
    let Some((mut lo, mut hi, bc)) = found else {
        return f64::NAN;
    };
    if lo < 0.0 && hi > 0.0 {
        if h.negative.is_empty() && !h.positive.is_empty() {
            lo = 0.0;
        } else if h.positive.is_empty() && !h.negative.is_empty() {
            hi = 0.0;
        }
    }
    if count > h.count {
        count = h.count;
    }
    if count < rank {
        return if forward { hi } else { lo };
    }
    let frac = if forward {
        (rank - (count - bc)) / bc
    } else {
        1.0 - (rank - (count - bc)) / bc
    };
    if lo <= 0.0 && hi >= 0.0 {
        return lo + (hi - lo) * frac;
    }
    let (l, u) = (lo.abs().log2(), hi.abs().log2());
    if lo > 0.0 {
        (l + (u - l) * frac).exp2()
    } else {
        -(u + (l - u) * (1.0 - frac)).exp2()
    }
}

/// Observations in buckets (the zero bucket included).
fn bucket_total(h: &FloatHistogram) -> f64 {
    h.zero_count + h.positive.iter().chain(&h.negative).map(|b| b.1).sum::<f64>()
}

/// Whether an exponential histogram holds NaN observations: a NaN sum, and fewer observations in
/// buckets than in `count`.
fn nan_observations(h: &FloatHistogram) -> bool {
    !h.uses_custom_buckets() && h.sum.is_nan() && bucket_total(h) < h.count
}

/// Prometheus's info for `histogram_quantile` over a histogram with NaN observations.
fn quantile_nan_info(ev: &mut Evaluator<'_>, h: &FloatHistogram, v: f64, labels: &Labels) {
    if nan_observations(h) {
        let name = labels.metric_name().unwrap_or("");
        let what = if v.is_nan() {
            "result is NaN"
        } else {
            "result is skewed higher"
        };
        ev.annotations.info(format!(
            "input to histogram_quantile has NaN observations, {what} for metric name {name:?}"
        ));
    }
}

/// `histogram_fraction` of a native histogram (Prometheus `HistogramFraction`).
pub(crate) fn native_fraction(lower: f64, upper: f64, h: &FloatHistogram) -> f64 {
    if h.uses_custom_buckets() {
        return bucket_fraction(lower, upper, custom_as_classic(h));
    }
    if h.count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let (mut rank, mut lower_rank, mut upper_rank) = (0.0, 0.0, 0.0);
    let (mut lower_set, mut upper_set) = (false, false);
    for (mut lo, mut hi, c) in h.all_buckets() {
        if lo < 0.0 && hi > 0.0 {
            if h.negative.is_empty() && !h.positive.is_empty() {
                lo = 0.0;
            } else if h.positive.is_empty() && !h.negative.is_empty() {
                hi = 0.0;
            }
        }
        if !lower_set && lo >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && lo >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        if !lower_set && lo < lower && hi > lower {
            lower_rank = rank + c * fraction_in_bucket(lo, hi, lower, false);
            lower_set = true;
        }
        if !upper_set && lo < upper && hi > upper {
            upper_rank = rank + c * fraction_in_bucket(lo, hi, upper, false);
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank += c;
    }
    if !lower_set || lower_rank > h.count {
        lower_rank = h.count;
    }
    // NaN observations belong to no bucket: they count in the denominator only.
    let top = if nan_observations(h) {
        bucket_total(h)
    } else {
        h.count
    };
    if !upper_set || upper_rank > top {
        upper_rank = top;
    }
    (upper_rank - lower_rank) / h.count
}

/// The estimated variance of the observations in a native histogram (Prometheus
/// `histogram_stdvar`): each bucket's observations sit at its arithmetic mean for custom buckets,
/// at 0 in the zero bucket, and at the geometric mean of its bounds otherwise.
pub(crate) fn native_stdvar(h: &FloatHistogram) -> f64 {
    let mean = h.sum / h.count;
    let (mut var, mut c) = (0.0, 0.0);
    let mut buckets = h.all_buckets();
    if h.uses_custom_buckets() {
        // Custom buckets start at -Inf.
        buckets = h
            .positive
            .iter()
            .map(|&(i, n)| {
                let (lo, hi) = h.bucket_bounds(i);
                (lo, hi, n)
            })
            .collect();
    }
    for (lo, hi, n) in buckets {
        if n == 0.0 {
            continue;
        }
        let val = if h.uses_custom_buckets() {
            (hi + lo) / 2.0
        } else if lo <= 0.0 && hi >= 0.0 {
            0.0
        } else {
            let g = (hi * lo).sqrt();
            if hi < 0.0 { -g } else { g }
        };
        let d = val - mean;
        (var, c) = super::kahan_inc(n * d * d, var, c);
    }
    (var + c) / h.count
}

/// `histogram_count|sum|avg|stddev|stdvar` over the histogram samples of `vec` (floats are
/// ignored).
pub(super) fn native_stat(name: &str, vec: Vector) -> Vector {
    vec.into_iter()
        .filter_map(|s| {
            let h = s.h.as_ref()?;
            let v = match name {
                "histogram_count" => h.count,
                "histogram_sum" => h.sum,
                "histogram_avg" => h.sum / h.count,
                "histogram_stddev" => native_stdvar(h).sqrt(),
                _ => native_stdvar(h),
            };
            Some(InstantSample {
                labels: s.labels,
                t: s.t,
                v,
                h: None,
                drop_name: true,
            })
        })
        .collect()
}

/// A histogram as Prometheus's `FloatHistogram.String` writes it (the label value `count_values`
/// gives it): `{count:20, sum:10, [-2,-1):2, [-0.001,0.001]:2, (0.5,1]:1}`, non-empty buckets
/// only, negative buckets from the most negative.
pub(crate) fn histogram_go_string(h: &FloatHistogram) -> String {
    use super::format_go_g as g;
    let mut out = format!("{{count:{}, sum:{}", g(h.count), g(h.sum));
    for &(i, c) in h.negative.iter().rev() {
        if c != 0.0 {
            let (lo, hi) = h.bucket_bounds(i);
            out.push_str(&format!(", [{},{}):{}", g(-hi), g(-lo), g(c)));
        }
    }
    if h.zero_count != 0.0 {
        out.push_str(&format!(
            ", [{},{}]:{}",
            g(-h.zero_threshold),
            g(h.zero_threshold),
            g(h.zero_count)
        ));
    }
    for &(i, c) in &h.positive {
        if c != 0.0 {
            let (lo, hi) = h.bucket_bounds(i);
            out.push_str(&format!(", ({},{}]:{}", g(lo), g(hi), g(c)));
        }
    }
    out.push('}');
    out
}
