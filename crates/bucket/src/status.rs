//! The uploader's state, kept in memory and in the data directory for `annal stats`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{local, BucketError, Result};
use crate::layout::STATUS_FILE;

/// What the uploader has done and what it still owes the bucket.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncStatus {
    /// The prefix, `s3://BUCKET/PREFIX`.
    pub url: String,
    /// Where requests go.
    pub endpoint: String,
    /// Newest manifest generation this writer committed or read.
    pub generation: u64,
    /// Acknowledged events the bucket holds.
    pub bucket_events: u64,
    /// Acknowledged events on the local disk at the last round.
    pub local_events: u64,
    /// Local bytes not yet in the bucket.
    pub queued_bytes: u64,
    /// Base seq of the oldest sealed segment not yet uploaded.
    pub oldest_unuploaded_seal: Option<u64>,
    /// Objects uploaded and checked since the process started.
    pub uploaded_objects: u64,
    /// Their bytes.
    pub uploaded_bytes: u64,
    /// When a round last succeeded (ms since the Unix epoch).
    pub last_ok_ms: Option<u64>,
    /// The last round's error, cleared by a round that succeeds.
    pub last_error: Option<String>,
    /// When it happened.
    pub last_error_ms: Option<u64>,
    /// Rounds that failed since the process started.
    #[serde(default)]
    pub failed_rounds: u64,
    /// Sealed segments that live only in the bucket (`local_bytes_max`).
    pub evicted_segments: u64,
    /// True when another writer holds the prefix: this one stopped uploading.
    pub fenced: bool,
    /// When this status was written.
    pub updated_ms: u64,
}

impl SyncStatus {
    /// Acknowledged events the bucket does not hold yet (as of the last round).
    pub fn lag_events(&self) -> u64 {
        self.local_events.saturating_sub(self.bucket_events)
    }

    /// When a round last succeeded.
    pub fn last_ok_at(&self) -> Option<std::time::SystemTime> {
        self.last_ok_ms
            .map(|ms| std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms))
    }
}

/// Writes `status` to the data directory (a temporary file renamed over the old one; not
/// synced: it is a report, rewritten every round).
pub fn write_status(dir: &Path, status: &SyncStatus) -> Result<()> {
    let path = dir.join(STATUS_FILE);
    let tmp = dir.join(format!("{STATUS_FILE}.tmp"));
    let json = serde_json::to_vec_pretty(status).map_err(|e| BucketError::Config(e.to_string()))?;
    std::fs::write(&tmp, json).map_err(local("write", &tmp))?;
    std::fs::rename(&tmp, &path).map_err(local("rename", &path))
}

/// The status the uploader of `dir` last wrote, if any.
pub fn read_status(dir: &Path) -> Result<Option<SyncStatus>> {
    let path = dir.join(STATUS_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| BucketError::Config(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(local("read", &path)(e)),
    }
}
