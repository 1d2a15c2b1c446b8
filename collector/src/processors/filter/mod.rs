//! The `filter` processor: drops spans, span events, metrics, data points and log
//! records for which any of the configured OTTL conditions holds, as otelcol-contrib's
//! filter processor does with its OTTL configuration.
//!
//! ```yaml
//! processors:
//!   filter:
//!     error_mode: ignore
//!     traces:
//!       span:
//!         - 'attributes["http.route"] == "/health"'
//!         - 'kind == SPAN_KIND_INTERNAL and IsMatch(name, "^cache\\.")'
//!       spanevent:
//!         - 'name == "debug"'
//!     metrics:
//!       metric:
//!         - 'name == "process.runtime.gc.count"'
//!       datapoint:
//!         - 'metric.type == METRIC_DATA_TYPE_SUM and value_double == 0'
//!     logs:
//!       log_record:
//!         - 'severity_number < SEVERITY_NUMBER_INFO'
//! ```
//!
//! The conditions are the OTTL subset of [`crate::processors::ottl`]; anything else is
//! refused when the configuration is loaded. As in otelcol, a scope left without items
//! is removed, and a resource left without scopes; a metric whose data points are all
//! dropped is dropped; a request left with nothing is not passed on (the sender still
//! gets success). A signal without conditions passes through undecoded.
//!
//! Spans carried raw are filtered in their bytes when there are no `spanevent`
//! conditions: each span's fields and attributes are read where they lie, a resource and
//! a scope are decoded once per request, and the spans kept are copied as they are
//! ([`crate::processors::raw`]). With `spanevent` conditions the request is decoded.
//!
//! Divergence: the legacy `include`/`exclude` match-property configuration (`spans:`,
//! `metrics: include:`) is refused by name; write OTTL conditions instead.

use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Av;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::{
    ExponentialHistogramDataPoint, HistogramDataPoint, Metric, NumberDataPoint, SummaryDataPoint,
    metric::Data, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::Event;
use serde::Deserialize;

use crate::component::{BuildContext, BuildError};
use crate::config::ConfigError;
use crate::consumer::{ConsumeError, Consumer, Telemetry, TracesPayload};
use crate::processors::decode;
use crate::processors::ottl::{self, Condition, Context, Field, Item, MapKind, Path, Val};
use crate::processors::raw::{self, Editor, ItemEdit, Scalar, View};

/// `processors.filter`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterConfig {
    /// `propagate` (default), `ignore` or `silent`: what an evaluation error does. The
    /// supported subset cannot fail to evaluate, so the value is checked and kept for
    /// compatibility only.
    #[serde(default = "default_error_mode")]
    pub error_mode: String,
    /// Conditions on spans and span events.
    #[serde(default)]
    pub traces: TracesConditions,
    /// Conditions on metrics and data points.
    #[serde(default)]
    pub metrics: MetricsConditions,
    /// Conditions on log records.
    #[serde(default)]
    pub logs: LogsConditions,
}

fn default_error_mode() -> String {
    "propagate".to_string()
}

/// `processors.filter.traces`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TracesConditions {
    /// A span is dropped when any of these holds.
    #[serde(default)]
    pub span: Vec<String>,
    /// A span event is dropped when any of these holds.
    #[serde(default)]
    pub spanevent: Vec<String>,
}

/// `processors.filter.metrics`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConditions {
    /// A metric (with all its points) is dropped when any of these holds.
    #[serde(default)]
    pub metric: Vec<String>,
    /// A data point is dropped when any of these holds.
    #[serde(default)]
    pub datapoint: Vec<String>,
}

/// `processors.filter.logs`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsConditions {
    /// A log record is dropped when any of these holds.
    #[serde(default)]
    pub log_record: Vec<String>,
}

/// Parsed conditions per context.
#[derive(Debug, Clone, Default)]
struct Conditions {
    span: Vec<Condition>,
    spanevent: Vec<Condition>,
    metric: Vec<Condition>,
    datapoint: Vec<Condition>,
    log_record: Vec<Condition>,
}

impl FilterConfig {
    /// Parses every condition; errors name `path.traces.span[i]` and the byte offset.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        self.compile(path).map(|_| ())
    }

    fn compile(&self, path: &str) -> Result<Conditions, ConfigError> {
        if !matches!(self.error_mode.as_str(), "propagate" | "ignore" | "silent") {
            return Err(ConfigError::at(
                format!("{path}.error_mode"),
                format!("must be propagate, ignore or silent, got {:?}", self.error_mode),
            ));
        }
        let list = |ctx: Context, texts: &[String]| -> Result<Vec<Condition>, ConfigError> {
            texts
                .iter()
                .enumerate()
                .map(|(i, text)| {
                    ottl::parse(ctx, text).map_err(|err| {
                        ConfigError::at(format!("{path}.{}[{i}]", ctx.as_str()), err.to_string())
                    })
                })
                .collect()
        };
        Ok(Conditions {
            span: list(Context::Span, &self.traces.span)?,
            spanevent: list(Context::SpanEvent, &self.traces.spanevent)?,
            metric: list(Context::Metric, &self.metrics.metric)?,
            datapoint: list(Context::DataPoint, &self.metrics.datapoint)?,
            log_record: list(Context::LogRecord, &self.logs.log_record)?,
        })
    }
}

/// Builds the processor in front of `next`.
pub fn build(
    config: &FilterConfig,
    next: Arc<dyn Consumer>,
    ctx: &BuildContext,
) -> Result<Arc<dyn Consumer>, BuildError> {
    let conditions =
        config
            .compile(&format!("processors.{}", ctx.id))
            .map_err(|err| BuildError::Invalid {
                id: ctx.id.clone(),
                message: err.to_string(),
            })?;
    Ok(Arc::new(FilterProcessor { conditions, next }))
}

/// Drops the items a condition matches.
pub struct FilterProcessor {
    conditions: Conditions,
    next: Arc<dyn Consumer>,
}

impl FilterProcessor {
    /// The processor over `config` (for tests and the loadgen bench).
    pub fn new(config: &FilterConfig, next: Arc<dyn Consumer>) -> Result<Self, ConfigError> {
        Ok(FilterProcessor {
            conditions: config.compile("processors.filter")?,
            next,
        })
    }
}

fn any(conditions: &[Condition], item: &dyn Item) -> bool {
    conditions.iter().any(|c| c.eval(item))
}

#[async_trait]
impl Consumer for FilterProcessor {
    async fn consume(&self, data: Telemetry) -> Result<(), ConsumeError> {
        let c = &self.conditions;
        let data = match data {
            Telemetry::Traces(payload)
                if payload.is_raw() && !c.span.is_empty() && c.spanevent.is_empty() =>
            {
                let bytes = payload.raw().unwrap_or_default();
                let (out, counts) = raw::rewrite(&bytes, payload.counts(), &mut SpanFilter(&c.span))?;
                Telemetry::Traces(TracesPayload::from_validated(out.into(), counts))
            }
            Telemetry::Traces(payload) if !(c.span.is_empty() && c.spanevent.is_empty()) => {
                let mut request = decode::traces(payload)?;
                for rs in &mut request.resource_spans {
                    let resource = rs.resource.as_ref();
                    for ss in &mut rs.scope_spans {
                        let scope = ss.scope.as_ref();
                        if !c.span.is_empty() {
                            ss.spans.retain(|span| {
                                !any(
                                    &c.span,
                                    &SpanItem {
                                        span,
                                        resource,
                                        scope,
                                    },
                                )
                            });
                        }
                        if !c.spanevent.is_empty() {
                            for span in &mut ss.spans {
                                let mut events = std::mem::take(&mut span.events);
                                events.retain(|event| {
                                    !any(
                                        &c.spanevent,
                                        &EventItem {
                                            event,
                                            span,
                                            resource,
                                            scope,
                                        },
                                    )
                                });
                                span.events = events;
                            }
                        }
                    }
                    rs.scope_spans.retain(|ss| !ss.spans.is_empty());
                }
                request.resource_spans.retain(|rs| !rs.scope_spans.is_empty());
                Telemetry::traces(request)
            }
            Telemetry::Metrics(mut request) if !(c.metric.is_empty() && c.datapoint.is_empty()) => {
                for rm in &mut request.resource_metrics {
                    let resource = rm.resource.as_ref();
                    for sm in &mut rm.scope_metrics {
                        let scope = sm.scope.as_ref();
                        if !c.metric.is_empty() {
                            sm.metrics.retain(|metric| {
                                !any(
                                    &c.metric,
                                    &MetricItem {
                                        metric,
                                        resource,
                                        scope,
                                    },
                                )
                            });
                        }
                        if !c.datapoint.is_empty() {
                            for metric in &mut sm.metrics {
                                filter_points(&c.datapoint, metric, resource, scope);
                            }
                            sm.metrics
                                .retain(|m| crate::consumer::data_point_count(m.data.as_ref()) > 0);
                        }
                    }
                    rm.scope_metrics.retain(|sm| !sm.metrics.is_empty());
                }
                request.resource_metrics.retain(|rm| !rm.scope_metrics.is_empty());
                Telemetry::Metrics(request)
            }
            Telemetry::Logs(payload) if !c.log_record.is_empty() => {
                let mut request = decode::logs(payload)?;
                for rl in &mut request.resource_logs {
                    let resource = rl.resource.as_ref();
                    for sl in &mut rl.scope_logs {
                        let scope = sl.scope.as_ref();
                        sl.log_records.retain(|record| {
                            !any(
                                &c.log_record,
                                &LogItem {
                                    record,
                                    resource,
                                    scope,
                                },
                            )
                        });
                    }
                    rl.scope_logs.retain(|sl| !sl.log_records.is_empty());
                }
                request.resource_logs.retain(|rl| !rl.scope_logs.is_empty());
                Telemetry::logs(request)
            }
            untouched => untouched,
        };
        // As otelcol's processorhelper.ErrSkipProcessingData: nothing left, nothing sent.
        if data.item_count() == 0 {
            return Ok(());
        }
        self.next.consume(data).await
    }
}

/// Drops the data points of `metric` a condition matches, whatever the metric's type.
fn filter_points(
    conditions: &[Condition],
    metric: &mut Metric,
    resource: Option<&Resource>,
    scope: Option<&InstrumentationScope>,
) {
    // Disjoint borrows: the metric's names are read while its points are filtered.
    let Metric {
        name,
        description,
        unit,
        data,
        ..
    } = metric;
    let Some(data) = data.as_mut() else {
        return;
    };
    let metric = MetricView::of(name, description, unit, Some(data));
    let keep = |point: Point<'_>| {
        !any(
            conditions,
            &PointItem {
                point,
                metric,
                resource,
                scope,
            },
        )
    };
    match data {
        Data::Gauge(g) => g.data_points.retain(|p| keep(Point::Number(p))),
        Data::Sum(s) => s.data_points.retain(|p| keep(Point::Number(p))),
        Data::Histogram(h) => h.data_points.retain(|p| keep(Point::Histogram(p))),
        Data::ExponentialHistogram(h) => h.data_points.retain(|p| keep(Point::Exponential(p))),
        Data::Summary(s) => s.data_points.retain(|p| keep(Point::Summary(p))),
    }
}

fn any_value(v: Option<&AnyValue>) -> Val<'_> {
    match v.and_then(|v| v.value.as_ref()) {
        None => Val::Nil,
        Some(Av::StringValue(s)) => Val::Str(s.as_str().into()),
        Some(Av::IntValue(i)) => Val::Int(*i),
        Some(Av::DoubleValue(d)) => Val::Float(*d),
        Some(Av::BoolValue(b)) => Val::Bool(*b),
        Some(_) => Val::Other,
    }
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Val<'a> {
    any_value(crate::processors::attrs::get(attrs, key))
}

fn resource_attr<'a>(resource: Option<&'a Resource>, key: &str) -> Val<'a> {
    resource.map_or(Val::Nil, |r| attr(&r.attributes, key))
}

fn scope_field<'a>(scope: Option<&'a InstrumentationScope>, field: Field) -> Val<'a> {
    match field {
        Field::ScopeName => Val::Str(scope.map_or("", |s| s.name.as_str()).into()),
        Field::ScopeVersion => Val::Str(scope.map_or("", |s| s.version.as_str()).into()),
        _ => Val::Nil,
    }
}

/// A time or counter as OTTL reads it: an int64.
fn uint(v: u64) -> Val<'static> {
    Val::Int(v as i64)
}

/// Lowercase hex, as OTTL's `trace_id.string`; empty for an empty id.
fn hex(bytes: &[u8]) -> Val<'static> {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    Val::Str(out.into())
}

struct SpanItem<'a> {
    span: &'a Span,
    resource: Option<&'a Resource>,
    scope: Option<&'a InstrumentationScope>,
}

fn span_field(span: &Span, field: Field) -> Val<'_> {
    match field {
        Field::Name | Field::SpanName => Val::Str(span.name.as_str().into()),
        Field::Kind | Field::SpanKind => Val::Int(i64::from(span.kind)),
        Field::StatusCode | Field::SpanStatusCode => {
            Val::Int(span.status.as_ref().map_or(0, |s| i64::from(s.code)))
        }
        Field::StatusMessage => Val::Str(span.status.as_ref().map_or("", |s| s.message.as_str()).into()),
        Field::TraceState => Val::Str(span.trace_state.as_str().into()),
        Field::TraceId => hex(&span.trace_id),
        Field::SpanId => hex(&span.span_id),
        Field::ParentSpanId => hex(&span.parent_span_id),
        Field::StartTime => uint(span.start_time_unix_nano),
        Field::EndTime => uint(span.end_time_unix_nano),
        Field::DroppedAttributesCount => Val::Int(i64::from(span.dropped_attributes_count)),
        _ => Val::Nil,
    }
}

impl Item for SpanItem<'_> {
    fn get(&self, path: &Path) -> Val<'_> {
        match path {
            Path::Map(MapKind::Attributes, k) => attr(&self.span.attributes, k),
            Path::Map(MapKind::Resource, k) => resource_attr(self.resource, k),
            Path::Map(MapKind::SpanAttributes, _) => Val::Nil,
            Path::Field(f @ (Field::ScopeName | Field::ScopeVersion)) => scope_field(self.scope, *f),
            Path::Field(f) => span_field(self.span, *f),
        }
    }
}

/// Drops the raw spans a condition holds for.
struct SpanFilter<'a>(&'a [Condition]);

impl Editor<'_> for SpanFilter<'_> {
    type Resource = Option<Resource>;
    type Scope = Option<InstrumentationScope>;
    const VISITS_ITEMS: bool = true;
    const DROPS_EMPTY: bool = true;

    fn resource(
        &mut self,
        buf: &[u8],
        occurrences: &[Range<usize>],
    ) -> Result<(Option<Vec<u8>>, Option<Resource>), ConsumeError> {
        Ok((None, raw::merged(buf, occurrences)?))
    }

    fn scope(
        &mut self,
        buf: &[u8],
        occurrences: &[Range<usize>],
    ) -> Result<Option<InstrumentationScope>, ConsumeError> {
        raw::merged(buf, occurrences)
    }

    fn item(
        &mut self,
        resource: &Option<Resource>,
        scope: &Option<InstrumentationScope>,
        span: &[u8],
        _: &mut Vec<u8>,
    ) -> Result<ItemEdit, ConsumeError> {
        let item = RawSpanItem {
            span: View::new(span),
            resource: resource.as_ref(),
            scope: scope.as_ref(),
        };
        Ok(if any(self.0, &item) {
            ItemEdit::Drop
        } else {
            ItemEdit::Keep
        })
    }
}

/// A span still in its encoding, read as prost would decode it ([`SpanItem`] over the
/// decoded span).
struct RawSpanItem<'a> {
    span: View<'a>,
    resource: Option<&'a Resource>,
    scope: Option<&'a InstrumentationScope>,
}

/// `Span` field numbers (opentelemetry/proto/trace/v1/trace.proto).
mod span_tag {
    pub const TRACE_ID: u32 = 1;
    pub const SPAN_ID: u32 = 2;
    pub const TRACE_STATE: u32 = 3;
    pub const PARENT_SPAN_ID: u32 = 4;
    pub const NAME: u32 = 5;
    pub const KIND: u32 = 6;
    pub const START_TIME: u32 = 7;
    pub const END_TIME: u32 = 8;
    pub const ATTRIBUTES: u32 = 9;
    pub const DROPPED_ATTRIBUTES_COUNT: u32 = 10;
    pub const STATUS: u32 = 15;
    /// `Status.message` and `Status.code`.
    pub const STATUS_MESSAGE: u32 = 2;
    pub const STATUS_CODE: u32 = 3;
}

fn scalar(value: Scalar<'_>) -> Val<'_> {
    match value {
        Scalar::None => Val::Nil,
        Scalar::Str(s) => Val::Str(s.into()),
        Scalar::Bool(b) => Val::Bool(b),
        Scalar::Int(i) => Val::Int(i),
        Scalar::Double(d) => Val::Float(d),
        Scalar::Other => Val::Other,
    }
}

impl RawSpanItem<'_> {
    /// The last occurrence of `tag` among the occurrences of `Span.status`, merged.
    fn status(&self, tag: u32) -> Option<&[u8]> {
        let mut last = None;
        for status in self.span.messages(span_tag::STATUS) {
            for field in status.fields() {
                if field.tag == tag {
                    last = Some(status.bytes(&field));
                }
            }
        }
        last
    }

    fn field(&self, field: Field) -> Val<'_> {
        use span_tag as t;
        let s = self.span;
        match field {
            Field::Name | Field::SpanName => Val::Str(s.string(t::NAME).into()),
            // int32 and enum fields are the varint's low 32 bits, as prost reads them.
            Field::Kind | Field::SpanKind => Val::Int(i64::from(s.varint(t::KIND) as i32)),
            Field::StatusCode | Field::SpanStatusCode => Val::Int(i64::from(
                self.status(t::STATUS_CODE).map_or(0, raw::varint) as i32,
            )),
            Field::StatusMessage => Val::Str(self.status(t::STATUS_MESSAGE).map_or("", raw::text).into()),
            Field::TraceState => Val::Str(s.string(t::TRACE_STATE).into()),
            Field::TraceId => hex(s.last(t::TRACE_ID).unwrap_or_default()),
            Field::SpanId => hex(s.last(t::SPAN_ID).unwrap_or_default()),
            Field::ParentSpanId => hex(s.last(t::PARENT_SPAN_ID).unwrap_or_default()),
            Field::StartTime => uint(s.fixed64(t::START_TIME)),
            Field::EndTime => uint(s.fixed64(t::END_TIME)),
            Field::DroppedAttributesCount => {
                Val::Int(i64::from(s.varint(t::DROPPED_ATTRIBUTES_COUNT) as u32))
            }
            _ => Val::Nil,
        }
    }
}

impl Item for RawSpanItem<'_> {
    fn get(&self, path: &Path) -> Val<'_> {
        match path {
            Path::Map(MapKind::Attributes, k) => raw::attribute(self.span, span_tag::ATTRIBUTES, k)
                .map_or(Val::Nil, |kv| scalar(raw::scalar(kv))),
            Path::Map(MapKind::Resource, k) => resource_attr(self.resource, k),
            Path::Map(MapKind::SpanAttributes, _) => Val::Nil,
            Path::Field(f @ (Field::ScopeName | Field::ScopeVersion)) => scope_field(self.scope, *f),
            Path::Field(f) => self.field(*f),
        }
    }
}

struct EventItem<'a> {
    event: &'a Event,
    span: &'a Span,
    resource: Option<&'a Resource>,
    scope: Option<&'a InstrumentationScope>,
}

impl Item for EventItem<'_> {
    fn get(&self, path: &Path) -> Val<'_> {
        match path {
            Path::Map(MapKind::Attributes, k) => attr(&self.event.attributes, k),
            Path::Map(MapKind::Resource, k) => resource_attr(self.resource, k),
            Path::Map(MapKind::SpanAttributes, k) => attr(&self.span.attributes, k),
            Path::Field(Field::Name) => Val::Str(self.event.name.as_str().into()),
            Path::Field(Field::Time) => uint(self.event.time_unix_nano),
            Path::Field(Field::DroppedAttributesCount) => {
                Val::Int(i64::from(self.event.dropped_attributes_count))
            }
            Path::Field(f @ (Field::ScopeName | Field::ScopeVersion)) => scope_field(self.scope, *f),
            Path::Field(f @ (Field::SpanName | Field::SpanKind | Field::SpanStatusCode)) => {
                span_field(self.span, *f)
            }
            Path::Field(_) => Val::Nil,
        }
    }
}

struct MetricItem<'a> {
    metric: &'a Metric,
    resource: Option<&'a Resource>,
    scope: Option<&'a InstrumentationScope>,
}

/// What a condition can read of a metric, apart from its points.
#[derive(Clone, Copy)]
struct MetricView<'a> {
    name: &'a str,
    description: &'a str,
    unit: &'a str,
    /// OTTL's METRIC_DATA_TYPE_* value.
    type_code: i64,
    temporality: i32,
    monotonic: bool,
}

impl<'a> MetricView<'a> {
    fn of(name: &'a str, description: &'a str, unit: &'a str, data: Option<&Data>) -> Self {
        let (type_code, temporality, monotonic) = match data {
            None => (0, 0, false),
            Some(Data::Gauge(_)) => (1, 0, false),
            Some(Data::Sum(s)) => (2, s.aggregation_temporality, s.is_monotonic),
            Some(Data::Histogram(h)) => (3, h.aggregation_temporality, false),
            Some(Data::ExponentialHistogram(h)) => (4, h.aggregation_temporality, false),
            Some(Data::Summary(_)) => (5, 0, false),
        };
        MetricView {
            name,
            description,
            unit,
            type_code,
            temporality,
            monotonic,
        }
    }

    fn field(&self, field: Field) -> Val<'a> {
        match field {
            Field::Name | Field::MetricName => Val::Str(self.name.into()),
            Field::Description | Field::MetricDescription => Val::Str(self.description.into()),
            Field::Unit | Field::MetricUnit => Val::Str(self.unit.into()),
            Field::Type | Field::MetricType => Val::Int(self.type_code),
            Field::AggregationTemporality | Field::MetricAggregationTemporality => {
                Val::Int(i64::from(self.temporality))
            }
            Field::IsMonotonic | Field::MetricIsMonotonic => Val::Bool(self.monotonic),
            _ => Val::Nil,
        }
    }
}

impl Item for MetricItem<'_> {
    fn get(&self, path: &Path) -> Val<'_> {
        match path {
            Path::Map(MapKind::Resource, k) => resource_attr(self.resource, k),
            Path::Map(..) => Val::Nil,
            Path::Field(f @ (Field::ScopeName | Field::ScopeVersion)) => scope_field(self.scope, *f),
            Path::Field(f) => {
                let m = self.metric;
                MetricView::of(&m.name, &m.description, &m.unit, m.data.as_ref()).field(*f)
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Point<'a> {
    Number(&'a NumberDataPoint),
    Histogram(&'a HistogramDataPoint),
    Exponential(&'a ExponentialHistogramDataPoint),
    Summary(&'a SummaryDataPoint),
}

/// A data point and what encloses it.
struct PointItem<'a> {
    point: Point<'a>,
    metric: MetricView<'a>,
    resource: Option<&'a Resource>,
    scope: Option<&'a InstrumentationScope>,
}

impl PointItem<'_> {
    fn attributes(&self) -> &[KeyValue] {
        match self.point {
            Point::Number(p) => &p.attributes,
            Point::Histogram(p) => &p.attributes,
            Point::Exponential(p) => &p.attributes,
            Point::Summary(p) => &p.attributes,
        }
    }
}

impl Item for PointItem<'_> {
    fn get(&self, path: &Path) -> Val<'_> {
        use number_data_point::Value as N;
        match path {
            Path::Map(MapKind::Attributes, k) => attr(self.attributes(), k),
            Path::Map(MapKind::Resource, k) => resource_attr(self.resource, k),
            Path::Map(MapKind::SpanAttributes, _) => Val::Nil,
            Path::Field(f @ (Field::ScopeName | Field::ScopeVersion)) => scope_field(self.scope, *f),
            // pdata's IntValue()/DoubleValue() read 0 from a point of the other kind.
            Path::Field(Field::ValueInt) => match self.point {
                Point::Number(p) => Val::Int(match p.value {
                    Some(N::AsInt(i)) => i,
                    _ => 0,
                }),
                _ => Val::Nil,
            },
            Path::Field(Field::ValueDouble) => match self.point {
                Point::Number(p) => Val::Float(match p.value {
                    Some(N::AsDouble(d)) => d,
                    _ => 0.0,
                }),
                _ => Val::Nil,
            },
            Path::Field(Field::Count) => match self.point {
                Point::Histogram(p) => uint(p.count),
                Point::Exponential(p) => uint(p.count),
                Point::Summary(p) => uint(p.count),
                Point::Number(_) => Val::Nil,
            },
            Path::Field(Field::Sum) => match self.point {
                Point::Histogram(p) => p.sum.map_or(Val::Nil, Val::Float),
                Point::Exponential(p) => p.sum.map_or(Val::Nil, Val::Float),
                Point::Summary(p) => Val::Float(p.sum),
                Point::Number(_) => Val::Nil,
            },
            Path::Field(Field::Time) => uint(match self.point {
                Point::Number(p) => p.time_unix_nano,
                Point::Histogram(p) => p.time_unix_nano,
                Point::Exponential(p) => p.time_unix_nano,
                Point::Summary(p) => p.time_unix_nano,
            }),
            Path::Field(Field::StartTime) => uint(match self.point {
                Point::Number(p) => p.start_time_unix_nano,
                Point::Histogram(p) => p.start_time_unix_nano,
                Point::Exponential(p) => p.start_time_unix_nano,
                Point::Summary(p) => p.start_time_unix_nano,
            }),
            Path::Field(Field::Flags) => Val::Int(i64::from(match self.point {
                Point::Number(p) => p.flags,
                Point::Histogram(p) => p.flags,
                Point::Exponential(p) => p.flags,
                Point::Summary(p) => p.flags,
            })),
            Path::Field(f) => self.metric.field(*f),
        }
    }
}

struct LogItem<'a> {
    record: &'a LogRecord,
    resource: Option<&'a Resource>,
    scope: Option<&'a InstrumentationScope>,
}

impl Item for LogItem<'_> {
    fn get(&self, path: &Path) -> Val<'_> {
        let r = self.record;
        match path {
            Path::Map(MapKind::Attributes, k) => attr(&r.attributes, k),
            Path::Map(MapKind::Resource, k) => resource_attr(self.resource, k),
            Path::Map(MapKind::SpanAttributes, _) => Val::Nil,
            Path::Field(f @ (Field::ScopeName | Field::ScopeVersion)) => scope_field(self.scope, *f),
            Path::Field(Field::Body) => any_value(r.body.as_ref()),
            Path::Field(Field::SeverityNumber) => Val::Int(i64::from(r.severity_number)),
            Path::Field(Field::SeverityText) => Val::Str(r.severity_text.as_str().into()),
            Path::Field(Field::Time) => uint(r.time_unix_nano),
            Path::Field(Field::ObservedTime) => uint(r.observed_time_unix_nano),
            Path::Field(Field::Flags) => Val::Int(i64::from(r.flags)),
            Path::Field(Field::TraceId) => hex(&r.trace_id),
            Path::Field(Field::SpanId) => hex(&r.span_id),
            Path::Field(Field::DroppedAttributesCount) => Val::Int(i64::from(r.dropped_attributes_count)),
            Path::Field(_) => Val::Nil,
        }
    }
}

#[cfg(test)]
mod tests;
