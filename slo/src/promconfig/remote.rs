//! `remote_write` entries as [`burnwatch_remote::Client`]s behind the store
//! ([`crate::forward`]), as Prometheus forwards every sample it ingests or records.
//!
//! Divergences from Prometheus: credentials files are read when the client starts (Prometheus
//! reads them per request); the queue is bounded in bytes (`queue_config.capacity` samples per
//! shard × 64 bytes); `min_shards`/`max_shards` are one fixed shard count (`max_shards`, at most
//! 16: there is no resharding); a changed `remote_write` section takes effect after a restart.

use std::sync::Arc;
use std::time::Duration;

use burnwatch_remote::{Authorization as RwAuth, Client, ClientConfig, RetryPolicy};

use super::{ConfigError, PrometheusConfig, RemoteWriteConfig};
use crate::forward::{self, Target};
use crate::relabel;
use crate::shared::SharedStorage;

/// The most senders one endpoint gets.
const MAX_SHARDS: usize = 16;
/// Bytes a queued sample is counted as when `queue_config.capacity` becomes a byte bound.
const BYTES_PER_SAMPLE: usize = 64;

fn read_secret(
    cfg: &PrometheusConfig,
    key: &str,
    inline: Option<&str>,
    file: Option<&str>,
) -> Result<String, ConfigError> {
    match (inline, file) {
        (_, Some(f)) => {
            let path = cfg.resolve(f);
            std::fs::read_to_string(&path)
                .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
                .map_err(|e| ConfigError::at(key, format!("cannot read {}: {e}", path.display())))
        }
        (Some(s), None) => Ok(s.to_string()),
        (None, None) => Ok(String::new()),
    }
}

/// The client settings and `write_relabel_configs` of `cfg.remote_write[i]`.
pub fn client_config(
    cfg: &PrometheusConfig,
    i: usize,
) -> Result<(ClientConfig, Vec<relabel::Relabeler>), ConfigError> {
    let rw: &RemoteWriteConfig = &cfg.remote_write[i];
    let p = format!("remote_write[{i}]");
    let mut c = ClientConfig::new(rw.url.clone());
    c.name = rw
        .name
        .clone()
        .unwrap_or_else(|| format!("remote_write[{i}] {}", rw.url));
    c.headers = rw.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    c.timeout = rw.remote_timeout.0;
    c.shards = rw.queue_config.max_shards.clamp(1, MAX_SHARDS);
    c.limits.max_samples = rw.queue_config.max_samples_per_send;
    c.queue_capacity_bytes = rw
        .queue_config
        .capacity
        .saturating_mul(c.shards)
        .saturating_mul(BYTES_PER_SAMPLE)
        .max(1 << 20);
    c.retry = RetryPolicy {
        enabled: true,
        initial_interval: rw.queue_config.min_backoff.0.max(Duration::from_millis(1)),
        max_interval: rw.queue_config.max_backoff.0.max(rw.queue_config.min_backoff.0),
        max_elapsed_time: None,
        ..RetryPolicy::default()
    };
    c.authorization = if let Some(b) = &rw.basic_auth {
        let password = read_secret(
            cfg,
            &format!("{p}.basic_auth.password_file"),
            b.password.as_ref().map(|s| s.0.as_str()),
            b.password_file.as_deref(),
        )?;
        Some(RwAuth::Basic {
            username: b.username.clone(),
            password,
        })
    } else if let Some(a) = &rw.authorization {
        let credentials = read_secret(
            cfg,
            &format!("{p}.authorization.credentials_file"),
            a.credentials.as_ref().map(|s| s.0.as_str()),
            a.credentials_file.as_deref(),
        )?;
        Some(RwAuth::Credentials {
            scheme: a.kind.clone().unwrap_or_else(|| "Bearer".into()),
            credentials,
        })
    } else if rw.bearer_token.is_some() || rw.bearer_token_file.is_some() {
        let credentials = read_secret(
            cfg,
            &format!("{p}.bearer_token_file"),
            rw.bearer_token.as_ref().map(|s| s.0.as_str()),
            rw.bearer_token_file.as_deref(),
        )?;
        Some(RwAuth::Credentials {
            scheme: "Bearer".into(),
            credentials,
        })
    } else {
        None
    };
    if rw.url.starts_with("https://") {
        c.tls = Some(Arc::new(rw.http().tls_client(&p, cfg)?));
        c.tls_server_name = rw.tls_config.server_name.clone();
    }
    let relabel = relabel::compile_all(&rw.write_relabel_configs)
        .map_err(|(j, e)| ConfigError::at(format!("{p}.write_relabel_configs[{j}]"), e))?;
    Ok((c, relabel))
}

/// Starts a client per `remote_write` entry and forwards everything `store` takes to them.
/// Must run inside a Tokio runtime.
pub fn start(cfg: &PrometheusConfig, store: &SharedStorage) -> Result<Vec<Arc<Client>>, ConfigError> {
    let mut clients = Vec::new();
    let mut targets = Vec::new();
    for i in 0..cfg.remote_write.len() {
        let (config, relabel) = client_config(cfg, i)?;
        let client = Client::start(config, None)
            .map_err(|e| ConfigError::at(format!("remote_write[{i}]"), e.to_string()))?;
        let client = Arc::new(client);
        targets.push(Target {
            client: client.clone(),
            relabel,
            external_labels: cfg
                .global
                .external_labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        });
        clients.push(client);
    }
    let mut guard = store.write().unwrap_or_else(|p| p.into_inner());
    forward::install(&mut guard, targets);
    Ok(clients)
}
