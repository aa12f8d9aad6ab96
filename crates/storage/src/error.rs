//! The one error type of annal-storage.

use std::path::PathBuf;

/// Result with [`StorageError`].
pub type Result<T> = std::result::Result<T, StorageError>;

/// Everything that can go wrong in the storage engine.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// An operating-system call on a file failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done (`write`, `fdatasync`, `rename` …).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Stored bytes fail a check: a checksum, a magic number, a bound, a sequence.
    #[error("corrupt data in {path} at offset {offset}: {msg}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Byte offset of the damaged structure.
        offset: u64,
        /// What check failed.
        msg: String,
    },
    /// The files of the data directory do not form one trail (a gap, an overlap).
    #[error("data directory {dir}: {msg}")]
    Layout {
        /// The data directory.
        dir: PathBuf,
        /// What is inconsistent.
        msg: String,
    },
    /// The file was written by a newer (or unknown) format version.
    #[error(
        "{path}: format version {found} is not supported (this build reads version {supported})"
    )]
    Version {
        /// The file.
        path: PathBuf,
        /// Version in the file.
        found: u16,
        /// Version this build reads.
        supported: u16,
    },
    /// Another process holds the data directory.
    #[error("data directory {0} is in use by another process")]
    Locked(PathBuf),
    /// An fdatasync failed earlier; the log no longer knows what is on disk and accepts no
    /// appends until it is reopened (reopening re-reads and validates the tail).
    #[error(
        "the log stopped accepting appends after a failed sync: {0}; reopen the store to recover"
    )]
    Poisoned(String),
    /// The store was closed.
    #[error("the store is closed")]
    Closed,
    /// A request breaks a documented limit.
    #[error("{0}")]
    Limit(String),
    /// An event given to `append` breaks a limit of the record format.
    #[error("event {index} of the append: {problem}")]
    InvalidEvent {
        /// Position of the event in the append.
        index: usize,
        /// What is wrong, naming the field.
        problem: annal_model::FieldProblem,
    },
    /// An event of the append re-sends the id of a stored event with other content: an
    /// idempotency key reused for another event (`store/idempotency.rs` says what counts as
    /// the same content). Nothing of the append was stored.
    #[error("event {index} of the append: id {id:?} is already stored at seq {seq} with other content; nothing of the append was stored")]
    IdConflict {
        /// Position of the event in the append.
        index: usize,
        /// The id sent again.
        id: Box<str>,
        /// Seq of the stored event with this id.
        seq: u64,
    },
    /// Two events of one append carry the same id with different content. Nothing of the
    /// append was stored.
    #[error("event {index} of the append repeats the id {id:?} of event {first} with other content; nothing of the append was stored")]
    IdRepeated {
        /// Position of the later event in the append.
        index: usize,
        /// Position of the first event with this id.
        first: usize,
        /// The id.
        id: Box<str>,
    },
    /// A write earlier in the same group failed; this append was not attempted.
    #[error("not written: an earlier write in the same group failed ({0}); retry")]
    NotAttempted(String),
    /// A thread could not be started.
    #[error("start {what} thread: {source}")]
    Spawn {
        /// Which thread.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// No event has this seq.
    #[error("no event with seq {0}")]
    NotFound(u64),
    /// The event was pruned: the trail now starts later.
    #[error("event {seq} was pruned: the trail starts at seq {start}")]
    Pruned {
        /// The seq asked for.
        seq: u64,
        /// The first seq the trail still holds.
        start: u64,
    },
}

impl StorageError {
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> StorageError {
        let path = path.into();
        move |source| StorageError::Io { op, path, source }
    }

    pub(crate) fn corrupt(
        path: impl Into<PathBuf>,
        offset: u64,
        msg: impl Into<String>,
    ) -> StorageError {
        StorageError::Corrupt {
            path: path.into(),
            offset,
            msg: msg.into(),
        }
    }
}
