//! The client against a receiver run by the test (axum on port 0) whose answers the test
//! scripts.

use std::sync::Mutex as StdMutex;

use axum::Router;
use axum::body::Bytes as AxumBytes;
use axum::extract::State;
use axum::http::{HeaderMap as AxumHeaders, StatusCode as AxumStatus};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use super::*;
use crate::proto::{Label, Sample, WriteRequest};

/// A scripted answer: status, headers, body.
type Answer = (u16, Vec<(&'static str, &'static str)>, &'static str);

/// What the receiver saw and what it answers next.
#[derive(Default)]
struct Receiver {
    requests: StdMutex<Vec<(AxumHeaders, WriteRequest, Instant)>>,
    /// Answers to give, in order; once empty, 204.
    script: StdMutex<VecDeque<Answer>>,
}

async fn handle(State(rx): State<Arc<Receiver>>, headers: AxumHeaders, body: AxumBytes) -> Response {
    let next = rx.script.lock().unwrap().pop_front();
    if let Some((status, hdrs, msg)) = next {
        let mut resp = (AxumStatus::from_u16(status).unwrap(), msg.to_string()).into_response();
        for (k, v) in hdrs {
            resp.headers_mut().insert(k, v.parse().unwrap());
        }
        return resp;
    }
    let req = encode::decode(&body).unwrap();
    rx.requests.lock().unwrap().push((headers, req, Instant::now()));
    AxumStatus::NO_CONTENT.into_response()
}

async fn receiver(rx: Arc<Receiver>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().route("/api/v1/write", post(handle)).with_state(rx);
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/api/v1/write")
}

fn series(name: &str, value: f64, ts: i64) -> TimeSeries {
    TimeSeries {
        labels: vec![Label::new("__name__", name), Label::new("job", "t")],
        samples: vec![Sample { value, timestamp: ts }],
        ..Default::default()
    }
}

fn quick(url: String) -> ClientConfig {
    let mut c = ClientConfig::new(url);
    c.retry.initial_interval = Duration::from_millis(5);
    c.retry.max_interval = Duration::from_millis(20);
    c
}

/// Waits (up to a generous deadline) until `check` holds.
async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn sends_protocol_headers_auth_and_custom_headers() {
    let rx = Arc::new(Receiver::default());
    let mut config = quick(receiver(Arc::clone(&rx)).await);
    config.headers = vec![("X-Scope-OrgID".into(), "tenant-1".into())];
    config.authorization = Some(Authorization::Basic {
        username: "u".into(),
        password: "p".into(),
    });
    let client = Client::start(config, None).unwrap();
    client
        .enqueue(vec![series("up", 1.0, 1000)], Vec::new(), 1)
        .unwrap();
    until("one request", || rx.requests.lock().unwrap().len() == 1).await;
    let (headers, req, _) = rx.requests.lock().unwrap().remove(0);
    assert_eq!(headers["content-encoding"], "snappy");
    assert_eq!(headers["content-type"], "application/x-protobuf");
    assert_eq!(headers["x-prometheus-remote-write-version"], "0.1.0");
    assert!(headers["user-agent"].to_str().unwrap().starts_with("burnwatch/"));
    assert_eq!(headers["x-scope-orgid"], "tenant-1");
    assert_eq!(headers["authorization"], "Basic dTpw");
    assert_eq!(req.timeseries, vec![series("up", 1.0, 1000)]);
    let stats = client.stats();
    until("sent counted", || Stats::get(&stats.items_sent) == 1).await;
    assert_eq!(Stats::get(&stats.samples_sent), 1);
    assert_eq!(Stats::get(&stats.queued_bytes), 0);
}

#[tokio::test]
async fn server_errors_and_429_are_retried_honouring_retry_after() {
    let rx = Arc::new(Receiver::default());
    rx.script.lock().unwrap().extend([
        (503, vec![], "overloaded"),
        (429, vec![("retry-after", "1")], "slow down"),
        (500, vec![], "oops"),
    ]);
    let client = Client::start(quick(receiver(Arc::clone(&rx)).await), None).unwrap();
    let before = Instant::now();
    client
        .enqueue(vec![series("up", 1.0, 1000)], Vec::new(), 1)
        .unwrap();
    until("delivery after three failures", || {
        rx.requests.lock().unwrap().len() == 1
    })
    .await;
    // The 429 asked for a second; the backoff alone would have waited milliseconds.
    let arrived = rx.requests.lock().unwrap()[0].2;
    assert!(arrived - before >= Duration::from_secs(1));
    let stats = client.stats();
    until("sent counted", || Stats::get(&stats.samples_sent) == 1).await;
    assert_eq!(Stats::get(&stats.samples_retried), 3);
    assert_eq!(Stats::get(&stats.samples_failed), 0);
}

#[tokio::test]
async fn client_errors_are_dropped_counted_and_not_retried() {
    let rx = Arc::new(Receiver::default());
    rx.script
        .lock()
        .unwrap()
        .push_back((400, vec![], "out of order sample"));
    let outcomes = Arc::new(StdMutex::new(Vec::new()));
    let seen = Arc::clone(&outcomes);
    let observer: Observer = Arc::new(move |o| seen.lock().unwrap().push(o));
    let client = Client::start(quick(receiver(Arc::clone(&rx)).await), Some(observer)).unwrap();
    client
        .enqueue(vec![series("a", 1.0, 1000)], Vec::new(), 7)
        .unwrap();
    let stats = client.stats();
    until("the failure counted", || Stats::get(&stats.items_failed) == 7).await;
    // The next request is delivered: the refused one was not retried in front of it.
    client
        .enqueue(vec![series("a", 2.0, 2000)], Vec::new(), 1)
        .unwrap();
    until("the next delivery", || Stats::get(&stats.items_sent) == 1).await;
    let got = rx.requests.lock().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1.timeseries[0].samples[0].value, 2.0);
    assert_eq!(Stats::get(&stats.samples_retried), 0);
    let outcomes = outcomes.lock().unwrap();
    assert_eq!(outcomes[0].kind, OutcomeKind::Failed);
    assert_eq!(outcomes[0].items, 7);
}

#[tokio::test]
async fn a_full_queue_refuses_and_counts() {
    // Nothing listens on port 9 of an unroutable test address: every attempt fails and
    // the data stays queued.
    let mut config = quick("http://127.0.0.1:9/api/v1/write".into());
    config.retry.max_elapsed_time = None;
    config.shards = 1;
    let one = encode::encode(&WriteRequest {
        timeseries: vec![series("m", 1.0, 1)],
        metadata: vec![],
    })
    .body
    .len();
    config.queue_capacity_bytes = one * 2;
    let client = Client::start(config, None).unwrap();
    client.enqueue(vec![series("m", 1.0, 1)], Vec::new(), 1).unwrap();
    client.enqueue(vec![series("m", 2.0, 2)], Vec::new(), 1).unwrap();
    let err = client
        .enqueue(vec![series("m", 3.0, 3)], Vec::new(), 5)
        .unwrap_err();
    assert!(matches!(err, EnqueueError::QueueFull { .. }), "{err}");
    assert!(err.is_retryable());
    let stats = client.stats();
    assert_eq!(Stats::get(&stats.items_dropped), 5);
    let report = client.shutdown(Instant::now() + Duration::from_millis(50)).await;
    assert_eq!(
        report,
        ShutdownReport {
            kept_in_wal: 0,
            dropped: 2
        }
    );
    assert_eq!(Stats::get(&stats.items_dropped), 7);
    assert!(matches!(
        client.enqueue(vec![series("m", 4.0, 4)], Vec::new(), 1),
        Err(EnqueueError::Closed)
    ));
    // A refusal after shutdown is counted like the others (once).
    assert_eq!(Stats::get(&stats.items_dropped), 8);
    assert_eq!(Stats::get(&stats.samples_dropped), 4);
}

#[tokio::test]
async fn samples_of_one_series_arrive_in_order_across_shards() {
    let rx = Arc::new(Receiver::default());
    let mut config = quick(receiver(Arc::clone(&rx)).await);
    config.shards = 4;
    let client = Client::start(config, None).unwrap();
    for t in 0..50 {
        let batch = (0..8).map(|s| series(&format!("m{s}"), t as f64, t)).collect();
        client.enqueue(batch, Vec::new(), 8).unwrap();
    }
    let stats = client.stats();
    until("all delivered", || Stats::get(&stats.samples_sent) == 400).await;
    let mut last: std::collections::HashMap<String, i64> = Default::default();
    for (_, req, _) in rx.requests.lock().unwrap().iter() {
        for ts in &req.timeseries {
            let name = ts.labels[0].value.clone();
            let t = ts.samples[0].timestamp;
            let prev = last.insert(name.clone(), t);
            assert!(prev.is_none_or(|p| p < t), "{name}: {t} after {prev:?}");
        }
    }
}

#[tokio::test]
async fn the_wal_keeps_undelivered_requests_for_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let wal = WalConfig {
        directory: dir.path().join("wal"),
        buffer_size: 100,
        truncate_frequency: Duration::from_millis(20),
    };
    let mut down = quick("http://127.0.0.1:9/api/v1/write".into());
    down.wal = Some(wal.clone());
    down.retry.max_elapsed_time = None;
    let client = Client::start(down, None).unwrap();
    client
        .enqueue(
            vec![series("a", 1.0, 1000), series("b", 2.0, 1000)],
            Vec::new(),
            2,
        )
        .unwrap();
    let report = client.shutdown(Instant::now() + Duration::from_millis(100)).await;
    assert!(report.kept_in_wal >= 1);
    assert_eq!(report.dropped, 0);
    drop(client);

    let rx = Arc::new(Receiver::default());
    let mut up = quick(receiver(Arc::clone(&rx)).await);
    up.wal = Some(wal.clone());
    let client = Client::start(up, None).unwrap();
    let stats = client.stats();
    until("the WAL replayed", || Stats::get(&stats.items_sent) == 2).await;
    let mut names: Vec<String> = rx
        .requests
        .lock()
        .unwrap()
        .iter()
        .flat_map(|(_, r, _)| r.timeseries.iter().map(|t| t.labels[0].value.clone()))
        .collect();
    names.sort();
    assert_eq!(names, ["a", "b"]);
    client.shutdown(Instant::now() + Duration::from_secs(10)).await;
    drop(client);
    let left: Vec<_> = std::fs::read_dir(&wal.directory)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "delivered requests are deleted: {left:?}");
}

#[test]
fn bad_settings_are_refused_naming_them() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let err = Client::start(ClientConfig::new("localhost:9090/x"), None).unwrap_err();
        assert!(err.to_string().starts_with("url:"), "{err}");
        let err = Client::start(ClientConfig::new("https://localhost/x"), None).unwrap_err();
        assert!(err.to_string().contains("no TLS client configuration"), "{err}");
        let mut c = ClientConfig::new("http://localhost/x");
        c.headers = vec![("Content-Type".into(), "text/plain".into())];
        let err = Client::start(c, None).unwrap_err();
        assert!(err.to_string().starts_with("headers.Content-Type:"), "{err}");
        let mut c = ClientConfig::new("http://localhost/x");
        c.headers = vec![("X-A".into(), "bad\nvalue".into())];
        assert!(Client::start(c, None).is_err());
    });
}

#[test]
fn retry_after_takes_seconds_or_a_date() {
    assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
    assert_eq!(
        parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
        Some(Duration::ZERO)
    );
    assert_eq!(parse_retry_after("soon"), None);
}

#[test]
fn items_spread_over_requests_add_up() {
    let b = |samples| {
        (
            0,
            EncodedBatch {
                body: bytes::Bytes::new(),
                samples,
                histograms: 0,
                exemplars: 0,
                metadata: 0,
                raw_bytes: 0,
            },
        )
    };
    let w = spread(10, &[b(1), b(1), b(1)]);
    assert_eq!(w.iter().sum::<u64>(), 10);
    assert_eq!(spread(5, &[b(0)]), vec![5]);
}

#[tokio::test]
async fn shutdown_sends_everything_queued_before_returning() {
    // The receiver refuses the first attempts, so data is still queued when shutdown
    // starts; with time left before the deadline every request is delivered.
    let rx = Arc::new(Receiver::default());
    rx.script.lock().unwrap().extend([
        (503, vec![], "busy"),
        (503, vec![], "busy"),
        (503, vec![], "busy"),
    ]);
    let mut config = quick(receiver(Arc::clone(&rx)).await);
    config.shards = 2;
    let client = Client::start(config, None).unwrap();
    for t in 0..20 {
        client
            .enqueue(vec![series("m", t as f64, t)], Vec::new(), 1)
            .unwrap();
    }
    let report = client.shutdown(Instant::now() + Duration::from_secs(60)).await;
    assert_eq!(report, ShutdownReport::default());
    let stats = client.stats();
    assert_eq!(Stats::get(&stats.items_sent), 20);
    assert_eq!(Stats::get(&stats.queued_requests), 0);
    let got: Vec<i64> = rx
        .requests
        .lock()
        .unwrap()
        .iter()
        .flat_map(|(_, r, _)| r.timeseries.iter().map(|t| t.samples[0].timestamp))
        .collect();
    assert_eq!(got, (0..20).collect::<Vec<i64>>(), "one series stays in order");
}
