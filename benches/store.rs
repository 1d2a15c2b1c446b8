//! Memory of the embedded store: 1M series × 1 hour of 15 s samples (240M samples).
//!
//! `cargo bench --bench store` appends the samples scrape-style (every series at each
//! timestamp, in time order) and reports compressed bytes per sample, the store's resident
//! memory, and the overhead per series (resident memory not holding sample bytes: labels, index,
//! chunk headers). Goals from the issue: ≤ 2 bytes per sample for regular 15 s data, ≤ 1 KiB of
//! overhead per series. Env: `STORE_BENCH_SERIES` (default 1,000,000).
//!
//! Values come in four kinds of a quarter of the series each, reported separately so no mix
//! hides a bad case: constant series (`up`, info metrics), busy counters growing by a varying
//! amount every scrape (request counts), quiet counters that rarely move (error counts), and
//! gauges wandering with one decimal (queue depths, temperatures: the hardest for XOR encoding).

use std::time::Instant;

use burnwatch_slo::tsdb::{Labels, Matcher, Storage};

fn main() {
    let series: usize = std::env::var("STORE_BENCH_SERIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    const POINTS: i64 = 240;
    const KINDS: [&str; 4] = [
        "constant",
        "busy_counter_total",
        "quiet_counter_total",
        "gauge_one_decimal",
    ];
    const STEP_MS: i64 = 15_000;
    let t0: i64 = 1_767_225_600_000;

    let rss_before = rss_bytes();
    let mut store = Storage::new();
    let mut values = vec![0.0f64; series];
    // The label sets the store keeps, by series. A scraper builds a series' labels once, when
    // the series first appears, and then reuses the store's own copy (Prometheus's scrape cache
    // keeps the series reference per exposition line), so the first scrape builds them here
    // and later ones reuse them. Building every set up front instead would count the sets the
    // store replaces by its interned copies as store memory (freed, but not handed back to the
    // OS between the live allocations).
    let mut labels: Vec<Labels> = Vec::with_capacity(series);
    let start = Instant::now();
    for p in 0..POINTS {
        let t = t0 + p * STEP_MS;
        for i in 0..series {
            // A cheap deterministic hash of (series, step) as the noise source.
            let noise = ((i as i64).wrapping_mul(2_654_435_761) ^ p.wrapping_mul(40_503)) & 0xff;
            values[i] = match i % KINDS.len() {
                0 => 1.0,
                1 => values[i] + (noise % 40) as f64,
                2 => values[i] + if noise < 8 { 1.0 } else { 0.0 },
                _ => ((400 + noise) as f64) / 10.0,
            };
            if let Some(l) = labels.get(i) {
                store.append(l, t, values[i]).expect("in-order append");
            } else {
                let l = Labels::from_pairs([
                    ("__name__", KINDS[i % KINDS.len()].to_string()),
                    ("job", format!("svc-{}", i % 50)),
                    ("instance", format!("10.0.{}.{}:8080", (i / 250) % 256, i % 250)),
                    ("series", i.to_string()),
                ]);
                let r = store.append(&l, t, values[i]).expect("in-order append");
                labels.push(store.all_series()[r as usize].labels().clone());
            }
        }
    }
    let elapsed = start.elapsed();
    drop(labels);
    let rss_after = rss_bytes();
    let samples = store.num_samples();
    let sample_bytes = store.sample_bytes();
    let store_rss = rss_after.saturating_sub(rss_before);
    println!("series                 {}", store.num_series());
    println!("samples                {samples}");
    println!(
        "append rate            {:.1}M samples/s ({:.1}s)",
        samples as f64 / elapsed.as_secs_f64() / 1e6,
        elapsed.as_secs_f64()
    );
    println!(
        "bytes per sample       {:.2} (goal ≤ 2)",
        sample_bytes as f64 / samples as f64
    );
    for kind in KINDS {
        let sel = store.series(&[Matcher::equal("__name__", kind)]);
        let bytes: usize = sel.iter().map(|s| s.chunks().byte_size()).sum();
        let n: usize = sel.iter().map(|s| s.num_samples()).sum();
        println!(
            "  {kind:<22} {:.2} bytes per sample",
            bytes as f64 / n.max(1) as f64
        );
    }
    println!("store RSS              {} MiB", store_rss >> 20);
    println!(
        "overhead per series    {} bytes (goal ≤ 1024): RSS minus sample bytes, over series",
        store_rss.saturating_sub(sample_bytes) / series.max(1)
    );
}

/// Resident memory of this process (`VmRSS` in /proc/self/status).
fn rss_bytes() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<usize>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}
