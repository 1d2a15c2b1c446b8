//! `serve --config`'s `remote_write` against real Prometheus 2.42 receivers started by the test
//! (issue 13 §2): native histograms taken in go out as native histograms, and a reloaded
//! `remote_write` section moves the stream from one receiver to another as Prometheus's reload
//! does, refusing a bad new section while the old one keeps running.

mod common;

use std::path::Path;
use std::time::Duration;

use burnwatch_slo::ingest::remote_write::{
    BucketSpan, Histogram, Label, Sample, TimeSeries, WriteRequest, encode_write_request, histogram,
};
use common::{
    Proc, http_request, instant_value, post_remote_write, require_tool, start_prometheus_receiver,
    start_serve_with_data, wait_for, write_file,
};

/// The first value of `query`'s instant vector at `time_ms` in the API at `base`, if any.
fn value_at(base: &str, query: &str, time_ms: i64) -> Option<f64> {
    instant_value(base, query, Some(time_ms))
}

/// Starts Prometheus 2.42 as a remote-write receiver with native histograms on, in `dir/name`.
fn start_prometheus(bin: &Path, dir: &Path, name: &str) -> (Proc, String) {
    start_prometheus_receiver(
        bin,
        &dir.join(name),
        name,
        &["--enable-feature=native-histograms"],
    )
}

/// Posts a remote-write request to burnwatch; the status and body.
fn post(base: &str, req: &WriteRequest) -> (u16, String) {
    post_remote_write(base, &encode_write_request(req))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn labels(name: &str) -> Vec<Label> {
    vec![Label::new("__name__", name), Label::new("job", "rw-test")]
}

/// One float sample of `name`.
fn float_request(name: &str, t: i64, v: f64) -> WriteRequest {
    WriteRequest {
        timeseries: vec![TimeSeries {
            labels: labels(name),
            samples: vec![Sample {
                value: v,
                timestamp: t,
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// An integer native histogram of schema 0: zero bucket `zero`, buckets 0..3 with `counts`.
fn int_histogram(t: i64, zero: u64, counts: [i64; 3], sum: f64) -> Histogram {
    let mut prev = 0;
    let deltas = counts
        .iter()
        .map(|c| {
            let d = c - prev;
            prev = *c;
            d
        })
        .collect();
    Histogram {
        count: Some(histogram::Count::CountInt(
            zero + counts.iter().sum::<i64>() as u64,
        )),
        sum,
        schema: 0,
        zero_threshold: 1e-128,
        zero_count: Some(histogram::ZeroCount::ZeroCountInt(zero)),
        positive_spans: vec![BucketSpan { offset: 0, length: 3 }],
        positive_deltas: deltas,
        timestamp: t,
        ..Default::default()
    }
}

#[test]
fn native_histograms_taken_in_go_out_to_prometheus_as_native_histograms() {
    let Some(prom_bin) = require_tool("prometheus", "apt-get install prometheus") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (prom, prom_base) = start_prometheus(&prom_bin, dir.path(), "prometheus");
    let config = write_file(
        dir.path(),
        "burnwatch.yml",
        &format!("remote_write:\n  - url: {prom_base}/api/v1/write\n"),
    );
    let (serve, base) = start_serve_with_data(
        "serve",
        dir.path(),
        &dir.path().join("serve-data"),
        &["--config", config.to_str().unwrap()],
    );
    let t1 = now_ms() - 60_000;
    let t2 = t1 + 15_000;
    let req = WriteRequest {
        timeseries: vec![TimeSeries {
            labels: labels("rw_latency_seconds"),
            histograms: vec![
                int_histogram(t1, 1, [2, 5, 4], 25.5),
                int_histogram(t2, 2, [4, 8, 6], 40.25),
            ],
            ..Default::default()
        }],
        ..Default::default()
    };
    assert_eq!(post(&base, &req).0, 204, "serve takes the histograms");
    for (query, t, want) in [
        ("histogram_count(rw_latency_seconds)", t1, 12.0),
        ("histogram_sum(rw_latency_seconds)", t1, 25.5),
        ("histogram_count(rw_latency_seconds)", t2, 20.0),
        ("histogram_sum(rw_latency_seconds)", t2, 40.25),
    ] {
        let here = value_at(&base, query, t);
        assert_eq!(here, Some(want), "{query} at {t} in burnwatch");
        let there = wait_for(Duration::from_secs(120), || value_at(&prom_base, query, t));
        assert_eq!(
            there,
            here,
            "{query} at {t}: Prometheus holds what burnwatch holds\nserve:\n{}\nprometheus:\n{}",
            serve.output(),
            prom.output()
        );
    }
    // A native histogram, not classic series: Prometheus has no _bucket/_count series for it.
    assert_eq!(value_at(&prom_base, "count(rw_latency_seconds_count)", t2), None);
}

/// Writes `burnwatch.yml` with one `remote_write` entry per URL.
fn remote_write_config(dir: &Path, urls: &[String]) {
    let mut text = String::from("remote_write:\n");
    for u in urls {
        text.push_str(&format!("  - url: {u}\n"));
    }
    write_file(dir, "burnwatch.yml", &text);
}

fn reload(base: &str) -> (u16, String) {
    let r = http_request("POST", &format!("{base}/-/reload"), &[], b"").expect("serve answers");
    (r.status, r.text())
}

/// How many samples of `m` a receiver holds in the hour before `t`.
fn samples_of(base: &str, name: &str, t: i64) -> Option<f64> {
    value_at(base, &format!("count_over_time({name}[1h])"), t)
}

#[test]
fn reloaded_remote_write_moves_the_stream_to_the_new_receiver_and_refuses_a_bad_one() {
    let Some(prom_bin) = require_tool("prometheus", "apt-get install prometheus") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (prom_a, a) = start_prometheus(&prom_bin, dir.path(), "prometheus-a");
    let (prom_b, b) = start_prometheus(&prom_bin, dir.path(), "prometheus-b");
    remote_write_config(dir.path(), &[format!("{a}/api/v1/write")]);
    let config = dir.path().join("burnwatch.yml");
    let (serve, base) = start_serve_with_data(
        "serve",
        dir.path(),
        &dir.path().join("serve-data"),
        &["--config", config.to_str().unwrap(), "--web.enable-lifecycle"],
    );
    let logs = || {
        format!(
            "serve:\n{}\nA:\n{}\nB:\n{}",
            serve.output(),
            prom_a.output(),
            prom_b.output()
        )
    };
    let t0 = now_ms() - 120_000;
    let end = t0 + 100_000;

    // Before the reload: the sample goes to A.
    assert_eq!(post(&base, &float_request("moved", t0, 1.0)).0, 204);
    let got = wait_for(Duration::from_secs(120), || samples_of(&a, "moved", end));
    assert_eq!(got, Some(1.0), "A got the first sample\n{}", logs());

    // Reload: B replaces A. The next sample goes to B only; B never gets the first one.
    remote_write_config(dir.path(), &[format!("{b}/api/v1/write")]);
    assert_eq!(reload(&base).0, 200, "{}", logs());
    assert_eq!(post(&base, &float_request("moved", t0 + 10_000, 2.0)).0, 204);
    let got = wait_for(Duration::from_secs(120), || samples_of(&b, "moved", end));
    assert_eq!(got, Some(1.0), "B got the sample after the reload\n{}", logs());
    assert_eq!(value_at(&b, "moved", t0 + 10_000), Some(2.0));
    assert_eq!(
        samples_of(&b, "moved", t0 + 5_000),
        None,
        "B starts from the reload: the first sample is not re-sent"
    );

    // A bad new section is refused naming the key; B keeps receiving.
    write_file(dir.path(), "burnwatch.yml", "remote_write:\n  - url: not-a-url\n");
    let (status, text) = reload(&base);
    assert_eq!(status, 500, "{text}");
    assert!(text.contains("remote_write[0].url"), "{text}");
    let logged = wait_for(Duration::from_secs(60), || {
        let out = serve.output();
        (out.contains("Error reloading the configuration file") && out.contains("remote_write[0].url"))
            .then_some(())
    });
    assert!(
        logged.is_some(),
        "the refusal is logged naming the key\n{}",
        logs()
    );
    assert_eq!(post(&base, &float_request("moved", t0 + 20_000, 3.0)).0, 204);
    let got = wait_for(Duration::from_secs(120), || {
        samples_of(&b, "moved", end).filter(|n| *n == 2.0)
    });
    assert_eq!(got, Some(2.0), "the old section keeps running\n{}", logs());
    // By now A has had every chance to get what B got; it holds only the first sample.
    assert_eq!(
        samples_of(&a, "moved", end),
        Some(1.0),
        "A was removed\n{}",
        logs()
    );
}
