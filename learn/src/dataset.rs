//! A PromQL exercise's data set: its `load` blocks (Prometheus test-script notation) loaded
//! into an in-memory store by slo's own test-script loader, so the notation means exactly
//! what it means in `burnwatch promql test` and in Prometheus's `promqltest`.
//!
//! Loading is deterministic (time 0 is the Unix epoch; no clock, no randomness), and each data
//! set is loaded once per process: checking an answer on every keypress reuses the store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use burnwatch_slo::promql::testscript;
use burnwatch_slo::tsdb::Storage;

use crate::model::Exercise;

/// The store holding `exercise`'s data, loaded on first use and cached by the data's text.
pub fn store(exercise: &Exercise) -> Result<Arc<Storage>, String> {
    let Some(data) = &exercise.data else {
        return Err(format!("exercise {} has no data to evaluate over", exercise.id));
    };
    load_cached(data).map_err(|e| format!("exercise {}: its data does not load: {e}", exercise.id))
}

/// Loads `data` (test-script `load` blocks), once per distinct text per process.
pub fn load_cached(data: &str) -> Result<Arc<Storage>, String> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Storage>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Mutex::default);
    // A poisoned lock only means another thread panicked while holding it; the map is intact.
    if let Some(s) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(data) {
        return Ok(Arc::clone(s));
    }
    let store = Arc::new(testscript::load_script(data)?);
    cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(data.to_string(), Arc::clone(&store));
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burnwatch_slo::promql::{Engine, Value};

    #[test]
    fn loads_the_notation_deterministically_and_once() {
        let data = "load 1m\n  x{a=\"1\"} 0+10x10\n  x{a=\"2\"} 1 _ 3\n";
        let a = load_cached(data).unwrap();
        let b = load_cached(data).unwrap();
        assert!(Arc::ptr_eq(&a, &b), "the second load is the cached store");
        let r = Engine::default()
            .instant_query(&*a, "sum(x)", 5 * 60_000)
            .unwrap();
        // At 5m: x{a="1"} is 50, x{a="2"} last had 3 at 2m (within the 5m lookback).
        assert!(matches!(r.value, Value::Vector(v) if v[0].v == 53.0));
    }

    #[test]
    fn a_bad_line_is_named() {
        let err = load_cached("load 1m\n  x{a=} 1 2\n").unwrap_err();
        assert!(err.contains("line 2"), "{err}");
        let err = load_cached("load 1m\n  x 1\n\neval instant at 0 x\n  x 1\n").unwrap_err();
        assert!(err.contains("only load blocks"), "{err}");
    }
}
