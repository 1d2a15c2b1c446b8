//! The `resource` processor: attribute actions ([`crate::processors::attrs`]) on the
//! resource of every span, metric and log record, as otelcol-contrib's resource
//! processor (`attributes:` holds the same action list the attributes processor takes).
//!
//! ```yaml
//! processors:
//!   resource:
//!     attributes:
//!       - key: deployment.environment
//!         value: production
//!         action: upsert
//!       - key: process.command_line
//!         action: delete
//! ```
//!
//! Spans and log records are decoded to apply the actions and travel on decoded; the
//! exporter encodes them once.

use std::sync::Arc;

use async_trait::async_trait;
use opentelemetry_proto::tonic::resource::v1::Resource;
use serde::Deserialize;

use crate::component::{BuildContext, BuildError};
use crate::config::ConfigError;
use crate::consumer::{ConsumeError, Consumer, Telemetry};
use crate::processors::attrs::{ActionConfig, Actions};
use crate::processors::decode;

/// `processors.resource`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceConfig {
    /// The actions, applied in order to each resource's attributes. At least one is
    /// required, as in otelcol.
    #[serde(default)]
    pub attributes: Vec<ActionConfig>,
}

impl ResourceConfig {
    /// Checks the actions; errors name `path.attributes[i]…`.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        self.compile(path).map(|_| ())
    }

    fn compile(&self, path: &str) -> Result<Actions, ConfigError> {
        if self.attributes.is_empty() {
            return Err(ConfigError::at(
                format!("{path}.attributes"),
                "must list at least one action",
            ));
        }
        // The shared compiler names entries `actions[i]`; the resource processor's list is
        // called `attributes`.
        Actions::compile(&self.attributes, path).map_err(|mut err| {
            err.path = err
                .path
                .replacen(&format!("{path}.actions["), &format!("{path}.attributes["), 1);
            err
        })
    }
}

/// Builds the processor in front of `next`.
pub fn build(
    config: &ResourceConfig,
    next: Arc<dyn Consumer>,
    ctx: &BuildContext,
) -> Result<Arc<dyn Consumer>, BuildError> {
    let actions = config
        .compile(&format!("processors.{}", ctx.id))
        .map_err(|err| BuildError::Invalid {
            id: ctx.id.clone(),
            message: err.to_string(),
        })?;
    Ok(Arc::new(ResourceProcessor { actions, next }))
}

/// Applies the actions to every resource.
pub struct ResourceProcessor {
    actions: Actions,
    next: Arc<dyn Consumer>,
}

impl ResourceProcessor {
    /// The processor over compiled actions (for tests and the loadgen bench).
    pub fn new(config: &ResourceConfig, next: Arc<dyn Consumer>) -> Result<Self, ConfigError> {
        Ok(ResourceProcessor {
            actions: config.compile("processors.resource")?,
            next,
        })
    }

    fn apply(&self, resource: &mut Option<Resource>) {
        let resource = resource.get_or_insert_with(Resource::default);
        self.actions.apply(&mut resource.attributes);
    }
}

#[async_trait]
impl Consumer for ResourceProcessor {
    async fn consume(&self, data: Telemetry) -> Result<(), ConsumeError> {
        let data = decode::each_resource(data, |resource| self.apply(resource))?;
        self.next.consume(data).await
    }
}

#[cfg(test)]
mod tests;
