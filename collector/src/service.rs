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
use crate::consumer::{ConsumeError, Consumer, Fanout, Signal, Telemetry};
use crate::extensions::health_check::Health;
use crate::otelcol::{Config, ConnectorInstance, FlowNode};
use crate::receivers::ReceiverOutputs;
use crate::telemetry::{Counter, PipelineMetrics, ProcessorMetrics, ReceiverMetrics, SelfTelemetry};
use crate::{connectors, exporters, extensions, processors, receivers};

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
    /// Processors (front first) and connectors, pipeline by pipeline in data-flow order,
    /// so shutdown flushes each before what it feeds: a connector after the pipelines
    /// that export to it and before the pipelines it feeds.
    stages: Vec<(ComponentId, Arc<dyn Consumer>)>,
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
            stages: Vec::new(),
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

        // Pipelines and connectors, downstream first (the data-flow order backwards), so
        // that what each one feeds exists when it is built; each pipeline back to front:
        // exporters and connectors, then processors in reverse order.
        let mut heads: Vec<Option<Arc<dyn Consumer>>> = vec![None; config.pipelines.len()];
        let mut connector_instances: Vec<(&ConnectorInstance, Arc<dyn Consumer>)> = Vec::new();
        for node in config.flow.iter().rev() {
            let stage = match node {
                FlowNode::Pipeline(index) => {
                    let pipeline = &config.pipelines[*index];
                    let mut consumers: Vec<Arc<dyn Consumer>> = pipeline
                        .exporters
                        .iter()
                        .map(|id| exporter_instances[id].clone())
                        .collect();
                    consumers.extend(
                        connector_instances
                            .iter()
                            .filter(|(i, _)| {
                                i.from == pipeline.signal && pipeline.to_connectors.contains(&i.id)
                            })
                            .map(|(_, c)| c.clone()),
                    );
                    let pipeline_id = pipeline.id.to_string();
                    let counts = PipelineMetrics::new(&running.telemetry, &pipeline_id, pipeline.signal);
                    let mut next = Counted::accepted(Fanout::of(consumers), counts.outgoing);
                    let mut chain = Vec::new();
                    for id in pipeline.processors.iter().rev() {
                        let ctx = context(id, &running.servers_stop);
                        let m = ProcessorMetrics::new(&running.telemetry, id, &pipeline_id, pipeline.signal);
                        let out = Counted::offered(next, m.outgoing, None);
                        next = processors::build(&config.processors[id], out, &ctx)?;
                        next = Counted::offered(next, m.incoming, None);
                        chain.push((id.clone(), next.clone()));
                    }
                    chain.reverse();
                    heads[*index] = Some(Counted::offered(next, counts.incoming, Some(counts.refused)));
                    chain
                }
                FlowNode::Connector(instance) => {
                    let ctx = context(&instance.id, &running.servers_stop);
                    let mut downstream = Vec::new();
                    for (pipeline, head) in config.pipelines.iter().zip(&heads) {
                        if pipeline.signal == instance.to && pipeline.from_connectors.contains(&instance.id) {
                            downstream.push(head.clone().ok_or_else(|| BuildError::Invalid {
                                id: instance.id.clone(),
                                message: format!(
                                    "pipeline {} is not built before the connector feeding it",
                                    pipeline.id
                                ),
                            })?);
                        }
                    }
                    let next: Arc<dyn Consumer> = Arc::new(ConnectorOutput::new(
                        Fanout::of(downstream),
                        &running.telemetry,
                        instance,
                    ));
                    let connector = connectors::build(
                        &config.connectors[&instance.id],
                        instance.from,
                        instance.to,
                        next,
                        &ctx,
                    )?;
                    let connector: Arc<dyn Consumer> =
                        Arc::new(ConnectorInput::new(connector, &running.telemetry, instance));
                    connector_instances.push((instance, connector.clone()));
                    vec![(instance.id.clone(), connector)]
                }
            };
            // Kept in data-flow order even when a later build fails, for the shutdown.
            running.stages.splice(0..0, stage);
        }

        // Receivers last, so no data arrives before its pipeline exists.
        for (id, receiver_config) in &config.receivers {
            let mut per_signal: BTreeMap<Signal, Vec<Arc<dyn Consumer>>> = BTreeMap::new();
            for (pipeline, head) in config.pipelines.iter().zip(&heads) {
                if let Some(head) = head
                    && pipeline.receivers.contains(id)
                {
                    per_signal.entry(pipeline.signal).or_default().push(head.clone());
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
            stages,
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
            for (_, stage) in &stages {
                stage.shutdown().await;
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

/// The upstream side of a connector instance: counted as an exporter of the pipelines
/// that list it, as otelcol counts a connector (`otelcol_exporter_sent_<items>` and
/// `otelcol_exporter_send_failed_<items>` with `exporter="ID"`). The connector's own work
/// is behind it; its shutdown flushes.
struct ConnectorInput {
    inner: Arc<dyn Consumer>,
    sent: Counter,
    send_failed: Counter,
}

impl ConnectorInput {
    fn new(inner: Arc<dyn Consumer>, telemetry: &SelfTelemetry, instance: &ConnectorInstance) -> Self {
        let id = instance.id.to_string();
        let labels = [("exporter", id.as_str())];
        let noun = instance.from.item_noun();
        let words = noun.replace('_', " ");
        // The exporters' names and help texts (telemetry::ExporterMetrics), without the
        // queue gauges: a connector has no sending queue.
        ConnectorInput {
            inner,
            sent: telemetry.counter(
                &format!("otelcol_exporter_sent_{noun}"),
                &format!("Number of {words} successfully sent to destination."),
                &labels,
            ),
            send_failed: telemetry.counter(
                &format!("otelcol_exporter_send_failed_{noun}"),
                &format!("Number of {words} in failed attempts to send to destination."),
                &labels,
            ),
        }
    }
}

#[async_trait::async_trait]
impl Consumer for ConnectorInput {
    async fn consume(&self, data: Telemetry) -> Result<(), ConsumeError> {
        let items = data.item_count() as u64;
        let result = self.inner.consume(data).await;
        match &result {
            Ok(()) => self.sent.add(items),
            Err(_) => self.send_failed.add(items),
        }
        result
    }

    async fn shutdown(&self) {
        self.inner.shutdown().await;
    }
}

/// The downstream side of a connector instance: counted as a receiver of the pipelines it
/// feeds (`otelcol_receiver_accepted_<items>` and `otelcol_receiver_refused_<items>` with
/// `receiver="ID"` and an empty `transport`, as otelcol's connectors have none).
struct ConnectorOutput {
    next: Arc<dyn Consumer>,
    metrics: ReceiverMetrics,
}

impl ConnectorOutput {
    fn new(next: Arc<dyn Consumer>, telemetry: &SelfTelemetry, instance: &ConnectorInstance) -> Self {
        ConnectorOutput {
            next,
            metrics: ReceiverMetrics::new(telemetry, &instance.id, "", instance.to),
        }
    }
}

#[async_trait::async_trait]
impl Consumer for ConnectorOutput {
    async fn consume(&self, data: Telemetry) -> Result<(), ConsumeError> {
        let items = data.item_count() as u64;
        let result = self.next.consume(data).await;
        match &result {
            Ok(()) => self.metrics.accepted.add(items),
            Err(_) => self.metrics.refused.add(items),
        }
        result
    }

    // No `shutdown`: the pipelines behind are shut down by the service, in their turn.
}

/// Counts the items passing one edge of a pipeline for the per-pipeline and per-processor
/// metrics (`telemetry::PipelineMetrics`, `telemetry::ProcessorMetrics`). Counting is a
/// relaxed add of a count the payload already knows for the raw form, so the raw path keeps
/// its speed.
struct Counted {
    inner: Arc<dyn Consumer>,
    items: Counter,
    /// Counted only when `inner` accepted the items, or, for offered counts, never.
    only_accepted: bool,
    /// Items `inner` returned an error for.
    refused: Option<Counter>,
}

impl Counted {
    /// Counts every item offered to `inner` in `items`, and those it refused in `refused`.
    fn offered(inner: Arc<dyn Consumer>, items: Counter, refused: Option<Counter>) -> Arc<dyn Consumer> {
        Arc::new(Counted {
            inner,
            items,
            only_accepted: false,
            refused,
        })
    }

    /// Counts the items `inner` accepted.
    fn accepted(inner: Arc<dyn Consumer>, items: Counter) -> Arc<dyn Consumer> {
        Arc::new(Counted {
            inner,
            items,
            only_accepted: true,
            refused: None,
        })
    }
}

#[async_trait::async_trait]
impl Consumer for Counted {
    async fn consume(&self, data: Telemetry) -> Result<(), ConsumeError> {
        let items = data.item_count() as u64;
        if !self.only_accepted {
            self.items.add(items);
        }
        let result = self.inner.consume(data).await;
        match (&result, &self.refused) {
            (Ok(()), _) if self.only_accepted => self.items.add(items),
            (Err(_), Some(refused)) => refused.add(items),
            _ => {}
        }
        result
    }

    async fn shutdown(&self) {
        self.inner.shutdown().await;
    }

    async fn shutdown_by(&self, deadline: tokio::time::Instant) {
        self.inner.shutdown_by(deadline).await;
    }
}
