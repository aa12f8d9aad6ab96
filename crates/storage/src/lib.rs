//! # annal-storage
//!
//! annal's storage engine: an append-only trail of audit events in a directory of segment
//! files.
//!
//! - **Active segment** (`{base seq:020}.wal`): a write-ahead log of group-commit batches,
//!   each framed with length, CRC32, first seq, count and min/max event time. One writer
//!   thread drains every waiting append into one write and one `fdatasync`, then acknowledges.
//! - **Roll** at a size cap or when events of a new UTC day arrive; **seal** the rolled file
//!   into `{base:020}.seg`: zstd-compressed column blocks, block table, id table, Merkle
//!   frontier, footer with tree size and root; published by tmp → fsync → rename → fsync dir
//!   and read through a memory map.
//! - **Recovery** on open truncates a torn tail of the active segment (never acknowledged
//!   data) and refuses, naming file and offset, any other damage.
//! - **Merkle leaves** are RFC 6962: SHA-256(0x00 ‖ canonical record bytes).
//!
//! The fault-injecting file system (`FaultyFs`) that the crash, power-loss and fault tests
//! use, and their replayable randomness (`XorShift64`, `seeded`, `env_u64`), are compiled only
//! with the `fault-injection` feature.
//!
//! Limits are named constants ([`APPEND_EVENTS_MAX`], [`GROUP_BYTES_MAX`], [`SEAL_QUEUE_MAX`],
//! …). On-disk formats are specified byte by byte in `docs/format.md`.
//!
//! ```
//! use annal_model::{Event, TextField, Timestamp};
//! use annal_storage::{Options, Store};
//! let dir = tempfile::tempdir().unwrap();
//! let store = Store::open(dir.path(), Options::default()).unwrap();
//! let mut e = Event::new(Timestamp::now(), Timestamp::now());
//! e.set_text(TextField::EventType, Some("LoginFailed".into()));
//! let acks = store.append(&[e.clone()]).unwrap();
//! assert_eq!(acks[0].seq, 0);
//! assert_eq!(store.snapshot().get(0).unwrap(), e);
//! ```

mod columns;
mod error;
pub mod merkle;
#[cfg(any(test, feature = "fault-injection"))]
mod rng;
mod sealed;
mod store;
mod telemetry;
mod verify;
mod vfs;
pub mod wal;

pub use columns::{decode_block, encode_block, BlockView, ColumnError, BLOCK_EVENTS_MAX};
pub use error::{Result, StorageError};
#[cfg(feature = "fault-injection")]
pub use rng::{env_u64, seeded, XorShift64};
pub use sealed::{id_hash, BlockMeta, SealOptions, SealedRef, SealedSegment};
pub use store::{
    Appended, Counters, Durability, Options, PendingAppend, SegmentInfo, SegmentKind, Snapshot,
    Store, Telemetry, TrailStart, WalTail, APPEND_EVENTS_MAX, GROUP_BYTES_MAX,
    QUEUE_REQUESTS_DEFAULT, SEAL_QUEUE_MAX, SEGMENT_BYTES_DEFAULT, SEGMENT_BYTES_MAX,
    SEGMENT_BYTES_MIN, TRAIL_START_FILE,
};
pub use telemetry::{AtomicHistogram, HistogramSnapshot, GROUP_EVENTS_BOUNDS, SYNC_NANOS_BOUNDS};
pub use verify::{
    inspect_dir, verify_dir, verify_dir_with, verify_snapshot, Problem, VerifyOptions, VerifyReport,
};
#[cfg(feature = "fault-injection")]
pub use vfs::{FaultOp, FaultyFs, Step, StepFault, STEPS_TRACED_MAX};
pub use vfs::{OsFs, VFile, Vfs};
