//! The store as the server shares it between ingestion (scrapes, remote write, imports)
//! and queries.

use std::sync::{Arc, RwLock};

use crate::tsdb::Storage;

/// A [`Storage`] shared between tasks: writers take the write lock per batch of samples,
/// queries take the read lock for their evaluation.
pub type SharedStorage = Arc<RwLock<Storage>>;

/// A new, empty shared store.
pub fn new_shared() -> SharedStorage {
    Arc::new(RwLock::new(Storage::new()))
}
