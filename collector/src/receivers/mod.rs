//! Receivers: where data enters the collector.

pub mod otlp;

use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::component::{BuildContext, BuildError};
use crate::config::ReceiverConfig;
use crate::consumer::{Consumer, Signal};

/// The consumers a receiver feeds, one per signal; `None` when no pipeline of that
/// signal lists the receiver (its data is then rejected as unsupported).
#[derive(Clone, Default)]
pub struct ReceiverOutputs {
    /// Where spans go.
    pub traces: Option<Arc<dyn Consumer>>,
    /// Where metrics go.
    pub metrics: Option<Arc<dyn Consumer>>,
    /// Where logs go.
    pub logs: Option<Arc<dyn Consumer>>,
}

impl ReceiverOutputs {
    /// The consumer for `signal`.
    pub fn get(&self, signal: Signal) -> Option<&Arc<dyn Consumer>> {
        match signal {
            Signal::Traces => self.traces.as_ref(),
            Signal::Metrics => self.metrics.as_ref(),
            Signal::Logs => self.logs.as_ref(),
        }
    }
}

/// Builds and starts a receiver. Its servers run until `ctx.shutdown` is cancelled; the
/// returned tasks finish once they have stopped.
///
/// `extensions` are the configured extensions, where the authenticators named by the
/// receiver's `auth` sections are looked up.
pub async fn build(
    config: &ReceiverConfig,
    outputs: ReceiverOutputs,
    ctx: &BuildContext,
    extensions: &std::collections::BTreeMap<crate::config::ComponentId, crate::config::ExtensionConfig>,
) -> Result<Vec<JoinHandle<()>>, BuildError> {
    match config {
        ReceiverConfig::Otlp(c) => otlp::start(c, outputs, ctx, extensions).await,
    }
}
