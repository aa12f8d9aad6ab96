//! The response schemas of every route, and the parameters the native routes share, as the
//! OpenAPI document declares them. The two event shapes (`EventOut`, `AuditEventResponse`)
//! are derived from the field table (names, kinds, order), so a field added there shows in
//! the document and in the answers alike.

use std::borrow::Cow;
use std::collections::BTreeMap;

use annal_model::{
    Field, IntField, TextField, ValueKind, CREATED_AHEAD_MAX_NANOS, ID_BYTES_MAX, JSON_ORDER,
    MADE_ID_PREFIX, NANOS_PER_DAY, PAYLOAD_BYTES_MAX, TEXT_BYTES_MAX,
};
use serde::Serialize;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, SchemaType, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use crate::problem::loc_schema;

/// The audit events v1 shape, in its order: each field, and whether the shape requires it
/// (a required text the event lacks is shown as `"unknown"`; `id` and `created_at` every
/// event has).
pub(crate) const AUDIT_EVENT_FIELDS: [(Field, bool); 26] = [
    (Field::Id, true),
    (Field::CreatedAt, true),
    (Field::Int(IntField::UserId), false),
    (Field::Text(TextField::ActorType), true),
    (Field::Text(TextField::ActorId), false),
    (Field::Text(TextField::Source), true),
    (Field::Text(TextField::EventGroup), true),
    (Field::Text(TextField::EventType), true),
    (Field::Text(TextField::Status), true),
    (Field::Text(TextField::ResourceType), false),
    (Field::Text(TextField::ResourceId), false),
    (Field::Text(TextField::SessionId), false),
    (Field::Text(TextField::VmId), false),
    (Field::Int(IntField::TaskId), false),
    (Field::Text(TextField::RequestId), false),
    (Field::Text(TextField::CorrelationId), false),
    (Field::Text(TextField::HttpMethod), false),
    (Field::Text(TextField::Path), false),
    (Field::Int(IntField::HttpStatus), false),
    (Field::LatencyMs, false),
    (Field::Text(TextField::IpAddress), false),
    (Field::Text(TextField::UserAgent), false),
    (Field::Text(TextField::NodeIp), false),
    (Field::Text(TextField::WorkerId), false),
    (Field::Payload, false),
    (Field::Text(TextField::ErrorMessage), false),
];

/// The fields `/v1/audit/events` filters on, each a query parameter of its name, in the
/// order its document lists them.
pub(crate) const AUDIT_EVENT_FILTERS: [Field; 6] = [
    Field::Text(TextField::EventGroup),
    Field::Text(TextField::EventType),
    Field::Text(TextField::Status),
    Field::Int(IntField::UserId),
    Field::Text(TextField::VmId),
    Field::Text(TextField::SessionId),
];

/// The schema of one field's value; `required` ones are never null.
pub(crate) fn field_schema(field: Field, required: bool, about: Option<&str>) -> RefOr<Schema> {
    let typed = |t: Type| {
        let schema_type = if required {
            SchemaType::Type(t)
        } else {
            SchemaType::from_iter([t, Type::Null])
        };
        ObjectBuilder::new().schema_type(schema_type)
    };
    let format = |f: KnownFormat| Some(SchemaFormat::KnownFormat(f));
    let schema = match field.kind() {
        ValueKind::Unsigned => typed(Type::Integer)
            .format(format(KnownFormat::Int64))
            .minimum(Some(0)),
        ValueKind::Text => typed(Type::String),
        ValueKind::Integer => typed(Type::Integer).format(format(KnownFormat::Int64)),
        ValueKind::Number => typed(Type::Number).format(format(KnownFormat::Double)),
        ValueKind::Time => typed(Type::String).format(format(KnownFormat::DateTime)),
        ValueKind::Json => ObjectBuilder::new().schema_type(SchemaType::AnyValue),
    };
    schema.description(about).build().into()
}

/// An object of `fields` (each with whether it is required and what it is).
fn event_schema<'a>(
    about: &str,
    fields: impl IntoIterator<Item = (Field, bool, Option<&'a str>)>,
) -> RefOr<Schema> {
    let mut object = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(about));
    for (field, required, what) in fields {
        object = object.property(field.name(), field_schema(field, required, what));
        if required {
            object = object.required(field.name());
        }
    }
    object.build().into()
}

/// An event as the API returns it: `seq`, `id`, times, then every field the event has
/// (absent fields are left out).
// Serialize only because the page schemas that hold it derive it (for their serde renames).
#[derive(Serialize)]
pub struct EventOut;

impl EventOut {
    /// What the document says of a field beyond its name and kind.
    fn about(field: Field) -> Option<&'static str> {
        Some(match field {
            Field::Seq => "Position in the trail.",
            Field::Id => "The producer's id, or `annal:{seq}`.",
            Field::CreatedAt => "Event time (RFC 3339).",
            Field::ReceivedAt => "Time the store received it.",
            Field::Payload => "Any JSON value.",
            _ => return None,
        })
    }
}

impl PartialSchema for EventOut {
    fn schema() -> RefOr<Schema> {
        // The store assigns these, so every event shown has them.
        let always = |f: Field| {
            matches!(
                f,
                Field::Seq | Field::Id | Field::CreatedAt | Field::ReceivedAt
            )
        };
        event_schema(
            "An event as the API returns it: `seq`, `id`, times, then every field the event has\n(absent fields are left out).",
            JSON_ORDER.map(|f| (f, always(f), EventOut::about(f))),
        )
    }
}

impl ToSchema for EventOut {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("EventOut")
    }
}

/// An event in the audit events v1 shape ([`AUDIT_EVENT_FIELDS`]).
#[derive(Serialize)]
pub struct AuditEventResponse;

impl PartialSchema for AuditEventResponse {
    fn schema() -> RefOr<Schema> {
        event_schema(
            "An event in the audit events v1 shape.",
            AUDIT_EVENT_FIELDS.map(|(f, required)| (f, required, None)),
        )
    }
}

impl ToSchema for AuditEventResponse {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("AuditEventResponse")
    }
}

/// An event as a producer sends it to `POST /v1/events`: every field of the field table but
/// those the store assigns (`seq`, `received_at`), each with its type and limit as
/// `Event::from_json` checks them. `null` is the same as leaving a field out.
pub struct EventIn;

impl EventIn {
    /// The schema of one field a producer may send (None: the store assigns it).
    fn field(field: Field) -> Option<RefOr<Schema>> {
        let nullable = |t: Type| SchemaType::from_iter([t, Type::Null]);
        let int64 = Some(SchemaFormat::KnownFormat(KnownFormat::Int64));
        let o = match field {
            Field::Seq | Field::ReceivedAt => return None,
            Field::Id => ObjectBuilder::new()
                .schema_type(nullable(Type::String))
                .min_length(Some(1))
                .max_length(Some(ID_BYTES_MAX))
                .pattern(Some(format!("^(?!{MADE_ID_PREFIX})")))
                .description(Some(format!(
                    "Idempotency key: a re-sent id is not stored twice. 1 to {ID_BYTES_MAX} bytes of UTF-8; ids starting with {MADE_ID_PREFIX:?} are the store's own."
                ))),
            Field::CreatedAt => ObjectBuilder::new()
                .schema_type(nullable(Type::String))
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
                .description(Some(format!(
                    "Event time (RFC 3339, 1970 to 2262), at most {} hours after the store receives it; left out: the time received.",
                    CREATED_AHEAD_MAX_NANOS / (NANOS_PER_DAY / 24)
                ))),
            // Required and never empty (or filled from the catalog: see the description).
            Field::Text(TextField::EventType) => ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(TEXT_BYTES_MAX))
                .description(Some(format!(
                    "The event's type, at most {TEXT_BYTES_MAX} bytes of UTF-8. May be left out when event_code is in a catalog (GET /v1/catalog): the catalog's name is filled in."
                ))),
            Field::Text(_) => ObjectBuilder::new()
                .schema_type(nullable(Type::String))
                .max_length(Some(TEXT_BYTES_MAX))
                .description(Some(format!("At most {TEXT_BYTES_MAX} bytes of UTF-8."))),
            Field::Int(IntField::HttpStatus) => ObjectBuilder::new()
                .schema_type(nullable(Type::Integer))
                .format(int64)
                .minimum(Some(100))
                .maximum(Some(599)),
            Field::Int(_) => ObjectBuilder::new()
                .schema_type(nullable(Type::Integer))
                .format(int64)
                .minimum(Some(i64::MIN))
                .maximum(Some(i64::MAX)),
            Field::LatencyMs => ObjectBuilder::new()
                .schema_type(nullable(Type::Number))
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Double)))
                .minimum(Some(0)),
            Field::Payload => ObjectBuilder::new()
                .schema_type(SchemaType::AnyValue)
                .description(Some(format!(
                    "Any JSON value, at most {PAYLOAD_BYTES_MAX} bytes as compact JSON; integers within 64 bits."
                ))),
        };
        Some(o.build().into())
    }
}

impl PartialSchema for EventIn {
    fn schema() -> RefOr<Schema> {
        let mut object = ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "An event as a producer sends it: every field but seq and received_at, which the store assigns. null is the same as leaving a field out; other fields are refused.",
            ))
            .required("event_type")
            .additional_properties(Some(utoipa::openapi::schema::AdditionalProperties::FreeForm(false)));
        for f in JSON_ORDER {
            if let Some(schema) = EventIn::field(f) {
                object = object.property(f.name(), schema);
            }
        }
        object.build().into()
    }
}

impl ToSchema for EventIn {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("EventIn")
    }
}

/// The JSON body of `POST /v1/events`: one event, or an array of them (all or nothing).
pub struct AppendBody;

impl PartialSchema for AppendBody {
    fn schema() -> RefOr<Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, OneOfBuilder};
        let event = utoipa::openapi::Ref::from_schema_name("EventIn");
        let many = ArrayBuilder::new()
            .items(event.clone())
            .min_items(Some(1))
            .max_items(Some(annal_storage::APPEND_EVENTS_MAX));
        let one_or_many = OneOfBuilder::new()
            .item(event)
            .item(many)
            .description(Some("One event, or a JSON array of 1 to 100,000 events"));
        RefOr::T(Schema::OneOf(one_or_many.build()))
    }
}

impl ToSchema for AppendBody {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("AppendBody")
    }
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

/// An exact count; with `group_by`, the matches per value of that field too.
// The count route answers this type serialized, so the document and the server agree.
#[derive(Serialize, ToSchema)]
pub struct CountOut {
    /// Every match (with `group_by`, also those without the field: the groups sum to at
    /// most this).
    pub(crate) count: u64,
    /// With `group_by` only: distinct values among the matches. More than `groups` holds
    /// when `limit` cut the list.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub(crate) distinct: Option<u64>,
    /// With `group_by` only: the largest groups, largest first, ties in value order
    /// (numeric for integer fields); at most `limit`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub(crate) groups: Option<Vec<GroupOut>>,
}

/// Matches holding one value of the `group_by` field.
#[derive(Serialize, ToSchema)]
pub struct GroupOut {
    /// The value, typed as the field is: an integer for integer fields (`event_code`,
    /// `user_id`, `task_id`, `http_status`), a string for text fields.
    #[schema(schema_with = group_value_schema)]
    pub(crate) value: serde_json::Value,
    /// Matches holding it.
    pub(crate) count: u64,
}

fn group_value_schema() -> Schema {
    let one_of = utoipa::openapi::schema::OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64))),
        )
        .item(ObjectBuilder::new().schema_type(Type::String))
        .build();
    Schema::OneOf(one_of)
}

/// `group_by` and its `limit`, of `GET /v1/events/count`.
pub struct GroupParams;

/// Most groups one count answers: the largest `limit` with `group_by`, and its default.
/// Beyond it the largest groups are returned and `distinct` says how many values there were.
pub const GROUPS_LIMIT_MAX: usize = 1000;

/// An optional query parameter `name` of `schema`, for the caller to describe and build.
pub(crate) fn optional_query_param(
    name: impl Into<String>,
    schema: impl Into<RefOr<Schema>>,
) -> utoipa::openapi::path::ParameterBuilder {
    utoipa::openapi::path::ParameterBuilder::new()
        .name(name)
        .parameter_in(utoipa::openapi::path::ParameterIn::Query)
        .required(utoipa::openapi::Required::False)
        .schema(Some(schema))
}

impl utoipa::IntoParams for GroupParams {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        let max = GROUPS_LIMIT_MAX;
        let fields = ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(annal_model::FILTERABLE.map(|f| f.name())));
        let limit = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .maximum(Some(max as u64))
            .default(Some(serde_json::json!(max)));
        [
            ("group_by", fields, "Count the matches per value of this text or integer field (answered with `distinct` and `groups`). Other fields are refused with 400."),
            ("limit", limit, "With `group_by`: the most groups returned, the largest; `distinct` says how many values there were. Without `group_by` it is ignored, as on every count."),
        ]
        .into_iter()
        .map(|(name, schema, what)| optional_query_param(name, schema).description(Some(what)).build())
        .collect()
    }
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
    #[schema(schema_with = loc_schema)]
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
    #[param(minimum = 1, maximum = 4294967295_i64)]
    page: Option<u64>,
}
