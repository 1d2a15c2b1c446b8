//! OpenSLO v1 (<https://github.com/OpenSLO/OpenSLO>, `apiVersion: openslo/v1`).
//!
//! A file holds several YAML documents. `kind: SLO` documents become [`SloSpec`]s; `kind: SLI`
//! documents are the indicators they name with `indicatorRef`; `kind: DataSource` documents give a
//! `metricSourceRef` its type; `kind: Service` documents are accepted and otherwise not used.
//!
//! ```yaml
//! apiVersion: openslo/v1
//! kind: SLO
//! metadata: {name: availability}
//! spec:
//!   service: checkout
//!   indicator:
//!     metadata: {name: checkout-errors}
//!     spec:
//!       ratioMetric:
//!         counter: true
//!         bad:
//!           metricSource:
//!             type: Prometheus
//!             spec: {query: 'sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))'}
//!         total:
//!           metricSource:
//!             type: Prometheus
//!             spec: {query: 'sum(rate(http_requests_total[{{.window}}]))'}
//!   timeWindow: [{duration: 28d, isRolling: true}]
//!   budgetingMethod: Occurrences
//!   objectives: [{displayName: Availability, target: 0.999}]
//! ```
//!
//! How each form maps to the model (every query is PromQL, `type: Prometheus` or a
//! `metricSourceRef` naming a `DataSource` of that type; its `spec` has only `query`):
//!
//! * **Names.** An SLO with one objective keeps `metadata.name`. With several, each objective is
//!   its own [`SloSpec`] named `<metadata.name>-<displayName as a slug>` (`Fast Checkout` →
//!   `-fast-checkout`), or `<metadata.name>-<index>` when it has no displayName. The alert name
//!   is the SLO name in UpperCamelCase (`checkout-availability` → `CheckoutAvailability`).
//! * **ratioMetric**, as Sloth's OpenSLO reader: queries are rates over `{{.window}}`, which every
//!   query must contain. `good` + `total` → events with error query `(total) - (good)`; `bad` +
//!   `total` → events directly; `raw` with `rawType: failure` → the raw error ratio, with
//!   `rawType: success` → `1 - (raw)`. `counter` is not read: the queries say `rate` themselves.
//!   `op` and `value` on a ratio objective are not read (OpenSLO only uses them for thresholds).
//! * **thresholdMetric** (one objective, with `op` and `value`): the query is an instantaneous
//!   value sampled every minute, so it must not contain `{{.window}}` (give its own rates a fixed
//!   range). A sample is bad when it fails `op value`; the error ratio is the share of bad samples:
//!   `avg_over_time(((QUERY) BAD bool VALUE)[{{.window}}:1m])` with `BAD` the negated `op`
//!   (`lte` → `>`, `lt` → `>=`, `gte` → `<`, `gt` → `<=`).
//! * **Timeslices** (`timeSliceWindow` S, a duration or a number of minutes, and
//!   `timeSliceTarget` T): a slice is bad when its own error ratio E exceeds `1 - T`, and the
//!   error ratio is the share of bad slices:
//!   `avg_over_time(((E) > bool (1 - T))[{{.window}}:S])`. For a ratio SLI, E is the ratio with
//!   `{{.window}}` replaced by S (`(bad[S]) / (total[S])`, each slice evaluated over exactly its
//!   own S); for a threshold SLI, E is the share of bad 1-minute samples inside the slice,
//!   `avg_over_time(((QUERY) BAD bool VALUE)[S:1m])`. A slice with no data (E is NaN: no
//!   requests) counts as good, because PromQL's `bool` comparisons give 0 for NaN.
//!   `RatioTimeslices` is refused.
//! * **timeWindow**: one entry. Rolling (`isRolling: true`, the default without `calendar`) →
//!   [`Period::Rolling`]; calendar-aligned (`isRolling: false` or a `calendar`) →
//!   [`Period::Calendar`] in whole days, weeks, months, quarters or years. `M`, `Q` and `Y` have the
//!   nominal lengths 30, 90 and 365 days (OpenSLO leaves this to implementations). Without a
//!   `timeWindow` the period is 30 days.
//! * **Latency** from a classic histogram is written as a ratio: `good` is the rate of
//!   `<metric>_bucket{le="THRESHOLD"}`, `total` the rate of `<metric>_count`. The
//!   [`Sli::Latency`] form (which `slo status` checks against the bucket boundaries) stays a Sloth
//!   extension, so OpenSLO files remain portable.
//! * **alertPolicies** (and `AlertPolicy` / `AlertCondition` / `AlertNotificationTarget`
//!   documents) are refused rather than ignored: burnwatch alerts with the multiwindow table
//!   (`--windows FILE`), and an ignored policy would look like it was in force.
//!
//! Errors name the file, the document and the field:
//! `slo.yaml: SLO "checkout-availability" (document 2) spec.objectives[0].target must be in (0,
//! 1), got 1.5`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::{SpecError, typed};
use crate::slo::math::{self, prometheus_duration};
use crate::slo::model::{CalendarUnit, fill_window, has_window};
use crate::slo::{AlertSpec, Alerting, BudgetingMethod, Period, Sli, SloSpec, WindowTable};

/// The `apiVersion` burnwatch reads.
pub const API_VERSION: &str = "openslo/v1";

/// How often a threshold metric is sampled: each sample is one occurrence.
pub const SAMPLE_RESOLUTION: Duration = Duration::from_secs(60);

/// Whether a parsed YAML document claims to be OpenSLO (any version; the version is checked by
/// [`parse`] so that a `v1alpha` file gets a precise error).
pub fn is_openslo(doc: &serde_norway::Value) -> bool {
    doc.get("apiVersion")
        .and_then(|v| v.as_str())
        .is_some_and(|v| v.starts_with("openslo/"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Metadata {
    name: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, LabelValue>,
    #[serde(default)]
    #[allow(dead_code)]
    annotations: BTreeMap<String, String>,
}

/// OpenSLO label values are a string or a list of strings.
#[derive(Deserialize)]
#[serde(untagged)]
enum LabelValue {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Object<S> {
    #[allow(dead_code)]
    api_version: String,
    #[allow(dead_code)]
    kind: String,
    metadata: Metadata,
    spec: S,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SloBody {
    #[serde(default)]
    description: String,
    service: String,
    #[serde(default)]
    indicator: Option<InlineSli>,
    #[serde(default)]
    indicator_ref: Option<String>,
    #[serde(default)]
    time_window: Vec<TimeWindow>,
    budgeting_method: String,
    objectives: Vec<Objective>,
    #[serde(default)]
    alert_policies: Option<serde_norway::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TimeWindow {
    duration: String,
    #[serde(default)]
    is_rolling: Option<bool>,
    #[serde(default)]
    calendar: Option<Calendar>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Calendar {
    start_time: String,
    time_zone: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Objective {
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    op: Option<String>,
    #[serde(default)]
    value: Option<f64>,
    #[serde(default)]
    target: Option<f64>,
    #[serde(default)]
    target_percent: Option<f64>,
    #[serde(default)]
    time_slice_target: Option<f64>,
    #[serde(default)]
    time_slice_window: Option<SliceWindow>,
    #[serde(default)]
    indicator: Option<InlineSli>,
    #[serde(default)]
    indicator_ref: Option<String>,
    #[serde(default)]
    composite_weight: Option<f64>,
}

/// `timeSliceWindow`: a duration shorthand, or a bare number of minutes.
#[derive(Deserialize)]
#[serde(untagged)]
enum SliceWindow {
    Minutes(f64),
    Shorthand(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InlineSli {
    /// Required by OpenSLO (and so checked), but an inline SLI is known by its place, not its name.
    #[allow(dead_code)]
    metadata: Metadata,
    spec: SliBody,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SliBody {
    #[serde(default)]
    #[allow(dead_code)]
    description: String,
    #[serde(default)]
    threshold_metric: Option<MetricWrap>,
    #[serde(default)]
    ratio_metric: Option<RatioMetric>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct MetricWrap {
    metric_source: MetricSource,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct MetricSource {
    #[serde(default)]
    metric_source_ref: Option<String>,
    #[serde(default, rename = "type")]
    source_type: Option<String>,
    #[serde(default)]
    spec: serde_norway::Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RatioMetric {
    #[serde(default)]
    #[allow(dead_code)]
    counter: Option<bool>,
    #[serde(default)]
    good: Option<MetricWrap>,
    #[serde(default)]
    bad: Option<MetricWrap>,
    #[serde(default)]
    total: Option<MetricWrap>,
    #[serde(default)]
    raw_type: Option<String>,
    #[serde(default)]
    raw: Option<MetricWrap>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DataSourceBody {
    #[serde(default)]
    #[allow(dead_code)]
    description: String,
    #[serde(rename = "type")]
    source_type: String,
    #[serde(default)]
    #[allow(dead_code)]
    connection_details: serde_norway::Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceBody {
    #[serde(default)]
    #[allow(dead_code)]
    description: String,
}

/// Where a message points: `SLO "name" (document 2)`, then a field path inside that document.
#[derive(Clone)]
struct Ctx<'a> {
    file: &'a str,
    label: String,
}

impl<'a> Ctx<'a> {
    fn new(file: &'a str, kind: &str, name: Option<&str>, doc: usize) -> Self {
        let label = match name {
            Some(n) => format!("{kind} {n:?} (document {doc})"),
            None => format!("{kind} (document {doc})"),
        };
        Ctx { file, label }
    }

    fn err(&self, path: impl AsRef<str>, message: impl Into<String>) -> SpecError {
        let path = path.as_ref();
        let full = if path.is_empty() {
            self.label.clone()
        } else {
            format!("{} {path}", self.label)
        };
        SpecError::new(self.file, full, message)
    }

    /// Puts this context in front of an error from [`typed`].
    fn wrap(&self, e: SpecError) -> SpecError {
        self.err(e.path, e.message)
    }
}

/// An indicator reduced to PromQL templates, before an objective picks the budgeting method.
#[derive(Clone, Debug)]
enum Indicator {
    /// Error and total rates over `{{.window}}`.
    Ratio { error: String, total: String },
    /// An error ratio over `{{.window}}`.
    ErrorRatio(String),
    /// An instantaneous value, compared with the objective's `op` and `value`.
    Threshold(String),
}

/// Reads the OpenSLO documents of one file: `(document number, 1-based; document)`.
pub fn parse(
    docs: &[(usize, serde_norway::Value)],
    file: &str,
    default_period: Duration,
) -> Result<Vec<SloSpec>, SpecError> {
    // Pass 1: check every document's header and collect the named objects SLOs refer to.
    let mut data_sources: BTreeMap<String, String> = BTreeMap::new();
    let mut sli_docs: Vec<(usize, &serde_norway::Value)> = Vec::new();
    let mut slo_docs: Vec<(usize, &serde_norway::Value)> = Vec::new();
    for (n, doc) in docs {
        let kind = doc.get("kind").and_then(|k| k.as_str()).unwrap_or("");
        let name = doc
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(|v| v.as_str());
        let ctx = Ctx::new(file, if kind.is_empty() { "object" } else { kind }, name, *n);
        let version = doc.get("apiVersion").and_then(|v| v.as_str()).unwrap_or("");
        if version != API_VERSION {
            let hint = if version == "openslo/v1alpha" {
                " (Sloth's format: move ratioMetrics into spec.indicator.spec.ratioMetric and \
                 timeWindows into timeWindow)"
            } else {
                ""
            };
            return Err(ctx.err(
                "apiVersion",
                format!("is {version:?}; burnwatch reads {API_VERSION:?}{hint}"),
            ));
        }
        if name.is_none() {
            return Err(ctx.err("metadata.name", "is required"));
        }
        match kind {
            "SLO" => slo_docs.push((*n, doc)),
            "SLI" => sli_docs.push((*n, doc)),
            "DataSource" => {
                let o: Object<DataSourceBody> = typed(doc.clone(), file).map_err(|e| ctx.wrap(e))?;
                data_sources.insert(o.metadata.name, o.spec.source_type);
            }
            "Service" => {
                let _: Object<ServiceBody> = typed(doc.clone(), file).map_err(|e| ctx.wrap(e))?;
            }
            "AlertPolicy" | "AlertCondition" | "AlertNotificationTarget" => {
                return Err(ctx.err(
                    "kind",
                    format!(
                        "{kind} is not read by burnwatch: alerts come from the multiwindow table \
                         (the Workbook's, or an AlertWindows file given with --windows)"
                    ),
                ));
            }
            "" => return Err(ctx.err("kind", "is required")),
            other => {
                return Err(ctx.err(
                    "kind",
                    format!("{other:?} is not an OpenSLO v1 kind (SLO, SLI, DataSource, Service)"),
                ));
            }
        }
    }
    let reader = Reader { file, data_sources };
    let mut slis: BTreeMap<String, (usize, Indicator)> = BTreeMap::new();
    for (n, doc) in sli_docs {
        let name = doc
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(|v| v.as_str());
        let ctx = Ctx::new(file, "SLI", name, n);
        let o: Object<SliBody> = typed(doc.clone(), file).map_err(|e| ctx.wrap(e))?;
        if let Some((prev, _)) = slis.get(&o.metadata.name) {
            return Err(ctx.err(
                "metadata.name",
                format!("{:?} is already used by document {prev}", o.metadata.name),
            ));
        }
        let indicator = reader.indicator(&o.spec, &ctx, "spec")?;
        slis.insert(o.metadata.name, (n, indicator));
    }
    if slo_docs.is_empty() {
        return Err(SpecError::new(file, "", "has no OpenSLO `kind: SLO` document"));
    }
    let mut out: Vec<SloSpec> = Vec::new();
    for (n, doc) in slo_docs {
        let name = doc
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(|v| v.as_str());
        let ctx = Ctx::new(file, "SLO", name, n);
        let o: Object<SloBody> = typed(doc.clone(), file).map_err(|e| ctx.wrap(e))?;
        for spec in reader.slo(o, &ctx, &slis, default_period)? {
            if let Some(prev) = out.iter().find(|s| s.id() == spec.id()) {
                return Err(ctx.err(
                    "metadata.name",
                    format!(
                        "gives the SLO id {:?}, already used by {}",
                        spec.id(),
                        prev.origin
                    ),
                ));
            }
            out.push(spec);
        }
    }
    Ok(out)
}

struct Reader<'a> {
    file: &'a str,
    data_sources: BTreeMap<String, String>,
}

impl Reader<'_> {
    fn slo(
        &self,
        o: Object<SloBody>,
        ctx: &Ctx<'_>,
        slis: &BTreeMap<String, (usize, Indicator)>,
        default_period: Duration,
    ) -> Result<Vec<SloSpec>, SpecError> {
        let meta = o.metadata;
        let body = o.spec;
        if !valid_name(&meta.name) {
            return Err(ctx.err(
                "metadata.name",
                format!("{:?} must use only letters, digits, '-' and '_'", meta.name),
            ));
        }
        if body.service.trim().is_empty() {
            return Err(ctx.err("spec.service", "must not be empty"));
        }
        if body.alert_policies.as_ref().is_some_and(|p| !is_empty_value(p)) {
            return Err(ctx.err(
                "spec.alertPolicies",
                "is not read by burnwatch: alerts come from the multiwindow table (the Workbook's, or an \
                 AlertWindows file given with --windows); remove it",
            ));
        }
        let labels = labels(&meta.labels, ctx)?;
        let period = period(&body.time_window, ctx, default_period)?;
        if body.objectives.is_empty() {
            return Err(ctx.err("spec.objectives", "must list at least one objective"));
        }
        let slo_sli = match (&body.indicator, &body.indicator_ref) {
            (Some(_), Some(_)) => {
                return Err(ctx.err("spec", "must have only one of indicator or indicatorRef"));
            }
            (Some(inline), None) => Some(self.indicator(&inline.spec, ctx, "spec.indicator.spec")?),
            (None, Some(r)) => Some(lookup(slis, r, ctx, "spec.indicatorRef")?),
            (None, None) => None,
        };
        let several = body.objectives.len() > 1;
        let mut out = Vec::with_capacity(body.objectives.len());
        for (i, obj) in body.objectives.iter().enumerate() {
            let at = format!("spec.objectives[{i}]");
            let sli = match (&obj.indicator, &obj.indicator_ref, &slo_sli) {
                (Some(_), Some(_), _) => {
                    return Err(ctx.err(&at, "must have only one of indicator or indicatorRef"));
                }
                (Some(inline), None, _) => {
                    self.indicator(&inline.spec, ctx, &format!("{at}.indicator.spec"))?
                }
                (None, Some(r), _) => lookup(slis, r, ctx, &format!("{at}.indicatorRef"))?,
                (None, None, Some(s)) => s.clone(),
                (None, None, None) => {
                    return Err(ctx.err("spec", "must have one of indicator or indicatorRef"));
                }
            };
            if obj.composite_weight.is_some() {
                return Err(ctx.err(
                    format!("{at}.compositeWeight"),
                    "belongs to composite SLOs, which burnwatch does not read",
                ));
            }
            if several && matches!(sli, Indicator::Threshold(_)) {
                return Err(ctx.err(
                    "spec.objectives",
                    "must have exactly one entry for a thresholdMetric SLI (OpenSLO v1, Notes (SLO))",
                ));
            }
            let objective_percent = objective_percent(obj, ctx, &at)?;
            let budgeting = budgeting(&body.budgeting_method, obj, ctx, &at, period.length())?;
            let sli = build_sli(&sli, obj, budgeting, ctx, &at)?;
            let name = if several {
                let suffix = obj.display_name.as_deref().map(slug).filter(|s| !s.is_empty());
                format!("{}-{}", meta.name, suffix.unwrap_or_else(|| i.to_string()))
            } else {
                meta.name.clone()
            };
            let description = if body.description.trim().is_empty() {
                meta.display_name.clone().unwrap_or_default()
            } else {
                body.description.clone()
            };
            out.push(SloSpec {
                service: body.service.clone(),
                alerting: Alerting {
                    name: upper_camel(&name),
                    labels: BTreeMap::new(),
                    annotations: BTreeMap::new(),
                    page: AlertSpec::default(),
                    ticket: AlertSpec::default(),
                },
                name,
                description,
                objective_percent,
                labels: labels.clone(),
                sli,
                period,
                budgeting,
                windows: WindowTable::default(),
                origin: format!("{}: {} {at}", self.file, ctx.label),
                spec_format: "openslo/v1",
            });
        }
        Ok(out)
    }

    /// Reads an SLI body into PromQL templates. `base` is the path of the body in its document.
    fn indicator(&self, body: &SliBody, ctx: &Ctx<'_>, base: &str) -> Result<Indicator, SpecError> {
        match (&body.ratio_metric, &body.threshold_metric) {
            (Some(_), Some(_)) | (None, None) => {
                Err(ctx.err(base, "must have exactly one of ratioMetric or thresholdMetric"))
            }
            (None, Some(t)) => {
                let path = format!("{base}.thresholdMetric.metricSource");
                let q = self.query(&t.metric_source, ctx, &path)?;
                if has_window(&q) {
                    return Err(ctx.err(
                        format!("{path}.spec.query"),
                        "must not contain {{.window}}: a threshold metric is sampled every minute (or per \
                         time slice), so give its own rates a fixed range such as [5m]",
                    ));
                }
                Ok(Indicator::Threshold(q))
            }
            (Some(r), None) => {
                let path = format!("{base}.ratioMetric");
                let windowed = |m: &MetricWrap, field: &str| -> Result<String, SpecError> {
                    let at = format!("{path}.{field}.metricSource");
                    let q = self.query(&m.metric_source, ctx, &at)?;
                    if !has_window(&q) {
                        return Err(ctx.err(
                            format!("{at}.spec.query"),
                            "must contain {{.window}} (the range of its rates, filled in per alert window), \
                             as in Sloth's OpenSLO support",
                        ));
                    }
                    Ok(q)
                };
                if let Some(raw) = &r.raw {
                    if r.good.is_some() || r.bad.is_some() || r.total.is_some() {
                        return Err(ctx.err(format!("{path}.raw"), "cannot be used with good, bad or total"));
                    }
                    let q = windowed(raw, "raw")?;
                    return match r.raw_type.as_deref() {
                        Some("failure") => Ok(Indicator::ErrorRatio(q)),
                        Some("success") => Ok(Indicator::ErrorRatio(format!("1 - ({})", q.trim()))),
                        Some(other) => Err(ctx.err(
                            format!("{path}.rawType"),
                            format!("must be success or failure, got {other:?}"),
                        )),
                        None => Err(ctx.err(
                            format!("{path}.rawType"),
                            "is required with raw (success or failure)",
                        )),
                    };
                }
                if r.raw_type.is_some() {
                    return Err(ctx.err(format!("{path}.rawType"), "is only used with raw"));
                }
                let Some(total) = &r.total else {
                    return Err(ctx.err(path, "must have total with good or bad, or raw with rawType"));
                };
                match (&r.good, &r.bad) {
                    (Some(good), None) => {
                        let good = windowed(good, "good")?;
                        let total = windowed(total, "total")?;
                        Ok(Indicator::Ratio {
                            error: format!("({}) - ({})", total.trim(), good.trim()),
                            total,
                        })
                    }
                    (None, Some(bad)) => Ok(Indicator::Ratio {
                        error: windowed(bad, "bad")?,
                        total: windowed(total, "total")?,
                    }),
                    _ => Err(ctx.err(path, "must have exactly one of good or bad next to total")),
                }
            }
        }
    }

    /// The PromQL query of a metric source, after checking that it is Prometheus.
    fn query(&self, ms: &MetricSource, ctx: &Ctx<'_>, path: &str) -> Result<String, SpecError> {
        let source_type = match (&ms.source_type, &ms.metric_source_ref) {
            (Some(t), _) => t.clone(),
            (None, Some(r)) => match self.data_sources.get(r) {
                Some(t) => t.clone(),
                None => {
                    return Err(ctx.err(
                        format!("{path}.metricSourceRef"),
                        format!("{r:?} names no DataSource in this file; add one or give `type: Prometheus`"),
                    ));
                }
            },
            (None, None) => {
                return Err(ctx.err(
                    path,
                    "needs `type: Prometheus` (or a metricSourceRef to a DataSource)",
                ));
            }
        };
        if !source_type.eq_ignore_ascii_case("prometheus") {
            return Err(ctx.err(
                format!("{path}.type"),
                format!("is {source_type:?}; burnwatch evaluates PromQL, so the type must be Prometheus"),
            ));
        }
        let Some(map) = ms.spec.as_mapping() else {
            return Err(ctx.err(format!("{path}.spec"), "must be a mapping with a query"));
        };
        let mut query = None;
        for (k, v) in map {
            match k.as_str() {
                Some("query") => match v.as_str() {
                    Some(q) if !q.trim().is_empty() => query = Some(q.to_string()),
                    _ => {
                        return Err(
                            ctx.err(format!("{path}.spec.query"), "must be a non-empty PromQL string")
                        );
                    }
                },
                other => {
                    return Err(ctx.err(
                        format!("{path}.spec"),
                        format!(
                            "has unknown key {:?}; a Prometheus metric source has only query",
                            other.unwrap_or("?")
                        ),
                    ));
                }
            }
        }
        query.ok_or_else(|| ctx.err(format!("{path}.spec.query"), "is required"))
    }
}

fn lookup(
    slis: &BTreeMap<String, (usize, Indicator)>,
    name: &str,
    ctx: &Ctx<'_>,
    at: &str,
) -> Result<Indicator, SpecError> {
    match slis.get(name) {
        Some((_, ind)) => Ok(ind.clone()),
        None => {
            let known: Vec<&str> = slis.keys().map(String::as_str).collect();
            let known = if known.is_empty() {
                "this file has no SLI documents".to_string()
            } else {
                format!("the SLIs in this file are {}", known.join(", "))
            };
            Err(ctx.err(at, format!("{name:?} names no `kind: SLI` document; {known}")))
        }
    }
}

fn objective_percent(obj: &Objective, ctx: &Ctx<'_>, at: &str) -> Result<f64, SpecError> {
    match (obj.target, obj.target_percent) {
        (Some(t), None) => {
            if !(t > 0.0 && t < 1.0) {
                return Err(ctx.err(format!("{at}.target"), format!("must be in (0, 1), got {t}")));
            }
            // 0.999 × 100 is 99.90000000000001 in binary; objectives have at most 10 decimals.
            Ok((t * 100.0 * 1e10).round() / 1e10)
        }
        (None, Some(p)) => {
            if !(p > 0.0 && p < 100.0) {
                return Err(ctx.err(
                    format!("{at}.targetPercent"),
                    format!("must be in (0, 100), got {p}"),
                ));
            }
            Ok(p)
        }
        _ => Err(ctx.err(at, "must have exactly one of target or targetPercent")),
    }
}

fn budgeting(
    method: &str,
    obj: &Objective,
    ctx: &Ctx<'_>,
    at: &str,
    period: Duration,
) -> Result<BudgetingMethod, SpecError> {
    match method {
        "Occurrences" => {
            for (given, field) in [
                (obj.time_slice_target.is_some(), "timeSliceTarget"),
                (obj.time_slice_window.is_some(), "timeSliceWindow"),
            ] {
                if given {
                    return Err(ctx.err(
                        format!("{at}.{field}"),
                        "is only used with budgetingMethod Timeslices",
                    ));
                }
            }
            Ok(BudgetingMethod::Occurrences)
        }
        "Timeslices" => {
            let Some(target) = obj.time_slice_target else {
                return Err(ctx.err(
                    format!("{at}.timeSliceTarget"),
                    "is required with budgetingMethod Timeslices",
                ));
            };
            if !(target > 0.0 && target <= 1.0) {
                return Err(ctx.err(
                    format!("{at}.timeSliceTarget"),
                    format!("must be in (0, 1], got {target}"),
                ));
            }
            let slice = match &obj.time_slice_window {
                None => {
                    return Err(ctx.err(
                        format!("{at}.timeSliceWindow"),
                        "is required with budgetingMethod Timeslices",
                    ));
                }
                // A bare number is minutes (OpenSLO v1, Notes (Objectives)).
                Some(SliceWindow::Minutes(m)) if m.is_finite() && *m > 0.0 => {
                    Duration::from_millis((m * 60_000.0).round() as u64)
                }
                Some(SliceWindow::Minutes(m)) => {
                    return Err(ctx.err(
                        format!("{at}.timeSliceWindow"),
                        format!("must be a positive number of minutes or a duration such as 5m, got {m}"),
                    ));
                }
                Some(SliceWindow::Shorthand(s)) => match shorthand(s) {
                    Some((n, unit @ ('m' | 'h' | 'd' | 'w'))) => exact(n, unit),
                    _ => {
                        return Err(ctx.err(
                            format!("{at}.timeSliceWindow"),
                            format!("{s:?} is not a duration such as 1m, 5m or 1h"),
                        ));
                    }
                },
            };
            if slice.is_zero() || slice > period {
                return Err(ctx.err(
                    format!("{at}.timeSliceWindow"),
                    format!(
                        "must be between 1ms and the period ({}), got {}",
                        prometheus_duration(period),
                        prometheus_duration(slice)
                    ),
                ));
            }
            Ok(BudgetingMethod::Timeslices {
                slice,
                slice_target: target,
            })
        }
        "RatioTimeslices" => Err(ctx.err(
            "spec.budgetingMethod",
            "RatioTimeslices is not supported; use Occurrences or Timeslices",
        )),
        other => Err(ctx.err(
            "spec.budgetingMethod",
            format!("must be Occurrences or Timeslices, got {other:?}"),
        )),
    }
}

/// The PromQL comparison that marks a *bad* sample for an objective's `op`.
fn bad_op(op: &str) -> Option<&'static str> {
    Some(match op {
        "lte" => ">",
        "lt" => ">=",
        "gte" => "<",
        "gt" => "<=",
        _ => return None,
    })
}

fn build_sli(
    indicator: &Indicator,
    obj: &Objective,
    budgeting: BudgetingMethod,
    ctx: &Ctx<'_>,
    at: &str,
) -> Result<Sli, SpecError> {
    // For a threshold SLI: the expression that is 1 for a bad sample and 0 for a good one.
    let bad_sample = |q: &str| -> Result<String, SpecError> {
        let Some(op) = obj.op.as_deref() else {
            return Err(ctx.err(
                format!("{at}.op"),
                "is required for a thresholdMetric SLI (lte, lt, gte or gt)",
            ));
        };
        let Some(bad) = bad_op(op) else {
            return Err(ctx.err(
                format!("{at}.op"),
                format!("must be lte, lt, gte or gt, got {op:?}"),
            ));
        };
        let Some(value) = obj.value else {
            return Err(ctx.err(format!("{at}.value"), "is required for a thresholdMetric SLI"));
        };
        if !value.is_finite() {
            return Err(ctx.err(
                format!("{at}.value"),
                format!("must be a finite number, got {value}"),
            ));
        }
        Ok(format!("({}) {bad} bool {value}", q.trim()))
    };
    match budgeting {
        BudgetingMethod::Occurrences => Ok(match indicator {
            Indicator::Ratio { error, total } => Sli::Events {
                error_query: error.clone(),
                total_query: total.clone(),
            },
            Indicator::ErrorRatio(q) => Sli::Raw {
                error_ratio_query: q.clone(),
            },
            Indicator::Threshold(q) => Sli::Raw {
                error_ratio_query: format!(
                    "avg_over_time(({})[{{{{.window}}}}:{}])",
                    bad_sample(q)?,
                    prometheus_duration(SAMPLE_RESOLUTION)
                ),
            },
        }),
        BudgetingMethod::Timeslices { slice, slice_target } => {
            let s = prometheus_duration(slice);
            let slice_error = match indicator {
                Indicator::Ratio { error, total } => {
                    format!(
                        "({})\n/\n({})",
                        fill_window(error.trim(), &s),
                        fill_window(total.trim(), &s)
                    )
                }
                Indicator::ErrorRatio(q) => format!("({})", fill_window(q.trim(), &s)),
                Indicator::Threshold(q) => {
                    let res = prometheus_duration(slice.min(SAMPLE_RESOLUTION));
                    format!("avg_over_time(({})[{s}:{res}])", bad_sample(q)?)
                }
            };
            // Good slice: its error ratio is at most 1 − timeSliceTarget (rounded as budgets are,
            // so a 0.95 target compares with 0.05, not 0.050000000000000044).
            let allowed = math::error_budget(slice_target);
            Ok(Sli::Raw {
                error_ratio_query: format!(
                    "avg_over_time((({slice_error}) > bool {allowed})[{{{{.window}}}}:{s}])"
                ),
            })
        }
    }
}

fn period(windows: &[TimeWindow], ctx: &Ctx<'_>, default_period: Duration) -> Result<Period, SpecError> {
    let w = match windows {
        [] => return Ok(Period::Rolling(default_period)),
        [w] => w,
        more => {
            return Err(ctx.err(
                "spec.timeWindow",
                format!("must have exactly one entry, got {}", more.len()),
            ));
        }
    };
    let at = "spec.timeWindow[0]";
    let Some((n, unit)) = shorthand(&w.duration) else {
        return Err(ctx.err(
            format!("{at}.duration"),
            format!(
                "{:?} is not a duration shorthand such as 28d, 4w or 1M",
                w.duration
            ),
        ));
    };
    let rolling = match (w.is_rolling, &w.calendar) {
        (Some(true), Some(_)) => {
            return Err(ctx.err(format!("{at}.calendar"), "cannot be used with isRolling: true"));
        }
        (Some(r), _) => r,
        (None, c) => c.is_none(),
    };
    if let Some(c) = &w.calendar {
        if c.start_time.trim().is_empty() {
            return Err(ctx.err(format!("{at}.calendar.startTime"), "must not be empty"));
        }
        if c.time_zone.trim().is_empty() {
            return Err(ctx.err(format!("{at}.calendar.timeZone"), "must not be empty"));
        }
    }
    let length = exact(n, unit);
    if rolling {
        return Ok(Period::Rolling(length));
    }
    let unit = match unit {
        'd' => CalendarUnit::Day,
        'w' => CalendarUnit::Week,
        'M' => CalendarUnit::Month,
        'Q' => CalendarUnit::Quarter,
        'Y' => CalendarUnit::Year,
        _ => {
            return Err(ctx.err(
                format!("{at}.duration"),
                format!(
                    "{:?}: a calendar window is whole days, weeks, months, quarters or years (d, w, M, Q, Y)",
                    w.duration
                ),
            ));
        }
    };
    Ok(Period::Calendar { unit, length })
}

/// An OpenSLO duration shorthand: a positive integer and one of `m h d w M Q Y`.
fn shorthand(s: &str) -> Option<(u64, char)> {
    let unit = s.chars().last()?;
    let digits = &s[..s.len() - unit.len_utf8()];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || !"mhdwMQY".contains(unit) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    // Keep lengths far below Duration's limits: 10 000 years is plenty.
    (n > 0 && n <= 3_650_000).then_some((n, unit))
}

/// The length of `n` units; months, quarters and years use nominal lengths (30, 90, 365 days).
fn exact(n: u64, unit: char) -> Duration {
    let secs = match unit {
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        'M' => 30 * 86_400,
        'Q' => 90 * 86_400,
        _ => 365 * 86_400,
    };
    Duration::from_secs(n * secs)
}

fn labels(raw: &BTreeMap<String, LabelValue>, ctx: &Ctx<'_>) -> Result<BTreeMap<String, String>, SpecError> {
    let mut out = BTreeMap::new();
    for (k, v) in raw {
        // The labels go onto generated series, so they must be Prometheus label names.
        let mut chars = k.chars();
        let ok = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok || k.starts_with("__") {
            return Err(ctx.err(
                "metadata.labels",
                format!("key {k:?} is not a Prometheus label name (letters, digits and '_', not starting with '__')"),
            ));
        }
        let value = match v {
            LabelValue::One(s) => s.clone(),
            LabelValue::Many(list) => list.join(","),
        };
        out.insert(k.clone(), value);
    }
    Ok(out)
}

fn is_empty_value(v: &serde_norway::Value) -> bool {
    match v {
        serde_norway::Value::Null => true,
        serde_norway::Value::Sequence(s) => s.is_empty(),
        serde_norway::Value::Mapping(m) => m.is_empty(),
        _ => false,
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// `Fast Checkout!` → `fast-checkout`.
fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

/// `checkout-availability` → `CheckoutAvailability`.
fn upper_camel(s: &str) -> String {
    s.split(['-', '_'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::parse_str;
    use super::*;

    const RATIO: &str = r#"
apiVersion: openslo/v1
kind: Service
metadata:
  name: checkout
spec:
  description: The shop's checkout.
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: checkout-availability
  displayName: Checkout availability
  labels:
    team: payments
    tags: [shop, tier1]
spec:
  description: Checkout answers without server errors.
  service: checkout
  indicatorRef: checkout-errors
  timeWindow:
    - duration: 28d
      isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - displayName: Availability
      target: 0.999
---
apiVersion: openslo/v1
kind: SLI
metadata:
  name: checkout-errors
spec:
  ratioMetric:
    counter: true
    bad:
      metricSource:
        type: Prometheus
        spec:
          query: sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))
    total:
      metricSource:
        metricSourceRef: prom
        spec:
          query: sum(rate(http_requests_total[{{ .window }}]))
---
apiVersion: openslo/v1
kind: DataSource
metadata:
  name: prom
spec:
  type: Prometheus
  connectionDetails:
    url: http://localhost:9090
"#;

    fn one(text: &str) -> SloSpec {
        let mut v = parse_str(text, "slo.yaml").unwrap();
        assert_eq!(v.len(), 1, "{v:?}");
        v.remove(0)
    }

    fn err(text: &str) -> String {
        parse_str(text, "slo.yaml").unwrap_err().to_string()
    }

    fn raw(s: &SloSpec) -> &str {
        match &s.sli {
            Sli::Raw { error_ratio_query } => error_ratio_query,
            other => panic!("not raw: {other:?}"),
        }
    }

    /// An SLO document with an inline SLI body and the given objective/budgeting lines.
    fn inline(sli: &str, budgeting: &str, objective: &str) -> String {
        format!(
            "apiVersion: openslo/v1\nkind: SLO\nmetadata:\n  name: lat\nspec:\n  service: checkout\n  \
             indicator:\n    metadata:\n      name: lat-sli\n    spec:\n{sli}  budgetingMethod: {budgeting}\n  \
             objectives:\n    - {objective}\n"
        )
    }

    const THRESHOLD_SLI: &str = "      thresholdMetric:\n        metricSource:\n          type: prometheus\n          \
         spec:\n            query: histogram_quantile(0.99, sum by (le) (rate(d_bucket[5m])))\n";

    const GOOD_TOTAL_SLI: &str = "      ratioMetric:\n        good:\n          metricSource:\n            type: Prometheus\n            \
         spec:\n              query: sum(rate(ok_total[{{.window}}]))\n        total:\n          metricSource:\n            \
         type: Prometheus\n            spec:\n              query: sum(rate(all_total[{{.window}}]))\n";

    #[test]
    fn bad_total_ratio_with_a_referenced_sli_and_data_source() {
        let s = one(RATIO);
        assert_eq!(s.id(), "checkout-checkout-availability");
        assert_eq!(s.objective_percent, 99.9);
        assert_eq!(s.period, Period::Rolling(Duration::from_secs(28 * 86_400)));
        assert_eq!(s.budgeting, BudgetingMethod::Occurrences);
        assert_eq!(s.labels["team"], "payments");
        assert_eq!(s.labels["tags"], "shop,tier1");
        assert_eq!(s.alerting.name, "CheckoutAvailability");
        assert_eq!(s.description, "Checkout answers without server errors.");
        assert_eq!(
            s.origin,
            "slo.yaml: SLO \"checkout-availability\" (document 2) spec.objectives[0]"
        );
        let Sli::Events {
            error_query,
            total_query,
        } = &s.sli
        else {
            panic!("{:?}", s.sli)
        };
        assert_eq!(
            error_query,
            r#"sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))"#
        );
        assert_eq!(total_query, "sum(rate(http_requests_total[{{ .window }}]))");
        assert_eq!(
            s.sli.error_ratio_expr("5m"),
            "(sum(rate(http_requests_total{code=~\"5..\"}[5m])))\n/\n(sum(rate(http_requests_total[5m])))"
        );
    }

    #[test]
    fn good_total_becomes_total_minus_good() {
        let s = one(&inline(GOOD_TOTAL_SLI, "Occurrences", "targetPercent: 99.5"));
        assert_eq!(s.objective_percent, 99.5);
        assert_eq!(s.name, "lat");
        assert_eq!(
            s.period,
            Period::Rolling(Duration::from_secs(30 * 86_400)),
            "no timeWindow: 30 days"
        );
        let Sli::Events {
            error_query,
            total_query,
        } = &s.sli
        else {
            panic!("{:?}", s.sli)
        };
        assert_eq!(
            error_query,
            "(sum(rate(all_total[{{.window}}]))) - (sum(rate(ok_total[{{.window}}])))"
        );
        assert_eq!(total_query, "sum(rate(all_total[{{.window}}]))");
    }

    #[test]
    fn raw_ratios_of_failure_and_success() {
        let sli = |t: &str| {
            format!(
                "      ratioMetric:\n        rawType: {t}\n        raw:\n          metricSource:\n            type: \
                 Prometheus\n            spec:\n              query: avg_over_time(ratio[{{{{.window}}}}])\n"
            )
        };
        let s = one(&inline(&sli("failure"), "Occurrences", "target: 0.99"));
        assert_eq!(raw(&s), "avg_over_time(ratio[{{.window}}])");
        let s = one(&inline(&sli("success"), "Occurrences", "target: 0.99"));
        assert_eq!(raw(&s), "1 - (avg_over_time(ratio[{{.window}}]))");
        assert!(
            err(&inline(&sli("good"), "Occurrences", "target: 0.99"))
                .contains("rawType must be success or failure")
        );
    }

    #[test]
    fn threshold_metric_is_the_share_of_bad_minutes() {
        let s = one(&inline(
            THRESHOLD_SLI,
            "Occurrences",
            "{op: lte, value: 0.3, target: 0.99}",
        ));
        assert_eq!(
            raw(&s),
            "avg_over_time(((histogram_quantile(0.99, sum by (le) (rate(d_bucket[5m])))) > bool 0.3)[{{.window}}:1m])"
        );
        for (op, bad) in [("lt", ">="), ("gte", "<"), ("gt", "<=")] {
            let s = one(&inline(
                THRESHOLD_SLI,
                "Occurrences",
                &format!("{{op: {op}, value: 2, target: 0.9}}"),
            ));
            assert!(
                raw(&s).contains(&format!(") {bad} bool 2)[")),
                "{op}: {}",
                raw(&s)
            );
        }
    }

    #[test]
    fn timeslices_for_ratio_and_threshold() {
        let s = one(&inline(
            GOOD_TOTAL_SLI,
            "Timeslices",
            "{target: 0.99, timeSliceTarget: 0.95, timeSliceWindow: 5m}",
        ));
        assert_eq!(
            s.budgeting,
            BudgetingMethod::Timeslices {
                slice: Duration::from_secs(300),
                slice_target: 0.95
            }
        );
        assert_eq!(
            raw(&s),
            "avg_over_time(((((sum(rate(all_total[5m]))) - (sum(rate(ok_total[5m]))))\n/\n(sum(rate(all_total[5m])))) \
             > bool 0.05)[{{.window}}:5m])"
        );
        // A bare number is minutes.
        let s = one(&inline(
            THRESHOLD_SLI,
            "Timeslices",
            "{op: lte, value: 0.3, target: 0.99, timeSliceTarget: 1, timeSliceWindow: 10}",
        ));
        assert_eq!(
            raw(&s),
            "avg_over_time(((avg_over_time(((histogram_quantile(0.99, sum by (le) (rate(d_bucket[5m])))) > bool \
             0.3)[10m:1m])) > bool 0)[{{.window}}:10m])"
        );
    }

    #[test]
    fn several_objectives_become_several_slos() {
        let text = RATIO.replace(
            "    - displayName: Availability\n      target: 0.999\n",
            "    - displayName: Fast Lane!\n      target: 0.999\n    - target: 0.99\n",
        );
        let v = parse_str(&text, "slo.yaml").unwrap();
        let names: Vec<&str> = v.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            vec!["checkout-availability-fast-lane", "checkout-availability-1"]
        );
        assert_eq!(v[1].objective_percent, 99.0);
        assert!(v[1].origin.ends_with("spec.objectives[1]"));
    }

    #[test]
    fn calendar_windows() {
        let cal = |d: &str, extra: &str| {
            RATIO.replace(
                "    - duration: 28d\n      isRolling: true\n",
                &format!("    - duration: {d}\n{extra}"),
            )
        };
        let with_calendar =
            "      calendar:\n        startTime: 2026-01-01 00:00:00\n        timeZone: UTC\n";
        let s = one(&cal("1M", with_calendar));
        assert_eq!(
            s.period,
            Period::Calendar {
                unit: CalendarUnit::Month,
                length: Duration::from_secs(30 * 86_400)
            }
        );
        let s = one(&cal("1Q", "      isRolling: false\n"));
        assert!(
            matches!(s.period, Period::Calendar { unit: CalendarUnit::Quarter, length } if length.as_secs() == 90 * 86_400)
        );
        let s = one(&cal("2w", "      isRolling: false\n"));
        assert!(
            matches!(s.period, Period::Calendar { unit: CalendarUnit::Week, length } if length.as_secs() == 14 * 86_400)
        );
        assert!(matches!(
            one(&cal("1Y", with_calendar)).period,
            Period::Calendar {
                unit: CalendarUnit::Year,
                ..
            }
        ));
        assert!(matches!(
            one(&cal("7d", with_calendar)).period,
            Period::Calendar {
                unit: CalendarUnit::Day,
                ..
            }
        ));
        assert!(err(&cal("12h", with_calendar)).contains("a calendar window is whole days"));
        assert!(
            err(&cal("1M", &format!("      isRolling: true\n{with_calendar}")))
                .contains("calendar cannot be used")
        );
        let s = one(&cal("1M", ""));
        assert_eq!(
            s.period,
            Period::Rolling(Duration::from_secs(30 * 86_400)),
            "rolling month: 30 days"
        );
    }

    #[test]
    fn error_paths_name_file_document_slo_and_field() {
        let e = err(&RATIO.replace("target: 0.999", "target: 1.5"));
        assert_eq!(
            e,
            "slo.yaml: SLO \"checkout-availability\" (document 2) spec.objectives[0].target must be in (0, 1), got 1.5"
        );
        let cases: Vec<(String, &str)> = vec![
            (RATIO.replace("target: 0.999", "targetPercent: 100"), "spec.objectives[0].targetPercent must be in (0, 100)"),
            (RATIO.replace("target: 0.999", "target: 0.9\n      targetPercent: 90"), "spec.objectives[0] must have exactly one of target or targetPercent"),
            (RATIO.replace("[{{.window}}]", "[5m]"), "SLI \"checkout-errors\" (document 3) spec.ratioMetric.bad.metricSource.spec.query must contain {{.window}}"),
            (RATIO.replace("indicatorRef: checkout-errors", "indicatorRef: nope"), "spec.indicatorRef \"nope\" names no `kind: SLI` document; the SLIs in this file are checkout-errors"),
            (RATIO.replace("metricSourceRef: prom", "metricSourceRef: other"), "metricSourceRef \"other\" names no DataSource"),
            (RATIO.replace("type: Prometheus\n        spec", "type: Datadog\n        spec"), "spec.ratioMetric.bad.metricSource.type is \"Datadog\""),
            (RATIO.replace("budgetingMethod: Occurrences", "budgetingMethod: RatioTimeslices"), "spec.budgetingMethod RatioTimeslices is not supported"),
            (RATIO.replace("budgetingMethod: Occurrences", "budgetingMethod: Sometimes"), "spec.budgetingMethod must be Occurrences or Timeslices, got \"Sometimes\""),
            (RATIO.replace("budgetingMethod: Occurrences", "budgetingMethod: Timeslices"), "spec.objectives[0].timeSliceTarget is required"),
            (RATIO.replace("target: 0.999", "target: 0.999\n      timeSliceWindow: 5m"), "spec.objectives[0].timeSliceWindow is only used with budgetingMethod Timeslices"),
            (RATIO.replace("duration: 28d", "duration: 28 days"), "spec.timeWindow[0].duration \"28 days\" is not a duration shorthand"),
            (RATIO.replace("apiVersion: openslo/v1\nkind: SLI", "apiVersion: openslo/v1alpha\nkind: SLI"), "SLI \"checkout-errors\" (document 3) apiVersion is \"openslo/v1alpha\""),
            (RATIO.replace("kind: Service", "kind: AlertPolicy"), "AlertPolicy \"checkout\" (document 1) kind AlertPolicy is not read by burnwatch"),
            (RATIO.replace("kind: Service", "kind: Gadget"), "kind \"Gadget\" is not an OpenSLO v1 kind"),
            (RATIO.replace("  budgetingMethod:", "  alertPolicies:\n    - alertPolicyRef: page\n  budgetingMethod:"), "spec.alertPolicies is not read by burnwatch"),
            (RATIO.replace("    team: payments", "    team.name: payments"), "metadata.labels key \"team.name\" is not a Prometheus label name"),
            (RATIO.replace("  service: checkout\n", "  service: checkout\n  servce: x\n"), "SLO \"checkout-availability\" (document 2) unknown key 'servce' in spec; expected one of"),
            (RATIO.replace("  service: checkout\n", ""), "SLO \"checkout-availability\" (document 2) spec missing field `service`"),
            (RATIO.replace("  indicatorRef: checkout-errors\n", ""), "spec must have one of indicator or indicatorRef"),
            (RATIO.replace("  name: checkout-availability", "  name: checkout availability"), "metadata.name \"checkout availability\" must use only"),
            (RATIO.replace("      isRolling: true\n", "      isRolling: true\n    - duration: 7d\n"), "spec.timeWindow must have exactly one entry, got 2"),
            (RATIO.replace("    total:", "    good:\n      metricSource:\n        type: Prometheus\n        spec:\n          query: x[{{.window}}]\n    total:"), "SLI \"checkout-errors\" (document 3) spec.ratioMetric must have exactly one of good or bad next to total"),
            (RATIO.replace("    total:", "    totl:"), "unknown key 'totl' in spec.ratioMetric"),
            (RATIO.replace("          query: sum(rate(http_requests_total{code", "          q: 1\n          query: sum(rate(http_requests_total{code"), "spec.ratioMetric.bad.metricSource.spec has unknown key \"q\""),
        ];
        for (text, want) in cases {
            let e = err(&text);
            assert!(e.starts_with("slo.yaml: "), "{e}");
            assert!(e.contains(want), "want {want:?} in:\n{e}");
        }
        // Objective-level errors that only a threshold SLI has.
        let t = |obj: &str| err(&inline(THRESHOLD_SLI, "Occurrences", obj));
        assert!(
            t("{value: 1, target: 0.9}")
                .contains("SLO \"lat\" (document 1) spec.objectives[0].op is required")
        );
        assert!(
            t("{op: eq, value: 1, target: 0.9}").contains("spec.objectives[0].op must be lte, lt, gte or gt")
        );
        assert!(t("{op: lt, target: 0.9}").contains("spec.objectives[0].value is required"));
        let two = inline(
            THRESHOLD_SLI,
            "Occurrences",
            "{op: lt, value: 1, target: 0.9}\n    - {op: lt, value: 2, target: 0.8}",
        );
        assert!(err(&two).contains("spec.objectives must have exactly one entry for a thresholdMetric SLI"));
        let windowed = THRESHOLD_SLI.replace("[5m]", "[{{.window}}]");
        assert!(
            err(&inline(
                &windowed,
                "Occurrences",
                "{op: lt, value: 1, target: 0.9}"
            ))
            .contains(
                "spec.indicator.spec.thresholdMetric.metricSource.spec.query must not contain {{.window}}"
            )
        );
        let ts = |obj: &str| err(&inline(GOOD_TOTAL_SLI, "Timeslices", obj));
        assert!(
            ts("{target: 0.9, timeSliceTarget: 0, timeSliceWindow: 5m}")
                .contains("timeSliceTarget must be in (0, 1], got 0")
        );
        assert!(ts("{target: 0.9, timeSliceTarget: 0.9}").contains("timeSliceWindow is required"));
        assert!(
            ts("{target: 0.9, timeSliceTarget: 0.9, timeSliceWindow: 1M}")
                .contains("\"1M\" is not a duration such as 1m")
        );
        assert!(
            ts("{target: 0.9, timeSliceTarget: 0.9, timeSliceWindow: -5}")
                .contains("must be a positive number of minutes")
        );
        assert!(
            ts("{target: 0.9, timeSliceTarget: 0.9, timeSliceWindow: 31d}")
                .contains("must be between 1ms and the period (30d), got 31d")
        );
        assert!(
            ts("{target: 0.9, timeSliceTarget: 0.9, timeSliceWindow: 5m, compositeWeight: 2}")
                .contains("compositeWeight belongs to composite SLOs")
        );
        let both = GOOD_TOTAL_SLI.replace(
            "      ratioMetric:",
            &format!("{}      ratioMetric:", THRESHOLD_SLI),
        );
        assert!(
            err(&inline(&both, "Occurrences", "{target: 0.9}"))
                .contains("spec.indicator.spec must have exactly one of ratioMetric or thresholdMetric")
        );
        let no_type = GOOD_TOTAL_SLI.replacen("            type: Prometheus\n", "", 1);
        assert!(
            err(&inline(&no_type, "Occurrences", "{target: 0.9}"))
                .contains("spec.indicator.spec.ratioMetric.good.metricSource needs `type: Prometheus`")
        );
        let no_total = GOOD_TOTAL_SLI.replace("        total:", "        bad:");
        assert!(
            err(&inline(&no_total, "Occurrences", "{target: 0.9}"))
                .contains("ratioMetric must have total with good or bad")
        );
    }

    #[test]
    fn objective_level_indicators_and_duplicates() {
        // Each objective names its own SLI; the SLO-level one is then not needed.
        let text = RATIO.replace("  indicatorRef: checkout-errors\n", "").replace(
            "      target: 0.999\n",
            "      target: 0.999\n      indicatorRef: checkout-errors\n",
        );
        assert!(matches!(one(&text).sli, Sli::Events { .. }));
        let both = RATIO.replace(
            "  indicatorRef: checkout-errors\n",
            "  indicatorRef: checkout-errors\n  indicator:\n    metadata: {name: x}\n    spec: {}\n",
        );
        assert!(err(&both).contains("spec must have only one of indicator or indicatorRef"));
        let doc = |kind: &str| {
            let start = RATIO
                .find(&format!("apiVersion: openslo/v1\nkind: {kind}\n"))
                .unwrap();
            let len = RATIO[start..].find("---").unwrap_or(RATIO.len() - start);
            RATIO[start..start + len].to_string()
        };
        let twice = format!("{RATIO}---\n{}", doc("SLO"));
        assert!(
            err(&twice).contains(
                "gives the SLO id \"checkout-checkout-availability\", already used by slo.yaml: SLO"
            )
        );
        let sli_twice = format!("{RATIO}---\n{}", doc("SLI"));
        assert!(err(&sli_twice).contains("metadata.name \"checkout-errors\" is already used by document 3"));
        let e = err(&doc("Service"));
        assert!(e.contains("has no OpenSLO `kind: SLO` document"), "{e}");
    }

    #[test]
    fn helpers() {
        assert_eq!(slug("  Fast Lane! v2 "), "fast-lane-v2");
        assert_eq!(
            upper_camel("checkout-availability_p99"),
            "CheckoutAvailabilityP99"
        );
        assert_eq!(shorthand("28d"), Some((28, 'd')));
        assert_eq!(shorthand("0d"), None);
        assert_eq!(shorthand("d"), None);
        assert_eq!(shorthand("5s"), None);
        assert_eq!(shorthand("99999999999999999999d"), None);
    }
}
