//! The notifier against an Alertmanager stand-in served by axum on a free port: what is posted,
//! how it is batched, queued, dropped, counted and authenticated.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use tokio::sync::Semaphore;

use super::*;

/// One request the stand-in received.
#[derive(Clone, Debug)]
struct Received {
    path: String,
    headers: HeaderMap,
    alerts: Vec<serde_json::Value>,
}

#[derive(Clone)]
struct Stub {
    received: Arc<Mutex<Vec<Received>>>,
    status: Arc<AtomicU16>,
    /// When set, each request waits for a permit before answering.
    gate: Option<Arc<Semaphore>>,
    /// Requests that reached the handler (before the gate).
    arrived: Arc<AtomicU16>,
}

impl Stub {
    fn new(gated: bool) -> Stub {
        Stub {
            received: Arc::default(),
            status: Arc::new(AtomicU16::new(200)),
            gate: gated.then(|| Arc::new(Semaphore::new(0))),
            arrived: Arc::default(),
        }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    fn alert_names(&self) -> Vec<Vec<String>> {
        self.received()
            .iter()
            .map(|r| {
                r.alerts
                    .iter()
                    .map(|a| a["labels"]["alertname"].as_str().unwrap().to_string())
                    .collect()
            })
            .collect()
    }
}

async fn handler(
    State(stub): State<Stub>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, String) {
    stub.arrived.fetch_add(1, Ordering::SeqCst);
    if let Some(gate) = &stub.gate {
        gate.acquire().await.unwrap().forget();
    }
    let status = StatusCode::from_u16(stub.status.load(Ordering::SeqCst)).unwrap();
    if status.is_success() {
        let alerts: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
        stub.received.lock().unwrap().push(Received {
            path: uri.path().to_string(),
            headers,
            alerts,
        });
        (status, String::new())
    } else {
        (status, "bad alert: label name \"\" is empty".to_string())
    }
}

/// Serves the stub on 127.0.0.1:0 and returns its `host:port`.
async fn serve(stub: Stub) -> String {
    let app = axum::Router::new()
        .route("/{*path}", post(handler))
        .with_state(stub);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr.to_string()
}

/// Polls `check` every 10 ms for up to 30 s (a generous deadline, not a timing assumption).
async fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn alert(name: &str) -> Alert {
    Alert {
        labels: BTreeMap::from([("alertname".to_string(), name.to_string())]),
        annotations: BTreeMap::from([("summary".to_string(), format!("{name} is burning"))]),
        starts_at_ms: 1_700_000_000_000,
        ends_at_ms: 1_700_000_240_000,
        generator_url: "http://burnwatch:9090/graph?g0.expr=up".to_string(),
    }
}

fn target(addr: &str) -> AlertmanagerConfig {
    AlertmanagerConfig {
        targets: vec![addr.to_string()],
        ..AlertmanagerConfig::default()
    }
}

fn am_metrics(notifier: &Notifier, i: usize) -> AlertmanagerMetrics {
    notifier.metrics().alertmanagers[i].clone()
}

#[tokio::test]
async fn alerts_are_posted_to_api_v2_with_labels_annotations_and_times() {
    let stub = Stub::new(false);
    let addr = serve(stub.clone()).await;
    let notifier = Notifier::new(NotifierOptions::default(), vec![target(&addr)]).unwrap();
    notifier.send(vec![alert("SloBurn")]);
    wait_until("the alert", || !stub.received().is_empty()).await;
    let got = &stub.received()[0];
    assert_eq!(got.path, "/api/v2/alerts");
    assert_eq!(got.headers["content-type"], "application/json");
    assert!(
        got.headers["user-agent"]
            .to_str()
            .unwrap()
            .starts_with("burnwatch/")
    );
    let a = &got.alerts[0];
    assert_eq!(a["labels"], serde_json::json!({"alertname": "SloBurn"}));
    assert_eq!(a["annotations"]["summary"], "SloBurn is burning");
    assert_eq!(a["startsAt"], "2023-11-14T22:13:20.000Z");
    assert_eq!(a["endsAt"], "2023-11-14T22:17:20.000Z");
    assert_eq!(a["generatorURL"], "http://burnwatch:9090/graph?g0.expr=up");
    wait_until("the sent counter", || am_metrics(&notifier, 0).sent == 1).await;
    let m = am_metrics(&notifier, 0);
    assert_eq!((m.errors, m.dropped, m.latency_buckets[4]), (0, 0, 1));
    notifier.stop().await;
}

#[tokio::test]
async fn batches_hold_at_most_max_batch_size_alerts() {
    let stub = Stub::new(true);
    let addr = serve(stub.clone()).await;
    let options = NotifierOptions {
        max_batch_size: 4,
        ..NotifierOptions::default()
    };
    let notifier = Notifier::new(options, vec![target(&addr)]).unwrap();
    // The first alert goes out alone and is held at the stand-in while ten more queue up.
    notifier.send(vec![alert("first")]);
    wait_until("the first request", || stub.arrived.load(Ordering::SeqCst) == 1).await;
    notifier.send((0..10).map(|i| alert(&format!("a{i}"))).collect());
    assert_eq!(notifier.metrics().alertmanagers[0].queue_length, 10);
    stub.gate.as_ref().unwrap().add_permits(100);
    wait_until("every alert", || am_metrics(&notifier, 0).sent == 11).await;
    let sizes: Vec<usize> = stub.alert_names().iter().map(Vec::len).collect();
    assert_eq!(sizes, [1, 4, 4, 2]);
    assert_eq!(
        stub.alert_names()[3],
        ["a8", "a9"],
        "queued alerts are sent in order"
    );
    notifier.stop().await;
}

#[tokio::test]
async fn a_full_queue_drops_its_oldest_alerts_and_counts_them() {
    let stub = Stub::new(true);
    let addr = serve(stub.clone()).await;
    let options = NotifierOptions {
        queue_capacity: 3,
        ..NotifierOptions::default()
    };
    let notifier = Notifier::new(options, vec![target(&addr)]).unwrap();
    notifier.send(vec![alert("in-flight")]);
    wait_until("the first request", || stub.arrived.load(Ordering::SeqCst) == 1).await;
    // Five into a queue of three: the two oldest go.
    notifier.send((1..=5).map(|i| alert(&format!("a{i}"))).collect());
    assert_eq!(
        (
            am_metrics(&notifier, 0).dropped,
            am_metrics(&notifier, 0).queue_length
        ),
        (2, 3)
    );
    // A batch larger than the queue keeps its newest three, and those push out the whole queue.
    notifier.send((1..=4).map(|i| alert(&format!("b{i}"))).collect());
    assert_eq!(
        (
            am_metrics(&notifier, 0).dropped,
            am_metrics(&notifier, 0).queue_length
        ),
        (6, 3)
    );
    stub.gate.as_ref().unwrap().add_permits(100);
    wait_until("the queued alerts", || am_metrics(&notifier, 0).sent == 4).await;
    assert_eq!(stub.alert_names(), [vec!["in-flight"], vec!["b2", "b3", "b4"]]);
    let mut text = String::new();
    notifier.metrics().write_exposition(&mut text);
    let url = format!("http://{addr}/api/v2/alerts");
    assert!(
        text.contains(&format!(
            "prometheus_notifications_dropped_total{{alertmanager=\"{url}\"}} 6\n"
        )),
        "{text}"
    );
    assert!(
        text.contains("prometheus_notifications_queue_capacity 3\n"),
        "{text}"
    );
    notifier.stop().await;
}

#[tokio::test]
async fn a_refused_batch_is_counted_as_errors_and_dropped_not_retried() {
    let stub = Stub::new(false);
    stub.status.store(400, Ordering::SeqCst);
    let addr = serve(stub.clone()).await;
    // A second Alertmanager that is down: its failures do not stop the first from being tried.
    let down = format!("127.0.0.1:{}", closed_port().await);
    let am = AlertmanagerConfig {
        targets: vec![addr.clone(), down],
        ..AlertmanagerConfig::default()
    };
    let notifier = Notifier::new(NotifierOptions::default(), vec![am]).unwrap();
    notifier.send(vec![alert("x"), alert("y")]);
    wait_until("both failures", || {
        let m = notifier.metrics();
        m.alertmanagers.iter().all(|a| a.errors == 2)
    })
    .await;
    for m in notifier.metrics().alertmanagers {
        assert_eq!(
            (m.sent, m.errors, m.dropped, m.queue_length),
            (0, 2, 2, 0),
            "{m:?}"
        );
    }
    assert_eq!(notifier.metrics().alertmanagers_discovered, 2);
    // Once the Alertmanager accepts again, the next send (the rule manager's resend) arrives.
    stub.status.store(200, Ordering::SeqCst);
    notifier.send(vec![alert("x")]);
    wait_until("the resent alert", || am_metrics(&notifier, 0).sent == 1).await;
    assert_eq!(stub.alert_names(), [vec!["x"]]);
    notifier.stop().await;
}

/// A port nothing listens on: bound, then released.
async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn an_alertmanager_that_does_not_answer_times_out() {
    let stub = Stub::new(true); // never given a permit: the request hangs
    let addr = serve(stub.clone()).await;
    let am = AlertmanagerConfig {
        timeout: Duration::from_millis(200),
        ..target(&addr)
    };
    let notifier = Notifier::new(NotifierOptions::default(), vec![am]).unwrap();
    notifier.send(vec![alert("x")]);
    wait_until("the timeout", || am_metrics(&notifier, 0).errors == 1).await;
    assert_eq!(am_metrics(&notifier, 0).dropped, 1);
    notifier.stop().await;
}

#[tokio::test]
async fn external_labels_and_relabelling_are_applied_per_set() {
    let stub_a = Stub::new(false);
    let stub_b = Stub::new(false);
    let a = serve(stub_a.clone()).await;
    let b = serve(stub_b.clone()).await;
    let options = NotifierOptions {
        external_labels: BTreeMap::from([
            ("cluster".to_string(), "eu-1".to_string()),
            ("team".to_string(), "ops".to_string()),
        ]),
        // Global: drop alerts named "noise".
        alert_relabel: Some(Arc::new(|labels: &mut BTreeMap<String, String>| {
            labels.get("alertname").is_none_or(|n| n != "noise")
        })),
        ..NotifierOptions::default()
    };
    let set_b = AlertmanagerConfig {
        // Set b only: rewrite the team label.
        alert_relabel: Some(Arc::new(|labels: &mut BTreeMap<String, String>| {
            labels.insert("team".to_string(), "sre".to_string());
            true
        })),
        ..target(&b)
    };
    let notifier = Notifier::new(options, vec![target(&a), set_b]).unwrap();
    let mut own_team = alert("SloBurn");
    own_team.labels.insert("team".to_string(), "payments".to_string());
    notifier.send(vec![own_team, alert("noise"), alert("Other")]);
    wait_until("both sets", || {
        !stub_a.received().is_empty() && !stub_b.received().is_empty()
    })
    .await;
    let labels = |stub: &Stub| -> Vec<serde_json::Value> {
        stub.received()[0]
            .alerts
            .iter()
            .map(|a| a["labels"].clone())
            .collect()
    };
    assert_eq!(
        labels(&stub_a),
        [
            serde_json::json!({"alertname": "SloBurn", "cluster": "eu-1", "team": "payments"}),
            serde_json::json!({"alertname": "Other", "cluster": "eu-1", "team": "ops"}),
        ]
    );
    assert_eq!(
        labels(&stub_b),
        [
            serde_json::json!({"alertname": "SloBurn", "cluster": "eu-1", "team": "sre"}),
            serde_json::json!({"alertname": "Other", "cluster": "eu-1", "team": "sre"}),
        ]
    );
    notifier.stop().await;
}

#[test]
fn alert_relabel_configs_run_through_the_relabel_module() {
    let steps: Vec<crate::relabel::Relabeler> = [
        "source_labels: [severity]\nregex: info\naction: drop\n",
        "target_label: team\nreplacement: sre\n",
    ]
    .iter()
    .map(|y| {
        serde_norway::from_str::<crate::relabel::RelabelConfig>(y)
            .unwrap()
            .compile()
            .unwrap()
    })
    .collect();
    let hook = relabel_hook(steps);
    let mut page = BTreeMap::from([
        ("alertname".to_string(), "SloBurn".to_string()),
        ("severity".to_string(), "page".to_string()),
    ]);
    assert!(hook(&mut page));
    assert_eq!(page.get("team").map(String::as_str), Some("sre"));
    let mut info = BTreeMap::from([("severity".to_string(), "info".to_string())]);
    assert!(!hook(&mut info), "severity=info is dropped");
}

#[tokio::test]
async fn basic_auth_and_bearer_credentials_are_sent() {
    let stub_a = Stub::new(false);
    let stub_b = Stub::new(false);
    let a = serve(stub_a.clone()).await;
    let b = serve(stub_b.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "s3cret-token\n").unwrap();
    let basic = AlertmanagerConfig {
        auth: Some(Auth::Basic {
            username: "prom".to_string(),
            password: Secret::Inline("pw".to_string()),
        }),
        path_prefix: "/am/".to_string(),
        ..target(&a)
    };
    let bearer = AlertmanagerConfig {
        auth: Some(Auth::Authorization {
            kind: "Bearer".to_string(),
            credentials: Secret::File(token_file.clone()),
        }),
        ..target(&b)
    };
    let notifier = Notifier::new(NotifierOptions::default(), vec![basic, bearer]).unwrap();
    notifier.send(vec![alert("x")]);
    wait_until("both requests", || {
        !stub_a.received().is_empty() && !stub_b.received().is_empty()
    })
    .await;
    let got_a = &stub_a.received()[0];
    assert_eq!(got_a.path, "/am/api/v2/alerts");
    assert_eq!(got_a.headers["authorization"], "Basic cHJvbTpwdw==");
    assert_eq!(
        stub_b.received()[0].headers["authorization"],
        "Bearer s3cret-token"
    );
    // The credentials file is read on each send, so a rotated token is picked up.
    std::fs::write(&token_file, "rotated").unwrap();
    notifier.send(vec![alert("y")]);
    wait_until("the second request", || stub_b.received().len() == 2).await;
    assert_eq!(stub_b.received()[1].headers["authorization"], "Bearer rotated");
    // A credentials file that is gone fails the send with its path, and is counted.
    std::fs::remove_file(&token_file).unwrap();
    notifier.send(vec![alert("z")]);
    wait_until("the failed send", || am_metrics(&notifier, 1).errors == 1).await;
    notifier.stop().await;
}

#[tokio::test]
async fn stop_drains_the_queue_or_drops_and_counts_it() {
    for drain in [true, false] {
        let stub = Stub::new(true);
        let addr = serve(stub.clone()).await;
        let options = NotifierOptions {
            drain_on_shutdown: drain,
            ..NotifierOptions::default()
        };
        let notifier = Notifier::new(options, vec![target(&addr)]).unwrap();
        notifier.send(vec![alert("in-flight")]);
        wait_until("the first request", || stub.arrived.load(Ordering::SeqCst) == 1).await;
        notifier.send(vec![alert("q1"), alert("q2")]);
        // Start stopping (the first poll cancels the loops), then let the held request finish.
        let stopping = notifier.stop();
        tokio::pin!(stopping);
        tokio::select! {
            biased;
            () = &mut stopping => panic!("stop returned while a request was held"),
            () = std::future::ready(()) => {}
        }
        stub.gate.as_ref().unwrap().add_permits(100);
        stopping.await;
        let m = am_metrics(&notifier, 0);
        if drain {
            assert_eq!(stub.alert_names(), [vec!["in-flight"], vec!["q1", "q2"]]);
            assert_eq!((m.sent, m.dropped), (3, 0));
        } else {
            assert_eq!(stub.alert_names(), [vec!["in-flight"]]);
            assert_eq!((m.sent, m.dropped), (1, 2));
        }
        // A stopped notifier takes no more alerts.
        notifier.send(vec![alert("late")]);
        assert_eq!(am_metrics(&notifier, 0).queue_length, 0);
    }
}

#[tokio::test]
async fn a_reload_keeps_the_queue_of_an_alertmanager_still_configured() {
    let (a, b, c) = (Stub::new(true), Stub::new(false), Stub::new(false));
    let (addr_a, addr_b, addr_c) = (
        serve(a.clone()).await,
        serve(b.clone()).await,
        serve(c.clone()).await,
    );
    let first = AlertmanagerConfig {
        targets: vec![addr_a.clone(), addr_b.clone()],
        ..AlertmanagerConfig::default()
    };
    let notifier = Notifier::new(NotifierOptions::default(), vec![first]).unwrap();
    notifier.send(vec![alert("x")]);
    wait_until("x at a", || a.arrived.load(Ordering::SeqCst) == 1).await;
    notifier.send(vec![alert("y"), alert("z")]);
    assert_eq!(am_metrics(&notifier, 0).queue_length, 2);

    // Reload: a stays (with a token now), b goes, c comes, and the external labels change.
    let second = AlertmanagerConfig {
        targets: vec![addr_a.clone(), addr_c.clone()],
        auth: Some(Auth::Authorization {
            kind: "Bearer".to_string(),
            credentials: Secret::Inline("t2".to_string()),
        }),
        ..AlertmanagerConfig::default()
    };
    let labels = BTreeMap::from([("cluster".to_string(), "eu-2".to_string())]);
    notifier.apply_config(labels.clone(), None, vec![second]).unwrap();
    let urls = notifier.alertmanagers();
    assert_eq!(
        urls,
        [
            format!("http://{addr_a}/api/v2/alerts"),
            format!("http://{addr_c}/api/v2/alerts")
        ]
    );
    assert_eq!(
        am_metrics(&notifier, 0).queue_length,
        2,
        "a's queue survives the reload"
    );

    a.gate.as_ref().unwrap().add_permits(100);
    wait_until("a's queue", || am_metrics(&notifier, 0).sent == 3).await;
    assert_eq!(a.alert_names(), [vec!["x"], vec!["y", "z"]]);
    assert_eq!(
        a.received()[1].headers["authorization"],
        "Bearer t2",
        "the next batch uses the new settings"
    );

    notifier.send(vec![alert("w")]);
    wait_until("w at a and c", || {
        a.received().len() == 3 && c.received().len() == 1
    })
    .await;
    assert_eq!(c.received()[0].alerts[0]["labels"]["cluster"], "eu-2");
    // b sent (or, stopped by the reload, drained) what was queued before it; nothing after.
    wait_until("b's queue", || b.received().len() == 2).await;
    assert_eq!(
        b.alert_names(),
        [vec!["x"], vec!["y", "z"]],
        "b no longer gets alerts"
    );

    // A bad configuration is refused whole; the running one stays.
    let bad = AlertmanagerConfig {
        targets: vec!["http://nope".to_string()],
        ..AlertmanagerConfig::default()
    };
    let err = notifier
        .apply_config(labels, None, vec![bad])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("alerting.alertmanagers[0].static_configs[0].targets[0]"),
        "{err}"
    );
    assert_eq!(notifier.alertmanagers(), urls);
    notifier.stop().await;
}

#[test]
fn urls_are_parsed_and_joined_as_prometheus_joins_them() {
    let am = AlertmanagerConfig::from_url("http://am:9093").unwrap();
    assert_eq!(am.post_url("am:9093"), "http://am:9093/api/v2/alerts");
    let am = AlertmanagerConfig::from_url("https://u:p@h:443/prefix/").unwrap();
    assert_eq!((am.scheme, am.path_prefix.as_str()), (Scheme::Https, "/prefix"));
    assert_eq!(am.post_url("h:443"), "https://h:443/prefix/api/v2/alerts");
    assert!(matches!(am.auth, Some(Auth::Basic { ref username, .. }) if username == "u"));
    let prefixed = AlertmanagerConfig {
        path_prefix: "a//b/./".to_string(),
        ..AlertmanagerConfig::default()
    };
    assert_eq!(prefixed.post_url("x:1"), "http://x:1/a/b/api/v2/alerts");
    for bad in ["am:9093", "ftp://am", "http://", "http://am:9093/?x=1"] {
        let err = AlertmanagerConfig::from_url(bad).unwrap_err().to_string();
        assert!(err.starts_with("alertmanager URL: "), "{bad}: {err}");
    }
}

#[tokio::test]
async fn bad_configs_are_refused_naming_the_key() {
    let cases: Vec<(AlertmanagerConfig, &str)> = vec![
        (
            AlertmanagerConfig {
                targets: vec!["http://am:9093".to_string()],
                ..AlertmanagerConfig::default()
            },
            "alerting.alertmanagers[0].static_configs[0].targets[0]: \"http://am:9093\" is not a valid host:port",
        ),
        (
            AlertmanagerConfig {
                timeout: Duration::ZERO,
                ..target("am:9093")
            },
            "alerting.alertmanagers[0].timeout: must be greater than 0",
        ),
        (
            AlertmanagerConfig {
                scheme: Scheme::Https,
                tls: TlsConfig {
                    ca_file: Some("/nonexistent/ca.pem".into()),
                    ..TlsConfig::default()
                },
                ..target("am:9093")
            },
            "alerting.alertmanagers[0].tls_config.ca_file: cannot read /nonexistent/ca.pem",
        ),
        (
            AlertmanagerConfig {
                scheme: Scheme::Https,
                tls: TlsConfig {
                    cert_file: Some("/nonexistent/c.pem".into()),
                    ..TlsConfig::default()
                },
                ..target("am:9093")
            },
            "alerting.alertmanagers[0].tls_config: cert_file and key_file must be given together",
        ),
        (
            AlertmanagerConfig {
                auth: Some(Auth::Authorization {
                    kind: "Bear er".to_string(),
                    credentials: Secret::Inline("t".to_string()),
                }),
                ..target("am:9093")
            },
            "alerting.alertmanagers[0].authorization.type: \"Bear er\" is not a single word",
        ),
    ];
    for (config, want) in cases {
        let err = Notifier::new(NotifierOptions::default(), vec![config])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(want), "want {want:?}, got {err:?}");
    }
    let zero = NotifierOptions {
        queue_capacity: 0,
        ..NotifierOptions::default()
    };
    let err = Notifier::new(zero, vec![]).unwrap_err().to_string();
    assert_eq!(
        err,
        "--alertmanager.notification-queue-capacity: must be at least 1"
    );
    // HTTPS with insecure_skip_verify builds without any CA file.
    let insecure = AlertmanagerConfig {
        scheme: Scheme::Https,
        tls: TlsConfig {
            insecure_skip_verify: true,
            ..TlsConfig::default()
        },
        ..target("am:9093")
    };
    assert!(Notifier::new(NotifierOptions::default(), vec![insecure]).is_ok());
}

#[test]
fn new_outside_a_runtime_is_an_error_not_a_panic() {
    let err = Notifier::new(NotifierOptions::default(), vec![]).unwrap_err();
    assert!(matches!(err, NotifierError::NoRuntime));
}
