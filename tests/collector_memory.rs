//! The memory limit holds under overload, and nothing accepted is lost.
//!
//! A load generator pushes spans over gRPC far faster than a deliberately slow OTLP sink
//! (one request at a time, 100 ms each, and batches of 1000 spans: 10k spans/s) can take
//! them from the collector's `otlp` exporter. Spans travel as their protobuf bytes (about
//! 250 bytes each), so the sink must be this slow for the queue to reach the limit. With `memory_limiter.limit_mib: 64`, the collector must keep its resident
//! memory under 64 MiB + 10%, refuse the excess with `RESOURCE_EXHAUSTED` (which the
//! load generator counts), and, once the load stops, export every span it accepted.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::otlp_sink::{SlowSink, trace_request};
use common::*;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceServiceServer;

#[test]
fn memory_limit_holds_under_overload_and_accepted_equals_exported() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let sink = SlowSink::new(Duration::from_millis(100));
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
        let yaml = format!(
            "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:{grpc}\n\
             processors:\n  memory_limiter:\n    check_interval: 100ms\n    limit_mib: 64\n  batch:\n    send_batch_size: 1000\n    send_batch_max_size: 1000\n\
             exporters:\n  otlp:\n    endpoint: http://{sink_addr}\n    tls:\n      insecure: true\n    compression: none\n\
             service:\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{tel}\n  pipelines:\n    traces:\n      receivers: [otlp]\n      processors: [memory_limiter, batch]\n      exporters: [otlp]\n"
        );
        let cfg = write_file(dir.path(), "c.yaml", &yaml);
        let collector =
            spawn("collector", &burnwatch_bin(), &["collector", "--config", cfg.to_str().unwrap()], dir.path(), &[]);
        let endpoint = format!("http://127.0.0.1:{grpc}");
        let mut client = None;
        for _ in 0..100 {
            if let Ok(c) = TraceServiceClient::connect(endpoint.clone()).await {
                client = Some(c);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let client = client.unwrap_or_else(|| panic!("collector did not start:\n{}", collector.output()));

        // Load: 4 concurrent senders of 1000-span requests for 15 seconds.
        let accepted = Arc::new(AtomicU64::new(0));
        let refused = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let mut senders = Vec::new();
        for worker in 0..4u64 {
            let mut client = client.clone().max_decoding_message_size(64 << 20);
            let (accepted, refused, stop) = (accepted.clone(), refused.clone(), stop.clone());
            senders.push(tokio::spawn(async move {
                let mut seq = worker * 1_000_000;
                while !stop.load(Ordering::Relaxed) {
                    seq += 1;
                    match client.export(trace_request(1000, seq)).await {
                        Ok(_) => {
                            accepted.fetch_add(1000, Ordering::Relaxed);
                        }
                        Err(status) if status.code() == tonic::Code::ResourceExhausted => {
                            refused.fetch_add(1000, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        Err(status) => panic!("unexpected status {status:?}"),
                    }
                }
            }));
        }
        let mut peak_rss = 0u64;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(15) {
            peak_rss = peak_rss.max(collector.rss_bytes().unwrap_or(0));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.store(true, Ordering::Relaxed);
        for s in senders {
            s.await.unwrap();
        }
        let accepted = accepted.load(Ordering::SeqCst);
        let refused = refused.load(Ordering::SeqCst);
        eprintln!(
            "accepted {accepted} spans, refused {refused}, peak RSS {:.1} MiB",
            peak_rss as f64 / (1 << 20) as f64
        );
        let limit = 64.0 * 1.1 * (1 << 20) as f64;
        assert!((peak_rss as f64) < limit, "peak RSS {peak_rss} bytes is over 64 MiB + 10%:\n{}", collector.output());
        assert!(refused > 0, "the load never pushed the collector to refuse data");
        assert!(accepted > 0, "nothing was accepted");

        // Drain: every accepted span reaches the sink.
        let deadline = Instant::now() + Duration::from_secs(240);
        while sink.spans.load(Ordering::SeqCst) < accepted && Instant::now() < deadline {
            peak_rss = peak_rss.max(collector.rss_bytes().unwrap_or(0));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!((peak_rss as f64) < limit, "peak RSS {peak_rss} while draining");
        let exported = sink.spans.load(Ordering::SeqCst);
        assert_eq!(exported, accepted, "spans accepted by the collector vs spans the sink received");
        let (_, telemetry) = http_get(&format!("http://127.0.0.1:{tel}/metrics")).unwrap();
        assert_eq!(
            sample_value(&telemetry, "otelcol_receiver_accepted_spans_total", &[("transport", "grpc")]),
            Some(accepted as f64)
        );
        assert_eq!(
            sample_value(&telemetry, "otelcol_exporter_sent_spans_total", &[("exporter", "otlp")]),
            Some(accepted as f64)
        );
        assert_eq!(
            sample_value(&telemetry, "otelcol_receiver_refused_spans_total", &[("transport", "grpc")]),
            Some(refused as f64)
        );
    });
}

/// One OTLP/JSON traces body of about `target` bytes: spans with long attribute values,
/// so the body is large without being mostly structure.
fn large_json_body(target: usize, seq: usize) -> Vec<u8> {
    let mut body = String::with_capacity(target + 4096);
    body.push_str(r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"burst"}}]},"scopeSpans":[{"spans":["#);
    let mut i = 0usize;
    while body.len() < target {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&format!(
            r#"{{"traceId":"{:032x}","spanId":"{:016x}","name":"GET /api/checkout","kind":2,"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000050000000","attributes":[{{"key":"http.route","value":{{"stringValue":"/api/checkout/{i}"}}}},{{"key":"user_agent.original","value":{{"stringValue":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"}}}},{{"key":"http.response.status_code","value":{{"intValue":"200"}}}}]}}"#,
            seq * 10_000_000 + i + 1,
            i + 1
        ));
        i += 1;
    }
    body.push_str("]}]}]}");
    body.into_bytes()
}

/// Regression (issue #12, item 3): after a burst of large concurrent OTLP/JSON bodies the
/// collector's resident memory never came back below the `memory_limiter`'s soft limit
/// (the allocator keeps freed memory), so it refused every request from then on. Decoding
/// is now bounded, so the burst cannot take memory past the limit: once it is over, the
/// collector accepts data again, and the allocator (jemalloc, src/alloc.rs) gives what the
/// burst freed back to the OS (glibc's malloc kept RSS at the burst's peak).
#[test]
fn after_a_burst_of_large_json_bodies_the_collector_accepts_data_again() {
    const BODIES: usize = 8;
    const BODY_BYTES: usize = 16 << 20;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let (http, tel) = (free_port(), free_port());
        let yaml = format!(
            "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:{http}\n\
             processors:\n  memory_limiter:\n    check_interval: 200ms\n    limit_mib: 256\n\
             exporters:\n  debug:\n    verbosity: basic\n\
             service:\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{tel}\n  pipelines:\n    traces:\n      receivers: [otlp]\n      processors: [memory_limiter]\n      exporters: [debug]\n"
        );
        let cfg = write_file(dir.path(), "c.yaml", &yaml);
        let collector =
            spawn("collector", &burnwatch_bin(), &["collector", "--config", cfg.to_str().unwrap()], dir.path(), &[]);
        let url = format!("http://127.0.0.1:{http}/v1/traces");
        let client = reqwest::Client::new();
        let small = large_json_body(1, 999);
        let post = |body: Vec<u8>| {
            let client = client.clone();
            let url = url.clone();
            async move {
                client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            }
        };
        let started = Instant::now();
        while !matches!(post(small.clone()).await, Ok(200)) {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "collector did not start:\n{}",
                collector.output()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        let bodies: Vec<Vec<u8>> = (0..BODIES).map(|seq| large_json_body(BODY_BYTES, seq)).collect();
        let burst: Vec<_> = bodies.into_iter().map(|b| tokio::spawn(post(b))).collect();
        let mut peak_rss = 0u64;
        let mut statuses = Vec::new();
        for task in burst {
            while !task.is_finished() {
                peak_rss = peak_rss.max(collector.rss_bytes().unwrap_or(0));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            statuses.push(task.await.unwrap());
        }
        eprintln!(
            "burst statuses {statuses:?}, peak RSS {:.1} MiB",
            peak_rss as f64 / (1 << 20) as f64
        );
        for status in &statuses {
            assert!(matches!(status, Ok(200 | 429)), "{statuses:?}\n{}", collector.output());
        }
        // Decoding is bounded: eight 16 MiB JSON bodies at once took the process to about
        // 400 MiB, past the 256 MiB limit, before the limiter could refuse any of them.
        assert!(
            peak_rss < 256 << 20,
            "peak RSS {:.1} MiB during the burst is over memory_limiter.limit_mib (256):\n{}",
            peak_rss as f64 / (1 << 20) as f64,
            collector.output()
        );

        // Within a generous deadline (the limiter checks every 200 ms), a small request
        // is accepted again.
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last = None;
        while Instant::now() < deadline {
            last = Some(post(small.clone()).await);
            if matches!(last, Some(Ok(200))) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let rss = collector.rss_bytes().unwrap_or(0);
        eprintln!("RSS after the burst {:.1} MiB", rss as f64 / (1 << 20) as f64);
        assert!(
            matches!(last, Some(Ok(200))),
            "still refusing after the burst (last answer {last:?}, RSS {:.1} MiB, peak {:.1} MiB):\n{}",
            rss as f64 / (1 << 20) as f64,
            peak_rss as f64 / (1 << 20) as f64,
            collector.output()
        );

        // And the memory the burst took goes back to the OS (jemalloc's decay, 10 s, purged by
        // its background thread): resident memory falls well below the peak, so a later burst
        // starts from what is really in use.
        let back = Instant::now() + Duration::from_secs(120);
        let mut rss = collector.rss_bytes().unwrap_or(u64::MAX);
        while rss > peak_rss / 2 && Instant::now() < back {
            tokio::time::sleep(Duration::from_millis(500)).await;
            rss = collector.rss_bytes().unwrap_or(u64::MAX);
        }
        eprintln!("RSS settled at {:.1} MiB", rss as f64 / (1 << 20) as f64);
        assert!(
            rss <= peak_rss / 2,
            "the burst's memory was not given back: RSS {:.1} MiB, peak {:.1} MiB:\n{}",
            rss as f64 / (1 << 20) as f64,
            peak_rss as f64 / (1 << 20) as f64,
            collector.output()
        );
    });
}
