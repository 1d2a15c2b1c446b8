//! Native histograms in float form (Prometheus `model/histogram.FloatHistogram`).
//!
//! Buckets are kept sparse, as `(index, count)` pairs sorted by index, instead of Prometheus's
//! spans + dense bucket slices: both describe the same buckets, and the sparse form makes adding
//! histograms with different bucket layouts a merge. For exponential schemas (-4..=8) bucket
//! `i` covers `(base^(i-1), base^i]` with `base = 2^(2^-schema)`; negative buckets mirror that
//! below zero; the zero bucket covers `[-zero_threshold, zero_threshold]`. Schema
//! [`CUSTOM_BUCKETS_SCHEMA`] (-53, "NHCB") uses `custom_values` as upper bounds instead: bucket
//! `i` covers `(custom_values[i-1], custom_values[i]]`, the last one up to `+Inf`.

/// The schema of histograms with custom bucket bounds (converted classic histograms).
pub const CUSTOM_BUCKETS_SCHEMA: i32 = -53;

/// What the producer said about counter resets (Prometheus `CounterResetHint`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CounterResetHint {
    /// Nothing known; the reader must compare with the previous histogram.
    #[default]
    Unknown,
    /// This histogram follows a counter reset.
    CounterReset,
    /// This histogram does not follow a counter reset.
    NotCounterReset,
    /// A gauge histogram: counter resets do not apply.
    Gauge,
}

/// A native histogram with float counts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FloatHistogram {
    /// Counter-reset hint.
    pub counter_reset_hint: CounterResetHint,
    /// Resolution: -4..=8 exponential, or [`CUSTOM_BUCKETS_SCHEMA`].
    pub schema: i32,
    /// Width of the zero bucket (observations with `|v| <= zero_threshold`).
    pub zero_threshold: f64,
    /// Observations in the zero bucket.
    pub zero_count: f64,
    /// Number of observations.
    pub count: f64,
    /// Sum of observations.
    pub sum: f64,
    /// Positive buckets, `(index, count)` sorted by index.
    pub positive: Vec<(i32, f64)>,
    /// Negative buckets, `(index, count)` sorted by index (index as for the absolute value).
    pub negative: Vec<(i32, f64)>,
    /// Upper bounds of the custom buckets (schema -53 only), without the implicit `+Inf`.
    pub custom_values: Vec<f64>,
}

/// Why two histograms cannot be combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HistogramMismatch {
    /// One uses custom bounds and the other exponential buckets.
    MixedSchemas,
}

/// Maps a bucket index to a coarser schema (`delta` = old schema − new schema ≥ 0): each new
/// bucket covers `2^delta` old ones; indices are 1-based upper-bound indices, hence the shift by
/// one (Prometheus `targetIdx`).
fn reduce_index(idx: i32, delta: i32) -> i32 {
    // Valid schemas differ by at most 12; the clamp only keeps hostile input from overflowing.
    (idx.saturating_sub(1) >> delta.clamp(0, 31)).saturating_add(1)
}

/// Adds `b` (times `sign`) into the sparse buckets `a`.
fn merge(a: &[(i32, f64)], b: &[(i32, f64)], sign: f64) -> Vec<(i32, f64)> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x.0 == y.0 => {
                out.push((x.0, x.1 + sign * y.1));
                i += 1;
                j += 1;
            }
            (Some(x), Some(y)) if x.0 < y.0 => {
                out.push(*x);
                i += 1;
            }
            (Some(x), None) => {
                out.push(*x);
                i += 1;
            }
            (_, Some(y)) => {
                out.push((y.0, sign * y.1));
                j += 1;
            }
            (None, None) => break,
        }
    }
    out
}

/// Re-buckets sparse buckets to a coarser schema.
fn reduce(b: &[(i32, f64)], delta: i32) -> Vec<(i32, f64)> {
    if delta <= 0 {
        return b.to_vec();
    }
    let mut out: Vec<(i32, f64)> = Vec::with_capacity(b.len());
    for &(i, c) in b {
        let ni = reduce_index(i, delta);
        match out.last_mut() {
            Some(last) if last.0 == ni => last.1 += c,
            _ => out.push((ni, c)),
        }
    }
    out
}

impl FloatHistogram {
    /// Whether the histogram uses custom bucket bounds (schema -53).
    pub fn uses_custom_buckets(&self) -> bool {
        self.schema == CUSTOM_BUCKETS_SCHEMA
    }

    /// Lower and upper bound of positive bucket `idx` (upper bound inclusive).
    pub fn bucket_bounds(&self, idx: i32) -> (f64, f64) {
        if self.uses_custom_buckets() {
            let at = |i: i32| -> f64 {
                if i < 0 {
                    f64::NEG_INFINITY
                } else {
                    usize::try_from(i)
                        .ok()
                        .and_then(|i| self.custom_values.get(i).copied())
                        .unwrap_or(f64::INFINITY)
                }
            };
            return (at(idx.saturating_sub(1)), at(idx));
        }
        (
            exp_bound(idx.saturating_sub(1), self.schema),
            exp_bound(idx, self.schema),
        )
    }

    /// Every bucket as `(lower, upper, count)` in ascending order of bounds: negative buckets,
    /// the zero bucket (when it has a width or observations), positive buckets. Custom-bucket
    /// histograms have only positive buckets.
    pub fn all_buckets(&self) -> Vec<(f64, f64, f64)> {
        let mut out = Vec::with_capacity(self.positive.len() + self.negative.len() + 1);
        for &(i, c) in self.negative.iter().rev() {
            let (lo, hi) = self.bucket_bounds(i);
            out.push((-hi, -lo, c));
        }
        if !self.uses_custom_buckets() && (self.zero_count != 0.0 || self.zero_threshold != 0.0) {
            out.push((-self.zero_threshold, self.zero_threshold, self.zero_count));
        }
        for &(i, c) in &self.positive {
            let (lo, hi) = self.bucket_bounds(i);
            out.push((lo, hi, c));
        }
        out
    }

    /// Multiplies every count and the sum by `f` (Prometheus `Mul`).
    pub fn mul(&self, f: f64) -> FloatHistogram {
        let mut h = self.clone();
        h.zero_count *= f;
        h.count *= f;
        h.sum *= f;
        for b in h.positive.iter_mut().chain(h.negative.iter_mut()) {
            b.1 *= f;
        }
        h
    }

    /// Divides every count and the sum by `f` (Prometheus `Div`); division by zero gives ±Inf or
    /// NaN counts as in float arithmetic.
    pub fn div(&self, f: f64) -> FloatHistogram {
        let mut h = self.clone();
        h.zero_count /= f;
        h.count /= f;
        h.sum /= f;
        for b in h.positive.iter_mut().chain(h.negative.iter_mut()) {
            b.1 /= f;
        }
        h
    }

    /// `self + sign * other`, at the coarser of both schemas and the wider zero bucket (Prometheus
    /// `Add`/`Sub`). Custom-bucket histograms with different bounds are first re-bucketed to the
    /// bounds both have (see [`reconcile_custom`](Self::reconcile_custom)).
    pub fn combine(&self, other: &FloatHistogram, sign: f64) -> Result<FloatHistogram, HistogramMismatch> {
        self.combine_reconciling(other, sign).map(|(h, _)| h)
    }

    /// [`combine`](Self::combine), also telling whether custom bounds had to be reconciled
    /// (Prometheus then adds the info "mismatched custom buckets were reconciled").
    pub fn combine_reconciling(
        &self,
        other: &FloatHistogram,
        sign: f64,
    ) -> Result<(FloatHistogram, bool), HistogramMismatch> {
        if self.uses_custom_buckets() != other.uses_custom_buckets() {
            return Err(HistogramMismatch::MixedSchemas);
        }
        let reconciled = self.uses_custom_buckets() && self.custom_values != other.custom_values;
        let (mut a, mut b) = if reconciled {
            let common = common_bounds(&self.custom_values, &other.custom_values);
            (self.reconcile_custom(&common), other.reconcile_custom(&common))
        } else {
            (self.clone(), other.clone())
        };
        let schema = a.schema.min(b.schema);
        for h in [&mut a, &mut b] {
            if !h.uses_custom_buckets() && h.schema > schema {
                let d = h.schema.saturating_sub(schema);
                h.positive = reduce(&h.positive, d);
                h.negative = reduce(&h.negative, d);
                h.schema = schema;
            }
        }
        let zt = a.zero_threshold.max(b.zero_threshold);
        a.widen_zero_bucket(zt);
        b.widen_zero_bucket(zt);
        Ok((
            FloatHistogram {
                counter_reset_hint: if a.counter_reset_hint == CounterResetHint::Gauge
                    || b.counter_reset_hint == CounterResetHint::Gauge
                {
                    CounterResetHint::Gauge
                } else {
                    CounterResetHint::Unknown
                },
                schema,
                zero_threshold: zt,
                zero_count: a.zero_count + sign * b.zero_count,
                count: a.count + sign * b.count,
                sum: a.sum + sign * b.sum,
                positive: merge(&a.positive, &b.positive, sign),
                negative: merge(&a.negative, &b.negative, sign),
                custom_values: a.custom_values,
            },
            reconciled,
        ))
    }

    /// Re-buckets a custom-bucket histogram onto `bounds`, a subset of its own bounds: each old
    /// bucket joins the new bucket its upper bound falls into.
    pub fn reconcile_custom(&self, bounds: &[f64]) -> FloatHistogram {
        let mut h = self.clone();
        let mut out: Vec<(i32, f64)> = Vec::with_capacity(h.positive.len());
        for &(i, c) in &self.positive {
            let upper = usize::try_from(i)
                .ok()
                .and_then(|i| self.custom_values.get(i).copied())
                .unwrap_or(f64::INFINITY);
            let j = i32::try_from(bounds.partition_point(|b| *b < upper)).unwrap_or(i32::MAX);
            match out.last_mut() {
                Some(last) if last.0 == j => last.1 += c,
                _ => out.push((j, c)),
            }
        }
        h.positive = out;
        h.custom_values = bounds.to_vec();
        h
    }

    /// Moves buckets that now lie inside a zero bucket of width `zt` into it.
    fn widen_zero_bucket(&mut self, zt: f64) {
        if self.uses_custom_buckets() || zt <= self.zero_threshold {
            return;
        }
        let schema = self.schema;
        let mut moved = 0.0;
        for side in [&mut self.positive, &mut self.negative] {
            side.retain(|&(i, c)| {
                if exp_bound(i, schema) <= zt {
                    moved += c;
                    false
                } else {
                    true
                }
            });
        }
        self.zero_count += moved;
        self.zero_threshold = zt;
    }

    /// Whether both describe the same observations: equal schema, zero bucket, count, sum and
    /// bucket counts (bit for bit), ignoring empty buckets and the counter-reset hint (Prometheus
    /// `Equals`).
    pub fn equals(&self, other: &FloatHistogram) -> bool {
        let nz = |x: &[(i32, f64)]| -> Vec<(i32, u64)> {
            x.iter()
                .filter(|b| b.1 != 0.0)
                .map(|b| (b.0, b.1.to_bits()))
                .collect()
        };
        self.schema == other.schema
            && self.zero_threshold.to_bits() == other.zero_threshold.to_bits()
            && self.zero_count.to_bits() == other.zero_count.to_bits()
            && self.count.to_bits() == other.count.to_bits()
            && self.sum.to_bits() == other.sum.to_bits()
            && self.custom_values == other.custom_values
            && nz(&self.positive) == nz(&other.positive)
            && nz(&self.negative) == nz(&other.negative)
    }

    /// Whether any count went down from `prev` to `self` (Prometheus `DetectReset`).
    pub fn detect_reset(&self, prev: &FloatHistogram) -> bool {
        match self.counter_reset_hint {
            CounterResetHint::CounterReset => return true,
            CounterResetHint::NotCounterReset | CounterResetHint::Gauge => return false,
            CounterResetHint::Unknown => {}
        }
        if self.count < prev.count {
            return true;
        }
        if self.uses_custom_buckets()
            && prev.uses_custom_buckets()
            && self.custom_values != prev.custom_values
        {
            // Different custom bounds compare on the bounds both have.
            let common = common_bounds(&self.custom_values, &prev.custom_values);
            return self
                .reconcile_custom(&common)
                .detect_reset(&prev.reconcile_custom(&common));
        }
        if self.uses_custom_buckets() != prev.uses_custom_buckets()
            || self.schema > prev.schema
            || self.zero_threshold < prev.zero_threshold
        {
            return true;
        }
        // Buckets of `prev` now inside the (wider) zero bucket compare as part of it.
        let mut widened;
        let prev = if self.zero_threshold > prev.zero_threshold {
            widened = prev.clone();
            widened.widen_zero_bucket(self.zero_threshold);
            &widened
        } else {
            prev
        };
        if self.zero_count < prev.zero_count {
            return true;
        }
        // Compare at the current (coarser or equal) schema: a previous bucket whose count is
        // missing or larger now means a reset.
        let d = prev.schema.saturating_sub(self.schema);
        for (cur, old) in [(&self.positive, &prev.positive), (&self.negative, &prev.negative)] {
            let old = reduce(old, if self.uses_custom_buckets() { 0 } else { d });
            for (i, c) in old {
                let now = cur
                    .binary_search_by_key(&i, |b| b.0)
                    .map(|k| cur[k].1)
                    .unwrap_or(0.0);
                if now < c {
                    return true;
                }
            }
        }
        false
    }
}

/// The bounds two custom-bucket layouts share, ascending.
fn common_bounds(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().copied().filter(|x| b.contains(x)).collect()
}

/// Upper bound of exponential bucket `idx` at `schema` (Prometheus `getBound`).
fn exp_bound(idx: i32, schema: i32) -> f64 {
    if schema < 0 {
        let exp = i64::from(idx) << schema.saturating_neg().min(62);
        return 2f64.powi(i32::try_from(exp).unwrap_or(if exp < 0 { i32::MIN } else { i32::MAX }));
    }
    // base^idx with base = 2^(2^-schema): computed as a fraction and exponent of 2 so that
    // powers of two are exact. Valid schemas stop at 8; the clamp keeps hostile input in range.
    let per = 1i64 << schema.min(40);
    let idx = i64::from(idx);
    let frac_idx = idx.rem_euclid(per);
    let exp = idx.div_euclid(per);
    let frac = 2f64.powf(frac_idx as f64 / per as f64);
    frac * 2f64.powi(i32::try_from(exp).unwrap_or(if exp < 0 { i32::MIN } else { i32::MAX }))
}
