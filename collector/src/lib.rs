//! burnwatch's collector: an OpenTelemetry Collector-compatible sidecar.
//!
//! The configuration has the OTel Collector's shape ([`otelcol::Config`]): receivers,
//! processors and exporters wired into pipelines per signal, and connectors joining
//! pipelines. Components read their settings with the vocabulary in [`config`]; each
//! kind's list (which types exist) sits beside its components, e.g. [`processors`].
//! Components talk through one trait, [`consumer::Consumer`], carrying OTLP export
//! requests ([`consumer::Telemetry`]);
//! spans and log records travel as validated protobuf bytes ([`pdata::Payload`]) and are
//! decoded only where a component needs their structure.
//! [`service::Collector`] builds the pipelines, starts the servers and shuts everything
//! down in order: receivers stop, batches flush, queues drain.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use burnwatch_collector::otelcol::Config;
//! use burnwatch_collector::service::Collector;
//!
//! let config = Config::default_config();
//! let running = Collector::start(config).await?;
//! // ... serve until a signal arrives ...
//! running.shutdown(std::time::Duration::from_secs(10)).await;
//! # Ok(())
//! # }
//! ```

pub mod component;
pub mod config;
pub mod connectors;
pub mod consumer;
pub mod exporters;
pub mod extensions;
pub mod otelcol;
pub mod pdata;
pub mod process;
pub mod processors;
pub mod receivers;
pub mod service;
pub mod status;
pub mod telemetry;
