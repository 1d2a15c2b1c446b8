//! Reading the process's own resource use from `/proc`: what the memory limiter and the
//! self-telemetry report. Resident memory is what an operator's container limit counts,
//! so it is what burnwatch measures, rather than an allocator's own counter.

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
        ProcessStats { rss_bytes: rss_bytes().unwrap_or(0), cpu_seconds: cpu_seconds().unwrap_or(0.0) }
    }
}

/// The page size used by `/proc/self/statm`. Linux on the architectures we build for uses
/// 4 KiB pages; `VmRSS` in `/proc/self/status` is the fallback when `statm` is absent.
const PAGE_SIZE: u64 = 4096;

/// The resident set size in bytes.
pub fn rss_bytes() -> Option<u64> {
    if let Ok(statm) = std::fs::read_to_string("/proc/self/statm") {
        let resident: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
        return Some(resident * PAGE_SIZE);
    }
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
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
/// cgroup v1 `memory.limit_in_bytes`, else the machine's `MemTotal`. Used by
/// `memory_limiter`'s percentage settings.
pub fn available_memory_bytes() -> Option<u64> {
    let mem_total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        let line = m.lines().find(|l| l.starts_with("MemTotal:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    });
    let cgroup_limit = cgroup_v2_limit().or_else(cgroup_v1_limit);
    match (cgroup_limit, mem_total) {
        // A cgroup "limit" larger than the machine (v1 reports a huge number for "none")
        // means no limit.
        (Some(limit), Some(total)) => Some(limit.min(total)),
        (Some(limit), None) => Some(limit),
        (None, total) => total,
    }
}

fn cgroup_v2_limit() -> Option<u64> {
    // The process's own cgroup path, from the unified hierarchy's "0::/path" line.
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = cgroup.lines().find_map(|l| l.strip_prefix("0::"))?;
    let file = format!("/sys/fs/cgroup{}/memory.max", path.trim_end_matches('/'));
    let text = std::fs::read_to_string(file)
        .or_else(|_| std::fs::read_to_string("/sys/fs/cgroup/memory.max"))
        .ok()?;
    let text = text.trim();
    if text == "max" { None } else { text.parse().ok() }
}

fn cgroup_v1_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/sys/fs/cgroup/memory/memory.limit_in_bytes").ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_rss_and_cpu() {
        let stats = ProcessStats::read();
        assert!(stats.rss_bytes > 1024 * 1024, "a running test process has over 1 MiB resident");
        assert!(stats.cpu_seconds >= 0.0);
        assert!(available_memory_bytes().unwrap() > stats.rss_bytes);
    }
}
