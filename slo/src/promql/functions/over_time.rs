//! Aggregations over time: `*_over_time`, `changes`, `resets`, `double_exponential_smoothing`.
//!
//! Only `first_over_time` and `last_over_time` keep the metric name (they return a sample of the
//! series unchanged); every other function here drops it.

use super::{KahanMean, kahan_inc, quantile};
use crate::promql::value::{InstantSample, Matrix, Vector};
use crate::tsdb::Sample;

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

fn one(name: &str, s: &[Sample], params: &[f64]) -> Option<f64> {
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

/// Evaluates the over-time function `name` over every series of `m`.
pub(super) fn eval(name: &str, m: Matrix, t: i64, params: &[f64]) -> Vector {
    let keeps_name = matches!(name, "last_over_time" | "first_over_time");
    let mut out = Vec::with_capacity(m.len());
    for s in m {
        if let Some(v) = one(name, &s.samples, params) {
            out.push(InstantSample {
                labels: s.labels,
                t,
                v,
                drop_name: s.drop_name || !keeps_name,
            });
        }
    }
    out
}
