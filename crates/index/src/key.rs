//! Index keys: a field value as bytes whose order is the value's order.

use annal_model::{Event, Field};

/// An indexed value as bytes: UTF-8 for text fields; for integer fields, the value's 8 bytes
/// big-endian with the sign bit flipped, so that byte order is numeric order.
pub type Key = Box<[u8]>;

/// The key of an integer value.
pub fn int_key(v: i64) -> Key {
    int_key_bytes(v).into()
}

/// The bytes of [`int_key`], without allocating.
pub fn int_key_bytes(v: i64) -> [u8; 8] {
    ((v as u64) ^ (1 << 63)).to_be_bytes()
}

/// The key of a text value.
pub fn text_key(v: &str) -> Key {
    v.as_bytes().into()
}

/// The key of `field`'s value in `event`, if the event has one.
pub fn event_key(event: &Event, field: Field) -> Option<Key> {
    match field {
        Field::Text(f) => event.text(f).map(text_key),
        Field::Int(f) => event.int(f).map(int_key),
        _ => None,
    }
}

/// The integer an [`int_key`] stands for, if `key` is one (8 bytes).
pub fn key_to_int(key: &[u8]) -> Option<i64> {
    let b = <[u8; 8]>::try_from(key).ok()?;
    Some((u64::from_be_bytes(b) ^ (1 << 63)) as i64)
}

/// A key shown as the value it stands for (integers in decimal).
pub fn key_to_string(field: Field, key: &[u8]) -> String {
    match (field, key_to_int(key)) {
        (Field::Int(_), Some(v)) => v.to_string(),
        _ => String::from_utf8_lossy(key).into_owned(),
    }
}

/// True for the fields an index can hold: text and integer fields.
pub fn indexable(field: Field) -> bool {
    matches!(field, Field::Text(_) | Field::Int(_))
}

#[cfg(test)]
mod tests {
    use super::*;
    use annal_model::IntField;

    #[test]
    fn int_keys_sort_numerically() {
        let values = [i64::MIN, -300, -1, 0, 1, 202, i64::MAX];
        for w in values.windows(2) {
            assert!(int_key(w[0]) < int_key(w[1]), "{} vs {}", w[0], w[1]);
        }
        for v in values {
            assert_eq!(
                key_to_string(Field::Int(IntField::EventCode), &int_key(v)),
                v.to_string()
            );
        }
    }
}
