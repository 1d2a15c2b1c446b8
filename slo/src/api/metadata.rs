//! `/api/v1/metadata` and `/api/v1/targets/metadata`: the TYPE, HELP and UNIT of metric
//! families, as Prometheus 3.x's `web/api/v1` (`metricMetadata`, `targetMetadata`) answers them,
//! from the store's [`MetadataStore`](crate::tsdb::metadata::MetadataStore).
//!
//! - `/api/v1/metadata?metric=&limit=&limit_per_metric=`: every distinct `{type, help, unit}` per
//!   family over all scrape targets, plus what remote write sent (Prometheus lists targets only;
//!   see [`crate::tsdb::metadata`] for why burnwatch adds remote write, as Mimir does). `limit`
//!   caps the families (`0` gives none, a negative value no cap, as Prometheus's `limit >= 0`
//!   test does), `limit_per_metric` the entries of each (when positive). Families come in name
//!   order (Go's JSON writes map keys sorted); where a limit cuts, Prometheus keeps a random
//!   subset (map iteration), burnwatch the first by name.
//! - `/api/v1/targets/metadata?match_target=&metric=&limit=`: one entry per target and family,
//!   `{"target":{labels},"metric":name,"type","help","unit"}`, `metric` left out when the
//!   `metric` parameter names it; targets filtered by the `match_target` selector; `limit` is
//!   checked before each target, so the last target's entries may run past it, as in Prometheus.
//!
//! A `limit` that is not an integer is `bad_data` "limit must be a number" (400); a bad
//! `match_target` is `invalid parameter "match_target": ...`.

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use promql_parser::parser::Expr;

use super::{ApiError, ApiState, json, read_form, success, with_store};
use crate::promql::{Engine, QueryError};
use crate::tsdb::Matcher;
use crate::tsdb::metadata::{Metadata, MetadataStore};

/// The routes, for [`super::router`].
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/metadata", get(metric_metadata))
        .route("/api/v1/targets/metadata", get(target_metadata))
}

/// Go's `strconv.Atoi` of an optional parameter: `default` when absent or empty, `message` as
/// `bad_data` when not an integer.
fn int_param(value: Option<&str>, default: i64, message: &str) -> Result<i64, ApiError> {
    match value {
        None | Some("") => Ok(default),
        Some(s) => s.parse::<i64>().map_err(|_| ApiError::bad_data(message)),
    }
}

fn write_metadata_fields(out: &mut String, m: &Metadata) {
    out.push_str("\"type\":");
    json::write_str(out, m.mtype.as_str());
    out.push_str(",\"help\":");
    json::write_str(out, &m.help);
    out.push_str(",\"unit\":");
    json::write_str(out, &m.unit);
}

/// Adds `m` to `family`'s distinct entries unless it holds `per_metric` (when positive) already.
fn offer<'a>(
    families: &mut BTreeMap<&'a str, Vec<&'a Metadata>>,
    per_metric: i64,
    family: &'a str,
    m: &'a Metadata,
) {
    let list = families.entry(family).or_default();
    if per_metric > 0 && list.len() as i64 >= per_metric {
        return;
    }
    if !list.contains(&m) {
        list.push(m);
    }
}

/// The body of `/api/v1/metadata`: `limit` and `limit_per_metric` negative for none.
pub fn metric_metadata_json(
    store: &MetadataStore,
    metric: &str,
    limit: i64,
    limit_per_metric: i64,
) -> String {
    // Distinct entries per family in the order first seen.
    let mut families: BTreeMap<&str, Vec<&Metadata>> = BTreeMap::new();
    for t in store.targets() {
        if metric.is_empty() {
            for (family, m) in t.list() {
                offer(&mut families, limit_per_metric, family, m);
            }
        } else if let Some(m) = t.get(metric) {
            offer(&mut families, limit_per_metric, metric, m);
        }
    }
    for (family, m) in store.remote() {
        if metric.is_empty() || metric == family {
            offer(&mut families, limit_per_metric, family.as_str(), m);
        }
    }
    let mut out = String::from("{");
    for (i, (family, list)) in families.iter().enumerate() {
        if limit >= 0 && i as i64 >= limit {
            break;
        }
        if i > 0 {
            out.push(',');
        }
        json::write_str(&mut out, family);
        out.push_str(":[");
        for (j, m) in list.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            out.push('{');
            write_metadata_fields(&mut out, m);
            out.push('}');
        }
        out.push(']');
    }
    out.push('}');
    out
}

/// The body of `/api/v1/targets/metadata`: `limit` negative for none, `targets` the
/// `match_target` matchers (every target when `None`).
pub fn target_metadata_json(
    store: &MetadataStore,
    targets: Option<&[Matcher]>,
    metric: &str,
    limit: i64,
) -> String {
    let mut out = String::from("[");
    let mut n: i64 = 0;
    for t in store.targets() {
        if limit >= 0 && n >= limit {
            break;
        }
        if let Some(ms) = targets
            && !ms
                .iter()
                .all(|m| m.matches(t.labels().get(&m.name).unwrap_or("")))
        {
            continue;
        }
        let entries: Vec<(Option<&str>, &Metadata)> = if metric.is_empty() {
            t.list().into_iter().map(|(f, m)| (Some(f), m)).collect()
        } else {
            t.get(metric).map(|m| (None, m)).into_iter().collect()
        };
        for (family, m) in entries {
            if n > 0 {
                out.push(',');
            }
            n += 1;
            out.push_str("{\"target\":");
            json::write_labels(&mut out, t.labels());
            if let Some(f) = family {
                out.push_str(",\"metric\":");
                json::write_str(&mut out, f);
            }
            out.push(',');
            write_metadata_fields(&mut out, m);
            out.push('}');
        }
    }
    out.push(']');
    out
}

async fn metric_metadata(
    State(state): State<ApiState>,
    method: Method,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let form = match read_form(&method, raw.as_deref(), &headers, &[]) {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let limits = int_param(form.get("limit"), -1, "limit must be a number").and_then(|l| {
        int_param(
            form.get("limit_per_metric"),
            -1,
            "limit_per_metric must be a number",
        )
        .map(|p| (l, p))
    });
    let (limit, per_metric) = match limits {
        Ok(l) => l,
        Err(e) => return e.into_response(),
    };
    let metric = form.get("metric").unwrap_or("").to_string();
    match with_store(&state, move |s| {
        metric_metadata_json(s.metadata(), &metric, limit, per_metric)
    })
    .await
    {
        Ok(data) => success(&data, &[]),
        Err(e) => e.into_response(),
    }
}

/// `match_target` as Prometheus's `ParseMetricSelector` takes it: one series selector.
fn target_matchers(text: &str) -> Result<Vec<Matcher>, ApiError> {
    let bad = |reason: String| ApiError::invalid_param("match_target", reason);
    let expr = Engine::parse(text).map_err(|e| match e {
        QueryError::Parse(msg) => bad(super::position::parse_error_text(text, &msg)),
        other => bad(other.to_string()),
    })?;
    let vs = match expr {
        Expr::VectorSelector(vs) => vs,
        other => {
            crate::promql::depth::dismantle(other);
            return Err(bad(format!(
                "parse error: expected a series selector such as {{job=\"api\"}}, got {text:?}"
            )));
        }
    };
    let mut sets = super::selector_sets(&vs, "match_target")?;
    // `ParseMetricSelector` has no `or` groups; the parser takes them, so the first is used.
    Ok(sets.swap_remove(0))
}

async fn target_metadata(
    State(state): State<ApiState>,
    method: Method,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    _body: Bytes,
) -> Response {
    let form = match read_form(&method, raw.as_deref(), &headers, &[]) {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let limit = match int_param(form.get("limit"), -1, "limit must be a number") {
        Ok(l) => l,
        Err(e) => return e.into_response(),
    };
    let matchers = match form.non_empty("match_target").map(target_matchers).transpose() {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    let metric = form.get("metric").unwrap_or("").to_string();
    match with_store(&state, move |s| {
        target_metadata_json(s.metadata(), matchers.as_deref(), &metric, limit)
    })
    .await
    {
        Ok(data) => success(&data, &[]),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt as _;

    use crate::api::{ApiState, router};
    use crate::promql::EngineOptions;
    use crate::shared::new_shared;
    use crate::tsdb::Labels;
    use crate::tsdb::metadata::{Metadata, MetadataLine, MetricType};

    /// Two targets of job `node` and one of `app`, sharing `up_total` with different HELP, plus
    /// remote-written `rw_metric`.
    fn state() -> ApiState {
        let store = new_shared();
        {
            let mut s = store.write().unwrap();
            let m = s.metadata_mut();
            let target = |job: &str, inst: &str| Labels::from_pairs([("instance", inst), ("job", job)]);
            let line = |f: &str, l: MetadataLine| (f.to_string(), l);
            m.scrape(
                "node\u{1}a",
                &target("node", "a:1"),
                vec![
                    line("up_total", MetadataLine::Type(MetricType::Counter)),
                    line("up_total", MetadataLine::Help("Ups.".into())),
                    line("temp_celsius", MetadataLine::Type(MetricType::Gauge)),
                    line("temp_celsius", MetadataLine::Unit("celsius".into())),
                ],
                true,
            );
            m.scrape(
                "node\u{1}b",
                &target("node", "b:1"),
                vec![
                    line("up_total", MetadataLine::Type(MetricType::Counter)),
                    line("up_total", MetadataLine::Help("Ups.".into())),
                ],
                true,
            );
            m.scrape(
                "app\u{1}c",
                &target("app", "c:1"),
                vec![
                    line("up_total", MetadataLine::Type(MetricType::Counter)),
                    line("up_total", MetadataLine::Help("Other <help>.".into())),
                ],
                true,
            );
            m.remote_write(
                "rw_metric",
                Metadata::new(MetricType::Histogram, "Sent.", "seconds"),
            );
        }
        ApiState::new(store, EngineOptions::default())
    }

    async fn get(uri: &str) -> (StatusCode, String) {
        let resp = router(state())
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn metadata_lists_each_distinct_entry_per_family() {
        let (status, body) = get("/api/v1/metadata").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            r#"{"status":"success","data":{"rw_metric":[{"type":"histogram","help":"Sent.","unit":"seconds"}],"temp_celsius":[{"type":"gauge","help":"","unit":"celsius"}],"up_total":[{"type":"counter","help":"Other \u003chelp\u003e.","unit":""},{"type":"counter","help":"Ups.","unit":""}]}}"#
        );
    }

    #[tokio::test]
    async fn metadata_filters_and_limits_like_prometheus() {
        let (_, body) = get("/api/v1/metadata?metric=up_total&limit_per_metric=1").await;
        assert_eq!(
            body,
            r#"{"status":"success","data":{"up_total":[{"type":"counter","help":"Other \u003chelp\u003e.","unit":""}]}}"#
        );
        let (_, body) = get("/api/v1/metadata?limit=1").await;
        assert_eq!(
            body,
            r#"{"status":"success","data":{"rw_metric":[{"type":"histogram","help":"Sent.","unit":"seconds"}]}}"#
        );
        assert_eq!(
            get("/api/v1/metadata?limit=0").await.1,
            r#"{"status":"success","data":{}}"#
        );
        assert_eq!(
            get("/api/v1/metadata?metric=nope").await.1,
            r#"{"status":"success","data":{}}"#
        );
        let (status, body) = get("/api/v1/metadata?limit=x").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body,
            r#"{"status":"error","errorType":"bad_data","error":"limit must be a number"}"#
        );
        let (status, body) = get("/api/v1/metadata?limit_per_metric=1.5").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("limit_per_metric must be a number"), "{body}");
    }

    #[tokio::test]
    async fn targets_metadata_lists_per_target() {
        let (status, body) = get("/api/v1/targets/metadata?match_target=%7Bjob%3D%22node%22%7D").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            concat!(
                r#"{"status":"success","data":["#,
                r#"{"target":{"instance":"a:1","job":"node"},"metric":"temp_celsius","type":"gauge","help":"","unit":"celsius"},"#,
                r#"{"target":{"instance":"a:1","job":"node"},"metric":"up_total","type":"counter","help":"Ups.","unit":""},"#,
                r#"{"target":{"instance":"b:1","job":"node"},"metric":"up_total","type":"counter","help":"Ups.","unit":""}]}"#
            )
        );
        // With `metric`, the entries leave the family name out; remote write has no target.
        let (_, body) = get("/api/v1/targets/metadata?metric=up_total&limit=1").await;
        assert_eq!(
            body,
            r#"{"status":"success","data":[{"target":{"instance":"c:1","job":"app"},"type":"counter","help":"Other \u003chelp\u003e.","unit":""}]}"#
        );
        assert_eq!(
            get("/api/v1/targets/metadata?metric=rw_metric").await.1,
            r#"{"status":"success","data":[]}"#
        );
    }

    #[tokio::test]
    async fn targets_metadata_refuses_bad_parameters() {
        let (status, body) = get("/api/v1/targets/metadata?match_target=%7Bjob%3D").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            body.starts_with(
                r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"match_target\": "#
            ),
            "{body}"
        );
        let (status, body) = get("/api/v1/targets/metadata?match_target=sum(x)").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("expected a series selector"), "{body}");
        let (status, body) = get("/api/v1/targets/metadata?limit=-").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("limit must be a number"), "{body}");
    }
}
