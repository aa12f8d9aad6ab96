use annal_integrity::IntegrityError;
use annal_query::{FilterErrors, QueryError};
use annal_storage::StorageError;

/// What went wrong with a retention operation.
#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    /// A request that cannot be done as given (the message names what is wrong).
    #[error("{0}")]
    Invalid(String),
    /// No legal hold has this id.
    #[error("no legal hold {0:?} (see `annal hold list`)")]
    UnknownHold(String),
    /// The hold was released already.
    #[error("legal hold {0:?} was released already")]
    Released(String),
    /// A hold's filter does not parse.
    #[error("the hold's filter: {0}")]
    Filter(#[from] FilterErrors),
    /// The tree or the lifecycle log.
    #[error(transparent)]
    Integrity(#[from] IntegrityError),
    /// The storage engine.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The query engine.
    #[error(transparent)]
    Query(#[from] QueryError),
}

/// A retention result.
pub type Result<T, E = RetentionError> = std::result::Result<T, E>;
