//! Properties of the grader over the built-in curriculum: no answer makes it panic, and the
//! values it reveals read back as right answers.

use proptest::prelude::*;

use super::*;
use crate::model::{Curriculum, Unit};

/// Text that looks like what people type: PromQL tokens, numbers with units, YAML, noise.
fn answer_text() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("rate(".to_string()),
        Just("sum by (job) (".to_string()),
        Just("http_requests_total".to_string()),
        Just("{code=~\"5..\"}".to_string()),
        Just("[5m]".to_string()),
        Just("[1y:1ms]".to_string()),
        Just(")".to_string()),
        Just(" offset 5m".to_string()),
        Just(" @ 100".to_string()),
        Just(" / ".to_string()),
        Just(" * 60".to_string()),
        Just("%".to_string()),
        Just("min".to_string()),
        Just("receivers:\n  otlp: {}\n".to_string()),
        Just("service: {pipelines: {traces: {}}}\n".to_string()),
        "[0-9.,e+-]{1,8}",
        "\\PC{0,12}",
    ];
    prop::collection::vec(token, 0..8).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// `check` and `preview` answer every input without panicking, and a verdict on a wrong
    /// answer always says something.
    #[test]
    fn no_answer_makes_the_grader_panic(pick in any::<prop::sample::Index>(), text in answer_text()) {
        let all = Curriculum::builtin().exercises();
        let ex = &all[pick.index(all.len())];
        let v = check(ex, &text);
        prop_assert!(v.correct || !v.feedback.is_empty(), "{}: {text:?} wrong without feedback", ex.id);
        let _ = preview(ex, &text);
    }

    /// A value written by `format_value` reads back within the grader's tolerance.
    #[test]
    fn written_values_read_back(v in 1e-6f64..1e9, unit in prop_oneof![Just(Unit::Duration), Just(Unit::Ratio), Just(Unit::Number)]) {
        let text = answer::format_value(v, unit);
        let back = answer::parse(&text, unit).map_err(TestCaseError::fail)?.value;
        prop_assert!(number::close(back, v, 1e-9), "{v} written {text:?} read {back}");
    }
}
