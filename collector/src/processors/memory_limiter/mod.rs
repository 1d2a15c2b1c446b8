//! `processors: memory_limiter` — refuses new data while the process is near its
//! memory limit, as the OTel Collector's `memory_limiter` processor does.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::component::{BuildContext, BuildError};
use crate::config::{ConfigError, GoDuration};
use crate::consumer::{ConsumeError, Consumer, Signal, Telemetry};
pub use crate::process::MemoryFiles;
use crate::telemetry::Counter;

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
        if self.spike_limit_percentage > 100 {
            return Err(ConfigError::at(
                format!("{path}.spike_limit_percentage"),
                "must be between 0 and 100",
            ));
        }
        if self.limit_percentage > 0 && self.spike_limit_percentage >= self.limit_percentage {
            return Err(ConfigError::at(
                format!("{path}.spike_limit_percentage"),
                format!(
                    "must be smaller than limit_percentage ({})",
                    self.limit_percentage
                ),
            ));
        }
        Ok(())
    }
}

const MIB: u64 = 1024 * 1024;

/// The limits a memory limiter enforces, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimits {
    /// The hard limit: at or above it, the limiter also logs that memory is critical.
    pub hard_bytes: u64,
    /// The headroom below the hard limit; data is refused from `hard - spike` upwards.
    pub spike_bytes: u64,
}

impl MemoryLimits {
    /// The soft limit, `hard - spike`: data is refused at or above it.
    pub fn soft_bytes(&self) -> u64 {
        self.hard_bytes.saturating_sub(self.spike_bytes)
    }
}

/// `part` percent of `total`, without overflow for any `u64` total.
fn percent_of(total: u64, part: u64) -> u64 {
    u64::try_from(u128::from(total) * u128::from(part) / 100).unwrap_or(u64::MAX)
}

impl MemoryLimiterConfig {
    /// The limits in bytes. `available_bytes` is the memory available to the process
    /// (see [`crate::process::available_memory_bytes`]), needed only for the percentage
    /// settings.
    ///
    /// As in the OTel Collector, a spike limit left at 0 defaults to a fifth of the hard
    /// limit, in both the MiB and the percentage forms.
    pub fn limits(&self, available_bytes: Option<u64>) -> Result<MemoryLimits, String> {
        let (hard_bytes, spike_bytes) = if self.limit_mib > 0 {
            (
                self.limit_mib.saturating_mul(MIB),
                self.spike_limit_mib.saturating_mul(MIB),
            )
        } else if self.limit_percentage > 0 {
            let total = available_bytes.ok_or_else(|| {
                "limit_percentage needs the memory available to the process, which could not be read \
                 from the cgroup files or /proc/meminfo; set limit_mib instead"
                    .to_string()
            })?;
            (
                percent_of(total, self.limit_percentage),
                percent_of(total, self.spike_limit_percentage),
            )
        } else {
            return Err("one of limit_mib or limit_percentage must be set".to_string());
        };
        let spike_bytes = if spike_bytes == 0 {
            hard_bytes / 5
        } else {
            spike_bytes
        };
        Ok(MemoryLimits {
            hard_bytes,
            spike_bytes,
        })
    }
}

/// Where the limiter reads the process's memory use from. The collector measures the
/// resident set ([`ProcessRss`]); tests substitute a value they control.
pub trait MemorySource: Send + Sync + 'static {
    /// The memory in use, in bytes, or `None` when it cannot be measured.
    fn used_bytes(&self) -> Option<u64>;
}

/// The process's resident set size from `/proc`, what a container's memory limit counts
/// (an allocator's own counter would miss fragmentation and non-heap mappings).
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessRss;

impl MemorySource for ProcessRss {
    fn used_bytes(&self) -> Option<u64> {
        crate::process::rss_bytes()
    }
}

/// Builds a `memory_limiter` in front of `next`, measuring the process's resident memory
/// against limits computed from the memory available to the process. Starts the sampling
/// task, so it must run inside a Tokio runtime.
pub fn build(
    config: &MemoryLimiterConfig,
    next: Arc<dyn Consumer>,
    ctx: &BuildContext,
) -> Result<Arc<dyn Consumer>, BuildError> {
    build_with(config, next, ctx, &MemoryFiles::host())
}

/// [`build`], reading the memory available to the process from `files` (tests give a fake
/// cgroup tree).
///
/// As in the OTel Collector (`internal/iruntime`), the percentages are of the cgroup's memory
/// limit: in a Kubernetes pod, the container's `resources.limits.memory`, which the kubelet
/// writes to the container's cgroup v2 `memory.max` (v1 `memory.limit_in_bytes`). A cgroup
/// without a limit (`max`) leaves the machine's `MemTotal`, as the Collector falls back to the
/// total memory.
pub fn build_with(
    config: &MemoryLimiterConfig,
    next: Arc<dyn Consumer>,
    ctx: &BuildContext,
    files: &MemoryFiles,
) -> Result<Arc<dyn Consumer>, BuildError> {
    let available = if config.limit_percentage > 0 {
        let available = files.available_bytes();
        if available.is_none() {
            return Err(BuildError::Invalid {
                id: ctx.id.clone(),
                message: format!(
                    "limit_percentage ({}%) needs the memory available to the process, but no \
                     memory limit could be read from {} (cgroup v2 memory.max), {} (cgroup v1) or \
                     the MemTotal line of {}; set limit_mib instead",
                    config.limit_percentage,
                    files.cgroup_v2_root.display(),
                    files.cgroup_v1_root.display(),
                    files.meminfo.display()
                ),
            });
        }
        available
    } else {
        None
    };
    let limiter = MemoryLimiter::start(config, next, ctx, Arc::new(ProcessRss), available)?;
    Ok(Arc::new(limiter))
}

/// How close to its limits the process is, as the sampler last saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pressure {
    /// Below the soft limit: data flows.
    Normal,
    /// At or above the soft limit: data is refused.
    AboveSoft,
    /// At or above the hard limit: data is refused and the state is logged as critical.
    AboveHard,
    /// Memory use cannot be measured (not Linux): the limiter lets everything through.
    Unknown,
}

/// The sampling side: measures memory and sets the flag the data path reads.
struct Sampler {
    id: String,
    limits: MemoryLimits,
    source: Arc<dyn MemorySource>,
    refusing: Arc<AtomicBool>,
    pressure: Pressure,
}

fn mib(bytes: u64) -> u64 {
    bytes / MIB
}

impl Sampler {
    /// Measures once, updates the refusing flag and logs a change of state.
    fn check(&mut self) {
        let Some(used) = self.source.used_bytes() else {
            if self.pressure != Pressure::Unknown {
                tracing::warn!(
                    processor = %self.id,
                    "Cannot measure the process's memory use; the memory limiter lets all data through."
                );
            }
            self.pressure = Pressure::Unknown;
            self.refusing.store(false, Ordering::Relaxed);
            return;
        };
        let pressure = if used >= self.limits.hard_bytes {
            Pressure::AboveHard
        } else if used >= self.limits.soft_bytes() {
            Pressure::AboveSoft
        } else {
            Pressure::Normal
        };
        // The data path only reads this flag: one relaxed load per request. A request
        // racing with the store is accepted or refused one interval early or late, which
        // the limits' spike headroom is there to absorb.
        self.refusing
            .store(pressure != Pressure::Normal, Ordering::Relaxed);
        if pressure == self.pressure {
            return;
        }
        let (cur, soft, hard) = (
            mib(used),
            mib(self.limits.soft_bytes()),
            mib(self.limits.hard_bytes),
        );
        match pressure {
            Pressure::AboveHard => {
                // The Go collector forces a garbage collection here. Rust has no garbage
                // to collect: memory is freed when its owner drops it. What stays resident
                // is data in flight (pending batches, exporter queues), and it drains as
                // exporters send it while we refuse new data. Handing freed pages back to
                // the kernel early would need glibc's malloc_trim through unsafe FFI,
                // which the workspace forbids; glibc already trims the top of its heap and
                // unmaps large blocks on free, so RSS follows once the queues drain. So
                // beyond refusing there is nothing to do but say so.
                tracing::warn!(
                    processor = %self.id,
                    cur_mem_mib = cur,
                    soft_limit_mib = soft,
                    hard_limit_mib = hard,
                    "Memory usage is above the hard limit. Refusing data until buffered data has been exported."
                );
            }
            Pressure::AboveSoft => {
                tracing::warn!(
                    processor = %self.id,
                    cur_mem_mib = cur,
                    soft_limit_mib = soft,
                    hard_limit_mib = hard,
                    "Memory usage is above the soft limit. Refusing data."
                );
            }
            Pressure::Normal => {
                if matches!(self.pressure, Pressure::AboveSoft | Pressure::AboveHard) {
                    tracing::info!(
                        processor = %self.id,
                        cur_mem_mib = cur,
                        soft_limit_mib = soft,
                        "Memory usage is back within limits. Resuming normal operation."
                    );
                }
            }
            Pressure::Unknown => {}
        }
        self.pressure = pressure;
    }
}

/// The `memory_limiter` processor: passes data on while memory is below the soft limit
/// and refuses it with [`ConsumeError::Refused`] while at or above it.
pub struct MemoryLimiter {
    next: Arc<dyn Consumer>,
    refusing: Arc<AtomicBool>,
    retry_after: Duration,
    /// `otelcol_processor_refused_<items>`, indexed like [`Signal::ALL`].
    refused: [Counter; 3],
    stop: CancellationToken,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl MemoryLimiter {
    /// Computes the limits, measures once (so the first request already sees the right
    /// state) and starts the task that measures again every `check_interval`, reading
    /// memory use from `source`. `available_bytes` is the memory available to the
    /// process, used by the percentage settings.
    pub fn start(
        config: &MemoryLimiterConfig,
        next: Arc<dyn Consumer>,
        ctx: &BuildContext,
        source: Arc<dyn MemorySource>,
        available_bytes: Option<u64>,
    ) -> Result<MemoryLimiter, BuildError> {
        let invalid = |message: String| BuildError::Invalid {
            id: ctx.id.clone(),
            message,
        };
        let limits = config.limits(available_bytes).map_err(invalid)?;
        let interval = config.check_interval.0;
        if interval.is_zero() {
            return Err(invalid("check_interval must be greater than zero".to_string()));
        }
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| invalid("the memory limiter must be started inside a Tokio runtime".to_string()))?;

        let first_tick = tokio::time::Instant::now()
            .checked_add(interval)
            .ok_or_else(|| invalid(format!("check_interval {interval:?} is too large")))?;

        let id = ctx.id.to_string();
        let refusing = Arc::new(AtomicBool::new(false));
        let mut sampler = Sampler {
            id: id.clone(),
            limits,
            source,
            refusing: refusing.clone(),
            pressure: Pressure::Normal,
        };
        tracing::info!(
            processor = %id,
            hard_limit_mib = mib(limits.hard_bytes),
            soft_limit_mib = mib(limits.soft_bytes()),
            check_interval = ?interval,
            "Memory limiter configured."
        );
        sampler.check();

        // A child of the context's token, so the task also ends if the whole collector
        // is torn down without this processor's shutdown being called.
        let stop = ctx.shutdown.child_token();
        let task_stop = stop.clone();
        let task = runtime.spawn(async move {
            let mut ticker = tokio::time::interval_at(first_tick, interval);
            // After a stall (a suspended VM), measure once rather than catching up.
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = task_stop.cancelled() => break,
                    _ = ticker.tick() => sampler.check(),
                }
            }
        });

        let labels = [("processor", id.as_str())];
        let refused = Signal::ALL.map(|signal| {
            let noun = signal.item_noun();
            ctx.telemetry.counter(
                &format!("otelcol_processor_refused_{noun}"),
                &format!(
                    "Number of {} that were rejected by the processor.",
                    noun.replace('_', " ")
                ),
                &labels,
            )
        });
        // The limits as gauges, so a dashboard can draw the process's RSS against them. The OTel
        // Collector only logs them; these names are burnwatch's own.
        ctx.telemetry
            .gauge(
                "burnwatch_memory_limiter_limit_bytes",
                "The memory_limiter's hard limit in bytes.",
                &labels,
            )
            .set(i64::try_from(limits.hard_bytes).unwrap_or(i64::MAX));
        ctx.telemetry
            .gauge(
                "burnwatch_memory_limiter_soft_limit_bytes",
                "The memory_limiter's soft limit in bytes: at or above it new data is refused.",
                &labels,
            )
            .set(i64::try_from(limits.soft_bytes()).unwrap_or(i64::MAX));
        Ok(MemoryLimiter {
            next,
            refusing,
            // The state can change at the next measurement, so that is when a retry may
            // succeed; HTTP's Retry-After counts whole seconds, hence the 1s floor. A
            // minute at most: past that, clients' own backoff is the better guide.
            retry_after: interval.clamp(Duration::from_secs(1), Duration::from_secs(60)),
            refused,
            stop,
            task: Mutex::new(Some(task)),
        })
    }

    /// Whether the limiter currently refuses data.
    pub fn is_refusing(&self) -> bool {
        self.refusing.load(Ordering::Relaxed)
    }

    fn refused_counter(&self, signal: Signal) -> &Counter {
        match signal {
            Signal::Traces => &self.refused[0],
            Signal::Metrics => &self.refused[1],
            Signal::Logs => &self.refused[2],
        }
    }
}

#[async_trait]
impl Consumer for MemoryLimiter {
    async fn consume(&self, data: Telemetry) -> Result<(), ConsumeError> {
        if self.is_refusing() {
            self.refused_counter(data.signal()).add(data.item_count() as u64);
            return Err(ConsumeError::Refused {
                reason: "data refused due to high memory usage".to_string(),
                retry_after: self.retry_after,
            });
        }
        self.next.consume(data).await
    }

    async fn shutdown(&self) {
        // `next` is not shut down here: the service shuts every processor of a pipeline
        // down itself, in data-flow order.
        self.stop.cancel();
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

impl Drop for MemoryLimiter {
    fn drop(&mut self) {
        // A limiter dropped without shutdown (a pipeline that failed to build) must not
        // leave its sampler running.
        self.stop.cancel();
    }
}

#[cfg(test)]
mod tests;
