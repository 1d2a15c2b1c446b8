//! `burnwatch serve --data-dir`: the store survives a clean restart and a SIGKILL, and one
//! data directory serves one process.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use burnwatch_slo::ingest::remote_write::{Label, Sample, TimeSeries, WriteRequest, encode_write_request};
use common::*;

/// Starts `burnwatch serve --data-dir DIR [extra...]` on a free port and waits until it is ready.
fn start(name: &str, logs: &Path, data_dir: &Path, extra: &[&str]) -> (Proc, String) {
    start_serve_with_data(name, logs, data_dir, extra)
}

/// `GET /api/v1/query` at a fixed time; the body.
fn query(base: &str, q: &str, time: &str) -> String {
    let url = format!("{base}/api/v1/query?query={}&time={time}", encode(q));
    let (status, body) = http_get(&url).expect("the server answers");
    assert_eq!(status, 200, "{body}");
    body
}

/// A log without its ANSI colour codes.
fn plain(log: &str) -> String {
    let mut out = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // Skip to the end of the escape sequence (`ESC [ ... m`).
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Percent-encodes a query string value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn loaded_data_survives_a_sigterm_restart_without_load() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let file = repo_root().join("examples/metrics/checkout.om");
    let queries = [
        ("sum by (code) (rate(http_requests_total[5m]))", "1767229200"),
        (
            "histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
            "1767228000",
        ),
        ("count({job=\"checkout\"})", "1767229200"),
    ];

    let (mut first, base) = start("first", tmp.path(), &data, &["--load", file.to_str().unwrap()]);
    let before: Vec<String> = queries.iter().map(|(q, t)| query(&base, q, t)).collect();
    assert!(
        before[0].contains("\"code\":\"200\""),
        "the import is queryable: {}",
        before[0]
    );
    let status = first
        .terminate(Duration::from_secs(30))
        .expect("serve stops on SIGTERM");
    assert!(status.success(), "exit {status:?}:\n{}", first.output());
    assert!(
        first.output().contains("Wrote the shutdown snapshot"),
        "{}",
        first.output()
    );

    let (mut second, base) = start("second", tmp.path(), &data, &[]);
    let after: Vec<String> = queries.iter().map(|(q, t)| query(&base, q, t)).collect();
    assert_eq!(before, after);
    let log = second.output();
    assert!(log.contains("Recovered") && log.contains("snapshot-"), "{log}");
    second.terminate(Duration::from_secs(30));
}

fn write_request(name: &str, points: &[(i64, f64)]) -> Vec<u8> {
    encode_write_request(&WriteRequest {
        timeseries: vec![TimeSeries {
            labels: vec![
                Label {
                    name: "__name__".into(),
                    value: name.into(),
                },
                Label {
                    name: "job".into(),
                    value: "pushed".into(),
                },
            ],
            samples: points
                .iter()
                .map(|&(timestamp, value)| Sample { value, timestamp })
                .collect(),
            histograms: Vec::new(),
            ..Default::default()
        }],
        ..Default::default()
    })
}

fn remote_write(base: &str, body: &[u8]) {
    let (status, text) = common::post_remote_write(base, body);
    assert_eq!(status, 204, "{text}");
}

#[test]
fn remote_written_samples_survive_sigkill() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let t0 = 1_767_225_600_000i64;

    let (mut first, base) = start("first", tmp.path(), &data, &[]);
    remote_write(
        &base,
        &write_request("pushed_total", &[(t0, 1.0), (t0 + 15_000, 2.5)]),
    );
    remote_write(&base, &write_request("pushed_total", &[(t0 + 30_000, 4.0)]));
    // A 204 means the batch is in the OS's hands (the WAL is flushed before remote write answers):
    // kill at once.
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    // A crash in the middle of a record leaves a torn tail: a few bytes of a header.
    let wal_dir = data.join("wal");
    let newest = std::fs::read_dir(&wal_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .max()
        .unwrap();
    let mut bytes = std::fs::read(&newest).unwrap();
    let intact = bytes.len();
    bytes.extend_from_slice(&[0x1b, 0, 0]);
    std::fs::write(&newest, &bytes).unwrap();

    let (mut second, base) = start("second", tmp.path(), &data, &[]);
    let log = plain(&second.output());
    assert!(
        log.contains("torn")
            && log.contains(newest.to_str().unwrap())
            && log.contains(&format!("offset={intact}")),
        "the truncation is reported with the segment and offset:\n{log}"
    );
    let body = query(&base, "pushed_total[1m]", "1767225630");
    for v in ["\"1\"", "\"2.5\"", "\"4\""] {
        assert!(
            body.contains(v),
            "sample {v} is missing after SIGKILL: {body}\n{}",
            second.output()
        );
    }
    assert!(
        second.output().contains("Recovered 1 series and 3 samples"),
        "{}",
        second.output()
    );

    // The recovered store keeps taking writes, and they survive a clean restart too.
    remote_write(&base, &write_request("pushed_total", &[(t0 + 45_000, 8.0)]));
    let status = second.terminate(Duration::from_secs(30)).unwrap();
    assert!(status.success(), "{}", second.output());
    let (mut third, base) = start("third", tmp.path(), &data, &[]);
    let body = query(&base, "pushed_total", "1767225645");
    assert!(body.contains("\"8\""), "{body}");
    third.terminate(Duration::from_secs(30));
}

#[test]
fn a_second_serve_on_the_same_data_dir_fails_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (mut first, _) = start("first", tmp.path(), &data, &[]);
    let out = Command::new(burnwatch_bin())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("in use by another burnwatch process")
            && err.contains(&format!("pid {}", first.child.id()))
            && err.contains(data.to_str().unwrap()),
        "{err}"
    );
    first.terminate(Duration::from_secs(30));
}

#[test]
fn retention_accepts_prometheus_flag_spelling_and_rejects_bad_durations() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (mut p, _) = start(
        "alias",
        tmp.path(),
        &data,
        &["--storage.tsdb.retention.time", "30d"],
    );
    p.terminate(Duration::from_secs(30));
    let out = Command::new(burnwatch_bin())
        .args([
            "serve",
            "--retention",
            "soon",
            "--data-dir",
            data.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--retention") && err.contains("\"soon\""), "{err}");
}
