//! `burnwatch serve --data-dir` against inputs that used to cost data (issue #12): a sample or a
//! DORA event stamped in 2199 is refused and the history survives a restart, DORA event ids
//! survive a SIGKILL, and a full disk (a small tmpfs, which needs root as CI has) makes remote
//! write answer 500 instead of acknowledging samples it cannot keep, while queries go on and a
//! restart on the full disk serves read-only.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use burnwatch_slo::ingest::remote_write::{Label, Sample, TimeSeries, WriteRequest, encode_write_request};
use common::*;

/// Starts `burnwatch serve --data-dir DIR` on a free port and waits until it is ready.
fn start(name: &str, logs: &Path, data_dir: &Path) -> (Proc, String) {
    start_with(name, logs, data_dir, &[])
}

/// [`start`] with extra flags.
fn start_with(name: &str, logs: &Path, data_dir: &Path, extra: &[&str]) -> (Proc, String) {
    start_serve_with_data(name, logs, data_dir, extra)
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// 2199-01-01T00:00:00Z.
const YEAR_2199_MS: i64 = 7_226_582_400_000;

fn write_request(name: &str, points: &[(i64, f64)]) -> Vec<u8> {
    encode_write_request(&WriteRequest {
        timeseries: vec![TimeSeries {
            labels: vec![Label {
                name: "__name__".into(),
                value: name.into(),
            }],
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

/// Posts a remote-write body; the status and text.
fn remote_write(base: &str, body: &[u8]) -> (u16, String) {
    common::post_remote_write(base, body)
}

/// Posts JSON-lines DORA events; the status and text.
fn post_events(base: &str, body: &str) -> (u16, String) {
    let resp = http_request(
        "POST",
        &format!("{base}/api/v1/dora/events"),
        &[("Content-Type", "application/x-ndjson")],
        body.as_bytes(),
    )
    .expect("the server answers");
    (resp.status, resp.text())
}

/// The value of an instant query with one result, if any.
fn query_value(base: &str, q: &str) -> Option<f64> {
    let encoded: String = q
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let (status, body) = http_get(&format!("{base}/api/v1/query?query={encoded}"))?;
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    json["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

fn deployment(id: &str, time: &str) -> String {
    format!(
        r#"{{"type":"deployment","id":"{id}","service":"api","time":"{time}","status":"success","commits":[]}}"#
    )
}

fn rfc3339(ms: i64) -> String {
    burnwatch_slo::api::params::format_rfc3339(ms)
}

#[test]
fn far_future_samples_and_events_are_refused_and_dora_ids_survive_a_sigkill() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let now = now_ms();
    let (mut first, base) = start("first", tmp.path(), &data);
    let good: Vec<(i64, f64)> = (0..20).map(|i| (now - 600_000 + i * 15_000, i as f64)).collect();
    assert_eq!(remote_write(&base, &write_request("good", &good)).0, 204);
    let (status, text) = remote_write(&base, &write_request("bad_clock", &[(YEAR_2199_MS, 1.0)]));
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("bad_clock") && text.contains("2199-01-01T00:00:00Z"),
        "{text}"
    );
    let (status, text) = post_events(&base, &deployment("d1", &rfc3339(now - 3_600_000)));
    assert_eq!(status, 200, "{text}");
    let (status, text) = post_events(&base, &deployment("d2", "2199-01-01T00:00:00Z"));
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("\"line\":1") && text.contains("outside the accepted range"),
        "{text}"
    );

    // A crash: everything acknowledged was handed to the OS at the end of its request.
    first.child.kill().unwrap();
    first.child.wait().unwrap();

    let (mut second, base) = start("second", tmp.path(), &data);
    assert_eq!(query_value(&base, "count_over_time(good[1h])"), Some(20.0));
    assert_eq!(query_value(&base, "count(bad_clock)"), None);
    // The same id again, even with another time, is a duplicate after the restart too.
    let (status, text) = post_events(&base, &deployment("d1", &rfc3339(now - 1_800_000)));
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("duplicate deployment id"), "{text}");
    assert_eq!(
        query_value(&base, "sum(last_over_time(dora_deployments_total[1d]))"),
        Some(1.0)
    );
    second.terminate(Duration::from_secs(30));
}

/// A tmpfs of `size` mounted on `dir`, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts one, or says why it cannot (not root, no mount privilege in the container).
    fn mount(dir: &Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system holding `path` to the last byte; the filler file.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write as _;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0x55u8; 64 << 10];
    while f.write_all(&chunk).is_ok() {}
    // The last partial chunk: byte by byte.
    while f.write_all(&[0x55]).is_ok() {}
    let _ = f.sync_all();
    path
}

#[test]
fn full_disk_remote_write_gets_500_queries_go_on_and_a_restart_serves_read_only() {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("disk");
    let _disk = match Tmpfs::mount(&mnt, "16m") {
        Ok(d) => d,
        Err(why) => {
            let message = format!("cannot mount a tmpfs to fill up ({why}); this test needs root");
            if in_ci() {
                panic!("{message} (CI=true: it must run)");
            }
            eprintln!("\n!!! SKIPPING: {message}\n");
            return;
        }
    };
    let data = mnt.join("data");
    // One sample per request, 10 ms apart, the newest a minute ago.
    let mut t = now_ms() - 60_000;
    let mut acknowledged = 0u32;
    let (mut first, base) = start("first", tmp.path(), &data);
    assert_eq!(remote_write(&base, &write_request("rw", &[(t, 1.0)])).0, 204);
    acknowledged += 1;
    let filler = fill(&mnt);
    // Requests are acknowledged while their records still fit in the WAL's last allocated
    // page; the first one that does not gets a server error (the sender retries), and so does
    // every one after it: none is acknowledged that the WAL does not hold.
    let mut refused = 0;
    for _ in 0..5000 {
        t += 10;
        let (status, text) = remote_write(&base, &write_request("rw", &[(t, 2.0)]));
        if status == 204 && refused == 0 {
            acknowledged += 1;
            continue;
        }
        assert_eq!(status, 500, "after {refused} refusals: {text}");
        assert!(text.contains("No space left on device"), "{text}");
        refused += 1;
        if refused == 5 {
            break;
        }
    }
    assert_eq!(refused, 5, "the disk never filled up");
    let count = "count_over_time(rw[1h])";
    assert!(query_value(&base, count).is_some(), "queries are answered");
    first
        .terminate(Duration::from_secs(30))
        .expect("serve stops on SIGTERM");

    // A restart on the full disk serves what is stored, read-only: every acknowledged sample.
    let (mut second, base) = start("second", tmp.path(), &data);
    assert!(
        second.output().contains("read-only"),
        "the log says why writes are refused:\n{}",
        second.output()
    );
    assert_eq!(query_value(&base, count), Some(f64::from(acknowledged)));
    t += 10;
    let (status, text) = remote_write(&base, &write_request("rw", &[(t, 3.0)]));
    assert_eq!(status, 500, "{text}");

    // Space again: the background snapshot brings writes back (its schedule is seconds after a
    // failure; the deadline is generous, nothing is timed).
    std::fs::remove_file(&filler).unwrap();
    t += 10;
    let back = wait_for(Duration::from_secs(120), || {
        let (status, _) = remote_write(&base, &write_request("rw", &[(t, 4.0)]));
        (status == 204).then_some(())
    });
    assert!(back.is_some(), "writes did not come back:\n{}", second.output());
    second
        .terminate(Duration::from_secs(30))
        .expect("serve stops on SIGTERM");
    let (mut third, base) = start("third", tmp.path(), &data);
    assert_eq!(query_value(&base, "rw"), Some(4.0));
    assert_eq!(query_value(&base, count), Some(f64::from(acknowledged + 1)));
    third.terminate(Duration::from_secs(30));
}

#[test]
fn label_limit_flags_set_what_remote_write_takes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (mut p, base) = start_with("limits", tmp.path(), &data, &["--label-limit", "2"]);
    let t = now_ms() - 60_000;
    let series = |labels: &[(&str, &str)]| {
        encode_write_request(&WriteRequest {
            timeseries: vec![TimeSeries {
                labels: labels
                    .iter()
                    .map(|(n, v)| Label {
                        name: (*n).into(),
                        value: (*v).into(),
                    })
                    .collect(),
                samples: vec![Sample {
                    value: 1.0,
                    timestamp: t,
                }],
                histograms: Vec::new(),
                ..Default::default()
            }],
            ..Default::default()
        })
    };
    let (status, text) = remote_write(&base, &series(&[("__name__", "a"), ("x", "1")]));
    assert_eq!(status, 204, "{text}");
    let (status, text) = remote_write(&base, &series(&[("__name__", "b"), ("x", "1"), ("y", "2")]));
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("label_limit") && text.contains("3 labels, more than the 2 allowed"),
        "{text}"
    );
    p.terminate(Duration::from_secs(30));
}
