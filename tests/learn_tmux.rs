//! The practice view (`burnwatch learn`) in a real terminal, as a learner uses it: the exercise
//! list comes up with no server running, exercise 1 opens with the answer input focused, a
//! wrong answer gets the grader's feedback, the right one "Correct" and the explanation, and
//! after quitting the progress file (`BURNWATCH_LEARN_PROGRESS`) records both attempts and the
//! exercise as solved.

mod common;

use std::time::Duration;

use burnwatch_learn::progress::Progress;
use burnwatch_learn::{Answer, Curriculum, grade};
use common::tmux::{Tmux, pane_script};
use common::*;

#[test]
fn learn_grades_a_wrong_then_a_right_answer_and_saves_progress() {
    if require_tool("tmux", "apt-get install tmux").is_none() {
        return;
    }
    let exercise = Curriculum::builtin().get(1).expect("a first exercise");
    assert!(
        matches!(exercise.answer, Answer::Promql(_)),
        "exercise 1 is a PromQL one"
    );
    let right = grade::reveal(exercise);
    // Per minute instead of per second: the grader names the factor.
    let wrong = format!("({right}) * 60");
    let wrong_verdict = grade::check(exercise, &wrong);
    assert!(!wrong_verdict.correct);
    let feedback: String = wrong_verdict.feedback[0].chars().take(30).collect();

    let dir = tempfile::tempdir().unwrap();
    let progress = dir.path().join("state").join("progress.json");
    let script = pane_script(
        dir.path(),
        "run.sh",
        &format!(
            "BURNWATCH_LEARN_PROGRESS='{progress}' '{bin}' learn",
            progress = progress.display(),
            bin = burnwatch_bin().display(),
        ),
    );
    let tmux = Tmux::start("learn", &script, 140, 45);
    let (ok, screen) = tmux.wait_screen(Duration::from_secs(60), |s| {
        s.contains("Exercises") && s.contains("solved") && s.contains(&exercise.title)
    });
    assert!(ok, "no exercise list:\n{screen}");
    assert!(screen.contains("0/"), "nothing solved yet:\n{screen}");

    // Enter opens exercise 1 with the input focused: the keys are text.
    tmux.keys(&["Enter"]);
    tmux.type_text(&wrong);
    tmux.keys(&["Enter"]);
    let (ok, screen) = tmux.wait_screen(Duration::from_secs(30), |s| {
        s.contains("Not yet") && s.contains(&feedback)
    });
    assert!(ok, "no feedback on {wrong:?} (expected {feedback:?}):\n{screen}");

    tmux.keys(&["C-u"]);
    tmux.type_text(&right);
    tmux.keys(&["Enter"]);
    let (ok, screen) = tmux.wait_screen(Duration::from_secs(30), |s| {
        s.contains("✓ Correct") && s.contains("Explanation")
    });
    assert!(ok, "{right:?} not graded correct:\n{screen}");
    assert!(screen.contains("1/"), "the solved count moved:\n{screen}");

    tmux.keys(&["Escape", "q"]);
    let (ok, end) = tmux.wait_screen(Duration::from_secs(30), |s| {
        s.contains("EXIT=") && s.contains("speed")
    });
    assert!(ok, "burnwatch learn did not exit:\n{end}");
    assert!(end.contains("EXIT=0"), "{end}");
    let modes: Vec<&str> = end.split_whitespace().collect();
    assert!(
        modes.contains(&"icanon") && modes.contains(&"echo"),
        "terminal not restored:\n{end}"
    );

    let saved = Progress::load(&progress);
    assert!(saved.load_error.is_none(), "{:?}", saved.load_error);
    let record = saved
        .get(&exercise.id)
        .unwrap_or_else(|| panic!("no record of {} in {saved:?}", exercise.id));
    assert_eq!(
        (record.attempts, record.solved, record.attempts_to_solve),
        (2, true, 2),
        "{record:?}"
    );
}
