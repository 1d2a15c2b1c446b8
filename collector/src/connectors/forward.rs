//! `forward`: otelcol's forward connector. It passes data unchanged from the pipeline
//! that lists it as an exporter to every pipeline of the same signal that lists it as a
//! receiver, to join pipelines (several into one) or to split one into several that
//! process it differently.

use std::sync::Arc;

use serde::Deserialize;

use crate::component::{BuildContext, BuildError};
use crate::config::ConfigError;
use crate::consumer::{Consumer, Signal};

/// `connectors.forward`: no settings, as in otelcol.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardConfig {}

impl ForwardConfig {
    /// Nothing to check: the connector has no settings.
    pub fn validate(&self, _path: &str) -> Result<(), ConfigError> {
        Ok(())
    }
}

/// Whether `forward` connects `from` to `to`: traces to traces, metrics to metrics and
/// logs to logs, as otelcol's forward connector.
pub fn supports(from: Signal, to: Signal) -> bool {
    from == to
}

/// Builds the connector: the downstream pipelines' fan-out itself, since forwarding adds
/// nothing per item (the service counts what passes through, as for any connector).
pub fn build(
    _config: &ForwardConfig,
    next: Arc<dyn Consumer>,
    _ctx: &BuildContext,
) -> Result<Arc<dyn Consumer>, BuildError> {
    Ok(next)
}
