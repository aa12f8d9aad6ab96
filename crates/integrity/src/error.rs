//! The one error type of annal-integrity: proofs, checkpoints and keys, the checkpoint log,
//! proof bundles and the notary all fail with an [`IntegrityError`], so a caller matches one
//! enum whatever part of the tamper evidence it used.

use std::path::{Path, PathBuf};

use annal_storage::StorageError;

/// Why an integrity operation failed.
#[derive(Debug, thiserror::Error)]
pub enum IntegrityError {
    /// The leaf is not in a tree of that size.
    #[error("leaf {index} is not in a tree of {size} leaves")]
    LeafOutOfRange {
        /// Leaf index asked for.
        index: u64,
        /// Tree size asked for.
        size: u64,
    },
    /// A consistency proof needs 0 < first ≤ second.
    #[error("no consistency proof from size {first} to size {second}: need 0 < first ≤ second")]
    BadSizes {
        /// The older size.
        first: u64,
        /// The newer size.
        second: u64,
    },
    /// A tree size the trail cannot give.
    #[error("tree size {size} is not in 1..={end}: the trail holds {end} events")]
    SizeOutOfRange {
        /// Size asked for.
        size: u64,
        /// Events in the trail.
        end: u64,
    },
    /// The source of subtree hashes failed (a segment unreadable, say).
    #[error("{0}")]
    Source(String),
    /// The event was pruned: it can no longer be proved.
    #[error("event {seq} was pruned (the trail starts at seq {start}): its inclusion can no longer be proved, though every checkpoint that covered it still verifies")]
    Pruned {
        /// The seq asked for.
        seq: u64,
        /// The first seq the trail holds.
        start: u64,
    },
    /// A subtree over pruned events whose hashes were not kept.
    #[error("seqs {from}..{to} were pruned and the tree kept no hash over exactly them")]
    PrunedHashes {
        /// First seq of the subtree.
        from: u64,
        /// One past its last.
        to: u64,
    },
    /// The text is not a signed note of a checkpoint.
    #[error("not a checkpoint note: {0}")]
    Malformed(String),
    /// No signature by the given key verifies.
    #[error("no valid signature by key {0:?}")]
    NotSigned(String),
    /// A key is malformed.
    #[error("bad key: {0}")]
    BadKey(String),
    /// Proof JSON that does not decode.
    #[error("bad proof JSON: {0}")]
    ProofJson(String),
    /// An I/O call on a file failed: what was done, to which file, and the OS error.
    #[error("{op} {path}: {source}")]
    File {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The checkpoint log is damaged before its last frame, or is not a checkpoint log.
    #[error("{path} offset {offset}: {msg}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Where.
        offset: u64,
        /// What is wrong.
        msg: String,
    },
    /// A proof bundle is not one (missing or unreadable parts).
    #[error("{path}: {msg}")]
    BundleInvalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// The store does not extend what was signed before: it was truncated or altered.
    #[error("the store disagrees with a checkpoint it signed: {0}")]
    Disagrees(String),
    /// The data directory's store could not be opened.
    #[error("opening {dir}")]
    Open {
        /// The data directory.
        dir: PathBuf,
        /// Why.
        source: StorageError,
    },
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// There is nothing to sign: the trail holds no events.
    #[error("the trail is empty: nothing to checkpoint")]
    EmptyTrail,
    /// Another process holds the store and has signed nothing yet.
    #[error("{dir} is in use and has signed no checkpoint yet")]
    NothingSigned {
        /// The data directory.
        dir: PathBuf,
    },
    /// The directory's checkpoints were signed with a key whose private half is not here (a
    /// directory restored from a bucket): a new key would sign checkpoints auditors reject.
    #[error("{public} names the key this trail is signed with, but its private key is not in the data directory (a restored directory?); configure signing_key with that key's file rather than making a new one")]
    PrivateKeyMissing {
        /// The public key file found.
        public: PathBuf,
    },
}

/// The result of an integrity operation.
pub type Result<T, E = IntegrityError> = std::result::Result<T, E>;

/// The error of an I/O call `op` on `path`, for `map_err`.
pub(crate) fn io<'p>(
    op: &'static str,
    path: &'p Path,
) -> impl FnOnce(std::io::Error) -> IntegrityError + 'p {
    move |source| IntegrityError::File {
        op,
        path: path.to_path_buf(),
        source,
    }
}
