//! The trail as a whole: `GET /v1/trail` (the console's trail page) and `GET /metrics` (what
//! Prometheus scrapes), both from one gathering of [`TrailFacts`].

use annal_model::Timestamp;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::facts::{resident_bytes, seconds_since, ProcessFacts, Sources, TrailFacts};
use crate::metrics::{OPENMETRICS_TEXT, PROMETHEUS_TEXT};
use crate::problem::Problem;
use crate::proofs::sizes;
use crate::respond::blocking;
use crate::state::AppState;

/// Segment files by kind.
#[derive(Serialize, ToSchema)]
pub struct SegmentsOut {
    sealed: u64,
    rolled: u64,
    active: u64,
}

/// The newest signed checkpoint.
#[derive(Serialize, ToSchema)]
pub struct TrailCheckpointOut {
    /// The log's name (the note's first line).
    origin: String,
    /// Tree size.
    size: u64,
    /// Root, standard base64.
    root: String,
    /// When it was signed (for one signed before the server started: when the checkpoint
    /// log was last written).
    #[schema(format = DateTime)]
    signed_at: String,
    /// Seconds since then.
    age_seconds: f64,
    /// The C2SP vkey that checks its signature. An auditor pins this out of band; taking
    /// it from the server it checks is trust on first use.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    signer_key: Option<String>,
}

/// The server's newest audit of its trail.
#[derive(Serialize, ToSchema)]
pub struct TrailVerifyOut {
    /// When it finished.
    #[schema(format = DateTime)]
    at: String,
    /// True when nothing was wrong.
    ok: bool,
    /// Events whose records were read and hashed.
    events: u64,
    /// How long it took.
    seconds: f64,
    /// The first problem found, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    error: Option<String>,
}

/// The uploader's state.
#[derive(Serialize, ToSchema)]
pub struct TrailBucketOut {
    /// `s3://BUCKET/PREFIX`.
    url: String,
    /// Acknowledged events the bucket holds.
    bucket_events: u64,
    /// Acknowledged events on the local disk at the last round.
    local_events: u64,
    /// Those the bucket does not hold yet.
    lag_events: u64,
    /// When a round last succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, format = DateTime)]
    last_ok: Option<String>,
    /// The last round's error, until a round succeeds.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    last_error: Option<String>,
    /// Rounds that failed since the start.
    errors: u64,
    /// True when another writer took the prefix over: this server stopped uploading.
    fenced: bool,
}

/// The trail as a whole.
#[derive(Serialize, ToSchema)]
pub struct TrailOut {
    /// Events in the trail: the next seq.
    events: u64,
    /// The first seq it holds (0 until a prune).
    start: u64,
    /// Events in sealed segments.
    sealed_events: u64,
    /// Events an index covers.
    indexed_events: u64,
    /// Segment files by kind.
    segments: SegmentsOut,
    /// Bytes of every file in the data directory: segments, indexes, tiles, logs.
    data_bytes: u64,
    /// `data_bytes` per event held; absent while the trail holds none.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    bytes_per_event: Option<f64>,
    /// The newest signed checkpoint; absent when this server signs none.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    checkpoint: Option<TrailCheckpointOut>,
    /// The server's newest audit; absent until the first one finishes.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    verify: Option<TrailVerifyOut>,
    /// Upload state; absent without a bucket.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    bucket: Option<TrailBucketOut>,
    /// Days events are kept; absent: for ever.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    retention_days: Option<u32>,
}

fn rfc3339(t: std::time::SystemTime) -> String {
    Timestamp::from(t).to_string()
}

impl TrailOut {
    fn of(f: TrailFacts, retention_days: Option<u32>) -> TrailOut {
        let bytes_per_event = f.bytes_per_event();
        let retained = f.retained();
        TrailOut {
            events: f.events,
            start: f.start,
            sealed_events: f.sealed_events,
            indexed_events: retained.saturating_sub(f.index_lag_events),
            segments: SegmentsOut {
                sealed: f.segments.sealed,
                rolled: f.segments.rolled,
                active: f.segments.active,
            },
            data_bytes: f.data_bytes,
            bytes_per_event,
            checkpoint: f.checkpoint.map(|c| TrailCheckpointOut {
                origin: c.origin,
                size: c.size,
                root: c.root,
                signed_at: rfc3339(c.signed_at),
                age_seconds: seconds_since(c.signed_at),
                signer_key: c.signer_key,
            }),
            verify: f.verify.map(|v| TrailVerifyOut {
                at: rfc3339(v.at),
                ok: v.ok,
                events: v.events,
                seconds: v.seconds,
                error: v.error,
            }),
            bucket: f.bucket.map(|b| TrailBucketOut {
                lag_events: b.lag_events(),
                last_ok: b.last_ok_at().map(rfc3339),
                url: b.url,
                bucket_events: b.bucket_events,
                local_events: b.local_events,
                last_error: b.last_error,
                errors: b.failed_rounds,
                fenced: b.fenced,
            }),
            retention_days,
        }
    }
}

/// The facts, off the async threads.
async fn gather(state: &AppState) -> Result<TrailFacts, Problem> {
    let state = state.clone();
    blocking(move || {
        Ok(TrailFacts::gather(Sources {
            engine: &state.engine,
            notary: state.notary.as_deref(),
            verifications: &state.verifications,
            bucket: state.bucket_status.as_ref().map(|read| read()),
        }))
    })
    .await
}

#[utoipa::path(get, path = "/v1/trail", tag = "operation",
    responses(
        (status = 200, description = "Events, segments, bytes on disk, the newest checkpoint, the server's newest audit and the upload state", body = TrailOut),
        (status = 400, description = "A parameter is invalid (this route takes none)", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
pub async fn trail(State(state): State<AppState>, uri: Uri) -> Result<Response, Problem> {
    sizes(uri.query(), [])?;
    let facts = gather(&state).await?;
    Ok(axum::Json(TrailOut::of(facts, state.retention_days)).into_response())
}

/// True when the scraper asks for OpenMetrics (Prometheus does; `curl` does not).
fn wants_openmetrics(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/openmetrics-text"))
}

#[utoipa::path(get, path = "/metrics", tag = "operation",
    responses(
        (status = 200, description = "Every series, in the Prometheus text format (OpenMetrics text when the Accept header asks for application/openmetrics-text)", body = String, content_type = "text/plain; version=0.0.4; charset=utf-8"),
        (status = 400, description = "A parameter is invalid (this route takes none)", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
pub async fn metrics(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    sizes(uri.query(), [])?;
    let facts = gather(&state).await?;
    let process = ProcessFacts {
        stream_clients: state.stream_clients(),
        resident_bytes: resident_bytes(),
    };
    let openmetrics = wants_openmetrics(&headers);
    let body = state
        .metrics
        .encode(facts, process, openmetrics)
        .map_err(|e| {
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("encoding the metrics failed: {e}"),
            )
        })?;
    let media_type = if openmetrics {
        OPENMETRICS_TEXT
    } else {
        PROMETHEUS_TEXT
    };
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    Ok(r)
}
