//! Reading the process's own resource use from `/proc`: what the memory limiter and the
//! self-telemetry report. Resident memory is what an operator's container limit counts,
//! so it is what burnwatch measures, rather than an allocator's own counter.

use std::path::{Path, PathBuf};

/// A snapshot of the process's resource use.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessStats {
    /// Resident set size in bytes.
    pub rss_bytes: u64,
    /// User plus system CPU time in seconds.
    pub cpu_seconds: f64,
}

impl ProcessStats {
    /// Reads `/proc/self/statm` and `/proc/self/stat`. Zeroes when they cannot be read
    /// (a non-Linux system), which turns the memory limiter into a no-op there.
    pub fn read() -> ProcessStats {
        ProcessStats {
            rss_bytes: rss_bytes().unwrap_or(0),
            cpu_seconds: cpu_seconds().unwrap_or(0.0),
        }
    }
}

/// The page size `/proc/self/statm` counts in, for the fallback only: 4 KiB on the
/// architectures we build for. `VmRSS` is read first because it is in KiB whatever the
/// page size (arm64 kernels may use 16 or 64 KiB pages).
const PAGE_SIZE: u64 = 4096;

/// The resident set size in bytes: `VmRSS` from `/proc/self/status`, else `statm`.
pub fn rss_bytes() -> Option<u64> {
    if let Some(rss) = std::fs::read_to_string("/proc/self/status")
        .ok()
        .as_deref()
        .and_then(parse_vm_rss)
    {
        return Some(rss);
    }
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let resident: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(resident * PAGE_SIZE)
}

/// The `VmRSS:` line of `/proc/<pid>/status`, in bytes.
fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// User plus system CPU seconds, from `/proc/self/stat` (fields 14 and 15, in clock ticks
/// of 1/100 s, the value of `USER_HZ` on Linux).
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may contain spaces; fields resume after its ')'.
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// The memory available to this process in bytes: the cgroup v2 `memory.max`, else the
/// cgroup v1 limit, else the machine's `MemTotal`, whichever is smallest. Used by
/// `memory_limiter`'s percentage settings.
pub fn available_memory_bytes() -> Option<u64> {
    MemoryFiles::host().available_bytes()
}

/// Where [`MemoryFiles::available_bytes`] reads the memory available to the process: the
/// host's files by default ([`MemoryFiles::host`]); tests point them at fake cgroup trees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryFiles {
    /// The process's cgroup membership (`/proc/self/cgroup`).
    pub proc_cgroup: PathBuf,
    /// Where the cgroup v2 unified hierarchy is mounted (`/sys/fs/cgroup`).
    pub cgroup_v2_root: PathBuf,
    /// Where the cgroup v1 `memory` controller is mounted (`/sys/fs/cgroup/memory`).
    pub cgroup_v1_root: PathBuf,
    /// The machine's memory (`/proc/meminfo`), the fallback when no cgroup sets a limit.
    pub meminfo: PathBuf,
}

impl MemoryFiles {
    /// The files a Linux process reads about itself.
    pub fn host() -> MemoryFiles {
        MemoryFiles {
            proc_cgroup: PathBuf::from("/proc/self/cgroup"),
            cgroup_v2_root: PathBuf::from("/sys/fs/cgroup"),
            cgroup_v1_root: PathBuf::from("/sys/fs/cgroup/memory"),
            meminfo: PathBuf::from("/proc/meminfo"),
        }
    }

    /// A cgroup v2 hierarchy at `root` holding the process at its top (a container with its own
    /// cgroup namespace, as in a Kubernetes pod), with no cgroup v1 and no `/proc/meminfo`.
    pub fn cgroup_v2_at(root: &Path) -> MemoryFiles {
        MemoryFiles {
            proc_cgroup: root.join("self.cgroup"),
            cgroup_v2_root: root.to_path_buf(),
            cgroup_v1_root: root.join("no-cgroup-v1"),
            meminfo: root.join("no-meminfo"),
        }
    }

    /// The cgroup limit (v2 `memory.max`, `max` meaning none, else v1), capped by `MemTotal`;
    /// `MemTotal` alone when no cgroup sets one; `None` when none of the files can be read.
    pub fn available_bytes(&self) -> Option<u64> {
        let mem_total = std::fs::read_to_string(&self.meminfo)
            .ok()
            .as_deref()
            .and_then(parse_mem_total);
        // Without a readable membership file the process is taken to be at the top of each
        // hierarchy, which is what a namespaced container sees.
        let cgroup = std::fs::read_to_string(&self.proc_cgroup).unwrap_or_else(|_| "0::/\n".to_string());
        let cgroup_limit = cgroup_v2_limit(&cgroup, &self.cgroup_v2_root)
            .or_else(|| cgroup_v1_limit(&cgroup, &self.cgroup_v1_root));
        combine_limits(cgroup_limit, mem_total)
    }
}

/// A cgroup limit above the machine's memory (cgroup v1 reports 2^63 rounded down to a
/// page for "no limit") is no limit at all.
fn combine_limits(cgroup_limit: Option<u64>, mem_total: Option<u64>) -> Option<u64> {
    match (cgroup_limit, mem_total) {
        (Some(limit), Some(total)) => Some(limit.min(total)),
        (Some(limit), None) => Some(limit),
        (None, total) => total,
    }
}

/// The `MemTotal:` line of `/proc/meminfo`, in bytes.
fn parse_mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The smallest `memory.max` on the path from the process's cgroup up to the root of the
/// unified hierarchy mounted at `root`: a limit set on a parent (a systemd slice, a pod)
/// binds its children too (cgroup v2, "Memory Interface Files"). `cgroup` is the text of
/// `/proc/self/cgroup`, whose `0::/path` line names the unified-hierarchy cgroup.
///
/// Inside a container with its own cgroup namespace the path is `/` and the container's
/// limit is `root/memory.max`; when the path does not exist under `root` (the mount shows
/// a different view than the path), `root/memory.max` is the best remaining guess.
fn cgroup_v2_limit(cgroup: &str, root: &Path) -> Option<u64> {
    let path = cgroup.lines().find_map(|l| l.strip_prefix("0::"))?.trim();
    let mut limit: Option<u64> = None;
    let mut dir = root.join(path.trim_start_matches('/'));
    let mut found_any = false;
    while dir.starts_with(root) {
        let file = dir.join("memory.max");
        if let Ok(text) = std::fs::read_to_string(&file) {
            found_any = true;
            let text = text.trim();
            // "max" means no limit at this level.
            if let Ok(v) = text.parse::<u64>() {
                limit = Some(limit.map_or(v, |l| l.min(v)));
            }
        }
        if !dir.pop() {
            break;
        }
    }
    if !found_any {
        // Hybrid systems list a `0::` line but mount cgroup v1 controllers at `root`, so
        // there is no memory.max at all: let the caller try cgroup v1.
        return None;
    }
    limit
}

/// The cgroup v1 memory limit for the process, from the `memory` controller's line in
/// `/proc/self/cgroup` (`4:memory:/docker/abc`), with the hierarchy mounted at `root`.
/// `memory.stat`'s `hierarchical_memory_limit` already accounts for the ancestors' limits;
/// `memory.limit_in_bytes` is the fallback. When the process's path is absent under
/// `root` (a container seeing only its own cgroup at the mount root), the root's files
/// are the container's.
fn cgroup_v1_limit(cgroup: &str, root: &Path) -> Option<u64> {
    let own = cgroup.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_id, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        controllers
            .split(',')
            .any(|c| c == "memory")
            .then(|| path.trim().trim_start_matches('/'))
    });
    let candidates = own
        .map(|p| root.join(p))
        .into_iter()
        .chain(std::iter::once(root.to_path_buf()));
    for dir in candidates {
        if let Ok(stat) = std::fs::read_to_string(dir.join("memory.stat")) {
            let hierarchical = stat
                .lines()
                .find_map(|l| l.strip_prefix("hierarchical_memory_limit "))
                .and_then(|v| v.trim().parse().ok());
            if hierarchical.is_some() {
                return hierarchical;
            }
        }
        if let Ok(text) = std::fs::read_to_string(dir.join("memory.limit_in_bytes")) {
            return text.trim().parse().ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_rss_and_cpu() {
        let stats = ProcessStats::read();
        assert!(
            stats.rss_bytes > 1024 * 1024,
            "a running test process has over 1 MiB resident"
        );
        assert!(stats.cpu_seconds >= 0.0);
        assert!(available_memory_bytes().unwrap() > stats.rss_bytes);
        // Linux reports VmRSS; the statm fallback is only for kernels without it.
        assert!(parse_vm_rss(&std::fs::read_to_string("/proc/self/status").unwrap()).is_some());
    }

    #[test]
    fn parses_vm_rss_and_mem_total_in_kib() {
        assert_eq!(parse_vm_rss("Name:\tx\nVmRSS:\t    2048 kB\n"), Some(2048 * 1024));
        assert_eq!(
            parse_mem_total("MemTotal:       16384 kB\nMemFree: 1 kB\n"),
            Some(16384 * 1024)
        );
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
    }

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn cgroup_v2_takes_the_smallest_limit_on_the_path_to_the_root() {
        let root = tempfile::tempdir().unwrap();
        write(&root.path().join("memory.max"), "max\n");
        write(&root.path().join("pod/memory.max"), "1073741824\n");
        write(&root.path().join("pod/app/memory.max"), "max\n");
        assert_eq!(cgroup_v2_limit("0::/pod/app\n", root.path()), Some(1 << 30));
        // A namespaced container sees itself as "/".
        write(&root.path().join("memory.max"), "536870912\n");
        assert_eq!(cgroup_v2_limit("0::/\n", root.path()), Some(512 << 20));
        // No limit anywhere.
        let open = tempfile::tempdir().unwrap();
        write(&open.path().join("memory.max"), "max\n");
        assert_eq!(cgroup_v2_limit("0::/\n", open.path()), None);
    }

    #[test]
    fn cgroup_v2_absent_on_hybrid_hierarchies() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(cgroup_v2_limit("4:memory:/a\n0::/\n", root.path()), None);
    }

    #[test]
    fn cgroup_v1_reads_the_process_cgroup_then_the_mount_root() {
        let root = tempfile::tempdir().unwrap();
        write(
            &root.path().join("memory.limit_in_bytes"),
            "9223372036854771712\n",
        );
        write(
            &root.path().join("docker/abc/memory.stat"),
            "cache 0\nhierarchical_memory_limit 268435456\n",
        );
        let cgroup = "5:cpu:/docker/abc\n4:memory:/docker/abc\n0::/\n";
        assert_eq!(cgroup_v1_limit(cgroup, root.path()), Some(256 << 20));
        // Path not visible under the mount: the root's files are the container's.
        assert_eq!(
            cgroup_v1_limit("4:memory:/elsewhere\n", root.path()),
            Some(9223372036854771712)
        );
        // "No limit" is larger than the machine and so does not count.
        assert_eq!(
            combine_limits(Some(9223372036854771712), Some(8 << 30)),
            Some(8 << 30)
        );
        assert_eq!(combine_limits(None, Some(8 << 30)), Some(8 << 30));
    }
}
