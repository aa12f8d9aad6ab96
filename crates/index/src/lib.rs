//! annal's indexes, per segment: a time index (every record's `created_at` in chunks with
//! their bounds) and roaring bitmaps of record ordinals for each value of the indexed fields,
//! with a summary per segment (time range, value counts) that lets queries skip it unread.
//!
//! Indexes are derived data. Sealed segments have theirs in `index/{base:020}.idx`, rebuilt
//! from the segment when missing, damaged or made for another field list; unsealed segments
//! have theirs in memory, caught up on every [`Indexer::view`]. Format: docs/format.md.

mod error;
mod file;
mod indexer;
mod key;
mod mem;
mod segment;
mod times;
mod values;

pub use error::{IndexError, Result};
pub use file::{
    encode_index, Expected, FieldSummary, IndexFile, Summary, INDEX_MAGIC, INDEX_VERSION,
    SUMMARY_VALUES_MAX,
};
pub use indexer::{
    build_from_sealed, index_file, index_file_name, IndexOptions, IndexView, IndexedSegment,
    Indexer, DEFAULT_FIELDS, INDEX_DIR,
};
pub use key::{event_key, indexable, int_key, key_to_int, key_to_string, text_key, Key};
pub use mem::MemIndex;
pub use roaring::RoaringBitmap;
pub use segment::SegmentIndex;
pub use times::{BucketRuns, TIME_CHUNK_RECORDS};
pub use values::{INLINE_POSTINGS_MAX, VALUE_BLOCK_VALUES};
