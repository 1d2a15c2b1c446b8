//! `/api/v1/query_exemplars?query=&start=&end=` (GET or POST): the exemplars of the series a
//! query's selectors pick, as Prometheus 3.x's `queryExemplars` answers, from the store's
//! [`ExemplarStore`](crate::tsdb::exemplars::ExemplarStore).
//!
//! - `start` and `end` default to the beginning and end of time; `end` before `start` is
//!   `bad_data` "end timestamp must not be before start timestamp", a malformed one
//!   `invalid parameter "start": Invalid time value for 'start': ...` (Prometheus 2.42's
//!   wording, as the query endpoints use);
//! - the query is parsed (a parse error is `bad_data`, worded as for range queries) and every
//!   vector selector in it, wherever it sits (`rate(x[5m])`, both sides of a binary operator,
//!   a subquery), selects series: the query is not evaluated (Prometheus's `ExtractSelectors`).
//!   A query without selectors (`1 + 1`) gets 204 No Content with no body: Prometheus's handler
//!   has no data to write then (`apiFuncResult{nil, nil, ...}`);
//! - `data` is `[{"seriesLabels":{...},"exemplars":[{"labels":{...},"value":"0.5","timestamp":1700000000.123}]}]`,
//!   series sorted by labels, each series' exemplars oldest first; the value is a string and the
//!   timestamp float seconds, as in Prometheus's `marshalExemplarJSON`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use promql_parser::parser::{Expr, NumberLiteral, VectorSelector};

use super::{ApiError, ApiState, json, read_form, success, time_param, with_store};
use crate::promql::Engine;
use crate::tsdb::Matcher;
use crate::tsdb::exemplars::ExemplarStore;

/// The routes, for [`super::router`].
pub fn routes() -> Router<ApiState> {
    Router::new().route(
        "/api/v1/query_exemplars",
        get(query_exemplars).post(query_exemplars),
    )
}

/// Every vector selector of `expr`, taking the tree apart without recursion (it may be
/// [`crate::promql::depth::MAX_DEPTH`] deep; see [`crate::promql::depth::dismantle`]).
pub fn extract_selectors(expr: Expr) -> Vec<VectorSelector> {
    let leaf = || Box::new(Expr::NumberLiteral(NumberLiteral { val: 0.0 }));
    let mut out = Vec::new();
    let mut stack = vec![expr];
    while let Some(e) = stack.pop() {
        let mut e = match e {
            Expr::VectorSelector(vs) => {
                out.push(vs);
                continue;
            }
            Expr::MatrixSelector(ms) => {
                out.push(ms.vs);
                continue;
            }
            other => other,
        };
        match &mut e {
            Expr::Aggregate(a) => {
                if let Some(p) = a.param.take() {
                    stack.push(*p);
                }
                stack.push(*std::mem::replace(&mut a.expr, leaf()));
            }
            Expr::Unary(u) => stack.push(*std::mem::replace(&mut u.expr, leaf())),
            Expr::Binary(b) => {
                stack.push(*std::mem::replace(&mut b.rhs, leaf()));
                stack.push(*std::mem::replace(&mut b.lhs, leaf()));
            }
            Expr::Paren(p) => stack.push(*std::mem::replace(&mut p.expr, leaf())),
            Expr::Subquery(s) => stack.push(*std::mem::replace(&mut s.expr, leaf())),
            // Arguments pushed in reverse, so selectors come out in query order.
            Expr::Call(c) => stack.extend(c.args.args.drain(..).rev().map(|a| *a)),
            _ => {}
        }
        // `e` now holds at most number leaves below it: dropping it recurses one level.
    }
    out
}

/// The `data` of a response: the exemplars from `start` to `end` of the series matching one of
/// `sets`.
pub fn exemplars_json(store: &ExemplarStore, start: i64, end: i64, sets: &[Vec<Matcher>]) -> String {
    let mut out = String::from("[");
    for (i, (series, exemplars)) in store.select(start, end, sets).iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"seriesLabels\":");
        json::write_labels(&mut out, series);
        out.push_str(",\"exemplars\":[");
        for (j, e) in exemplars.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            out.push_str("{\"labels\":");
            json::write_labels(&mut out, &e.labels);
            out.push_str(",\"value\":\"");
            json::write_value(&mut out, e.value);
            out.push_str("\",\"timestamp\":");
            json::write_timestamp(&mut out, e.t);
            out.push('}');
        }
        out.push_str("]}");
    }
    out.push(']');
    out
}

async fn query_exemplars(
    State(state): State<ApiState>,
    method: Method,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match answer(&state, &method, raw.as_deref(), &headers, &body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn answer(
    state: &ApiState,
    method: &Method,
    raw: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let form = read_form(method, raw, headers, body)?;
    let start = time_param(&form, "start", i64::MIN)?;
    let end = time_param(&form, "end", i64::MAX)?;
    if end < start {
        return Err(ApiError::bad_data(
            "end timestamp must not be before start timestamp",
        ));
    }
    let query = form.get("query").unwrap_or("").to_string();
    let expr = Engine::parse(&query).map_err(|e| ApiError::from_range_query_error(&query, e))?;
    let mut sets = Vec::new();
    for vs in extract_selectors(expr) {
        sets.extend(super::selector_sets(&vs, "query")?);
    }
    if sets.is_empty() {
        return Ok(axum::http::StatusCode::NO_CONTENT.into_response());
    }
    let data = with_store(state, move |s| exemplars_json(s.exemplars(), start, end, &sets)).await?;
    Ok(success(&data, &[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(query: &str) -> Vec<String> {
        extract_selectors(Engine::parse(query).unwrap())
            .into_iter()
            .map(|vs| vs.to_string())
            .collect()
    }

    #[test]
    fn selectors_come_from_every_part_of_the_query_in_order() {
        assert_eq!(
            names(
                r#"sum by (le) (rate(a_bucket{job="x"}[5m])) / on() group_left b + max_over_time(c[1h:1m])"#
            ),
            [r#"a_bucket{job="x"}"#, "b", "c"]
        );
        assert_eq!(names("histogram_quantile(0.9, d)"), ["d"]);
        assert!(names("1 + 2").is_empty());
    }

    #[test]
    fn a_deep_query_is_taken_apart_without_recursion() {
        let q = format!("{}x{}", "-(".repeat(1500), ")".repeat(1500));
        // On a small thread: a recursive walk of 3000 levels (1500 negations of brackets) would overflow it.
        let expr = Engine::parse(&q).unwrap();
        let n = std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(move || extract_selectors(expr).len())
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(n, 1);
    }
}

#[cfg(test)]
mod api_tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt as _;

    use crate::api::{ApiState, router};
    use crate::promql::EngineOptions;
    use crate::shared::new_shared;
    use crate::tsdb::Labels;
    use crate::tsdb::exemplars::Exemplar;

    fn state() -> ApiState {
        let store = new_shared();
        {
            let mut s = store.write().unwrap();
            let series =
                |le: &str| Labels::from_pairs([("__name__", "lat_bucket"), ("job", "api"), ("le", le)]);
            let ex = |trace: &str, v: f64, t: i64| Exemplar {
                labels: Labels::from_pairs([("trace_id", trace)]),
                value: v,
                t,
                has_ts: true,
            };
            let e = s.exemplars_mut();
            e.add(&series("0.5"), ex("aa", 0.25, 1_700_000_000_123)).unwrap();
            e.add(&series("0.5"), ex("bb", 0.5, 1_700_000_060_000)).unwrap();
            e.add(&series("+Inf"), ex("cc", 7.0, 1_700_000_030_000)).unwrap();
            e.add(
                &Labels::from_pairs([("__name__", "other")]),
                ex("dd", 1.0, 1_700_000_000_000),
            )
            .unwrap();
        }
        ApiState::new(store, EngineOptions::default())
    }

    async fn call(req: Request<Body>) -> (StatusCode, String) {
        let resp = router(state()).oneshot(req).await.unwrap();
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    async fn get(uri: &str) -> (StatusCode, String) {
        call(Request::get(uri).body(Body::empty()).unwrap()).await
    }

    #[tokio::test]
    async fn exemplars_of_the_selected_series_in_prometheus_json() {
        let (status, body) = get(
            "/api/v1/query_exemplars?query=histogram_quantile(0.9,sum%20by(le)(rate(lat_bucket%5B5m%5D)))",
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            concat!(
                r#"{"status":"success","data":["#,
                r#"{"seriesLabels":{"__name__":"lat_bucket","job":"api","le":"+Inf"},"exemplars":[{"labels":{"trace_id":"cc"},"value":"7","timestamp":1700000030}]},"#,
                r#"{"seriesLabels":{"__name__":"lat_bucket","job":"api","le":"0.5"},"exemplars":["#,
                r#"{"labels":{"trace_id":"aa"},"value":"0.25","timestamp":1700000000.123},"#,
                r#"{"labels":{"trace_id":"bb"},"value":"0.5","timestamp":1700000060}]}]}"#
            )
        );
    }

    #[tokio::test]
    async fn start_and_end_bound_the_exemplars() {
        let req = Request::post("/api/v1/query_exemplars")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(
                "query=lat_bucket%7Ble%3D%220.5%22%7D&start=1700000001&end=2023-11-14T22:14:20Z",
            ))
            .unwrap();
        let (status, body) = call(req).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            r#"{"status":"success","data":[{"seriesLabels":{"__name__":"lat_bucket","job":"api","le":"0.5"},"exemplars":[{"labels":{"trace_id":"bb"},"value":"0.5","timestamp":1700000060}]}]}"#
        );
        let (_, body) = get("/api/v1/query_exemplars?query=nothing_here").await;
        assert_eq!(body, r#"{"status":"success","data":[]}"#);
    }

    #[tokio::test]
    async fn a_query_without_selectors_answers_204_and_bad_input_400() {
        assert_eq!(
            get("/api/v1/query_exemplars?query=1%2B1").await,
            (StatusCode::NO_CONTENT, String::new())
        );
        let (status, body) = get("/api/v1/query_exemplars?query=rate(x%5B5m%5D&start=1").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            body.starts_with(r#"{"status":"error","errorType":"bad_data","error":"1:"#),
            "{body}"
        );
        let (status, body) = get("/api/v1/query_exemplars?query=x&start=10&end=5").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body,
            r#"{"status":"error","errorType":"bad_data","error":"end timestamp must not be before start timestamp"}"#
        );
        let (status, body) = get("/api/v1/query_exemplars?query=x&start=yesterday").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains(r#"invalid parameter \"start\""#), "{body}");
    }
}
