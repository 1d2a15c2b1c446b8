//! Element-wise math: `abs`, `ceil`, `floor`, `exp`, `ln`, `log2`, `log10`, `sqrt`, `sgn`, `round`,
//! `clamp*`, `deg`, `rad` and the trigonometric functions. All of them drop the metric name.

use crate::promql::value::Vector;

pub(crate) fn apply(name: &str, x: f64) -> f64 {
    match name {
        "abs" => x.abs(),
        "ceil" => x.ceil(),
        "floor" => x.floor(),
        "exp" => x.exp(),
        "ln" => x.ln(),
        "log2" => x.log2(),
        "log10" => x.log10(),
        "sqrt" => x.sqrt(),
        "sgn" => {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                x
            }
        }
        "deg" => x * 180.0 / std::f64::consts::PI,
        "rad" => x * std::f64::consts::PI / 180.0,
        "sin" => x.sin(),
        "cos" => x.cos(),
        "tan" => x.tan(),
        "asin" => x.asin(),
        "acos" => x.acos(),
        "atan" => x.atan(),
        "sinh" => x.sinh(),
        "cosh" => x.cosh(),
        "tanh" => x.tanh(),
        "asinh" => x.asinh(),
        "acosh" => x.acosh(),
        "atanh" => x.atanh(),
        _ => f64::NAN,
    }
}

/// Applies the one-argument function `name` to every element.
pub(super) fn simple(name: &str, mut vec: Vector) -> Vector {
    for s in &mut vec {
        s.v = apply(name, s.v);
        s.drop_name = true;
    }
    vec
}

/// `round(v, to_nearest)`: rounds half up to a multiple of `to_nearest` (Prometheus uses
/// `floor(v * (1/to) + 0.5) / (1/to)`, which differs from `round` for negative halves).
pub(super) fn round(mut vec: Vector, to: f64) -> Vector {
    let inv = 1.0 / to;
    for s in &mut vec {
        s.v = (s.v * inv + 0.5).floor() / inv;
        s.drop_name = true;
    }
    vec
}

/// `clamp(v, lo, hi)`; empty when `lo > hi`.
pub(super) fn clamp(mut vec: Vector, lo: f64, hi: f64) -> Vector {
    if lo > hi {
        return Vec::new();
    }
    for s in &mut vec {
        // Go's math.Max/Min propagate NaN.
        s.v = if s.v.is_nan() || lo.is_nan() || hi.is_nan() {
            f64::NAN
        } else {
            s.v.max(lo).min(hi)
        };
        s.drop_name = true;
    }
    vec
}
