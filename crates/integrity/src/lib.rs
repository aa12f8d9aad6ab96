//! annal's tamper evidence: signed checkpoints (C2SP signed notes, Ed25519) and, below, RFC 9162 (RFC 6962bis) Merkle inclusion and
//! consistency proofs over the tree whose leaves are the trail's records in `seq` order, and
//! their verification, written from the RFC's definitions:
//!
//! - `PATH(m, D[n])` (§2.1.3.1) and its verifier (§2.1.3.2);
//! - `PROOF(m, D[n])` via `SUBPROOF` (§2.1.4.1) and its verifier (§2.1.4.2).
//!
//! Proofs are built from a [`Subtrees`] source: anything that can give the hash of the
//! subtree over leaves `start..start + len` (a power-of-two-aligned range, or the last,
//! ragged one). Where those hashes come from (stored per block and per segment, or computed
//! from leaves) is the source's business, so the proof logic is written once.
//!
//! Around them: the notary that signs checkpoints of a store and keeps them in the checkpoint
//! log, the key policy of a data directory ([`signing_key`]: the configured key file, else
//! `checkpoint.key`, made at first use), the auditor's check ([`audit`]) with the shapes its
//! report is printed in ([`AuditReport::to_json`], [`AuditReport::text`]), and proof bundles
//! checked offline ([`verify_bundle`]).

mod audit;
mod bundle;
mod checkpoint;
mod error;
mod framed;
pub mod json;
mod kept;
mod lifecycle;
mod log;
mod notary;
mod proof;
mod prune;
mod report;
mod tiles;
mod tlog;

pub use proof::{
    consistency_proof, inclusion_proof, root_from_inclusion, verify_consistency, verify_inclusion,
    LeafHashes, Subtrees,
};

pub use error::{IntegrityError, Result};

pub use audit::{audit, audit_snapshot, AuditOptions, AuditReport, Tally};
pub use bundle::{
    verify_bundle, BundleReport, BundleWriter, Manifest, BUNDLE_FORMAT, BUNDLE_VERSION,
};
pub use checkpoint::{Checkpoint, NoteSigner, NoteVerifier, NOTE_BYTES_MAX};
pub use kept::{nodes_to_keep, plan_kept, Kept, KeptTree};
pub use lifecycle::{
    lifecycle_whole_bytes, parse_lifecycle, read_lifecycle, HoldRecord, KeptPart, LifecycleLog,
    LifecycleRecord, PruneRecord, ReleaseRecord, StoredRecord, LIFECYCLE_LOG_FILE,
    LIFECYCLE_RECORD_BYTES_MAX, PRUNE_ROOTS_MAX,
};
pub use log::{parse_log, read_log, CheckpointLog, LogContents, StoredNote, CHECKPOINT_LOG_FILE};
pub use notary::{
    checkpoint_origin, key_name, load_or_create_key, newest_checkpoint, signing_key,
    store_consistency, store_inclusion, write_private_key, InclusionProof, MadeKey, Notary, Signed,
    SigningKey, DATA_KEY_FILE, DATA_PUBLIC_KEY_FILE,
};
pub use prune::{finish_pending_prune, prune_store, PruneBy, Pruned};
pub use report::AuditRun;
pub use tiles::{encode_tiles, parse_tiles, StoreTree, Tiles, TreeHashes, TILES_FILE, TILE_LEAVES};
pub use tlog::{
    min_index, parse_tile_path, read_tile, tile_path, TileError, TileKind, TileRef,
    ENTRY_BYTES_MAX, TILE_LEVEL_MAX, TILE_WIDTH,
};

pub use annal_storage::merkle::{empty_root, leaf_hash, node_hash, Hash};
