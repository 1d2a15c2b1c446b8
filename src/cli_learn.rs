//! `burnwatch learn`: practice mode for the CNPE exam without the dashboard.
//!
//! * `list` — the exercises by topic, with what is solved.
//! * `show N` — an exercise's prompt and data; `--hint K` adds the first K hints, `--explain`
//!   the explanation.
//! * `check N ANSWER` — grades an answer with `burnwatch_learn::grade` (exit 0 right, 1 wrong,
//!   2 for a usage error such as an unknown exercise). ANSWER may be `-` (standard input) or
//!   `@FILE`, for YAML configurations.
//! * `exam` — a timed mock exam: `--count` exercises drawn with `--seed` across every topic,
//!   answers read from standard input, a score by topic at the end.
//!
//! Without a subcommand it opens the practice view in the terminal. Every subcommand prints
//! JSON instead with `--json`. Progress is saved where `burnwatch_learn::progress::default_path`
//! says (`BURNWATCH_LEARN_PROGRESS` overrides it) after every check.

use std::io::{BufRead as _, Read as _};
use std::path::Path;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use burnwatch_learn::exam::Exam;
use burnwatch_learn::model::{Answer, Curriculum, Exercise, Topic};
use burnwatch_learn::progress::{self, Progress};
use burnwatch_learn::{answer, grade};
use clap::{Args, Subcommand};
use serde_json::{Value as Json, json};

use crate::output::print;

/// `burnwatch learn` and its subcommand.
#[derive(Debug, Args)]
pub struct LearnArgs {
    /// What to do; without a subcommand, the practice view opens.
    #[command(subcommand)]
    command: Option<LearnCommand>,
}

#[derive(Debug, Subcommand)]
enum LearnCommand {
    /// List the exercises by topic, marking those solved.
    List(ListArgs),
    /// Show an exercise: its prompt, data and answer format; hints and explanation on request.
    Show(ShowArgs),
    /// Grade an answer to an exercise (exit 0 right, 1 wrong, 2 usage error).
    Check(CheckArgs),
    /// A timed mock exam over every topic, answers read from standard input.
    Exam(ExamArgs),
}

#[derive(Debug, Args)]
struct ListArgs {
    /// Only this topic (promql, slo, dora, collector).
    #[arg(long)]
    topic: Option<String>,
    /// Print JSON instead of a list.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ShowArgs {
    /// The exercise's number or id.
    exercise: String,
    /// Also show the first K hints.
    #[arg(long, value_name = "K")]
    hint: Option<u32>,
    /// Also show the explanation.
    #[arg(long)]
    explain: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// The exercise's number or id.
    exercise: String,
    /// The answer; `-` reads it from standard input, `@FILE` from a file (`@@` for a literal `@`).
    answer: String,
    /// Also show the reference answer.
    #[arg(long)]
    reveal: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ExamArgs {
    /// How many exercises (at least one of each topic when 4 or more).
    #[arg(long, default_value_t = 10)]
    count: usize,
    /// The draw's seed: the same seed draws the same exam (default: from the clock, printed).
    #[arg(long)]
    seed: Option<u64>,
    /// The time limit in minutes (default: 3 a question). Answers after it do not count.
    #[arg(long)]
    minutes: Option<f64>,
    /// Print the result as JSON (the questions go to standard error).
    #[arg(long)]
    json: bool,
}

/// A usage error: named on standard error, exit status 2.
fn usage(message: impl std::fmt::Display) -> anyhow::Result<ExitCode> {
    ewriteln!("error: {message}");
    Ok(ExitCode::from(2))
}

pub fn run(args: LearnArgs) -> anyhow::Result<ExitCode> {
    let curriculum = Curriculum::builtin();
    let path = progress::default_path();
    match args.command {
        None => open_view(&path),
        Some(LearnCommand::List(a)) => list(curriculum, &path, &a),
        Some(LearnCommand::Show(a)) => show(curriculum, &path, &a),
        Some(LearnCommand::Check(a)) => check(curriculum, &path, &a),
        Some(LearnCommand::Exam(a)) => exam(curriculum, &path, &a),
    }
}

/// `learn` alone: the practice view in the terminal (the dashboard's, offline), saving to the
/// same progress file as the subcommands.
fn open_view(path: &Path) -> anyhow::Result<ExitCode> {
    burnwatch_tui::learn::run(path.to_path_buf()).context("the practice view failed")?;
    Ok(ExitCode::SUCCESS)
}

/// Reads progress, naming a file that could not be read (it was kept as `.bak`).
fn load_progress(path: &Path) -> Progress {
    let p = Progress::load(path);
    if let Some(e) = &p.load_error {
        ewriteln!("warning: {e}");
    }
    p
}

fn save_progress(p: &Progress, path: &Path) {
    if let Err(e) = p.save(path) {
        ewriteln!("warning: cannot save progress to {}: {e}", path.display());
    }
}

fn find<'a>(curriculum: &'a Curriculum, key: &str) -> Result<(usize, &'a Exercise), String> {
    curriculum.find(key).ok_or_else(|| {
        format!(
            "no exercise {key:?}: give a number from 1 to {} or an id (burnwatch learn list)",
            curriculum.exercises().len()
        )
    })
}

fn parse_topic(s: &str) -> Result<Topic, String> {
    Topic::ALL
        .into_iter()
        .find(|t| t.as_str().eq_ignore_ascii_case(s.trim()))
        .ok_or_else(|| format!("unknown topic {s:?}: use promql, slo, dora or collector"))
}

fn list(curriculum: &Curriculum, path: &Path, a: &ListArgs) -> anyhow::Result<ExitCode> {
    let only = match a.topic.as_deref().map(parse_topic).transpose() {
        Ok(t) => t,
        Err(e) => return usage(e),
    };
    let progress = load_progress(path);
    let topics: Vec<Topic> = Topic::ALL
        .into_iter()
        .filter(|t| only.is_none_or(|o| o == *t))
        .collect();
    if a.json {
        let topics: Vec<Json> = topics
            .iter()
            .map(|&t| {
                let ex: Vec<Json> = curriculum
                    .of_topic(t)
                    .map(|(n, e)| {
                        json!({"number": n, "id": e.id, "title": e.title, "kind": e.answer.kind(),
                               "solved": progress.is_solved(&e.id)})
                    })
                    .collect();
                let solved = ex.iter().filter(|e| e["solved"] == true).count();
                json!({"topic": t, "title": t.title(), "solved": solved, "total": ex.len(), "exercises": ex})
            })
            .collect();
        print(&format!(
            "{}\n",
            json!({"progress_file": path.display().to_string(), "topics": topics})
        ))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    for t in topics {
        let ex: Vec<(usize, &Exercise)> = curriculum.of_topic(t).collect();
        let solved = ex.iter().filter(|(_, e)| progress.is_solved(&e.id)).count();
        out.push_str(&format!("{} ({solved}/{} solved)\n", t.title(), ex.len()));
        for (n, e) in ex {
            let mark = if progress.is_solved(&e.id) { "[x]" } else { "[ ]" };
            out.push_str(&format!("  {mark} {n:>3}  {}  ({})\n", e.title, e.id));
        }
    }
    print(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// What kind of answer an exercise takes, in words.
fn answer_format(e: &Exercise) -> String {
    match &e.answer {
        Answer::Promql(p) => {
            let mut when: Vec<String> = p.at.clone();
            if let Some(r) = &p.range {
                when.push(format!("over {}..{} every {}", r.start, r.end, r.step));
            }
            format!(
                "a PromQL query, evaluated at {} after the data's first sample",
                when.join(", ")
            )
        }
        Answer::Number(n) => match n.unit {
            burnwatch_learn::model::Unit::Duration => "a duration (43m12s, 43.2 min, 2592 s)".to_string(),
            burnwatch_learn::model::Unit::Ratio => "a ratio (0.001 or 0.1%)".to_string(),
            burnwatch_learn::model::Unit::Number => "a number (14.4)".to_string(),
        },
        Answer::Choice(c) => format!("one of: {}", c.options.join(", ")),
        Answer::Config(_) => {
            "the corrected collector configuration (YAML; check it with ANSWER @FILE)".to_string()
        }
    }
}

fn show(curriculum: &Curriculum, path: &Path, a: &ShowArgs) -> anyhow::Result<ExitCode> {
    let (n, e) = match find(curriculum, &a.exercise) {
        Ok(x) => x,
        Err(err) => return usage(err),
    };
    let hints = a.hint.unwrap_or(0) as usize;
    if hints > e.hints.len() {
        return usage(format!("exercise {n} has {} hint(s), not {hints}", e.hints.len()));
    }
    let mut progress = load_progress(path);
    if hints > 0 {
        progress.hinted(&e.id, hints as u32);
        save_progress(&progress, path);
    }
    let broken = match &e.answer {
        Answer::Config(c) => Some(c.broken.as_str()),
        _ => None,
    };
    if a.json {
        let options = match &e.answer {
            Answer::Choice(c) => json!(c.options),
            _ => Json::Null,
        };
        let v = json!({
            "number": n, "id": e.id, "topic": e.topic, "title": e.title, "prompt": e.prompt,
            "data": e.data, "config": broken, "kind": e.answer.kind(), "options": options,
            "answer_format": answer_format(e), "hint_count": e.hints.len(),
            "hints": &e.hints[..hints], "explanation": a.explain.then_some(&e.explanation),
            "solved": progress.is_solved(&e.id),
        });
        print(&format!("{v}\n"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = format!(
        "Exercise {n} · {} · {}\n{}\n\n{}\n",
        e.topic.title(),
        e.id,
        e.title,
        e.prompt.trim_end()
    );
    if let Some(d) = &e.data {
        out.push_str(&format!("\nData:\n{}\n", indent(d)));
    }
    if let Some(b) = broken {
        out.push_str(&format!("\nConfiguration:\n{}\n", indent(b)));
    }
    out.push_str(&format!("\nAnswer: {}\n", answer_format(e)));
    for (i, h) in e.hints.iter().take(hints).enumerate() {
        out.push_str(&format!("Hint {}: {h}\n", i + 1));
    }
    if hints < e.hints.len() {
        out.push_str(&format!(
            "{} more hint(s): burnwatch learn show {n} --hint {}\n",
            e.hints.len() - hints,
            hints + 1
        ));
    }
    if a.explain {
        out.push_str(&format!("\nExplanation:\n{}\n", indent(&e.explanation)));
    }
    print(&out)?;
    Ok(ExitCode::SUCCESS)
}

fn indent(text: &str) -> String {
    text.trim_end()
        .lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The answer argument: itself, `-` for standard input, `@FILE` for a file's text.
fn read_answer(arg: &str) -> Result<String, String> {
    if arg == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| format!("cannot read the answer from standard input: {e}"))?;
        return Ok(s);
    }
    if let Some(literal) = arg.strip_prefix("@@") {
        return Ok(format!("@{literal}"));
    }
    if let Some(file) = arg.strip_prefix('@') {
        return std::fs::read_to_string(file).map_err(|e| format!("cannot read the answer file {file}: {e}"));
    }
    Ok(arg.to_string())
}

fn check(curriculum: &Curriculum, path: &Path, a: &CheckArgs) -> anyhow::Result<ExitCode> {
    let (n, e) = match find(curriculum, &a.exercise) {
        Ok(x) => x,
        Err(err) => return usage(err),
    };
    let text = match read_answer(&a.answer) {
        Ok(t) => t,
        Err(err) => return usage(err),
    };
    let mut verdict = grade::check(e, &text);
    if a.reveal {
        verdict = verdict.revealing(e);
    }
    let mut progress = load_progress(path);
    let hints = progress.get(&e.id).map_or(0, |r| r.hints_used);
    progress.record(&e.id, verdict.correct, hints);
    save_progress(&progress, path);
    let explain = verdict.correct || a.reveal;
    if a.json {
        let v = json!({
            "number": n, "id": e.id, "correct": verdict.correct, "feedback": verdict.feedback,
            "expected": verdict.expected, "explanation": explain.then_some(&e.explanation),
            "solved": progress.is_solved(&e.id),
        });
        print(&format!("{v}\n"))?;
    } else {
        let mut out = if verdict.correct {
            format!("Correct: exercise {n} ({}).\n", e.id)
        } else {
            format!("Not yet: exercise {n} ({}).\n", e.id)
        };
        for l in &verdict.feedback {
            out.push_str(&format!("  {l}\n"));
        }
        if let Some(x) = &verdict.expected {
            out.push_str(&format!("\nExpected:\n{}\n", indent(x)));
        }
        if explain {
            out.push_str(&format!("\nWhy:\n{}\n", indent(&e.explanation)));
        } else if !e.hints.is_empty() && hints < e.hints.len() as u32 {
            out.push_str(&format!(
                "\nA hint: burnwatch learn show {n} --hint {}\n",
                hints + 1
            ));
        }
        print(&out)?;
    }
    Ok(if verdict.correct {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Lines of standard input, read on a thread so the exam's time limit can interrupt a wait.
fn stdin_lines() -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Why reading an answer stopped early.
enum Stop {
    TimeUp,
    Eof,
}

/// Reads one answer before `deadline`: one line, or for a configuration the lines up to one
/// holding only `.`.
fn read_exam_answer(
    lines: &mpsc::Receiver<String>,
    multi_line: bool,
    deadline: Instant,
) -> Result<String, Stop> {
    let mut out = String::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Stop::TimeUp);
        }
        let line = match lines.recv_timeout(left) {
            Ok(l) => l,
            Err(mpsc::RecvTimeoutError::Timeout) => return Err(Stop::TimeUp),
            Err(mpsc::RecvTimeoutError::Disconnected) if multi_line && !out.is_empty() => return Ok(out),
            Err(mpsc::RecvTimeoutError::Disconnected) => return Err(Stop::Eof),
        };
        if !multi_line {
            return Ok(line);
        }
        if line.trim() == "." {
            return Ok(out);
        }
        out.push_str(&line);
        out.push('\n');
    }
}

fn exam(curriculum: &Curriculum, path: &Path, a: &ExamArgs) -> anyhow::Result<ExitCode> {
    if a.count == 0 {
        return usage("--count must be at least 1");
    }
    let minutes = a
        .minutes
        .unwrap_or(3.0 * a.count.min(curriculum.exercises().len()) as f64);
    if !(minutes.is_finite() && minutes > 0.0 && minutes <= 24.0 * 60.0) {
        return usage(format!(
            "--minutes {minutes} must be more than 0 and at most a day"
        ));
    }
    let seed = a.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    });
    let exam = Exam::draw(curriculum, seed, a.count);
    let total = exam.questions.len();
    let limit = Duration::from_secs_f64(minutes * 60.0);
    // Questions go where a person reads them; with --json, standard output holds the result only.
    let say = |text: &str| -> anyhow::Result<()> {
        if a.json {
            ewrite!("{text}");
            Ok(())
        } else {
            print(text)
        }
    };
    say(&format!(
        "Mock exam: {total} questions, {} minutes (seed {seed}: burnwatch learn exam --seed {seed} --count {} draws it again).\n\
         Answer each on one line; end a configuration with a line holding only \".\". An empty line skips.\n",
        answer::plain(minutes),
        a.count
    ))?;
    let lines = stdin_lines();
    let started = Instant::now();
    let deadline = started + limit;
    let mut answers: Vec<String> = Vec::with_capacity(total);
    let mut stop = None;
    for (i, q) in exam.questions.iter().enumerate() {
        let e = &q.exercise;
        let left = deadline.saturating_duration_since(Instant::now()).as_secs();
        let mut text = format!(
            "\n── Question {}/{total} · {} · exercise {} · {}:{:02} left\n{}\n\n{}\n",
            i + 1,
            e.topic.title(),
            q.number,
            left / 60,
            left % 60,
            e.title,
            e.prompt.trim_end()
        );
        if let Some(d) = &e.data {
            text.push_str(&format!("\nData:\n{}\n", indent(d)));
        }
        if let Answer::Config(c) = &e.answer {
            text.push_str(&format!("\nConfiguration:\n{}\n", indent(&c.broken)));
        }
        text.push_str(&format!("\nAnswer ({}):\n", answer_format(e)));
        say(&text)?;
        match read_exam_answer(&lines, matches!(e.answer, Answer::Config(_)), deadline) {
            Ok(ans) => answers.push(ans),
            Err(s) => {
                stop = Some(s);
                break;
            }
        }
    }
    match stop {
        Some(Stop::TimeUp) => say("\nTime is up: the questions left count as unanswered.\n")?,
        Some(Stop::Eof) => say("\nEnd of input: the questions left count as unanswered.\n")?,
        None => {}
    }
    let result = exam.score(&answers);
    let mut progress = load_progress(path);
    for item in result.items.iter().filter(|i| i.answered) {
        let hints = progress.get(&item.id).map_or(0, |r| r.hints_used);
        progress.record(&item.id, item.verdict.correct, hints);
    }
    save_progress(&progress, path);
    let elapsed = started.elapsed().as_secs_f64().min(limit.as_secs_f64());
    if a.json {
        let mut v = serde_json::to_value(&result).context("cannot write the result as JSON")?;
        v["seed"] = json!(seed);
        v["minutes"] = json!(minutes);
        v["elapsed_seconds"] = json!((elapsed * 10.0).round() / 10.0);
        v["time_up"] = json!(matches!(stop, Some(Stop::TimeUp)));
        print(&format!("{v}\n"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::from("\n══ Results\n");
    for item in &result.items {
        let mark = if item.verdict.correct {
            "right"
        } else if item.answered {
            "wrong"
        } else {
            "unanswered"
        };
        out.push_str(&format!("  {:>3}  {:<10}  {}\n", item.number, mark, item.id));
        if !item.verdict.correct {
            for l in item.verdict.feedback.iter().take(3) {
                out.push_str(&format!("               {l}\n"));
            }
            if let Some(x) = &item.verdict.expected {
                let first = x.lines().next().unwrap_or("");
                let more = if x.lines().count() > 1 { " …" } else { "" };
                out.push_str(&format!("               expected: {first}{more}\n"));
            }
        }
    }
    out.push_str("\nScore by topic:\n");
    for t in &result.by_topic {
        out.push_str(&format!("  {:<17} {}/{}\n", t.topic.title(), t.correct, t.total));
    }
    out.push_str(&format!(
        "  {:<17} {}/{} ({}%) in {}\n",
        "Total",
        result.correct,
        result.total,
        answer::significant(result.score() * 100.0, 3),
        answer::format_duration(elapsed.round())
    ));
    print(&out)?;
    Ok(ExitCode::SUCCESS)
}
