//! The OpenAPI 3.1 document: paths and schemas declared beside what the handlers really do,
//! the native list's field parameters generated from the field table, and API key security.
//! Served at `/openapi.json` and, for the file-transfer seed, at
//! `/api/audit/swagger/v1/swagger.json` with Swagger UI at `/api/audit/swagger/`.

use annal_model::{ValueKind, FILTERABLE};
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{Modify, OpenApi};

use crate::problem::{Problem, ProblemItem};
use crate::routes::{OPEN_ROUTES, UNTIMED_ROUTES};
use crate::schemas::{
    field_schema, optional_query_param, AppendBody, AppendResult, AppendedOut,
    AuditEventListResponse, AuditEventResponse, AuditLog, AuditLogsLinks, AuditLogsMeta,
    AuditLogsPage, AuditPage, BucketOut, CatalogEntryOut, CatalogOut, CatalogsOut, CountOut,
    EventIn, EventOut, EventPage, GroupOut, HTTPValidationError, HistogramOut, StreamMessage,
    ValidationError, AUDIT_EVENT_FILTERS,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "annal",
        description = "Append-only, tamper-evident audit-event store. Native API under /v1; the file-transfer audit API, audit logs v2 and audit events v1 routes over the same store.\n\nOn every route a query parameter given with an empty value (from=) is refused (400; 422 on /v1/audit/events, as FastAPI answers): leave it out instead. Time bounds before 1970 or after 2262 are the store's first or last instant, and a range that ends before it starts matches nothing.\n\nOnce retention pruned the oldest events, every query answer carries the header `Annal-Trail-Start: SEQ` (the first seq the trail holds: a range before it answers empty), and a pruned event or its proof answers 410. The C2SP tlog-tiles routes (`/checkpoint`, `/tile/…`) follow that spec and are not listed here.",
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
        crate::auth::whoami,
        crate::trail::trail,
        crate::trail::metrics,
        crate::stream::stream,
        crate::stream::export,
        crate::seeds::file_transfer::audit,
        crate::seeds::audit_logs_v2::audit_logs,
        crate::seeds::audit_events_v1::audit_events,
        crate::proofs::checkpoint,
        crate::proofs::inclusion,
        crate::proofs::consistency,
        crate::retention::status,
        crate::retention::prune,
        crate::retention::list_holds,
        crate::retention::place_hold,
        crate::retention::release_hold,
    ),
    components(schemas(
        EventIn, AppendBody, EventOut, EventPage, AppendedOut, AppendResult, CountOut, GroupOut, BucketOut, HistogramOut,
        CatalogEntryOut, CatalogOut, CatalogsOut, AuditPage, AuditLog, AuditLogsMeta,
        AuditLogsLinks, AuditLogsPage, AuditEventResponse, AuditEventListResponse,
        ValidationError, HTTPValidationError, Problem, ProblemItem, StreamMessage,
        annal_integrity::json::InclusionJson, annal_integrity::json::ConsistencyJson,
        crate::retention::RetentionOut, crate::retention::PruneOut, crate::retention::HoldOut,
        crate::retention::PruneResultOut, crate::retention::HoldIn, crate::retention::ReleaseIn,
        crate::auth::WhoamiOut, crate::trail::TrailOut, crate::trail::SegmentsOut,
        crate::trail::TrailCheckpointOut, crate::trail::TrailVerifyOut, crate::trail::TrailBucketOut
    )),
    servers((url = "/", description = "This server (the document's own origin)")),
    modifiers(&Security, &FieldParams, &LayerResponses, &Exact),
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
                responses.insert(
                    "405".into(),
                    problem("The route does not take this method (the Allow header lists those it takes)").into(),
                );
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
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Int64,
            )))
            .minimum(Some(i64::MIN))
            .maximum(Some(i64::MAX))
    } else {
        ObjectBuilder::new().schema_type(Type::String)
    };
    let schema: RefOr<Schema> = ArrayBuilder::new().items(item).build().into();
    optional_query_param(name, schema)
        .description(Some(what))
        .explode(Some(true))
        .build()
}

impl Modify for FieldParams {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let v1 = openapi.paths.paths.get_mut(AUDIT_EVENTS_PATH);
        if let Some(op) = v1.and_then(|item| item.get.as_mut()) {
            let params = op.parameters.get_or_insert_with(Vec::new);
            let filters = AUDIT_EVENT_FILTERS
                .map(|f| optional_query_param(f.name(), field_schema(f, false, None)).build());
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

/// Query parameters that are times: an RFC 3339 date-time or a bare date (`YYYY-MM-DD`, that
/// day's start in UTC), as `Timestamp::parse_date_or_time` reads them.
const TIME_PARAMS: [&str; 5] = ["from", "to", "startDate", "endDate", "filter[created_at][]"];

/// What `Timestamp::parse_date_or_time` accepts, as a pattern (beside `format: date-time`,
/// which a bare date is not): a date, optionally a time with 1 to 9 digits of fraction and a
/// `Z` or `±HH:MM` offset.
pub(crate) const TIME_PATTERN: &str =
    r"^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2}))?$";

/// The rules that make the document say exactly what the server accepts, applied to every
/// operation so that a route added later follows them too:
/// - every query parameter's string values have `minLength: 1` (the server refuses an empty
///   value on every route: see `params::pairs`);
/// - a parameter whose pattern is a closed list of words (`^(asc|desc)$`) is an `enum`, which
///   generators turn into a type;
/// - the time parameters have a format and a pattern;
/// - operation summaries are one line of plain text (no Markdown backticks, which Swagger UI
///   shows literally in a summary).
struct Exact;

impl Modify for Exact {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for op in [&mut item.get, &mut item.post].into_iter().flatten() {
                if let Some(summary) = &mut op.summary {
                    // One line of plain text: a doc comment's first paragraph may wrap.
                    *summary = summary.replace('`', "").replace('\n', " ");
                }
                for p in op.parameters.iter_mut().flatten() {
                    if p.parameter_in != ParameterIn::Query {
                        continue;
                    }
                    let time = TIME_PARAMS.contains(&p.name.as_str());
                    if let Some(schema) = &mut p.schema {
                        with_kind(schema, Type::Integer, &mut bounded);
                        with_kind(schema, Type::String, &mut |o| {
                            o.min_length = Some(1);
                            if time {
                                o.format = Some(utoipa::openapi::SchemaFormat::KnownFormat(
                                    utoipa::openapi::KnownFormat::DateTime,
                                ));
                                o.pattern = Some(TIME_PATTERN.to_string());
                            }
                            if let Some(words) = o.pattern.as_deref().and_then(closed_words) {
                                o.pattern = None;
                                o.enum_values = Some(words.into_iter().map(Into::into).collect());
                            }
                        });
                    }
                    if time {
                        let about = p.description.get_or_insert_with(String::new);
                        about.push_str(" (an RFC 3339 date-time, or a date YYYY-MM-DD: that day's start in UTC)");
                    }
                }
            }
        }
    }
}

/// An integer parameter without both bounds gets those of its format (every integer the
/// server parses is bounded by the type it parses into, which the format names).
fn bounded(o: &mut utoipa::openapi::schema::Object) {
    use utoipa::openapi::{KnownFormat, SchemaFormat};
    let (lo, hi) = match &o.format {
        Some(SchemaFormat::KnownFormat(KnownFormat::Int32)) => {
            (i64::from(i32::MIN), i64::from(i32::MAX))
        }
        _ => (i64::MIN, i64::MAX),
    };
    o.minimum.get_or_insert(lo.into());
    o.maximum.get_or_insert(hi.into());
}

/// Calls `f` on the schema of a parameter whose values are of `kind`, or on its array's items.
pub(crate) fn with_kind(
    schema: &mut RefOr<Schema>,
    kind: Type,
    f: &mut dyn FnMut(&mut utoipa::openapi::schema::Object),
) {
    let is_kind = |t: &SchemaType| match t {
        SchemaType::Type(t) => *t == kind,
        SchemaType::Array(ts) => ts.contains(&kind),
        _ => false,
    };
    match schema {
        RefOr::T(Schema::Object(o)) if is_kind(&o.schema_type) => f(o),
        RefOr::T(Schema::Array(a)) => {
            if let utoipa::openapi::schema::ArrayItems::RefOrSchema(items) = &mut a.items {
                with_kind(items, kind, f)
            }
        }
        _ => {}
    }
}

/// The words a pattern of the form `^(a|b|c)$`, `^a$` or `^-?a$` matches, if it is one.
fn closed_words(pattern: &str) -> Option<Vec<String>> {
    let body = pattern.strip_prefix('^')?.strip_suffix('$')?;
    let word = |w: &str| {
        !w.is_empty()
            && w.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    if let Some(w) = body.strip_prefix("-?") {
        return word(w).then(|| vec![w.to_string(), format!("-{w}")]);
    }
    let inner = body
        .strip_prefix('(')
        .and_then(|b| b.strip_suffix(')'))
        .unwrap_or(body);
    let words: Vec<String> = inner.split('|').map(String::from).collect();
    words.iter().all(|w| word(w)).then_some(words)
}

/// The document as this server serves it: [`ApiDoc`] with the closed sets its catalogs decide
/// as enums (`category`: every category; `/api/Audit`'s `eventType`: every event type name and
/// every code of the file-transfer catalog), and `by`: the filterable fields. Values are
/// matched case-insensitively; the enum lists each one's catalog spelling.
pub fn document(catalogs: &annal_model::Catalogs) -> utoipa::openapi::OpenApi {
    let mut doc = <ApiDoc as OpenApi>::openapi();
    let mut categories: Vec<String> = catalogs
        .iter()
        .flat_map(|c| c.entries().map(|e| e.category.clone()))
        .collect();
    categories.sort();
    categories.dedup();
    let mut event_types: Vec<String> = catalogs
        .iter()
        .flat_map(|c| c.entries().map(|e| e.name.clone()))
        .chain(
            catalogs
                .iter()
                .filter(|c| c.name() == crate::seeds::file_transfer::FILE_TRANSFER)
                .flat_map(|c| c.entries().map(|e| e.code.to_string())),
        )
        .collect();
    event_types.sort();
    event_types.dedup();
    let fields: Vec<String> = FILTERABLE.iter().map(|f| f.name().to_string()).collect();
    for (path, item) in doc.paths.paths.iter_mut() {
        let Some(op) = item.get.as_mut() else {
            continue;
        };
        for p in op.parameters.iter_mut().flatten() {
            let words = match (path.as_str(), p.name.as_str()) {
                (_, "category") => &categories,
                ("/api/Audit", "eventType") => &event_types,
                ("/v1/events/histogram", "by") => &fields,
                _ => continue,
            };
            if let Some(schema) = &mut p.schema {
                with_kind(schema, Type::String, &mut |o| {
                    o.enum_values = Some(words.iter().map(|w| w.as_str().into()).collect())
                });
            }
        }
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::closed_words;

    #[test]
    fn closed_word_patterns_become_enums_and_others_stay_patterns() {
        let words = |p: &str| closed_words(p).map(|w| w.join(","));
        assert_eq!(words("^(asc|desc)$").as_deref(), Some("asc,desc"));
        assert_eq!(words("^created_at$").as_deref(), Some("created_at"));
        assert_eq!(
            words("^-?created_at$").as_deref(),
            Some("created_at,-created_at")
        );
        assert_eq!(words(super::TIME_PATTERN), None);
        assert_eq!(words("^a.b$"), None);
        assert_eq!(words("asc|desc"), None);
    }
}
