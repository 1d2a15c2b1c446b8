//! Builds the pipelines a [`Config`] describes, runs them, and shuts them down in order.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::component::{BoundAddrs, BuildContext, BuildError};
use crate::config::ComponentId;
use crate::consumer::{Consumer, Fanout, Signal};
use crate::extensions::health_check::Health;
use crate::otelcol::Config;
use crate::receivers::ReceiverOutputs;
use crate::telemetry::SelfTelemetry;
use crate::{exporters, extensions, processors, receivers};

/// How long a start that failed half-way waits for what it had started to stop. Data may
/// already have been accepted by a receiver that started before another failed, so this
/// matches the CLI's default `--shutdown-timeout`.
const FAILED_START_SHUTDOWN: Duration = Duration::from_secs(10);

/// How long past the shutdown deadline the service waits for exporters that were given
/// that deadline and must return by it (they do; this only guards against one that
/// does not).
const EXPORTER_DEADLINE_MARGIN: Duration = Duration::from_secs(1);

/// The least time servers get to close once the exporters are done, even past the
/// deadline: cancelling them is immediate, closing idle keep-alive connections is not.
const SERVER_STOP_GRACE: Duration = Duration::from_millis(500);

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
        // Loading a config happens before logging is set up, so its warnings are
        // logged here.
        config.log_warnings();
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
                running.shutdown(FAILED_START_SHUTDOWN).await;
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
            if let Some(task) =
                extensions::start(&config.extensions[id], running.health.clone(), &ctx).await?
            {
                running.server_tasks.push(task);
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
            let tasks = receivers::build(receiver_config, outputs, &ctx, &config.extensions).await?;
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
        let end = tokio::time::Instant::now() + deadline;
        let mut on_time = true;

        // Receivers stop and processors flush into the exporters' queues.
        receivers_stop.cancel();
        let upstream = async {
            for task in receiver_tasks {
                let _ = task.await;
            }
            for chain in &processors {
                for (_, processor) in chain {
                    processor.shutdown().await;
                }
            }
        };
        if tokio::time::timeout_at(end, upstream).await.is_err() {
            on_time = false;
            tracing::warn!(
                deadline = ?deadline,
                "Receivers and processors did not stop before the shutdown deadline."
            );
        }

        // Exporters drain their queues until the deadline, all at once (each has its own
        // senders), and account for whatever they could not send before returning. They
        // bound themselves, so they are not cut off here: cutting a drain short would lose
        // the count of what it dropped. The margin only guards against a consumer that
        // ignores its deadline.
        let drains = futures::future::join_all(exporters.iter().map(|(_, e)| e.shutdown_by(end)));
        if tokio::time::timeout_at(end + EXPORTER_DEADLINE_MARGIN, drains)
            .await
            .is_err()
        {
            on_time = false;
            tracing::warn!(
                deadline = ?deadline,
                "Exporters did not finish shutting down in time; some queued data may not have been exported."
            );
        }

        // The remaining servers (prometheus exporter, telemetry, health_check).
        servers_stop.cancel();
        let servers = async {
            for task in server_tasks {
                let _ = task.await;
            }
        };
        let servers_end = end.max(tokio::time::Instant::now() + SERVER_STOP_GRACE);
        if tokio::time::timeout_at(servers_end, servers).await.is_err() {
            on_time = false;
            tracing::warn!("Some servers did not close their connections before shutdown ended.");
        }
        if on_time {
            tracing::info!("Shutdown complete.");
        }
    }
}
