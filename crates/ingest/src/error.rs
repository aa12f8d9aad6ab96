use annal_model::InvalidEvent;
use annal_storage::StorageError;

use crate::LINE_BYTES_MAX;

/// Why an ingest stopped. Whatever the error, the appends already submitted were waited for
/// first, so the store's length afterwards is exactly what was stored.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// A line is not a valid event. Nothing of its batch was stored; every batch before it was.
    // Not a `#[source]`: the line and its problems are one message, printed once.
    #[error("line {line}: {error}")]
    BadLine {
        /// The line's number, from 1.
        line: u64,
        /// Every problem found in it.
        error: InvalidEvent,
    },
    /// A line re-sends the id of a stored event with other content (an idempotency key reused
    /// for another event). Nothing of its batch was stored; every batch before it was, and
    /// the batches already queued after it (at most [`crate::APPENDS_IN_FLIGHT_MAX`]) may
    /// have been: the store decides a conflict only when it takes the batch.
    #[error("line {line}: id {id:?} is already stored at seq {seq} with other content")]
    IdConflict {
        /// The line's number, from 1.
        line: u64,
        /// The id.
        id: Box<str>,
        /// Seq of the stored event with this id.
        seq: u64,
    },
    /// A line repeats the id of an earlier line of its batch with other content. What was
    /// stored is as for [`IngestError::IdConflict`].
    #[error("line {line}: id {id:?} of line {first} is repeated with other content")]
    IdRepeated {
        /// The line's number, from 1.
        line: u64,
        /// The earlier line with this id.
        first: u64,
        /// The id.
        id: Box<str>,
    },
    /// A line is longer than [`LINE_BYTES_MAX`].
    #[error("line {line}: longer than {LINE_BYTES_MAX} bytes")]
    LineTooLong {
        /// The line's number, from 1.
        line: u64,
    },
    /// The input could not be read.
    #[error("read input")]
    Read(#[source] std::io::Error),
    /// The store failed or refused an append.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The reader thread panicked.
    #[error("the input reader panicked")]
    ReaderPanicked,
}

/// The result of an ingest.
pub type Result<T> = std::result::Result<T, IngestError>;
