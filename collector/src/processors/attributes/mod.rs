//! The `attributes` processor: attribute actions ([`crate::processors::attrs`]) on the
//! attributes of spans, log records and metric data points, as otelcol-contrib's
//! attributes processor, optionally limited by `include` / `exclude` match properties.
//!
//! ```yaml
//! processors:
//!   attributes:
//!     include:
//!       match_type: strict
//!       services: [checkout]
//!     actions:
//!       - key: db.statement
//!         action: delete
//!       - key: user.email
//!         action: hash
//! ```
//!
//! Match properties supported (`match_type` `strict` or `regexp`; every property given
//! must match, any entry of a list may): `services` (the resource's `service.name`),
//! `span_names` (spans only), `metric_names` (metrics only), `log_severity_texts` (logs
//! only), `attributes` and `resources` (`key` present, and equal to `value` when given; a
//! regular expression over the string value for `regexp`), `libraries` (scope `name`,
//! and `version` when given). A property that does not apply to a signal does not match
//! it (otelcol refuses such a configuration for that pipeline instead). Other otelcol
//! properties (`span_kinds`, `log_bodies`, `log_severity_number`, `regexp` cache
//! settings) are refused by name.
//!
//! Spans carried raw stay raw ([`crate::processors::raw`]): each span's attribute keys are
//! read from its bytes, values are decoded only where an action or a match reads them, and
//! a span no action changes is copied as it is. Log records and metrics are decoded.

use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Av;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::Metric;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::resource::v1::Resource;
use regex::Regex;
use serde::Deserialize;
use serde_norway::Value as Yaml;

use crate::component::{BuildContext, BuildError};
use crate::config::ConfigError;
use crate::consumer::{ConsumeError, Consumer, Signal, Telemetry, TracesPayload};
use crate::processors::attrs::{self, ActionConfig, Actions, AttrList};
use crate::processors::decode;
use crate::processors::raw::{self, AttrsScratch, Editor, ItemEdit, RawAttrs, View};

/// `processors.attributes`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributesConfig {
    /// The actions, applied in order. At least one is required.
    #[serde(default)]
    pub actions: Vec<ActionConfig>,
    /// Only items matching these properties are changed.
    #[serde(default)]
    pub include: Option<MatchConfig>,
    /// Items matching these properties are left alone (checked after `include`).
    #[serde(default)]
    pub exclude: Option<MatchConfig>,
}

/// `include` / `exclude`: otelcol's match properties (the subset listed in the module
/// docs).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchConfig {
    /// `strict` (exact equality) or `regexp` (unanchored regular expressions).
    pub match_type: String,
    /// Values of the resource's `service.name`.
    #[serde(default)]
    pub services: Vec<String>,
    /// Span names.
    #[serde(default)]
    pub span_names: Vec<String>,
    /// Metric names.
    #[serde(default)]
    pub metric_names: Vec<String>,
    /// Log records' severity texts.
    #[serde(default)]
    pub log_severity_texts: Vec<String>,
    /// Item attributes that must all be present (and equal `value` when given).
    #[serde(default)]
    pub attributes: Vec<AttributeMatch>,
    /// Resource attributes that must all be present (and equal `value` when given).
    #[serde(default)]
    pub resources: Vec<AttributeMatch>,
    /// Instrumentation scopes (`name`, optional `version`).
    #[serde(default)]
    pub libraries: Vec<LibraryMatch>,
}

/// One `attributes` / `resources` entry of a match.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeMatch {
    /// The attribute name.
    pub key: String,
    /// The value it must have; any value when absent.
    #[serde(default)]
    pub value: Option<Yaml>,
}

/// One `libraries` entry of a match.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LibraryMatch {
    /// The scope name.
    pub name: String,
    /// The scope version; any when absent.
    #[serde(default)]
    pub version: Option<String>,
}

/// A string test: equality or an unanchored regular expression.
#[derive(Debug, Clone)]
enum Text {
    Exact(String),
    Regex(Regex),
}

impl Text {
    fn matches(&self, s: &str) -> bool {
        match self {
            Text::Exact(e) => e == s,
            Text::Regex(re) => re.is_match(s),
        }
    }
}

#[derive(Debug, Clone)]
enum ValueTest {
    Any,
    Equal(AnyValue),
    Regex(Regex),
}

#[derive(Debug, Clone, Default)]
struct Matcher {
    services: Vec<Text>,
    span_names: Vec<Text>,
    metric_names: Vec<Text>,
    severity_texts: Vec<Text>,
    attributes: Vec<(String, ValueTest)>,
    resources: Vec<(String, ValueTest)>,
    libraries: Vec<(Text, Option<Text>)>,
}

impl MatchConfig {
    fn compile(&self, path: &str) -> Result<Matcher, ConfigError> {
        let regexp = match self.match_type.as_str() {
            "strict" => false,
            "regexp" => true,
            other => {
                return Err(ConfigError::at(
                    format!("{path}.match_type"),
                    format!("must be strict or regexp, got {other:?}"),
                ));
            }
        };
        let text = |s: &str, at: String| -> Result<Text, ConfigError> {
            if regexp {
                Regex::new(s)
                    .map(Text::Regex)
                    .map_err(|err| ConfigError::at(at, format!("is not a valid regular expression: {err}")))
            } else {
                Ok(Text::Exact(s.to_string()))
            }
        };
        let texts = |list: &[String], name: &str| -> Result<Vec<Text>, ConfigError> {
            list.iter()
                .enumerate()
                .map(|(i, s)| text(s, format!("{path}.{name}[{i}]")))
                .collect()
        };
        let values = |list: &[AttributeMatch], name: &str| {
            list.iter()
                .enumerate()
                .map(|(i, m)| {
                    let at = format!("{path}.{name}[{i}].value");
                    let test = match &m.value {
                        None => ValueTest::Any,
                        Some(v) if regexp => {
                            let Some(s) = v.as_str() else {
                                return Err(ConfigError::at(
                                    at,
                                    "must be a string (a regular expression) with match_type regexp",
                                ));
                            };
                            ValueTest::Regex(Regex::new(s).map_err(|err| {
                                ConfigError::at(
                                    at.clone(),
                                    format!("is not a valid regular expression: {err}"),
                                )
                            })?)
                        }
                        Some(v) => ValueTest::Equal(attrs::yaml_to_any(v, &at)?),
                    };
                    Ok((m.key.clone(), test))
                })
                .collect::<Result<Vec<_>, ConfigError>>()
        };
        let matcher = Matcher {
            services: texts(&self.services, "services")?,
            span_names: texts(&self.span_names, "span_names")?,
            metric_names: texts(&self.metric_names, "metric_names")?,
            severity_texts: texts(&self.log_severity_texts, "log_severity_texts")?,
            attributes: values(&self.attributes, "attributes")?,
            resources: values(&self.resources, "resources")?,
            libraries: self
                .libraries
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    let at = format!("{path}.libraries[{i}]");
                    Ok((
                        text(&l.name, format!("{at}.name"))?,
                        l.version
                            .as_deref()
                            .map(|v| text(v, format!("{at}.version")))
                            .transpose()?,
                    ))
                })
                .collect::<Result<_, ConfigError>>()?,
        };
        let m = &matcher;
        if m.services.is_empty()
            && m.span_names.is_empty()
            && m.metric_names.is_empty()
            && m.severity_texts.is_empty()
            && m.attributes.is_empty()
            && m.resources.is_empty()
            && m.libraries.is_empty()
        {
            return Err(ConfigError::at(
                path,
                "must give at least one of services, span_names, metric_names, log_severity_texts, attributes, resources, libraries",
            ));
        }
        Ok(matcher)
    }
}

/// What a match looks at in one item.
struct Subject<'a> {
    signal: Signal,
    resource: Option<&'a Resource>,
    scope: Option<&'a InstrumentationScope>,
    /// The span name, metric name or severity text.
    name: &'a str,
    attributes: &'a dyn AttrList,
}

fn value_matches(attrs: &dyn AttrList, key: &str, test: &ValueTest) -> bool {
    let Some(v) = attrs.get(key) else {
        return false;
    };
    match test {
        ValueTest::Any => true,
        ValueTest::Equal(want) => *v == *want,
        ValueTest::Regex(re) => matches!(&v.value, Some(Av::StringValue(s)) if re.is_match(s)),
    }
}

impl Matcher {
    fn matches(&self, s: &Subject<'_>) -> bool {
        let any = |list: &[Text], value: &str| list.is_empty() || list.iter().any(|t| t.matches(value));
        let only =
            |list: &[Text], signal: Signal| list.is_empty() || (s.signal == signal && any(list, s.name));
        let no_attributes = Vec::new();
        let resource_attrs: &Vec<KeyValue> = s.resource.map_or(&no_attributes, |r| &r.attributes);
        let service = match attrs::get(resource_attrs, "service.name").and_then(|v| v.value.as_ref()) {
            Some(Av::StringValue(name)) => name.as_str(),
            _ => "",
        };
        (self.services.is_empty() || any(&self.services, service))
            && only(&self.span_names, Signal::Traces)
            && only(&self.metric_names, Signal::Metrics)
            && only(&self.severity_texts, Signal::Logs)
            && self
                .attributes
                .iter()
                .all(|(k, t)| value_matches(s.attributes, k, t))
            && self
                .resources
                .iter()
                .all(|(k, t)| value_matches(resource_attrs, k, t))
            && (self.libraries.is_empty()
                || self.libraries.iter().any(|(name, version)| {
                    let scope_name = s.scope.map_or("", |sc| sc.name.as_str());
                    let scope_version = s.scope.map_or("", |sc| sc.version.as_str());
                    name.matches(scope_name) && version.as_ref().is_none_or(|v| v.matches(scope_version))
                }))
    }
}

impl AttributesConfig {
    /// Checks the actions and match properties; errors name the YAML path.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        self.compile(path).map(|_| ())
    }

    fn compile(&self, path: &str) -> Result<Compiled, ConfigError> {
        if self.actions.is_empty() {
            return Err(ConfigError::at(
                format!("{path}.actions"),
                "must list at least one action",
            ));
        }
        Ok(Compiled {
            actions: Actions::compile(&self.actions, path)?,
            include: self
                .include
                .as_ref()
                .map(|m| m.compile(&format!("{path}.include")))
                .transpose()?,
            exclude: self
                .exclude
                .as_ref()
                .map(|m| m.compile(&format!("{path}.exclude")))
                .transpose()?,
        })
    }
}

#[derive(Debug, Clone)]
struct Compiled {
    actions: Actions,
    include: Option<Matcher>,
    exclude: Option<Matcher>,
}

impl Compiled {
    fn filtered(&self) -> bool {
        self.include.is_some() || self.exclude.is_some()
    }
}

/// Builds the processor in front of `next`.
pub fn build(
    config: &AttributesConfig,
    next: Arc<dyn Consumer>,
    ctx: &BuildContext,
) -> Result<Arc<dyn Consumer>, BuildError> {
    let compiled = config
        .compile(&format!("processors.{}", ctx.id))
        .map_err(|err| BuildError::Invalid {
            id: ctx.id.clone(),
            message: err.to_string(),
        })?;
    Ok(Arc::new(AttributesProcessor { compiled, next }))
}

/// Applies the actions to every matching span, log record and data point.
pub struct AttributesProcessor {
    compiled: Compiled,
    next: Arc<dyn Consumer>,
}

impl AttributesProcessor {
    /// The processor over `config` (for tests and the loadgen bench).
    pub fn new(config: &AttributesConfig, next: Arc<dyn Consumer>) -> Result<Self, ConfigError> {
        Ok(AttributesProcessor {
            compiled: config.compile("processors.attributes")?,
            next,
        })
    }
}

/// Applies `c` to each data point of `metric`.
fn metric_points(
    c: &Compiled,
    metric: &mut Metric,
    resource: Option<&Resource>,
    scope: Option<&InstrumentationScope>,
) {
    let Metric { name, data, .. } = metric;
    let name: &str = name;
    let each = |attributes: &mut Vec<KeyValue>| {
        item(c, Signal::Metrics, resource, scope, name, attributes);
    };
    match data {
        Some(Data::Gauge(g)) => g.data_points.iter_mut().for_each(|p| each(&mut p.attributes)),
        Some(Data::Sum(s)) => s.data_points.iter_mut().for_each(|p| each(&mut p.attributes)),
        Some(Data::Histogram(h)) => h.data_points.iter_mut().for_each(|p| each(&mut p.attributes)),
        Some(Data::ExponentialHistogram(h)) => h.data_points.iter_mut().for_each(|p| each(&mut p.attributes)),
        Some(Data::Summary(s)) => s.data_points.iter_mut().for_each(|p| each(&mut p.attributes)),
        None => {}
    }
}

/// Runs `c` on one item's attributes: directly without match properties, else after
/// matching against a snapshot of the item.
fn item<L: AttrList>(
    c: &Compiled,
    signal: Signal,
    resource: Option<&Resource>,
    scope: Option<&InstrumentationScope>,
    name: &str,
    attributes: &mut L,
) {
    if !c.filtered() {
        c.actions.apply(attributes);
        return;
    }
    let matched = {
        let subject = Subject {
            signal,
            resource,
            scope,
            name,
            attributes,
        };
        c.include.as_ref().is_none_or(|m| m.matches(&subject))
            && !c.exclude.as_ref().is_some_and(|m| m.matches(&subject))
    };
    if matched {
        c.actions.apply(attributes);
    }
}

#[async_trait]
impl Consumer for AttributesProcessor {
    async fn consume(&self, data: Telemetry) -> Result<(), ConsumeError> {
        let c = &self.compiled;
        let data = match data {
            Telemetry::Traces(payload) if payload.is_raw() => Telemetry::Traces(self.raw(&payload)?),
            Telemetry::Traces(payload) => {
                let mut request = decode::traces(payload)?;
                for rs in &mut request.resource_spans {
                    let resource = rs.resource.as_ref();
                    for ss in &mut rs.scope_spans {
                        let scope = ss.scope.as_ref();
                        for span in &mut ss.spans {
                            item(
                                c,
                                Signal::Traces,
                                resource,
                                scope,
                                &span.name,
                                &mut span.attributes,
                            );
                        }
                    }
                }
                Telemetry::traces(request)
            }
            Telemetry::Metrics(mut request) => {
                for rm in &mut request.resource_metrics {
                    let resource = rm.resource.as_ref();
                    for sm in &mut rm.scope_metrics {
                        let scope = sm.scope.as_ref();
                        for metric in &mut sm.metrics {
                            metric_points(c, metric, resource, scope);
                        }
                    }
                }
                Telemetry::Metrics(request)
            }
            Telemetry::Logs(payload) => {
                let mut request = decode::logs(payload)?;
                for rl in &mut request.resource_logs {
                    let resource = rl.resource.as_ref();
                    for sl in &mut rl.scope_logs {
                        let scope = sl.scope.as_ref();
                        for record in &mut sl.log_records {
                            item(
                                c,
                                Signal::Logs,
                                resource,
                                scope,
                                &record.severity_text,
                                &mut record.attributes,
                            );
                        }
                    }
                }
                Telemetry::logs(request)
            }
        };
        self.next.consume(data).await
    }
}

impl AttributesProcessor {
    /// The raw path: spans changed in their bytes.
    fn raw(&self, payload: &TracesPayload) -> Result<TracesPayload, ConsumeError> {
        let bytes = payload.raw().unwrap_or_default();
        let mut editor = SpanEditor {
            compiled: &self.compiled,
            scratch: AttrsScratch::default(),
        };
        let (out, counts) = raw::rewrite(&bytes, payload.counts(), &mut editor)?;
        Ok(TracesPayload::from_validated(out.into(), counts))
    }
}

/// Runs the actions on each span's attributes; decodes resources and scopes only for
/// match properties.
struct SpanEditor<'a, 'b> {
    compiled: &'a Compiled,
    scratch: AttrsScratch<'b>,
}

/// `Span.attributes` and `Span.name`.
const SPAN_ATTRIBUTES: u32 = 9;
const SPAN_NAME: u32 = 5;

impl<'b> Editor<'b> for SpanEditor<'_, 'b> {
    type Resource = Option<Resource>;
    type Scope = Option<InstrumentationScope>;
    const VISITS_ITEMS: bool = true;
    const DROPS_EMPTY: bool = false;

    fn resource(
        &mut self,
        buf: &[u8],
        occurrences: &[Range<usize>],
    ) -> Result<(Option<Vec<u8>>, Option<Resource>), ConsumeError> {
        let resource = if self.compiled.filtered() {
            raw::merged(buf, occurrences)?
        } else {
            None
        };
        Ok((None, resource))
    }

    fn scope(
        &mut self,
        buf: &[u8],
        occurrences: &[Range<usize>],
    ) -> Result<Option<InstrumentationScope>, ConsumeError> {
        if self.compiled.filtered() {
            raw::merged(buf, occurrences)
        } else {
            Ok(None)
        }
    }

    fn item(
        &mut self,
        resource: &Option<Resource>,
        scope: &Option<InstrumentationScope>,
        span: &'b [u8],
        out: &mut Vec<u8>,
    ) -> Result<ItemEdit, ConsumeError> {
        let mut attributes = RawAttrs::read(span, SPAN_ATTRIBUTES, &mut self.scratch);
        let name = if self.compiled.filtered() {
            View::new(span).string(SPAN_NAME)
        } else {
            ""
        };
        item(
            self.compiled,
            Signal::Traces,
            resource.as_ref(),
            scope.as_ref(),
            name,
            &mut attributes,
        );
        if !attributes.changed() {
            return Ok(ItemEdit::Keep);
        }
        attributes.write(out);
        Ok(ItemEdit::Rewritten)
    }
}

#[cfg(test)]
mod tests;
