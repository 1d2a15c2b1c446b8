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
