//! Turning the YAML library's errors into [`ConfigError`]s that name the key: its YAML path, and
//! for a key Prometheus knows but burnwatch does not run, that it is not supported and what is.

use super::ConfigError;

/// Keys Prometheus (2.42 to 3.x) accepts in each section that burnwatch does not run, by section
/// (the YAML path without indices). A key listed here gets "not supported"; any other unknown
/// key gets the YAML library's "unknown field" (Prometheus refuses it too).
const UNSUPPORTED: &[(&str, &[&str])] = &[
    (
        "(document)",
        &[
            "storage",
            "tracing",
            "remote_read",
            "scrape_config_files",
            "otlp",
            "runtime",
        ],
    ),
    (
        "global",
        &[
            "query_log_file",
            "scrape_failure_log_file",
            "body_size_limit",
            "sample_limit",
            "target_limit",
            "label_limit",
            "label_name_length_limit",
            "label_value_length_limit",
            "keep_dropped_targets",
            "scrape_protocols",
            "rule_query_offset",
            "metric_name_validation_scheme",
            "metric_name_escaping_scheme",
            "always_scrape_classic_histograms",
            "convert_classic_histograms_to_nhcb",
            "scrape_native_histograms",
        ],
    ),
    (
        "scrape_configs",
        &[
            "target_limit",
            "keep_dropped_targets",
            "scrape_protocols",
            "scrape_classic_histograms",
            "native_histogram_bucket_limit",
            "native_histogram_min_bucket_factor",
            "enable_compression",
            "track_timestamps_staleness",
            "scrape_failure_log_file",
            "metric_name_validation_scheme",
            "metric_name_escaping_scheme",
            "always_scrape_classic_histograms",
            "convert_classic_histograms_to_nhcb",
            "fallback_scrape_protocol",
            "scrape_native_histograms",
            "azure_sd_configs",
            "consul_sd_configs",
            "digitalocean_sd_configs",
            "docker_sd_configs",
            "dockerswarm_sd_configs",
            "dns_sd_configs",
            "ec2_sd_configs",
            "eureka_sd_configs",
            "gce_sd_configs",
            "hetzner_sd_configs",
            "http_sd_configs",
            "ionos_sd_configs",
            "kubernetes_sd_configs",
            "kuma_sd_configs",
            "lightsail_sd_configs",
            "linode_sd_configs",
            "marathon_sd_configs",
            "nerve_sd_configs",
            "nomad_sd_configs",
            "openstack_sd_configs",
            "ovhcloud_sd_configs",
            "puppetdb_sd_configs",
            "scaleway_sd_configs",
            "serverset_sd_configs",
            "stackit_sd_configs",
            "triton_sd_configs",
            "uyuni_sd_configs",
            "vultr_sd_configs",
            "oauth2",
            "proxy_url",
            "no_proxy",
            "proxy_from_environment",
            "proxy_connect_header",
            "http_headers",
        ],
    ),
    (
        "alerting.alertmanagers",
        &[
            "azure_sd_configs",
            "consul_sd_configs",
            "dns_sd_configs",
            "ec2_sd_configs",
            "file_sd_configs",
            "gce_sd_configs",
            "http_sd_configs",
            "kubernetes_sd_configs",
            "sigv4",
            "oauth2",
            "proxy_url",
            "no_proxy",
            "proxy_from_environment",
            "proxy_connect_header",
            "http_headers",
        ],
    ),
    (
        "remote_write",
        &[
            "send_exemplars",
            "send_native_histograms",
            "metadata_config",
            "sigv4",
            "azuread",
            "google_iam",
            "round_robin_dns",
            "protobuf_message",
            "oauth2",
            "proxy_url",
            "no_proxy",
            "proxy_from_environment",
            "proxy_connect_header",
            "http_headers",
        ],
    ),
    ("remote_write.queue_config", &["sample_age_limit"]),
    (
        "tls_config",
        &[
            "min_version",
            "max_version",
            "ca",
            "cert",
            "key",
            "ca_ref",
            "cert_ref",
            "key_ref",
        ],
    ),
    ("basic_auth", &["username_file", "username_ref", "password_ref"]),
    ("authorization", &["credentials_ref"]),
];

/// The section a YAML path belongs to: indices removed, and the HTTP client's sub-blocks
/// (`tls_config`, `basic_auth`, `authorization`) shared by every section that has them.
fn section(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut depth = 0;
    for c in path.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    for shared in ["tls_config", "basic_auth", "authorization"] {
        if out == shared || out.ends_with(&format!(".{shared}")) {
            return shared.to_string();
        }
    }
    out
}

/// Splits the YAML library's message into the YAML path it starts with and the rest.
fn split_path(msg: &str) -> (String, String) {
    let mut path = String::new();
    let mut reason = msg;
    while let Some((head, tail)) = reason.split_once(": ")
        && !head.is_empty()
        && !head.contains([' ', '`', '"'])
    {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(head);
        reason = tail;
    }
    if path.is_empty() {
        path.push_str("(document)");
    }
    (path, reason.to_string())
}

/// The [`ConfigError`] for a message of the YAML library; `full_path` is the path of the value
/// being read when it failed (from `serde_path_to_error`; the library's own message names the
/// enclosing mapping only).
pub(super) fn explain(full_path: &str, msg: &str) -> ConfigError {
    let (mut path, reason) = split_path(msg);
    if let Some(rest) = reason.strip_prefix("unknown field `")
        && let Some((key, tail)) = rest.split_once('`')
    {
        let sec = section(&path);
        let known = UNSUPPORTED
            .iter()
            .find(|(s, _)| *s == sec)
            .is_some_and(|(_, keys)| keys.contains(&key));
        // "..., expected one of `a`, `b` at line 3 column 5": the keys burnwatch reads.
        let (expected, at) = match tail.rsplit_once(" at line ") {
            Some((e, at)) => (e, format!(" (at line {at})")),
            None => (tail, String::new()),
        };
        let supported = expected
            .trim_start_matches(", ")
            .trim_start_matches("expected one of ")
            .trim_start_matches("expected ");
        let key_path = if path == "(document)" {
            key.to_string()
        } else {
            format!("{path}.{key}")
        };
        let reason = if known {
            format!(
                "`{key}` is a Prometheus setting burnwatch does not support{at}; supported here: {supported}"
            )
        } else {
            format!("unknown field `{key}`{at}; supported here: {supported}")
        };
        return ConfigError::at(key_path, reason);
    }
    if !full_path.is_empty() && full_path != "." && full_path.len() > path.len() {
        path = full_path.to_string();
    }
    ConfigError::at(path, reason)
}
