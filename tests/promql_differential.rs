//! Differential PromQL test: burnwatch against a real Prometheus 2.42 on the same data.
//!
//! The test writes seeded pseudo-random series as OpenMetrics, imports them into Prometheus
//! (`promtool tsdb create-blocks-from openmetrics`, then `prometheus` over the blocks) and into
//! `burnwatch serve --load`, generates queries from a small PromQL grammar (selectors with equality
//! and regex matchers, offsets and `@`, aggregations with `by`/`without`, binary operators with
//! `on`/`ignoring`/`group_left`/`group_right` and `bool`, set operators, math, time, label and
//! range functions, subqueries), runs each as an instant and a range query against both, and
//! compares results: errors against errors, label sets exactly, floats within a relative 1e-6
//! (2.42 sums without the Kahan compensation 3.x uses).
//!
//! A disagreement is minimised (subexpressions replaced by smaller ones of the same type while the
//! two still disagree) and reported; the test fails when any remains. Each one found so far is kept
//! as a regression case in `slo/tests/promql/differential.test`.
//!
//! Documented differences between Prometheus 2.x and 3.x (burnwatch follows 3.x) are avoided by
//! construction:
//!
//! - range boundaries (2.x closed `[t-r, t]`, 3.x left-open): every sample sits 100-400 or
//!   600-900 ms past a second, instant and range queries run at half past a second, and ranges,
//!   offsets and subquery steps are whole seconds, so no sample and no subquery point lies on a
//!   window's edge;
//! - `.` matching a newline in regexes (3.x): no label value holds a newline;
//! - functions renamed, added or behind feature flags in either (`holt_winters`, `info`,
//!   `limitk`, `sort_by_label`, `mad_over_time`, native histograms) are not generated;
//! - delayed `__name__` removal is off in both (the 3.x default);
//! - `atan2` drops the metric name in 3.x, keeps it in 2.x: not generated;
//! - `rate`/`increase` limit extrapolation at a counter's zero point before (2.x) or after (3.x)
//!   the extrapolation threshold: they read only `fz_requests`, counters far from zero;
//! - `stddev`/`stdvar` of a single NaN or infinity are NaN in 3.x, 0 in 2.x: they read only
//!   series without NaN (`fz_requests`, `fz_other`);
//! - 3.x checks one-to-one uniqueness before a comparison filters pairs, 2.x after: comparisons
//!   between vectors without `bool` match on all labels (no `on`/`ignoring`);
//! - `@` on a range selector under a range query: 2.42 drops steps after the `@` time from
//!   `predict_linear` and others (fixed in 3.x): `@` goes on instant selectors only;
//! - `count_values` turns values into labels, where Go's and Rust's last-bit differences in `log10`,
//!   `cos`, `^` or a sum's order would be label mismatches: it counts values clamped to ±1000 and
//!   rounded;
//! - `topk`/`bottomk` among equal values or NaNs keep whichever their heap meets first: they
//!   read series of distinct values (`fz_requests`, `fz_other`);
//! - label names are the legacy `[a-zA-Z_][a-zA-Z0-9_]*` that 2.x requires.
//!
//! `PROMQL_DIFF_QUERIES` (default 1500, about 15 s) and `PROMQL_DIFF_SEED` (default fixed) change the run;
//! CI uses the defaults, so a run is the same everywhere.

mod common;

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use serde_json::Value as Json;

/// First sample time (2026-01-01T00:00:00Z): old enough that Prometheus keeps imported blocks.
const START_S: i64 = 1_767_225_600;
/// Length of the data.
const SPAN_S: i64 = 3600;
/// Default seed: fixed so CI runs the same queries every time.
const DEFAULT_SEED: u64 = 0x5eed_2026_0042;
const DEFAULT_QUERIES: usize = 1500;

/// SplitMix64: small, seeded, the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    fn float(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

// ---------------------------------------------------------------------------------------------
// Data

const JOBS: [&str; 3] = ["api", "web", "db"];
/// Values that exercise regex syntax: Unicode digits and letters (ASCII `\d \w` in Go), dots,
/// braces, spaces, empty.
const PATHS: [&str; 8] = ["/a.b", "/a", "\u{663}", "é", "x{2}", "A_1", "a b", "7"];
const BUCKETS: [&str; 5] = ["0.1", "0.5", "1", "5", "+Inf"];

/// Sample timestamp (ms) near `base_s`: 100-400 or 600-900 ms past a second.
fn jittered_ms(rng: &mut Rng, base_s: i64) -> i64 {
    let ms = 100 + rng.below(301) as i64;
    let ms = if rng.chance(50) { ms } else { ms + 500 };
    base_s * 1000 + ms
}

/// Writes the data set; returns the number of samples.
fn write_data(rng: &mut Rng, path: &Path) -> usize {
    let mut out = String::new();
    let mut n = 0;
    // kind 0: counter far from zero; 1: gauge; 2: gauge with an occasional NaN.
    let mut series = |out: &mut String, rng: &mut Rng, name: &str, labels: &str, kind: u8| {
        // Scrape interval 15 s, 30 s or 60 s; some series stop early (staleness by lookback),
        // some start late.
        let interval = *rng.pick(&[15i64, 30, 60]);
        let first = if rng.chance(15) { rng.below(1200) as i64 } else { 0 };
        let last = if rng.chance(15) {
            SPAN_S / 2 + rng.below(900) as i64
        } else {
            SPAN_S
        };
        let mut v: f64 = match kind {
            0 => 100_000.0 + rng.below(100) as f64,
            _ => (rng.float() - 0.3) * 100.0,
        };
        let mut t = first;
        while t < last {
            let ts = jittered_ms(rng, START_S + t);
            let shown = if kind == 2 && rng.chance(1) {
                "NaN".to_string()
            } else {
                format!("{v}")
            };
            writeln!(out, "{name}{{{labels}}} {shown} {}.{:03}", ts / 1000, ts % 1000).unwrap();
            n += 1;
            v = match kind {
                // Counter: grows, resets now and then (to about half, staying far from zero).
                0 if rng.chance(2) => (v / 2.0).floor(),
                0 => v + rng.below(20) as f64 + if rng.chance(30) { 0.5 } else { 0.0 },
                // Gauge: a random walk.
                _ => ((v + (rng.float() - 0.5) * 20.0) * 100.0).round() / 100.0,
            };
            t += interval;
        }
    };
    out.push_str("# TYPE fz_requests gauge\n");
    for job in JOBS {
        for instance in 0..2 {
            for code in ["200", "500"] {
                series(
                    &mut out,
                    rng,
                    "fz_requests",
                    &format!("job=\"{job}\",instance=\"{instance}\",code=\"{code}\""),
                    0,
                );
            }
        }
    }
    out.push_str("# TYPE fz_gauge gauge\n");
    for job in JOBS {
        for (i, path) in PATHS.iter().enumerate() {
            if (i + job.len()) % 2 == 0 {
                series(
                    &mut out,
                    rng,
                    "fz_gauge",
                    &format!("job=\"{job}\",path=\"{path}\""),
                    2,
                );
            }
        }
    }
    // `fz_twin` has `fz_other`'s label sets: once a function drops the names, the two collide.
    out.push_str("# TYPE fz_twin gauge\n");
    for job in JOBS {
        series(
            &mut out,
            rng,
            "fz_twin",
            &format!("job=\"{job}\",instance=\"0\""),
            1,
        );
    }
    out.push_str("# TYPE fz_other gauge\n");
    for job in JOBS {
        series(
            &mut out,
            rng,
            "fz_other",
            &format!("job=\"{job}\",instance=\"0\""),
            1,
        );
    }
    // Classic histogram buckets, cumulative in `le`.
    out.push_str("# TYPE fz_latency_bucket gauge\n");
    for job in JOBS {
        let interval = 30;
        // Far from zero, as the counters (see the module's notes on rate).
        let mut counts = [100_000f64; BUCKETS.len()];
        let mut t = 0;
        let mut lines: Vec<Vec<String>> = vec![Vec::new(); BUCKETS.len()];
        while t < SPAN_S {
            let ts = jittered_ms(rng, START_S + t);
            let mut acc = 0.0;
            for (b, c) in counts.iter_mut().enumerate() {
                acc += rng.below(4) as f64;
                *c = c.max(acc + *c * 0.0) + rng.below(3) as f64 * (b as f64 + 1.0);
            }
            for b in 1..counts.len() {
                if counts[b] < counts[b - 1] {
                    counts[b] = counts[b - 1];
                }
            }
            for (b, le) in BUCKETS.iter().enumerate() {
                lines[b].push(format!(
                    "fz_latency_bucket{{job=\"{job}\",le=\"{le}\"}} {} {}.{:03}",
                    counts[b],
                    ts / 1000,
                    ts % 1000
                ));
            }
            t += interval;
        }
        for l in lines.into_iter().flatten() {
            out.push_str(&l);
            out.push('\n');
            n += 1;
        }
    }
    out.push_str("# EOF\n");
    std::fs::write(path, out).unwrap();
    n
}

// ---------------------------------------------------------------------------------------------
// Queries: a typed tree, so a failing query can be shrunk to a smaller one of the same type.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ty {
    Vector,
    Scalar,
    Range,
}

/// A node: a template where `{0}`, `{1}`... stand for the children.
#[derive(Clone, Debug)]
struct Q {
    ty: Ty,
    tmpl: String,
    kids: Vec<Q>,
}

impl Q {
    fn leaf(ty: Ty, s: impl Into<String>) -> Q {
        Q {
            ty,
            tmpl: s.into(),
            kids: Vec::new(),
        }
    }
    fn node(ty: Ty, tmpl: impl Into<String>, kids: Vec<Q>) -> Q {
        Q {
            ty,
            tmpl: tmpl.into(),
            kids,
        }
    }
    fn render(&self) -> String {
        let mut s = self.tmpl.clone();
        for (i, k) in self.kids.iter().enumerate() {
            s = s.replace(&format!("{{{i}}}"), &k.render());
        }
        s
    }
    /// Every subtree (pre-order) with its path.
    fn paths(&self, prefix: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        out.push(prefix.clone());
        for i in 0..self.kids.len() {
            prefix.push(i);
            self.kids[i].paths(prefix, out);
            prefix.pop();
        }
    }
    fn at(&self, path: &[usize]) -> &Q {
        path.iter().fold(self, |q, &i| &q.kids[i])
    }
    fn replaced(&self, path: &[usize], with: Q) -> Q {
        if path.is_empty() {
            return with;
        }
        let mut c = self.clone();
        c.kids[path[0]] = self.kids[path[0]].replaced(&path[1..], with);
        c
    }
}

const METRICS: [&str; 4] = ["fz_requests", "fz_gauge", "fz_other", "fz_latency_bucket"];
const LABELS: [&str; 6] = ["job", "instance", "code", "path", "le", "nope"];
/// Regexes where Go's RE2 and the `regex` crate's defaults disagree, and plain ones.
const REGEXES: [&str; 16] = [
    "api|web",
    ".*",
    ".+",
    "a.*",
    r"\\d",
    r"\\w+",
    r"/a\\.b",
    r"\\Q/a.b\\E",
    "x{2}",
    "x{,2}",
    "[[:alpha:]]+",
    r"\\pL",
    r"(?i)API",
    "[^a]+",
    "",
    "d.|w.b",
];
const RANGES: [&str; 5] = ["1m", "2m", "5m", "10m", "1h"];

struct Gen<'a> {
    rng: &'a mut Rng,
    /// Whether selectors may match two metrics that differ only by name (not under a filtering
    /// comparison between vectors: 3.x checks uniqueness before filtering, 2.x after).
    twins: bool,
}

impl Gen<'_> {
    fn matcher(&mut self) -> String {
        let label = *self.rng.pick(&["job", "instance", "code", "path", "le"]);
        let value = match label {
            "job" => self.rng.pick(&JOBS).to_string(),
            "instance" => self.rng.pick(&["0", "1"]).to_string(),
            "code" => self.rng.pick(&["200", "500"]).to_string(),
            "le" => self.rng.pick(&BUCKETS).to_string(),
            _ => self.rng.pick(&PATHS).to_string(),
        };
        match self.rng.below(4) {
            0 => format!("{label}=\"{value}\""),
            1 => format!("{label}!=\"{value}\""),
            2 => format!("{label}=~\"{}\"", self.rng.pick(&REGEXES)),
            _ => format!("{label}!~\"{}\"", self.rng.pick(&REGEXES)),
        }
    }

    fn selector(&mut self) -> String {
        let n = self.rng.below(3);
        let ms: Vec<String> = (0..n).map(|_| self.matcher()).collect();
        if self.twins && self.rng.chance(8) {
            // Two metrics whose series differ only by name (`__name__` removal and duplicate
            // label sets).
            let names = *self.rng.pick(&["fz_other|fz_twin", "fz_.*r", "fz_twin"]);
            let mut all = vec![format!("__name__=~\"{names}\"")];
            all.extend(ms);
            return format!("{{{}}}", all.join(", "));
        }
        let name = *self.rng.pick(&METRICS);
        if ms.is_empty() {
            name.to_string()
        } else {
            format!("{name}{{{}}}", ms.join(", "))
        }
    }

    /// `offset` and, on instant selectors (`at`), `@`.
    fn modifiers_at(&mut self, at: bool) -> String {
        let mut s = String::new();
        if self.rng.chance(12) {
            s.push_str(&format!(" offset {}m", 1 + self.rng.below(10)));
        }
        if at && self.rng.chance(5) {
            // `@` a whole second inside the data.
            s.push_str(&format!(" @ {}", START_S + 600 + self.rng.below(2400) as i64));
        }
        s
    }

    fn modifiers(&mut self) -> String {
        self.modifiers_at(true)
    }

    fn scalar(&mut self, depth: usize) -> Q {
        let choice = if depth == 0 { 0 } else { self.rng.below(10) };
        match choice {
            0..=5 => Q::leaf(
                Ty::Scalar,
                *self
                    .rng
                    .pick(&["0", "1", "2", "0.5", "-1", "10", "100", "0.25", "3", "1e3"]),
            ),
            6 => Q::node(Ty::Scalar, "scalar({0})", vec![self.vector(depth - 1)]),
            7 => Q::leaf(Ty::Scalar, "time()"),
            8 => {
                let op = *self.rng.pick(&["+", "-", "*", "/", "%", "^"]);
                Q::node(
                    Ty::Scalar,
                    format!("({{0}} {op} {{1}})"),
                    vec![self.scalar(depth - 1), self.scalar(depth - 1)],
                )
            }
            _ => Q::node(Ty::Scalar, "-{0}", vec![self.scalar(depth - 1)]),
        }
    }

    fn range(&mut self, depth: usize) -> Q {
        let r = *self.rng.pick(&RANGES);
        if depth > 0 && self.rng.chance(20) {
            let step = *self.rng.pick(&["", "30s", "1m", "20s"]);
            let inner = self.vector(depth - 1);
            return Q::node(Ty::Range, format!("({{0}})[{r}:{step}]"), vec![inner]);
        }
        let sel = self.selector();
        let m = self.modifiers_at(false);
        Q::leaf(Ty::Range, format!("{sel}[{r}]{m}"))
    }

    fn grouping(&mut self) -> String {
        match self.rng.below(3) {
            0 => String::new(),
            k => {
                let n = 1 + self.rng.below(2);
                let ls: Vec<&str> = (0..n).map(|_| *self.rng.pick(&LABELS)).collect();
                format!(" {} ({})", if k == 1 { "by" } else { "without" }, ls.join(", "))
            }
        }
    }

    fn vector(&mut self, depth: usize) -> Q {
        if depth == 0 {
            let s = self.selector();
            let m = self.modifiers();
            return Q::leaf(Ty::Vector, format!("{s}{m}"));
        }
        let d = depth - 1;
        match self.rng.below(16) {
            0 | 1 => self.vector(0),
            2 => {
                let f = *self.rng.pick(&[
                    "abs",
                    "ceil",
                    "floor",
                    "exp",
                    "ln",
                    "log2",
                    "log10",
                    "sqrt",
                    "sgn",
                    "round",
                    "timestamp",
                    "sort",
                    "sort_desc",
                    "absent",
                    "day_of_week",
                    "hour",
                    "minute",
                    "month",
                    "year",
                    "days_in_month",
                    "day_of_month",
                    "day_of_year",
                    "deg",
                    "rad",
                    "sin",
                    "cos",
                    "tanh",
                    "asinh",
                    "atan",
                ]);
                Q::node(Ty::Vector, format!("{f}({{0}})"), vec![self.vector(d)])
            }
            3 => {
                let f = *self.rng.pick(&["clamp_min", "clamp_max", "round"]);
                Q::node(
                    Ty::Vector,
                    format!("{f}({{0}}, {{1}})"),
                    vec![self.vector(d), self.scalar(d)],
                )
            }
            4 => Q::node(
                Ty::Vector,
                "clamp({0}, {1}, {2})",
                vec![self.vector(d), self.scalar(d), self.scalar(d)],
            ),
            5 | 6 => {
                if self.rng.chance(25) {
                    let f = *self.rng.pick(&["rate", "increase"]);
                    let r = *self.rng.pick(&RANGES);
                    let m = if self.rng.chance(50) {
                        format!("{{{}}}", self.matcher())
                    } else {
                        String::new()
                    };
                    let o = self.modifiers_at(false);
                    return Q::leaf(Ty::Vector, format!("{f}(fz_requests{m}[{r}]{o})"));
                }
                let f = *self.rng.pick(&[
                    "delta",
                    "irate",
                    "idelta",
                    "deriv",
                    "changes",
                    "resets",
                    "avg_over_time",
                    "min_over_time",
                    "max_over_time",
                    "sum_over_time",
                    "count_over_time",
                    "stddev_over_time",
                    "stdvar_over_time",
                    "last_over_time",
                    "present_over_time",
                    "absent_over_time",
                ]);
                Q::node(Ty::Vector, format!("{f}({{0}})"), vec![self.range(d)])
            }
            7 => {
                if self.rng.chance(50) {
                    Q::node(
                        Ty::Vector,
                        "quantile_over_time({0}, {1})",
                        vec![self.scalar(0), self.range(d)],
                    )
                } else {
                    Q::node(
                        Ty::Vector,
                        "predict_linear({0}, {1})",
                        vec![self.range(d), self.scalar(0)],
                    )
                }
            }
            8 | 9 => {
                let g = self.grouping();
                if self.rng.chance(15) {
                    let op = *self.rng.pick(&["stddev", "stdvar"]);
                    let name = *self.rng.pick(&["fz_requests", "fz_other"]);
                    return Q::leaf(Ty::Vector, format!("{op}{g} ({name})"));
                }
                let op = *self.rng.pick(&["sum", "avg", "min", "max", "count", "group"]);
                Q::node(Ty::Vector, format!("{op}{g} ({{0}})"), vec![self.vector(d)])
            }
            10 => {
                let g = self.grouping();
                match self.rng.below(4) {
                    k @ (0 | 1) => {
                        // Over distinct values only: which of equal values (or NaNs) wins is
                        // the implementation's heap order, not PromQL.
                        let f = if k == 0 { "topk" } else { "bottomk" };
                        let name = *self.rng.pick(&["fz_requests", "fz_other"]);
                        let m = if self.rng.chance(50) {
                            format!("{{{}}}", self.matcher())
                        } else {
                            String::new()
                        };
                        Q::node(
                            Ty::Vector,
                            format!("{f}{g} ({{0}}, {name}{m})"),
                            vec![self.scalar(0)],
                        )
                    }
                    2 => Q::node(
                        Ty::Vector,
                        format!("quantile{g} ({{0}}, {{1}})"),
                        vec![self.scalar(0), self.vector(d)],
                    ),
                    _ => Q::node(
                        Ty::Vector,
                        format!("count_values{g} (\"value\", round(clamp({{0}}, -1000, 1000)))"),
                        vec![self.vector(d)],
                    ),
                }
            }
            11 | 12 => {
                let op = *self.rng.pick(&[
                    "+", "-", "*", "/", "%", "^", "==", "!=", ">", "<", ">=", "<=", "and", "or", "unless",
                ]);
                let set = matches!(op, "and" | "or" | "unless");
                let cmp = matches!(op, "==" | "!=" | ">" | "<" | ">=" | "<=");
                let mut m = String::new();
                if cmp && self.rng.chance(40) {
                    m.push_str(" bool");
                }
                let filtering = cmp && !m.contains("bool");
                if !filtering && self.rng.chance(50) {
                    let n = self.rng.below(3);
                    let ls: Vec<&str> = (0..n).map(|_| *self.rng.pick(&LABELS)).collect();
                    let kw = if self.rng.chance(60) { "on" } else { "ignoring" };
                    m.push_str(&format!(" {kw}({})", ls.join(", ")));
                    if !set && self.rng.chance(30) {
                        let side = if self.rng.chance(50) {
                            "group_left"
                        } else {
                            "group_right"
                        };
                        m.push_str(&format!(" {side}"));
                    }
                }
                if !set && self.rng.chance(35) {
                    // Vector and scalar.
                    let s = self.scalar(0);
                    let v = self.vector(d);
                    let m = if m.contains(" bool") { " bool" } else { "" };
                    return if self.rng.chance(50) {
                        Q::node(Ty::Vector, format!("({{0}} {op}{m} {{1}})"), vec![v, s])
                    } else {
                        Q::node(Ty::Vector, format!("({{0}} {op}{m} {{1}})"), vec![s, v])
                    };
                }
                Q::node(Ty::Vector, format!("({{0}} {op}{m} {{1}})"), {
                    let twins = self.twins;
                    self.twins &= !filtering;
                    let sides = vec![self.vector(d), self.vector(d)];
                    self.twins = twins;
                    sides
                })
            }
            13 => {
                let dst = *self.rng.pick(&["job", "dst", "path", "instance"]);
                let src = *self.rng.pick(&LABELS);
                if self.rng.chance(60) {
                    let re = *self.rng.pick(&REGEXES);
                    let repl = *self.rng.pick(&["$1", "x", "", "${1}y", "$0"]);
                    let re = if self.rng.chance(50) {
                        format!("({re})")
                    } else {
                        re.to_string()
                    };
                    Q::node(
                        Ty::Vector,
                        format!("label_replace({{0}}, \"{dst}\", \"{repl}\", \"{src}\", \"{re}\")"),
                        vec![self.vector(d)],
                    )
                } else {
                    let src2 = *self.rng.pick(&LABELS);
                    Q::node(
                        Ty::Vector,
                        format!("label_join({{0}}, \"{dst}\", \"-\", \"{src}\", \"{src2}\")"),
                        vec![self.vector(d)],
                    )
                }
            }
            14 => {
                let g = if self.rng.chance(50) {
                    " by (le)"
                } else {
                    " by (le, job)"
                };
                let r = *self.rng.pick(&RANGES);
                Q::node(
                    Ty::Vector,
                    format!("histogram_quantile({{0}}, sum{g} (rate(fz_latency_bucket[{r}])))"),
                    vec![self.scalar(0)],
                )
            }
            _ => {
                if self.rng.chance(50) {
                    Q::node(Ty::Vector, "vector({0})", vec![self.scalar(d)])
                } else {
                    Q::node(Ty::Vector, "-{0}", vec![self.vector(d)])
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Running and comparing

struct Server {
    base: String,
    client: reqwest::blocking::Client,
}

/// One query's outcome, normalised for comparison.
#[derive(Debug)]
enum Outcome {
    Error(String),
    /// Result type and the series (labels sorted as JSON text, points).
    Data(String, Vec<(String, Vec<(f64, f64)>)>),
}

impl Server {
    fn query(&self, q: &str, at: Option<f64>, range: Option<(f64, f64, u32)>) -> Outcome {
        let mut params = vec![("query", q.to_string())];
        let path = match (at, range) {
            (_, Some((s, e, step))) => {
                params.push(("start", format!("{s:.3}")));
                params.push(("end", format!("{e:.3}")));
                params.push(("step", step.to_string()));
                "query_range"
            }
            (Some(t), None) => {
                params.push(("time", format!("{t:.3}")));
                "query"
            }
            (None, None) => "query",
        };
        let resp = match self
            .client
            .post(format!("{}/api/v1/{path}", self.base))
            .form(&params)
            .send()
        {
            Ok(r) => r,
            Err(e) => return Outcome::Error(format!("request failed: {e}")),
        };
        let body = resp.text().unwrap_or_default();
        let json: Json = match serde_json::from_str(&body) {
            Ok(j) => j,
            Err(e) => return Outcome::Error(format!("bad JSON ({e}): {body}")),
        };
        if json["status"] != "success" {
            return Outcome::Error(json["error"].as_str().unwrap_or("").to_string());
        }
        let rtype = json["data"]["resultType"].as_str().unwrap_or("").to_string();
        let num = |v: &Json| -> f64 {
            match v.as_str().unwrap_or("") {
                "NaN" => f64::NAN,
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                s => s.parse().unwrap_or(f64::NAN),
            }
        };
        let point = |p: &Json| (p[0].as_f64().unwrap_or(0.0), num(&p[1]));
        let mut series = Vec::new();
        match rtype.as_str() {
            "scalar" | "string" => series.push((String::new(), vec![point(&json["data"]["result"])])),
            _ => {
                for s in json["data"]["result"].as_array().into_iter().flatten() {
                    let labels: std::collections::BTreeMap<String, String> =
                        serde_json::from_value(s["metric"].clone()).unwrap_or_default();
                    let labels = serde_json::to_string(&labels).unwrap_or_default();
                    let pts = if let Some(vs) = s["values"].as_array() {
                        vs.iter().map(point).collect()
                    } else {
                        vec![point(&s["value"])]
                    };
                    series.push((labels, pts));
                }
            }
        }
        series.sort_by(|a, b| a.0.cmp(&b.0));
        Outcome::Data(rtype, series)
    }
}

fn close(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a == b {
        return true;
    }
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()) + 1e-9
}

/// Why two outcomes differ, or None when they agree.
fn differ(p: &Outcome, b: &Outcome) -> Option<String> {
    match (p, b) {
        (Outcome::Error(_), Outcome::Error(_)) => None,
        (Outcome::Error(e), Outcome::Data(..)) => Some(format!("prometheus failed ({e}), burnwatch did not")),
        (Outcome::Data(..), Outcome::Error(e)) => Some(format!("burnwatch failed ({e}), prometheus did not")),
        (Outcome::Data(pt, ps), Outcome::Data(bt, bs)) => {
            if pt != bt {
                return Some(format!("result type {pt} vs {bt}"));
            }
            let pl: Vec<&String> = ps.iter().map(|s| &s.0).collect();
            let bl: Vec<&String> = bs.iter().map(|s| &s.0).collect();
            if pl != bl {
                let only_p: Vec<&&String> = pl.iter().filter(|l| !bl.contains(l)).collect();
                let only_b: Vec<&&String> = bl.iter().filter(|l| !pl.contains(l)).collect();
                return Some(format!(
                    "series differ:\n    only prometheus {only_p:?}\n    only burnwatch  {only_b:?}"
                ));
            }
            for ((l, pp), (_, bp)) in ps.iter().zip(bs) {
                if pp.len() != bp.len() {
                    return Some(format!("{l}: {} points vs {}", pp.len(), bp.len()));
                }
                for (x, y) in pp.iter().zip(bp) {
                    if (x.0 - y.0).abs() > 1e-3 || !close(x.1, y.1) {
                        return Some(format!("{l}: prometheus {x:?}, burnwatch {y:?}"));
                    }
                }
            }
            None
        }
    }
}

/// Where and how a query runs: an instant at `t`, or a range.
#[derive(Clone, Copy, Debug)]
enum At {
    Instant(f64),
    Range(f64, f64, u32),
}

fn run(servers: &[Server; 2], q: &str, at: At) -> Option<String> {
    run_counted(servers, q, at, &mut Tally::default())
}

/// What the agreeing queries gave, to show the run tested something.
#[derive(Default)]
struct Tally {
    errors: usize,
    empty: usize,
    data: usize,
}

fn run_counted(servers: &[Server; 2], q: &str, at: At, tally: &mut Tally) -> Option<String> {
    let (t, r) = match at {
        At::Instant(t) => (Some(t), None),
        At::Range(s, e, st) => (None, Some((s, e, st))),
    };
    let p = servers[0].query(q, t, r);
    let b = servers[1].query(q, t, r);
    match &p {
        Outcome::Error(_) => tally.errors += 1,
        Outcome::Data(_, s) if s.is_empty() => tally.empty += 1,
        Outcome::Data(..) => tally.data += 1,
    }
    differ(&p, &b)
}

/// Shrinks `q` while it still disagrees at `at`: each subtree is replaced by a smaller subtree
/// of the same type found inside it, or by a plain selector or number.
fn minimise(servers: &[Server; 2], q: &Q, at: At, budget: &mut usize) -> Q {
    let mut best = q.clone();
    loop {
        let mut improved = false;
        let mut paths = Vec::new();
        best.paths(&mut Vec::new(), &mut paths);
        'outer: for path in paths {
            let node = best.at(&path).clone();
            let mut candidates: Vec<Q> = Vec::new();
            let mut inner = Vec::new();
            node.paths(&mut Vec::new(), &mut inner);
            for ip in inner.iter().skip(1) {
                let sub = node.at(ip);
                if sub.ty == node.ty {
                    candidates.push(sub.clone());
                }
            }
            match node.ty {
                Ty::Vector => candidates.push(Q::leaf(Ty::Vector, "fz_gauge")),
                Ty::Scalar => candidates.push(Q::leaf(Ty::Scalar, "1")),
                Ty::Range => candidates.push(Q::leaf(Ty::Range, "fz_gauge[5m]")),
            }
            for c in candidates {
                // Rendered length strictly falls, so shrinking ends.
                if c.render().len() >= node.render().len() {
                    continue;
                }
                if *budget == 0 {
                    return best;
                }
                *budget -= 1;
                let cand = best.replaced(&path, c);
                if run(servers, &cand.render(), at).is_some() {
                    best = cand;
                    improved = true;
                    break 'outer;
                }
            }
        }
        if !improved {
            return best;
        }
    }
}

#[test]
fn promql_agrees_with_prometheus_on_generated_queries() {
    let (Some(promtool), Some(prometheus)) = (
        common::require_tool("promtool", "apt-get install -y prometheus"),
        common::require_tool("prometheus", "apt-get install -y prometheus"),
    ) else {
        return;
    };
    let seed = std::env::var("PROMQL_DIFF_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    let count = std::env::var("PROMQL_DIFF_QUERIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_QUERIES);
    let mut rng = Rng(seed);

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.om");
    let samples = write_data(&mut rng, &data);
    let blocks = dir.path().join("tsdb");
    let out = std::process::Command::new(&promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&data)
        .arg(&blocks)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool create-blocks-from failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = common::write_file(dir.path(), "prometheus.yml", "global:\n  scrape_interval: 15s\n");
    let pport = common::free_port();
    let _prom = common::spawn(
        "prometheus",
        &prometheus,
        &[
            &format!("--config.file={}", config.display()),
            &format!("--storage.tsdb.path={}", blocks.display()),
            &format!("--web.listen-address=127.0.0.1:{pport}"),
            "--storage.tsdb.retention.time=100y",
        ],
        dir.path(),
        &[],
    );
    let bport = common::free_port();
    let _bw = common::spawn(
        "burnwatch",
        &common::burnwatch_bin(),
        &[
            "serve",
            "--log-level",
            "warn",
            "--listen",
            &format!("127.0.0.1:{bport}"),
            "--load",
            &data.display().to_string(),
        ],
        dir.path(),
        &[],
    );
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let servers = [
        Server {
            base: format!("http://127.0.0.1:{pport}"),
            client: client.clone(),
        },
        Server {
            base: format!("http://127.0.0.1:{bport}"),
            client,
        },
    ];
    // Ready when both hold the data: a count over all of it answers the same non-empty value.
    let probe = format!(
        "count(last_over_time({{__name__=~\"fz_.+\"}}[2h] @ {}))",
        START_S + SPAN_S
    );
    let mut last = String::new();
    let ready = common::wait_for(Duration::from_secs(120), || {
        let a = servers[0].query(&probe, Some((START_S + SPAN_S) as f64), None);
        let b = servers[1].query(&probe, Some((START_S + SPAN_S) as f64), None);
        match (&a, &b) {
            (Outcome::Data(_, s), Outcome::Data(..)) if !s.is_empty() && differ(&a, &b).is_none() => Some(()),
            _ => {
                last = format!("prometheus {a:?}, burnwatch {b:?}");
                None
            }
        }
    });
    assert!(
        ready.is_some(),
        "the servers did not both serve the data within 120 s; last answers: {last}"
    );

    let mut report = String::new();
    let mut found: Vec<(String, String, At)> = Vec::new();
    let mut budget = 400;
    let (mut instants, mut ranges) = (0, 0);
    let mut tally = Tally::default();
    for i in 0..count {
        let depth = 1 + rng.below(3);
        let q = Gen {
            rng: &mut rng,
            twins: true,
        }
        .vector(depth);
        let text = q.render();
        // Half past a whole second, at least 10 minutes into the data.
        let t = (START_S + 600 + rng.below((SPAN_S - 600) as usize) as i64) as f64 + 0.5;
        let at = if i % 3 == 2 {
            ranges += 1;
            let step = *rng.pick(&[15u32, 30, 60]);
            At::Range(t - f64::from(step) * 10.0, t, step)
        } else {
            instants += 1;
            At::Instant(t)
        };
        if let Some(why) = run_counted(&servers, &text, at, &mut tally) {
            let small = minimise(&servers, &q, at, &mut budget).render();
            let why_small = run(&servers, &small, at).unwrap_or_else(|| why.clone());
            if !found.iter().any(|f| f.0 == small) {
                found.push((small, why_small, at));
            }
        }
    }
    writeln!(
        report,
        "seed {seed:#x}: {samples} samples; {count} queries ({instants} instant, {ranges} range): \
         Prometheus answered {} with data, {} empty, {} with an error; {} disagreements",
        tally.data,
        tally.empty,
        tally.errors,
        found.len()
    )
    .unwrap();
    for (q, why, at) in &found {
        writeln!(report, "  {q}\n    at {at:?}: {why}").unwrap();
    }
    println!("{report}");
    assert!(found.is_empty(), "burnwatch and Prometheus disagree:\n{report}");
}
