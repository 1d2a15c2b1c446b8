//! Aggregations over time: `*_over_time`, `changes`, `resets`, `double_exponential_smoothing`.
//!
//! Only `first_over_time` and `last_over_time` keep the metric name (they return a sample of the
//! series unchanged); every other function here drops it.

use super::{KahanMean, kahan_inc, quantile};
use std::sync::Arc;

use crate::promql::eval::Evaluator;
use crate::promql::value::{InstantSample, Matrix, RangeSeries, Vector};
use crate::tsdb::{CounterResetHint, FloatHistogram, Sample};

fn variance(samples: &[Sample]) -> f64 {
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for s in samples {
        count += 1.0;
        let delta = s.v - (mean + c_mean);
        (mean, c_mean) = kahan_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_inc(delta * (s.v - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

fn double_exponential_smoothing(samples: &[Sample], sf: f64, tf: f64) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let mut s0 = 0.0;
    let mut s1 = samples[0].v;
    let mut b = samples[1].v - samples[0].v;
    for (i, s) in samples.iter().enumerate().skip(1) {
        let x = sf * s.v;
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    Some(s1)
}

pub(crate) fn one(name: &str, s: &[Sample], params: &[f64]) -> Option<f64> {
    let first = *s.first()?;
    let last = *s.last()?;
    let vals = || s.iter().map(|p| p.v).collect::<Vec<f64>>();
    Some(match name {
        "avg_over_time" => {
            let mut m = KahanMean::default();
            for p in s {
                m.add(p.v);
            }
            m.value()
        }
        "sum_over_time" => {
            let (mut sum, mut c) = (0.0, 0.0);
            for p in s {
                (sum, c) = kahan_inc(p.v, sum, c);
            }
            sum + c
        }
        "min_over_time" => s
            .iter()
            .fold(f64::NAN, |m, p| if m.is_nan() || p.v < m { p.v } else { m }),
        "max_over_time" => s
            .iter()
            .fold(f64::NAN, |m, p| if m.is_nan() || p.v > m { p.v } else { m }),
        "count_over_time" => s.len() as f64,
        "last_over_time" => last.v,
        "first_over_time" => first.v,
        "present_over_time" => 1.0,
        "stdvar_over_time" => variance(s),
        "stddev_over_time" => variance(s).sqrt(),
        "quantile_over_time" => quantile(params.first().copied().unwrap_or(f64::NAN), vals()),
        "mad_over_time" => {
            let v = vals();
            if v.iter().any(|x| x.is_nan()) {
                return Some(f64::NAN);
            }
            let median = quantile(0.5, v.clone());
            quantile(0.5, v.iter().map(|x| (x - median).abs()).collect())
        }
        "changes" => s
            .windows(2)
            .filter(|w| w[1].v != w[0].v && !(w[1].v.is_nan() && w[0].v.is_nan()))
            .count() as f64,
        "resets" => s.windows(2).filter(|w| w[1].v < w[0].v).count() as f64,
        "ts_of_last_over_time" => last.t as f64 / 1000.0,
        "ts_of_first_over_time" => first.t as f64 / 1000.0,
        "ts_of_min_over_time" | "ts_of_max_over_time" => {
            let max = name == "ts_of_max_over_time";
            let mut best = first;
            for p in &s[1..] {
                // The latest of equal extremes wins; NaN loses to any number.
                let better = if best.v.is_nan() {
                    true
                } else if max {
                    p.v >= best.v
                } else {
                    p.v <= best.v
                };
                if better {
                    best = *p;
                }
            }
            best.t as f64 / 1000.0
        }
        "double_exponential_smoothing" | "holt_winters" => {
            return double_exponential_smoothing(
                s,
                params.first().copied().unwrap_or(f64::NAN),
                params.get(1).copied().unwrap_or(f64::NAN),
            );
        }
        _ => return None,
    })
}

/// A point of a series holding histograms: its time, float value, and histogram if it is one.
type Point<'a> = (i64, f64, Option<&'a Arc<FloatHistogram>>);

/// What an over-time function gives for a series holding histograms (Prometheus 3.x): `None`
/// when it has no result. Functions without histogram support use the float points only, with an
/// info annotation when histograms were ignored.
fn one_with_histograms(
    ev: &mut Evaluator<'_>,
    name: &str,
    s: &RangeSeries,
    params: &[f64],
) -> Option<(f64, Option<Arc<FloatHistogram>>)> {
    let mut pts: Vec<Point<'_>> = s.samples.iter().map(|p| (p.t, p.v, None)).collect();
    pts.extend(s.histograms.iter().map(|h| (h.t, 0.0, Some(&h.h))));
    pts.sort_by_key(|p| p.0);
    let metric = s.labels.metric_name().unwrap_or("").to_string();
    let (first, last) = (*pts.first()?, *pts.last()?);
    let value = |p: Point<'_>| (p.1, p.2.map(Arc::clone));
    match name {
        "count_over_time" => Some((pts.len() as f64, None)),
        "present_over_time" => Some((1.0, None)),
        "last_over_time" => Some(value(last)),
        "first_over_time" => Some(value(first)),
        "ts_of_last_over_time" => Some((last.0 as f64 / 1000.0, None)),
        "ts_of_first_over_time" => Some((first.0 as f64 / 1000.0, None)),
        "sum_over_time" | "avg_over_time" => {
            if !s.samples.is_empty() {
                ev.annotations.warn(format!(
                    "encountered a mix of histograms and floats for metric name {metric:?}"
                ));
                return None;
            }
            let mut acc = (*s.histograms.first()?.h).clone();
            for h in &s.histograms[1..] {
                match acc.combine_reconciling(&h.h, 1.0) {
                    Ok((x, reconciled)) => {
                        if reconciled {
                            ev.annotations
                                .info("mismatched custom buckets were reconciled during aggregation");
                        }
                        acc = x;
                    }
                    Err(_) => {
                        ev.annotations.warn(format!(
                            "vector contains a mix of histograms with exponential and custom buckets schemas for metric name {metric:?}"
                        ));
                        return None;
                    }
                }
            }
            if name == "avg_over_time" {
                acc = acc.div(s.histograms.len() as f64);
            }
            if acc.counter_reset_hint != CounterResetHint::Gauge {
                acc.counter_reset_hint = CounterResetHint::Unknown;
            }
            Some((0.0, Some(Arc::new(acc))))
        }
        "changes" | "resets" => {
            let mut n = 0.0;
            for w in pts.windows(2) {
                let (a, b) = (w[0], w[1]);
                let hit = match (a.2, b.2) {
                    (None, None) if name == "changes" => b.1 != a.1 && !(b.1.is_nan() && a.1.is_nan()),
                    (None, None) => b.1 < a.1,
                    (Some(x), Some(y)) if name == "changes" => !x.equals(y),
                    (Some(x), Some(y)) => y.detect_reset(x),
                    _ => true,
                };
                if hit {
                    n += 1.0;
                }
            }
            Some((n, None))
        }
        _ => {
            if s.samples.is_empty() {
                return None;
            }
            ev.annotations.info(format!(
                "ignored histograms in a range containing both floats and histograms for metric name {metric:?}"
            ));
            one(name, &s.samples, params).map(|v| (v, None))
        }
    }
}

/// Evaluates the over-time function `name` over every series of `m`.
pub(super) fn eval(ev: &mut Evaluator<'_>, name: &str, m: Matrix, t: i64, params: &[f64]) -> Vector {
    let keeps_name = matches!(name, "last_over_time" | "first_over_time");
    let mut out = Vec::with_capacity(m.len());
    for s in m {
        if !s.histograms.is_empty() {
            if let Some((v, h)) = one_with_histograms(ev, name, &s, params) {
                out.push(InstantSample {
                    labels: s.labels,
                    t,
                    v,
                    h,
                    drop_name: s.drop_name || !keeps_name,
                });
            }
            continue;
        }
        if let Some(v) = one(name, &s.samples, params) {
            out.push(InstantSample {
                labels: s.labels,
                t,
                v,
                h: None,
                drop_name: s.drop_name || !keeps_name,
            });
        }
    }
    out
}
