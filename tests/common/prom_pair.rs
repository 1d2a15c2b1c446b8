//! A real Prometheus 2.42 and `burnwatch serve` over the same OpenMetrics data, for differential
//! tests of the query API: the data goes into Prometheus as TSDB blocks (`promtool tsdb
//! create-blocks-from openmetrics`) and into burnwatch with `serve --load`.

use std::time::Duration;

use super::{Proc, free_port, require_tool, spawn, wait_for, write_file};

/// The two servers, killed when dropped.
pub struct PromPair {
    /// Prometheus's base URL (`http://127.0.0.1:PORT`).
    pub prometheus: String,
    /// burnwatch's base URL.
    pub burnwatch: String,
    _procs: Vec<Proc>,
    _dir: tempfile::TempDir,
}

impl PromPair {
    /// Starts both over `openmetrics` (text ending in `# EOF`) and waits until both answer
    /// `ready_query` at `ready_at` (Unix seconds) with the same non-empty result. `None` when
    /// Prometheus or promtool is missing outside CI (in CI a missing tool fails the test).
    pub fn start(openmetrics: &str, ready_query: &str, ready_at: f64) -> Option<PromPair> {
        Self::start_with(openmetrics, ready_query, ready_at, &[], &[])
    }

    /// [`PromPair::start`] with extra command-line arguments for each server.
    pub fn start_with(
        openmetrics: &str,
        ready_query: &str,
        ready_at: f64,
        prometheus_args: &[&str],
        burnwatch_args: &[&str],
    ) -> Option<PromPair> {
        let promtool = require_tool("promtool", "apt-get install -y prometheus")?;
        let prometheus = require_tool("prometheus", "apt-get install -y prometheus")?;
        let dir = tempfile::tempdir().unwrap();
        let data = write_file(dir.path(), "data.om", openmetrics);
        let blocks = dir.path().join("tsdb");
        let out = std::process::Command::new(&promtool)
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(&data)
            .arg(&blocks)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool create-blocks-from failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let config = write_file(dir.path(), "prometheus.yml", "global:\n  scrape_interval: 15s\n");
        let pport = free_port();
        let config_arg = format!("--config.file={}", config.display());
        let tsdb_arg = format!("--storage.tsdb.path={}", blocks.display());
        let listen_arg = format!("--web.listen-address=127.0.0.1:{pport}");
        let mut args = vec![
            config_arg.as_str(),
            tsdb_arg.as_str(),
            listen_arg.as_str(),
            "--storage.tsdb.retention.time=100y",
        ];
        args.extend_from_slice(prometheus_args);
        let prom = spawn("prometheus", &prometheus, &args, dir.path(), &[]);
        let bport = free_port();
        let listen = format!("127.0.0.1:{bport}");
        let load = data.display().to_string();
        let mut args = vec![
            "serve",
            "--log-level",
            "warn",
            "--listen",
            &listen,
            "--load",
            &load,
        ];
        args.extend_from_slice(burnwatch_args);
        let bw = spawn("burnwatch", &super::burnwatch_bin(), &args, dir.path(), &[]);
        let pair = PromPair {
            prometheus: format!("http://127.0.0.1:{pport}"),
            burnwatch: format!("http://127.0.0.1:{bport}"),
            _procs: vec![prom, bw],
            _dir: dir,
        };
        let at = format!("{ready_at:.3}");
        let mut last = String::new();
        let ready = wait_for(Duration::from_secs(120), || {
            let params = [("query", ready_query), ("time", at.as_str())];
            let a = post_form(&pair.prometheus, "/api/v1/query", &params);
            let b = post_form(&pair.burnwatch, "/api/v1/query", &params);
            match (&a, &b) {
                (Some((200, a)), Some((200, b)))
                    if a["data"]["result"] == b["data"]["result"]
                        && a["data"]["result"].as_array().is_some_and(|r| !r.is_empty()) =>
                {
                    Some(())
                }
                _ => {
                    last = format!("prometheus {a:?}, burnwatch {b:?}");
                    None
                }
            }
        });
        assert!(
            ready.is_some(),
            "the servers did not both serve the data within 120 s; last answers: {last}"
        );
        Some(pair)
    }
}

/// POSTs a form to `base` + `path`; the status and the JSON body, `None` when nothing answers or
/// the body is not JSON.
pub fn post_form(base: &str, path: &str, params: &[(&str, &str)]) -> Option<(u16, serde_json::Value)> {
    let body = form_encode(params);
    let resp = super::http_request(
        "POST",
        &format!("{base}{path}"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    )?;
    let json = serde_json::from_slice(&resp.body).ok()?;
    Some((resp.status, json))
}

/// `application/x-www-form-urlencoded` text of `params`.
pub fn form_encode(params: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        let mut out = String::new();
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    };
    params
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Appends one OpenMetrics sample line, `name{labels} value seconds.millis`, to `out`.
pub fn om_sample(out: &mut String, series: &str, v: f64, t_ms: i64) {
    use std::fmt::Write as _;
    writeln!(out, "{series} {v} {}.{:03}", t_ms / 1000, t_ms % 1000).unwrap();
}
