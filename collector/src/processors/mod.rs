//! Processors: what happens to data between receivers and exporters.

pub mod batch;
pub mod memory_limiter;

use std::sync::Arc;

use crate::component::{BuildContext, BuildError};
use crate::config::ProcessorConfig;
use crate::consumer::Consumer;

/// Builds a processor in front of `next`.
pub fn build(
    config: &ProcessorConfig,
    next: Arc<dyn Consumer>,
    ctx: &BuildContext,
) -> Result<Arc<dyn Consumer>, BuildError> {
    match config {
        ProcessorConfig::MemoryLimiter(c) => memory_limiter::build(c, next, ctx),
        ProcessorConfig::Batch(c) => batch::build(c, next, ctx),
    }
}
