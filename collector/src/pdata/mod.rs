//! Pipeline data for traces and logs: an OTLP export request carried either decoded or as
//! its validated protobuf encoding.
//!
//! A traces or logs pipeline whose processors are `memory_limiter` and `batch` and whose
//! exporters are `otlp` or `otlphttp` never needs the decoded structure: it counts items,
//! concatenates requests and sends them on. Decoding every span into owned strings,
//! attribute vectors and `AnyValue`s, then encoding it again, was most of the collector's
//! CPU time (glibc malloc/free alone took about 45% in a profile of `benches/loadgen.rs`).
//! So the receivers hand on the bytes ([`Payload::from_wire`]), after a walk that checks
//! them as prost would and counts their items ([`wire::walk`]); a component that needs the
//! structure (the debug exporter at `normal` verbosity, OTLP/JSON encoding) decodes it
//! ([`Payload::decoded`]).
//!
//! ```
//! use burnwatch_collector::pdata::TracesPayload;
//! use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
//! use prost::Message as _;
//!
//! let request = ExportTraceServiceRequest::default();
//! let raw = TracesPayload::from_wire(request.encode_to_vec().into()).unwrap();
//! assert_eq!(raw.item_count(), 0);
//! assert_eq!(raw.decoded().unwrap().into_owned(), request);
//! ```

pub mod ids;
pub mod wire;

#[cfg(test)]
pub(crate) mod arb;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::fmt;

pub use self::wire::{Counts, WireError};
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

/// An export request type that can travel as raw bytes: traces or logs.
pub trait OtlpRequest:
    prost::Message + Default + Clone + PartialEq + fmt::Debug + Send + Sync + 'static
{
    /// The request's tree, for the wire walker.
    const SHAPE: &'static wire::Shape;

    /// What the request holds: resources and items.
    fn counts(&self) -> Counts;
}

impl OtlpRequest for ExportTraceServiceRequest {
    const SHAPE: &'static wire::Shape = &wire::TRACES;

    fn counts(&self) -> Counts {
        Counts {
            resources: self.resource_spans.len(),
            items: self
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .map(|ss| ss.spans.len())
                .sum(),
        }
    }
}

impl OtlpRequest for ExportLogsServiceRequest {
    const SHAPE: &'static wire::Shape = &wire::LOGS;

    fn counts(&self) -> Counts {
        Counts {
            resources: self.resource_logs.len(),
            items: self
                .resource_logs
                .iter()
                .flat_map(|rl| &rl.scope_logs)
                .map(|sl| sl.log_records.len())
                .sum(),
        }
    }
}

/// The spans of a traces pipeline.
pub type TracesPayload = Payload<ExportTraceServiceRequest>;
/// The log records of a logs pipeline.
pub type LogsPayload = Payload<ExportLogsServiceRequest>;

/// Raw bytes that decoded as a validated request no longer do. The wire walker accepts
/// only what prost decodes, so this means a bug in the walker, reported instead of a
/// panic.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("a validated request of {len} bytes does not decode: {reason}")]
pub struct PayloadError {
    len: usize,
    reason: String,
}

/// One export request of traces or logs: decoded, or its protobuf encoding, already
/// validated, with its counts. Cloning is cheap for the raw form (reference counts).
///
/// The raw form is a list of encoded requests whose concatenation is the request
/// ([`concat`]): a batch of raw requests is sent by writing each part where the transport
/// buffers the message, so it is copied once there instead of first into a merged buffer.
#[derive(Clone)]
pub struct Payload<R> {
    repr: Repr<R>,
}

#[derive(Clone)]
enum Repr<R> {
    Decoded(R),
    Raw { parts: Vec<Bytes>, counts: Counts },
}

impl<R: OtlpRequest> Payload<R> {
    /// A decoded request.
    pub fn decoded_request(request: R) -> Self {
        Payload {
            repr: Repr::Decoded(request),
        }
    }

    /// Takes the protobuf encoding of a request after checking it as a decoder would
    /// ([`wire::walk`]); the error names the byte offset, the item and the field.
    pub fn from_wire(bytes: Bytes) -> Result<Self, WireError> {
        let counts = wire::walk(R::SHAPE, &bytes)?;
        Ok(Payload::from_validated(bytes, counts))
    }

    /// Bytes the caller has validated with [`wire::walk`] (or built from validated
    /// pieces), with their counts.
    pub(crate) fn from_validated(bytes: Bytes, counts: Counts) -> Self {
        Payload {
            repr: Repr::Raw {
                parts: vec![bytes],
                counts,
            },
        }
    }

    /// Spans or log records; O(1) for the raw form.
    pub fn item_count(&self) -> usize {
        self.counts().items
    }

    /// Resources and items; O(1) for the raw form.
    pub fn counts(&self) -> Counts {
        match &self.repr {
            Repr::Decoded(request) => request.counts(),
            Repr::Raw { counts, .. } => *counts,
        }
    }

    /// Whether this payload is carried raw.
    pub fn is_raw(&self) -> bool {
        matches!(self.repr, Repr::Raw { .. })
    }

    /// The protobuf encoding, when this payload is carried raw: its parts, whose
    /// concatenation is the encoded request.
    pub fn raw_parts(&self) -> Option<&[Bytes]> {
        match &self.repr {
            Repr::Decoded(_) => None,
            Repr::Raw { parts, .. } => Some(parts),
        }
    }

    /// The protobuf encoding as one buffer, when this payload is carried raw (a copy only
    /// when it has several parts).
    pub fn raw(&self) -> Option<Bytes> {
        self.raw_parts().map(join)
    }

    /// The decoded request: borrowed when decoded already, decoded now when raw.
    pub fn decoded(&self) -> Result<Cow<'_, R>, PayloadError> {
        match &self.repr {
            Repr::Decoded(request) => Ok(Cow::Borrowed(request)),
            Repr::Raw { parts, .. } => decode(join(parts)).map(Cow::Owned),
        }
    }

    /// The decoded request, by value.
    pub fn into_decoded(self) -> Result<R, PayloadError> {
        match self.repr {
            Repr::Decoded(request) => Ok(request),
            Repr::Raw { parts, .. } => decode(join(&parts)),
        }
    }

    /// The protobuf encoding: the bytes themselves for a raw payload of one part (no
    /// copy), joined for several, a fresh encoding for the decoded form.
    pub fn encode(&self) -> Bytes {
        match &self.repr {
            Repr::Decoded(request) => Bytes::from(request.encode_to_vec()),
            Repr::Raw { parts, .. } => join(parts),
        }
    }

    /// The protobuf encoding as parts to write one after the other: no copy for the raw
    /// form.
    pub fn encode_parts(&self) -> Vec<Bytes> {
        match &self.repr {
            Repr::Decoded(request) => vec![Bytes::from(request.encode_to_vec())],
            Repr::Raw { parts, .. } => parts.clone(),
        }
    }

    /// The size of [`Payload::encode`]'s result, without encoding.
    pub fn encoded_len(&self) -> usize {
        match &self.repr {
            Repr::Decoded(request) => request.encoded_len(),
            Repr::Raw { parts, .. } => parts.iter().map(Bytes::len).sum(),
        }
    }
}

/// The concatenation of `parts`; no copy for one part.
fn join(parts: &[Bytes]) -> Bytes {
    match parts {
        [] => Bytes::new(),
        [only] => only.clone(),
        _ => {
            let mut out = Vec::with_capacity(parts.iter().map(Bytes::len).sum());
            for part in parts {
                out.extend_from_slice(part);
            }
            Bytes::from(out)
        }
    }
}

fn decode<R: OtlpRequest>(bytes: Bytes) -> Result<R, PayloadError> {
    let len = bytes.len();
    R::decode(bytes).map_err(|err| PayloadError {
        len,
        reason: err.to_string(),
    })
}

impl<R: OtlpRequest> From<R> for Payload<R> {
    fn from(request: R) -> Self {
        Payload::decoded_request(request)
    }
}

impl<R: OtlpRequest> Default for Payload<R> {
    fn default() -> Self {
        Payload::decoded_request(R::default())
    }
}

/// Equal when the requests are: raw payloads compare by decoding (two encodings of one
/// request may differ in field order).
impl<R: OtlpRequest> PartialEq for Payload<R> {
    fn eq(&self, other: &Self) -> bool {
        if let (Some(a), Some(b)) = (self.raw_parts(), other.raw_parts())
            && a == b
        {
            return true;
        }
        match (self.decoded(), other.decoded()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
    }
}

impl<R: OtlpRequest> fmt::Debug for Payload<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Decoded(request) => request.fmt(f),
            Repr::Raw { parts, counts } => f
                .debug_struct("Raw")
                .field("bytes", &self.encoded_len())
                .field("parts", &parts.len())
                .field("resources", &counts.resources)
                .field("items", &counts.items)
                .finish(),
        }
    }
}

/// Concatenates raw requests into one. Protobuf merges a message parsed from two
/// concatenated encodings as if parsed separately and merged, and merging appends
/// repeated fields (protobuf encoding guide, "Last One Wins": "concatenating two
/// serialized messages and parsing the result gives the same result as parsing each and
/// merging"); a request's only field is `repeated resource_spans = 1`, so the result is
/// the request holding every resource of every part, in order. Decoded payloads among
/// them are encoded.
///
/// Nothing is copied: the result lists the parts, and the otlp exporter writes them to
/// the connection one after the other. A received gRPC request owns an allocation of
/// about its own size (tonic reserves the message's length before reading it), so
/// keeping the parts holds no more memory than a merged copy would.
pub(crate) fn concat<R: OtlpRequest>(payloads: &[Payload<R>]) -> Payload<R> {
    if let [only] = payloads {
        return only.clone();
    }
    let mut all = Vec::with_capacity(payloads.len());
    let mut counts = Counts::default();
    for payload in payloads {
        match &payload.repr {
            Repr::Raw { parts, counts: c } => {
                all.extend(parts.iter().filter(|part| !part.is_empty()).cloned());
                counts = counts + *c;
            }
            Repr::Decoded(request) => {
                all.push(Bytes::from(request.encode_to_vec()));
                counts = counts + request.counts();
            }
        }
    }
    Payload {
        repr: Repr::Raw { parts: all, counts },
    }
}
