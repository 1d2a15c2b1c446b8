//! `/federate?match[]=...`: the newest sample of every selected series in the Prometheus text
//! format 0.0.4, so another Prometheus can scrape this one (`honor_labels: true`), as
//! Prometheus's `web/federate.go` serves it:
//!
//! - the newest float sample at or before now, within the lookback delta
//!   (`--query.lookback-delta`); a series whose newest sample is a staleness marker is left out;
//! - one `# TYPE name untyped` family per metric name, families in name order, each series's
//!   labels in label order without `__name__`, then the `global.external_labels` the series
//!   does not have (in name order), and the sample's timestamp in milliseconds. An empty
//!   `instance` joins the external labels when they have none, as in Prometheus: a federating
//!   server with `honor_labels: true` then keeps a series without `instance` as it is, rather
//!   than giving it the address it scraped;
//! - no `match[]` gives an empty 200; a `match[]` that is not a series selector gives 400 with
//!   the parse error as plain text. Prometheus's error for a full query (`rate(up[5m])`) names
//!   where its selector parser stopped; burnwatch's says that a series selector was expected,
//!   as its `/api/v1/series` does.
//!
//! Native-histogram samples are not federated: the text format 0.0.4 cannot carry them, and
//! Prometheus 2.42 leaves them out too.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::fmt::Write as _;

use super::self_metrics::escape;
use super::{ApiState, matcher_sets, now_ms, read_form, text_response, with_store};
use crate::tsdb::{Matcher, Queryable, Storage, is_stale_nan};

/// The exposition of the newest samples of the series `sets` select at `now` (ms).
pub fn federate(
    store: &Storage,
    sets: &[Vec<Matcher>],
    now: i64,
    lookback_ms: i64,
    external_labels: &[(String, String)],
) -> String {
    let mint = now - lookback_ms;
    let mut external = external_labels.to_vec();
    if !external.iter().any(|(k, _)| k == "instance") {
        external.push(("instance".to_string(), String::new()));
        external.sort();
    }
    // Every selected series once, with its newest sample.
    let mut latest = std::collections::BTreeMap::new();
    for set in sets {
        for s in store.select(set, mint, now) {
            let Some(last) = s.samples.last() else {
                continue;
            };
            if is_stale_nan(last.v) {
                continue;
            }
            latest.insert(s.labels, (last.t, last.v));
        }
    }
    // Families by metric name (Prometheus sorts the vector by name); labels sort by name first,
    // so a BTreeMap over labels already groups them, but `__name__` is not always the first
    // label name (`_a` sorts before it), so group explicitly.
    let mut families: std::collections::BTreeMap<String, Vec<String>> = std::collections::BTreeMap::new();
    for (labels, (t, v)) in latest {
        let Some(name) = labels.metric_name().map(str::to_string) else {
            // Prometheus ignores nameless series ("Ignoring nameless metric during federation").
            continue;
        };
        let mut line = name.clone();
        let mut sep = '{';
        let mut write_pair = |line: &mut String, k: &str, v: &str| {
            line.push(sep);
            let _ = write!(line, "{k}=\"{}\"", escape(v));
            sep = ',';
        };
        for l in labels.iter() {
            if l.name.as_str() == crate::tsdb::METRIC_NAME || l.value.as_str().is_empty() {
                continue;
            }
            write_pair(&mut line, l.name.as_str(), l.value.as_str());
        }
        for (k, v) in &external {
            if !labels.has(k) {
                write_pair(&mut line, k, v);
            }
        }
        if sep == ',' {
            line.push('}');
        }
        let _ = write!(line, " {} {t}", burnwatch_gofmt::format_exposition(v));
        families.entry(name).or_default().push(line);
    }
    let mut out = String::new();
    for (name, lines) in families {
        let _ = writeln!(out, "# TYPE {name} untyped");
        for l in lines {
            out.push_str(&l);
            out.push('\n');
        }
    }
    out
}

/// The handler.
pub(super) async fn handler(
    State(state): State<ApiState>,
    method: Method,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let form = match read_form(&method, raw.as_deref(), &headers, &[]) {
        Ok(f) => f,
        Err(e) => return text_response(StatusCode::BAD_REQUEST, format!("{}\n", e.message)),
    };
    let sets = match matcher_sets(&form.all("match[]")) {
        Ok(s) => s,
        // Prometheus answers with the parse error alone, as text.
        Err(e) => {
            let msg = e
                .message
                .strip_prefix("invalid parameter \"match[]\": ")
                .unwrap_or(&e.message);
            return text_response(StatusCode::BAD_REQUEST, format!("{msg}\n"));
        }
    };
    let lookback = i64::try_from(state.engine.lookback_delta.as_millis()).unwrap_or(i64::MAX);
    let external = state.server.config.external_labels();
    let res = with_store(&state, move |s| federate(s, &sets, now_ms(), lookback, &external)).await;
    match res {
        Ok(body) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
            body,
        )
            .into_response(),
        Err(e) => text_response(StatusCode::INTERNAL_SERVER_ERROR, format!("{}\n", e.message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsdb::{Labels, stale_nan};

    fn store() -> Storage {
        let mut s = Storage::new();
        let l = |pairs: &[(&str, &str)]| Labels::from_pairs(pairs.iter().copied());
        s.append(
            &l(&[("__name__", "up"), ("job", "b"), ("env", "own")]),
            1_000,
            0.0,
        )
        .unwrap();
        s.append(
            &l(&[("__name__", "up"), ("job", "b"), ("env", "own")]),
            9_000,
            1.0,
        )
        .unwrap();
        s.append(&l(&[("__name__", "up"), ("job", "a")]), 9_500, 1.5e6)
            .unwrap();
        s.append(&l(&[("__name__", "gone"), ("job", "a")]), 5_000, 1.0)
            .unwrap();
        s.append(&l(&[("__name__", "gone"), ("job", "a")]), 6_000, stale_nan())
            .unwrap();
        s.append(&l(&[("__name__", "old"), ("job", "a")]), 100, 1.0)
            .unwrap();
        s.append(
            &l(&[("__name__", "esc"), ("v", "a\"b\\c\nd")]),
            9_000,
            f64::INFINITY,
        )
        .unwrap();
        s
    }

    #[test]
    fn newest_samples_grouped_by_name_with_external_labels() {
        let s = store();
        let all = vec![vec![Matcher::regex("__name__", ".+").unwrap()]];
        let ext = vec![
            ("env".to_string(), "prod".to_string()),
            ("zone".to_string(), "z1".to_string()),
        ];
        let text = federate(&s, &all, 10_000, 5_000, &ext);
        assert_eq!(
            text,
            "# TYPE esc untyped\n\
             esc{v=\"a\\\"b\\\\c\\nd\",env=\"prod\",instance=\"\",zone=\"z1\"} +Inf 9000\n\
             # TYPE up untyped\n\
             up{env=\"own\",job=\"b\",instance=\"\",zone=\"z1\"} 1 9000\n\
             up{job=\"a\",env=\"prod\",instance=\"\",zone=\"z1\"} 1.5e+06 9500\n"
        );
    }

    #[test]
    fn overlapping_matchers_give_each_series_once() {
        let s = store();
        let sets = vec![
            vec![Matcher::equal("__name__", "up")],
            vec![Matcher::equal("job", "a"), Matcher::equal("__name__", "up")],
        ];
        let text = federate(&s, &sets, 10_000, 300_000, &[]);
        assert_eq!(text.matches("up{job=\"a\",instance=\"\"}").count(), 1, "{text}");
        assert!(!text.contains("gone"), "a stale series is left out: {text}");
    }
}
