//! Durable storage for the in-memory store: a write-ahead log, snapshots and retention.
//!
//! [`DurableStore::open`] turns a data directory into a [`SharedStorage`] that survives
//! restarts, a clean shutdown as well as a `SIGKILL`:
//!
//! ```text
//! DIR/lock                  flock'ed by the running process (a second one fails to open)
//! DIR/wal/00000007          write-ahead log segments (wal.rs): every accepted sample, in order
//! DIR/snapshot-00000007/    the whole store as compressed chunks (snapshot.rs), covering
//!                           every segment numbered below 7
//! ```
//!
//! - **Write path.** The store reports each accepted sample and each new series to the
//!   attached [`AppendLog`] (under its write lock, so no ingest path can bypass it); the WAL
//!   buffers the record. A background thread flushes the buffer to the OS every
//!   [`PersistOptions::flush_interval`] (1 s): samples ingested a second before a `kill -9`
//!   are on disk. Callers with a natural batch end (a file import) call
//!   [`DurableStore::flush`].
//! - **Snapshots** every [`PersistOptions::snapshot_interval`] (5 min) and on
//!   [`DurableStore::shutdown`]: under the store's read lock the WAL is cut at a new segment
//!   and the store encoded; the snapshot is written and fsynced outside the lock, then WAL
//!   segments and snapshots older than the *previous* snapshot are deleted, so a snapshot that
//!   turns out corrupt can fall back to the one before it plus the segments after that.
//! - **Startup** loads the newest snapshot that reads cleanly (a corrupt one is reported with
//!   its path and byte offset, and the previous one is used), replays the WAL segments after it
//!   (a torn tail is truncated at the bad record, with a warning naming the segment and offset),
//!   applies retention, and starts a new segment.
//! - **Retention** follows Prometheus's `--storage.tsdb.retention.time`: data older than the
//!   newest sample in the store minus [`PersistOptions::retention`] is removed, at startup and
//!   every [`PersistOptions::retention_interval`] (1 min). Relative to the newest sample, not
//!   the wall clock, so importing last month's data does not delete it at once; but never
//!   counted from a point after the wall clock, so one sample stamped far in the future cannot
//!   make the whole history expire. Float samples
//!   go a whole chunk (up to 120 samples) at a time, as Prometheus drops whole blocks.
//!
//! Without a data directory none of this runs and [`Storage`] pays one `None` check per
//! append.

mod codec;
mod snapshot;
#[cfg(test)]
mod tests;
mod wal;

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{AppendLog, Labels, RetentionStats, Storage};
use crate::shared::SharedStorage;
use wal::{Record, Wal, WalLog};

/// How a [`DurableStore`] keeps and expires data.
#[derive(Clone, Debug)]
pub struct PersistOptions {
    /// Data older than the newest sample minus this is removed (Prometheus's
    /// `--storage.tsdb.retention.time`); the default 35 days keeps a 30-day SLO window whole.
    pub retention: Duration,
    /// How often the whole store is snapshotted (and older WAL segments deleted).
    pub snapshot_interval: Duration,
    /// How often buffered WAL records are handed to the OS.
    pub flush_interval: Duration,
    /// How often retention runs.
    pub retention_interval: Duration,
    /// Fault injection for tests: while set, every write to a WAL segment fails with `ENOSPC`
    /// ("No space left on device"), as on a full disk, through the real error path.
    #[doc(hidden)]
    pub fail_writes: Arc<AtomicBool>,
}

/// The default retention: 35 days.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(35 * 24 * 3600);

impl Default for PersistOptions {
    fn default() -> Self {
        Self {
            retention: DEFAULT_RETENTION,
            snapshot_interval: Duration::from_secs(300),
            flush_interval: Duration::from_secs(1),
            retention_interval: Duration::from_secs(60),
            fail_writes: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// Why a data directory could not be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// A file operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done ("cannot create", "cannot read", ...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Another process holds the directory's lock file.
    #[error(
        "the data directory {} is in use by another burnwatch process{holder} (it holds the lock on {}); \
         stop it or choose another --data-dir",
        dir.display(), lock.display()
    )]
    Locked {
        /// The data directory.
        dir: PathBuf,
        /// The lock file.
        lock: PathBuf,
        /// ` (pid N)` when the lock file names the holder.
        holder: String,
    },
    /// Every snapshot in the directory is corrupt.
    #[error(
        "snapshot {} is corrupt at byte {offset}: {reason}; no older snapshot is left to fall back to \
         (the corrupt one was renamed to *.corrupt, so the next start replays the WAL alone)",
        path.display()
    )]
    CorruptSnapshot {
        /// The snapshot file.
        path: PathBuf,
        /// Offset of the first bad record.
        offset: usize,
        /// Why it is bad.
        reason: String,
    },
    /// A file in the WAL directory is not a WAL segment.
    #[error("WAL segment {} cannot be read: {reason}", path.display())]
    BadSegment {
        /// The segment.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

impl PersistError {
    fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> PersistError {
        let path = path.to_path_buf();
        move |source| PersistError::Io { action, path, source }
    }
}

/// What [`DurableStore::open`] found in the data directory.
#[derive(Clone, Debug, Default)]
pub struct Recovery {
    /// The snapshot loaded, if any.
    pub snapshot: Option<PathBuf>,
    /// Samples the snapshot held.
    pub snapshot_samples: usize,
    /// WAL segments replayed.
    pub segments: usize,
    /// WAL records replayed (series and samples).
    pub wal_records: usize,
    /// WAL samples the store refused (out of order after a fallback) or whose series was
    /// unknown; each case is logged.
    pub wal_skipped: usize,
    /// Segments cut at a torn or corrupt record: segment path, byte offset, reason.
    pub truncated: Vec<(PathBuf, u64, String)>,
    /// What retention removed at startup.
    pub retention: RetentionStats,
    /// Series in the store after recovery.
    pub series: usize,
    /// Samples in the store after recovery.
    pub samples: usize,
    /// Why the store opened read-only: the WAL could not be written at startup (a full disk).
    /// Queries are answered, ingest is refused until a snapshot can be written.
    pub read_only: Option<String>,
    /// Time the recovery took.
    pub elapsed: Duration,
}

/// What one snapshot wrote.
#[derive(Clone, Debug)]
pub struct SnapshotStats {
    /// The snapshot directory.
    pub path: PathBuf,
    /// Size of the snapshot file in bytes.
    pub bytes: usize,
    /// Series in it.
    pub series: usize,
    /// Samples in it.
    pub samples: usize,
}

/// State shared between the handle and its background thread.
#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    storage: SharedStorage,
    wal: Arc<Mutex<Wal>>,
    options: PersistOptions,
    /// Serializes snapshots (the background thread and explicit calls).
    snapshotting: Mutex<()>,
}

/// A [`SharedStorage`] kept in a data directory; see the module docs. Dropping it stops the
/// background thread and fsyncs the WAL; [`shutdown`](DurableStore::shutdown) also writes a
/// snapshot, which makes the next start faster.
#[derive(Debug)]
pub struct DurableStore {
    inner: Arc<Inner>,
    recovery: Recovery,
    worker: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
    /// Held (and flock'ed) for the store's lifetime.
    _lock: File,
}

impl DurableStore {
    /// Opens (creating it if needed) the data directory `dir`: takes its lock, recovers the
    /// store from the newest snapshot and the WAL, applies retention, and starts the
    /// background thread that flushes the WAL, applies retention and writes snapshots.
    pub fn open(dir: &Path, options: PersistOptions) -> Result<DurableStore, PersistError> {
        let started = Instant::now();
        std::fs::create_dir_all(dir).map_err(PersistError::io("cannot create the data directory", dir))?;
        let lock = take_lock(dir)?;
        let wal_dir = dir.join("wal");
        std::fs::create_dir_all(&wal_dir).map_err(PersistError::io("cannot create", &wal_dir))?;

        let (mut store, mut recovery, known, next_id, next_segment) = recover(dir, &wal_dir)?;
        if let Some(max_t) = store.max_time() {
            recovery.retention = store.drop_before(cutoff(max_t, super::wall_clock_ms(), options.retention));
        }
        // Log ids of the recovered series, by reference; anything unnamed (not expected) gets a
        // fresh id and a series record in the new segment.
        let mut ids = Vec::with_capacity(store.num_series());
        let mut unnamed = Vec::new();
        let mut next_id = next_id;
        for (r, s) in store.all_series().iter().enumerate() {
            match known.get(s.labels()) {
                Some(id) => ids.push(*id),
                None => {
                    ids.push(next_id);
                    next_id += 1;
                    unnamed.push(r);
                }
            }
        }
        // On a full disk the segment cannot be created: the store still opens, read-only, so
        // the data already stored can be queried (Prometheus refuses to start instead; serving
        // what is there is the more useful answer for a sidecar). A snapshot, tried soon by
        // the background thread, brings writes back once there is space.
        let mut wal = Wal::create(&wal_dir, next_segment, ids, next_id, options.fail_writes.clone());
        if let Err(e) = wal.writable() {
            tracing::error!(data_dir = %dir.display(), error = %e,
                "Cannot write the WAL at startup; serving the stored data read-only.");
            recovery.read_only = Some(e.0);
        }
        for r in unnamed {
            let labels = store.all_series()[r].labels().clone();
            wal.add_series(r as u32, &labels);
        }
        let wal = Arc::new(Mutex::new(wal));
        store.set_append_log(Some(Box::new(WalLog(wal.clone())) as Box<dyn AppendLog>));
        recovery.series = store.num_series();
        recovery.samples = store.num_samples();
        recovery.elapsed = started.elapsed();

        let inner = Arc::new(Inner {
            dir: dir.to_path_buf(),
            storage: Arc::new(RwLock::new(store)),
            wal,
            options,
            snapshotting: Mutex::new(()),
        });
        let (tx, rx) = mpsc::channel();
        let worker_inner = inner.clone();
        let handle = std::thread::Builder::new()
            .name("burnwatch-persist".into())
            .spawn(move || worker(&worker_inner, &rx))
            .map_err(PersistError::io("cannot start the persistence thread for", dir))?;
        Ok(DurableStore {
            inner,
            recovery,
            worker: Some((tx, handle)),
            _lock: lock,
        })
    }

    /// The store; share it with ingest and queries.
    pub fn storage(&self) -> SharedStorage {
        self.inner.storage.clone()
    }

    /// What startup recovered.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Hands buffered WAL records to the OS now (call at the end of an ingest batch that
    /// should not wait for the periodic flush, such as a file import).
    pub fn flush(&self) -> Result<(), PersistError> {
        let mut wal = self.inner.wal.lock().unwrap_or_else(|p| p.into_inner());
        let path = wal::segment_path(&self.inner.dir.join("wal"), wal.segment());
        wal.flush()
            .map_err(PersistError::io("cannot write WAL segment", &path))
    }

    /// Writes a snapshot now (and deletes what it makes obsolete).
    pub fn snapshot(&self) -> Result<SnapshotStats, PersistError> {
        self.inner.snapshot()
    }

    /// Applies retention now.
    pub fn apply_retention(&self) -> RetentionStats {
        self.inner.apply_retention()
    }

    /// Stops the background thread, writes a final snapshot and fsyncs: the clean shutdown.
    /// Ingest should have stopped; samples appended after this are logged in memory only.
    pub fn shutdown(mut self) -> Result<SnapshotStats, PersistError> {
        self.stop_worker();
        let stats = self.inner.snapshot();
        let mut wal = self.inner.wal.lock().unwrap_or_else(|p| p.into_inner());
        let synced = wal.sync();
        drop(wal);
        let stats = stats?;
        synced.map_err(PersistError::io("cannot fsync the WAL in", &self.inner.dir))?;
        Ok(stats)
    }

    fn stop_worker(&mut self) {
        if let Some((tx, handle)) = self.worker.take() {
            let _ = tx.send(());
            if handle.join().is_err() {
                tracing::error!("The persistence thread panicked.");
            }
        }
    }
}

impl Drop for DurableStore {
    fn drop(&mut self) {
        self.stop_worker();
        let mut wal = self.inner.wal.lock().unwrap_or_else(|p| p.into_inner());
        // Errors were logged by the writer; nothing else to do while dropping.
        let _ = wal.sync();
    }
}

/// The oldest timestamp retention keeps for newest sample `max_t` when the wall clock reads
/// `now_ms`. Retention counts back from the newest sample (so an import of last month's data is
/// not deleted at once), but never from a point later than the clock: a sample stamped in the
/// year 2199 (a broken clock, or one stored before ingest refused such samples) must not make
/// the whole history look older than the retention and delete it. Prometheus deletes blocks
/// relative to the newest block too, and bounds what it accepts to 10 minutes ahead of the clock
/// for the same reason (see [`super::MAX_AHEAD_MS`]).
fn cutoff(max_t: i64, now_ms: i64, retention: Duration) -> i64 {
    max_t
        .min(now_ms)
        .saturating_sub(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX))
}

impl Inner {
    fn apply_retention(&self) -> RetentionStats {
        let mut store = self.storage.write().unwrap_or_else(|p| p.into_inner());
        let Some(max_t) = store.max_time() else {
            return RetentionStats::default();
        };
        let stats = store.drop_before(cutoff(max_t, super::wall_clock_ms(), self.options.retention));
        drop(store);
        if stats.samples > 0 {
            tracing::info!(samples = stats.samples, series = stats.series,
                retention = ?self.options.retention, "Retention removed old data.");
        }
        stats
    }

    fn snapshot(&self) -> Result<SnapshotStats, PersistError> {
        let _one = self.snapshotting.lock().unwrap_or_else(|p| p.into_inner());
        let wal_dir = self.dir.join("wal");
        // Under the read lock no sample can be appended, so the cut and the encoded store
        // describe the same moment: everything before segment `n` is in the snapshot.
        let (n, bytes, samples, series, closed, cut_error, lost) = {
            let store = self.storage.read().unwrap_or_else(|p| p.into_inner());
            let mut wal = self.wal.lock().unwrap_or_else(|p| p.into_inner());
            // Gaps in the log up to now are in this snapshot's copy of the store.
            let lost = wal.lost();
            let cut = wal.cut();
            let n = wal.segment();
            let (bytes, samples) = snapshot::encode(&store, &wal.ids, wal.next_id);
            let (closed, cut_error) = match cut {
                Ok(f) => (f, None),
                Err(e) => (None, Some(e)),
            };
            (n, bytes, samples, store.num_series(), closed, cut_error, lost)
        };
        if let Some(e) = &cut_error {
            tracing::error!(segment = %wal::segment_path(&wal_dir, n).display(), error = %e,
                "Cannot start a new WAL segment; new samples stay in memory until the next snapshot.");
        }
        if let Some(f) = closed
            && let Err(e) = f.sync_data()
        {
            tracing::warn!(error = %e, "Cannot fsync the closed WAL segment; the snapshot covers it.");
        }
        let path = snapshot::write(&self.dir, n, &bytes).map_err(PersistError::io(
            "cannot write snapshot",
            &snapshot::snapshot_dir(&self.dir, n),
        ))?;
        if cut_error.is_none() {
            // The snapshot holds what the log lost before the cut, and the new segment takes
            // everything after it: the log is whole again (unless it broke since).
            self.wal
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .mark_covered(lost);
        }
        self.cleanup(n);
        Ok(SnapshotStats {
            path,
            bytes: bytes.len(),
            series,
            samples,
        })
    }

    /// After snapshot `n`: keep it and the newest older snapshot `m` (the fallback), delete
    /// older snapshots and the WAL segments below `m`, which no kept snapshot needs.
    fn cleanup(&self, n: u64) {
        let wal_dir = self.dir.join("wal");
        let snapshots = match snapshot::list_snapshots(&self.dir) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "Cannot list old snapshots to delete them.");
                return;
            }
        };
        let Some(&prev) = snapshots.iter().rev().find(|s| **s < n) else {
            return;
        };
        for s in snapshots.iter().filter(|s| **s < prev) {
            let path = snapshot::snapshot_dir(&self.dir, *s);
            if let Err(e) = std::fs::remove_dir_all(&path) {
                tracing::warn!(path = %path.display(), error = %e, "Cannot delete an old snapshot.");
            }
        }
        match wal::list_segments(&wal_dir) {
            Ok(segs) => {
                for s in segs.into_iter().filter(|s| *s < prev) {
                    let path = wal::segment_path(&wal_dir, s);
                    if let Err(e) = std::fs::remove_file(&path) {
                        tracing::warn!(path = %path.display(), error = %e, "Cannot delete an old WAL segment.");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "Cannot list old WAL segments to delete them."),
        }
    }
}

/// The background thread: flush every `flush_interval`, retention and snapshots on their
/// intervals, until the handle says stop.
fn worker(inner: &Inner, stop: &mpsc::Receiver<()>) {
    let o = &inner.options;
    let mut next_retention = Instant::now() + o.retention_interval;
    let mut next_snapshot = Instant::now() + o.snapshot_interval;
    loop {
        match stop.recv_timeout(o.flush_interval) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        {
            let mut wal = inner.wal.lock().unwrap_or_else(|p| p.into_inner());
            // The writer logs the error and turns itself off; a snapshot brings it back.
            let _ = wal.flush();
            if wal.is_broken() {
                next_snapshot = next_snapshot.min(Instant::now() + o.flush_interval * 10);
            }
        }
        let now = Instant::now();
        if now >= next_retention {
            inner.apply_retention();
            next_retention = now + o.retention_interval;
        }
        if now >= next_snapshot {
            match inner.snapshot() {
                Ok(s) => tracing::debug!(path = %s.path.display(), bytes = s.bytes, samples = s.samples,
                    "Wrote a snapshot."),
                Err(e) => tracing::error!(error = %e, "Cannot write a snapshot; the WAL keeps the data."),
            }
            next_snapshot = Instant::now() + o.snapshot_interval;
        }
    }
}

/// Opens and flocks `dir/lock`, writing our pid into it.
fn take_lock(dir: &Path) -> Result<File, PersistError> {
    let path = dir.join("lock");
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(PersistError::io("cannot open the lock file", &path))?;
    match f.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = f.read_to_string(&mut text);
            let holder = match text.trim().parse::<u32>() {
                Ok(pid) => format!(" (pid {pid})"),
                Err(_) => String::new(),
            };
            return Err(PersistError::Locked {
                dir: dir.to_path_buf(),
                lock: path,
                holder,
            });
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(PersistError::io("cannot lock", &path)(e));
        }
    }
    // The pid is for the error message of a second process; the flock is what excludes it
    // (and the kernel releases it when this process dies, even by SIGKILL).
    let written = f
        .set_len(0)
        .and_then(|()| f.rewind())
        .and_then(|()| writeln!(f, "{}", std::process::id()));
    if let Err(e) = written {
        // A full disk: the lock holds without the pid, and the store opens read-only.
        tracing::warn!(path = %path.display(), error = %e, "Cannot write the pid into the lock file.");
    }
    Ok(f)
}

/// What [`recover`] hands back: the store, the report, log ids by labels, the next free log
/// id, and the number of the segment to write next.
type Recovered = (Storage, Recovery, HashMap<Labels, u64>, u64, u64);

/// Loads the newest good snapshot and replays the WAL after it.
fn recover(dir: &Path, wal_dir: &Path) -> Result<Recovered, PersistError> {
    let mut recovery = Recovery::default();
    let snapshots = snapshot::list_snapshots(dir).map_err(PersistError::io("cannot list", dir))?;
    let mut loaded = None;
    let mut first_error: Option<PersistError> = None;
    for &n in snapshots.iter().rev() {
        let path = snapshot::snapshot_dir(dir, n).join(snapshot::SNAPSHOT_FILE);
        match snapshot::load(&path) {
            Ok(l) => {
                recovery.snapshot = Some(path);
                loaded = Some((n, l));
                break;
            }
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e,
                    "The snapshot is corrupt; renaming it to *.corrupt and trying the previous one.");
                // Out of the way, so cleanup never keeps it as the fallback, but not deleted:
                // it may be worth a look.
                let from = snapshot::snapshot_dir(dir, n);
                let to = from.with_extension("corrupt");
                if to.exists() {
                    let _ = std::fs::remove_dir_all(&to);
                }
                std::fs::rename(&from, &to)
                    .map_err(PersistError::io("cannot rename the corrupt snapshot", &from))?;
                first_error.get_or_insert(PersistError::CorruptSnapshot {
                    path,
                    offset: e.offset,
                    reason: e.reason,
                });
            }
        }
    }
    if loaded.is_none()
        && let Some(e) = first_error
    {
        return Err(e);
    }
    let (from_segment, mut store, mut by_id, mut next_id) = match loaded {
        Some((n, l)) => {
            let next_id = l.series.iter().map(|(id, _)| id + 1).fold(l.next_id, u64::max);
            let by_id: HashMap<u64, Labels> = l.series.into_iter().collect();
            (n, l.store, by_id, next_id)
        }
        None => (0, Storage::new(), HashMap::new(), 0),
    };
    recovery.snapshot_samples = store.num_samples();

    let segments = wal::list_segments(wal_dir).map_err(PersistError::io("cannot list", wal_dir))?;
    let mut next_segment = from_segment;
    let mut unknown = 0usize;
    let mut refused = 0usize;
    let mut first_refusal = None;
    for &seg in segments.iter().filter(|s| **s >= from_segment) {
        let path = wal::segment_path(wal_dir, seg);
        let read = wal::read_segment(&path, |rec| match rec {
            Record::Series { id, labels } => {
                next_id = next_id.max(id + 1);
                by_id.insert(id, labels);
            }
            Record::Sample { id, t, v } => match by_id.get(&id) {
                Some(labels) => {
                    if let Err(e) = store.append(labels, t, v) {
                        refused += 1;
                        first_refusal.get_or_insert(e);
                    }
                }
                None => unknown += 1,
            },
            Record::Histogram { id, t, h } => match by_id.get(&id) {
                Some(labels) => {
                    let h = Arc::unwrap_or_clone(h);
                    if let Err(e) = store.append_histogram(labels, t, h) {
                        refused += 1;
                        first_refusal.get_or_insert(e);
                    }
                }
                None => unknown += 1,
            },
        })
        .map_err(|e| PersistError::BadSegment {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        recovery.segments += 1;
        recovery.wal_records += read.records;
        if let Some((offset, reason)) = read.truncated_at {
            tracing::warn!(segment = %path.display(), offset, reason = %reason, kept_records = read.records,
                "The WAL segment ends in a torn or corrupt record (a crash mid-write); truncated it there \
                 and kept the records before it.");
            recovery.truncated.push((path, offset, reason));
        }
        next_segment = seg + 1;
    }
    if let Some(&last) = segments.last() {
        next_segment = next_segment.max(last + 1);
    }
    if let Some(&last) = snapshots.last() {
        next_segment = next_segment.max(last);
    }
    if unknown > 0 {
        tracing::warn!(
            samples = unknown,
            "WAL samples name a series no snapshot or series record defines (a segment was lost); skipped them."
        );
    }
    if let Some(e) = first_refusal {
        tracing::warn!(samples = refused, first = %e, "The store refused WAL samples while replaying; skipped them.");
    }
    recovery.wal_skipped = unknown + refused;
    // A series retention removed and ingest re-created has two ids; keep the newest.
    let mut known: HashMap<Labels, u64> = HashMap::with_capacity(by_id.len());
    for (id, l) in by_id {
        let e = known.entry(l).or_insert(id);
        *e = (*e).max(id);
    }
    Ok((store, recovery, known, next_id, next_segment))
}
