//! The API as a client sees it: exact JSON bodies and statuses, through the router without a socket.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt as _;

use super::*;
use crate::promql::EngineOptions;
use crate::shared::new_shared;
use crate::tsdb::Labels;

/// `http_requests_total` for three series every 60s from 0 to 600s, plus `a`/`b` sharing labels.
fn state_with(opts: EngineOptions) -> ApiState {
    let store = new_shared();
    {
        let mut s = store.write().unwrap();
        let series = [
            (
                Labels::from_pairs([
                    ("__name__", "http_requests_total"),
                    ("job", "api"),
                    ("code", "200"),
                ]),
                10.0,
            ),
            (
                Labels::from_pairs([
                    ("__name__", "http_requests_total"),
                    ("job", "api"),
                    ("code", "500"),
                ]),
                1.0,
            ),
            (
                Labels::from_pairs([
                    ("__name__", "http_requests_total"),
                    ("job", "web"),
                    ("code", "200"),
                ]),
                0.5,
            ),
        ];
        for (labels, per_step) in &series {
            for i in 0..=10i64 {
                s.append(labels, i * 60_000, per_step * i as f64).unwrap();
            }
        }
        s.append(&Labels::from_pairs([("__name__", "a"), ("x", "1")]), 0, 1.0)
            .unwrap();
        s.append(&Labels::from_pairs([("__name__", "b"), ("x", "1")]), 0, 2.0)
            .unwrap();
        s.append(
            &Labels::from_pairs([("__name__", "odd"), ("v", "<&>\"")]),
            0,
            1.5e-7,
        )
        .unwrap();
    }
    ApiState::new(store, opts)
}

fn state() -> ApiState {
    state_with(EngineOptions::default())
}

async fn call(state: ApiState, req: Request<Body>) -> (StatusCode, String, Option<String>) {
    let resp = router(state).oneshot(req).await.unwrap();
    let status = resp.status();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap(), ct)
}

async fn get(state: ApiState, uri: &str) -> (StatusCode, String) {
    let (s, b, _) = call(state, Request::get(uri).body(Body::empty()).unwrap()).await;
    (s, b)
}

async fn post_form(state: ApiState, uri: &str, form: &str) -> (StatusCode, String) {
    let req = Request::post(uri)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(form.to_string()))
        .unwrap();
    let (s, b, _) = call(state, req).await;
    (s, b)
}

#[tokio::test]
async fn instant_vector_is_prometheus_json() {
    let (status, body, ct) = call(
        state(),
        Request::get("/api/v1/query?query=http_requests_total%7Bjob%3D%22api%22%7D&time=120.5")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ct.as_deref(), Some("application/json"));
    assert_eq!(
        body,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"http_requests_total","code":"200","job":"api"},"value":[120.500,"20"]},{"metric":{"__name__":"http_requests_total","code":"500","job":"api"},"value":[120.500,"2"]}]}}"#
    );
}

#[tokio::test]
async fn instant_query_accepts_rfc3339_and_post_forms() {
    let (status, body) = post_form(
        state(),
        "/api/v1/query",
        "query=sum+by+%28job%29+%28http_requests_total%29&time=1970-01-01T00%3A02%3A00.250Z",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"api"},"value":[120.250,"22"]},{"metric":{"job":"web"},"value":[120.250,"1"]}]}}"#
    );
    // A time zone offset moves the instant: 01:02:00+01:00 is 00:02:00Z.
    let (_, body) = get(
        state(),
        "/api/v1/query?query=sum(http_requests_total)&time=1970-01-01T01:02:00%2B01:00",
    )
    .await;
    assert!(body.contains(r#""value":[120,"23"]"#), "{body}");
}

#[tokio::test]
async fn range_query_gives_a_matrix_sorted_by_labels() {
    let (status, body) = get(
        state(),
        "/api/v1/query_range?query=rate(http_requests_total%5B2m%5D)&start=180&end=300&step=1m",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"code":"200","job":"api"},"values":[[180,"0.16666666666666666"],[240,"0.16666666666666666"],[300,"0.16666666666666666"]]},{"metric":{"code":"200","job":"web"},"values":[[180,"0.008333333333333333"],[240,"0.008333333333333333"],[300,"0.008333333333333333"]]},{"metric":{"code":"500","job":"api"},"values":[[180,"0.016666666666666666"],[240,"0.016666666666666666"],[300,"0.016666666666666666"]]}]}}"#
    );
    // The same through a POSTed form, step as float seconds.
    let (status, post) = post_form(
        state(),
        "/api/v1/query_range",
        "query=rate(http_requests_total%5B2m%5D)&start=180&end=300&step=60",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(post, body);
}

#[tokio::test]
async fn instant_query_of_a_range_selector_is_a_matrix() {
    let (_, body) = get(
        state(),
        "/api/v1/query?query=http_requests_total%7Bjob%3D%22web%22%7D%5B2m%5D&time=240",
    )
    .await;
    // Prometheus 3.x windows are left-open: (120s, 240s] holds the samples at 180s and 240s.
    assert_eq!(
        body,
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"http_requests_total","code":"200","job":"web"},"values":[[180,"1.5"],[240,"2"]]}]}}"#
    );
}

#[tokio::test]
async fn scalar_and_string_results() {
    let (_, body) = get(state(), "/api/v1/query?query=1%2B1&time=1700000000.123").await;
    assert_eq!(
        body,
        r#"{"status":"success","data":{"resultType":"scalar","result":[1700000000.123,"2"]}}"#
    );
    let (_, body) = get(state(), "/api/v1/query?query=%22a%3Cb%22&time=-1.5").await;
    assert_eq!(
        body,
        r#"{"status":"success","data":{"resultType":"string","result":[-1.5,"a\u003cb"]}}"#
    );
}

#[tokio::test]
async fn special_values_are_formatted_as_go_does() {
    // (expression, in a vector sample, as a scalar): Prometheus formats vector samples with
    // AppendFloat 'e' outside [1e-6, 1e21) and scalars always with 'f'.
    let cases = [
        ("1%2F0", "+Inf", "+Inf"),
        ("-1%2F0", "-Inf", "-Inf"),
        ("0%2F0", "NaN", "NaN"),
        ("1e21", "1e+21", "1000000000000000000000"),
        (
            "123456789012345680000",
            "123456789012345680000",
            "123456789012345680000",
        ),
        ("0.000001", "0.000001", "0.000001"),
        ("0.00000015", "1.5e-07", "0.00000015"),
        ("-0.1", "-0.1", "-0.1"),
        ("1e300*10", "1e+301", &format!("1{}", "0".repeat(301))),
    ];
    for (q, in_vector, as_scalar) in cases {
        let (_, body) = get(state(), &format!("/api/v1/query?query=vector({q})&time=10.5")).await;
        assert_eq!(
            body,
            format!(
                r#"{{"status":"success","data":{{"resultType":"vector","result":[{{"metric":{{}},"value":[10.500,"{in_vector}"]}}]}}}}"#
            ),
            "vector({q})"
        );
        let (_, body) = get(state(), &format!("/api/v1/query?query={q}&time=10.5")).await;
        assert_eq!(
            body,
            format!(
                r#"{{"status":"success","data":{{"resultType":"scalar","result":[10.5,"{as_scalar}"]}}}}"#
            ),
            "query {q}"
        );
    }
    // Label values are escaped as Go's encoding/json does (HTML-safe).
    let (_, body) = get(state(), "/api/v1/query?query=odd&time=10").await;
    assert_eq!(
        body,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"odd","v":"\u003c\u0026\u003e\""},"value":[10,"1.5e-07"]}]}}"#
    );
}

#[tokio::test]
async fn warnings_and_infos_are_reported() {
    // rate() over a metric whose name does not end in _total/_count/... is an info in Prometheus 3.x.
    let (status, body) = get(state(), "/api/v1/query?query=rate(a%5B5m%5D)&time=60").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        r#"{"status":"success","data":{"resultType":"vector","result":[]},"infos":["PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \"a\""]}"#
    );
}

async fn assert_error(state: ApiState, uri: &str, status: StatusCode, error_type: &str, message: &str) {
    let (s, body, ct) = call(state, Request::get(uri).body(Body::empty()).unwrap()).await;
    // Go's encoding/json escapes `<` and `>` (`<op:*>` is `\u003cop:*\u003e`), as the API does.
    let want = format!(
        r#"{{"status":"error","errorType":"{error_type}","error":{}}}"#,
        serde_json::to_string(message)
            .unwrap()
            .replace('<', "\\u003c")
            .replace('>', "\\u003e")
    );
    assert_eq!((s, body.as_str()), (status, want.as_str()), "{uri}");
    assert_eq!(ct.as_deref(), Some("application/json"));
}

#[tokio::test]
async fn bad_data_errors_name_the_parameter_and_position() {
    let bad = StatusCode::BAD_REQUEST;
    let s = state();
    // A parenthesis left open is reported at the end of the input, column 16, as Prometheus does.
    assert_error(
        s.clone(),
        "/api/v1/query?query=sum(rate(x%5B5m%5D)&time=1",
        bad,
        "bad_data",
        r#"invalid parameter "query": 1:16: parse error: unclosed left parenthesis"#,
    )
    .await;
    // An operator where an operand belongs: the second `*`, column 6.
    assert_error(
        s.clone(),
        "/api/v1/query?query=up%20*%20*%201&time=1",
        bad,
        "bad_data",
        r#"invalid parameter "query": 1:6: parse error: unexpected <op:*>"#,
    )
    .await;
    // Range queries report parse errors without naming the parameter, as Prometheus does.
    assert_error(
        s.clone(),
        "/api/v1/query_range?query=up%20*%20*%201&start=0&end=1&step=1",
        bad,
        "bad_data",
        "1:6: parse error: unexpected <op:*>",
    )
    .await;
    assert_error(
        s.clone(),
        "/api/v1/query?query=up&time=yesterday",
        bad,
        "bad_data",
        r#"invalid parameter "time": Invalid time value for 'time': cannot parse "yesterday" to a valid timestamp"#,
    )
    .await;
    assert_error(
        s.clone(),
        "/api/v1/query_range?query=up&start=10&end=5&step=1",
        bad,
        "bad_data",
        r#"invalid parameter "end": end timestamp must not be before start time"#,
    )
    .await;
    assert_error(
        s.clone(),
        "/api/v1/query_range?query=up&start=0&end=5&step=fast",
        bad,
        "bad_data",
        r#"invalid parameter "step": cannot parse "fast" to a valid duration"#,
    )
    .await;
    assert_error(
        s.clone(),
        "/api/v1/query_range?query=up&start=0&end=5&step=0",
        bad,
        "bad_data",
        r#"invalid parameter "step": zero or negative query resolution step widths are not accepted. Try a positive integer"#,
    )
    .await;
    assert_error(
        s.clone(),
        "/api/v1/query_range?query=up&start=0&end=11001&step=1",
        bad,
        "bad_data",
        "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
    )
    .await;
    assert_error(
        s.clone(),
        "/api/v1/query_range?query=%22s%22&start=0&end=10&step=1",
        bad,
        "bad_data",
        r#"invalid expression type "string" for range query, must be Scalar or instant Vector"#,
    )
    .await;
    assert_error(
        s.clone(),
        "/api/v1/query?query=up&time=1&timeout=soon",
        bad,
        "bad_data",
        r#"invalid parameter "timeout": cannot parse "soon" to a valid duration"#,
    )
    .await;
    assert_error(
        s.clone(),
        "/api/v1/query?query=up&time=%zz",
        bad,
        "bad_data",
        r#"error parsing form values: invalid URL escape "%zz""#,
    )
    .await;
    assert_error(
        s.clone(),
        "/api/v1/series",
        bad,
        "bad_data",
        "no match[] parameter provided",
    )
    .await;
    assert_error(
        s,
        "/api/v1/series?match[]=%7Bjob%3D~%22.*%22%7D",
        bad,
        "bad_data",
        "match[] must contain at least one non-empty matcher",
    )
    .await;
}

#[tokio::test]
async fn the_11000_point_limit_counts_like_prometheus() {
    // (end - start) / step == 11000 exactly is allowed.
    let (status, body) = get(state(), "/api/v1/query_range?query=1&start=0&end=11000&step=1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn execution_errors_are_422() {
    // Both series lose their names in `* 1` and then share {x="1"}.
    assert_error(
        state(),
        "/api/v1/query?query=%7Bx%3D%221%22%7D*1&time=10",
        StatusCode::UNPROCESSABLE_ENTITY,
        "execution",
        "vector cannot contain metrics with the same labelset",
    )
    .await;
}

#[tokio::test]
async fn too_many_samples_is_the_prometheus_execution_error() {
    let s = state_with(EngineOptions {
        max_samples: 2,
        ..EngineOptions::default()
    });
    assert_error(
        s,
        "/api/v1/query?query=http_requests_total&time=60",
        StatusCode::UNPROCESSABLE_ENTITY,
        "execution",
        "query processing would load too many samples into memory in query execution",
    )
    .await;
}

#[tokio::test]
async fn timeouts_are_503() {
    assert_error(
        state(),
        "/api/v1/query_range?query=sum(http_requests_total)&start=0&end=10000&step=1&timeout=0.000000001",
        StatusCode::SERVICE_UNAVAILABLE,
        "timeout",
        "query timed out in expression evaluation",
    )
    .await;
}

#[tokio::test]
async fn series_labels_and_label_values() {
    let s = state();
    let (status, body) = get(
        s.clone(),
        "/api/v1/series?match[]=http_requests_total%7Bcode%3D%22200%22%7D",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        r#"{"status":"success","data":[{"__name__":"http_requests_total","code":"200","job":"api"},{"__name__":"http_requests_total","code":"200","job":"web"}]}"#
    );
    // Two selectors give the union; limit truncates with Prometheus's warning.
    let (_, body) = get(s.clone(), "/api/v1/series?match[]=a&match[]=b&limit=1").await;
    assert_eq!(
        body,
        r#"{"status":"success","data":[{"__name__":"a","x":"1"}],"warnings":["results truncated due to limit"]}"#
    );
    // A time window without samples of a series leaves it out.
    let (_, body) = get(
        s.clone(),
        "/api/v1/series?match[]=%7Bx%3D%221%22%7D&start=60&end=120",
    )
    .await;
    assert_eq!(body, r#"{"status":"success","data":[]}"#);

    let (_, body) = get(s.clone(), "/api/v1/labels").await;
    assert_eq!(
        body,
        r#"{"status":"success","data":["__name__","code","job","v","x"]}"#
    );
    let (_, body) = get(s.clone(), "/api/v1/labels?match[]=a").await;
    assert_eq!(body, r#"{"status":"success","data":["__name__","x"]}"#);
    let (_, body) = get(s.clone(), "/api/v1/label/job/values").await;
    assert_eq!(body, r#"{"status":"success","data":["api","web"]}"#);
    let (_, body) = get(s.clone(), "/api/v1/label/__name__/values").await;
    assert_eq!(
        body,
        r#"{"status":"success","data":["a","b","http_requests_total","odd"]}"#
    );
    let (_, body) = get(
        s.clone(),
        "/api/v1/label/code/values?match[]=%7Bjob%3D%22web%22%7D",
    )
    .await;
    assert_eq!(body, r#"{"status":"success","data":["200"]}"#);
    let (_, body) = get(s, "/api/v1/label/missing/values").await;
    assert_eq!(body, r#"{"status":"success","data":[]}"#);
}

#[tokio::test]
async fn health_readiness_and_buildinfo() {
    let s = state();
    let (status, body) = get(s.clone(), "/-/healthy").await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "burnwatch is Healthy.\n")
    );
    s.set_ready(false);
    let (status, _) = get(s.clone(), "/-/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    s.set_ready(true);
    let (status, body) = get(s.clone(), "/-/ready").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "burnwatch is Ready.\n"));
    let (status, body) = get(s, "/api/v1/status/buildinfo").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        format!(
            r#"{{"status":"success","data":{{"version":"{}","revision":"","branch":"","buildUser":"","buildDate":"","goVersion":"rust"}}}}"#,
            env!("CARGO_PKG_VERSION")
        )
    );
}

/// Protobuf field key and length-delimited payload.
fn pb_bytes(out: &mut Vec<u8>, field: u8, payload: &[u8]) {
    out.push(field << 3 | 2);
    let mut n = payload.len();
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            break;
        }
        out.push(b | 0x80);
    }
    out.extend_from_slice(payload);
}

/// A remote-write 1.0 `WriteRequest` with one series and one sample, snappy-compressed.
fn write_request(name: &str, t_ms: i64, v: f64) -> Vec<u8> {
    let mut label = Vec::new();
    pb_bytes(&mut label, 1, b"__name__");
    pb_bytes(&mut label, 2, name.as_bytes());
    let mut sample = vec![1 << 3 | 1];
    sample.extend_from_slice(&v.to_le_bytes());
    sample.push(2 << 3);
    let mut t = t_ms as u64;
    loop {
        let b = (t & 0x7f) as u8;
        t >>= 7;
        if t == 0 {
            sample.push(b);
            break;
        }
        sample.push(b | 0x80);
    }
    let mut ts = Vec::new();
    pb_bytes(&mut ts, 1, &label);
    pb_bytes(&mut ts, 2, &sample);
    let mut req = Vec::new();
    pb_bytes(&mut req, 1, &ts);
    snap::raw::Encoder::new().compress_vec(&req).unwrap()
}

#[tokio::test]
async fn remote_write_appends_and_refuses_broken_bodies() {
    let s = state();
    let req = Request::post("/api/v1/write")
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "snappy")
        .body(Body::from(write_request("pushed", 30_000, 7.0)))
        .unwrap();
    let (status, body, _) = call(s.clone(), req).await;
    assert_eq!((status, body.as_str()), (StatusCode::NO_CONTENT, ""));
    let (_, body) = get(s.clone(), "/api/v1/query?query=pushed&time=31").await;
    assert_eq!(
        body,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"pushed"},"value":[31,"7"]}]}}"#
    );

    let req = Request::post("/api/v1/write")
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "snappy")
        .body(Body::from(&b"not snappy at all"[..]))
        .unwrap();
    let (status, body, ct) = call(s.clone(), req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(!body.trim().is_empty());
    assert_eq!(ct.as_deref(), Some("text/plain; charset=utf-8"));
    // Nothing stored was lost.
    let (_, body) = get(s, "/api/v1/query?query=pushed&time=31").await;
    assert!(body.contains(r#""value":[31,"7"]"#), "{body}");
}

#[test]
fn time_and_duration_parameters() {
    use params::*;
    assert_eq!(parse_time("1700000000.123"), Ok(1_700_000_000_123));
    assert_eq!(parse_time("1e3"), Ok(1_000_000));
    assert_eq!(parse_time("-1.5"), Ok(-1500));
    assert_eq!(parse_time("2023-11-14T22:13:20Z"), Ok(1_700_000_000_000));
    assert_eq!(parse_time("2023-11-14T22:13:20.9999Z"), Ok(1_700_000_000_999));
    assert_eq!(parse_time("2023-11-14T23:13:20+01:00"), Ok(1_700_000_000_000));
    assert!(parse_time("2023-02-30T00:00:00Z").is_err());
    assert!(parse_time("NaN").is_err());
    assert_eq!(parse_duration_ns("5m"), Ok(300_000_000_000));
    assert_eq!(parse_duration_ns("1h30m"), Ok(5_400_000_000_000));
    assert_eq!(parse_duration_ns("1.5"), Ok(1_500_000_000));
    assert_eq!(parse_duration_ns("250ms"), Ok(250_000_000));
    assert!(parse_duration_ns("30m1h").is_err());
    assert!(parse_duration_ns("5").is_ok());
    assert!(parse_duration_ns("").is_err());
}

#[test]
fn label_names_unescape_as_prometheus_3() {
    assert_eq!(unescape_label_name("job"), "job");
    assert_eq!(unescape_label_name("U__my_2e_label"), "my.label");
    assert_eq!(unescape_label_name("U__a__b"), "a_b");
    assert_eq!(unescape_label_name("U__bad_zz_"), "U__bad_zz_");
}

#[test]
fn parse_positions() {
    use position::*;
    // Lexer error: the unexpected character itself.
    let q = "up{job=\"a\"} $ 1";
    let msg = promql_parser::parser::parse(q).unwrap_err();
    assert_eq!(error_position(q, &msg), Some(12));
    // Unclosed string: the opening quote.
    let q = "up{job=\"a}";
    let msg = promql_parser::parser::parse(q).unwrap_err();
    assert_eq!(error_position(q, &msg), Some(7));
    assert_eq!(line_col("a\nbc", 3), (2, 2));
}

/// Regression: the `stats` parameter was ignored. Prometheus answers `data.stats` with its
/// timings and the samples the query read and held.
#[tokio::test]
async fn stats_parameter_adds_timings_and_sample_counts() {
    let (status, body) = get(
        state(),
        "/api/v1/query_range?query=http_requests_total%7Bjob%3D%22api%22%7D&start=60&end=300&step=60&stats=1",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let j: serde_json::Value = serde_json::from_str(&body).unwrap();
    let stats = &j["data"]["stats"];
    for k in [
        "evalTotalTime",
        "resultSortTime",
        "queryPreparationTime",
        "innerEvalTime",
        "execQueueTime",
        "execTotalTime",
    ] {
        assert!(
            stats["timings"][k].as_f64().is_some_and(|v| v >= 0.0),
            "{k}: {body}"
        );
    }
    // Two series at five steps: ten samples read, all of them held as the result.
    assert_eq!(stats["samples"]["totalQueryableSamples"], 10, "{body}");
    assert_eq!(stats["samples"]["peakSamples"], 10, "{body}");
    assert!(
        stats["samples"].get("totalQueryableSamplesPerStep").is_none(),
        "{body}"
    );
    assert!(
        body.contains(r#""result":[{"#) && body.contains(r#"],"stats":{"timings":{"evalTotalTime":"#),
        "{body}"
    );

    // A range function reads each step's window: rate over 2m at 60 s samples holds 2 per step.
    let (_, body) = get(
        state_with(EngineOptions {
            per_step_stats: true,
            ..EngineOptions::default()
        }),
        "/api/v1/query_range?query=rate(http_requests_total%7Bcode%3D%22500%22%7D%5B2m%5D)&start=120&end=240&step=60&stats=all",
    )
    .await;
    let j: serde_json::Value = serde_json::from_str(&body).unwrap();
    let samples = &j["data"]["stats"]["samples"];
    assert_eq!(samples["totalQueryableSamples"], 6, "{body}");
    assert_eq!(
        samples["totalQueryableSamplesPerStep"],
        serde_json::json!([[120, 2], [180, 2], [240, 2]]),
        "{body}"
    );
    // The window of two, then the three results held with the last window.
    assert_eq!(samples["peakSamples"], 5, "{body}");

    // Without the parameter, no stats.
    let (_, body) = get(state(), "/api/v1/query?query=http_requests_total&time=60").await;
    assert!(!body.contains("stats"), "{body}");
}
