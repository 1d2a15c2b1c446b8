//! PromQL functions, one file per family; this file dispatches by name and holds the numeric
//! helpers the families share (Kahan summation, means, quantiles, Go number formatting).

pub(crate) mod histogram;
pub(crate) use histogram::{almost_equal, histogram_go_string};
mod label;
pub(crate) mod math;
pub(crate) mod over_time;
pub(crate) mod rate;
mod sort;
#[cfg(test)]
mod tests;
mod time;

use promql_parser::parser::{Call, Expr};

use super::QueryError;
use super::eval::Evaluator;
use super::value::{InstantSample, Value, Vector};
use crate::tsdb::{Labels, MatchOp};

/// Neumaier's improved Kahan summation step (Prometheus `kahanSumInc`): returns the new sum and
/// compensation.
pub(crate) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// Prometheus 3.x mean: a Kahan-compensated sum divided at the end, switching to an incremental
/// mean if the sum would overflow (`avg` and `avg_over_time`).
#[derive(Default)]
pub(crate) struct KahanMean {
    count: f64,
    sum: f64,
    c: f64,
    mean: f64,
    incremental: bool,
}

impl KahanMean {
    pub(crate) fn add(&mut self, x: f64) {
        self.count += 1.0;
        if self.count == 1.0 {
            self.sum = x;
            return;
        }
        if !self.incremental {
            let (s, c) = kahan_inc(x, self.sum, self.c);
            if !s.is_infinite() {
                self.sum = s;
                self.c = c;
                return;
            }
            self.incremental = true;
            self.mean = self.sum / (self.count - 1.0);
            self.c /= self.count - 1.0;
        }
        let q = (self.count - 1.0) / self.count;
        let (m, c) = kahan_inc(x / self.count, q * self.mean, q * self.c);
        self.mean = m;
        self.c = c;
    }

    pub(crate) fn value(&self) -> f64 {
        if self.incremental {
            self.mean + self.c
        } else {
            self.sum / self.count + self.c / self.count
        }
    }
}

/// Prometheus's `quantile`: linear interpolation between the closest ranks; NaNs sort first.
pub(crate) fn quantile(q: f64, mut values: Vec<f64>) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Go's `%g` for a float (`strconv.FormatFloat(v, 'g', -1, 64)`, exponent form below 1e-4 and
/// from 1e6 on), used in annotation messages.
pub(crate) fn format_go_g(v: f64) -> String {
    burnwatch_gofmt::format_g(v)
}

/// Arguments beyond the parser's checks are still read defensively: a missing one is an error.
fn arg(call: &Call, i: usize) -> Result<&Expr, QueryError> {
    call.args
        .args
        .get(i)
        .map(|b| b.as_ref())
        .ok_or_else(|| QueryError::Execution(format!("{}: missing argument {}", call.func.name, i + 1)))
}

/// Labels an `absent()` result gets: the selector's equality matchers; a label named by any other
/// matcher, or by two matchers, is left out (Prometheus `createLabelsForAbsentFunction`).
fn absent_labels(expr: &Expr) -> Labels {
    let vs = match expr {
        Expr::VectorSelector(vs) => vs,
        Expr::MatrixSelector(ms) => &ms.vs,
        _ => return Labels::empty(),
    };
    let Ok(ms) = super::eval::to_matchers(vs) else {
        return Labels::empty();
    };
    // Prometheus's `createLabelsForAbsentFunction`, in matcher order: the first `=` of a label
    // sets it, any other matcher of that label removes it, so `{a!~"x", a="y"}` gives `{a="y"}`
    // and `{a="y", a!~"x"}` gives `{}`.
    let mut b = crate::tsdb::LabelsBuilder::new(&Labels::empty());
    let mut has: Vec<&str> = Vec::new();
    for m in ms.iter().filter(|m| m.name != crate::tsdb::METRIC_NAME) {
        if matches!(m.op, MatchOp::Equal) && !has.contains(&m.name.as_str()) {
            b.set(m.name.clone(), m.value.clone());
            has.push(&m.name);
        } else {
            b.del(&m.name);
        }
    }
    b.build()
}

pub(crate) fn unwrap_parens(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => unwrap_parens(&p.expr),
        other => other,
    }
}

/// A range argument for functions that read floats only (`deriv`, `predict_linear`): histogram
/// points are dropped, with Prometheus's info annotation when a series held both kinds.
fn float_range_arg(
    ev: &mut Evaluator<'_>,
    e: &Expr,
    t: i64,
) -> Result<(super::value::Matrix, super::eval::RangeWindow), QueryError> {
    let (mut m, w) = ev.eval_range_arg_h(e, t)?;
    for s in &m {
        if !s.histograms.is_empty() && !s.samples.is_empty() {
            let name = s.labels.metric_name().unwrap_or("").to_string();
            ev.annotations.info(format!(
                "ignored histograms in a range containing both floats and histograms for metric name {name:?}"
            ));
        }
    }
    m.retain_mut(|s| {
        s.histograms.clear();
        !s.samples.is_empty()
    });
    Ok((m, w))
}

/// Evaluates a function call at `t`.
pub(crate) fn call(ev: &mut Evaluator<'_>, call: &Call, t: i64) -> Result<Value, QueryError> {
    let name = call.func.name;
    let nargs = call.args.args.len();
    match name {
        "time" => Ok(Value::Scalar {
            t,
            v: t as f64 / 1000.0,
        }),
        "pi" => Ok(Value::Scalar {
            t,
            v: std::f64::consts::PI,
        }),
        "start" => Ok(Value::Scalar {
            t,
            v: ev.start as f64 / 1000.0,
        }),
        "end" => Ok(Value::Scalar {
            t,
            v: ev.end as f64 / 1000.0,
        }),
        "range" => Ok(Value::Scalar {
            t,
            v: ev.end.saturating_sub(ev.start) as f64 / 1000.0,
        }),
        "step" => Ok(Value::Scalar {
            t,
            v: ev.step as f64 / 1000.0,
        }),
        "vector" => {
            let v = ev.eval_scalar(arg(call, 0)?, t)?;
            Ok(Value::Vector(vec![InstantSample {
                labels: Labels::empty(),
                t,
                v,
                h: None,
                drop_name: false,
            }]))
        }
        "scalar" => {
            let vec = ev.eval_vector(arg(call, 0)?, t)?;
            let v = if vec.len() == 1 { vec[0].v } else { f64::NAN };
            Ok(Value::Scalar { t, v })
        }
        "absent" => {
            let vec = ev.eval_vector_h(arg(call, 0)?, t)?;
            if !vec.is_empty() {
                return Ok(Value::Vector(Vec::new()));
            }
            let labels = absent_labels(unwrap_parens(arg(call, 0)?));
            Ok(Value::Vector(vec![InstantSample {
                labels,
                t,
                v: 1.0,
                h: None,
                drop_name: false,
            }]))
        }
        "absent_over_time" => {
            let (m, _) = ev.eval_range_arg_h(arg(call, 0)?, t)?;
            if !m.is_empty() {
                return Ok(Value::Vector(Vec::new()));
            }
            let labels = absent_labels(unwrap_parens(arg(call, 0)?));
            Ok(Value::Vector(vec![InstantSample {
                labels,
                t,
                v: 1.0,
                h: None,
                drop_name: false,
            }]))
        }
        "timestamp" => {
            let a = unwrap_parens(arg(call, 0)?);
            let vec = match a {
                Expr::VectorSelector(vs) => ev.select_vector(vs, t, true)?,
                other => ev.eval_vector(other, t)?,
            };
            Ok(Value::Vector(
                vec.into_iter()
                    .map(|s| InstantSample {
                        v: s.t as f64 / 1000.0,
                        t,
                        labels: s.labels,
                        h: None,
                        drop_name: true,
                    })
                    .collect(),
            ))
        }
        "abs" | "ceil" | "floor" | "exp" | "ln" | "log2" | "log10" | "sqrt" | "sgn" | "deg" | "rad"
        | "sin" | "cos" | "tan" | "asin" | "acos" | "atan" | "sinh" | "cosh" | "tanh" | "asinh" | "acosh"
        | "atanh" => {
            let vec = ev.eval_vector(arg(call, 0)?, t)?;
            Ok(Value::Vector(math::simple(name, vec)))
        }
        "round" => {
            let vec = ev.eval_vector(arg(call, 0)?, t)?;
            let to = if nargs > 1 {
                ev.eval_scalar(arg(call, 1)?, t)?
            } else {
                1.0
            };
            Ok(Value::Vector(math::round(vec, to)))
        }
        "clamp" => {
            let vec = ev.eval_vector(arg(call, 0)?, t)?;
            let lo = ev.eval_scalar(arg(call, 1)?, t)?;
            let hi = ev.eval_scalar(arg(call, 2)?, t)?;
            Ok(Value::Vector(math::clamp(vec, lo, hi)))
        }
        "clamp_min" => {
            let vec = ev.eval_vector(arg(call, 0)?, t)?;
            let lo = ev.eval_scalar(arg(call, 1)?, t)?;
            Ok(Value::Vector(math::clamp_min(vec, lo)))
        }
        "clamp_max" => {
            let vec = ev.eval_vector(arg(call, 0)?, t)?;
            let hi = ev.eval_scalar(arg(call, 1)?, t)?;
            Ok(Value::Vector(math::clamp_max(vec, hi)))
        }
        "minute" | "hour" | "day_of_week" | "day_of_month" | "day_of_year" | "days_in_month" | "month"
        | "year" => {
            let vec: Vector = if nargs == 0 {
                vec![InstantSample {
                    labels: Labels::empty(),
                    t,
                    v: t as f64 / 1000.0,
                    h: None,
                    drop_name: false,
                }]
            } else {
                ev.eval_vector(arg(call, 0)?, t)?
            };
            Ok(Value::Vector(time::date_fn(name, vec)))
        }
        "label_replace" => {
            let vec = ev.eval_vector_h(arg(call, 0)?, t)?;
            let dst = ev.eval_string(arg(call, 1)?, t)?;
            let repl = ev.eval_string(arg(call, 2)?, t)?;
            let src = ev.eval_string(arg(call, 3)?, t)?;
            let re = ev.eval_string(arg(call, 4)?, t)?;
            Ok(Value::Vector(label::replace(vec, &dst, &repl, &src, &re)?))
        }
        "label_join" => {
            let vec = ev.eval_vector_h(arg(call, 0)?, t)?;
            let dst = ev.eval_string(arg(call, 1)?, t)?;
            let sep = ev.eval_string(arg(call, 2)?, t)?;
            let mut srcs = Vec::new();
            for i in 3..nargs {
                srcs.push(ev.eval_string(arg(call, i)?, t)?);
            }
            Ok(Value::Vector(label::join(vec, &dst, &sep, &srcs)?))
        }
        "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc" => {
            let vec = ev.eval_vector(arg(call, 0)?, t)?;
            let mut names = Vec::new();
            for i in 1..nargs {
                names.push(ev.eval_string(arg(call, i)?, t)?);
            }
            if ev.step > 0 {
                ev.annotations
                    .warn("sort is ineffective for range queries since results are always ordered by labels");
            }
            Ok(Value::Vector(sort::sort(name, vec, &names)))
        }
        "histogram_quantile" => {
            let q = ev.eval_scalar(arg(call, 0)?, t)?;
            let vec = ev.eval_vector_h(arg(call, 1)?, t)?;
            Ok(Value::Vector(histogram::quantile(ev, q, vec)))
        }
        "histogram_fraction" => {
            let lo = ev.eval_scalar(arg(call, 0)?, t)?;
            let hi = ev.eval_scalar(arg(call, 1)?, t)?;
            let vec = ev.eval_vector_h(arg(call, 2)?, t)?;
            Ok(Value::Vector(histogram::fraction(ev, lo, hi, vec)))
        }
        "histogram_quantiles" => {
            let vec = ev.eval_vector_h(arg(call, 0)?, t)?;
            let label = ev.eval_string(arg(call, 1)?, t)?;
            let mut qs = Vec::new();
            for i in 2..nargs {
                qs.push(ev.eval_scalar(arg(call, i)?, t)?);
            }
            Ok(Value::Vector(histogram::quantiles(ev, &label, &qs, vec)))
        }
        "min_of" | "max_of" => {
            let mut acc: Option<f64> = None;
            for i in 0..nargs {
                let v = ev.eval_scalar(arg(call, i)?, t)?;
                acc = Some(match acc {
                    None => v,
                    Some(a) if a.is_nan() || v.is_nan() => f64::NAN,
                    Some(a) if name == "min_of" => a.min(v),
                    Some(a) => a.max(v),
                });
            }
            Ok(Value::Scalar {
                t,
                v: acc.unwrap_or(f64::NAN),
            })
        }
        "histogram_count" | "histogram_sum" | "histogram_avg" | "histogram_stddev" | "histogram_stdvar" => {
            // These read native histograms only; float samples are ignored.
            let vec = ev.eval_vector_h(arg(call, 0)?, t)?;
            Ok(Value::Vector(histogram::native_stat(name, vec)))
        }
        "rate" | "increase" | "delta" | "irate" | "idelta" => {
            let (m, w) = ev.eval_range_arg_h(arg(call, 0)?, t)?;
            Ok(Value::Vector(rate::eval(ev, name, m, w, t)))
        }
        "deriv" => {
            let (m, w) = float_range_arg(ev, arg(call, 0)?, t)?;
            Ok(Value::Vector(rate::eval(ev, name, m, w, t)))
        }
        "predict_linear" => {
            let (m, w) = float_range_arg(ev, arg(call, 0)?, t)?;
            let d = ev.eval_scalar(arg(call, 1)?, t)?;
            Ok(Value::Vector(rate::predict_linear(m, w, d, t)))
        }
        "quantile_over_time" => {
            let q = ev.eval_scalar(arg(call, 0)?, t)?;
            if q.is_nan() || !(0.0..=1.0).contains(&q) {
                ev.annotations.warn(format!(
                    "quantile value should be between 0 and 1, got {}",
                    format_go_g(q)
                ));
            }
            let (m, _) = ev.eval_range_arg_h(arg(call, 1)?, t)?;
            Ok(Value::Vector(over_time::eval(
                ev,
                "quantile_over_time",
                m,
                t,
                &[q],
            )))
        }
        "double_exponential_smoothing" | "holt_winters" => {
            let (m, _) = ev.eval_range_arg_h(arg(call, 0)?, t)?;
            let sf = ev.eval_scalar(arg(call, 1)?, t)?;
            let tf = ev.eval_scalar(arg(call, 2)?, t)?;
            if !(sf > 0.0 && sf < 1.0) {
                return Err(QueryError::Execution(format!(
                    "invalid smoothing factor. Expected: 0 < sf < 1, got: {}",
                    format_go_g(sf)
                )));
            }
            if !(tf > 0.0 && tf < 1.0) {
                return Err(QueryError::Execution(format!(
                    "invalid trend factor. Expected: 0 < tf < 1, got: {}",
                    format_go_g(tf)
                )));
            }
            Ok(Value::Vector(over_time::eval(ev, name, m, t, &[sf, tf])))
        }
        "avg_over_time"
        | "min_over_time"
        | "max_over_time"
        | "sum_over_time"
        | "count_over_time"
        | "last_over_time"
        | "first_over_time"
        | "present_over_time"
        | "stddev_over_time"
        | "stdvar_over_time"
        | "mad_over_time"
        | "changes"
        | "resets"
        | "ts_of_min_over_time"
        | "ts_of_max_over_time"
        | "ts_of_first_over_time"
        | "ts_of_last_over_time" => {
            let (m, _) = ev.eval_range_arg_h(arg(call, 0)?, t)?;
            Ok(Value::Vector(over_time::eval(ev, name, m, t, &[])))
        }
        other => Err(QueryError::Execution(format!(
            "function {other}() is not supported by this engine"
        ))),
    }
}
