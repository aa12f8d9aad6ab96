//! Errors of the query layer.

use annal_index::IndexError;
use annal_storage::StorageError;

/// Why a query was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// A filter value does not fit its field.
    #[error("{field}: {value:?} is not a valid value: {msg}")]
    BadValue {
        /// The field.
        field: String,
        /// The value given.
        value: String,
        /// Why it does not fit.
        msg: String,
    },
    /// The field cannot be filtered, grouped or split by.
    #[error("{0} cannot be used here: only text and integer fields can")]
    BadField(String),
    /// No catalog has an event of this name.
    #[error("event type {0:?} is in no catalog (names such as LoginFailed, or codes such as 202)")]
    UnknownEventType(String),
    /// No catalog has this category.
    #[error("category {0:?} is in no catalog")]
    UnknownCategory(String),
    /// The cursor is not one this store issued.
    #[error("cursor is not valid: {0}")]
    BadCursor(&'static str),
    /// The cursor was issued for other filters or another order.
    #[error("cursor was issued for other filters or another order; start again without it")]
    CursorMismatch,
    /// Page size out of range.
    #[error("limit must be between 1 and {max}, got {got}")]
    BadLimit {
        /// Largest allowed.
        max: usize,
        /// Given.
        got: usize,
    },
    /// The time range is empty or reversed.
    #[error("time range is reversed: from is after to")]
    BadRange,
    /// An index failed.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Result of the query layer.
pub type Result<T, E = QueryError> = std::result::Result<T, E>;
