//! burnwatch's burn-rate terminal dashboard (ratatui).
//!
//! The dashboard reads SLO results computed by `burnwatch-slo` and renders them; it is
//! built in the issue that adds `burnwatch up` and `burnwatch tui`. Until then this crate
//! only reserves its place in the workspace, so the layout matches the architecture:
//! receiver → processors → exporter → store → engine → SLO → TUI.
