//! Snapshots: the whole store as compressed chunks in `DIR/snapshot-<n>/series`.
//!
//! `<n>` (8 digits) is the first WAL segment the snapshot does not cover: startup loads the
//! snapshot and replays segments `n`, `n+1`, …. The file starts with the magic
//! [`SNAPSHOT_MAGIC`] and holds CRC-framed records ([`super::codec`]):
//!
//! | type | payload after the type byte                                                      |
//! |------|----------------------------------------------------------------------------------|
//! | 0    | header: the WAL id the next new series gets (uvarint)                            |
//! | 1    | series: WAL id, labels, chunk count, per chunk (sample count, bytes), histogram count, per histogram (t, histogram) |
//! | 2    | end: series count, sample count (uvarints); a file without it is incomplete       |
//!
//! Float samples are stored as the store's own Gorilla chunks, byte for byte, so a snapshot
//! costs about what the samples cost in memory, and every value keeps its bit pattern (NaN
//! payloads, staleness markers). A snapshot is written to `snapshot-<n>.tmp/`, fsynced and
//! renamed into place, so a crash leaves either the whole snapshot or none.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::super::chunk::{SeriesChunks, XorChunk};
use super::super::labels::Labels;
use super::super::{HSample, Storage};
use super::codec::{Dec, DecResult, Enc, next_frame, put_frame};

/// First bytes of a snapshot file: "BWSNAP", a zero byte, format version 1.
pub(super) const SNAPSHOT_MAGIC: &[u8; 8] = b"BWSNAP\0\x01";

/// The file inside a snapshot directory.
pub(super) const SNAPSHOT_FILE: &str = "series";

const REC_HEADER: u8 = 0;
const REC_SERIES: u8 = 1;
const REC_END: u8 = 2;

/// The directory of snapshot `n` in the data directory.
pub(super) fn snapshot_dir(data_dir: &Path, n: u64) -> PathBuf {
    data_dir.join(format!("snapshot-{n:08}"))
}

/// Snapshot numbers in `data_dir`, ascending; leftover `.tmp` directories are removed.
pub(super) fn list_snapshots(data_dir: &Path) -> std::io::Result<Vec<u64>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(data_dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(rest) = name.strip_prefix("snapshot-") else {
            continue;
        };
        if rest.ends_with(".tmp") {
            // An interrupted snapshot: never renamed, so never complete.
            std::fs::remove_dir_all(entry.path())?;
            continue;
        }
        if let Ok(n) = rest.parse() {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Encodes `store` with WAL ids `ids` (by series reference) into a snapshot file's bytes.
/// Returns the bytes and the number of samples in them.
pub(super) fn encode(store: &Storage, ids: &[u64], next_id: u64) -> (Vec<u8>, usize) {
    let mut out = Vec::with_capacity(store.sample_bytes() + store.num_series() * 64 + 64);
    out.extend_from_slice(SNAPSHOT_MAGIC);
    let mut e = Enc::default();
    e.u8(REC_HEADER);
    e.uvarint(next_id);
    put_frame(&mut out, &e.buf);
    let mut samples = 0usize;
    let mut series = 0usize;
    for (r, s) in store.all_series().iter().enumerate() {
        // A series without an id cannot happen (the log names every series it is told of);
        // the fallback id is still unique, past every id handed out.
        let id = ids.get(r).copied().unwrap_or(next_id + r as u64);
        e.buf.clear();
        e.u8(REC_SERIES);
        e.uvarint(id);
        e.labels(s.labels());
        let chunks = s.chunks().chunks();
        e.uvarint(chunks.len() as u64);
        for c in chunks {
            e.uvarint(c.len() as u64);
            e.bytes(c.bytes());
        }
        let hs = s.histograms();
        e.uvarint(hs.len() as u64);
        for h in hs {
            e.i64(h.t);
            e.histogram(&h.h);
        }
        put_frame(&mut out, &e.buf);
        samples += s.num_samples();
        series += 1;
    }
    e.buf.clear();
    e.u8(REC_END);
    e.uvarint(series as u64);
    e.uvarint(samples as u64);
    put_frame(&mut out, &e.buf);
    (out, samples)
}

/// Writes snapshot `n` atomically: into `snapshot-<n>.tmp/`, fsync, rename, fsync the parent.
pub(super) fn write(data_dir: &Path, n: u64, bytes: &[u8]) -> std::io::Result<PathBuf> {
    let dir = snapshot_dir(data_dir, n);
    let tmp = data_dir.join(format!("snapshot-{n:08}.tmp"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)?;
    }
    std::fs::create_dir(&tmp)?;
    let mut f = File::create(tmp.join(SNAPSHOT_FILE))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    File::open(&tmp)?.sync_all()?;
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::rename(&tmp, &dir)?;
    File::open(data_dir)?.sync_all()?;
    Ok(dir)
}

/// A loaded snapshot.
#[derive(Debug)]
pub(super) struct Loaded {
    /// The store it describes.
    pub(super) store: Storage,
    /// WAL id and labels of each series.
    pub(super) series: Vec<(u64, Labels)>,
    /// The WAL id the next new series gets.
    pub(super) next_id: u64,
}

/// Why a snapshot file could not be loaded: the byte offset of the bad record and the reason.
#[derive(Debug, thiserror::Error)]
#[error("at byte {offset}: {reason}")]
pub(super) struct LoadError {
    /// Offset of the record that failed.
    pub(super) offset: usize,
    /// Why.
    pub(super) reason: String,
}

/// Reads and validates the snapshot file at `path`.
pub(super) fn load(path: &Path) -> Result<Loaded, LoadError> {
    let buf = std::fs::read(path).map_err(|e| LoadError {
        offset: 0,
        reason: format!("cannot read the file: {e}"),
    })?;
    if buf.get(..SNAPSHOT_MAGIC.len()) != Some(SNAPSHOT_MAGIC.as_slice()) {
        return Err(LoadError {
            offset: 0,
            reason: "the file does not start with the burnwatch snapshot magic".to_string(),
        });
    }
    let mut loaded = Loaded {
        store: Storage::new(),
        series: Vec::new(),
        next_id: 0,
    };
    let mut pos = SNAPSHOT_MAGIC.len();
    let mut samples = 0usize;
    let mut first = true;
    loop {
        let at = pos;
        let fail = |reason: String| LoadError { offset: at, reason };
        let (payload, next) = next_frame(&buf, pos)
            .map_err(|e| fail(e.to_string()))?
            .ok_or_else(|| fail("the file ends without its end record (an incomplete snapshot)".into()))?;
        pos = next;
        let mut d = Dec::new(payload);
        let kind = d.u8().map_err(fail)?;
        if first != (kind == REC_HEADER) {
            return Err(fail(format!(
                "record type {kind} where the header is expected first"
            )));
        }
        first = false;
        match kind {
            REC_HEADER => loaded.next_id = d.uvarint().map_err(fail)?,
            REC_SERIES => {
                samples += load_series(&mut d, &mut loaded).map_err(fail)?;
            }
            REC_END => {
                let (n_series, n_samples) =
                    (|| -> DecResult<(u64, u64)> { Ok((d.uvarint()?, d.uvarint()?)) })().map_err(fail)?;
                if n_series != loaded.series.len() as u64 || n_samples != samples as u64 {
                    return Err(fail(format!(
                        "the end record counts {n_series} series and {n_samples} samples but the file holds \
                         {} and {samples}",
                        loaded.series.len()
                    )));
                }
                if pos != buf.len() {
                    return Err(LoadError {
                        offset: pos,
                        reason: "bytes follow the end record".to_string(),
                    });
                }
                return Ok(loaded);
            }
            other => return Err(fail(format!("unknown record type {other}"))),
        }
    }
}

/// Decodes one series record into `loaded`; returns its sample count.
fn load_series(d: &mut Dec<'_>, loaded: &mut Loaded) -> DecResult<usize> {
    let id = d.uvarint()?;
    let labels = d.labels()?;
    let n_chunks = d.count(2)?;
    let mut chunks = Vec::with_capacity(n_chunks);
    for i in 0..n_chunks {
        let num = d.uvarint()?;
        let num = u16::try_from(num).map_err(|_| format!("chunk {i} of {labels} claims {num} samples"))?;
        let bytes = d.bytes()?.to_vec();
        chunks.push(XorChunk::from_bytes(bytes, num).map_err(|e| format!("chunk {i} of {labels}: {e}"))?);
    }
    let data = SeriesChunks::from_chunks(chunks).map_err(|e| format!("series {labels}: {e}"))?;
    let n_hist = d.count(9)?;
    let mut histograms = Vec::with_capacity(n_hist);
    for _ in 0..n_hist {
        let t = d.i64()?;
        histograms.push(HSample { t, h: d.histogram()? });
    }
    if !d.is_empty() {
        return Err(format!("bytes follow the samples of {labels}"));
    }
    let n = data.num_samples() + histograms.len();
    let r = loaded
        .store
        .restore_series(labels, data, histograms)
        .map_err(|e| e.to_string())?;
    // Keep the store's copy of the labels (made of its interned strings), not the decoded one:
    // holding both would double the label memory of a large store while it recovers.
    let labels = loaded.store.all_series()[r as usize].labels().clone();
    loaded.series.push((id, labels));
    Ok(n)
}
