//! `burnwatch serve --web.config.file`: Prometheus's web configuration (basic authentication)
//! on the API, checked with HTTP requests and with a real Prometheus remote-writing to it.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Proc, burnwatch_bin, free_port, http_request, require_tool, spawn, wait_for, write_file};

const USER: &str = "alice";
const PASSWORD: &str = "correct horse";

/// A web config with one user; cost 4 keeps the test quick (the cost is read from the hash).
fn web_config(dir: &Path) -> std::path::PathBuf {
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    write_file(
        dir,
        "web.yml",
        &format!("basic_auth_users:\n  {USER}: '{hash}'\n"),
    )
}

/// Starts `serve --web.config.file` and waits until it answers (401 without credentials).
fn start_serve(dir: &Path, web: &Path) -> (Proc, String) {
    let listen = format!("127.0.0.1:{}", free_port());
    let proc = spawn(
        "burnwatch",
        &burnwatch_bin(),
        &[
            "serve",
            "--listen",
            &listen,
            "--web.config.file",
            web.to_str().unwrap(),
        ],
        dir,
        &[],
    );
    let base = format!("http://{listen}");
    let up = wait_for(Duration::from_secs(60), || {
        http_request("GET", &format!("{base}/-/ready"), &[], b"").filter(|r| r.status == 401)
    });
    assert!(up.is_some(), "serve did not start:\n{}", proc.output());
    (proc, base)
}

fn basic(user: &str, password: &str) -> String {
    // RFC 7617: base64 of `user:password`; done by hand to keep base64 out of the tests' deps.
    let raw = format!("{user}:{password}");
    let table = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in raw.as_bytes().chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(table[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    format!("Basic {out}")
}

#[test]
fn basic_auth_refuses_missing_and_wrong_credentials_on_every_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let web = web_config(dir.path());
    let (_bw, base) = start_serve(dir.path(), &web);
    let right = basic(USER, PASSWORD);
    let wrong_password = basic(USER, "wrong");
    let wrong_user = basic("mallory", PASSWORD);
    // As the exporter-toolkit does, the check covers every endpoint, health checks included.
    let endpoints = [
        ("GET", "/-/healthy"),
        ("GET", "/-/ready"),
        ("GET", "/api/v1/query?query=1"),
        ("GET", "/api/v1/labels"),
        ("POST", "/api/v1/write"),
        ("POST", "/api/v1/dora/events"),
    ];
    for (method, path) in endpoints {
        let url = format!("{base}{path}");
        for (what, headers) in [
            ("no credentials", vec![]),
            (
                "a wrong password",
                vec![("Authorization", wrong_password.as_str())],
            ),
            ("an unknown user", vec![("Authorization", wrong_user.as_str())]),
            ("a bearer token", vec![("Authorization", "Bearer abc")]),
        ] {
            let r = http_request(method, &url, &headers, b"").unwrap();
            assert_eq!(r.status, 401, "{method} {path} with {what}: {}", r.text());
            assert_eq!(
                r.header("WWW-Authenticate"),
                Some("Basic"),
                "{method} {path} with {what}"
            );
        }
    }
    for path in ["/-/healthy", "/-/ready", "/api/v1/query?query=1"] {
        let r = http_request("GET", &format!("{base}{path}"), &[("Authorization", &right)], b"").unwrap();
        assert_eq!(
            r.status,
            200,
            "GET {path} with the right credentials: {}",
            r.text()
        );
    }
    // The right credentials reach the handler, which answers for itself (here: an empty body is
    // not a remote-write request).
    let r = http_request(
        "POST",
        &format!("{base}/api/v1/write"),
        &[
            ("Authorization", &right),
            ("Content-Type", "application/x-protobuf"),
        ],
        b"",
    )
    .unwrap();
    assert_ne!(r.status, 401, "{}", r.text());
}

/// Runs `serve --web.config.file` with `text` and returns what it printed; it must exit non-zero.
fn serve_fails_with(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let web = write_file(dir.path(), "web.yml", text);
    let listen = format!("127.0.0.1:{}", free_port());
    let mut proc = spawn(
        "burnwatch",
        &burnwatch_bin(),
        &[
            "serve",
            "--listen",
            &listen,
            "--web.config.file",
            web.to_str().unwrap(),
        ],
        dir.path(),
        &[],
    );
    let status = wait_for(Duration::from_secs(60), || proc.child.try_wait().ok().flatten());
    let Some(status) = status else {
        panic!("serve started with a bad web config:\n{}", proc.output());
    };
    assert!(!status.success(), "{}", proc.output());
    proc.output()
}

#[test]
fn web_config_errors_name_the_problem() {
    let out = serve_fails_with("basic_auth_user:\n  alice: x\n");
    assert!(
        out.contains("basic_auth_user") && out.contains("supported keys"),
        "{out}"
    );
    let out = serve_fails_with("tls_server_config:\n  cert_file: a.pem\n  key_file: a.key\n");
    assert!(out.contains("tls_server_config"), "{out}");
    let out = serve_fails_with("basic_auth_users:\n  bob: hunter2\n");
    assert!(out.contains("basic_auth_users.bob is not a bcrypt hash"), "{out}");
    let out = serve_fails_with("basic_auth_users: [alice]\n");
    assert!(out.contains("basic_auth_users"), "{out}");
    let missing = Command::new(burnwatch_bin())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--web.config.file",
            "/nonexistent/web.yml",
        ])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(
        err.contains("cannot read web config file /nonexistent/web.yml"),
        "{err}"
    );
}

/// A real Prometheus remote-writes through two queues: one with `basic_auth`, whose samples
/// land, and one without, tagged `via="noauth"`, which is refused (Prometheus counts the
/// samples as failed) and stores nothing.
#[test]
fn prometheus_remote_write_with_basic_auth_lands_and_without_is_refused() {
    let Some(prometheus_bin) = require_tool("prometheus", "apt-get install prometheus") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let web = web_config(dir.path());
    let (bw, base) = start_serve(dir.path(), &web);
    let prom_port = free_port();
    let config = write_file(
        dir.path(),
        "prometheus.yml",
        &format!(
            "global:\n  scrape_interval: 1s\n\
             scrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:{prom_port}']\n\
             remote_write:\n\
             \x20 - url: {base}/api/v1/write\n    name: auth\n    basic_auth:\n      username: {USER}\n      password: {PASSWORD}\n\
             \x20   queue_config:\n      batch_send_deadline: 1s\n\
             \x20 - url: {base}/api/v1/write\n    name: noauth\n\
             \x20   write_relabel_configs:\n      - target_label: via\n        replacement: noauth\n\
             \x20   queue_config:\n      batch_send_deadline: 1s\n"
        ),
    );
    let prom = spawn(
        "prometheus",
        &prometheus_bin,
        &[
            &format!("--config.file={}", config.display()),
            &format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()),
            &format!("--web.listen-address=127.0.0.1:{prom_port}"),
        ],
        dir.path(),
        &[],
    );
    let client = reqwest::blocking::Client::new();
    let query = |q: &str| -> Option<serde_json::Value> {
        let r = client
            .get(format!("{base}/api/v1/query"))
            .query(&[("query", q)])
            .basic_auth(USER, Some(PASSWORD))
            .send()
            .ok()?;
        if !r.status().is_success() {
            return None;
        }
        r.json().ok()
    };
    let landed = wait_for(Duration::from_secs(90), || {
        query("up{job=\"self\"}").filter(|v| v["data"]["result"][0]["value"][1] == "1")
    });
    assert!(
        landed.is_some(),
        "no remote-written `up` arrived in burnwatch\nprometheus:\n{}\nburnwatch:\n{}",
        prom.output(),
        bw.output()
    );
    // Prometheus's own count of samples the unauthenticated queue could not send (a 401 is not
    // retried).
    let failed = wait_for(Duration::from_secs(90), || {
        let (_, page) = common::http_get(&format!("http://127.0.0.1:{prom_port}/metrics"))?;
        common::sample_value(
            &page,
            "prometheus_remote_storage_samples_failed_total",
            &[("remote_name", "noauth")],
        )
        .filter(|v| *v > 0.0)
    });
    assert!(
        failed.is_some(),
        "the queue without credentials was not refused\nprometheus:\n{}",
        prom.output()
    );
    let noauth = query("count({via=\"noauth\"})").unwrap();
    assert_eq!(
        noauth["data"]["result"],
        serde_json::json!([]),
        "samples without credentials were stored"
    );
}

#[test]
fn up_headless_takes_the_web_config_and_refuses_it_with_the_demo() {
    let dir = tempfile::tempdir().unwrap();
    let web = web_config(dir.path());
    let config = write_file(dir.path(), "collector.yaml", common::EPHEMERAL_CONFIG);
    let data_dir = dir.path().join("data");
    let listen = format!("127.0.0.1:{}", free_port());
    let base = format!("http://{listen}");
    let up_args = |extra: &[&'static str]| -> Vec<String> {
        let mut args: Vec<String> = [
            "up",
            "--config",
            config.to_str().unwrap(),
            "--listen",
            &listen,
            "--data-dir",
            data_dir.to_str().unwrap(),
            "--web.config.file",
            web.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    // The demo would be refused by its own API: up says so and stops. (The dashboard gets in
    // with a process credential: tests/tui_tmux.rs.)
    for extra in [&["--headless", "--demo"][..], &["--demo"][..]] {
        let out = Command::new(burnwatch_bin())
            .args(up_args(extra))
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success(), "up {extra:?} started");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("cannot be used with --demo"), "up {extra:?}: {err}");
    }
    let args = up_args(&["--headless"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let up = spawn("up", &burnwatch_bin(), &args, dir.path(), &[]);
    let refused = wait_for(Duration::from_secs(60), || {
        http_request("GET", &format!("{base}/-/ready"), &[], b"").filter(|r| r.status == 401)
    });
    assert!(
        refused.is_some(),
        "up --headless did not answer 401:\n{}",
        up.output()
    );
    let right = basic(USER, PASSWORD);
    let r = http_request(
        "GET",
        &format!("{base}/-/ready"),
        &[("Authorization", &right)],
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
}

/// A self-signed certificate for 127.0.0.1 made with the openssl CLI: (cert, key).
fn self_signed(openssl: &Path, dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("server.crt"), dir.join("server.key"));
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
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (cert, key)
}

/// `tls_server_config`: the API answers over HTTPS to a client trusting the certificate (curl,
/// and a real Prometheus remote-writing with `tls_config.ca_file` and `basic_auth`), and plain
/// HTTP gets no HTTP answer.
#[test]
fn tls_server_config_serves_https_to_curl_and_prometheus() {
    let (Some(openssl), Some(curl), Some(prometheus_bin)) = (
        require_tool("openssl", "apt-get install openssl"),
        require_tool("curl", "apt-get install curl"),
        require_tool("prometheus", "apt-get install prometheus"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (cert, _key) = self_signed(&openssl, dir.path());
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    // Relative paths: read from the web config file's folder, as the exporter-toolkit does.
    let web = write_file(
        dir.path(),
        "web.yml",
        &format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n\
             basic_auth_users:\n  {USER}: '{hash}'\n"
        ),
    );
    let listen = format!("127.0.0.1:{}", free_port());
    let bw = spawn(
        "burnwatch",
        &burnwatch_bin(),
        &[
            "serve",
            "--listen",
            &listen,
            "--web.config.file",
            web.to_str().unwrap(),
        ],
        dir.path(),
        &[],
    );
    let https = format!("https://{listen}");
    let curl_get = |path: &str, auth: bool| -> Option<(String, String)> {
        let mut cmd = Command::new(&curl);
        cmd.args(["-sS", "--max-time", "20", "-w", "\n%{http_code}", "--cacert"])
            .arg(&cert);
        if auth {
            cmd.args(["-u", &format!("{USER}:{PASSWORD}")]);
        }
        let out = cmd.arg(format!("{https}{path}")).output().ok()?;
        if !out.status.success() {
            return None;
        }
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n')?;
        Some((code.to_string(), body.to_string()))
    };
    let up = wait_for(Duration::from_secs(60), || {
        curl_get("/-/ready", true).filter(|(c, _)| c == "200")
    });
    assert!(up.is_some(), "no HTTPS answer:\n{}", bw.output());
    assert_eq!(curl_get("/-/ready", false).unwrap().0, "401");
    // A client that connects and never starts its handshake does not stop the next one being
    // served (handshakes run off the accept loop; this checks the outcome, not the timing).
    let _silent = std::net::TcpStream::connect(&listen).unwrap();
    let after = curl_get("/-/ready", true);
    assert_eq!(after.map(|(c, _)| c), Some("200".to_string()), "{}", bw.output());
    // Plain HTTP to the TLS port gets no HTTP response.
    assert!(
        http_request("GET", &format!("http://{listen}/-/ready"), &[], b"").is_none_or(|r| r.status >= 400)
    );

    let prom_port = free_port();
    let config = write_file(
        dir.path(),
        "prometheus.yml",
        &format!(
            "global:\n  scrape_interval: 1s\n\
             scrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:{prom_port}']\n\
             remote_write:\n\
             \x20 - url: {https}/api/v1/write\n    basic_auth:\n      username: {USER}\n      password: {PASSWORD}\n\
             \x20   tls_config:\n      ca_file: {}\n\
             \x20   queue_config:\n      batch_send_deadline: 1s\n",
            cert.display()
        ),
    );
    let prom = spawn(
        "prometheus",
        &prometheus_bin,
        &[
            &format!("--config.file={}", config.display()),
            &format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()),
            &format!("--web.listen-address=127.0.0.1:{prom_port}"),
        ],
        dir.path(),
        &[],
    );
    let landed = wait_for(Duration::from_secs(90), || {
        curl_get("/api/v1/query?query=up%7Bjob%3D%22self%22%7D", true)
            .filter(|(c, b)| c == "200" && b.contains(r#""value":["#))
    });
    assert!(
        landed.is_some(),
        "no remote-written `up` arrived over HTTPS\nprometheus:\n{}\nburnwatch:\n{}",
        prom.output(),
        bw.output()
    );
}

/// Runs `burnwatch args`, failing the test if it has not ended within two minutes (a client
/// that hangs on refused credentials is a failure, not a slow pass): (exit code, stdout, stderr).
fn run_bounded(args: &[&str]) -> (Option<i32>, String, String) {
    let mut child = Command::new(burnwatch_bin())
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let ended = wait_for(Duration::from_secs(120), || child.try_wait().ok().flatten());
    if ended.is_none() {
        let _ = child.kill();
        panic!("burnwatch {args:?} did not end within two minutes");
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Issue #12: `tui` could not reach a server behind TLS and basic auth. With `--username`,
/// `--password-file` and `--ca-file` (the server's self-signed certificate), `tui --once` prints
/// the SLO table computed from the server's data, and `slo status` reads the same; a wrong or
/// missing password fails at once with the 401 named, an untrusted certificate with the reason.
#[test]
fn tui_once_reads_a_secured_serve_and_names_refused_credentials() {
    let Some(openssl) = require_tool("openssl", "apt-get install openssl") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (cert, _key) = self_signed(&openssl, dir.path());
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    let web = write_file(
        dir.path(),
        "web.yml",
        &format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n\
             basic_auth_users:\n  {USER}: '{hash}'\n"
        ),
    );
    // Half an hour of the checkout service's requests up to now, 1% of them 5xx: the bundled
    // requests-availability SLO reads an SLI of 99%.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut data = String::from("# TYPE http_server_requests_total counter\n");
    for (code, per_step) in [("200", 99), ("500", 1)] {
        for i in 0..=120u64 {
            data.push_str(&format!(
                "http_server_requests_total{{job=\"shop/checkout\",http_response_status_code=\"{code}\"}} {} {}\n",
                i * per_step,
                now - 1800 + i * 15
            ));
        }
    }
    data.push_str("# EOF\n");
    let load = write_file(dir.path(), "data.om", &data);
    let listen = format!("127.0.0.1:{}", free_port());
    let bw = spawn(
        "burnwatch",
        &burnwatch_bin(),
        &[
            "serve",
            "--listen",
            &listen,
            "--web.config.file",
            web.to_str().unwrap(),
            "--load",
            load.to_str().unwrap(),
        ],
        dir.path(),
        &[],
    );
    let url = format!("https://{listen}");
    let right = write_file(dir.path(), "password", &format!("{PASSWORD}\n"));
    let wrong = write_file(dir.path(), "wrong", "not the password\n");
    let (cert_s, right_s, wrong_s) = (
        cert.to_str().unwrap(),
        right.to_str().unwrap(),
        wrong.to_str().unwrap(),
    );
    let tui = |extra: &[&str]| {
        let mut args = vec!["tui", "--once", "--prometheus-url", &url];
        args.extend_from_slice(extra);
        run_bounded(&args)
    };
    let with_password = [
        "--username",
        USER,
        "--password-file",
        right_s,
        "--ca-file",
        cert_s,
    ];
    // Wait for the server by asking the way a user would.
    let ready = wait_for(Duration::from_secs(60), || {
        let r = tui(&with_password);
        (r.0 == Some(0)).then_some(r)
    });
    let (_, table, _) = ready.unwrap_or_else(|| panic!("tui --once never read the server:\n{}", bw.output()));
    let row = table
        .lines()
        .find(|l| l.contains("requests-availability"))
        .unwrap_or_else(|| panic!("no requests-availability row:\n{table}"));
    // SERVICE SLO OBJECTIVE SLI ...
    let sli = row.split_whitespace().nth(3).unwrap();
    let sli: f64 = sli
        .trim_end_matches('%')
        .parse()
        .unwrap_or_else(|_| panic!("the SLI is not a number: {row}"));
    assert!((sli - 99.0).abs() < 0.01, "{row}");

    // slo status takes the same flags.
    let (code, status, err) = run_bounded(&[
        "slo",
        "status",
        "--prometheus-url",
        &url,
        "--username",
        USER,
        "--password-file",
        right_s,
        "--ca-file",
        cert_s,
        "--spec",
        common::repo_root()
            .join("examples/demo-slos/checkout-sloth.yaml")
            .to_str()
            .unwrap(),
        "--json",
    ]);
    assert_eq!(code, Some(0), "{status}{err}");
    assert!(
        !status.contains("401") && !status.contains("cannot reach"),
        "{status}"
    );

    // Refused credentials: exit 1, the 401 named.
    let (code, out, err) = tui(&[
        "--username",
        USER,
        "--password-file",
        wrong_s,
        "--ca-file",
        cert_s,
    ]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        err.contains("401 Unauthorized") && err.contains("refused the credentials"),
        "{err}"
    );
    let (code, _, err) = tui(&["--ca-file", cert_s]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("401 Unauthorized") && err.contains("needs credentials"),
        "{err}"
    );
    // The self-signed certificate without --ca-file is not trusted; with
    // --insecure-skip-verify it is accepted.
    let (code, _, err) = tui(&["--username", USER, "--password-file", right_s]);
    assert_eq!(code, Some(1));
    assert!(err.contains("certificate"), "{err}");
    let (code, _, err) = tui(&[
        "--username",
        USER,
        "--password-file",
        right_s,
        "--insecure-skip-verify",
    ]);
    assert_eq!(code, Some(0), "{err}");
}
