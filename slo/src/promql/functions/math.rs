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

/// Go's `math.Min`: an infinity of the right sign wins over NaN (`Min(NaN, -Inf)` is `-Inf`), NaN
/// over everything else, and `-0` is below `+0`.
pub(crate) fn go_min(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY || b == f64::NEG_INFINITY {
        f64::NEG_INFINITY
    } else if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && b == 0.0 {
        if a.is_sign_negative() { a } else { b }
    } else if a < b {
        a
    } else {
        b
    }
}

/// Go's `math.Max`: `+Inf` wins over NaN, NaN over everything else, `+0` is above `-0`.
pub(crate) fn go_max(a: f64, b: f64) -> f64 {
    if a == f64::INFINITY || b == f64::INFINITY {
        f64::INFINITY
    } else if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && b == 0.0 {
        if a.is_sign_positive() { a } else { b }
    } else if a > b {
        a
    } else {
        b
    }
}

/// `clamp(v, lo, hi)` as Prometheus computes it, `Max(lo, Min(hi, v))` with Go's functions (so
/// `clamp(-Inf, 1, NaN)` is 1); empty when `hi < lo`.
pub(super) fn clamp(mut vec: Vector, lo: f64, hi: f64) -> Vector {
    if hi < lo {
        return Vec::new();
    }
    for s in &mut vec {
        s.v = go_max(lo, go_min(hi, s.v));
        s.drop_name = true;
    }
    vec
}

/// `clamp_min(v, lo)`: Go's `Max(lo, v)`.
pub(super) fn clamp_min(mut vec: Vector, lo: f64) -> Vector {
    for s in &mut vec {
        s.v = go_max(lo, s.v);
        s.drop_name = true;
    }
    vec
}

/// `clamp_max(v, hi)`: Go's `Min(hi, v)`.
pub(super) fn clamp_max(mut vec: Vector, hi: f64) -> Vector {
    for s in &mut vec {
        s.v = go_min(hi, s.v);
        s.drop_name = true;
    }
    vec
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the differential test: `clamp(-Inf, 1, NaN)` is 1 in Prometheus (Go's `Min(NaN,
    /// -Inf)` is `-Inf`), and `clamp_min(+Inf, NaN)` is `+Inf`; burnwatch gave NaN for both.
    #[test]
    fn clamp_follows_go_min_and_max_with_nan_and_infinities() {
        let one = |v: f64| {
            vec![crate::promql::InstantSample {
                labels: crate::tsdb::Labels::empty(),
                t: 0,
                v,
                h: None,
                drop_name: false,
            }]
        };
        assert_eq!(clamp(one(f64::NEG_INFINITY), 1.0, f64::NAN)[0].v, 1.0);
        assert!(clamp(one(5.0), 1.0, f64::NAN)[0].v.is_nan());
        assert!(clamp(one(5.0), f64::NAN, 1.0)[0].v.is_nan());
        assert_eq!(
            clamp(one(f64::INFINITY), f64::NAN, f64::INFINITY)[0].v,
            f64::INFINITY
        );
        assert!(clamp(one(1.0), 2.0, 1.0).is_empty());
        assert_eq!(clamp_min(one(f64::INFINITY), f64::NAN)[0].v, f64::INFINITY);
        assert!(clamp_min(one(3.0), f64::NAN)[0].v.is_nan());
        assert_eq!(
            clamp_max(one(f64::NEG_INFINITY), f64::NAN)[0].v,
            f64::NEG_INFINITY
        );
        assert!(clamp_max(one(f64::NAN), 1.0)[0].v.is_nan());
        assert!(go_max(0.0, -0.0).is_sign_positive());
        assert!(go_min(0.0, -0.0).is_sign_negative());
    }
}
