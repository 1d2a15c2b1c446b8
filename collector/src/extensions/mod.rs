//! Extensions: services beside the pipelines.
//!
//! [`ExtensionConfig`] is the list of extension types: adding an extension is its file or
//! folder here and one line in that list (and an arm in [`start`]).

pub mod auth;
pub mod health_check;
pub mod htpasswd;

use tokio::task::JoinHandle;

use crate::component::{BuildContext, BuildError};
use crate::config::{ConfigError, component_list};

component_list! {
    /// A configured extension: one variant per extension type, keyed by its YAML name.
    pub enum ExtensionConfig {
        "health_check" => HealthCheck(health_check::HealthCheckConfig),
        "bearertokenauth" => BearerTokenAuth(auth::BearerTokenAuthConfig),
        "basicauth" => BasicAuth(auth::BasicAuthConfig),
    }
}

impl ExtensionConfig {
    /// Whether receivers may name this extension as their `auth.authenticator`.
    pub fn is_authenticator(&self) -> bool {
        match self {
            ExtensionConfig::HealthCheck(_) => false,
            ExtensionConfig::BearerTokenAuth(_) | ExtensionConfig::BasicAuth(_) => true,
        }
    }

    /// Opens and parses the files the extension names (a token file, an htpasswd file),
    /// as starting it would; `path` is `extensions.ID`.
    pub fn check_files(&self, path: &str) -> Result<(), ConfigError> {
        match self {
            ExtensionConfig::BearerTokenAuth(c) => {
                c.build(path)?;
            }
            ExtensionConfig::BasicAuth(c) => {
                c.build(path)?;
            }
            ExtensionConfig::HealthCheck(_) => {}
        }
        Ok(())
    }
}

/// Starts an extension enabled in `service.extensions`; returns its server task, if it
/// runs one.
pub async fn start(
    config: &ExtensionConfig,
    health: health_check::Health,
    ctx: &BuildContext,
) -> Result<Option<JoinHandle<()>>, BuildError> {
    match config {
        ExtensionConfig::HealthCheck(c) => health_check::start(c, health, ctx).await.map(Some),
        // Authenticators run nothing of their own; the receivers that name them check
        // each request.
        ExtensionConfig::BearerTokenAuth(_) | ExtensionConfig::BasicAuth(_) => Ok(None),
    }
}
