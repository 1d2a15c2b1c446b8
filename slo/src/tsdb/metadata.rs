//! Metric metadata: the `# TYPE`, `# HELP` and `# UNIT` of each metric family, as
//! `/api/v1/metadata` and `/api/v1/targets/metadata` report them.
//!
//! [`MetadataStore`] keeps two kinds:
//!
//! - **per scrape target**, as Prometheus's scrape cache does (`scrape/scrape.go`, `setType`,
//!   `setHelp`, `setUnit`, `iterDone`): a family's entry is created by the first of its metadata
//!   lines (type `unknown` until a `# TYPE` says otherwise), updated by later ones, and kept for
//!   10 scrapes after its lines last appeared — counted in successful scrapes, since Prometheus
//!   only flushes its cache after one. A target's entries go when its scrape loop stops (the
//!   target disappeared or its job was reloaded). `metric_relabel_configs` do not apply to
//!   metadata, in Prometheus either;
//! - **remote-written**, from the `metadata` field of remote-write 1.0 requests, by family name,
//!   the latest request winning. Prometheus's receiver drops this field for 1.0 requests (and
//!   its `/api/v1/metadata` only lists scrape targets); Grafana Mimir keeps it and serves it on
//!   the same endpoint, which is what burnwatch does, so series that arrive by remote write get
//!   their HELP in Grafana's metric browser too. `/api/v1/targets/metadata` lists scrape targets
//!   only, as in both.
//!
//! Nothing here is persisted: as in Prometheus, metadata comes back with the next scrape (or the
//! next metadata send of a remote-write sender, every minute by default) after a restart.
//!
//! **Memory bound.** At most [`MAX_FAMILIES_PER_TARGET`] families per target and
//! [`MAX_REMOTE_FAMILIES`] remote-written families are kept (lines for further new families are
//! dropped and counted in [`MetadataStore::dropped`]), each HELP text at most [`MAX_HELP_BYTES`]
//! and each unit at most [`MAX_UNIT_BYTES`] (longer ones are cut at a character boundary). So the
//! store holds at most `(targets × 10 000 + 10 000)` entries of at most about 16.5 KiB each.
//! Prometheus has no such caps; no real exporter comes near them.

use std::collections::{BTreeMap, HashMap};

use super::Labels;

/// Families kept per scrape target.
pub const MAX_FAMILIES_PER_TARGET: usize = 10_000;
/// Remote-written families kept.
pub const MAX_REMOTE_FAMILIES: usize = 10_000;
/// Longest HELP text kept, in bytes.
pub const MAX_HELP_BYTES: usize = 16 * 1024;
/// Longest unit kept, in bytes.
pub const MAX_UNIT_BYTES: usize = 256;
/// Successful scrapes a family's metadata outlives its last `# TYPE`/`# HELP`/`# UNIT` line
/// (Prometheus's "keep metadata around for 10 scrapes after its metric disappeared").
pub const KEEP_SCRAPES: u64 = 10;

/// The type a `# TYPE` line declares for a metric family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MetricType {
    /// `counter`
    Counter,
    /// `gauge`
    Gauge,
    /// `histogram`
    Histogram,
    /// `gaugehistogram` (OpenMetrics only)
    GaugeHistogram,
    /// `summary`
    Summary,
    /// `info` (OpenMetrics only)
    Info,
    /// `stateset` (OpenMetrics only)
    StateSet,
    /// `unknown` (OpenMetrics) or `untyped` (Prometheus text), and families without a `# TYPE`.
    Unknown,
}

impl MetricType {
    /// The name Prometheus's API gives the type (`model.MetricType`): `untyped` is `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Unknown => "unknown",
        }
    }

    /// The type of remote write's `MetricMetadata.MetricType` number; numbers it does not define
    /// are `unknown`.
    pub fn from_remote(code: i32) -> MetricType {
        match code {
            1 => MetricType::Counter,
            2 => MetricType::Gauge,
            3 => MetricType::Histogram,
            4 => MetricType::GaugeHistogram,
            5 => MetricType::Summary,
            6 => MetricType::Info,
            7 => MetricType::StateSet,
            _ => MetricType::Unknown,
        }
    }
}

/// One family's metadata (Prometheus's `metadata.Metadata`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Metadata {
    /// The declared type.
    pub mtype: MetricType,
    /// The HELP text, unescaped.
    pub help: String,
    /// The unit (OpenMetrics `# UNIT`), empty when none.
    pub unit: String,
}

impl Metadata {
    /// Metadata with `mtype`, `help` and `unit` cut to [`MAX_HELP_BYTES`] and [`MAX_UNIT_BYTES`].
    pub fn new(mtype: MetricType, help: &str, unit: &str) -> Metadata {
        Metadata {
            mtype,
            help: cut(help, MAX_HELP_BYTES).to_string(),
            unit: cut(unit, MAX_UNIT_BYTES).to_string(),
        }
    }
}

/// `s` cut to at most `max` bytes at a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// One metadata line of an exposition, for [`MetadataStore::scrape`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetadataLine {
    /// `# TYPE name type`
    Type(MetricType),
    /// `# HELP name text` (unescaped)
    Help(String),
    /// `# UNIT name unit`
    Unit(String),
}

#[derive(Clone, Debug)]
struct Entry {
    meta: Metadata,
    /// The target's scrape count when a line for the family was last seen.
    last_iter: u64,
}

/// The metadata of one scrape target.
#[derive(Clone, Debug)]
pub struct TargetMetadata {
    labels: Labels,
    families: HashMap<String, Entry>,
    /// Scrapes seen (Prometheus's `scrapeCache.iter`).
    iter: u64,
}

impl TargetMetadata {
    /// The target's labels (`job`, `instance`, and what relabelling added).
    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    /// Every family's metadata, by family name.
    pub fn list(&self) -> Vec<(&str, &Metadata)> {
        let mut out: Vec<(&str, &Metadata)> =
            self.families.iter().map(|(k, e)| (k.as_str(), &e.meta)).collect();
        out.sort_unstable_by(|a, b| a.0.cmp(b.0));
        out
    }

    /// One family's metadata.
    pub fn get(&self, family: &str) -> Option<&Metadata> {
        self.families.get(family).map(|e| &e.meta)
    }

    /// How many families it holds.
    pub fn len(&self) -> usize {
        self.families.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.families.is_empty()
    }
}

/// The metadata of every scrape target and of remote write; see the module docs.
#[derive(Clone, Debug, Default)]
pub struct MetadataStore {
    /// By target key (see [`MetadataStore::scrape`]), so listings come in a stable order.
    targets: BTreeMap<String, TargetMetadata>,
    remote: BTreeMap<String, Metadata>,
    dropped: u64,
}

impl MetadataStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one scrape of the target `key` (unique per target and job; listings are ordered
    /// by it) with labels `labels`: every metadata line of the body in order, then, when
    /// `successful`, drops families not seen for [`KEEP_SCRAPES`] scrapes.
    pub fn scrape(
        &mut self,
        key: &str,
        labels: &Labels,
        lines: impl IntoIterator<Item = (String, MetadataLine)>,
        successful: bool,
    ) {
        let t = self
            .targets
            .entry(key.to_string())
            .or_insert_with(|| TargetMetadata {
                labels: labels.clone(),
                families: HashMap::new(),
                iter: 0,
            });
        if t.labels != *labels {
            t.labels = labels.clone();
        }
        let iter = t.iter;
        for (family, line) in lines {
            let full = t.families.len() >= MAX_FAMILIES_PER_TARGET;
            let entry = match t.families.get_mut(&family) {
                Some(e) => e,
                None if full => {
                    self.dropped += 1;
                    continue;
                }
                None => t.families.entry(family).or_insert(Entry {
                    meta: Metadata::new(MetricType::Unknown, "", ""),
                    last_iter: iter,
                }),
            };
            match line {
                MetadataLine::Type(mt) => entry.meta.mtype = mt,
                MetadataLine::Help(h) => entry.meta.help = cut(&h, MAX_HELP_BYTES).to_string(),
                MetadataLine::Unit(u) => entry.meta.unit = cut(&u, MAX_UNIT_BYTES).to_string(),
            }
            entry.last_iter = iter;
        }
        if successful {
            t.families.retain(|_, e| iter - e.last_iter <= KEEP_SCRAPES);
        }
        t.iter += 1;
    }

    /// Forgets the target `key` (its scrape loop stopped).
    pub fn remove_target(&mut self, key: &str) {
        self.targets.remove(key);
    }

    /// Records remote-written metadata for `family`, replacing what an earlier request said.
    pub fn remote_write(&mut self, family: &str, meta: Metadata) {
        if let Some(m) = self.remote.get_mut(family) {
            *m = meta;
        } else if self.remote.len() >= MAX_REMOTE_FAMILIES {
            self.dropped += 1;
        } else {
            self.remote.insert(family.to_string(), meta);
        }
    }

    /// The scrape targets' metadata, in key order.
    pub fn targets(&self) -> impl Iterator<Item = &TargetMetadata> {
        self.targets.values()
    }

    /// Remote-written metadata by family name.
    pub fn remote(&self) -> &BTreeMap<String, Metadata> {
        &self.remote
    }

    /// Metadata lines dropped because a cap was reached.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Labels {
        Labels::from_pairs([("instance", "a:1"), ("job", "j")])
    }

    fn lines(v: &[(&str, MetadataLine)]) -> Vec<(String, MetadataLine)> {
        v.iter().map(|(n, l)| (n.to_string(), l.clone())).collect()
    }

    #[test]
    fn a_family_starts_unknown_and_takes_each_line() {
        let mut s = MetadataStore::new();
        s.scrape(
            "k",
            &target(),
            lines(&[
                ("req", MetadataLine::Help("Requests.".into())),
                ("req", MetadataLine::Type(MetricType::Counter)),
                ("lat_seconds", MetadataLine::Unit("seconds".into())),
            ]),
            true,
        );
        let t = s.targets().next().unwrap();
        assert_eq!(t.labels(), &target());
        assert_eq!(
            t.get("req"),
            Some(&Metadata::new(MetricType::Counter, "Requests.", ""))
        );
        assert_eq!(
            t.get("lat_seconds"),
            Some(&Metadata::new(MetricType::Unknown, "", "seconds"))
        );
        let names: Vec<&str> = t.list().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["lat_seconds", "req"]);
    }

    #[test]
    fn a_family_outlives_its_lines_by_ten_successful_scrapes() {
        let mut s = MetadataStore::new();
        let l = lines(&[("gone", MetadataLine::Type(MetricType::Gauge))]);
        s.scrape("k", &target(), l, true);
        for _ in 0..10 {
            s.scrape("k", &target(), Vec::new(), true);
        }
        assert!(
            s.targets().next().unwrap().get("gone").is_some(),
            "kept for 10 scrapes"
        );
        // Failed scrapes do not count: Prometheus flushes its cache after successful ones.
        for _ in 0..5 {
            s.scrape("k", &target(), Vec::new(), false);
        }
        s.scrape("k", &target(), Vec::new(), true);
        assert!(s.targets().next().unwrap().get("gone").is_none());
    }

    #[test]
    fn a_stopped_target_is_forgotten() {
        let mut s = MetadataStore::new();
        s.scrape(
            "k",
            &target(),
            lines(&[("m", MetadataLine::Type(MetricType::Gauge))]),
            true,
        );
        s.remove_target("k");
        assert_eq!(s.targets().count(), 0);
    }

    #[test]
    fn caps_bound_families_help_and_remote_entries() {
        let mut s = MetadataStore::new();
        let many: Vec<(String, MetadataLine)> = (0..MAX_FAMILIES_PER_TARGET + 5)
            .map(|i| (format!("m{i}"), MetadataLine::Type(MetricType::Gauge)))
            .collect();
        s.scrape("k", &target(), many, true);
        assert_eq!(s.targets().next().unwrap().len(), MAX_FAMILIES_PER_TARGET);
        assert_eq!(s.dropped(), 5);

        let long = "é".repeat(MAX_HELP_BYTES);
        let m = Metadata::new(MetricType::Counter, &long, "");
        assert!(m.help.len() <= MAX_HELP_BYTES && m.help.chars().all(|c| c == 'é'));

        for i in 0..MAX_REMOTE_FAMILIES + 3 {
            s.remote_write(&format!("r{i}"), Metadata::new(MetricType::Gauge, "", ""));
        }
        assert_eq!(s.remote().len(), MAX_REMOTE_FAMILIES);
        // An existing family is still updated at the cap.
        s.remote_write("r0", Metadata::new(MetricType::Counter, "new", ""));
        assert_eq!(s.remote()["r0"].help, "new");
    }

    #[test]
    fn remote_types_map_from_the_protobuf_enum() {
        assert_eq!(MetricType::from_remote(1).as_str(), "counter");
        assert_eq!(MetricType::from_remote(4).as_str(), "gaugehistogram");
        assert_eq!(MetricType::from_remote(7).as_str(), "stateset");
        assert_eq!(MetricType::from_remote(0).as_str(), "unknown");
        assert_eq!(MetricType::from_remote(99).as_str(), "unknown");
    }
}
