//! The decode budget both OTLP front-ends share: it bounds the memory that requests being
//! read and decoded can take at once.
//!
//! Eight concurrent 20 MiB OTLP/JSON bodies used to be read and decoded all at once: RSS
//! went far past the `memory_limiter`'s limit before the limiter (which sees data only after
//! decoding) could refuse any of it, and the allocator kept much of that memory afterwards,
//! so the limiter went on refusing. Each request larger than [`INLINE_DECODE_MAX`] now
//! takes a share of a budget of twice the size limit before its body is read: its declared
//! length (weighted for JSON), or the whole limit when the length is unknown or the body is
//! compressed (it may inflate to the limit). Requests beyond the budget wait their turn;
//! small requests never wait. The peak is then about one maximal JSON decode, or two
//! protobuf ones, at a time.
//!
//! OTLP/HTTP declares the length in `Content-Length`; OTLP/gRPC in the 5-byte prefix of
//! its message (compressed flag, length), which [`peek_grpc_prefix`] reads before tonic
//! reads the rest.

use std::sync::Arc;

use bytes::{Buf as _, Bytes, BytesMut};
use http_body_util::BodyExt as _;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Uncompressed bodies at most this large never wait for the budget (and, on OTLP/HTTP, are
/// decoded on the async worker).
pub(super) const INLINE_DECODE_MAX: usize = 64 * 1024;

/// The budget, in units of this many bytes (a semaphore counts `u32` permits).
const BUDGET_UNIT: u64 = 1024;

/// A semaphore over bytes being decoded, shared by the requests of one server.
#[derive(Debug, Clone)]
pub(super) struct DecodeBudget {
    permits: Arc<Semaphore>,
    total: u32,
}

impl DecodeBudget {
    /// A budget of twice `max_body` bytes.
    pub(super) fn new(max_body: u64) -> Self {
        let total = u32::try_from((max_body.saturating_mul(2) / BUDGET_UNIT).max(1)).unwrap_or(u32::MAX);
        DecodeBudget {
            permits: Arc::new(Semaphore::new(total as usize)),
            total,
        }
    }

    /// Waits for room to read and decode a body of `bytes` (already weighted); the room is
    /// given back when the permit is dropped. A request larger than the whole budget takes
    /// all of it.
    pub(super) async fn acquire(&self, bytes: u64) -> Option<OwnedSemaphorePermit> {
        let units = u32::try_from(bytes.div_ceil(BUDGET_UNIT))
            .unwrap_or(u32::MAX)
            .min(self.total);
        // The semaphore is never closed, so this only fails if it were.
        Arc::clone(&self.permits).acquire_many_owned(units).await.ok()
    }

    /// Units free now (for tests).
    #[cfg(test)]
    pub(super) fn available(&self) -> usize {
        self.permits.available_permits()
    }
}

/// What a gRPC request's first 5 bytes declare about its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct GrpcPrefix {
    /// The message is compressed (`grpc-encoding`), so it may inflate to the limit.
    pub(super) compressed: bool,
    /// The message's length on the wire.
    pub(super) len: u32,
}

impl GrpcPrefix {
    /// The bytes to take from the budget, or `None` for a small uncompressed message;
    /// `max_message` is the receiver's limit after decompression.
    pub(super) fn budget_bytes(self, max_message: u64) -> Option<u64> {
        if self.compressed {
            return Some(max_message);
        }
        let len = u64::from(self.len);
        (len > INLINE_DECODE_MAX as u64).then(|| len.min(max_message))
    }
}

/// Reads a gRPC request body's first frames until the 5-byte message prefix is in, and
/// returns it with a body that yields every byte again (the frames read, then the rest).
/// `None` for the prefix when the body ends (or fails) before 5 bytes: tonic then reads what
/// there is and answers as it does for any short message.
pub(super) async fn peek_grpc_prefix(body: tonic::body::Body) -> (Option<GrpcPrefix>, tonic::body::Body) {
    let mut body = body;
    let mut head = BytesMut::new();
    let mut failed = None;
    while head.len() < 5 {
        match body.frame().await {
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => head.extend_from_slice(&data),
                // A trailers frame this early: no message follows.
                Err(_) => break,
            },
            Some(Err(status)) => {
                failed = Some(status);
                break;
            }
            None => break,
        }
    }
    let prefix = (head.len() >= 5).then(|| {
        let mut p = &head[..5];
        GrpcPrefix {
            compressed: p.get_u8() != 0,
            len: p.get_u32(),
        }
    });
    let head: Bytes = head.freeze();
    let first = futures::stream::iter(
        std::iter::once(Ok::<_, tonic::Status>(hyper::body::Frame::data(head))).chain(failed.map(Err)),
    );
    let rest = http_body_util::BodyStream::new(body);
    let stream = futures::StreamExt::chain(first, rest);
    (
        prefix,
        tonic::body::Body::new(http_body_util::StreamBody::new(stream)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_uncompressed_messages_take_nothing() {
        let max = 4 << 20;
        let p = |compressed, len| GrpcPrefix { compressed, len };
        assert_eq!(p(false, 100).budget_bytes(max), None);
        assert_eq!(p(false, 1 << 20).budget_bytes(max), Some(1 << 20));
        assert_eq!(p(false, u32::MAX).budget_bytes(max), Some(max));
        assert_eq!(p(true, 100).budget_bytes(max), Some(max));
    }

    #[tokio::test]
    async fn the_prefix_is_read_and_every_byte_is_given_back() {
        let mut message = vec![0u8, 0, 0, 0, 3];
        message.extend_from_slice(b"abc");
        // Split across frames, the prefix itself in two.
        let frames = vec![
            Bytes::copy_from_slice(&message[..2]),
            Bytes::copy_from_slice(&message[2..]),
        ];
        let stream = futures::stream::iter(
            frames
                .into_iter()
                .map(|b| Ok::<_, tonic::Status>(hyper::body::Frame::data(b))),
        );
        let body = tonic::body::Body::new(http_body_util::StreamBody::new(stream));
        let (prefix, body) = peek_grpc_prefix(body).await;
        assert_eq!(
            prefix,
            Some(GrpcPrefix {
                compressed: false,
                len: 3
            })
        );
        let all = body.collect().await.unwrap().to_bytes();
        assert_eq!(&all[..], &message[..]);
    }
}
