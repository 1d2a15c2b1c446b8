//! Exporters: where data leaves the collector.
//!
//! [`ExporterConfig`] is the list of exporter types: adding an exporter is its folder here
//! and one line in that list (and an arm in [`build`], which the compiler asks for).

pub mod debug;
pub mod helper;
pub mod otlp;
pub mod prometheus;
pub mod prometheusremotewrite;
pub mod queue;

use std::sync::Arc;

use crate::component::{BuildContext, BuildError};
use crate::config::{ConfigError, component_list};
use crate::consumer::{Consumer, Signal};

component_list! {
    /// A configured exporter: one variant per exporter type, keyed by its YAML name.
    pub enum ExporterConfig {
        "prometheus" => Prometheus(prometheus::config::PrometheusExporterConfig),
        "prometheusremotewrite" => PrometheusRemoteWrite(prometheusremotewrite::config::PrometheusRemoteWriteConfig),
        "otlp" => Otlp(otlp::config::OtlpExporterConfig),
        "otlphttp" => OtlpHttp(otlp::config::OtlpHttpExporterConfig),
        "debug" => Debug(debug::DebugExporterConfig),
    }
}

impl ExporterConfig {
    /// Whether this exporter can take the given signal.
    pub fn supports(&self, signal: Signal) -> bool {
        match self {
            ExporterConfig::Prometheus(_) | ExporterConfig::PrometheusRemoteWrite(_) => {
                signal == Signal::Metrics
            }
            _ => true,
        }
    }

    /// Opens and parses the files the exporter names (TLS CA, certificate, key) when it
    /// will use them, as starting it would; `path` is `exporters.ID`.
    pub fn check_files(&self, path: &str) -> Result<(), ConfigError> {
        match self {
            ExporterConfig::Otlp(c) => {
                c.tls_client(path)?;
            }
            ExporterConfig::OtlpHttp(c) => {
                c.tls_client(path)?;
            }
            ExporterConfig::PrometheusRemoteWrite(c) => {
                // The remote-write client reads its TLS files only for https:// URLs,
                // but a CA or certificate that is named must exist either way.
                if c.tls.has_material() {
                    c.tls.build(&format!("{path}.tls"), &[])?;
                }
            }
            ExporterConfig::Prometheus(_) | ExporterConfig::Debug(_) => {}
        }
        Ok(())
    }
}

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
