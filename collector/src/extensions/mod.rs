//! Extensions: services beside the pipelines.

pub mod auth;
pub mod health_check;
pub mod htpasswd;
