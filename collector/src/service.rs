//! Builds the pipelines a [`Config`] describes, runs them, and shuts them down in order.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::component::{BoundAddrs, BuildContext, BuildError};
use crate::config::{ComponentId, Config, ExtensionConfig};
use crate::consumer::{Consumer, Fanout, Signal};
use crate::extensions::health_check::{self, Health};
use crate::receivers::ReceiverOutputs;
use crate::telemetry::SelfTelemetry;
use crate::{exporters, processors, receivers};

/// The collector, before it starts.
pub struct Collector;

/// A started collector.
pub struct RunningCollector {
    receivers_stop: CancellationToken,
    servers_stop: CancellationToken,
    receiver_tasks: Vec<JoinHandle<()>>,
    server_tasks: Vec<JoinHandle<()>>,
    /// Processors per pipeline, front first, so shutdown flushes in data-flow order.
    processors: Vec<Vec<(ComponentId, Arc<dyn Consumer>)>>,
    exporters: Vec<(ComponentId, Arc<dyn Consumer>)>,
    health: Health,
    telemetry: Arc<SelfTelemetry>,
    bound: BoundAddrs,
}

impl Collector {
    /// Builds every pipeline and starts every server. Fails, having stopped whatever it
    /// had started, if a component cannot be built (a port in use, say).
    pub async fn start(config: Config) -> Result<RunningCollector, BuildError> {
        let telemetry = SelfTelemetry::new();
        let bound = BoundAddrs::default();
        let receivers_stop = CancellationToken::new();
        let servers_stop = CancellationToken::new();
        let health = Health::default();
        let mut running = RunningCollector {
            receivers_stop: receivers_stop.clone(),
            servers_stop: servers_stop.clone(),
            receiver_tasks: Vec::new(),
            server_tasks: Vec::new(),
            processors: Vec::new(),
            exporters: Vec::new(),
            health: health.clone(),
            telemetry: telemetry.clone(),
            bound: bound.clone(),
        };
        match Self::build_all(&config, &mut running).await {
            Ok(()) => {
                health.set_ready(true);
                tracing::info!("Everything is ready. Begin running and processing data.");
                Ok(running)
            }
            Err(err) => {
                running.shutdown(Duration::from_secs(5)).await;
                Err(err)
            }
        }
    }

    async fn build_all(config: &Config, running: &mut RunningCollector) -> Result<(), BuildError> {
        let context = |id: &ComponentId, stop: &CancellationToken| BuildContext {
            id: id.clone(),
            telemetry: running.telemetry.clone(),
            shutdown: stop.clone(),
            bound: running.bound.clone(),
        };

        if let Some(endpoint) = config.telemetry.metrics_endpoint() {
            let id = ComponentId {
                kind: "telemetry".into(),
                name: None,
            };
            let ctx = context(&id, &running.servers_stop);
            let listener = crate::component::bind(&ctx, &endpoint, "service.telemetry.metrics").await?;
            let tel = running.telemetry.clone();
            let app = Router::new().route(
                "/metrics",
                get(move || {
                    let tel = tel.clone();
                    async move {
                        (
                            [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
                            tel.render(),
                        )
                    }
                }),
            );
            let stop = running.servers_stop.clone();
            running.server_tasks.push(tokio::spawn(async move {
                let server =
                    axum::serve(listener, app).with_graceful_shutdown(async move { stop.cancelled().await });
                if let Err(err) = server.await {
                    tracing::error!(error = %err, "The telemetry server failed.");
                }
            }));
        }

        for id in &config.service_extensions {
            let ctx = context(id, &running.servers_stop);
            match &config.extensions[id] {
                ExtensionConfig::HealthCheck(c) => {
                    let task = health_check::start(c, running.health.clone(), &ctx).await?;
                    running.server_tasks.push(task);
                }
            }
        }

        // Exporters: one instance each, shared by every pipeline that lists it.
        let mut exporter_instances: BTreeMap<ComponentId, Arc<dyn Consumer>> = BTreeMap::new();
        for pipeline in &config.pipelines {
            for id in &pipeline.exporters {
                if exporter_instances.contains_key(id) {
                    continue;
                }
                let ctx = context(id, &running.servers_stop);
                let exporter = exporters::build(&config.exporters[id], &ctx).await?;
                running.exporters.push((id.clone(), exporter.clone()));
                exporter_instances.insert(id.clone(), exporter);
            }
        }

        // Pipelines, built back to front: exporters, then processors in reverse order.
        let mut heads: Vec<(Signal, &[ComponentId], Arc<dyn Consumer>)> = Vec::new();
        for pipeline in &config.pipelines {
            let exporters: Vec<Arc<dyn Consumer>> = pipeline
                .exporters
                .iter()
                .map(|id| exporter_instances[id].clone())
                .collect();
            let mut next = Fanout::of(exporters);
            let mut chain = Vec::new();
            for id in pipeline.processors.iter().rev() {
                let ctx = context(id, &running.servers_stop);
                next = processors::build(&config.processors[id], next, &ctx)?;
                chain.push((id.clone(), next.clone()));
            }
            chain.reverse();
            running.processors.push(chain);
            heads.push((pipeline.signal, &pipeline.receivers, next));
        }

        // Receivers last, so no data arrives before its pipeline exists.
        for (id, receiver_config) in &config.receivers {
            let mut per_signal: BTreeMap<Signal, Vec<Arc<dyn Consumer>>> = BTreeMap::new();
            for (signal, receivers, head) in &heads {
                if receivers.contains(id) {
                    per_signal.entry(*signal).or_default().push(head.clone());
                }
            }
            if per_signal.is_empty() {
                // Defined but used by no pipeline: the OTel Collector does not start it.
                continue;
            }
            let outputs = ReceiverOutputs {
                traces: per_signal.remove(&Signal::Traces).map(Fanout::of),
                metrics: per_signal.remove(&Signal::Metrics).map(Fanout::of),
                logs: per_signal.remove(&Signal::Logs).map(Fanout::of),
            };
            let ctx = context(id, &running.receivers_stop);
            let tasks = receivers::build(receiver_config, outputs, &ctx).await?;
            running.receiver_tasks.extend(tasks);
        }
        Ok(())
    }
}

impl RunningCollector {
    /// The self-telemetry registry.
    pub fn telemetry(&self) -> &Arc<SelfTelemetry> {
        &self.telemetry
    }

    /// The addresses components actually listen on (useful with port 0).
    pub fn bound(&self) -> &BoundAddrs {
        &self.bound
    }

    /// Stops the collector: receivers stop accepting, processors flush in pipeline order,
    /// exporters drain their queues, then the remaining servers close. Gives up waiting
    /// after `deadline`, logging what was still running.
    pub async fn shutdown(self, deadline: Duration) {
        tracing::info!("Shutdown requested: stopping receivers, flushing batches, draining queues.");
        self.health.set_ready(false);
        let RunningCollector {
            receivers_stop,
            servers_stop,
            receiver_tasks,
            server_tasks,
            processors,
            exporters,
            ..
        } = self;
        let (receivers_stop_late, servers_stop_late) = (receivers_stop.clone(), servers_stop.clone());
        let ordered = async move {
            receivers_stop.cancel();
            for task in receiver_tasks {
                let _ = task.await;
            }
            for chain in &processors {
                for (_, processor) in chain {
                    processor.shutdown().await;
                }
            }
            for (_, exporter) in &exporters {
                exporter.shutdown().await;
            }
            servers_stop.cancel();
            for task in server_tasks {
                let _ = task.await;
            }
        };
        if tokio::time::timeout(deadline, ordered).await.is_err() {
            receivers_stop_late.cancel();
            servers_stop_late.cancel();
            tracing::warn!(
                deadline = ?deadline,
                "Shutdown did not finish in time; some queued data may not have been exported."
            );
        } else {
            tracing::info!("Shutdown complete.");
        }
    }
}
