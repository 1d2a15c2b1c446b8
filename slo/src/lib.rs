//! burnwatch's computing half: the time-series store ([`tsdb`]) and the PromQL engine ([`promql`]).
//!
//! ```
//! use burnwatch_slo::promql::{Engine, Value};
//! use burnwatch_slo::tsdb::{Labels, Storage};
//!
//! let mut store = Storage::new();
//! let up = Labels::from_pairs([("__name__", "up"), ("job", "api")]);
//! store.append(&up, 0, 1.0).unwrap();
//! let res = Engine::default().instant_query(&store, "sum(up)", 60_000).unwrap();
//! assert!(matches!(res.value, Value::Vector(v) if v[0].v == 1.0));
//! ```

pub mod alert;
pub mod api;
pub mod collector_view;
pub mod discovery;
pub mod dora;
pub mod duration;
pub mod forward;
pub mod ingest;
pub mod notifier;
pub mod promconfig;
pub mod promql;
pub mod relabel;
pub mod rules;
pub mod shared;
pub mod slo;
pub mod spanmetrics;
mod tls;
pub mod tsdb;
