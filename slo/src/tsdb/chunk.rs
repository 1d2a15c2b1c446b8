//! Compressed sample chunks: delta-of-delta timestamps and XOR floats.
//!
//! The encoding follows the Gorilla paper (Pelkonen et al., VLDB 2015, section 4.1) as Prometheus's
//! `chunkenc.XORChunk` uses it. Per chunk the first sample is stored raw (64-bit timestamp, 64-bit
//! value); each later timestamp stores the change of the delta between samples in one of five
//! buckets (`0`, `10`+14 bits, `110`+17 bits, `1110`+20 bits, `1111`+64 bits); each value stores the
//! XOR with the previous one: `0` when equal, `10` + the meaningful bits when they fit the previous
//! window of leading/trailing zeros, else `11` + 5 bits leading zeros + 6 bits length + the bits.
//! Regular 15s scrapes of a slowly changing value therefore cost a few bits per sample.

use super::Sample;

/// Samples per chunk before a new one is cut (Prometheus uses 120 as well).
const SAMPLES_PER_CHUNK: u16 = 120;

/// Smallest growth of an open chunk's byte vector.
const MIN_GROWTH: usize = 16;

/// The append-only bit stream of a chunk (its fields sit in [`XorChunk`] directly: a separate
/// struct would pad the one-byte bit count to 8 bytes).
impl XorChunk {
    /// Starts a new, empty last byte.
    fn open_byte(&mut self) {
        if self.bytes.len() == self.bytes.capacity() {
            // Grow by a quarter rather than doubling: the open chunk's final size is not
            // known, and doubling leaves up to half of its bytes unused (the store keeps
            // one open chunk per series; `SeriesChunks::push` sizes the next chunk from the
            // previous one, so this is rarely reached after the first chunk).
            self.bytes.reserve_exact((self.bytes.len() / 4).max(MIN_GROWTH));
        }
        self.bytes.push(0);
    }

    fn write_bit(&mut self, bit: bool) {
        if self.used == 0 {
            self.open_byte();
        }
        if bit && let Some(b) = self.bytes.last_mut() {
            *b |= 0x80 >> self.used;
        }
        self.used = (self.used + 1) % 8;
    }

    /// Writes the low `n` (at most 64) bits of `v`, most significant first: fills the open
    /// byte, then whole bytes, then the head of a new byte.
    fn write_bits(&mut self, v: u64, n: u8) {
        let mut left = u32::from(n.min(64));
        while left > 0 {
            if self.used == 0 {
                self.open_byte();
            }
            let free = 8 - u32::from(self.used);
            let take = free.min(left);
            // The next `take` bits of `v` (below the `left` still to write), at the byte's
            // first free bit.
            let bits = (v >> (left - take)) & ((1u64 << take) - 1);
            if let Some(b) = self.bytes.last_mut() {
                *b |= (bits as u8) << (free - take);
            }
            self.used = ((u32::from(self.used) + take) % 8) as u8;
            left -= take;
        }
    }
}

/// Reads the bit stream a chunk writes.
///
/// Bits are taken from a 64-bit buffer refilled a byte at a time, so reading a 64-bit raw value
/// or a 14-bit delta is a shift, not a loop over bits: queries decode chunks on every read, and
/// the bit-at-a-time reader was half of a simple query's time.
struct BitReader<'a> {
    bytes: &'a [u8],
    /// The next byte to load into `buf`.
    next: usize,
    /// Unread bits, most significant first. Bits below the first `avail` are either zero or
    /// already the stream's next bits (a refill may load a byte partly), so loading that byte
    /// again with `|=` changes nothing.
    buf: u64,
    /// How many bits of `buf` are unread.
    avail: u32,
}

impl<'a> BitReader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        BitReader {
            bytes,
            next: 0,
            buf: 0,
            avail: 0,
        }
    }

    /// Bits consumed so far.
    fn pos(&self) -> usize {
        self.next * 8 - self.avail as usize
    }

    /// Loads whole bytes while they fit in the buffer: eight at once away from the end.
    #[inline]
    fn refill(&mut self) {
        if let Some(word) = self.bytes.get(self.next..self.next + 8) {
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            // `avail` is below 32 here (refills happen before reads of at most 32 bits).
            self.buf |= u64::from_be_bytes(w) >> self.avail;
            let take = (64 - self.avail) / 8;
            self.next += take as usize;
            self.avail += take * 8;
            return;
        }
        while self.avail <= 56 {
            let Some(&b) = self.bytes.get(self.next) else {
                break;
            };
            self.buf |= u64::from(b) << (56 - self.avail);
            self.avail += 8;
            self.next += 1;
        }
    }

    #[inline]
    fn read_bit(&mut self) -> Option<bool> {
        if self.avail == 0 {
            self.refill();
            if self.avail == 0 {
                return None;
            }
        }
        let bit = self.buf >> 63 == 1;
        self.buf <<= 1;
        self.avail -= 1;
        Some(bit)
    }

    /// Reads `n` (at most 64) bits, most significant first.
    #[inline]
    fn read_bits(&mut self, n: u8) -> Option<u64> {
        let n = u32::from(n);
        if n > 32 {
            // After a refill at least 57 bits are loaded (unless the stream ends), so a wide
            // read is two narrow ones.
            let hi = self.read_bits((n - 32) as u8)?;
            let lo = self.read_bits(32)?;
            return Some((hi << 32) | lo);
        }
        if n == 0 {
            return Some(0);
        }
        if self.avail < n {
            self.refill();
            if self.avail < n {
                return None;
            }
        }
        let v = self.buf >> (64 - n);
        self.buf <<= n;
        self.avail -= n;
        Some(v)
    }
}

/// Timestamp buckets: (prefix bits, prefix length, payload bits).
const DOD_BUCKETS: [(u64, u8, u8); 3] = [(0b10, 2, 14), (0b110, 3, 17), (0b1110, 4, 20)];

/// Sign-extends the low `n` bits of `v`.
fn sign_extend(v: u64, n: u8) -> i64 {
    let shift = 64 - u32::from(n);
    ((v << shift) as i64) >> shift
}

/// One chunk of up to `SAMPLES_PER_CHUNK` (120) samples.
///
/// The first timestamp (the chunk's start) is not kept as a field: the stream begins with it
/// as 64 raw bits, and a chunk is 8 bytes smaller without it (one store holds millions).
#[derive(Clone, Debug, Default)]
pub struct XorChunk {
    /// The bit stream.
    bytes: Vec<u8>,
    /// Number of bits used in the last byte (0 means the last byte is full or there is none).
    used: u8,
    num: u16,
    max_t: i64,
    // Appender state.
    last_v: u64,
    last_delta: i64,
    leading: u8,
    trailing: u8,
}

impl XorChunk {
    /// Number of samples in the chunk.
    pub fn len(&self) -> usize {
        usize::from(self.num)
    }

    /// Whether the chunk has no samples.
    pub fn is_empty(&self) -> bool {
        self.num == 0
    }

    /// Encoded size in bytes.
    pub fn byte_size(&self) -> usize {
        self.bytes.len()
    }

    /// The oldest timestamp, read from the stream's first 64 bits (0 for an empty chunk).
    fn min_t(&self) -> i64 {
        self.bytes
            .first_chunk::<8>()
            .map_or(0, |b| i64::from_be_bytes(*b))
    }

    /// Appends a sample; the caller guarantees `s.t` is after the previous sample.
    pub fn append(&mut self, s: Sample) {
        let vbits = s.v.to_bits();
        match self.num {
            0 => {
                self.write_bits(s.t as u64, 64);
                self.write_bits(vbits, 64);
                self.leading = u8::MAX;
            }
            _ => {
                let delta = s.t.wrapping_sub(self.max_t);
                let dod = delta.wrapping_sub(self.last_delta);
                self.write_dod(dod);
                self.last_delta = delta;
                self.write_value(vbits);
            }
        }
        self.max_t = s.t;
        self.last_v = vbits;
        self.num += 1;
    }

    fn write_dod(&mut self, dod: i64) {
        if dod == 0 {
            self.write_bit(false);
            return;
        }
        for (prefix, plen, n) in DOD_BUCKETS {
            let lim = 1i64 << (n - 1);
            if dod >= -lim && dod < lim {
                self.write_bits(prefix, plen);
                self.write_bits(dod as u64, n);
                return;
            }
        }
        self.write_bits(0b1111, 4);
        self.write_bits(dod as u64, 64);
    }

    fn write_value(&mut self, vbits: u64) {
        let xor = vbits ^ self.last_v;
        if xor == 0 {
            self.write_bit(false);
            return;
        }
        self.write_bit(true);
        // Leading zeros are capped at 31 so they fit the 5-bit field.
        let leading = (xor.leading_zeros() as u8).min(31);
        let trailing = xor.trailing_zeros() as u8;
        if self.leading != u8::MAX && leading >= self.leading && trailing >= self.trailing {
            self.write_bit(false);
            let sig = 64 - self.leading - self.trailing;
            self.write_bits(xor >> self.trailing, sig);
            return;
        }
        self.leading = leading;
        self.trailing = trailing;
        self.write_bit(true);
        self.write_bits(u64::from(leading), 5);
        let sig = 64 - leading - trailing;
        // 64 significant bits are stored as 0 in the 6-bit field.
        self.write_bits(u64::from(sig & 63), 6);
        self.write_bits(xor >> trailing, sig);
    }

    /// Decodes every sample, appending to `out` those in `[mint, maxt]`.
    pub fn decode_into(&self, mint: i64, maxt: i64, out: &mut Vec<Sample>) {
        let mut d = Decoder::new(&self.bytes);
        for _ in 0..self.num {
            // The writer produced this stream, so a short read means a bug; stop rather than
            // inventing samples.
            let Some(s) = d.next_sample() else { return };
            if s.t > maxt {
                return;
            }
            if s.t >= mint {
                out.push(s);
            }
        }
    }

    /// The encoded bit stream (what [`XorChunk::from_bytes`] takes back).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Oldest and newest timestamp in the chunk (meaningless for an empty chunk).
    pub fn time_range(&self) -> (i64, i64) {
        (self.min_t(), self.max_t)
    }

    /// Rebuilds a chunk from the bytes of [`XorChunk::bytes`] and its sample count, as
    /// persisted by a snapshot. Every sample is decoded, which both validates the stream (it
    /// must hold exactly `num` samples in strictly increasing time order and nothing after
    /// them) and restores the appender state, so appending to the rebuilt chunk writes the
    /// same bits the original would have.
    pub fn from_bytes(bytes: Vec<u8>, num: u16) -> Result<XorChunk, ChunkError> {
        if num == 0 || num > SAMPLES_PER_CHUNK {
            return Err(ChunkError::BadCount { num });
        }
        let mut d = Decoder::new(&bytes);
        let mut chunk = XorChunk {
            num,
            ..XorChunk::default()
        };
        let mut prev: Option<i64> = None;
        for i in 0..num {
            let s = d.next_sample().ok_or(ChunkError::Truncated { sample: i })?;
            if let Some(p) = prev
                && s.t <= p
            {
                return Err(ChunkError::NotIncreasing {
                    sample: i,
                    t: s.t,
                    prev: p,
                });
            }
            prev = Some(s.t);
        }
        // The writer pads only the last byte; more bytes than the bits need means garbage.
        if d.r.pos().div_ceil(8) != bytes.len() {
            return Err(ChunkError::TrailingBytes {
                used: d.r.pos().div_ceil(8),
                len: bytes.len(),
            });
        }
        chunk.max_t = d.t;
        chunk.last_v = d.v;
        chunk.last_delta = d.delta;
        chunk.leading = d.window.map_or(u8::MAX, |w| w.0);
        chunk.trailing = d.window.map_or(0, |w| w.1);
        chunk.used = (d.r.pos() % 8) as u8;
        chunk.bytes = bytes;
        Ok(chunk)
    }
}

/// Why chunk bytes could not be rebuilt into a chunk.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// The sample count is 0 or above the 120 a chunk holds.
    #[error("a chunk holds 1 to 120 samples, not {num}")]
    BadCount {
        /// The count given.
        num: u16,
    },
    /// The bit stream ends before sample `sample` (0-based).
    #[error("the chunk's bit stream ends inside sample {sample}")]
    Truncated {
        /// The sample being decoded.
        sample: u16,
    },
    /// A timestamp does not move forward.
    #[error("sample {sample} of the chunk has timestamp {t}, not after the previous {prev}")]
    NotIncreasing {
        /// The sample (0-based).
        sample: u16,
        /// Its timestamp.
        t: i64,
        /// The previous timestamp.
        prev: i64,
    },
    /// Bytes follow the last sample.
    #[error("the chunk's samples use {used} bytes but it has {len}")]
    TrailingBytes {
        /// Bytes the samples use.
        used: usize,
        /// Bytes given.
        len: usize,
    },
}

/// Sequential decoder of a chunk's bit stream; after each sample its fields hold exactly the
/// state the appender had after writing that sample.
struct Decoder<'a> {
    r: BitReader<'a>,
    /// Samples decoded so far.
    n: usize,
    t: i64,
    v: u64,
    delta: i64,
    /// Leading/trailing zeros of the current XOR window; `None` until the first `11` value.
    window: Option<(u8, u8)>,
}

impl<'a> Decoder<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            r: BitReader::new(bytes),
            n: 0,
            t: 0,
            v: 0,
            delta: 0,
            window: None,
        }
    }

    #[inline]
    fn next_sample(&mut self) -> Option<Sample> {
        if self.n == 0 {
            self.t = self.r.read_bits(64)? as i64;
            self.v = self.r.read_bits(64)?;
        } else {
            let dod = XorChunk::read_dod(&mut self.r)?;
            self.delta = self.delta.wrapping_add(dod);
            self.t = self.t.wrapping_add(self.delta);
            XorChunk::read_value(&mut self.r, &mut self.v, &mut self.window)?;
        }
        self.n += 1;
        Some(Sample {
            t: self.t,
            v: f64::from_bits(self.v),
        })
    }
}

impl XorChunk {
    fn read_dod(r: &mut BitReader<'_>) -> Option<i64> {
        if !r.read_bit()? {
            return Some(0);
        }
        for (_, _, n) in DOD_BUCKETS {
            if !r.read_bit()? {
                return Some(sign_extend(r.read_bits(n)?, n));
            }
        }
        Some(r.read_bits(64)? as i64)
    }

    fn read_value(r: &mut BitReader<'_>, v: &mut u64, window: &mut Option<(u8, u8)>) -> Option<()> {
        if !r.read_bit()? {
            return Some(());
        }
        if r.read_bit()? {
            let leading = r.read_bits(5)? as u8;
            let mut sig = r.read_bits(6)? as u8;
            if sig == 0 {
                sig = 64;
            }
            // Only a corrupted stream has leading + significant bits above 64.
            let trailing = 64u8.checked_sub(leading + sig)?;
            *window = Some((leading, trailing));
        }
        // A `10` value before any `11` one cannot come from the writer.
        let (leading, trailing) = (*window)?;
        let sig = 64 - leading - trailing;
        let bits = r.read_bits(sig)?;
        *v ^= bits.checked_shl(u32::from(trailing)).unwrap_or(0);
        Some(())
    }
}

/// The chunks of one series, oldest first; only the last one takes appends.
#[derive(Clone, Debug, Default)]
pub struct SeriesChunks {
    chunks: Vec<XorChunk>,
}

impl SeriesChunks {
    /// Appends a sample (the caller checked ordering).
    pub fn push(&mut self, s: Sample) {
        let need_new = self.chunks.last().is_none_or(|c| c.num >= SAMPLES_PER_CHUNK);
        if need_new {
            // A full chunk takes no more appends: give back the slack its byte vector grew
            // by doubling, and start the next one at about the size the last one needed, so
            // a long-lived series holds little more than its encoded bytes.
            let mut next = XorChunk::default();
            if let Some(full) = self.chunks.last_mut() {
                full.bytes.shrink_to_fit();
                next.bytes.reserve_exact(full.bytes.len() + full.bytes.len() / 8);
            }
            if self.chunks.len() == self.chunks.capacity() {
                // Series grow by one chunk every 30 minutes at 15 s: grow the list by one or
                // two rather than doubling it.
                self.chunks.reserve_exact(self.chunks.len() / 4 + 1);
            }
            self.chunks.push(next);
        }
        if let Some(c) = self.chunks.last_mut() {
            c.append(s);
        }
    }

    /// The newest sample (the open chunk's appender state holds it).
    pub fn last(&self) -> Option<Sample> {
        self.chunks.last().map(|c| Sample {
            t: c.max_t,
            v: f64::from_bits(c.last_v),
        })
    }

    /// Number of samples.
    pub fn num_samples(&self) -> usize {
        self.chunks.iter().map(XorChunk::len).sum()
    }

    /// Encoded bytes across chunks.
    pub fn byte_size(&self) -> usize {
        self.chunks.iter().map(XorChunk::byte_size).sum()
    }

    /// The chunks, oldest first (the last one is the open chunk taking appends).
    pub fn chunks(&self) -> &[XorChunk] {
        &self.chunks
    }

    /// Rebuilds a series' samples from its chunks (oldest first), as a snapshot stores them.
    /// Empty chunks are refused, and each chunk must start after the previous one ends, so the
    /// rebuilt series keeps the time order appends rely on.
    pub fn from_chunks(chunks: Vec<XorChunk>) -> Result<SeriesChunks, SeriesChunksError> {
        let mut prev_max: Option<i64> = None;
        for (i, c) in chunks.iter().enumerate() {
            if c.is_empty() {
                return Err(SeriesChunksError::EmptyChunk { chunk: i });
            }
            if let Some(p) = prev_max
                && c.min_t() <= p
            {
                return Err(SeriesChunksError::Overlap {
                    chunk: i,
                    min_t: c.min_t(),
                    prev_max: p,
                });
            }
            prev_max = Some(c.max_t);
        }
        Ok(SeriesChunks { chunks })
    }

    /// Drops the chunks whose samples are all older than `t` (whole chunks, as Prometheus's
    /// retention drops whole blocks) and returns how many samples went. Once every chunk is
    /// gone the series is empty and has no newest sample.
    pub fn drop_before(&mut self, t: i64) -> usize {
        let n = self.chunks.partition_point(|c| c.max_t < t);
        self.chunks.drain(..n).map(|c| c.len()).sum()
    }

    /// Appends to `out` the samples with timestamps in `[mint, maxt]`, in time order.
    pub fn samples_in(&self, mint: i64, maxt: i64, out: &mut Vec<Sample>) {
        // Chunks are time-ordered: skip those ending before the window.
        let start = self.chunks.partition_point(|c| c.max_t < mint);
        let end = start + self.chunks[start..].partition_point(|c| c.min_t() <= maxt);
        let chunks = &self.chunks[start..end];
        out.reserve(chunks.iter().map(|c| usize::from(c.num)).sum());
        for c in chunks {
            c.decode_into(mint, maxt, out);
        }
    }
}

/// Why a list of chunks is not a valid series.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SeriesChunksError {
    /// A chunk without samples.
    #[error("chunk {chunk} holds no samples")]
    EmptyChunk {
        /// Its position (0-based).
        chunk: usize,
    },
    /// A chunk starts at or before the end of the previous one.
    #[error("chunk {chunk} starts at {min_t} ms, not after the previous chunk's end at {prev_max} ms")]
    Overlap {
        /// Its position (0-based).
        chunk: usize,
        /// Its first timestamp.
        min_t: i64,
        /// The previous chunk's last timestamp.
        prev_max: i64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The bits of `bytes` one at a time, the simplest reading of the format.
    fn bit_at(bytes: &[u8], i: usize) -> bool {
        bytes[i / 8] & (0x80 >> (i % 8)) != 0
    }

    proptest! {
        /// Writing `n` bits at once lays down the same bits as writing them one by one, and
        /// the buffered reader gives each run back.
        #[test]
        fn wide_writes_and_reads_match_single_bits(runs in prop::collection::vec((any::<u64>(), 0u8..=64), 1..60)) {
            let mut wide = XorChunk::default();
            let mut single = XorChunk::default();
            for &(v, n) in &runs {
                wide.write_bits(v, n);
                for i in (0..n).rev() {
                    single.write_bit((v >> i) & 1 == 1);
                }
            }
            prop_assert_eq!(&wide.bytes, &single.bytes);
            prop_assert_eq!(wide.used, single.used);
            let mut r = BitReader::new(&wide.bytes);
            let mut bit = 0usize;
            for &(v, n) in &runs {
                let mask = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
                prop_assert_eq!(r.read_bits(n), Some(v & mask));
                bit += usize::from(n);
                prop_assert_eq!(r.pos(), bit);
            }
            // Past the end: only the padding of the last byte is left.
            let total = wide.bytes.len() * 8;
            for i in bit..total {
                prop_assert_eq!(r.read_bit(), Some(bit_at(&wide.bytes, i)));
            }
            prop_assert_eq!(r.read_bit(), None);
        }

        /// Any sample sequence comes back bit for bit, from the chunks and from their bytes.
        #[test]
        fn samples_round_trip(steps in prop::collection::vec((0i64..=5_000_000_000, any::<u64>()), 1..400)) {
            let mut c = SeriesChunks::default();
            let mut want = Vec::new();
            let mut t = -1_000_000i64;
            for &(dt, bits) in &steps {
                t += dt.max(1);
                let s = Sample { t, v: f64::from_bits(bits) };
                c.push(s);
                want.push(s);
            }
            let mut got = Vec::new();
            c.samples_in(i64::MIN, i64::MAX, &mut got);
            prop_assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(&want) {
                prop_assert_eq!((g.t, g.v.to_bits()), (w.t, w.v.to_bits()));
            }
            for chunk in &c.chunks {
                let back = XorChunk::from_bytes(chunk.bytes.clone(), chunk.num).unwrap();
                prop_assert_eq!(back.max_t, chunk.max_t);
                prop_assert_eq!(back.used, chunk.used);
            }
        }
    }
}
