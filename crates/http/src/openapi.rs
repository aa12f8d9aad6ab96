//! The OpenAPI 3.1 document: paths and schemas declared beside what the handlers really do,
//! the native list's field parameters generated from the field table, and API key security.
//! Served at `/openapi.json` and, for the file-transfer seed, at
//! `/api/audit/swagger/v1/swagger.json` with Swagger UI at `/api/audit/swagger/`.

use annal_model::{ValueKind, FILTERABLE};
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, Required, Schema};
use utoipa::{Modify, OpenApi};

use crate::problem::{Problem, ProblemItem};
use crate::routes::{OPEN_ROUTES, UNTIMED_ROUTES};
use crate::schemas::{
    field_schema, AppendResult, AppendedOut, AuditEventListResponse, AuditEventResponse, AuditLog,
    AuditLogsLinks, AuditLogsMeta, AuditLogsPage, AuditPage, BucketOut, CatalogEntryOut,
    CatalogOut, CatalogsOut, CountOut, EventOut, EventPage, GroupOut, HTTPValidationError,
    HistogramOut, StreamMessage, ValidationError, AUDIT_EVENT_FILTERS,
};

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
        crate::seeds::file_transfer::audit,
        crate::seeds::audit_logs_v2::audit_logs,
        crate::seeds::audit_events_v1::audit_events,
        crate::proofs::checkpoint,
        crate::proofs::inclusion,
        crate::proofs::consistency,
    ),
    components(schemas(
        EventOut, EventPage, AppendedOut, AppendResult, CountOut, GroupOut, BucketOut, HistogramOut,
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
            let open = OPEN_ROUTES.contains(&path.as_str());
            let timed = !UNTIMED_ROUTES.contains(&path.as_str());
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
/// native routes that take filters, and the filters of `/v1/audit/events` before its own
/// parameters.
struct FieldParams;

/// The audit events v1 route, whose filters are field parameters.
const AUDIT_EVENTS_PATH: &str = "/v1/audit/events";

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
        let v1 = openapi.paths.paths.get_mut(AUDIT_EVENTS_PATH);
        if let Some(op) = v1.and_then(|item| item.get.as_mut()) {
            let params = op.parameters.get_or_insert_with(Vec::new);
            let filters = AUDIT_EVENT_FILTERS.map(|f| {
                ParameterBuilder::new()
                    .name(f.name())
                    .parameter_in(ParameterIn::Query)
                    .required(Required::False)
                    .schema(Some(field_schema(f, false, None)))
                    .build()
            });
            params.splice(0..0, filters);
        }
        for path in FILTERED_PATHS {
            let Some(item) = openapi.paths.paths.get_mut(path) else {
                continue;
            };
            let Some(op) = item.get.as_mut() else {
                continue;
            };
            let params = op.parameters.get_or_insert_with(Vec::new);
            for f in FILTERABLE {
                let integer = f.kind() == ValueKind::Integer;
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
