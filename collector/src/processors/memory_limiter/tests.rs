use std::sync::atomic::AtomicU64;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

use super::*;
use crate::component::BoundAddrs;
use crate::config::ComponentId;
use crate::telemetry::SelfTelemetry;

/// Records what reaches it.
#[derive(Default)]
struct Sink {
    received: Mutex<Vec<Telemetry>>,
}

#[async_trait]
impl Consumer for Sink {
    async fn consume(&self, data: Telemetry) -> Result<(), ConsumeError> {
        self.received.lock().unwrap().push(data);
        Ok(())
    }
}

impl Sink {
    fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }
}

/// A memory reading the test sets.
struct FakeMemory(AtomicU64);

impl FakeMemory {
    fn mib(v: u64) -> Arc<FakeMemory> {
        Arc::new(FakeMemory(AtomicU64::new(v * MIB)))
    }
    fn set_mib(&self, v: u64) {
        self.0.store(v * MIB, Ordering::Relaxed);
    }
}

impl MemorySource for FakeMemory {
    fn used_bytes(&self) -> Option<u64> {
        Some(self.0.load(Ordering::Relaxed))
    }
}

struct Unmeasurable;

impl MemorySource for Unmeasurable {
    fn used_bytes(&self) -> Option<u64> {
        None
    }
}

fn ctx() -> BuildContext {
    BuildContext {
        id: ComponentId::parse("memory_limiter/test").unwrap(),
        telemetry: SelfTelemetry::new(),
        shutdown: CancellationToken::new(),
        bound: BoundAddrs::default(),
    }
}

fn config(limit_mib: u64, spike_limit_mib: u64) -> MemoryLimiterConfig {
    MemoryLimiterConfig {
        check_interval: GoDuration::from_secs(1),
        limit_mib,
        spike_limit_mib,
        ..MemoryLimiterConfig::default()
    }
}

fn spans(n: usize) -> Telemetry {
    Telemetry::traces(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: (0..n)
                    .map(|i| Span {
                        name: format!("s{i}"),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

fn refused_spans(ctx: &BuildContext) -> u64 {
    ctx.telemetry
        .counter(
            "otelcol_processor_refused_spans",
            "",
            &[("processor", "memory_limiter/test")],
        )
        .get()
}

#[tokio::test]
async fn refuses_when_resident_memory_is_above_a_tiny_limit() {
    let sink = Arc::new(Sink::default());
    let ctx = ctx();
    // Soft limit 0.8 MiB: any running process is above it.
    let limiter = build(&config(1, 0), sink.clone(), &ctx).unwrap();
    let err = limiter.consume(spans(3)).await.unwrap_err();
    assert_eq!(
        err,
        ConsumeError::Refused {
            reason: "data refused due to high memory usage".into(),
            retry_after: Duration::from_secs(1)
        }
    );
    assert!(err.is_retryable());
    assert_eq!(sink.count(), 0);
    assert_eq!(refused_spans(&ctx), 3);
    let text = ctx.telemetry.render();
    assert!(text.contains("otelcol_processor_refused_spans_total{processor=\"memory_limiter/test\"} 3\n"));
    limiter.shutdown().await;
}

#[tokio::test]
async fn accepts_below_a_generous_limit() {
    let sink = Arc::new(Sink::default());
    let limiter = build(&config(1 << 20, 0), sink.clone(), &ctx()).unwrap();
    limiter.consume(spans(2)).await.unwrap();
    assert_eq!(sink.count(), 1);
    limiter.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn resumes_once_the_sampler_sees_usage_below_the_soft_limit() {
    let sink = Arc::new(Sink::default());
    let memory = FakeMemory::mib(850);
    let ctx = ctx();
    // Hard 1000 MiB, soft 800 MiB.
    let limiter = MemoryLimiter::start(&config(1000, 0), sink.clone(), &ctx, memory.clone(), None).unwrap();
    assert!(
        limiter.consume(spans(1)).await.is_err(),
        "850 MiB is above the 800 MiB soft limit"
    );

    memory.set_mib(500);
    // Still refusing until the next measurement: the data path only reads the flag.
    assert!(limiter.consume(spans(1)).await.is_err());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    limiter.consume(spans(4)).await.unwrap();
    assert_eq!(sink.count(), 1);

    memory.set_mib(1200);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(limiter.is_refusing(), "above the hard limit refuses too");
    assert!(limiter.consume(spans(1)).await.is_err());

    memory.set_mib(799);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    limiter.consume(spans(1)).await.unwrap();
    assert_eq!(sink.count(), 2);
    assert_eq!(refused_spans(&ctx), 3);
    limiter.shutdown().await;
}

#[tokio::test]
async fn refuses_exactly_from_the_soft_limit() {
    let ctx = ctx();
    let at_soft = FakeMemory::mib(900);
    let limiter =
        MemoryLimiter::start(&config(1000, 100), Arc::new(Sink::default()), &ctx, at_soft, None).unwrap();
    assert!(limiter.is_refusing());
    limiter.shutdown().await;
    let below = FakeMemory::mib(899);
    let limiter =
        MemoryLimiter::start(&config(1000, 100), Arc::new(Sink::default()), &ctx, below, None).unwrap();
    assert!(!limiter.is_refusing());
    limiter.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_the_sampler() {
    let sink = Arc::new(Sink::default());
    let memory = FakeMemory::mib(10);
    let limiter = MemoryLimiter::start(&config(1000, 0), sink.clone(), &ctx(), memory.clone(), None).unwrap();
    limiter.shutdown().await;
    memory.set_mib(5000);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!limiter.is_refusing(), "no measurement after shutdown");
}

#[tokio::test]
async fn unmeasurable_memory_lets_data_through() {
    let sink = Arc::new(Sink::default());
    let limiter =
        MemoryLimiter::start(&config(1, 0), sink.clone(), &ctx(), Arc::new(Unmeasurable), None).unwrap();
    limiter.consume(spans(1)).await.unwrap();
    assert_eq!(sink.count(), 1);
    limiter.shutdown().await;
}

#[test]
fn spike_defaults_to_a_fifth_of_the_limit() {
    let limits = config(1000, 0).limits(None).unwrap();
    assert_eq!(
        limits,
        MemoryLimits {
            hard_bytes: 1000 * MIB,
            spike_bytes: 200 * MIB
        }
    );
    assert_eq!(limits.soft_bytes(), 800 * MIB);
    let limits = config(1000, 300).limits(None).unwrap();
    assert_eq!(limits.soft_bytes(), 700 * MIB);
}

#[test]
fn percentage_limits_are_computed_from_the_available_total() {
    let total = 8 * 1024 * MIB;
    let cfg = MemoryLimiterConfig {
        check_interval: GoDuration::from_secs(1),
        limit_percentage: 75,
        spike_limit_percentage: 25,
        ..MemoryLimiterConfig::default()
    };
    let limits = cfg.limits(Some(total)).unwrap();
    assert_eq!(limits.hard_bytes, 6 * 1024 * MIB);
    assert_eq!(limits.spike_bytes, 2 * 1024 * MIB);
    assert_eq!(limits.soft_bytes(), 4 * 1024 * MIB);

    // Spike percentage left at 0: a fifth of the limit.
    let cfg = MemoryLimiterConfig {
        spike_limit_percentage: 0,
        limit_percentage: 50,
        ..cfg
    };
    let limits = cfg.limits(Some(total)).unwrap();
    assert_eq!(limits.hard_bytes, 4 * 1024 * MIB);
    assert_eq!(limits.spike_bytes, 4 * 1024 * MIB / 5);

    // No overflow near u64::MAX.
    assert_eq!(cfg.limits(Some(u64::MAX)).unwrap().hard_bytes, u64::MAX / 2);

    let err = cfg.limits(None).unwrap_err();
    assert!(err.contains("limit_percentage"), "{err}");
}

#[tokio::test]
async fn percentage_limit_without_known_memory_fails_to_build() {
    let cfg = MemoryLimiterConfig {
        check_interval: GoDuration::from_secs(1),
        limit_percentage: 80,
        ..MemoryLimiterConfig::default()
    };
    let err = MemoryLimiter::start(&cfg, Arc::new(Sink::default()), &ctx(), FakeMemory::mib(1), None)
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .starts_with("memory_limiter/test: limit_percentage needs"),
        "{err}"
    );
}

#[tokio::test]
async fn percentage_limit_uses_the_machine_or_cgroup_memory() {
    // 100% of the available memory minus the 20% spike is far above a test's RSS.
    let cfg = MemoryLimiterConfig {
        check_interval: GoDuration::from_secs(1),
        limit_percentage: 100,
        spike_limit_percentage: 1,
        ..MemoryLimiterConfig::default()
    };
    let sink = Arc::new(Sink::default());
    let limiter = build(&cfg, sink.clone(), &ctx()).unwrap();
    limiter.consume(spans(1)).await.unwrap();
    assert_eq!(sink.count(), 1);
    limiter.shutdown().await;
}

#[test]
fn building_outside_a_runtime_is_an_error_not_a_panic() {
    let err = build(&config(100, 0), Arc::new(Sink::default()), &ctx())
        .err()
        .unwrap();
    assert!(err.to_string().contains("Tokio runtime"), "{err}");
}

#[test]
fn yaml_a_user_would_write() {
    let cfg: MemoryLimiterConfig =
        serde_norway::from_str("check_interval: 1s\nlimit_mib: 4000\nspike_limit_mib: 800\n").unwrap();
    assert_eq!(
        cfg,
        MemoryLimiterConfig {
            check_interval: GoDuration::from_secs(1),
            ..config(4000, 800)
        }
    );
    cfg.validate("processors.memory_limiter").unwrap();

    let no_interval: MemoryLimiterConfig = serde_norway::from_str("limit_mib: 100\n").unwrap();
    assert_eq!(
        no_interval
            .validate("processors.memory_limiter")
            .unwrap_err()
            .to_string(),
        "processors.memory_limiter.check_interval must be greater than zero"
    );
    let spike_too_big = config(100, 100);
    assert_eq!(
        spike_too_big
            .validate("processors.memory_limiter")
            .unwrap_err()
            .to_string(),
        "processors.memory_limiter.spike_limit_mib must be smaller than limit_mib (100)"
    );
}

#[tokio::test]
async fn a_check_interval_beyond_the_clock_is_a_build_error() {
    let cfg = MemoryLimiterConfig {
        check_interval: GoDuration(Duration::MAX),
        ..config(100, 0)
    };
    let err = build(&cfg, Arc::new(Sink::default()), &ctx()).err().unwrap();
    assert!(err.to_string().contains("check_interval"), "{err}");
}

/// A fake cgroup v2 tree whose top `memory.max` holds `max`, with a `/proc/meminfo` saying
/// `mem_total_kib` when given.
fn fake_cgroup(memory_max: &str, mem_total_kib: Option<u64>) -> (tempfile::TempDir, MemoryFiles) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("memory.max"), format!("{memory_max}\n")).unwrap();
    std::fs::write(dir.path().join("self.cgroup"), "0::/\n").unwrap();
    let mut files = MemoryFiles::cgroup_v2_at(dir.path());
    if let Some(kib) = mem_total_kib {
        files.meminfo = dir.path().join("meminfo");
        std::fs::write(
            &files.meminfo,
            format!("MemTotal:       {kib} kB\nMemFree: 1 kB\n"),
        )
        .unwrap();
    }
    (dir, files)
}

fn percentage_config(limit: u64, spike: u64) -> MemoryLimiterConfig {
    MemoryLimiterConfig {
        check_interval: GoDuration::from_secs(1),
        limit_percentage: limit,
        spike_limit_percentage: spike,
        ..MemoryLimiterConfig::default()
    }
}

/// The value of a self-telemetry gauge for `memory_limiter/test`.
fn gauge(ctx: &BuildContext, name: &str) -> u64 {
    let text = ctx.telemetry.render();
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{name}{{")))
        .unwrap_or_else(|| panic!("no {name} in\n{text}"));
    line.rsplit_once(' ').unwrap().1.parse().unwrap()
}

#[tokio::test]
async fn percentages_are_of_the_cgroup_v2_memory_max() {
    // A container limited to 1 GiB on a 64 GiB machine: 80% / 25% of the container's limit.
    let (_dir, files) = fake_cgroup("1073741824", Some(64 * 1024 * 1024));
    let ctx = ctx();
    let limiter = build_with(
        &percentage_config(80, 25),
        Arc::new(Sink::default()),
        &ctx,
        &files,
    )
    .unwrap();
    assert_eq!(
        gauge(&ctx, "burnwatch_memory_limiter_limit_bytes"),
        percent_of(1 << 30, 80)
    );
    assert_eq!(
        gauge(&ctx, "burnwatch_memory_limiter_soft_limit_bytes"),
        percent_of(1 << 30, 80) - percent_of(1 << 30, 25)
    );
    limiter.shutdown().await;
}

#[tokio::test]
async fn a_cgroup_memory_max_below_the_process_makes_the_limiter_refuse() {
    // 4 MiB: any test process's resident memory is above 80% of it.
    let (_dir, files) = fake_cgroup("4194304", None);
    let sink = Arc::new(Sink::default());
    let limiter = build_with(&percentage_config(80, 25), sink.clone(), &ctx(), &files).unwrap();
    let err = limiter.consume(spans(1)).await.unwrap_err();
    assert!(matches!(err, ConsumeError::Refused { .. }), "{err:?}");
    assert_eq!(sink.count(), 0);
    limiter.shutdown().await;
}

#[tokio::test]
async fn cgroup_memory_max_of_max_is_unlimited_and_falls_back_to_mem_total() {
    // "max": no cgroup limit, so the machine's 2 GiB (from meminfo) is the total.
    let (_dir, files) = fake_cgroup("max", Some(2 * 1024 * 1024));
    let ctx = ctx();
    let limiter = build_with(&percentage_config(50, 0), Arc::new(Sink::default()), &ctx, &files).unwrap();
    assert_eq!(gauge(&ctx, "burnwatch_memory_limiter_limit_bytes"), 1 << 30);
    limiter.shutdown().await;
}

#[tokio::test]
async fn regression_percentage_without_any_limit_names_the_key_and_the_files() {
    // "max" and no meminfo: nothing to take a percentage of.
    let (dir, files) = fake_cgroup("max", None);
    let err = build_with(
        &percentage_config(80, 25),
        Arc::new(Sink::default()),
        &ctx(),
        &files,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        err.starts_with("memory_limiter/test: limit_percentage (80%) needs the memory available"),
        "{err}"
    );
    assert!(err.contains(&dir.path().display().to_string()), "{err}");
    assert!(err.contains("set limit_mib instead"), "{err}");
}

#[test]
fn spike_limit_percentage_above_100_is_refused_by_name() {
    let cfg = MemoryLimiterConfig {
        spike_limit_percentage: 101,
        ..config(100, 0)
    };
    assert_eq!(
        cfg.validate("processors.memory_limiter").unwrap_err().to_string(),
        "processors.memory_limiter.spike_limit_percentage must be between 0 and 100"
    );
}
