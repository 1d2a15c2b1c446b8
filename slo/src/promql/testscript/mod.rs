//! Runs Prometheus test-script files (the `promql/promqltest` format) against [`Engine`].
//!
//! The format is documented in `../shared/promql-testdata/README.md`: `load <interval>` blocks in
//! the series value notation, `clear`, `eval instant at T expr` / `eval range from A to B step S
//! expr` followed by `expect ...` lines and the expected rows. Floats compare with relative epsilon
//! 1e-6 (`util/almost.Equal`); the stale marker equals only itself.
//!
//! Native histograms (`{{schema:0 sum:5 count:4 buckets:[1 2 1] ...}}`, with `{{A}}+{{B}}xN`
//! expansion) load into the store and compare field by field: schema, zero threshold and custom
//! bounds exactly; count, sum, zero count and bucket counts with the same epsilon; empty buckets
//! and span layout do not matter (upstream compacts both sides first). The counter-reset hint is
//! compared only when the expected histogram states one. `load_with_nhcb` adds, beside the classic
//! series, the custom-bucket histogram each `X_bucket` family converts to (named `X`).
//!
//! Evals whose expected output holds native histograms, and evals over metrics with histogram
//! samples (or a `load_with_nhcb` family), count as *unsupported* rather than failed when they do
//! not pass: the histogram support is partial (no reconciling of different custom bounds, for
//! one), and those are the evals it can get wrong.
//!
//! ```no_run
//! let report = burnwatch_slo::promql::testscript::run_file(std::path::Path::new("functions.test"));
//! println!("{report}");
//! for f in &report.failures {
//!     println!("{f}");
//! }
//! ```

mod parse;

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use parse::{Command, EvalCmd, MsgMatch, SeriesLine};

use super::engine::{Engine, EngineOptions, QueryResult};
use super::functions::almost_equal;
use super::value::{Value, format_float, format_histogram};
use crate::tsdb::{CounterResetHint, FloatHistogram, Labels, Storage, is_stale_nan};

/// Relative tolerance for float comparison, as upstream.
const EPSILON: f64 = 1e-6;

/// One eval that did not pass.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalFailure {
    /// 1-based line of the `eval` command.
    pub line: usize,
    /// The `eval` line as written.
    pub eval: String,
    /// The expression.
    pub expr: String,
    /// What the script expected.
    pub expected: String,
    /// What the engine gave (or why it could not run).
    pub got: String,
    /// Counted as unsupported rather than failed.
    pub unsupported: bool,
}

impl fmt::Display for EvalFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = if self.unsupported { "UNSUPPORTED" } else { "FAILED" };
        writeln!(f, "  {tag} line {}: {}", self.line, self.eval)?;
        writeln!(
            f,
            "    expected: {}",
            self.expected.trim_end().replace('\n', "\n              ")
        )?;
        write!(
            f,
            "    got:      {}",
            self.got.trim_end().replace('\n', "\n              ")
        )
    }
}

/// The outcome of one script file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FileReport {
    /// The file name (or the name given to [`run_script`]).
    pub name: String,
    /// Evals that passed.
    pub passed: usize,
    /// Evals that failed.
    pub failed: usize,
    /// Evals over native histograms that did not pass (see the module docs).
    pub unsupported: usize,
    /// Every eval that did not pass, in file order.
    pub failures: Vec<EvalFailure>,
    /// Problems outside evals: an unreadable file, a script syntax error, a refused load.
    pub errors: Vec<String>,
}

impl FileReport {
    /// Total evals seen.
    pub fn total(&self) -> usize {
        self.passed + self.failed + self.unsupported
    }
}

/// One line per file: `functions.test: 420 passed, 5 failed, 6 unsupported (of 431)`.
impl fmt::Display for FileReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} passed, {} failed, {} unsupported (of {})",
            self.name,
            self.passed,
            self.failed,
            self.unsupported,
            self.total()
        )?;
        if !self.errors.is_empty() {
            write!(
                f,
                "; {} script error(s): {}",
                self.errors.len(),
                self.errors.join("; ")
            )?;
        }
        Ok(())
    }
}

/// Runs the script at `path`.
pub fn run_file(path: &Path) -> FileReport {
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    match std::fs::read_to_string(path) {
        Ok(text) => run_script(&name, &text),
        Err(e) => FileReport {
            name,
            errors: vec![format!("cannot read {}: {e}", path.display())],
            ..FileReport::default()
        },
    }
}

/// Runs a script given as text; `name` labels the report.
pub fn run_script(name: &str, text: &str) -> FileReport {
    let mut report = FileReport {
        name: name.to_string(),
        ..FileReport::default()
    };
    let cmds = match parse::parse_script(text) {
        Ok(c) => c,
        Err(e) => {
            report.errors.push(e);
            return report;
        }
    };
    // Prometheus's harness (`promqltest`) runs its engine with delayed name removal on.
    let engine = Engine::new(EngineOptions {
        delayed_name_removal: true,
        ..EngineOptions::default()
    });
    let mut store = Storage::new();
    // Series that had native-histogram samples, or the converted series of `load_with_nhcb`.
    let mut histogram_series: Vec<Labels> = Vec::new();
    for cmd in cmds {
        match cmd {
            Command::Clear => {
                store.clear();
                histogram_series.clear();
            }
            Command::Load {
                interval,
                nhcb,
                series,
            } => load_block(
                &mut store,
                interval,
                nhcb,
                series,
                &mut histogram_series,
                &mut report.errors,
            ),
            Command::Eval(e) => {
                let outcome = run_eval(&engine, &store, &e);
                match outcome {
                    Ok(()) => report.passed += 1,
                    Err((expected, got)) => {
                        let hist_rows = e.rows.iter().any(|r| r.has_histogram);
                        let touches_hist = selects_any(&e.expr, &histogram_series);
                        let unsupported = hist_rows || touches_hist;
                        if unsupported {
                            report.unsupported += 1;
                        } else {
                            report.failed += 1;
                        }
                        report.failures.push(EvalFailure {
                            line: e.line,
                            eval: e.text.clone(),
                            expr: e.expr.clone(),
                            expected,
                            got,
                            unsupported,
                        });
                    }
                }
            }
        }
    }
    report
}

/// Loads the `load` blocks of a script into a new store, refusing any other command: the data
/// sets of burnwatch-learn's PromQL exercises are written in this notation. Time 0 is the
/// Unix epoch, as in the test scripts. The first problem (a bad line, a refused sample) is the
/// error, with its line.
pub fn load_script(text: &str) -> Result<Storage, String> {
    let mut store = Storage::new();
    let mut histogram_series = Vec::new();
    let mut errors = Vec::new();
    for cmd in parse::parse_script(text)? {
        match cmd {
            Command::Clear => store.clear(),
            Command::Load {
                interval,
                nhcb,
                series,
            } => load_block(
                &mut store,
                interval,
                nhcb,
                series,
                &mut histogram_series,
                &mut errors,
            ),
            Command::Eval(e) => {
                return Err(format!(
                    "line {}: only load blocks are allowed here, not {:?}",
                    e.line, e.text
                ));
            }
        }
        if let Some(e) = errors.first() {
            return Err(e.clone());
        }
    }
    Ok(store)
}

/// Appends one `load` block to `store`, noting series with native histograms (and the
/// converted series of `load_with_nhcb`) in `histogram_series` and refused samples in `errors`.
fn load_block(
    store: &mut Storage,
    interval: i64,
    nhcb: bool,
    series: Vec<SeriesLine>,
    histogram_series: &mut Vec<Labels>,
    errors: &mut Vec<String>,
) {
    // Within one load block a later line for the same series overrides earlier values
    // at the same timestamps (upstream appends them in one batch; the last one wins).
    let mut merged: Vec<(Labels, std::collections::BTreeMap<i64, LoadPoint>)> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for s in series {
        let name = s.labels.metric_name().unwrap_or("").to_string();
        if nhcb {
            // The classic series stay; the native histogram takes the base name (also
            // when it cannot be converted, so evals over it count as unsupported).
            if let Some(base) = name.strip_suffix("_bucket") {
                let mut b = crate::tsdb::LabelsBuilder::new(&s.labels);
                b.set(crate::tsdb::METRIC_NAME.to_string(), base.to_string());
                b.del("le");
                histogram_series.push(b.build());
            }
        }
        if s.has_histogram {
            histogram_series.push(s.labels.clone());
        }
        let i = *index.entry(s.labels.clone()).or_insert_with(|| {
            merged.push((s.labels.clone(), std::collections::BTreeMap::new()));
            merged.len() - 1
        });
        for (k, v) in s.values.iter().enumerate() {
            if let Some(v) = v {
                merged[i]
                    .1
                    .insert((k as i64).saturating_mul(interval), LoadPoint::Float(*v));
            }
        }
        for (k, h) in s.histograms {
            merged[i]
                .1
                .insert((k as i64).saturating_mul(interval), LoadPoint::Hist(h));
        }
    }
    if nhcb {
        for (labels, points) in convert_nhcb(&merged) {
            histogram_series.push(labels.clone());
            merged.push((labels, points));
        }
    }
    for (labels, points) in merged {
        for (t, p) in points {
            let res = match p {
                LoadPoint::Float(v) => store.append(&labels, t, v),
                LoadPoint::Hist(h) => store.append_histogram(&labels, t, h),
            };
            if let Err(e) = res {
                errors.push(e.to_string());
            }
        }
    }
}

/// Whether any selector of `expr` matches one of `series` (an unparsable query matches none).
fn selects_any(expr: &str, series: &[Labels]) -> bool {
    use promql_parser::util::{ExprVisitor, walk_expr};
    struct V<'a> {
        series: &'a [Labels],
        hit: bool,
    }
    impl ExprVisitor for V<'_> {
        type Error = ();
        fn pre_visit(&mut self, e: &promql_parser::parser::Expr) -> Result<bool, ()> {
            let vs = match e {
                promql_parser::parser::Expr::VectorSelector(vs) => vs,
                promql_parser::parser::Expr::MatrixSelector(ms) => &ms.vs,
                _ => return Ok(true),
            };
            if let Ok(ms) = super::eval::to_matchers(vs)
                && self.series.iter().any(|l| ms.iter().all(|m| m.matches_labels(l)))
            {
                self.hit = true;
            }
            Ok(true)
        }
    }
    if series.is_empty() {
        return false;
    }
    let Ok(ast) = Engine::parse(expr) else {
        return false;
    };
    let mut v = V { series, hit: false };
    let _ = walk_expr(&mut v, &ast);
    v.hit
}

type Mismatch = (String, String);

/// Parses an `le` value as Go's `strconv.ParseFloat` does for the forms exporters write.
fn parse_le(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        _ => s.parse::<f64>().ok(),
    }
}

/// `load_with_nhcb`: converts each classic histogram (`X_bucket{le=...}` plus optional `X_count`,
/// `X_sum`) into a native histogram with custom buckets (schema -53) named `X`, at every time all
/// its bucket series have a value. Families with unparsable `le` values, or with one bound
/// spelled several ways by series that disagree, are left unconverted.
fn convert_nhcb(
    merged: &[(Labels, std::collections::BTreeMap<i64, LoadPoint>)],
) -> Vec<(Labels, std::collections::BTreeMap<i64, LoadPoint>)> {
    use std::collections::BTreeMap;
    type Points = BTreeMap<i64, LoadPoint>;
    let base = |l: &Labels, suffix: &str| -> Option<Labels> {
        let name = l.metric_name()?.strip_suffix(suffix)?.to_string();
        let mut b = crate::tsdb::LabelsBuilder::new(l);
        b.set(crate::tsdb::METRIC_NAME.to_string(), name);
        b.del("le");
        Some(b.build())
    };
    let mut groups: Vec<(Labels, Vec<(f64, &Points)>)> = Vec::new();
    for (l, pts) in merged {
        let Some(le) = l.get("le") else { continue };
        let Some(b) = base(l, "_bucket") else { continue };
        let Some(le) = parse_le(le) else { continue };
        match groups.iter_mut().find(|g| g.0 == b) {
            Some(g) => g.1.push((le, pts)),
            None => groups.push((b, vec![(le, pts)])),
        }
    }
    let mut out = Vec::new();
    for (labels, mut buckets) in groups {
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        // One bound spelled several ways (`0.2`, `2e-1`) is one bucket when the series agree;
        // series that disagree leave the family unconverted.
        let same = |a: &Points, b: &Points| {
            a.len() == b.len()
                && a.iter().zip(b).all(|((ta, va), (tb, vb))| {
                    ta == tb
                        && match (va, vb) {
                            (LoadPoint::Float(x), LoadPoint::Float(y)) => x.to_bits() == y.to_bits(),
                            _ => false,
                        }
                })
        };
        if buckets
            .windows(2)
            .any(|w| w[0].0 == w[1].0 && !same(w[0].1, w[1].1))
        {
            continue;
        }
        buckets.dedup_by(|b, a| a.0 == b.0);
        let find = |suffix: &str| {
            merged
                .iter()
                .find(|(l, _)| !l.has("le") && base(l, suffix).is_some_and(|b| b == labels))
                .map(|(_, p)| p)
        };
        let (count_s, sum_s) = (find("_count"), find("_sum"));
        let float_at = |p: Option<&Points>, t: i64| match p.and_then(|p| p.get(&t)) {
            Some(LoadPoint::Float(v)) => Some(*v),
            _ => None,
        };
        let mut times: Vec<i64> = buckets.iter().flat_map(|b| b.1.keys().copied()).collect();
        times.sort_unstable();
        times.dedup();
        // Without a `+Inf` bucket the highest bound closes the histogram (as upstream's converter).
        let finite = buckets.iter().filter(|b| b.0 != f64::INFINITY).count();
        let custom: Vec<f64> = buckets[..finite].iter().map(|b| b.0).collect();
        let mut pts = Points::new();
        for t in times {
            let Some(cum) = buckets
                .iter()
                .map(|b| float_at(Some(b.1), t))
                .collect::<Option<Vec<f64>>>()
            else {
                continue;
            };
            if cum.iter().any(|v| is_stale_nan(*v)) {
                pts.insert(t, LoadPoint::Float(crate::tsdb::stale_nan()));
                continue;
            }
            let mut prev = 0.0;
            let mut positive = Vec::with_capacity(cum.len());
            for (i, c) in cum.iter().enumerate() {
                positive.push((i32::try_from(i).unwrap_or(i32::MAX), c - prev));
                prev = *c;
            }
            let inf = cum.last().copied().unwrap_or(0.0);
            let h = FloatHistogram {
                schema: crate::tsdb::histogram::CUSTOM_BUCKETS_SCHEMA,
                count: float_at(count_s, t).unwrap_or(inf),
                sum: float_at(sum_s, t).unwrap_or(0.0),
                positive,
                custom_values: custom.clone(),
                ..FloatHistogram::default()
            };
            pts.insert(t, LoadPoint::Hist(h));
        }
        out.push((labels, pts));
    }
    out
}

/// One value of a `load` line.
enum LoadPoint {
    Float(f64),
    Hist(FloatHistogram),
}

/// An expected value: a float or a native histogram.
#[derive(Clone, Copy)]
enum Want<'a> {
    Float(f64),
    Hist(&'a FloatHistogram),
}

/// The non-zero buckets of one side, for comparison: Prometheus compacts both histograms before
/// comparing, so empty buckets and the span layout do not matter.
fn nonzero(b: &[(i32, f64)]) -> Vec<(i32, f64)> {
    b.iter().copied().filter(|x| x.1 != 0.0).collect()
}

/// Whether `got` matches the expected histogram `want` (floats with relative epsilon, as
/// promqltest). The counter-reset hint is compared only when the script states one.
fn hist_eq(want: &FloatHistogram, got: &FloatHistogram) -> bool {
    let buckets_eq = |a: &[(i32, f64)], b: &[(i32, f64)]| {
        let (a, b) = (nonzero(a), nonzero(b));
        a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| x.0 == y.0 && float_eq(x.1, y.1))
    };
    want.schema == got.schema
        && float_eq(want.count, got.count)
        && float_eq(want.sum, got.sum)
        && float_eq(want.zero_count, got.zero_count)
        && want.zero_threshold == got.zero_threshold
        && (!want.uses_custom_buckets() || want.custom_values == got.custom_values)
        && buckets_eq(&want.positive, &got.positive)
        && buckets_eq(&want.negative, &got.negative)
        && (want.counter_reset_hint == CounterResetHint::Unknown
            || want.counter_reset_hint == got.counter_reset_hint)
}

/// The expected value of row `r` at position `i`.
fn want_at(r: &SeriesLine, i: usize) -> Option<Want<'_>> {
    if let Some((_, h)) = r.histograms.iter().find(|(k, _)| *k == i) {
        return Some(Want::Hist(h));
    }
    r.values.get(i).copied().flatten().map(Want::Float)
}

fn want_matches(w: Want<'_>, v: f64, h: Option<&FloatHistogram>) -> bool {
    match (w, h) {
        (Want::Float(w), None) => float_eq(w, v),
        (Want::Hist(w), Some(h)) => hist_eq(w, h),
        _ => false,
    }
}

fn float_eq(want: f64, got: f64) -> bool {
    if is_stale_nan(want) || is_stale_nan(got) {
        return is_stale_nan(want) && is_stale_nan(got);
    }
    almost_equal(want, got, EPSILON)
}

fn describe_rows(rows: &[SeriesLine], start: i64, step: i64) -> String {
    if rows.is_empty() {
        return "(empty)".to_string();
    }
    let mut out = String::new();
    for r in rows {
        out.push_str(&r.labels.to_string());
        for (i, p) in r.values.iter().enumerate() {
            if let Some(Want::Hist(h)) = want_at(r, i) {
                if step > 0 {
                    out.push_str(&format!(
                        " {}@{}",
                        format_histogram(h),
                        start.saturating_add((i as i64).saturating_mul(step))
                    ));
                } else {
                    out.push_str(&format!(" {}", format_histogram(h)));
                }
                continue;
            }
            match p {
                Some(v) if step > 0 => out.push_str(&format!(
                    " {}@{}",
                    format_float(*v),
                    start.saturating_add((i as i64).saturating_mul(step))
                )),
                Some(v) => out.push_str(&format!(" {}", format_float(*v))),
                None => out.push_str(" _"),
            }
        }
        out.push('\n');
    }
    out
}

fn describe_expectation(e: &EvalCmd) -> String {
    if let Some(f) = &e.expect.fail {
        return match f {
            Some(MsgMatch::Exact(m)) => format!("error {m:?}"),
            Some(MsgMatch::Regex(r)) => format!("error matching /{}/", r.as_str()),
            None => "an error".to_string(),
        };
    }
    if let Some(s) = &e.expect.string {
        return format!("string {s:?}");
    }
    if let Some(v) = e.scalar {
        return format!("scalar {}", format_float(v));
    }
    if let Some((s, _, st)) = e.expect.range_vector {
        return describe_rows(&e.rows, s, st);
    }
    describe_rows(&e.rows, e.start, e.step)
}

fn check_annotations(
    kind: &str,
    want: &[Option<MsgMatch>],
    none: bool,
    got: &[String],
) -> Result<(), String> {
    if none && !got.is_empty() {
        return Err(format!("unexpected {kind}: {got:?}"));
    }
    if want.is_empty() {
        return Ok(());
    }
    if got.is_empty() {
        return Err(format!("expected {kind} annotations, got none"));
    }
    for g in got {
        if !want.iter().any(|w| w.as_ref().is_none_or(|m| m.matches(g))) {
            return Err(format!("{kind} {g:?} matches no expect line"));
        }
    }
    for w in want.iter().flatten() {
        if !got.iter().any(|g| w.matches(g)) {
            let m = match w {
                MsgMatch::Exact(s) => s.clone(),
                MsgMatch::Regex(r) => r.as_str().to_string(),
            };
            return Err(format!("expected {kind} {m:?}, got {got:?}"));
        }
    }
    Ok(())
}

fn run_eval(engine: &Engine, store: &Storage, e: &EvalCmd) -> Result<(), Mismatch> {
    let expected = || describe_expectation(e);
    if let Some(err) = &e.body_error {
        return Err((expected(), format!("cannot read the eval body: {err}")));
    }
    let res = if e.is_range() {
        engine.range_query(store, &e.expr, e.start, e.end, e.step)
    } else {
        engine.instant_query(store, &e.expr, e.start)
    };
    let res: QueryResult = match (res, &e.expect.fail) {
        (Err(err), Some(m)) => {
            let msg = err.to_string();
            return match m {
                Some(m) if !m.matches(&msg) => Err((expected(), format!("error {msg:?}"))),
                _ => Ok(()),
            };
        }
        (Err(err), None) => return Err((expected(), format!("error: {err}"))),
        (Ok(r), Some(_)) => return Err((expected(), format!("no error; result:\n{}", r.value))),
        (Ok(r), None) => r,
    };
    check_annotations(
        "warning",
        &e.expect.warn,
        e.expect.no_warn,
        &res.annotations.warnings,
    )
    .map_err(|m| (expected(), m))?;
    check_annotations("info", &e.expect.info, e.expect.no_info, &res.annotations.infos)
        .map_err(|m| (expected(), m))?;

    match &res.value {
        Value::String { s, .. } => match &e.expect.string {
            Some(want) if want == s => Ok(()),
            _ => Err((expected(), format!("string {s:?}"))),
        },
        Value::Scalar { v, .. } => match e.scalar {
            Some(want) if float_eq(want, *v) && e.rows.is_empty() => Ok(()),
            _ => Err((expected(), format!("scalar {}", format_float(*v)))),
        },
        Value::Vector(vec) => {
            let got = || res.value.to_string();
            if e.scalar.is_some() || e.expect.string.is_some() {
                return Err((expected(), got()));
            }
            let mut want: HashMap<&Labels, (usize, Want<'_>)> = HashMap::new();
            for (i, r) in e.rows.iter().enumerate() {
                let Some(w) = want_at(r, 0) else {
                    return Err((
                        expected(),
                        format!("expected row {} has no single value", r.labels),
                    ));
                };
                want.insert(&r.labels, (i, w));
            }
            if want.len() != vec.len() {
                return Err((expected(), got()));
            }
            for (pos, s) in vec.iter().enumerate() {
                match want.get(&s.labels) {
                    Some((i, w))
                        if want_matches(*w, s.v, s.h.as_deref()) && (!e.expect.ordered || *i == pos) => {}
                    _ => return Err((expected(), got())),
                }
            }
            Ok(())
        }
        Value::Matrix(m) => {
            let got = || {
                if m.is_empty() {
                    "(empty)".to_string()
                } else {
                    res.value.to_string()
                }
            };
            let (start, step) = match (e.is_range(), e.expect.range_vector) {
                (true, _) => (e.start, e.step),
                (false, Some((s, _, st))) => (s, st),
                (false, None) => return Err((expected(), format!("a range vector:\n{}", got()))),
            };
            let mut want: HashMap<&Labels, Vec<(i64, Want<'_>)>> = HashMap::new();
            for r in &e.rows {
                let pts = (0..r.values.len())
                    .filter_map(|i| {
                        want_at(r, i).map(|w| (start.saturating_add((i as i64).saturating_mul(step)), w))
                    })
                    .collect();
                want.insert(&r.labels, pts);
            }
            if want.len() != m.len() {
                return Err((expected(), got()));
            }
            for s in m {
                let Some(w) = want.get(&s.labels) else {
                    return Err((expected(), got()));
                };
                // Floats and histograms of the series, merged in time order.
                let mut pts: Vec<(i64, f64, Option<&FloatHistogram>)> =
                    s.samples.iter().map(|p| (p.t, p.v, None)).collect();
                pts.extend(s.histograms.iter().map(|p| (p.t, 0.0, Some(p.h.as_ref()))));
                pts.sort_by_key(|p| p.0);
                if w.len() != pts.len()
                    || w.iter()
                        .zip(&pts)
                        .any(|((wt, wv), (t, v, h))| *wt != *t || !want_matches(*wv, *v, *h))
                {
                    return Err((expected(), got()));
                }
            }
            Ok(())
        }
    }
}
