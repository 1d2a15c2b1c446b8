//! OTLP/JSON decoding (<https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding>).
//!
//! The messages' serde derives (`opentelemetry-proto` feature `with-serde`) implement most
//! of the mapping: lowerCamelCase keys, hex trace and span ids (either case), 64-bit
//! integers as strings or numbers, enums as integers, unknown fields ignored. The tests
//! in `tests.rs` hold them to the spec's examples. Three kinds of gap remain, each worked
//! around here:
//!
//! 1. **Silent loss in metrics.** A oneof is a `#[serde(flatten)] Option<enum>`, and serde
//!    turns any error inside a flattened `Option` into `None`. A metric whose data holds
//!    one bad field (`"flags": "1"`, an enum name, a malformed `asInt`) decodes as a
//!    metric with no data, a data point with a bad value as a point with no value — and
//!    the request "succeeds". Every decoded metrics request is therefore checked against
//!    the JSON ([`JsonRequest`]): a value present in the JSON but absent after decoding
//!    is a 400 naming its path and the real error.
//! 2. **proto3 JSON leniency the derives lack**, accepted after normalizing a copy
//!    ([`normalize_json`]): `null` for a field's default; `arrayValue: {}`,
//!    `kvlistValue: {}` and a `KeyValue` without `key` (no `#[serde(default)]` on those
//!    messages); 32-bit integers and enums as decimal strings (`"kind": "2"`).
//! 3. **Enum names** (`"kind": "SPAN_KIND_SERVER"`): OTLP senders MUST NOT use them, but
//!    the OTel Collector accepts them, so they are normalized to their numbers too.
//!
//! The fast path is the plain derive (plus, for metrics, a shadow parse that allocates
//! nothing per value); only bodies that fail or lose data pay for a JSON value tree.
//! Still refused, with a 400 naming the field: `"NaN"`/`"Infinity"` strings for double
//! fields other than summary quantiles (a JSON value tree cannot hold the NaN to
//! normalize into).

use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::{Map, Value};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::logs::v1::SeverityNumber;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Exemplar, Metric, NumberDataPoint, exemplar, number_data_point,
};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;

use crate::status::{BodyFormat, ReceiveError};

/// An export request read from OTLP/JSON, with a check for values the serde derives drop
/// without an error (see the module docs).
pub trait JsonRequest: DeserializeOwned {
    /// Whether `body` may hold a value missing from `self`. A cheap, conservative check
    /// on the raw bytes: `true` sends the body down the slow, exact path.
    fn may_have_dropped(&self, _body: &[u8]) -> bool {
        false
    }

    /// The first value present in `tree` but missing from `self` (decoded from `tree`),
    /// as a decode error naming its path and the reason it failed.
    fn find_dropped(&self, _tree: &Value) -> Option<ReceiveError> {
        None
    }
}

// Traces and logs have no flattened oneof except AnyValue, whose custom deserializer
// reports its errors.
impl JsonRequest for ExportTraceServiceRequest {}
impl JsonRequest for ExportLogsServiceRequest {}

impl JsonRequest for ExportMetricsServiceRequest {
    fn may_have_dropped(&self, body: &[u8]) -> bool {
        match serde_json::from_slice::<shadow::Request>(body) {
            Ok(shadow) => shadow.loses_from(self),
            Err(_) => true,
        }
    }

    fn find_dropped(&self, tree: &Value) -> Option<ReceiveError> {
        for (i, (rm, rm_json)) in self
            .resource_metrics
            .iter()
            .zip(array(tree, "resourceMetrics"))
            .enumerate()
        {
            for (j, (sm, sm_json)) in rm
                .scope_metrics
                .iter()
                .zip(array(rm_json, "scopeMetrics"))
                .enumerate()
            {
                for (k, (metric, json)) in sm.metrics.iter().zip(array(sm_json, "metrics")).enumerate() {
                    let path = format!("resourceMetrics[{i}].scopeMetrics[{j}].metrics[{k}]");
                    if let Some(err) = dropped_in_metric(metric, json, &path) {
                        return Some(err);
                    }
                }
            }
        }
        None
    }
}

const DATA_KEYS: [&str; 5] = ["gauge", "sum", "histogram", "exponentialHistogram", "summary"];
const NUMBER_KEYS: [&str; 2] = ["asInt", "asDouble"];

fn dropped_in_metric(metric: &Metric, json: &Value, path: &str) -> Option<ReceiveError> {
    let Some(data) = &metric.data else {
        let key = DATA_KEYS.into_iter().find(|k| json.get(k).is_some())?;
        return Some(explain::<Data>(json, key, path));
    };
    match data {
        Data::Gauge(g) => dropped_in_numbers(&g.data_points, &json["gauge"], &format!("{path}.gauge")),
        Data::Sum(s) => dropped_in_numbers(&s.data_points, &json["sum"], &format!("{path}.sum")),
        Data::Histogram(h) => {
            let path = format!("{path}.histogram");
            let points = h.data_points.iter().map(|p| p.exemplars.as_slice());
            dropped_in_exemplar_lists(points, &json["histogram"], &path)
        }
        Data::ExponentialHistogram(h) => {
            let path = format!("{path}.exponentialHistogram");
            let points = h.data_points.iter().map(|p| p.exemplars.as_slice());
            dropped_in_exemplar_lists(points, &json["exponentialHistogram"], &path)
        }
        Data::Summary(_) => None,
    }
}

fn dropped_in_numbers(points: &[NumberDataPoint], json: &Value, path: &str) -> Option<ReceiveError> {
    for (p, (point, point_json)) in points.iter().zip(array(json, "dataPoints")).enumerate() {
        let path = format!("{path}.dataPoints[{p}]");
        if point.value.is_none()
            && let Some(key) = NUMBER_KEYS.into_iter().find(|k| point_json.get(k).is_some())
        {
            return Some(explain::<number_data_point::Value>(point_json, key, &path));
        }
        if let Some(err) = dropped_in_exemplars(&point.exemplars, point_json, &path) {
            return Some(err);
        }
    }
    None
}

fn dropped_in_exemplar_lists<'a>(
    points: impl Iterator<Item = &'a [Exemplar]>,
    json: &Value,
    path: &str,
) -> Option<ReceiveError> {
    for (p, (exemplars, point_json)) in points.zip(array(json, "dataPoints")).enumerate() {
        if let Some(err) = dropped_in_exemplars(exemplars, point_json, &format!("{path}.dataPoints[{p}]")) {
            return Some(err);
        }
    }
    None
}

fn dropped_in_exemplars(exemplars: &[Exemplar], json: &Value, path: &str) -> Option<ReceiveError> {
    for (e, (exemplar, json)) in exemplars.iter().zip(array(json, "exemplars")).enumerate() {
        if exemplar.value.is_none()
            && let Some(key) = NUMBER_KEYS.into_iter().find(|k| json.get(k).is_some())
        {
            return Some(explain::<exemplar::Value>(
                json,
                key,
                &format!("{path}.exemplars[{e}]"),
            ));
        }
    }
    None
}

/// The error serde swallowed: decodes the oneof `{key: value}` on its own, where its
/// error surfaces, and names the full path.
fn explain<T: DeserializeOwned>(parent: &Value, key: &str, path: &str) -> ReceiveError {
    let mut oneof = Map::new();
    oneof.insert(key.to_string(), parent[key].clone());
    let (field, reason) = match serde_path_to_error::deserialize::<_, T>(Value::Object(oneof)) {
        Err(err) => {
            let inner = err.path().to_string();
            let field = if inner.is_empty() || inner == "." || !inner.starts_with(key) {
                format!("{path}.{key}")
            } else {
                format!("{path}.{inner}")
            };
            let reason = err.into_inner().to_string();
            (field, reason)
        }
        Ok(_) => (
            format!("{path}.{key}"),
            "the value could not be decoded".to_string(),
        ),
    };
    ReceiveError::Decode {
        format: BodyFormat::Json,
        reason: format!("at {field}: {reason}"),
        field: Some(field),
    }
}

/// The array under `key`, or nothing (absent, or removed as `null` by normalization).
fn array<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// A parse of a metrics request that keeps only where oneof values are present, so the
/// fast path can check a decoded request without building a value tree. Every field is
/// optional and every value ignored, so it accepts whatever the real decode accepted.
mod shadow {
    use super::*;

    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    pub(super) struct Request {
        resource_metrics: Option<Vec<ResourceMetrics>>,
    }

    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    struct ResourceMetrics {
        scope_metrics: Option<Vec<ScopeMetrics>>,
    }

    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    struct ScopeMetrics {
        metrics: Option<Vec<Metric>>,
    }

    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    struct Metric {
        gauge: Option<Points>,
        sum: Option<Points>,
        histogram: Option<Points>,
        exponential_histogram: Option<Points>,
        summary: Option<IgnoredAny>,
    }

    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    struct Points {
        data_points: Option<Vec<Point>>,
    }

    /// A number data point, a histogram point (no value, so never "dropped"), or an
    /// exemplar: all hold their value as `asInt` or `asDouble`.
    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    struct Point {
        as_int: Option<IgnoredAny>,
        as_double: Option<IgnoredAny>,
        exemplars: Option<Vec<Point>>,
    }

    impl Point {
        fn has_value(&self) -> bool {
            self.as_int.is_some() || self.as_double.is_some()
        }

        fn exemplars(&self) -> &[Point] {
            self.exemplars.as_deref().unwrap_or_default()
        }
    }

    fn list<T>(v: &Option<Vec<T>>) -> &[T] {
        v.as_deref().unwrap_or_default()
    }

    impl Request {
        /// Whether `decoded` lacks a value this JSON holds (or the shapes disagree).
        pub(super) fn loses_from(&self, decoded: &ExportMetricsServiceRequest) -> bool {
            let rms = list(&self.resource_metrics);
            if rms.len() != decoded.resource_metrics.len() {
                return true;
            }
            rms.iter().zip(&decoded.resource_metrics).any(|(rm, drm)| {
                let sms = list(&rm.scope_metrics);
                sms.len() != drm.scope_metrics.len()
                    || sms.iter().zip(&drm.scope_metrics).any(|(sm, dsm)| {
                        let ms = list(&sm.metrics);
                        ms.len() != dsm.metrics.len()
                            || ms.iter().zip(&dsm.metrics).any(|(m, dm)| m.loses_from(dm))
                    })
            })
        }
    }

    impl Metric {
        fn loses_from(&self, decoded: &super::Metric) -> bool {
            let present = self.gauge.is_some()
                || self.sum.is_some()
                || self.histogram.is_some()
                || self.exponential_histogram.is_some()
                || self.summary.is_some();
            match &decoded.data {
                None => present,
                Some(Data::Gauge(g)) => numbers_lose(self.gauge.as_ref(), &g.data_points),
                Some(Data::Sum(s)) => numbers_lose(self.sum.as_ref(), &s.data_points),
                Some(Data::Histogram(h)) => exemplar_lists_lose(
                    self.histogram.as_ref(),
                    h.data_points.iter().map(|p| p.exemplars.as_slice()),
                ),
                Some(Data::ExponentialHistogram(h)) => exemplar_lists_lose(
                    self.exponential_histogram.as_ref(),
                    h.data_points.iter().map(|p| p.exemplars.as_slice()),
                ),
                Some(Data::Summary(_)) => false,
            }
        }
    }

    fn numbers_lose(shadow: Option<&Points>, decoded: &[NumberDataPoint]) -> bool {
        let points = shadow.map(|s| list(&s.data_points)).unwrap_or_default();
        points.len() != decoded.len()
            || points.iter().zip(decoded).any(|(p, dp)| {
                (p.has_value() && dp.value.is_none()) || exemplars_lose(p.exemplars(), &dp.exemplars)
            })
    }

    fn exemplar_lists_lose<'a>(
        shadow: Option<&Points>,
        decoded: impl ExactSizeIterator<Item = &'a [Exemplar]>,
    ) -> bool {
        let points = shadow.map(|s| list(&s.data_points)).unwrap_or_default();
        points.len() != decoded.len()
            || points
                .iter()
                .zip(decoded)
                .any(|(p, de)| exemplars_lose(p.exemplars(), de))
    }

    fn exemplars_lose(shadow: &[Point], decoded: &[Exemplar]) -> bool {
        shadow.len() != decoded.len()
            || shadow
                .iter()
                .zip(decoded)
                .any(|(e, de)| e.has_value() && de.value.is_none())
    }
}

/// Decodes OTLP/JSON: the serde derives first; if they fail or drop a value, a
/// normalized value tree, reporting the field path where decoding stopped.
pub fn decode_json<T: JsonRequest>(body: &[u8]) -> Result<T, ReceiveError> {
    if let Ok(decoded) = serde_json::from_slice::<T>(body)
        && !decoded.may_have_dropped(body)
    {
        return Ok(decoded);
    }
    let json_error = |reason: String, field: Option<String>| ReceiveError::Decode {
        format: BodyFormat::Json,
        reason,
        field,
    };
    // Syntax errors (and bodies that are not one JSON value) end here, with a position.
    let mut tree: Value = serde_json::from_slice(body).map_err(|err| json_error(err.to_string(), None))?;
    normalize_json(&mut tree);
    let decoded: T = serde_path_to_error::deserialize(&tree).map_err(|err| {
        let path = err.path().to_string();
        if path.is_empty() || path == "." {
            json_error(err.into_inner().to_string(), None)
        } else {
            json_error(format!("at {path}: {}", err.into_inner()), Some(path))
        }
    })?;
    match decoded.find_dropped(&tree) {
        Some(err) => Err(err),
        None => Ok(decoded),
    }
}

/// 32-bit integer and enum fields of the OTLP messages, by their JSON name. JSON object
/// keys in OTLP are always schema field names (attribute keys are values of `"key"`), so
/// matching on the key name is exact.
const INT32_FIELDS: &[&str] = &[
    "droppedAttributesCount",
    "droppedEventsCount",
    "droppedLinksCount",
    "flags",
    "scale",
    "offset",
    "keyStrindex",
    "stringValueStrindex",
];

/// Rewrites what proto3 JSON allows but the derives reject (see the module docs), in
/// place: drops `null` members, fills required-by-derive members, turns decimal strings
/// and enum names into numbers.
pub fn normalize_json(value: &mut Value) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(normalize_json),
        Value::Object(members) => {
            members.retain(|_, v| !v.is_null());
            for (key, member) in members.iter_mut() {
                normalize_member(key, member);
                normalize_json(member);
            }
            // KeyValue has no serde default for `key`. The only other OTLP message with
            // a `value` member is ValueAtQuantile, where an added `key` is an unknown
            // field and ignored.
            if members.contains_key("value") && !members.contains_key("key") {
                members.insert("key".into(), Value::String(String::new()));
            }
        }
        _ => {}
    }
}

fn normalize_member(key: &str, member: &mut Value) {
    match key {
        "arrayValue" | "kvlistValue" => {
            if let Value::Object(inner) = member {
                inner.retain(|_, v| !v.is_null());
                inner.entry("values").or_insert_with(|| Value::Array(Vec::new()));
            }
        }
        "kind" => enum_to_number(member, |s| SpanKind::from_str_name(s).map(|k| k as i32)),
        "code" => enum_to_number(member, |s| StatusCode::from_str_name(s).map(|c| c as i32)),
        "severityNumber" => enum_to_number(member, |s| SeverityNumber::from_str_name(s).map(|n| n as i32)),
        "aggregationTemporality" => enum_to_number(member, |s| {
            AggregationTemporality::from_str_name(s).map(|t| t as i32)
        }),
        _ if INT32_FIELDS.contains(&key) => enum_to_number(member, |_| None),
        _ => {}
    }
}

/// Replaces a string holding a decimal integer, or an enum name `by_name` knows, with
/// the number. Anything else is left for the deserializer to report.
fn enum_to_number(member: &mut Value, by_name: impl Fn(&str) -> Option<i32>) {
    if let Value::String(s) = member {
        let number = s.trim().parse::<i64>().ok().or_else(|| by_name(s).map(i64::from));
        if let Some(n) = number {
            *member = Value::from(n);
        }
    }
}
