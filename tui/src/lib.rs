//! burnwatch's burn-rate terminal dashboard (ratatui).
//!
//! The dashboard is a pure function of a [`model::Snapshot`] and the [`app::App`] state: the
//! snapshot comes from a [`model::Backend`] (a Prometheus-compatible API through
//! [`fetch::HttpBackend`]), keys change the state, and [`ui::draw`] renders both. [`run`] owns
//! the terminal: raw mode, the event loop, background refreshes, and restoring the terminal
//! however the loop ends.
//!
//! [`learn`] is the practice view (`burnwatch learn`): graded exercises offline, with its own
//! small loop ([`learn::run`]) around the same terminal handling.

pub mod app;
pub mod fetch;
pub mod learn;
pub mod model;
pub mod run;
pub mod ui;
