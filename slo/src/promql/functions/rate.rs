//! Rate-like functions over range vectors: `rate`, `increase`, `delta` (with Prometheus 3.x
//! extrapolation), `irate`, `idelta`, `deriv`, `predict_linear`.

use super::kahan_inc;
use crate::promql::eval::{Evaluator, RangeWindow};
use crate::promql::value::{InstantSample, Matrix, Vector};
use crate::tsdb::{CounterResetHint, FloatHistogram, HSample, Sample};
use std::sync::Arc;

/// Why a histogram rate has no result (each maps to a Prometheus warning).
enum HistRateError {
    /// Floats and histograms in one window.
    Mixed,
    /// Exponential and custom buckets in one window.
    MixedSchemas,
}

/// `extrapolatedRate` for native histograms (Prometheus `histogramRate`): `last - first` at the
/// coarsest schema in the window, with the histogram before each counter reset added back for
/// counters, extrapolated like floats. The result is a gauge histogram.
fn hist_extrapolated(
    ev: &mut Evaluator<'_>,
    name: &str,
    points: &[HSample],
    w: RangeWindow,
    is_counter: bool,
    is_rate: bool,
) -> Result<Option<FloatHistogram>, HistRateError> {
    if points.len() < 2 {
        return Ok(None);
    }
    let (first, last) = (&points[0], &points[points.len() - 1]);
    let custom = first.h.uses_custom_buckets();
    if points.iter().any(|p| p.h.uses_custom_buckets() != custom) {
        return Err(HistRateError::MixedSchemas);
    }
    let mut h = last
        .h
        .combine_reconciling(&first.h, -1.0)
        .map(|(h, r)| reconciled(ev, h, r))
        .map_err(|_| HistRateError::MixedSchemas)?;
    if is_counter {
        if points
            .iter()
            .any(|p| p.h.counter_reset_hint == CounterResetHint::Gauge)
        {
            ev.annotations
                .warn(format!("this native histogram metric is not a counter: {name:?}"));
        }
        for pair in points.windows(2) {
            if pair[1].h.detect_reset(&pair[0].h) {
                h = h
                    .combine(&pair[0].h, 1.0)
                    .map_err(|_| HistRateError::MixedSchemas)?;
            }
        }
    } else if first.h.counter_reset_hint != CounterResetHint::Gauge
        || last.h.counter_reset_hint != CounterResetHint::Gauge
    {
        ev.annotations
            .warn(format!("this native histogram metric is not a gauge: {name:?}"));
    }
    let range_start = w.end.saturating_sub(w.range);
    let mut to_start = first.t.saturating_sub(range_start) as f64 / 1000.0;
    let mut to_end = w.end.saturating_sub(last.t) as f64 / 1000.0;
    let sampled = last.t.saturating_sub(first.t) as f64 / 1000.0;
    let avg = sampled / (points.len() - 1) as f64;
    let threshold = avg * 1.1;
    if to_start >= threshold {
        to_start = avg / 2.0;
    }
    if to_end >= threshold {
        to_end = avg / 2.0;
    }
    let mut factor = (sampled + to_start + to_end) / sampled;
    if is_rate {
        factor /= w.range as f64 / 1000.0;
    }
    let mut h = h.mul(factor);
    h.counter_reset_hint = CounterResetHint::Gauge;
    Ok(Some(h))
}

/// Passes `h` through, adding Prometheus's info when custom bounds had to be reconciled.
fn reconciled(ev: &mut Evaluator<'_>, h: FloatHistogram, reconciled: bool) -> FloatHistogram {
    if reconciled {
        ev.annotations
            .info("mismatched custom buckets were reconciled during subtraction");
    }
    h
}

/// `irate`/`idelta` over the last two points when they are histograms (Prometheus
/// `instantValue`): for `irate` a counter reset makes the newer histogram the increase.
fn hist_instant(
    ev: &mut Evaluator<'_>,
    name: &str,
    a: &HSample,
    b: &HSample,
    is_rate: bool,
) -> Result<Option<FloatHistogram>, HistRateError> {
    let dt = b.t.saturating_sub(a.t);
    if dt == 0 {
        return Ok(None);
    }
    if is_rate
        && (a.h.counter_reset_hint == CounterResetHint::Gauge
            || b.h.counter_reset_hint == CounterResetHint::Gauge)
    {
        ev.annotations
            .warn(format!("this native histogram metric is not a counter: {name:?}"));
    }
    if !is_rate
        && (a.h.counter_reset_hint != CounterResetHint::Gauge
            || b.h.counter_reset_hint != CounterResetHint::Gauge)
    {
        ev.annotations
            .warn(format!("this native histogram metric is not a gauge: {name:?}"));
    }
    // After a counter reset (which a switch between exponential and custom buckets is) the
    // newer histogram is the increase; otherwise the difference, which needs compatible buckets.
    let mut h = if is_rate && b.h.detect_reset(&a.h) {
        (*b.h).clone()
    } else {
        b.h.combine_reconciling(&a.h, -1.0)
            .map(|(h, r)| reconciled(ev, h, r))
            .map_err(|_| HistRateError::MixedSchemas)?
    };
    if is_rate {
        h = h.div(dt as f64 / 1000.0);
    }
    h.counter_reset_hint = CounterResetHint::Gauge;
    Ok(Some(h))
}

/// Prometheus's `extrapolatedRate`: the change over the window (with counter resets added back for
/// counters), extrapolated to the window edges when the first/last samples are within 1.1 average
/// intervals of them (else by half an interval), never extrapolating a counter below zero.
pub(crate) fn extrapolated(
    samples: &[Sample],
    w: RangeWindow,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
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
pub(crate) fn instant(samples: &[Sample], is_rate: bool) -> Option<f64> {
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

/// `rate`/`increase` of a series whose name does not look like a counter's: Prometheus's
/// info annotation. Series of one call usually share a name, so `noted` keeps the last name
/// reported and the info is formatted once per run of a name, not once per series.
pub(crate) fn note_not_counter(
    ev: &mut Evaluator<'_>,
    name: &str,
    labels: &crate::tsdb::Labels,
    noted: &mut Option<String>,
) {
    if matches!(name, "rate" | "increase")
        && let Some(n) = labels.metric_name()
        && noted.as_deref() != Some(n)
        && !["_total", "_sum", "_count", "_bucket"]
            .iter()
            .any(|suf| n.ends_with(suf))
    {
        *noted = Some(n.to_string());
        ev.annotations.info(format!(
            "metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {n:?}"
        ));
    }
}

/// Evaluates the rate-like function `name` over every series of `m`.
pub(super) fn eval(ev: &mut Evaluator<'_>, name: &str, m: Matrix, w: RangeWindow, t: i64) -> Vector {
    let mut out = Vec::with_capacity(m.len());
    let mut noted: Option<String> = None;
    for s in m {
        if !s.histograms.is_empty() && matches!(name, "rate" | "increase" | "delta" | "irate" | "idelta") {
            let metric = s.labels.metric_name().unwrap_or("").to_string();
            let res = match name {
                "irate" | "idelta" => {
                    // Only the last two points count; they must be of one kind.
                    let mut tail: Vec<(i64, Option<&HSample>, Sample)> = s
                        .samples
                        .iter()
                        .rev()
                        .take(2)
                        .map(|p| (p.t, None, *p))
                        .chain(
                            s.histograms
                                .iter()
                                .rev()
                                .take(2)
                                .map(|h| (h.t, Some(h), Sample { t: h.t, v: 0.0 })),
                        )
                        .collect();
                    tail.sort_by_key(|p| p.0);
                    let tail = &tail[tail.len().saturating_sub(2)..];
                    match tail {
                        [(_, Some(a), _), (_, Some(b), _)] => {
                            hist_instant(ev, &metric, a, b, name == "irate")
                        }
                        [(_, None, a), (_, None, b)] => {
                            if let Some(v) = instant(&[*a, *b], name == "irate") {
                                out.push(InstantSample {
                                    labels: s.labels,
                                    t,
                                    v,
                                    h: None,
                                    drop_name: true,
                                });
                            }
                            continue;
                        }
                        [_, _] => Err(HistRateError::Mixed),
                        _ => Ok(None),
                    }
                }
                _ if !s.samples.is_empty() => Err(HistRateError::Mixed),
                _ => hist_extrapolated(ev, &metric, &s.histograms, w, name != "delta", name == "rate"),
            };
            match res {
                Ok(Some(h)) => out.push(InstantSample {
                    labels: s.labels,
                    t,
                    v: 0.0,
                    h: Some(Arc::new(h)),
                    drop_name: true,
                }),
                Ok(None) => {}
                Err(HistRateError::Mixed) => ev.annotations.warn(format!(
                    "encountered a mix of histograms and floats for metric name {metric:?}"
                )),
                Err(HistRateError::MixedSchemas) => ev.annotations.warn(format!(
                    "vector contains a mix of histograms with exponential and custom buckets schemas for metric name {metric:?}"
                )),
            }
            continue;
        }
        note_not_counter(ev, name, &s.labels, &mut noted);
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
                h: None,
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
            h: None,
            drop_name: true,
        });
    }
    out
}
