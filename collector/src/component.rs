//! What every component is given when it is built, and how building can fail.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use crate::config::ComponentId;
use crate::telemetry::SelfTelemetry;

/// Shared context handed to a component's build function.
#[derive(Debug, Clone)]
pub struct BuildContext {
    /// The component's id (`otlp/jaeger`).
    pub id: ComponentId,
    /// The self-telemetry registry for `otelcol_*` metrics.
    pub telemetry: Arc<SelfTelemetry>,
    /// Cancelled when the component must stop serving (receivers first, then servers
    /// owned by exporters and extensions).
    pub shutdown: CancellationToken,
    /// Where components record the addresses they actually bound, so tests using port 0
    /// can find them.
    pub bound: BoundAddrs,
}

/// A registry of the socket addresses components listen on, keyed by a label such as
/// `receivers.otlp.grpc` or `exporters.prometheus`.
#[derive(Debug, Clone, Default)]
pub struct BoundAddrs(Arc<Mutex<Vec<(String, SocketAddr)>>>);

impl BoundAddrs {
    /// Records that `label` listens on `addr`.
    pub fn record(&self, label: impl Into<String>, addr: SocketAddr) {
        self.0
            .lock()
            .expect("bound lock poisoned")
            .push((label.into(), addr));
    }

    /// The address recorded for `label`.
    pub fn get(&self, label: &str) -> Option<SocketAddr> {
        self.0
            .lock()
            .expect("bound lock poisoned")
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, a)| *a)
    }

    /// Every recorded label and address.
    pub fn all(&self) -> Vec<(String, SocketAddr)> {
        self.0.lock().expect("bound lock poisoned").clone()
    }
}

/// Why a component could not be built or started.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A listener could not be bound.
    #[error("{id}: cannot listen on {endpoint}: {source}")]
    Bind {
        /// The component.
        id: ComponentId,
        /// The configured endpoint.
        endpoint: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The configuration cannot be put into effect.
    #[error("{id}: {message}")]
    Invalid {
        /// The component.
        id: ComponentId,
        /// What is wrong.
        message: String,
    },
}

/// Resolves `host:port` and binds a TCP listener, naming the component on failure.
pub async fn bind(
    ctx: &BuildContext,
    endpoint: &str,
    label: &str,
) -> Result<tokio::net::TcpListener, BuildError> {
    // An empty host (":4317") means every interface, as in Go.
    let endpoint_owned = if endpoint.starts_with(':') {
        format!("0.0.0.0{endpoint}")
    } else {
        endpoint.to_string()
    };
    let listener = tokio::net::TcpListener::bind(&endpoint_owned)
        .await
        .map_err(|source| BuildError::Bind {
            id: ctx.id.clone(),
            endpoint: endpoint.to_string(),
            source,
        })?;
    if let Ok(addr) = listener.local_addr() {
        ctx.bound.record(label, addr);
        tracing::info!(component = %ctx.id, endpoint = %addr, "{label} listening.");
    }
    Ok(listener)
}
