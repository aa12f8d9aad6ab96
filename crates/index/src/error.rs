//! Errors of the index layer.

use std::path::{Path, PathBuf};

use annal_storage::StorageError;

/// Why an index operation failed.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// An index file is damaged or belongs elsewhere; it is rebuilt from its segment.
    #[error("index file {path}: {msg}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// The file system refused.
    #[error("cannot {op} {path}: {source}")]
    Io {
        /// What was attempted.
        op: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Reading the segment the index is built from failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A field that cannot be indexed was configured.
    #[error("field {0} cannot be indexed: only text and integer fields can")]
    NotIndexable(String),
}

impl IndexError {
    pub(crate) fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> IndexError {
        let path = path.to_path_buf();
        move |source| IndexError::Io { op, path, source }
    }
}

/// Result of the index layer.
pub type Result<T, E = IndexError> = std::result::Result<T, E>;
