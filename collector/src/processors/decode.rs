//! Decoding a raw traces or logs payload for a processor that changes it.
//!
//! A payload that no longer decodes was validated by the receiver's wire walker, so this
//! is a bug report rather than bad input: it is refused as permanent (the client would
//! send the same bytes again), never a panic.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

use crate::consumer::{ConsumeError, LogsPayload, TracesPayload};

/// The decoded spans of `payload` (no work when already decoded).
pub fn traces(payload: TracesPayload) -> Result<ExportTraceServiceRequest, ConsumeError> {
    payload
        .into_decoded()
        .map_err(|err| ConsumeError::Permanent(err.to_string()))
}

/// The decoded log records of `payload` (no work when already decoded).
pub fn logs(payload: LogsPayload) -> Result<ExportLogsServiceRequest, ConsumeError> {
    payload
        .into_decoded()
        .map_err(|err| ConsumeError::Permanent(err.to_string()))
}
