//! burnwatch's Prometheus remote-write 1.0 client, shared by the collector's
//! `prometheusremotewrite` exporter and (later) a Prometheus-style `remote_write` section.
//!
//! - [`proto`]: the `prometheus.WriteRequest` messages ([`proto::TimeSeries`],
//!   [`proto::Sample`], native [`proto::Histogram`]s with spans and deltas,
//!   [`proto::MetricMetadata`]).
//! - [`encode`]: series split into requests under a size limit, protobuf-encoded and
//!   snappy-compressed.
//! - [`Client`]: a queue bounded in bytes, sharded by series (each series' samples go
//!   through one sender, in order), retries with exponential backoff for 5xx, 429
//!   (honouring `Retry-After`) and network errors, other 4xx dropped and counted with the
//!   receiver's message, the protocol headers, custom headers, basic or bearer
//!   authorization, TLS through a caller-built rustls `ClientConfig`, and an optional
//!   on-disk WAL so accepted data survives a restart. [`Stats`] counts it all.
//!
//! Nothing here knows about OpenTelemetry: callers build [`proto::TimeSeries`].
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use burnwatch_remote::proto::{Label, Sample, TimeSeries};
//! use burnwatch_remote::{Client, ClientConfig};
//!
//! let client = Client::start(ClientConfig::new("http://localhost:9090/api/v1/write"), None)?;
//! let series = TimeSeries {
//!     labels: vec![Label::new("__name__", "up"), Label::new("job", "demo")],
//!     samples: vec![Sample { value: 1.0, timestamp: 1_700_000_000_000 }],
//!     ..Default::default()
//! };
//! client.enqueue(vec![series], Vec::new(), 1)?;
//! let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
//! client.shutdown(deadline).await;
//! # Ok(())
//! # }
//! ```

mod client;
pub mod encode;
pub mod proto;
mod transport;
mod wal;

pub use client::{
    Authorization, Client, ClientConfig, EnqueueError, Observer, Outcome, OutcomeKind, RetryPolicy,
    ShutdownReport, StartError, Stats, WalConfig,
};
pub use encode::BatchLimits;
