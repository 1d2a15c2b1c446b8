//! Cross-origin requests to the API, as Prometheus's `util/httputil.SetCORS` answers them.
//!
//! Every response under `/api/v1/` to a request with an `Origin` header carries
//! `Access-Control-Allow-Headers`, `-Methods`, `-Expose-Headers` and `Vary: Origin`; it carries
//! `Access-Control-Allow-Origin` when the origin matches `--web.cors.origin` (a regular
//! expression anchored at both ends, default `.*`, which answers `*`). `OPTIONS` on any
//! `/api/v1/` path is answered at once with those headers and 204 No Content, as Prometheus 2.42
//! and 3.x do (the preflight a browser sends before a cross-origin POST).
//!
//! As in Prometheus, the remote-write receiver (`/api/v1/write`) gets no CORS headers: it is
//! not one of the API's wrapped handlers.

use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Prometheus's default `--web.cors.origin`.
pub const DEFAULT_ORIGIN: &str = ".*";

/// The headers set on every cross-origin API response (Prometheus's `corsHeaders`).
const CORS_HEADERS: [(&str, &str); 4] = [
    (
        "access-control-allow-headers",
        "Accept, Authorization, Content-Type, Origin",
    ),
    ("access-control-allow-methods", "GET, POST, OPTIONS"),
    ("access-control-expose-headers", "Date"),
    ("vary", "Origin"),
];

/// The `--web.cors.origin` pattern, anchored as Prometheus anchors it (`^(?:PATTERN)$`).
#[derive(Clone, Debug)]
pub struct CorsOrigin {
    pattern: String,
    regex: regex::Regex,
}

impl Default for CorsOrigin {
    fn default() -> Self {
        CorsOrigin::new(DEFAULT_ORIGIN).expect("the default pattern compiles")
    }
}

impl CorsOrigin {
    /// Compiles `pattern`; the error names the flag and the regex problem.
    pub fn new(pattern: &str) -> Result<CorsOrigin, String> {
        let regex = regex::Regex::new(&format!("^(?:{pattern})$"))
            .map_err(|e| format!("--web.cors.origin {pattern:?} is not a valid regular expression: {e}"))?;
        Ok(CorsOrigin {
            pattern: pattern.to_string(),
            regex,
        })
    }

    /// The pattern as given.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The `Access-Control-Allow-Origin` value for a request from `origin`: `*` for the
    /// default pattern (which matches anything), the origin itself when it matches, else none.
    pub fn allow(&self, origin: &str) -> Option<String> {
        if self.pattern == DEFAULT_ORIGIN {
            Some("*".to_string())
        } else if self.regex.is_match(origin) {
            Some(origin.to_string())
        } else {
            None
        }
    }
}

/// Whether `path` is one of the API's CORS-wrapped paths.
fn is_api_path(path: &str) -> bool {
    path.starts_with("/api/v1/") && path != "/api/v1/write"
}

/// Adds the CORS headers to `resp` for a request from `origin`.
fn set_cors(resp: &mut Response, origins: &CorsOrigin, origin: Option<&HeaderValue>) {
    let Some(origin) = origin.and_then(|o| o.to_str().ok()).filter(|o| !o.is_empty()) else {
        return;
    };
    let headers = resp.headers_mut();
    for (k, v) in CORS_HEADERS {
        headers.insert(k, HeaderValue::from_static(v));
    }
    if let Some(allow) = origins.allow(origin).and_then(|a| HeaderValue::from_str(&a).ok()) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
    }
}

/// The middleware: answers `OPTIONS` on API paths and adds the headers to API responses.
pub async fn layer(origins: CorsOrigin, req: Request, next: Next) -> Response {
    if !is_api_path(req.uri().path()) {
        return next.run(req).await;
    }
    let origin = req.headers().get(header::ORIGIN).cloned();
    let mut resp = if req.method() == Method::OPTIONS {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(req).await
    };
    set_cors(&mut resp, &origins, origin.as_ref());
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pattern_is_anchored_and_the_default_answers_a_star() {
        let any = CorsOrigin::default();
        assert_eq!(any.allow("https://grafana.example").as_deref(), Some("*"));
        let one = CorsOrigin::new(r"https://grafana\.example").unwrap();
        assert_eq!(
            one.allow("https://grafana.example").as_deref(),
            Some("https://grafana.example")
        );
        assert_eq!(
            one.allow("https://grafana.example.evil"),
            None,
            "anchored at the end"
        );
        assert_eq!(
            one.allow("http://x.https://grafana.example"),
            None,
            "anchored at the start"
        );
        let alt = CorsOrigin::new("https://a|https://b").unwrap();
        assert!(
            alt.allow("https://b").is_some(),
            "alternatives stay inside the anchors"
        );
        assert!(alt.allow("https://bb").is_none());
        let err = CorsOrigin::new("(").unwrap_err();
        assert!(err.contains("--web.cors.origin"), "{err}");
    }

    #[test]
    fn remote_write_is_not_wrapped() {
        assert!(is_api_path("/api/v1/query"));
        assert!(is_api_path("/api/v1/status/config"));
        assert!(!is_api_path("/api/v1/write"));
        assert!(!is_api_path("/federate"));
        assert!(!is_api_path("/metrics"));
    }
}
