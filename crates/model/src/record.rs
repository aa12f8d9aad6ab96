//! The canonical record bytes of an event: the bytes the write-ahead log frames and the
//! Merkle tree hashes (leaf = SHA-256(0x00 ‖ record bytes)).
//!
//! Canonical means one event has exactly one encoding and decoding rejects every other byte
//! string, so a sealed segment that stores events column-wise can rebuild the very bytes that
//! were hashed at append. Layout (all integers little-endian; see docs/format.md):
//!
//! ```text
//! 8 bytes  received_at   i64 nanoseconds since the Unix epoch
//! 8 bytes  created_at    i64 nanoseconds since the Unix epoch
//! 4 bytes  presence      u32: bit i set when optional slot i is present (SLOT order)
//! then each present slot in order:
//!   text (id, text fields, payload): LEB128 length, UTF-8 bytes
//!   integer: zigzag LEB128
//!   latency_ms: 8 bytes, f64 bits
//! ```

use crate::event::{
    id_problem, Event, FieldProblem, ProblemKind, ID_BYTES_MAX, PAYLOAD_BYTES_MAX, TEXT_BYTES_MAX,
};
use crate::field::{IntField, TextField};
use crate::time::Timestamp;

/// Bit of `id` in the presence word.
const ID_BIT: u32 = 0;
/// First bit of the text fields.
const TEXT_BIT0: u32 = 1;
/// First bit of the integer fields.
const INT_BIT0: u32 = TEXT_BIT0 + TextField::COUNT as u32;
/// Bit of `latency_ms`.
const LATENCY_BIT: u32 = INT_BIT0 + IntField::COUNT as u32;
/// Bit of `event_payload`.
const PAYLOAD_BIT: u32 = LATENCY_BIT + 1;
/// Every bit a valid presence word may have.
const PRESENCE_MASK: u32 = (1 << (PAYLOAD_BIT + 1)) - 1;
/// Bytes before the first optional value.
pub const RECORD_FIXED_BYTES: usize = 20;
/// Upper bound of one record's encoding, used to bound buffers when decoding hostile input.
pub const RECORD_BYTES_MAX: usize = RECORD_FIXED_BYTES
    + 10 * 32
    + ID_BYTES_MAX
    + TextField::COUNT * TEXT_BYTES_MAX
    + PAYLOAD_BYTES_MAX
    + 8;

/// Record bytes are not a canonical encoding of an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad record bytes at offset {offset}: {msg}")]
pub struct RecordError {
    /// Byte offset inside the record where decoding failed.
    pub offset: usize,
    /// What is wrong.
    pub msg: &'static str,
}

/// Appends the canonical bytes of `event` to `out`.
pub fn encode_record(event: &Event, out: &mut Vec<u8>) {
    out.extend_from_slice(&event.received_at.0.to_le_bytes());
    out.extend_from_slice(&event.created_at.0.to_le_bytes());
    let presence_at = out.len();
    out.extend_from_slice(&[0; 4]);
    let mut presence = 0u32;
    if let Some(id) = &event.id {
        presence |= 1 << ID_BIT;
        put_bytes(out, id.as_bytes());
    }
    for (i, f) in TextField::ALL.iter().enumerate() {
        if let Some(v) = event.text(*f) {
            presence |= 1 << (TEXT_BIT0 + i as u32);
            put_bytes(out, v.as_bytes());
        }
    }
    for (i, f) in IntField::ALL.iter().enumerate() {
        if let Some(v) = event.int(*f) {
            presence |= 1 << (INT_BIT0 + i as u32);
            put_varint(out, zigzag(v));
        }
    }
    if let Some(v) = event.latency_ms {
        presence |= 1 << LATENCY_BIT;
        out.extend_from_slice(&v.to_bits().to_le_bytes());
    }
    if let Some(p) = &event.payload {
        presence |= 1 << PAYLOAD_BIT;
        put_bytes(out, p.as_bytes());
    }
    out[presence_at..presence_at + 4].copy_from_slice(&presence.to_le_bytes());
}

/// Checks that an event is within the limits [`decode_record`] enforces, so that whatever is
/// encoded can be read back, and that its `id` follows the rule JSON validation applies (not
/// empty, not the store's own `annal:` form). Validation from JSON already guarantees this;
/// events built in code (every field is settable) are checked here before they are stored.
pub fn check_record_limits(event: &Event) -> Result<(), FieldProblem> {
    let problem = |field: &str, kind, msg: String| {
        Err(FieldProblem {
            field: field.to_string(),
            kind,
            msg,
        })
    };
    for (field, t) in [
        ("created_at", event.created_at),
        ("received_at", event.received_at),
    ] {
        if t.0 < 0 {
            return problem(field, ProblemKind::Invalid, "before 1970-01-01".into());
        }
    }
    if let Some(id) = &event.id {
        if let Some((kind, msg)) = id_problem(id) {
            return problem("id", kind, msg);
        }
        if id.len() > ID_BYTES_MAX {
            return problem(
                "id",
                ProblemKind::TooLong,
                format!("is {} bytes; the limit is {ID_BYTES_MAX}", id.len()),
            );
        }
    }
    for f in TextField::ALL {
        if let Some(v) = event.text(f).filter(|v| v.len() > TEXT_BYTES_MAX) {
            return problem(
                f.name(),
                ProblemKind::TooLong,
                format!("is {} bytes; the limit is {TEXT_BYTES_MAX}", v.len()),
            );
        }
    }
    if let Some(v) = event
        .latency_ms
        .filter(|v| !v.is_finite() || v.is_sign_negative())
    {
        return problem(
            "latency_ms",
            ProblemKind::Invalid,
            format!("{v} is not a finite non-negative number"),
        );
    }
    if let Some(p) = event
        .payload
        .as_ref()
        .filter(|p| p.len() > PAYLOAD_BYTES_MAX)
    {
        return problem(
            "event_payload",
            ProblemKind::TooLong,
            format!("is {} bytes; the limit is {PAYLOAD_BYTES_MAX}", p.len()),
        );
    }
    Ok(())
}

/// Decodes canonical record bytes; rejects anything [`encode_record`] would not produce.
pub fn decode_record(bytes: &[u8]) -> Result<Event, RecordError> {
    let mut r = Reader { bytes, pos: 0 };
    let received_at = Timestamp(r.i64()?);
    let created_at = Timestamp(r.i64()?);
    if received_at.0 < 0 || created_at.0 < 0 {
        return Err(r.err("timestamp before 1970"));
    }
    let presence = r.u32()?;
    if presence & !PRESENCE_MASK != 0 {
        return Err(r.err("unknown presence bits"));
    }
    let mut event = Event {
        received_at,
        created_at,
        ..Event::default()
    };
    if presence & (1 << ID_BIT) != 0 {
        event.id = Some(r.text(ID_BYTES_MAX)?);
    }
    for (i, f) in TextField::ALL.iter().enumerate() {
        if presence & (1 << (TEXT_BIT0 + i as u32)) != 0 {
            event.set_text(*f, Some(r.text(TEXT_BYTES_MAX)?));
        }
    }
    for (i, f) in IntField::ALL.iter().enumerate() {
        if presence & (1 << (INT_BIT0 + i as u32)) != 0 {
            event.set_int(*f, Some(unzigzag(r.varint()?)));
        }
    }
    if presence & (1 << LATENCY_BIT) != 0 {
        let v = f64::from_bits(r.u64()?);
        if !v.is_finite() || v.is_sign_negative() {
            return Err(r.err("latency_ms is not a finite non-negative number"));
        }
        event.latency_ms = Some(v);
    }
    if presence & (1 << PAYLOAD_BIT) != 0 {
        event.payload = Some(r.text(PAYLOAD_BYTES_MAX)?);
    }
    if r.pos != bytes.len() {
        return Err(r.err("trailing bytes after the last field"));
    }
    Ok(event)
}

/// Zigzag-maps a signed integer so small magnitudes get short varints.
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// The inverse of [`zigzag`].
pub fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Appends `v` as unsigned LEB128.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends a LEB128 length and the bytes.
pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Reads one unsigned LEB128 from `bytes[*pos..]`, rejecting overlong and overflowing forms.
pub fn get_varint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for i in 0..10 {
        let b = *bytes.get(*pos + i)?;
        if i == 9 && b > 1 {
            return None;
        }
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            if b == 0 && i > 0 {
                return None;
            }
            *pos += i + 1;
            return Some(v);
        }
    }
    None
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn err(&self, msg: &'static str) -> RecordError {
        RecordError {
            offset: self.pos,
            msg,
        }
    }

    fn take(&mut self, n: usize) -> Result<&[u8], RecordError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.bytes.len());
        let end = end.ok_or_else(|| self.err("record ends inside a field"))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u32(&mut self) -> Result<u32, RecordError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, RecordError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }

    fn i64(&mut self) -> Result<i64, RecordError> {
        Ok(self.u64()? as i64)
    }

    fn varint(&mut self) -> Result<u64, RecordError> {
        get_varint(self.bytes, &mut self.pos).ok_or_else(|| self.err("bad varint"))
    }

    fn text(&mut self, max: usize) -> Result<Box<str>, RecordError> {
        let len = self.varint()?;
        if len > max as u64 {
            return Err(self.err("text longer than its field allows"));
        }
        let start = self.pos;
        let b = self.take(len as usize)?;
        let s = std::str::from_utf8(b).map_err(|_| RecordError {
            offset: start,
            msg: "text is not UTF-8",
        })?;
        Ok(s.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_event() -> impl Strategy<Value = Event> {
        let text = proptest::option::of("[a-zA-Z0-9 é/_-]{0,12}");
        (
            (0i64..i64::MAX, 0i64..i64::MAX),
            proptest::option::of("[a-z0-9-]{1,20}"),
            proptest::collection::vec(text, TextField::COUNT),
            proptest::collection::vec(proptest::option::of(any::<i64>()), IntField::COUNT),
            proptest::option::of(0.0f64..1e9),
            proptest::option::of("\\{\"k\":[0-9]{1,5}\\}"),
        )
            .prop_map(|((r, c), id, texts, ints, lat, payload)| {
                let mut e = Event {
                    received_at: Timestamp(r),
                    created_at: Timestamp(c),
                    id: id.map(Into::into),
                    latency_ms: lat,
                    payload: payload.map(Into::into),
                    ..Event::default()
                };
                for (f, v) in TextField::ALL.iter().zip(texts) {
                    e.set_text(*f, v.map(Into::into));
                }
                for (f, v) in IntField::ALL.iter().zip(ints) {
                    e.set_int(*f, v);
                }
                e
            })
    }

    proptest! {
        #[test]
        fn encode_decode_is_identity(e in arb_event()) {
            let mut b = Vec::new();
            encode_record(&e, &mut b);
            prop_assert_eq!(decode_record(&b).unwrap(), e);
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics_and_only_accepts_canonical(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(e) = decode_record(&bytes) {
                let mut again = Vec::new();
                encode_record(&e, &mut again);
                prop_assert_eq!(again, bytes);
            }
        }

        #[test]
        fn varint_round_trips(v in any::<u64>(), s in any::<i64>()) {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            put_varint(&mut b, zigzag(s));
            let mut pos = 0;
            prop_assert_eq!(get_varint(&b, &mut pos), Some(v));
            prop_assert_eq!(get_varint(&b, &mut pos).map(unzigzag), Some(s));
            prop_assert_eq!(pos, b.len());
        }
    }

    proptest! {
        #[test]
        fn whatever_passes_the_limits_decodes(e in arb_event(), long in 0usize..3, neg in any::<bool>()) {
            let mut e = e;
            match long {
                1 => e.set_text(TextField::Path, Some("p".repeat(TEXT_BYTES_MAX + 1).into())),
                2 => e.id = Some("i".repeat(ID_BYTES_MAX + 1).into()),
                _ => {}
            }
            if neg {
                e.latency_ms = Some(-1.5);
            }
            let mut b = Vec::new();
            encode_record(&e, &mut b);
            prop_assert_eq!(check_record_limits(&e).is_ok(), decode_record(&b).is_ok());
        }
    }

    #[test]
    fn events_built_in_code_follow_the_id_rule_of_json_validation() {
        let mut e = Event::new(Timestamp(1), Timestamp(1));
        for (id, ok) in [
            ("annal:5", false),
            ("", false),
            ("annal", true),
            ("x-annal:5", true),
        ] {
            e.id = Some(id.into());
            let got = check_record_limits(&e);
            assert_eq!(got.is_ok(), ok, "{id:?}: {got:?}");
            if let Err(p) = got {
                assert_eq!(p.field, "id");
            }
        }
    }

    #[test]
    fn rejects_overlong_varints_and_trailing_bytes() {
        let mut pos = 0;
        assert_eq!(get_varint(&[0x80, 0x00], &mut pos), None);
        let mut b = Vec::new();
        encode_record(&Event::default(), &mut b);
        b.push(0);
        assert_eq!(
            decode_record(&b).unwrap_err().msg,
            "trailing bytes after the last field"
        );
    }
}
