//! Forwarding what the store takes to remote-write endpoints, as Prometheus's `remote_write`
//! does by tailing its WAL: every sample appended (scraped, remote-written in, imported,
//! recorded by a rule), float or native histogram, is handed, batch by batch, to a
//! [`burnwatch_remote::Client`].
//!
//! [`install`] puts a [`ForwardLog`] in front of the store's [`AppendLog`] (the write-ahead log,
//! when the store is durable): it passes every change on to it and keeps, per target, the
//! series' labels after that target's `write_relabel_configs`. When an ingest batch ends
//! ([`AppendLog::flush`]) the batch's samples are enqueued, one [`TimeSeries`] per series, its
//! float samples and native histograms (as Prometheus sends them with `send_native_histograms`,
//! integer counts when they are whole: see [`from_float_histogram`]). A refused batch (a full
//! queue) is logged here and counted by the client in
//! [`Stats::samples_dropped`](burnwatch_remote::Stats), as every refusal of
//! [`Client::enqueue`] is. Enqueueing never blocks, so a slow receiver never holds the store's
//! lock.
//!
//! [`Forwarder::set_targets`] changes the targets of a running store (a `remote_write` reload):
//! a target whose client is kept keeps its place in the stream (nothing lost, nothing sent
//! twice), a new one starts with the next sample, a removed one sends what it has pending.
//!
//! Divergence from Prometheus: samples restored from the WAL at start are not re-sent
//! (Prometheus resumes from its last sent WAL segment).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use burnwatch_remote::Client;
use burnwatch_remote::proto::{Histogram, Label, Sample, TimeSeries};

use crate::ingest::remote_write::from_float_histogram;
use crate::relabel::{self, Relabeler};
use crate::tsdb::{AppendLog, FloatHistogram, Labels, LogError, SeriesRef, Storage};

/// One remote-write endpoint: its client and its `write_relabel_configs`.
pub struct Target {
    /// The client the batches are enqueued on.
    pub client: Arc<Client>,
    /// Applied to each series' labels before it is sent; a dropping step keeps the series home.
    pub relabel: Vec<Relabeler>,
    /// `global.external_labels`: added to every series sent that lacks the label (after
    /// relabelling, as Prometheus adds them when it builds the request).
    pub external_labels: Vec<(String, String)>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("client", &self.client)
            .field("relabel_steps", &self.relabel.len())
            .finish_non_exhaustive()
    }
}

/// The samples of one series in the batch in progress.
#[derive(Debug, Default)]
struct Pending {
    samples: Vec<Sample>,
    histograms: Vec<Histogram>,
}

/// A target's view of the store: relabelled labels by series reference (`None`: dropped by
/// relabelling) and the samples of the batch in progress.
#[derive(Debug)]
struct Tail {
    target: Target,
    series: Vec<Option<Arc<[Label]>>>,
    pending: BTreeMap<SeriesRef, Pending>,
}

impl Tail {
    /// A tail for `target` that knows every series already in `store`.
    fn new(target: Target, store: &Storage) -> Tail {
        let mut tail = Tail {
            target,
            series: Vec::new(),
            pending: BTreeMap::new(),
        };
        for (r, s) in store.all_series().iter().enumerate() {
            tail.learn(r as SeriesRef, s.labels());
        }
        tail
    }

    fn learn(&mut self, r: SeriesRef, labels: &Labels) {
        let i = r as usize;
        if self.series.len() <= i {
            self.series.resize(i + 1, None);
        }
        let external = &self.target.external_labels;
        self.series[i] = relabel::process(labels, &self.target.relabel).map(|l| {
            let mut out: Vec<Label> = l
                .iter()
                .map(|l| Label::new(l.name.to_string(), l.value.to_string()))
                .collect();
            for (k, v) in external {
                if !out.iter().any(|l| l.name == *k) {
                    out.push(Label::new(k.clone(), v.clone()));
                }
            }
            if !external.is_empty() {
                out.sort_by(|a, b| a.name.cmp(&b.name));
            }
            out.into()
        });
    }

    /// The batch entry of series `r`, or `None` when this target does not send it.
    fn pending(&mut self, r: SeriesRef) -> Option<&mut Pending> {
        match self.series.get(r as usize) {
            Some(Some(_)) => Some(self.pending.entry(r).or_default()),
            _ => None,
        }
    }

    fn send(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        let mut samples = 0u64;
        let series: Vec<TimeSeries> = pending
            .into_iter()
            .filter_map(|(r, p)| {
                let labels = self.series.get(r as usize)?.as_ref()?;
                samples += (p.samples.len() + p.histograms.len()) as u64;
                Some(TimeSeries {
                    labels: labels.to_vec(),
                    samples: p.samples,
                    histograms: p.histograms,
                    ..Default::default()
                })
            })
            .collect();
        if series.is_empty() {
            return;
        }
        // The client counts a refused batch in its samples_dropped; only the log line is ours.
        if let Err(e) = self.target.client.enqueue(series, Vec::new(), samples) {
            tracing::warn!(error = %e, client = ?self.target.client, samples,
                "Remote write dropped a batch of the store's samples.");
        }
    }
}

/// The targets of a [`ForwardLog`], shared with its [`Forwarder`]. Every use happens under the
/// store's write lock (the log is the store's), so the mutex is never contended; it is there
/// so that [`Forwarder::set_targets`] can reach the tails of the installed log.
type Tails = Arc<Mutex<Vec<Tail>>>;

fn lock(tails: &Tails) -> MutexGuard<'_, Vec<Tail>> {
    tails.lock().unwrap_or_else(|e| e.into_inner())
}

/// The [`AppendLog`] [`install`] puts in front of the store's own.
#[derive(Debug)]
pub struct ForwardLog {
    inner: Option<Box<dyn AppendLog>>,
    tails: Tails,
}

impl AppendLog for ForwardLog {
    fn series(&mut self, r: SeriesRef, labels: &Labels) {
        if let Some(l) = &mut self.inner {
            l.series(r, labels);
        }
        for t in lock(&self.tails).iter_mut() {
            t.learn(r, labels);
        }
    }

    fn sample(&mut self, r: SeriesRef, t: i64, v: f64) {
        if let Some(l) = &mut self.inner {
            l.sample(r, t, v);
        }
        for tail in lock(&self.tails).iter_mut() {
            if let Some(p) = tail.pending(r) {
                p.samples.push(Sample {
                    value: v,
                    timestamp: t,
                });
            }
        }
    }

    fn histogram(&mut self, r: SeriesRef, t: i64, h: &FloatHistogram) {
        if let Some(l) = &mut self.inner {
            l.histogram(r, t, h);
        }
        let mut tails = lock(&self.tails);
        // Converted once, for the first target that sends the series.
        let mut wire: Option<Histogram> = None;
        for tail in tails.iter_mut() {
            if let Some(p) = tail.pending(r) {
                let w = wire.get_or_insert_with(|| from_float_histogram(h, t));
                p.histograms.push(w.clone());
            }
        }
    }

    fn compact(&mut self, kept: &[bool]) {
        if let Some(l) = &mut self.inner {
            l.compact(kept);
        }
        for tail in lock(&self.tails).iter_mut() {
            // What is pending refers to the old numbering: send it first.
            tail.send();
            let mut i = 0;
            tail.series.retain(|_| {
                let keep = kept.get(i).copied().unwrap_or(true);
                i += 1;
                keep
            });
        }
    }

    fn flush(&mut self) -> Result<(), LogError> {
        let result = match &mut self.inner {
            Some(l) => l.flush(),
            None => Ok(()),
        };
        for tail in lock(&self.tails).iter_mut() {
            tail.send();
        }
        result
    }

    fn writable(&self) -> Result<(), LogError> {
        match &self.inner {
            Some(l) => l.writable(),
            None => Ok(()),
        }
    }
}

/// A handle on an installed [`ForwardLog`]: changes its targets while the store runs.
#[derive(Debug, Clone)]
pub struct Forwarder {
    tails: Tails,
}

impl Forwarder {
    /// Replaces the targets; call it with the store's write lock held (`store` is the store
    /// the log was installed in). A new target whose client is one of the current targets'
    /// (the same `Arc`) keeps that target's state, so its stream goes on without a gap or a
    /// repeat; any other new target starts with the next sample the store takes; a current
    /// target left out sends what it has pending (stopping its client is the caller's part).
    pub fn set_targets(&self, store: &Storage, targets: Vec<Target>) {
        let mut tails = lock(&self.tails);
        let mut old: Vec<Tail> = std::mem::take(&mut *tails);
        for target in targets {
            let kept = old
                .iter()
                .position(|t| Arc::ptr_eq(&t.target.client, &target.client));
            let tail = match kept {
                Some(i) => old.swap_remove(i),
                None => Tail::new(target, store),
            };
            tails.push(tail);
        }
        for mut removed in old {
            removed.send();
        }
    }
}

/// Forwards everything `store` takes from now on to `targets`. The series already in the store
/// are known to the targets, so their new samples are forwarded too. The returned
/// [`Forwarder`] changes the targets later. With no targets nothing is installed (`None`), so
/// a store that forwards nowhere pays nothing per sample.
pub fn install(store: &mut Storage, targets: Vec<Target>) -> Option<Forwarder> {
    if targets.is_empty() {
        return None;
    }
    let inner = store.set_append_log(None);
    let tails: Vec<Tail> = targets.into_iter().map(|t| Tail::new(t, store)).collect();
    let tails: Tails = Arc::new(Mutex::new(tails));
    store.set_append_log(Some(Box::new(ForwardLog {
        inner,
        tails: tails.clone(),
    })));
    Some(Forwarder { tails })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex as StdMutex;
    use std::time::Duration;

    use burnwatch_remote::proto::WriteRequest;
    use burnwatch_remote::{ClientConfig, Stats};

    use super::*;
    use crate::tsdb::{CounterResetHint, Queryable as _};

    /// A remote-write receiver on a free port: what it was sent, decoded.
    async fn receiver() -> (String, Arc<StdMutex<Vec<WriteRequest>>>) {
        let got: Arc<StdMutex<Vec<WriteRequest>>> = Arc::default();
        let sink = got.clone();
        let app = axum::Router::new().route(
            "/api/v1/write",
            axum::routing::post(move |body: axum::body::Bytes| {
                let sink = sink.clone();
                async move {
                    match burnwatch_remote::encode::decode(&body) {
                        Ok(req) => {
                            sink.lock().unwrap().push(req);
                            axum::http::StatusCode::NO_CONTENT
                        }
                        Err(_) => axum::http::StatusCode::BAD_REQUEST,
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}/api/v1/write"), got)
    }

    fn target(url: &str) -> Target {
        let mut config = ClientConfig::new(url);
        config.shards = 1;
        Target {
            client: Arc::new(Client::start(config, None).unwrap()),
            relabel: Vec::new(),
            external_labels: Vec::new(),
        }
    }

    /// The series a receiver got, by `__name__`, flattened over requests.
    fn received(got: &StdMutex<Vec<WriteRequest>>, name: &str) -> Vec<TimeSeries> {
        got.lock()
            .unwrap()
            .iter()
            .flat_map(|r| r.timeseries.iter())
            .filter(|ts| ts.labels.iter().any(|l| l.name == "__name__" && l.value == name))
            .cloned()
            .collect()
    }

    async fn until(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while !done() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn histogram(count: f64) -> FloatHistogram {
        FloatHistogram {
            counter_reset_hint: CounterResetHint::Unknown,
            schema: 0,
            zero_threshold: 1e-128,
            zero_count: 1.0,
            count,
            sum: 42.5,
            positive: vec![(1, count - 1.0)],
            negative: Vec::new(),
            custom_values: Vec::new(),
        }
    }

    #[tokio::test]
    async fn native_histograms_are_forwarded() {
        let (url, got) = receiver().await;
        let mut store = Storage::new();
        let t = target(&url);
        let client = t.client.clone();
        let _forwarder = install(&mut store, vec![t]);
        let labels = Labels::from_pairs([("__name__", "latency"), ("job", "api")]);
        store.append_histogram(&labels, 1_000, histogram(5.0)).unwrap();
        store.append_histogram(&labels, 2_000, histogram(9.0)).unwrap();
        store
            .append(&Labels::from_pairs([("__name__", "up")]), 2_000, 1.0)
            .unwrap();
        store.end_batch().unwrap();
        until("the histograms", || received(&got, "latency").len() == 1).await;
        let ts = &received(&got, "latency")[0];
        assert!(ts.samples.is_empty());
        let stored: Vec<(i64, FloatHistogram)> = store
            .select_all(&[crate::tsdb::Matcher::equal("__name__", "latency")], 0, i64::MAX)
            .remove(0)
            .histograms
            .iter()
            .map(|h| (h.t, (*h.h).clone()))
            .collect();
        let sent: Vec<(i64, FloatHistogram)> = ts
            .histograms
            .iter()
            .map(|h| {
                (
                    h.timestamp,
                    crate::ingest::remote_write::to_float_histogram(h).unwrap(),
                )
            })
            .collect();
        assert_eq!(sent, stored, "what was sent is what the store holds");
        assert!(matches!(
            ts.histograms[0].count,
            Some(burnwatch_remote::proto::histogram::Count::CountInt(5))
        ));
        assert_eq!(received(&got, "up").len(), 1, "floats still go");
        client
            .shutdown(tokio::time::Instant::now() + Duration::from_secs(10))
            .await;
    }

    #[tokio::test]
    async fn a_batch_refused_by_a_full_queue_is_counted_once() {
        // One byte of queue: every request is refused with QueueFull. Before, the client and
        // the forwarder both counted the refused samples.
        let mut config = ClientConfig::new("http://127.0.0.1:9/api/v1/write");
        config.queue_capacity_bytes = 1;
        let client = Arc::new(Client::start(config, None).unwrap());
        let mut store = Storage::new();
        let _forwarder = install(
            &mut store,
            vec![Target {
                client: client.clone(),
                relabel: Vec::new(),
                external_labels: Vec::new(),
            }],
        );
        let labels = Labels::from_pairs([("__name__", "m")]);
        store.append(&labels, 1_000, 1.0).unwrap();
        store.append(&labels, 2_000, 2.0).unwrap();
        store.append_histogram(&labels, 3_000, histogram(3.0)).unwrap();
        store.end_batch().unwrap();
        assert_eq!(Stats::get(&client.stats().samples_dropped), 3);
    }

    #[tokio::test]
    async fn set_targets_keeps_a_kept_stream_and_starts_a_new_one_from_now() {
        let (url_a, got_a) = receiver().await;
        let (url_b, got_b) = receiver().await;
        let (url_c, got_c) = receiver().await;
        let mut store = Storage::new();
        let a = target(&url_a);
        let b = target(&url_b);
        let (client_a, client_b) = (a.client.clone(), b.client.clone());
        let forwarder = install(&mut store, vec![a, b]).unwrap();
        let m = Labels::from_pairs([("__name__", "m")]);
        store.append(&m, 1_000, 1.0).unwrap();
        // The reload falls inside a batch: what b has pending still goes to b.
        let c = target(&url_c);
        let client_c = c.client.clone();
        let keep_a = Target {
            client: client_a.clone(),
            relabel: Vec::new(),
            external_labels: Vec::new(),
        };
        forwarder.set_targets(&store, vec![keep_a, c]);
        store.append(&m, 2_000, 2.0).unwrap();
        store.end_batch().unwrap();
        let times = |got: &StdMutex<Vec<WriteRequest>>| -> Vec<i64> {
            received(got, "m")
                .iter()
                .flat_map(|ts| ts.samples.iter().map(|s| s.timestamp))
                .collect()
        };
        until("a's samples", || times(&got_a).len() == 2).await;
        until("b's sample", || times(&got_b).len() == 1).await;
        until("c's sample", || times(&got_c).len() == 1).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        for c in [&client_a, &client_b, &client_c] {
            c.shutdown(deadline).await;
        }
        assert_eq!(
            times(&got_a),
            vec![1_000, 2_000],
            "the kept target: no gap, no repeat"
        );
        assert_eq!(
            times(&got_b),
            vec![1_000],
            "the removed one: what it had, nothing after"
        );
        assert_eq!(times(&got_c), vec![2_000], "the new one: from the reload on");
    }
}
