//! `processors: batch` — groups data into larger requests by size and time, as the OTel
//! Collector's `batch` processor does.

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, GoDuration};

/// `processors.batch`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BatchConfig {
    /// Send a batch this long after its first item arrived, whatever its size (default
    /// 200ms). `0` sends every request as it comes, only splitting it.
    #[serde(default = "default_timeout")]
    pub timeout: GoDuration,
    /// Send as soon as a batch holds this many spans, data points or log records
    /// (default 8192).
    #[serde(default = "default_send_batch_size")]
    pub send_batch_size: u64,
    /// The most items one outgoing batch may hold; larger batches are split (0 = no cap).
    #[serde(default)]
    pub send_batch_max_size: u64,
    /// Accepted for compatibility; batching by client metadata is not supported, so this
    /// must stay empty.
    #[serde(default)]
    pub metadata_keys: Vec<String>,
    /// Accepted for compatibility with `metadata_keys`.
    #[serde(default)]
    pub metadata_cardinality_limit: u64,
}

fn default_timeout() -> GoDuration {
    GoDuration::from_millis(200)
}
fn default_send_batch_size() -> u64 {
    8192
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            timeout: default_timeout(),
            send_batch_size: default_send_batch_size(),
            send_batch_max_size: 0,
            metadata_keys: Vec::new(),
            metadata_cardinality_limit: 0,
        }
    }
}

impl BatchConfig {
    /// Checks the configuration; `path` is this component's YAML path.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        if self.send_batch_max_size > 0 && self.send_batch_max_size < self.send_batch_size {
            return Err(ConfigError::at(
                format!("{path}.send_batch_max_size"),
                format!("must be >= send_batch_size ({})", self.send_batch_size),
            ));
        }
        if !self.metadata_keys.is_empty() {
            return Err(ConfigError::at(
                format!("{path}.metadata_keys"),
                "batching by client metadata is not supported; remove metadata_keys",
            ));
        }
        Ok(())
    }
}
// SHIM-BEGIN
/// shim
pub fn build(_c: &BatchConfig, next: std::sync::Arc<dyn crate::consumer::Consumer>, _ctx: &crate::component::BuildContext) -> Result<std::sync::Arc<dyn crate::consumer::Consumer>, crate::component::BuildError> { Ok(next) }
// SHIM-END
