//! Tests of the ingest paths: the text parser, file import, remote write and scraping.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::remote_write::{self, Label, Sample as PbSample, TimeSeries, WriteRequest};
use super::scrape::PromDuration;
use super::text::{self, ParsedSample};
use super::*;
use crate::shared::{SharedStorage, new_shared};
use crate::tsdb::{Labels, Matcher, Queryable, Sample, Storage, is_stale_nan};

// ---------------------------------------------------------------------------------------------
// helpers

fn parse_all(text: &str, format: Format) -> Result<Vec<ParsedSample>, ParseError> {
    let mut out = Vec::new();
    text::parse(text, format, |s| out.push(s))?;
    Ok(out)
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

/// All samples of the series with exactly `l`.
fn samples_of(store: &Storage, l: &Labels) -> Vec<Sample> {
    let matchers: Vec<Matcher> = l.iter().map(|p| Matcher::equal(&p.name, &p.value)).collect();
    store
        .select(&matchers, i64::MIN, i64::MAX)
        .into_iter()
        .find(|s| &s.labels == l)
        .map(|s| s.samples)
        .unwrap_or_default()
}

/// Every series whose metric name is `name`.
fn series_named(store: &Storage, name: &str) -> Vec<crate::tsdb::SeriesData> {
    store.select(&[Matcher::equal("__name__", name)], i64::MIN, i64::MAX)
}

// ---------------------------------------------------------------------------------------------
// the parser

#[test]
fn prometheus_text_with_comments_escapes_and_millisecond_timestamps() {
    let body = "# HELP http_requests_total Requests, with a \\\\ and a \\n.\n\
                # TYPE http_requests_total counter\n\
                # just a comment\n\
                \n\
                http_requests_total{method=\"post\",path=\"/a \\\"b\\\" \\\\ c\\nd\"} 1027 1395066363000\n\
                http_requests_total { method = \"get\" , } 3\t1395066363001\n\
                metric_without_labels 12.47\n\
                weird{path=\"C:\\\\dir\\x\"} -1e3\n";
    let got = parse_all(body, Format::Prometheus).unwrap();
    assert_eq!(got.len(), 4);
    assert_eq!(
        got[0].labels,
        labels(&[
            ("__name__", "http_requests_total"),
            ("method", "post"),
            ("path", "/a \"b\" \\ c\nd")
        ])
    );
    assert_eq!(got[0].value, 1027.0);
    assert_eq!(got[0].timestamp_ms, Some(1_395_066_363_000));
    assert_eq!(got[0].line, 5);
    assert_eq!(
        got[1].labels,
        labels(&[("__name__", "http_requests_total"), ("method", "get")])
    );
    assert_eq!(got[1].timestamp_ms, Some(1_395_066_363_001));
    assert_eq!(got[2].labels, labels(&[("__name__", "metric_without_labels")]));
    assert_eq!(got[2].timestamp_ms, None);
    // Unknown escapes are kept as written, as Prometheus's parser does.
    assert_eq!(got[3].labels.get("path"), Some("C:\\dir\\x"));
    assert_eq!(got[3].value, -1000.0);
}

#[test]
fn openmetrics_with_seconds_timestamps_units_exemplars_and_created() {
    let body = "# TYPE acme_http_router_request_seconds summary\n\
                # UNIT acme_http_router_request_seconds seconds\n\
                # HELP acme_http_router_request_seconds Latency though all of ACME's HTTP request router.\n\
                acme_http_router_request_seconds_sum{path=\"/api/v1\",method=\"GET\"} 9036.32 1520879607.789\n\
                acme_http_router_request_seconds_count{path=\"/api/v1\",method=\"GET\"} 807283.0 1520879607.789\n\
                acme_http_router_request_seconds_created{path=\"/api/v1\",method=\"GET\"} 1605281325.0 1520879607.789\n\
                # TYPE foo counter\n\
                foo_total 17.0 1520879607.789 # {trace_id=\"KOO5S4vxi0o\"} 0.67 1520879602.171\n\
                foo_created 1520430000.123 1520879607.789\n\
                # EOF\n";
    assert_eq!(Format::detect(body), Format::OpenMetrics);
    let got = parse_all(body, Format::OpenMetrics).unwrap();
    assert_eq!(got.len(), 5);
    assert_eq!(got[0].timestamp_ms, Some(1_520_879_607_789));
    assert_eq!(got[0].value, 9036.32);
    assert_eq!(got[3].labels, labels(&[("__name__", "foo_total")]));
    assert_eq!(got[3].value, 17.0);
    assert_eq!(got[4].labels.metric_name(), Some("foo_created"));
    // Without "# EOF" the same text is read as the Prometheus format.
    assert_eq!(Format::detect("foo 1 2\n"), Format::Prometheus);
}

#[test]
fn special_float_values() {
    let got = parse_all(
        "a NaN\nb +Inf\nc -Inf\nd Inf\ne 1.5e-3\nf .5\n",
        Format::Prometheus,
    )
    .unwrap();
    assert!(got[0].value.is_nan() && !is_stale_nan(got[0].value));
    assert_eq!(got[1].value, f64::INFINITY);
    assert_eq!(got[2].value, f64::NEG_INFINITY);
    assert_eq!(got[3].value, f64::INFINITY);
    assert_eq!(got[4].value, 0.0015);
    assert_eq!(got[5].value, 0.5);
}

#[test]
fn le_and_quantile_labels_are_normalised_like_prometheus_3() {
    let body = "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"0.25\"} 0\nh_bucket{le=\"+Inf\"} 2\n\
                # TYPE s summary\ns{quantile=\"1\"} 3\n# TYPE g gauge\ng{le=\"1\"} 4\n";
    let got = parse_all(body, Format::Prometheus).unwrap();
    assert_eq!(got[0].labels.get("le"), Some("1.0"));
    assert_eq!(got[1].labels.get("le"), Some("0.25"));
    assert_eq!(got[2].labels.get("le"), Some("+Inf"));
    assert_eq!(got[3].labels.get("quantile"), Some("1.0"));
    // Only histogram buckets and summary quantiles are touched.
    assert_eq!(got[4].labels.get("le"), Some("1"));
    assert_eq!(text::format_openmetrics_float(1e21), "1e+21");
    assert_eq!(text::format_openmetrics_float(0.00001), "1e-05");
    assert_eq!(text::format_openmetrics_float(100.0), "100.0");
}

/// Issue #12: a bucket at one million was stored `le="1000000.0"` (exponent form only from 1e21);
/// Prometheus 3 stores `le="1e+06"`, Go's `%g` switching at 1e6.
#[test]
fn a_bucket_at_one_million_is_stored_as_prometheus_3_stores_it() {
    let body = "# TYPE h histogram\nh_bucket{le=\"1000000\"} 1\nh_bucket{le=\"1e6\"} 1\n\
                h_bucket{le=\"100000\"} 0\nh_bucket{le=\"0.00001\"} 0\n";
    let got = parse_all(body, Format::Prometheus).unwrap();
    let les: Vec<_> = got.iter().map(|s| s.labels.get("le").unwrap()).collect();
    assert_eq!(les, ["1e+06", "1e+06", "100000.0", "1e-05"]);
}

#[test]
fn quoted_utf8_metric_and_label_names() {
    let got = parse_all(
        "{\"my.metric\", \"label.with.dots\"=\"v\"} 1\n",
        Format::Prometheus,
    )
    .unwrap();
    assert_eq!(
        got[0].labels,
        labels(&[("__name__", "my.metric"), ("label.with.dots", "v")])
    );
}

#[test]
fn content_type_selects_the_format() {
    assert_eq!(
        Format::from_content_type("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        Format::OpenMetrics
    );
    assert_eq!(
        Format::from_content_type("text/plain; version=0.0.4"),
        Format::Prometheus
    );
    assert_eq!(Format::from_content_type(""), Format::Prometheus);
}

/// Every error kind, with the line and column it is reported at.
#[test]
fn every_parse_error_names_line_column_and_reason() {
    use ParseErrorKind as K;
    type Check = fn(&ParseErrorKind) -> bool;
    let p = Format::Prometheus;
    let om = Format::OpenMetrics;
    let cases: Vec<(Format, &str, usize, usize, Check)> = vec![
        (p, "ok 1\n9bad 1\n", 2, 1, |k| {
            matches!(k, K::ExpectedMetricName { .. })
        }),
        (p, "m{1a=\"x\"} 1\n", 1, 3, |k| {
            matches!(k, K::ExpectedLabelName { .. })
        }),
        (
            p,
            "m{a \"x\"} 1\n",
            1,
            5,
            |k| matches!(k, K::ExpectedEquals { name, .. } if name == "a"),
        ),
        (
            p,
            "m{a=x} 1\n",
            1,
            5,
            |k| matches!(k, K::ExpectedLabelValue { name, .. } if name == "a"),
        ),
        (p, "m{a=\"x} 1\n", 1, 5, |k| matches!(k, K::UnterminatedString)),
        (p, "m{a=\"x\" b=\"y\"} 1\n", 1, 9, |k| {
            matches!(k, K::ExpectedCommaOrBrace { .. })
        }),
        (
            p,
            "m{a=\"x\",a=\"y\"} 1\n",
            1,
            9,
            |k| matches!(k, K::DuplicateLabel { name } if name == "a"),
        ),
        (p, "{a=\"x\"} 1\n", 1, 1, |k| matches!(k, K::MissingMetricName)),
        (p, "{\"m\",\"n\"} 1\n", 1, 6, |k| {
            matches!(k, K::DuplicateMetricName)
        }),
        (p, "m{a=\"x\"}\n", 1, 9, |k| matches!(k, K::MissingValue)),
        (
            p,
            "m abc\n",
            1,
            3,
            |k| matches!(k, K::InvalidValue { value } if value == "abc"),
        ),
        (p, "m 0x10\n", 1, 3, |k| matches!(k, K::InvalidValue { .. })),
        (p, "m 1 1.5\n", 1, 5, |k| matches!(k, K::InvalidTimestamp { .. })),
        (p, "m 1 2 3\n", 1, 7, |k| matches!(k, K::TrailingData { .. })),
        (p, "# TYPE\n", 1, 7, |k| {
            matches!(k, K::InvalidMetadata { keyword: "TYPE", .. })
        }),
        (p, "# TYPE m\n", 1, 9, |k| {
            matches!(k, K::InvalidMetadata { keyword: "TYPE", .. })
        }),
        (p, "# TYPE m gaugehistogram\n", 1, 10, |k| {
            matches!(k, K::UnknownType { .. })
        }),
        (
            om,
            "# TYPE m counter\nm_total 1 1 # {a=\"b\"} x\n# EOF\n",
            2,
            24,
            |k| matches!(k, K::InvalidExemplar { .. }),
        ),
        (om, "# UNIT m_bytes seconds\n# EOF\n", 1, 8, |k| {
            matches!(k, K::UnitNotSuffix { .. })
        }),
        (om, "m 1\n# random comment\n# EOF\n", 2, 1, |k| {
            matches!(k, K::InvalidComment { .. })
        }),
        (om, "m 1\n\n# EOF\n", 2, 1, |k| matches!(k, K::BlankLine)),
        (om, "m 1\nn 2\n", 2, 4, |k| matches!(k, K::MissingEof)),
        (om, "m 1\n# EOF\nn 2\n", 3, 1, |k| matches!(k, K::DataAfterEof)),
        (om, "m 1 NaN\n# EOF\n", 1, 5, |k| {
            matches!(k, K::InvalidTimestamp { .. })
        }),
        (om, "# TYPE m untyped\n# EOF\n", 1, 10, |k| {
            matches!(k, K::UnknownType { .. })
        }),
        (p, "m 1 # {a=\"b\"} 1\n", 1, 5, |k| {
            matches!(k, K::TrailingData { .. })
        }),
    ];
    for (format, body, line, column, check) in cases {
        let err = parse_all(body, format).expect_err(body);
        assert_eq!((err.line, err.column), (line, column), "{body:?}: {err}");
        assert!(check(&err.kind), "{body:?}: unexpected {err}");
        assert!(
            err.to_string()
                .starts_with(&format!("line {line}, column {column}: ")),
            "{err}"
        );
    }
    // Invalid UTF-8 is reported at its byte.
    let err = text::parse_bytes(b"ok 1\nm{a=\"\xff\"} 1\n", p, |_| {}).unwrap_err();
    assert_eq!((err.line, err.column, err.kind), (2, 6, K::InvalidUtf8));
}

// ---------------------------------------------------------------------------------------------
// import

const IMPORT_OM: &str = "# HELP http_requests Requests.\n\
# TYPE http_requests counter\n\
http_requests_total{code=\"200\",path=\"/a b\\\"q\\\\\"} 12 1700000015\n\
http_requests_total{code=\"500\"} 1 1700000000\n\
http_requests_total{code=\"200\",path=\"/a b\\\"q\\\\\"} 10 1700000000.5\n\
http_requests_total{code=\"500\"} 3 1700000015\n\
# TYPE lat histogram\n\
lat_bucket{le=\"0.5\"} 1 1700000000\n\
lat_bucket{le=\"+Inf\"} 2 1700000000\n\
lat_sum 1.5 1700000000\n\
lat_count 2 1700000000\n\
# TYPE g gauge\n\
g NaN 1700000000.001\n\
g +Inf 1700000015\n\
g -Inf 1700000030\n\
# EOF\n";

#[test]
fn import_openmetrics_sorts_interleaved_samples_and_is_queryable() {
    let mut store = Storage::new();
    let stats = import_text(&mut store, IMPORT_OM).unwrap();
    assert_eq!(stats.format, Format::OpenMetrics);
    assert_eq!((stats.samples, stats.series), (11, 7));
    assert_eq!(stats.min_t, Some(1_700_000_000_000));
    assert_eq!(stats.max_t, Some(1_700_000_030_000));
    let ok = labels(&[
        ("__name__", "http_requests_total"),
        ("code", "200"),
        ("path", "/a b\"q\\"),
    ]);
    assert_eq!(
        samples_of(&store, &ok),
        vec![
            Sample {
                t: 1_700_000_000_500,
                v: 10.0
            },
            Sample {
                t: 1_700_000_015_000,
                v: 12.0
            }
        ]
    );
    let g = samples_of(&store, &labels(&[("__name__", "g")]));
    assert_eq!(g.len(), 3);
    assert!(g[0].v.is_nan() && g[0].t == 1_700_000_000_001);
    assert_eq!((g[1].v, g[2].v), (f64::INFINITY, f64::NEG_INFINITY));
    assert_eq!(series_named(&store, "lat_bucket").len(), 2);
}

#[test]
fn import_prometheus_text_uses_millisecond_timestamps() {
    let mut store = Storage::new();
    let stats = import_text(
        &mut store,
        "# TYPE up gauge\nup{job=\"a\"} 1 1000\nup{job=\"a\"} 0 2000\n",
    )
    .unwrap();
    assert_eq!(stats.format, Format::Prometheus);
    let up = samples_of(&store, &labels(&[("__name__", "up"), ("job", "a")]));
    assert_eq!(up, vec![Sample { t: 1000, v: 1.0 }, Sample { t: 2000, v: 0.0 }]);
}

#[test]
fn import_stops_at_a_bad_line_and_keeps_the_lines_before_it() {
    let mut store = Storage::new();
    store.append(&labels(&[("__name__", "old")]), 5, 1.0).unwrap();
    let err = import_text(&mut store, "a 1 1000\nb 2 1000\nc{x=} 3 1000\nd 4 1000\n").unwrap_err();
    let IngestError::Parse { source, kept } = &err else {
        panic!("{err}")
    };
    assert_eq!((source.line, source.column, kept), (3, 5, &2));
    assert!(err.to_string().contains("line 3, column 5"), "{err}");
    assert_eq!(store.num_series(), 3, "old, a and b");
    assert!(samples_of(&store, &labels(&[("__name__", "d")])).is_empty());
    assert_eq!(samples_of(&store, &labels(&[("__name__", "old")])).len(), 1);
}

#[test]
fn import_refuses_samples_without_timestamps() {
    let mut store = Storage::new();
    let err = import_text(&mut store, "a 1 1\nb 2\n# EOF\n").unwrap_err();
    let IngestError::Parse { source, kept } = &err else {
        panic!("{err}")
    };
    assert_eq!((source.line, source.column, *kept), (2, 4, 1));
    assert!(matches!(&source.kind, ParseErrorKind::MissingTimestamp { series } if series.contains("\"b\"")));
    assert!(err.to_string().contains("no timestamp"), "{err}");
}

#[test]
fn import_reports_samples_older_than_the_store_and_keeps_the_rest() {
    let mut store = Storage::new();
    import_text(&mut store, "a 1 5000\n").unwrap();
    let err = import_text(&mut store, "b 1 1000\na 2 1000\na 3 6000\n").unwrap_err();
    let IngestError::Rejected {
        rejected,
        line,
        appended,
        ..
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!((*rejected, *line, *appended), (1, 2, 2));
    assert_eq!(samples_of(&store, &labels(&[("__name__", "a")])).len(), 2);
    assert_eq!(samples_of(&store, &labels(&[("__name__", "b")])).len(), 1);
}

/// The same file through `promtool tsdb create-blocks-from openmetrics` and through
/// [`import_text`]: promtool accepts it, and `promtool tsdb dump` lists exactly the samples we
/// stored.
#[test]
fn import_agrees_with_promtool_create_blocks_from_openmetrics() {
    let promtool = std::path::Path::new("/usr/bin/promtool");
    if !promtool.exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "promtool is required under CI=true (apt-get install prometheus)"
        );
        eprintln!("SKIPPED import_agrees_with_promtool: install promtool (apt-get install prometheus)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.om");
    let out = dir.path().join("blocks");
    // promtool 2.42 silently drops a sample that is older than the one before it in its series
    // (the interleaved file above loses `10 @ 1700000000.5`), so it gets the series in time order.
    let mut lines: Vec<&str> = IMPORT_OM.lines().collect();
    let later = lines.iter().position(|l| l.ends_with("} 12 1700000015")).unwrap();
    let moved = lines.remove(later);
    let earlier = lines
        .iter()
        .position(|l| l.ends_with("} 10 1700000000.5"))
        .unwrap();
    lines.insert(earlier + 1, moved);
    let sorted = lines.join("\n") + "\n";
    assert_ne!(sorted, IMPORT_OM);
    std::fs::write(&input, &sorted).unwrap();
    let run = std::process::Command::new(promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&input)
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "promtool refused the file: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    // promtool 2.42's dump opens the directory as a DB and wants a WAL directory.
    std::fs::create_dir_all(out.join("wal")).unwrap();
    let dump = std::process::Command::new(promtool)
        .args(["tsdb", "dump"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(dump.status.success(), "{}", String::from_utf8_lossy(&dump.stderr));
    let mut theirs: Vec<(String, u64, i64)> = String::from_utf8(dump.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (series, rest) = l.rsplit_once("} ").unwrap();
            let (v, t) = rest.split_once(' ').unwrap();
            let v = text::parse_go_float(v).unwrap();
            (format!("{series}}}"), canonical_bits(v), t.parse().unwrap())
        })
        .collect();
    let mut store = Storage::new();
    import_text(&mut store, IMPORT_OM).unwrap();
    let mut ours: Vec<(String, u64, i64)> = store
        .select(&[Matcher::regex("__name__", ".+").unwrap()], i64::MIN, i64::MAX)
        .into_iter()
        .flat_map(|s| {
            let name = s.labels.to_string();
            s.samples
                .into_iter()
                .map(move |x| (name.clone(), canonical_bits(x.v), x.t))
        })
        .collect();
    theirs.sort();
    ours.sort();
    assert_eq!(ours, theirs);
}

fn canonical_bits(v: f64) -> u64 {
    if v.is_nan() {
        f64::NAN.to_bits()
    } else {
        v.to_bits()
    }
}

// ---------------------------------------------------------------------------------------------
// remote write

fn ts(pairs: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
    TimeSeries {
        histograms: Vec::new(),
        labels: pairs
            .iter()
            .map(|(n, v)| Label {
                name: n.to_string(),
                value: v.to_string(),
            })
            .collect(),
        samples: samples
            .iter()
            .map(|(t, v)| PbSample {
                value: *v,
                timestamp: *t,
            })
            .collect(),
        ..Default::default()
    }
}

#[test]
fn remote_write_round_trip() {
    let req = WriteRequest {
        timeseries: vec![
            ts(
                &[("__name__", "http_requests_total"), ("job", "api")],
                &[(1000, 1.0), (2000, 2.5)],
            ),
            ts(&[("job", "api"), ("__name__", "up")], &[(1000, 1.0)]),
            ts(
                &[("__name__", "nan_and_inf")],
                &[(1000, f64::NAN), (2000, f64::INFINITY)],
            ),
        ],
        ..Default::default()
    };
    let body = remote_write::encode_write_request(&req);
    let mut store = Storage::new();
    let stats = append_remote_write(&mut store, &body).unwrap();
    assert_eq!(
        stats,
        WriteStats {
            series: 3,
            samples: 5,
            histograms: 0,
            invalid_series: 0,
            refused: 0,
            exemplars_refused: 0
        }
    );
    assert_eq!(
        samples_of(
            &store,
            &labels(&[("__name__", "http_requests_total"), ("job", "api")])
        ),
        vec![Sample { t: 1000, v: 1.0 }, Sample { t: 2000, v: 2.5 }]
    );
    let odd = samples_of(&store, &labels(&[("__name__", "nan_and_inf")]));
    assert!(odd[0].v.is_nan() && odd[1].v == f64::INFINITY);
    // Sending the same request again is refused as out of order (as by Prometheus, whose TSDB
    // takes a sample equal to the newest one but nothing older), and nothing is lost.
    let err = append_remote_write(&mut store, &body).unwrap_err();
    assert!(matches!(err, IngestError::OutOfOrder { count: 2, .. }), "{err}");
    assert_eq!(store.num_samples(), 5);
    // Re-sending only the newest samples is accepted: exact duplicates of the newest sample.
    let newest = WriteRequest {
        timeseries: vec![ts(&[("__name__", "up"), ("job", "api")], &[(1000, 1.0)])],
        ..Default::default()
    };
    append_remote_write(&mut store, &remote_write::encode_write_request(&newest)).unwrap();
    assert_eq!(store.num_samples(), 5);
}

#[test]
fn remote_write_skips_series_with_invalid_labels() {
    let req = WriteRequest {
        timeseries: vec![
            ts(&[("job", "no-name")], &[(1000, 1.0)]),
            ts(&[("__name__", "dup"), ("a", "1"), ("a", "2")], &[(1000, 1.0)]),
            ts(&[("__name__", "good")], &[(1000, 1.0)]),
        ],
        ..Default::default()
    };
    let mut store = Storage::new();
    let stats = append_remote_write(&mut store, &remote_write::encode_write_request(&req)).unwrap();
    assert_eq!(
        stats,
        WriteStats {
            series: 1,
            samples: 1,
            histograms: 0,
            invalid_series: 2,
            refused: 0,
            exemplars_refused: 0
        }
    );
    assert_eq!(store.num_series(), 1);
}

#[test]
fn remote_write_out_of_order_refuses_the_whole_request_like_prometheus() {
    let mut store = Storage::new();
    let first = WriteRequest {
        timeseries: vec![ts(&[("__name__", "a")], &[(5000, 1.0)])],
        ..Default::default()
    };
    append_remote_write(&mut store, &remote_write::encode_write_request(&first)).unwrap();
    let second = WriteRequest {
        timeseries: vec![
            ts(&[("__name__", "b")], &[(1000, 1.0)]),
            ts(&[("__name__", "a")], &[(4000, 2.0), (6000, 3.0)]),
            ts(&[("__name__", "c")], &[(2000, 1.0), (1000, 1.0)]),
            ts(&[("__name__", "a")], &[(5000, 9.0)]),
        ],
        ..Default::default()
    };
    let err = append_remote_write(&mut store, &remote_write::encode_write_request(&second)).unwrap_err();
    let IngestError::OutOfOrder { count, first } = &err else {
        panic!("{err}")
    };
    assert_eq!(
        *count, 3,
        "a@4000, c@1000, a@5000 (a already at 6000 in the request)"
    );
    assert!(first.to_string().contains("4000"), "{first}");
    assert!(
        err.to_string().contains("nothing from this request was stored"),
        "{err}"
    );
    assert_eq!(
        store.num_samples(),
        1,
        "nothing from the refused request is stored"
    );
    assert_eq!(store.num_series(), 1);
}

#[test]
fn remote_write_native_histograms_integer_and_float() {
    use remote_write::{BucketSpan, Histogram, histogram};
    // Integer histogram: buckets 0,1 (deltas 2, +1 -> 2, 3), gap of 2, bucket 4 (delta -2 -> 1).
    let int_h = Histogram {
        count: Some(histogram::Count::CountInt(7)),
        sum: 12.5,
        schema: 0,
        zero_threshold: 1e-128,
        zero_count: Some(histogram::ZeroCount::ZeroCountInt(1)),
        positive_spans: vec![
            BucketSpan { offset: 0, length: 2 },
            BucketSpan { offset: 2, length: 1 },
        ],
        positive_deltas: vec![2, 1, -2],
        negative_spans: vec![BucketSpan {
            offset: -1,
            length: 1,
        }],
        negative_deltas: vec![0],
        reset_hint: 2,
        timestamp: 1000,
        ..Default::default()
    };
    let float_h = Histogram {
        count: Some(histogram::Count::CountFloat(2.5)),
        sum: 1.0,
        schema: 3,
        positive_spans: vec![BucketSpan { offset: 5, length: 2 }],
        positive_counts: vec![1.5, 1.0],
        timestamp: 2000,
        ..Default::default()
    };
    let mut series = ts(&[("__name__", "latency")], &[]);
    series.histograms = vec![int_h.clone(), float_h];
    let mut store = Storage::new();
    let stats = append_remote_write(
        &mut store,
        &remote_write::encode_write_request(&WriteRequest {
            timeseries: vec![series],
            ..Default::default()
        }),
    )
    .unwrap();
    assert_eq!((stats.series, stats.histograms, stats.samples), (1, 2, 0));
    let got = store.select_all(&[Matcher::equal("__name__", "latency")], 0, i64::MAX);
    let hs = &got[0].histograms;
    assert_eq!(hs.len(), 2);
    let h0 = &hs[0].h;
    assert_eq!((h0.count, h0.sum, h0.zero_count, h0.schema), (7.0, 12.5, 1.0, 0));
    assert_eq!(h0.positive, vec![(0, 2.0), (1, 3.0), (4, 1.0)]);
    assert_eq!(h0.negative, vec![(-1, 0.0)]);
    assert_eq!(
        h0.counter_reset_hint,
        crate::tsdb::CounterResetHint::NotCounterReset
    );
    assert_eq!(hs[1].h.positive, vec![(5, 1.5), (6, 1.0)]);

    // A float sample older than the stored histogram is out of order; nothing is stored.
    let late = WriteRequest {
        timeseries: vec![ts(&[("__name__", "latency")], &[(1500, 1.0)])],
        ..Default::default()
    };
    let err = append_remote_write(&mut store, &remote_write::encode_write_request(&late)).unwrap_err();
    assert!(matches!(err, IngestError::OutOfOrder { count: 1, .. }), "{err}");

    // Spans that do not match the counts fail the request with the series named.
    let mut broken = int_h;
    broken.timestamp = 3000;
    broken.positive_deltas.pop();
    let mut series = ts(&[("__name__", "latency")], &[]);
    series.histograms = vec![broken];
    let err = append_remote_write(
        &mut store,
        &remote_write::encode_write_request(&WriteRequest {
            timeseries: vec![series],
            ..Default::default()
        }),
    )
    .unwrap_err();
    assert!(
        matches!(err, IngestError::InvalidHistogram { index: 0, .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("positive spans cover 3 buckets but 2 counts"),
        "{err}"
    );
    assert_eq!(
        store.select_all(&[Matcher::equal("__name__", "latency")], 0, i64::MAX)[0]
            .histograms
            .len(),
        2
    );
}

#[test]
fn remote_write_broken_bodies_get_clear_errors() {
    let mut store = Storage::new();
    let err = append_remote_write(&mut store, b"definitely not snappy").unwrap_err();
    assert!(matches!(err, IngestError::Snappy(_)), "{err}");
    assert!(err.to_string().contains("snappy"), "{err}");

    let not_protobuf = snap::raw::Encoder::new()
        .compress_vec(b"\xff\xff\xff\xff\xff")
        .unwrap();
    let err = append_remote_write(&mut store, &not_protobuf).unwrap_err();
    assert!(matches!(err, IngestError::Protobuf(_)), "{err}");
    assert!(err.to_string().contains("prometheus.WriteRequest"), "{err}");

    // A framed-format stream (what `snap::write` produces) is not the block format Prometheus uses.
    let mut framed = snap::write::FrameEncoder::new(Vec::new());
    std::io::Write::write_all(&mut framed, b"hello").unwrap();
    let framed = framed.into_inner().unwrap();
    assert!(append_remote_write(&mut store, &framed).is_err());

    // A tiny body claiming a gigantic decompressed size is refused before allocating.
    let huge_claim = [0xff, 0xff, 0xff, 0xff, 0x0f, 0x00];
    let err = append_remote_write(&mut store, &huge_claim).unwrap_err();
    assert!(matches!(err, IngestError::Snappy(_)), "{err}");
    assert_eq!(store.num_series(), 0);
}

// ---------------------------------------------------------------------------------------------
// scrape config

#[test]
fn global_interval_below_the_default_timeout_lowers_the_timeout_like_prometheus() {
    let cfg = ScrapeConfigFile::parse(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: fast\n    static_configs:\n      - targets: [\"localhost:9100\"]\n",
    )
    .unwrap();
    assert_eq!(cfg.targets()[0].timeout, Duration::from_secs(1));
    let explicit =
        ScrapeConfigFile::parse("global:\n  scrape_interval: 1s\n  scrape_timeout: 5s\nscrape_configs: []\n");
    assert!(
        explicit
            .unwrap_err()
            .to_string()
            .contains("global.scrape_timeout")
    );
}

#[test]
fn scrape_config_round_trip_with_defaults() {
    let yaml = r#"
global:
  scrape_interval: 15s
  scrape_timeout: 5s
scrape_configs:
  - job_name: api
    scrape_interval: 1m30s
    metrics_path: /custom
    honor_labels: true
    static_configs:
      - targets: ["localhost:9100", "10.0.0.1:8080"]
        labels:
          env: prod
  - job_name: db
    scrape_interval: 2s
    honor_timestamps: false
    static_configs:
      - targets: ["db:9187"]
"#;
    let cfg = ScrapeConfigFile::parse(yaml).unwrap();
    let targets = cfg.targets();
    assert_eq!(targets.len(), 3);
    assert_eq!(targets[0].url, "http://localhost:9100/custom");
    assert_eq!(
        targets[0].labels,
        labels(&[("job", "api"), ("instance", "localhost:9100"), ("env", "prod")])
    );
    assert_eq!(targets[0].interval, Duration::from_secs(90));
    assert_eq!(targets[0].timeout, Duration::from_secs(5));
    assert!(targets[0].honor_labels && targets[0].honor_timestamps);
    assert_eq!(targets[2].url, "http://db:9187/metrics");
    // The inherited 5s timeout is capped at the job's 2s interval, as Prometheus does.
    assert_eq!(targets[2].timeout, Duration::from_secs(2));
    assert!(!targets[2].honor_labels && !targets[2].honor_timestamps);

    let defaults = ScrapeConfigFile::parse("scrape_configs:\n  - job_name: x\n").unwrap();
    assert_eq!(defaults.global.scrape_interval.0, Duration::from_secs(60));
    assert_eq!(defaults.global.timeout(), Duration::from_secs(10));
}

/// The full table of config errors is in `promconfig::tests`; `--scrape-config` files are read
/// by the same parser.
#[test]
fn scrape_config_errors_name_the_key_path() {
    let err = ScrapeConfigFile::parse("scrape_configs:\n  - job_name: x\n    bogus: 1\n").unwrap_err();
    assert_eq!(err.path(), "scrape_configs[0].bogus", "{err}");
    // What `--scrape-config` refused before #13 now loads.
    let cfg = ScrapeConfigFile::parse(
        "global:\n  evaluation_interval: 1m\nrule_files: []\nscrape_configs:\n  - job_name: x\n    scheme: https\n",
    )
    .unwrap();
    assert_eq!(cfg.scrape_configs[0].scheme, "https");
}

#[test]
fn prometheus_durations() {
    let ms = |s: &str| PromDuration::parse(s).map(|d| d.0.as_millis());
    assert_eq!(ms("15s"), Ok(15_000));
    assert_eq!(ms("1m30s"), Ok(90_000));
    assert_eq!(ms("100ms"), Ok(100));
    assert_eq!(ms("1h"), Ok(3_600_000));
    assert_eq!(ms("1d"), Ok(86_400_000));
    assert_eq!(ms("0"), Ok(0));
    for bad in ["", "s", "15", "1s1m", "1.5s", "-1s", "1s1s"] {
        assert!(PromDuration::parse(bad).is_err(), "{bad}");
    }
}

// ---------------------------------------------------------------------------------------------
// scraping a live target

/// What the test target serves.
#[derive(Clone)]
struct Exposed {
    status: u16,
    content_type: &'static str,
    body: String,
    /// The `Accept` header of the latest scrape.
    accept: Option<String>,
}

async fn serve_target(state: Arc<Mutex<Exposed>>) -> std::net::SocketAddr {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move |headers: axum::http::HeaderMap| {
            let e = {
                let mut st = state.lock().unwrap();
                st.accept = headers
                    .get(header::ACCEPT)
                    .and_then(|v| v.to_str().ok())
                    .map(String::from);
                st.clone()
            };
            async move {
                (
                    StatusCode::from_u16(e.status).unwrap(),
                    [(header::CONTENT_TYPE, e.content_type)],
                    e.body,
                )
                    .into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn start_scrapes(
    yaml: &str,
    store: &SharedStorage,
) -> (tokio_util::sync::CancellationToken, tokio::task::JoinHandle<()>) {
    let cfg = ScrapeConfigFile::parse(yaml).unwrap();
    let token = tokio_util::sync::CancellationToken::new();
    let handle = tokio::spawn(run_scrapes(cfg, store.clone(), token.clone()));
    (token, handle)
}

/// Polls until `cond` holds on the store (generous deadline; not a speed assertion).
async fn wait_for(store: &SharedStorage, what: &str, cond: impl Fn(&Storage) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if cond(&store.read().unwrap()) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn job_yaml(addr: std::net::SocketAddr, honor_labels: bool) -> String {
    format!(
        "scrape_configs:\n  - job_name: web\n    scrape_interval: 200ms\n    scrape_timeout: 200ms\n    \
         honor_labels: {honor_labels}\n    static_configs:\n      - targets: [\"{addr}\"]\n        labels:\n          \
         env: test\n"
    )
}

#[tokio::test]
async fn scrape_adds_up_job_instance_and_marks_disappearing_series_and_dead_targets_stale() {
    let exposed = Arc::new(Mutex::new(Exposed {
        status: 200,
        content_type: "text/plain; version=0.0.4",
        body: "# TYPE a gauge\na 1\nb{x=\"y\"} 2\n".to_string(),
        accept: None,
    }));
    let addr = serve_target(exposed.clone()).await;
    let store = new_shared();
    let (token, handle) = start_scrapes(&job_yaml(addr, false), &store);
    let instance = addr.to_string();
    let target = |name: &str| {
        labels(&[
            ("__name__", name),
            ("job", "web"),
            ("instance", &instance),
            ("env", "test"),
        ])
    };
    let b = labels(&[
        ("__name__", "b"),
        ("x", "y"),
        ("job", "web"),
        ("instance", &instance),
        ("env", "test"),
    ]);

    wait_for(&store, "two scrapes", |s| samples_of(s, &target("up")).len() >= 2).await;
    {
        let s = store.read().unwrap();
        assert!(samples_of(&s, &target("up")).iter().all(|x| x.v == 1.0));
        assert!(samples_of(&s, &target("a")).iter().all(|x| x.v == 1.0));
        assert!(!samples_of(&s, &b).is_empty());
        let scraped = samples_of(&s, &target("scrape_samples_scraped"));
        assert!(scraped.iter().all(|x| x.v == 2.0), "{scraped:?}");
        assert_eq!(
            samples_of(&s, &target("scrape_samples_post_metric_relabeling"))
                .last()
                .unwrap()
                .v,
            2.0
        );
        let added = samples_of(&s, &target("scrape_series_added"));
        assert_eq!(
            (added[0].v, added[1].v),
            (2.0, 0.0),
            "both series are new only on the first scrape"
        );
        assert!(
            samples_of(&s, &target("scrape_duration_seconds"))
                .iter()
                .all(|x| x.v >= 0.0)
        );
        // The report series and the sample share the scrape timestamp.
        assert_eq!(
            samples_of(&s, &target("up"))[0].t,
            samples_of(&s, &target("a"))[0].t
        );
    }

    // Prometheus's content negotiation: OpenMetrics first, the text format as fallback.
    let accept = exposed.lock().unwrap().accept.clone().unwrap();
    assert!(
        accept.starts_with("application/openmetrics-text;version=1.0.0"),
        "{accept}"
    );
    assert!(accept.contains("text/plain;version=0.0.4"), "{accept}");

    // b disappears from the target: it gets a staleness marker, a keeps going.
    exposed.lock().unwrap().body = "# TYPE a gauge\na 1\n".to_string();
    wait_for(&store, "a staleness marker on b", |s| {
        samples_of(s, &b).last().is_some_and(|x| is_stale_nan(x.v))
    })
    .await;
    let stale_at = samples_of(&store.read().unwrap(), &b).last().unwrap().t;
    wait_for(&store, "a scrape after b went stale", |s| {
        samples_of(s, &target("a")).last().is_some_and(|x| x.t > stale_at)
    })
    .await;
    assert_eq!(
        samples_of(&store.read().unwrap(), &b)
            .iter()
            .filter(|x| is_stale_nan(x.v))
            .count(),
        1
    );

    // The target fails: up 0 and a staleness marker for a.
    exposed.lock().unwrap().status = 500;
    wait_for(&store, "up == 0", |s| {
        samples_of(s, &target("up")).last().is_some_and(|x| x.v == 0.0)
    })
    .await;
    {
        let s = store.read().unwrap();
        let up_t = samples_of(&s, &target("up")).last().unwrap().t;
        let a = samples_of(&s, &target("a"));
        let last_a = a.last().unwrap();
        assert!(is_stale_nan(last_a.v) && last_a.t == up_t, "{a:?}");
        assert_eq!(
            samples_of(&s, &target("scrape_samples_scraped"))
                .last()
                .unwrap()
                .v,
            0.0
        );
    }
    token.cancel();
    handle.await.unwrap();
}

#[tokio::test]
async fn scrape_honor_labels_false_renames_conflicts_and_true_keeps_them() {
    let exposed = Arc::new(Mutex::new(Exposed {
        status: 200,
        content_type: "text/plain; version=0.0.4",
        body: "m{job=\"from-target\",instance=\"i\",exported_job=\"taken\"} 1\n".to_string(),
        accept: None,
    }));
    let addr = serve_target(exposed).await;
    let instance = addr.to_string();

    let store = new_shared();
    let (token, handle) = start_scrapes(&job_yaml(addr, false), &store);
    wait_for(&store, "m", |s| !series_named(s, "m").is_empty()).await;
    token.cancel();
    handle.await.unwrap();
    let got = series_named(&store.read().unwrap(), "m");
    assert_eq!(
        got[0].labels,
        labels(&[
            ("__name__", "m"),
            ("job", "web"),
            ("instance", &instance),
            ("env", "test"),
            ("exported_job", "taken"),
            ("exported_exported_job", "from-target"),
            ("exported_instance", "i"),
        ])
    );

    let store = new_shared();
    let (token, handle) = start_scrapes(&job_yaml(addr, true), &store);
    wait_for(&store, "m", |s| !series_named(s, "m").is_empty()).await;
    token.cancel();
    handle.await.unwrap();
    let got = series_named(&store.read().unwrap(), "m");
    assert_eq!(
        got[0].labels,
        labels(&[
            ("__name__", "m"),
            ("job", "from-target"),
            ("instance", "i"),
            ("env", "test"),
            ("exported_job", "taken"),
        ])
    );
    // The report series always carry the target's own labels.
    let up = series_named(&store.read().unwrap(), "up");
    assert_eq!(up[0].labels.get("job"), Some("web"));
}

#[tokio::test]
async fn scrape_openmetrics_keeps_explicit_timestamps_and_a_parse_error_fails_the_scrape() {
    let exposed = Arc::new(Mutex::new(Exposed {
        status: 200,
        content_type: "application/openmetrics-text; version=1.0.0; charset=utf-8",
        body: "# TYPE c counter\nc_total 5 1700000000.25\ng 1\n# EOF\n".to_string(),
        accept: None,
    }));
    let addr = serve_target(exposed.clone()).await;
    let store = new_shared();
    let (token, handle) = start_scrapes(&job_yaml(addr, false), &store);
    wait_for(&store, "c_total", |s| !series_named(s, "c_total").is_empty()).await;
    assert_eq!(
        series_named(&store.read().unwrap(), "c_total")[0].samples[0].t,
        1_700_000_000_250
    );

    // A body that breaks mid-way: nothing of it is stored, up is 0, and g goes stale.
    exposed.lock().unwrap().body = "# TYPE c counter\nc_total 6 1700000001\ng 2\nbroken{ 1\n# EOF\n".into();
    wait_for(&store, "up == 0", |s| {
        series_named(s, "up")[0]
            .samples
            .last()
            .is_some_and(|x| x.v == 0.0)
    })
    .await;
    token.cancel();
    handle.await.unwrap();
    let s = store.read().unwrap();
    assert_eq!(
        series_named(&s, "c_total")[0].samples.len(),
        1,
        "the failed body stored nothing"
    );
    assert!(
        series_named(&s, "g")[0]
            .samples
            .iter()
            .all(|x| x.v == 1.0 || is_stale_nan(x.v))
    );
    assert!(is_stale_nan(series_named(&s, "g")[0].samples.last().unwrap().v));
}

#[tokio::test]
async fn scrape_of_an_unreachable_target_writes_up_zero() {
    // Bind and drop a listener to get a port nothing listens on.
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let store = new_shared();
    let (token, handle) = start_scrapes(&job_yaml(addr, false), &store);
    wait_for(&store, "up", |s| !series_named(s, "up").is_empty()).await;
    token.cancel();
    handle.await.unwrap();
    let s = store.read().unwrap();
    assert!(series_named(&s, "up")[0].samples.iter().all(|x| x.v == 0.0));
    assert_eq!(series_named(&s, "scrape_samples_scraped")[0].samples[0].v, 0.0);
}

#[tokio::test]
async fn scrape_with_honor_timestamps_false_uses_the_scrape_time() {
    let exposed = Arc::new(Mutex::new(Exposed {
        status: 200,
        content_type: "application/openmetrics-text; version=1.0.0",
        body: "c_total 5 1700000000.25\n# EOF\n".to_string(),
        accept: None,
    }));
    let addr = serve_target(exposed).await;
    let store = new_shared();
    let yaml = format!(
        "scrape_configs:\n  - job_name: web\n    scrape_interval: 200ms\n    honor_timestamps: false\n    \
         static_configs:\n      - targets: [\"{addr}\"]\n"
    );
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let (token, handle) = start_scrapes(&yaml, &store);
    wait_for(&store, "c_total", |s| !series_named(s, "c_total").is_empty()).await;
    token.cancel();
    handle.await.unwrap();
    let s = store.read().unwrap();
    let c = &series_named(&s, "c_total")[0].samples[0];
    assert!(
        c.t >= before,
        "the body's 2023 timestamp was replaced by the scrape time: {c:?}"
    );
    assert_eq!(c.t, series_named(&s, "up")[0].samples[0].t);
}

/// Posts `body` to `/api/v1/write` of a router over `store` with `headers`; the status and text.
async fn post_write(
    store: &SharedStorage,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (axum::http::StatusCode, String) {
    use tower::ServiceExt as _;
    let app = crate::api::router(crate::api::ApiState::new(store.clone(), Default::default()));
    let mut req = axum::http::Request::post("/api/v1/write");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = app
        .oneshot(req.body(axum::body::Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

const RW1_HEADERS: [(&str, &str); 3] = [
    ("content-type", "application/x-protobuf"),
    ("content-encoding", "snappy"),
    ("x-prometheus-remote-write-version", "0.1.0"),
];

#[tokio::test]
async fn remote_write_2_request_gets_415_and_is_not_acknowledged() {
    let store = new_shared();
    let body = remote_write::encode_write_request(&WriteRequest {
        timeseries: vec![ts(&[("__name__", "rw")], &[(1000, 1.0)])],
        ..Default::default()
    });
    // What a remote-write 2.0 sender (Prometheus 3.x with protobuf_message: io.prometheus.write.v2.Request)
    // puts on the wire.
    let v2 = [
        (
            "content-type",
            "application/x-protobuf;proto=io.prometheus.write.v2.Request",
        ),
        ("content-encoding", "snappy"),
        ("x-prometheus-remote-write-version", "2.0.0"),
    ];
    let (status, text) = post_write(&store, &v2, body.clone()).await;
    assert_eq!(status, 415, "{text}");
    assert!(text.contains("io.prometheus.write.v2.Request"), "{text}");
    // The 2.0 version header alone, with a 1.0 media type, is refused too.
    let (status, text) = post_write(
        &store,
        &[
            ("content-type", "application/x-protobuf"),
            ("x-prometheus-remote-write-version", "2.0.0"),
        ],
        body.clone(),
    )
    .await;
    assert_eq!(status, 415, "{text}");
    // Another compression.
    let (status, text) = post_write(
        &store,
        &[
            ("content-type", "application/x-protobuf"),
            ("content-encoding", "zstd"),
        ],
        body.clone(),
    )
    .await;
    assert_eq!(status, 415, "{text}");
    assert!(text.contains("zstd"), "{text}");
    assert_eq!(
        store.read().unwrap().num_samples(),
        0,
        "nothing refused was stored"
    );
    // 1.0, with or without the explicit proto parameter, is taken.
    let (status, text) = post_write(&store, &RW1_HEADERS, body).await;
    assert_eq!(status, 204, "{text}");
    let explicit = [(
        "content-type",
        "application/x-protobuf;proto=prometheus.WriteRequest",
    )];
    let body = remote_write::encode_write_request(&WriteRequest {
        timeseries: vec![ts(&[("__name__", "rw")], &[(2000, 2.0)])],
        ..Default::default()
    });
    let (status, text) = post_write(&store, &explicit, body).await;
    assert_eq!(status, 204, "{text}");
    assert_eq!(store.read().unwrap().num_samples(), 2);
}

#[tokio::test]
async fn remote_write_cross_site_text_plain_post_gets_415() {
    let store = new_shared();
    let body = remote_write::encode_write_request(&WriteRequest {
        timeseries: vec![ts(&[("__name__", "csrf")], &[(1000, 1.0)])],
        ..Default::default()
    });
    // A browser's cross-site "simple" request can only say text/plain, a form type, or (for a
    // binary fetch body) nothing at all.
    for ct in [
        Some("text/plain"),
        Some("text/plain;charset=UTF-8"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        None,
    ] {
        let headers: Vec<(&str, &str)> = ct.map(|c| ("content-type", c)).into_iter().collect();
        let (status, text) = post_write(&store, &headers, body.clone()).await;
        assert_eq!(status, 415, "{ct:?}: {text}");
        assert!(text.contains("application/x-protobuf"), "{ct:?}: {text}");
    }
    assert_eq!(store.read().unwrap().num_samples(), 0);
}

/// 2199-01-01T00:00:00Z in milliseconds: a sample from a broken clock.
const YEAR_2199_MS: i64 = 7_226_582_400_000;

#[tokio::test]
async fn remote_write_sample_far_in_the_future_gets_400_naming_series_and_timestamp() {
    let store = new_shared();
    let now = crate::tsdb::wall_clock_ms();
    let body = remote_write::encode_write_request(&WriteRequest {
        timeseries: vec![
            ts(&[("__name__", "good")], &[(now - 60_000, 1.0)]),
            ts(
                &[("__name__", "bad_clock"), ("job", "x")],
                &[(now - 30_000, 1.0), (YEAR_2199_MS, 2.0)],
            ),
        ],
        ..Default::default()
    });
    let (status, text) = post_write(&store, &RW1_HEADERS, body).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains(r#"{__name__="bad_clock", job="x"}"#), "{text}");
    assert!(text.contains(&YEAR_2199_MS.to_string()), "{text}");
    assert!(text.contains("2199-01-01T00:00:00Z"), "{text}");
    assert!(text.contains("too far in the future"), "{text}");
    assert_eq!(
        store.read().unwrap().num_samples(),
        0,
        "nothing of the request was stored, as Prometheus rolls it back"
    );
    // Within the 10-minute allowance for clock skew, a sample is taken.
    let body = remote_write::encode_write_request(&WriteRequest {
        timeseries: vec![ts(&[("__name__", "skewed")], &[(now + 60_000, 1.0)])],
        ..Default::default()
    });
    let (status, text) = post_write(&store, &RW1_HEADERS, body).await;
    assert_eq!(status, 204, "{text}");
}

#[test]
fn import_refuses_a_sample_far_in_the_future_naming_its_line_and_keeps_the_rest() {
    let text =
        "# TYPE m gauge\nm{a=\"1\"} 1 1700000000\nm{a=\"1\"} 2 7226582400\nm{a=\"2\"} 3 1700000000\n# EOF\n";
    let mut store = Storage::new();
    let err = import_text(&mut store, text).unwrap_err();
    match &err {
        IngestError::Rejected {
            rejected,
            line,
            appended,
            first,
        } => {
            assert_eq!((*rejected, *line, *appended), (1, 3, 2), "{err}");
            assert!(
                matches!(first, crate::tsdb::AppendError::OutOfBounds { .. }),
                "{err}"
            );
        }
        other => panic!("expected a rejection, got {other}"),
    }
    assert!(err.to_string().contains("too far in the future"), "{err}");
    assert_eq!(store.num_samples(), 2);
    assert_eq!(store.max_time(), Some(1_700_000_000_000));
}

#[tokio::test]
async fn scrape_drops_an_explicit_timestamp_far_in_the_future_and_keeps_the_rest() {
    let exposed = Arc::new(Mutex::new(Exposed {
        status: 200,
        content_type: "text/plain; version=0.0.4",
        body: "ahead 1 7226582400000\nfine 2\n".to_string(),
        accept: None,
    }));
    let addr = serve_target(exposed).await;
    let store = new_shared();
    let (token, handle) = start_scrapes(&job_yaml(addr, false), &store);
    wait_for(&store, "two scrapes of fine", |s| {
        series_named(s, "fine")
            .first()
            .is_some_and(|x| x.samples.len() >= 2)
    })
    .await;
    token.cancel();
    handle.await.unwrap();
    let s = store.read().unwrap();
    assert!(
        series_named(&s, "ahead").is_empty(),
        "the far-future sample was dropped"
    );
    assert!(s.max_time().unwrap() < YEAR_2199_MS);
    assert_eq!(series_named(&s, "up")[0].samples.last().unwrap().v, 1.0);
}

/// One series named `name` with `n` extra labels `l0`..`l{n-1}` and one sample.
fn many_labels(name: &str, n: usize, t: i64) -> TimeSeries {
    let mut labels = vec![Label {
        name: "__name__".into(),
        value: name.into(),
    }];
    labels.extend((0..n).map(|i| Label {
        name: format!("l{i}"),
        value: "v".into(),
    }));
    TimeSeries {
        labels,
        samples: vec![PbSample {
            value: 1.0,
            timestamp: t,
        }],
        histograms: Vec::new(),
        ..Default::default()
    }
}

#[tokio::test]
async fn remote_write_with_100k_labels_gets_400_and_queries_are_answered_meanwhile() {
    use tower::ServiceExt as _;
    let store = new_shared();
    store
        .write()
        .unwrap()
        .append(&labels(&[("__name__", "up")]), 1000, 1.0)
        .unwrap();
    let body = remote_write::encode_write_request(&WriteRequest {
        timeseries: vec![many_labels("wide", 100_000, 1000)],
        ..Default::default()
    });
    // A long query holds the store's read lock for the whole request: a receiver that decoded
    // or validated under the write lock would wait for it forever. The deadline only turns
    // that hang into a failure; nothing is measured.
    let (held_tx, held_rx) = std::sync::mpsc::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let reader = store.clone();
    let holder = std::thread::spawn(move || {
        let _guard = reader.read().unwrap();
        held_tx.send(()).unwrap();
        // Until the test says so, or fails (the sender is dropped).
        let _ = release_rx.recv();
    });
    held_rx.recv().unwrap();
    let write = post_write(&store, &RW1_HEADERS, body);
    let (status, text) = tokio::time::timeout(Duration::from_secs(120), write)
        .await
        .expect("the 100k-label request was answered while a query held the store");
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("label_limit"), "{text}");
    assert!(text.contains("100001 labels"), "{text}");
    assert!(text.contains("\"wide\""), "{text}");
    // A query alongside is answered too.
    let app = crate::api::router(crate::api::ApiState::new(store.clone(), Default::default()));
    let req = axum::http::Request::get("/api/v1/query?query=up&time=1")
        .body(axum::body::Body::empty())
        .unwrap();
    let res = tokio::time::timeout(Duration::from_secs(120), app.oneshot(req))
        .await
        .expect("the query was answered")
        .unwrap();
    assert_eq!(res.status(), 200);
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    assert_eq!(
        store.read().unwrap().num_series(),
        1,
        "nothing of the wide series was stored"
    );
}

#[test]
fn remote_write_label_limits_name_the_limit_and_can_be_turned_off() {
    use remote_write::{LabelLimits, prepare_remote_write};
    let max_t = i64::MAX;
    let limits = LabelLimits {
        label_limit: 3,
        label_name_length_limit: 8,
        label_value_length_limit: 5,
    };
    let refused = |ts: TimeSeries, limits: &LabelLimits| {
        let body = remote_write::encode_write_request(&WriteRequest {
            timeseries: vec![ts],
            ..Default::default()
        });
        prepare_remote_write(&body, limits, max_t).map(|_| ())
    };
    let err = refused(many_labels("m", 3, 1), &limits).unwrap_err();
    assert!(
        matches!(
            err,
            IngestError::LabelLimit {
                limit: "label_limit",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("4 labels, more than the 3 allowed"),
        "{err}"
    );
    let err = refused(
        ts(&[("__name__", "m"), ("much_too_long", "v")], &[(1, 1.0)]),
        &limits,
    )
    .unwrap_err();
    assert!(err.to_string().contains("label_name_length_limit"), "{err}");
    assert!(err.to_string().contains("much_too_long"), "{err}");
    let err = refused(ts(&[("__name__", "m"), ("a", "123456")], &[(1, 1.0)]), &limits).unwrap_err();
    assert!(err.to_string().contains("label_value_length_limit"), "{err}");
    assert!(
        err.to_string().contains("6 bytes long, more than the 5 allowed"),
        "{err}"
    );
    // Within the limits.
    refused(ts(&[("__name__", "m"), ("a", "12345")], &[(1, 1.0)]), &limits).unwrap();
    // 0 turns a limit off.
    let off = LabelLimits {
        label_limit: 0,
        label_name_length_limit: 0,
        label_value_length_limit: 0,
    };
    refused(many_labels("m", 2000, 1), &off).unwrap();
}

#[test]
fn remote_write_duplicate_label_among_many_is_found_and_the_series_skipped() {
    // The duplicate check sorts and compares neighbours: the repeated name is found wherever it
    // sits, however many labels there are.
    let mut wide = many_labels("wide", 300, 1000);
    wide.labels.push(Label {
        name: "l7".into(),
        value: "other".into(),
    });
    let mut empty_name = many_labels("empty_name", 3, 1000);
    empty_name.labels.insert(
        2,
        Label {
            name: String::new(),
            value: "x".into(),
        },
    );
    let req = WriteRequest {
        timeseries: vec![wide, empty_name, many_labels("fine", 300, 1000)],
        ..Default::default()
    };
    let mut store = Storage::new();
    let stats = append_remote_write(&mut store, &remote_write::encode_write_request(&req)).unwrap();
    assert_eq!((stats.series, stats.invalid_series), (1, 2));
    let stored = &store.all_series()[0];
    assert_eq!(stored.labels().metric_name(), Some("fine"));
    assert_eq!(stored.labels().len(), 301);
}

#[test]
fn import_of_openmetrics_without_eof_is_an_error_not_millisecond_timestamps() {
    // An OpenMetrics file whose `# EOF` was cut off: its timestamps are seconds.
    for (text, line, evidence) in [
        (
            "# TYPE c counter\n# HELP c Requests.\nc_total 5 1700000000\nc_total 6 1700000015\n",
            3,
            "sample c_total of the counter family c",
        ),
        (
            "# TYPE t_seconds gauge\n# UNIT t_seconds seconds\nt_seconds 1 1700000000\n",
            2,
            "`# UNIT t_seconds ...`",
        ),
        (
            "# TYPE s stateset\ns{s=\"a\"} 1 1700000000\n",
            1,
            "metric type \"stateset\"",
        ),
    ] {
        let mut store = Storage::new();
        let err = import_text(&mut store, text).unwrap_err();
        let IngestError::Parse { source, kept } = &err else {
            panic!("{err}")
        };
        assert_eq!((source.line, *kept), (line, 0), "{err}");
        assert!(
            matches!(source.kind, ParseErrorKind::OpenMetricsWithoutEof { .. }),
            "{err}"
        );
        let msg = err.to_string();
        assert!(msg.contains(evidence), "{msg}");
        assert!(msg.contains("does not end with '# EOF'"), "{msg}");
        assert_eq!(store.num_samples(), 0, "nothing was stored at 1970 timestamps");
        // With its `# EOF` the same file imports, at the right time.
        let whole = format!("{text}# EOF\n");
        import_text(&mut store, &whole).unwrap();
        assert_eq!(
            store.max_time().map(|t| t / 1000 / 1_000_000),
            Some(1700),
            "{whole}"
        );
    }
    // Prometheus text with its own conventions still imports with millisecond timestamps.
    let mut store = Storage::new();
    import_text(
        &mut store,
        "# TYPE c_total counter\nc_total 5 1000\n# TYPE g gauge\ng 1 2000\n",
    )
    .unwrap();
    assert_eq!(store.max_time(), Some(2000));
}

#[tokio::test]
async fn scrape_of_openmetrics_without_eof_fails_and_stores_nothing() {
    let exposed = Arc::new(Mutex::new(Exposed {
        status: 200,
        content_type: "application/openmetrics-text; version=1.0.0; charset=utf-8",
        body: "# TYPE c counter\nc_total 5 1700000000\n".to_string(),
        accept: None,
    }));
    let addr = serve_target(exposed).await;
    let store = new_shared();
    let (token, handle) = start_scrapes(&job_yaml(addr, false), &store);
    wait_for(&store, "up", |s| !series_named(s, "up").is_empty()).await;
    token.cancel();
    handle.await.unwrap();
    let s = store.read().unwrap();
    assert_eq!(series_named(&s, "up")[0].samples[0].v, 0.0, "the scrape failed");
    assert!(
        series_named(&s, "c_total").is_empty(),
        "nothing of the body was stored"
    );
}

// ---------------------------------------------------------------------------------------------
// prometheus.yml scraping (#13 §2): target relabelling, metric relabelling, limits, auth,
// file_sd, reloads

#[test]
fn target_relabelling_follows_prometheus_populate_labels() {
    use crate::discovery::TargetGroup;
    use scrape::{Resolved, resolve_target};
    let cfg = ScrapeConfigFile::parse(
        r#"
global:
  scrape_interval: 15s
scrape_configs:
  - job_name: probe
    metrics_path: /probe
    params:
      module: [http_2xx, extra]
      target: [a b&c]
    relabel_configs:
      - source_labels: [__address__]
        regex: 'drop-me:.*'
        action: drop
      - regex: __meta_(.+)
        action: labelmap
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__address__]
        modulus: 8
        target_label: __tmp_hash
        action: hashmod
      - source_labels: [__tmp_hash]
        target_label: shard
"#,
    )
    .unwrap();
    let job = &cfg.scrape_configs[0];
    let steps = crate::relabel::compile_all(&job.relabel_configs).unwrap();
    let group = TargetGroup {
        targets: vec![],
        labels: [("__meta_zone".to_string(), "eu".to_string())].into(),
        source: "0".into(),
    };
    let Resolved::Active(t) = resolve_target(&cfg, job, &steps, &group, "host:9115") else {
        panic!("the target is active")
    };
    let shard = crate::relabel::hashmod("host:9115", 8).to_string();
    assert_eq!(
        t.labels,
        labels(&[
            ("instance", "host:9115"),
            ("job", "probe"),
            ("shard", &shard),
            ("zone", "eu")
        ])
    );
    assert_eq!(
        t.discovered,
        labels(&[
            ("__address__", "host:9115"),
            ("__meta_zone", "eu"),
            ("__metrics_path__", "/probe"),
            ("__param_module", "http_2xx"),
            ("__param_target", "a b&c"),
            ("__scheme__", "http"),
            ("__scrape_interval__", "15s"),
            ("__scrape_timeout__", "10s"),
            ("job", "probe"),
        ])
    );
    // `__param_target` (from relabelling) replaces the first value; the second module stays.
    assert_eq!(
        t.url,
        "http://host:9115/probe?module=http_2xx&module=extra&target=host%3A9115"
    );
    assert_eq!(
        (t.interval, t.timeout),
        (Duration::from_secs(15), Duration::from_secs(10))
    );
    assert!(matches!(
        resolve_target(&cfg, job, &steps, &group, "drop-me:1"),
        Resolved::Dropped(_)
    ));

    // Relabelling that empties the address or breaks the interval makes no target.
    let bad = ScrapeConfigFile::parse(
        "scrape_configs:\n  - job_name: x\n    relabel_configs:\n      - target_label: __address__\n        replacement: ''\n      - target_label: __scrape_interval__\n        replacement: soon\n",
    )
    .unwrap();
    let steps = crate::relabel::compile_all(&bad.scrape_configs[0].relabel_configs).unwrap();
    match resolve_target(&bad, &bad.scrape_configs[0], &steps[..1], &group, "a:1") {
        Resolved::Invalid(_, e) => assert_eq!(e, "no address"),
        other => panic!("{other:?}"),
    }
    match resolve_target(&bad, &bad.scrape_configs[0], &steps[1..], &group, "a:1") {
        Resolved::Invalid(_, e) => assert!(e.contains("error parsing scrape interval"), "{e}"),
        other => panic!("{other:?}"),
    }
}

/// Each request's path and query, and its Authorization header.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A target recording each request's path+query and Authorization header.
async fn serve_recording(body: &'static str, seen: Seen) -> std::net::SocketAddr {
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let seen = seen.clone();
        async move {
            let auth = req
                .headers()
                .get(axum::http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .map(String::from);
            seen.lock().unwrap().push((req.uri().to_string(), auth));
            (
                [(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                body,
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

const THREE_SERIES: &str = "# TYPE a gauge\na{k=\"1\"} 1\na{k=\"2\"} 2\ngo_x 3\n";

#[tokio::test]
async fn scrape_metric_relabel_configs_drop_and_rewrite_series_before_storing() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let addr = serve_recording(THREE_SERIES, seen).await;
    let store = new_shared();
    let yaml = format!(
        "scrape_configs:\n  - job_name: web\n    scrape_interval: 200ms\n    static_configs:\n      - targets: ['{addr}']\n    \
         metric_relabel_configs:\n      - source_labels: [__name__]\n        regex: 'go_.*'\n        action: drop\n      \
         - source_labels: [k]\n        target_label: kk\n        replacement: 'v$1'\n      - regex: k\n        action: labeldrop\n"
    );
    let (token, handle) = start_scrapes(&yaml, &store);
    wait_for(&store, "two scrapes", |s| {
        series_named(s, "up")
            .first()
            .is_some_and(|u| u.samples.len() >= 2)
    })
    .await;
    token.cancel();
    handle.await.unwrap();
    let s = store.read().unwrap();
    assert!(series_named(&s, "go_x").is_empty());
    let a: Vec<String> = series_named(&s, "a")
        .iter()
        .map(|x| x.labels.get("kk").unwrap().to_string())
        .collect();
    assert_eq!(a, vec!["v1", "v2"]);
    assert!(series_named(&s, "a").iter().all(|x| x.labels.get("k").is_none()));
    assert_eq!(series_named(&s, "scrape_samples_scraped")[0].samples[0].v, 3.0);
    assert_eq!(
        series_named(&s, "scrape_samples_post_metric_relabeling")[0].samples[0].v,
        2.0
    );
}

#[tokio::test]
async fn scrape_over_sample_limit_or_label_limit_fails_whole_and_marks_stale() {
    for (limit, want) in [
        ("sample_limit: 2", "sample limit exceeded"),
        (
            "label_limit: 3",
            "label_limit exceeded (metric: a, number of labels: 4, limit: 3)",
        ),
        ("label_name_length_limit: 4", "label_name_length_limit exceeded"),
        ("label_value_length_limit: 5", "label_value_length_limit exceeded"),
        ("body_size_limit: 10", "body size limit exceeded"),
    ] {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let addr = serve_recording(THREE_SERIES, seen).await;
        let store = new_shared();
        let cfg = ScrapeConfigFile::parse(&format!(
            "scrape_configs:\n  - job_name: web\n    scrape_interval: 200ms\n    {limit}\n    static_configs:\n      - targets: ['{addr}']\n"
        ))
        .unwrap();
        let token = tokio_util::sync::CancellationToken::new();
        let manager = ScrapeManager::new(store.clone(), token.clone());
        manager.apply(&cfg).unwrap();
        wait_for(&store, "a failed scrape", |s| !series_named(s, "up").is_empty()).await;
        let view = manager.view();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let err = loop {
            let e = view.read().unwrap().active["web"]
                .values()
                .next()
                .unwrap()
                .last_error
                .clone();
            if !e.is_empty() || tokio::time::Instant::now() > deadline {
                break e;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        token.cancel();
        manager.wait().await;
        assert!(err.contains(want), "{limit}: {err}");
        let s = store.read().unwrap();
        assert_eq!(series_named(&s, "up")[0].samples[0].v, 0.0, "{limit}");
        assert!(
            series_named(&s, "a").is_empty(),
            "{limit}: nothing of a failed scrape is stored"
        );
    }
}

#[tokio::test]
async fn scrape_sends_params_basic_auth_and_bearer_credentials_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "t0k3n\n").unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let addr = serve_recording(THREE_SERIES, seen.clone()).await;
    let yaml = format!(
        "scrape_configs:\n  - job_name: basic\n    scrape_interval: 200ms\n    params: {{module: [m1]}}\n    basic_auth: {{username: u, password: p}}\n    \
         static_configs:\n      - targets: ['{addr}']\n  - job_name: bearer\n    metrics_path: /other\n    scrape_interval: 200ms\n    \
         authorization: {{credentials_file: token}}\n    static_configs:\n      - targets: ['{addr}']\n"
    );
    let cfg = ScrapeConfigFile::parse_in(&yaml, Some(dir.path().to_path_buf())).unwrap();
    let store = new_shared();
    let token = tokio_util::sync::CancellationToken::new();
    let handle = tokio::spawn(run_scrapes(cfg, store.clone(), token.clone()));
    wait_for(&store, "both jobs scraped", |s| series_named(s, "up").len() == 2).await;
    token.cancel();
    handle.await.unwrap();
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.contains(&("/metrics?module=m1".to_string(), Some("Basic dTpw".to_string()))),
        "{seen:?}"
    );
    assert!(
        seen.contains(&("/other".to_string(), Some("Bearer t0k3n".to_string()))),
        "{seen:?}"
    );
}

#[tokio::test]
async fn file_sd_change_adds_and_removes_targets_and_removed_ones_go_stale() {
    let dir = tempfile::tempdir().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let a = serve_recording("m 1\n", seen.clone()).await;
    let b = serve_recording("m 2\n", seen).await;
    let file = dir.path().join("targets.json");
    std::fs::write(
        &file,
        format!(r#"[{{"targets": ["{a}"], "labels": {{"team": "x"}}}}]"#),
    )
    .unwrap();
    let cfg = ScrapeConfigFile::parse_in(
        "scrape_configs:\n  - job_name: fsd\n    scrape_interval: 200ms\n    file_sd_configs:\n      - files: ['*.json']\n",
        Some(dir.path().to_path_buf()),
    )
    .unwrap();
    let store = new_shared();
    let token = tokio_util::sync::CancellationToken::new();
    let manager = ScrapeManager::new(store.clone(), token.clone());
    manager.apply(&cfg).unwrap();
    let m_of = |s: &Storage, inst: &str| {
        series_named(s, "m")
            .into_iter()
            .find(|x| x.labels.get("instance") == Some(inst))
    };
    let (a_s, b_s) = (a.to_string(), b.to_string());
    wait_for(&store, "target a", |s| m_of(s, &a_s).is_some()).await;
    assert_eq!(
        m_of(&store.read().unwrap(), &a_s).unwrap().labels.get("team"),
        Some("x")
    );
    {
        let view = manager.view();
        let v = view.read().unwrap();
        let st = v.active["fsd"].values().next().unwrap();
        assert_eq!(
            st.target.discovered.get("__meta_filepath"),
            Some(file.to_str().unwrap())
        );
    }
    // Rewritten (a write a reader may see half-done is kept as the last good read).
    std::fs::write(&file, format!(r#"[{{"targets": ["{b}"]}}]"#)).unwrap();
    wait_for(&store, "target b", |s| m_of(s, &b_s).is_some()).await;
    wait_for(&store, "a marked stale", |s| {
        m_of(s, &a_s).is_some_and(|x| x.samples.last().is_some_and(|p| is_stale_nan(p.v)))
    })
    .await;
    token.cancel();
    manager.wait().await;
}

#[tokio::test]
async fn reload_keeps_unchanged_jobs_and_stops_removed_ones_with_staleness() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let addr = serve_recording("m 1\n", seen).await;
    let job = |name: &str| {
        format!(
            "  - job_name: {name}\n    scrape_interval: 200ms\n    static_configs:\n      - targets: ['{addr}']\n"
        )
    };
    let both = ScrapeConfigFile::parse(&format!("scrape_configs:\n{}{}", job("keep"), job("gone"))).unwrap();
    let one = ScrapeConfigFile::parse(&format!("scrape_configs:\n{}", job("keep"))).unwrap();
    let store = new_shared();
    let token = tokio_util::sync::CancellationToken::new();
    let manager = ScrapeManager::new(store.clone(), token.clone());
    manager.apply(&both).unwrap();
    let m_job = |s: &Storage, j: &str| {
        series_named(s, "m")
            .into_iter()
            .find(|x| x.labels.get("job") == Some(j))
    };
    wait_for(&store, "both jobs", |s| {
        m_job(s, "keep").is_some() && m_job(s, "gone").is_some()
    })
    .await;
    manager.apply(&one).unwrap();
    wait_for(&store, "job gone is stale", |s| {
        m_job(s, "gone").is_some_and(|x| x.samples.last().is_some_and(|p| is_stale_nan(p.v)))
    })
    .await;
    let n = m_job(&store.read().unwrap(), "keep").unwrap().samples.len();
    wait_for(&store, "job keep goes on", |s| {
        m_job(s, "keep").unwrap().samples.len() > n + 1
    })
    .await;
    let kept_stale = m_job(&store.read().unwrap(), "keep")
        .unwrap()
        .samples
        .iter()
        .any(|p| is_stale_nan(p.v));
    assert!(!kept_stale, "kept without a gap");
    assert!(!manager.view().read().unwrap().active.contains_key("gone"));
    token.cancel();
    manager.wait().await;
}

// ---------------------------------------------------------------------------------------------
// metadata and exemplars (issue 15 §2)

fn parse_meta(text: &str, format: Format) -> (Vec<ParsedSample>, Vec<(String, text::MetadataLine)>) {
    let (mut samples, mut meta) = (Vec::new(), Vec::new());
    text::parse_with_metadata(text, format, |s| samples.push(s), |f, l| meta.push((f, l))).unwrap();
    (samples, meta)
}

#[test]
fn openmetrics_metadata_and_exemplars_are_returned_unescaped() {
    use crate::tsdb::metadata::{MetadataLine as M, MetricType as T};
    let body = "# TYPE req counter\n\
                # HELP req Requests \\\"served\\\" \\\\ per\\nline.\n\
                # UNIT lat_seconds seconds\n\
                req_total{code=\"200\"} 3 # {trace_id=\"abc\",span_id=\"01\"} 0.5 1700000000.25\n\
                req_total{code=\"500\"} 1 # {trace_id=\"def\"} 2\n\
                # EOF\n";
    let (samples, meta) = parse_meta(body, Format::OpenMetrics);
    assert_eq!(
        meta,
        [
            ("req".to_string(), M::Type(T::Counter)),
            (
                "req".to_string(),
                M::Help("Requests \"served\" \\ per\nline.".to_string())
            ),
            ("lat_seconds".to_string(), M::Unit("seconds".to_string())),
        ]
    );
    let e = samples[0].exemplar.as_ref().unwrap();
    assert_eq!(e.labels, labels(&[("span_id", "01"), ("trace_id", "abc")]));
    assert_eq!((e.value, e.timestamp_ms), (0.5, Some(1_700_000_000_250)));
    let e = samples[1].exemplar.as_ref().unwrap();
    assert_eq!((e.value, e.timestamp_ms), (2.0, None));
}

#[test]
fn text_format_help_keeps_escaped_quotes_and_untyped_is_unknown() {
    use crate::tsdb::metadata::{MetadataLine as M, MetricType as T};
    let (samples, meta) = parse_meta(
        "# HELP a Say \\\"hi\\\"\\n.\n# TYPE a untyped\n# UNIT a ignored in this format\na 1\n",
        Format::Prometheus,
    );
    assert_eq!(samples.len(), 1);
    assert_eq!(samples[0].exemplar, None);
    // The text format's HELP unescapes only `\\` and `\n` (Prometheus's `helpReplacer`).
    assert_eq!(
        meta,
        [
            ("a".to_string(), M::Help("Say \\\"hi\\\"\n.".to_string())),
            ("a".to_string(), M::Type(T::Unknown)),
        ]
    );
}

#[test]
fn remote_write_keeps_exemplars_and_metadata() {
    use crate::tsdb::metadata::MetricType as T;
    let mut series = ts(&[("__name__", "lat_bucket"), ("le", "1")], &[(1000, 3.0)]);
    let ex = |trace: &str, v: f64, t: i64| burnwatch_remote::proto::Exemplar {
        labels: vec![Label {
            name: "trace_id".into(),
            value: trace.into(),
        }],
        value: v,
        timestamp: t,
    };
    series.exemplars = vec![ex("a", 0.5, 900), ex("b", 0.7, 1000), ex("old", 0.1, 100)];
    let req = WriteRequest {
        timeseries: vec![series],
        metadata: vec![burnwatch_remote::proto::MetricMetadata {
            r#type: burnwatch_remote::proto::MetricType::Histogram as i32,
            metric_family_name: "lat".into(),
            help: "Latency.".into(),
            unit: "seconds".into(),
        }],
    };
    let mut store = Storage::new();
    let stats = append_remote_write(&mut store, &remote_write::encode_write_request(&req)).unwrap();
    // The out-of-order exemplar is refused without failing the request.
    assert_eq!((stats.samples, stats.exemplars_refused), (1, 1));
    let got = store
        .exemplars()
        .select(i64::MIN, i64::MAX, &[vec![Matcher::equal("le", "1")]]);
    assert_eq!(got.len(), 1);
    let traces: Vec<(&str, i64)> = got[0]
        .1
        .iter()
        .map(|e| (e.labels.get("trace_id").unwrap(), e.t))
        .collect();
    assert_eq!(traces, [("a", 900), ("b", 1000)]);
    let m = &store.metadata().remote()["lat"];
    assert_eq!(
        (m.mtype, m.help.as_str(), m.unit.as_str()),
        (T::Histogram, "Latency.", "seconds")
    );
}

#[tokio::test]
async fn scrape_keeps_exemplars_under_final_labels_and_metadata_per_target() {
    let body = "# TYPE req counter\n# HELP req Requests.\n\
                req_total{code=\"200\"} 3 # {trace_id=\"abc\"} 0.5\n# EOF\n";
    let exposed = Arc::new(Mutex::new(Exposed {
        status: 200,
        content_type: "application/openmetrics-text; version=1.0.0; charset=utf-8",
        body: body.to_string(),
        accept: None,
    }));
    let addr = serve_target(exposed.clone()).await;
    let store = new_shared();
    let (token, handle) = start_scrapes(&job_yaml(addr, false), &store);
    wait_for(&store, "two scrapes", |s| {
        s.select(&[Matcher::equal("__name__", "up")], i64::MIN, i64::MAX)
            .first()
            .is_some_and(|x| x.samples.len() >= 2)
    })
    .await;
    {
        let s = store.read().unwrap();
        let got = s.exemplars().select(
            i64::MIN,
            i64::MAX,
            &[vec![Matcher::equal("__name__", "req_total")]],
        );
        let instance = addr.to_string();
        assert_eq!(
            got[0].0,
            labels(&[
                ("__name__", "req_total"),
                ("code", "200"),
                ("env", "test"),
                ("instance", &instance),
                ("job", "web")
            ])
        );
        // Served without a timestamp on every scrape: one exemplar, stamped with the first scrape.
        assert_eq!(got[0].1.len(), 1, "{:?}", got[0].1);
        assert!(!got[0].1[0].has_ts);
        let targets: Vec<_> = s.metadata().targets().collect();
        assert_eq!(targets.len(), 1);
        assert_eq!(targets[0].labels().get("job"), Some("web"));
        let m = targets[0].get("req").unwrap();
        assert_eq!((m.mtype.as_str(), m.help.as_str()), ("counter", "Requests."));
    }
    token.cancel();
    handle.await.unwrap();
    // The target's metadata goes with its scrape loop.
    assert_eq!(store.read().unwrap().metadata().targets().count(), 0);
}
