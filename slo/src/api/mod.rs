//! The Prometheus-compatible HTTP API.
//!
//! [`router`] builds an axum [`Router`] over an [`ApiState`] (the shared store and the engine
//! settings) answering as Prometheus's `web/api/v1` does, byte for byte where clients can tell:
//!
//! - `/api/v1/query`, `/api/v1/query_range` (GET, or POST with a form body): `time`, `start`, `end`
//!   as RFC 3339 or float Unix seconds, `step` and `timeout` as float seconds or durations (`5m`),
//!   Prometheus 3.x's `lookback_delta`; at most 11 000 points per series;
//! - `/api/v1/series`, `/api/v1/labels`, `/api/v1/label/{name}/values` with `match[]`, `start`,
//!   `end`, `limit`;
//! - `/api/v1/write`: the remote-write 1.0 receiver (snappy protobuf), 204 on success, 400 with the
//!   reason for a body it cannot take, 415 for a request that is not remote-write 1.0 protobuf
//!   (2.0, another encoding, a missing or other `Content-Type`);
//! - `/api/v1/dora/events` (POST): DORA deployment and incident events into `dora_*` series
//!   (see [`dora`]);
//! - `/api/v1/metadata`, `/api/v1/targets/metadata` (see [`metadata`]) and
//!   `/api/v1/query_exemplars` (see [`exemplars`]);
//! - `/api/v1/rules`, `/api/v1/alerts`: the rule manager's groups and alerts (see
//!   [`crate::rules::api`]);
//! - `/api/v1/status/buildinfo`, `/-/healthy`, `/-/ready`;
//! - `/api/v1/status/{config,flags,runtimeinfo,tsdb}` and `/metrics` (see [`status`]),
//!   `/api/v1/format_query` (see [`format`]), `/federate` (see [`federate`]);
//! - `OPTIONS` on any `/api/v1/` path and the CORS headers of `--web.cors.origin` (see [`cors`]).
//!
//! Responses are `{"status":"success","data":...}` or `{"status":"error","errorType":...,"error":...}`
//! with `warnings`/`infos` when there are any; the [`json`] module writes them. Error types map to
//! statuses as in Prometheus: `bad_data` 400, `execution` 422, `timeout` 503, `internal` 500.
//!
//! Queries evaluate on the blocking thread pool under the store's read lock, so a long query does
//! not stall the async workers that serve other requests and ingest.

pub mod client;
pub mod cors;
pub mod dora;
pub mod exemplars;
pub mod federate;
pub mod format;
pub mod json;
pub mod lenient;
pub mod metadata;
pub mod params;
pub mod position;
pub mod self_metrics;
pub mod status;
#[cfg(test)]
mod tests;
pub mod web_config;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use promql_parser::parser::Expr;

use crate::promql::{Engine, EngineOptions, QueryError, QueryResult};
use crate::shared::SharedStorage;
use crate::tsdb::{Labels, Matcher, Queryable, Storage};
use params::Form;

/// Prometheus's cap on points per series in a range query (`end - start) / step > 11000`).
pub const MAX_POINTS_PER_SERIES: i128 = 11_000;

/// Largest remote-write request body taken (compressed bytes).
pub const REMOTE_WRITE_MAX_BODY: usize = 32 << 20;

/// What the API handlers share.
#[derive(Clone, Debug)]
pub struct ApiState {
    /// The store queries read and remote write appends to.
    pub store: SharedStorage,
    /// Engine settings (lookback, sample limit, timeout) for every query.
    pub engine: EngineOptions,
    /// Label limits on remote-written series.
    pub write_limits: crate::ingest::LabelLimits,
    /// The DORA events endpoint's state; `None` gives a fresh one without a journal (see
    /// [`dora::DoraState::with_journal`] for one that remembers event ids across restarts).
    pub dora: Option<dora::DoraState>,
    /// The rule manager `/api/v1/rules` and `/api/v1/alerts` report on; `None` answers empty
    /// lists, as Prometheus does without `rule_files`.
    pub rules: Option<crate::rules::RuleManager>,
    /// Routes the embedding command adds (`serve --config`: `/api/v1/targets`, `/-/reload`);
    /// they must not overlap the API's own.
    pub extra_routes: Option<Router>,
    /// What the status endpoints, `/metrics` and the CORS headers report (see [`status`]).
    pub server: status::ServerInfo,
    ready: Arc<AtomicBool>,
}

impl ApiState {
    /// A state over `store` with `engine` settings, ready to answer (see [`ApiState::set_ready`]).
    pub fn new(store: SharedStorage, engine: EngineOptions) -> Self {
        ApiState {
            store,
            engine,
            write_limits: crate::ingest::LabelLimits::default(),
            dora: None,
            rules: None,
            extra_routes: None,
            server: status::ServerInfo::default(),
            ready: Arc::new(AtomicBool::new(true)),
        }
    }

    /// Sets what `/-/ready` reports: the server is not ready while it still loads data.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    /// Whether `/-/ready` answers 200.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}

/// The API's routes over `state`.
pub fn router(state: ApiState) -> Router {
    // DORA events (`POST /api/v1/dora/events`) have their own state: the writer that remembers
    // what it has counted.
    let dora_routes = match &state.dora {
        Some(d) => dora::routes_with(d.clone()),
        None => dora::routes(state.store.clone()),
    };
    let rules_routes = crate::rules::api::routes(state.rules.clone());
    let extra_routes = state.extra_routes.clone().unwrap_or_default();
    let cors_origin = state.server.cors.clone();
    let self_metrics = state.server.metrics.clone();
    Router::new()
        .route("/api/v1/query", get(query).post(query))
        .route("/api/v1/query_range", get(query_range).post(query_range))
        .route("/api/v1/series", get(series).post(series))
        .route("/api/v1/labels", get(labels).post(labels))
        .route("/api/v1/label/{name}/values", get(label_values))
        // axum's default 2 MiB body cap is too small for a large remote-write batch from a
        // sender with raised `max_samples_per_send`; 32 MiB of snappy is far beyond any default.
        .route(
            "/api/v1/write",
            post(remote_write).layer(axum::extract::DefaultBodyLimit::max(REMOTE_WRITE_MAX_BODY)),
        )
        .route("/api/v1/status/buildinfo", get(buildinfo))
        .route("/api/v1/status/config", get(status::config))
        .route("/api/v1/status/flags", get(status::flags))
        .route("/api/v1/status/runtimeinfo", get(status::runtimeinfo))
        .route("/api/v1/status/tsdb", get(status::tsdb))
        .route("/api/v1/format_query", get(format::handler).post(format::handler))
        .route("/federate", get(federate::handler))
        .route("/metrics", get(status::metrics))
        .route("/-/healthy", get(healthy).head(healthy))
        .route("/-/ready", get(ready).head(ready))
        .merge(metadata::routes())
        .merge(exemplars::routes())
        .with_state(state)
        .merge(dora_routes)
        .merge(rules_routes)
        .merge(extra_routes)
        // Counted per matched route, as Prometheus's instrumented handlers count them.
        .route_layer(axum::middleware::from_fn(move |req, next| {
            count_request(self_metrics.clone(), req, next)
        }))
        .layer(axum::middleware::from_fn(move |req, next| {
            cors::layer(cors_origin.clone(), req, next)
        }))
}

/// Counts a request in `prometheus_http_requests_total` and its duration histogram, under the
/// route's pattern written as Prometheus writes it (`/api/v1/label/:name/values`).
async fn count_request(
    metrics: Arc<self_metrics::ApiMetrics>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let handler = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().replace('{', ":").replace('}', ""))
        .unwrap_or_else(|| req.uri().path().to_string());
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    metrics.observe_request(&handler, resp.status().as_u16(), started.elapsed());
    resp
}

/// Prometheus's error classes (`web/api/v1.errorType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorType {
    /// A malformed parameter or query: 400.
    BadData,
    /// The query failed while running: 422.
    Execution,
    /// The query ran out of time: 503.
    Timeout,
    /// A fault of the server: 500.
    Internal,
}

impl ErrorType {
    /// The `errorType` string.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::BadData => "bad_data",
            ErrorType::Execution => "execution",
            ErrorType::Timeout => "timeout",
            ErrorType::Internal => "internal",
        }
    }

    /// The HTTP status Prometheus answers with.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorType::BadData => StatusCode::BAD_REQUEST,
            ErrorType::Execution => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorType::Timeout => StatusCode::SERVICE_UNAVAILABLE,
            ErrorType::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An API error: its class and message.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    /// The class, which sets the status.
    pub kind: ErrorType,
    /// The `error` text.
    pub message: String,
}

impl ApiError {
    fn bad_data(message: impl Into<String>) -> Self {
        ApiError {
            kind: ErrorType::BadData,
            message: message.into(),
        }
    }

    /// Prometheus's `invalidParamError`: `invalid parameter "time": <reason>`.
    fn invalid_param(param: &str, reason: impl std::fmt::Display) -> Self {
        Self::bad_data(format!("invalid parameter {param:?}: {reason}"))
    }

    /// Maps an engine error for an instant `query` to the class and text Prometheus gives.
    pub fn from_query_error(query: &str, err: QueryError) -> Self {
        match err {
            QueryError::Parse(msg) => Self::invalid_param("query", position::parse_error_text(query, &msg)),
            QueryError::BadQuery(msg) => Self::invalid_param("query", msg),
            e @ QueryError::TooDeep { .. } => Self::invalid_param("query", too_deep_text(query, &e)),
            other => Self::from_range_query_error(query, other),
        }
    }

    /// Maps an engine error for a range `query`. Prometheus reports a range query that does not
    /// parse or has the wrong type as plain `bad_data`, without the `invalid parameter "query"`
    /// prefix of instant queries (checked against Prometheus 2.42).
    pub fn from_range_query_error(query: &str, err: QueryError) -> Self {
        match err {
            QueryError::Parse(msg) => Self::bad_data(position::parse_error_text(query, &msg)),
            QueryError::BadQuery(msg) => Self::bad_data(msg),
            e @ QueryError::TooDeep { .. } => Self::bad_data(too_deep_text(query, &e)),
            QueryError::Execution(msg) => ApiError {
                kind: ErrorType::Execution,
                message: msg,
            },
            e @ QueryError::TooManySamples => ApiError {
                kind: ErrorType::Execution,
                message: e.to_string(),
            },
            e @ QueryError::Timeout => ApiError {
                kind: ErrorType::Timeout,
                message: e.to_string(),
            },
        }
    }
}

/// A query refused for its nesting, worded as a parse error at the place it went too deep
/// (`1:2401: parse error: query is nested too deeply: ...`), since it is refused before parsing.
fn too_deep_text(query: &str, err: &QueryError) -> String {
    match err {
        QueryError::TooDeep { offset, .. } if *offset > 0 => {
            let (line, col) = position::line_col(query, *offset);
            format!("{line}:{col}: parse error: {err}")
        }
        _ => format!("parse error: {err}"),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(
            self.kind.status(),
            json::error(self.kind.as_str(), &self.message, &[], &[]),
        )
    }
}

fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn success(data: &str, warnings: &[String]) -> Response {
    json_response(StatusCode::OK, json::success(data, warnings, &[]))
}

/// The form of a request: URL values plus, for a POST with a form content type, the body's
/// (Go's `Request.ParseForm`).
fn read_form(
    method: &Method,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Form, ApiError> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
        });
    let body = (*method == Method::POST && is_form).then_some(body);
    Form::parse(query, body).map_err(|e| ApiError::bad_data(format!("error parsing form values: {e}")))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A time parameter, `default` when absent or empty (Prometheus's `parseTimeParam`, whose errors
/// say `Invalid time value for 'time': ...` inside the `invalid parameter` text).
fn time_param(form: &Form, name: &str, default: i64) -> Result<i64, ApiError> {
    match form.non_empty(name) {
        None => Ok(default),
        Some(s) => params::parse_time(s)
            .map_err(|e| ApiError::invalid_param(name, format!("Invalid time value for '{name}': {e}"))),
    }
}

/// The engine settings of one query: the server's, narrowed by the `timeout` parameter and with
/// the `lookback_delta` parameter (Prometheus 3.x `extractQueryOpts`).
fn query_options(base: &EngineOptions, form: &Form) -> Result<EngineOptions, ApiError> {
    let mut opts = base.clone();
    if let Some(s) = form.non_empty("timeout") {
        let ns = params::parse_duration_ns(s).map_err(|e| ApiError::invalid_param("timeout", e))?;
        let d = Duration::from_nanos(u64::try_from(ns.max(0)).unwrap_or(u64::MAX));
        opts.timeout = opts.timeout.min(d);
    }
    if let Some(s) = form.non_empty("lookback_delta") {
        let ns = params::parse_duration_ns(s)
            .map_err(|e| ApiError::bad_data(format!("error parsing lookback delta duration: {e}")))?;
        if ns > 0 {
            opts.lookback_delta = Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX));
        }
    }
    Ok(opts)
}

/// Runs `f` over the store on the blocking pool under the read lock.
async fn with_store<T: Send + 'static>(
    state: &ApiState,
    f: impl FnOnce(&Storage) -> T + Send + 'static,
) -> Result<T, ApiError> {
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || {
        // A writer that panicked cannot have left a half-appended sample behind (appends are
        // single pushes), so a poisoned lock is still safe to read.
        let guard = store.read().unwrap_or_else(|p| p.into_inner());
        f(&guard)
    })
    .await
    .map_err(|e| ApiError {
        kind: ErrorType::Internal,
        message: format!("query task failed: {e}"),
    })
}

/// What the `stats` parameter asks for: nothing when absent or empty, the totals for any other
/// value, and per-step counts too for `all` (Prometheus's `defaultStatsRenderer` and
/// `EnablePerStepStats`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StatsParam {
    None,
    Totals,
    PerStep,
}

fn stats_param(form: &Form, opts: &EngineOptions) -> StatsParam {
    match form.get("stats").unwrap_or("") {
        "" => StatsParam::None,
        "all" if opts.per_step_stats => StatsParam::PerStep,
        _ => StatsParam::Totals,
    }
}

/// Runs a query on the blocking pool, adding the time it waited for a worker to its timings.
async fn run_query(
    state: &ApiState,
    f: impl FnOnce(&Storage) -> Result<QueryResult, QueryError> + Send + 'static,
) -> Result<Result<QueryResult, QueryError>, ApiError> {
    let queued = std::time::Instant::now();
    let metrics = state.server.metrics.clone();
    with_store(state, move |s| {
        let waited = queued.elapsed();
        f(s).map(|mut r| {
            r.stats.timings.exec_queue = waited;
            r.stats.timings.exec_total += waited;
            metrics.observe_query(&r.stats.timings);
            r
        })
    })
    .await
}

fn query_response(
    query: &str,
    res: Result<QueryResult, QueryError>,
    range: bool,
    stats: StatsParam,
) -> Response {
    match res {
        Ok(r) => {
            let stats = match stats {
                StatsParam::None => None,
                StatsParam::Totals => Some((&r.stats, false)),
                StatsParam::PerStep => Some((&r.stats, true)),
            };
            json_response(
                StatusCode::OK,
                json::query_success_with_stats(&r.value, &r.annotations, stats),
            )
        }
        Err(e) if range => ApiError::from_range_query_error(query, e).into_response(),
        Err(e) => ApiError::from_query_error(query, e).into_response(),
    }
}

async fn query(
    State(state): State<ApiState>,
    method: Method,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match instant(&state, &method, raw.as_deref(), &headers, &body).await {
        Ok(r) | Err(r) => r,
    }
}

async fn instant(
    state: &ApiState,
    method: &Method,
    raw: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, Response> {
    let e = |e: ApiError| e.into_response();
    let form = read_form(method, raw, headers, body).map_err(e)?;
    let t = time_param(&form, "time", now_ms()).map_err(e)?;
    let opts = query_options(&state.engine, &form).map_err(e)?;
    let q = form.get("query").unwrap_or("").to_string();
    // Parsed on the blocking pool with the evaluation: the engine moves a deeply nested query,
    // parse, evaluation and drop, onto a thread with a large stack (`promql::depth`).
    let query = q.clone();
    let res = run_query(state, move |s| Engine::new(opts).instant_query(s, &query, t))
        .await
        .map_err(e)?;
    Ok(query_response(&q, res, false, stats_param(&form, &state.engine)))
}

async fn query_range(
    State(state): State<ApiState>,
    method: Method,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match range(&state, &method, raw.as_deref(), &headers, &body).await {
        Ok(r) | Err(r) => r,
    }
}

async fn range(
    state: &ApiState,
    method: &Method,
    raw: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, Response> {
    let e = |e: ApiError| e.into_response();
    let form = read_form(method, raw, headers, body).map_err(e)?;
    // Parameter checks in Prometheus's order (`web/api/v1.queryRange`), so the same request
    // fails with the same message.
    let start = params::parse_time(form.get("start").unwrap_or(""))
        .map_err(|r| e(ApiError::invalid_param("start", r)))?;
    let end = params::parse_time(form.get("end").unwrap_or(""))
        .map_err(|r| e(ApiError::invalid_param("end", r)))?;
    if end < start {
        return Err(e(ApiError::invalid_param(
            "end",
            "end timestamp must not be before start time",
        )));
    }
    let step_ns = params::parse_duration_ns(form.get("step").unwrap_or(""))
        .map_err(|r| e(ApiError::invalid_param("step", r)))?;
    if step_ns <= 0 {
        return Err(e(ApiError::invalid_param(
            "step",
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        )));
    }
    let span_ns = i128::from(end - start) * 1_000_000;
    if span_ns / step_ns > MAX_POINTS_PER_SERIES {
        return Err(e(ApiError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        )));
    }
    let opts = query_options(&state.engine, &form).map_err(e)?;
    let q = form.get("query").unwrap_or("").to_string();
    // The engine steps in whole milliseconds (Prometheus's `durationMilliseconds`); a sub-millisecond
    // step still moves forward.
    let step_ms = i64::try_from(step_ns / 1_000_000).unwrap_or(i64::MAX).max(1);
    // Parsed with the evaluation, as for instant queries.
    let query = q.clone();
    let res = run_query(state, move |s| {
        Engine::new(opts).range_query(s, &query, start, end, step_ms)
    })
    .await
    .map_err(e)?;
    Ok(query_response(&q, res, true, stats_param(&form, &state.engine)))
}

const NON_EMPTY_MATCHER: &str = "match[] must contain at least one non-empty matcher";

/// The matcher sets of the `match[]` parameters; each must be a series selector. A selector with
/// `or` groups (`{a="1" or b="2"}`) gives one set per group.
fn matcher_sets(values: &[&str]) -> Result<Vec<Vec<Matcher>>, ApiError> {
    let mut sets = Vec::new();
    for v in values {
        let expr = Engine::parse(v).map_err(|e| match e {
            // Prometheus's `ParseMetricSelector` does not run this check of full queries; the API
            // makes it afterwards with its own words.
            QueryError::Parse(msg) if msg.contains("must contain at least one non-empty matcher") => {
                ApiError::bad_data(NON_EMPTY_MATCHER)
            }
            QueryError::Parse(msg) => ApiError::invalid_param("match[]", position::parse_error_text(v, &msg)),
            other => ApiError::invalid_param("match[]", other),
        })?;
        let vs = match expr {
            Expr::VectorSelector(vs) => vs,
            other => {
                // A tree up to `MAX_DEPTH` deep: dropping it recursively could overflow this
                // async worker's stack.
                crate::promql::depth::dismantle(other);
                return Err(ApiError::invalid_param(
                    "match[]",
                    format!("parse error: expected a series selector such as up{{job=\"api\"}}, got {v:?}"),
                ));
            }
        };
        sets.extend(selector_sets(&vs, "match[]")?);
    }
    Ok(sets)
}

/// The store matcher sets of one series selector (one per `or` group), a bad regex reported as
/// an invalid `param`.
fn selector_sets(
    vs: &promql_parser::parser::VectorSelector,
    param: &str,
) -> Result<Vec<Vec<Matcher>>, ApiError> {
    let groups: Vec<&Vec<promql_parser::label::Matcher>> = if vs.matchers.or_matchers.is_empty() {
        vec![&vs.matchers.matchers]
    } else {
        vs.matchers.or_matchers.iter().collect()
    };
    let mut sets = Vec::with_capacity(groups.len());
    for group in groups {
        let mut set = Vec::with_capacity(group.len() + 1);
        if let Some(name) = &vs.name {
            set.push(Matcher::equal(crate::tsdb::METRIC_NAME, name));
        }
        for m in group {
            use promql_parser::label::MatchOp as P;
            let bad = |e: crate::tsdb::MatcherError| ApiError::invalid_param(param, e);
            set.push(match &m.op {
                P::Equal => Matcher::equal(&m.name, &m.value),
                P::NotEqual => Matcher::not_equal(&m.name, &m.value),
                P::Re(_) => Matcher::regex(&m.name, &m.value).map_err(bad)?,
                P::NotRe(_) => Matcher::not_regex(&m.name, &m.value).map_err(bad)?,
            });
        }
        if set.iter().all(|m| m.matches("")) {
            return Err(ApiError::bad_data(NON_EMPTY_MATCHER));
        }
        sets.push(set);
    }
    Ok(sets)
}

/// The `limit` parameter: 0 (none) when absent.
fn limit_param(form: &Form) -> Result<usize, ApiError> {
    match form.non_empty("limit") {
        None => Ok(0),
        Some(s) => match s.parse::<i64>() {
            Ok(n) if n < 0 => Err(ApiError::invalid_param("limit", "limit must be non-negative")),
            Ok(n) => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
            Err(_) => Err(ApiError::invalid_param(
                "limit",
                format!("strconv.Atoi: parsing {s:?}: invalid syntax"),
            )),
        },
    }
}

/// Truncates `items` to `limit` (when non-zero), returning the warning Prometheus adds then.
fn apply_limit<T>(items: &mut Vec<T>, limit: usize) -> Vec<String> {
    if limit > 0 && items.len() > limit {
        items.truncate(limit);
        vec!["results truncated due to limit".to_string()]
    } else {
        Vec::new()
    }
}

/// The parameters the metadata endpoints share.
struct MetaQuery {
    sets: Vec<Vec<Matcher>>,
    start: Option<i64>,
    end: Option<i64>,
    limit: usize,
}

fn meta_query(form: &Form, require_match: bool) -> Result<MetaQuery, ApiError> {
    let matches = form.all("match[]");
    if require_match && matches.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let limit = limit_param(form)?;
    let start = form
        .non_empty("start")
        .map(|_| time_param(form, "start", 0))
        .transpose()?;
    let end = form
        .non_empty("end")
        .map(|_| time_param(form, "end", 0))
        .transpose()?;
    Ok(MetaQuery {
        sets: matcher_sets(&matches)?,
        start,
        end,
        limit,
    })
}

/// The label sets selected by `mq` (every series when it has no matcher sets), sorted and
/// deduplicated; with a time bound, only series with samples in it.
fn selected_labels(store: &Storage, mq: &MetaQuery) -> Vec<Labels> {
    let all = vec![Vec::new()];
    let sets = if mq.sets.is_empty() { &all } else { &mq.sets };
    let mut out: Vec<Labels> = Vec::new();
    for set in sets {
        if mq.start.is_none() && mq.end.is_none() {
            out.extend(store.series(set).into_iter().map(|s| s.labels().clone()));
        } else {
            let mint = mq.start.unwrap_or(i64::MIN);
            let maxt = mq.end.unwrap_or(i64::MAX);
            out.extend(store.select(set, mint, maxt).into_iter().map(|s| s.labels));
        }
    }
    out.sort();
    out.dedup();
    out
}

async fn series(
    State(state): State<ApiState>,
    method: Method,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mq = match read_form(&method, raw.as_deref(), &headers, &body).and_then(|f| meta_query(&f, true)) {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    let res = with_store(&state, move |s| {
        let mut labels = selected_labels(s, &mq);
        let warnings = apply_limit(&mut labels, mq.limit);
        let mut data = String::from("[");
        for (i, l) in labels.iter().enumerate() {
            if i > 0 {
                data.push(',');
            }
            json::write_labels(&mut data, l);
        }
        data.push(']');
        (data, warnings)
    })
    .await;
    match res {
        Ok((data, warnings)) => success(&data, &warnings),
        Err(e) => e.into_response(),
    }
}

async fn labels(
    State(state): State<ApiState>,
    method: Method,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mq = match read_form(&method, raw.as_deref(), &headers, &body).and_then(|f| meta_query(&f, false)) {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    let res = with_store(&state, move |s| {
        let mut names: Vec<String> = if mq.sets.is_empty() && mq.start.is_none() && mq.end.is_none() {
            s.label_names()
        } else {
            let set: std::collections::BTreeSet<String> = selected_labels(s, &mq)
                .iter()
                .flat_map(|l| l.iter().map(|x| x.name.to_string()).collect::<Vec<_>>())
                .collect();
            set.into_iter().collect()
        };
        let warnings = apply_limit(&mut names, mq.limit);
        let mut data = String::new();
        json::write_str_array(&mut data, &names);
        (data, warnings)
    })
    .await;
    match res {
        Ok((data, warnings)) => success(&data, &warnings),
        Err(e) => e.into_response(),
    }
}

/// Undoes Prometheus 3.x's `U__` label-name escaping (`model.ValueEncodingEscaping`), with which
/// clients put names that are not legacy identifiers into URL paths: `_` stands for itself when
/// doubled, `_<hex>_` for the code point.
fn unescape_label_name(name: &str) -> String {
    let Some(rest) = name.strip_prefix("U__") else {
        return name.to_string();
    };
    let mut out = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '_' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'_') {
            chars.next();
            out.push('_');
            continue;
        }
        let mut hex = String::new();
        let mut closed = false;
        for h in chars.by_ref() {
            if h == '_' {
                closed = true;
                break;
            }
            hex.push(h);
        }
        match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
            Some(decoded) if closed => out.push(decoded),
            // Not a valid escape: the name is taken as written, as Prometheus does.
            _ => return name.to_string(),
        }
    }
    out
}

async fn label_values(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let name = unescape_label_name(&name);
    if name.is_empty() {
        return ApiError::bad_data(format!("invalid label name: {name:?}")).into_response();
    }
    let mq = match read_form(&Method::GET, raw.as_deref(), &HeaderMap::new(), &[])
        .and_then(|f| meta_query(&f, false))
    {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    let res = with_store(&state, move |s| {
        let mut values: Vec<String> = if mq.sets.is_empty() && mq.start.is_none() && mq.end.is_none() {
            s.label_values(&name)
        } else {
            let set: std::collections::BTreeSet<String> = selected_labels(s, &mq)
                .iter()
                .filter_map(|l| l.get(&name).map(str::to_string))
                .collect();
            set.into_iter().collect()
        };
        let warnings = apply_limit(&mut values, mq.limit);
        let mut data = String::new();
        json::write_str_array(&mut data, &values);
        (data, warnings)
    })
    .await;
    match res {
        Ok((data, warnings)) => success(&data, &warnings),
        Err(e) => e.into_response(),
    }
}

/// The remote-write 1.0 receiver. As Prometheus's `storage/remote.writeHandler`: 204 when every
/// sample was taken, 400 with the reason as plain text when the body cannot be decoded or holds
/// samples the store refuses (a retry would fail again), so senders do not retry it; 500 when
/// the write-ahead log cannot take the samples (a full disk), so senders retry.
///
/// Headers are checked first ([`crate::ingest::remote_write::check_headers`]): a remote-write
/// 2.0 request, another encoding or a body that does not say it is protobuf gets 415.
async fn remote_write(State(state): State<ApiState>, headers: HeaderMap, body: Bytes) -> Response {
    let value_of = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Err(e) = crate::ingest::remote_write::check_headers(
        value_of(header::CONTENT_TYPE.as_str()),
        value_of(header::CONTENT_ENCODING.as_str()),
        value_of("x-prometheus-remote-write-version"),
    ) {
        tracing::debug!(error = %e, "Refused a remote-write request.");
        return text_response(StatusCode::UNSUPPORTED_MEDIA_TYPE, format!("{e}\n"));
    }
    let store = state.store.clone();
    let limits = state.write_limits;
    let res = tokio::task::spawn_blocking(move || {
        use crate::ingest::remote_write::{commit_remote_write, prepare_remote_write};
        // Decoding and validating need no store: done before the write lock, so a large or
        // hostile body does not hold up queries and other writers.
        let max_t = crate::tsdb::max_valid_time(crate::tsdb::wall_clock_ms());
        let prepared = prepare_remote_write(&body, &limits, max_t)?;
        let mut guard = store.write().unwrap_or_else(|p| p.into_inner());
        commit_remote_write(&mut guard, prepared)
    })
    .await;
    match res {
        Ok(Ok(_)) => StatusCode::NO_CONTENT.into_response(),
        // The WAL cannot write (a full disk): 500 as Prometheus answers a failed append, so
        // the sender retries what was not acknowledged.
        Ok(Err(e @ crate::ingest::IngestError::Unavailable(_))) => {
            tracing::warn!(error = %e, "Refused a remote-write request: the store cannot make it durable.");
            text_response(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n"))
        }
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "Refused a remote-write request.");
            text_response(StatusCode::BAD_REQUEST, format!("{e}\n"))
        }
        Err(e) => text_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("remote-write task failed: {e}\n"),
        ),
    }
}

fn text_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn buildinfo() -> Response {
    let mut data = String::from("{\"version\":");
    json::write_str(&mut data, env!("CARGO_PKG_VERSION"));
    // Prometheus's fields, so clients that read them (Grafana) find them all; burnwatch is not a
    // Go program, so goVersion names the toolchain family instead.
    data.push_str(
        ",\"revision\":\"\",\"branch\":\"\",\"buildUser\":\"\",\"buildDate\":\"\",\"goVersion\":\"rust\"}",
    );
    success(&data, &[])
}

async fn healthy() -> Response {
    text_response(StatusCode::OK, "burnwatch is Healthy.\n".to_string())
}

async fn ready(State(state): State<ApiState>) -> Response {
    if state.is_ready() {
        text_response(StatusCode::OK, "burnwatch is Ready.\n".to_string())
    } else {
        text_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service Unavailable\n".to_string(),
        )
    }
}

/// Serves [`router`] on `listener` until `shutdown` completes, then lets requests in flight finish.
///
/// Request targets are taken as leniently as Go takes them (raw `"`, `<`, `>` in a query string;
/// see [`lenient`]), so `curl '...?query={__name__="up"}'` is answered as Prometheus answers it.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ApiState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, web_config::WebConfig::default(), shutdown).await
}

/// [`serve`] with a `--web.config.file` configuration: basic authentication on every endpoint
/// when `basic_auth_users` is set (see [`web_config`]).
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    state: ApiState,
    web: web_config::WebConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut app = router(state);
    if web.requires_auth() {
        let auth = Arc::new(web_config::BasicAuth::new(&web));
        app = app.layer(axum::middleware::from_fn(move |req, next| {
            web_config::basic_auth(auth.clone(), req, next)
        }));
    }
    match web.tls().cloned() {
        Some(acceptor) => {
            let tls = web_config::TlsListener::new(listener, acceptor);
            axum::serve(lenient::LenientListener(tls), app)
                .with_graceful_shutdown(shutdown)
                .await
        }
        None => {
            axum::serve(lenient::LenientListener(listener), app)
                .with_graceful_shutdown(shutdown)
                .await
        }
    }
}
