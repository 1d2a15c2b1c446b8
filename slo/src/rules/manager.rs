//! The rule manager: Prometheus's `rules.Manager`, `rules.Group`, `rules.RecordingRule` and
//! `rules.AlertingRule` over burnwatch's store and engine.
//!
//! Each group is evaluated on its interval (the group's `interval`, else the manager's
//! evaluation interval) at timestamps aligned as Prometheus aligns them: `base + offset`, where
//! the offset spreads groups over the interval. Prometheus hashes the group's name and file with
//! xxhash; burnwatch uses FNV-1a of the same two strings, so a group is evaluated at a different
//! (but equally fixed) phase within the interval than in Prometheus.
//!
//! Per evaluation, rule by rule in file order:
//!
//! - the expression is evaluated at the evaluation time minus the group's `query_offset`;
//! - a recording rule's result gets `__name__` and the rule's labels and is appended to the
//!   store; an alerting rule's result moves its alerts through pending → firing → inactive
//!   (resolved), with `for` and `keep_firing_for`, labels and annotations expanded from templates,
//!   and appends `ALERTS{alertstate=…}` and `ALERTS_FOR_STATE` (the active-since time in Unix
//!   seconds) once the rule's state has been restored;
//! - series a rule wrote at the previous evaluation and not now get a staleness marker;
//! - alerts are handed to the sink as Prometheus's `sendAlerts` does: firing ones every resend
//!   delay with `endsAt = now + 4 × max(resend delay, group interval)`, resolved ones at once and
//!   then every resend delay for 15 minutes with `endsAt` = the resolution time.
//!
//! After a restart, `for` state comes back from `ALERTS_FOR_STATE` (`RestoreForState`, with
//! `for_grace_period` and `outage_tolerance`) after the second evaluation, as in Prometheus.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::file::{GroupSpec, RuleFile, RuleKind, RuleSpec};
use super::template::{AlertData, QuerySample, Template};
use crate::alert::Alert;
use crate::promql::{Engine, EngineOptions, Value};
use crate::shared::SharedStorage;
use crate::tsdb::{FloatHistogram, Labels, Matcher, Queryable, is_stale_nan, stale_nan};

/// How long a resolved alert is kept (and re-sent) before it is forgotten (Prometheus's
/// `resolvedRetention`).
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60_000;

/// The metric name of the alert-state series.
pub const ALERTS_METRIC: &str = "ALERTS";
/// The metric name of the `for`-state series.
pub const ALERTS_FOR_STATE_METRIC: &str = "ALERTS_FOR_STATE";

/// Receives the alerts to deliver (an Alertmanager notifier, a log, a test).
pub type AlertSink = Arc<dyn Fn(Vec<Alert>) + Send + Sync>;

/// Settings of the manager (Prometheus's flags and `global` config).
#[derive(Clone, Debug)]
pub struct ManagerOptions {
    /// `global.evaluation_interval`: the interval of groups that set none (default 1m).
    pub evaluation_interval: Duration,
    /// `global.external_labels`: in templates as `$externalLabels`, and added to sent alerts
    /// that do not have the label already.
    pub external_labels: BTreeMap<String, String>,
    /// `--web.external-url`: in templates as `$externalURL` and the start of generator URLs.
    pub external_url: String,
    /// The engine settings rule queries run with.
    pub engine: EngineOptions,
    /// `--rules.alert.resend-delay` (default 1m).
    pub resend_delay: Duration,
    /// `--rules.alert.for-grace-period` (default 10m).
    pub for_grace_period: Duration,
    /// `--rules.alert.for-outage-tolerance` (default 1h).
    pub outage_tolerance: Duration,
    /// `global.rule_query_offset` (Prometheus 3.x, default 0): the offset of groups that set none.
    pub query_offset: Duration,
    /// Append each group's `prometheus_rule_*` self-metrics (labelled `rule_group`) to the
    /// store after each evaluation, as the scrape loop appends `up` and `scrape_*`: burnwatch
    /// serves no `/metrics` of its own, so this is how they become queryable (Prometheus gets
    /// them by scraping itself). On by default.
    pub record_self_metrics: bool,
}

impl Default for ManagerOptions {
    fn default() -> Self {
        ManagerOptions {
            evaluation_interval: Duration::from_secs(60),
            external_labels: BTreeMap::new(),
            external_url: String::new(),
            engine: EngineOptions::default(),
            resend_delay: Duration::from_secs(60),
            for_grace_period: Duration::from_secs(600),
            outage_tolerance: Duration::from_secs(3600),
            query_offset: Duration::ZERO,
            record_self_metrics: true,
        }
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// An alert's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlertState {
    /// Resolved (kept for [`RESOLVED_RETENTION_MS`] to be sent as resolved).
    Inactive,
    /// Active for less than the rule's `for`.
    Pending,
    /// Firing.
    Firing,
}

impl AlertState {
    /// `inactive`, `pending` or `firing`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One alert of an alerting rule (Prometheus's `rules.Alert`).
#[derive(Clone, Debug, PartialEq)]
pub struct ActiveAlert {
    /// The alert's labels: the result's labels without `__name__`, the rule's labels and
    /// `alertname`.
    pub labels: BTreeMap<String, String>,
    /// The expanded annotations.
    pub annotations: BTreeMap<String, String>,
    /// The state.
    pub state: AlertState,
    /// When it became active (ms).
    pub active_at_ms: i64,
    /// When it started firing (ms).
    pub fired_at_ms: Option<i64>,
    /// When it resolved (ms).
    pub resolved_at_ms: Option<i64>,
    /// When it was last handed to the sink (ms).
    pub last_sent_at_ms: Option<i64>,
    /// The `endsAt` of the last send of a firing alert (ms).
    pub valid_until_ms: i64,
    /// Since when it has been kept firing by `keep_firing_for` without the expression returning
    /// it (ms).
    pub keep_firing_since_ms: Option<i64>,
    /// The value of the last evaluation that returned it.
    pub value: f64,
}

impl ActiveAlert {
    /// Prometheus's `needsSending`.
    fn needs_sending(&self, ts: i64, resend_delay_ms: i64) -> bool {
        if self.state == AlertState::Pending {
            return false;
        }
        // A resolution not sent yet is sent now.
        if let Some(r) = self.resolved_at_ms
            && self.last_sent_at_ms.is_none_or(|s| r > s)
        {
            return true;
        }
        self.last_sent_at_ms.is_none_or(|s| s + resend_delay_ms < ts)
    }
}

/// A rule's health (Prometheus's `RuleHealth`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// Not evaluated yet.
    Unknown,
    /// The last evaluation succeeded.
    Good,
    /// The last evaluation failed.
    Bad,
}

impl Health {
    /// `unknown`, `ok` or `err`, as the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Good => "ok",
            Health::Bad => "err",
        }
    }
}

type AlertKey = BTreeMap<String, String>;

struct RuleState {
    spec: RuleSpec,
    /// Parsed label and annotation templates (alerting rules).
    label_templates: Vec<(String, Result<Template, String>)>,
    annotation_templates: Vec<(String, Result<Template, String>)>,
    health: Health,
    last_error: Option<String>,
    last_eval_ms: Option<i64>,
    eval_seconds: f64,
    /// The series written at the previous evaluation (`seriesInPreviousEval`).
    prev_series: HashSet<Labels>,
    active: HashMap<AlertKey, ActiveAlert>,
    /// Whether `ALERTS` samples are written (false until the `for` state was restored).
    restored: bool,
}

fn templates(map: &BTreeMap<String, String>) -> Vec<(String, Result<Template, String>)> {
    map.iter()
        .map(|(k, v)| (k.clone(), Template::parse(v).map_err(|e| e.0)))
        .collect()
}

impl RuleState {
    fn new(spec: RuleSpec, restored: bool) -> Self {
        let (label_templates, annotation_templates) = match &spec.kind {
            RuleKind::Alerting { annotations, .. } => (templates(&spec.labels), templates(annotations)),
            RuleKind::Recording => (Vec::new(), Vec::new()),
        };
        RuleState {
            spec,
            label_templates,
            annotation_templates,
            health: Health::Unknown,
            last_error: None,
            last_eval_ms: None,
            eval_seconds: 0.0,
            prev_series: HashSet::new(),
            active: HashMap::new(),
            restored,
        }
    }

    /// Prometheus's `nameAndLabels`: how reloads match a new rule with an old one.
    fn key(&self) -> String {
        let mut k = self.spec.name.clone();
        for (n, v) in &self.spec.labels {
            let _ = write!(k, ",{n}={v:?}");
        }
        k
    }

    fn hold_ms(&self) -> i64 {
        match self.spec.kind {
            RuleKind::Alerting { for_ms, .. } => for_ms,
            RuleKind::Recording => 0,
        }
    }
}

/// One sample a rule produced.
struct OutSample {
    labels: Labels,
    t: i64,
    v: f64,
    h: Option<FloatHistogram>,
}

struct GroupState {
    spec: GroupSpec,
    interval_ms: i64,
    query_offset_ms: i64,
    rules: Vec<RuleState>,
    last_eval_ms: Option<i64>,
    eval_seconds: f64,
    iterations: u64,
    missed: u64,
    evaluations: u64,
    failures: u64,
    /// Series of rules dropped by a reload, marked stale at the next evaluation.
    stale_series: Vec<Labels>,
}

/// What an evaluation needs besides the group.
struct Ctx<'a> {
    store: &'a SharedStorage,
    engine: &'a Engine,
    opts: &'a ManagerOptions,
    sink: Option<&'a AlertSink>,
}

fn labels_map(l: &Labels) -> BTreeMap<String, String> {
    l.iter()
        .map(|x| (x.name.to_string(), x.value.to_string()))
        .collect()
}

fn map_labels(m: &BTreeMap<String, String>) -> Labels {
    Labels::from_pairs(m.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// Runs `expr` at `t` and gives its samples; a scalar is one sample without labels, as
/// Prometheus's `EngineQueryFunc` makes it.
fn query(ctx: &Ctx<'_>, expr: &str, t: i64) -> Result<Vec<(Labels, f64, Option<FloatHistogram>)>, String> {
    let res = {
        let guard = ctx.store.read().unwrap_or_else(|p| p.into_inner());
        ctx.engine
            .instant_query(&*guard as &(dyn Queryable + Sync), expr, t)
    };
    match res.map_err(|e| e.to_string())?.value {
        Value::Vector(v) => Ok(v
            .into_iter()
            .map(|s| (s.labels, s.v, s.h.map(|h| (*h).clone())))
            .collect()),
        Value::Scalar { v, .. } => Ok(vec![(Labels::empty(), v, None)]),
        _ => Err("rule result is not a vector or scalar".to_string()),
    }
}

impl GroupState {
    fn new(spec: GroupSpec, opts: &ManagerOptions, restored: bool) -> Self {
        let interval_ms = spec
            .interval_ms
            .unwrap_or_else(|| ms(opts.evaluation_interval))
            .max(1);
        let query_offset_ms = spec.query_offset_ms.unwrap_or_else(|| ms(opts.query_offset));
        let rules = spec
            .rules
            .iter()
            .cloned()
            .map(|r| RuleState::new(r, restored))
            .collect();
        GroupState {
            spec,
            interval_ms,
            query_offset_ms,
            rules,
            last_eval_ms: None,
            eval_seconds: 0.0,
            iterations: 0,
            missed: 0,
            evaluations: 0,
            failures: 0,
            stale_series: Vec::new(),
        }
    }

    /// `file;name`, the `rule_group` label of the self-metrics.
    fn key(&self) -> String {
        format!("{};{}", self.spec.file, self.spec.name)
    }

    /// The first timestamp of the group's evaluation grid at or before `now` (Prometheus's
    /// `EvalTimestamp`, with FNV-1a in place of xxhash for the phase).
    fn eval_timestamp(&self, now: i64) -> i64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.spec.name.bytes().chain([0xff]).chain(self.spec.file.bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        let interval = self.interval_ms;
        let offset = i64::try_from(h % u64::try_from(interval).unwrap_or(1)).unwrap_or(0);
        let adj = now - offset;
        adj - adj.rem_euclid(interval) + offset
    }

    /// Evaluates every rule at `ts` (Prometheus's `Group.Eval`).
    fn eval(&mut self, ts: i64, ctx: &Ctx<'_>) {
        let started = Instant::now();
        let limit = self.spec.limit;
        let t = ts - self.query_offset_ms;
        for i in 0..self.rules.len() {
            let rule_started = Instant::now();
            self.evaluations += 1;
            let rule = &mut self.rules[i];
            let res = match &rule.spec.kind {
                RuleKind::Recording => eval_recording(rule, t, limit, ctx),
                RuleKind::Alerting { .. } => eval_alerting(rule, ts, t, limit, ctx),
            };
            rule.last_eval_ms = Some(ts);
            let out = match res {
                Ok(out) => out,
                Err(e) => {
                    rule.health = Health::Bad;
                    rule.last_error = Some(e.clone());
                    rule.eval_seconds = rule_started.elapsed().as_secs_f64();
                    self.failures += 1;
                    tracing::warn!(group = %self.spec.name, rule = %rule.spec.name, error = %e,
                        "Evaluating a rule failed.");
                    continue;
                }
            };
            rule.health = Health::Good;
            rule.last_error = None;
            if rule.spec.is_alerting() {
                send_alerts(rule, ts, self.interval_ms, ctx);
            }
            let mut written = HashSet::with_capacity(out.len());
            let mut first_error: Option<String> = None;
            {
                let mut store = ctx.store.write().unwrap_or_else(|p| p.into_inner());
                for s in out {
                    let appended = match s.h {
                        Some(h) => store.append_histogram(&s.labels, s.t, h),
                        None => store.append(&s.labels, s.t, s.v),
                    };
                    match appended {
                        Ok(_) => {
                            written.insert(s.labels);
                        }
                        Err(e) => {
                            first_error.get_or_insert_with(|| e.to_string());
                        }
                    }
                }
                for gone in rule.prev_series.difference(&written) {
                    // A refusal means the series already has a newer sample: nothing to mark.
                    let _ = store.append(gone, t, stale_nan());
                }
                if let Err(e) = store.end_batch() {
                    tracing::debug!(error = %e, "Rule results are in memory only.");
                }
            }
            if let Some(e) = first_error {
                rule.health = Health::Bad;
                rule.last_error = Some(e.clone());
                tracing::warn!(group = %self.spec.name, rule = %rule.spec.name, error = %e,
                    "The store refused a rule's result.");
            }
            rule.prev_series = written;
            rule.eval_seconds = rule_started.elapsed().as_secs_f64();
        }
        if !self.stale_series.is_empty() {
            let mut store = ctx.store.write().unwrap_or_else(|p| p.into_inner());
            for s in self.stale_series.drain(..) {
                let _ = store.append(&s, t, stale_nan());
            }
            let _ = store.end_batch();
        }
        self.iterations += 1;
        self.last_eval_ms = Some(ts);
        self.eval_seconds = started.elapsed().as_secs_f64();
        if ctx.opts.record_self_metrics {
            self.record_self_metrics(ts, ctx.store);
        }
    }

    /// Appends the group's self-metrics at `ts` (see [`ManagerOptions::record_self_metrics`]).
    fn record_self_metrics(&self, ts: i64, store: &SharedStorage) {
        let row = self.row();
        let key = self.key();
        let mut store = store.write().unwrap_or_else(|p| p.into_inner());
        for f in &FAMILIES {
            let Some(v) = (f.number)(&row) else { continue };
            let labels =
                Labels::from_pairs([(crate::tsdb::METRIC_NAME, f.name), ("rule_group", key.as_str())]);
            if let Err(e) = store.append(&labels, ts, v) {
                tracing::debug!(error = %e, "Cannot store a rule self-metric.");
            }
        }
        let _ = store.end_batch();
    }

    fn row(&self) -> GroupRow {
        GroupRow {
            key: crate::tsdb::labels::escape_label_value(&self.key()),
            interval_ms: self.interval_ms,
            eval_seconds: self.eval_seconds,
            evaluations: self.evaluations,
            failures: self.failures,
            iterations: self.iterations,
            missed: self.missed,
            rules: self.rules.len(),
            last_eval_ms: self.last_eval_ms,
        }
    }

    /// Marks every series the group wrote stale at `t` (the group was removed).
    fn mark_all_stale(&mut self, t: i64, store: &SharedStorage) {
        let mut store = store.write().unwrap_or_else(|p| p.into_inner());
        for r in &mut self.rules {
            for s in r.prev_series.drain() {
                let _ = store.append(&s, t, stale_nan());
            }
        }
        for s in self.stale_series.drain(..) {
            let _ = store.append(&s, t, stale_nan());
        }
        let _ = store.end_batch();
    }

    /// Prometheus's `RestoreForState`: active alerts of rules with a `for` of at least the grace
    /// period get back the active-since time recorded in `ALERTS_FOR_STATE`, shifted by the
    /// outage.
    fn restore_for_state(&mut self, now: i64, ctx: &Ctx<'_>) {
        let mint = now - ms(ctx.opts.outage_tolerance);
        let grace = ms(ctx.opts.for_grace_period);
        let store = ctx.store.read().unwrap_or_else(|p| p.into_inner());
        for rule in &mut self.rules {
            if !rule.spec.is_alerting() {
                continue;
            }
            let hold = rule.hold_ms();
            if hold < grace {
                rule.restored = true;
                continue;
            }
            for a in rule.active.values_mut() {
                let mut matchers = vec![Matcher::equal(crate::tsdb::METRIC_NAME, ALERTS_FOR_STATE_METRIC)];
                matchers.extend(a.labels.iter().map(|(k, v)| Matcher::equal(k, v)));
                let want = matchers.len();
                let Some(series) = store
                    .select(&matchers, mint, now)
                    .into_iter()
                    .find(|s| s.labels.len() == want)
                else {
                    continue;
                };
                let Some(last) = series.samples.last() else {
                    continue;
                };
                if is_stale_nan(last.v) {
                    continue;
                }
                // Prometheus works in whole seconds here (time.Unix(t/1000, 0)).
                let down_at = last.t.div_euclid(1000) * 1000;
                let restored_active = (last.v as i64) * 1000;
                let spent = down_at - restored_active;
                let remaining = hold - spent;
                let active_at = if remaining <= 0 {
                    // It was firing when the server went down; the next evaluation decides.
                    restored_active
                } else if remaining < grace {
                    now + grace - hold
                } else {
                    restored_active + (now - down_at)
                };
                a.active_at_ms = active_at;
            }
            rule.restored = true;
        }
    }

    /// Prometheus's `CopyState`: the state of rules with the same name and labels moves to the
    /// new group; series of old rules without a match are marked stale at the next evaluation.
    fn copy_state(&mut self, mut from: GroupState) {
        self.eval_seconds = from.eval_seconds;
        self.last_eval_ms = from.last_eval_ms;
        self.iterations = from.iterations;
        self.evaluations = from.evaluations;
        self.failures = from.failures;
        self.missed = from.missed;
        let mut by_key: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, r) in from.rules.iter().enumerate() {
            by_key.entry(r.key()).or_default().push(i);
        }
        for rule in &mut self.rules {
            let Some(list) = by_key.get_mut(&rule.key()) else {
                continue;
            };
            if list.is_empty() {
                continue;
            }
            let fi = list.remove(0);
            let old = &mut from.rules[fi];
            rule.prev_series = std::mem::take(&mut old.prev_series);
            if rule.spec.is_alerting() && old.spec.is_alerting() {
                rule.active = std::mem::take(&mut old.active);
            }
        }
        self.stale_series = std::mem::take(&mut from.stale_series);
        for list in by_key.values() {
            for &fi in list {
                self.stale_series.extend(from.rules[fi].prev_series.drain());
            }
        }
    }
}

fn eval_recording(rule: &RuleState, t: i64, limit: usize, ctx: &Ctx<'_>) -> Result<Vec<OutSample>, String> {
    let samples = query(ctx, &rule.spec.expr, t)?;
    let mut out = Vec::with_capacity(samples.len());
    let mut seen = HashSet::with_capacity(samples.len());
    for (labels, v, h) in samples {
        let mut b = crate::tsdb::LabelsBuilder::new(&labels);
        b.set(crate::tsdb::METRIC_NAME, rule.spec.name.as_str());
        for (k, val) in &rule.spec.labels {
            // An empty value removes the label, as Prometheus's labels.Builder does.
            if val.is_empty() {
                b.del(k);
            } else {
                b.set(k.as_str(), val.as_str());
            }
        }
        let l = b.build();
        if !seen.insert(l.clone()) {
            return Err(
                "vector contains metrics with the same labelset after applying rule labels".to_string(),
            );
        }
        out.push(OutSample { labels: l, t, v, h });
    }
    if limit > 0 && out.len() > limit {
        return Err(format!("exceeded limit of {limit} with {} series", out.len()));
    }
    Ok(out)
}

fn eval_alerting(
    rule: &mut RuleState,
    ts: i64,
    t: i64,
    limit: usize,
    ctx: &Ctx<'_>,
) -> Result<Vec<OutSample>, String> {
    let RuleKind::Alerting {
        for_ms,
        keep_firing_for_ms,
        ..
    } = rule.spec.kind
    else {
        return Ok(Vec::new());
    };
    let samples = query(ctx, &rule.spec.expr, t)?;
    let query_fn = |q: &str| -> Result<Vec<QuerySample>, String> {
        Ok(query(ctx, q, t)?
            .into_iter()
            .map(|(l, v, _)| QuerySample {
                labels: labels_map(&l),
                value: v,
            })
            .collect())
    };
    let name = rule.spec.name.clone();
    let expand = |tmpl: &Result<Template, String>, data: &AlertData| -> String {
        let res = match tmpl {
            Ok(t) => t.expand_alert(data, Some(&query_fn)).map_err(|e| e.0),
            Err(e) => Err(e.clone()),
        };
        match res {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(alert = %name, error = %e, "Expanding an alert template failed.");
                format!("<error expanding template: template: __alert_{name}:{e}>")
            }
        }
    };
    let mut fresh: HashMap<AlertKey, ActiveAlert> = HashMap::with_capacity(samples.len());
    for (labels, v, _) in samples {
        let data = AlertData {
            labels: labels_map(&labels),
            external_labels: ctx.opts.external_labels.clone(),
            external_url: ctx.opts.external_url.clone(),
            value: v,
        };
        let mut l = data.labels.clone();
        l.remove(crate::tsdb::METRIC_NAME);
        for (k, tmpl) in &rule.label_templates {
            let val = expand(tmpl, &data);
            if val.is_empty() {
                l.remove(k);
            } else {
                l.insert(k.clone(), val);
            }
        }
        l.insert("alertname".to_string(), rule.spec.name.clone());
        let annotations: BTreeMap<String, String> = rule
            .annotation_templates
            .iter()
            .map(|(k, tmpl)| (k.clone(), expand(tmpl, &data)))
            .collect();
        if fresh.contains_key(&l) {
            return Err(
                "vector contains metrics with the same labelset after applying alert labels".to_string(),
            );
        }
        fresh.insert(
            l.clone(),
            ActiveAlert {
                labels: l,
                annotations,
                state: AlertState::Pending,
                active_at_ms: ts,
                fired_at_ms: None,
                resolved_at_ms: None,
                last_sent_at_ms: None,
                valid_until_ms: 0,
                keep_firing_since_ms: None,
                value: v,
            },
        );
    }
    let returned: HashSet<AlertKey> = fresh.keys().cloned().collect();
    for (k, a) in fresh {
        match rule.active.get_mut(&k) {
            Some(old) if old.state != AlertState::Inactive => {
                old.value = a.value;
                old.annotations = a.annotations;
            }
            _ => {
                rule.active.insert(k, a);
            }
        }
    }
    let mut out = Vec::new();
    let mut active_count = 0usize;
    let mut remove = Vec::new();
    for (k, a) in rule.active.iter_mut() {
        if !returned.contains(k) {
            let mut keep_firing = false;
            if a.state == AlertState::Firing && keep_firing_for_ms > 0 {
                let since = *a.keep_firing_since_ms.get_or_insert(ts);
                keep_firing = ts - since < keep_firing_for_ms;
            }
            // Pending alerts go at once; resolved ones after the retention, so they are sent
            // as resolved meanwhile.
            if a.state == AlertState::Pending
                || a.resolved_at_ms.is_some_and(|r| ts - r > RESOLVED_RETENTION_MS)
            {
                remove.push(k.clone());
            }
            if a.state != AlertState::Inactive && !keep_firing {
                a.state = AlertState::Inactive;
                a.resolved_at_ms = Some(ts);
            }
            if !keep_firing {
                continue;
            }
        } else {
            a.keep_firing_since_ms = None;
        }
        active_count += 1;
        if a.state == AlertState::Pending && ts - a.active_at_ms >= for_ms {
            a.state = AlertState::Firing;
            a.fired_at_ms = Some(ts);
        }
        if rule.restored {
            let mut alerts = a.labels.clone();
            alerts.insert(crate::tsdb::METRIC_NAME.to_string(), ALERTS_METRIC.to_string());
            alerts.insert("alertstate".to_string(), a.state.as_str().to_string());
            out.push(OutSample {
                labels: map_labels(&alerts),
                t,
                v: 1.0,
                h: None,
            });
            let mut for_state = a.labels.clone();
            for_state.insert(
                crate::tsdb::METRIC_NAME.to_string(),
                ALERTS_FOR_STATE_METRIC.to_string(),
            );
            out.push(OutSample {
                labels: map_labels(&for_state),
                t,
                // Unix seconds, truncated as Go's Time.Unix() truncates.
                v: a.active_at_ms.div_euclid(1000) as f64,
                h: None,
            });
        }
    }
    for k in remove {
        rule.active.remove(&k);
    }
    if limit > 0 && active_count > limit {
        rule.active.clear();
        return Err(format!("exceeded limit of {limit} with {active_count} alerts"));
    }
    Ok(out)
}

/// Percent-encodes as Go's `url.QueryEscape`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// Prometheus's `sendAlerts` and the `sendAlerts` notify function of `cmd/prometheus`.
fn send_alerts(rule: &mut RuleState, ts: i64, interval_ms: i64, ctx: &Ctx<'_>) {
    let resend = ms(ctx.opts.resend_delay);
    let delta = resend.max(interval_ms);
    let generator_url = format!(
        "{}/graph?g0.expr={}&g0.tab=1",
        ctx.opts.external_url.trim_end_matches('/'),
        query_escape(&rule.spec.expr)
    );
    let mut batch = Vec::new();
    let mut keys: Vec<&AlertKey> = rule.active.keys().collect();
    keys.sort();
    let keys: Vec<AlertKey> = keys.into_iter().cloned().collect();
    for k in keys {
        let Some(a) = rule.active.get_mut(&k) else {
            continue;
        };
        if !a.needs_sending(ts, resend) {
            continue;
        }
        a.last_sent_at_ms = Some(ts);
        // Valid for two missed evaluations or sends.
        a.valid_until_ms = ts + 4 * delta;
        let mut labels = a.labels.clone();
        for (n, v) in &ctx.opts.external_labels {
            if labels.get(n).is_none_or(String::is_empty) {
                labels.insert(n.clone(), v.clone());
            }
        }
        batch.push(Alert {
            labels,
            annotations: a.annotations.clone(),
            starts_at_ms: a.fired_at_ms.unwrap_or(a.active_at_ms),
            ends_at_ms: a.resolved_at_ms.unwrap_or(a.valid_until_ms),
            generator_url: generator_url.clone(),
        });
    }
    if !batch.is_empty()
        && let Some(sink) = ctx.sink
    {
        sink(batch);
    }
}

// ---------------------------------------------------------------------------------------------
// Snapshots for the API and the dashboard

/// A rule as the API and the dashboard see it.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleSnapshot {
    /// The `record` or `alert` name.
    pub name: String,
    /// The expression.
    pub query: String,
    /// The rule's labels (templates, for alerting rules).
    pub labels: BTreeMap<String, String>,
    /// Health of the last evaluation.
    pub health: Health,
    /// The last evaluation's error.
    pub last_error: Option<String>,
    /// When it was last evaluated (ms).
    pub last_eval_ms: Option<i64>,
    /// How long its last evaluation took.
    pub eval_seconds: f64,
    /// `None` for a recording rule.
    pub alerting: Option<AlertingSnapshot>,
}

/// The alerting part of a [`RuleSnapshot`].
#[derive(Clone, Debug, PartialEq)]
pub struct AlertingSnapshot {
    /// `for` in ms.
    pub for_ms: i64,
    /// `keep_firing_for` in ms.
    pub keep_firing_for_ms: i64,
    /// Annotation templates.
    pub annotations: BTreeMap<String, String>,
    /// The rule's state: the highest of its alerts' states.
    pub state: AlertState,
    /// Its pending and firing alerts, sorted by labels.
    pub alerts: Vec<ActiveAlert>,
}

/// A group as the API and the dashboard see it.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupSnapshot {
    /// The name.
    pub name: String,
    /// The file it came from.
    pub file: String,
    /// The evaluation interval in ms.
    pub interval_ms: i64,
    /// `limit`.
    pub limit: usize,
    /// When it was last evaluated (ms).
    pub last_eval_ms: Option<i64>,
    /// How long the last evaluation took.
    pub eval_seconds: f64,
    /// The rules in order.
    pub rules: Vec<RuleSnapshot>,
}

impl GroupState {
    fn snapshot(&self) -> GroupSnapshot {
        GroupSnapshot {
            name: self.spec.name.clone(),
            file: self.spec.file.clone(),
            interval_ms: self.interval_ms,
            limit: self.spec.limit,
            last_eval_ms: self.last_eval_ms,
            eval_seconds: self.eval_seconds,
            rules: self
                .rules
                .iter()
                .map(|r| {
                    let alerting = match &r.spec.kind {
                        RuleKind::Recording => None,
                        RuleKind::Alerting {
                            for_ms,
                            keep_firing_for_ms,
                            annotations,
                        } => {
                            let mut alerts: Vec<ActiveAlert> = r
                                .active
                                .values()
                                .filter(|a| a.state != AlertState::Inactive)
                                .cloned()
                                .collect();
                            alerts.sort_by(|a, b| a.labels.cmp(&b.labels));
                            let state = alerts
                                .iter()
                                .map(|a| a.state)
                                .max()
                                .unwrap_or(AlertState::Inactive);
                            Some(AlertingSnapshot {
                                for_ms: *for_ms,
                                keep_firing_for_ms: *keep_firing_for_ms,
                                annotations: annotations.clone(),
                                state,
                                alerts,
                            })
                        }
                    };
                    RuleSnapshot {
                        name: r.spec.name.clone(),
                        query: r.spec.expr.clone(),
                        labels: r.spec.labels.clone(),
                        health: r.health,
                        last_error: r.last_error.clone(),
                        last_eval_ms: r.last_eval_ms,
                        eval_seconds: r.eval_seconds,
                        alerting,
                    }
                })
                .collect(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The manager

type GroupHandle = Arc<Mutex<GroupState>>;

struct Running {
    cancel: CancellationToken,
    /// The runtime `run` was called on, so a reload from any thread starts its tasks there.
    handle: tokio::runtime::Handle,
    tasks: Vec<(GroupHandle, CancellationToken, tokio::task::JoinHandle<()>)>,
}

struct Inner {
    store: SharedStorage,
    engine: Engine,
    opts: ManagerOptions,
    sink: Option<AlertSink>,
    groups: Mutex<Vec<GroupHandle>>,
    running: Mutex<Option<Running>>,
}

/// Evaluates rule groups over a store (see the [module docs](self)). Cheap to clone: clones
/// share the groups.
#[derive(Clone)]
pub struct RuleManager {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RuleManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleManager")
            .field("groups", &self.lock_groups().len())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl RuleManager {
    /// A manager over `store` with the groups of `files`; alerts go to `sink` (none: they are
    /// only kept for the API). Nothing is evaluated until [`run`](Self::run) or
    /// [`evaluate_at`](Self::evaluate_at).
    ///
    /// Rules start un-restored: the first [`run`](Self::run) restores their `for` state from
    /// `ALERTS_FOR_STATE` after its second evaluation and writes `ALERTS` from then on.
    pub fn new(
        files: Vec<RuleFile>,
        store: SharedStorage,
        opts: ManagerOptions,
        sink: Option<AlertSink>,
    ) -> Self {
        let groups = files
            .into_iter()
            .flat_map(|f| f.groups)
            .map(|g| Arc::new(Mutex::new(GroupState::new(g, &opts, false))))
            .collect();
        RuleManager {
            inner: Arc::new(Inner {
                store,
                engine: Engine::new(opts.engine.clone()),
                opts,
                sink,
                groups: Mutex::new(groups),
                running: Mutex::new(None),
            }),
        }
    }

    fn lock_groups(&self) -> std::sync::MutexGuard<'_, Vec<GroupHandle>> {
        lock(&self.inner.groups)
    }

    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            store: &self.inner.store,
            engine: &self.inner.engine,
            opts: &self.inner.opts,
            sink: self.inner.sink.as_ref(),
        }
    }

    /// The settings.
    pub fn options(&self) -> &ManagerOptions {
        &self.inner.opts
    }

    /// Evaluates every group once at `ts` (ms), in file order, on this thread: what `promtool
    /// test rules` does at each step, and what tests and benchmarks use to drive the manager
    /// without a clock.
    pub fn evaluate_at(&self, ts: i64) {
        let groups: Vec<GroupHandle> = self.lock_groups().clone();
        let ctx = self.ctx();
        for g in groups {
            lock(&g).eval(ts, &ctx);
        }
    }

    /// Evaluates the group `name` (of any file) once at `ts`; false when there is none.
    pub fn evaluate_group_at(&self, name: &str, ts: i64) -> bool {
        let groups: Vec<GroupHandle> = self.lock_groups().clone();
        let ctx = self.ctx();
        let mut found = false;
        for g in groups {
            let mut g = lock(&g);
            if g.spec.name == name {
                g.eval(ts, &ctx);
                found = true;
            }
        }
        found
    }

    /// Restores the `for` state of every group's active alerts at `now` (ms) and starts writing
    /// `ALERTS` (see the module docs); [`run`](Self::run) calls it itself.
    pub fn restore_for_state(&self, now: i64) {
        let groups: Vec<GroupHandle> = self.lock_groups().clone();
        let ctx = self.ctx();
        for g in groups {
            lock(&g).restore_for_state(now, &ctx);
        }
    }

    /// Marks every rule as restored without looking at `ALERTS_FOR_STATE` (a fresh store), so
    /// `ALERTS` is written from the next evaluation.
    pub fn set_restored(&self) {
        for g in self.lock_groups().iter() {
            for r in &mut lock(g).rules {
                r.restored = true;
            }
        }
    }

    /// Every group's state.
    pub fn groups(&self) -> Vec<GroupSnapshot> {
        self.lock_groups().iter().map(|g| lock(g).snapshot()).collect()
    }

    /// Every pending and firing alert, by rule in file order.
    pub fn alerts(&self) -> Vec<ActiveAlert> {
        self.groups()
            .into_iter()
            .flat_map(|g| g.rules)
            .filter_map(|r| r.alerting)
            .flat_map(|a| a.alerts)
            .collect()
    }

    /// Replaces the rule files, as Prometheus's `Manager.Update`: unchanged groups keep running
    /// untouched; changed ones keep the state (alerts, series for staleness) of rules with the
    /// same name and labels; series of dropped rules and groups get staleness markers. Rules
    /// new in this reload write `ALERTS` at once (only the first load restores state).
    pub fn reload(&self, files: Vec<RuleFile>) {
        let now = crate::tsdb::wall_clock_ms();
        let opts = &self.inner.opts;
        let mut groups = self.lock_groups();
        let mut running = lock(&self.inner.running);
        let mut old: Vec<GroupHandle> = std::mem::take(&mut *groups);
        let mut next: Vec<GroupHandle> = Vec::new();
        let mut started: Vec<GroupHandle> = Vec::new();
        for spec in files.into_iter().flat_map(|f| f.groups) {
            let pos = old.iter().position(|g| {
                let g = lock(g);
                g.spec.file == spec.file && g.spec.name == spec.name
            });
            match pos {
                Some(i) if lock(&old[i]).spec == spec => next.push(old.remove(i)),
                Some(i) => {
                    let prev = old.remove(i);
                    stop_task(&mut running, &prev);
                    let mut fresh = GroupState::new(spec, opts, true);
                    let taken = {
                        let mut p = lock(&prev);
                        let blank = GroupState::new(p.spec.clone(), opts, true);
                        std::mem::replace(&mut *p, blank)
                    };
                    fresh.copy_state(taken);
                    let h = Arc::new(Mutex::new(fresh));
                    started.push(h.clone());
                    next.push(h);
                }
                None => {
                    let h = Arc::new(Mutex::new(GroupState::new(spec, opts, true)));
                    started.push(h.clone());
                    next.push(h);
                }
            }
        }
        for gone in old {
            stop_task(&mut running, &gone);
            lock(&gone).mark_all_stale(now, &self.inner.store);
        }
        if let Some(r) = running.as_mut() {
            for g in started {
                let token = r.cancel.child_token();
                let task = r
                    .handle
                    .spawn(group_loop(self.clone(), g.clone(), token.clone(), false));
                r.tasks.push((g, token, task));
            }
        }
        *groups = next;
    }

    /// Evaluates every group on its interval until `cancel` fires (then waits for evaluations
    /// in flight). Run it as a task: `tokio::spawn(manager.clone().run(token))`.
    pub async fn run(self, cancel: CancellationToken) {
        {
            let groups = self.lock_groups().clone();
            let mut running = lock(&self.inner.running);
            let mut tasks = Vec::new();
            for g in groups {
                let token = cancel.child_token();
                // Only groups whose rules were never restored restore (the first run).
                let restore = lock(&g).rules.iter().any(|r| r.spec.is_alerting() && !r.restored);
                let task = tokio::spawn(group_loop(self.clone(), g.clone(), token.clone(), restore));
                tasks.push((g, token, task));
            }
            *running = Some(Running {
                cancel: cancel.clone(),
                handle: tokio::runtime::Handle::current(),
                tasks,
            });
        }
        cancel.cancelled().await;
        let tasks = lock(&self.inner.running)
            .take()
            .map(|r| r.tasks)
            .unwrap_or_default();
        for (_, _, t) in tasks {
            let _ = t.await;
        }
    }

    /// The `prometheus_rule_*` self-metrics in the Prometheus text format, labelled
    /// `rule_group="<file>;<group>"` as Prometheus labels them.
    pub fn metrics_text(&self) -> String {
        let rows: Vec<GroupRow> = self.lock_groups().iter().map(|g| lock(g).row()).collect();
        let mut out = String::new();
        for f in FAMILIES {
            let _ = writeln!(out, "# HELP {} {}\n# TYPE {} {}", f.name, f.help, f.name, f.kind);
            for r in &rows {
                // -1 for a group never evaluated (Prometheus writes its zero time's Unix seconds).
                let v = (f.number)(r).unwrap_or(-1.0);
                let _ = writeln!(
                    out,
                    "{}{{rule_group=\"{}\"}} {}",
                    f.name,
                    r.key,
                    burnwatch_gofmt::format_exposition(v)
                );
            }
        }
        out
    }
}

/// One group's numbers for [`RuleManager::metrics_text`].
struct GroupRow {
    key: String,
    interval_ms: i64,
    eval_seconds: f64,
    evaluations: u64,
    failures: u64,
    iterations: u64,
    missed: u64,
    rules: usize,
    last_eval_ms: Option<i64>,
}

/// One metric family of [`RuleManager::metrics_text`].
struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    /// The value; `None`: not written into the store (a group never evaluated).
    number: fn(&GroupRow) -> Option<f64>,
}

const FAMILIES: [Family; 8] = [
    Family {
        name: "prometheus_rule_evaluations_total",
        kind: "counter",
        help: "The total number of rule evaluations.",
        number: |r| Some(r.evaluations as f64),
    },
    Family {
        name: "prometheus_rule_evaluation_failures_total",
        kind: "counter",
        help: "The total number of rule evaluation failures.",
        number: |r| Some(r.failures as f64),
    },
    Family {
        name: "prometheus_rule_group_last_duration_seconds",
        kind: "gauge",
        help: "The duration of the last rule group evaluation.",
        number: |r| Some(r.eval_seconds),
    },
    Family {
        name: "prometheus_rule_group_interval_seconds",
        kind: "gauge",
        help: "The interval of a rule group.",
        number: |r| Some(r.interval_ms as f64 / 1000.0),
    },
    Family {
        name: "prometheus_rule_group_iterations_total",
        kind: "counter",
        help: "The total number of scheduled rule group evaluations, whether executed or missed.",
        number: |r| Some((r.iterations + r.missed) as f64),
    },
    Family {
        name: "prometheus_rule_group_iterations_missed_total",
        kind: "counter",
        help: "The total number of rule group evaluations missed due to slow rule group evaluation.",
        number: |r| Some(r.missed as f64),
    },
    Family {
        name: "prometheus_rule_group_rules",
        kind: "gauge",
        help: "The number of rules.",
        number: |r| Some(r.rules as f64),
    },
    Family {
        name: "prometheus_rule_group_last_evaluation_timestamp_seconds",
        kind: "gauge",
        help: "The timestamp of the last rule group evaluation in seconds.",
        number: |r| r.last_eval_ms.map(|t| t as f64 / 1000.0),
    },
];

fn stop_task(running: &mut Option<Running>, g: &GroupHandle) {
    if let Some(r) = running.as_mut()
        && let Some(i) = r.tasks.iter().position(|(h, _, _)| Arc::ptr_eq(h, g))
    {
        let (_, token, task) = r.tasks.remove(i);
        token.cancel();
        // The task ends at its next await; an evaluation in flight holds the group's lock, so
        // the caller's later lock waits for it.
        drop(task);
    }
}

/// Sleeps until wall-clock time `t` (ms); false when cancelled first.
async fn sleep_until(t: i64, cancel: &CancellationToken) -> bool {
    let wait = (t - crate::tsdb::wall_clock_ms()).max(0);
    tokio::select! {
        () = cancel.cancelled() => false,
        () = tokio::time::sleep(Duration::from_millis(u64::try_from(wait).unwrap_or(0))) => true,
    }
}

/// Prometheus's `Group.run`: the first evaluation one interval after the aligned start, then
/// every interval; missed intervals are counted and skipped.
async fn group_loop(m: RuleManager, g: GroupHandle, cancel: CancellationToken, restore: bool) {
    let (interval, mut ts) = {
        let g = lock(&g);
        (
            g.interval_ms,
            g.eval_timestamp(crate::tsdb::wall_clock_ms()) + g.interval_ms,
        )
    };
    let iter = |ts: i64| {
        let m = m.clone();
        let g = g.clone();
        tokio::task::spawn_blocking(move || lock(&g).eval(ts, &m.ctx()))
    };
    if !sleep_until(ts, &cancel).await {
        return;
    }
    let _ = iter(ts).await;
    if restore {
        // As Prometheus: restore after a second evaluation, so recording rules the alerts
        // depend on have caught up.
        ts += interval;
        if !sleep_until(ts, &cancel).await {
            return;
        }
        let _ = iter(ts).await;
        let (m2, g2) = (m.clone(), g.clone());
        let now = crate::tsdb::wall_clock_ms();
        let _ = tokio::task::spawn_blocking(move || lock(&g2).restore_for_state(now, &m2.ctx())).await;
    }
    loop {
        if !sleep_until(ts + interval, &cancel).await {
            return;
        }
        let now = crate::tsdb::wall_clock_ms();
        let missed = ((now - ts) / interval - 1).max(0);
        if missed > 0 {
            lock(&g).missed += u64::try_from(missed).unwrap_or(0);
        }
        ts += (missed + 1) * interval;
        let _ = iter(ts).await;
    }
}
