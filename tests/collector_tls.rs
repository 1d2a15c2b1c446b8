//! TLS on the collector's OTLP exporters (issue #12): a sidecar `burnwatch collector` forwards
//! spans over `otlp` (gRPC) and `otlphttp` to a backend `burnwatch collector` whose receivers
//! serve TLS with certificates from a private CA made by the test with `openssl`. The gRPC
//! receiver requires client certificates (`client_ca_file`, mutual TLS). An exporter with the
//! right CA (and client certificate) delivers; one without a client certificate, and one
//! trusting another CA, fail, and the log names the certificate problem.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;

/// Runs `openssl args`, panicking with its output on failure.
fn openssl(bin: &Path, dir: &Path, args: &[&str]) {
    let out = Command::new(bin).args(args).current_dir(dir).output().unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA certificate and key: `dir/<name>.pem`, `dir/<name>.key`.
fn make_ca(bin: &Path, dir: &Path, name: &str) -> PathBuf {
    openssl(
        bin,
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
    dir.join(format!("{name}.pem"))
}

/// A leaf certificate signed by `ca` (made by [`make_ca`]) for `localhost`/127.0.0.1 with the
/// extended key usage `usage` (`serverAuth` or `clientAuth`): (cert, key).
fn issue(bin: &Path, dir: &Path, ca: &str, name: &str, usage: &str) -> (PathBuf, PathBuf) {
    let ext = dir.join(format!("{name}.ext"));
    std::fs::write(
        &ext,
        format!("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage={usage}\n"),
    )
    .unwrap();
    openssl(
        bin,
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
        ],
    );
    openssl(
        bin,
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
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
    (dir.join(format!("{name}.pem")), dir.join(format!("{name}.key")))
}

/// Starts `burnwatch collector` with `config` and waits for its health check.
fn start_collector(name: &str, dir: &Path, config: &str, health: u16) -> Proc {
    let cfg = write_file(dir, &format!("{name}.yaml"), config);
    let proc = spawn(
        name,
        &burnwatch_bin(),
        &["collector", "--config", cfg.to_str().unwrap()],
        dir,
        &[],
    );
    let url = format!("http://127.0.0.1:{health}/");
    wait_for(Duration::from_secs(60), || {
        http_get(&url).filter(|(s, _)| *s == 200)
    })
    .unwrap_or_else(|| panic!("{name} did not become healthy:\n{}", proc.output()));
    proc
}

fn telemetry(port: u16, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let (_, body) = http_get(&format!("http://127.0.0.1:{port}/metrics"))?;
    sample_value(&body, name, labels)
}

/// One span as OTLP/JSON.
const SPAN: &str = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"tls-test"}}]},"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"over-tls","kind":2,"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000001000000000"}]}]}]}"#;

#[test]
fn otlp_exporters_speak_tls_and_mtls_to_a_tls_receiver_and_name_certificate_errors() {
    let Some(bin) = require_tool("openssl", "apt-get install -y openssl") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = make_ca(&bin, d, "ca");
    let other_ca = make_ca(&bin, d, "other-ca");
    let (server_cert, server_key) = issue(&bin, d, "ca", "server", "serverAuth");
    let (client_cert, client_key) = issue(&bin, d, "ca", "client", "clientAuth");

    // The backend: gRPC with mutual TLS, HTTP with server TLS only.
    let (b_grpc, b_http, b_tel, b_health) = (free_port(), free_port(), free_port(), free_port());
    let backend = start_collector(
        "backend",
        d,
        &format!(
            r#"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{b_grpc}
        tls:
          cert_file: {cert}
          key_file: {key}
          client_ca_file: {ca}
      http:
        endpoint: 127.0.0.1:{b_http}
        tls:
          cert_file: {cert}
          key_file: {key}
exporters:
  debug:
    verbosity: basic
extensions:
  health_check:
    endpoint: 127.0.0.1:{b_health}
service:
  extensions: [health_check]
  telemetry:
    metrics:
      address: 127.0.0.1:{b_tel}
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [debug]
"#,
            cert = server_cert.display(),
            key = server_key.display(),
            ca = ca.display(),
        ),
        b_health,
    );

    // The sidecar: plain OTLP/HTTP in, four exporters out. The CA is given inline (ca_pem)
    // to the HTTP exporter, as a file to the others.
    let ca_pem = std::fs::read_to_string(&ca).unwrap();
    let ca_pem_yaml: String = ca_pem.lines().map(|l| format!("\n        {l}")).collect();
    let (s_http, s_tel, s_health) = (free_port(), free_port(), free_port());
    let no_retry = "retry_on_failure:\n      enabled: false";
    let sidecar = start_collector(
        "sidecar",
        d,
        &format!(
            r#"
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{s_http}
exporters:
  otlp/mtls:
    endpoint: localhost:{b_grpc}
    {no_retry}
    tls:
      ca_file: {ca}
      cert_file: {client_cert}
      key_file: {client_key}
  otlphttp/tls:
    endpoint: https://127.0.0.1:{b_http}
    {no_retry}
    tls:
      ca_pem: |{ca_pem_yaml}
  otlp/nocert:
    endpoint: https://127.0.0.1:{b_grpc}
    {no_retry}
    tls:
      ca_file: {ca}
      # In TLS 1.2 the server refuses a missing client certificate during the handshake,
      # so the client reads its alert; in 1.3 the client's handshake completes first and it
      # may see the closed connection before the alert (a broken pipe), naming nothing.
      max_version: "1.2"
  otlp/wrongca:
    endpoint: 127.0.0.1:{b_grpc}
    {no_retry}
    tls:
      ca_file: {other_ca}
      cert_file: {client_cert}
      key_file: {client_key}
extensions:
  health_check:
    endpoint: 127.0.0.1:{s_health}
service:
  extensions: [health_check]
  telemetry:
    metrics:
      address: 127.0.0.1:{s_tel}
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp/mtls, otlphttp/tls, otlp/nocert, otlp/wrongca]
"#,
            ca = ca.display(),
            other_ca = other_ca.display(),
            client_cert = client_cert.display(),
            client_key = client_key.display(),
        ),
        s_health,
    );

    let response = http_request(
        "POST",
        &format!("http://127.0.0.1:{s_http}/v1/traces"),
        &[("Content-Type", "application/json")],
        SPAN.as_bytes(),
    )
    .expect("the sidecar answers");
    assert_eq!(response.status, 200, "{}", response.text());

    // Delivered over mutual TLS (gRPC) and TLS (HTTP).
    for transport in ["grpc", "http"] {
        let got = wait_for(Duration::from_secs(30), || {
            telemetry(
                b_tel,
                "otelcol_receiver_accepted_spans_total",
                &[("transport", transport)],
            )
            .filter(|v| *v == 1.0)
        });
        assert_eq!(
            got,
            Some(1.0),
            "backend spans over {transport}:\nsidecar:\n{}\nbackend:\n{}",
            sidecar.output(),
            backend.output()
        );
    }
    for exporter in ["otlp/mtls", "otlphttp/tls"] {
        let sent = wait_for(Duration::from_secs(30), || {
            telemetry(
                s_tel,
                "otelcol_exporter_sent_spans_total",
                &[("exporter", exporter)],
            )
            .filter(|v| *v == 1.0)
        });
        assert_eq!(sent, Some(1.0), "{exporter}:\n{}", sidecar.output());
    }
    // Without a client certificate, and trusting another CA: failed, and said why.
    for exporter in ["otlp/nocert", "otlp/wrongca"] {
        let failed = wait_for(Duration::from_secs(30), || {
            telemetry(
                s_tel,
                "otelcol_exporter_send_failed_spans_total",
                &[("exporter", exporter)],
            )
            .filter(|v| *v == 1.0)
        });
        assert_eq!(failed, Some(1.0), "{exporter}:\n{}", sidecar.output());
    }
    let log = sidecar.output();
    let line = |exporter: &str| {
        log.lines()
            .filter(|l| l.contains(exporter))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let wrong_ca = line("otlp/wrongca");
    assert!(
        wrong_ca.contains("invalid peer certificate") && wrong_ca.contains("UnknownIssuer"),
        "the wrong-CA failure does not name the certificate problem:\n{log}"
    );
    let no_cert = line("otlp/nocert");
    assert!(
        no_cert.contains("CertificateRequired"),
        "the missing client certificate is not named:\n{log}"
    );
    assert_eq!(
        telemetry(
            b_tel,
            "otelcol_receiver_accepted_spans_total",
            &[("transport", "grpc")]
        ),
        Some(1.0),
        "a span without a client certificate reached the backend"
    );
}
