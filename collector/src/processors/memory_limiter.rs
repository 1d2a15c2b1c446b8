//! `processors: memory_limiter` — refuses new data while the process is near its
//! memory limit, as the OTel Collector's `memory_limiter` processor does.

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, GoDuration};

/// `processors.memory_limiter`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryLimiterConfig {
    /// How often the process's memory is measured. Required, as in the OTel Collector.
    #[serde(default)]
    pub check_interval: GoDuration,
    /// The hard limit in MiB. One of `limit_mib` and `limit_percentage` is required.
    #[serde(default)]
    pub limit_mib: u64,
    /// The headroom below the hard limit, in MiB (default 20% of the limit). Data is
    /// refused from `limit - spike` (the soft limit) upwards.
    #[serde(default)]
    pub spike_limit_mib: u64,
    /// The hard limit as a percentage of the memory available to the process (cgroup v2
    /// `memory.max`, cgroup v1 `memory.limit_in_bytes`, else `MemTotal`).
    #[serde(default)]
    pub limit_percentage: u64,
    /// The spike headroom as a percentage of the available memory.
    #[serde(default)]
    pub spike_limit_percentage: u64,
}

impl Default for MemoryLimiterConfig {
    fn default() -> Self {
        MemoryLimiterConfig {
            check_interval: GoDuration::from_secs(0),
            limit_mib: 0,
            spike_limit_mib: 0,
            limit_percentage: 0,
            spike_limit_percentage: 0,
        }
    }
}

impl MemoryLimiterConfig {
    /// Checks the configuration; `path` is this component's YAML path.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        if self.check_interval.0.is_zero() {
            return Err(ConfigError::at(
                format!("{path}.check_interval"),
                "must be greater than zero",
            ));
        }
        if self.limit_mib == 0 && self.limit_percentage == 0 {
            return Err(ConfigError::at(
                path,
                "one of limit_mib or limit_percentage must be set",
            ));
        }
        if self.limit_mib > 0 && self.limit_percentage > 0 {
            return Err(ConfigError::at(
                path,
                "set only one of limit_mib and limit_percentage",
            ));
        }
        if self.limit_mib > 0 && self.spike_limit_mib >= self.limit_mib {
            return Err(ConfigError::at(
                format!("{path}.spike_limit_mib"),
                format!("must be smaller than limit_mib ({})", self.limit_mib),
            ));
        }
        if self.limit_percentage > 100 {
            return Err(ConfigError::at(
                format!("{path}.limit_percentage"),
                "must be between 1 and 100",
            ));
        }
        if self.limit_percentage > 0 && self.spike_limit_percentage >= self.limit_percentage {
            return Err(ConfigError::at(
                format!("{path}.spike_limit_percentage"),
                format!("must be smaller than limit_percentage ({})", self.limit_percentage),
            ));
        }
        Ok(())
    }
}
// SHIM-BEGIN
/// shim
pub fn build(_c: &MemoryLimiterConfig, next: std::sync::Arc<dyn crate::consumer::Consumer>, _ctx: &crate::component::BuildContext) -> Result<std::sync::Arc<dyn crate::consumer::Consumer>, crate::component::BuildError> { Ok(next) }
// SHIM-END
