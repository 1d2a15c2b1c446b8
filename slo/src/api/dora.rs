//! `POST /api/v1/dora/events`: DORA deployment and incident events into the store.
//!
//! The body is JSON lines (one event per line) or a JSON array of events, in the schema of
//! [`crate::dora`]. Good events are counted into the `dora_*` series at their own times (see
//! [`crate::dora::series`] for the series and the time-order rule); bad ones are skipped and
//! listed. The reply is JSON:
//!
//! ```json
//! {"accepted": 2, "rejected": 1, "samples": 40,
//!  "errors": [{"line": 3, "error": "field `time`: \"yesterday\" is not an RFC 3339 timestamp ..."}]}
//! ```
//!
//! (`"item"` instead of `"line"` for an array body). The `Content-Type` must be
//! `application/x-ndjson`, `application/jsonl` or `application/json` (415 otherwise, so a
//! cross-site form or `text/plain` post from a browser cannot write events). The status is 200
//! when at least one event was counted, 400 when nothing in the body was usable (no events, or
//! every one refused) or
//! the body is not UTF-8 / not a JSON array although it starts with `[`, and 500 (retry later)
//! when the store's write-ahead log cannot write (a full disk): nothing is counted then.
//!
//! `GET /api/v1/dora/events?limit=N` (default 50, at most 1000) lists the newest events counted,
//! newest first, linked as [`crate::dora::recent`] describes, in the API's envelope:
//! `{"status":"success","data":{"events":[...],"total":N}}`. A `limit` that is not a positive
//! number is refused with 400 `bad_data`.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::Query;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use std::path::{Path, PathBuf};

use crate::dora::events::{Event, EventError, EventLog, Position, parse_body, parse_jsonl_bytes};
use crate::dora::recent::{self, RecentLog};
use crate::dora::series::{Batch, SeriesWriter, append_events};
use crate::shared::SharedStorage;
use crate::tsdb::LogError;

/// Largest events body taken (bytes).
pub const DORA_EVENTS_MAX_BODY: usize = 16 << 20;

/// What the DORA handler shares: the store, the writer that remembers what was counted, and
/// the journal that keeps that memory across restarts.
#[derive(Clone, Debug)]
pub struct DoraState {
    store: SharedStorage,
    writer: Arc<Mutex<SeriesWriter>>,
    journal: Option<Arc<Mutex<Journal>>>,
    /// The newest events counted, for `GET /api/v1/dora/events`.
    recent: Arc<Mutex<RecentLog>>,
}

/// The events counted so far, one JSON line each, in a file beside the store's data
/// (`DATA_DIR/dora-events.jsonl`). The store keeps the `dora_*` samples but not the event ids,
/// commits and failed deployments the writer must remember to refuse a second count; the
/// journal is replayed into the writer at startup, so re-posting an id after a restart is
/// refused as a duplicate, as before it.
#[derive(Debug)]
struct Journal {
    path: PathBuf,
    file: std::fs::File,
}

/// The journal's file name inside a data directory.
pub const JOURNAL_FILE: &str = "dora-events.jsonl";

impl DoraState {
    /// A state writing into `store`, having counted nothing yet, remembering nothing across
    /// restarts.
    pub fn new(store: SharedStorage) -> Self {
        DoraState {
            store,
            writer: Arc::new(Mutex::new(SeriesWriter::new())),
            journal: None,
            recent: Arc::new(Mutex::new(RecentLog::new())),
        }
    }

    /// A state writing into `store` that journals what it counts in `path` (created if
    /// missing) and first replays the journal there into its writer. A line of the journal
    /// that does not read (a torn last line after a crash) is logged and skipped.
    pub fn with_journal(store: SharedStorage, path: &Path) -> std::io::Result<Self> {
        let mut writer = SeriesWriter::new();
        let mut recent = RecentLog::new();
        match std::fs::read(path) {
            Ok(bytes) => {
                let (log, errors) = parse_jsonl_bytes(&bytes);
                for e in &errors {
                    tracing::warn!(journal = %path.display(), error = %e, "Skipped a line of the DORA journal.");
                }
                // Only the writer's memory is wanted: the samples are in the store already.
                let batch = writer.write(&log, &|_| None);
                remember_accepted(&mut recent, &log, &batch);
                tracing::info!(journal = %path.display(), events = batch.accepted,
                    "Replayed the DORA event journal: re-posted ids are refused as duplicates.");
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        Ok(DoraState {
            store,
            writer: Arc::new(Mutex::new(writer)),
            journal: Some(Arc::new(Mutex::new(Journal {
                path: path.to_path_buf(),
                file,
            }))),
            recent: Arc::new(Mutex::new(recent)),
        })
    }
}

/// The DORA routes over `state`.
pub fn routes_with(state: DoraState) -> Router {
    Router::new()
        .route(
            "/api/v1/dora/events",
            post(events)
                .get(list_events)
                .layer(DefaultBodyLimit::max(DORA_EVENTS_MAX_BODY)),
        )
        .with_state(state)
}

/// The DORA routes over `store`, without a journal.
pub fn routes(store: SharedStorage) -> Router {
    routes_with(DoraState::new(store))
}

/// The events of `log` that `batch` counted (those without an error).
fn accepted(log: &EventLog, batch: &Batch) -> Vec<Event> {
    let refused: std::collections::HashSet<Position> = batch.errors.iter().map(|e| e.position).collect();
    log.deployments
        .iter()
        .map(|(p, d)| (p, Event::Deployment(d.clone())))
        .chain(log.incidents.iter().map(|(p, i)| (p, Event::Incident(i.clone()))))
        .filter(|(p, _)| !refused.contains(p))
        .map(|(_, e)| e)
        .collect()
}

/// Remembers the events of `log` that `batch` counted in `recent`.
fn remember_accepted(recent: &mut RecentLog, log: &EventLog, batch: &Batch) {
    for e in accepted(log, batch) {
        recent.push(e);
    }
}

/// The query of `GET /api/v1/dora/events`.
#[derive(Debug, serde::Deserialize)]
struct ListParams {
    limit: Option<String>,
}

/// `GET /api/v1/dora/events?limit=N`: the newest events, linked.
async fn list_events(State(state): State<DoraState>, Query(params): Query<ListParams>) -> Response {
    let limit = match params.limit.as_deref().map(str::parse::<usize>) {
        None => recent::DEFAULT_LIMIT,
        Some(Ok(n)) if n > 0 => n.min(recent::KEEP),
        Some(_) => {
            return json_reply(
                StatusCode::BAD_REQUEST,
                &json!({"status": "error", "errorType": "bad_data",
                    "error": format!("invalid parameter \"limit\": {:?} is not a positive number of events",
                        params.limit.unwrap_or_default())}),
            );
        }
    };
    let list = state.recent.lock().unwrap_or_else(|p| p.into_inner()).list(limit);
    json_reply(StatusCode::OK, &json!({"status": "success", "data": list}))
}

/// Appends the events of `log` that `batch` counted (those without an error) to the journal.
fn journal_accepted(journal: &Mutex<Journal>, log: &EventLog, batch: &Batch) {
    use std::io::Write as _;
    let refused: std::collections::HashSet<Position> = batch.errors.iter().map(|e| e.position).collect();
    let mut text = String::new();
    let events = log
        .deployments
        .iter()
        .map(|(p, d)| (p, Event::Deployment(d.clone())))
        .chain(log.incidents.iter().map(|(p, i)| (p, Event::Incident(i.clone()))));
    for (p, e) in events {
        if !refused.contains(p) {
            text.push_str(&e.to_json().to_string());
            text.push('\n');
        }
    }
    if text.is_empty() {
        return;
    }
    let mut j = journal.lock().unwrap_or_else(|p| p.into_inner());
    if let Err(error) = j.file.write_all(text.as_bytes()) {
        // The samples are in the store (and its WAL); only the memory of the ids is at risk,
        // should the process restart before a write succeeds.
        tracing::error!(journal = %j.path.display(), error = %error,
            "Cannot write the DORA event journal; after a restart these ids could be counted again.");
    }
}

fn json_reply(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn error_json(e: &EventError) -> Value {
    match e.position {
        Position::Line(n) => json!({"line": n, "error": e.reason}),
        Position::Item(n) => json!({"item": n, "error": e.reason}),
    }
}

/// Media types the endpoint takes: JSON (an array, or one event) and JSON lines.
pub const EVENT_MEDIA_TYPES: [&str; 3] = ["application/json", "application/x-ndjson", "application/jsonl"];

/// `Ok` when `content_type` is one of [`EVENT_MEDIA_TYPES`] (parameters such as `charset` are
/// ignored). Anything else, or none, is refused: a browser page on another site can post
/// `text/plain`, a form, or no type at all without asking, but not JSON, so requiring it keeps
/// cross-site posts out of a server that listens on localhost.
fn check_content_type(content_type: Option<&str>) -> Result<(), String> {
    let media = content_type
        .and_then(|c| c.split(';').next())
        .map(str::trim)
        .unwrap_or("");
    if EVENT_MEDIA_TYPES.iter().any(|m| media.eq_ignore_ascii_case(m)) {
        return Ok(());
    }
    let got = match content_type {
        Some(c) => format!("Content-Type {c:?}"),
        None => "no Content-Type".to_string(),
    };
    Err(format!(
        "DORA events must be sent as application/x-ndjson (JSON lines) or application/json, got {got} \
         (with curl: -H 'Content-Type: application/x-ndjson' --data-binary @events.jsonl)"
    ))
}

async fn events(State(state): State<DoraState>, headers: HeaderMap, body: Bytes) -> Response {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    if let Err(e) = check_content_type(content_type) {
        return json_reply(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &json!({"accepted": 0, "rejected": 0, "samples": 0, "errors": [], "error": e}),
        );
    }
    let (log, mut errors) = match parse_body(&body) {
        Ok(parsed) => parsed,
        Err(e) => {
            return json_reply(
                StatusCode::BAD_REQUEST,
                &json!({"accepted": 0, "rejected": 0, "samples": 0, "errors": [], "error": e.to_string()}),
            );
        }
    };
    let res = tokio::task::spawn_blocking(move || {
        // A panicked holder cannot have left the writer half-updated in a way that breaks the
        // counters' monotony: its maps only grow. Keep serving.
        let mut writer = state.writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut store = state.store.write().unwrap_or_else(|p| p.into_inner());
        // On a full disk nothing is counted: what the WAL cannot hold is not acknowledged.
        store.writable()?;
        let outcome = append_events(&mut store, &mut writer, &log);
        store.end_batch()?;
        if let Some(journal) = &state.journal {
            journal_accepted(journal, &log, &outcome.batch);
        }
        remember_accepted(
            &mut state.recent.lock().unwrap_or_else(|p| p.into_inner()),
            &log,
            &outcome.batch,
        );
        Ok::<_, LogError>(outcome)
    })
    .await;
    let outcome = match res {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "Refused DORA events: the store cannot make them durable.");
            return json_reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                &json!({"error": format!("the store cannot make events durable: {e}; retry later")}),
            );
        }
        Err(e) => {
            return json_reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                &json!({"error": format!("the DORA ingest task failed: {e}")}),
            );
        }
    };
    for e in &outcome.store_errors {
        tracing::warn!(error = %e, "The store refused a DORA sample.");
    }
    errors.extend(outcome.batch.errors.iter().cloned());
    errors.sort_by_key(|e| e.position);
    let accepted = outcome.batch.accepted;
    let status = if accepted == 0 {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let mut reply = json!({
        "accepted": accepted,
        "rejected": errors.len(),
        "samples": outcome.stored,
        "errors": errors.iter().map(error_json).collect::<Vec<_>>(),
    });
    if accepted == 0 && errors.is_empty() {
        reply["error"] = json!("the body holds no events");
    }
    json_reply(status, &reply)
}
