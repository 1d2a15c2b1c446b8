//! "Growing past one machine" (README): the rules `burnwatch slo generate` writes, loaded by
//! vmalert (Debian's `victoria-metrics` package) over VictoriaMetrics, record the SLO series
//! with the values the data implies; then `burnwatch slo status --prometheus-url` and
//! `burnwatch tui --prometheus-url --once` read them from VictoriaMetrics.

mod common;

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{
    Proc, burnwatch_bin, free_port, http_get, http_request, repo_root, require_tool, spawn, wait_for,
};

const DEADLINE: Duration = Duration::from_secs(90);

/// Starts VictoriaMetrics with its data in `dir`; returns it and its base URL.
fn start_victoria_metrics(bin: &Path, dir: &Path) -> (Proc, String) {
    let listen = format!("127.0.0.1:{}", free_port());
    let proc = spawn(
        "victoria-metrics",
        bin,
        &[
            &format!("-httpListenAddr={listen}"),
            &format!("-storageDataPath={}", dir.join("vm-data").display()),
            // Serve the newest samples at once instead of 30 s late, and cache no query results
            // computed before the recorded series arrive.
            "-search.latencyOffset=0s",
            "-search.disableCache",
        ],
        dir,
        &[],
    );
    let base = format!("http://{listen}");
    let ready = wait_for(DEADLINE, || {
        http_get(&format!("{base}/health")).filter(|(s, _)| *s == 200)
    });
    assert!(
        ready.is_some(),
        "victoria-metrics did not start:\n{}",
        proc.output()
    );
    (proc, base)
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The value of the single series `query` returns from VictoriaMetrics now, if there is one.
fn query_one(base: &str, query: &str) -> Option<f64> {
    let (status, body) = http_get(&format!("{base}/api/v1/query?query={}", percent_encode(query)))?;
    assert_eq!(status, 200, "{query}: {body}");
    let json: serde_json::Value = serde_json::from_str(&body).ok()?;
    let result = json["data"]["result"].as_array()?;
    match result.as_slice() {
        [one] => one["value"][1].as_str()?.parse().ok(),
        [] => None,
        many => panic!("{query}: expected one series, got {}: {body}", many.len()),
    }
}

/// 50 minutes of checkout traffic around now, a sample every 15 s: 1 request in 100 fails
/// (availability error ratio 0.01) and 2 in 100 take over 0.5 s (latency error ratio 0.02), in
/// the series examples/slos/checkout-sloth.yaml reads. Prometheus text with ms timestamps.
fn traffic(now_ms: i64) -> String {
    let mut out = String::new();
    let start = now_ms - 40 * 60_000;
    for (i, t) in (start..now_ms + 10 * 60_000).step_by(15_000).enumerate() {
        let n = i as f64;
        let _ = writeln!(
            out,
            "http_requests_total{{job=\"checkout\",code=\"200\"}} {} {t}",
            99.0 * n
        );
        let _ = writeln!(
            out,
            "http_requests_total{{job=\"checkout\",code=\"500\"}} {n} {t}"
        );
        let _ = writeln!(
            out,
            "http_request_duration_seconds_bucket{{job=\"checkout\",le=\"0.5\"}} {} {t}",
            98.0 * n
        );
        let _ = writeln!(
            out,
            "http_request_duration_seconds_bucket{{job=\"checkout\",le=\"+Inf\"}} {} {t}",
            100.0 * n
        );
        let _ = writeln!(
            out,
            "http_request_duration_seconds_count{{job=\"checkout\"}} {} {t}",
            100.0 * n
        );
    }
    out
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

#[test]
fn generated_slo_rules_run_in_vmalert_and_slo_status_and_tui_read_victoriametrics() {
    let (Some(vm_bin), Some(vmalert_bin)) = (
        require_tool("victoria-metrics", "apt-get install victoria-metrics"),
        require_tool("vmalert", "apt-get install victoria-metrics"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let spec = repo_root().join("examples/slos/checkout-sloth.yaml");

    // 1. The README's command: slo generate writes the rule file a ruler loads.
    let rules = dir.path().join("checkout-slos.yml");
    let out = Command::new(burnwatch_bin())
        .args(["slo", "generate", "--spec"])
        .arg(&spec)
        .arg("-o")
        .arg(&rules)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "slo generate: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // 2. VictoriaMetrics with the traffic imported.
    let (_vm, vm) = start_victoria_metrics(&vm_bin, dir.path());
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    let import = http_request(
        "POST",
        &format!("{vm}/api/v1/import/prometheus"),
        &[("Content-Type", "text/plain")],
        traffic(now_ms).as_bytes(),
    )
    .expect("victoria-metrics answers the import");
    assert_eq!(import.status, 204, "import: {}", import.text());
    let imported = wait_for(DEADLINE, || {
        query_one(&vm, "sum(rate(http_requests_total{job=\"checkout\"}[5m]))")
    });
    assert!(imported.is_some(), "the imported traffic never became queryable");

    // 3. vmalert evaluates the generated rules against it and writes the results back. Its
    //    alerts go to an Alertmanager URL nothing listens on (vmalert needs one for alerting
    //    rules); only the recorded series matter here.
    let vmalert_listen = format!("127.0.0.1:{}", free_port());
    let vmalert = spawn(
        "vmalert",
        &vmalert_bin,
        &[
            &format!("-rule={}", rules.display()),
            &format!("-datasource.url={vm}"),
            &format!("-remoteWrite.url={vm}"),
            &format!("-notifier.url=http://127.0.0.1:{}", free_port()),
            "-evaluationInterval=2s",
            "-remoteWrite.flushInterval=1s",
            &format!("-httpListenAddr={vmalert_listen}"),
        ],
        dir.path(),
        &[],
    );
    let mut vmalert = vmalert;
    let recorded = [
        (
            "slo:sli_error:ratio_rate5m",
            "checkout-requests-availability",
            0.01,
        ),
        (
            "slo:sli_error:ratio_rate1h",
            "checkout-requests-availability",
            0.01,
        ),
        ("slo:sli_error:ratio_rate5m", "checkout-requests-latency", 0.02),
        // Burn rate: the 5m error ratio over the budget (0.1% and 1%).
        (
            "slo:current_burn_rate:ratio",
            "checkout-requests-availability",
            10.0,
        ),
        ("slo:current_burn_rate:ratio", "checkout-requests-latency", 2.0),
    ];
    for (record, id, want) in recorded {
        let query = format!("{record}{{sloth_id=\"{id}\"}}");
        let got = wait_for(DEADLINE, || {
            if let Ok(Some(status)) = vmalert.child.try_wait() {
                panic!("vmalert exited ({status}):\n{}", vmalert.output());
            }
            query_one(&vm, &query).filter(|v| close(*v, want))
        });
        assert!(
            got.is_some(),
            "{query} never reached {want} in VictoriaMetrics (now {:?}); vmalert:\n{}",
            query_one(&vm, &query),
            vmalert.output()
        );
    }

    // 4. slo status reads VictoriaMetrics as it reads Prometheus.
    let out = Command::new(burnwatch_bin())
        .args(["slo", "status", "--json", "--prometheus-url", &vm, "--spec"])
        .arg(&spec)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "slo status: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let slos = status
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {stdout}"));
    let availability = slos
        .iter()
        .find(|s| s["slo"] == "requests-availability")
        .unwrap_or_else(|| panic!("no requests-availability in {stdout}"));
    let five_minutes = availability["windows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["window"] == "5m")
        .unwrap_or_else(|| panic!("no 5m window in {availability}"));
    let sli = five_minutes["error_ratio"]
        .as_f64()
        .unwrap_or_else(|| panic!("no 5m error ratio in {five_minutes}"));
    assert!(close(sli, 0.01), "5m error ratio {sli}: {five_minutes}");

    // 5. The dashboard's one-shot table over the same server.
    let out = Command::new(burnwatch_bin())
        .args(["tui", "--once", "--prometheus-url", &vm, "--slos"])
        .arg(&spec)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "tui --once: {table}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        table.contains("requests-availability") && table.contains("99.00%") && table.contains("10x"),
        "{table}"
    );
}

/// The collector config of the README's "Growing past one machine" (its first `yaml` block,
/// indented under a list item) is one `burnwatch collector validate` accepts.
#[test]
fn the_readme_remote_write_config_is_valid() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let section = &readme[readme
        .find("## Growing past one machine")
        .expect("README has the section")..];
    let start = section.find("```yaml\n").expect("the section has a yaml block") + "```yaml\n".len();
    let end = start + section[start..].find("```").unwrap();
    let yaml: String = section[start..end]
        .lines()
        .map(|l| format!("{}\n", l.strip_prefix("   ").unwrap_or(l)))
        .collect();
    assert!(yaml.contains("prometheusremotewrite:"), "{yaml}");
    let dir = tempfile::tempdir().unwrap();
    let config = common::write_file(dir.path(), "otelcol.yml", &yaml);
    let out = Command::new(burnwatch_bin())
        .args(["collector", "validate", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{yaml}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
