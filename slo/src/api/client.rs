//! A client of the Prometheus HTTP API (a real Prometheus or `burnwatch serve`), reading query
//! results back into [`Value`]s so callers print remote and local results the same way.

use std::time::Duration;

use crate::promql::{Annotations, InstantSample, RangeSeries, Value};
use crate::tsdb::{Labels, Sample};

/// Why a remote query gave no result.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server could not be reached or did not answer in time.
    #[error("cannot reach {url}: {reason}")]
    Transport {
        /// The request URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The server answered with an API error.
    #[error("{error_type}: {message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// `errorType`, such as `bad_data`.
        error_type: String,
        /// `error`.
        message: String,
        /// The response body as the server sent it.
        body: String,
    },
    /// The answer is not the API's JSON.
    #[error("unexpected answer from {url} (HTTP {status}): {reason}")]
    Malformed {
        /// The request URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// What was wrong.
        reason: String,
    },
}

/// A query result as read from the API.
#[derive(Clone, Debug, PartialEq)]
pub struct RemoteResult {
    /// The value.
    pub value: Value,
    /// `warnings` and `infos`.
    pub annotations: Annotations,
    /// The response body as the server sent it.
    pub body: String,
}

/// What to ask.
#[derive(Clone, Debug)]
pub enum QueryKind {
    /// `/api/v1/query` at a time (ms).
    Instant {
        /// Evaluation time.
        time: i64,
    },
    /// `/api/v1/query_range`.
    Range {
        /// Start (ms).
        start: i64,
        /// End (ms).
        end: i64,
        /// Step (ms).
        step: i64,
    },
}

fn seconds(ms: i64) -> String {
    let mut s = String::new();
    super::json::write_timestamp(&mut s, ms);
    s
}

/// Runs `query` against the API at `base_url` (such as `http://localhost:9090`).
///
/// The raw body is kept, in [`RemoteResult::body`] or [`ClientError::Api`], for callers that print
/// the server's JSON.
pub async fn query(
    base_url: &str,
    query: &str,
    kind: &QueryKind,
    timeout: Duration,
) -> Result<RemoteResult, ClientError> {
    let base = base_url.trim_end_matches('/');
    let (url, form): (String, Vec<(&str, String)>) = match kind {
        QueryKind::Instant { time } => (
            format!("{base}/api/v1/query"),
            vec![("query", query.to_string()), ("time", seconds(*time))],
        ),
        QueryKind::Range { start, end, step } => (
            format!("{base}/api/v1/query_range"),
            vec![
                ("query", query.to_string()),
                ("start", seconds(*start)),
                ("end", seconds(*end)),
                ("step", seconds(*step)),
            ],
        ),
    };
    let transport = |e: reqwest::Error| ClientError::Transport {
        url: url.clone(),
        // reqwest's Display stops at the outermost error; the source names the cause.
        reason: match std::error::Error::source(&e) {
            Some(src) => format!("{e}: {src}"),
            None => e.to_string(),
        },
    };
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(transport)?;
    let body = encode_form(&form);
    let resp = client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map_err(transport)?;
    let status = resp.status().as_u16();
    let text = resp.text().await.map_err(transport)?;
    match decode_response(&text) {
        Ok((value, annotations)) => Ok(RemoteResult {
            value,
            annotations,
            body: text,
        }),
        Err(Decoded::Api { error_type, message }) => Err(ClientError::Api {
            status,
            error_type,
            message,
            body: text,
        }),
        Err(Decoded::Malformed(reason)) => Err(ClientError::Malformed { url, status, reason }),
    }
}

/// `application/x-www-form-urlencoded` encoding.
fn encode_form(pairs: &[(&str, String)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        for b in v.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
    }
    out
}

/// Why a body did not decode into a value.
#[derive(Debug, PartialEq)]
pub enum Decoded {
    /// An API error response.
    Api {
        /// `errorType`.
        error_type: String,
        /// `error`.
        message: String,
    },
    /// Not the API's JSON.
    Malformed(String),
}

/// Decodes an API query response body into its value and annotations.
pub fn decode_response(body: &str) -> Result<(Value, Annotations), Decoded> {
    use serde_json::Value as J;
    let bad = |m: &str| Decoded::Malformed(m.to_string());
    let root: J = serde_json::from_str(body).map_err(|e| Decoded::Malformed(format!("not JSON: {e}")))?;
    let strings = |key: &str| -> Vec<String> {
        root.get(key)
            .and_then(J::as_array)
            .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    };
    let annotations = Annotations {
        warnings: strings("warnings"),
        infos: strings("infos"),
    };
    match root.get("status").and_then(J::as_str) {
        Some("success") => {}
        Some("error") => {
            return Err(Decoded::Api {
                error_type: root
                    .get("errorType")
                    .and_then(J::as_str)
                    .unwrap_or("")
                    .to_string(),
                message: root.get("error").and_then(J::as_str).unwrap_or("").to_string(),
            });
        }
        _ => return Err(bad("no \"status\" of success or error")),
    }
    let data = root.get("data").ok_or_else(|| bad("no \"data\""))?;
    let result = data.get("result").ok_or_else(|| bad("no \"data.result\""))?;
    let point = |p: &J| -> Result<(i64, String), Decoded> {
        let a = p
            .as_array()
            .filter(|a| a.len() == 2)
            .ok_or_else(|| bad("a point is not [time, value]"))?;
        let t = a[0]
            .as_f64()
            .ok_or_else(|| bad("a point's time is not a number"))?;
        let v = a[1]
            .as_str()
            .ok_or_else(|| bad("a point's value is not a string"))?;
        Ok(((t * 1000.0).round() as i64, v.to_string()))
    };
    let float = |s: &str| -> Result<f64, Decoded> {
        match s {
            "+Inf" | "Inf" => Ok(f64::INFINITY),
            "-Inf" => Ok(f64::NEG_INFINITY),
            "NaN" => Ok(f64::NAN),
            _ => s
                .parse()
                .map_err(|_| Decoded::Malformed(format!("sample value {s:?} is not a number"))),
        }
    };
    let labels = |m: Option<&J>| -> Labels {
        let pairs: Vec<(String, String)> = m
            .and_then(J::as_object)
            .map(|o| {
                o.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default();
        Labels::from_pairs(pairs)
    };
    let value = match data.get("resultType").and_then(J::as_str) {
        Some("scalar") => {
            let (t, v) = point(result)?;
            Value::Scalar { t, v: float(&v)? }
        }
        Some("string") => {
            let (t, s) = point(result)?;
            Value::String { t, s }
        }
        Some("vector") => {
            let mut out = Vec::new();
            for s in result
                .as_array()
                .ok_or_else(|| bad("vector result is not an array"))?
            {
                let (t, v) = point(
                    s.get("value")
                        .ok_or_else(|| bad("vector sample without \"value\""))?,
                )?;
                out.push(InstantSample {
                    labels: labels(s.get("metric")),
                    t,
                    v: float(&v)?,
                    h: None,
                    drop_name: false,
                });
            }
            Value::Vector(out)
        }
        Some("matrix") => {
            let mut out = Vec::new();
            for s in result
                .as_array()
                .ok_or_else(|| bad("matrix result is not an array"))?
            {
                let mut samples = Vec::new();
                for p in s
                    .get("values")
                    .and_then(J::as_array)
                    .ok_or_else(|| bad("matrix series without \"values\""))?
                {
                    let (t, v) = point(p)?;
                    samples.push(Sample { t, v: float(&v)? });
                }
                out.push(RangeSeries {
                    labels: labels(s.get("metric")),
                    samples: samples.into(),
                    histograms: Vec::new(),
                    drop_name: false,
                });
            }
            Value::Matrix(out)
        }
        other => return Err(Decoded::Malformed(format!("unknown resultType {other:?}"))),
    };
    Ok((value, annotations))
}
