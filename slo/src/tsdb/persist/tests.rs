//! Tests of the durable store: WAL, snapshots, recovery, retention and the lock.

use std::path::Path;
use std::time::Duration;

use super::super::chunk::{SeriesChunks, XorChunk};
use super::super::histogram::{CounterResetHint, FloatHistogram};
use super::super::{Labels, Queryable as _, STALE_NAN_BITS, Sample, Storage, stale_nan};
use super::wal::{self, Record, Wal};
use super::{DurableStore, PersistError, PersistOptions};
use crate::tsdb::AppendLog as _;

/// Every sample of a store, floats by bit pattern, in a comparable form.
type Dump = Vec<(String, Vec<(i64, u64)>, Vec<(i64, FloatHistogram)>)>;

fn dump(store: &Storage) -> Dump {
    let mut out: Dump = store
        .select_all(&[], i64::MIN, i64::MAX)
        .into_iter()
        .map(|s| {
            (
                s.labels.to_string(),
                s.floats.iter().map(|x| (x.t, x.v.to_bits())).collect(),
                s.histograms.iter().map(|h| (h.t, (*h.h).clone())).collect(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn dump_shared(d: &DurableStore) -> Dump {
    dump(&d.storage().read().unwrap())
}

fn labels(name: &str, job: &str) -> Labels {
    Labels::from_pairs([("__name__", name), ("job", job)])
}

fn histogram(n: f64) -> FloatHistogram {
    FloatHistogram {
        schema: 1,
        zero_threshold: 1e-128,
        zero_count: n,
        count: 4.0 * n,
        sum: 10.5 * n,
        positive: vec![(-2, n), (3, 2.0 * n)],
        negative: vec![(1, n)],
        ..FloatHistogram::default()
    }
}

/// Options with background work slowed down, so tests decide when things happen.
fn quiet() -> PersistOptions {
    PersistOptions {
        snapshot_interval: Duration::from_secs(3600),
        retention_interval: Duration::from_secs(3600),
        flush_interval: Duration::from_secs(3600),
        ..PersistOptions::default()
    }
}

/// Fills `store` with awkward data: NaN payloads, staleness markers, infinities, negative
/// zero, several chunks, custom-bucket and exponential histograms, a float series that turns
/// into a histogram series.
fn fill(store: &mut Storage, from: i64, n: i64) {
    let odd_nan = f64::from_bits(0x7ff8_dead_beef_0001);
    for i in from..from + n {
        let t = i * 15_000;
        let v = match i % 7 {
            0 => odd_nan,
            1 => stale_nan(),
            2 => f64::INFINITY,
            3 => -0.0,
            _ => i as f64 * 1.25,
        };
        store.append(&labels("odd", "a"), t, v).unwrap();
        store.append(&labels("counter", "a"), t, i as f64).unwrap();
        store
            .append_histogram(&labels("hist", "a"), t, histogram(i as f64))
            .unwrap();
    }
    let custom = FloatHistogram {
        schema: super::super::histogram::CUSTOM_BUCKETS_SCHEMA,
        count: 3.0,
        sum: 1.0,
        positive: vec![(0, 1.0), (2, 2.0)],
        custom_values: vec![0.1, 0.5],
        counter_reset_hint: CounterResetHint::Gauge,
        ..FloatHistogram::default()
    };
    let t = (from + n) * 15_000;
    store.append(&labels("mixed", "a"), t, 1.0).unwrap();
    store
        .append_histogram(&labels("mixed", "a"), t + 1, custom)
        .unwrap();
}

#[test]
fn wal_records_round_trip_with_exact_bits() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = Wal::create(dir.path(), 3, Vec::new(), 10, Default::default());
    let l = labels("up", "x");
    w.series(0, &l);
    w.sample(0, 1000, stale_nan());
    w.sample(0, 2000, f64::from_bits(0x7ff8_0000_0000_0042));
    w.histogram(0, 3000, &histogram(2.0));
    w.sync().unwrap();
    let mut got = Vec::new();
    let read = wal::read_segment(&wal::segment_path(dir.path(), 3), |r| got.push(r)).unwrap();
    assert_eq!(read.records, 4);
    assert!(read.truncated_at.is_none());
    assert!(matches!(&got[0], Record::Series { id: 10, labels } if *labels == l));
    assert!(matches!(got[1], Record::Sample { id: 10, t: 1000, v } if v.to_bits() == STALE_NAN_BITS));
    assert!(matches!(got[2], Record::Sample { id: 10, t: 2000, v } if v.to_bits() == 0x7ff8_0000_0000_0042));
    assert!(matches!(&got[3], Record::Histogram { id: 10, t: 3000, h } if **h == histogram(2.0)));
}

/// Writes a segment with `n` samples and returns its path and the offset of each record.
fn segment_with_samples(dir: &Path, n: usize) -> (std::path::PathBuf, Vec<u64>) {
    let mut w = Wal::create(dir, 0, Vec::new(), 0, Default::default());
    w.series(0, &labels("up", "x"));
    let path = wal::segment_path(dir, 0);
    let mut offsets = Vec::new();
    for i in 0..n {
        w.sync().unwrap();
        offsets.push(std::fs::metadata(&path).unwrap().len());
        w.sample(0, i as i64 * 1000, i as f64);
    }
    w.sync().unwrap();
    (path, offsets)
}

#[test]
fn torn_wal_tail_is_truncated_and_earlier_records_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (path, offsets) = segment_with_samples(dir.path(), 5);
    // A crash in the middle of the last record: its header and part of its payload made it.
    let full = std::fs::metadata(&path).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(full - 5).unwrap();
    drop(f);

    let mut samples = Vec::new();
    let read = wal::read_segment(&path, |r| {
        if let Record::Sample { t, .. } = r {
            samples.push(t);
        }
    })
    .unwrap();
    assert_eq!(samples, vec![0, 1000, 2000, 3000]);
    let (offset, reason) = read.truncated_at.expect("the torn record is reported");
    assert_eq!(offset, offsets[4]);
    assert!(reason.contains("torn"), "{reason}");
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        offsets[4],
        "the file is cut at the torn record"
    );
}

#[test]
fn corrupt_wal_record_is_cut_at_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (path, offsets) = segment_with_samples(dir.path(), 5);
    let mut bytes = std::fs::read(&path).unwrap();
    // Flip a bit in the value of the third sample: its CRC no longer matches.
    let at = offsets[2] as usize + 12;
    bytes[at] ^= 0x10;
    std::fs::write(&path, &bytes).unwrap();

    let mut n = 0;
    let read = wal::read_segment(&path, |r| n += usize::from(matches!(r, Record::Sample { .. }))).unwrap();
    assert_eq!(n, 2);
    let (offset, reason) = read.truncated_at.unwrap();
    assert_eq!(offset, offsets[2]);
    assert!(reason.contains("CRC mismatch"), "{reason}");
}

#[test]
fn foreign_file_in_wal_dir_is_an_error_not_a_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("00000000");
    std::fs::write(&path, b"hello, this is not a WAL segment").unwrap();
    let err = wal::read_segment(&path, |_| {}).unwrap_err();
    assert!(err.to_string().contains("magic"), "{err}");
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        32,
        "the file is left alone"
    );
}

#[test]
fn clean_shutdown_and_reopen_keep_every_sample_bit_exact() {
    let dir = tempfile::tempdir().unwrap();
    let d = DurableStore::open(dir.path(), quiet()).unwrap();
    fill(&mut d.storage().write().unwrap(), 0, 400);
    let want = dump_shared(&d);
    let stats = d.shutdown().unwrap();
    assert_eq!(stats.samples, 400 * 3 + 2);

    let d = DurableStore::open(dir.path(), quiet()).unwrap();
    assert_eq!(dump_shared(&d), want);
    let r = d.recovery();
    assert!(r.snapshot.is_some(), "{r:?}");
    assert_eq!(
        r.wal_records, 0,
        "a clean shutdown leaves nothing to replay: {r:?}"
    );
    assert_eq!(r.samples, 400 * 3 + 2);
}

#[test]
fn snapshot_then_wal_replay_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let d = DurableStore::open(dir.path(), quiet()).unwrap();
    fill(&mut d.storage().write().unwrap(), 0, 300);
    d.snapshot().unwrap();
    fill(&mut d.storage().write().unwrap(), 301, 100);
    let want = dump_shared(&d);
    d.flush().unwrap();
    // Dropping without shutdown writes no snapshot: like a crash once the WAL is flushed.
    drop(d);

    let d = DurableStore::open(dir.path(), quiet()).unwrap();
    assert_eq!(dump_shared(&d), want);
    assert!(d.recovery().snapshot.is_some());
    assert_eq!(d.recovery().wal_records, 100 * 3 + 2, "{:?}", d.recovery());

    // And appending after recovery continues where the store left off.
    fill(&mut d.storage().write().unwrap(), 500, 10);
    let want = dump_shared(&d);
    drop(d);
    let d = DurableStore::open(dir.path(), quiet()).unwrap();
    assert_eq!(dump_shared(&d), want);
}

#[test]
fn restored_chunks_keep_appending_the_same_bits() {
    let mut a = SeriesChunks::default();
    for i in 0..130 {
        a.push(Sample {
            t: i * 15_000 + (i % 3),
            v: (i as f64).sqrt(),
        });
    }
    let rebuilt: Vec<XorChunk> = a
        .chunks()
        .iter()
        .map(|c| XorChunk::from_bytes(c.bytes().to_vec(), c.len() as u16).unwrap())
        .collect();
    let mut b = SeriesChunks::from_chunks(rebuilt).unwrap();
    for i in 130..250 {
        let s = Sample {
            t: i * 15_000,
            v: i as f64 / 7.0,
        };
        a.push(s);
        b.push(s);
    }
    let bytes = |s: &SeriesChunks| s.chunks().iter().map(|c| c.bytes().to_vec()).collect::<Vec<_>>();
    assert_eq!(bytes(&a), bytes(&b));
    assert_eq!(a.last().map(|s| s.t), b.last().map(|s| s.t));
}

#[test]
fn garbage_chunk_bytes_are_refused_without_panicking() {
    let mut c = XorChunk::default();
    for i in 0..10 {
        c.append(Sample {
            t: i * 1000,
            v: i as f64,
        });
    }
    let good = c.bytes().to_vec();
    // (A count one or two above the real one can decode from the padding bits of the last
    // byte, as zero-delta samples; the snapshot's CRC and end-record counts catch that.)
    assert!(
        XorChunk::from_bytes(good.clone(), 30).is_err(),
        "more samples than the bytes hold"
    );
    assert!(XorChunk::from_bytes(good[..good.len() - 3].to_vec(), 10).is_err());
    let mut longer = good.clone();
    longer.extend_from_slice(&[0, 0]);
    assert!(XorChunk::from_bytes(longer, 10).is_err(), "trailing bytes");
    assert!(XorChunk::from_bytes(good, 0).is_err());
    for seed in 0u64..200 {
        let junk: Vec<u8> = (0..40)
            .map(|i| (seed.wrapping_mul(2654435761).wrapping_add(i * 97) >> 3) as u8)
            .collect();
        let _ = XorChunk::from_bytes(junk, (seed % 120 + 1) as u16);
    }
}

#[test]
fn corrupt_snapshot_falls_back_to_the_previous_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = DurableStore::open(dir.path(), quiet()).unwrap();
    fill(&mut d.storage().write().unwrap(), 0, 200);
    d.snapshot().unwrap();
    fill(&mut d.storage().write().unwrap(), 201, 50);
    let want = dump_shared(&d);
    let newest = d.shutdown().unwrap().path;

    let file = newest.join("series");
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&file, &bytes).unwrap();

    let d = DurableStore::open(dir.path(), quiet()).unwrap();
    assert_eq!(dump_shared(&d), want);
    let used = d.recovery().snapshot.clone().unwrap();
    assert_ne!(used, file, "the older snapshot was used");
    assert!(
        newest.with_extension("corrupt").exists(),
        "the corrupt snapshot is kept aside"
    );
}

#[test]
fn a_lone_corrupt_snapshot_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = DurableStore::open(dir.path(), quiet()).unwrap();
    fill(&mut d.storage().write().unwrap(), 0, 10);
    let path = d.shutdown().unwrap().path.join("series");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 4]).unwrap();

    let err = DurableStore::open(dir.path(), quiet()).unwrap_err();
    assert!(matches!(err, PersistError::CorruptSnapshot { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()) && msg.contains("at byte"),
        "{msg}"
    );
}

#[test]
fn second_open_of_a_directory_fails_while_the_first_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let first = DurableStore::open(dir.path(), quiet()).unwrap();
    let err = DurableStore::open(dir.path(), quiet()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("in use by another burnwatch process"), "{msg}");
    assert!(msg.contains(&format!("pid {}", std::process::id())), "{msg}");
    drop(first);
    DurableStore::open(dir.path(), quiet()).expect("the lock is released with the store");
}

#[test]
fn retention_drops_old_chunks_relative_to_the_newest_sample() {
    let dir = tempfile::tempdir().unwrap();
    let hour = 3_600_000i64;
    let opts = PersistOptions {
        retention: Duration::from_secs(3600),
        ..quiet()
    };
    let d = DurableStore::open(dir.path(), opts.clone()).unwrap();
    {
        let store = d.storage();
        let mut s = store.write().unwrap();
        // 3 hours of 15s samples starting in 1970: old by the wall clock, but retention
        // counts from the newest sample, so the last hour stays.
        for i in 0..(3 * 240) {
            s.append(&labels("long", "a"), i * 15_000, i as f64).unwrap();
        }
        s.append(&labels("gone", "a"), 0, 1.0).unwrap();
        s.append_histogram(&labels("hist", "a"), 10, histogram(1.0))
            .unwrap();
        s.append_histogram(&labels("hist", "a"), 3 * hour, histogram(2.0))
            .unwrap();
    }
    let stats = d.apply_retention();
    assert_eq!(stats.series, 1, "the series with only old data is removed");
    let store = d.storage();
    {
        let s = store.read().unwrap();
        let long = s.select(
            &[crate::tsdb::Matcher::equal("__name__", "long")],
            i64::MIN,
            i64::MAX,
        );
        let first = long[0].samples.first().unwrap().t;
        let last = long[0].samples.last().unwrap().t;
        // The newest sample in the store is the histogram at 3h.
        let newest = 3 * hour;
        assert_eq!(last, (3 * 240 - 1) * 15_000);
        // Whole chunks of 120 samples (30 min) go; everything in the last hour stays.
        assert!(
            first <= newest - hour,
            "the retention window is kept: first sample at {first}"
        );
        assert!(
            first > newest - hour - 30 * 60_000,
            "older chunks are dropped: first sample at {first}"
        );
        assert_eq!(
            s.series(&[crate::tsdb::Matcher::equal("__name__", "gone")]).len(),
            0
        );
        let h = s.select_all(
            &[crate::tsdb::Matcher::equal("__name__", "hist")],
            i64::MIN,
            i64::MAX,
        );
        assert_eq!(h[0].histograms.len(), 1);
    }
    // Series references shifted; the WAL must still attribute new samples correctly.
    store
        .write()
        .unwrap()
        .append(&labels("long", "a"), 4 * hour, -1.0)
        .unwrap();
    store
        .write()
        .unwrap()
        .append(&labels("new", "a"), 4 * hour, 7.0)
        .unwrap();
    // (The reopen applies retention from the new newest sample; apply it here too.)
    assert!(d.apply_retention().samples > 0);
    let want = dump(&store.read().unwrap());
    drop(d);
    let d = DurableStore::open(dir.path(), opts).unwrap();
    assert_eq!(dump_shared(&d), want);
}

#[test]
fn recovery_applies_retention_at_startup() {
    let dir = tempfile::tempdir().unwrap();
    let d = DurableStore::open(dir.path(), quiet()).unwrap();
    {
        let store = d.storage();
        let mut s = store.write().unwrap();
        s.append(&labels("old", "a"), 0, 1.0).unwrap();
        s.append(&labels("new", "a"), 40 * 24 * 3_600_000, 1.0).unwrap();
    }
    drop(d);
    let d = DurableStore::open(dir.path(), quiet()).unwrap();
    assert_eq!(d.recovery().retention.series, 1);
    let names: Vec<String> = dump_shared(&d).into_iter().map(|x| x.0).collect();
    assert_eq!(names, vec![r#"{__name__="new", job="a"}"#.to_string()]);
}

#[test]
fn old_segments_and_snapshots_are_deleted_but_the_fallback_kept() {
    let dir = tempfile::tempdir().unwrap();
    let d = DurableStore::open(dir.path(), quiet()).unwrap();
    for round in 0..4 {
        fill(&mut d.storage().write().unwrap(), round * 100, 50);
        d.snapshot().unwrap();
    }
    let snaps: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("snapshot-"))
        .collect();
    assert_eq!(snaps.len(), 2, "{snaps:?}");
    let segs = wal::list_segments(&dir.path().join("wal")).unwrap();
    let oldest_snap: u64 = snaps
        .iter()
        .map(|n| n[9..].parse::<u64>().unwrap())
        .min()
        .unwrap();
    assert!(segs.iter().all(|s| *s >= oldest_snap), "{segs:?} vs {snaps:?}");
}

#[test]
fn an_ingest_batch_reaches_the_os_without_waiting_for_the_timer() {
    let dir = tempfile::tempdir().unwrap();
    let d = DurableStore::open(dir.path(), quiet()).unwrap();
    let wal_dir = dir.path().join("wal");
    let segment = wal::segment_path(&wal_dir, *wal::list_segments(&wal_dir).unwrap().last().unwrap());
    let size = || std::fs::metadata(&segment).unwrap().len();
    let store = d.storage();
    let text = "# TYPE up gauge\nup{job=\"a\"} 1 1700000000\nup{job=\"a\"} 0 1700000015\n# EOF\n";
    crate::ingest::import_text(&mut store.write().unwrap(), text).unwrap();
    let after_import = size();
    assert!(after_import > 8, "the import's records were handed to the OS");
    store.write().unwrap().append(&labels("up", "b"), 5, 1.0).unwrap();
    assert_eq!(size(), after_import, "a single append stays buffered");
    store.write().unwrap().end_batch().unwrap();
    assert!(size() > after_import);
}

#[test]
fn one_sample_far_in_the_future_does_not_make_retention_delete_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let opts = PersistOptions {
        retention: Duration::from_secs(3600),
        ..quiet()
    };
    let now = crate::tsdb::wall_clock_ms();
    let d = DurableStore::open(dir.path(), opts.clone()).unwrap();
    {
        let store = d.storage();
        let mut s = store.write().unwrap();
        // Half an hour of good data up to now, then one sample from a broken clock (year 2199)
        // that got in (ingest refuses such samples now; an older version, or a direct append,
        // did not).
        for i in 0..120 {
            s.append(&labels("good", "a"), now - 1_800_000 + i * 15_000, i as f64)
                .unwrap();
        }
        s.append(&labels("bad_clock", "a"), 7_227_993_600_000, 1.0)
            .unwrap();
        s.end_batch().unwrap();
    }
    let before = dump_shared(&d);
    let stats = d.apply_retention();
    assert_eq!(stats.samples, 0, "nothing within the hour before the clock goes");
    assert_eq!(dump_shared(&d), before);
    // Nor at the next start, whose recovery applies retention too.
    drop(d);
    let d = DurableStore::open(dir.path(), opts).unwrap();
    assert_eq!(d.recovery().retention.samples, 0);
    assert_eq!(dump_shared(&d), before);
}

/// Posts one remote-write sample of `series` at `t` through the API's router over `store`.
async fn post_sample(store: &crate::shared::SharedStorage, series: &str, t: i64) -> (u16, String) {
    use crate::ingest::remote_write::{
        Label, Sample as PbSample, TimeSeries, WriteRequest, encode_write_request,
    };
    use tower::ServiceExt as _;
    let body = encode_write_request(&WriteRequest {
        timeseries: vec![TimeSeries {
            labels: vec![Label {
                name: "__name__".into(),
                value: series.into(),
            }],
            samples: vec![PbSample {
                value: t as f64,
                timestamp: t,
            }],
            histograms: Vec::new(),
            ..Default::default()
        }],
        ..Default::default()
    });
    let app = crate::api::router(crate::api::ApiState::new(store.clone(), Default::default()));
    let req = axum::http::Request::post("/api/v1/write")
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "snappy")
        .body(axum::body::Body::from(body))
        .unwrap();
    let res = app.oneshot(req).await.unwrap();
    let status = res.status().as_u16();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// Answers `query` at `time` (seconds) through the API's router; status and body.
async fn api_query(store: &crate::shared::SharedStorage, query: &str, time: i64) -> (u16, String) {
    use tower::ServiceExt as _;
    let app = crate::api::router(crate::api::ApiState::new(store.clone(), Default::default()));
    let req = axum::http::Request::get(format!("/api/v1/query?query={query}&time={time}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let res = app.oneshot(req).await.unwrap();
    let status = res.status().as_u16();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn full_disk_remote_write_is_refused_with_500_never_acknowledged_and_queries_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let opts = quiet();
    let disk_full = opts.fail_writes.clone();
    let d = DurableStore::open(dir.path(), opts.clone()).unwrap();
    let store = d.storage();
    let mut acknowledged = Vec::new();
    let mut t = 1_000_000i64;
    let post = async |t: i64, acknowledged: &mut Vec<i64>| {
        let (status, text) = post_sample(&store, "rw", t).await;
        if status == 204 {
            acknowledged.push(t);
        }
        (status, text)
    };
    for _ in 0..3 {
        assert_eq!(post(t, &mut acknowledged).await.0, 204);
        t += 1000;
    }
    // The disk fills up: the request whose records cannot be written gets 500 naming the
    // cause, and so does every one after it (the log has a gap), not 204.
    disk_full.store(true, std::sync::atomic::Ordering::Relaxed);
    for _ in 0..3 {
        let (status, text) = post(t, &mut acknowledged).await;
        assert_eq!(status, 500, "{text}");
        assert!(text.contains("No space left on device"), "{text}");
        t += 1000;
    }
    // Queries are still answered.
    let (status, body) = api_query(&store, "count_over_time(rw[1h])", t / 1000).await;
    assert_eq!(status, 200, "{body}");
    // Space again: the log stays refused until a snapshot covers what it lost.
    disk_full.store(false, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(post(t, &mut acknowledged).await.0, 500);
    t += 1000;
    d.snapshot().unwrap();
    for _ in 0..3 {
        assert_eq!(post(t, &mut acknowledged).await.0, 204);
        t += 1000;
    }
    // Every acknowledged sample survives a crash (no shutdown snapshot: drop only fsyncs).
    drop(d);
    let d = DurableStore::open(dir.path(), opts).unwrap();
    let stored: Vec<i64> = d.storage().read().unwrap().select(
        &[crate::tsdb::Matcher::equal("__name__", "rw")],
        i64::MIN,
        i64::MAX,
    )[0]
    .samples
    .iter()
    .map(|s| s.t)
    .collect();
    for t in &acknowledged {
        assert!(
            stored.contains(t),
            "acknowledged sample at {t} lost; stored {stored:?}"
        );
    }
    assert_eq!(acknowledged.len(), 6);
}

#[tokio::test]
async fn a_restart_on_a_full_disk_serves_read_only_instead_of_refusing_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let opts = quiet();
    let d = DurableStore::open(dir.path(), opts.clone()).unwrap();
    assert_eq!(post_sample(&d.storage(), "kept", 5_000).await.0, 204);
    d.shutdown().unwrap();

    let disk_full = opts.fail_writes.clone();
    disk_full.store(true, std::sync::atomic::Ordering::Relaxed);
    let d = DurableStore::open(dir.path(), opts).expect("a full disk still opens, read-only");
    let why = d.recovery().read_only.clone().expect("reported read-only");
    assert!(why.contains("No space left on device"), "{why}");
    let store = d.storage();
    let (status, body) = api_query(&store, "kept", 5).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""value":[5,"5000"]"#), "{body}");
    let (status, text) = post_sample(&store, "kept", 6_000).await;
    assert_eq!(status, 500, "{text}");
    // A snapshot while the disk is still full does not bring writes back...
    let _ = d.snapshot();
    assert_eq!(post_sample(&store, "kept", 7_000).await.0, 500);
    // ...one once there is space does.
    disk_full.store(false, std::sync::atomic::Ordering::Relaxed);
    d.snapshot().unwrap();
    assert_eq!(post_sample(&store, "kept", 8_000).await.0, 204);
}

#[tokio::test]
async fn full_disk_dora_post_is_refused_with_500_and_counts_nothing() {
    use tower::ServiceExt as _;
    let dir = tempfile::tempdir().unwrap();
    let opts = quiet();
    let d = DurableStore::open(dir.path(), opts.clone()).unwrap();
    let store = d.storage();
    let app = crate::api::router(crate::api::ApiState::new(store.clone(), Default::default()));
    let post = |id: &str, time: &str| {
        let body = format!(
            r#"{{"type":"deployment","id":"{id}","service":"api","time":"{time}","status":"success"}}"#
        );
        axum::http::Request::post("/api/v1/dora/events")
            .header("content-type", "application/x-ndjson")
            .body(axum::body::Body::from(body))
            .unwrap()
    };
    opts.fail_writes.store(true, std::sync::atomic::Ordering::Relaxed);
    // The first batch finds out at its end (its records do not reach the OS), the next before
    // it starts; neither is acknowledged.
    for (id, time) in [("d1", "2024-05-10T12:00:00Z"), ("d2", "2024-05-11T12:00:00Z")] {
        let res = app.clone().oneshot(post(id, time)).await.unwrap();
        assert_eq!(res.status(), 500);
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("No space left on device"), "{text}");
    }
    opts.fail_writes
        .store(false, std::sync::atomic::Ordering::Relaxed);
    d.snapshot().unwrap();
    let res = app.oneshot(post("d3", "2024-05-12T12:00:00Z")).await.unwrap();
    assert_eq!(res.status(), 200);
}
