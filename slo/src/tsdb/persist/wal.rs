//! The write-ahead log: numbered segment files of CRC-framed records in `DIR/wal/`.
//!
//! A segment starts with the 8-byte magic [`SEGMENT_MAGIC`] and holds records in the order the
//! store accepted them (framing in [`super::codec`]). Payloads start with a type byte:
//!
//! | type | payload after the type byte                                   |
//! |------|---------------------------------------------------------------|
//! | 1    | series: id (uvarint), labels                                  |
//! | 2    | float sample: id (uvarint), t (i64 LE), value bits (u64 LE)   |
//! | 3    | histogram sample: id (uvarint), t (i64 LE), histogram         |
//!
//! Series ids are the log's own numbers, not [`SeriesRef`]s: references shift when retention
//! removes series, ids never change, so a sample record always finds the series record (or
//! snapshot entry) that named it. The writer maps references to ids with a vector.
//!
//! Records go through a 64 KiB buffer; the owner flushes it to the OS every second (and at the
//! end of each ingest batch) and fsyncs on snapshots and shutdown. A write error (disk full) is
//! logged and turns the writer off: from then on [`Wal::writable`] and every flush report the
//! error, so ingest refuses new batches (5xx) instead of acknowledging samples that live in
//! memory only. Queries go on. The writer is healthy again once a snapshot has cut a fresh
//! segment *and* been written: the snapshot then holds everything the lost records held.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::super::histogram::FloatHistogram;
use super::super::labels::Labels;
use super::super::{AppendLog, LogError, SeriesRef};
use super::codec::{Dec, DecResult, Enc, FRAME_HEADER, next_frame};

/// First bytes of every segment: "BWWAL", two zero bytes, format version 1.
pub(super) const SEGMENT_MAGIC: &[u8; 8] = b"BWWAL\0\0\x01";

/// A segment is closed and a new one started past this size, so startup reads and snapshot
/// cleanup work on bounded files (Prometheus uses 128 MiB segments too).
pub(super) const SEGMENT_MAX_BYTES: u64 = 128 << 20;

const REC_SERIES: u8 = 1;
const REC_SAMPLE: u8 = 2;
const REC_HISTOGRAM: u8 = 3;

/// The path of segment `n` in `wal_dir`.
pub(super) fn segment_path(wal_dir: &Path, n: u64) -> PathBuf {
    wal_dir.join(format!("{n:08}"))
}

/// Segment numbers present in `wal_dir`, ascending (other file names are ignored).
pub(super) fn list_segments(wal_dir: &Path) -> std::io::Result<Vec<u64>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(wal_dir)? {
        let name = entry?.file_name();
        if let Some(n) = name
            .to_str()
            .filter(|s| s.len() == 8)
            .and_then(|s| s.parse().ok())
        {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// One decoded WAL record.
#[derive(Debug)]
pub(super) enum Record {
    /// A new series.
    Series {
        /// Its log id.
        id: u64,
        /// Its labels.
        labels: Labels,
    },
    /// A float sample.
    Sample {
        /// The series' log id.
        id: u64,
        /// Timestamp (ms).
        t: i64,
        /// The value (bit pattern preserved).
        v: f64,
    },
    /// A native-histogram sample.
    Histogram {
        /// The series' log id.
        id: u64,
        /// Timestamp (ms).
        t: i64,
        /// The histogram as stored.
        h: Arc<FloatHistogram>,
    },
}

fn decode_record(payload: &[u8]) -> DecResult<Record> {
    let mut d = Dec::new(payload);
    let rec = match d.u8()? {
        REC_SERIES => Record::Series {
            id: d.uvarint()?,
            labels: d.labels()?,
        },
        REC_SAMPLE => Record::Sample {
            id: d.uvarint()?,
            t: d.i64()?,
            v: d.f64()?,
        },
        REC_HISTOGRAM => Record::Histogram {
            id: d.uvarint()?,
            t: d.i64()?,
            h: d.histogram()?,
        },
        other => return Err(format!("unknown record type {other}")),
    };
    if !d.is_empty() {
        return Err("bytes follow the record's fields".to_string());
    }
    Ok(rec)
}

/// What reading one segment found.
#[derive(Debug, Default)]
pub(super) struct SegmentRead {
    /// Records read.
    pub(super) records: usize,
    /// Where the segment was cut because the rest was torn or corrupt: byte offset and why.
    pub(super) truncated_at: Option<(u64, String)>,
}

/// Why a segment could not be read at all.
#[derive(Debug, thiserror::Error)]
pub(super) enum SegmentError {
    /// Reading, or truncating the torn tail, failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The file does not start with the segment magic.
    #[error("it does not start with the burnwatch WAL magic (found {found:02x?})")]
    Magic {
        /// The first bytes found.
        found: Vec<u8>,
    },
}

/// Reads segment `path`, passing each record to `f`. A torn or corrupt record ends the
/// segment: the file is truncated at that record's offset (the records before it are kept) and
/// the offset and reason are returned in [`SegmentRead::truncated_at`].
pub(super) fn read_segment(path: &Path, mut f: impl FnMut(Record)) -> Result<SegmentRead, SegmentError> {
    let buf = std::fs::read(path)?;
    let mut out = SegmentRead::default();
    if buf.len() < SEGMENT_MAGIC.len() {
        // A crash right after creating the file; a prefix of the magic is a torn header.
        if SEGMENT_MAGIC.starts_with(&buf) {
            if !buf.is_empty() {
                truncate(path, 0)?;
                out.truncated_at = Some((0, "the segment header is torn".to_string()));
            }
            return Ok(out);
        }
        return Err(SegmentError::Magic { found: buf });
    }
    if &buf[..SEGMENT_MAGIC.len()] != SEGMENT_MAGIC {
        return Err(SegmentError::Magic {
            found: buf[..SEGMENT_MAGIC.len()].to_vec(),
        });
    }
    let mut pos = SEGMENT_MAGIC.len();
    loop {
        let problem = match next_frame(&buf, pos) {
            Ok(None) => break,
            Ok(Some((payload, next))) => match decode_record(payload) {
                Ok(rec) => {
                    f(rec);
                    out.records += 1;
                    pos = next;
                    continue;
                }
                Err(reason) => format!("the record does not decode: {reason}"),
            },
            Err(e) => e.to_string(),
        };
        truncate(path, pos as u64)?;
        out.truncated_at = Some((pos as u64, problem));
        break;
    }
    Ok(out)
}

fn truncate(path: &Path, len: u64) -> std::io::Result<()> {
    let f = OpenOptions::new().write(true).open(path)?;
    f.set_len(len)?;
    f.sync_all()
}

/// A segment file whose writes fail with `ENOSPC` while `fail` is set: the fault-injection hook
/// behind [`super::PersistOptions::fail_writes`], so tests drive the real error path of a full
/// disk without one.
#[derive(Debug)]
struct SegmentFile {
    file: File,
    fail: Arc<AtomicBool>,
}

/// `ENOSPC`, "No space left on device" (28 on Linux and the BSDs).
const ENOSPC: i32 = 28;

impl Write for SegmentFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.fail.load(Ordering::Relaxed) {
            return Err(std::io::Error::from_raw_os_error(ENOSPC));
        }
        self.file.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// The segment writer.
#[derive(Debug)]
pub(super) struct Wal {
    dir: PathBuf,
    /// Number of the segment being written.
    seg: u64,
    /// `None` after a write error, until [`Wal::cut`] opens a fresh segment.
    file: Option<BufWriter<SegmentFile>>,
    /// Bytes in the current segment.
    written: u64,
    /// Log id of each series, indexed by [`SeriesRef`].
    pub(super) ids: Vec<u64>,
    /// The id the next new series gets.
    pub(super) next_id: u64,
    /// Write failures and records not written, ever; each one is a gap in the log.
    lost: u64,
    /// The value of `lost` that a written snapshot covers: the log is whole again when the two
    /// agree (and a segment is open).
    covered: u64,
    /// The latest write error, for the messages of refused batches.
    last_error: Option<String>,
    /// The fault-injection flag every segment file shares.
    fail: Arc<AtomicBool>,
    payload: Enc,
}

impl Wal {
    /// Starts segment `seg` in `dir` for a store whose series have log ids `ids` (by
    /// reference); new series get ids from `next_id` on. When the segment cannot be created (a
    /// full disk) the writer starts off, read-only, and the error is kept for
    /// [`Wal::writable`]; a snapshot brings it back.
    pub(super) fn create(dir: &Path, seg: u64, ids: Vec<u64>, next_id: u64, fail: Arc<AtomicBool>) -> Wal {
        let mut wal = Wal {
            dir: dir.to_path_buf(),
            seg,
            file: None,
            written: 0,
            ids,
            next_id,
            lost: 0,
            covered: 0,
            last_error: None,
            fail,
            payload: Enc::default(),
        };
        match wal.open_segment() {
            Ok(f) => wal.file = Some(f),
            Err(e) => {
                let _ = wal.on_result(Err(e));
            }
        }
        wal
    }

    fn open_segment(&mut self) -> std::io::Result<BufWriter<SegmentFile>> {
        let path = segment_path(&self.dir, self.seg);
        let file = OpenOptions::new().write(true).create_new(true).open(&path)?;
        let file = SegmentFile {
            file,
            fail: self.fail.clone(),
        };
        let mut w = BufWriter::with_capacity(64 << 10, file);
        if let Err(e) = w.write_all(SEGMENT_MAGIC).and_then(|()| w.flush()) {
            // A full disk: do not leave an empty segment behind for every retry.
            drop(w);
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        self.written = SEGMENT_MAGIC.len() as u64;
        Ok(w)
    }

    /// Number of the segment being written.
    pub(super) fn segment(&self) -> u64 {
        self.seg
    }

    /// Whether the log has a gap no snapshot covers yet, or no open segment: then nothing
    /// appended now would be durable.
    pub(super) fn is_broken(&self) -> bool {
        self.file.is_none() || self.lost != self.covered
    }

    /// The gap count, to be handed to [`Wal::mark_covered`] once a snapshot taken now is
    /// written.
    pub(super) fn lost(&self) -> u64 {
        self.lost
    }

    /// A snapshot holding everything up to the moment `lost` was read is on disk.
    pub(super) fn mark_covered(&mut self, lost: u64) {
        let was_broken = self.is_broken();
        self.covered = self.covered.max(lost);
        if was_broken && !self.is_broken() {
            tracing::info!(segment = %segment_path(&self.dir, self.seg).display(),
                "The WAL writes again; a snapshot holds what it could not write. Ingest is accepted again.");
        }
    }

    /// `Ok` when appends are durable now, else why not.
    pub(super) fn writable(&self) -> Result<(), LogError> {
        if !self.is_broken() {
            return Ok(());
        }
        Err(LogError(format!(
            "the write-ahead log in {} cannot be written ({}); samples are refused until it can (free disk \
             space: a snapshot then restores it), queries are still answered",
            self.dir.display(),
            self.last_error.as_deref().unwrap_or("a write failed")
        )))
    }

    /// Writes the buffered records to the OS (they survive a crash of the process, not of the
    /// machine). An error when that fails, or when the log already has a gap.
    pub(super) fn flush(&mut self) -> std::io::Result<()> {
        let result = match &mut self.file {
            Some(f) => f.flush(),
            None => Ok(()),
        };
        self.on_result(result)?;
        self.writable().map_err(|e| std::io::Error::other(e.0))
    }

    /// Flushes and fsyncs the current segment.
    pub(super) fn sync(&mut self) -> std::io::Result<()> {
        let result = match &mut self.file {
            Some(f) => f.flush().and_then(|()| f.get_ref().file.sync_data()),
            None => return Ok(()),
        };
        self.on_result(result)
    }

    /// Closes the current segment and starts the next one. Returns the closed segment's file,
    /// flushed but not yet fsynced, so the caller can fsync it without holding locks. When the
    /// new segment cannot be created the writer stays off; the error is returned.
    pub(super) fn cut(&mut self) -> std::io::Result<Option<File>> {
        let old = match self.file.take() {
            Some(w) => match w.into_inner() {
                Ok(f) => Some(f.file),
                Err(e) => {
                    tracing::error!(segment = %segment_path(&self.dir, self.seg).display(), error = %e.error(),
                        "Cannot flush the WAL segment; the snapshot being written covers its records.");
                    self.lost += 1;
                    None
                }
            },
            None => None,
        };
        self.seg += 1;
        match self.open_segment() {
            Ok(file) => self.file = Some(file),
            Err(e) => return self.on_result(Err(e)).map(|()| old),
        }
        Ok(old)
    }

    fn on_result(&mut self, result: std::io::Result<()>) -> std::io::Result<()> {
        if let Err(e) = &result {
            if !self.is_broken() {
                tracing::error!(segment = %segment_path(&self.dir, self.seg).display(), error = %e,
                    "Cannot write the WAL; ingest is refused (5xx) until a snapshot can be written, queries go on.");
            }
            self.file = None;
            self.lost += 1;
            self.last_error = Some(e.to_string());
        }
        result
    }

    /// Frames and writes the record in `self.payload`.
    fn write_payload(&mut self) {
        let Some(w) = &mut self.file else {
            self.lost += 1;
            return;
        };
        let payload = &self.payload.buf;
        let len = payload.len() as u32;
        let crc = crc32fast::hash(payload);
        let result = w
            .write_all(&len.to_le_bytes())
            .and_then(|()| w.write_all(&crc.to_le_bytes()))
            .and_then(|()| w.write_all(payload));
        self.written += (FRAME_HEADER + payload.len()) as u64;
        if self.on_result(result).is_err() {
            return;
        }
        if self.written >= SEGMENT_MAX_BYTES {
            match self.cut() {
                Ok(Some(old)) => {
                    if let Err(e) = old.sync_data() {
                        tracing::warn!(error = %e, "Cannot fsync a full WAL segment.");
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    let _ = self.on_result(Err(e));
                }
            }
        }
    }

    fn id_of(&mut self, r: SeriesRef) -> Option<u64> {
        let id = self.ids.get(r as usize).copied();
        if id.is_none() {
            // The store reports every series before its samples; reaching this is a bug, and
            // the sample is still in memory (and in the next snapshot).
            tracing::error!(
                series_ref = r,
                "The WAL does not know a series; its sample is not logged."
            );
        }
        id
    }

    /// Logs series `labels` with a new id and maps `r` to it.
    pub(super) fn add_series(&mut self, r: SeriesRef, labels: &Labels) {
        let id = self.next_id;
        self.next_id += 1;
        let r = r as usize;
        if self.ids.len() <= r {
            self.ids.resize(r + 1, u64::MAX);
        }
        self.ids[r] = id;
        self.payload.buf.clear();
        self.payload.u8(REC_SERIES);
        self.payload.uvarint(id);
        self.payload.labels(labels);
        self.write_payload();
    }
}

impl AppendLog for Wal {
    fn series(&mut self, r: SeriesRef, labels: &Labels) {
        self.add_series(r, labels);
    }

    fn sample(&mut self, r: SeriesRef, t: i64, v: f64) {
        let Some(id) = self.id_of(r) else { return };
        self.payload.buf.clear();
        self.payload.u8(REC_SAMPLE);
        self.payload.uvarint(id);
        self.payload.i64(t);
        self.payload.f64(v);
        self.write_payload();
    }

    fn histogram(&mut self, r: SeriesRef, t: i64, h: &FloatHistogram) {
        let Some(id) = self.id_of(r) else { return };
        self.payload.buf.clear();
        self.payload.u8(REC_HISTOGRAM);
        self.payload.uvarint(id);
        self.payload.i64(t);
        self.payload.histogram(h);
        self.write_payload();
    }

    fn compact(&mut self, kept: &[bool]) {
        let ids = std::mem::take(&mut self.ids);
        self.ids = ids
            .into_iter()
            .zip(kept.iter().chain(std::iter::repeat(&true)))
            .filter_map(|(id, k)| k.then_some(id))
            .collect();
    }

    fn flush(&mut self) -> Result<(), LogError> {
        // A failure is logged by the writer, which turns itself off until a snapshot is written.
        Wal::flush(self).map_err(|e| LogError(e.to_string()))
    }

    fn writable(&self) -> Result<(), LogError> {
        Wal::writable(self)
    }
}

/// The [`AppendLog`] a durable store attaches: the shared [`Wal`] behind a mutex, so the
/// flusher and snapshots reach it without the store's write lock.
#[derive(Clone, Debug)]
pub(super) struct WalLog(pub(super) Arc<Mutex<Wal>>);

impl WalLog {
    fn with<T>(&self, f: impl FnOnce(&mut Wal) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl AppendLog for WalLog {
    fn series(&mut self, r: SeriesRef, labels: &Labels) {
        self.with(|w| w.series(r, labels));
    }

    fn sample(&mut self, r: SeriesRef, t: i64, v: f64) {
        self.with(|w| w.sample(r, t, v));
    }

    fn histogram(&mut self, r: SeriesRef, t: i64, h: &FloatHistogram) {
        self.with(|w| w.histogram(r, t, h));
    }

    fn compact(&mut self, kept: &[bool]) {
        self.with(|w| w.compact(kept));
    }

    fn flush(&mut self) -> Result<(), LogError> {
        self.with(AppendLog::flush)
    }

    fn writable(&self) -> Result<(), LogError> {
        self.with(|w| Wal::writable(w))
    }
}
