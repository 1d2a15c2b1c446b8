//! `burnwatch serve --config prometheus.yml` scraping real HTTPS targets (issue 13 §2's
//! `scheme: https`, `tls_config` and `basic_auth`), side by side with a real Prometheus 2.42
//! reading the same file.
//!
//! The targets are Prometheus 2.42 itself serving its own `/metrics` over TLS with
//! `--web.config.file`: one with `basic_auth_users` (a bcrypt hash), one demanding a client
//! certificate signed by the test's CA (`RequireAndVerifyClientCert`). The certificates are made
//! by `openssl` in the test: a private CA, a second CA that signed nothing the targets use, a
//! server certificate whose only SAN is `target.test` (so scraping `127.0.0.1` needs
//! `server_name`), and a client certificate.
//!
//! Each job of the scrape config proves one thing: `ca_file` + `server_name` + `basic_auth`
//! work; the wrong CA fails with a `lastError` naming the certificate problem; without
//! `server_name` the name does not match; `insecure_skip_verify` works; a wrong password is a
//! 401; `cert_file`/`key_file` satisfy the mTLS target, and without them it refuses. Then the
//! target health and `up` values of every job are compared with what the real Prometheus
//! reports for the same file.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Proc, burnwatch_bin, free_port, http_get, require_tool, spawn, wait_for, write_file};
use serde_json::Value;

/// Runs `openssl args` in `dir`, failing the test with its output when it fails.
fn openssl(openssl: &Path, dir: &Path, args: &[&str]) {
    let out = Command::new(openssl)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl: {e}"));
    assert!(
        out.status.success(),
        "openssl {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A self-signed CA: `NAME.pem` and `NAME.key` in `dir` (P-256 keys: quick to make, and both
/// rustls and Go verify them).
fn make_ca(tool: &Path, dir: &Path, name: &str) {
    openssl(
        tool,
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-subj",
            &format!("/CN=burnwatch test {name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

/// A leaf certificate `NAME.pem`/`NAME.key` signed by `ca`, with the given extensions (SAN,
/// extended key usage) and serial.
fn make_leaf(tool: &Path, dir: &Path, ca: &str, name: &str, extensions: &str, serial: &str) {
    write_file(dir, &format!("{name}.ext"), extensions);
    openssl(
        tool,
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={name}"),
        ],
    );
    openssl(
        tool,
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-set_serial",
            serial,
            "-days",
            "2",
            "-out",
            &format!("{name}.pem"),
            "-extfile",
            &format!("{name}.ext"),
        ],
    );
}

/// Starts a Prometheus serving its own `/metrics` with `web_config` (TLS, auth) on a free port,
/// and waits until it accepts connections; the process and its `host:port`.
fn start_tls_target(prometheus: &Path, dir: &Path, name: &str, web_config: &str) -> (Proc, String) {
    let sub = dir.join(name);
    std::fs::create_dir_all(&sub).unwrap();
    let cfg = write_file(&sub, "prometheus.yml", "global:\n  scrape_interval: 1m\n");
    let web = write_file(&sub, "web.yml", web_config);
    let addr = format!("127.0.0.1:{}", free_port());
    let mut p = spawn(
        name,
        prometheus,
        &[
            &format!("--config.file={}", cfg.display()),
            &format!("--web.config.file={}", web.display()),
            &format!("--storage.tsdb.path={}", sub.join("data").display()),
            &format!("--web.listen-address={addr}"),
        ],
        &sub,
        &[],
    );
    let listening = wait_for(Duration::from_secs(60), || {
        if matches!(p.child.try_wait(), Ok(Some(_))) {
            return Some(false);
        }
        std::net::TcpStream::connect(&addr).ok().map(|_| true)
    });
    assert_eq!(
        listening,
        Some(true),
        "the TLS target {name} did not start:\n{}",
        p.output()
    );
    (p, addr)
}

fn get_json(url: &str) -> Option<Value> {
    let (status, body) = http_get(url)?;
    if status != 200 {
        return None;
    }
    serde_json::from_str(&body).ok()
}

/// Per job: the target's health and last error from `/api/v1/targets` (one target per job).
fn health(base: &str) -> Option<BTreeMap<String, (String, String)>> {
    let v = get_json(&format!("{base}/api/v1/targets"))?;
    let mut out = BTreeMap::new();
    for t in v["data"]["activeTargets"].as_array()? {
        let job = t["labels"]["job"].as_str()?.to_string();
        let h = t["health"].as_str()?.to_string();
        let e = t["lastError"].as_str().unwrap_or("").to_string();
        out.insert(job, (h, e));
    }
    Some(out)
}

/// Per job: the value of `up`.
fn up_values(base: &str) -> Option<BTreeMap<String, f64>> {
    let v = get_json(&format!("{base}/api/v1/query?query=up"))?;
    let mut out = BTreeMap::new();
    for r in v["data"]["result"].as_array()? {
        let job = r["metric"]["job"].as_str()?.to_string();
        let value: f64 = r["value"][1].as_str()?.parse().ok()?;
        out.insert(job, value);
    }
    Some(out)
}

/// The health each job must reach: the ones that should scrape are `up`, the others `down`.
const EXPECTED: [(&str, &str); 7] = [
    ("ca-server-name", "up"),
    ("wrong-ca", "down"),
    ("no-server-name", "down"),
    ("insecure", "up"),
    ("wrong-password", "down"),
    ("mtls", "up"),
    ("mtls-no-client-cert", "down"),
];

#[test]
fn https_targets_scrape_with_ca_server_name_insecure_and_mtls_as_prometheus_does() {
    let Some(prometheus) = require_tool("prometheus", "apt-get install prometheus") else {
        return;
    };
    let Some(promtool) = require_tool("promtool", "apt-get install prometheus") else {
        return;
    };
    let Some(tool) = require_tool("openssl", "apt-get install openssl") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    make_ca(&tool, dir, "ca");
    make_ca(&tool, dir, "other-ca");
    // The only name in the server certificate is target.test: scraping 127.0.0.1 verifies
    // only with `server_name: target.test`.
    make_leaf(
        &tool,
        dir,
        "ca",
        "server",
        "subjectAltName=DNS:target.test\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
        "2",
    );
    make_leaf(
        &tool,
        dir,
        "ca",
        "client",
        "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n",
        "3",
    );
    let p = |name: &str| dir.join(name).display().to_string();
    // bcrypt at the lowest cost: Prometheus's exporter-toolkit checks it on every request.
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let (_auth_target, auth_addr) = start_tls_target(
        &prometheus,
        dir,
        "target-basic-auth",
        &format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\nbasic_auth_users:\n  scraper: '{hash}'\n",
            p("server.pem"),
            p("server.key")
        ),
    );
    let (_mtls_target, mtls_addr) = start_tls_target(
        &prometheus,
        dir,
        "target-mtls",
        &format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {}\n",
            p("server.pem"),
            p("server.key"),
            p("ca.pem")
        ),
    );

    // A generous timeout: a handshake on a loaded 2-core machine can take a while, and a timeout
    // must not pass for a TLS failure (or a TLS failure for a timeout).
    let job = |name: &str, addr: &str, extra: &str| {
        format!(
            "  - job_name: {name}\n    scheme: https\n{extra}    static_configs:\n      - targets: ['{addr}']\n"
        )
    };
    let basic = "    basic_auth:\n      username: scraper\n      password: s3cret\n";
    let mut cfg = String::from("global:\n  scrape_interval: 2s\n  scrape_timeout: 2s\nscrape_configs:\n");
    cfg += &job(
        "ca-server-name",
        &auth_addr,
        &format!(
            "{basic}    tls_config:\n      ca_file: {}\n      server_name: target.test\n",
            p("ca.pem")
        ),
    );
    cfg += &job(
        "wrong-ca",
        &auth_addr,
        &format!(
            "{basic}    tls_config:\n      ca_file: {}\n      server_name: target.test\n",
            p("other-ca.pem")
        ),
    );
    cfg += &job(
        "no-server-name",
        &auth_addr,
        &format!("{basic}    tls_config:\n      ca_file: {}\n", p("ca.pem")),
    );
    cfg += &job(
        "insecure",
        &auth_addr,
        &format!("{basic}    tls_config:\n      insecure_skip_verify: true\n"),
    );
    cfg += &job(
        "wrong-password",
        &auth_addr,
        &format!(
            "    basic_auth:\n      username: scraper\n      password: wrong\n    tls_config:\n      ca_file: {}\n      server_name: target.test\n",
            p("ca.pem")
        ),
    );
    cfg += &job(
        "mtls",
        &mtls_addr,
        &format!(
            "    tls_config:\n      ca_file: {}\n      server_name: target.test\n      cert_file: {}\n      key_file: {}\n",
            p("ca.pem"),
            p("client.pem"),
            p("client.key")
        ),
    );
    cfg += &job(
        "mtls-no-client-cert",
        &mtls_addr,
        &format!(
            "    tls_config:\n      ca_file: {}\n      server_name: target.test\n",
            p("ca.pem")
        ),
    );
    let cfg_path = write_file(dir, "scrape.yml", &cfg);
    let check = Command::new(&promtool)
        .args(["check", "config", cfg_path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "promtool check config: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );

    let bw_listen = format!("127.0.0.1:{}", free_port());
    let bw_data = dir.join("bw-data");
    let bw = spawn(
        "burnwatch",
        &burnwatch_bin(),
        &[
            "serve",
            "--listen",
            &bw_listen,
            "--data-dir",
            bw_data.to_str().unwrap(),
            "--config",
            cfg_path.to_str().unwrap(),
        ],
        dir,
        &[],
    );
    let prom_listen = format!("127.0.0.1:{}", free_port());
    let prom = spawn(
        "prometheus-scraper",
        &prometheus,
        &[
            &format!("--config.file={}", cfg_path.display()),
            &format!("--storage.tsdb.path={}", dir.join("prom-data").display()),
            &format!("--web.listen-address={prom_listen}"),
        ],
        dir,
        &[],
    );
    let bw_url = format!("http://{bw_listen}");
    let prom_url = format!("http://{prom_listen}");

    // Each side must reach the expected health for every job, with `up` agreeing.
    let expected: BTreeMap<String, String> = EXPECTED
        .iter()
        .map(|(j, h)| (j.to_string(), h.to_string()))
        .collect();
    let mut reached = BTreeMap::new();
    for (name, base, proc) in [("burnwatch", &bw_url, &bw), ("Prometheus", &prom_url, &prom)] {
        let mut last = None;
        let got = wait_for(Duration::from_secs(120), || {
            let h = health(base)?;
            let up = up_values(base)?;
            let states: BTreeMap<String, String> =
                h.iter().map(|(j, (s, _))| (j.clone(), s.clone())).collect();
            let ups: BTreeMap<String, String> = up
                .iter()
                .map(|(j, v)| (j.clone(), if *v == 1.0 { "up" } else { "down" }.to_string()))
                .collect();
            last = Some((h.clone(), up.clone()));
            (states == expected && ups == expected).then_some((h, up))
        });
        let Some(got) = got else {
            panic!(
                "{name} did not reach the expected target health {expected:#?}\nlast seen (health, lastError; up): {last:#?}\n{}",
                proc.output()
            );
        };
        reached.insert(name, got);
    }

    // The differential: the same health and the same `up` per job in both.
    let (bw_health, bw_up) = &reached["burnwatch"];
    let (prom_health, prom_up) = &reached["Prometheus"];
    let states = |h: &BTreeMap<String, (String, String)>| -> BTreeMap<String, String> {
        h.iter().map(|(j, (s, _))| (j.clone(), s.clone())).collect()
    };
    assert_eq!(states(bw_health), states(prom_health), "target health per job");
    assert_eq!(bw_up, prom_up, "up per job");

    eprintln!("health and lastError per job\nburnwatch: {bw_health:#?}\nPrometheus: {prom_health:#?}");
    // burnwatch's errors name the problem as Prometheus's do (the words differ: Go's x509 and
    // rustls word them differently).
    let err = |job: &str| bw_health[job].1.to_lowercase();
    for job in ["ca-server-name", "insecure", "mtls"] {
        assert_eq!(err(job), "", "{job} scraped fine but has a lastError");
    }
    assert!(
        err("wrong-ca").contains("certificate") && err("wrong-ca").contains("unknown"),
        "wrong-ca: the lastError should say the certificate's issuer is unknown: {:?} (Prometheus: {:?})",
        bw_health["wrong-ca"].1,
        prom_health["wrong-ca"].1
    );
    assert!(
        err("no-server-name").contains("certificate") && err("no-server-name").contains("name"),
        "no-server-name: the lastError should say the certificate is not valid for the name: {:?} (Prometheus: {:?})",
        bw_health["no-server-name"].1,
        prom_health["no-server-name"].1
    );
    assert!(
        err("wrong-password").contains("401"),
        "wrong-password: the lastError should give the 401: {:?}",
        bw_health["wrong-password"].1
    );
    assert!(
        err("mtls-no-client-cert").contains("certificate"),
        "mtls-no-client-cert: the lastError should give the target's certificate alert: {:?}",
        bw_health["mtls-no-client-cert"].1
    );

    // Scraped for real: the target's own series arrived through the TLS scrapes.
    let scraped = wait_for(Duration::from_secs(60), || {
        let v = get_json(&format!(
            "{bw_url}/api/v1/query?query=count%20by%20(job)%20(prometheus_build_info)"
        ))?;
        let jobs: Vec<String> = v["data"]["result"]
            .as_array()?
            .iter()
            .filter_map(|r| r["metric"]["job"].as_str().map(str::to_string))
            .collect();
        (jobs.len() == 3).then_some(jobs)
    });
    assert!(
        scraped.is_some(),
        "prometheus_build_info of the three working jobs did not arrive in burnwatch"
    );
}
