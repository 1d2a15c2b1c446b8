//! Receivers: where data enters the collector.
//!
//! [`ReceiverConfig`] is the list of receiver types: adding a receiver is its folder here
//! and one line in that list (and an arm in [`build`], which the compiler asks for).

pub mod otlp;

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::component::{BuildContext, BuildError};
use crate::config::{ComponentId, ConfigError, component_list};
use crate::consumer::{Consumer, Signal};
use crate::extensions::ExtensionConfig;

component_list! {
    /// A configured receiver: one variant per receiver type, keyed by its YAML name.
    pub enum ReceiverConfig {
        "otlp" => Otlp(otlp::config::OtlpReceiverConfig),
    }
}

impl ReceiverConfig {
    /// The server authenticators this receiver names, with the YAML path (below
    /// `receivers.ID`) of each `authenticator` key.
    pub fn authenticators(&self) -> Vec<(String, &str)> {
        match self {
            ReceiverConfig::Otlp(otlp) => [
                ("grpc", otlp.protocols.grpc.as_ref().and_then(|g| g.auth.as_ref())),
                ("http", otlp.protocols.http.as_ref().and_then(|h| h.auth.as_ref())),
            ]
            .into_iter()
            .filter_map(|(protocol, auth)| {
                auth.map(|a| {
                    (
                        format!("protocols.{protocol}.auth.authenticator"),
                        a.authenticator.as_str(),
                    )
                })
            })
            .collect(),
        }
    }

    /// Opens and parses the files the receiver names (TLS certificates, keys, client
    /// CAs), as starting it would; `path` is `receivers.ID`.
    pub fn check_files(&self, path: &str) -> Result<(), ConfigError> {
        match self {
            ReceiverConfig::Otlp(c) => {
                let protocols = [
                    ("grpc", c.protocols.grpc.as_ref().and_then(|g| g.tls.as_ref())),
                    ("http", c.protocols.http.as_ref().and_then(|h| h.tls.as_ref())),
                ];
                for (protocol, tls) in protocols {
                    if let Some(tls) = tls {
                        let path = format!("{path}.protocols.{protocol}.tls");
                        otlp::tls::server_config(tls, &path, &[])?;
                    }
                }
                Ok(())
            }
        }
    }
}

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
    extensions: &BTreeMap<ComponentId, ExtensionConfig>,
) -> Result<Vec<JoinHandle<()>>, BuildError> {
    match config {
        ReceiverConfig::Otlp(c) => otlp::start(c, outputs, ctx, extensions).await,
    }
}
