//! SIGTERM drains the exporter's queue for as long as `--shutdown-timeout` allows
//! (issue #12, item 6).
//!
//! A slow OTLP sink (one request at a time, 300 ms each) sits behind the collector's
//! `otlp` exporter. Thirty requests are acknowledged by the collector, which queues them;
//! draining them takes about nine seconds, longer than the exporter's 5 s request
//! timeout. On SIGTERM with `--shutdown-timeout 120s` every acknowledged span must reach
//! the sink before the process exits: the drain used to stop after one request timeout,
//! dropping most of them.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::otlp_sink::{SlowSink, trace_request};
use common::*;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceServiceServer;

#[test]
fn sigterm_drains_every_acknowledged_span_to_a_slow_backend_within_the_shutdown_timeout() {
    const REQUESTS: u64 = 30;
    const SPANS: u64 = 100;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let sink = SlowSink::new(Duration::from_millis(300));
        let sink_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sink_addr = sink_listener.local_addr().unwrap();
        let sink_service = sink.clone();
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(sink_service))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(sink_listener))
                .await
                .unwrap();
        });

        let dir = tempfile::tempdir().unwrap();
        let (grpc, tel) = (free_port(), free_port());
        // Two senders, so at most two requests wait in the sink (600 ms) and none times
        // out; no batch processor, so each acknowledged request is one queued request.
        let yaml = format!(
            "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:{grpc}\n\
             exporters:\n  otlp:\n    endpoint: http://{sink_addr}\n    tls:\n      insecure: true\n    compression: none\n    timeout: 5s\n    sending_queue:\n      num_consumers: 2\n      queue_size: 100\n\
             service:\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{tel}\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [otlp]\n"
        );
        let cfg = write_file(dir.path(), "c.yaml", &yaml);
        let mut collector = spawn(
            "collector",
            &burnwatch_bin(),
            &["collector", "--config", cfg.to_str().unwrap(), "--shutdown-timeout", "120s"],
            dir.path(),
            &[],
        );
        let endpoint = format!("http://127.0.0.1:{grpc}");
        let mut client = None;
        for _ in 0..300 {
            if let Ok(c) = TraceServiceClient::connect(endpoint.clone()).await {
                client = Some(c);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut client = client.unwrap_or_else(|| panic!("collector did not start:\n{}", collector.output()));

        for seq in 0..REQUESTS {
            client
                .export(trace_request(SPANS as usize, seq))
                .await
                .unwrap_or_else(|s| panic!("request {seq} not acknowledged: {s:?}\n{}", collector.output()));
        }
        let acknowledged = REQUESTS * SPANS;
        // Most of the queue is still waiting for the slow sink when SIGTERM arrives.
        assert!(
            sink.spans.load(Ordering::SeqCst) < acknowledged,
            "the sink took everything before shutdown began; the test proves nothing"
        );

        let status = tokio::task::spawn_blocking(move || {
            let status = collector.terminate(Duration::from_secs(180));
            (status, collector.output())
        })
        .await
        .unwrap();
        let (status, output) = status;
        let status = status.unwrap_or_else(|| panic!("the collector did not exit after SIGTERM:\n{output}"));
        assert!(status.success(), "exit status {status}:\n{output}");
        assert_eq!(
            sink.spans.load(Ordering::SeqCst),
            acknowledged,
            "spans acknowledged by the collector vs spans the sink received before it exited:\n{output}"
        );
        assert!(!output.contains("dropped"), "{output}");
    });
}
