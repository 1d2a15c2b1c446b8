//! `/api/v1/targets`: the scrape manager's targets in Prometheus's JSON
//! (`web/api/v1.TargetDiscovery`): `activeTargets` with `discoveredLabels`, `labels`,
//! `scrapePool`, `scrapeUrl`, `globalUrl`, `lastError`, `lastScrape`, `lastScrapeDuration`,
//! `health`, `scrapeInterval`, `scrapeTimeout`, and `droppedTargets` with their discovered
//! labels. `state=active|dropped|any` and `scrapePool=<job>` filter as in Prometheus.

use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::scrape::TargetsView;
use crate::promconfig::PromDuration;
use crate::tsdb::Labels;

/// The routes, over a scrape manager's [`TargetsView`] (see [`super::ScrapeManager::view`]).
pub fn routes(view: Arc<RwLock<TargetsView>>) -> Router {
    Router::new()
        .route("/api/v1/targets", get(targets))
        .with_state(view)
}

fn labels_json(l: &Labels) -> Value {
    let mut m = Map::new();
    for lab in l {
        m.insert(lab.name.to_string(), Value::String(lab.value.to_string()));
    }
    Value::Object(m)
}

/// The response body for `state` and `pool` filters.
pub fn targets_json(view: &TargetsView, state: &str, pool: Option<&str>) -> Value {
    let state = state.trim().to_ascii_lowercase();
    let show_active = matches!(state.as_str(), "" | "any" | "active");
    let show_dropped = matches!(state.as_str(), "" | "any" | "dropped");
    let in_pool = |job: &str| pool.is_none_or(|p| p.is_empty() || p == job);
    let mut active = Vec::new();
    if show_active {
        for (job, targets) in view.active.iter().filter(|(j, _)| in_pool(j)) {
            for st in targets.values() {
                let t = &st.target;
                active.push(json!({
                    "discoveredLabels": labels_json(&t.discovered),
                    "labels": labels_json(&t.labels),
                    "scrapePool": job,
                    "scrapeUrl": t.url,
                    "globalUrl": t.url,
                    "lastError": st.last_error,
                    "lastScrape": st.last_scrape_ms.map_or_else(
                        || "0001-01-01T00:00:00Z".to_string(),
                        crate::api::params::format_rfc3339,
                    ),
                    "lastScrapeDuration": st.last_duration.as_secs_f64(),
                    "health": st.health,
                    "scrapeInterval": PromDuration(t.interval).to_string(),
                    "scrapeTimeout": PromDuration(t.timeout).to_string(),
                }));
            }
        }
    }
    let mut dropped = Vec::new();
    if show_dropped {
        for (_, list) in view.dropped.iter().filter(|(j, _)| in_pool(j)) {
            for l in list {
                dropped.push(json!({ "discoveredLabels": labels_json(l) }));
            }
        }
    }
    json!({
        "status": "success",
        "data": { "activeTargets": active, "droppedTargets": dropped },
    })
}

async fn targets(
    State(view): State<Arc<RwLock<TargetsView>>>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let body = {
        let v = view.read().unwrap_or_else(|e| e.into_inner());
        targets_json(
            &v,
            q.get("state").map_or("", String::as_str),
            q.get("scrapePool").map(String::as_str),
        )
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}
