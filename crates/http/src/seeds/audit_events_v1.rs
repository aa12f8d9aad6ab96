//! Audit events v1: `GET /v1/audit/events`, cursor pages newest first, FastAPI's
//! validation errors (422).

use annal_model::{Catalogs, Event, Field};
use annal_query::{Dir, Filter, FilterBuilder, FilterProblem, Query, Start};
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use crate::params::pairs;
use crate::problem::ProblemItem;
use crate::respond::{blocking, json_response};
use crate::schemas::{AUDIT_EVENT_FIELDS, AUDIT_EVENT_FILTERS};
use crate::state::AppState;

/// Largest page of `/v1/audit/events`.
const EVENTS_LIMIT_MAX: u64 = 200;

/// One event in exactly the `AuditEventResponse` shape: every property present, `null`
/// where the event has none (required strings: `"unknown"`).
fn audit_event(seq: u64, e: &Event) -> Value {
    let mut m = Map::new();
    for (field, required) in AUDIT_EVENT_FIELDS {
        let v = match field {
            Field::Id => json!(e.display_id(seq)),
            Field::CreatedAt => {
                let mut created = String::new();
                e.created_at.write_rfc3339(&mut created);
                json!(created)
            }
            Field::Text(f) => match e.text(f) {
                None if required => json!("unknown"),
                v => json!(v),
            },
            Field::Int(f) => json!(e.int(f)),
            Field::LatencyMs => json!(e.latency_ms),
            Field::Payload => e
                .payload
                .as_deref()
                .and_then(|p| serde_json::from_str::<Value>(p).ok())
                .unwrap_or(Value::Null),
            // Not in the shape.
            Field::Seq | Field::ReceivedAt => continue,
        };
        m.insert(field.name().into(), v);
    }
    Value::Object(m)
}

/// A FastAPI-style validation error: 422 `{"detail": [{loc, msg, type}]}`.
fn validation(items: Vec<ProblemItem>) -> Response {
    let detail: Vec<Value> = items
        .into_iter()
        .map(|i| json!({"loc": i.loc, "msg": i.msg, "type": i.kind}))
        .collect();
    json_response(
        StatusCode::UNPROCESSABLE_ENTITY,
        serde_json::to_vec(&json!({ "detail": detail })).unwrap_or_default(),
    )
}

fn item(name: &str, msg: &str, kind: &str) -> ProblemItem {
    ProblemItem {
        loc: vec![json!("query"), json!(name)],
        msg: msg.into(),
        kind: kind.into(),
    }
}

/// FastAPI's words for a query value that is not an integer.
const NOT_AN_INTEGER: &str =
    "Input should be a valid integer, unable to parse string as an integer";

/// The filter, limit and start of an `/v1/audit/events` query string, or every problem
/// with it, located as FastAPI does.
pub(crate) fn events_params(
    query: Option<&str>,
    catalogs: &Catalogs,
) -> Result<(Filter, usize, Start), Vec<ProblemItem>> {
    // The limits and the empty-value rule of every route, located where `pairs` located them.
    let pairs = pairs(query).map_err(|p| {
        p.errors
            .into_iter()
            .map(|i| ProblemItem {
                kind: "value_error".into(),
                ..i
            })
            .collect::<Vec<_>>()
    })?;
    let mut filter = FilterBuilder::new(catalogs);
    let mut limit = 50usize;
    let mut start = Start::First;
    let mut bad = Vec::new();
    for (at, (name, v)) in pairs.iter().enumerate() {
        if let Some(field) = AUDIT_EVENT_FILTERS.into_iter().find(|f| f.name() == name) {
            // Each one more condition, as it always was here; every field here is filterable.
            if let Err(e) = filter.values(name, field, false, &[v]) {
                bad.push((at, item(name, &e.problem.to_string(), "value_error")));
            }
            continue;
        }
        match name.as_str() {
            "limit" => {
                let refused = match v.trim().parse::<i64>() {
                    Err(_) => item(name, NOT_AN_INTEGER, "int_parsing"),
                    Ok(n) if n < 1 => item(
                        name,
                        "Input should be greater than or equal to 1",
                        "greater_than_equal",
                    ),
                    Ok(n) if n as u64 > EVENTS_LIMIT_MAX => item(
                        name,
                        "Input should be less than or equal to 200",
                        "less_than_equal",
                    ),
                    Ok(n) => {
                        limit = n as usize;
                        continue;
                    }
                };
                bad.push((at, refused));
            }
            "cursor" => start = Start::Cursor(v.clone()),
            // FastAPI ignores parameters it does not declare.
            _ => {}
        }
    }
    let filter = filter.build();
    if let Err(refused) = &filter {
        for e in refused.iter() {
            // Listed where the value was given, among the limit's problems, as FastAPI does.
            let at = pairs
                .iter()
                .position(|(n, v)| *n == e.param && *v == e.value)
                .unwrap_or(pairs.len());
            let refused = match e.problem {
                FilterProblem::NotInteger(_) => item(&e.param, NOT_AN_INTEGER, "int_parsing"),
                _ => item(&e.param, &e.problem.to_string(), "value_error"),
            };
            bad.push((at, refused));
        }
    }
    bad.sort_by_key(|(at, _)| *at);
    match filter {
        Ok(filter) if bad.is_empty() => Ok((filter, limit, start)),
        _ => Err(bad.into_iter().map(|(_, item)| item).collect()),
    }
}

/// `GET /v1/audit/events`: `event_group`, `event_type`, `status`, `user_id`, `vm_id`,
/// `session_id`, `cursor`, `limit` (1–200, default 50); newest first.
#[utoipa::path(get, path = "/v1/audit/events", tag = "audit events v1",
    // The filters (AUDIT_EVENT_FILTERS) come first, added with the document's field parameters.
    params(
        ("cursor" = Option<String>, Query, nullable),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200),
    ),
    responses(
        (status = 200, description = "Successful Response", body = crate::schemas::AuditEventListResponse),
        (status = 422, description = "Validation Error", body = crate::schemas::HTTPValidationError),
    ))]
pub async fn audit_events(State(state): State<AppState>, uri: Uri) -> Response {
    let (filter, limit, start) = match events_params(uri.query(), state.engine.catalogs()) {
        Ok(p) => p,
        Err(bad) => return validation(bad),
    };
    let engine = state.engine.clone();
    let page = blocking(move || {
        Ok(engine.query(&Query {
            filter,
            order: Dir::Desc,
            limit,
            start,
        })?)
    })
    .await;
    match page {
        Ok(page) => {
            let items: Vec<Value> = page.items.iter().map(|(s, e)| audit_event(*s, e)).collect();
            let next = (page.items.len() == limit)
                .then_some(page.next_cursor)
                .flatten();
            json_response(
                StatusCode::OK,
                serde_json::to_vec(&json!({"items": items, "next_cursor": next}))
                    .unwrap_or_default(),
            )
        }
        Err(p) if p.status == 400 => validation(
            p.errors
                .into_iter()
                .map(|i| ProblemItem {
                    kind: "value_error".into(),
                    ..i
                })
                .collect(),
        ),
        Err(p) => p.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use annal_model::IngestContext;
    use utoipa::openapi::{RefOr, Schema};
    use utoipa::PartialSchema;

    use super::*;
    use crate::schemas::AuditEventResponse;

    /// The answer and the document come from one field list: an event with few fields is
    /// shown with exactly the properties the schema declares, the required ones not null.
    #[test]
    fn an_audit_event_has_exactly_the_schemas_properties() {
        let catalogs = Catalogs::builtin();
        let ctx = IngestContext::live(&catalogs);
        let e = Event::from_json(
            br#"{"event_type":"Login","action":"login","user_id":7}"#,
            &ctx,
        )
        .unwrap();
        let Value::Object(shown) = audit_event(3, &e) else {
            panic!("not an object")
        };
        let RefOr::T(Schema::Object(schema)) = AuditEventResponse::schema() else {
            panic!("not an object schema")
        };
        let shown_keys: Vec<&String> = shown.keys().collect();
        let declared: Vec<&String> = schema.properties.keys().collect();
        assert_eq!(shown_keys, declared);
        for name in &schema.required {
            assert!(!shown[name].is_null(), "{name} is required");
        }
        assert_eq!(shown["actor_type"], "unknown");
        assert_eq!(shown["user_id"], 7);
    }
}
