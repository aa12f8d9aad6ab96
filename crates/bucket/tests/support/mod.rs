//! What the bucket tests share: an in-memory bucket prefix, small segments, generated events,
//! and reading a store back.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use annal_bucket::Remote;
use annal_storage::{Options, SealOptions, Store};
use object_store::memory::InMemory;
use object_store::ObjectStore;

/// A round's time budget large enough that every round uploads all it can.
pub const BUDGET: Duration = Duration::from_secs(60);

/// The prefix the tests write under, and its URL.
pub const PREFIX: &str = "trails/a";
pub const URL: &str = "s3://test/trails/a";

/// The test prefix of an in-memory bucket.
pub fn remote(store: &Arc<InMemory>) -> Remote {
    remote_over(store.clone())
}

/// The test prefix of any object store (a fault injector over the in-memory one).
pub fn remote_over(store: Arc<dyn ObjectStore>) -> Remote {
    Remote::new(store, PREFIX, URL, "memory")
}

/// Segments small enough that a few thousand events roll and seal several times.
pub fn small_segments() -> Options {
    Options {
        segment_bytes_max: 256 << 10,
        seal: SealOptions::default(),
        ..Options::default()
    }
}

/// `n` generated events over three days.
pub fn events(n: u64, seed: u64) -> Vec<annal_model::Event> {
    annal_gen::events(annal_gen::GenConfig {
        count: n,
        seed,
        days: 3,
        ..Default::default()
    })
}

/// Every event of an open store, in seq order.
pub fn scan_all(store: &Store) -> Vec<annal_model::Event> {
    let snap = store.snapshot();
    let mut out = Vec::new();
    snap.scan(0, snap.end(), |_, e| {
        out.push(e);
        true
    })
    .unwrap();
    out
}

/// Every event of the store in `dir`, opened for the purpose.
pub fn all_events(dir: &Path) -> Vec<annal_model::Event> {
    let store = Store::open(dir, Options::default()).unwrap();
    let out = scan_all(&store);
    store.close().unwrap();
    out
}
