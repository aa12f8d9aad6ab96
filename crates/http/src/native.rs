//! The native API: `/v1/events` (append, list, one event, count, histogram) and `/v1/catalog`.

use annal_model::{Event, Field, IngestContext, MADE_ID_PREFIX};
use annal_query::{GroupValue, Interval, Page, Query};
use annal_storage::StorageError;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde_json::json;

use crate::params::{filter_only, list_params, number, pairs, ListParams};
use crate::problem::{Problem, ProblemItem, StorageErrorRef};
use crate::respond::{blocking, json_response, link_pages};
use crate::schemas::{CountOut, GroupOut, GROUPS_LIMIT_MAX};
use crate::state::{AppState, BucketAck, BUCKET_ACK_WAIT};

/// Located problems listed in one response at most; the count says how many there were.
const PROBLEMS_LISTED_MAX: usize = 100;

/// `POST /v1/events`: one JSON event, a JSON array, or NDJSON. All or nothing.
#[utoipa::path(post, path = "/v1/events", tag = "events",
    // NDJSON is described here rather than as a second content type: openapi-python-client
    // 0.29.1 does not know application/x-ndjson (a warning), and mapped to bytes its code for
    // an operation with two body types does not import (tests/contract/client.sh).
    request_body(description = "One event (an EventIn) or a JSON array of 1 to 100,000 of them, as application/json. The same events as NDJSON are accepted with Content-Type: application/x-ndjson: one EventIn object per line (UTF-8; blank lines skipped; CRLF and a BOM accepted), problems located by line number. All or nothing: an invalid event stores none of the request.", content(
        (crate::schemas::AppendBody = "application/json"),
    )),
    responses(
        (status = 200, description = "Durable: every event's seq and id", body = crate::schemas::AppendResult),
        (status = 400, description = "A parameter is invalid", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than the limit"),
        (status = 409, description = "An id is already stored with other content, or repeated in the request with other content; or this server is a read replica (type https://annal.dev/problems/read-only-replica: appends go to the primary); nothing stored", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid events, every problem located; nothing stored", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 429, description = "The writer's queue is full; retry after Retry-After", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 507, description = "The disk holding the data directory is full; nothing of the append was stored; retry after Retry-After", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The store stopped accepting appends; or, with ack = \"bucket\", the events are stored locally but the bucket did not confirm them in time (send them again with the same ids to wait again)", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
pub async fn append(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    if let Some(replica) = &state.replica {
        // Before the body is read: a replica stores nothing, whatever was sent.
        return Err(Problem::read_only_replica(&replica.primary));
    }
    let body = body.map_err(|e| Problem::new(e.status(), e.body_text()))?;
    let ndjson = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-ndjson"));
    let engine = state.engine.clone();
    let appended = blocking(move || {
        let (events, locs) = parse_events(&body, ndjson, engine.catalogs())?;
        if events.is_empty() {
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "the body holds no events",
            ));
        }
        let done = engine
            .store()
            .try_append(&events)
            .map_err(|e| append_problem(&e, &locs))?;
        let ids: Vec<String> = done
            .iter()
            .zip(&events)
            .map(|(a, e)| e.display_id(a.seq).into_owned())
            .collect();
        Ok((done, ids, engine.store().len()))
    })
    .await?;
    let (done, ids, end) = appended;
    state.appended.send_replace(end);
    if let Some(ack) = &state.bucket_ack {
        let needed = done.iter().map(|a| a.seq + 1).max().unwrap_or(0);
        wait_for_bucket(ack, needed).await?;
    }
    let items: Vec<_> = done
        .iter()
        .zip(ids)
        .map(|(a, id)| json!({"seq": a.seq, "id": id, "duplicate": a.duplicate}))
        .collect();
    let body = serde_json::to_vec(&json!({ "items": items })).unwrap_or_default();
    Ok(json_response(StatusCode::OK, body))
}

/// Waits until the bucket holds the first `needed` events; 503 naming the bucket when it has
/// not within [`BUCKET_ACK_WAIT`] (the events are stored locally and will be uploaded).
async fn wait_for_bucket(ack: &BucketAck, needed: u64) -> Result<(), Problem> {
    let mut shipped = ack.shipped.clone();
    (ack.wake)();
    let reached = tokio::time::timeout(BUCKET_ACK_WAIT, shipped.wait_for(|&n| n >= needed)).await;
    match reached {
        Ok(Ok(_)) => Ok(()),
        _ => {
            let mut p = Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the events are stored on this server's disk but {} has not confirmed them within {} s; they will be uploaded. Send them again with the same ids to wait for the bucket.",
                    ack.url,
                    BUCKET_ACK_WAIT.as_secs()
                ),
            );
            p.retry_after = Some(BUCKET_ACK_WAIT.as_secs());
            Err(p)
        }
    }
}

/// The problem for a refused append; an id conflict is located at its event's `id`
/// (`locs[i]` is where event i is in the body: its index, or its line in NDJSON).
fn append_problem(e: &StorageError, locs: &[serde_json::Value]) -> Problem {
    let mut p = Problem::from(StorageErrorRef(e));
    let index = match e {
        StorageError::IdConflict { index, .. } | StorageError::IdRepeated { index, .. } => *index,
        _ => return p,
    };
    if let Some(at) = locs.get(index) {
        p.errors.push(ProblemItem {
            loc: vec![json!("body"), at.clone(), json!("id")],
            msg: p.detail.clone(),
            kind: "conflict".into(),
        });
    }
    p
}

/// Events of a body with where each is in it (its index, or its line in NDJSON), or every
/// problem located as `["body", index or line, field]`.
fn parse_events(
    body: &[u8],
    ndjson: bool,
    catalogs: &annal_model::Catalogs,
) -> Result<(Vec<Event>, Vec<serde_json::Value>), Problem> {
    let ctx = IngestContext::live(catalogs);
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let docs: Vec<(serde_json::Value, &[u8])> = if ndjson {
        body.split(|&b| b == b'\n')
            .enumerate()
            .map(|(i, line)| (json!(i + 1), line.strip_suffix(b"\r").unwrap_or(line)))
            .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
            .collect()
    } else if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        let raws: Vec<&serde_json::value::RawValue> =
            serde_json::from_slice(body).map_err(|e| {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    format!("the body is not a JSON array: {e}"),
                )
            })?;
        raws.into_iter()
            .enumerate()
            .map(|(i, r)| (json!(i), r.get().as_bytes()))
            .collect()
    } else {
        vec![(json!(0), body)]
    };
    let mut events = Vec::with_capacity(docs.len());
    let mut locs = Vec::with_capacity(docs.len());
    let mut problems = Vec::new();
    let mut total = 0;
    for (at, doc) in docs {
        match Event::from_json(doc, &ctx) {
            Ok(e) => {
                events.push(e);
                locs.push(at);
            }
            Err(bad) => {
                for p in bad.problems {
                    total += 1;
                    if problems.len() < PROBLEMS_LISTED_MAX {
                        let mut loc = vec![json!("body"), at.clone()];
                        if !p.field.is_empty() {
                            loc.push(json!(p.field));
                        }
                        problems.push(ProblemItem {
                            loc,
                            msg: p.msg,
                            kind: p.kind.code().into(),
                        });
                    }
                }
            }
        }
    }
    if total > 0 {
        let what = if ndjson { "line" } else { "event" };
        let mut p = Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{total} problem(s) in the events sent; nothing was stored (each is located by {what} and field)"),
        );
        p.errors = problems;
        return Err(p);
    }
    Ok((events, locs))
}

/// Appends one event as JSON to `out`.
pub(crate) fn event_json(seq: u64, e: &Event, out: &mut Vec<u8>) {
    e.write_json(seq, out);
}

/// `{"items": [...], "next_cursor": …, "prev_cursor": …}` and `Link` headers.
fn page_response(state: &AppState, page: &Page, uri: &Uri) -> Response {
    let mut body = Vec::with_capacity(256 + page.items.len() * 900);
    body.extend_from_slice(b"{\"items\":[");
    {
        let mut cache = state.rows_json.lock();
        for (i, (seq, e)) in page.items.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            match cache.get(seq) {
                Some(json) => body.extend_from_slice(&json),
                None => {
                    let start = body.len();
                    event_json(*seq, e, &mut body);
                    let json: Arc<[u8]> = body[start..].into();
                    let cost = json.len();
                    cache.insert(*seq, json, cost);
                }
            }
        }
    }
    body.extend_from_slice(b"],\"next_cursor\":");
    let cursor = |c: &Option<String>| serde_json::to_vec(c).unwrap_or_else(|_| b"null".to_vec());
    body.extend_from_slice(&cursor(&page.next_cursor));
    body.extend_from_slice(b",\"prev_cursor\":");
    body.extend_from_slice(&cursor(&page.prev_cursor));
    body.push(b'}');
    let mut r = json_response(StatusCode::OK, body);
    link_pages(&mut r, uri, &page.next_cursor, &page.prev_cursor);
    r
}

/// `GET /v1/events`.
#[utoipa::path(get, path = "/v1/events", tag = "events",
    params(crate::schemas::FilterParams, crate::schemas::PageParams),
    responses(
        (status = 200, description = "A page of events, with Link headers", body = crate::schemas::EventPage),
        (status = 400, description = "A parameter is invalid", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(State(state): State<AppState>, uri: Uri) -> Result<Response, Problem> {
    let p = filter_only(uri.query(), state.engine.catalogs())?;
    let query = Query {
        filter: p.filter,
        order: p.order,
        limit: p.limit,
        start: p.start,
    };
    // Pages answered from memory are served here; only those that would read files go to
    // the blocking pool (the hop costs more than such a page).
    let page = match state.engine.query_cached(&query) {
        Some(page) => page?,
        None => {
            let engine = state.engine.clone();
            blocking(move || Ok(engine.query(&query)?)).await?
        }
    };
    Ok(page_response(&state, &page, &uri))
}

/// `GET /v1/events/{seq or id}`.
#[utoipa::path(get, path = "/v1/events/{key}", tag = "events",
    description = "The event with this id: the producer's id, or `annal:N` (the id the store gives an event sent without one) for seq N. Plain digits are a seq, unless a producer stored that very id: a stored producer id wins over a seq. Producers may not send ids starting `annal:` (refused with 422), so `annal:N` is always seq N.",
    params(("key" = String, Path, description = "An event id (a producer's id or `annal:N`), or a seq")),
    responses(
        (status = 200, description = "The event", body = crate::schemas::EventOut),
        (status = 400, description = "A parameter is invalid", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such event", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 410, description = "The event was pruned by the retention policy (the trail starts later)", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_one(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Response, Problem> {
    let engine = state.engine.clone();
    let found = blocking(move || {
        let snap = engine.store().snapshot();
        match find_key(&snap, &key)? {
            Some(seq) => Ok(Some((seq, snap.get(seq)?))),
            None => Ok(None),
        }
    })
    .await?;
    let (seq, e) =
        found.ok_or_else(|| Problem::new(StatusCode::NOT_FOUND, "no event has this seq or id"))?;
    let mut body = Vec::with_capacity(1024);
    event_json(seq, &e, &mut body);
    Ok(json_response(StatusCode::OK, body))
}

/// The seq of the event `key` names: a made id `annal:N` is seq N (producers cannot send that
/// form); otherwise a stored producer id, which wins over a seq of the same digits; then
/// plain digits as a seq.
fn find_key(snap: &annal_storage::Snapshot, key: &str) -> Result<Option<u64>, Problem> {
    let in_trail = |seq: u64| (seq < snap.end()).then_some(seq);
    if let Some(n) = key.strip_prefix(MADE_ID_PREFIX) {
        // Only the spelling the store makes (`display_id`): no sign, no leading zeros.
        let seq = n.parse::<u64>().ok().filter(|s| s.to_string() == n);
        return Ok(seq.and_then(in_trail));
    }
    if let Some(seq) = snap.find_id(key)? {
        return Ok(Some(seq));
    }
    Ok(key.parse::<u64>().ok().and_then(in_trail))
}

/// `GET /v1/events/count[?group_by=FIELD[&limit=N]]`.
#[utoipa::path(get, path = "/v1/events/count", tag = "events",
    params(crate::schemas::FilterParams, crate::schemas::GroupParams),
    responses(
        (status = 200, description = "Exact number of matches; with `group_by`, also the matches per value of that field, largest first", body = crate::schemas::CountOut),
        (status = 400, description = "A parameter is invalid", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
pub async fn count(State(state): State<AppState>, uri: Uri) -> Result<Response, Problem> {
    let pairs = pairs(uri.query())?;
    let engine = state.engine.clone();
    let body = blocking(move || {
        let (filter, group) = count_params(pairs, engine.catalogs())?;
        let Some((field, limit)) = group else {
            return Ok(CountOut {
                count: engine.count(&filter)?,
                distinct: None,
                groups: None,
            });
        };
        let g = engine.group_by(&filter, field, limit)?;
        let groups = g
            .groups
            .into_iter()
            .map(|(v, count)| GroupOut {
                value: match v {
                    GroupValue::Int(v) => json!(v),
                    GroupValue::Text(v) => json!(v),
                },
                count,
            })
            .collect();
        Ok(CountOut {
            count: g.count,
            distinct: Some(g.distinct),
            groups: Some(groups),
        })
    })
    .await?;
    Ok(json_response(
        StatusCode::OK,
        serde_json::to_vec(&body).unwrap_or_default(),
    ))
}

/// The filter of a count request, and with `group_by` the field and the most groups
/// (`limit`, default and most [`GROUPS_LIMIT_MAX`]). Without `group_by` the parameters are
/// those of every filtered route, as before `group_by` existed.
pub(crate) fn count_params(
    mut pairs: Vec<(String, String)>,
    catalogs: &annal_model::Catalogs,
) -> Result<(annal_query::Filter, Option<(Field, usize)>), Problem> {
    let mut group = None;
    if pairs.iter().any(|(n, _)| n == "group_by") {
        let mut field = None;
        let mut limit = GROUPS_LIMIT_MAX;
        let mut rest = Vec::with_capacity(pairs.len());
        for (name, v) in pairs {
            match name.as_str() {
                "group_by" if field.is_some() => {
                    return Err(Problem::bad_param(&name, "given more than once"))
                }
                "group_by" => field = Some(groupable(&name, &v)?),
                "limit" => limit = number(&name, &v, 1, GROUPS_LIMIT_MAX as u64)? as usize,
                _ => rest.push((name, v)),
            }
        }
        pairs = rest;
        group = field.map(|f| (f, limit));
    }
    let p = list_params(&pairs, catalogs)?;
    if let Some((name, _)) = p.extra.first() {
        return Err(Problem::bad_param(name, "not a parameter of this route"));
    }
    Ok((p.filter, group))
}

/// The field a `group_by` or `by` parameter names, if values can be counted by it.
fn groupable(param: &str, name: &str) -> Result<Field, Problem> {
    let f = Field::from_name(name)
        .ok_or_else(|| Problem::bad_param(param, format!("no field named {name:?}")))?;
    annal_query::check_field(f).map_err(|e| Problem::bad_param(param, e.to_string()))?;
    Ok(f)
}

/// `GET /v1/events/histogram?interval=minute|hour|day[&by=FIELD]`.
#[utoipa::path(get, path = "/v1/events/histogram", tag = "events",
    params(crate::schemas::FilterParams,
        ("interval" = Option<String>, Query, description = "minute, hour (default) or day", pattern = "^(minute|hour|day)$"),
        ("by" = Option<String>, Query, description = "Split each bucket by this field")),
    responses(
        (status = 200, description = "Matches per time bucket", body = crate::schemas::HistogramOut),
        (status = 400, description = "A parameter is invalid", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
pub async fn histogram(State(state): State<AppState>, uri: Uri) -> Result<Response, Problem> {
    let pairs = pairs(uri.query())?;
    let engine = state.engine.clone();
    let (interval, buckets) = blocking(move || {
        let (p, interval, by) = histogram_params(&pairs, engine.catalogs())?;
        Ok((interval, engine.histogram(&p.filter, interval, by)?))
    })
    .await?;
    let buckets: Vec<_> = buckets
        .into_iter()
        .map(|b| {
            let mut start = String::new();
            b.start.write_rfc3339(&mut start);
            let by: serde_json::Map<String, serde_json::Value> =
                b.by.into_iter().map(|(k, n)| (k, json!(n))).collect();
            json!({"start": start, "count": b.count, "by": by})
        })
        .collect();
    let name = match interval {
        Interval::Minute => "minute",
        Interval::Hour => "hour",
        Interval::Day => "day",
    };
    Ok(json_response(
        StatusCode::OK,
        serde_json::to_vec(&json!({"interval": name, "buckets": buckets})).unwrap_or_default(),
    ))
}

/// The filter, `interval` (default hour) and `by` of a histogram request.
pub(crate) fn histogram_params(
    pairs: &[(String, String)],
    catalogs: &annal_model::Catalogs,
) -> Result<(ListParams, Interval, Option<Field>), Problem> {
    let p = list_params(pairs, catalogs)?;
    let mut interval = Interval::Hour;
    let mut by = None;
    for (name, v) in &p.extra {
        match name.as_str() {
            "interval" => interval = Interval::parse(v)?,
            "by" => by = Some(groupable(name, v)?),
            other => return Err(Problem::bad_param(other, "not a parameter of this route")),
        }
    }
    Ok((p, interval, by))
}

/// `GET /v1/catalog`: every catalog's codes, names and categories.
#[utoipa::path(get, path = "/v1/catalog", tag = "events",
    responses(
        (status = 200, description = "Every catalog's codes, names and categories", body = crate::schemas::CatalogsOut),
    ))]
pub async fn catalog(State(state): State<AppState>) -> Response {
    let catalogs = state.engine.catalogs();
    let default = catalogs.default_catalog().name();
    let list: Vec<_> = catalogs
        .iter()
        .map(|c| {
            let entries: Vec<_> = c
                .entries()
                .map(|e| json!({"code": e.code, "name": e.name, "category": e.category, "description": e.description}))
                .collect();
            json!({"name": c.name(), "default": c.name() == default, "entries": entries})
        })
        .collect();
    json_response(
        StatusCode::OK,
        serde_json::to_vec(&json!({ "catalogs": list })).unwrap_or_default(),
    )
}

/// `GET /healthz`: the server is up.
#[utoipa::path(get, path = "/healthz", tag = "operation",
    security(()),
    responses((status = 200, description = "Serving", body = String, content_type = "text/plain")))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// A route that exists, asked with a method it does not take: RFC 9457 problem+json, as every
/// other error (axum adds the `Allow` header listing the methods it takes).
pub async fn method_not_allowed(method: axum::http::Method, uri: Uri) -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} does not take {method}", uri.path()),
    )
}

/// Any route that does not exist.
pub async fn not_found(uri: Uri) -> Problem {
    Problem::new(StatusCode::NOT_FOUND, format!("no route {}", uri.path()))
}
