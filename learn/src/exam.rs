//! The mock exam: a seeded draw of exercises across every topic, scored by topic.
//!
//! A draw is deterministic for a seed (splitmix64, so the same seed gives the same exam on
//! every machine and release of the curriculum's order): one exercise of each topic first,
//! so every topic is scored, then the rest at random from what is left, in shuffled order.
//! The time limit is the caller's (`burnwatch learn exam --minutes`, the practice view):
//! an answer left empty counts as unanswered.

use serde::Serialize;

use crate::grade::{self, Verdict};
use crate::model::{Curriculum, Exercise, Topic};

/// One question of an exam.
#[derive(Clone, Debug, PartialEq)]
pub struct Question {
    /// The exercise's number in the curriculum.
    pub number: usize,
    /// The exercise.
    pub exercise: Exercise,
}

/// A drawn exam.
#[derive(Clone, Debug, PartialEq)]
pub struct Exam {
    /// The seed it was drawn with.
    pub seed: u64,
    /// The questions, in the order asked.
    pub questions: Vec<Question>,
}

/// One question's outcome.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ItemResult {
    /// The exercise's number in the curriculum.
    pub number: usize,
    /// The exercise's id.
    pub id: String,
    /// Its topic.
    pub topic: Topic,
    /// Whether an answer was given.
    pub answered: bool,
    /// The grader's verdict, with the reference answer revealed.
    pub verdict: Verdict,
}

/// A topic's score.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TopicScore {
    /// The topic.
    pub topic: Topic,
    /// Right answers.
    pub correct: usize,
    /// Questions of the topic.
    pub total: usize,
}

/// The outcome of an exam.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExamResult {
    /// Right answers.
    pub correct: usize,
    /// Questions.
    pub total: usize,
    /// The score by topic, in curriculum order (topics without questions left out).
    pub by_topic: Vec<TopicScore>,
    /// Every question's outcome, in the order asked.
    pub items: Vec<ItemResult>,
}

impl ExamResult {
    /// The share of right answers, 0..=1 (0 for an empty exam).
    pub fn score(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.correct as f64 / self.total as f64
        }
    }
}

/// splitmix64: a small, well-mixed generator whose sequence is fixed by its seed.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform index below `n` (> 0), by rejection so no index is favoured.
    fn below(&mut self, n: usize) -> usize {
        let n = n as u64;
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let v = self.next();
            if v < zone {
                return (v % n) as usize;
            }
        }
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

impl Exam {
    /// Draws `count` exercises (at most the curriculum's size) with `seed`: one of each topic
    /// first (when `count` allows), then at random.
    pub fn draw(curriculum: &Curriculum, seed: u64, count: usize) -> Exam {
        let mut rng = SplitMix(seed);
        let all = curriculum.exercises();
        let count = count.min(all.len());
        let mut left: Vec<usize> = (1..=all.len()).collect();
        let mut picked: Vec<usize> = Vec::with_capacity(count);
        for topic in Topic::ALL {
            if picked.len() == count {
                break;
            }
            let of_topic: Vec<usize> = left
                .iter()
                .copied()
                .filter(|n| all[n - 1].topic == topic)
                .collect();
            if of_topic.is_empty() {
                continue;
            }
            let n = of_topic[rng.below(of_topic.len())];
            left.retain(|x| *x != n);
            picked.push(n);
        }
        while picked.len() < count {
            let i = rng.below(left.len());
            picked.push(left.swap_remove(i));
        }
        rng.shuffle(&mut picked);
        Exam {
            seed,
            questions: picked
                .into_iter()
                .map(|number| Question {
                    number,
                    exercise: all[number - 1].clone(),
                })
                .collect(),
        }
    }

    /// Grades `answers` (one per question, in order; missing or blank ones are unanswered).
    pub fn score(&self, answers: &[String]) -> ExamResult {
        let mut items = Vec::with_capacity(self.questions.len());
        for (i, q) in self.questions.iter().enumerate() {
            let answer = answers.get(i).map(String::as_str).unwrap_or("");
            let answered = !answer.trim().is_empty();
            let verdict = if answered {
                grade::check(&q.exercise, answer)
            } else {
                Verdict {
                    correct: false,
                    feedback: vec!["not answered".to_string()],
                    expected: None,
                }
            };
            items.push(ItemResult {
                number: q.number,
                id: q.exercise.id.clone(),
                topic: q.exercise.topic,
                answered,
                verdict: verdict.revealing(&q.exercise),
            });
        }
        let by_topic = Topic::ALL
            .iter()
            .filter_map(|&topic| {
                let of: Vec<&ItemResult> = items.iter().filter(|r| r.topic == topic).collect();
                (!of.is_empty()).then(|| TopicScore {
                    topic,
                    correct: of.iter().filter(|r| r.verdict.correct).count(),
                    total: of.len(),
                })
            })
            .collect();
        ExamResult {
            correct: items.iter().filter(|r| r.verdict.correct).count(),
            total: items.len(),
            by_topic,
            items,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_seeded_and_cover_every_topic() {
        let c = Curriculum::builtin();
        let a = Exam::draw(c, 42, 4);
        assert_eq!(a, Exam::draw(c, 42, 4), "the same seed draws the same exam");
        let topics: std::collections::BTreeSet<Topic> =
            a.questions.iter().map(|q| q.exercise.topic).collect();
        assert_eq!(topics.len(), 4, "one of each topic: {topics:?}");
        let numbers: std::collections::BTreeSet<usize> = a.questions.iter().map(|q| q.number).collect();
        assert_eq!(numbers.len(), a.questions.len(), "no exercise twice");
        let all = Exam::draw(c, 7, 10_000);
        assert_eq!(all.questions.len(), c.exercises().len());
        let seeds: std::collections::BTreeSet<Vec<usize>> = (0..20)
            .map(|s| Exam::draw(c, s, 4).questions.iter().map(|q| q.number).collect())
            .collect();
        assert!(seeds.len() > 1, "different seeds draw different exams");
    }

    #[test]
    fn scores_by_topic_with_the_answers_revealed() {
        let c = Curriculum::builtin();
        let exam = Exam::draw(c, 1, 4);
        let mut answers: Vec<String> = exam
            .questions
            .iter()
            .map(|q| grade::reveal(&q.exercise))
            .collect();
        let wrong = exam
            .questions
            .iter()
            .position(|q| q.exercise.topic == Topic::Slo)
            .unwrap();
        answers[wrong] = "1 second".into();
        answers.pop();
        let last_topic = exam.questions.last().unwrap().exercise.topic;
        let r = exam.score(&answers);
        assert_eq!(r.total, 4);
        let expected_correct = if last_topic == Topic::Slo { 3 } else { 2 };
        assert_eq!(r.correct, expected_correct, "{r:#?}");
        let slo = r.by_topic.iter().find(|t| t.topic == Topic::Slo).unwrap();
        assert_eq!((slo.correct, slo.total), (0, 1));
        let unanswered = r.items.last().unwrap();
        assert!(!unanswered.answered && !unanswered.verdict.correct);
        assert!(r.items.iter().all(|i| i.verdict.expected.is_some()));
    }
}
