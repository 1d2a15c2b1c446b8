//! `receivers: otlp` — OTLP over gRPC (tonic) and HTTP (axum), as the OTel Collector's
//! `otlpreceiver`.
//!
//! One core, [`ReceiverCore`], holds what both transports share: the consumer of each
//! signal, the self-telemetry counters, and the rule that an empty request succeeds
//! without touching the pipeline. The front-ends are thin: [`grpc_routes`] wraps it in
//! tonic services, [`http_router`] in an axum router that reads, size-checks,
//! decompresses and decodes the body ([`body`], OTLP/JSON in [`json`]). Protobuf traces
//! and logs are not decoded on either transport: the wire walker validates and counts
//! them, and they travel on as bytes ([`crate::pdata`]). Every failure is a
//! [`crate::status::ReceiveError`], mapped to gRPC and HTTP answers in one place.

pub mod body;
mod budget;
pub mod config;
mod grpc;
mod http;
mod idle;
pub mod json;
#[cfg(test)]
mod tests;
pub mod tls;

use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::component::{BuildContext, BuildError};
use crate::config::ComponentId;
use crate::consumer::{Consumer, Signal, Telemetry};
use crate::extensions::ExtensionConfig;
use crate::extensions::auth::Authenticator;
use crate::status::ReceiveError;
use crate::telemetry::{Counter, ReceiverMetrics, SelfTelemetry};

pub use grpc::grpc_routes;
pub use http::http_router;

use self::config::OtlpReceiverConfig;
use super::ReceiverOutputs;

/// The transport a request arrived on; the `transport` label of the receiver counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// OTLP/gRPC.
    Grpc,
    /// OTLP/HTTP.
    Http,
}

impl Transport {
    /// The label value the OTel Collector uses (`grpc`, `http`).
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Grpc => "grpc",
            Transport::Http => "http",
        }
    }
}

/// One signal's consumer with the counters of one transport.
#[derive(Clone)]
struct SignalSink {
    consumer: Arc<dyn Consumer>,
    metrics: ReceiverMetrics,
}

/// The consume, count and map logic shared by the gRPC and HTTP front-ends, for one
/// transport. Cheap to clone.
#[derive(Clone)]
pub struct ReceiverCore {
    id: ComponentId,
    transport: Transport,
    traces: Option<SignalSink>,
    metrics: Option<SignalSink>,
    logs: Option<SignalSink>,
    /// `otelcol_receiver_refused_requests{reason="too_large"}`: requests over the size
    /// limit, refused before their items could be counted.
    too_large: Counter,
    /// The authenticator named by this transport's `auth`, if any.
    auth: Option<Arc<Authenticator>>,
    /// `otelcol_receiver_refused_requests{reason="unauthenticated"}`.
    unauthenticated: Counter,
}

impl ReceiverCore {
    /// A core feeding `outputs`, counting into `telemetry` under `receiver = id` and
    /// `transport`. Counters are registered only for signals that have a pipeline.
    pub fn new(
        id: &ComponentId,
        transport: Transport,
        outputs: &ReceiverOutputs,
        telemetry: &SelfTelemetry,
    ) -> Self {
        let sink = |signal: Signal| {
            outputs.get(signal).map(|consumer| SignalSink {
                consumer: Arc::clone(consumer),
                metrics: ReceiverMetrics::new(telemetry, id, transport.as_str(), signal),
            })
        };
        let receiver = id.to_string();
        ReceiverCore {
            id: id.clone(),
            transport,
            traces: sink(Signal::Traces),
            metrics: sink(Signal::Metrics),
            logs: sink(Signal::Logs),
            too_large: telemetry.counter(
                "otelcol_receiver_refused_requests",
                "Number of export requests refused before their items could be counted (reason=too_large: over max_recv_msg_size_mib or max_request_body_size; reason=unauthenticated: no valid credentials for the receiver's auth).",
                &[
                    ("reason", "too_large"),
                    ("receiver", receiver.as_str()),
                    ("transport", transport.as_str()),
                ],
            ),
            auth: None,
            unauthenticated: telemetry.counter(
                "otelcol_receiver_refused_requests",
                "Number of export requests refused before their items could be counted (reason=too_large: over max_recv_msg_size_mib or max_request_body_size; reason=unauthenticated: no valid credentials for the receiver's auth).",
                &[
                    ("reason", "unauthenticated"),
                    ("receiver", receiver.as_str()),
                    ("transport", transport.as_str()),
                ],
            ),
        }
    }

    /// This core with every request checked by `auth` first.
    pub fn with_auth(mut self, auth: Option<Arc<Authenticator>>) -> Self {
        self.auth = auth;
        self
    }

    /// The `WWW-Authenticate` challenge for a refused HTTP request.
    pub(crate) fn auth_scheme(&self) -> &'static str {
        match self.auth.as_deref() {
            Some(Authenticator::Basic { .. }) => "Basic realm=\"otlp\"",
            _ => "Bearer",
        }
    }

    /// Checks a request's credentials against the configured authenticator (all pass
    /// when there is none). A refusal is counted and answered before the body is read,
    /// so nothing of it reaches a pipeline.
    pub(crate) fn authenticate(&self, headers: &::http::HeaderMap) -> Result<(), ReceiveError> {
        let Some(auth) = &self.auth else {
            return Ok(());
        };
        auth.authenticate(headers).map_err(|err| {
            self.unauthenticated.add(1);
            tracing::debug!(
                component = %self.id,
                transport = self.transport.as_str(),
                error = %err,
                "Export request refused: not authenticated."
            );
            ReceiveError::Unauthenticated(err.0)
        })
    }

    /// Counts one request refused for its size. Its items are not known (the message
    /// was never read in full), so `otelcol_receiver_refused_<items>` cannot count them;
    /// this request-level counter does.
    pub(crate) fn count_too_large(&self) {
        self.too_large.add(1);
        tracing::debug!(
            component = %self.id,
            transport = self.transport.as_str(),
            "Export request refused: over the size limit."
        );
    }

    fn sink(&self, signal: Signal) -> Option<&SignalSink> {
        match signal {
            Signal::Traces => self.traces.as_ref(),
            Signal::Metrics => self.metrics.as_ref(),
            Signal::Logs => self.logs.as_ref(),
        }
    }

    /// Whether some pipeline of `signal` lists this receiver; signals without one are
    /// not served (gRPC `UNIMPLEMENTED`, HTTP 404), as in the OTel Collector.
    pub fn serves(&self, signal: Signal) -> bool {
        self.sink(signal).is_some()
    }

    /// Pushes one export request into its pipeline and counts its items as accepted or
    /// refused.
    pub async fn consume(&self, data: Telemetry) -> Result<(), ReceiveError> {
        let signal = data.signal();
        let sink = self.sink(signal).ok_or(ReceiveError::NoPipeline { signal })?;
        let items = data.item_count() as u64;
        // OTLP spec, "Full Success": an empty request SHOULD succeed. The OTel Collector
        // returns before calling the pipeline, so empty requests are neither forwarded
        // nor counted; do the same.
        if items == 0 {
            return Ok(());
        }
        match sink.consumer.consume(data).await {
            Ok(()) => {
                sink.metrics.accepted.add(items);
                Ok(())
            }
            Err(err) => {
                sink.metrics.refused.add(items);
                // Debug, not warn: under memory pressure every request is refused, and the
                // client is told; the counters carry the volume.
                tracing::debug!(
                    component = %self.id,
                    transport = self.transport.as_str(),
                    signal = %signal,
                    items,
                    error = %err,
                    "Export request refused by the pipeline."
                );
                Err(err.into())
            }
        }
    }
}

/// Binds the configured protocols and serves them until `ctx.shutdown` is cancelled.
/// Both listeners are bound before either server starts, so a failed bind leaves
/// nothing running. The returned tasks finish once their server has drained.
pub async fn start(
    config: &OtlpReceiverConfig,
    outputs: ReceiverOutputs,
    ctx: &BuildContext,
    extensions: &std::collections::BTreeMap<ComponentId, ExtensionConfig>,
) -> Result<Vec<JoinHandle<()>>, BuildError> {
    let invalid = |err: crate::config::ConfigError| BuildError::Invalid {
        id: ctx.id.clone(),
        message: err.to_string(),
    };
    config
        .validate(&format!("receivers.{}", ctx.id))
        .map_err(invalid)?;
    // Authenticators are built (token and htpasswd files read) before anything binds.
    let authenticator = |auth: Option<&config::AuthConfig>, protocol: &str| {
        let Some(auth) = auth else {
            return Ok(None);
        };
        let path = format!("receivers.{}.protocols.{protocol}.auth.authenticator", ctx.id);
        let id =
            ComponentId::parse(&auth.authenticator).map_err(|e| crate::config::ConfigError::at(&path, e))?;
        let ext_path = format!("extensions.{id}");
        match extensions.get(&id) {
            Some(ExtensionConfig::BearerTokenAuth(c)) => c.build(&ext_path).map(|a| Some(Arc::new(a))),
            Some(ExtensionConfig::BasicAuth(c)) => c.build(&ext_path).map(|a| Some(Arc::new(a))),
            _ => Err(crate::config::ConfigError::at(
                path,
                format!("extension \"{id}\" is not a defined authenticator"),
            )),
        }
    };
    let grpc_auth = authenticator(
        config.protocols.grpc.as_ref().and_then(|g| g.auth.as_ref()),
        "grpc",
    )
    .map_err(invalid)?;
    let http_auth = authenticator(
        config.protocols.http.as_ref().and_then(|h| h.auth.as_ref()),
        "http",
    )
    .map_err(invalid)?;
    // Certificates and keys are read before anything binds, too.
    let tls = |tls: Option<&tls::TlsServerConfig>, protocol: &str, alpn: &[&[u8]]| {
        tls.map(|t| tls::server_config(t, &format!("receivers.{}.protocols.{protocol}.tls", ctx.id), alpn))
            .transpose()
    };
    let grpc_tls = tls(
        config.protocols.grpc.as_ref().and_then(|g| g.tls.as_ref()),
        "grpc",
        &[b"h2"],
    )
    .map_err(invalid)?;
    let http_tls = tls(
        config.protocols.http.as_ref().and_then(|h| h.tls.as_ref()),
        "http",
        &[b"h2", b"http/1.1"],
    )
    .map_err(invalid)?;
    let grpc = match &config.protocols.grpc {
        Some(grpc) => {
            let label = format!("receivers.{}.grpc", ctx.id);
            let listener = crate::component::bind(ctx, &grpc.endpoint, &label).await?;
            Some((grpc, listener))
        }
        None => None,
    };
    let http = match &config.protocols.http {
        Some(http) => {
            let label = format!("receivers.{}.http", ctx.id);
            let listener = crate::component::bind(ctx, &http.endpoint, &label).await?;
            Some((http, listener))
        }
        None => None,
    };
    let mut tasks = Vec::new();
    if let Some((grpc, listener)) = grpc {
        let core = ReceiverCore::new(&ctx.id, Transport::Grpc, &outputs, &ctx.telemetry).with_auth(grpc_auth);
        tasks.push(grpc::serve(grpc, core, listener, ctx, grpc_tls));
    }
    if let Some((http, listener)) = http {
        let core = ReceiverCore::new(&ctx.id, Transport::Http, &outputs, &ctx.telemetry).with_auth(http_auth);
        tasks.push(http::serve(http, core, listener, ctx, http_tls));
    }
    Ok(tasks)
}
