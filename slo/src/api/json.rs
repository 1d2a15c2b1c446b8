//! The JSON Prometheus's HTTP API writes, byte for byte.
//!
//! Prometheus encodes its responses with jsoniter in `ConfigCompatibleWithStandardLibrary` mode and
//! its own marshallers for vector and matrix samples (`marshalPointJSON`): timestamps are seconds
//! with the milliseconds written as a three-digit fraction (`1700000000.120`, none when whole),
//! sample values are strings formatted by Go's `strconv.AppendFloat` with `'f'` (or `'e'` outside
//! `[1e-6, 1e21)`). Scalars and strings take Go's plain float formatting instead (checked against
//! Prometheus 2.42: `vector(1)` at 1.5 gives `[1.500,"1"]`, `1` gives `[1.5,"1"]`). Strings
//! escape `<`, `>`, `&`, U+2028 and U+2029 as Go's `encoding/json` does.
//! Writing the bytes here rather than through a generic serializer keeps those details in one place.

use std::fmt::Write as _;

use crate::promql::{Annotations, QueryStats, Value};
use crate::tsdb::{FloatHistogram, Labels};

/// Appends `s` as a JSON string with Go `encoding/json` escaping (HTML-safe).
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends a millisecond timestamp as Prometheus does (`jsonutil.MarshalTimestamp`): whole seconds,
/// then `.` and exactly three digits when the milliseconds are not zero.
pub fn write_timestamp(out: &mut String, t_ms: i64) {
    let abs = t_ms.unsigned_abs();
    if t_ms < 0 {
        out.push('-');
    }
    out.push_str(itoa::Buffer::new().format(abs / 1000));
    let frac = abs % 1000;
    if frac != 0 {
        out.push('.');
        let ms = [
            b'0' + (frac / 100) as u8,
            b'0' + (frac / 10 % 10) as u8,
            b'0' + (frac % 10) as u8,
        ];
        out.push_str(std::str::from_utf8(&ms).unwrap_or("000"));
    }
}

/// A sample value as Prometheus's API writes it (`jsonutil.MarshalFloat`), without the quotes:
/// `NaN`, `+Inf`, `-Inf`, shortest round-trip digits, exponent form below 1e-6 and from 1e21 on
/// (Go's `strconv.AppendFloat(f, 'e', -1, 64)`: `1e-07`, `1.5e+21`).
pub fn format_value(v: f64) -> String {
    burnwatch_gofmt::format_api_value(v)
}

/// Appends [`format_value`]`(v)`: [`burnwatch_gofmt::write_api_value`], written in place (a range
/// query's answer is mostly these numbers).
pub fn write_value(out: &mut String, v: f64) {
    burnwatch_gofmt::write_api_value(out, v);
}

/// Appends `t_ms / 1000` as Go's `encoding/json` writes a float64
/// ([`burnwatch_gofmt::write_json_float`]): shortest round-trip digits, no exponent in the range
/// timestamps can take.
///
/// Not through Rust's `{}`: core's shortest digits break exact ties upwards
/// (`-1125877809678695.25` becomes `…695.3`) where Go, like ryu, rounds them to even (`…695.2`).
pub fn write_float_seconds(out: &mut String, t_ms: i64) {
    burnwatch_gofmt::write_json_float(out, t_ms as f64 / 1000.0);
}

/// A scalar's value as Prometheus writes it: `strconv.FormatFloat(v, 'f', -1, 64)` (`+Inf`,
/// `-Inf`, `NaN`, else shortest digits without exponent, exact ties rounded to even as Go does).
pub fn format_scalar(v: f64) -> String {
    burnwatch_gofmt::format_f(v)
}

fn write_point(out: &mut String, t: i64, v: f64) {
    out.push('[');
    write_timestamp(out, t);
    out.push_str(",\"");
    write_value(out, v);
    out.push_str("\"]");
}

/// Appends `[ts, {"count","sum","buckets"}]` for a native histogram, as Prometheus's API
/// writes it: every bucket with a non-zero count as `[boundary_rule, lower, upper, count]`,
/// where the rule says which bounds are inclusive (0: `(lower, upper]`, 1: `[lower, upper)`,
/// 2: both open, 3: `[lower, upper]`). Positive buckets are upper-inclusive, negative ones
/// lower-inclusive, and the zero bucket is closed on both sides.
fn write_histogram_point(out: &mut String, t: i64, h: &FloatHistogram) {
    out.push('[');
    write_timestamp(out, t);
    out.push_str(",{\"count\":\"");
    out.push_str(&format_value(h.count));
    out.push_str("\",\"sum\":\"");
    out.push_str(&format_value(h.sum));
    out.push('"');
    let buckets: Vec<(u8, f64, f64, f64)> = h
        .all_buckets()
        .into_iter()
        .filter(|&(_, _, count)| count != 0.0)
        .map(|(lo, hi, count)| {
            let zero_bucket = !h.uses_custom_buckets() && lo == -h.zero_threshold && hi == h.zero_threshold;
            let rule = if zero_bucket {
                3
            } else if hi <= 0.0 && !h.uses_custom_buckets() {
                1
            } else {
                0
            };
            (rule, lo, hi, count)
        })
        .collect();
    if !buckets.is_empty() {
        out.push_str(",\"buckets\":[");
        for (i, (rule, lo, hi, count)) in buckets.into_iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('[');
            out.push_str(&rule.to_string());
            for v in [lo, hi, count] {
                out.push_str(",\"");
                out.push_str(&format_value(v));
                out.push('"');
            }
            out.push(']');
        }
        out.push(']');
    }
    out.push_str("}]");
}

/// Appends a label set as a JSON object, labels in their sorted order.
pub fn write_labels(out: &mut String, labels: &Labels) {
    out.push('{');
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, &l.name);
        out.push(':');
        write_str(out, &l.value);
    }
    out.push('}');
}

/// Appends a JSON array of strings.
pub fn write_str_array(out: &mut String, items: &[String]) {
    out.push('[');
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, s);
    }
    out.push(']');
}

/// Appends `{"resultType":...,"result":...}` for a query value.
pub fn write_query_data(out: &mut String, value: &Value) {
    out.push_str("{\"resultType\":\"");
    out.push_str(value.type_name());
    out.push_str("\",\"result\":");
    match value {
        // Scalars and strings go through Go's `encoding/json` in Prometheus (`promql.Scalar` and
        // `promql.String` implement `MarshalJSON`), not the sample marshallers: the time is the
        // float `t / 1000` in shortest form (`1.5`, not `1.500`) and a scalar's value is
        // `FormatFloat(v, 'f', -1, 64)`, never in exponent form.
        Value::Scalar { t, v } => {
            out.push('[');
            write_float_seconds(out, *t);
            out.push_str(",\"");
            out.push_str(&format_scalar(*v));
            out.push_str("\"]");
        }
        Value::String { t, s } => {
            out.push('[');
            write_float_seconds(out, *t);
            out.push(',');
            write_str(out, s);
            out.push(']');
        }
        Value::Vector(vec) => {
            out.push('[');
            for (i, s) in vec.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                write_labels(out, &s.labels);
                match &s.h {
                    Some(h) => {
                        out.push_str(",\"histogram\":");
                        write_histogram_point(out, s.t, h);
                    }
                    None => {
                        out.push_str(",\"value\":");
                        write_point(out, s.t, s.v);
                    }
                }
                out.push('}');
            }
            out.push(']');
        }
        Value::Matrix(m) => {
            out.push('[');
            for (i, s) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                write_labels(out, &s.labels);
                // Prometheus writes each key only when the series has points of that kind.
                if !s.samples.is_empty() || s.histograms.is_empty() {
                    out.push_str(",\"values\":[");
                    for (j, p) in s.samples.iter().enumerate() {
                        if j > 0 {
                            out.push(',');
                        }
                        write_point(out, p.t, p.v);
                    }
                    out.push(']');
                }
                if !s.histograms.is_empty() {
                    out.push_str(",\"histograms\":[");
                    for (j, p) in s.histograms.iter().enumerate() {
                        if j > 0 {
                            out.push(',');
                        }
                        write_histogram_point(out, p.t, &p.h);
                    }
                    out.push(']');
                }
                out.push('}');
            }
            out.push(']');
        }
    }
    out.push('}');
}

/// Appends the `"warnings"` and `"infos"` members (each only when non-empty), with leading commas.
fn write_annotations(out: &mut String, warnings: &[String], infos: &[String]) {
    if !warnings.is_empty() {
        out.push_str(",\"warnings\":");
        write_str_array(out, warnings);
    }
    if !infos.is_empty() {
        out.push_str(",\"infos\":");
        write_str_array(out, infos);
    }
}

/// A whole success response around already-encoded `data`:
/// `{"status":"success","data":...,"warnings":[...],"infos":[...]}`.
pub fn success(data: &str, warnings: &[String], infos: &[String]) -> String {
    let mut out = String::with_capacity(data.len() + 32);
    out.push_str("{\"status\":\"success\",\"data\":");
    out.push_str(data);
    write_annotations(&mut out, warnings, infos);
    out.push('}');
    out
}

/// The success response of a query.
pub fn query_success(value: &Value, annotations: &Annotations) -> String {
    let mut data = String::new();
    write_query_data(&mut data, value);
    success(&data, &annotations.warnings, &annotations.infos)
}

/// The success response of a query with its `stats` member when asked for (`Some((stats,
/// per_step))`), after `result` as Prometheus's `queryData` has it.
pub fn query_success_with_stats(
    value: &Value,
    annotations: &Annotations,
    stats: Option<(&QueryStats, bool)>,
) -> String {
    let mut data = String::new();
    write_query_data(&mut data, value);
    if let Some((stats, per_step)) = stats {
        data.pop(); // the closing brace
        data.push_str(",\"stats\":");
        write_stats(&mut data, stats, per_step);
        data.push('}');
    }
    success(&data, &annotations.warnings, &annotations.infos)
}

/// Appends Prometheus's `stats.BuiltinStats` as its API writes it: the timings in float seconds
/// in the order of Go's struct, then the sample counts, with `totalQueryableSamplesPerStep` (as
/// `[seconds, count]` pairs) first and only when `per_step` (`stats=all`).
pub fn write_stats(out: &mut String, stats: &QueryStats, per_step: bool) {
    let t = &stats.timings;
    let timings = [
        ("evalTotalTime", t.eval_total),
        ("resultSortTime", t.result_sort),
        ("queryPreparationTime", t.query_preparation),
        ("innerEvalTime", t.inner_eval),
        ("execQueueTime", t.exec_queue),
        ("execTotalTime", t.exec_total),
    ];
    out.push_str("{\"timings\":{");
    for (i, (name, d)) in timings.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, name);
        out.push(':');
        burnwatch_gofmt::write_json_float(out, d.as_secs_f64());
    }
    out.push_str("},\"samples\":{");
    if per_step && !stats.samples.per_step.is_empty() {
        out.push_str("\"totalQueryableSamplesPerStep\":[");
        for (i, (t, n)) in stats.per_step().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('[');
            write_float_seconds(out, t);
            out.push(',');
            out.push_str(itoa::Buffer::new().format(n));
            out.push(']');
        }
        out.push_str("],");
    }
    out.push_str("\"totalQueryableSamples\":");
    out.push_str(itoa::Buffer::new().format(stats.samples.total));
    out.push_str(",\"peakSamples\":");
    out.push_str(itoa::Buffer::new().format(stats.samples.peak));
    out.push_str("}}");
}

/// An error response: `{"status":"error","errorType":...,"error":...}` (and warnings/infos).
pub fn error(error_type: &str, message: &str, warnings: &[String], infos: &[String]) -> String {
    let mut out = String::from("{\"status\":\"error\",\"errorType\":");
    write_str(&mut out, error_type);
    out.push_str(",\"error\":");
    write_str(&mut out, message);
    write_annotations(&mut out, warnings, infos);
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::promql::InstantSample;
    use crate::tsdb::HSample;
    use proptest::prelude::*;

    // Every float against an exact reference is burnwatch-gofmt's property test; here the API's
    // writer is pinned to what Prometheus 2.42 answered.

    proptest! {
        #[test]
        fn timestamps_read_back_as_the_seconds_they_stand_for(t in -1_000_000_000_000_000i64..1_000_000_000_000_000) {
            let mut s = String::new();
            write_timestamp(&mut s, t);
            prop_assert_eq!(s.parse::<f64>().unwrap(), t as f64 / 1000.0);
        }
    }

    #[test]
    fn edge_values_are_written_as_go_writes_them() {
        for (v, go) in [
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (-1.0, "-1"),
            (0.1, "0.1"),
            (1e-6, "0.000001"),
            (9.99e-7, "9.99e-07"),
            (1e21, "1e+21"),
            (9.99e20, "999000000000000000000"),
            (1e15, "1000000000000000"),
            (1e15 + 1.0, "1000000000000001"),
            (123456789.125, "123456789.125"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (0.30000000000000004, "0.30000000000000004"),
            (1e-7, "1e-07"),
            (1.5e21, "1.5e+21"),
        ] {
            assert_eq!(format_value(v), go, "{v:?}");
        }
    }

    /// Issue #12: the property test failed on `bits = 14055734260246006586` because its reference
    /// then (Rust's `{}`) rounded exact ties up. The value is exactly `-1125877809678695.25`; Prometheus
    /// 2.42 (Go's `strconv`) answers `vector(-1125877809678695.25)` and the scalar with
    /// `-1125877809678695.2`, as do the other ties below (each observed from Prometheus 2.42).
    #[test]
    fn exact_ties_round_to_even_as_go_does() {
        for (bits, go) in [
            (14055734260246006586u64, "-1125877809678695.2"),
            (4834491627661525961, "1658206780088562.2"),
            (14055149079845403690, "-1052730259603333.2"),
            (4828658692683664714, "662936471232937.2"),
            (14054273146765766554, "-943238624648691.2"),
            (4821807710155533700, "233115890514796.12"),
            (14041351570251564584, "-127111427579672.62"),
        ] {
            let v = f64::from_bits(bits);
            assert_eq!(format_value(v), go, "{bits}");
            assert_eq!(format_scalar(v), go, "scalar {bits}");
        }
        // Powers of two, where the interval below is half as wide as the one above: Go still
        // finds 16 digits (Prometheus 2.42 on `vector(2^-1017)` and the others).
        for (k, go) in [
            (-1017, "7.120236347223045e-307"),
            (-1007, "7.291122019556398e-304"),
            (-957, "8.209073602596753e-289"),
            (-808, "5.858190679279809e-244"),
        ] {
            let v = 2f64.powi(k);
            assert_eq!(format_value(v), go, "2^{k}");
        }
        let mut out = String::new();
        write_query_data(
            &mut out,
            &Value::Scalar {
                t: 1_000,
                v: f64::from_bits(14055734260246006586),
            },
        );
        assert_eq!(
            out,
            r#"{"resultType":"scalar","result":[1,"-1125877809678695.2"]}"#
        );
    }

    fn histogram() -> FloatHistogram {
        FloatHistogram {
            schema: 0,
            zero_threshold: 0.001,
            zero_count: 1.0,
            count: 6.0,
            sum: 7.5,
            positive: vec![(1, 2.0), (2, 0.0), (3, 1.0)],
            negative: vec![(1, 2.0)],
            ..Default::default()
        }
    }

    #[test]
    fn native_histogram_samples_are_written_as_prometheus_does() {
        let labels = Labels::from_pairs([("__name__", "latency")]);
        let vector = Value::Vector(vec![InstantSample {
            labels: labels.clone(),
            t: 1_500,
            v: 0.0,
            h: Some(Arc::new(histogram())),
            drop_name: false,
        }]);
        let mut out = String::new();
        write_query_data(&mut out, &vector);
        assert_eq!(
            out,
            r#"{"resultType":"vector","result":[{"metric":{"__name__":"latency"},"histogram":[1.500,{"count":"6","sum":"7.5","buckets":[[1,"-2","-1","2"],[3,"-0.001","0.001","1"],[0,"1","2","2"],[0,"4","8","1"]]}]}]}"#
        );

        let matrix = Value::Matrix(vec![crate::promql::RangeSeries {
            labels,
            samples: Default::default(),
            histograms: vec![HSample {
                t: 2_000,
                h: Arc::new(histogram()),
            }],
            drop_name: false,
        }]);
        let mut out = String::new();
        write_query_data(&mut out, &matrix);
        assert!(out.contains(r#""histograms":[[2,{"count":"6""#), "{out}");
        assert!(
            !out.contains(r#""values""#),
            "a histogram-only series has no values key: {out}"
        );
    }
}
