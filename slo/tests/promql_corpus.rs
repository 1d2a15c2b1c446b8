//! Runs the upstream Prometheus PromQL test corpora, read in place from `../shared/`, and fails if
//! the number of passing evals drops below the floors committed next to this file. Floors may only
//! be raised.
//!
//! * `promql-testdata` (Prometheus v3.14.0) against `promql_corpus_floor.txt`;
//! * `promql-testdata-v2.42.0` against `promql_corpus_v2_floor.txt` (some of its evals depend on
//!   2.x-only closed range boundaries and cannot pass on a 3.x engine).
//!
//! The repo's own cases in `tests/promql/*.test` must all pass.
//!
//! Set `PROMQL_CORPUS_VERBOSE=1` to print every failing eval with expected and got.

use std::path::Path;

use burnwatch_slo::promql::testscript::run_file;

fn run_corpus(dir: &str, floor_file: &str) {
    let dir = Path::new(dir);
    let floor: usize = std::fs::read_to_string(floor_file)
        .expect("the floor file is committed next to this test")
        .trim()
        .parse()
        .expect("the floor is a plain number");
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "the PromQL corpus is missing at {}: {e}",
                dir.display()
            );
            eprintln!(
                "SKIPPING: PromQL corpus not found at {} ({e}); check out ../shared",
                dir.display()
            );
            return;
        }
    };
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .test files in {}", dir.display());

    let verbose = std::env::var("PROMQL_CORPUS_VERBOSE").is_ok();
    let (mut passed, mut failed, mut unsupported) = (0, 0, 0);
    println!("== {}", dir.display());
    for f in &files {
        let r = run_file(f);
        println!("{r}");
        if verbose {
            for fail in &r.failures {
                println!("{fail}");
            }
        }
        passed += r.passed;
        failed += r.failed;
        unsupported += r.unsupported;
    }
    println!(
        "{passed} passed, {} failed ({unsupported} of them unsupported)",
        failed + unsupported
    );
    assert!(
        passed >= floor,
        "{passed} evals passed, below the committed floor of {floor}"
    );
}

#[test]
fn own_cases_all_pass() {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/promql"));
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("slo/tests/promql holds the repo's own .test files")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for f in &files {
        let r = run_file(f);
        println!("{r}");
        let detail: Vec<String> = r.failures.iter().map(ToString::to_string).collect();
        assert!(
            r.failed == 0 && r.unsupported == 0 && r.errors.is_empty(),
            "{r}\n{}",
            detail.join("\n")
        );
        assert!(r.passed > 0, "{r}");
    }
}

#[test]
fn upstream_v3_corpus_stays_above_floor() {
    run_corpus(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/promql-testdata"),
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/promql_corpus_floor.txt"),
    );
}

#[test]
fn upstream_v2_42_corpus_stays_above_floor() {
    run_corpus(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/promql-testdata-v2.42.0"
        ),
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/promql_corpus_v2_floor.txt"),
    );
}
