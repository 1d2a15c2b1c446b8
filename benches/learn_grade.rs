//! Grading practice-mode answers as the practice view does on a keypress: one exercise's
//! answer checked (PromQL answers evaluated beside the reference at every `at` time and over
//! the range), its preview, and the whole built-in curriculum's reference answers. Goal:
//! < 50 ms per exercise. Also the bound on a hostile answer (`count_over_time(x[100y:1ms])`),
//! which the engine's limits stop: it must end, in about the grader's timeout at worst.
//!
//! Before measuring, prints the slowest exercise's time over one pass, so a regression names
//! the exercise.
//!
//! `cargo bench --bench learn_grade`

use std::hint::black_box;
use std::time::{Duration, Instant};

use burnwatch_learn::model::Answer;
use burnwatch_learn::{Curriculum, grade};
use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let cur = Curriculum::builtin();
    let all = cur.exercises();
    let answers: Vec<String> = all.iter().map(grade::reveal).collect();
    // Warm the data-set cache as the view does when an exercise opens.
    for (e, a) in all.iter().zip(&answers) {
        assert!(grade::check(e, a).correct, "{}: the reference fails", e.id);
    }
    let mut slowest = all
        .iter()
        .zip(&answers)
        .map(|(e, a)| {
            let t = Instant::now();
            black_box(grade::check(e, a));
            (t.elapsed(), e.id.as_str())
        })
        .collect::<Vec<_>>();
    slowest.sort();
    let (t, id) = slowest.last().copied().unwrap_or((Duration::ZERO, ""));
    println!(
        "slowest exercise over one pass: {id} in {:.2} ms (goal 50 ms)",
        t.as_secs_f64() * 1e3
    );

    let mut group = c.benchmark_group("learn_grade");
    let promql: Vec<usize> = (0..all.len())
        .filter(|&i| matches!(all[i].answer, Answer::Promql(_)))
        .collect();
    group.bench_function("promql_check_per_exercise", |b| {
        let mut k = 0;
        b.iter(|| {
            let i = promql[k % promql.len()];
            k += 1;
            black_box(grade::check(&all[i], &answers[i]))
        })
    });
    group.bench_function("promql_wrong_answer_with_feedback", |b| {
        let i = promql[0];
        b.iter(|| black_box(grade::check(&all[i], "sum(rate(http_requests_total[5m])) * 60")))
    });
    group.bench_function("promql_preview", |b| {
        let i = promql[0];
        b.iter(|| black_box(grade::preview(&all[i], &answers[i])))
    });
    for kind in ["number", "choice", "config"] {
        let picked: Vec<usize> = (0..all.len()).filter(|&i| all[i].answer.kind() == kind).collect();
        if picked.is_empty() {
            continue;
        }
        group.bench_function(format!("{kind}_check_per_exercise"), |b| {
            let mut k = 0;
            b.iter(|| {
                let i = picked[k % picked.len()];
                k += 1;
                black_box(grade::check(&all[i], &answers[i]))
            })
        });
    }
    group.sample_size(10);
    group.bench_function("hostile_subquery_is_bounded", |b| {
        let i = promql[0];
        b.iter(|| {
            black_box(grade::check(
                &all[i],
                "count_over_time(http_requests_total[100y:1ms])",
            ))
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
