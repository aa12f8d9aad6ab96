//! Live tail (`GET /v1/events/stream`, Server-Sent Events) and export (`GET /v1/export`):
//! both walk the query engine page by page and hand results over through bounded channels,
//! so neither holds more than a page and a few chunks in memory.

use std::convert::Infallible;
use std::time::Duration;

use annal_model::{Catalogs, Event};
use annal_query::{Dir, Engine, Query, Start};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::params::{filter_only, list_params, pairs, ListParams};
use crate::problem::Problem;
use crate::respond::blocking;
use crate::state::AppState;

/// Events queued for one stream's client; a client that leaves them unread for
/// [`STREAM_SEND_TIMEOUT`] is disconnected.
const STREAM_BUFFER_EVENTS: usize = 1024;
/// How long a live stream waits for a slow client before disconnecting it.
const STREAM_SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Events read per step, by streams and exports.
const STEP_EVENTS: usize = 1000;
/// Chunks of an export queued for the client.
const EXPORT_BUFFER_CHUNKS: usize = 8;
/// Interval of SSE heartbeats (comments) on an idle stream.
const HEARTBEAT: Duration = Duration::from_secs(15);

/// `GET /v1/events/stream`: new events matching the filters, as SSE with `id` = seq.
/// Resumes after `Last-Event-ID`; otherwise starts with events appended from now on.
#[utoipa::path(get, path = "/v1/events/stream", tag = "events",
    params(crate::schemas::FilterParams,
        ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this seq")),
    responses(
        (status = 200, description = "Server-Sent Events: `id` = seq, `data` = the event as JSON; heartbeat comments when idle", content_type = "text/event-stream", body = crate::schemas::StreamMessage),
        (status = 400, description = "A parameter is invalid", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many live streams", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
pub async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, Problem> {
    let p = filter_only(uri.query(), state.engine.catalogs())?;
    let permit = state.streams.clone().try_acquire_owned().map_err(|_| {
        Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too many live streams; retry later",
        )
        .retry_after(5)
    })?;
    let start = match headers.get("last-event-id") {
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .and_then(|seq| seq.checked_add(1))
            .ok_or_else(|| Problem::new(StatusCode::BAD_REQUEST, "Last-Event-ID must be a seq"))?,
        None => state.engine.store().len(),
    };
    let (tx, rx) = mpsc::channel::<Result<SseEvent, Infallible>>(STREAM_BUFFER_EVENTS);
    let engine = state.engine.clone();
    let mut appended = state.appended.subscribe();
    let filter = p.filter;
    tokio::spawn(async move {
        let _permit = permit;
        let mut cursor = Engine::cursor_at(&filter, Dir::Asc, start);
        loop {
            let (e, f, c) = (engine.clone(), filter.clone(), cursor.clone());
            let page = blocking(move || {
                Ok(e.query(&Query {
                    filter: f,
                    order: Dir::Asc,
                    limit: STEP_EVENTS,
                    start: Start::Cursor(c),
                })?)
            })
            .await;
            let Ok(page) = page else { return };
            for (seq, ev) in &page.items {
                let mut data = Vec::with_capacity(1024);
                ev.write_json(*seq, &mut data);
                let event = SseEvent::default()
                    .id(seq.to_string())
                    .data(String::from_utf8_lossy(&data));
                // A client that reads nothing for this long is disconnected.
                if tx
                    .send_timeout(Ok(event), STREAM_SEND_TIMEOUT)
                    .await
                    .is_err()
                {
                    return;
                }
            }
            if let Some(next) = page.next_cursor {
                cursor = next;
            }
            if page.items.len() < STEP_EVENTS {
                // Caught up: wait for the next append (or the client leaving).
                tokio::select! {
                    changed = appended.changed() => if changed.is_err() { return },
                    _ = tx.closed() => return,
                }
            }
        }
    });
    Ok(Sse::new(ReceiverStream::new(rx))
        .keep_alive(KeepAlive::new().interval(HEARTBEAT).text("heartbeat"))
        .into_response())
}

/// The filters, format (true for CSV) and order of an export request's query string.
pub(crate) fn export_params(
    query: Option<&str>,
    catalogs: &Catalogs,
) -> Result<(ListParams, bool, Dir), Problem> {
    let pairs = pairs(query)?;
    let p = list_params(&pairs, catalogs)?;
    let mut csv = false;
    for (name, v) in &p.extra {
        match (name.as_str(), v.as_str()) {
            ("format", "ndjson") => csv = false,
            ("format", "csv") => csv = true,
            ("format", _) => return Err(Problem::bad_param("format", "expected ndjson or csv")),
            (other, _) => return Err(Problem::bad_param(other, "not a parameter of this route")),
        }
    }
    // An explicit order counts; the list default (newest first) does not apply to exports.
    let order = if pairs.iter().any(|(k, v)| k == "order" && v == "desc") {
        Dir::Desc
    } else {
        Dir::Asc
    };
    Ok((p, csv, order))
}

/// `GET /v1/export?format=ndjson|csv&…filters`: every match, oldest first unless `order=desc`,
/// streamed.
#[utoipa::path(get, path = "/v1/export", tag = "events",
    params(crate::schemas::FilterParams,
        ("format" = Option<String>, Query, description = "ndjson (default) or csv", pattern = "^(ndjson|csv)$"),
        ("order" = Option<String>, Query, description = "asc (default) or desc", pattern = "^(asc|desc)$")),
    responses(
        (status = 200, description = "Every match, streamed", content(
            (String = "application/x-ndjson"),
            (String = "text/csv"),
        )),
        (status = 400, description = "A parameter is invalid", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
pub async fn export(State(state): State<AppState>, uri: Uri) -> Result<Response, Problem> {
    let (p, csv, order) = export_params(uri.query(), state.engine.catalogs())?;
    // Check the filter before answering 200.
    let first = {
        let (e, f) = (state.engine.clone(), p.filter.clone());
        blocking(move || {
            Ok(e.query(&Query {
                filter: f,
                order,
                limit: 1,
                start: Start::First,
            })?)
        })
        .await?
    };
    drop(first);
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(EXPORT_BUFFER_CHUNKS);
    let engine = state.engine.clone();
    let filter = p.filter;
    tokio::task::spawn_blocking(move || {
        let mut chunk = Vec::with_capacity(1 << 20);
        if csv {
            Event::write_csv_header(&mut chunk);
        }
        let mut start = Start::First;
        loop {
            let q = Query {
                filter: filter.clone(),
                order,
                limit: STEP_EVENTS,
                start,
            };
            let page = match engine.query(&q) {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!("export stopped: {e}");
                    let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                    return;
                }
            };
            for (seq, e) in &page.items {
                if csv {
                    e.write_csv(*seq, &mut chunk);
                } else {
                    e.write_json(*seq, &mut chunk);
                    chunk.push(b'\n');
                }
            }
            let more = page.items.len() == STEP_EVENTS;
            if tx
                .blocking_send(Ok(Bytes::from(std::mem::take(&mut chunk))))
                .is_err()
            {
                return;
            }
            match (more, page.next_cursor) {
                (true, Some(c)) => start = Start::Cursor(c),
                _ => return,
            }
        }
    });
    let content_type = if csv {
        "text/csv; charset=utf-8"
    } else {
        "application/x-ndjson"
    };
    let mut r = Body::from_stream(ReceiverStream::new(rx)).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(r)
}
