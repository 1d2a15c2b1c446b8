//! The byte formats shared by WAL segments and snapshots: CRC-framed records, varints, and
//! the encodings of labels and native histograms.
//!
//! A record is `length (u32 LE) | CRC-32 of the payload (u32 LE, IEEE polynomial, as
//! `crc32fast` computes it) | payload`. Prometheus frames its WAL records the same way (with
//! CRC-32C and pages); a length that runs past the end of the file, or a CRC that does not
//! match, marks where a crash cut the file.

use std::sync::Arc;

use super::super::histogram::{CounterResetHint, FloatHistogram};
use super::super::labels::Labels;

/// Bytes of a record header: length and CRC.
pub(super) const FRAME_HEADER: usize = 8;

/// Largest payload accepted when reading (a snapshot series with many chunks stays far below;
/// a larger length is taken as corruption rather than allocated).
pub(super) const MAX_RECORD: usize = 256 << 20;

/// Appends one framed record holding `payload` to `out`.
pub(super) fn put_frame(out: &mut Vec<u8>, payload: &[u8]) {
    // Payloads are built by this module and stay far below 4 GiB; the reader refuses anything
    // above MAX_RECORD anyway.
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Why the record at some offset could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum FrameError {
    /// Fewer bytes than a header or than the header's length.
    Torn {
        /// Bytes the record needs.
        need: usize,
        /// Bytes left.
        have: usize,
    },
    /// The length field is implausible.
    TooLong(usize),
    /// The CRC does not match the payload.
    Crc {
        /// CRC in the header.
        stored: u32,
        /// CRC of the payload.
        computed: u32,
    },
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Torn { need, have } => {
                write!(
                    f,
                    "the record needs {need} bytes but only {have} are left (a torn write)"
                )
            }
            FrameError::TooLong(n) => write!(f, "the record claims {n} bytes, more than any record holds"),
            FrameError::Crc { stored, computed } => {
                write!(
                    f,
                    "CRC mismatch (stored {stored:#010x}, computed {computed:#010x})"
                )
            }
        }
    }
}

/// Reads the record at `buf[pos..]`: its payload and the offset after it, `Ok(None)` at the
/// end of `buf`.
pub(super) fn next_frame(buf: &[u8], pos: usize) -> Result<Option<(&[u8], usize)>, FrameError> {
    let rest = buf.get(pos..).unwrap_or_default();
    if rest.is_empty() {
        return Ok(None);
    }
    if rest.len() < FRAME_HEADER {
        return Err(FrameError::Torn {
            need: FRAME_HEADER,
            have: rest.len(),
        });
    }
    let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
    let stored = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
    if len > MAX_RECORD {
        return Err(FrameError::TooLong(len));
    }
    let Some(payload) = rest.get(FRAME_HEADER..FRAME_HEADER + len) else {
        return Err(FrameError::Torn {
            need: FRAME_HEADER + len,
            have: rest.len(),
        });
    };
    let computed = crc32fast::hash(payload);
    if computed != stored {
        return Err(FrameError::Crc { stored, computed });
    }
    Ok(Some((payload, pos + FRAME_HEADER + len)))
}

/// Builds a record payload.
#[derive(Debug, Default)]
pub(super) struct Enc {
    pub(super) buf: Vec<u8>,
}

impl Enc {
    pub(super) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    /// Unsigned LEB128.
    pub(super) fn uvarint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    /// Zig-zag, then LEB128 (small negative numbers stay small).
    pub(super) fn varint(&mut self, v: i64) {
        self.uvarint(((v << 1) ^ (v >> 63)) as u64);
    }

    pub(super) fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub(super) fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// A float by its bit pattern, so NaN payloads (the staleness marker) survive.
    pub(super) fn f64(&mut self, v: f64) {
        self.u64(v.to_bits());
    }

    pub(super) fn bytes(&mut self, b: &[u8]) {
        self.uvarint(b.len() as u64);
        self.buf.extend_from_slice(b);
    }

    pub(super) fn labels(&mut self, l: &Labels) {
        self.uvarint(l.len() as u64);
        for x in l {
            self.bytes(x.name.as_bytes());
            self.bytes(x.value.as_bytes());
        }
    }

    pub(super) fn histogram(&mut self, h: &FloatHistogram) {
        self.u8(match h.counter_reset_hint {
            CounterResetHint::Unknown => 0,
            CounterResetHint::CounterReset => 1,
            CounterResetHint::NotCounterReset => 2,
            CounterResetHint::Gauge => 3,
        });
        self.varint(i64::from(h.schema));
        self.f64(h.zero_threshold);
        self.f64(h.zero_count);
        self.f64(h.count);
        self.f64(h.sum);
        for buckets in [&h.positive, &h.negative] {
            self.uvarint(buckets.len() as u64);
            for &(i, c) in buckets {
                self.varint(i64::from(i));
                self.f64(c);
            }
        }
        self.uvarint(h.custom_values.len() as u64);
        for &v in &h.custom_values {
            self.f64(v);
        }
    }
}

/// Reads a record payload; every method fails with a description instead of panicking.
#[derive(Debug)]
pub(super) struct Dec<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// A payload that does not decode (its CRC matched, so this means a bug or a foreign file).
pub(super) type DecResult<T> = Result<T, String>;

impl<'a> Dec<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn take(&mut self, n: usize) -> DecResult<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or_else(|| {
                format!(
                    "the record ends at byte {} while {n} more bytes were expected at byte {}",
                    self.buf.len(),
                    self.pos
                )
            })?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    pub(super) fn u8(&mut self) -> DecResult<u8> {
        Ok(self.take(1)?[0])
    }

    pub(super) fn uvarint(&mut self) -> DecResult<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(format!("a varint longer than 10 bytes ends at byte {}", self.pos))
    }

    pub(super) fn varint(&mut self) -> DecResult<i64> {
        let u = self.uvarint()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    /// A count of items that each take at least `min_bytes`: bounded by the bytes left, so a
    /// corrupt count cannot make the reader allocate gigabytes.
    pub(super) fn count(&mut self, min_bytes: usize) -> DecResult<usize> {
        let n = self.uvarint()?;
        let left = self.buf.len() - self.pos.min(self.buf.len());
        match usize::try_from(n) {
            Ok(n) if n.saturating_mul(min_bytes.max(1)) <= left => Ok(n),
            _ => Err(format!(
                "a count of {n} at byte {} exceeds the {left} bytes left",
                self.pos
            )),
        }
    }

    pub(super) fn u64(&mut self) -> DecResult<u64> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes([
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
        ]))
    }

    pub(super) fn i64(&mut self) -> DecResult<i64> {
        Ok(self.u64()? as i64)
    }

    pub(super) fn f64(&mut self) -> DecResult<f64> {
        Ok(f64::from_bits(self.u64()?))
    }

    pub(super) fn bytes(&mut self) -> DecResult<&'a [u8]> {
        let n = self.count(1)?;
        self.take(n)
    }

    fn str(&mut self) -> DecResult<&'a str> {
        let at = self.pos;
        std::str::from_utf8(self.bytes()?).map_err(|e| format!("a label at byte {at} is not UTF-8: {e}"))
    }

    pub(super) fn labels(&mut self) -> DecResult<Labels> {
        let n = self.count(2)?;
        let mut pairs = Vec::with_capacity(n);
        for _ in 0..n {
            pairs.push((self.str()?, self.str()?));
        }
        let labels = Labels::from_pairs(pairs);
        if labels.len() != n {
            return Err(format!(
                "a label set of {n} pairs has empty values or repeated names (ending at byte {})",
                self.pos
            ));
        }
        Ok(labels)
    }

    pub(super) fn histogram(&mut self) -> DecResult<Arc<FloatHistogram>> {
        let counter_reset_hint = match self.u8()? {
            0 => CounterResetHint::Unknown,
            1 => CounterResetHint::CounterReset,
            2 => CounterResetHint::NotCounterReset,
            3 => CounterResetHint::Gauge,
            other => {
                return Err(format!(
                    "unknown counter-reset hint {other} at byte {}",
                    self.pos - 1
                ));
            }
        };
        let schema = self.varint()?;
        let schema = i32::try_from(schema).map_err(|_| format!("histogram schema {schema} out of range"))?;
        let mut h = FloatHistogram {
            counter_reset_hint,
            schema,
            zero_threshold: self.f64()?,
            zero_count: self.f64()?,
            count: self.f64()?,
            sum: self.f64()?,
            ..FloatHistogram::default()
        };
        for side in 0..2 {
            let n = self.count(9)?;
            let mut buckets = Vec::with_capacity(n);
            for _ in 0..n {
                let i = self.varint()?;
                let i = i32::try_from(i).map_err(|_| format!("bucket index {i} out of range"))?;
                buckets.push((i, self.f64()?));
            }
            if side == 0 {
                h.positive = buckets;
            } else {
                h.negative = buckets;
            }
        }
        let n = self.count(8)?;
        h.custom_values = (0..n).map(|_| self.f64()).collect::<DecResult<_>>()?;
        Ok(Arc::new(h))
    }
}
