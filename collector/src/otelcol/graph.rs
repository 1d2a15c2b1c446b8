//! The pipeline graph that connectors make: which connector instances exist, whether
//! they are used as otelcol requires, and the order data flows in.
//!
//! Follows otelcol's `service/internal/graph`: a connector listed as an exporter of some
//! pipelines and as a receiver of others gets one instance per (exporter signal,
//! receiver signal) pair its type supports; a connector whose every use as an exporter
//! (or receiver) lacks a supported counterpart is refused with otelcol's wording; and the
//! graph must have no cycle (reported from a connector, as otelcol's `cycleErr`). Unlike
//! otelcol, whose messages come from map iteration, the first problem reported here is
//! always the same one: connectors by id, signals in traces, metrics, logs order.

use std::collections::{BTreeMap, BTreeSet};

use super::Pipeline;
use crate::config::{ComponentId, ComponentKind, ConfigError};
use crate::connectors::ConnectorConfig;
use crate::consumer::Signal;

/// One connector instance: connector `id` taking `from` data and emitting `to` data.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectorInstance {
    /// The connector's id under `connectors`.
    pub id: ComponentId,
    /// The signal of the pipelines that list it as an exporter.
    pub from: Signal,
    /// The signal of the pipelines that list it as a receiver.
    pub to: Signal,
}

/// A node of the data flow: a pipeline (its receivers, processors and exporters) or a
/// connector instance between pipelines.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FlowNode {
    /// The pipeline at this index of [`super::Config::pipelines`].
    Pipeline(usize),
    /// A connector instance.
    Connector(ConnectorInstance),
}

/// Where connector graph errors point: the pipelines that use the connectors.
const PATH: &str = "service.pipelines";

/// Resolves the connector instances the pipelines use and returns every node in data-flow
/// order: each node comes before the nodes it feeds, so building walks it backwards
/// (downstream first) and shutting down walks it forwards (a connector flushes before the
/// pipelines it feeds stop).
pub(super) fn flow(
    pipelines: &[Pipeline],
    connectors: &BTreeMap<ComponentId, ConnectorConfig>,
) -> Result<Vec<FlowNode>, ConfigError> {
    let mut instances: Vec<ConnectorInstance> = Vec::new();
    for (id, config) in connectors {
        let as_exporter: Vec<&Pipeline> = pipelines
            .iter()
            .filter(|p| p.to_connectors.contains(id))
            .collect();
        let as_receiver: Vec<&Pipeline> = pipelines
            .iter()
            .filter(|p| p.from_connectors.contains(id))
            .collect();
        if as_exporter.is_empty() && as_receiver.is_empty() {
            // Defined but used by no pipeline: otelcol does not build it either.
            continue;
        }
        let exp_signals = signals(&as_exporter);
        let rec_signals = signals(&as_receiver);
        for &from in &exp_signals {
            if !rec_signals.iter().any(|&to| config.supports(from, to)) {
                return Err(ConfigError::at(
                    PATH,
                    format!(
                        "connector \"{id}\" used as exporter in {} pipeline but not used in any supported receiver pipeline{}",
                        names(&as_exporter, from),
                        unsupported(config, &[from], &rec_signals)
                    ),
                ));
            }
        }
        for &to in &rec_signals {
            if !exp_signals.iter().any(|&from| config.supports(from, to)) {
                return Err(ConfigError::at(
                    PATH,
                    format!(
                        "connector \"{id}\" used as receiver in {} pipeline but not used in any supported exporter pipeline{}",
                        names(&as_receiver, to),
                        unsupported(config, &exp_signals, &[to])
                    ),
                ));
            }
        }
        for &from in &exp_signals {
            for &to in &rec_signals {
                if config.supports(from, to) {
                    instances.push(ConnectorInstance {
                        id: id.clone(),
                        from,
                        to,
                    });
                }
            }
        }
    }

    // Nodes: the pipelines, then the connector instances; edges follow the data.
    let mut nodes: Vec<FlowNode> = (0..pipelines.len()).map(FlowNode::Pipeline).collect();
    nodes.extend(instances.iter().cloned().map(FlowNode::Connector));
    let index_of = |instance: &ConnectorInstance| {
        pipelines.len()
            + instances
                .iter()
                .position(|i| i == instance)
                .expect("edges are drawn between known instances")
    };
    let mut successors: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (p, pipeline) in pipelines.iter().enumerate() {
        for instance in instances
            .iter()
            .filter(|i| i.from == pipeline.signal && pipeline.to_connectors.contains(&i.id))
        {
            successors[p].push(index_of(instance));
        }
    }
    for instance in &instances {
        let from = index_of(instance);
        for (q, pipeline) in pipelines.iter().enumerate() {
            if pipeline.signal == instance.to && pipeline.from_connectors.contains(&instance.id) {
                successors[from].push(q);
            }
        }
    }

    // Kahn's algorithm, taking ready nodes in index order so the order is stable.
    let mut in_degree = vec![0usize; nodes.len()];
    for next in successors.iter().flatten() {
        in_degree[*next] += 1;
    }
    let mut ready: BTreeSet<usize> = (0..nodes.len()).filter(|&n| in_degree[n] == 0).collect();
    let mut order = Vec::with_capacity(nodes.len());
    while let Some(n) = ready.pop_first() {
        order.push(n);
        for &next in &successors[n] {
            in_degree[next] -= 1;
            if in_degree[next] == 0 {
                ready.insert(next);
            }
        }
    }
    if order.len() < nodes.len() {
        let cycle = find_cycle(&successors, &in_degree, pipelines.len());
        return Err(ConfigError::at(PATH, describe_cycle(&cycle, &nodes, pipelines)));
    }
    Ok(order.into_iter().map(|n| nodes[n].clone()).collect())
}

/// The distinct signals of `pipelines`, in traces, metrics, logs order.
fn signals(pipelines: &[&Pipeline]) -> Vec<Signal> {
    let set: BTreeSet<Signal> = pipelines.iter().map(|p| p.signal).collect();
    set.into_iter().collect()
}

/// The ids of the pipelines of `signal`, as otelcol prints them: `[traces/in traces/b]`.
fn names(pipelines: &[&Pipeline], signal: Signal) -> String {
    let ids: Vec<&str> = pipelines
        .iter()
        .filter(|p| p.signal == signal)
        .map(|p| p.id.as_str())
        .collect();
    format!("[{}]", ids.join(" "))
}

/// Names the pairs the connector's type cannot connect, when the other side is used at
/// all (otelcol's message names only the pipelines; the pair is what a user must change).
fn unsupported(config: &ConnectorConfig, from: &[Signal], to: &[Signal]) -> String {
    let pairs: Vec<String> = from
        .iter()
        .flat_map(|&f| to.iter().map(move |&t| (f, t)))
        .filter(|&(f, t)| !config.supports(f, t))
        .map(|(f, t)| format!("{f} to {t}"))
        .collect();
    if pairs.is_empty() {
        String::new()
    } else {
        format!(
            " (the {} connector does not connect {})",
            config.type_name(),
            pairs.join(" or ")
        )
    }
}

/// A cycle among the nodes Kahn's algorithm left (each has a predecessor among them),
/// in data-flow order, starting at a connector instance (every cycle has one: a pipeline
/// only feeds connectors), as otelcol reports it. Walks predecessors iteratively: the
/// graph comes from user input.
fn find_cycle(successors: &[Vec<usize>], in_degree: &[usize], first_connector: usize) -> Vec<usize> {
    let left = |n: usize| in_degree[n] > 0;
    let predecessor = |n: usize| {
        (0..successors.len())
            .find(|&p| left(p) && successors[p].contains(&n))
            .expect("a node left by Kahn's algorithm has a predecessor left too")
    };
    let start = (first_connector..successors.len())
        .find(|&n| left(n))
        .expect("a cycle contains a connector instance");
    // Walk backwards until a node repeats: the walk from its first visit is a cycle.
    let mut walk = vec![start];
    let mut at = start;
    loop {
        at = predecessor(at);
        if let Some(seen) = walk.iter().position(|&n| n == at) {
            let mut cycle: Vec<usize> = walk[seen..].to_vec();
            cycle.reverse();
            // Start at the cycle's first connector instance (by id), so the message
            // does not depend on where the walk began.
            let connector = (0..cycle.len())
                .filter(|&i| cycle[i] >= first_connector)
                .min_by_key(|&i| cycle[i])
                .expect("a cycle contains a connector instance");
            cycle.rotate_left(connector);
            return cycle;
        }
        walk.push(at);
    }
}

/// otelcol's wording: `cycle detected: connector "forward" (traces to traces) -> processor
/// "batch" in pipeline "traces/in" -> connector "forward" (traces to traces)`.
fn describe_cycle(cycle: &[usize], nodes: &[FlowNode], pipelines: &[Pipeline]) -> String {
    let mut parts = Vec::new();
    for &n in cycle.iter().chain(cycle.first()) {
        match &nodes[n] {
            FlowNode::Connector(i) => parts.push(format!("connector \"{}\" ({} to {})", i.id, i.from, i.to)),
            FlowNode::Pipeline(p) => {
                let pipeline = &pipelines[*p];
                for processor in &pipeline.processors {
                    parts.push(format!(
                        "processor \"{processor}\" in pipeline \"{}\"",
                        pipeline.id
                    ));
                }
            }
        }
    }
    format!("cycle detected: {}", parts.join(" -> "))
}
