//! Shared helpers for burnwatch's end-to-end tests: starting the real binary on free
//! ports, finding the real peers (Prometheus, promtool, the Python OTel SDK), and polling
//! HTTP endpoints.

#![allow(dead_code)]

pub mod otlp_sink;
pub mod prom_pair;
pub mod tmux;

use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `burnwatch` binary cargo built for this test run.
pub fn burnwatch_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_burnwatch"))
}

/// The workspace root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where [`free_port`] looks: below Linux's default ephemeral range (32768-60999), and
/// above every default port burnwatch and its peers use (4317, 8889, 9090, 13133, ...).
const TEST_PORTS: std::ops::Range<u16> = 20_000..32_768;

/// A TCP port on 127.0.0.1 that was free a moment ago, for a child process to bind.
///
/// It comes from [`TEST_PORTS`], not from the kernel's ephemeral range: a port from that
/// range can be taken as the local port of any outgoing connection (another test's
/// client, Prometheus scraping) between this check and the child's bind, which made
/// tests fail with "Address already in use". Each port is handed out once per process,
/// and the search starts at a place that depends on the process, so concurrent test
/// binaries rarely probe the same ports.
pub fn free_port() -> u16 {
    use std::collections::BTreeSet;
    use std::sync::Mutex;
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let span = u32::from(TEST_PORTS.end - TEST_PORTS.start);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let start = std::process::id().wrapping_mul(7919).wrapping_add(nanos) % span;
    for i in 0..span {
        let port = TEST_PORTS.start + ((start + i) % span) as u16;
        if !given.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.insert(port);
            return port;
        }
    }
    panic!("no free TCP port in {TEST_PORTS:?} on 127.0.0.1");
}

/// Whether tests run in CI, where a missing peer is a failure, not a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Finds a tool on PATH. In CI a missing tool fails the test; locally the test is skipped
/// with a message naming what to install.
pub fn require_tool(name: &str, install_hint: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        let message = format!("`{name}` is not installed; install it with: {install_hint}");
        if in_ci() {
            panic!("{message} (CI=true: a missing peer fails the test)");
        }
        eprintln!("\n!!! SKIPPING: {message}\n");
    }
    found
}

/// The Python interpreter with the OpenTelemetry SDK (`BURNWATCH_PYTHON`, set by
/// tests/run-all.sh, or the repo's .venv).
pub fn require_python_sdk() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("BURNWATCH_PYTHON").map(PathBuf::from),
        Some(repo_root().join(".venv/bin/python")),
    ];
    for python in candidates.into_iter().flatten() {
        let ok = Command::new(&python)
            .args(["-c", "import opentelemetry.sdk, opentelemetry.exporter.otlp"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Some(python);
        }
    }
    let message = "the Python OpenTelemetry SDK is not available; run `bash tests/run-all.sh` \
                   (it creates .venv with opentelemetry-sdk and opentelemetry-exporter-otlp)";
    if in_ci() {
        panic!("{message} (CI=true: a missing peer fails the test)");
    }
    eprintln!("\n!!! SKIPPING: {message}\n");
    None
}

/// A child process killed when dropped.
pub struct Proc {
    pub child: Child,
    pub name: String,
    pub log: PathBuf,
}

impl Proc {
    /// Sends SIGTERM and waits up to `timeout` for the exit status.
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// The process's output so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Resident memory in bytes, from /proc.
    pub fn rss_bytes(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns `program args` with stdout and stderr going to a log file in `dir`.
pub fn spawn(name: &str, program: &Path, args: &[&str], dir: &Path, envs: &[(&str, &str)]) -> Proc {
    let log = dir.join(format!("{name}.log"));
    let out = std::fs::File::create(&log).unwrap();
    let err = out.try_clone().unwrap();
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null()).stdout(out).stderr(err);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
    Proc {
        child,
        name: name.to_string(),
        log,
    }
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::File::create(&path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    path
}

/// An HTTP response as the tests need it.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A minimal blocking HTTP/1.0 client (one request per connection, no chunking), enough
/// to talk to the collector's endpoints without pulling an HTTP stack into the tests.
pub fn http_request(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Option<Response> {
    use std::io::Read as _;
    let rest = url.strip_prefix("http://")?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut stream = std::net::TcpStream::connect(host).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let mut request = format!(
        "{method} {path} HTTP/1.0\r\nHost: {host}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    stream.write_all(body).ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    Some(Response {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    })
}

/// A blocking HTTP GET returning status and body text, or None when nothing answers.
pub fn http_get(url: &str) -> Option<(u16, String)> {
    http_request("GET", url, &[], b"").map(|r| (r.status, r.text()))
}

/// Polls `check` every 100ms until it returns Some or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Reads one sample's value from Prometheus text exposition: the line whose metric name is
/// `name` and whose labels include every `labels` pair.
pub fn sample_value(exposition: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, label_text) = match series.split_once('{') {
                Some((m, rest)) => (m, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            if metric != name {
                return None;
            }
            let all = labels
                .iter()
                .all(|(k, v)| label_text.contains(&format!("{k}=\"{v}\"")));
            if all { value.parse().ok() } else { None }
        })
}

/// A collector configuration like `up`'s embedded one (spans through the spanmetrics connector
/// into the metrics, flushed every second here), but on ports the OS picks, so tests run side by
/// side. `burnwatch up` finds the real ports itself.
pub const EPHEMERAL_CONFIG: &str = "\
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:0
      http:
        endpoint: 127.0.0.1:0
processors:
  memory_limiter:
    check_interval: 1s
    limit_mib: 512
  batch:
    timeout: 1s
exporters:
  prometheus:
    endpoint: 127.0.0.1:0
  debug: {}
connectors:
  spanmetrics:
    metrics_flush_interval: 1s
service:
  telemetry:
    metrics:
      address: 127.0.0.1:0
  pipelines:
    traces:
      receivers: [otlp]
      processors: [memory_limiter, batch]
      exporters: [debug, spanmetrics]
    metrics:
      receivers: [otlp, spanmetrics]
      processors: [memory_limiter, batch]
      exporters: [prometheus]
";

/// Starts `burnwatch serve --data-dir DATA_DIR [extra...]` on a free port, its output kept in
/// `logs`, and waits until it is ready; the process and the API's base URL.
pub fn start_serve_with_data(name: &str, logs: &Path, data_dir: &Path, extra: &[&str]) -> (Proc, String) {
    // A port checked free can still be taken before the child binds it (by a process outside
    // this test binary): then the child exits saying so, and another port is tried.
    for _ in 0..3 {
        let listen = format!("127.0.0.1:{}", free_port());
        let mut args = vec![
            "serve",
            "--listen",
            &listen,
            "--data-dir",
            data_dir.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let mut proc = spawn(name, &burnwatch_bin(), &args, logs, &[]);
        let base = format!("http://{listen}");
        let ready = wait_for(Duration::from_secs(60), || {
            if matches!(proc.child.try_wait(), Ok(Some(_))) {
                return Some(false);
            }
            http_get(&format!("{base}/-/ready"))
                .filter(|(s, _)| *s == 200)
                .map(|_| true)
        });
        if ready == Some(false) && proc.output().contains("Address already in use") {
            continue;
        }
        assert_eq!(
            ready,
            Some(true),
            "{name} did not become ready:\n{}",
            proc.output()
        );
        return (proc, base);
    }
    panic!("{name}: three ports in a row were taken before burnwatch could bind them");
}

/// `s` percent-encoded for a URL query value.
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The first value of `query`'s instant vector in the Prometheus API at `base` (at `time_ms`,
/// or now), if the query succeeds and returns one.
pub fn instant_value(base: &str, query: &str, time_ms: Option<i64>) -> Option<f64> {
    let mut url = format!("{base}/api/v1/query?query={}", urlencode(query));
    if let Some(t) = time_ms {
        url.push_str(&format!("&time={}", t as f64 / 1000.0));
    }
    let (status, body) = http_get(&url)?;
    if status != 200 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    v["data"]["result"].as_array()?.first()?["value"][1]
        .as_str()?
        .parse()
        .ok()
}

/// Starts the Prometheus at `bin` as a remote-write receiver (`--web.enable-remote-write-receiver`
/// plus `extra` flags) with its files in `dir`, and waits until it is ready; the process and
/// its base URL. Its output goes to `dir/{name}.log`.
pub fn start_prometheus_receiver(bin: &Path, dir: &Path, name: &str, extra: &[&str]) -> (Proc, String) {
    std::fs::create_dir_all(dir).unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let cfg = write_file(dir, &format!("{name}.yml"), "global:\n  scrape_interval: 1h\n");
    let mut args = vec![
        format!("--config.file={}", cfg.display()),
        format!(
            "--storage.tsdb.path={}",
            dir.join(format!("{name}-data")).display()
        ),
        format!("--web.listen-address={listen}"),
        "--web.enable-remote-write-receiver".to_string(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let prom = spawn(name, bin, &args, dir, &[]);
    let base = format!("http://{listen}");
    let ready = wait_for(Duration::from_secs(60), || {
        http_get(&format!("{base}/-/ready")).filter(|(s, _)| *s == 200)
    });
    assert!(ready.is_some(), "{name} did not start:\n{}", prom.output());
    (prom, base)
}

/// Posts a snappy-compressed remote-write 1.0 `body` to `{base}/api/v1/write`; the status and
/// the response text.
pub fn post_remote_write(base: &str, body: &[u8]) -> (u16, String) {
    let resp = http_request(
        "POST",
        &format!("{base}/api/v1/write"),
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Content-Encoding", "snappy"),
            ("X-Prometheus-Remote-Write-Version", "0.1.0"),
        ],
        body,
    )
    .expect("the server answers");
    (resp.status, resp.text())
}
