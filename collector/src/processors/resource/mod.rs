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
//! Spans carried raw stay raw: each resource is decoded, changed and encoded again, and
//! spliced in front of its scopes, whose bytes are copied untouched
//! ([`crate::processors::raw`]). Log records are decoded to apply the actions and travel
//! on decoded; the exporter encodes them once.

use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use opentelemetry_proto::tonic::resource::v1::Resource;
use serde::Deserialize;

use crate::component::{BuildContext, BuildError};
use crate::config::ConfigError;
use crate::consumer::{ConsumeError, Consumer, Telemetry, TracesPayload};
use crate::processors::attrs::{ActionConfig, Actions};
use crate::processors::decode;
use crate::processors::raw::{self, Editor, ItemEdit};

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
        let data = match data {
            Telemetry::Traces(payload) if payload.is_raw() => Telemetry::Traces(self.raw(&payload)?),
            other => decode::each_resource(other, |resource| self.apply(resource))?,
        };
        self.next.consume(data).await
    }
}

impl ResourceProcessor {
    /// The raw path: each resource decoded, changed and re-encoded, the rest copied.
    fn raw(&self, payload: &TracesPayload) -> Result<TracesPayload, ConsumeError> {
        let bytes = payload.raw().unwrap_or_default();
        let (out, counts) = raw::rewrite(&bytes, payload.counts(), &mut ResourceEditor(self))?;
        Ok(TracesPayload::from_validated(out.into(), counts))
    }
}

/// Replaces every resource, leaving scopes and spans alone.
struct ResourceEditor<'a>(&'a ResourceProcessor);

impl Editor<'_> for ResourceEditor<'_> {
    type Resource = ();
    type Scope = ();
    const VISITS_ITEMS: bool = false;
    const DROPS_EMPTY: bool = false;

    fn resource(
        &mut self,
        buf: &[u8],
        occurrences: &[Range<usize>],
    ) -> Result<(Option<Vec<u8>>, ()), ConsumeError> {
        // As decoded: the occurrences merged, a resource created when there is none.
        let mut resource = raw::merged::<Resource>(buf, occurrences)?;
        self.0.apply(&mut resource);
        Ok((resource.map(|r| prost::Message::encode_to_vec(&r)), ()))
    }

    fn scope(&mut self, _: &[u8], _: &[Range<usize>]) -> Result<(), ConsumeError> {
        Ok(())
    }

    fn item(&mut self, _: &(), _: &(), _: &[u8], _: &mut Vec<u8>) -> Result<ItemEdit, ConsumeError> {
        Ok(ItemEdit::Keep)
    }
}

#[cfg(test)]
mod tests;
