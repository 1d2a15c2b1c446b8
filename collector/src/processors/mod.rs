//! Processors: what happens to data between receivers and exporters.
//!
//! [`ProcessorConfig`] is the list of processor types: adding a processor is its folder
//! here and one line in that list (and an arm in [`build`], which the compiler asks for).

pub mod attributes;
pub mod attrs;
pub mod batch;
pub mod decode;
pub mod filter;
pub mod memory_limiter;
pub mod ottl;
mod raw;
pub mod resource;
pub mod resourcedetection;
#[cfg(test)]
mod testkit;

use std::sync::Arc;

use crate::component::{BuildContext, BuildError};
use crate::config::component_list;
use crate::consumer::Consumer;

component_list! {
    /// A configured processor: one variant per processor type, keyed by its YAML name.
    pub enum ProcessorConfig {
        "memory_limiter" => MemoryLimiter(memory_limiter::MemoryLimiterConfig),
        "batch" => Batch(batch::BatchConfig),
        "resource" => Resource(resource::ResourceConfig),
        "filter" => Filter(filter::FilterConfig),
        "attributes" => Attributes(attributes::AttributesConfig),
        "resourcedetection" => ResourceDetection(resourcedetection::ResourceDetectionConfig),
    }
}

/// Builds a processor in front of `next`.
pub fn build(
    config: &ProcessorConfig,
    next: Arc<dyn Consumer>,
    ctx: &BuildContext,
) -> Result<Arc<dyn Consumer>, BuildError> {
    match config {
        ProcessorConfig::MemoryLimiter(c) => memory_limiter::build(c, next, ctx),
        ProcessorConfig::Batch(c) => batch::build(c, next, ctx),
        ProcessorConfig::Resource(c) => resource::build(c, next, ctx),
        ProcessorConfig::Filter(c) => filter::build(c, next, ctx),
        ProcessorConfig::Attributes(c) => attributes::build(c, next, ctx),
        ProcessorConfig::ResourceDetection(c) => resourcedetection::build(c, next, ctx),
    }
}
