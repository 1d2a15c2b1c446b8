//! The API server's own metrics on `/metrics`, under Prometheus's names where the meaning is the
//! same, so dashboards and alerts written for a Prometheus server read a `burnwatch serve` too:
//!
//! - `prometheus_http_requests_total{handler,code}`: requests per route (the route's pattern,
//!   written as Prometheus writes it: `/api/v1/label/:name/values`) and status code;
//! - `prometheus_http_request_duration_seconds{handler}`: a histogram with Prometheus's buckets;
//! - `prometheus_engine_query_duration_seconds{slice}`: a summary (0.5, 0.9, 0.99) of the query
//!   timings `stats` reports (`inner_eval`, `prepare_time`, `queue_time`, `result_sort`). As in
//!   Prometheus the quantiles cover the last 10 minutes; here over at most the last
//!   [`SUMMARY_WINDOW`] observations of each slice, which keeps the cost fixed (Prometheus's
//!   summaries use a streaming estimator with the same purpose);
//! - `prometheus_tsdb_head_series`, `prometheus_tsdb_head_chunks`,
//!   `prometheus_tsdb_head_min_time`, `prometheus_tsdb_head_max_time`: the store's size;
//! - `prometheus_config_last_reload_successful`, `..._success_timestamp_seconds`;
//! - `process_resident_memory_bytes`, `process_virtual_memory_bytes`, `process_start_time_seconds`,
//!   `process_cpu_seconds_total`, `process_open_fds`, `process_max_fds`, as the Go client's
//!   process collector reads them from `/proc` (Linux only; elsewhere they are left out).

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use burnwatch_gofmt::format_exposition;

use crate::promql::stats::Timings;

/// How many observations of each query-duration slice the summary's quantiles are taken over.
pub const SUMMARY_WINDOW: usize = 1024;

/// Observations older than this leave the summary's quantiles (Prometheus's `MaxAge`).
const SUMMARY_MAX_AGE: Duration = Duration::from_secs(600);

/// Prometheus's `prometheus_http_request_duration_seconds` buckets.
const HTTP_BUCKETS: [f64; 9] = [0.1, 0.2, 0.4, 1.0, 3.0, 8.0, 20.0, 60.0, 120.0];

/// The engine's timing slices, in the order `/metrics` lists them.
const SLICES: [&str; 4] = ["inner_eval", "prepare_time", "queue_time", "result_sort"];

#[derive(Debug, Default)]
struct Histogram {
    buckets: [u64; HTTP_BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Debug, Default)]
struct Summary {
    recent: VecDeque<(Instant, f64)>,
    count: u64,
    sum: f64,
}

impl Summary {
    fn observe(&mut self, v: f64) {
        if self.recent.len() == SUMMARY_WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back((Instant::now(), v));
        self.count += 1;
        self.sum += v;
    }

    /// The `q` quantile of the recent observations (NaN when there are none, as Prometheus's
    /// summary reports an empty window).
    fn quantile(&self, q: f64) -> f64 {
        let now = Instant::now();
        let mut vs: Vec<f64> = self
            .recent
            .iter()
            .filter(|(t, _)| now.duration_since(*t) <= SUMMARY_MAX_AGE)
            .map(|(_, v)| *v)
            .collect();
        if vs.is_empty() {
            return f64::NAN;
        }
        vs.sort_by(f64::total_cmp);
        // The rank-based estimate the Go client's targeted quantiles converge to.
        let rank = (q * vs.len() as f64).ceil() as usize;
        vs[rank.clamp(1, vs.len()) - 1]
    }
}

#[derive(Debug, Default)]
struct Inner {
    requests: BTreeMap<(String, u16), u64>,
    durations: BTreeMap<String, Histogram>,
    slices: [Summary; 4],
}

/// The counters the API updates as it answers; shared by every clone of the state.
#[derive(Debug, Default)]
pub struct ApiMetrics {
    inner: Mutex<Inner>,
}

/// The store's numbers `/metrics` reports, read under the store's lock by the caller.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeadNumbers {
    /// Series in the store.
    pub series: usize,
    /// Compressed chunks in the store.
    pub chunks: usize,
    /// Oldest sample timestamp (ms), if any.
    pub min_time: Option<i64>,
    /// Newest sample timestamp (ms), if any.
    pub max_time: Option<i64>,
}

impl ApiMetrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Counters a panicking writer left half-updated are still counters.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts one answered request to route `handler` with `code`, which took `took`.
    pub fn observe_request(&self, handler: &str, code: u16, took: Duration) {
        let mut inner = self.lock();
        *inner.requests.entry((handler.to_string(), code)).or_default() += 1;
        let h = inner.durations.entry(handler.to_string()).or_default();
        let secs = took.as_secs_f64();
        for (i, le) in HTTP_BUCKETS.iter().enumerate() {
            if secs <= *le {
                h.buckets[i] += 1;
            }
        }
        h.count += 1;
        h.sum += secs;
    }

    /// Records a query's timings in `prometheus_engine_query_duration_seconds`.
    pub fn observe_query(&self, t: &Timings) {
        let mut inner = self.lock();
        let values = [t.inner_eval, t.query_preparation, t.exec_queue, t.result_sort];
        for (s, v) in inner.slices.iter_mut().zip(values) {
            s.observe(v.as_secs_f64());
        }
    }

    /// The requests counted for `handler` with `code` so far.
    pub fn requests(&self, handler: &str, code: u16) -> u64 {
        self.lock()
            .requests
            .get(&(handler.to_string(), code))
            .copied()
            .unwrap_or(0)
    }

    /// Writes the API's families and `head` in the text format to `out`.
    pub fn write_text(&self, out: &mut String, head: &HeadNumbers) {
        let inner = self.lock();
        family(
            out,
            "prometheus_engine_query_duration_seconds",
            "Query timings",
            "summary",
        );
        for (name, s) in SLICES.iter().zip(&inner.slices) {
            for q in [0.5, 0.9, 0.99] {
                let _ = writeln!(
                    out,
                    "prometheus_engine_query_duration_seconds{{slice=\"{name}\",quantile=\"{q}\"}} {}",
                    format_exposition(s.quantile(q))
                );
            }
            let _ = writeln!(
                out,
                "prometheus_engine_query_duration_seconds_sum{{slice=\"{name}\"}} {}",
                format_exposition(s.sum)
            );
            let _ = writeln!(
                out,
                "prometheus_engine_query_duration_seconds_count{{slice=\"{name}\"}} {}",
                s.count
            );
        }
        family(
            out,
            "prometheus_http_request_duration_seconds",
            "Histogram of latencies for HTTP requests.",
            "histogram",
        );
        for (handler, h) in &inner.durations {
            let handler = escape(handler);
            for (i, le) in HTTP_BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "prometheus_http_request_duration_seconds_bucket{{handler=\"{handler}\",le=\"{}\"}} {}",
                    format_exposition(*le),
                    h.buckets[i]
                );
            }
            let _ = writeln!(
                out,
                "prometheus_http_request_duration_seconds_bucket{{handler=\"{handler}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "prometheus_http_request_duration_seconds_sum{{handler=\"{handler}\"}} {}",
                format_exposition(h.sum)
            );
            let _ = writeln!(
                out,
                "prometheus_http_request_duration_seconds_count{{handler=\"{handler}\"}} {}",
                h.count
            );
        }
        family(
            out,
            "prometheus_http_requests_total",
            "Counter of HTTP requests.",
            "counter",
        );
        for ((handler, code), n) in &inner.requests {
            let _ = writeln!(
                out,
                "prometheus_http_requests_total{{code=\"{code}\",handler=\"{}\"}} {n}",
                escape(handler)
            );
        }
        drop(inner);
        gauge(
            out,
            "prometheus_tsdb_head_chunks",
            "Total number of chunks in the head block.",
            head.chunks as f64,
        );
        gauge(
            out,
            "prometheus_tsdb_head_max_time",
            "Maximum timestamp of the head block. The unit is decided by the library consumer.",
            head.max_time.map_or(f64::from(i32::MIN), |t| t as f64),
        );
        gauge(
            out,
            "prometheus_tsdb_head_min_time",
            "Minimum time bound of the head block. The unit is decided by the library consumer.",
            head.min_time.map_or(f64::from(i32::MAX), |t| t as f64),
        );
        gauge(
            out,
            "prometheus_tsdb_head_series",
            "Total number of series in the head block.",
            head.series as f64,
        );
        write_process(out);
    }
}

/// A `# HELP` and `# TYPE` header.
fn family(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn gauge(out: &mut String, name: &str, help: &str, v: f64) {
    family(out, name, help, "gauge");
    let _ = writeln!(out, "{name} {}", format_exposition(v));
}

/// A label value escaped for the text format 0.0.4 (backslash, double quote, newline).
pub(crate) fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// The Go client's process collector, from `/proc/self` (nothing where it is missing).
fn write_process(out: &mut String) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return;
    };
    // Fields after the command name, which is in parentheses and may hold spaces.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok());
    // `man 5 proc`: utime and stime are fields 14 and 15, starttime 22, vsize 23, rss 24;
    // `f[0]` is field 3.
    let ticks = 100.0; // sysconf(_SC_CLK_TCK) on every Linux architecture Rust targets
    let page = 4096.0;
    if let (Some(u), Some(s)) = (num(11), num(12)) {
        family(
            out,
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
            "counter",
        );
        let _ = writeln!(
            out,
            "process_cpu_seconds_total {}",
            format_exposition((u + s) / ticks)
        );
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        gauge(
            out,
            "process_open_fds",
            "Number of open file descriptors.",
            fds.count() as f64,
        );
    }
    if let Some(max) = std::fs::read_to_string("/proc/self/limits").ok().and_then(|l| {
        l.lines()
            .find(|l| l.starts_with("Max open files"))
            .and_then(|l| l.split_whitespace().nth(3).and_then(|v| v.parse::<f64>().ok()))
    }) {
        gauge(
            out,
            "process_max_fds",
            "Maximum number of open file descriptors.",
            max,
        );
    }
    if let Some(rss) = num(21) {
        gauge(
            out,
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            rss * page,
        );
    }
    if let Some(start) = num(19).and_then(|st| boot_time().map(|b| b + st / ticks)) {
        gauge(
            out,
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            start,
        );
    }
    if let Some(vsize) = num(20) {
        gauge(
            out,
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            vsize,
        );
    }
}

/// The boot time in Unix seconds (`btime` in `/proc/stat`).
fn boot_time() -> Option<f64> {
    std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_quantiles_are_ranks_of_the_recent_observations() {
        let mut s = Summary::default();
        assert!(
            s.quantile(0.5).is_nan(),
            "an empty window reports NaN, as Prometheus"
        );
        for v in 1..=100 {
            s.observe(f64::from(v));
        }
        assert_eq!(s.quantile(0.5), 50.0);
        assert_eq!(s.quantile(0.9), 90.0);
        assert_eq!(s.quantile(0.99), 99.0);
        assert_eq!(s.count, 100);
        assert_eq!(s.sum, 5050.0);
        for _ in 0..SUMMARY_WINDOW {
            s.observe(7.0);
        }
        assert_eq!(s.quantile(0.99), 7.0, "old observations leave the window");
        assert_eq!(s.count, 100 + SUMMARY_WINDOW as u64, "the count keeps them");
    }

    #[test]
    fn requests_and_head_numbers_are_written_under_prometheus_names() {
        let m = ApiMetrics::default();
        m.observe_request("/api/v1/query", 200, Duration::from_millis(150));
        m.observe_request("/api/v1/query", 200, Duration::from_millis(5));
        m.observe_request("/api/v1/query", 400, Duration::from_millis(5));
        let mut out = String::new();
        let head = HeadNumbers {
            series: 3,
            chunks: 4,
            min_time: Some(1000),
            max_time: Some(2000),
        };
        m.write_text(&mut out, &head);
        assert!(out.contains("prometheus_http_requests_total{code=\"200\",handler=\"/api/v1/query\"} 2\n"));
        assert!(out.contains("prometheus_http_requests_total{code=\"400\",handler=\"/api/v1/query\"} 1\n"));
        assert!(out.contains(
            "prometheus_http_request_duration_seconds_bucket{handler=\"/api/v1/query\",le=\"0.1\"} 2\n"
        ));
        assert!(out.contains(
            "prometheus_http_request_duration_seconds_bucket{handler=\"/api/v1/query\",le=\"0.2\"} 3\n"
        ));
        assert!(out.contains("prometheus_tsdb_head_series 3\n"));
        assert!(out.contains("prometheus_tsdb_head_chunks 4\n"));
        assert!(out.contains("prometheus_tsdb_head_max_time 2000\n"));
        if cfg!(target_os = "linux") {
            assert!(out.contains("\nprocess_resident_memory_bytes "));
        }
    }
}
