//! Forwarding what the store takes to remote-write endpoints, as Prometheus's `remote_write`
//! does by tailing its WAL: every float sample appended (scraped, remote-written in, imported,
//! recorded by a rule) is handed, batch by batch, to a [`burnwatch_remote::Client`].
//!
//! [`install`] puts a [`ForwardLog`] in front of the store's [`AppendLog`] (the write-ahead log,
//! when the store is durable): it passes every change on to it and keeps, per target, the
//! series' labels after that target's `write_relabel_configs`. When an ingest batch ends
//! ([`AppendLog::flush`]) the batch's samples are enqueued, one [`TimeSeries`] per series; a
//! full queue drops the batch for that target and counts it in
//! [`Stats::samples_dropped`](burnwatch_remote::Stats), as the client counts its other drops.
//! Enqueueing never blocks, so a slow receiver never holds the store's lock.
//!
//! Divergences from Prometheus: native-histogram samples are not forwarded yet (Prometheus
//! sends them with `send_native_histograms`); samples restored from the WAL at start are not
//! re-sent (Prometheus resumes from its last sent WAL segment).

use std::collections::BTreeMap;
use std::sync::Arc;

use burnwatch_remote::Client;
use burnwatch_remote::proto::{Label, Sample, TimeSeries};

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
            .field("relabel_steps", &self.relabel.len())
            .finish_non_exhaustive()
    }
}

/// A target's view of the store: relabelled labels by series reference (`None`: dropped by
/// relabelling) and the samples of the batch in progress.
#[derive(Debug)]
struct Tail {
    target: Target,
    series: Vec<Option<Arc<[Label]>>>,
    pending: BTreeMap<SeriesRef, Vec<Sample>>,
}

impl Tail {
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

    fn send(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        let mut samples = 0u64;
        let series: Vec<TimeSeries> = pending
            .into_iter()
            .filter_map(|(r, s)| {
                let labels = self.series.get(r as usize)?.as_ref()?;
                samples += s.len() as u64;
                Some(TimeSeries {
                    labels: labels.to_vec(),
                    samples: s,
                    ..Default::default()
                })
            })
            .collect();
        if series.is_empty() {
            return;
        }
        if let Err(e) = self.target.client.enqueue(series, Vec::new(), samples) {
            let stats = self.target.client.stats();
            stats
                .samples_dropped
                .fetch_add(samples, std::sync::atomic::Ordering::Relaxed);
            tracing::warn!(error = %e, samples, "Remote write dropped a batch of the store's samples.");
        }
    }
}

/// The [`AppendLog`] [`install`] puts in front of the store's own.
#[derive(Debug)]
pub struct ForwardLog {
    inner: Option<Box<dyn AppendLog>>,
    tails: Vec<Tail>,
}

impl AppendLog for ForwardLog {
    fn series(&mut self, r: SeriesRef, labels: &Labels) {
        if let Some(l) = &mut self.inner {
            l.series(r, labels);
        }
        for t in &mut self.tails {
            t.learn(r, labels);
        }
    }

    fn sample(&mut self, r: SeriesRef, t: i64, v: f64) {
        if let Some(l) = &mut self.inner {
            l.sample(r, t, v);
        }
        for tail in &mut self.tails {
            if matches!(tail.series.get(r as usize), Some(Some(_))) {
                tail.pending.entry(r).or_default().push(Sample {
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
    }

    fn compact(&mut self, kept: &[bool]) {
        if let Some(l) = &mut self.inner {
            l.compact(kept);
        }
        for tail in &mut self.tails {
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
        for tail in &mut self.tails {
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

/// Forwards everything `store` takes from now on to `targets` (nothing when `targets` is
/// empty). The series already in the store are known to the targets, so their new samples are
/// forwarded too.
pub fn install(store: &mut Storage, targets: Vec<Target>) {
    if targets.is_empty() {
        return;
    }
    let inner = store.set_append_log(None);
    let mut tails: Vec<Tail> = targets
        .into_iter()
        .map(|target| Tail {
            target,
            series: Vec::new(),
            pending: BTreeMap::new(),
        })
        .collect();
    for (r, s) in store.all_series().iter().enumerate() {
        for t in &mut tails {
            t.learn(r as SeriesRef, s.labels());
        }
    }
    store.set_append_log(Some(Box::new(ForwardLog { inner, tails })));
}
