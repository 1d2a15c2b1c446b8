//! What a learner has solved, saved between sessions.
//!
//! The file is JSON under the XDG data directory: `$XDG_DATA_HOME/burnwatch/learn-progress.json`,
//! or `~/.local/share/burnwatch/learn-progress.json` when `XDG_DATA_HOME` is unset or not
//! absolute (the XDG Base Directory specification says to ignore a relative one). The
//! environment variable `BURNWATCH_LEARN_PROGRESS` names another file (tests use it).
//!
//! Progress is never lost silently: a file that cannot be read as progress is copied to
//! `<file>.bak` and the reason kept in [`Progress::load_error`] for the caller to show, and
//! saving writes a temporary file beside the real one and renames it over, so a crash mid-write
//! leaves the old file whole. Exercises are keyed by their id, which stays stable when
//! exercises are renumbered.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The environment variable naming the progress file.
pub const PATH_ENV: &str = "BURNWATCH_LEARN_PROGRESS";

/// One exercise's record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Record {
    /// Answers checked.
    pub attempts: u32,
    /// Whether an answer was ever right.
    pub solved: bool,
    /// Attempts up to and including the first right one (0 while unsolved).
    pub attempts_to_solve: u32,
    /// Most hints shown at once for this exercise.
    pub hints_used: u32,
    /// When it was first solved, seconds since the Unix epoch.
    pub solved_at: Option<u64>,
}

/// Saved progress over the curriculum.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// The file format's version.
    #[serde(default = "version")]
    pub version: u32,
    /// Records by exercise id.
    #[serde(default)]
    pub exercises: BTreeMap<String, Record>,
    /// Why the file could not be read, when it could not (it was then kept as `<file>.bak`
    /// and progress starts empty). Not saved.
    #[serde(skip)]
    pub load_error: Option<String>,
}

fn version() -> u32 {
    1
}

/// The progress file: `$BURNWATCH_LEARN_PROGRESS`, else under `$XDG_DATA_HOME`, else under
/// `~/.local/share`, else (no home directory at all) `learn-progress.json` in the working
/// directory.
pub fn default_path() -> PathBuf {
    path_from(|k| std::env::var_os(k))
}

fn path_from(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> PathBuf {
    let set = |k: &str| var(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(p) = set(PATH_ENV) {
        return p;
    }
    let file = Path::new("burnwatch").join("learn-progress.json");
    if let Some(d) = set("XDG_DATA_HOME").filter(|d| d.is_absolute()) {
        return d.join(file);
    }
    match set("HOME") {
        Some(h) => h.join(".local/share").join(file),
        None => PathBuf::from("learn-progress.json"),
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Progress {
    /// Reads `path`. A missing file is empty progress; an unreadable or corrupt one is copied
    /// to `<path>.bak`, and empty progress is returned with the reason in
    /// [`Progress::load_error`].
    pub fn load(path: &Path) -> Progress {
        let text = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Progress::new(),
            Err(e) => {
                return Progress {
                    load_error: Some(format!("cannot read {}: {e}", path.display())),
                    ..Progress::new()
                };
            }
        };
        match serde_json::from_slice::<Progress>(&text) {
            Ok(p) => p,
            Err(e) => {
                let bak = backup_path(path);
                let kept = match std::fs::write(&bak, &text) {
                    Ok(()) => format!("it was kept as {}", bak.display()),
                    Err(be) => format!("and could not be kept as {}: {be}", bak.display()),
                };
                Progress {
                    load_error: Some(format!(
                        "{} is not a progress file ({e}); starting afresh, {kept}",
                        path.display()
                    )),
                    ..Progress::new()
                }
            }
        }
    }

    /// Empty progress.
    pub fn new() -> Progress {
        Progress {
            version: version(),
            ..Progress::default()
        }
    }

    /// Records a checked answer to exercise `id` and the hints shown for it.
    pub fn record(&mut self, id: &str, correct: bool, hints_used: u32) {
        let r = self.exercises.entry(id.to_string()).or_default();
        r.attempts = r.attempts.saturating_add(1);
        r.hints_used = r.hints_used.max(hints_used);
        if correct && !r.solved {
            r.solved = true;
            r.attempts_to_solve = r.attempts;
            r.solved_at = Some(now());
        }
    }

    /// Records that the first `hints` hints of exercise `id` were shown.
    pub fn hinted(&mut self, id: &str, hints: u32) {
        let r = self.exercises.entry(id.to_string()).or_default();
        r.hints_used = r.hints_used.max(hints);
    }

    /// Whether exercise `id` was ever answered right.
    pub fn is_solved(&self, id: &str) -> bool {
        self.exercises.get(id).is_some_and(|r| r.solved)
    }

    /// The record of exercise `id`, if it was ever attempted.
    pub fn get(&self, id: &str) -> Option<&Record> {
        self.exercises.get(id)
    }

    /// How many of `ids` are solved.
    pub fn solved_count<'a>(&self, ids: impl IntoIterator<Item = &'a str>) -> usize {
        ids.into_iter().filter(|id| self.is_solved(id)).count()
    }

    /// Writes the progress to `path` atomically (a temporary file beside it, renamed over it),
    /// creating the directory.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        std::fs::create_dir_all(dir)?;
        let name = path
            .file_name()
            .map_or_else(|| "progress".into(), |n| n.to_string_lossy().into_owned());
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let text = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        let written = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&text)?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written
    }
}

fn backup_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".bak");
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "burnwatch-learn-progress-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn missing_file_is_empty_and_a_save_reads_back() {
        let dir = tempdir();
        let path = dir.join("sub/dir/progress.json");
        let mut p = Progress::load(&path);
        assert_eq!(p, Progress::new());
        assert!(p.load_error.is_none());
        p.record("promql-rate", false, 1);
        p.record("promql-rate", true, 2);
        p.record("promql-rate", false, 0);
        p.record("slo-budget", false, 0);
        assert!(p.is_solved("promql-rate") && !p.is_solved("slo-budget"));
        p.save(&path).unwrap();
        let back = Progress::load(&path);
        assert_eq!(back, p);
        let r = back.get("promql-rate").unwrap();
        assert_eq!((r.attempts, r.attempts_to_solve, r.hints_used), (3, 2, 2));
        assert_eq!(back.solved_count(["promql-rate", "slo-budget", "other"]), 1);
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(
            leftovers.len(),
            1,
            "no temporary file is left beside the progress file"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_corrupt_file_is_kept_and_reported() {
        let dir = tempdir();
        let path = dir.join("progress.json");
        std::fs::write(&path, "{\"exercises\": {\"x\": tru").unwrap();
        let p = Progress::load(&path);
        assert!(p.exercises.is_empty());
        let err = p.load_error.clone().unwrap();
        assert!(err.contains("is not a progress file"), "{err}");
        assert!(err.contains("progress.json.bak"), "{err}");
        assert_eq!(
            std::fs::read_to_string(dir.join("progress.json.bak")).unwrap(),
            "{\"exercises\": {\"x\": tru"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_path_follows_xdg() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).into())
        };
        assert_eq!(
            path_from(env(&[
                ("BURNWATCH_LEARN_PROGRESS", "/tmp/p.json"),
                ("HOME", "/h")
            ])),
            PathBuf::from("/tmp/p.json")
        );
        assert_eq!(
            path_from(env(&[("XDG_DATA_HOME", "/data"), ("HOME", "/h")])),
            PathBuf::from("/data/burnwatch/learn-progress.json")
        );
        assert_eq!(
            path_from(env(&[("XDG_DATA_HOME", "relative"), ("HOME", "/h")])),
            PathBuf::from("/h/.local/share/burnwatch/learn-progress.json")
        );
        assert_eq!(path_from(env(&[])), PathBuf::from("learn-progress.json"));
    }
}
