//! annal's trail in an S3-compatible bucket (or GCS, Azure: anything `object_store` reaches).
//!
//! The process that owns a data directory uploads every sealed segment, its index file, the
//! tile roots and the checkpoint log, and ships the acknowledged tail of the write-ahead log
//! as immutable parts every `ship_interval_ms` ([`Shipper`], run in the background by
//! [`ShipperThread`]). Each round ends with a new manifest generation, written with a
//! conditional create: the manifest says what the bucket holds, and the create fences a
//! second writer. [`restore`] rebuilds a data directory from the newest manifest, checking
//! every object and then the Merkle roots against the signed checkpoints.
//!
//! A read replica follows the prefix: [`Follower`] appends to a local store, in seq order,
//! the events the newest manifest holds past the store's end, checking that each gets the
//! primary's seq; [`FollowerThread`] runs it in the background every poll interval.
//!
//! The bucket layout and the manifest are in docs/format.md "Bucket layout".

mod config;
mod error;
#[cfg(feature = "fault-injection")]
mod faulty;
mod follow;
mod follow_thread;
mod layout;
mod manifest;
mod poll;
mod remote;
mod restore;
mod ship;
mod static_log;
mod status;
mod thread;
mod tiered;

pub use config::{AckMode, BucketConfig, SHIP_INTERVAL_MS_DEFAULT};
pub use error::{BucketError, Result};
#[cfg(feature = "fault-injection")]
pub use faulty::{Fault, FaultyObjectStore, Request, RequestOp, REQUESTS_TRACED_MAX};
pub use follow::{
    Followed, Follower, DOWNLOAD_FILE, FOLLOW_APPEND_BYTES_MAX, FOLLOW_APPEND_EVENTS_MAX,
    TAIL_CACHE_BYTES_MAX,
};
pub use follow_thread::{FollowStatus, FollowerThread};
pub use layout::{STATUS_FILE, WRITER_FILE};
pub use manifest::{
    Manifest, ObjectRef, SealedEntry, TailEntry, TailPart, MANIFEST_FORMAT, MANIFEST_VERSION,
};
pub use poll::BACKOFF_MAX;
pub use remote::{sha256_hex, Remote, UPLOAD_CHUNK_BYTES};
pub use restore::{restore, Restored};
pub use ship::{writer_id, Claim, Shipped, Shipper, MANIFESTS_KEPT};
pub use static_log::{tile_key, StaticLog, CHECKPOINT_KEY, STATIC_OBJECTS_PER_ROUND_MAX};
pub use status::{read_status, SyncStatus};
pub use thread::{Eviction, ShipperThread, SnapshotSource, Waker};
pub use tiered::{
    local_sealed_bytes, TieredFs, CACHE_CHUNKS_MAX, CACHE_DIR, CHUNK_BYTES, EVICTED_FILE,
};
