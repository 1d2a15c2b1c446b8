//! `burnwatch promql`: PromQL practice at the terminal. `query` runs one expression against loaded
//! files or a Prometheus server, `test` runs Prometheus test-script files, and without a
//! subcommand a read-eval-print loop reads queries from stdin.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use burnwatch_slo::api::client::{self, ClientError, QueryKind};
use burnwatch_slo::api::params::format_rfc3339 as rfc3339;
use burnwatch_slo::api::{ApiError, json, params, position};
use burnwatch_slo::promql::testscript;
use burnwatch_slo::promql::{
    Annotations, Engine, EngineOptions, QueryError, Value, value::format_float, value::format_histogram,
};
use burnwatch_slo::tsdb::Storage;
use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct PromqlArgs {
    #[command(subcommand)]
    action: Option<PromqlAction>,
    /// An OpenMetrics / Prometheus text file with timestamps to query (repeatable). Without
    /// `--time`, queries run at the newest loaded sample.
    #[arg(long = "load", value_name = "FILE", global = true)]
    load: Vec<PathBuf>,
    /// Query this Prometheus-compatible server instead (such as http://localhost:9090).
    #[arg(long, value_name = "URL", global = true)]
    prometheus_url: Option<String>,
}

#[derive(Debug, Subcommand)]
enum PromqlAction {
    /// Run one query and print a table (labels, value), or the API's JSON with --json.
    Query(QueryArgs),
    /// Run Prometheus test-script files (`load` / `eval` / `expect`) and count passed and failed evals.
    Test(TestArgs),
}

#[derive(Debug, Args)]
struct QueryArgs {
    /// The PromQL expression.
    expr: String,
    /// Evaluation time: RFC 3339 or Unix seconds (default: the newest loaded sample, or now).
    #[arg(long, conflicts_with_all = ["start", "end", "step"])]
    time: Option<String>,
    /// Range query start (RFC 3339 or Unix seconds); needs --end and --step.
    #[arg(long, requires_all = ["end", "step"])]
    start: Option<String>,
    /// Range query end.
    #[arg(long, requires_all = ["start", "step"])]
    end: Option<String>,
    /// Range query step: a duration (15s, 5m) or float seconds.
    #[arg(long, requires_all = ["start", "end"])]
    step: Option<String>,
    /// Print the HTTP API's JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct TestArgs {
    /// Test-script files.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Show each failing eval with what was expected and what came out.
    #[arg(long, short)]
    verbose: bool,
}

pub fn run(args: PromqlArgs) -> anyhow::Result<ExitCode> {
    match args.action {
        Some(PromqlAction::Test(t)) => Ok(run_tests(&t)),
        Some(PromqlAction::Query(q)) => {
            let source = Source::open(&args.load, args.prometheus_url.as_deref())?;
            let mode = match (&q.time, &q.start, &q.end, &q.step) {
                (_, Some(s), Some(e), Some(st)) => Mode::Range {
                    start: parse_time(s, "--start")?,
                    end: parse_time(e, "--end")?,
                    step: parse_step(st)?,
                },
                (Some(t), ..) => Mode::Instant {
                    time: Some(parse_time(t, "--time")?),
                },
                _ => Mode::Instant { time: None },
            };
            let ok = source.run(&q.expr, &mode, q.json);
            Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        None => {
            let source = Source::open(&args.load, args.prometheus_url.as_deref())?;
            repl(&source)
        }
    }
}

fn parse_time(s: &str, flag: &str) -> anyhow::Result<i64> {
    if s == "now" {
        return Ok(now_ms());
    }
    params::parse_time(s).map_err(|e| anyhow::anyhow!("{flag}: {e} (use RFC 3339 or Unix seconds)"))
}

fn parse_step(s: &str) -> anyhow::Result<i64> {
    let ns = params::parse_duration_ns(s).map_err(|e| anyhow::anyhow!("--step: {e}"))?;
    if ns < 1_000_000 {
        bail!("--step: {s:?} must be at least 1ms");
    }
    i64::try_from(ns / 1_000_000).context("--step is too large")
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// What to evaluate: one instant (the default time when `None`) or a range.
#[derive(Clone, Debug)]
enum Mode {
    Instant { time: Option<i64> },
    Range { start: i64, end: i64, step: i64 },
}

/// Where queries run.
enum Source {
    Local {
        store: Storage,
        /// The newest loaded sample, the default evaluation time.
        newest: Option<i64>,
    },
    Remote {
        url: String,
        runtime: tokio::runtime::Runtime,
    },
}

impl Source {
    fn open(load: &[PathBuf], url: Option<&str>) -> anyhow::Result<Source> {
        match (load.is_empty(), url) {
            (false, Some(_)) => bail!("give either --load FILE or --prometheus-url URL, not both"),
            (true, None) => {
                bail!("give --load FILE (data to query) or --prometheus-url URL (a server to ask)")
            }
            (true, Some(url)) => {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("cannot start the async runtime")?;
                Ok(Source::Remote {
                    url: url.to_string(),
                    runtime,
                })
            }
            (false, None) => {
                let mut store = Storage::new();
                let mut newest: Option<i64> = None;
                for path in load {
                    let text = std::fs::read_to_string(path)
                        .with_context(|| format!("cannot read --load {}", path.display()))?;
                    let stats = burnwatch_slo::ingest::import_text(&mut store, &text)
                        .with_context(|| format!("in --load {}", path.display()))?;
                    newest = newest.max(stats.max_t);
                }
                Ok(Source::Local { store, newest })
            }
        }
    }

    fn default_time(&self) -> i64 {
        match self {
            Source::Local { newest: Some(t), .. } => *t,
            _ => now_ms(),
        }
    }

    /// Runs `query` and prints the result (or the error) ; false when the query failed.
    fn run(&self, query: &str, mode: &Mode, as_json: bool) -> bool {
        let mode = match mode {
            Mode::Instant { time: None } => Mode::Instant {
                time: Some(self.default_time()),
            },
            m => m.clone(),
        };
        match self {
            Source::Local { store, .. } => {
                let engine = Engine::new(EngineOptions::default());
                let res = match mode {
                    Mode::Instant { time } => engine.instant_query(store, query, time.unwrap_or(0)),
                    Mode::Range { start, end, step } => engine.range_query(store, query, start, end, step),
                };
                match res {
                    Ok(r) if as_json => {
                        println!("{}", json::query_success(&r.value, &r.annotations));
                        true
                    }
                    Ok(r) => {
                        print_annotations(&r.annotations);
                        print_value(&r.value);
                        true
                    }
                    Err(e) => {
                        // Where to put the caret: a parse error's position, or where a query
                        // refused for its depth went too deep.
                        let caret_at = match &e {
                            QueryError::Parse(m) => position::error_position(query, m),
                            QueryError::TooDeep { offset, .. } if *offset > 0 => Some(*offset),
                            _ => None,
                        };
                        let api = ApiError::from_query_error(query, e);
                        if as_json {
                            println!("{}", json::error(api.kind.as_str(), &api.message, &[], &[]));
                        } else {
                            // The API's `invalid parameter "query": ` prefix means nothing at a terminal.
                            let msg = api
                                .message
                                .strip_prefix("invalid parameter \"query\": ")
                                .unwrap_or(&api.message);
                            ewriteln!("error: {msg}");
                            if let Some(p) = caret_at {
                                ewrite!("{}", caret(query, p));
                            }
                        }
                        false
                    }
                }
            }
            Source::Remote { url, runtime } => {
                let kind = match mode {
                    Mode::Instant { time } => QueryKind::Instant {
                        time: time.unwrap_or(0),
                    },
                    Mode::Range { start, end, step } => QueryKind::Range { start, end, step },
                };
                let res = runtime.block_on(client::query(url, query, &kind, Duration::from_secs(130)));
                match res {
                    Ok(r) if as_json => {
                        println!("{}", r.body.trim_end());
                        true
                    }
                    Ok(r) => {
                        print_annotations(&r.annotations);
                        print_value(&r.value);
                        true
                    }
                    Err(ClientError::Api {
                        error_type,
                        message,
                        body,
                        ..
                    }) => {
                        if as_json {
                            println!("{}", body.trim_end());
                        } else {
                            ewriteln!("error: {error_type}: {message}");
                            if let Some(p) = position_in_message(query, &message) {
                                ewrite!("{}", caret(query, p));
                            }
                        }
                        false
                    }
                    Err(e) => {
                        ewriteln!("error: {e}");
                        false
                    }
                }
            }
        }
    }
}

/// The byte offset a Prometheus error message points at (`... 1:14: parse error: ...`).
fn position_in_message(query: &str, message: &str) -> Option<usize> {
    let i = message.find(": parse error")?;
    let head = &message[..i];
    let start = head
        .rfind(|c: char| !(c.is_ascii_digit() || c == ':'))
        .map_or(0, |j| j + 1);
    let (line, col) = head[start..].split_once(':')?;
    let line: usize = line.parse().ok()?;
    let col: usize = col.parse().ok()?;
    let line_start: usize = query
        .split_inclusive('\n')
        .take(line.checked_sub(1)?)
        .map(str::len)
        .sum();
    let p = line_start + col.checked_sub(1)?;
    // The server's column counts bytes of its own copy of the query; refuse one that does not fall
    // on a character of ours.
    query.is_char_boundary(p).then_some(p)
}

/// The query's line holding byte `p`, and a caret under that byte.
fn caret(query: &str, p: usize) -> String {
    let p = p.min(query.len());
    let line_start = query[..p].rfind('\n').map_or(0, |i| i + 1);
    let line_end = query[p..].find('\n').map_or(query.len(), |i| p + i);
    let line = &query[line_start..line_end];
    let width = query[line_start..p].chars().count();
    format!("  {line}\n  {}^\n", " ".repeat(width))
}

fn print_annotations(a: &Annotations) {
    for w in &a.warnings {
        ewriteln!("warning: {w}");
    }
    for i in &a.infos {
        ewriteln!("info: {i}");
    }
}

fn print_value(v: &Value) {
    print!("{}", render(v));
}

/// The readable table of a value.
fn render(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Scalar { t, v } => {
            out.push_str(&format!("scalar {}  (at {})\n", format_float(*v), rfc3339(*t)));
        }
        Value::String { t, s } => {
            out.push_str(&format!("string {s:?}  (at {})\n", rfc3339(*t)));
        }
        Value::Vector(vec) => {
            if vec.is_empty() {
                out.push_str("(no series)\n");
                return out;
            }
            let names: Vec<String> = vec.iter().map(|s| s.labels.series_name()).collect();
            let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0).max(6);
            out.push_str(&format!(
                "{:<width$}  VALUE   (at {})\n",
                "SERIES",
                rfc3339(vec[0].t)
            ));
            for (n, s) in names.iter().zip(vec) {
                // A native histogram's float value is an unused 0: print the histogram, in
                // the notation test scripts use.
                let value = s.h.as_deref().map_or_else(|| format_float(s.v), format_histogram);
                out.push_str(&format!("{n:<width$}  {value}\n"));
            }
        }
        Value::Matrix(m) => {
            if m.is_empty() {
                out.push_str("(no series)\n");
                return out;
            }
            for s in m {
                out.push_str(&s.labels.series_name());
                out.push('\n');
                // Float and native-histogram points in one time order.
                let mut points: Vec<(i64, String)> =
                    s.samples.iter().map(|p| (p.t, format_float(p.v))).collect();
                points.extend(s.histograms.iter().map(|p| (p.t, format_histogram(&p.h))));
                points.sort_by_key(|(t, _)| *t);
                for (t, v) in points {
                    out.push_str(&format!("  {:<24}  {v}\n", rfc3339(t)));
                }
            }
        }
    }
    out
}

fn run_tests(args: &TestArgs) -> ExitCode {
    let (mut passed, mut failed) = (0usize, 0usize);
    for path in &args.files {
        let report = testscript::run_file(path);
        println!("{report}");
        if args.verbose {
            for f in report.failures.iter().filter(|f| !f.unsupported) {
                println!("{f}");
            }
            for f in report.failures.iter().filter(|f| f.unsupported) {
                println!("{f}");
            }
        }
        passed += report.passed;
        // Unsupported evals count as failed; so does a file that could not be read or parsed.
        failed += report.failed + report.unsupported + report.errors.len();
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

const REPL_HELP: &str = "\
Type a PromQL expression and press Enter. Commands:
  :time T              evaluate instant queries at T (RFC 3339, Unix seconds, or now)
  :range START END STEP  switch to range queries
  :instant             back to instant queries (at :time, default the newest sample)
  :json                toggle the API's JSON output
  :history             list the queries of this session; !N runs number N, !! the last
  :help                this text
  :quit                leave (or Ctrl-D)
";

/// The interactive loop: reads lines from stdin until EOF or `:quit`. The prompt and greeting go
/// to stderr and only when stdin is a terminal, so piped input gives clean output.
fn repl(source: &Source) -> anyhow::Result<ExitCode> {
    let interactive = std::io::stdin().is_terminal();
    if interactive {
        ewriteln!("burnwatch PromQL shell. :help for commands, Ctrl-D to leave.");
        if let Source::Local { newest: Some(t), .. } = source {
            ewriteln!(
                "Instant queries run at the newest loaded sample, {}.",
                rfc3339(*t)
            );
        }
    }
    let mut mode = Mode::Instant { time: None };
    let mut as_json = false;
    let mut history: Vec<String> = Vec::new();
    let mut failures = 0usize;
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut buf = Vec::new();
    loop {
        if interactive {
            ewrite!("promql> ");
            let _ = std::io::stderr().flush();
        }
        buf.clear();
        if input.read_until(b'\n', &mut buf).context("cannot read stdin")? == 0 {
            if interactive {
                ewriteln!();
            }
            break;
        }
        let line = String::from_utf8_lossy(&buf).trim().to_string();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let query = if line == "!!" {
            match history.last() {
                Some(q) => q.clone(),
                None => {
                    ewriteln!("error: the history is empty");
                    continue;
                }
            }
        } else if let Some(n) = line.strip_prefix('!').and_then(|n| n.parse::<usize>().ok()) {
            match n.checked_sub(1).and_then(|i| history.get(i)) {
                Some(q) => q.clone(),
                None => {
                    ewriteln!("error: no query number {n} in the history (:history lists them)");
                    continue;
                }
            }
        } else if let Some(cmd) = line.strip_prefix(':') {
            let mut words = cmd.split_whitespace();
            match (words.next().unwrap_or(""), words.collect::<Vec<_>>().as_slice()) {
                ("q" | "quit" | "exit", []) => break,
                ("help" | "h", []) => ewrite!("{REPL_HELP}"),
                ("json", []) => {
                    as_json = !as_json;
                    ewriteln!("JSON output {}.", if as_json { "on" } else { "off" });
                }
                ("history", []) => {
                    for (i, q) in history.iter().enumerate() {
                        println!("{:>4}  {q}", i + 1);
                    }
                }
                ("instant", []) => mode = Mode::Instant { time: None },
                ("time", [t]) => match parse_time(t, ":time") {
                    Ok(t) => mode = Mode::Instant { time: Some(t) },
                    Err(e) => ewriteln!("error: {e:#}"),
                },
                ("range", [s, e, st]) => {
                    match (parse_time(s, "start"), parse_time(e, "end"), parse_step(st)) {
                        (Ok(start), Ok(end), Ok(step)) => mode = Mode::Range { start, end, step },
                        (Err(x), ..) | (_, Err(x), _) | (.., Err(x)) => ewriteln!("error: {x:#}"),
                    }
                }
                _ => ewriteln!("error: unknown command {line:?}; :help lists the commands"),
            }
            continue;
        } else {
            line
        };
        if history.last() != Some(&query) {
            history.push(query.clone());
        }
        if !source.run(&query, &mode, as_json) {
            failures += 1;
        }
        let _ = std::io::stdout().flush();
    }
    // Piped input is a script: its exit code tells whether every query worked.
    Ok(if !interactive && failures > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use burnwatch_slo::tsdb::Labels;

    #[test]
    fn carets_point_at_the_byte() {
        assert_eq!(caret("sum(x", 3), "  sum(x\n     ^\n");
        assert_eq!(caret("a\n+ *", 4), "  + *\n    ^\n");
        let q = "sum(rate(x[5m])";
        let msg = r#"invalid parameter "query": 1:4: parse error: unclosed left parenthesis"#;
        assert_eq!(position_in_message(q, msg), Some(3));
        assert_eq!(position_in_message(q, "no position here"), None);
    }

    /// Issue #12: `burnwatch promql query` printed a native histogram as its unused float value, 0.
    #[test]
    fn native_histograms_are_printed_not_as_zero() {
        use burnwatch_slo::tsdb::{FloatHistogram, HSample};
        let h = std::sync::Arc::new(FloatHistogram {
            schema: 0,
            count: 3.0,
            sum: 4.5,
            positive: vec![(0, 1.0), (1, 2.0)],
            ..Default::default()
        });
        let labels = Labels::from_pairs([("__name__", "latency")]);
        let v = Value::Vector(vec![burnwatch_slo::promql::InstantSample {
            labels: labels.clone(),
            t: 60_000,
            v: 0.0,
            h: Some(h.clone()),
            drop_name: false,
        }]);
        assert_eq!(
            render(&v),
            "SERIES   VALUE   (at 1970-01-01T00:01:00Z)\n\
             latency  {{schema:0 count:3 sum:4.5 offset:0 buckets:[1 2]}}\n"
        );
        let m = Value::Matrix(vec![burnwatch_slo::promql::RangeSeries {
            labels,
            samples: Default::default(),
            histograms: vec![HSample { t: 60_000, h }],
            drop_name: false,
        }]);
        assert_eq!(
            render(&m),
            "latency\n  1970-01-01T00:01:00Z      {{schema:0 count:3 sum:4.5 offset:0 buckets:[1 2]}}\n"
        );
    }

    #[test]
    fn tables_are_readable() {
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        let v = Value::Vector(vec![burnwatch_slo::promql::InstantSample {
            labels: Labels::from_pairs([("__name__", "up"), ("job", "api")]),
            t: 60_000,
            v: 1.0,
            h: None,
            drop_name: false,
        }]);
        assert_eq!(
            render(&v),
            "SERIES         VALUE   (at 1970-01-01T00:01:00Z)\nup{job=\"api\"}  1\n"
        );
    }
}
