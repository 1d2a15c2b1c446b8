//! `extensions: health_check` — an HTTP endpoint that answers whether the collector is
//! up, as the OTel Collector's `health_check` extension does.

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

/// `extensions.health_check`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckConfig {
    /// `host:port` to listen on (default `localhost:13133`).
    #[serde(default = "default_endpoint")]
    pub endpoint: String,
    /// URL path answering the check (default `/`).
    #[serde(default = "default_path")]
    pub path: String,
    /// Accepted for compatibility (deprecated in the OTel Collector, ignored there too).
    #[serde(default)]
    pub check_collector_pipeline: Option<serde_norway::Value>,
}

fn default_endpoint() -> String {
    "localhost:13133".into()
}
fn default_path() -> String {
    "/".into()
}

impl Default for HealthCheckConfig {
    fn default() -> Self {
        HealthCheckConfig {
            endpoint: default_endpoint(),
            path: default_path(),
            check_collector_pipeline: None,
        }
    }
}

impl HealthCheckConfig {
    /// Checks the configuration; `path` is this component's YAML path.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        crate::config::check_endpoint(&self.endpoint, &format!("{path}.endpoint"))?;
        if !self.path.starts_with('/') {
            return Err(ConfigError::at(
                format!("{path}.path"),
                format!("must start with '/', got {:?}", self.path),
            ));
        }
        Ok(())
    }
}

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use tokio::task::JoinHandle;

use crate::component::{BuildContext, BuildError};

/// Whether the collector is ready: set once every pipeline has started, cleared when
/// shutdown begins, so a load balancer stops sending before the receivers close.
#[derive(Debug, Clone, Default)]
pub struct Health(Arc<AtomicBool>);

impl Health {
    /// Marks the collector ready or not.
    pub fn set_ready(&self, ready: bool) {
        self.0.store(ready, Ordering::SeqCst);
    }

    /// Whether the collector is ready.
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// The health endpoint's router: `200 {"status":"Server available"}` when ready, else
/// `503 {"status":"Server not available"}`, the OTel Collector's bodies.
pub fn router(path: &str, health: Health) -> Router {
    Router::new().route(
        path,
        get(move || {
            let health = health.clone();
            async move {
                if health.is_ready() {
                    (
                        StatusCode::OK,
                        [("content-type", "application/json")],
                        r#"{"status":"Server available"}"#,
                    )
                } else {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        [("content-type", "application/json")],
                        r#"{"status":"Server not available"}"#,
                    )
                }
            }
        }),
    )
}

/// Starts the extension's server; it stops when `ctx.shutdown` is cancelled.
pub async fn start(
    config: &HealthCheckConfig,
    health: Health,
    ctx: &BuildContext,
) -> Result<JoinHandle<()>, BuildError> {
    let listener = crate::component::bind(ctx, &config.endpoint, &format!("extensions.{}", ctx.id)).await?;
    let app = router(&config.path, health);
    let token = ctx.shutdown.clone();
    Ok(tokio::spawn(async move {
        let server =
            axum::serve(listener, app).with_graceful_shutdown(async move { token.cancelled().await });
        if let Err(err) = server.await {
            tracing::error!(error = %err, "The health_check server failed.");
        }
    }))
}
