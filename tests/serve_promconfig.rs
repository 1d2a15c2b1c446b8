//! `burnwatch serve --config prometheus.yml` against a real Prometheus 2.42 (issue 13 §2): both
//! read the same prometheus.yml (relabelling with every action, metric_relabel_configs, file_sd
//! changed during the test, params, honor_labels, sample_limit) and scrape the same fake targets
//! this test serves; the same series arrive in both (compared through /api/v1/series), the same
//! targets are active and dropped (compared through /api/v1/targets, which also pins `hashmod`
//! to Prometheus's values), and `promtool check config` accepts the file. Also: keys Prometheus
//! knows but burnwatch does not run are refused naming them; reloads on SIGHUP and
//! `POST /-/reload` keep the old config when the new one is bad.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use common::{
    Proc, burnwatch_bin, free_port, http_get, http_request, require_tool, spawn, wait_for, write_file,
};
use serde_json::Value;

/// A fake exporter on a free port: every path answers text exposition; `/honor` adds a
/// clashing `job` label, a `module` query parameter is echoed as a series.
fn start_target(name: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                let n = s.read(&mut buf).unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).into_owned();
                let target = req.split_whitespace().nth(1).unwrap_or("/").to_string();
                let mut body = format!(
                    "# TYPE app_requests_total counter\n\
                     app_requests_total{{code=\"200\",target=\"{name}\"}} 5\n\
                     app_requests_total{{code=\"500\",target=\"{name}\"}} 1\n\
                     go_goroutines 10\n\
                     app_info{{version=\"1.2\",instance=\"inner\"}} 1\n"
                );
                if target.starts_with("/honor") {
                    body.push_str("honored{job=\"inner-job\"} 1\n");
                }
                if let Some((_, q)) = target.split_once('?') {
                    for kv in q.split('&') {
                        if let Some(v) = kv.strip_prefix("module=") {
                            body.push_str(&format!("probe_module{{module=\"{v}\"}} 1\n"));
                        }
                    }
                }
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes());
            });
        }
    });
    addr
}

fn config(t1: &str, t2: &str) -> String {
    format!(
        r#"global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: relabel
    params:
      module: [m1]
    static_configs:
      - targets: ['{t1}', '{t2}', 'drop-me.invalid:1']
        labels:
          env: Prod
          __meta_dc: eu
    file_sd_configs:
      - files: ['targets*.json']
        refresh_interval: 1s
    relabel_configs:
      - source_labels: [__address__]
        regex: 'drop-me.*'
        action: drop
      - source_labels: [__address__]
        regex: '127\.0\.0\.1:\d+'
        action: keep
      - source_labels: [__address__]
        modulus: 1000
        target_label: __tmp_hash
        action: hashmod
      - source_labels: [__tmp_hash]
        target_label: shard
      - regex: __meta_(.+)
        action: labelmap
      - source_labels: [env]
        target_label: env_up
        action: uppercase
      - source_labels: [env]
        target_label: env
        action: lowercase
      - source_labels: [__address__]
        regex: '.*:(\d+)'
        target_label: port
        replacement: 'p${{1}}'
      - source_labels: [shard]
        target_label: shard_copy
      - source_labels: [shard]
        target_label: shard_copy
        action: keepequal
      - source_labels: [env]
        target_label: dc
        action: dropequal
      - regex: shard_copy
        action: labeldrop
      - regex: '__.*|job|instance|env|env_up|shard|dc|port|team|filepath'
        action: labelkeep
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: 'go_.*'
        action: drop
      - source_labels: [code]
        target_label: status
        replacement: 'c$1'
      - regex: code
        action: labeldrop
  - job_name: honor
    honor_labels: true
    metrics_path: /honor
    static_configs:
      - targets: ['{t1}']
  - job_name: limited
    sample_limit: 2
    static_configs:
      - targets: ['{t2}']
"#
    )
}

fn get_json(url: &str) -> Option<Value> {
    let (status, body) = http_get(url)?;
    if status != 200 {
        return None;
    }
    serde_json::from_str(&body).ok()
}

/// Every series label set of the three jobs, as `/api/v1/series` answers since `start`.
fn series(base: &str, start: f64) -> Option<BTreeSet<BTreeMap<String, String>>> {
    let url = format!("{base}/api/v1/series?match[]=%7Bjob%3D~%22.%2B%22%7D&start={start}");
    let v = get_json(&url)?;
    let mut out = BTreeSet::new();
    for s in v["data"].as_array()? {
        let m: BTreeMap<String, String> = serde_json::from_value(s.clone()).ok()?;
        out.insert(m);
    }
    Some(out)
}

/// Active targets' labels and scrape URLs, and dropped targets' discovered labels.
type Targets = (BTreeSet<(String, String)>, BTreeSet<String>);

fn targets(base: &str) -> Option<Targets> {
    let v = get_json(&format!("{base}/api/v1/targets"))?;
    let active = v["data"]["activeTargets"]
        .as_array()?
        .iter()
        .map(|t| {
            (
                t["labels"].to_string(),
                t["scrapeUrl"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let dropped = v["data"]["droppedTargets"]
        .as_array()?
        .iter()
        .map(|t| t["discoveredLabels"].to_string())
        .collect();
    Some((active, dropped))
}

fn up_count(base: &str, selector: &str) -> Option<usize> {
    let q = selector
        .replace('{', "%7B")
        .replace('}', "%7D")
        .replace('"', "%22")
        .replace('=', "%3D");
    let v = get_json(&format!("{base}/api/v1/query?query=up{q}"))?;
    Some(v["data"]["result"].as_array()?.len())
}

fn start_prometheus(prometheus: &Path, cfg: &Path, dir: &Path) -> (Proc, String) {
    let listen = format!("127.0.0.1:{}", free_port());
    let data = dir.join("prom-data");
    let p = spawn(
        "prometheus",
        prometheus,
        &[
            &format!("--config.file={}", cfg.display()),
            &format!("--storage.tsdb.path={}", data.display()),
            &format!("--web.listen-address={listen}"),
        ],
        dir,
        &[],
    );
    (p, format!("http://{listen}"))
}

fn start_burnwatch(cfg: &Path, dir: &Path, extra: &[&str]) -> (Proc, String) {
    let listen = format!("127.0.0.1:{}", free_port());
    let mut args = vec!["serve", "--listen", &listen, "--config", cfg.to_str().unwrap()];
    args.extend_from_slice(extra);
    let p = spawn("burnwatch", &burnwatch_bin(), &args, dir, &[]);
    (p, format!("http://{listen}"))
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn same_prometheus_yml_gives_the_same_series_and_targets_as_prometheus() {
    let Some(prometheus) = require_tool("prometheus", "apt-get install prometheus") else {
        return;
    };
    let Some(promtool) = require_tool("promtool", "apt-get install prometheus") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (t1, t2, t3) = (start_target("one"), start_target("two"), start_target("three"));
    write_file(
        dir.path(),
        "targets.json",
        &format!(r#"[{{"targets": ["{t3}"], "labels": {{"team": "a", "env": "Dev"}}}}]"#),
    );
    let cfg = write_file(dir.path(), "prometheus.yml", &config(&t1, &t2));
    let check = std::process::Command::new(&promtool)
        .args(["check", "config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "promtool: {}",
        String::from_utf8_lossy(&check.stdout)
    );

    let start = now() - 1.0;
    let (prom, prom_url) = start_prometheus(&prometheus, &cfg, dir.path());
    let (bw, bw_url) = start_burnwatch(&cfg, dir.path(), &[]);
    // relabel: t1, t2 and the file_sd target t3; honor: t1; limited: t2.
    for (base, p) in [(&prom_url, &prom), (&bw_url, &bw)] {
        let scraped = wait_for(Duration::from_secs(60), || {
            up_count(base, "")
                .filter(|n| *n == 5)
                .and(series(base, start))
                .filter(|s| {
                    s.iter()
                        .any(|m| m.get("team").is_some_and(|t| t == "a") && m["__name__"] == "probe_module")
                        && s.iter().any(|m| m["__name__"] == "honored")
                })
        });
        assert!(
            scraped.is_some(),
            "{base} did not scrape every target:\n{}",
            p.output()
        );
    }
    let same_series = |what: &str| {
        // Both have scraped at least once more since the condition; compare until they agree
        // (a scrape in flight on one side), with a generous deadline.
        let mut last = None;
        let agreed = wait_for(Duration::from_secs(30), || {
            let (a, b) = (series(&prom_url, start)?, series(&bw_url, start)?);
            if a == b {
                Some(a)
            } else {
                last = Some((a, b));
                None
            }
        });
        if agreed.is_none() {
            let (a, b) = last.unwrap();
            panic!(
                "{what}: series differ\nonly in Prometheus: {:#?}\nonly in burnwatch: {:#?}",
                a.difference(&b).collect::<Vec<_>>(),
                b.difference(&a).collect::<Vec<_>>()
            );
        }
        agreed.unwrap()
    };
    let first = same_series("first scrapes");
    // Sanity of what was compared: relabelled target labels, metric relabelling, honor_labels,
    // sample_limit (the limited job stores only its report series).
    let app = first
        .iter()
        .find(|m| m["__name__"] == "app_requests_total" && m.get("status").is_some_and(|s| s == "c500"))
        .expect("metric relabelling wrote status=c500");
    assert_eq!(app.get("env_up").map(String::as_str), Some("PROD"));
    assert_eq!(app.get("env").map(String::as_str), Some("prod"));
    assert_eq!(app.get("dc").map(String::as_str), Some("eu"));
    assert!(app.get("code").is_none() && app.get("shard").is_some());
    assert!(
        !first
            .iter()
            .any(|m| m["__name__"] == "go_goroutines" && m["job"] == "relabel")
    );
    assert!(
        first
            .iter()
            .any(|m| m["__name__"] == "honored" && m["job"] == "inner-job")
    );
    assert!(
        !first
            .iter()
            .any(|m| m["job"] == "limited" && m["__name__"] == "app_requests_total")
    );
    let same_targets = |what: &str| {
        let (a, b) = (targets(&prom_url).unwrap(), targets(&bw_url).unwrap());
        assert_eq!(
            a.0, b.0,
            "{what}: active targets (labels incl. hashmod's shard, scrape URLs)"
        );
        assert_eq!(a.1, b.1, "{what}: dropped targets' discovered labels");
    };
    same_targets("first scrapes");

    // file_sd: the file changes under both.
    write_file(
        dir.path(),
        "targets.json",
        &format!(r#"[{{"targets": ["{t3}"], "labels": {{"team": "b", "env": "Dev"}}}}]"#),
    );
    for base in [&prom_url, &bw_url] {
        let moved = wait_for(Duration::from_secs(60), || {
            let v = get_json(&format!("{base}/api/v1/query?query=up%7Bteam%3D%22b%22%7D"))?;
            (v["data"]["result"].as_array()?.len() == 1).then_some(())
        });
        assert!(moved.is_some(), "{base} did not pick up the changed file_sd file");
    }
    same_series("after the file_sd change");
    same_targets("after the file_sd change");
}

#[test]
fn unsupported_prometheus_keys_are_refused_naming_the_key_and_what_is_supported() {
    let Some(promtool) = require_tool("promtool", "apt-get install prometheus") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Debian's Prometheus is built without kubernetes_sd and consul_sd (its promtool refuses
    // them), so these are SD mechanisms and settings it does accept; kubernetes_sd_configs and
    // consul_sd_configs are covered by the config's unit tests (promconfig::tests).
    for (name, yaml, key) in [
        (
            "dns.yml",
            "scrape_configs:\n  - job_name: srv\n    dns_sd_configs:\n      - names: ['_node._tcp.example.com']\n",
            "scrape_configs[0].dns_sd_configs",
        ),
        (
            "http_sd.yml",
            "scrape_configs:\n  - job_name: svc\n    http_sd_configs:\n      - url: http://localhost:8000/sd\n",
            "scrape_configs[0].http_sd_configs",
        ),
        (
            "oauth2.yml",
            "scrape_configs:\n  - job_name: api\n    oauth2:\n      client_id: a\n      client_secret: b\n      token_url: http://localhost/token\n",
            "scrape_configs[0].oauth2",
        ),
        (
            "read.yml",
            "remote_read:\n  - url: http://localhost:9201/read\n",
            "remote_read",
        ),
    ] {
        let cfg = write_file(dir.path(), name, yaml);
        let check = std::process::Command::new(&promtool)
            .args(["check", "config", cfg.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "promtool accepts {name}: {}",
            String::from_utf8_lossy(&check.stdout)
        );
        let out = std::process::Command::new(burnwatch_bin())
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--config",
                cfg.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name} was not refused: {err}");
        assert!(err.contains(key), "{name}: {err}");
        assert!(
            err.contains("does not support") && err.contains("supported here"),
            "{name}: {err}"
        );
    }
}

fn reload_gauge(base: &str) -> Option<f64> {
    let (_, text) = http_get(&format!("{base}/metrics"))?;
    common::sample_value(&text, "prometheus_config_last_reload_successful", &[])
}

fn job_names(base: &str) -> Option<BTreeSet<String>> {
    let v = get_json(&format!("{base}/api/v1/targets"))?;
    Some(
        v["data"]["activeTargets"]
            .as_array()?
            .iter()
            .map(|t| t["scrapePool"].as_str().unwrap_or("").to_string())
            .collect(),
    )
}

#[test]
fn reload_on_sighup_and_lifecycle_post_keeps_the_old_config_when_the_new_one_is_bad() {
    let dir = tempfile::tempdir().unwrap();
    let t1 = start_target("one");
    let one_job = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: ['{t1}']\n"
    );
    let cfg = write_file(dir.path(), "prometheus.yml", &one_job);
    let (bw, base) = start_burnwatch(&cfg, dir.path(), &["--web.enable-lifecycle"]);
    let want = |jobs: &[&str]| -> BTreeSet<String> { jobs.iter().map(|s| s.to_string()).collect() };
    assert!(
        wait_for(Duration::from_secs(60), || job_names(&base)
            .filter(|j| *j == want(&["a"])))
        .is_some(),
        "{}",
        bw.output()
    );

    // SIGHUP: a second job.
    write_file(
        dir.path(),
        "prometheus.yml",
        &format!("{one_job}  - job_name: b\n    static_configs:\n      - targets: ['{t1}']\n"),
    );
    std::process::Command::new("kill")
        .args(["-HUP", &bw.child.id().to_string()])
        .status()
        .unwrap();
    assert!(
        wait_for(Duration::from_secs(30), || job_names(&base)
            .filter(|j| *j == want(&["a", "b"])))
        .is_some(),
        "{}",
        bw.output()
    );
    assert_eq!(reload_gauge(&base), Some(1.0));

    // A bad config: 500 naming the key, the gauge drops to 0, both jobs keep running.
    write_file(
        dir.path(),
        "prometheus.yml",
        "scrape_configs:\n  - job_name: a\n    scrape_interval: often\n",
    );
    let r = http_request("POST", &format!("{base}/-/reload"), &[], b"").unwrap();
    assert_eq!(r.status, 500, "{}", r.text());
    assert!(
        r.text().contains("failed to reload config") && r.text().contains("scrape_interval"),
        "{}",
        r.text()
    );
    assert_eq!(reload_gauge(&base), Some(0.0));
    assert_eq!(job_names(&base), Some(want(&["a", "b"])));
    assert!(
        bw.output().contains("Error reloading the configuration file"),
        "{}",
        bw.output()
    );

    // Fixed again: 200 and back to one job.
    write_file(dir.path(), "prometheus.yml", &one_job);
    let r = http_request("PUT", &format!("{base}/-/reload"), &[], b"").unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(reload_gauge(&base), Some(1.0));
    assert_eq!(job_names(&base), Some(want(&["a"])));

    // Without --web.enable-lifecycle the endpoint is forbidden, as in Prometheus.
    let (plain, plain_base) = start_burnwatch(&cfg, dir.path(), &[]);
    let r = wait_for(Duration::from_secs(60), || {
        http_request("POST", &format!("{plain_base}/-/reload"), &[], b"")
    })
    .unwrap_or_else(|| panic!("{}", plain.output()));
    assert_eq!(r.status, 403);
    assert_eq!(r.text(), "Lifecycle API is not enabled.\n");
}

#[test]
fn up_prometheus_config_scrapes_the_files_jobs_beside_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let t1 = start_target("one");
    let collector = write_file(dir.path(), "collector.yaml", common::EPHEMERAL_CONFIG);
    let cfg = write_file(
        dir.path(),
        "prometheus.yml",
        &format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: extra\n    static_configs:\n      - targets: ['{t1}']\n    \
             metric_relabel_configs:\n      - source_labels: [__name__]\n        regex: app_.*\n        action: keep\n"
        ),
    );
    let listen = format!("127.0.0.1:{}", free_port());
    let data = dir.path().join("data");
    let up = spawn(
        "up",
        &burnwatch_bin(),
        &[
            "up",
            "--headless",
            "--scrape-interval",
            "1s",
            "--config",
            collector.to_str().unwrap(),
            "--listen",
            &listen,
            "--data-dir",
            data.to_str().unwrap(),
            "--prometheus-config",
            cfg.to_str().unwrap(),
        ],
        dir.path(),
        &[],
    );
    let base = format!("http://{listen}");
    // The file's job (relabelled) and up's own collector job are both scraped.
    let jobs = wait_for(Duration::from_secs(90), || {
        let v = get_json(&format!("{base}/api/v1/query?query=count%20by%20(job)%20(up)"))?;
        let jobs: BTreeSet<String> = v["data"]["result"]
            .as_array()?
            .iter()
            .filter_map(|r| r["metric"]["job"].as_str().map(String::from))
            .collect();
        (jobs.contains("extra") && jobs.len() >= 2).then_some(jobs)
    });
    assert!(jobs.is_some(), "{}", up.output());
    let v = get_json(&format!("{base}/api/v1/series?match[]=%7Bjob%3D%22extra%22%7D")).unwrap();
    let names: BTreeSet<String> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["__name__"].as_str().unwrap().to_string())
        .collect();
    assert!(
        names.contains("app_requests_total") && !names.contains("go_goroutines"),
        "{names:?}"
    );
    drop(up);

    // Sections up does not run are refused by name.
    let bad = write_file(dir.path(), "rules.yml", "rule_files: ['r.yml']\n");
    let out = std::process::Command::new(burnwatch_bin())
        .args([
            "up",
            "--headless",
            "--config",
            collector.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .args(["--data-dir", dir.path().join("data2").to_str().unwrap()])
        .args(["--prometheus-config", bad.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("rule_files") && err.contains("serve --config"),
        "{err}"
    );
}

/// A fake Alertmanager: answers every request 200 and keeps the bodies of `POST .../api/v2/alerts`.
fn start_alertmanager(bodies: std::sync::Arc<std::sync::Mutex<Vec<String>>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let bodies = bodies.clone();
            std::thread::spawn(move || {
                let mut raw = Vec::new();
                let mut buf = [0u8; 8192];
                // Read the head, then Content-Length bytes of body.
                loop {
                    let n = s.read(&mut buf).unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    raw.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&raw).into_owned();
                    if let Some(i) = text.find("\r\n\r\n") {
                        let len = text[..i]
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        if raw.len() >= i + 4 + len {
                            if text.starts_with("POST") && text[..i].contains("/api/v2/alerts") {
                                bodies.lock().unwrap().push(text[i + 4..].to_string());
                            }
                            break;
                        }
                    }
                }
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            });
        }
    });
    addr
}

#[test]
fn rule_alerts_of_serve_config_reach_the_configured_alertmanager() {
    let dir = tempfile::tempdir().unwrap();
    let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let am = start_alertmanager(bodies.clone());
    write_file(
        dir.path(),
        "rules.yml",
        "groups:\n  - name: g\n    interval: 1s\n    rules:\n      - alert: AlwaysFiring\n        expr: vector(1)\n        labels:\n          severity: page\n          replica: r1\n",
    );
    let cfg = write_file(
        dir.path(),
        "prometheus.yml",
        &format!(
            "global:\n  evaluation_interval: 1s\n  external_labels:\n    cluster: c1\nrule_files: ['rules.yml']\n\
             alerting:\n  alert_relabel_configs:\n    - regex: replica\n      action: labeldrop\n  alertmanagers:\n    - static_configs:\n        - targets: ['{am}']\n"
        ),
    );
    let (bw, _base) = start_burnwatch(&cfg, dir.path(), &[]);
    let got = wait_for(Duration::from_secs(60), || {
        bodies
            .lock()
            .unwrap()
            .iter()
            .find(|b| b.contains("AlwaysFiring"))
            .cloned()
    });
    let body = got.unwrap_or_else(|| panic!("no alert reached the Alertmanager:\n{}", bw.output()));
    let alerts: Value = serde_json::from_str(&body).unwrap();
    let labels = &alerts[0]["labels"];
    assert_eq!(labels["alertname"], "AlwaysFiring");
    assert_eq!(labels["severity"], "page");
    assert_eq!(labels["cluster"], "c1", "external labels are added");
    assert!(
        labels.get("replica").is_none(),
        "alert_relabel_configs ran: {labels}"
    );
}
