//! The table of event fields. Every place that walks fields (JSON in and out, the canonical
//! record bytes, the sealed column layout, the indexes, the filters, the HTTP API's schemas
//! and parameters, the generator's JSON keys) walks this one table: names from
//! [`Field::name`], order from [`JSON_ORDER`], value kinds from [`Field::kind`], filterable
//! fields from [`FILTERABLE`].
//!
//! The order of [`TextField::ALL`] and [`IntField::ALL`] fixes the presence bits of the
//! canonical record bytes, which the Merkle tree hashes: reordering or inserting a field
//! changes every stored record's bytes and so needs a new record format version
//! (docs/format.md, "Versioning policy").

/// Text-valued fields, in column order. Each variant is the JSON field of the same name in
/// snake case (see [`TextField::name`]).
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum TextField {
    EventType,
    EventGroup,
    Action,
    Status,
    ActorType,
    ActorId,
    Source,
    ResourceType,
    ResourceId,
    SessionId,
    VmId,
    RequestId,
    CorrelationId,
    HttpMethod,
    Path,
    IpAddress,
    UserAgent,
    NodeIp,
    WorkerId,
    ErrorMessage,
}

impl TextField {
    /// Number of text fields.
    pub const COUNT: usize = 20;
    /// All text fields, in column order.
    pub const ALL: [TextField; TextField::COUNT] = [
        TextField::EventType,
        TextField::EventGroup,
        TextField::Action,
        TextField::Status,
        TextField::ActorType,
        TextField::ActorId,
        TextField::Source,
        TextField::ResourceType,
        TextField::ResourceId,
        TextField::SessionId,
        TextField::VmId,
        TextField::RequestId,
        TextField::CorrelationId,
        TextField::HttpMethod,
        TextField::Path,
        TextField::IpAddress,
        TextField::UserAgent,
        TextField::NodeIp,
        TextField::WorkerId,
        TextField::ErrorMessage,
    ];

    /// The JSON name.
    pub fn name(self) -> &'static str {
        match self {
            TextField::EventType => "event_type",
            TextField::EventGroup => "event_group",
            TextField::Action => "action",
            TextField::Status => "status",
            TextField::ActorType => "actor_type",
            TextField::ActorId => "actor_id",
            TextField::Source => "source",
            TextField::ResourceType => "resource_type",
            TextField::ResourceId => "resource_id",
            TextField::SessionId => "session_id",
            TextField::VmId => "vm_id",
            TextField::RequestId => "request_id",
            TextField::CorrelationId => "correlation_id",
            TextField::HttpMethod => "http_method",
            TextField::Path => "path",
            TextField::IpAddress => "ip_address",
            TextField::UserAgent => "user_agent",
            TextField::NodeIp => "node_ip",
            TextField::WorkerId => "worker_id",
            TextField::ErrorMessage => "error_message",
        }
    }
}

/// Integer-valued fields; each variant is the JSON field of the same name in snake case.
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum IntField {
    EventCode,
    UserId,
    TaskId,
    HttpStatus,
}

impl IntField {
    /// Number of integer fields.
    pub const COUNT: usize = 4;
    /// All integer fields, in column order.
    pub const ALL: [IntField; IntField::COUNT] = [
        IntField::EventCode,
        IntField::UserId,
        IntField::TaskId,
        IntField::HttpStatus,
    ];

    /// The JSON name.
    pub fn name(self) -> &'static str {
        match self {
            IntField::EventCode => "event_code",
            IntField::UserId => "user_id",
            IntField::TaskId => "task_id",
            IntField::HttpStatus => "http_status",
        }
    }
}

/// Any field of a record, as named in JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    /// Position in the trail, assigned by the store.
    Seq,
    /// Producer's idempotency key.
    Id,
    /// Event time.
    CreatedAt,
    /// Time the store received the event; assigned by the store.
    ReceivedAt,
    /// A text field.
    Text(TextField),
    /// An integer field.
    Int(IntField),
    /// `latency_ms`, a finite number.
    LatencyMs,
    /// `event_payload`, any JSON value.
    Payload,
}

/// Every field in JSON output order (the order of DESIGN.md's record table).
pub const JSON_ORDER: [Field; 30] = [
    Field::Seq,
    Field::Id,
    Field::CreatedAt,
    Field::ReceivedAt,
    Field::Text(TextField::EventType),
    Field::Int(IntField::EventCode),
    Field::Text(TextField::EventGroup),
    Field::Text(TextField::Action),
    Field::Text(TextField::Status),
    Field::Text(TextField::ActorType),
    Field::Text(TextField::ActorId),
    Field::Int(IntField::UserId),
    Field::Text(TextField::Source),
    Field::Text(TextField::ResourceType),
    Field::Text(TextField::ResourceId),
    Field::Text(TextField::SessionId),
    Field::Text(TextField::VmId),
    Field::Int(IntField::TaskId),
    Field::Text(TextField::RequestId),
    Field::Text(TextField::CorrelationId),
    Field::Text(TextField::HttpMethod),
    Field::Text(TextField::Path),
    Field::Int(IntField::HttpStatus),
    Field::LatencyMs,
    Field::Text(TextField::IpAddress),
    Field::Text(TextField::UserAgent),
    Field::Text(TextField::NodeIp),
    Field::Text(TextField::WorkerId),
    Field::Payload,
    Field::Text(TextField::ErrorMessage),
];

/// What a field's values are in JSON: what the API schemas and parameters declare for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValueKind {
    /// A non-negative integer (`seq`).
    Unsigned,
    /// A string.
    Text,
    /// A signed 64-bit integer.
    Integer,
    /// A finite floating-point number.
    Number,
    /// An RFC 3339 date-time string.
    Time,
    /// Any JSON value.
    Json,
}

/// The fields a filter can name: every text field, then every integer field, each in column
/// order. Seq, id, times, latency and payload are left out: the indexes hold only text and
/// integer values (times are a filter's range, not a field clause).
pub const FILTERABLE: [Field; TextField::COUNT + IntField::COUNT] = {
    let mut all = [Field::Seq; TextField::COUNT + IntField::COUNT];
    let mut i = 0;
    while i < TextField::COUNT {
        all[i] = Field::Text(TextField::ALL[i]);
        i += 1;
    }
    while i < all.len() {
        all[i] = Field::Int(IntField::ALL[i - TextField::COUNT]);
        i += 1;
    }
    all
};

impl Field {
    /// What the field's values are.
    pub fn kind(self) -> ValueKind {
        match self {
            Field::Seq => ValueKind::Unsigned,
            Field::Id | Field::Text(_) => ValueKind::Text,
            Field::CreatedAt | Field::ReceivedAt => ValueKind::Time,
            Field::Int(_) => ValueKind::Integer,
            Field::LatencyMs => ValueKind::Number,
            Field::Payload => ValueKind::Json,
        }
    }

    /// True for the fields of [`FILTERABLE`].
    pub fn is_filterable(self) -> bool {
        matches!(self, Field::Text(_) | Field::Int(_))
    }

    /// The JSON name.
    pub fn name(self) -> &'static str {
        match self {
            Field::Seq => "seq",
            Field::Id => "id",
            Field::CreatedAt => "created_at",
            Field::ReceivedAt => "received_at",
            Field::Text(t) => t.name(),
            Field::Int(i) => i.name(),
            Field::LatencyMs => "latency_ms",
            Field::Payload => "event_payload",
        }
    }

    /// Looks a field up by its JSON name.
    pub fn from_name(name: &str) -> Option<Field> {
        // A match compiles to a length switch plus a few compares: this runs once per field
        // of every ingested event.
        Some(match name {
            "seq" => Field::Seq,
            "id" => Field::Id,
            "created_at" => Field::CreatedAt,
            "received_at" => Field::ReceivedAt,
            "event_type" => Field::Text(TextField::EventType),
            "event_code" => Field::Int(IntField::EventCode),
            "event_group" => Field::Text(TextField::EventGroup),
            "action" => Field::Text(TextField::Action),
            "status" => Field::Text(TextField::Status),
            "actor_type" => Field::Text(TextField::ActorType),
            "actor_id" => Field::Text(TextField::ActorId),
            "user_id" => Field::Int(IntField::UserId),
            "source" => Field::Text(TextField::Source),
            "resource_type" => Field::Text(TextField::ResourceType),
            "resource_id" => Field::Text(TextField::ResourceId),
            "session_id" => Field::Text(TextField::SessionId),
            "vm_id" => Field::Text(TextField::VmId),
            "task_id" => Field::Int(IntField::TaskId),
            "request_id" => Field::Text(TextField::RequestId),
            "correlation_id" => Field::Text(TextField::CorrelationId),
            "http_method" => Field::Text(TextField::HttpMethod),
            "path" => Field::Text(TextField::Path),
            "http_status" => Field::Int(IntField::HttpStatus),
            "latency_ms" => Field::LatencyMs,
            "ip_address" => Field::Text(TextField::IpAddress),
            "user_agent" => Field::Text(TextField::UserAgent),
            "node_ip" => Field::Text(TextField::NodeIp),
            "worker_id" => Field::Text(TextField::WorkerId),
            "event_payload" => Field::Payload,
            "error_message" => Field::Text(TextField::ErrorMessage),
            _ => return None,
        })
    }

    /// Position in [`JSON_ORDER`].
    pub fn json_index(self) -> usize {
        match self {
            Field::Seq => 0,
            Field::Id => 1,
            Field::CreatedAt => 2,
            Field::ReceivedAt => 3,
            Field::Text(TextField::EventType) => 4,
            Field::Int(IntField::EventCode) => 5,
            Field::Text(TextField::EventGroup) => 6,
            Field::Text(TextField::Action) => 7,
            Field::Text(TextField::Status) => 8,
            Field::Text(TextField::ActorType) => 9,
            Field::Text(TextField::ActorId) => 10,
            Field::Int(IntField::UserId) => 11,
            Field::Text(TextField::Source) => 12,
            Field::Text(TextField::ResourceType) => 13,
            Field::Text(TextField::ResourceId) => 14,
            Field::Text(TextField::SessionId) => 15,
            Field::Text(TextField::VmId) => 16,
            Field::Int(IntField::TaskId) => 17,
            Field::Text(TextField::RequestId) => 18,
            Field::Text(TextField::CorrelationId) => 19,
            Field::Text(TextField::HttpMethod) => 20,
            Field::Text(TextField::Path) => 21,
            Field::Int(IntField::HttpStatus) => 22,
            Field::LatencyMs => 23,
            Field::Text(TextField::IpAddress) => 24,
            Field::Text(TextField::UserAgent) => 25,
            Field::Text(TextField::NodeIp) => 26,
            Field::Text(TextField::WorkerId) => 27,
            Field::Payload => 28,
            Field::Text(TextField::ErrorMessage) => 29,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_positions_agree_with_json_order() {
        for (i, f) in JSON_ORDER.iter().enumerate() {
            assert_eq!(Field::from_name(f.name()), Some(*f));
            assert_eq!(f.json_index(), i);
        }
        assert_eq!(Field::from_name("nope"), None);
    }

    #[test]
    fn filterable_fields_are_the_text_then_the_integer_fields() {
        let filterable: Vec<Field> = JSON_ORDER
            .into_iter()
            .filter(|f| f.is_filterable())
            .collect();
        assert_eq!(filterable.len(), FILTERABLE.len());
        assert!(FILTERABLE.iter().all(|f| filterable.contains(f)));
        assert_eq!(FILTERABLE[0], Field::Text(TextField::ALL[0]));
        assert_eq!(FILTERABLE[TextField::COUNT], Field::Int(IntField::ALL[0]));
    }
}
