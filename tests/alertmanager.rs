//! The notifier (`burnwatch_slo::notifier`) against the real Alertmanager (Debian's
//! `prometheus-alertmanager`), routing to a webhook receiver this test runs: alerts arrive with
//! their labels and annotations, a resolved alert arrives resolved, an Alertmanager that is down
//! costs counted errors (no panic) and the next resend arrives once it is back, and HTTPS with
//! basic auth works against Alertmanager's own `--web.config.file`; and the SLO page alert of a fast
//! burn, evaluated by the rule manager from `slo generate`'s rules, arrives and then resolves.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use burnwatch_slo::alert::Alert;
use burnwatch_slo::notifier::{
    AlertmanagerConfig, Auth, Notifier, NotifierOptions, Scheme, Secret, TlsConfig,
};
use common::{Proc, free_port, http_get, require_tool, spawn, write_file};

const DEADLINE: Duration = Duration::from_secs(60);

/// The webhook payloads Alertmanager posted, as JSON.
#[derive(Clone, Default)]
struct Webhook(Arc<Mutex<Vec<serde_json::Value>>>);

impl Webhook {
    /// Serves `POST`s on a free port in background threads; returns the receiver URL.
    fn start(&self) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let store = self.0.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let store = store.clone();
                std::thread::spawn(move || serve_connection(stream, &store));
            }
        });
        url
    }

    /// Every alert of every notification, with the notification's status.
    fn alerts(&self) -> Vec<serde_json::Value> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .flat_map(|n| n["alerts"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    /// The first alert named `name` in state `status` (`firing` / `resolved`).
    fn find(&self, name: &str, status: &str) -> Option<serde_json::Value> {
        self.alerts()
            .into_iter()
            .find(|a| a["labels"]["alertname"] == name && a["status"] == status)
    }
}

/// A keep-alive HTTP/1.1 connection: each request's JSON body is stored and answered 200.
fn serve_connection(stream: std::net::TcpStream, store: &Mutex<Vec<serde_json::Value>>) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((k, v)) = header.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        if let Ok(json) = serde_json::from_slice(&body) {
            store.lock().unwrap().push(json);
        }
        if writer
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .is_err()
        {
            return;
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// The page alert `slo generate` writes for examples/slos/checkout-sloth.yaml's availability SLO,
/// as the rule manager hands it over while firing (valid for four resend delays).
fn page_alert(name: &str) -> Alert {
    let labels = [
        ("alertname", name),
        ("category", "availability"),
        ("severity", "critical"),
        ("sloth_service", "checkout"),
        ("sloth_slo", "requests-availability"),
        ("sloth_severity", "page"),
    ];
    Alert {
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        annotations: BTreeMap::from([
            (
                "summary".to_string(),
                "Checkout is burning its availability error budget.".to_string(),
            ),
            (
                "title".to_string(),
                "(page) checkout requests-availability SLO error budget burn rate is too fast.".to_string(),
            ),
        ]),
        starts_at_ms: now_ms() - 60_000,
        ends_at_ms: now_ms() + 4 * 60_000,
        generator_url: "http://burnwatch:9090/graph?g0.expr=slo%3Asli_error%3Aratio_rate5m".to_string(),
    }
}

/// An Alertmanager config routing everything to `webhook` quickly, resolutions included.
fn am_config(webhook: &str) -> String {
    format!(
        "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 100ms\n  group_interval: 500ms\n  \
         repeat_interval: 1h\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: {webhook}\n        \
         send_resolved: true\n"
    )
}

/// Starts Alertmanager on `port` (HA clustering off) and waits until `/-/ready` answers.
fn start_alertmanager(am: &Path, dir: &Path, port: u16, extra: &[&str]) -> Proc {
    let config = dir.join("alertmanager.yml");
    let storage = dir.join("am-data");
    let args = [
        format!("--config.file={}", config.display()),
        format!("--storage.path={}", storage.display()),
        format!("--web.listen-address=127.0.0.1:{port}"),
        "--cluster.listen-address=".to_string(),
    ];
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    args.extend_from_slice(extra);
    spawn("alertmanager", am, &args, dir, &[])
}

fn wait_ready(proc: &mut Proc, port: u16) {
    let ready = common::wait_for(DEADLINE, || {
        if let Ok(Some(status)) = proc.child.try_wait() {
            panic!("alertmanager exited ({status}):\n{}", proc.output());
        }
        http_get(&format!("http://127.0.0.1:{port}/-/ready")).filter(|(s, _)| *s == 200)
    });
    assert!(ready.is_some(), "alertmanager not ready:\n{}", proc.output());
}

fn notifier_for(port: u16) -> Notifier {
    let am = AlertmanagerConfig::from_url(&format!("http://127.0.0.1:{port}")).unwrap();
    Notifier::new(NotifierOptions::default(), vec![am]).unwrap()
}

/// Polls (on a blocking thread, so the notifier's tasks keep running) until `check` holds.
async fn wait_until<T: Send + 'static>(
    what: &str,
    mut check: impl FnMut() -> Option<T> + Send + 'static,
) -> T {
    let found = tokio::task::spawn_blocking(move || common::wait_for(DEADLINE, &mut check))
        .await
        .unwrap();
    found.unwrap_or_else(|| panic!("timed out waiting for {what}"))
}

#[test]
fn amtool_accepts_the_test_config() {
    let Some(amtool) = require_tool("amtool", "apt-get install prometheus-alertmanager") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(
        dir.path(),
        "alertmanager.yml",
        &am_config("http://127.0.0.1:9/hook"),
    );
    let out = Command::new(amtool)
        .arg("check-config")
        .arg(&config)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("SUCCESS"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_reach_a_webhook_through_alertmanager_firing_then_resolved() {
    let Some(am_bin) = require_tool(
        "prometheus-alertmanager",
        "apt-get install prometheus-alertmanager",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let webhook = Webhook::default();
    write_file(dir.path(), "alertmanager.yml", &am_config(&webhook.start()));
    let port = free_port();
    let mut am = start_alertmanager(&am_bin, dir.path(), port, &[]);
    wait_ready(&mut am, port);

    let notifier = notifier_for(port);
    let firing = page_alert("CheckoutHighErrorRate");
    notifier.send(vec![firing.clone()]);
    let hook = webhook.clone();
    let got = wait_until("the firing alert at the webhook", move || {
        hook.find("CheckoutHighErrorRate", "firing")
    })
    .await;
    for (k, v) in &firing.labels {
        assert_eq!(got["labels"][k], v.as_str(), "label {k}: {got}");
    }
    for (k, v) in &firing.annotations {
        assert_eq!(got["annotations"][k], v.as_str(), "annotation {k}: {got}");
    }
    assert_eq!(got["generatorURL"], firing.generator_url.as_str());

    // The burn stopped: the rule manager sends the alert once more with endsAt in the past.
    let resolved = Alert {
        ends_at_ms: now_ms() - 1_000,
        ..firing
    };
    notifier.send(vec![resolved]);
    let hook = webhook.clone();
    let got = wait_until("the resolution at the webhook", move || {
        hook.find("CheckoutHighErrorRate", "resolved")
    })
    .await;
    assert_eq!(got["labels"]["sloth_severity"], "page", "{got}");
    let m = &notifier.metrics().alertmanagers[0];
    assert_eq!((m.sent, m.errors, m.dropped), (2, 0, 0), "{m:?}");
    notifier.stop().await;
    drop(am);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alertmanager_that_is_down_costs_counted_errors_and_the_resend_arrives_once_it_is_up() {
    let Some(am_bin) = require_tool(
        "prometheus-alertmanager",
        "apt-get install prometheus-alertmanager",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let webhook = Webhook::default();
    write_file(dir.path(), "alertmanager.yml", &am_config(&webhook.start()));
    let port = free_port();
    // Nothing listens yet: every send fails, is counted, and the notifier keeps going.
    let notifier = Arc::new(notifier_for(port));
    let alert = page_alert("CheckoutDown");
    notifier.send(vec![alert.clone()]);
    let n = notifier.clone();
    wait_until("the failed send to be counted", move || {
        let m = &n.metrics().alertmanagers[0];
        (m.errors == 1 && m.dropped == 1).then_some(())
    })
    .await;
    assert_eq!(notifier.metrics().alertmanagers[0].sent, 0);
    let mut text = String::new();
    notifier.metrics().write_exposition(&mut text);
    let url = format!("http://127.0.0.1:{port}/api/v2/alerts");
    assert!(
        text.contains(&format!(
            "prometheus_notifications_errors_total{{alertmanager=\"{url}\"}} 1\n"
        )),
        "{text}"
    );

    // Alertmanager comes up; the rule manager keeps re-sending the firing alert (every resend
    // delay, here every poll) and the first resend after it is up arrives.
    let mut am = start_alertmanager(&am_bin, dir.path(), port, &[]);
    wait_ready(&mut am, port);
    let (hook, n) = (webhook.clone(), notifier.clone());
    let got = wait_until("the resent alert at the webhook", move || {
        n.send(vec![alert.clone()]);
        hook.find("CheckoutDown", "firing")
    })
    .await;
    assert_eq!(got["labels"]["sloth_slo"], "requests-availability");
    assert!(notifier.metrics().alertmanagers[0].sent >= 1);
    notifier.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_reach_alertmanager_over_https_with_basic_auth() {
    let (Some(am_bin), Some(openssl)) = (
        require_tool(
            "prometheus-alertmanager",
            "apt-get install prometheus-alertmanager",
        ),
        require_tool("openssl", "apt-get install openssl"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("am.crt"), dir.path().join("am.key"));
    let out = Command::new(openssl)
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        // A leaf, not a CA: rustls (webpki) refuses a CA certificate as the server's own, where
        // Go accepts it; trusting the leaf itself as the ca_file works for both.
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let hash = bcrypt::hash("am-pass", 4).unwrap();
    let web = write_file(
        dir.path(),
        "web.yml",
        &format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\nbasic_auth_users:\n  prom: '{hash}'\n",
            cert.display(),
            key.display()
        ),
    );
    let webhook = Webhook::default();
    write_file(dir.path(), "alertmanager.yml", &am_config(&webhook.start()));
    let port = free_port();
    let web_flag = format!("--web.config.file={}", web.display());
    let mut am = start_alertmanager(&am_bin, dir.path(), port, &[&web_flag]);
    // Ready over HTTPS once the notifier's own sends succeed (polled below).
    let https = |password: &str| AlertmanagerConfig {
        targets: vec![format!("127.0.0.1:{port}")],
        scheme: Scheme::Https,
        auth: Some(Auth::Basic {
            username: "prom".to_string(),
            password: Secret::Inline(password.to_string()),
        }),
        tls: TlsConfig {
            ca_file: Some(cert.clone()),
            ..TlsConfig::default()
        },
        ..AlertmanagerConfig::default()
    };
    // Set 0 has the right password, set 1 a wrong one: the same alert is refused there.
    let notifier =
        Arc::new(Notifier::new(NotifierOptions::default(), vec![https("am-pass"), https("wrong")]).unwrap());
    let alert = page_alert("CheckoutTls");
    let (hook, n) = (webhook.clone(), notifier.clone());
    let got = wait_until("the alert sent over HTTPS", move || {
        n.send(vec![alert.clone()]);
        hook.find("CheckoutTls", "firing")
    })
    .await;
    assert!(
        matches!(am.child.try_wait(), Ok(None)),
        "alertmanager exited:\n{}",
        am.output()
    );
    assert_eq!(got["labels"]["severity"], "critical");
    let n = notifier.clone();
    wait_until("the wrong password to be refused", move || {
        let m = n.metrics();
        (m.alertmanagers[0].sent >= 1 && m.alertmanagers[1].errors >= 1).then_some(())
    })
    .await;
    assert_eq!(notifier.metrics().alertmanagers[1].sent, 0);
    notifier.stop().await;
}

/// Issue 13 §4 end to end: the rules `slo generate` writes for examples/slos/checkout-sloth.yaml,
/// evaluated by burnwatch's rule manager over a fast burn (half the checkout requests failing),
/// send the availability page alert through the notifier and the real Alertmanager to the
/// webhook with Sloth's labels and annotations; once the burn has stopped for 40 minutes the
/// next evaluation sends its resolution, which arrives as resolved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_slo_page_alert_of_a_fast_burn_arrives_and_resolves_when_the_burn_stops() {
    use burnwatch_slo::rules::manager::{ManagerOptions, RuleManager};
    use burnwatch_slo::tsdb::Labels;

    let Some(am_bin) = require_tool(
        "prometheus-alertmanager",
        "apt-get install prometheus-alertmanager",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("checkout-slos.yml");
    let out = Command::new(common::burnwatch_bin())
        .args(["slo", "generate", "--spec"])
        .arg(common::repo_root().join("examples/slos/checkout-sloth.yaml"))
        .arg("-o")
        .arg(&rules)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "slo generate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files = burnwatch_slo::rules::load_rule_files(&[&rules]).unwrap();

    let webhook = Webhook::default();
    write_file(dir.path(), "alertmanager.yml", &am_config(&webhook.start()));
    let port = free_port();
    let mut am = start_alertmanager(&am_bin, dir.path(), port, &[]);
    wait_ready(&mut am, port);
    let notifier = Arc::new(notifier_for(port));

    // Three hours of checkout traffic ending now, a sample every 15 s: half the requests fail
    // until 40 minutes ago, none after.
    let now = now_ms();
    let (burn_end, start) = (now - 40 * 60_000, now - 3 * 3_600_000);
    let store = burnwatch_slo::shared::new_shared();
    {
        let mut db = store.write().unwrap();
        let ok = Labels::from_pairs([
            ("__name__", "http_requests_total"),
            ("job", "checkout"),
            ("code", "200"),
        ]);
        let failed = Labels::from_pairs([
            ("__name__", "http_requests_total"),
            ("job", "checkout"),
            ("code", "500"),
        ]);
        let (mut good, mut bad) = (0.0, 0.0);
        for t in (start..=now).step_by(15_000) {
            if t < burn_end {
                good += 50.0;
                bad += 50.0;
            } else {
                good += 100.0;
            }
            db.append(&ok, t, good).unwrap();
            db.append(&failed, t, bad).unwrap();
        }
    }
    // A resend delay of an hour keeps the firing alert's endsAt (four resend delays after its
    // evaluation) in the future although it is evaluated 41 minutes in the past.
    let options = ManagerOptions {
        resend_delay: Duration::from_secs(3600),
        external_url: "http://burnwatch:9090".to_string(),
        ..ManagerOptions::default()
    };
    let sink_notifier = notifier.clone();
    let sink: burnwatch_slo::rules::manager::AlertSink = Arc::new(move |alerts| sink_notifier.send(alerts));
    let manager = RuleManager::new(files, store, options, Some(sink));

    let page = |status: &'static str| {
        let hook = webhook.clone();
        move || {
            hook.alerts().into_iter().find(|a| {
                a["labels"]["alertname"] == "CheckoutHighErrorRate"
                    && a["labels"]["sloth_severity"] == "page"
                    && a["status"] == status
            })
        }
    };
    manager.evaluate_at(burn_end - 60_000);
    let firing = wait_until("the firing page alert at the webhook", page("firing")).await;
    let want_labels = [
        ("alertname", "CheckoutHighErrorRate"),
        ("category", "availability"),
        ("severity", "critical"),
        ("sloth_id", "checkout-requests-availability"),
        ("sloth_service", "checkout"),
        ("sloth_slo", "requests-availability"),
        ("sloth_severity", "page"),
    ];
    for (k, v) in want_labels {
        assert_eq!(firing["labels"][k], v, "label {k}: {firing}");
    }
    assert_eq!(
        firing["annotations"]["summary"], "Checkout is burning its availability error budget.",
        "{firing}"
    );
    assert!(
        firing["annotations"]["title"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "{firing}"
    );
    assert!(
        firing["generatorURL"]
            .as_str()
            .is_some_and(|u| u.starts_with("http://burnwatch:9090/graph?g0.expr=")),
        "{firing}"
    );

    // Forty minutes without errors: the 5m and 30m windows are clean, the page condition false.
    manager.evaluate_at(now - 60_000);
    let resolved = wait_until("the page alert's resolution at the webhook", page("resolved")).await;
    assert_eq!(
        resolved["labels"]["sloth_slo"], "requests-availability",
        "{resolved}"
    );
    let m = &notifier.metrics().alertmanagers[0];
    assert_eq!((m.errors, m.dropped), (0, 0), "{m:?}");
    notifier.stop().await;
}

/// An SLO whose every event counts as an error: `up`'s own scrapes of the collector are both the
/// errors and the total, so its page alert fires as soon as the first scrape is in.
const ALWAYS_BURNING_SLO: &str = r#"version: "prometheus/v1"
service: "sidecar"
slos:
  - name: "scrapes"
    objective: 99.9
    description: "Every scrape counts as an error: the page alert fires at once."
    sli:
      events:
        error_query: sum(count_over_time(up[{{.window}}]))
        total_query: sum(count_over_time(up[{{.window}}]))
    alerting:
      name: SidecarBurning
      labels:
        team: sre
      annotations:
        summary: "The sidecar burns its whole budget."
      page_alert:
        labels:
          severity: critical
      ticket_alert:
        labels:
          severity: warning
"#;

/// Issue 13 §5: `up --alertmanager URL` evaluates its SLOs' generated rules in process and sends
/// their alerts to the real Alertmanager, which routes them to the webhook with the labels and
/// annotations `slo generate` writes; `/api/v1/alerts` of up lists the same alert firing.
#[test]
fn up_sends_the_alerts_of_its_slo_rules_to_alertmanager() {
    let Some(am_bin) = require_tool(
        "prometheus-alertmanager",
        "apt-get install prometheus-alertmanager",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let webhook = Webhook::default();
    write_file(dir.path(), "alertmanager.yml", &am_config(&webhook.start()));
    let am_port = free_port();
    let mut am = start_alertmanager(&am_bin, dir.path(), am_port, &[]);
    wait_ready(&mut am, am_port);

    let slos = write_file(dir.path(), "sidecar-slos.yaml", ALWAYS_BURNING_SLO);
    let config = write_file(dir.path(), "collector.yaml", common::EPHEMERAL_CONFIG);
    let listen = format!("127.0.0.1:{}", free_port());
    let am_url = format!("http://127.0.0.1:{am_port}");
    let data_dir = dir.path().join("data");
    let mut up = spawn(
        "up",
        &common::burnwatch_bin(),
        &[
            "up",
            "--headless",
            "--config",
            config.to_str().unwrap(),
            "--slos",
            slos.to_str().unwrap(),
            "--listen",
            &listen,
            "--data-dir",
            data_dir.to_str().unwrap(),
            "--scrape-interval",
            "1s",
            "--evaluation-interval",
            "1s",
            "--alertmanager",
            &am_url,
        ],
        dir.path(),
        &[],
    );
    let arrived = common::wait_for(Duration::from_secs(120), || {
        if let Ok(Some(status)) = up.child.try_wait() {
            panic!("up exited ({status}):\n{}", up.output());
        }
        webhook.find("SidecarBurning", "firing")
    });
    let alert = arrived.unwrap_or_else(|| {
        panic!(
            "no firing SidecarBurning at the webhook; it got {:?}\nup:\n{}\nalertmanager:\n{}",
            webhook.alerts(),
            up.output(),
            am.output()
        )
    });
    let labels = &alert["labels"];
    assert_eq!(labels["sloth_service"], "sidecar", "{alert}");
    assert_eq!(labels["sloth_slo"], "scrapes", "{alert}");
    assert_eq!(labels["team"], "sre", "{alert}");
    assert!(
        labels["severity"] == "critical" || labels["severity"] == "warning",
        "{alert}"
    );
    assert_eq!(
        alert["annotations"]["summary"], "The sidecar burns its whole budget.",
        "{alert}"
    );
    let generator = alert["generatorURL"].as_str().unwrap_or_default();
    assert!(generator.starts_with(&format!("http://{listen}/")), "{alert}");

    // up's own API reports the alert Alertmanager received as firing.
    let (status, body) = http_get(&format!("http://{listen}/api/v1/alerts")).expect("up's API answers");
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let firing = v["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["labels"]["alertname"] == "SidecarBurning" && a["state"] == "firing");
    assert!(firing, "{body}");

    // The dashboard (`tui --once --json` reads what the Firing column shows) and `slo status` show
    // the rule manager's alert, the one Alertmanager received: its severity fires, with the same
    // labels, and the state comes from the rules, not from a computation of their own.
    let severity = labels["sloth_severity"].as_str().unwrap().to_string();
    let base = format!("http://{listen}");
    let run = |args: &[&str]| {
        let out = Command::new(common::burnwatch_bin()).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let slos_arg = slos.to_str().unwrap();
    let snap = run(&[
        "tui",
        "--prometheus-url",
        &base,
        "--slos",
        slos_arg,
        "--once",
        "--json",
    ]);
    let status = run(&[
        "slo",
        "status",
        "--prometheus-url",
        &base,
        "--spec",
        slos_arg,
        "--json",
    ]);
    for (what, slo) in [("tui", &snap["slos"][0]), ("slo status", &status[0])] {
        let alert = slo["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["severity"] == severity.as_str())
            .unwrap_or_else(|| panic!("{what}: no {severity} alert in {slo}"));
        assert_eq!(alert["firing"], true, "{what}: {alert}");
        assert_eq!(alert["rule_state"], "firing", "{what}: {alert}");
        assert_eq!(alert["labels"]["team"], "sre", "{what}: {alert}");
        assert_eq!(alert["labels"]["severity"], labels["severity"], "{what}: {alert}");
    }
    // The headless log names the alert as it starts firing.
    let logged = common::wait_for(Duration::from_secs(30), || {
        let out = up.output();
        (out.contains("SLO alert firing.") && out.contains("SidecarBurning")).then_some(())
    });
    assert!(logged.is_some(), "no firing line in up's log:\n{}", up.output());
}
