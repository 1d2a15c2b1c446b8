//! Decoding a raw traces or logs payload for a processor that changes it.
//!
//! A payload that no longer decodes was validated by the receiver's wire walker, so this
//! is a bug report rather than bad input: it is refused as permanent (the client would
//! send the same bytes again), never a panic.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::resource::v1::Resource;

use crate::consumer::{ConsumeError, LogsPayload, Telemetry, TracesPayload};

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

/// Calls `change` on every resource of `data` (decoding spans and log records first) and
/// returns the changed payload: the walk the processors that act on resources share.
pub fn each_resource(
    data: Telemetry,
    mut change: impl FnMut(&mut Option<Resource>),
) -> Result<Telemetry, ConsumeError> {
    Ok(match data {
        Telemetry::Traces(payload) => {
            let mut request = traces(payload)?;
            request
                .resource_spans
                .iter_mut()
                .for_each(|rs| change(&mut rs.resource));
            Telemetry::traces(request)
        }
        Telemetry::Metrics(mut request) => {
            request
                .resource_metrics
                .iter_mut()
                .for_each(|rm| change(&mut rm.resource));
            Telemetry::Metrics(request)
        }
        Telemetry::Logs(payload) => {
            let mut request = logs(payload)?;
            request
                .resource_logs
                .iter_mut()
                .for_each(|rl| change(&mut rl.resource));
            Telemetry::logs(request)
        }
    })
}
