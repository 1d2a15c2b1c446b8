use super::*;

fn ls(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())))
}

#[test]
fn labels_are_sorted_and_drop_empty_values() {
    let l = ls(&[("job", "api"), ("__name__", "up"), ("empty", "")]);
    assert_eq!(l.to_string(), r#"{__name__="up", job="api"}"#);
    assert_eq!(l.metric_name(), Some("up"));
    assert!(!l.has("empty"));
}

#[test]
fn out_of_order_append_names_series_and_timestamps() {
    let mut s = Storage::new();
    let l = ls(&[("__name__", "up")]);
    s.append(&l, 2000, 1.0).unwrap();
    let err = s.append(&l, 1000, 1.0).unwrap_err().to_string();
    assert!(err.contains(r#"{__name__="up"}"#), "{err}");
    assert!(err.contains("1000") && err.contains("2000"), "{err}");
    // The stored sample survives the refused one.
    let got = s.select(&[Matcher::equal("__name__", "up")], i64::MIN, i64::MAX);
    assert_eq!(got[0].samples, vec![Sample { t: 2000, v: 1.0 }]);
    // An identical duplicate is accepted silently.
    s.append(&l, 2000, 1.0).unwrap();
    assert!(s.append(&l, 2000, 2.0).is_err());
}

#[test]
fn matchers_follow_prometheus_semantics() {
    let mut s = Storage::new();
    s.append(&ls(&[("__name__", "m"), ("job", "api")]), 0, 1.0)
        .unwrap();
    s.append(&ls(&[("__name__", "m"), ("job", "apiserver")]), 0, 2.0)
        .unwrap();
    s.append(&ls(&[("__name__", "m")]), 0, 3.0).unwrap();
    let sel = |ms: Vec<Matcher>| -> Vec<String> {
        s.select(&ms, 0, 0)
            .into_iter()
            .map(|d| d.labels.to_string())
            .collect()
    };
    let name = || Matcher::equal("__name__", "m");
    // Regexes are anchored: "api" does not match "apiserver".
    assert_eq!(sel(vec![name(), Matcher::regex("job", "api").unwrap()]).len(), 1);
    // `job=""` selects the series without a job label.
    assert_eq!(
        sel(vec![name(), Matcher::equal("job", "")]),
        vec![r#"{__name__="m"}"#]
    );
    // `job!="api"` also selects the series without a job label.
    assert_eq!(sel(vec![name(), Matcher::not_equal("job", "api")]).len(), 2);
    assert_eq!(
        sel(vec![name(), Matcher::not_regex("job", "api.*").unwrap()]).len(),
        1
    );
    assert_eq!(sel(vec![Matcher::regex("job", ".+").unwrap()]).len(), 2);
}

#[test]
fn staleness_marker_round_trips_through_chunks() {
    let mut s = Storage::new();
    let l = ls(&[("__name__", "up")]);
    s.append(&l, 0, 1.0).unwrap();
    s.append(&l, 15_000, stale_nan()).unwrap();
    s.append(&l, 30_000, f64::NAN).unwrap();
    let got = s.select(&[Matcher::equal("__name__", "up")], 0, 30_000);
    assert!(is_stale_nan(got[0].samples[1].v));
    assert!(got[0].samples[2].v.is_nan() && !is_stale_nan(got[0].samples[2].v));
}

#[test]
fn chunks_round_trip_irregular_data_and_windows() {
    let mut c = chunk::SeriesChunks::default();
    let mut want = Vec::new();
    let mut t = -5_000i64;
    let mut v = 0.5f64;
    for i in 0..1000i64 {
        // Irregular gaps, including large jumps that need the 64-bit bucket.
        t += match i % 7 {
            0 => 15_000,
            1 => 15_001,
            2 => 1,
            3 => 3_600_000_000,
            4 => 14_999,
            5 => 70_000,
            _ => 15_000,
        };
        v = match i % 5 {
            0 => v + 1.0,
            1 => v * -3.25,
            2 => f64::INFINITY,
            3 => 1e-300,
            _ => v,
        };
        c.push(Sample { t, v });
        want.push(Sample { t, v });
    }
    let mut got = Vec::new();
    c.samples_in(i64::MIN, i64::MAX, &mut got);
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g.t, w.t);
        assert_eq!(g.v.to_bits(), w.v.to_bits());
    }
    let (lo, hi) = (want[300].t, want[700].t);
    let mut part = Vec::new();
    c.samples_in(lo, hi, &mut part);
    assert_eq!(part.len(), 401);
    assert_eq!(part[0], want[300]);
}

#[test]
fn regular_scrapes_compress_below_two_bytes_per_sample() {
    let mut s = Storage::new();
    let l = ls(&[("__name__", "http_requests_total"), ("job", "api")]);
    let mut v = 0.0;
    for i in 0..240i64 {
        // A counter growing by small integer steps every 15s.
        v += (i % 3) as f64;
        s.append(&l, 1_700_000_000_000 + i * 15_000, v).unwrap();
    }
    let per_sample = s.sample_bytes() as f64 / s.num_samples() as f64;
    assert!(per_sample <= 2.0, "{per_sample} bytes per sample");
}

fn hist(count: f64, buckets: &[(i32, f64)]) -> FloatHistogram {
    FloatHistogram {
        count,
        sum: count,
        positive: buckets.to_vec(),
        ..FloatHistogram::default()
    }
}

#[test]
fn histogram_samples_are_selected_beside_floats_in_time_order() {
    let mut s = Storage::new();
    let l = ls(&[("__name__", "latency")]);
    s.append(&l, 0, 1.0).unwrap();
    s.append_histogram(&l, 10_000, hist(3.0, &[(0, 1.0), (1, 2.0)]))
        .unwrap();
    // Neither kind may go back in time past the other.
    let err = s.append(&l, 10_000, 2.0).unwrap_err().to_string();
    assert!(err.contains("10000"), "{err}");
    assert!(s.append_histogram(&l, 5_000, hist(1.0, &[])).is_err());
    assert_eq!(s.num_samples(), 2);

    let all = s.select_all(&[Matcher::equal("__name__", "latency")], 0, 20_000);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].floats, vec![Sample { t: 0, v: 1.0 }]);
    assert_eq!(all[0].histograms.len(), 1);
    assert_eq!(all[0].histograms[0].h.count, 3.0);
    // The float-only view is unchanged for callers that know nothing of histograms.
    let floats = s.select(&[Matcher::equal("__name__", "latency")], 0, 20_000);
    assert_eq!(floats[0].samples.len(), 1);
}

#[test]
fn a_histogram_after_another_records_whether_it_follows_a_reset() {
    let mut s = Storage::new();
    let l = ls(&[("__name__", "h")]);
    s.append_histogram(&l, 0, hist(5.0, &[(0, 5.0)])).unwrap();
    s.append_histogram(&l, 1, hist(7.0, &[(0, 7.0)])).unwrap();
    s.append_histogram(&l, 2, hist(2.0, &[(0, 2.0)])).unwrap();
    let mut gauge = hist(1.0, &[(0, 1.0)]);
    gauge.counter_reset_hint = CounterResetHint::Gauge;
    s.append_histogram(&l, 3, gauge).unwrap();
    let got: Vec<CounterResetHint> = s.select_all(&[Matcher::equal("__name__", "h")], 0, 10)[0]
        .histograms
        .iter()
        .map(|h| h.h.counter_reset_hint)
        .collect();
    assert_eq!(
        got,
        vec![
            CounterResetHint::Unknown,
            CounterResetHint::NotCounterReset,
            CounterResetHint::CounterReset,
            CounterResetHint::Gauge,
        ]
    );
}

#[test]
fn histograms_add_at_the_coarser_schema_and_refuse_mixed_bucket_kinds() {
    // Schema 1 buckets 1..=4 cover (1,√2], (√2,2], (2,2√2], (2√2,4]; at schema 0 they fold into
    // (1,2] and (2,4].
    let fine = FloatHistogram {
        schema: 1,
        count: 4.0,
        sum: 8.0,
        positive: vec![(1, 1.0), (2, 1.0), (3, 1.0), (4, 1.0)],
        ..FloatHistogram::default()
    };
    let coarse = FloatHistogram {
        schema: 0,
        count: 1.0,
        sum: 3.0,
        positive: vec![(2, 1.0)],
        ..FloatHistogram::default()
    };
    let sum = fine.combine(&coarse, 1.0).unwrap();
    assert_eq!(sum.schema, 0);
    assert_eq!(sum.positive, vec![(1, 2.0), (2, 3.0)]);
    assert_eq!((sum.count, sum.sum), (5.0, 11.0));
    assert_eq!(sum.bucket_bounds(2), (2.0, 4.0));

    let custom = FloatHistogram {
        schema: histogram::CUSTOM_BUCKETS_SCHEMA,
        custom_values: vec![1.0, 5.0],
        positive: vec![(0, 1.0)],
        count: 1.0,
        ..FloatHistogram::default()
    };
    assert_eq!(custom.bucket_bounds(1), (1.0, 5.0));
    assert_eq!(custom.bucket_bounds(2), (5.0, f64::INFINITY));
    assert_eq!(
        custom.combine(&coarse, 1.0),
        Err(histogram::HistogramMismatch::MixedSchemas)
    );
    // Different custom bounds meet on the bounds both have: (−Inf,1] (1,5] (5,+Inf] and
    // (−Inf,5] (5,+Inf] share only 5.
    let mut other = custom.clone();
    other.custom_values = vec![5.0];
    other.positive = vec![(0, 2.0), (1, 3.0)];
    other.count = 5.0;
    let mut three = custom.clone();
    three.positive = vec![(0, 1.0), (1, 2.0), (2, 4.0)];
    three.count = 7.0;
    let (sum, reconciled) = three.combine_reconciling(&other, 1.0).unwrap();
    assert!(reconciled);
    assert_eq!(sum.custom_values, vec![5.0]);
    assert_eq!(sum.positive, vec![(0, 5.0), (1, 7.0)]);
    assert_eq!(sum.count, 12.0);
}

#[test]
fn a_wider_zero_bucket_absorbs_the_buckets_inside_it() {
    let a = FloatHistogram {
        zero_threshold: 0.5,
        zero_count: 1.0,
        count: 3.0,
        positive: vec![(0, 1.0), (1, 1.0)],
        ..FloatHistogram::default()
    };
    let b = FloatHistogram {
        zero_threshold: 1.0,
        count: 0.0,
        ..FloatHistogram::default()
    };
    // Bucket 0 at schema 0 is (0.5, 1], inside the new zero bucket [-1, 1].
    let s = a.combine(&b, 1.0).unwrap();
    assert_eq!(s.zero_threshold, 1.0);
    assert_eq!(s.zero_count, 2.0);
    assert_eq!(s.positive, vec![(1, 1.0)]);
    // Going back to the narrower zero bucket is a counter reset, as a lower count is.
    assert!(a.detect_reset(&s));
    assert!(!s.detect_reset(&a));
}

#[test]
fn hostile_schemas_and_indices_do_not_panic() {
    for schema in [i32::MIN, -100, -53, -4, 0, 8, 63, 64, i32::MAX] {
        let h = FloatHistogram {
            schema,
            count: 2.0,
            positive: vec![(i32::MIN, 1.0), (i32::MAX, 1.0)],
            negative: vec![(0, 1.0)],
            ..FloatHistogram::default()
        };
        let _ = h.all_buckets();
        let _ = h.combine(&FloatHistogram::default(), 1.0);
        let _ = h.detect_reset(&FloatHistogram::default());
        let _ = crate::promql::value::format_histogram(&h);
    }
}

/// Series with a label pair in common share its strings, with each other and with the index
/// (the store interns them: one copy of `job`/`api` however many series carry it), while the
/// labels still compare, hash and find the series as the caller's own copies do.
#[test]
fn series_share_interned_label_strings() {
    let mut s = Storage::new();
    let a = ls(&[("__name__", "up"), ("job", "api"), ("instance", "a:1")]);
    let b = ls(&[("__name__", "up"), ("job", "api"), ("instance", "b:1")]);
    s.append(&a, 1000, 1.0).unwrap();
    s.append(&b, 1000, 1.0).unwrap();
    let pair = |r: usize, name: &str| {
        let l = s.all_series()[r]
            .labels()
            .iter()
            .find(|l| l.name == name)
            .unwrap();
        (l.name.clone(), l.value.clone())
    };
    for name in ["__name__", "job"] {
        let (x, y) = (pair(0, name), pair(1, name));
        assert!(x.0.ptr_eq(&y.0) && x.1.ptr_eq(&y.1), "{name} is stored twice");
    }
    assert!(!pair(0, "instance").1.ptr_eq(&pair(1, "instance").1));
    // The stored copies equal the caller's, and the caller's copies still find the series.
    assert_eq!(s.all_series()[0].labels(), &a);
    assert_eq!(s.append(&b, 2000, 2.0).unwrap(), 1);
    assert_eq!(s.num_series(), 2);
    assert_eq!(s.label_values("instance"), ["a:1", "b:1"]);
    let sel = s.series(&[Matcher::equal("job", "api")]);
    assert_eq!(sel.len(), 2);
    let one = s.series(&[Matcher::equal("instance", "b:1")]);
    assert_eq!(one.iter().map(|m| m.labels()).collect::<Vec<_>>(), [&b]);
    assert_eq!(s.series(&[Matcher::regex("instance", "a.*").unwrap()]).len(), 1);
}

/// A label string hashes and orders as the same text in a `String` does: series hashes,
/// grouping signatures and the order of query results do not depend on how labels are stored.
#[test]
fn label_strings_hash_and_order_like_strings() {
    use std::hash::BuildHasher;
    let h = std::hash::RandomState::new();
    for (x, y) in [("a", "b"), ("job", "jo"), ("", "z"), ("é", "e")] {
        let (lx, ly) = (LabelStr::from(x), LabelStr::from(y));
        assert_eq!(h.hash_one(&lx), h.hash_one(x.to_string()));
        assert_eq!(lx.cmp(&ly), x.cmp(y));
        let owned = x.to_string();
        assert!(lx == x);
        assert!(x == lx);
        assert!(lx == owned);
    }
}

/// After retention removes a series, the survivors are renumbered and still found by their
/// labels (the hash table holds references, rebuilt with the index), and a removed series comes
/// back as a new one.
#[test]
fn series_are_found_by_labels_after_retention_renumbers_them() {
    let mut s = Storage::new();
    let old = ls(&[("__name__", "old")]);
    let kept = ls(&[("__name__", "kept"), ("job", "api")]);
    s.append(&old, 1000, 1.0).unwrap();
    s.append(&kept, 1000, 1.0).unwrap();
    s.append(&kept, 900_000, 2.0).unwrap();
    let stats = s.drop_before(500_000);
    assert_eq!((stats.series, s.num_series()), (1, 1));
    assert_eq!(s.append(&kept, 910_000, 3.0).unwrap(), 0);
    assert_eq!(s.append(&old, 910_000, 3.0).unwrap(), 1);
    assert_eq!(s.series(&[Matcher::equal("job", "api")]).len(), 1);
    assert_eq!(s.label_values("__name__"), ["kept", "old"]);
}

/// The structures every series pays for keep the sizes the memory goal of issue 3 (at most
/// 1 KiB per series, `cargo bench --bench store`) was reached with: a field added to them is
/// paid a million times in a large store.
#[cfg(target_pointer_width = "64")]
#[test]
fn per_series_structures_stay_compact() {
    assert_eq!(std::mem::size_of::<super::MemSeries>(), 48);
    assert_eq!(std::mem::size_of::<chunk::XorChunk>(), 56);
    assert_eq!(std::mem::size_of::<super::Label>(), 32);
    assert_eq!(std::mem::size_of::<Labels>(), 16);
}
