//! The auditor's routes: the newest signed checkpoint and RFC 6962 inclusion and consistency
//! proofs, with RFC 6962's JSON names.

use std::sync::Arc;

use annal_integrity::json::{ConsistencyJson, InclusionJson};
use annal_integrity::{IntegrityError, Notary, Signed};
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::params::pairs;
use crate::problem::Problem;
use crate::respond::{blocking, json_response};
use crate::state::AppState;

pub(crate) fn notary(state: &AppState) -> Result<Arc<Notary>, Problem> {
    state.notary.clone().ok_or_else(|| {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "this server has no signing key: checkpoints and proofs are not served",
        )
    })
}

fn proof_problem(e: IntegrityError) -> Problem {
    match e {
        // A well-formed seq or tree size the trail does not hold (yet): no such leaf or tree,
        // as a seq past the end is 404 at `/v1/events/{key}`. The document cannot bound these
        // by the trail's length, so a 400 would refuse requests it declares valid.
        // A proof from a larger tree to a smaller one does not exist either.
        IntegrityError::LeafOutOfRange { .. }
        | IntegrityError::SizeOutOfRange { .. }
        | IntegrityError::BadSizes { .. } => Problem::new(StatusCode::NOT_FOUND, e.to_string()),
        // Pruned: it existed, it is gone for good (every checkpoint still verifies).
        IntegrityError::Pruned { .. } | IntegrityError::PrunedHashes { .. } => {
            Problem::new(StatusCode::GONE, e.to_string())
        }
        other => {
            tracing::error!("proof failed: {other}");
            Problem::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string())
        }
    }
}

/// Largest seq or tree size a proof route takes: the document's int64 maximum (a trail never
/// holds more).
const SIZE_MAX: u64 = i64::MAX as u64;

/// Reads the route's u64 parameters `names` (each at most once, none other allowed) from
/// its query string; a missing one is None.
pub(crate) fn sizes<const N: usize>(
    query: Option<&str>,
    names: [&str; N],
) -> Result<[Option<u64>; N], Problem> {
    let mut out = [None; N];
    for (name, value) in pairs(query)? {
        let Some(i) = names.iter().position(|n| *n == name) else {
            return Err(Problem::bad_param(&name, "not a parameter of this route"));
        };
        if out[i].is_some() {
            return Err(Problem::bad_param(&name, "given more than once"));
        }
        // Bounded as the document's int64 says, so every client language holds the value.
        let v = value
            .parse::<u64>()
            .ok()
            .filter(|v| *v <= SIZE_MAX)
            .ok_or_else(|| {
                Problem::bad_param(
                    &name,
                    format!("{value:?} is not a whole number from 0 to {SIZE_MAX}"),
                )
            })?;
        out[i] = Some(v);
    }
    Ok(out)
}

/// The parameters of a proof route: `required`, and `tree` (a tree size, None for the
/// newest checkpoint's).
fn required_and_tree(
    query: Option<&str>,
    [required, tree]: [&str; 2],
) -> Result<(u64, Option<u64>), Problem> {
    let [value, size] = sizes(query, [required, tree])?;
    let value = value.ok_or_else(|| Problem::bad_param(required, "required"))?;
    // Tree sizes start at 1, as the document's minimum says (a seq starts at 0).
    if size == Some(0) {
        return Err(Problem::bad_param(tree, "a tree size is at least 1"));
    }
    Ok((value, size))
}

/// `seq` (required) and `tree_size` of an inclusion proof request's query string.
pub(crate) fn inclusion_params(query: Option<&str>) -> Result<(u64, Option<u64>), Problem> {
    required_and_tree(query, ["seq", "tree_size"])
}

/// `first` (required) and `second` of a consistency proof request's query string.
pub(crate) fn consistency_params(query: Option<&str>) -> Result<(u64, Option<u64>), Problem> {
    let (first, second) = required_and_tree(query, ["first", "second"])?;
    if first == 0 {
        return Err(Problem::bad_param("first", "a tree size is at least 1"));
    }
    Ok((first, second))
}

/// The newest signed checkpoint (whose size is what a size left out means).
fn latest(notary: &Notary) -> Result<Signed, Problem> {
    notary.latest().ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_FOUND,
            "no checkpoint has been signed yet (the trail is empty)",
        )
    })
}

/// A tree size asked for, or the newest checkpoint's when none was.
fn size_or_latest(notary: &Notary, size: Option<u64>) -> Result<u64, Problem> {
    match size {
        Some(s) => Ok(s),
        None => Ok(latest(notary)?.checkpoint.size),
    }
}

/// `GET /v1/checkpoint`.
#[utoipa::path(get, path = "/v1/checkpoint", tag = "integrity",
    responses(
        (status = 200, description = "The newest signed checkpoint: a C2SP tlog-checkpoint signed note (origin, tree size, base64 root, blank line, Ed25519 signature lines)", body = String, content_type = "text/plain; charset=utf-8"),
        (status = 400, description = "A parameter is invalid", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Nothing signed yet", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "No signing key", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
pub async fn checkpoint(State(state): State<AppState>, uri: Uri) -> Result<Response, Problem> {
    sizes(uri.query(), [])?;
    let notary = notary(&state)?;
    let signed = latest(&notary)?;
    let mut r = (StatusCode::OK, signed.note.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(r)
}

/// `GET /v1/proof/inclusion?seq=N&tree_size=M`.
#[utoipa::path(get, path = "/v1/proof/inclusion", tag = "integrity",
    params(
        ("seq" = u64, Query, minimum = 0, maximum = 9223372036854775807_i64, description = "The event's seq (its leaf index); 404 when the tree does not hold it"),
        ("tree_size" = Option<u64>, Query, minimum = 1, maximum = 9223372036854775807_i64, description = "Tree size (default: the newest checkpoint's); 404 beyond the trail"),
    ),
    responses(
        (status = 200, description = "The audit path", body = InclusionJson),
        (status = 400, description = "A parameter is invalid", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Nothing signed yet", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 410, description = "The event was pruned by the retention policy: its inclusion can no longer be proved", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "No signing key", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
pub async fn inclusion(State(state): State<AppState>, uri: Uri) -> Result<Response, Problem> {
    let (seq, size) = inclusion_params(uri.query())?;
    let notary = notary(&state)?;
    let size = size_or_latest(&notary, size)?;
    let engine = state.engine.clone();
    let proof = blocking(move || {
        let snap = engine.store().snapshot();
        notary.inclusion(&snap, seq, size).map_err(proof_problem)
    })
    .await?;
    Ok(json_response(
        StatusCode::OK,
        serde_json::to_vec(&InclusionJson::from(&proof)).unwrap_or_default(),
    ))
}

/// `GET /v1/proof/consistency?first=M1&second=M2`.
#[utoipa::path(get, path = "/v1/proof/consistency", tag = "integrity",
    params(
        ("first" = u64, Query, minimum = 1, maximum = 9223372036854775807_i64, description = "The older tree size"),
        ("second" = Option<u64>, Query, minimum = 1, maximum = 9223372036854775807_i64, description = "The newer tree size (default: the newest checkpoint's); 404 beyond the trail"),
    ),
    responses(
        (status = 200, description = "The consistency proof", body = ConsistencyJson),
        (status = 400, description = "A parameter is invalid", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Nothing signed yet", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "No signing key", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
pub async fn consistency(State(state): State<AppState>, uri: Uri) -> Result<Response, Problem> {
    let (first, second) = consistency_params(uri.query())?;
    let notary = notary(&state)?;
    let second = size_or_latest(&notary, second)?;
    let engine = state.engine.clone();
    let proof = blocking(move || {
        let snap = engine.store().snapshot();
        notary
            .consistency(&snap, first, second)
            .map_err(proof_problem)
    })
    .await?;
    Ok(json_response(
        StatusCode::OK,
        serde_json::to_vec(&ConsistencyJson::new(first, second, &proof)).unwrap_or_default(),
    ))
}
