//! OTLP → Prometheus: metric names, label names and values, job/instance and
//! `target_info`, following the OTel Collector's translator
//! (`github.com/prometheus/otlptranslator`, formerly `pkg/translator/prometheus`) and
//! the exporter's `collector.go`.
//!
//! [`Translator::translate`] turns one export request into a [`Batch`]: every name and
//! label set is worked out here, outside the store's lock, so the store only looks up
//! pre-rendered series keys.

use std::borrow::Cow;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Exemplar as OtlpExemplar, Metric, ScopeMetrics, exemplar, number_data_point,
};

use super::config::PrometheusExporterConfig;
use super::store::{
    Batch, DroppedLabels, Exemplar, ExpBuckets, ExpPoint, Kind, MetricBatch, Number, Point, PointData, Target,
};
use super::store::{TargetId, Temporality};

/// `service.name`: with `service.namespace`, becomes the `job` label.
pub(crate) const SERVICE_NAME: &str = "service.name";
/// `service.namespace`: prefixes `job` as `namespace/name`.
pub(crate) const SERVICE_NAMESPACE: &str = "service.namespace";
/// `service.instance.id`: becomes the `instance` label.
pub(crate) const SERVICE_INSTANCE_ID: &str = "service.instance.id";
/// The metric metadata key the Prometheus receiver uses to keep the original type; a
/// gauge marked `unknown` is exposed as `untyped`.
const METADATA_TYPE_KEY: &str = "prometheus.type";
/// `DataPointFlags.FLAG_NO_RECORDED_VALUE`: the series went stale; drop it.
const FLAG_NO_RECORDED_VALUE: u32 = 1;
/// The scale range the OTLP specification allows for exponential histograms.
const MIN_SCALE: i32 = -10;
const MAX_SCALE: i32 = 20;

/// What the translator needs to know about a metric to name it
/// (`otlptranslator.MetricType`): only counters get `_total`, only gauges `_ratio`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameType {
    /// A gauge.
    Gauge,
    /// A monotonic sum.
    MonotonicCounter,
    /// A non-monotonic sum.
    NonMonotonicCounter,
    /// An explicit-bucket histogram.
    Histogram,
    /// An exponential histogram.
    ExponentialHistogram,
    /// A summary.
    Summary,
}

/// OTLP (UCUM) units to Prometheus base-unit words
/// (<https://prometheus.io/docs/practices/naming/#base-units>).
fn unit_word(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "1" => "",
        "%" => "percent",
        _ => return None,
    })
}

/// The denominator of `X/Y` units, in the singular (`By/s` → `bytes_per_second`).
fn per_unit_word(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        _ => return None,
    })
}

/// A character a metric name token may hold; everything else (including `_`) separates
/// tokens when suffixes are added, which also collapses repeated underscores.
fn is_metric_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == ':'
}

/// The Prometheus name for an OTLP metric, or `None` when nothing valid is left (the
/// exporter then drops the metric, as the OTel Collector does).
pub(crate) fn metric_name(
    name: &str,
    unit: &str,
    ty: NameType,
    namespace: &str,
    add_suffixes: bool,
) -> Option<String> {
    let out = if add_suffixes {
        normalize_with_suffixes(name, unit, ty, namespace)
    } else {
        normalize_plain(name, namespace)
    };
    // otlptranslator rejects an empty result, and a changed name made only of '_'.
    if out.is_empty() || (out != name && out.bytes().all(|b| b == b'_')) {
        return None;
    }
    Some(out)
}

/// Full normalisation: tokens of `[a-zA-Z0-9:]`, unit and type suffixes, namespace,
/// joined by `_`, with `_` in front of a leading digit.
fn normalize_with_suffixes(name: &str, unit: &str, ty: NameType, namespace: &str) -> String {
    let (main, per) = unit_suffixes(unit);
    let main = clean_up_unit(&main);
    let per = clean_up_unit(&per);
    let namespace = namespace
        .split(|c: char| !is_metric_char(c))
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>();
    let namespace = namespace.join("_");

    let mut tokens: Vec<&str> = name
        .split(|c: char| !is_metric_char(c))
        .filter(|t| !t.is_empty())
        .collect();

    // addUnitTokens: a unit already among the tokens is not repeated.
    let mut main: &str = &main;
    let mut per: &str = &per;
    if tokens.contains(&main) {
        main = "";
    }
    if per == "per_" {
        per = "";
    } else {
        per = per.strip_suffix('_').unwrap_or(per);
        if tokens.contains(&per) {
            per = "";
        }
    }
    if !per.is_empty() {
        main = main.strip_suffix('_').unwrap_or(main);
    }
    if !main.is_empty() {
        tokens.push(main);
    }
    if !per.is_empty() {
        tokens.push(per);
    }

    if ty == NameType::MonotonicCounter {
        tokens.retain(|t| *t != "total");
        tokens.push("total");
    }
    // Only gauges get `_ratio` for unit "1": some receivers wrongly give counters of
    // objects the unit "1" (otlptranslator's comment on this rule).
    if unit == "1" && ty == NameType::Gauge {
        tokens.retain(|t| *t != "ratio");
        tokens.push("ratio");
    }
    if !namespace.is_empty() {
        tokens.insert(0, &namespace);
    }
    let mut out = tokens.join("_");
    if out.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        out.insert(0, '_');
    }
    out
}

/// Without suffixes: runs of characters outside `[a-zA-Z0-9:_]` become one `_`.
fn normalize_plain(name: &str, namespace: &str) -> String {
    fn fields(s: &str) -> String {
        s.split(|c: char| !(c.is_ascii_alphanumeric() || c == ':' || c == '_'))
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join("_")
    }
    let metric = fields(name);
    if !namespace.is_empty() {
        return format!("{}_{metric}", fields(namespace));
    }
    if metric.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        return format!("_{metric}");
    }
    metric
}

/// The main and `per_` suffixes of a unit: `ms` → (`milliseconds`, ``), `By/s` →
/// (`bytes`, `per_second`). Annotations in braces (`{requests}`) give no suffix.
pub(crate) fn unit_suffixes(unit: &str) -> (String, String) {
    let mut parts = unit.splitn(2, '/');
    let main_otel = parts.next().unwrap_or("").trim();
    let main = if !main_otel.is_empty() && !main_otel.contains(['{', '}']) {
        unit_word(main_otel).unwrap_or(main_otel).to_string()
    } else {
        String::new()
    };
    let per = match parts.next() {
        Some(p) if !p.is_empty() => {
            let p = p.trim();
            if !p.is_empty() && !p.contains(['{', '}']) {
                format!("per_{}", per_unit_word(p).unwrap_or(p))
            } else {
                String::new()
            }
        }
        _ => String::new(),
    };
    (main, per)
}

/// Makes a unit word a valid name part: invalid characters become `_`, runs of `_`
/// collapse, and one leading `_` goes.
fn clean_up_unit(unit: &str) -> String {
    let mut out = String::with_capacity(unit.len());
    for c in unit.chars() {
        let c = if is_metric_char(c) { c } else { '_' };
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    if out.starts_with('_') {
        out.remove(0);
    }
    out
}

/// The Prometheus label name for an attribute key (`otlptranslator.LabelNamer`):
/// characters outside `[a-zA-Z0-9_]` become `_`, a leading digit gets `key_`, a single
/// leading `_` gets `key` (a double `__` is kept). `None` when nothing valid is left.
pub(crate) fn label_name(key: &str) -> Option<String> {
    if key.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(key.len() + 4);
    out.extend(key.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        }
    }));
    if out.as_bytes()[0].is_ascii_digit() {
        out.insert_str(0, "key_");
    } else if out.starts_with('_') && !out.starts_with("__") {
        out.insert_str(0, "key");
    }
    if out != key && out.bytes().all(|b| b == b'_') {
        return None;
    }
    Some(out)
}

/// An attribute value as a label value, as pdata's `Value.AsString` writes it: strings
/// as they are, numbers in ES6 form, bytes in base64, arrays and maps as JSON.
pub(crate) fn value_string(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        None => String::new(),
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(f)) => es6_float(*f),
        Some(any_value::Value::BytesValue(b)) => base64(b),
        Some(any_value::Value::StringValueStrindex(_)) => String::new(),
        Some(v @ (any_value::Value::ArrayValue(_) | any_value::Value::KvlistValue(_))) => {
            let mut out = String::new();
            write_json(&mut out, Some(v));
            out
        }
    }
}

/// A float as ES6 `Number.prototype.toString` writes it (pdata's rule for doubles):
/// plain decimals, exponent form below 1e-6 and from 1e21.
pub(crate) fn es6_float(f: f64) -> String {
    if !f.is_finite() {
        let mut go = Vec::new();
        super::render::push_go_float(&mut go, f);
        return format!("json: unsupported value: {}", String::from_utf8_lossy(&go));
    }
    // Go's encoding/json layout; not Rust's `{}`, which rounds exact shortest-digit ties up.
    burnwatch_gofmt::format_json_float(f)
}

/// Standard base64 with padding (Go's `base64.StdEncoding`).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// JSON as Go's `encoding/json` writes pdata's raw values: map keys sorted, HTML
/// characters escaped, bytes as base64 strings.
fn write_json(out: &mut String, value: Option<&any_value::Value>) {
    match value {
        None | Some(any_value::Value::StringValueStrindex(_)) => out.push_str("null"),
        Some(any_value::Value::StringValue(s)) => json_string(out, s),
        Some(any_value::Value::BoolValue(b)) => out.push_str(if *b { "true" } else { "false" }),
        Some(any_value::Value::IntValue(i)) => out.push_str(&i.to_string()),
        Some(any_value::Value::DoubleValue(f)) => {
            if f.is_finite() {
                out.push_str(&es6_float(*f));
            } else {
                out.push_str("null");
            }
        }
        Some(any_value::Value::BytesValue(b)) => json_string(out, &base64(b)),
        Some(any_value::Value::ArrayValue(a)) => {
            out.push('[');
            for (i, v) in a.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, v.value.as_ref());
            }
            out.push(']');
        }
        Some(any_value::Value::KvlistValue(kv)) => {
            let mut entries: Vec<&KeyValue> = kv.values.iter().collect();
            entries.sort_by(|a, b| a.key.cmp(&b.key));
            // A Go map keeps one value per key: the last one written.
            entries.reverse();
            entries.dedup_by(|a, b| a.key == b.key);
            entries.reverse();
            out.push('{');
            for (i, e) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_string(out, &e.key);
                out.push(':');
                write_json(out, e.value.as_ref().and_then(|v| v.value.as_ref()));
            }
            out.push('}');
        }
    }
}

fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn attribute<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a KeyValue> {
    attrs.iter().find(|kv| kv.key == key)
}

/// `job`: `service.namespace/service.name`, or `service.name` alone.
pub(crate) fn job(resource: &[KeyValue]) -> Option<String> {
    let name = value_string(attribute(resource, SERVICE_NAME)?.value.as_ref());
    match attribute(resource, SERVICE_NAMESPACE) {
        Some(ns) => Some(format!("{}/{name}", value_string(ns.value.as_ref()))),
        None => Some(name),
    }
}

/// `instance`: `service.instance.id`.
pub(crate) fn instance(resource: &[KeyValue]) -> Option<String> {
    Some(value_string(
        attribute(resource, SERVICE_INSTANCE_ID)?.value.as_ref(),
    ))
}

/// Label precedence when two sources give the same label name after sanitising.
/// Resource- and scope-derived labels (`job`, `instance`, `otel_scope_*`) win over data
/// point attributes; `const_labels` never override a series' own label.
const PRIO_CONST: u8 = 0;
const PRIO_ATTR: u8 = 1;
const PRIO_SCOPE_ATTR: u8 = 2;
const PRIO_RESERVED: u8 = 3;

/// One owned label of a scope's base set.
#[derive(Debug, Clone)]
struct Label {
    name: String,
    value: String,
    prio: u8,
    orig: String,
}

#[derive(Debug, Clone, Copy)]
struct LabelRef<'a> {
    name: &'a str,
    value: &'a str,
    prio: u8,
    orig: &'a str,
}

impl<'a> From<&'a Label> for LabelRef<'a> {
    fn from(l: &'a Label) -> Self {
        LabelRef {
            name: &l.name,
            value: &l.value,
            prio: l.prio,
            orig: &l.orig,
        }
    }
}

/// Writes a label value with the exposition formats' escapes (`\\`, `\"`, `\n`).
pub(crate) fn escape_label_value(out: &mut String, value: &str) {
    if !value.contains(['\\', '"', '\n']) {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// The label names no attribute may take, because the exposition writes them itself:
/// `__name__` (the metric name), `le` (histogram buckets) and `quantile` (summary
/// quantiles).
///
/// A point attribute with such a name used to be copied into the label set, which wrote
/// a second `__name__`/`le`/`quantile` into the sample line and made the whole page
/// unparsable. The OTel Collector's exporter fails the metric instead (`client_golang`
/// rejects `__`-prefixed label names when building the descriptor and `le`/`quantile`
/// when gathering), which loses the point; Prometheus' own OTLP translator lets the name
/// and the bucket bound override the attribute, which keeps it. We keep the point too:
/// the attribute is dropped and counted. `le` and `quantile` are dropped on every type,
/// not only on histograms and summaries, because `promtool check metrics` (promlint)
/// reports them on any other type and `histogram_quantile` would misread them.
const RESERVED_LABELS: [&str; 3] = ["__name__", "le", "quantile"];

/// The label name for an attribute key, or `None` (counted in `dropped`) when the
/// attribute cannot become a label.
fn attribute_label(key: &str, dropped: &mut DroppedLabels) -> Option<String> {
    match label_name(key) {
        Some(name) if RESERVED_LABELS.contains(&name.as_str()) => {
            tracing::debug!(attribute = %key, label = %name, "Attribute dropped: its label name is reserved by the exposition format.");
            dropped.reserved += 1;
            None
        }
        Some(name) => Some(name),
        None => {
            tracing::debug!(attribute = %key, "Attribute dropped: its key is not a valid label name.");
            dropped.invalid_name += 1;
            None
        }
    }
}

/// Renders a label set as `a="x",b="y"`, sorted by name, which is both the series'
/// identity in the store and the text copied into every sample line.
///
/// Attributes whose names collide after sanitising (`a.b` and `a_b`) are joined with
/// `;` in the order of their original keys, as Prometheus' own OTLP translator does;
/// the OTel Collector's exporter instead fails on the duplicate label and drops the
/// metric, which loses data. Point attributes hidden by a resource- or scope-derived
/// label of the same name are counted in `dropped.shadowed`.
fn render_key(labels: &mut [LabelRef<'_>], dropped: &mut DroppedLabels) -> Box<str> {
    labels.sort_by(|a, b| {
        a.name
            .cmp(b.name)
            .then(b.prio.cmp(&a.prio))
            .then(a.orig.cmp(b.orig))
    });
    let size: usize = labels.iter().map(|l| l.name.len() + l.value.len() + 4).sum();
    let mut out = String::with_capacity(size);
    let mut i = 0;
    while i < labels.len() {
        let name = labels[i].name;
        let top = labels[i].prio;
        let mut j = i;
        while j < labels.len() && labels[j].name == name {
            j += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(name);
        out.push_str("=\"");
        let mut first = true;
        if top != PRIO_ATTR {
            dropped.shadowed += labels[i..j].iter().filter(|l| l.prio == PRIO_ATTR).count() as u64;
        }
        for label in &labels[i..j] {
            if label.prio != top || (!first && top != PRIO_ATTR) {
                break;
            }
            if !first {
                out.push(';');
            }
            escape_label_value(&mut out, label.value);
            first = false;
        }
        out.push('"');
        i = j;
    }
    out.into_boxed_str()
}

/// Turns export requests into store batches according to the exporter's configuration.
#[derive(Debug, Clone)]
pub(crate) struct Translator {
    namespace: String,
    add_suffixes: bool,
    const_labels: Vec<Label>,
    resource_to_telemetry: bool,
    exclude_service_attributes: bool,
    without_scope_info: bool,
    target_family: String,
}

impl Translator {
    /// A translator for `config`.
    pub(crate) fn new(config: &PrometheusExporterConfig) -> Self {
        let const_labels = config
            .const_labels
            .iter()
            .filter_map(|(k, v)| {
                Some(Label {
                    name: label_name(k)?,
                    value: v.clone(),
                    prio: PRIO_CONST,
                    orig: k.clone(),
                })
            })
            .collect();
        // The exporter names `target_info` with the label namer applied to the namespace.
        let target_family = match label_name(&config.namespace) {
            Some(ns) => format!("{ns}_target_info"),
            None => "target_info".to_string(),
        };
        Translator {
            namespace: config.namespace.clone(),
            add_suffixes: config.add_metric_suffixes,
            const_labels,
            resource_to_telemetry: config.resource_to_telemetry_conversion.enabled,
            exclude_service_attributes: config.resource_to_telemetry_conversion.exclude_service_attributes,
            without_scope_info: config.without_scope_info,
            target_family,
        }
    }

    /// The name of the `target_info` family (`<namespace>_target_info` with a namespace).
    pub(crate) fn target_family(&self) -> &str {
        &self.target_family
    }

    /// Translates one export request.
    pub(crate) fn translate(&self, request: &ExportMetricsServiceRequest) -> Batch {
        let mut batch = Batch {
            targets: Vec::with_capacity(request.resource_metrics.len()),
            metrics: Vec::new(),
            dropped: DroppedLabels::default(),
        };
        for rm in &request.resource_metrics {
            let resource: &[KeyValue] = rm
                .resource
                .as_ref()
                .map(|r| r.attributes.as_slice())
                .unwrap_or(&[]);
            let job = job(resource);
            let instance = instance(resource);
            let resource_index = batch.targets.len();
            let target = target(resource, job.as_deref(), instance.as_deref(), &mut batch.dropped);
            batch.targets.push(target);

            // resource_to_telemetry_conversion copies every resource attribute onto every
            // data point, replacing a point attribute with the same key.
            let copied: Vec<(&str, String)> = if self.resource_to_telemetry {
                resource
                    .iter()
                    .filter(|kv| {
                        !(self.exclude_service_attributes
                            && matches!(
                                kv.key.as_str(),
                                SERVICE_NAME | SERVICE_NAMESPACE | SERVICE_INSTANCE_ID
                            ))
                    })
                    .map(|kv| (kv.key.as_str(), value_string(kv.value.as_ref())))
                    .collect()
            } else {
                Vec::new()
            };
            for sm in &rm.scope_metrics {
                let base = self.base_labels(sm, job.as_deref(), instance.as_deref());
                for metric in &sm.metrics {
                    self.translate_metric(metric, &base, &copied, resource_index, &mut batch);
                }
            }
        }
        batch
    }

    /// The labels every series of one scope shares: scope name, version, schema URL and
    /// attributes, `job`, `instance`, and the configured constant labels.
    fn base_labels(&self, sm: &ScopeMetrics, job: Option<&str>, instance: Option<&str>) -> Vec<Label> {
        let mut base = self.const_labels.clone();
        if !self.without_scope_info {
            let (name, version, attrs) = match &sm.scope {
                Some(s) => (s.name.as_str(), s.version.as_str(), s.attributes.as_slice()),
                None => ("", "", &[][..]),
            };
            for kv in attrs {
                if let Some(label) = label_name(&format!("otel_scope_{}", kv.key)) {
                    base.push(Label {
                        name: label,
                        value: value_string(kv.value.as_ref()),
                        prio: PRIO_SCOPE_ATTR,
                        orig: kv.key.clone(),
                    });
                }
            }
            for (label, value) in [
                ("otel_scope_name", name),
                ("otel_scope_version", version),
                ("otel_scope_schema_url", &sm.schema_url),
            ] {
                base.push(reserved(label, value));
            }
        }
        if let Some(job) = job {
            base.push(reserved("job", job));
        }
        if let Some(instance) = instance {
            base.push(reserved("instance", instance));
        }
        base
    }

    /// The store key of one data point: its attributes merged with the scope's labels.
    fn series_key(
        &self,
        base: &[Label],
        copied: &[(&str, String)],
        attrs: &[KeyValue],
        dropped: &mut DroppedLabels,
    ) -> Box<str> {
        let mut own: Vec<(String, Cow<'_, str>, &str)> = Vec::with_capacity(attrs.len() + copied.len());
        for kv in attrs {
            if copied.iter().any(|(k, _)| *k == kv.key) {
                continue;
            }
            if let Some(name) = attribute_label(&kv.key, dropped) {
                own.push((name, Cow::Owned(value_string(kv.value.as_ref())), &kv.key));
            }
        }
        for (key, value) in copied {
            if let Some(name) = attribute_label(key, dropped) {
                own.push((name, Cow::Borrowed(value.as_str()), key));
            }
        }
        let mut refs: Vec<LabelRef<'_>> = Vec::with_capacity(base.len() + own.len());
        refs.extend(base.iter().map(LabelRef::from));
        refs.extend(own.iter().map(|(name, value, orig)| LabelRef {
            name,
            value,
            prio: PRIO_ATTR,
            orig,
        }));
        render_key(&mut refs, dropped)
    }

    fn translate_metric(
        &self,
        metric: &Metric,
        base: &[Label],
        copied: &[(&str, String)],
        resource: usize,
        batch: &mut Batch,
    ) {
        let Some(data) = &metric.data else {
            return;
        };
        let (kind, name_type, temporality) = match data {
            Data::Gauge(_) => {
                let untyped = metric.metadata.iter().any(|kv| {
                    kv.key == METADATA_TYPE_KEY
                        && matches!(
                            kv.value.as_ref().and_then(|v| v.value.as_ref()),
                            Some(any_value::Value::StringValue(s)) if s == "unknown"
                        )
                });
                let kind = if untyped { Kind::Untyped } else { Kind::Gauge };
                (kind, NameType::Gauge, Temporality::Cumulative)
            }
            Data::Sum(sum) => {
                let temporality = temporality_of(sum.aggregation_temporality);
                // The exporter drops sums it cannot expose: unspecified temporality, and
                // delta non-monotonic sums (an up-down delta has no Prometheus form).
                if temporality == Temporality::Unspecified
                    || (temporality == Temporality::Delta && !sum.is_monotonic)
                {
                    tracing::debug!(metric = %metric.name, "Sum dropped: unspecified temporality or a delta up-down sum.");
                    return;
                }
                if sum.is_monotonic {
                    (Kind::Counter, NameType::MonotonicCounter, temporality)
                } else {
                    (Kind::Gauge, NameType::NonMonotonicCounter, temporality)
                }
            }
            Data::Histogram(h) => (
                Kind::Histogram,
                NameType::Histogram,
                temporality_of(h.aggregation_temporality),
            ),
            Data::ExponentialHistogram(h) => (
                Kind::Histogram,
                NameType::ExponentialHistogram,
                temporality_of(h.aggregation_temporality),
            ),
            Data::Summary(_) => (Kind::Summary, NameType::Summary, Temporality::Cumulative),
        };
        let Some(family) = metric_name(
            &metric.name,
            &metric.unit,
            name_type,
            &self.namespace,
            self.add_suffixes,
        ) else {
            tracing::warn!(metric = %metric.name, "Metric dropped: its name has no valid Prometheus form.");
            return;
        };
        let keep_exemplars = matches!(kind, Kind::Counter) || matches!(data, Data::Histogram(_));
        let mut points = Vec::new();
        let dropped = &mut batch.dropped;
        let mut push =
            |attrs: &[KeyValue], start: u64, time: u64, flags: u32, data: PointData, ex: &[OtlpExemplar]| {
                points.push(Point {
                    key: self.series_key(base, copied, attrs, dropped),
                    start,
                    time,
                    no_value: flags & FLAG_NO_RECORDED_VALUE != 0,
                    data,
                    exemplars: if keep_exemplars {
                        ex.iter().map(exemplar_of).collect()
                    } else {
                        Vec::new()
                    },
                });
            };
        match data {
            Data::Gauge(g) => {
                for p in &g.data_points {
                    let data = PointData::Number(number_of(p.value.as_ref()));
                    push(
                        &p.attributes,
                        p.start_time_unix_nano,
                        p.time_unix_nano,
                        p.flags,
                        data,
                        &p.exemplars,
                    );
                }
            }
            Data::Sum(s) => {
                for p in &s.data_points {
                    let data = PointData::Number(number_of(p.value.as_ref()));
                    push(
                        &p.attributes,
                        p.start_time_unix_nano,
                        p.time_unix_nano,
                        p.flags,
                        data,
                        &p.exemplars,
                    );
                }
            }
            Data::Histogram(h) => {
                for p in &h.data_points {
                    let data = PointData::Histogram {
                        bounds: p.explicit_bounds.clone(),
                        counts: p.bucket_counts.clone(),
                        sum: p.sum.unwrap_or(0.0),
                        count: p.count,
                    };
                    push(
                        &p.attributes,
                        p.start_time_unix_nano,
                        p.time_unix_nano,
                        p.flags,
                        data,
                        &p.exemplars,
                    );
                }
            }
            Data::ExponentialHistogram(h) => {
                for p in &h.data_points {
                    if !(MIN_SCALE..=MAX_SCALE).contains(&p.scale) {
                        tracing::warn!(metric = %metric.name, scale = p.scale, "Exponential histogram point dropped: scale outside [-10, 20].");
                        continue;
                    }
                    let buckets = |b: Option<
                        &opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets,
                    >| match b {
                        Some(b) => ExpBuckets {
                            offset: b.offset,
                            counts: b.bucket_counts.clone(),
                        },
                        None => ExpBuckets::default(),
                    };
                    let data = PointData::Exponential(ExpPoint {
                        scale: p.scale,
                        zero_count: p.zero_count,
                        zero_threshold: if p.zero_threshold.is_finite() {
                            p.zero_threshold.abs()
                        } else {
                            0.0
                        },
                        positive: buckets(p.positive.as_ref()),
                        negative: buckets(p.negative.as_ref()),
                        sum: p.sum,
                        count: p.count,
                    });
                    push(
                        &p.attributes,
                        p.start_time_unix_nano,
                        p.time_unix_nano,
                        p.flags,
                        data,
                        &p.exemplars,
                    );
                }
            }
            Data::Summary(s) => {
                for p in &s.data_points {
                    let data = PointData::Summary {
                        quantiles: p.quantile_values.iter().map(|q| (q.quantile, q.value)).collect(),
                        sum: p.sum,
                        count: p.count,
                    };
                    push(
                        &p.attributes,
                        p.start_time_unix_nano,
                        p.time_unix_nano,
                        p.flags,
                        data,
                        &[],
                    );
                }
            }
        }
        if !points.is_empty() {
            batch.metrics.push(MetricBatch {
                family,
                kind,
                help: metric.description.clone(),
                temporality,
                resource,
                points,
            });
        }
    }
}

fn reserved(name: &str, value: &str) -> Label {
    Label {
        name: name.to_string(),
        value: value.to_string(),
        prio: PRIO_RESERVED,
        orig: name.to_string(),
    }
}

/// The `target_info` series for a resource: every attribute except the three that make
/// `job` and `instance`, plus `job` and `instance`. Only resources with both a
/// non-empty job and instance get one, as in the OTel Collector's exporter.
fn target(
    resource: &[KeyValue],
    job: Option<&str>,
    instance: Option<&str>,
    dropped: &mut DroppedLabels,
) -> Option<Target> {
    let (job, instance) = (
        job.filter(|j| !j.is_empty())?,
        instance.filter(|i| !i.is_empty())?,
    );
    let own: Vec<(String, String, &str)> = resource
        .iter()
        .filter(|kv| {
            !matches!(
                kv.key.as_str(),
                SERVICE_NAME | SERVICE_NAMESPACE | SERVICE_INSTANCE_ID
            )
        })
        .filter_map(|kv| {
            Some((
                attribute_label(&kv.key, dropped)?,
                value_string(kv.value.as_ref()),
                kv.key.as_str(),
            ))
        })
        .collect();
    let fixed = [reserved("job", job), reserved("instance", instance)];
    let mut refs: Vec<LabelRef<'_>> = fixed.iter().map(LabelRef::from).collect();
    refs.extend(own.iter().map(|(name, value, orig)| LabelRef {
        name,
        value,
        prio: PRIO_ATTR,
        orig,
    }));
    Some(Target {
        id: TargetId::new(job, instance),
        key: render_key(&mut refs, dropped),
    })
}

fn temporality_of(value: i32) -> Temporality {
    match AggregationTemporality::try_from(value) {
        Ok(AggregationTemporality::Delta) => Temporality::Delta,
        Ok(AggregationTemporality::Cumulative) => Temporality::Cumulative,
        _ => Temporality::Unspecified,
    }
}

fn number_of(value: Option<&number_data_point::Value>) -> Number {
    match value {
        Some(number_data_point::Value::AsInt(i)) => Number::Int(*i),
        Some(number_data_point::Value::AsDouble(f)) => Number::Double(*f),
        None => Number::Double(0.0),
    }
}

fn exemplar_of(e: &OtlpExemplar) -> Exemplar {
    let value = match e.value {
        Some(exemplar::Value::AsDouble(f)) => f,
        Some(exemplar::Value::AsInt(i)) => i as f64,
        None => 0.0,
    };
    // An all-zero id is pdata's "empty" id and gets no label.
    let hex = |id: &[u8]| {
        if id.iter().all(|b| *b == 0) {
            String::new()
        } else {
            id.iter().map(|b| format!("{b:02x}")).collect()
        }
    };
    Exemplar {
        value,
        time_unix_nano: e.time_unix_nano,
        trace_id: hex(&e.trace_id),
        span_id: hex(&e.span_id),
    }
}
