//! Remote write out of the store (issue 13 §2 and §5): with `burnwatch up --remote-write URL` and
//! with `serve --config`'s `remote_write` section, everything the store takes (scraped series and
//! recorded series alike) arrives in a real Prometheus 2.42 started by the test with
//! `--web.enable-remote-write-receiver`.

mod common;

use std::time::Duration;

use common::{free_port, require_tool, spawn, start_serve_with_data, wait_for, write_file};

/// The first value of `query`'s instant vector now in the Prometheus API at `base`, if any.
fn first_value(base: &str, query: &str) -> Option<f64> {
    common::instant_value(base, query, None)
}

/// Starts Prometheus 2.42 as a remote-write receiver and waits until it is ready.
fn start_prometheus(bin: &std::path::Path, dir: &std::path::Path) -> (common::Proc, String) {
    common::start_prometheus_receiver(bin, dir, "prometheus", &[])
}

const SLO: &str = r#"version: "prometheus/v1"
service: "sidecar"
slos:
  - name: "scrapes"
    objective: 99
    description: "Half of the scrape series count as errors."
    sli:
      events:
        error_query: sum(count_over_time(up{job="burnwatch-collector"}[{{.window}}]))
        total_query: sum(count_over_time(up[{{.window}}]))
    alerting:
      name: SidecarScrapes
      page_alert:
        disable: true
      ticket_alert:
        disable: true
"#;

#[test]
fn up_forwards_scraped_and_recorded_series_to_prometheus() {
    let Some(prom_bin) = require_tool("prometheus", "apt-get install prometheus") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (prom, prom_base) = start_prometheus(&prom_bin, dir.path());

    let slos = write_file(dir.path(), "slos.yaml", SLO);
    let config = write_file(dir.path(), "collector.yaml", common::EPHEMERAL_CONFIG);
    let listen = format!("127.0.0.1:{}", free_port());
    let data_dir = dir.path().join("data");
    let remote = format!("{prom_base}/api/v1/write");
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
            "--remote-write",
            &remote,
        ],
        dir.path(),
        &[],
    );
    let base = format!("http://{listen}");
    // A scraped series and a series the SLO rules record arrive, with the value up has.
    for query in [
        r#"up{job="burnwatch-collector"}"#,
        r#"slo:sli_error:ratio_rate5m{sloth_service="sidecar",sloth_slo="scrapes"}"#,
    ] {
        let arrived = wait_for(Duration::from_secs(120), || {
            if let Ok(Some(status)) = up.child.try_wait() {
                panic!("up exited ({status}):\n{}", up.output());
            }
            first_value(&prom_base, query)
        });
        assert!(
            arrived.is_some(),
            "{query} never arrived in Prometheus\nup:\n{}\nprometheus:\n{}",
            up.output(),
            prom.output()
        );
        // The same series in up holds the same kind of value (1 for up; a ratio in [0, 1]).
        let here = first_value(&base, query).unwrap_or_else(|| panic!("{query} is not in up's store"));
        let there = arrived.unwrap();
        if query.starts_with("up") {
            assert_eq!((here, there), (1.0, 1.0), "{query}");
        } else {
            assert!(
                (0.0..=1.0).contains(&there) && (0.0..=1.0).contains(&here),
                "{query}: {here} {there}"
            );
        }
    }
}

/// `serve --config` with a `remote_write` section: the recorded series of its rule files reach
/// Prometheus, and the one its `write_relabel_configs` drop does not (it stays in serve's store).
#[test]
fn serve_config_remote_write_forwards_recorded_series_through_write_relabel_configs() {
    let Some(prom_bin) = require_tool("prometheus", "apt-get install prometheus") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (prom, prom_base) = start_prometheus(&prom_bin, dir.path());
    write_file(
        dir.path(),
        "rules.yml",
        "groups:\n  - name: forwarded\n    interval: 1s\n    rules:\n      - record: forwarded:answer\n        \
         expr: vector(42)\n      - record: kept_home:answer\n        expr: vector(7)\n",
    );
    let config = write_file(
        dir.path(),
        "burnwatch.yml",
        &format!(
            "global:\n  evaluation_interval: 1s\n  external_labels:\n    site: test\nrule_files: [rules.yml]\n\
             remote_write:\n  - url: {prom_base}/api/v1/write\n    write_relabel_configs:\n      - source_labels: [__name__]\n        \
             regex: kept_home:.*\n        action: drop\n"
        ),
    );
    let (serve, base) = start_serve_with_data(
        "serve",
        dir.path(),
        &dir.path().join("serve-data"),
        &["--config", config.to_str().unwrap()],
    );
    let arrived = wait_for(Duration::from_secs(120), || {
        first_value(&prom_base, "forwarded:answer")
    });
    assert_eq!(
        arrived,
        Some(42.0),
        "forwarded:answer never arrived\nserve:\n{}\nprometheus:\n{}",
        serve.output(),
        prom.output()
    );
    // global.external_labels ride along, as Prometheus adds them to what it sends.
    assert_eq!(
        first_value(&prom_base, r#"forwarded:answer{site="test"}"#),
        Some(42.0)
    );
    // Recorded in the same evaluation, so sent in the same batch had it not been dropped.
    assert_eq!(
        first_value(&base, "kept_home:answer"),
        Some(7.0),
        "serve recorded it"
    );
    assert_eq!(
        first_value(&prom_base, "kept_home:answer"),
        None,
        "write_relabel_configs drop it"
    );
}
