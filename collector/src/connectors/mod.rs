//! Connectors: components that are the exporter of one pipeline and the receiver of another.
//!
//! A connector joins pipelines, as otelcol's do: listed under `exporters` in one
//! pipeline and under `receivers` in another (`traces -> spanmetrics -> metrics`). Each
//! type says which signal pairs it connects ([`ConnectorConfig::supports`]); the service
//! builds one instance per used (from, to) pair, fanning out to every pipeline of the
//! `to` signal that lists it as a receiver.
//!
//! [`ConnectorConfig`] is the list of connector types: adding a connector is its folder
//! here and one line in that list (and an arm in [`ConnectorConfig::supports`] and in
//! [`build`], which the compiler asks for).

pub mod forward;
pub mod spanmetrics;

use std::sync::Arc;

use crate::component::{BuildContext, BuildError};
use crate::config::component_list;
use crate::consumer::{Consumer, Signal};

component_list! {
    /// A configured connector: one variant per connector type, keyed by its YAML name.
    pub enum ConnectorConfig {
        "forward" => Forward(forward::ForwardConfig),
        "spanmetrics" => SpanMetrics(spanmetrics::SpanMetricsConfig),
    }
}

impl ConnectorConfig {
    /// Whether this connector takes `from` data (as the exporter of a `from` pipeline)
    /// and emits `to` data (as the receiver of a `to` pipeline); otelcol's factories call
    /// this a defined stability for the pair.
    pub fn supports(&self, from: Signal, to: Signal) -> bool {
        match self {
            ConnectorConfig::Forward(_) => forward::supports(from, to),
            // Traces in, metrics out, as otelcol-contrib's spanmetrics.
            ConnectorConfig::SpanMetrics(_) => from == Signal::Traces && to == Signal::Metrics,
        }
    }
}

/// Builds the connector instance taking `from` data and sending `to` data to `next`
/// (the fan-out to every `to` pipeline that lists it as a receiver). The returned
/// consumer is what the `from` pipelines export to; its `shutdown` flushes whatever the
/// connector holds into `next`. Called only for pairs [`ConnectorConfig::supports`].
pub fn build(
    config: &ConnectorConfig,
    from: Signal,
    to: Signal,
    next: Arc<dyn Consumer>,
    ctx: &BuildContext,
) -> Result<Arc<dyn Consumer>, BuildError> {
    debug_assert!(config.supports(from, to), "validated by the configuration");
    match config {
        ConnectorConfig::Forward(c) => forward::build(c, next, ctx),
        ConnectorConfig::SpanMetrics(c) => spanmetrics::build(c, next, ctx),
    }
}
