//! The on-disk write-ahead log: every queued request body is written (and synced) to a
//! file of its own before the caller is told it was accepted, and deleted once the
//! receiver took it or refused it for good. After a restart the files left are sent first,
//! in their original order.
//!
//! One file per request keeps the format trivial and deletion O(1); requests are up to a
//! few megabytes, so the per-file cost is small against the body. Deletions are applied
//! every `truncate_frequency` (the OTel Collector's name for the same knob); a crash
//! between an acknowledgement and the deletion sends that request again, which Prometheus
//! receivers accept (an identical sample is not an error).
//!
//! File layout (`<seq, 20 digits>.rw`): magic `BWRW1`, shard (u32 LE), samples, histograms,
//! exemplars, metadata, raw size and items (u64 LE each), the body length (u64 LE), the
//! snappy body, and a CRC-32 of everything before it. A file that is short or fails its
//! CRC (a crash mid-write before the rename cannot leave one, a damaged disk can) is
//! logged and moved aside as `.corrupt`.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bytes::Bytes;

use crate::encode::EncodedBatch;

const MAGIC: &[u8; 5] = b"BWRW1";
const HEADER: usize = 5 + 4 + 8 * 7;

/// One request read back from the log.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Record {
    pub(crate) seq: u64,
    pub(crate) shard: u32,
    pub(crate) items: u64,
    pub(crate) batch: EncodedBatch,
}

/// The log directory.
#[derive(Debug)]
pub(crate) struct Wal {
    dir: PathBuf,
    next_seq: Mutex<u64>,
    /// Acknowledged sequence numbers whose files are still on disk.
    acked: Mutex<Vec<u64>>,
}

fn file_name(seq: u64) -> String {
    format!("{seq:020}.rw")
}

impl Wal {
    /// Opens (creating) `dir` and reads back every record left in it, oldest first.
    pub(crate) fn open(dir: &Path) -> Result<(Wal, Vec<Record>), String> {
        fs::create_dir_all(dir).map_err(|e| format!("creating the WAL directory {}: {e}", dir.display()))?;
        let entries =
            fs::read_dir(dir).map_err(|e| format!("reading the WAL directory {}: {e}", dir.display()))?;
        let mut seqs: Vec<u64> = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if let Some(seq) = name.strip_suffix(".rw").and_then(|s| s.parse::<u64>().ok()) {
                seqs.push(seq);
            } else if name.ends_with(".tmp") {
                // A write that never reached its rename: never acknowledged.
                let _ = fs::remove_file(entry.path());
            }
        }
        seqs.sort_unstable();
        let mut records = Vec::with_capacity(seqs.len());
        for seq in &seqs {
            let path = dir.join(file_name(*seq));
            match fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| parse(*seq, &b))
            {
                Ok(r) => records.push(r),
                Err(e) => {
                    tracing::error!(file = %path.display(), error = %e, "A remote-write WAL file is damaged; it is moved aside and not sent.");
                    let _ = fs::rename(&path, path.with_extension("corrupt"));
                }
            }
        }
        let next = seqs.last().map_or(1, |s| s + 1);
        Ok((
            Wal {
                dir: dir.to_path_buf(),
                next_seq: Mutex::new(next),
                acked: Mutex::new(Vec::new()),
            },
            records,
        ))
    }

    /// Writes one request durably (file synced, renamed into place, directory synced) and
    /// returns its sequence number.
    pub(crate) fn append(&self, shard: u32, items: u64, batch: &EncodedBatch) -> Result<u64, String> {
        let seq = {
            let mut next = self.next_seq.lock().unwrap_or_else(|e| e.into_inner());
            let seq = *next;
            *next += 1;
            seq
        };
        let mut buf = Vec::with_capacity(HEADER + batch.body.len() + 4);
        buf.extend_from_slice(MAGIC);
        buf.extend_from_slice(&shard.to_le_bytes());
        for v in [
            batch.samples,
            batch.histograms,
            batch.exemplars,
            batch.metadata,
            batch.raw_bytes,
            items,
            batch.body.len() as u64,
        ] {
            buf.extend_from_slice(&v.to_le_bytes());
        }
        buf.extend_from_slice(&batch.body);
        let crc = crc32fast::hash(&buf);
        buf.extend_from_slice(&crc.to_le_bytes());
        let path = self.dir.join(file_name(seq));
        let tmp = path.with_extension("tmp");
        let write = || -> std::io::Result<()> {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(&buf)?;
            f.sync_all()?;
            fs::rename(&tmp, &path)?;
            fs::File::open(&self.dir)?.sync_all()
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&tmp);
            format!("writing the remote-write WAL file {}: {e}", path.display())
        })?;
        Ok(seq)
    }

    /// Marks a record delivered (or refused for good); its file goes at the next
    /// [`Wal::truncate`].
    pub(crate) fn ack(&self, seq: u64) {
        self.acked.lock().unwrap_or_else(|e| e.into_inner()).push(seq);
    }

    /// Deletes the files of acknowledged records.
    pub(crate) fn truncate(&self) {
        let acked = std::mem::take(&mut *self.acked.lock().unwrap_or_else(|e| e.into_inner()));
        for seq in acked {
            let path = self.dir.join(file_name(seq));
            if let Err(e) = fs::remove_file(&path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(file = %path.display(), error = %e, "Could not delete a delivered remote-write WAL file; it will be sent again after a restart.");
            }
        }
    }
}

fn parse(seq: u64, b: &[u8]) -> Result<Record, String> {
    if b.len() < HEADER + 4 || &b[..5] != MAGIC {
        return Err("not a remote-write WAL record (bad magic or too short)".into());
    }
    let (content, crc) = b.split_at(b.len() - 4);
    let crc = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    if crc32fast::hash(content) != crc {
        return Err("checksum mismatch".into());
    }
    let u64_at = |i: usize| {
        let at = 9 + 8 * i;
        let mut a = [0u8; 8];
        a.copy_from_slice(&content[at..at + 8]);
        u64::from_le_bytes(a)
    };
    let shard = u32::from_le_bytes([content[5], content[6], content[7], content[8]]);
    let len = u64_at(6);
    if len != (content.len() - HEADER) as u64 {
        return Err(format!("body length {len} does not match the file"));
    }
    Ok(Record {
        seq,
        shard,
        items: u64_at(5),
        batch: EncodedBatch {
            body: Bytes::copy_from_slice(&content[HEADER..]),
            samples: u64_at(0),
            histograms: u64_at(1),
            exemplars: u64_at(2),
            metadata: u64_at(3),
            raw_bytes: u64_at(4),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(body: &[u8]) -> EncodedBatch {
        EncodedBatch {
            body: Bytes::copy_from_slice(body),
            samples: 3,
            histograms: 1,
            exemplars: 0,
            metadata: 2,
            raw_bytes: 99,
        }
    }

    #[test]
    fn records_survive_reopen_until_acked_and_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, old) = Wal::open(dir.path()).unwrap();
        assert!(old.is_empty());
        let a = wal.append(0, 7, &batch(b"first")).unwrap();
        let b = wal.append(3, 1, &batch(b"second")).unwrap();
        drop(wal);
        let (wal, records) = Wal::open(dir.path()).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!((records[0].seq, records[0].shard, records[0].items), (a, 0, 7));
        assert_eq!(records[0].batch, batch(b"first"));
        assert_eq!((records[1].seq, records[1].shard), (b, 3));
        wal.ack(a);
        wal.truncate();
        let c = wal.append(1, 1, &batch(b"third")).unwrap();
        assert!(c > b, "sequence numbers keep growing after a reopen");
        drop(wal);
        let (_, records) = Wal::open(dir.path()).unwrap();
        assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![b, c]);
    }

    #[test]
    fn a_damaged_file_is_moved_aside_not_sent() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _) = Wal::open(dir.path()).unwrap();
        let seq = wal.append(0, 1, &batch(b"payload")).unwrap();
        let path = dir.path().join(file_name(seq));
        let mut bytes = fs::read(&path).unwrap();
        let n = bytes.len();
        bytes[n - 6] ^= 0xff;
        fs::write(&path, bytes).unwrap();
        let (_, records) = Wal::open(dir.path()).unwrap();
        assert!(records.is_empty());
        assert!(path.with_extension("corrupt").exists());
    }
}
