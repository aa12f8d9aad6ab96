//! What can go wrong between a data directory and its bucket.

use std::path::PathBuf;

/// Result of bucket operations.
pub type Result<T, E = BucketError> = std::result::Result<T, E>;

/// Why a bucket operation failed. Every variant names the bucket prefix or object key (and
/// the endpoint, for a request that failed), so an operator knows where to look.
#[derive(Debug, thiserror::Error)]
pub enum BucketError {
    /// The `[object_store]` table is not usable.
    #[error("[object_store]: {0}")]
    Config(String),
    /// A request to the bucket failed (unreachable, refused, throttled, 5xx, 403 …) after
    /// `object_store`'s retries.
    #[error("{op} {key} at {endpoint} failed: {source}")]
    Request {
        /// What was asked.
        op: &'static str,
        /// The object key or prefix.
        key: String,
        /// Where the bucket is.
        endpoint: String,
        /// What the client said (boxed: it is large).
        source: Box<object_store::Error>,
    },
    /// The prefix holds the trail of another writer (another data directory, or this
    /// directory's trail written by another machine after a restore).
    #[error("{prefix} is written by writer {holder}, not by this data directory (writer {ours}); refusing to sync to it. If that writer is gone for good, take the prefix over (`annal sync --take-over`)")]
    Fenced {
        /// The bucket prefix.
        prefix: String,
        /// The writer id in the newest manifest.
        holder: String,
        /// This data directory's writer id.
        ours: String,
    },
    /// The prefix holds a trail that this data directory does not extend.
    #[error("{prefix} holds another trail than {dir}: {detail}; refusing to sync to it")]
    OtherTrail {
        /// The bucket prefix.
        prefix: String,
        /// The data directory.
        dir: PathBuf,
        /// What differs.
        detail: String,
    },
    /// An object is not what the manifest (or the upload) says it is.
    #[error("object {key}: {detail}")]
    Object {
        /// The object key.
        key: String,
        /// What is wrong.
        detail: String,
    },
    /// A manifest cannot be read.
    #[error("manifest {key}: {detail}")]
    Manifest {
        /// The manifest key.
        key: String,
        /// What is wrong.
        detail: String,
    },
    /// The prefix has no manifest: nothing was ever synced there.
    #[error("{prefix} holds no manifest: nothing was synced there")]
    Empty {
        /// The bucket prefix.
        prefix: String,
    },
    /// A local file operation failed.
    #[error("{op} {path}: {source}")]
    Local {
        /// What was done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] annal_storage::StorageError),
    /// A checkpoint log or key could not be read.
    #[error(transparent)]
    Integrity(#[from] annal_integrity::IntegrityError),
    /// A replica's store stopped matching the primary's trail: an append did not give the
    /// primary's seq. The follower stops rather than serve a trail that differs.
    #[error("replica {dir} diverged from the primary at seq {seq}: {detail}; stopped following")]
    Diverged {
        /// The replica's data directory.
        dir: PathBuf,
        /// The first seq that differs.
        seq: u64,
        /// What happened.
        detail: String,
    },
    /// A check of the restored trail failed.
    #[error("restored trail in {dir} does not check: {detail}")]
    Restore {
        /// The restored data directory.
        dir: PathBuf,
        /// What failed.
        detail: String,
    },
}

/// Maps an OS error on `path` to [`BucketError::Local`].
pub(crate) fn local(
    op: &'static str,
    path: &std::path::Path,
) -> impl FnOnce(std::io::Error) -> BucketError {
    let path = path.to_path_buf();
    move |source| BucketError::Local { op, path, source }
}
