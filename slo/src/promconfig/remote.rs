//! `remote_write` entries as [`burnwatch_remote::Client`]s behind the store
//! ([`crate::forward`]), as Prometheus forwards every sample it ingests or records.
//!
//! [`RemoteWrite`] runs the queues and applies a reloaded section as Prometheus's
//! `WriteStorage.ApplyConfig` does: a queue whose entry (and `global.external_labels`) is
//! unchanged keeps running (its stream goes on: nothing lost, nothing sent twice), a removed
//! one sends what it holds (within the flush deadline) and stops, a new one starts with the
//! next sample. The new queues are started before anything else of the reload is applied, so
//! an entry that cannot start fails the reload and the old queues keep running.
//!
//! Divergences from Prometheus: credentials files are read when the client starts (Prometheus
//! reads them per request); the queue is bounded in bytes (`queue_config.capacity` samples per
//! shard × 64 bytes); `min_shards`/`max_shards` are one fixed shard count (`max_shards`, at most
//! 16: there is no resharding); a queue is kept on reload only if its entry is unchanged (so is
//! Prometheus's, which also keys it by that hash).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use burnwatch_remote::{Authorization as RwAuth, Client, ClientConfig, RetryPolicy};

use super::http::Credentials;
use super::{ConfigError, PrometheusConfig, RemoteWriteConfig};
use crate::forward::{self, Forwarder, Target};
use crate::relabel;
use crate::shared::SharedStorage;

/// The most senders one endpoint gets.
const MAX_SHARDS: usize = 16;
/// Bytes a queued sample is counted as when `queue_config.capacity` becomes a byte bound.
const BYTES_PER_SAMPLE: usize = 64;
/// How long a stopping queue keeps delivering what it holds (Prometheus's
/// `--storage.remote.flush-deadline` default).
pub const FLUSH_DEADLINE: Duration = Duration::from_secs(60);

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
    c.authorization = rw.http().read_credentials(&p, cfg)?.map(|c| match c {
        Credentials::Basic { username, password } => RwAuth::Basic { username, password },
        Credentials::Header { kind, credentials } => RwAuth::Credentials {
            scheme: kind,
            credentials,
        },
    });
    if rw.url.starts_with("https://") {
        c.tls = Some(Arc::new(rw.http().tls_client(&p, cfg)?));
        c.tls_server_name = rw.tls_config.server_name.clone();
    }
    let relabel = relabel::compile_all(&rw.write_relabel_configs)
        .map_err(|(j, e)| ConfigError::at(format!("{p}.write_relabel_configs[{j}]"), e))?;
    Ok((c, relabel))
}

/// One running queue: the entry it was started from and its client.
#[derive(Debug)]
struct Queue {
    entry: RemoteWriteConfig,
    external_labels: Vec<(String, String)>,
    client: Arc<Client>,
    relabel: Vec<relabel::Relabeler>,
}

impl Queue {
    fn target(&self) -> Target {
        Target {
            client: self.client.clone(),
            relabel: self.relabel.clone(),
            external_labels: self.external_labels.clone(),
        }
    }

    fn name(&self) -> String {
        self.entry.name.clone().unwrap_or_else(|| self.entry.url.clone())
    }
}

/// The queues a config asks for: the running ones it keeps and new ones, started but not yet
/// fed. Dropping it unapplied stops the new ones at once (they hold nothing).
#[derive(Debug)]
pub struct Plan {
    queues: Vec<Queue>,
}

#[derive(Debug, Default)]
struct Running {
    queues: Vec<Queue>,
    forwarder: Option<Forwarder>,
    /// Removed queues still delivering what they held.
    stopping: Vec<tokio::task::JoinHandle<()>>,
}

/// The `remote_write` queues of a running `serve --config`.
#[derive(Debug)]
pub struct RemoteWrite {
    store: SharedStorage,
    running: Mutex<Running>,
}

impl RemoteWrite {
    /// Starts a queue per `cfg.remote_write` entry and forwards everything `store` takes to
    /// them. Must run inside a Tokio runtime.
    pub fn start(cfg: &PrometheusConfig, store: &SharedStorage) -> Result<RemoteWrite, ConfigError> {
        let rw = RemoteWrite {
            store: store.clone(),
            running: Mutex::new(Running::default()),
        };
        let plan = rw.prepare(cfg)?;
        rw.apply(plan);
        Ok(rw)
    }

    fn running(&self) -> std::sync::MutexGuard<'_, Running> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The queues `cfg` asks for: a running queue whose entry and external labels are equal
    /// is reused, any other entry gets a new client (started now, so a URL or credentials
    /// file that fails is an error naming `remote_write[i]` before anything changes).
    pub fn prepare(&self, cfg: &PrometheusConfig) -> Result<Plan, ConfigError> {
        let external_labels: Vec<(String, String)> = cfg
            .global
            .external_labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let running = self.running();
        let mut taken = vec![false; running.queues.len()];
        let mut queues = Vec::new();
        for (i, entry) in cfg.remote_write.iter().enumerate() {
            let same =
                running.queues.iter().enumerate().position(|(j, q)| {
                    !taken[j] && q.entry == *entry && q.external_labels == external_labels
                });
            if let Some(j) = same {
                taken[j] = true;
                let q = &running.queues[j];
                queues.push(Queue {
                    entry: q.entry.clone(),
                    external_labels: q.external_labels.clone(),
                    client: q.client.clone(),
                    relabel: q.relabel.clone(),
                });
                continue;
            }
            let (config, relabel) = client_config(cfg, i)?;
            let client = Client::start(config, None)
                .map_err(|e| ConfigError::at(format!("remote_write[{i}]"), e.to_string()))?;
            queues.push(Queue {
                entry: entry.clone(),
                external_labels: external_labels.clone(),
                client: Arc::new(client),
                relabel,
            });
        }
        Ok(Plan { queues })
    }

    /// Makes `plan` the running set: kept queues go on, new ones get every sample from now,
    /// removed ones send what they hold (within [`FLUSH_DEADLINE`], in the background) and stop.
    pub fn apply(&self, plan: Plan) {
        let mut running = self.running();
        let targets: Vec<Target> = plan.queues.iter().map(Queue::target).collect();
        {
            let mut store = self.store.write().unwrap_or_else(|p| p.into_inner());
            match &running.forwarder {
                Some(f) => f.set_targets(&store, targets),
                None => running.forwarder = forward::install(&mut store, targets),
            }
        }
        let old = std::mem::replace(&mut running.queues, plan.queues);
        for q in old {
            if running.queues.iter().any(|n| Arc::ptr_eq(&n.client, &q.client)) {
                continue;
            }
            tracing::info!(remote_write = %q.name(), "Stopping a remote-write queue removed from the configuration; it sends what it holds first.");
            running.stopping.push(tokio::spawn(async move {
                let report = q
                    .client
                    .shutdown(tokio::time::Instant::now() + FLUSH_DEADLINE)
                    .await;
                if report.dropped > 0 {
                    tracing::warn!(remote_write = %q.name(), requests = report.dropped,
                        "A removed remote-write queue could not deliver everything before the flush deadline.");
                }
            }));
        }
        running.stopping.retain(|t| !t.is_finished());
        for q in &running.queues {
            tracing::debug!(remote_write = %q.name(), "Remote-write queue running.");
        }
    }

    /// Delivers what every queue holds until `deadline` (removed queues until theirs), then
    /// stops them; call it after the scrapes and rules stopped.
    pub async fn stop(&self, deadline: tokio::time::Instant) {
        let (queues, stopping) = {
            let mut running = self.running();
            (
                std::mem::take(&mut running.queues),
                std::mem::take(&mut running.stopping),
            )
        };
        for q in queues {
            let report = q.client.shutdown(deadline).await;
            if report.dropped > 0 {
                tracing::warn!(remote_write = %q.name(), requests = report.dropped,
                    "Remote write could not deliver everything at shutdown.");
            }
        }
        for t in stopping {
            let _ = t.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &std::path::Path, auth: &str) -> PrometheusConfig {
        let yaml = format!("remote_write:\n  - url: http://127.0.0.1:9/api/v1/write\n{auth}");
        PrometheusConfig::parse_in(&yaml, Some(dir.to_path_buf())).unwrap()
    }

    #[test]
    fn credentials_files_are_read_through_the_shared_reader() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "s3cret\n").unwrap();
        std::fs::write(dir.path().join("token"), "  tok \n").unwrap();
        let basic = config(
            dir.path(),
            "    basic_auth:\n      username: u\n      password_file: pw\n",
        );
        assert_eq!(
            client_config(&basic, 0).unwrap().0.authorization,
            Some(RwAuth::Basic {
                username: "u".into(),
                password: "s3cret".into()
            })
        );
        let bearer = config(dir.path(), "    authorization:\n      credentials_file: token\n");
        assert_eq!(
            client_config(&bearer, 0).unwrap().0.authorization,
            Some(RwAuth::Credentials {
                scheme: "Bearer".into(),
                credentials: "tok".into()
            })
        );
        // Gone between validation and start: the error names the key.
        std::fs::remove_file(dir.path().join("token")).unwrap();
        let err = client_config(&bearer, 0).unwrap_err().to_string();
        assert!(
            err.contains("remote_write[0].authorization.credentials_file"),
            "{err}"
        );
    }
}
