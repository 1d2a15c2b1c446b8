//! Target discovery: `static_configs` and `file_sd_configs`, as Prometheus's `discovery/file`
//! reads them.
//!
//! A [`TargetGroup`] is a list of addresses with labels shared by all of them; its `source`
//! identifies it (`<file>:<index>` for file_sd, `<index>` for a static group). [`FileSd`] reads
//! the files of one job's `file_sd_configs`: JSON or YAML lists of `{targets, labels}` objects
//! (the format by the extension: `.json` is JSON, `.yml`/`.yaml` YAML), each target getting the
//! label `__meta_filepath`. A file that cannot be read or parsed is logged and its previous
//! groups are kept, as Prometheus keeps the last good read. A file that disappears (or no longer
//! matches the glob) takes its targets with it.
//!
//! Prometheus watches the files' directories with inotify and re-reads everything every
//! `refresh_interval`; burnwatch re-reads the files every second (they are small, and polling
//! sees changes that inotify misses on network file systems) and compares the result, so a change
//! is picked up within about a second either way; `refresh_interval` bounds the wait too.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::promconfig::{FileSdConfig, StaticConfig};
use crate::relabel::is_valid_label_name;

/// A group of targets sharing labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetGroup {
    /// `host:port` addresses.
    pub targets: Vec<String>,
    /// Labels of every target (`__meta_filepath` included for file_sd).
    pub labels: BTreeMap<String, String>,
    /// Where the group came from.
    pub source: String,
}

impl TargetGroup {
    /// The groups of `static_configs`.
    pub fn from_static(configs: &[StaticConfig]) -> Vec<TargetGroup> {
        configs
            .iter()
            .enumerate()
            .map(|(i, sc)| TargetGroup {
                targets: sc.targets.clone(),
                labels: sc.labels.clone(),
                source: i.to_string(),
            })
            .collect()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileGroup {
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// Parses one file_sd file's content; `path` names it in errors and in `__meta_filepath`.
pub fn parse_file(path: &Path, text: &str) -> Result<Vec<TargetGroup>, String> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let groups: Vec<FileGroup> = match ext.as_str() {
        "json" => serde_json::from_str(text).map_err(|e| e.to_string())?,
        "yml" | "yaml" => {
            if text.trim().is_empty() {
                Vec::new()
            } else {
                serde_norway::from_str(text).map_err(|e| e.to_string())?
            }
        }
        other => {
            return Err(format!(
                "retrieval of target groups failed: unknown extension {other:?}"
            ));
        }
    };
    let mut out = Vec::with_capacity(groups.len());
    for (i, g) in groups.into_iter().enumerate() {
        for name in g.labels.keys() {
            if !is_valid_label_name(name) {
                return Err(format!("group {i}: {name:?} is not a valid label name"));
            }
        }
        for t in &g.targets {
            if t.is_empty() || t.contains('/') {
                return Err(format!("group {i}: {t:?} is not a valid hostname (host:port)"));
            }
        }
        let mut labels = g.labels;
        labels.insert("__meta_filepath".into(), path.display().to_string());
        out.push(TargetGroup {
            targets: g.targets,
            labels,
            source: format!("{}:{i}", path.display()),
        });
    }
    Ok(out)
}

/// The file_sd state of one job: the last good read of every file.
#[derive(Debug)]
pub struct FileSd {
    patterns: Vec<PathBuf>,
    last_good: HashMap<PathBuf, Vec<TargetGroup>>,
    job: String,
}

impl FileSd {
    /// The file_sd of `configs`, with relative paths resolved against `base`.
    pub fn new(job: &str, configs: &[FileSdConfig], base: Option<&Path>) -> FileSd {
        let patterns = configs
            .iter()
            .flat_map(|c| c.files.iter())
            .map(|f| match base {
                Some(b) if Path::new(f).is_relative() => b.join(f),
                _ => PathBuf::from(f),
            })
            .collect();
        FileSd {
            patterns,
            last_good: HashMap::new(),
            job: job.to_string(),
        }
    }

    /// Whether the job has file_sd configs at all.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Reads every matching file and returns all groups, files in sorted order.
    pub fn refresh(&mut self) -> Vec<TargetGroup> {
        let mut files: Vec<PathBuf> = Vec::new();
        for pat in &self.patterns {
            match glob::glob(&pat.to_string_lossy()) {
                Ok(paths) => files.extend(paths.filter_map(Result::ok)),
                Err(error) => {
                    tracing::error!(job = %self.job, pattern = %pat.display(), error = %error,
                        "Invalid file_sd pattern.");
                }
            }
        }
        files.sort();
        files.dedup();
        self.last_good.retain(|p, _| files.contains(p));
        let mut out = Vec::new();
        for f in files {
            let read = std::fs::read_to_string(&f)
                .map_err(|e| e.to_string())
                .and_then(|text| parse_file(&f, &text));
            match read {
                Ok(groups) => {
                    self.last_good.insert(f.clone(), groups);
                }
                Err(error) => {
                    // Keep the last good read, as Prometheus does.
                    tracing::error!(job = %self.job, file = %f.display(), error = %error,
                        "Error reading file_sd file; keeping its previous targets.");
                }
            }
            if let Some(g) = self.last_good.get(&f) {
                out.extend(g.iter().cloned());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_yaml_groups_get_meta_filepath() {
        let json = r#"[{"targets": ["a:1", "b:2"], "labels": {"env": "prod"}}, {"targets": ["c:3"]}]"#;
        let g = parse_file(Path::new("/t/x.json"), json).unwrap();
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].targets, vec!["a:1", "b:2"]);
        assert_eq!(g[0].labels["env"], "prod");
        assert_eq!(g[1].labels["__meta_filepath"], "/t/x.json");
        assert_eq!(g[1].source, "/t/x.json:1");
        let yaml = "- targets: ['d:4']\n  labels:\n    zone: eu\n";
        let g = parse_file(Path::new("/t/y.yml"), yaml).unwrap();
        assert_eq!(g[0].labels["zone"], "eu");
        assert!(parse_file(Path::new("/t/y.yaml"), "").unwrap().is_empty());
    }

    #[test]
    fn bad_files_are_errors_naming_the_problem() {
        for (name, text, want) in [
            ("a.json", "{", "expected a sequence"),
            ("a.json", "[{", "EOF"),
            ("a.json", r#"[{"targets": ["a:1"], "lables": {}}]"#, "lables"),
            ("a.yml", "- targets: ['http://a:1/x']\n", "not a valid hostname"),
            ("a.yml", "- labels: {'a-b': x}\n", "not a valid label name"),
        ] {
            let err = parse_file(Path::new(name), text).unwrap_err();
            assert!(err.contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn refresh_keeps_the_last_good_read_and_drops_removed_files() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = FileSdConfig {
            files: vec!["*.json".into()],
            refresh_interval: crate::promconfig::PromDuration::secs(300),
        };
        let mut sd = FileSd::new("j", &[cfg], Some(dir.path()));
        assert!(sd.refresh().is_empty());
        std::fs::write(dir.path().join("a.json"), r#"[{"targets": ["a:1"]}]"#).unwrap();
        assert_eq!(sd.refresh()[0].targets, vec!["a:1"]);
        std::fs::write(dir.path().join("a.json"), "[{").unwrap();
        assert_eq!(
            sd.refresh()[0].targets,
            vec!["a:1"],
            "a broken write keeps the last good read"
        );
        std::fs::write(dir.path().join("a.json"), r#"[{"targets": ["b:2"]}]"#).unwrap();
        assert_eq!(sd.refresh()[0].targets, vec!["b:2"]);
        std::fs::remove_file(dir.path().join("a.json")).unwrap();
        assert!(sd.refresh().is_empty());
    }
}
