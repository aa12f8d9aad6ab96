//! The OpenAPI 3.1 document: paths and schemas declared beside what the handlers really do,
//! the native list's field parameters generated from the field table, and API key security.
//! Served at `/openapi.json` and, for the file-transfer seed, at
//! `/api/audit/swagger/v1/swagger.json` with Swagger UI at `/api/audit/swagger/`.

use std::collections::BTreeMap;

use annal_model::{Field, IntField, TextField};
use serde::Serialize;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, Required, Schema};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::problem::{Problem, ProblemItem};

/// An event as the API returns it: `seq`, `id`, times, then every field the event has
/// (absent fields are left out).
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct EventOut {
    /// Position in the trail.
    seq: u64,
    /// The producer's id, or `annal:{seq}`.
    id: String,
    /// Event time (RFC 3339).
    #[schema(format = DateTime)]
    created_at: String,
    /// Time the store received it.
    #[schema(format = DateTime)]
    received_at: String,
    event_type: Option<String>,
    event_code: Option<i64>,
    event_group: Option<String>,
    action: Option<String>,
    status: Option<String>,
    actor_type: Option<String>,
    actor_id: Option<String>,
    user_id: Option<i64>,
    source: Option<String>,
    resource_type: Option<String>,
    resource_id: Option<String>,
    session_id: Option<String>,
    vm_id: Option<String>,
    task_id: Option<i64>,
    request_id: Option<String>,
    correlation_id: Option<String>,
    http_method: Option<String>,
    path: Option<String>,
    http_status: Option<i64>,
    latency_ms: Option<f64>,
    ip_address: Option<String>,
    user_agent: Option<String>,
    node_ip: Option<String>,
    worker_id: Option<String>,
    error_message: Option<String>,
    /// Any JSON value.
    event_payload: Option<serde_json::Value>,
}

/// A page of events.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct EventPage {
    items: Vec<EventOut>,
    /// The following page (absent at the oldest end of a newest-first walk).
    next_cursor: Option<String>,
    /// The page before.
    prev_cursor: Option<String>,
}

/// What one appended event became.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct AppendedOut {
    seq: u64,
    id: String,
    /// True when the `id` was already stored: `seq` is the stored event's.
    duplicate: bool,
}

/// The result of an append, in the order sent.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct AppendResult {
    items: Vec<AppendedOut>,
}

/// An exact count.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct CountOut {
    count: u64,
}

/// One histogram bucket.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct BucketOut {
    #[schema(format = DateTime)]
    start: String,
    count: u64,
    /// Counts per value of the `by` field.
    by: BTreeMap<String, u64>,
}

/// Matches per time bucket; empty buckets are left out.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct HistogramOut {
    interval: String,
    buckets: Vec<BucketOut>,
}

/// One catalog entry.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct CatalogEntryOut {
    code: i64,
    name: String,
    category: String,
    description: String,
}

/// One catalog.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct CatalogOut {
    name: String,
    /// Codes of events whose `source` names no catalog resolve here.
    default: bool,
    entries: Vec<CatalogEntryOut>,
}

/// Every catalog.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct CatalogsOut {
    catalogs: Vec<CatalogOut>,
}

/// `/api/Audit`'s page.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct AuditPage {
    page_number: u64,
    page_size: u64,
    total_count: u64,
    total_pages: u64,
    items: Vec<EventOut>,
}

/// One audit log of `/api/v2/audit_logs`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct AuditLog {
    id: String,
    action: Option<String>,
    actor_id: Option<String>,
    source_type: Option<String>,
    source_id: Option<String>,
    ip_address: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
    change_description: Option<String>,
}

/// Pagination state of `/api/v2/audit_logs`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct AuditLogsMeta {
    has_more: bool,
    after_cursor: Option<String>,
    before_cursor: Option<String>,
}

/// Links of `/api/v2/audit_logs`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct AuditLogsLinks {
    next: Option<String>,
    prev: Option<String>,
}

/// `/api/v2/audit_logs`'s page.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct AuditLogsPage {
    audit_logs: Vec<AuditLog>,
    meta: AuditLogsMeta,
    links: AuditLogsLinks,
}

/// An event in the audit events v1 shape.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct AuditEventResponse {
    id: String,
    #[schema(format = DateTime)]
    created_at: String,
    user_id: Option<i64>,
    actor_type: String,
    actor_id: Option<String>,
    source: String,
    event_group: String,
    event_type: String,
    status: String,
    resource_type: Option<String>,
    resource_id: Option<String>,
    session_id: Option<String>,
    vm_id: Option<String>,
    task_id: Option<i64>,
    request_id: Option<String>,
    correlation_id: Option<String>,
    http_method: Option<String>,
    path: Option<String>,
    http_status: Option<i64>,
    latency_ms: Option<f64>,
    ip_address: Option<String>,
    user_agent: Option<String>,
    node_ip: Option<String>,
    worker_id: Option<String>,
    event_payload: Option<serde_json::Value>,
    error_message: Option<String>,
}

/// `/v1/audit/events`'s page.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct AuditEventListResponse {
    items: Vec<AuditEventResponse>,
    next_cursor: Option<String>,
}

/// A FastAPI validation error item.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct ValidationError {
    #[schema(schema_with = crate::problem::loc_schema)]
    loc: Vec<serde_json::Value>,
    msg: String,
    #[serde(rename = "type")]
    kind: String,
}

/// One Server-Sent Event of `/v1/events/stream`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct StreamMessage {
    /// The event's seq (send it back as `Last-Event-ID` to resume).
    id: String,
    /// The event as JSON (an `EventOut`).
    data: String,
    /// Always `message`.
    event: Option<String>,
}

/// FastAPI's validation error body.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct HTTPValidationError {
    detail: Vec<ValidationError>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "annal",
        description = "Append-only, tamper-evident audit-event store. Native API under /v1; the file-transfer audit API, audit logs v2 and audit events v1 routes over the same store.",
        version = "0.1.0"
    ),
    paths(
        crate::native::append,
        crate::native::list,
        crate::native::get_one,
        crate::native::count,
        crate::native::histogram,
        crate::native::catalog,
        crate::native::healthz,
        crate::stream::stream,
        crate::stream::export,
        crate::seeds::audit,
        crate::seeds::audit_logs,
        crate::seeds::audit_events,
        crate::proofs::checkpoint,
        crate::proofs::inclusion,
        crate::proofs::consistency,
    ),
    components(schemas(
        EventOut, EventPage, AppendedOut, AppendResult, CountOut, BucketOut, HistogramOut,
        CatalogEntryOut, CatalogOut, CatalogsOut, AuditPage, AuditLog, AuditLogsMeta,
        AuditLogsLinks, AuditLogsPage, AuditEventResponse, AuditEventListResponse,
        ValidationError, HTTPValidationError, Problem, ProblemItem, StreamMessage,
        annal_integrity::json::InclusionJson, annal_integrity::json::ConsistencyJson
    )),
    modifiers(&Security, &FieldParams, &LayerResponses),
    security(("api_key" = []), ("bearer" = []))
)]
/// The OpenAPI document of every route.
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let c = openapi.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Adds the answers the layers give on every route they wrap, so no route declares them
/// itself: 401 and 403 from the API key check (all routes but the open ones), 408 from the
/// request timeout (all routes but streams and exports).
struct LayerResponses;

impl Modify for LayerResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let problem = |what: &str| {
            ResponseBuilder::new()
                .description(what)
                .content(
                    "application/problem+json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build()
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let open = crate::OPEN_ROUTES.contains(&path.as_str());
            let timed = !crate::UNTIMED_ROUTES.contains(&path.as_str());
            for op in [&mut item.get, &mut item.post].into_iter().flatten() {
                let responses = &mut op.responses.responses;
                if !open {
                    responses.insert("401".into(), problem("No valid API key").into());
                    responses.insert(
                        "403".into(),
                        problem("The key's role may not do this").into(),
                    );
                }
                if timed {
                    let late = ResponseBuilder::new().description("The request took too long");
                    responses.insert("408".into(), late.build().into());
                }
            }
        }
    }
}

/// Adds every filterable field (and its `not.` form) as a repeatable query parameter of the
/// native routes that take filters.
struct FieldParams;

/// Native routes that take the field filters.
const FILTERED_PATHS: [&str; 5] = [
    "/v1/events",
    "/v1/events/count",
    "/v1/events/histogram",
    "/v1/events/stream",
    "/v1/export",
];

fn field_param(name: String, integer: bool, what: String) -> Parameter {
    let item = if integer {
        ObjectBuilder::new().schema_type(Type::Integer).format(Some(
            utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Int64),
        ))
    } else {
        ObjectBuilder::new().schema_type(Type::String)
    };
    let schema: RefOr<Schema> = ArrayBuilder::new().items(item).build().into();
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(what))
        .schema(Some(schema))
        .explode(Some(true))
        .build()
}

impl Modify for FieldParams {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let fields: Vec<Field> = TextField::ALL
            .into_iter()
            .map(Field::Text)
            .chain(IntField::ALL.into_iter().map(Field::Int))
            .collect();
        for path in FILTERED_PATHS {
            let Some(item) = openapi.paths.paths.get_mut(path) else {
                continue;
            };
            let Some(op) = item.get.as_mut() else {
                continue;
            };
            let params = op.parameters.get_or_insert_with(Vec::new);
            for f in &fields {
                let integer = matches!(f, Field::Int(_));
                params.push(field_param(
                    f.name().to_string(),
                    integer,
                    format!(
                        "Events whose {} is one of these (repeat for several)",
                        f.name()
                    ),
                ));
                params.push(field_param(
                    format!("not.{}", f.name()),
                    integer,
                    format!("Leave out events whose {} is one of these", f.name()),
                ));
            }
        }
    }
}

/// Filters every native query route takes (besides the field parameters).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct FilterParams {
    /// Events created at or after this time (a date alone: its start, UTC).
    from: Option<String>,
    /// Events created before this time (exclusive).
    to: Option<String>,
    /// Free text in event_type, error_message, path, user_agent or the code's catalog name.
    q: Option<String>,
    /// Catalog category (case-insensitive), e.g. Configuration.
    category: Option<Vec<String>>,
}

/// Paging of `GET /v1/events`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct PageParams {
    /// `desc` (newest first, the default) or `asc`.
    #[param(pattern = "^(asc|desc)$")]
    order: Option<String>,
    /// Page size.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// A cursor from an earlier page (`next_cursor` or `prev_cursor`).
    cursor: Option<String>,
    /// Page number from 1 (offset pagination).
    #[param(minimum = 1)]
    page: Option<u32>,
}
