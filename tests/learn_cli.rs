//! `burnwatch learn` end to end, as a learner uses it without the dashboard: listing, showing
//! with hints, checking answers of every kind (inline, from standard input, from a file), the
//! exit codes (0 right, 1 wrong, 2 usage), progress saved under `BURNWATCH_LEARN_PROGRESS`
//! and kept as `.bak` when corrupt, and the mock exam's draw, score by topic and time limit.

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;
use serde_json::Value;

/// A progress file of the test's own, in a fresh directory.
fn progress_file(name: &str) -> PathBuf {
    let dir = tempfile::Builder::new()
        .prefix(&format!("learn-{name}-"))
        .tempdir()
        .unwrap()
        .keep();
    dir.join("progress.json")
}

fn learn_in(progress: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(burnwatch_bin())
        .arg("learn")
        .args(args)
        .env("BURNWATCH_LEARN_PROGRESS", progress)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", out(o), err(o)))
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// The reference answer of an exercise, through `check --reveal --json`.
fn reveal(progress: &Path, id: &str) -> String {
    let o = learn_in(progress, &["check", id, "", "--reveal", "--json"], None);
    json(&o)["expected"].as_str().unwrap().to_string()
}

#[test]
fn list_check_and_progress() {
    let p = progress_file("list");
    let list = learn_in(&p, &["list", "--json"], None);
    assert_eq!(code(&list), 0, "{}", err(&list));
    let v = json(&list);
    let topics = v["topics"].as_array().unwrap();
    let names: Vec<&str> = topics.iter().map(|t| t["topic"].as_str().unwrap()).collect();
    assert_eq!(names, ["promql", "slo", "dora", "collector"]);
    assert!(topics.iter().all(|t| t["solved"] == 0));

    let wrong = learn_in(
        &p,
        &[
            "check",
            "promql-request-rate",
            "rate(http_requests_total[5m]) * 60",
        ],
        None,
    );
    assert_eq!(code(&wrong), 1, "{}", out(&wrong));
    assert!(out(&wrong).contains("Not yet"), "{}", out(&wrong));
    assert!(out(&wrong).contains("60 times the expected"), "{}", out(&wrong));

    let right = learn_in(
        &p,
        &["check", "promql-request-rate", "rate(http_requests_total[5m])"],
        None,
    );
    assert_eq!(code(&right), 0, "{}{}", out(&right), err(&right));
    assert!(out(&right).contains("Correct"), "{}", out(&right));
    assert!(
        out(&right).contains("Why:"),
        "the explanation follows a right answer: {}",
        out(&right)
    );

    // Saved: the list marks it, in text and JSON, and the record counts both attempts.
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    let rec = &saved["exercises"]["promql-request-rate"];
    assert_eq!(
        (rec["attempts"].as_u64(), rec["solved"].as_bool()),
        (Some(2), Some(true))
    );
    let text = out(&learn_in(&p, &["list", "--topic", "promql"], None));
    let line = text
        .lines()
        .find(|l| l.contains("(promql-request-rate)"))
        .unwrap();
    assert!(line.contains("[x]"), "{text}");
    assert!(text.starts_with("PromQL (1/"), "{text}");
    assert!(!text.contains("SLO math"), "--topic keeps one topic: {text}");
    let v = json(&learn_in(&p, &["list", "--json"], None));
    assert_eq!(v["topics"][0]["solved"], 1);
}

#[test]
fn show_hints_and_explanation() {
    let p = progress_file("show");
    let o = learn_in(&p, &["show", "slo-allowed-downtime-999-30d"], None);
    assert_eq!(code(&o), 0, "{}", err(&o));
    let text = out(&o);
    assert!(text.contains("99.9%"), "{text}");
    assert!(text.contains("Answer: a duration"), "{text}");
    assert!(!text.contains("Hint 1:"), "no hint unless asked: {text}");
    let o = learn_in(
        &p,
        &["show", "slo-allowed-downtime-999-30d", "--hint", "1", "--explain"],
        None,
    );
    let text = out(&o);
    assert!(text.contains("Hint 1: "), "{text}");
    assert!(text.contains("Explanation:"), "{text}");
    let v = json(&learn_in(
        &p,
        &["show", "slo-allowed-downtime-999-30d", "--json", "--hint", "1"],
        None,
    ));
    assert_eq!(v["kind"], "number");
    assert_eq!(v["hints"].as_array().unwrap().len(), 1);
    assert!(v["explanation"].is_null());
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    assert_eq!(
        saved["exercises"]["slo-allowed-downtime-999-30d"]["hints_used"],
        1
    );
    let o = learn_in(
        &p,
        &["show", "slo-allowed-downtime-999-30d", "--hint", "99"],
        None,
    );
    assert_eq!(code(&o), 2);
    assert!(err(&o).contains("hint(s), not 99"), "{}", err(&o));
}

#[test]
fn numbers_with_units_and_usage_errors() {
    let p = progress_file("numbers");
    let o = learn_in(&p, &["check", "slo-allowed-downtime-999-30d", "43 min"], None);
    assert_eq!(code(&o), 1);
    assert!(out(&o).contains("read \"43 min\" as 2580 s (43m)"), "{}", out(&o));
    assert!(out(&o).contains("too low by"), "{}", out(&o));
    for right in ["43m12s", "43.2 min", "2592 s", "0.72h"] {
        let o = learn_in(&p, &["check", "slo-allowed-downtime-999-30d", right], None);
        assert_eq!(code(&o), 0, "{right}: {}", out(&o));
    }
    let o = learn_in(&p, &["check", "9999", "x"], None);
    assert_eq!(code(&o), 2);
    assert!(err(&o).contains("no exercise \"9999\""), "{}", err(&o));
    let o = learn_in(&p, &["check", "1", "@/nonexistent/answer.yaml"], None);
    assert_eq!(code(&o), 2);
    assert!(
        err(&o).contains("cannot read the answer file /nonexistent/answer.yaml"),
        "{}",
        err(&o)
    );
    let o = learn_in(&p, &["list", "--topic", "kubernetes"], None);
    assert_eq!(code(&o), 2);
    assert!(err(&o).contains("unknown topic \"kubernetes\""), "{}", err(&o));
    let o = learn_in(&p, &["check"], None);
    assert_eq!(code(&o), 2, "clap's usage error");
}

#[test]
fn configuration_answers_from_stdin_and_files() {
    let p = progress_file("config");
    let v = json(&learn_in(&p, &["list", "--json", "--topic", "collector"], None));
    let first = &v["topics"][0]["exercises"][0];
    let id = first["id"].as_str().unwrap().to_string();
    let shown = json(&learn_in(&p, &["show", &id, "--json"], None));
    let broken = shown["config"].as_str().unwrap().to_string();

    let o = learn_in(&p, &["check", &id, "-"], Some(&broken));
    assert_eq!(code(&o), 1, "the broken configuration unchanged: {}", out(&o));
    assert!(!json(&learn_in(&p, &["check", &id, "-", "--json"], Some(&broken)))["feedback"][0].is_null());

    let fixed = reveal(&p, &id);
    let file = p.with_file_name("fixed.yaml");
    std::fs::write(&file, &fixed).unwrap();
    let o = learn_in(&p, &["check", &id, &format!("@{}", file.display())], None);
    assert_eq!(code(&o), 0, "{}", out(&o));
    assert!(out(&o).contains("the collector accepts it"), "{}", out(&o));
    let o = learn_in(&p, &["check", &id, "-"], Some("receivers: [\n"));
    assert_eq!(code(&o), 1);
    assert!(out(&o).contains("invalid YAML"), "{}", out(&o));
}

#[test]
fn a_corrupt_progress_file_is_kept_and_named() {
    let p = progress_file("corrupt");
    std::fs::write(&p, "not json at all").unwrap();
    let o = learn_in(&p, &["list"], None);
    assert_eq!(code(&o), 0);
    assert!(err(&o).contains("is not a progress file"), "{}", err(&o));
    assert!(err(&o).contains("progress.json.bak"), "{}", err(&o));
    let bak = p.with_file_name("progress.json.bak");
    assert_eq!(std::fs::read_to_string(bak).unwrap(), "not json at all");
}

#[test]
fn exam_draws_every_topic_and_scores_by_topic() {
    let p = progress_file("exam");
    let args = ["exam", "--seed", "7", "--count", "4", "--json"];
    // No answers at all: every question unanswered, one per topic.
    let first = learn_in(&p, &args, Some(""));
    assert_eq!(code(&first), 0, "{}", err(&first));
    let v = json(&first);
    assert_eq!((v["total"].as_u64(), v["correct"].as_u64()), (Some(4), Some(0)));
    assert!(err(&first).contains("End of input"), "{}", err(&first));
    let by_topic = v["by_topic"].as_array().unwrap();
    assert_eq!(by_topic.len(), 4, "{by_topic:?}");
    assert!(by_topic.iter().all(|t| t["total"] == 1 && t["correct"] == 0));

    // The same seed draws the same exam: answer it right this time, the last one wrong.
    let items = v["items"].as_array().unwrap();
    let mut input = String::new();
    for (i, item) in items.iter().enumerate() {
        let id = item["id"].as_str().unwrap();
        let kind = json(&learn_in(&p, &["show", id, "--json"], None))["kind"]
            .as_str()
            .unwrap()
            .to_string();
        let answer = if i == items.len() - 1 {
            if kind == "config" {
                "receivers: {}\n".to_string()
            } else {
                "0".to_string()
            }
        } else {
            reveal(&p, id)
        };
        input.push_str(answer.trim_end());
        input.push('\n');
        if kind == "config" {
            input.push_str(".\n");
        }
    }
    let second = learn_in(&p, &args, Some(&input));
    let v2 = json(&second);
    let ids = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&v), ids(&v2), "the same seed, the same questions");
    assert_eq!(
        v2["correct"],
        3,
        "{}",
        serde_json::to_string_pretty(&v2["items"]).unwrap()
    );
    let last = items.last().unwrap()["topic"].as_str().unwrap().to_string();
    for t in v2["by_topic"].as_array().unwrap() {
        let want = if t["topic"] == last.as_str() { 0 } else { 1 };
        assert_eq!(t["correct"], want, "{t}");
    }
    assert!(
        v2["items"][3]["verdict"]["expected"].is_string(),
        "the answer is shown after the exam"
    );

    // The text form ends with the score by topic.
    let text = out(&learn_in(
        &p,
        &["exam", "--seed", "7", "--count", "4"],
        Some(&input),
    ));
    assert!(text.contains("Score by topic:"), "{text}");
    assert!(text.contains("Total             3/4 (75%)"), "{text}");
}

#[test]
fn exam_time_limit_ends_a_silent_exam() {
    let p = progress_file("timed");
    // Standard input stays open and silent: only the time limit (0.6 s) can end the exam.
    let mut child = Command::new(burnwatch_bin())
        .args([
            "learn",
            "exam",
            "--seed",
            "1",
            "--count",
            "4",
            "--minutes",
            "0.01",
            "--json",
        ])
        .env("BURNWATCH_LEARN_PROGRESS", &p)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let status = wait_for(Duration::from_secs(60), || child.try_wait().unwrap());
    if status.is_none() {
        let _ = child.kill();
    }
    assert!(status.is_some(), "the exam did not end at its time limit");
    drop(stdin);
    let o = child.wait_with_output().unwrap();
    let v = json(&o);
    assert_eq!(v["time_up"], true);
    assert_eq!(v["correct"], 0);
    assert!(err(&o).contains("Time is up"), "{}", err(&o));
}
