//! The records officer's routes: the trail's retention state, prunes by the configured
//! policy (or a dry run of one), and legal holds placed and released. Admin only, except the
//! state and the list of holds, which auditors read too.

use std::sync::Arc;

use annal_integrity::{min_index, PruneRecord};
use annal_model::Timestamp;
use annal_retention::{Hold, HoldSpec, PrunePlan, Retention, RetentionError};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::role_of;
use crate::params::pairs;
use crate::problem::Problem;
use crate::respond::{blocking, json_response};
use crate::state::AppState;

/// The trail's start, the policy, every prune and every hold.
#[derive(Serialize, ToSchema)]
pub struct RetentionOut {
    /// The first seq the trail holds (0 when nothing was pruned).
    pub(crate) trail_start: u64,
    /// The C2SP tlog-tiles minimum index: the start rounded up to a whole tile of 256.
    pub(crate) min_index: u64,
    /// Days events are kept (`retention_days`); absent: kept for ever.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub(crate) retention_days: Option<u32>,
    /// Every prune, oldest first.
    pub(crate) prunes: Vec<PruneOut>,
    /// Every legal hold, in the order placed.
    pub(crate) holds: Vec<HoldOut>,
}

/// One prune of the trail's oldest sealed segments.
#[derive(Serialize, ToSchema)]
pub struct PruneOut {
    /// 1 for the first prune.
    pub(crate) prune: u64,
    /// First removed seq.
    pub(crate) from_seq: u64,
    /// One past the last removed seq: the trail's start after it.
    pub(crate) to_seq: u64,
    /// Sealed segments removed.
    pub(crate) segments: u64,
    /// `created_at` of the oldest removed event.
    pub(crate) events_created_from: String,
    /// `created_at` of the newest removed event.
    pub(crate) events_created_to: String,
    /// When it ran.
    pub(crate) at: String,
    /// `retention_days=N`.
    pub(crate) policy: String,
    /// Who ran it.
    pub(crate) by: String,
    /// The operator's words, if any.
    pub(crate) reason: String,
}

/// A legal hold.
#[derive(Serialize, ToSchema)]
pub struct HoldOut {
    /// Its id (`hold-1`).
    pub(crate) id: String,
    /// True until it is released.
    pub(crate) active: bool,
    /// Start of the held range of `created_at` (inclusive).
    pub(crate) from: String,
    /// End of the held range (exclusive).
    pub(crate) to: String,
    /// Narrowing filters, as a query string of `GET /v1/events` (empty: every event of the
    /// range).
    pub(crate) filter: String,
    /// Why it was placed.
    pub(crate) reason: String,
    /// Who placed it.
    pub(crate) placed_by: String,
    /// When.
    pub(crate) placed_at: String,
    /// Who released it, once released.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub(crate) released_by: Option<String>,
    /// When it was released.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub(crate) released_at: Option<String>,
    /// Why it was released.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub(crate) release_reason: Option<String>,
}

/// What a prune removed, or with `dry_run` would remove.
#[derive(Serialize, ToSchema)]
pub struct PruneResultOut {
    /// True when nothing was removed because only a plan was asked for.
    pub(crate) dry_run: bool,
    /// The trail's start before.
    pub(crate) from_seq: u64,
    /// Its start after (equal to `from_seq` when nothing goes).
    pub(crate) to_seq: u64,
    /// Events removed.
    pub(crate) events: u64,
    /// Sealed segments removed.
    pub(crate) segments: u64,
    /// Bytes of segment files removed.
    pub(crate) bytes: u64,
    /// Events created before this may go.
    pub(crate) cutoff: String,
    /// `retention_days=N`.
    pub(crate) policy: String,
    /// Why the next segment stays, if one does.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub(crate) kept_because: Option<String>,
}

/// A legal hold to place.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldIn {
    /// Start of the held range of `created_at` (inclusive): an RFC 3339 time (a date alone,
    /// 2026-01-01, is taken too).
    #[schema(format = DateTime, example = "2026-01-01T00:00:00Z")]
    pub(crate) from: String,
    /// End of the held range (exclusive); after `from`.
    #[schema(format = DateTime, example = "2026-02-01T00:00:00Z")]
    pub(crate) to: String,
    /// Narrowing filters, as a query string of `GET /v1/events` (`actor_id=alice&event_type=LoginFailed`);
    /// 400 when it names what is not a filter of that route.
    #[serde(default)]
    #[schema(max_length = 1024, example = "actor_id=alice")]
    pub(crate) filter: String,
    /// Why (the matter or case): not blank, at most 1,024 characters.
    #[schema(
        min_length = 1,
        max_length = 1024,
        pattern = "\\S",
        example = "case 2026-17"
    )]
    pub(crate) reason: String,
}

/// Why a hold is released.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseIn {
    /// Why: not blank, at most 1,024 characters.
    #[schema(
        min_length = 1,
        max_length = 1024,
        pattern = "\\S",
        example = "case closed"
    )]
    pub(crate) reason: String,
}

fn prune_out(p: &PruneRecord) -> PruneOut {
    PruneOut {
        prune: p.number,
        from_seq: p.from_seq,
        to_seq: p.to_seq,
        segments: p.segments,
        events_created_from: Timestamp(p.time_min_ns).to_string(),
        events_created_to: Timestamp(p.time_max_ns).to_string(),
        at: Timestamp(p.at_ns).to_string(),
        policy: p.policy.clone(),
        by: p.by.clone(),
        reason: p.reason.clone(),
    }
}

fn hold_out(h: &Hold) -> HoldOut {
    let p = &h.placed;
    HoldOut {
        id: p.id.clone(),
        active: h.active(),
        from: Timestamp(p.from_ns).to_string(),
        to: Timestamp(p.to_ns).to_string(),
        filter: p.filter.clone(),
        reason: p.reason.clone(),
        placed_by: p.by.clone(),
        placed_at: Timestamp(p.at_ns).to_string(),
        released_by: h.released.as_ref().map(|r| r.by.clone()),
        released_at: h.released.as_ref().map(|r| Timestamp(r.at_ns).to_string()),
        release_reason: h.released.as_ref().map(|r| r.reason.clone()),
    }
}

fn plan_out(plan: &PrunePlan, dry_run: bool) -> PruneResultOut {
    PruneResultOut {
        dry_run,
        from_seq: plan.from,
        to_seq: plan.to,
        events: plan.events(),
        segments: plan.segments.len() as u64,
        bytes: plan.bytes,
        cutoff: Timestamp(plan.cutoff.0).to_string(),
        policy: plan.policy.clone(),
        kept_because: plan.kept_because.clone(),
    }
}

fn retention(state: &AppState) -> Result<Arc<Retention>, Problem> {
    state.retention.clone().ok_or_else(|| {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "retention is not available on this server (a read replica follows its primary's)",
        )
    })
}

pub(crate) fn retention_problem(e: RetentionError) -> Problem {
    match e {
        RetentionError::Invalid(_) | RetentionError::Filter(_) => {
            Problem::new(StatusCode::BAD_REQUEST, e.to_string())
        }
        RetentionError::UnknownHold(_) => Problem::new(StatusCode::NOT_FOUND, e.to_string()),
        RetentionError::Released(_) => Problem::new(StatusCode::CONFLICT, e.to_string()),
        other => {
            tracing::error!("retention failed: {other}");
            Problem::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string())
        }
    }
}

/// Who the request is from, for the lifecycle log: the API key's name.
fn who(state: &AppState, headers: &HeaderMap) -> String {
    role_of(&state.keys, headers).map_or_else(
        || "development mode".to_string(),
        |(_, name)| format!("api key {name}"),
    )
}

/// A JSON body of type `T`, or a 400 naming what is wrong.
fn body_json<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, Problem> {
    let body = body.map_err(|e| Problem::new(e.status(), e.body_text()))?;
    serde_json::from_slice(&body).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            format!("the body is not the JSON this route takes: {e}"),
        )
    })
}

fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    json_response(status, serde_json::to_vec(value).unwrap_or_default())
}

/// `GET /v1/retention`.
#[utoipa::path(get, path = "/v1/retention", tag = "retention",
    responses(
        (status = 200, description = "Where the trail starts, the policy, every prune and every hold", body = RetentionOut),
        (status = 400, description = "A parameter is invalid", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Not available on this server", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
pub async fn status(State(state): State<AppState>, uri: Uri) -> Result<Response, Problem> {
    no_params(&uri)?;
    let r = retention(&state)?;
    let start = state.engine.store().snapshot().start();
    Ok(json(
        StatusCode::OK,
        &RetentionOut {
            trail_start: start,
            min_index: min_index(start),
            retention_days: state.retention_days,
            prunes: r.prunes().iter().map(prune_out).collect(),
            holds: r.holds().iter().map(hold_out).collect(),
        },
    ))
}

fn no_params(uri: &Uri) -> Result<(), Problem> {
    match pairs(uri.query())?.first() {
        Some((name, _)) => Err(Problem::bad_param(name, "not a parameter of this route")),
        None => Ok(()),
    }
}

/// `POST /v1/retention/prune[?dry_run=true]`.
#[utoipa::path(post, path = "/v1/retention/prune", tag = "retention",
    params(("dry_run" = Option<bool>, Query, description = "Only say what would be removed")),
    responses(
        (status = 200, description = "What was removed (or would be, with dry_run)", body = PruneResultOut),
        (status = 400, description = "A parameter is invalid", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "No retention_days is configured", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Not available on this server", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
pub async fn prune(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, Problem> {
    let mut dry_run = false;
    for (name, value) in pairs(uri.query())? {
        match (name.as_str(), value.as_str()) {
            ("dry_run", "true") => dry_run = true,
            ("dry_run", "false") => dry_run = false,
            ("dry_run", _) => return Err(Problem::bad_param("dry_run", "expected true or false")),
            (other, _) => return Err(Problem::bad_param(other, "not a parameter of this route")),
        }
    }
    let r = retention(&state)?;
    let days = state.retention_days.ok_or_else(|| {
        Problem::new(
            StatusCode::CONFLICT,
            "no retention_days is configured: this server keeps every event",
        )
    })?;
    let by = who(&state, &headers);
    let (engine, notary) = (state.engine.clone(), state.notary.clone());
    let out = blocking(move || {
        if dry_run {
            let plan = r
                .plan(&engine, days, Timestamp::now())
                .map_err(retention_problem)?;
            return Ok(plan_out(&plan, true));
        }
        let (plan, _) =
            prune_now(&r, &engine, notary.as_deref(), days, &by).map_err(retention_problem)?;
        Ok(plan_out(&plan, false))
    })
    .await?;
    Ok(json(StatusCode::OK, &out))
}

/// Prunes by `days` now, the notary (if any) taking the kept hashes before files go.
pub(crate) fn prune_now(
    r: &Retention,
    engine: &annal_query::Engine,
    notary: Option<&annal_integrity::Notary>,
    days: u32,
    by: &str,
) -> Result<(PrunePlan, Vec<annal_integrity::Pruned>), RetentionError> {
    let dir = engine.store().dir().to_path_buf();
    r.prune(engine, days, by, "", &|| match notary {
        Some(n) => n.reload_kept(&dir),
        None => Ok(()),
    })
}

/// `GET /v1/holds`.
#[utoipa::path(get, path = "/v1/holds", tag = "retention",
    responses(
        (status = 200, description = "Every legal hold, in the order placed", body = Vec<HoldOut>),
        (status = 400, description = "A parameter is invalid", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Not available on this server", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_holds(State(state): State<AppState>, uri: Uri) -> Result<Response, Problem> {
    no_params(&uri)?;
    let holds: Vec<HoldOut> = retention(&state)?.holds().iter().map(hold_out).collect();
    Ok(json(StatusCode::OK, &holds))
}

/// `POST /v1/holds`.
#[utoipa::path(post, path = "/v1/holds", tag = "retention",
    request_body(content = HoldIn, content_type = "application/json"),
    responses(
        (status = 201, description = "The hold, durable and recorded in the trail", body = HoldOut),
        (status = 400, description = "The body is invalid (the message names what)", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Not available on this server", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
pub async fn place_hold(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    no_params(&uri)?;
    let r = retention(&state)?;
    let input: HoldIn = body_json(body)?;
    let time = |name: &str, v: &str| {
        Timestamp::parse_bound(v)
            .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, format!("{name} {v:?}: {e}")))
    };
    let spec = HoldSpec {
        from: time("from", &input.from)?,
        to: time("to", &input.to)?,
        filter: input.filter,
        reason: input.reason,
        by: who(&state, &headers),
    };
    let engine = state.engine.clone();
    let hold = blocking(move || {
        r.place_hold(&engine, &spec).map_err(retention_problem)?;
        Ok(r.holds())
    })
    .await?;
    let placed = hold.last().map(hold_out);
    Ok(json(StatusCode::CREATED, &placed))
}

/// `POST /v1/holds/{id}/release`.
#[utoipa::path(post, path = "/v1/holds/{id}/release", tag = "retention",
    params(("id" = String, Path, description = "The hold's id (hold-1)")),
    request_body(content = ReleaseIn, content_type = "application/json"),
    responses(
        (status = 200, description = "The hold, released", body = HoldOut),
        (status = 400, description = "The body is invalid", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such hold", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Released already", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Not available on this server", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
pub async fn release_hold(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    no_params(&uri)?;
    let r = retention(&state)?;
    let input: ReleaseIn = body_json(body)?;
    let (engine, by) = (state.engine.clone(), who(&state, &headers));
    let holds = blocking(move || {
        r.release_hold(&engine, &id, &input.reason, &by)
            .map_err(retention_problem)?;
        Ok((r.holds(), id))
    })
    .await?;
    let (holds, id) = holds;
    let released = holds.iter().find(|h| h.placed.id == id).map(hold_out);
    Ok(json(StatusCode::OK, &released))
}
