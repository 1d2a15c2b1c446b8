use proptest::prelude::*;

use super::*;

/// Edge values and how Prometheus 2.42 (Go's `strconv`) writes them, observed from a real server:
/// the text exposition from `/federate` over recording rules `vector(X)`, the API's sample value
/// from `vector(X)`, and `'f'` from the scalar `X` and from `count_values("v", vector(X))`'s label
/// (the two agree on every row).
// -1125877809678695.25 is exact in an f64 (bits 14055734260246006586); its 19 digits are the point.
#[allow(clippy::excessive_precision)]
const PROMETHEUS: &[(f64, &str, &str, &str)] = &[
    // (value, exposition, API sample value, 'f')
    (0.0, "0", "0", "0"),
    (-0.0, "0", "-0", "-0"),
    (1.0, "1", "1", "1"),
    (-1.0, "-1", "-1", "-1"),
    (0.1, "0.1", "0.1", "0.1"),
    (-0.5, "-0.5", "-0.5", "-0.5"),
    (0.0001, "0.0001", "0.0001", "0.0001"),
    (0.00001, "1e-05", "0.00001", "0.00001"),
    (0.000001, "1e-06", "0.000001", "0.000001"),
    (0.0000001, "1e-07", "1e-07", "0.0000001"),
    (123456.0, "123456", "123456", "123456"),
    (999999.0, "999999", "999999", "999999"),
    (1e6, "1e+06", "1000000", "1000000"),
    (1000001.0, "1.000001e+06", "1000001", "1000001"),
    (1234567.0, "1.234567e+06", "1234567", "1234567"),
    (1e15, "1e+15", "1000000000000000", "1000000000000000"),
    (1e20, "1e+20", "100000000000000000000", "100000000000000000000"),
    (1e21, "1e+21", "1e+21", "1000000000000000000000"),
    (1e22, "1e+22", "1e+22", "10000000000000000000000"),
    (5e-324, "5e-324", "5e-324", ""),
    (f64::MAX, "1.7976931348623157e+308", "1.7976931348623157e+308", ""),
    // 2^-1017: the interval below a power of two is half as wide; still 16 digits.
    (
        7.120236347223045e-307,
        "7.120236347223045e-307",
        "7.120236347223045e-307",
        "",
    ),
    // Exactly -1125877809678695.25: a tie between two 17-digit candidates, broken to even.
    (
        -1125877809678695.25,
        "-1.1258778096786952e+15",
        "-1125877809678695.2",
        "-1125877809678695.2",
    ),
    (
        0.30000000000000004,
        "0.30000000000000004",
        "0.30000000000000004",
        "0.30000000000000004",
    ),
    (100.0, "100", "100", "100"),
    (1e5, "100000", "100000", "100000"),
    (12345.678, "12345.678", "12345.678", "12345.678"),
    (f64::NAN, "NaN", "NaN", "NaN"),
    (f64::INFINITY, "+Inf", "+Inf", "+Inf"),
    (f64::NEG_INFINITY, "-Inf", "-Inf", "-Inf"),
];

#[test]
fn edge_values_are_written_as_prometheus_writes_them() {
    for &(v, exposition, api, f) in PROMETHEUS {
        assert_eq!(format_exposition(v), exposition, "exposition of {v:e}");
        assert_eq!(format_api_value(v), api, "API value of {v:e}");
        if !f.is_empty() {
            assert_eq!(format_f(v), f, "'f' of {v:e}");
        }
        if v != 0.0 {
            // Away from zero the exposition is 'g' itself.
            assert_eq!(format_g(v), exposition, "'g' of {v:e}");
        }
    }
    // The long 'f' forms, checked by shape: 5e-324 is 323 zeros after the point, then 5.
    assert_eq!(format_f(5e-324), format!("0.{}5", "0".repeat(323)));
    assert_eq!(
        format_f(f64::MAX),
        format!("17976931348623157{}", "0".repeat(292))
    );
}

#[test]
fn e_and_g_follow_go() {
    for (v, e, g) in [
        (0.0, "0e+00", "0"),
        (-0.0, "-0e+00", "-0"),
        (1.0, "1e+00", "1"),
        (1.5e-7, "1.5e-07", "1.5e-07"),
        (123456789.0, "1.23456789e+08", "1.23456789e+08"),
        (1e100, "1e+100", "1e+100"),
        (0.00012, "1.2e-04", "0.00012"),
    ] {
        assert_eq!(format_e(v), e, "{v:e}");
        assert_eq!(format_g(v), g, "{v:e}");
    }
}

/// Prometheus's `FormatOpenMetricsFloat`, read from its source (model/labels): the literal cases
/// 1, 0, -1, then `'g'` with `.0` appended when there is neither a point nor an exponent.
#[test]
fn openmetrics_floats_follow_prometheus() {
    for (v, want) in [
        (1.0, "1.0"),
        (0.0, "0.0"),
        (-0.0, "0.0"),
        (-1.0, "-1.0"),
        (0.25, "0.25"),
        (2.5, "2.5"),
        (10.0, "10.0"),
        (100000.0, "100000.0"),
        (1e6, "1e+06"),
        (1e-5, "1e-05"),
        (0.0001, "0.0001"),
        (f64::INFINITY, "+Inf"),
        (f64::NEG_INFINITY, "-Inf"),
        (f64::NAN, "NaN"),
    ] {
        assert_eq!(format_openmetrics(v), want, "{v:e}");
    }
}

/// Issue #12: a bucket at one million was stored `le="1000000.0"`; Prometheus 3 stores `1e+06`.
#[test]
fn le_and_quantile_values_are_normalised_as_prometheus_3_does() {
    for (raw, want) in [
        ("1", "1.0"),
        ("1.0", "1.0"),
        ("1.00", "1.0"),
        ("0.5", "0.5"),
        (".5", "0.5"),
        ("1e6", "1e+06"),
        ("1000000", "1e+06"),
        ("1000000.0", "1e+06"),
        ("1e+06", "1e+06"),
        ("+Inf", "+Inf"),
        ("Inf", "+Inf"),
        ("inf", "+Inf"),
        ("-Inf", "-Inf"),
        ("NaN", "NaN"),
        ("0", "0.0"),
        ("-0", "0.0"),
        ("0.99", "0.99"),
        // Not floats Go reads: kept as written.
        ("abc", "abc"),
        ("", ""),
        ("1e400", "1e400"),
        ("0x1p-2", "0x1p-2"),
        ("1_000", "1_000"),
    ] {
        assert_eq!(normalize_float_label(raw), want, "{raw:?}");
    }
    assert!(matches!(normalize_float_label("1.0"), Cow::Borrowed(_)));
}

#[test]
fn float_labels_are_found_under_every_spelling_stores_use() {
    assert_eq!(float_label_spellings(1.0), ["1", "1.0"]);
    assert_eq!(float_label_spellings(0.25), ["0.25"]);
    assert_eq!(float_label_spellings(2.5), ["2.5"]);
    assert_eq!(float_label_spellings(1e6), ["1e+06", "1000000", "1000000.0"]);
    assert_eq!(float_label_spellings(f64::INFINITY), ["+Inf"]);
    assert_eq!(float_label_spellings(1e-5), ["1e-05", "0.00001"]);
}

/// Go's `encoding/json` (`floatEncoder`): 'f' in [1e-6, 1e21), else 'e' with `e-07` cut to `e-7`.
#[test]
#[allow(clippy::excessive_precision)] // -1125877809678695.25 is exact
fn json_floats_follow_go_encoding_json() {
    for (v, want) in [
        (0.0, "0"),
        (-0.0, "-0"),
        (1.5, "1.5"),
        (1e6, "1000000"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (1.5e-7, "1.5e-7"),
        (-1e-7, "-1e-7"),
        (1e-10, "1e-10"),
        (5e-324, "5e-324"),
        (0.000001, "0.000001"),
        (1700000000.123, "1700000000.123"),
        (-1125877809678695.25, "-1125877809678695.2"),
    ] {
        assert_eq!(format_json_float(v), want, "{v:e}");
    }
}

#[test]
fn byte_sinks_get_the_same_text() {
    let mut b = Vec::new();
    write_openmetrics(&mut b, 1e6);
    b.push(b' ');
    write_exposition(&mut b, -0.0);
    assert_eq!(b, b"1e+06 0");
}

/// Go's shortest digits found without ryu: the fewest significant digits whose correctly rounded
/// value (Rust's fixed-precision `{:.p$e}`, exact ties to even as Go) reads back as `v`; at a
/// power of two the decimal one unit above is tried as well, since the interval above is wider.
fn reference_digits(abs: f64) -> (String, i32) {
    let split = |s: &str| {
        let (mant, exp) = s.split_once('e').unwrap();
        (mant.replace('.', ""), exp.parse::<i32>().unwrap())
    };
    for p in 0..17usize {
        let (digits, exp) = split(&format!("{abs:.p$e}"));
        if format!("{digits}e{}", exp - p as i32).parse::<f64>().unwrap() == abs {
            return (digits, exp);
        }
        let up = (digits.parse::<u128>().unwrap() + 1).to_string();
        let (up, up_exp) = if up.len() > digits.len() {
            (up[..digits.len()].to_string(), exp + 1)
        } else {
            (up, exp)
        };
        if format!("{up}e{}", up_exp - p as i32).parse::<f64>().unwrap() == abs {
            return (up, up_exp);
        }
    }
    split(&format!("{abs:.16e}"))
}

/// Go's 'e', 'f' and 'g' layouts from [`reference_digits`], written with string operations.
fn reference(v: f64, fmt: char) -> String {
    let sign = if v.is_sign_negative() { "-" } else { "" };
    let (digits, exp) = reference_digits(v.abs());
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let fmt = match fmt {
        'g' if !(-4..6).contains(&exp) => 'e',
        'g' => 'f',
        f => f,
    };
    if fmt == 'e' {
        let (first, rest) = digits.split_at(1);
        let point = if rest.is_empty() { "" } else { "." };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{point}{rest}e{esign}{:02}", exp.abs());
    }
    let point = exp + 1;
    if point <= 0 {
        format!("{sign}0.{}{digits}", "0".repeat((-point) as usize))
    } else if point as usize >= digits.len() {
        format!("{sign}{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        let (int, frac) = digits.split_at(point as usize);
        format!("{sign}{int}.{frac}")
    }
}

proptest! {
    #[test]
    fn every_float_is_written_as_go_writes_it(bits in any::<u64>()) {
        let v = f64::from_bits(bits);
        prop_assume!(v.is_finite() && v != 0.0);
        prop_assert_eq!(format_e(v), reference(v, 'e'));
        prop_assert_eq!(format_f(v), reference(v, 'f'));
        prop_assert_eq!(format_g(v), reference(v, 'g'));
        let api = if (1e-6..1e21).contains(&v.abs()) { reference(v, 'f') } else { reference(v, 'e') };
        prop_assert_eq!(format_api_value(v), api);
        let n = normalize_float_label(&format_f(v)).into_owned();
        prop_assert_eq!(&n, &format_openmetrics(v));
        prop_assert_eq!(parse_go_float(&n), Some(v));
    }

    #[test]
    fn everyday_values_are_written_as_go_writes_them(i in -1_000_000_000i64..1_000_000_000, scale in -12i32..25) {
        let v = i as f64 * 10f64.powi(scale);
        prop_assume!(v != 0.0);
        prop_assert_eq!(format_g(v), reference(v, 'g'));
        prop_assert_eq!(format_f(v), reference(v, 'f'));
        let api = if (1e-6..1e21).contains(&v.abs()) { reference(v, 'f') } else { reference(v, 'e') };
        prop_assert_eq!(format_api_value(v), api);
    }
}
