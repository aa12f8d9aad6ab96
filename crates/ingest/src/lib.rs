//! # annal-ingest
//!
//! NDJSON in, durable events out: the ingest pipeline behind `annal ingest`, `annal demo` and
//! the benchmarks, written once so that the HTTP server can share it.
//!
//! A reader thread cuts the input into batches of lines, parser threads validate the batches
//! in parallel against the catalogs, and the calling thread appends them to the [`Store`] in
//! input order, so seq order is line order. A batch whose events cross into a new UTC day is
//! appended in one piece per day, so segments roll exactly at day boundaries. A few appends
//! stay in flight at once, which lets group commit cover several batches with one
//! `fdatasync` while parsing goes on.
//!
//! A bad line rejects its whole batch ([`IngestError::BadLine`], naming the line and every
//! problem): nothing of that batch is stored, every batch before it is. On any error the
//! appends in flight are waited for before returning, so the store's length afterwards says
//! exactly what was stored.
//!
//! Limits, all fixed: [`LINE_BYTES_MAX`] per line, [`BATCH_LINES_MAX`] lines per batch,
//! [`READ_AHEAD_BATCHES`] batches read ahead of the parsers, [`APPENDS_IN_FLIGHT_MAX`]
//! appends waiting for the disk, at most [`PARSER_THREADS_MAX`] parsers (one per core). Memory
//! is bounded by those, not by the input's size.
//!
//! ```
//! use annal_ingest::{ingest, IngestError, BATCH_LINES_DEFAULT};
//! use annal_model::Catalogs;
//! use annal_storage::{Options, Store};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = Store::open(dir.path(), Options::default()).unwrap();
//! let catalogs = Catalogs::builtin();
//! let good: &[u8] = b"{\"event_code\":202,\"source\":\"file-transfer\",\"actor_id\":\"ava\"}\n\n";
//! let done = ingest(&store, good, &catalogs, BATCH_LINES_DEFAULT, &|_bytes| {}).unwrap();
//! assert_eq!((done.stored, done.duplicates), (1, 0));
//!
//! let bad: &[u8] = b"{\"event_type\":\"LoginFailed\"}\n{\"user_id\":\"x\"}\n";
//! match ingest(&store, bad, &catalogs, BATCH_LINES_DEFAULT, &|_| {}) {
//!     Err(IngestError::BadLine { line, .. }) => assert_eq!(line, 2),
//!     other => panic!("{other:?}"),
//! }
//! assert_eq!(store.len(), 1, "nothing of the bad line's batch was stored");
//! store.close().unwrap();
//! ```

mod error;
mod pipeline;

use std::io::Read;

use annal_model::Catalogs;
use annal_storage::Store;

pub use error::{IngestError, Result};

/// Longest input line accepted, in bytes (a 64 KiB payload plus every other field).
pub const LINE_BYTES_MAX: usize = 256 << 10;
/// Lines per batch when the caller has no reason to choose.
pub const BATCH_LINES_DEFAULT: usize = 4096;
/// Most lines per batch (a larger request is taken as this): bounds a batch's memory.
pub const BATCH_LINES_MAX: usize = 100_000;
/// Batches read ahead of the parsers: bounds memory to a few batches of input.
pub const READ_AHEAD_BATCHES: usize = 4;
/// Appends queued to the store before waiting for the oldest: lets group commit cover
/// several batches with one fdatasync while parsing continues.
pub const APPENDS_IN_FLIGHT_MAX: usize = 4;
/// Most parser threads. One per core keeps the appender fed; more would only hold more
/// parsed batches in memory.
pub const PARSER_THREADS_MAX: usize = 64;

/// What an ingest stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ingested {
    /// Events appended.
    pub stored: u64,
    /// Events whose `id` the store already held (the stored event was kept).
    pub duplicates: u64,
}

/// Appends the NDJSON events of `input` to `store` in input order, `batch_lines` lines per
/// batch (1..=[`BATCH_LINES_MAX`]); blank lines are skipped and a byte order mark at the start
/// is dropped. Codes resolve in `catalogs`. `progress` is called from this thread with the
/// input bytes of each batch once it is durable.
pub fn ingest(
    store: &Store,
    input: impl Read + Send + 'static,
    catalogs: &Catalogs,
    batch_lines: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Ingested> {
    pipeline::run(store, Box::new(input), batch_lines, catalogs, progress)
}

/// [`ingest`] of NDJSON held in memory (generated events, for demos and benchmarks), with the
/// built-in catalogs and batches of [`BATCH_LINES_DEFAULT`] lines.
pub fn ingest_ndjson(store: &Store, ndjson: Vec<u8>) -> Result<Ingested> {
    let catalogs = Catalogs::builtin();
    ingest(
        store,
        std::io::Cursor::new(ndjson),
        &catalogs,
        BATCH_LINES_DEFAULT,
        &|_| {},
    )
}

#[cfg(test)]
mod tests;
