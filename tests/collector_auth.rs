//! Authentication of the OTLP receivers with a real peer (issue #12 item 10): the
//! OpenTelemetry Python SDK's exporters send to a `burnwatch collector` whose gRPC side
//! requires a bearer token (`bearertokenauth`) and whose HTTP side requires Basic
//! credentials (`basicauth`). With the right headers the SDK's export succeeds; without
//! them it fails, the refusal is counted and nothing reaches the pipeline.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

struct Ports {
    grpc: u16,
    http: u16,
    telemetry: u16,
    health: u16,
}

fn config(p: &Ports) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
        auth:
          authenticator: bearertokenauth
      http:
        endpoint: 127.0.0.1:{http}
        auth:
          authenticator: basicauth/users
exporters:
  debug:
    verbosity: basic
extensions:
  health_check:
    endpoint: 127.0.0.1:{health}
  bearertokenauth:
    token: e2e-s3cret
  basicauth/users:
    htpasswd:
      inline: |
        alice:wonderland
service:
  extensions: [health_check, bearertokenauth, basicauth/users]
  telemetry:
    metrics:
      address: 127.0.0.1:{telemetry}
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [debug]
"#,
        grpc = p.grpc,
        http = p.http,
        telemetry = p.telemetry,
        health = p.health,
    )
}

/// Runs tests/python/send_auth.py; `true` when the SDK's export reported SUCCESS.
fn sdk_export(python: &Path, protocol: &str, port: u16, headers: &[&str]) -> bool {
    sdk_export_tls(python, protocol, port, headers, None)
}

/// As [`sdk_export`], over TLS trusting `ca` when given.
fn sdk_export_tls(python: &Path, protocol: &str, port: u16, headers: &[&str], ca: Option<&Path>) -> bool {
    let mut command = Command::new(python);
    command.arg(repo_root().join("tests/python/send_auth.py"));
    if let Some(ca) = ca {
        command.args(["--ca", ca.to_str().unwrap()]);
        // requests lets these variables override a session's own `verify` (psf/requests
        // #3829), which is where the SDK's HTTP exporter puts `certificate_file`.
        command
            .env_remove("REQUESTS_CA_BUNDLE")
            .env_remove("CURL_CA_BUNDLE");
    }
    command.args(["--protocol", protocol, "--endpoint", &format!("127.0.0.1:{port}")]);
    for header in headers {
        command.args(["--header", header]);
    }
    let out = command.output().expect("run the Python sender");
    match out.status.code() {
        Some(0) => true,
        Some(3) => false,
        _ => panic!(
            "the Python SDK sender crashed over {protocol}:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn telemetry_value(ports: &Ports, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let (_, body) = http_get(&format!("http://127.0.0.1:{}/metrics", ports.telemetry))?;
    sample_value(&body, name, labels)
}

#[test]
fn python_sdk_with_credentials_is_accepted_and_without_is_refused() {
    let Some(python) = require_python_sdk() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports {
        grpc: free_port(),
        http: free_port(),
        telemetry: free_port(),
        health: free_port(),
    };
    let cfg = write_file(dir.path(), "collector.yaml", &config(&ports));
    let collector = spawn(
        "collector",
        &burnwatch_bin(),
        &["collector", "--config", cfg.to_str().unwrap()],
        dir.path(),
        &[],
    );
    let health = format!("http://127.0.0.1:{}/", ports.health);
    wait_for(Duration::from_secs(30), || {
        http_get(&health).filter(|(s, _)| *s == 200)
    })
    .unwrap_or_else(|| panic!("collector did not become healthy:\n{}", collector.output()));

    // Refused first: none of these may reach the pipeline.
    assert!(
        !sdk_export(&python, "grpc", ports.grpc, &[]),
        "gRPC without a token was accepted"
    );
    assert!(
        !sdk_export(&python, "grpc", ports.grpc, &["authorization=Bearer wrong"]),
        "gRPC with a wrong token was accepted"
    );
    assert!(
        !sdk_export(&python, "http", ports.http, &[]),
        "HTTP without credentials was accepted"
    );
    // alice:wonderland sent to the gRPC side, which wants a bearer token.
    assert!(!sdk_export(
        &python,
        "grpc",
        ports.grpc,
        &["authorization=Basic YWxpY2U6d29uZGVybGFuZA=="]
    ));
    for (transport, want) in [("grpc", 3.0), ("http", 1.0)] {
        let labels = [("reason", "unauthenticated"), ("transport", transport)];
        let got = wait_for(Duration::from_secs(10), || {
            telemetry_value(&ports, "otelcol_receiver_refused_requests_total", &labels).filter(|v| *v == want)
        });
        assert_eq!(
            got,
            Some(want),
            "refused {transport} requests:\n{}",
            collector.output()
        );
    }
    assert_eq!(
        telemetry_value(&ports, "otelcol_receiver_accepted_spans_total", &[]).unwrap_or(0.0),
        0.0,
        "an unauthenticated span was accepted"
    );

    // With credentials the same SDK exporters succeed.
    assert!(sdk_export(
        &python,
        "grpc",
        ports.grpc,
        &["authorization=Bearer e2e-s3cret"]
    ));
    assert!(sdk_export(
        &python,
        "http",
        ports.http,
        &["authorization=Basic YWxpY2U6d29uZGVybGFuZA=="]
    ));
    let sent = wait_for(Duration::from_secs(10), || {
        telemetry_value(
            &ports,
            "otelcol_exporter_sent_spans_total",
            &[("exporter", "debug")],
        )
        .filter(|v| *v == 2.0)
    });
    assert_eq!(
        sent,
        Some(2.0),
        "spans exported by debug:\n{}",
        collector.output()
    );
}

#[test]
fn collector_validate_names_an_undefined_authenticator() {
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports {
        grpc: free_port(),
        http: free_port(),
        telemetry: free_port(),
        health: free_port(),
    };
    let text = config(&ports).replace("authenticator: basicauth/users", "authenticator: basicauth/x");
    let cfg = write_file(dir.path(), "collector.yaml", &text);
    let out = Command::new(burnwatch_bin())
        .args(["collector", "validate", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "validate accepted:\n{stderr}");
    assert!(
        stderr.contains(
            "receivers.otlp.protocols.http.auth.authenticator: extension \"basicauth/x\" is not defined in extensions"
        ),
        "{stderr}"
    );
}

/// A self-signed certificate for 127.0.0.1 and localhost, made with the `openssl` CLI.
fn self_signed(dir: &Path, openssl: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
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
            "/CN=localhost",
        ])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl req failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

#[test]
fn python_sdk_exports_over_tls_with_auth_on_both_transports() {
    let Some(openssl) = require_tool("openssl", "apt-get install -y openssl") else {
        return;
    };
    let Some(python) = require_python_sdk() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path(), &openssl);
    let ports = Ports {
        grpc: free_port(),
        http: free_port(),
        telemetry: free_port(),
        health: free_port(),
    };
    let tls = format!(
        "\n        tls:\n          cert_file: {}\n          key_file: {}",
        cert.display(),
        key.display()
    );
    let text = config(&ports)
        .replace(
            "authenticator: bearertokenauth",
            &format!("authenticator: bearertokenauth{tls}"),
        )
        .replace(
            "authenticator: basicauth/users",
            &format!("authenticator: basicauth/users{tls}"),
        );
    let cfg = write_file(dir.path(), "collector.yaml", &text);
    let collector = spawn(
        "collector",
        &burnwatch_bin(),
        &["collector", "--config", cfg.to_str().unwrap()],
        dir.path(),
        &[],
    );
    let health = format!("http://127.0.0.1:{}/", ports.health);
    wait_for(Duration::from_secs(30), || {
        http_get(&health).filter(|(s, _)| *s == 200)
    })
    .unwrap_or_else(|| panic!("collector did not become healthy:\n{}", collector.output()));

    // Plain text to the TLS port is not served.
    let plain = http_request(
        "POST",
        &format!("http://127.0.0.1:{}/v1/traces", ports.http),
        &[],
        b"",
    );
    assert!(
        plain.is_none_or(|r| r.status != 200),
        "plain HTTP was served on the TLS port"
    );
    // Over TLS, authentication still applies: refused with 401 (counted), not by TLS.
    assert!(!sdk_export_tls(&python, "http", ports.http, &[], Some(&cert)));
    let labels = [("reason", "unauthenticated"), ("transport", "http")];
    let refused = wait_for(Duration::from_secs(10), || {
        telemetry_value(&ports, "otelcol_receiver_refused_requests_total", &labels).filter(|v| *v == 1.0)
    });
    assert_eq!(
        refused,
        Some(1.0),
        "HTTPS without credentials:\n{}",
        collector.output()
    );
    assert!(
        sdk_export_tls(
            &python,
            "grpc",
            ports.grpc,
            &["authorization=Bearer e2e-s3cret"],
            Some(&cert)
        ),
        "gRPC over TLS failed:\n{}",
        collector.output()
    );
    assert!(
        sdk_export_tls(
            &python,
            "http",
            ports.http,
            &["authorization=Basic YWxpY2U6d29uZGVybGFuZA=="],
            Some(&cert)
        ),
        "HTTP over TLS failed:\n{}",
        collector.output()
    );
    let sent = wait_for(Duration::from_secs(10), || {
        telemetry_value(
            &ports,
            "otelcol_exporter_sent_spans_total",
            &[("exporter", "debug")],
        )
        .filter(|v| *v == 2.0)
    });
    assert_eq!(
        sent,
        Some(2.0),
        "spans exported by debug:\n{}",
        collector.output()
    );
}

#[test]
fn collector_start_names_an_unreadable_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports {
        grpc: free_port(),
        http: free_port(),
        telemetry: free_port(),
        health: free_port(),
    };
    let text = config(&ports).replace(
        "authenticator: bearertokenauth",
        "authenticator: bearertokenauth\n        tls:\n          cert_file: /nonexistent/cert.pem\n          key_file: /nonexistent/key.pem",
    );
    let cfg = write_file(dir.path(), "collector.yaml", &text);
    let out = Command::new(burnwatch_bin())
        .args(["collector", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the collector started:\n{stderr}");
    assert!(
        stderr.contains("receivers.otlp.protocols.grpc.tls.cert_file")
            && stderr.contains("/nonexistent/cert.pem"),
        "{stderr}"
    );
}

/// Runs `burnwatch collector validate --config <text>`: (success, stderr).
fn validate(dir: &Path, text: &str) -> (bool, String) {
    let cfg = write_file(dir, "validate.yaml", text);
    let out = Command::new(burnwatch_bin())
        .args(["collector", "validate", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Regression: `collector validate` passed configs naming a token file, an htpasswd file or
/// certificates that do not exist (or do not parse); start-up then failed.
#[test]
fn collector_validate_opens_the_files_a_config_names() {
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports {
        grpc: free_port(),
        http: free_port(),
        telemetry: free_port(),
        health: free_port(),
    };
    let base = config(&ports);
    let missing_token = base.replace("token: e2e-s3cret", "filename: /nonexistent/token");
    let (ok, stderr) = validate(dir.path(), &missing_token);
    assert!(!ok, "validate accepted a missing token file");
    assert!(
        stderr.contains("extensions.bearertokenauth.filename: cannot read /nonexistent/token"),
        "{stderr}"
    );

    let htpasswd = write_file(dir.path(), "htpasswd", "alice:$apr1$salt$not-a-hash\n");
    let broken_htpasswd = base.replace(
        "inline: |\n        alice:wonderland",
        &format!("file: {}", htpasswd.display()),
    );
    let (ok, stderr) = validate(dir.path(), &broken_htpasswd);
    assert!(!ok, "validate accepted a broken htpasswd file");
    assert!(
        stderr.contains(&format!(
            "extensions.basicauth/users.htpasswd.file: {} line 1: invalid $apr1$ MD5 hash",
            htpasswd.display()
        )),
        "{stderr}"
    );

    let cert = write_file(dir.path(), "cert.pem", "not a certificate\n");
    let bad_cert = base.replace(
        "authenticator: bearertokenauth",
        &format!(
            "authenticator: bearertokenauth\n        tls:\n          cert_file: {}\n          key_file: {}",
            cert.display(),
            cert.display()
        ),
    );
    let (ok, stderr) = validate(dir.path(), &bad_cert);
    assert!(!ok, "validate accepted an unusable certificate");
    assert!(
        stderr.contains(&format!(
            "receivers.otlp.protocols.grpc.tls.cert_file: {} holds no PEM certificate",
            cert.display()
        )),
        "{stderr}"
    );

    let bad_ca = base.replace(
        "exporters:\n  debug:\n    verbosity: basic",
        "exporters:\n  debug:\n    verbosity: basic\n  otlp/backend:\n    endpoint: backend:4317\n    tls:\n      ca_file: /nonexistent/ca.pem",
    );
    let (ok, stderr) = validate(dir.path(), &bad_ca);
    assert!(!ok, "validate accepted a missing exporter CA");
    assert!(
        stderr.contains("exporters.otlp/backend.tls.ca_file: cannot read /nonexistent/ca.pem"),
        "{stderr}"
    );

    // The same config with files that exist is valid.
    let token = write_file(dir.path(), "token", "e2e-s3cret\n");
    let good = base.replace("token: e2e-s3cret", &format!("filename: {}", token.display()));
    let (ok, stderr) = validate(dir.path(), &good);
    assert!(ok, "{stderr}");
}

/// Regression: htpasswd entries hashed with SHA-1 and MD5 (`htpasswd -s`, `htpasswd -m`, its
/// default) and SHA-crypt were refused; they are accepted as go-htpasswd accepts them. The
/// hashes are made by `openssl` here, and a real request is authenticated with each.
#[test]
fn basicauth_accepts_htpasswd_hashes_made_by_openssl() {
    let Some(openssl) = require_tool("openssl", "apt-get install -y openssl") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], input: Option<&[u8]>| -> Vec<u8> {
        use std::io::Write as _;
        let mut child = Command::new(&openssl)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(input) = input {
            child.stdin.take().unwrap().write_all(input).unwrap();
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "openssl {args:?} failed");
        out.stdout
    };
    let passwd = |flag: &str, password: &str| {
        String::from_utf8(run(&["passwd", flag, password], None))
            .unwrap()
            .trim()
            .to_string()
    };
    // {SHA}: base64 of the SHA-1 digest, as `htpasswd -s` writes it.
    let sha = run(&["dgst", "-sha1", "-binary"], Some(b"sha-pw"));
    let sha = String::from_utf8(run(&["base64", "-A"], Some(&sha))).unwrap();
    let users = [
        ("apr", "apr-pw", passwd("-apr1", "apr-pw")),
        ("md5", "md5-pw", passwd("-1", "md5-pw")),
        ("s256", "s256-pw", passwd("-5", "s256-pw")),
        ("s512", "s512-pw", passwd("-6", "s512-pw")),
        ("sha", "sha-pw", format!("{{SHA}}{}", sha.trim())),
    ];
    let file: String = users.iter().map(|(u, _, h)| format!("{u}:{h}\n")).collect();
    let htpasswd = write_file(dir.path(), "htpasswd", &file);
    let ports = Ports {
        grpc: free_port(),
        http: free_port(),
        telemetry: free_port(),
        health: free_port(),
    };
    let text = config(&ports).replace(
        "inline: |\n        alice:wonderland",
        &format!("file: {}", htpasswd.display()),
    );
    let cfg = write_file(dir.path(), "collector.yaml", &text);
    let collector = spawn(
        "collector",
        &burnwatch_bin(),
        &["collector", "--config", cfg.to_str().unwrap()],
        dir.path(),
        &[],
    );
    let health = format!("http://127.0.0.1:{}/", ports.health);
    wait_for(Duration::from_secs(30), || {
        http_get(&health).filter(|(s, _)| *s == 200)
    })
    .unwrap_or_else(|| panic!("collector did not become healthy:\n{}", collector.output()));
    let post = |user: &str, password: &str| {
        let credentials = String::from_utf8(run(
            &["base64", "-A"],
            Some(format!("{user}:{password}").as_bytes()),
        ))
        .unwrap();
        http_request(
            "POST",
            &format!("http://127.0.0.1:{}/v1/traces", ports.http),
            &[
                ("Content-Type", "application/json"),
                ("Authorization", &format!("Basic {}", credentials.trim())),
            ],
            b"{}",
        )
        .expect("the collector answers")
        .status
    };
    for (user, password, hash) in &users {
        assert_eq!(
            post(user, password),
            200,
            "{user} with {hash}:\n{}",
            collector.output()
        );
        assert_eq!(post(user, "wrong"), 401, "{user} with a wrong password");
    }
}
