//! A load generator for the collector: replays pre-encoded OTLP/gRPC trace requests (1000
//! spans of about 250 bytes each) at `burnwatch collector` (the release binary) and
//! reports the collector's CPU-seconds per million spans, its throughput per CPU-second,
//! its idle and peak resident memory, and its CPU share at a fixed 10k spans/s.
//!
//! `cargo bench --bench loadgen [-- SCENARIO...]` (env: `LOADGEN_SECONDS`, default 10;
//! `LOADGEN_CLIENTS`, default 4; `LOADGEN_BIN`, another burnwatch binary to measure;
//! `LOADGEN_SCENARIOS`, a comma-separated list when arguments are not convenient).
//! Scenarios, each on a fresh collector, all measured in the same run and reported with
//! their ratio to `passthrough` (issue 14 §2's targets in brackets):
//! - `passthrough`: memory_limiter → batch, the raw path (≈ 2.0M spans per CPU-second on
//!   the 2-core machine; stay within 10%);
//! - `processors`: memory_limiter → resource → attributes → filter → batch, spans decoded,
//!   changed and re-encoded (≥ 700k);
//! - `spanmetrics`: the traces pipeline also exports to the spanmetrics connector, whose
//!   metrics pipeline feeds a Prometheus exporter (≥ 500k).
//!
//! The collector exports over OTLP/gRPC to a counting sink in this process, so every span
//! crosses the whole pipeline: receiver → memory_limiter → batch → exporter. Goals from the
//! issue: ≥ 1M spans/s per core, < 3% of a core and < 30 MiB RSS at 10k spans/s, idle RSS
//! < 15 MiB.

#[path = "spans.rs"]
mod spans;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::{Buf as _, BufMut as _, Bytes};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message as _;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

/// Counts the spans the collector exports to it.
#[derive(Clone, Default)]
struct CountingSink(Arc<AtomicU64>);

/// `ExportTraceServiceRequest` decoded only down to its spans, which stay unparsed bytes:
/// the sink shares the machine with the collector, and decoding every span (about as much
/// CPU as the collector spends on it) would slow the sink until the collector's sending
/// queue, not the collector, set the peak memory and the pace.
#[derive(Clone, PartialEq, prost::Message)]
struct ShallowRequest {
    #[prost(message, repeated, tag = "1")]
    resource_spans: Vec<ShallowResourceSpans>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ShallowResourceSpans {
    #[prost(message, repeated, tag = "2")]
    scope_spans: Vec<ShallowScopeSpans>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ShallowScopeSpans {
    #[prost(bytes = "bytes", repeated, tag = "2")]
    spans: Vec<Bytes>,
}

/// The sink's server side: requests decoded shallowly, responses encoded by prost.
#[derive(Clone, Default)]
struct SinkCodec;

impl Codec for SinkCodec {
    type Encode = ExportTraceServiceResponse;
    type Decode = ShallowRequest;
    type Encoder = SinkCodec;
    type Decoder = SinkCodec;
    fn encoder(&mut self) -> Self::Encoder {
        SinkCodec
    }
    fn decoder(&mut self) -> Self::Decoder {
        SinkCodec
    }
}

impl Encoder for SinkCodec {
    type Item = ExportTraceServiceResponse;
    type Error = tonic::Status;
    fn encode(&mut self, item: Self::Item, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        item.encode(dst)
            .map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

impl Decoder for SinkCodec {
    type Item = ShallowRequest;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<ShallowRequest>, tonic::Status> {
        ShallowRequest::decode(src)
            .map(Some)
            .map_err(|e| tonic::Status::invalid_argument(e.to_string()))
    }
}

impl tonic::server::UnaryService<ShallowRequest> for CountingSink {
    type Response = ExportTraceServiceResponse;
    type Future = std::future::Ready<Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status>>;
    fn call(&mut self, request: tonic::Request<ShallowRequest>) -> Self::Future {
        let n: usize = request
            .get_ref()
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        self.0.fetch_add(n as u64, Ordering::Relaxed);
        std::future::ready(Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        })))
    }
}

impl tonic::codegen::Service<http::Request<tonic::body::Body>> for CountingSink {
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>>;
    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let sink = self.clone();
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(SinkCodec).max_decoding_message_size(256 << 20);
            Ok(grpc.unary(sink, request).await)
        })
    }
}

impl tonic::server::NamedService for CountingSink {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
}

/// A gRPC codec that sends bytes already encoded and ignores the response body, so the
/// load generator spends no CPU re-encoding requests.
#[derive(Clone, Default)]
struct PreEncoded;

impl Codec for PreEncoded {
    type Encode = Bytes;
    type Decode = ();
    type Encoder = PreEncoded;
    type Decoder = PreEncoded;
    fn encoder(&mut self) -> Self::Encoder {
        PreEncoded
    }
    fn decoder(&mut self) -> Self::Decoder {
        PreEncoded
    }
}

impl Encoder for PreEncoded {
    type Item = Bytes;
    type Error = tonic::Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for PreEncoded {
    type Item = ();
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<()>, tonic::Status> {
        let n = src.remaining();
        src.advance(n);
        Ok(Some(()))
    }
}

async fn send(channel: &tonic::transport::Channel, body: Bytes) -> Result<(), tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let path =
        http::uri::PathAndQuery::from_static("/opentelemetry.proto.collector.trace.v1.TraceService/Export");
    grpc.unary(tonic::Request::new(body), path, PreEncoded)
        .await
        .map(|_| ())
}

fn proc_stat(pid: u32) -> (f64, u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rfind(')').map(|i| &stat[i + 2..]).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    (cpu, kib("VmRSS:"), kib("VmHWM:"))
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The pipelines a scenario runs between the OTLP receiver and the counting sink.
fn scenario_config(scenario: &str, grpc_port: u16, sink: std::net::SocketAddr, prom_port: u16) -> String {
    let (processors, pipelines) = match scenario {
        "passthrough" => (
            "",
            "    traces:
      receivers: [otlp]
      processors: [memory_limiter, batch]
      exporters: [otlp]",
        ),
        // What a sidecar operator typically adds: an environment on the resource, a
        // header deleted, a user id hashed, health checks and cache spans filtered (none
        // match here, so every span is still exported and counted).
        "processors" => (
            r#"  resource:
    attributes:
      - {key: deployment.environment, value: production, action: upsert}
  attributes:
    actions:
      - {key: http.request.header.authorization, action: delete}
      - {key: enduser.id, action: hash}
      - {key: sidecar, value: burnwatch, action: insert}
  filter:
    traces:
      span:
        - 'attributes["url.path"] == "/healthz"'
        - 'kind == SPAN_KIND_INTERNAL and IsMatch(name, "^cache\\.")'"#,
            "    traces:
      receivers: [otlp]
      processors: [memory_limiter, resource, attributes, filter, batch]
      exporters: [otlp]",
        ),
        "spanmetrics" => (
            "",
            "    traces:
      receivers: [otlp]
      processors: [memory_limiter, batch]
      exporters: [otlp, spanmetrics]
    metrics:
      receivers: [spanmetrics]
      exporters: [prometheus]",
        ),
        other => panic!("unknown scenario {other:?}; expected passthrough, processors or spanmetrics"),
    };
    let (connectors, prometheus) = if scenario == "spanmetrics" {
        (
            "connectors:\n  spanmetrics: {}\n".to_string(),
            format!("  prometheus:\n    endpoint: 127.0.0.1:{prom_port}\n"),
        )
    } else {
        (String::new(), String::new())
    };
    format!(
        "receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc_port}
processors:
  memory_limiter:
    check_interval: 1s
    limit_mib: 1024
  batch: {{}}
{processors}
{connectors}exporters:
  otlp:
    endpoint: http://{sink}
    compression: none
{prometheus}service:
  telemetry:
    metrics:
      level: none
  pipelines:
{pipelines}
"
    )
}

/// What one scenario measured.
struct Report {
    scenario: String,
    per_cpu_second: f64,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes `--bench`; the other arguments name scenarios.
    let mut scenarios: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if scenarios.is_empty() {
        scenarios = std::env::var("LOADGEN_SCENARIOS")
            .unwrap_or_else(|_| "passthrough,processors,spanmetrics".to_string())
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
    }
    let seconds: u64 = std::env::var("LOADGEN_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let clients: usize = std::env::var("LOADGEN_CLIENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);

    let sink = CountingSink::default();
    let sink_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sink_addr = sink_listener.local_addr().unwrap();
    let service = sink.clone();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(sink_listener))
            .await
            .unwrap();
    });

    let mut reports = Vec::new();
    for scenario in &scenarios {
        reports.push(run(scenario, &sink, sink_addr, seconds, clients).await);
    }
    if reports.len() > 1 {
        println!("summary (same run): spans per CPU-second");
        let base = reports
            .iter()
            .find(|r| r.scenario == "passthrough")
            .map(|r| r.per_cpu_second);
        for r in &reports {
            match base {
                Some(b) => println!(
                    "  {:<12} {:>10.0}  ({:.2}x passthrough)",
                    r.scenario,
                    r.per_cpu_second,
                    r.per_cpu_second / b
                ),
                None => println!("  {:<12} {:>10.0}", r.scenario, r.per_cpu_second),
            }
        }
    }
}

async fn run(
    scenario: &str,
    sink: &CountingSink,
    sink_addr: std::net::SocketAddr,
    seconds: u64,
    clients: usize,
) -> Report {
    let grpc_port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("loadgen.yaml");
    std::fs::write(
        &config,
        scenario_config(scenario, grpc_port, sink_addr, free_port()),
    )
    .unwrap();
    // LOADGEN_BIN compares another build (say `--no-default-features`) in the same run.
    let bin = std::env::var("LOADGEN_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_burnwatch").to_string());
    let mut child = std::process::Command::new(bin)
        .args(["collector", "--config", config.to_str().unwrap()])
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("start burnwatch collector");
    let pid = child.id();

    let endpoint = format!("http://127.0.0.1:{grpc_port}");
    let mut channel = None;
    for _ in 0..100 {
        if let Ok(c) = tonic::transport::Channel::from_shared(endpoint.clone())
            .unwrap()
            .connect()
            .await
        {
            channel = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let channel = channel.expect("collector listening");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, idle_rss, _) = proc_stat(pid);

    let body = Bytes::from(spans::trace_request(1000, 7).encode_to_vec());
    let per_span = body.len() / 1000;

    // Phase 1: a steady 10k spans/s (ten 1000-span requests a second), on a fresh
    // collector so its RSS is not inflated by the heavier phase.
    let (cpu2, _, _) = proc_stat(pid);
    let steady_base = sink.0.load(Ordering::Relaxed);
    let steady = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    let mut steady_sent = 0u64;
    while steady.elapsed() < Duration::from_secs(seconds) {
        ticker.tick().await;
        if send(&channel, body.clone()).await.is_ok() {
            steady_sent += 1000;
        }
    }
    let steady_elapsed = steady.elapsed().as_secs_f64();
    let (cpu3, steady_rss, steady_peak_rss) = proc_stat(pid);
    // Let the last partial batch reach the sink, so the next phase counts only its own.
    let drain_deadline = Instant::now() + Duration::from_secs(30);
    while sink.0.load(Ordering::Relaxed) - steady_base < steady_sent && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let steady_share = (cpu3 - cpu2) / steady_elapsed;

    // Phase 2: as fast as the collector takes it.
    let (cpu0, _, _) = proc_stat(pid);
    let sent0 = sink.0.load(Ordering::Relaxed);
    let accepted = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (channel, body, accepted) = (channel.clone(), body.clone(), accepted.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                if send(&channel, body.clone()).await.is_ok() {
                    accepted.fetch_add(1000, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let accepted = accepted.load(Ordering::Relaxed);
    let drain_deadline = Instant::now() + Duration::from_secs(60);
    while sink.0.load(Ordering::Relaxed) - sent0 < accepted && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (cpu1, _, peak_rss) = proc_stat(pid);
    let exported = sink.0.load(Ordering::Relaxed) - sent0;
    let cpu = cpu1 - cpu0;
    let per_cpu_second = exported as f64 / cpu.max(1e-9);

    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = child.wait();

    println!(
        "burnwatch collector load test, scenario {scenario} ({clients} clients, {seconds}s per phase, {per_span} B/span)"
    );
    println!("  max load: accepted {accepted} spans, exported {exported}, collector CPU {cpu:.2}s");
    println!(
        "    CPU-seconds per million spans: {:.3}",
        cpu / (exported.max(1) as f64 / 1e6)
    );
    println!("    spans per CPU-second (per core): {:.0}", per_cpu_second);
    println!(
        "    wall-clock rate: {:.0} spans/s",
        exported as f64 / seconds as f64
    );
    println!(
        "  10k spans/s: sent {steady_sent} spans, collector CPU {:.2}% of a core, RSS {:.1} MiB (peak {:.1} MiB)",
        steady_share * 100.0,
        mib(steady_rss),
        mib(steady_peak_rss)
    );
    println!(
        "  idle RSS: {:.1} MiB; peak RSS (VmHWM): {:.1} MiB",
        mib(idle_rss),
        mib(peak_rss)
    );
    Report {
        scenario: scenario.to_string(),
        per_cpu_second,
    }
}
