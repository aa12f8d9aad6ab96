//! # annal-model
//!
//! The audit event record of annal and everything that decides what a valid event is:
//! the field table, validation from JSON (every problem named by its field), the event-code
//! catalogs that fill `event_type`/`event_group` from `event_code`, RFC 3339 time, and the
//! canonical record bytes that the log frames and the Merkle tree hashes.
//!
//! Scope: pure data and pure functions; no I/O but reading a catalog file.
//!
//! ```
//! use annal_model::{Catalogs, Event, IngestContext, TextField, Timestamp};
//! let catalogs = Catalogs::builtin();
//! let ctx = IngestContext::live(&catalogs);
//! let e = Event::from_json(br#"{"event_code":202,"actor_id":"alice"}"#, &ctx).unwrap();
//! assert_eq!(e.text(TextField::EventType), Some("LoginFailed"));
//! ```

mod catalog;
mod event;
mod field;
mod record;
mod time;

pub use catalog::{
    Catalog, CatalogEntry, CatalogError, Catalogs, ANNAL_CATALOG, CATALOG_BYTES_MAX,
    DEFAULT_CATALOG,
};
pub use event::{
    write_decimal, Event, FieldProblem, IngestContext, InvalidEvent, ProblemKind,
    CREATED_AHEAD_MAX_NANOS, ID_BYTES_MAX, MADE_ID_PREFIX, PAYLOAD_BYTES_MAX, TEXT_BYTES_MAX,
};
pub use field::{Field, IntField, TextField, ValueKind, FILTERABLE, JSON_ORDER};
pub use record::{
    check_record_limits, decode_record, encode_record, get_varint, put_bytes, put_varint, unzigzag,
    zigzag, RecordError, RECORD_BYTES_MAX, RECORD_FIXED_BYTES,
};
pub use time::{
    civil_from_days, TimeError, Timestamp, NANOS_PER_DAY, TIMESTAMP_MAX, TIMESTAMP_MIN,
};
