//! Small hand-written JSON writers: the generator appends bytes to a `Vec<u8>` instead of
//! building `serde_json::Value`s, because it has to make millions of events per second.

use annal_model::{Field, TextField};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `"name":`, the name from annal's field table: the generator writes the keys annal
/// reads, and a renamed field cannot drift here.
pub(crate) fn first_key(out: &mut Vec<u8>, field: Field) {
    out.push(b'"');
    out.extend_from_slice(field.name().as_bytes());
    out.extend_from_slice(b"\":");
}

/// Appends `,"name":` (see [`first_key`]).
pub(crate) fn field_key(out: &mut Vec<u8>, field: Field) {
    out.push(b',');
    first_key(out, field);
}

/// Appends `,"name":"`: a text field's key and the opening quote of its value.
pub(crate) fn text_key(out: &mut Vec<u8>, field: TextField) {
    field_key(out, Field::Text(field));
    out.push(b'"');
}

/// Appends `s` escaped for the inside of a JSON string (no quotes).
pub(crate) fn escape_into(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// `s` escaped for the inside of a JSON string, as owned bytes (for pre-rendered values).
pub(crate) fn escaped(s: &str) -> Box<[u8]> {
    let mut v = Vec::with_capacity(s.len());
    escape_into(&mut v, s);
    v.into_boxed_slice()
}

/// Appends `s` as a quoted JSON string.
#[cfg(test)]
pub(crate) fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    escape_into(out, s);
    out.push(b'"');
}

/// Appends an unsigned integer in decimal.
pub(crate) fn uint(out: &mut Vec<u8>, v: u64) {
    annal_model::write_decimal(out, i128::from(v));
}

/// Appends `v` in decimal, left-padded with zeros to `width` digits (at most 20).
pub(crate) fn uint_padded(out: &mut Vec<u8>, v: u64, width: usize) {
    let start = out.len();
    annal_model::write_decimal(out, i128::from(v));
    let pad = width.min(20).saturating_sub(out.len() - start);
    out.splice(start..start, std::iter::repeat_n(b'0', pad));
}

/// Appends a count of tenths as a decimal number with one fraction digit: 123 → `12.3`.
pub(crate) fn tenths(out: &mut Vec<u8>, t: u64) {
    uint(out, t / 10);
    out.push(b'.');
    out.push(b'0' + (t % 10) as u8);
}

/// Appends the low `digits` hex digits of `v`, most significant first, lowercase.
pub(crate) fn hex(out: &mut Vec<u8>, v: u64, digits: u32) {
    for k in (0..digits.min(16)).rev() {
        out.push(HEX[((v >> (4 * k)) & 0xf) as usize]);
    }
}

/// Appends a lowercase RFC 4122 version-4 UUID made of the random bits `a` and `b`.
pub(crate) fn uuid_v4(out: &mut Vec<u8>, a: u64, b: u64) {
    let a = (a & 0xffff_ffff_ffff_0fff) | 0x0000_0000_0000_4000;
    let b = (b & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    hex(out, a >> 32, 8);
    out.push(b'-');
    hex(out, a >> 16, 4);
    out.push(b'-');
    hex(out, a, 4);
    out.push(b'-');
    hex(out, b >> 48, 4);
    out.push(b'-');
    hex(out, b, 12);
}

/// Appends an IPv4 address.
pub(crate) fn ipv4(out: &mut Vec<u8>, ip: u32) {
    for (k, shift) in [24, 16, 8, 0].into_iter().enumerate() {
        if k > 0 {
            out.push(b'.');
        }
        uint(out, u64::from((ip >> shift) & 0xff));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_matches_serde_json() {
        for s in [
            "",
            "plain",
            "quote \" and \\ backslash",
            "ctl \u{1}\u{8}\u{c}\n\r\t\u{1f} end",
            "unicode é ✓ 🦀",
        ] {
            let mut ours = Vec::new();
            string(&mut ours, s);
            let theirs = serde_json::to_vec(s).unwrap_or_default();
            let back: String = serde_json::from_slice(&ours).unwrap_or_default();
            assert_eq!(back, s, "{}", String::from_utf8_lossy(&ours));
            assert_eq!(ours, theirs);
        }
    }

    #[test]
    fn numbers_and_ids_render() {
        let mut o = Vec::new();
        uint(&mut o, 0);
        o.push(b' ');
        uint(&mut o, u64::MAX);
        o.push(b' ');
        uint_padded(&mut o, 42, 4);
        o.push(b' ');
        uint_padded(&mut o, 12345, 2);
        o.push(b' ');
        tenths(&mut o, 5);
        o.push(b' ');
        tenths(&mut o, 1234);
        o.push(b' ');
        ipv4(&mut o, 0x0a00_0c0b);
        assert_eq!(
            String::from_utf8_lossy(&o),
            "0 18446744073709551615 0042 12345 0.5 123.4 10.0.12.11"
        );
        let mut u = Vec::new();
        uuid_v4(&mut u, u64::MAX, u64::MAX);
        assert_eq!(
            String::from_utf8_lossy(&u),
            "ffffffff-ffff-4fff-bfff-ffffffffffff"
        );
        u.clear();
        uuid_v4(&mut u, 0, 0);
        assert_eq!(
            String::from_utf8_lossy(&u),
            "00000000-0000-4000-8000-000000000000"
        );
    }
}
