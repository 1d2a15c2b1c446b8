//! Runs Prometheus test-script files (the `promql/promqltest` format) against [`Engine`].
//!
//! The format is documented in `../shared/promql-testdata/README.md`: `load <interval>` blocks in
//! the series value notation, `clear`, `eval instant at T expr` / `eval range from A to B step S
//! expr` followed by `expect ...` lines and the expected rows. Floats compare with relative epsilon
//! 1e-6 (`util/almost.Equal`); the stale marker equals only itself.
//!
//! Evals this engine cannot answer by design are counted as *unsupported* rather than failed: those
//! whose expected output holds native histograms (`{{...}}`), and failing evals over metrics loaded
//! with native-histogram samples or through `load_with_nhcb`.
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
use super::value::{Value, format_float};
use crate::tsdb::{Labels, Storage, is_stale_nan};

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
    /// Evals needing features this engine lacks (native histograms).
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
    let engine = Engine::new(EngineOptions::default());
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
            } => {
                // Within one load block a later line for the same series overrides earlier values
                // at the same timestamps (upstream appends them in one batch; the last one wins).
                let mut merged: Vec<(Labels, std::collections::BTreeMap<i64, f64>)> = Vec::new();
                let mut index: HashMap<Labels, usize> = HashMap::new();
                for s in series {
                    let name = s.labels.metric_name().unwrap_or("").to_string();
                    if s.has_histogram {
                        histogram_series.push(s.labels.clone());
                    }
                    if nhcb {
                        // The classic series stay; the converted native histogram takes the base name.
                        if let Some(base) = name.strip_suffix("_bucket") {
                            let mut b = crate::tsdb::LabelsBuilder::new(&s.labels);
                            b.set(crate::tsdb::METRIC_NAME.to_string(), base.to_string());
                            b.del("le");
                            histogram_series.push(b.build());
                        }
                    }
                    let i = *index.entry(s.labels.clone()).or_insert_with(|| {
                        merged.push((s.labels.clone(), std::collections::BTreeMap::new()));
                        merged.len() - 1
                    });
                    for (k, v) in s.values.iter().enumerate() {
                        if let Some(v) = v {
                            merged[i].1.insert((k as i64).saturating_mul(interval), *v);
                        }
                    }
                }
                for (labels, points) in merged {
                    for (t, v) in points {
                        if let Err(e) = store.append(&labels, t, v) {
                            report.errors.push(e.to_string());
                        }
                    }
                }
            }
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
                && self.series.iter().any(|l| ms.iter().all(|m| m.matches_labels(l))) {
                    self.hit = true;
                }
            Ok(true)
        }
    }
    if series.is_empty() {
        return false;
    }
    let Ok(ast) = promql_parser::parser::parse(expr) else {
        return false;
    };
    let mut v = V { series, hit: false };
    let _ = walk_expr(&mut v, &ast);
    v.hit
}

type Mismatch = (String, String);

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
            match p {
                Some(v) if step > 0 => {
                    out.push_str(&format!(" {}@{}", format_float(*v), start.saturating_add((i as i64).saturating_mul(step))))
                }
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
            let mut want: HashMap<&Labels, (usize, f64)> = HashMap::new();
            for (i, r) in e.rows.iter().enumerate() {
                let Some(Some(v)) = r.values.first() else {
                    return Err((
                        expected(),
                        format!("expected row {} has no single value", r.labels),
                    ));
                };
                want.insert(&r.labels, (i, *v));
            }
            if want.len() != vec.len() {
                return Err((expected(), got()));
            }
            for (pos, s) in vec.iter().enumerate() {
                match want.get(&s.labels) {
                    Some((i, w)) if float_eq(*w, s.v) && (!e.expect.ordered || *i == pos) => {}
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
            let mut want: HashMap<&Labels, Vec<(i64, f64)>> = HashMap::new();
            for r in &e.rows {
                let pts = r
                    .values
                    .iter()
                    .enumerate()
                    .filter_map(|(i, p)| p.map(|v| (start.saturating_add((i as i64).saturating_mul(step)), v)))
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
                if w.len() != s.samples.len()
                    || w.iter()
                        .zip(&s.samples)
                        .any(|((wt, wv), p)| *wt != p.t || !float_eq(*wv, p.v))
                {
                    return Err((expected(), got()));
                }
            }
            Ok(())
        }
    }
}
