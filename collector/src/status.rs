//! SHIM: replaced by the receiver work.
