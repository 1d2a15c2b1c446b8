//! `exporters: debug` — writes what it receives to the log, as the OTel Collector's
//! `debug` exporter does.

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

/// `exporters.debug`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DebugExporterConfig {
    /// How much to write per request: `basic` (counts), `normal` (one line per item) or
    /// `detailed` (every field).
    #[serde(default)]
    pub verbosity: Verbosity,
    /// Log this many requests per second in full, then sample (default 2).
    #[serde(default = "default_sampling_initial")]
    pub sampling_initial: u64,
    /// After the initial ones, log every Nth request per second (default 1).
    #[serde(default = "default_sampling_thereafter")]
    pub sampling_thereafter: u64,
}

/// `exporters.debug.verbosity`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verbosity {
    /// One summary line per request: the number of items.
    #[default]
    Basic,
    /// One line per span, data point or log record.
    Normal,
    /// Every field of every item.
    Detailed,
}

fn default_sampling_initial() -> u64 {
    2
}
fn default_sampling_thereafter() -> u64 {
    1
}

impl Default for DebugExporterConfig {
    fn default() -> Self {
        DebugExporterConfig {
            verbosity: Verbosity::Basic,
            sampling_initial: default_sampling_initial(),
            sampling_thereafter: default_sampling_thereafter(),
        }
    }
}

impl DebugExporterConfig {
    /// Checks the configuration; `path` is this component's YAML path.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        if self.sampling_thereafter == 0 {
            return Err(ConfigError::at(
                format!("{path}.sampling_thereafter"),
                "must be greater than 0",
            ));
        }
        Ok(())
    }
}
// SHIM-BEGIN
struct Nop;
#[async_trait::async_trait]
impl crate::consumer::Consumer for Nop { async fn consume(&self, _d: crate::consumer::Telemetry) -> Result<(), crate::consumer::ConsumeError> { Ok(()) } }
/// shim
pub fn build(_c: &DebugExporterConfig, _ctx: &crate::component::BuildContext) -> std::sync::Arc<dyn crate::consumer::Consumer> { std::sync::Arc::new(Nop) }
// SHIM-END
