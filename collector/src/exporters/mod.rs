//! Exporters: where data leaves the collector.

pub mod debug;
pub mod helper;
pub mod otlp;
pub mod prometheus;
pub mod prometheusremotewrite;
pub mod queue;

use std::sync::Arc;

use crate::component::{BuildContext, BuildError};
use crate::config::ExporterConfig;
use crate::consumer::Consumer;

/// Builds and starts an exporter. One instance serves every pipeline that lists it.
pub async fn build(config: &ExporterConfig, ctx: &BuildContext) -> Result<Arc<dyn Consumer>, BuildError> {
    match config {
        ExporterConfig::Prometheus(c) => prometheus::build(c, ctx).await,
        ExporterConfig::PrometheusRemoteWrite(c) => prometheusremotewrite::build(c, ctx),
        ExporterConfig::Otlp(c) => otlp::build_grpc(c, ctx),
        ExporterConfig::OtlpHttp(c) => otlp::build_http(c, ctx),
        ExporterConfig::Debug(c) => Ok(debug::build(c, ctx)),
    }
}
