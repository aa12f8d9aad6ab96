//! The event record, its validation from JSON, and its JSON form.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde_json::Value;

use crate::catalog::Catalogs;
use crate::field::{Field, IntField, TextField, JSON_ORDER};
use crate::time::{Timestamp, NANOS_PER_DAY};

const NANOS_PER_HOUR: i64 = NANOS_PER_DAY / 24;

/// Longest text field value, in bytes of UTF-8.
pub const TEXT_BYTES_MAX: usize = 4096;
/// Longest `id`, in bytes; idempotency keys are short tokens, not documents.
pub const ID_BYTES_MAX: usize = 255;
/// Largest `event_payload`, in bytes of its canonical (compact, sorted-key) JSON.
pub const PAYLOAD_BYTES_MAX: usize = 64 * 1024;
/// Ids the store makes for events sent without one are this prefix and the event's `seq`;
/// producers may not use the prefix, so a made id never collides with a sent one.
pub const MADE_ID_PREFIX: &str = "annal:";

/// What is wrong with a producer's `id`, if anything: the one rule for every entry point
/// (JSON validation and [`crate::check_record_limits`] for events built in code). An id is
/// never empty and never starts with [`MADE_ID_PREFIX`], so `GET /v1/events/annal:N` always
/// means seq N and a made id never collides with a sent one.
pub(crate) fn id_problem(id: &str) -> Option<(ProblemKind, String)> {
    if id.is_empty() {
        Some((ProblemKind::Invalid, "must not be empty".into()))
    } else if id.starts_with(MADE_ID_PREFIX) {
        let msg = format!("the prefix {MADE_ID_PREFIX:?} is reserved for ids the store makes");
        Some((ProblemKind::Reserved, msg))
    } else {
        None
    }
}

/// An audit event as stored: everything but its `seq`, which is its position in the trail.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Event {
    /// Event time.
    pub created_at: Timestamp,
    /// Time the store received the event.
    pub received_at: Timestamp,
    /// The producer's idempotency key, if it sent one.
    pub id: Option<Box<str>>,
    pub(crate) text: [Option<Box<str>>; TextField::COUNT],
    pub(crate) ints: [Option<i64>; IntField::COUNT],
    /// `latency_ms`: finite and not negative.
    pub latency_ms: Option<f64>,
    /// `event_payload` as canonical JSON text: compact, object keys sorted.
    pub payload: Option<Box<str>>,
}

impl Event {
    /// An event with only its times set.
    pub fn new(created_at: Timestamp, received_at: Timestamp) -> Event {
        Event {
            created_at,
            received_at,
            ..Event::default()
        }
    }

    /// A text field's value.
    pub fn text(&self, field: TextField) -> Option<&str> {
        self.text[field as usize].as_deref()
    }

    /// Sets a text field.
    pub fn set_text(&mut self, field: TextField, value: Option<Box<str>>) {
        self.text[field as usize] = value;
    }

    /// An integer field's value.
    pub fn int(&self, field: IntField) -> Option<i64> {
        self.ints[field as usize]
    }

    /// Sets an integer field.
    pub fn set_int(&mut self, field: IntField, value: Option<i64>) {
        self.ints[field as usize] = value;
    }

    /// The id as clients see it: the producer's, or the one the store made from `seq`.
    pub fn display_id(&self, seq: u64) -> Cow<'_, str> {
        match &self.id {
            Some(id) => Cow::Borrowed(id),
            None => Cow::Owned(format!("{MADE_ID_PREFIX}{seq}")),
        }
    }

    /// Appends the event as one JSON object, with `seq`, fields in [`JSON_ORDER`], absent
    /// fields omitted.
    pub fn write_json(&self, seq: u64, out: &mut Vec<u8>) {
        out.push(b'{');
        let mut first = true;
        let mut key = |out: &mut Vec<u8>, name: &str| {
            if !first {
                out.push(b',');
            }
            first = false;
            out.push(b'"');
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"\":");
        };
        let mut time = String::with_capacity(32);
        for field in JSON_ORDER {
            match field {
                Field::Seq => {
                    key(out, "seq");
                    write_decimal(out, seq as i128);
                }
                Field::Id => {
                    key(out, "id");
                    write_json_str(out, &self.display_id(seq));
                }
                Field::CreatedAt | Field::ReceivedAt => {
                    let t = if field == Field::CreatedAt {
                        self.created_at
                    } else {
                        self.received_at
                    };
                    key(out, field.name());
                    time.clear();
                    t.write_rfc3339(&mut time);
                    write_json_str(out, &time);
                }
                Field::Text(f) => {
                    if let Some(v) = self.text(f) {
                        key(out, f.name());
                        write_json_str(out, v);
                    }
                }
                Field::Int(f) => {
                    if let Some(v) = self.int(f) {
                        key(out, f.name());
                        write_decimal(out, i128::from(v));
                    }
                }
                Field::LatencyMs => {
                    if let Some(v) = self.latency_ms {
                        key(out, "latency_ms");
                        // serde_json writes the shortest text that reads back to the same f64.
                        let _ = serde_json::to_writer(&mut *out, &v);
                    }
                }
                Field::Payload => {
                    if let Some(p) = &self.payload {
                        key(out, "event_payload");
                        out.extend_from_slice(p.as_bytes());
                    }
                }
            }
        }
        out.push(b'}');
    }

    /// The header row of [`write_csv`](Self::write_csv): every field's JSON name, in JSON
    /// order, and a line end.
    pub fn write_csv_header(out: &mut Vec<u8>) {
        let names: Vec<&str> = JSON_ORDER.iter().map(|f| f.name()).collect();
        out.extend_from_slice(names.join(",").as_bytes());
        out.extend_from_slice(b"\r\n");
    }

    /// Appends the event as one RFC 4180 CSV row (fields in JSON order, absent ones empty,
    /// `event_payload` as its JSON text, quoted where needed) and a line end.
    pub fn write_csv(&self, seq: u64, out: &mut Vec<u8>) {
        for (i, field) in JSON_ORDER.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let text: Option<Cow<'_, str>> = match *field {
                Field::Seq => Some(seq.to_string().into()),
                Field::Id => Some(self.display_id(seq)),
                Field::CreatedAt | Field::ReceivedAt => {
                    let t = if *field == Field::CreatedAt {
                        self.created_at
                    } else {
                        self.received_at
                    };
                    let mut s = String::with_capacity(32);
                    t.write_rfc3339(&mut s);
                    Some(s.into())
                }
                Field::Text(f) => self.text(f).map(Cow::Borrowed),
                Field::Int(f) => self.int(f).map(|v| v.to_string().into()),
                Field::LatencyMs => self
                    .latency_ms
                    .and_then(|v| serde_json::to_string(&v).ok())
                    .map(Cow::Owned),
                Field::Payload => self.payload.as_deref().map(Cow::Borrowed),
            };
            if let Some(t) = text {
                if t.contains([',', '"', '\n', '\r']) {
                    out.push(b'"');
                    out.extend_from_slice(t.replace('"', "\"\"").as_bytes());
                    out.push(b'"');
                } else {
                    out.extend_from_slice(t.as_bytes());
                }
            }
        }
        out.extend_from_slice(b"\r\n");
    }

    /// The event as a JSON value (convenience for tests and small outputs).
    pub fn to_json_value(&self, seq: u64) -> Value {
        let mut out = Vec::new();
        self.write_json(seq, &mut out);
        serde_json::from_slice(&out).unwrap_or(Value::Null)
    }
}

fn write_json_str(out: &mut Vec<u8>, s: &str) {
    // Most stored text needs no escaping: copy it between quotes. Else let serde_json escape.
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // Writing a &str into a Vec cannot fail.
        let _ = serde_json::to_writer(out, s);
    }
}

/// Appends an integer in decimal, without allocating.
pub fn write_decimal(out: &mut Vec<u8>, v: i128) {
    let mut buf = [0u8; 40];
    let mut i = buf.len();
    let mut n = v.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    out.extend_from_slice(&buf[i..]);
}

/// What kind of problem a field has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemKind {
    /// A required field is absent.
    Missing,
    /// The value has the wrong JSON type.
    WrongType,
    /// The field is not part of the record.
    UnknownField,
    /// The field is set by the store, not by producers.
    Reserved,
    /// The field appears twice in one object.
    Duplicate,
    /// The value is longer than its limit.
    TooLong,
    /// The value has the right type but is not acceptable.
    Invalid,
    /// The text is not a JSON object at all.
    Syntax,
}

impl ProblemKind {
    /// A stable machine-readable name, as used in API error bodies.
    pub fn code(self) -> &'static str {
        match self {
            ProblemKind::Missing => "missing",
            ProblemKind::WrongType => "wrong_type",
            ProblemKind::UnknownField => "unknown_field",
            ProblemKind::Reserved => "reserved",
            ProblemKind::Duplicate => "duplicate",
            ProblemKind::TooLong => "too_long",
            ProblemKind::Invalid => "invalid",
            ProblemKind::Syntax => "syntax",
        }
    }
}

/// One problem with one field of one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldProblem {
    /// The field's JSON name (empty for a problem with the whole event).
    pub field: String,
    /// The kind of problem.
    pub kind: ProblemKind,
    /// What is wrong, for a person.
    pub msg: String,
}

impl fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}", self.msg)
        } else {
            write!(f, "{}: {}", self.field, self.msg)
        }
    }
}

/// Every problem found in one event.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct InvalidEvent {
    /// The problems, in the order found.
    pub problems: Vec<FieldProblem>,
}

impl fmt::Display for InvalidEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// How far past its receipt a live event may be dated. Producers' clocks run a little
/// ahead, but an event dated next year is a bug or a forgery, and it would sort after every
/// event to come in time ranges, histograms and retention.
pub const CREATED_AHEAD_MAX_NANOS: i64 = NANOS_PER_DAY;

/// What validation needs besides the event itself.
#[derive(Clone, Copy, Debug)]
pub struct IngestContext<'a> {
    /// Catalogs that fill `event_type`/`event_group` from `event_code`.
    pub catalogs: &'a Catalogs,
    /// The time of receipt, used as `received_at` and as `created_at` when absent.
    pub received_at: Timestamp,
    /// The latest `created_at` accepted; None accepts any (generators and replays, whose
    /// `received_at` is not the wall clock).
    pub created_at_max: Option<Timestamp>,
}

impl<'a> IngestContext<'a> {
    /// Validation of events received now, from producers: `created_at` at most
    /// [`CREATED_AHEAD_MAX_NANOS`] ahead of the clock.
    pub fn live(catalogs: &'a Catalogs) -> IngestContext<'a> {
        let now = Timestamp::now();
        IngestContext {
            catalogs,
            received_at: now,
            created_at_max: Some(Timestamp(now.0.saturating_add(CREATED_AHEAD_MAX_NANOS))),
        }
    }
}

impl Event {
    /// Parses and validates one JSON object. Every problem is reported, each naming its field.
    pub fn from_json(text: &[u8], ctx: &IngestContext<'_>) -> Result<Event, InvalidEvent> {
        let mut de = serde_json::Deserializer::from_slice(text);
        let mut builder = Builder::new(ctx.received_at);
        let parsed = DeserializeSeed::deserialize(&mut builder, &mut de).and_then(|()| de.end());
        if let Err(e) = parsed {
            builder.problem(
                "",
                ProblemKind::Syntax,
                format!("not a valid JSON object: {e}"),
            );
        }
        builder.finish(ctx)
    }

    /// Validates an already-parsed JSON value (used by APIs that receive JSON arrays).
    pub fn from_value(value: Value, ctx: &IngestContext<'_>) -> Result<Event, InvalidEvent> {
        let mut builder = Builder::new(ctx.received_at);
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    builder.field(&k, v);
                }
            }
            _ => builder.problem(
                "",
                ProblemKind::Syntax,
                "an event must be a JSON object".into(),
            ),
        }
        builder.finish(ctx)
    }
}

/// Collects fields of one event and every problem with them.
struct Builder {
    event: Event,
    created_at_given: bool,
    seen: u64,
    problems: Vec<FieldProblem>,
}

impl Builder {
    fn new(received_at: Timestamp) -> Builder {
        Builder {
            event: Event {
                received_at,
                ..Event::default()
            },
            created_at_given: false,
            seen: 0,
            problems: Vec::new(),
        }
    }

    fn problem(&mut self, field: &str, kind: ProblemKind, msg: String) {
        self.problems.push(FieldProblem {
            field: field.to_string(),
            kind,
            msg,
        });
    }

    fn field(&mut self, name: &str, value: Value) {
        let Some(position) = Field::from_name(name).map(Field::json_index) else {
            let msg = "not a field of an audit event".to_string();
            return self.problem(name, ProblemKind::UnknownField, msg);
        };
        if self.seen & (1 << position) != 0 {
            return self.problem(name, ProblemKind::Duplicate, "given more than once".into());
        }
        self.seen |= 1 << position;
        if value.is_null() {
            return;
        }
        match JSON_ORDER[position] {
            Field::Seq | Field::ReceivedAt => {
                let msg = "is assigned by the store; remove it".to_string();
                self.problem(name, ProblemKind::Reserved, msg)
            }
            Field::Id => {
                if let Some(id) = self.text_value(name, value, ID_BYTES_MAX) {
                    match id_problem(&id) {
                        Some((kind, msg)) => self.problem(name, kind, msg),
                        None => self.event.id = Some(id.into_boxed_str()),
                    }
                }
            }
            Field::CreatedAt => match value {
                Value::String(s) => match Timestamp::parse_rfc3339(&s) {
                    Ok(t) => {
                        self.event.created_at = t;
                        self.created_at_given = true;
                    }
                    Err(e) => self.problem(
                        name,
                        ProblemKind::Invalid,
                        format!("unparseable date-time {s:?}: {e}"),
                    ),
                },
                other => self.wrong_type(name, "an RFC 3339 date-time string", &other),
            },
            Field::Text(f) => {
                if let Some(s) = self.text_value(name, value, TEXT_BYTES_MAX) {
                    if f == TextField::EventType && s.is_empty() {
                        self.problem(name, ProblemKind::Invalid, "must not be empty".into());
                    } else {
                        self.event.set_text(f, Some(s.into_boxed_str()));
                    }
                }
            }
            // An integral number written with a fraction (`7.0`) is that integer, as JSON Schema
            // counts it; one outside 64 bits is not.
            Field::Int(f) => match value.as_i64().or_else(|| integral(&value)) {
                Some(v) if f == IntField::HttpStatus && !(100..=599).contains(&v) => self.problem(
                    name,
                    ProblemKind::Invalid,
                    format!("{v} is not an HTTP status (100-599)"),
                ),
                Some(v) => self.event.set_int(f, Some(v)),
                None => self.wrong_type(name, "an integer between -2^63 and 2^63-1", &value),
            },
            Field::LatencyMs => match value.as_f64() {
                // `-0.0` is stored as 0.0 so the canonical bytes have one zero.
                Some(v) if value.is_number() && v >= 0.0 && v.is_finite() => {
                    self.event.latency_ms = Some(v.abs())
                }
                Some(v) if value.is_number() => {
                    self.problem(name, ProblemKind::Invalid, format!("{v} is negative"))
                }
                _ => self.wrong_type(name, "a number", &value),
            },
            Field::Payload => {
                // Value's maps are ordered by key, so this text is canonical.
                let text = value.to_string();
                if text.len() > PAYLOAD_BYTES_MAX {
                    let msg = format!(
                        "is {} bytes as JSON; the limit is {PAYLOAD_BYTES_MAX}",
                        text.len()
                    );
                    self.problem(name, ProblemKind::TooLong, msg);
                } else {
                    self.event.payload = Some(text.into_boxed_str());
                }
            }
        }
    }

    fn text_value(&mut self, name: &str, value: Value, max: usize) -> Option<String> {
        match value {
            Value::String(s) if s.len() > max => {
                let msg = format!("is {} bytes; the limit is {max}", s.len());
                self.problem(name, ProblemKind::TooLong, msg);
                None
            }
            Value::String(s) => Some(s),
            other => {
                self.wrong_type(name, "a string", &other);
                None
            }
        }
    }

    fn wrong_type(&mut self, name: &str, expected: &str, got: &Value) {
        let got = match got {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        };
        self.problem(
            name,
            ProblemKind::WrongType,
            format!("expected {expected}, got {got}"),
        );
    }

    fn finish(mut self, ctx: &IngestContext<'_>) -> Result<Event, InvalidEvent> {
        let catalogs = ctx.catalogs;
        if !self.created_at_given {
            self.event.created_at = self.event.received_at;
        }
        if ctx
            .created_at_max
            .is_some_and(|max| self.event.created_at > max)
        {
            let hours = (self.event.created_at.0 - self.event.received_at.0) / NANOS_PER_HOUR;
            let ahead = match hours {
                0..48 => format!("{hours} hours"),
                _ => format!("{} days", hours / 24),
            };
            self.problem(
                "created_at",
                ProblemKind::Invalid,
                format!(
                    "{} is {ahead} after the event was received ({}); events may be dated at most {} hours ahead",
                    self.event.created_at,
                    self.event.received_at,
                    CREATED_AHEAD_MAX_NANOS / NANOS_PER_HOUR,
                ),
            );
        }
        let code = self.event.int(IntField::EventCode);
        let entry = code.and_then(|c| catalogs.resolve(c, self.event.text(TextField::Source)));
        if let Some(entry) = entry {
            if self.event.text(TextField::EventType).is_none() {
                self.event
                    .set_text(TextField::EventType, Some(entry.name.as_str().into()));
            }
            if self.event.text(TextField::EventGroup).is_none() {
                self.event
                    .set_text(TextField::EventGroup, Some(entry.category.as_str().into()));
            }
        }
        let type_problem = self
            .problems
            .iter()
            .any(|p| p.field == "event_type" || p.field == "event_code");
        if self.event.text(TextField::EventType).is_none()
            && !type_problem
            && self.problems.iter().all(|p| p.kind != ProblemKind::Syntax)
        {
            let msg = match code {
                Some(c) => format!("required: event_code {c} is in no catalog"),
                None => "required unless event_code resolves in a catalog".to_string(),
            };
            self.problem("event_type", ProblemKind::Missing, msg);
        }
        if self.problems.is_empty() {
            Ok(self.event)
        } else {
            Err(InvalidEvent {
                problems: self.problems,
            })
        }
    }
}

/// Largest magnitude of an integer written as a float (`7.0`) that is taken as that integer:
/// 2^53, below which every such literal names exactly one double and so one integer. Beyond
/// it a literal such as `-9223372036854775809` (which serde_json reads as a double, rounded
/// into i64) would be stored as another number.
const INTEGRAL_FLOAT_MAX: f64 = 9_007_199_254_740_992.0;

/// A JSON number with no fractional part (`7.0`, `-1e3`) within ±2^53, as an integer.
fn integral(value: &Value) -> Option<i64> {
    let f = value.as_f64().filter(|f| f.fract() == 0.0)?;
    (f.abs() <= INTEGRAL_FLOAT_MAX).then_some(f as i64)
}

/// The first integer literal of JSON `text` that neither i64 nor u64 holds: serde_json would
/// turn it into the nearest f64, changing the stored value. (Fractions and exponents are
/// IEEE doubles by design and are stored in their shortest exact form.)
fn inexact_integer(text: &str) -> Option<&str> {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < b.len() && matches!(b[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    i += 1;
                }
                let token = &text[start..i];
                let integer = !token.contains(['.', 'e', 'E']);
                if integer && token.parse::<i64>().is_err() && token.parse::<u64>().is_err() {
                    return Some(token);
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// A map key, borrowed from the input when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

impl<'de> DeserializeSeed<'de> for &mut Builder {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for &mut Builder {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(Key(name)) = map.next_key::<Key<'de>>()? {
            if name == Field::Payload.name() {
                // Kept as text first: once parsed, an integer past 64 bits is already a float.
                let raw: &'de serde_json::value::RawValue = map.next_value()?;
                match inexact_integer(raw.get()) {
                    Some(token) => {
                        let msg = format!("integer {token} does not fit in 64 bits and would not be stored exactly; send it as a string");
                        self.problem(&name, ProblemKind::Invalid, msg);
                    }
                    None => self.field(
                        &name,
                        serde_json::from_str(raw.get()).map_err(de::Error::custom)?,
                    ),
                }
                continue;
            }
            let value: Value = map.next_value()?;
            self.field(&name, value);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(c: &Catalogs) -> IngestContext<'_> {
        IngestContext {
            catalogs: c,
            received_at: Timestamp(1_700_000_000_000_000_000),
            created_at_max: None,
        }
    }

    fn problems(json: &str) -> Vec<(String, ProblemKind)> {
        let c = Catalogs::builtin();
        match Event::from_json(json.as_bytes(), &ctx(&c)) {
            Ok(e) => panic!("accepted {json}: {e:?}"),
            Err(e) => e.problems.into_iter().map(|p| (p.field, p.kind)).collect(),
        }
    }

    #[test]
    fn every_field_round_trips_through_json() {
        let c = Catalogs::builtin();
        let json = r#"{"id":"evt-1","created_at":"2024-05-01T12:00:00.25Z","event_type":"LoginFailed",
            "event_code":202,"event_group":"User Action","action":"login","status":"failure",
            "actor_type":"user","actor_id":"u-7","user_id":7,"source":"sftp-gw","resource_type":"account",
            "resource_id":"acct-1","session_id":"s-1","vm_id":"vm-2","task_id":-3,"request_id":"r-1",
            "correlation_id":"c-1","http_method":"POST","path":"/login","http_status":401,"latency_ms":12.5,
            "ip_address":"10.0.0.1","user_agent":"curl/8","node_ip":"10.0.0.2","worker_id":"w-1",
            "event_payload":{"b":[1,2,{"z":null}],"a":"\u00e9"},"error_message":"bad \"password\""}"#;
        let e = Event::from_json(json.as_bytes(), &ctx(&c)).unwrap();
        let mut out = Vec::new();
        e.write_json(42, &mut out);
        let back: Value = serde_json::from_slice(&out).unwrap();
        let mut sent: Value = serde_json::from_str(json).unwrap();
        sent["seq"] = 42.into();
        sent["received_at"] = "2023-11-14T22:13:20Z".into();
        assert_eq!(back, sent);
        // What the store wrote reads back to the same event.
        let mut again = back.as_object().unwrap().clone();
        again.remove("seq");
        again.remove("received_at");
        let e2 = Event::from_value(Value::Object(again), &ctx(&c)).unwrap();
        assert_eq!(e, e2);
    }

    #[test]
    fn live_ingest_refuses_events_dated_more_than_a_day_ahead() {
        let c = Catalogs::builtin();
        let ctx = IngestContext::live(&c);
        let at = |t: Timestamp| format!(r#"{{"event_type":"x","created_at":"{t}"}}"#);
        let soon = Timestamp(ctx.received_at.0 + CREATED_AHEAD_MAX_NANOS / 2);
        assert!(Event::from_json(at(soon).as_bytes(), &ctx).is_ok());
        let far = Timestamp(ctx.received_at.0 + 400 * NANOS_PER_DAY);
        let err = Event::from_json(at(far).as_bytes(), &ctx).unwrap_err();
        assert_eq!(err.problems.len(), 1);
        assert_eq!(err.problems[0].field, "created_at");
        assert!(
            err.problems[0]
                .msg
                .contains("400 days after the event was received"),
            "{err}"
        );
        // Generators and replays set no bound.
        let replay = IngestContext {
            created_at_max: None,
            ..ctx
        };
        assert!(Event::from_json(at(far).as_bytes(), &replay).is_ok());
    }

    #[test]
    fn event_code_fills_type_and_group_by_source() {
        let c = Catalogs::builtin();
        let e = Event::from_json(br#"{"event_code":202}"#, &ctx(&c)).unwrap();
        assert_eq!(e.text(TextField::EventType), Some("LoginFailed"));
        assert_eq!(e.text(TextField::EventGroup), Some("User Action"));
        assert_eq!(e.created_at, e.received_at);
        let e = Event::from_json(
            br#"{"event_code":102,"source":"privileged-access"}"#,
            &ctx(&c),
        )
        .unwrap();
        assert_eq!(e.text(TextField::EventType), Some("User-login-failed"));
        let e = Event::from_json(br#"{"event_code":202,"event_type":"Mine"}"#, &ctx(&c)).unwrap();
        assert_eq!(
            e.text(TextField::EventType),
            Some("Mine"),
            "a producer's own type wins"
        );
    }

    #[test]
    fn each_bad_input_class_names_its_field() {
        use ProblemKind::*;
        assert_eq!(problems("{}"), [("event_type".into(), Missing)]);
        assert_eq!(
            problems(r#"{"event_code":77777}"#),
            [("event_type".into(), Missing)]
        );
        assert_eq!(
            problems(r#"{"event_type":"x","user_id":"7"}"#),
            [("user_id".into(), WrongType)]
        );
        assert_eq!(
            problems(r#"{"event_code":"202"}"#),
            [("event_code".into(), WrongType)]
        );
        assert_eq!(
            problems(r#"{"event_type":"x","actor":1}"#),
            [("actor".into(), UnknownField)]
        );
        assert_eq!(
            problems(r#"{"event_type":"x","seq":1}"#),
            [("seq".into(), Reserved)]
        );
        assert_eq!(
            problems(r#"{"event_type":"x","id":"annal:5"}"#),
            [("id".into(), Reserved)]
        );
        assert_eq!(
            problems(r#"{"event_type":"x","status":"a","status":"b"}"#),
            [("status".into(), Duplicate)]
        );
        let long = format!(
            r#"{{"event_type":"x","path":"{}"}}"#,
            "p".repeat(TEXT_BYTES_MAX + 1)
        );
        assert_eq!(problems(&long), [("path".into(), TooLong)]);
        let big = format!(
            r#"{{"event_type":"x","event_payload":"{}"}}"#,
            "p".repeat(PAYLOAD_BYTES_MAX)
        );
        assert_eq!(problems(&big), [("event_payload".into(), TooLong)]);
        assert_eq!(
            problems(r#"{"event_type":"x","created_at":"yesterday"}"#),
            [("created_at".into(), Invalid)]
        );
        assert_eq!(
            problems(r#"{"event_type":"x","http_status":99}"#),
            [("http_status".into(), Invalid)]
        );
        assert_eq!(
            problems(r#"{"event_type":"x","latency_ms":-1}"#),
            [("latency_ms".into(), Invalid)]
        );
        assert_eq!(
            problems(r#"{"event_type":"x","latency_ms":"1"}"#),
            [("latency_ms".into(), WrongType)]
        );
        let zero = Event::from_json(
            br#"{"event_type":"x","latency_ms":-0.0}"#,
            &ctx(&Catalogs::builtin()),
        );
        assert!(zero.unwrap().latency_ms.unwrap().is_sign_positive());
        assert_eq!(problems(r#"{"event_type":"x""#), [("".into(), Syntax)]);
        assert_eq!(problems("[1]"), [("".into(), Syntax)]);
        // Several problems at once are all reported.
        assert_eq!(problems(r#"{"user_id":1.5,"vm":2}"#).len(), 3);
    }

    #[test]
    fn payload_integers_past_64_bits_are_refused_not_rounded() {
        let c = Catalogs::builtin();
        let big = r#"{"event_type":"x","event_payload":{"n":123456789012345678901234567890}}"#;
        let err = Event::from_json(big.as_bytes(), &ctx(&c)).unwrap_err();
        assert_eq!(err.problems[0].field, "event_payload");
        assert!(
            err.problems[0]
                .msg
                .contains("123456789012345678901234567890"),
            "{err}"
        );
        // In-range integers, negative ones, u64's top, floats, and digits inside strings pass.
        let ok = r#"{"event_type":"x","event_payload":{"a":-9223372036854775808,"b":18446744073709551615,"c":1.5e300,"d":"123456789012345678901234567890","e":[0,-1]}}"#;
        let e = Event::from_json(ok.as_bytes(), &ctx(&c)).unwrap();
        assert_eq!(
            e.payload.as_deref(),
            Some(
                r#"{"a":-9223372036854775808,"b":18446744073709551615,"c":1.5e+300,"d":"123456789012345678901234567890","e":[0,-1]}"#
            )
        );
        assert_eq!(
            inexact_integer(r#"{"s":"a\"1e999999999999999999999"}"#),
            None
        );
        assert_eq!(
            inexact_integer("[1,-99999999999999999999]"),
            Some("-99999999999999999999")
        );
    }

    #[test]
    fn csv_rows_quote_what_needs_quoting_and_line_up_with_the_header() {
        let catalogs = Catalogs::builtin();
        let ctx = IngestContext {
            catalogs: &catalogs,
            received_at: Timestamp(0),
            created_at_max: None,
        };
        let e = Event::from_json(
            br#"{"event_type":"a,b","path":"say \"hi\"","event_payload":{"k":[1,2]},"latency_ms":2.5}"#,
            &ctx,
        )
        .unwrap();
        let (mut head, mut row) = (Vec::new(), Vec::new());
        Event::write_csv_header(&mut head);
        e.write_csv(7, &mut row);
        let row = String::from_utf8(row).unwrap();
        assert!(row.starts_with("7,annal:7,1970-01-01T00:00:00Z,"), "{row}");
        assert!(
            row.contains(r#","a,b","#) || row.contains(r#""a,b""#),
            "{row}"
        );
        assert!(row.contains(r#""say ""hi""""#), "{row}");
        assert!(row.contains(r#""{""k"":[1,2]}""#), "{row}");
        assert!(row.contains(",2.5,") && row.ends_with("\r\n"), "{row}");
        let header = String::from_utf8(head).unwrap();
        assert_eq!(header.split(',').count(), JSON_ORDER.len());
    }

    #[test]
    fn json_output_escapes_what_it_must_and_round_trips() {
        for text in [
            "plain",
            "say \"hi\"",
            "back\\slash",
            "tab\tnew\nline\u{1}",
            "ünïcödé ✓",
            "\u{7f}del",
        ] {
            for n in [0i64, -1, 42, i64::MIN, i64::MAX] {
                let mut e = Event::new(Timestamp(1_000_000_007), Timestamp(5));
                e.set_text(TextField::EventType, Some(text.into()));
                e.set_int(IntField::UserId, Some(n));
                let mut out = Vec::new();
                e.write_json(u64::MAX, &mut out);
                let v: Value = serde_json::from_slice(&out).unwrap();
                assert_eq!(v["event_type"], text);
                assert_eq!(v["user_id"], n);
                assert_eq!(v["seq"], u64::MAX);
            }
        }
    }

    #[test]
    fn nulls_mean_absent() {
        let c = Catalogs::builtin();
        let e = Event::from_json(
            br#"{"event_type":"x","vm_id":null,"event_payload":null}"#,
            &ctx(&c),
        )
        .unwrap();
        assert_eq!(e.text(TextField::VmId), None);
        assert_eq!(e.payload, None);
    }
}
