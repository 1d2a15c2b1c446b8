//! Rate-like functions over range vectors: `rate`, `increase`, `delta` (with Prometheus 3.x
//! extrapolation), `irate`, `idelta`, `deriv`, `predict_linear`.

use super::kahan_inc;
use crate::promql::eval::{Evaluator, RangeWindow};
use crate::promql::value::{InstantSample, Matrix, Vector};
use crate::tsdb::Sample;

/// Prometheus's `extrapolatedRate`: the change over the window (with counter resets added back for
/// counters), extrapolated to the window edges when the first/last samples are within 1.1 average
/// intervals of them (else by half an interval), never extrapolating a counter below zero.
fn extrapolated(samples: &[Sample], w: RangeWindow, is_counter: bool, is_rate: bool) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let first = samples[0];
    let last = samples[samples.len() - 1];
    let range_start = w.end.saturating_sub(w.range);
    let range_end = w.end;
    let mut result = last.v - first.v;
    if is_counter {
        let mut prev = first.v;
        for s in &samples[1..] {
            if s.v < prev {
                result += prev;
            }
            prev = s.v;
        }
    }
    let mut to_start = first.t.saturating_sub(range_start) as f64 / 1000.0;
    let mut to_end = range_end.saturating_sub(last.t) as f64 / 1000.0;
    let sampled = last.t.saturating_sub(first.t) as f64 / 1000.0;
    let avg = sampled / (samples.len() - 1) as f64;
    let threshold = avg * 1.1;
    if to_start >= threshold {
        to_start = avg / 2.0;
    }
    if is_counter && result > 0.0 && first.v >= 0.0 {
        // A counter cannot go below zero: stop extrapolating at the zero point.
        let to_zero = sampled * (first.v / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg / 2.0;
    }
    let mut factor = (sampled + to_start + to_end) / sampled;
    if is_rate {
        factor /= w.range as f64 / 1000.0;
    }
    Some(result * factor)
}

/// `irate`/`idelta`: the last two samples.
fn instant(samples: &[Sample], is_rate: bool) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let (a, b) = (samples[samples.len() - 2], samples[samples.len() - 1]);
    let mut v = if is_rate && b.v < a.v { b.v } else { b.v - a.v };
    let dt = b.t.saturating_sub(a.t);
    if dt == 0 {
        return None;
    }
    if is_rate {
        v /= dt as f64 / 1000.0;
    }
    Some(v)
}

/// Least-squares fit with Kahan sums (Prometheus `linearRegression`): slope per second and the
/// value at `intercept_t`.
pub(crate) fn linear_regression(samples: &[Sample], intercept_t: i64) -> (f64, f64) {
    let (mut n, mut sx, mut cx, mut sy, mut cy, mut sxy, mut cxy, mut sx2, mut cx2) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let init_y = samples.first().map_or(f64::NAN, |s| s.v);
    let mut const_y = true;
    for (i, s) in samples.iter().enumerate() {
        if const_y && i > 0 && s.v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = s.t.saturating_sub(intercept_t) as f64 / 1000.0;
        (sx, cx) = kahan_inc(x, sx, cx);
        (sy, cy) = kahan_inc(s.v, sy, cy);
        (sxy, cxy) = kahan_inc(x * s.v, sxy, cxy);
        (sx2, cx2) = kahan_inc(x * x, sx2, cx2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    let (sx, sy, sxy, sx2) = (sx + cx, sy + cy, sxy + cxy, sx2 + cx2);
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    let intercept = sy / n - slope * sx / n;
    (slope, intercept)
}

/// Evaluates the rate-like function `name` over every series of `m`.
pub(super) fn eval(ev: &mut Evaluator<'_>, name: &str, m: Matrix, w: RangeWindow, t: i64) -> Vector {
    let mut out = Vec::with_capacity(m.len());
    for s in m {
        if matches!(name, "rate" | "increase")
            && let Some(n) = s.labels.metric_name()
                && !["_total", "_sum", "_count", "_bucket"]
                    .iter()
                    .any(|suf| n.ends_with(suf))
                {
                    ev.annotations.info(format!(
                        "metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {n:?}"
                    ));
                }
        let v = match name {
            "rate" => extrapolated(&s.samples, w, true, true),
            "increase" => extrapolated(&s.samples, w, true, false),
            "delta" => extrapolated(&s.samples, w, false, false),
            "irate" => instant(&s.samples, true),
            "idelta" => instant(&s.samples, false),
            "deriv" if s.samples.len() >= 2 => Some(linear_regression(&s.samples, s.samples[0].t).0),
            _ => None,
        };
        if let Some(v) = v {
            out.push(InstantSample {
                labels: s.labels,
                t,
                v,
                drop_name: true,
            });
        }
    }
    out
}

/// `predict_linear(v[range], seconds)`: the fitted value `seconds` after the evaluation time.
pub(super) fn predict_linear(m: Matrix, _w: RangeWindow, secs: f64, t: i64) -> Vector {
    let mut out = Vec::with_capacity(m.len());
    for s in m {
        if s.samples.len() < 2 {
            continue;
        }
        let (slope, intercept) = linear_regression(&s.samples, t);
        out.push(InstantSample {
            labels: s.labels,
            t,
            v: slope * secs + intercept,
            drop_name: true,
        });
    }
    out
}
