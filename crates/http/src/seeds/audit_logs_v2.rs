//! Audit logs v2: `GET /api/v2/audit_logs`, with cursor or offset pagination.

use annal_model::{Catalogs, Event, Field, TextField};
use annal_query::{Dir, Filter, FilterBuilder, Query, Start};
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde_json::{json, Value};

use crate::params::{number, pairs};
use crate::problem::Problem;
use crate::respond::{blocking, cursor_link, json_response};
use crate::state::AppState;

/// Largest page of `/api/v2/audit_logs`.
const LOGS_PAGE_MAX: u64 = 100;

/// One audit log as v2 shows it.
fn audit_log(seq: u64, e: &Event) -> Value {
    let description = e
        .payload
        .as_deref()
        .and_then(|p| serde_json::from_str::<Value>(p).ok())
        .and_then(|p| {
            p.get("change_description")
                .and_then(Value::as_str)
                .map(String::from)
        })
        .or_else(|| e.text(TextField::EventType).map(String::from));
    let mut created = String::new();
    e.created_at.write_rfc3339(&mut created);
    json!({
        "id": e.display_id(seq),
        "action": e.text(TextField::Action),
        "actor_id": e.text(TextField::ActorId),
        "source_type": e.text(TextField::ResourceType),
        "source_id": e.text(TextField::ResourceId),
        "ip_address": e.text(TextField::IpAddress),
        "created_at": created,
        "change_description": description,
    })
}

/// What an `/api/v2/audit_logs` request asks for.
pub(crate) struct LogsParams {
    /// The filter.
    pub(crate) filter: Filter,
    /// Sort order.
    pub(crate) order: Dir,
    /// Page size.
    pub(crate) size: u64,
    /// Where to start.
    pub(crate) start: Start,
    /// The parameters links to other pages keep (all but the cursor and page number).
    pub(crate) kept: Vec<(String, String)>,
}

/// Parses an `/api/v2/audit_logs` request's parameters.
pub(crate) fn logs_params(
    pairs: &[(String, String)],
    catalogs: &Catalogs,
) -> Result<LogsParams, Problem> {
    let mut filter = FilterBuilder::new(catalogs);
    let (mut actions, mut created) = (Vec::new(), Vec::new());
    let (mut source_type, mut source_id) = (None, None);
    let mut size = LOGS_PAGE_MAX;
    let mut order = Dir::Desc;
    let mut start = Start::First;
    let mut offset_page: Option<u64> = None;
    let mut kept: Vec<(String, String)> = Vec::new();
    for (name, v) in pairs {
        let keep =
            !name.starts_with("page[after") && !name.starts_with("page[before") && name != "page";
        if keep {
            kept.push((name.clone(), v.clone()));
        }
        match name.as_str() {
            "filter[action]" | "filter[action][]" => actions.push(v.clone()),
            // Each one more condition, as it always was here.
            "filter[actor_id]" => {
                filter.values(name, Field::Text(TextField::ActorId), false, &[v])?
            }
            "filter[ip_address]" => {
                filter.values(name, Field::Text(TextField::IpAddress), false, &[v])?
            }
            "filter[source_type]" => source_type = Some(v.clone()),
            "filter[source_id]" => source_id = Some(v.clone()),
            "filter[created_at]" | "filter[created_at][]" => created.push(v.clone()),
            "page[size]" | "per_page" => size = number(name, v, 1, LOGS_PAGE_MAX)?,
            "page[after]" | "page[before]" => start = Start::Cursor(v.clone()),
            "page" => offset_page = Some(number(name, v, 1, u64::from(u32::MAX))?),
            "sort" => {
                order = match v.as_str() {
                    "created_at" => Dir::Asc,
                    "-created_at" => Dir::Desc,
                    _ => {
                        return Err(Problem::bad_param(
                            name,
                            "expected created_at or -created_at",
                        ))
                    }
                }
            }
            "sort_by" => {
                if v != "created_at" {
                    return Err(Problem::bad_param(name, "only created_at"));
                }
            }
            "sort_order" => {
                order = match v.as_str() {
                    "asc" => Dir::Asc,
                    "desc" => Dir::Desc,
                    _ => return Err(Problem::bad_param(name, "expected asc or desc")),
                }
            }
            _ => return Err(Problem::bad_param(name, "unknown parameter")),
        }
    }
    filter.values(
        "filter[action]",
        Field::Text(TextField::Action),
        false,
        &actions,
    )?;
    // Each on its own: an id alone is the objects of that id whatever their type (the
    // document cannot say that one parameter needs another, so the server does not either).
    if let Some(t) = &source_type {
        let type_field = Field::Text(TextField::ResourceType);
        filter.values("filter[source_type]", type_field, false, &[t])?;
    }
    if let Some(id) = &source_id {
        let id_field = Field::Text(TextField::ResourceId);
        filter.values("filter[source_id]", id_field, false, &[id])?;
    }
    match created.as_slice() {
        [] => {}
        [from, to] => {
            filter.from("filter[created_at]", from)?;
            filter.to_inclusive("filter[created_at]", to)?;
        }
        _ => {
            return Err(Problem::bad_param(
                "filter[created_at]",
                "give it exactly twice: the start, then the end",
            ))
        }
    }
    if let Some(p) = offset_page {
        start = Start::Offset((p - 1).saturating_mul(size));
    }
    Ok(LogsParams {
        filter: filter.build()?,
        order,
        size,
        start,
        kept,
    })
}

/// `GET /api/v2/audit_logs`: `filter[...]`, cursor (`page[size]`, `page[after]`,
/// `page[before]`, `sort`) or offset (`page`, `per_page`, `sort_by`, `sort_order`) pagination.
#[utoipa::path(get, path = "/api/v2/audit_logs", tag = "audit logs v2",
    params(
        // One spelling documented (two would be one identifier in generated clients, which
        // then drop the route); `filter[action]=…` is accepted too, as it always was.
        ("filter[action][]" = Option<Vec<String>>, Query, description = "Actions, any of them (repeat); filter[action] is accepted as the same parameter", explode),
        ("filter[source_type]" = Option<String>, Query, description = "Type of the audited object"),
        ("filter[source_id]" = Option<String>, Query, description = "Id of the audited object (with filter[source_type]: of that type)"),
        ("filter[actor_id]" = Option<String>, Query, description = "Actor id"),
        ("filter[ip_address]" = Option<String>, Query, description = "IP address"),
        ("filter[created_at][]" = Option<Vec<String>>, Query, description = "Exactly twice: start, then end (both inclusive)", explode, min_items = 2, max_items = 2),
        ("page[size]" = Option<u32>, Query, description = "Cursor pagination: page size", minimum = 1, maximum = 100),
        ("page[after]" = Option<String>, Query, description = "Cursor pagination: after this cursor"),
        ("page[before]" = Option<String>, Query, description = "Cursor pagination: before this cursor"),
        ("sort" = Option<String>, Query, description = "created_at or -created_at (default)", pattern = "^-?created_at$"),
        ("page" = Option<u64>, Query, description = "Offset pagination: page number from 1", minimum = 1, maximum = 4294967295_i64),
        ("per_page" = Option<u32>, Query, description = "Offset pagination: page size", minimum = 1, maximum = 100),
        ("sort_by" = Option<String>, Query, description = "Offset pagination: created_at", pattern = "^created_at$"),
        ("sort_order" = Option<String>, Query, description = "Offset pagination: asc or desc (default)", pattern = "^(asc|desc)$"),
    ),
    responses(
        (status = 200, description = "A page of audit logs", body = crate::schemas::AuditLogsPage),
        (status = 400, description = "A parameter is invalid", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
pub async fn audit_logs(State(state): State<AppState>, uri: Uri) -> Result<Response, Problem> {
    let pairs = pairs(uri.query())?;
    let engine = state.engine.clone();
    let path = uri.path().to_string();
    let body = blocking(move || {
        let LogsParams {
            filter,
            order,
            size,
            start,
            kept,
        } = logs_params(&pairs, engine.catalogs())?;
        let page = engine.query(&Query {
            filter,
            order,
            limit: size as usize,
            start,
        })?;
        let logs: Vec<Value> = page.items.iter().map(|(s, e)| audit_log(*s, e)).collect();
        let has_more = page.items.len() as u64 == size && page.next_cursor.is_some();
        let after = if has_more { page.next_cursor.clone() } else { None };
        let link = |param: &str, c: &Option<String>| {
            c.as_ref().map(|c| cursor_link(&path, &kept, param, c))
        };
        Ok(json!({
            "audit_logs": logs,
            "meta": {"has_more": has_more, "after_cursor": after, "before_cursor": page.prev_cursor},
            "links": {"next": link("page[after]", &after), "prev": link("page[before]", &page.prev_cursor)},
        }))
    })
    .await?;
    Ok(json_response(
        StatusCode::OK,
        serde_json::to_vec(&body).unwrap_or_default(),
    ))
}
