//! OTLP/HTTP request bodies: media type, content coding, size-capped decompression and
//! decoding (binary protobuf, or OTLP/JSON via [`super::json`]).
//!
//! Decompression never holds more than the configured limit plus one byte: a body that
//! inflates further (a "gzip bomb") is cut off and answered with 413, whatever its
//! declared or real decompressed size.

use std::io::Read;

use bytes::Bytes;
use prost::Message;

use super::json::JsonRequest;
use crate::pdata::ids::CheckIds;
use crate::pdata::{OtlpRequest, Payload};
use crate::status::{BodyFormat, ReceiveError, SizeStage};

/// A `Content-Encoding` the receiver can undo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentCoding {
    /// No compression (`identity`, `none`, or no header).
    Identity,
    /// `gzip` (also `x-gzip`), possibly several concatenated members, as Go's reader.
    Gzip,
    /// `zstd`.
    Zstd,
    /// `deflate` (the zlib format, RFC 9110 §8.4.1.2) or `zlib`, as the OTel Collector's
    /// `confighttp`.
    Deflate,
}

impl ContentCoding {
    /// Parses a `Content-Encoding` header value (case-insensitive); `None` when unknown.
    pub fn parse(value: &str) -> Option<ContentCoding> {
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "identity" | "none" => Some(ContentCoding::Identity),
            "gzip" | "x-gzip" => Some(ContentCoding::Gzip),
            "zstd" => Some(ContentCoding::Zstd),
            "deflate" | "zlib" => Some(ContentCoding::Deflate),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            ContentCoding::Identity => "identity",
            ContentCoding::Gzip => "gzip",
            ContentCoding::Zstd => "zstd",
            ContentCoding::Deflate => "deflate",
        }
    }
}

/// The body format named by a `Content-Type` header: its media type, compared without
/// parameters (`; charset=utf-8`) and case-insensitively.
pub fn parse_content_type(value: &str) -> Result<BodyFormat, ReceiveError> {
    let media_type = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match media_type.as_str() {
        "application/x-protobuf" => Ok(BodyFormat::Protobuf),
        "application/json" => Ok(BodyFormat::Json),
        _ => Err(ReceiveError::UnsupportedMediaType {
            content_type: value.to_string(),
        }),
    }
}

/// Why [`read_capped`] stopped.
#[derive(Debug)]
pub enum CappedReadError {
    /// More than the limit was available; reading stopped at limit + 1 bytes.
    TooLarge,
    /// The source failed (a corrupt compressed stream).
    Io(std::io::Error),
}

/// Reads `source` to its end, holding at most `limit + 1` bytes: the buffer grows by
/// doubling but never past that, so a source that would produce gigabytes costs
/// `limit + 1` bytes of memory and the time to produce them.
pub fn read_capped<R: Read>(mut source: R, limit: u64) -> Result<Vec<u8>, CappedReadError> {
    // usize::MAX on 64-bit targets is far above any configurable limit; saturate anyway.
    let cap = usize::try_from(limit).unwrap_or(usize::MAX).saturating_add(1);
    let mut out: Vec<u8> = Vec::with_capacity(cap.min(64 * 1024));
    let mut chunk = [0u8; 32 * 1024];
    loop {
        let room = cap - out.len();
        if room == 0 {
            return Err(CappedReadError::TooLarge);
        }
        let want = room.min(chunk.len());
        let n = match source.read(&mut chunk[..want]) {
            Ok(0) => return Ok(out),
            Ok(n) => n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(CappedReadError::Io(err)),
        };
        if out.capacity() - out.len() < n {
            let target = (out.capacity() * 2).max(out.len() + n).min(cap);
            out.reserve_exact(target - out.len());
        }
        out.extend_from_slice(&chunk[..n]);
        if out.len() as u64 > limit {
            return Err(CappedReadError::TooLarge);
        }
    }
}

/// The zstd window the decoder may allocate: enough for any frame whose content fits the
/// limit, and at most zstd's default 128 MiB (log 27). Without this a 20-byte frame
/// header declaring a huge window would make the decoder allocate it.
fn zstd_window_log_max(limit: u64) -> u32 {
    let log = 64 - limit.max(1).saturating_sub(1).leading_zeros();
    log.clamp(10, 27)
}

/// Undoes `coding` on `body`, failing with 413 if the result exceeds `limit` bytes.
pub fn decompress(coding: ContentCoding, body: Bytes, limit: u64) -> Result<Bytes, ReceiveError> {
    let result = match coding {
        // The wire size was checked against the same limit.
        ContentCoding::Identity => return Ok(body),
        ContentCoding::Gzip => read_capped(flate2::read::MultiGzDecoder::new(&body[..]), limit),
        ContentCoding::Deflate => read_capped(flate2::read::ZlibDecoder::new(&body[..]), limit),
        ContentCoding::Zstd => {
            let mut decoder = zstd::stream::read::Decoder::with_buffer(&body[..])
                .map_err(|err| bad_encoding(coding, &err))?;
            decoder
                .window_log_max(zstd_window_log_max(limit))
                .map_err(|err| bad_encoding(coding, &err))?;
            read_capped(decoder, limit)
        }
    };
    result.map(Bytes::from).map_err(|err| match err {
        CappedReadError::TooLarge => ReceiveError::TooLarge {
            limit,
            stage: SizeStage::Decompressed,
        },
        CappedReadError::Io(err) => bad_encoding(coding, &err),
    })
}

fn bad_encoding(coding: ContentCoding, err: &std::io::Error) -> ReceiveError {
    ReceiveError::BadEncoding {
        encoding: coding.name(),
        reason: err.to_string(),
    }
}

/// Validates a protobuf traces or logs request with the wire walker and keeps its bytes
/// (see [`crate::pdata`]). The error names the item, field and byte offset.
pub fn walk<R: OtlpRequest>(body: Bytes) -> Result<Payload<R>, ReceiveError> {
    Payload::from_wire(body).map_err(|err| ReceiveError::Decode {
        format: BodyFormat::Protobuf,
        field: Some(err.field_path()),
        reason: err.to_string(),
    })
}

/// Decodes an export request in `format`.
pub fn decode<T>(format: BodyFormat, body: &[u8]) -> Result<T, ReceiveError>
where
    T: Message + Default + JsonRequest + CheckIds,
{
    let request: T = match format {
        BodyFormat::Protobuf => T::decode(body).map_err(|err| ReceiveError::Decode {
            format,
            reason: err.to_string(),
            field: None,
        })?,
        BodyFormat::Json => super::json::decode_json(body)?,
    };
    check_ids(&request, format)?;
    Ok(request)
}

/// Refuses a decoded request holding a trace or span id of the wrong length
/// ([`crate::pdata::ids`]).
pub fn check_ids<T: CheckIds>(request: &T, format: BodyFormat) -> Result<(), ReceiveError> {
    request.check_ids().map_err(|err| ReceiveError::Decode {
        format,
        reason: format!("{}: {err}", err.path),
        field: Some(err.path),
    })
}
