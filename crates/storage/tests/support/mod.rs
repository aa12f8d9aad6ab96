//! Helpers shared by the storage engine's integration tests.
#![allow(dead_code, unused_imports)] // each test binary uses its own subset

use annal_model::Event;
use annal_storage::Store;

pub use annal_storage::{env_u64, seeded};

/// Every event of the trail in seq order, in one pass (each sealed block decoded once).
pub fn all_events(store: &Store) -> annal_storage::Result<Vec<Event>> {
    let mut out = Vec::new();
    store.snapshot().scan(0, u64::MAX, |_, e| {
        out.push(e);
        true
    })?;
    Ok(out)
}
