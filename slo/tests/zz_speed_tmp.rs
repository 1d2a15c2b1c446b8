use burnwatch_slo::promql::Engine;
use burnwatch_slo::tsdb::{Labels, Storage};
use std::time::Instant;

#[test]
fn speed() {
    let mut s = Storage::new();
    for i in 0..1000 {
        let l = Labels::from_pairs([("__name__", "http_requests_total".to_string()), ("job", format!("j{}", i % 10)), ("instance", format!("i{i}"))]);
        for k in 0..240i64 {
            s.append(&l, k * 15_000, (k * (i % 7 + 1)) as f64).unwrap();
        }
    }
    println!("bytes/sample {}", s.sample_bytes() as f64 / s.num_samples() as f64);
    let e = Engine::default();
    for q in ["sum(rate(http_requests_total[5m]))", "sum by (job) (rate(http_requests_total[5m]))", "http_requests_total", "topk(5, http_requests_total)", "http_requests_total / on(instance) http_requests_total", "max_over_time(rate(http_requests_total[5m])[30m:1m])"] {
        for steps in [1i64, 100, 1000] {
            let t0 = Instant::now();
            let end = 3_600_000;
            let step = if steps == 1 { 1 } else { 3_600_000 / steps };
            let start = if steps == 1 { end } else { 0 };
            let _ = e.range_query(&s, q, start, end, step.max(1)).unwrap();
            println!("{q} steps={steps}: {:?}", t0.elapsed());
        }
    }
}
