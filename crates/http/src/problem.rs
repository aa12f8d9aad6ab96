//! Errors as RFC 9457 problem details (`application/problem+json`), with an `errors` member
//! that locates every problem (`loc`, `msg`, `type`), as the seed APIs do.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use annal_query::{FilterError, FilterErrors, QueryError};
use annal_storage::StorageError;

/// One located problem.
#[derive(Clone, Debug, Serialize, ToSchema, PartialEq)]
pub struct ProblemItem {
    /// Where: e.g. `["query", "limit"]` or `["body", 3, "user_id"]`.
    #[schema(schema_with = loc_schema)]
    pub loc: Vec<serde_json::Value>,
    /// What is wrong.
    pub msg: String,
    /// A stable kind, e.g. `missing`, `wrong_type`, `too_long`, `invalid`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// `loc`: an array of strings (parameter and field names) and integers (positions).
pub fn loc_schema() -> utoipa::openapi::Array {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    let item = OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::String))
        .item(ObjectBuilder::new().schema_type(Type::Integer));
    utoipa::openapi::ArrayBuilder::new().items(item).build()
}

/// `type` of the problem an append to a read replica gets.
pub const READ_ONLY_REPLICA: &str = "https://annal.dev/problems/read-only-replica";

/// An RFC 9457 problem.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem (`about:blank` when the status says it all).
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the kind.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// This occurrence, in words.
    pub detail: String,
    /// Every problem, located.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemItem>,
    /// Seconds to wait before retrying (429).
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

impl Problem {
    /// A problem with `status` and `detail`.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Problem {
        Problem {
            kind: "about:blank".into(),
            title: status.canonical_reason().unwrap_or("Error").into(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
        }
    }

    /// A 400 naming the query parameter at fault.
    pub fn bad_param(name: &str, msg: impl Into<String>) -> Problem {
        let msg = msg.into();
        Problem::new(StatusCode::BAD_REQUEST, format!("{name}: {msg}")).with(ProblemItem {
            loc: vec!["query".into(), name.into()],
            msg,
            kind: "invalid".into(),
        })
    }

    /// The same problem, telling the client to retry after `secs` seconds.
    pub fn retry_after(mut self, secs: u64) -> Problem {
        self.retry_after = Some(secs);
        self
    }

    /// Adds a located problem.
    pub fn with(mut self, item: ProblemItem) -> Problem {
        self.errors.push(item);
        self
    }

    /// The 409 of an append to a read replica of `primary` (a bucket prefix).
    pub fn read_only_replica(primary: &str) -> Problem {
        Problem {
            kind: READ_ONLY_REPLICA.into(),
            title: "Read-only replica".into(),
            ..Problem::new(
                StatusCode::CONFLICT,
                format!("this server is a read replica of {primary}; appends go to the primary (the writer of that prefix)"),
            )
        }
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut resp = (status, body).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                h.insert(header::RETRY_AFTER, v);
            }
        }
        resp
    }
}

impl From<QueryError> for Problem {
    fn from(e: QueryError) -> Problem {
        let (status, loc, kind) = match &e {
            QueryError::BadValue { field, .. } => {
                (StatusCode::BAD_REQUEST, field.clone(), "invalid")
            }
            QueryError::BadField(f) => (StatusCode::BAD_REQUEST, f.clone(), "invalid"),
            QueryError::UnknownEventType(_) => {
                (StatusCode::BAD_REQUEST, "event_type".into(), "unknown")
            }
            QueryError::UnknownCategory(_) => {
                (StatusCode::BAD_REQUEST, "category".into(), "unknown")
            }
            QueryError::BadCursor(_) | QueryError::CursorMismatch => {
                (StatusCode::BAD_REQUEST, "cursor".into(), "invalid")
            }
            QueryError::BadLimit { .. } => (StatusCode::BAD_REQUEST, "limit".into(), "invalid"),
            QueryError::BadRange => (StatusCode::BAD_REQUEST, "from".into(), "invalid"),
            QueryError::Storage(s) => return Problem::from(StorageErrorRef(s)),
            QueryError::Index(_) => {
                tracing::error!("query failed: {e}");
                return Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "the query failed");
            }
        };
        let msg = e.to_string();
        Problem::new(status, msg.clone()).with(ProblemItem {
            loc: vec!["query".into(), loc.into()],
            msg,
            kind: kind.into(),
        })
    }
}

/// A refused filter value: in the query engine's words where the API has always used them
/// (located by field, or `from` for the range), else located by the parameter.
impl From<FilterError> for Problem {
    fn from(e: FilterError) -> Problem {
        match e.as_query_error() {
            Some(q) => Problem::from(q),
            None => Problem::bad_param(&e.param, e.problem.to_string()),
        }
    }
}

/// The first refusal: the native and seed APIs answer one problem per request.
impl From<FilterErrors> for Problem {
    fn from(e: FilterErrors) -> Problem {
        Problem::from(e.first().clone())
    }
}

/// Seconds a producer is told to wait after the disk was full.
const DISK_FULL_RETRY_SECONDS: u64 = 10;

/// ENOSPC or EDQUOT (by kind: the store keeps an error's kind when it answers each append of a
/// failed group): the write failed for want of space, and may succeed once it is freed.
fn is_disk_full(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{QuotaExceeded, StorageFull};
    matches!(e.kind(), StorageFull | QuotaExceeded)
}

/// A storage error, by reference (query errors wrap one).
pub struct StorageErrorRef<'a>(pub &'a StorageError);

impl From<StorageErrorRef<'_>> for Problem {
    fn from(StorageErrorRef(e): StorageErrorRef<'_>) -> Problem {
        match e {
            StorageError::Limit(msg) => {
                Problem::new(StatusCode::TOO_MANY_REQUESTS, msg.clone()).retry_after(1)
            }
            StorageError::NotFound(seq) => {
                Problem::new(StatusCode::NOT_FOUND, format!("no event at seq {seq}"))
            }
            StorageError::Pruned { seq, start } => Problem::new(
                StatusCode::GONE,
                format!("event {seq} was pruned by the retention policy: the trail starts at seq {start} (GET /v1/retention lists the prunes)"),
            ),
            StorageError::Io { source, .. } if is_disk_full(source) => {
                tracing::error!("append refused, the disk is full: {e}");
                Problem::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    format!("the disk holding the data directory is full: nothing of this append was stored; retry once space is freed ({source})"),
                )
                .retry_after(DISK_FULL_RETRY_SECONDS)
            }
            // Stripe's answer to an idempotency key reused with other parameters.
            StorageError::IdConflict { id, seq, .. } => Problem::new(
                StatusCode::CONFLICT,
                format!("id {id:?} is already stored at seq {seq} with other content; an id is an idempotency key, send it again only with the same event (nothing of this request was stored)"),
            ),
            StorageError::IdRepeated { id, .. } => Problem::new(
                StatusCode::CONFLICT,
                format!("id {id:?} is sent twice in this request with different content (nothing of this request was stored)"),
            ),
            StorageError::NotAttempted(_) => {
                Problem::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()).retry_after(1)
            }
            StorageError::Closed | StorageError::Poisoned(_) => {
                tracing::error!("store unavailable: {e}");
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the store is not accepting appends; see the server log",
                )
            }
            other => {
                tracing::error!("storage error: {other}");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "storage error; see the server log",
                )
            }
        }
    }
}

impl From<StorageError> for Problem {
    fn from(e: StorageError) -> Problem {
        Problem::from(StorageErrorRef(&e))
    }
}
