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

/// An append-only bit stream.
#[derive(Clone, Debug, Default)]
struct BitWriter {
    bytes: Vec<u8>,
    /// Number of bits used in the last byte (0 means the last byte is full or there is none).
    used: u8,
}

impl BitWriter {
    fn write_bit(&mut self, bit: bool) {
        if self.used == 0 {
            self.bytes.push(0);
        }
        if bit && let Some(b) = self.bytes.last_mut() {
            *b |= 0x80 >> self.used;
        }
        self.used = (self.used + 1) % 8;
    }

    /// Writes the low `n` bits of `v`, most significant first.
    fn write_bits(&mut self, v: u64, n: u8) {
        for i in (0..n).rev() {
            self.write_bit((v >> i) & 1 == 1);
        }
    }
}

/// Reads a [`BitWriter`]'s stream.
struct BitReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl BitReader<'_> {
    fn read_bit(&mut self) -> Option<bool> {
        let byte = *self.bytes.get(self.pos / 8)?;
        let bit = byte & (0x80 >> (self.pos % 8)) != 0;
        self.pos += 1;
        Some(bit)
    }

    fn read_bits(&mut self, n: u8) -> Option<u64> {
        let mut v = 0u64;
        for _ in 0..n {
            v = (v << 1) | u64::from(self.read_bit()?);
        }
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
#[derive(Clone, Debug, Default)]
pub struct XorChunk {
    bits: BitWriter,
    num: u16,
    min_t: i64,
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
        self.bits.bytes.len()
    }

    /// Appends a sample; the caller guarantees `s.t` is after the previous sample.
    pub fn append(&mut self, s: Sample) {
        let vbits = s.v.to_bits();
        match self.num {
            0 => {
                self.bits.write_bits(s.t as u64, 64);
                self.bits.write_bits(vbits, 64);
                self.min_t = s.t;
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
            self.bits.write_bit(false);
            return;
        }
        for (prefix, plen, n) in DOD_BUCKETS {
            let lim = 1i64 << (n - 1);
            if dod >= -lim && dod < lim {
                self.bits.write_bits(prefix, plen);
                self.bits.write_bits(dod as u64, n);
                return;
            }
        }
        self.bits.write_bits(0b1111, 4);
        self.bits.write_bits(dod as u64, 64);
    }

    fn write_value(&mut self, vbits: u64) {
        let xor = vbits ^ self.last_v;
        if xor == 0 {
            self.bits.write_bit(false);
            return;
        }
        self.bits.write_bit(true);
        // Leading zeros are capped at 31 so they fit the 5-bit field.
        let leading = (xor.leading_zeros() as u8).min(31);
        let trailing = xor.trailing_zeros() as u8;
        if self.leading != u8::MAX && leading >= self.leading && trailing >= self.trailing {
            self.bits.write_bit(false);
            let sig = 64 - self.leading - self.trailing;
            self.bits.write_bits(xor >> self.trailing, sig);
            return;
        }
        self.leading = leading;
        self.trailing = trailing;
        self.bits.write_bit(true);
        self.bits.write_bits(u64::from(leading), 5);
        let sig = 64 - leading - trailing;
        // 64 significant bits are stored as 0 in the 6-bit field.
        self.bits.write_bits(u64::from(sig & 63), 6);
        self.bits.write_bits(xor >> trailing, sig);
    }

    /// Decodes every sample, appending to `out` those in `[mint, maxt]`.
    pub fn decode_into(&self, mint: i64, maxt: i64, out: &mut Vec<Sample>) {
        let mut r = BitReader {
            bytes: &self.bits.bytes,
            pos: 0,
        };
        let (mut t, mut v, mut delta) = (0i64, 0u64, 0i64);
        let (mut leading, mut trailing) = (0u8, 0u8);
        for i in 0..self.num {
            let ok = if i == 0 {
                r.read_bits(64).zip(r.read_bits(64)).map(|(tb, vb)| {
                    t = tb as i64;
                    v = vb;
                })
            } else {
                Self::read_dod(&mut r).and_then(|dod| {
                    delta = delta.wrapping_add(dod);
                    t = t.wrapping_add(delta);
                    Self::read_value(&mut r, &mut v, &mut leading, &mut trailing)
                })
            };
            if ok.is_none() {
                // The writer produced this stream, so a short read means a bug; stop rather than
                // inventing samples.
                return;
            }
            if t > maxt {
                return;
            }
            if t >= mint {
                out.push(Sample {
                    t,
                    v: f64::from_bits(v),
                });
            }
        }
    }

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

    fn read_value(r: &mut BitReader<'_>, v: &mut u64, leading: &mut u8, trailing: &mut u8) -> Option<()> {
        if !r.read_bit()? {
            return Some(());
        }
        if r.read_bit()? {
            *leading = r.read_bits(5)? as u8;
            let mut sig = r.read_bits(6)? as u8;
            if sig == 0 {
                sig = 64;
            }
            *trailing = 64 - *leading - sig;
        }
        let sig = 64 - *leading - *trailing;
        let bits = r.read_bits(sig)?;
        *v ^= bits << *trailing;
        Some(())
    }
}

/// The chunks of one series, oldest first; only the last one takes appends.
#[derive(Clone, Debug, Default)]
pub struct SeriesChunks {
    chunks: Vec<XorChunk>,
    last: Option<Sample>,
}

impl SeriesChunks {
    /// Appends a sample (the caller checked ordering).
    pub fn push(&mut self, s: Sample) {
        let need_new = self.chunks.last().is_none_or(|c| c.num >= SAMPLES_PER_CHUNK);
        if need_new {
            self.chunks.push(XorChunk::default());
        }
        if let Some(c) = self.chunks.last_mut() {
            c.append(s);
        }
        self.last = Some(s);
    }

    /// The newest sample.
    pub fn last(&self) -> Option<Sample> {
        self.last
    }

    /// Number of samples.
    pub fn num_samples(&self) -> usize {
        self.chunks.iter().map(XorChunk::len).sum()
    }

    /// Encoded bytes across chunks.
    pub fn byte_size(&self) -> usize {
        self.chunks.iter().map(XorChunk::byte_size).sum()
    }

    /// Appends to `out` the samples with timestamps in `[mint, maxt]`, in time order.
    pub fn samples_in(&self, mint: i64, maxt: i64, out: &mut Vec<Sample>) {
        // Chunks are time-ordered: skip those ending before the window.
        let start = self.chunks.partition_point(|c| c.max_t < mint);
        for c in &self.chunks[start..] {
            if c.min_t > maxt {
                break;
            }
            c.decode_into(mint, maxt, out);
        }
    }
}
