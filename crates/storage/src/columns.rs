//! Column layout of a sealed block: the events of a block stored field by field (times as
//! deltas in their coarsest exact unit, low-cardinality text as a dictionary, UUIDs as 16
//! bytes, decimals as scaled integers), then compressed as one zstd frame by the caller.
//!
//! Row-wise zstd over JSON costs about 85 bytes/event on `annal gen` data; grouping equal
//! fields together lets zstd see the repetition it cannot see across interleaved rows.
//! The layout is lossless for canonical records: decoding a block and re-encoding each event
//! gives the exact bytes the Merkle tree hashed, and the sealer checks that before publishing.
//! See docs/format.md, "Block columns".

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use annal_model::{
    get_varint, put_varint, unzigzag, zigzag, Event, IntField, TextField, Timestamp,
};

/// Presence mode: the field is absent in every event of the block.
const ALL_ABSENT: u8 = 0;
/// Presence mode: the field is present in every event.
const ALL_PRESENT: u8 = 1;
/// Presence mode: a bitmap of ⌈n/8⌉ bytes follows (bit i of byte i/8 = event i).
const BITMAP: u8 = 2;

/// Text mode: a dictionary of distinct values, then one index per value.
const TEXT_DICT: u8 = 0;
/// Text mode: all lengths (LEB128), then all bytes.
const TEXT_RAW: u8 = 1;
/// Text mode: every value is a lowercase hyphenated UUID, stored as 16 bytes.
const TEXT_UUID: u8 = 2;

/// Float mode: the value's raw f64 bits, 8 bytes each.
const FLOAT_RAW: u8 = 255;

/// Largest number of events in one block; bounds every per-block allocation.
pub const BLOCK_EVENTS_MAX: usize = 1 << 16;

/// A block's bytes are not a valid column layout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad block columns at byte {offset}: {msg}")]
pub struct ColumnError {
    /// Offset inside the decompressed block.
    pub offset: usize,
    /// What is wrong.
    pub msg: &'static str,
}

/// Encodes events column-wise into `out`.
pub fn encode_block(events: &[Event], out: &mut Vec<u8>) {
    debug_assert!(!events.is_empty() && events.len() <= BLOCK_EVENTS_MAX);
    put_varint(out, events.len() as u64);
    put_times(out, events.iter().map(|e| e.received_at.0));
    put_times(out, events.iter().map(|e| e.created_at.0));
    put_text_column(out, events.iter().map(|e| e.id.as_deref()));
    for f in TextField::ALL {
        put_text_column(out, events.iter().map(|e| e.text(f)));
    }
    for f in IntField::ALL {
        let values = put_presence(out, events.iter().map(|e| e.int(f)));
        for v in values {
            put_varint(out, zigzag(v));
        }
    }
    let latencies = put_presence(out, events.iter().map(|e| e.latency_ms));
    put_floats(out, &latencies);
    put_text_column(out, events.iter().map(|e| e.payload.as_deref()));
}

/// Decodes a block written by [`encode_block`].
pub fn decode_block(bytes: &[u8]) -> Result<Vec<Event>, ColumnError> {
    let view = BlockView::parse(bytes.into())?;
    Ok((0..view.len()).map(|row| view.event(row)).collect())
}

/// A checked, decompressed block whose events are built one row at a time: reading a few
/// events of a block costs one pass over its column headers, not the decoding of all of them.
pub struct BlockView {
    raw: Box<[u8]>,
    n: usize,
    received: Vec<i64>,
    created: Vec<i64>,
    id: TextColumn,
    texts: Vec<TextColumn>,
    ints: Vec<Vec<Option<i64>>>,
    latency: Vec<Option<f64>>,
    payload: TextColumn,
}

/// Where a text column's values are, per row.
struct TextColumn {
    /// Per row, the index of its value among the present ones; `ABSENT` when absent.
    slots: Slots,
    values: TextValues,
}

const ABSENT: u32 = u32::MAX;

enum Slots {
    /// No row has a value.
    None,
    /// Row i has value i.
    All,
    /// Row i has value `slots[i]`, or none.
    Some(Vec<u32>),
}

enum TextValues {
    /// 16 bytes per value from this offset.
    Uuid(usize),
    /// Value k is `raw[bounds[k]..bounds[k + 1]]`.
    Raw(Vec<u32>),
    /// Value k is dictionary entry `index(k)`: `width`-byte indexes from `indexes`.
    Dict {
        bounds: Vec<u32>,
        width: usize,
        indexes: usize,
    },
}

impl BlockView {
    /// Checks every column of a block (UTF-8, dictionary indexes, times, lengths) so that
    /// building any row afterwards cannot fail.
    pub fn parse(raw: Box<[u8]>) -> Result<BlockView, ColumnError> {
        let mut r = Reader { b: &raw, pos: 0 };
        let n = r.varint()? as usize;
        if n == 0 || n > BLOCK_EVENTS_MAX {
            return Err(r.err("event count out of range"));
        }
        // Every event takes at least one byte in each time column: a count the bytes cannot
        // hold is refused before anything is allocated for it.
        if n.saturating_mul(2) > raw.len() {
            return Err(r.err("event count larger than the block can hold"));
        }
        let received = r.times(n)?;
        let created = r.times(n)?;
        let id = r.text_column(n)?;
        let mut texts = Vec::with_capacity(TextField::COUNT);
        for _ in TextField::ALL {
            texts.push(r.text_column(n)?);
        }
        let mut ints = Vec::with_capacity(IntField::COUNT);
        for _ in IntField::ALL {
            let present = r.presence(n)?;
            let mut col = vec![None; n];
            for i in present.rows() {
                col[i] = Some(unzigzag(r.varint()?));
            }
            ints.push(col);
        }
        let present = r.presence(n)?;
        let values = r.floats(present.count())?;
        let mut latency = vec![None; n];
        for (i, v) in present.rows().zip(values) {
            latency[i] = Some(v);
        }
        let payload = r.text_column(n)?;
        if r.pos != raw.len() {
            return Err(r.err("trailing bytes after the last column"));
        }
        Ok(BlockView {
            n,
            received,
            created,
            id,
            texts,
            ints,
            latency,
            payload,
            raw,
        })
    }

    /// Bytes of memory the view holds, roughly: for cache budgets.
    pub fn memory_bytes(&self) -> usize {
        self.raw.len() + self.n * (2 * 8 + IntField::COUNT * 16 + 16 + 4 * 4)
    }

    /// Events in the block.
    pub fn len(&self) -> usize {
        self.n
    }

    /// True for a block without events (never, once parsed).
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The event at `row`; rows past the end give an empty event (callers check `len`).
    pub fn event(&self, row: usize) -> Event {
        if row >= self.n {
            return Event::default();
        }
        let mut e = Event::new(Timestamp(self.created[row]), Timestamp(self.received[row]));
        e.id = self.text(&self.id, row);
        for (f, col) in TextField::ALL.into_iter().zip(&self.texts) {
            e.set_text(f, self.text(col, row));
        }
        for (f, col) in IntField::ALL.into_iter().zip(&self.ints) {
            e.set_int(f, col[row]);
        }
        e.latency_ms = self.latency[row];
        e.payload = self.text(&self.payload, row);
        e
    }

    fn text(&self, col: &TextColumn, row: usize) -> Option<Box<str>> {
        let k = match &col.slots {
            Slots::None => return None,
            Slots::All => row,
            Slots::Some(slots) => match slots[row] {
                ABSENT => return None,
                k => k as usize,
            },
        };
        // Every range below was checked by `parse`; `get` keeps a bug from panicking.
        let range = |bounds: &[u32], i: usize| -> Option<&str> {
            let (a, b) = (*bounds.get(i)? as usize, *bounds.get(i + 1)? as usize);
            std::str::from_utf8(self.raw.get(a..b)?).ok()
        };
        match &col.values {
            TextValues::Uuid(at) => {
                let b = self.raw.get(at + 16 * k..at + 16 * k + 16)?;
                Some(format_uuid(b).into_boxed_str())
            }
            TextValues::Raw(bounds) => range(bounds, k).map(Box::from),
            TextValues::Dict {
                bounds,
                width,
                indexes,
            } => {
                let at = indexes + width * k;
                let mut idx = [0u8; 4];
                idx[..*width].copy_from_slice(self.raw.get(at..at + width)?);
                range(bounds, u32::from_le_bytes(idx) as usize).map(Box::from)
            }
        }
    }
}

/// Writes a time column: the largest power of ten (in nanoseconds) dividing every value, then
/// the first value and the deltas in that unit, zigzag LEB128.
fn put_times(out: &mut Vec<u8>, values: impl Iterator<Item = i64> + Clone) {
    let mut exp = 9u32;
    for v in values.clone() {
        while exp > 0 && v % 10i64.pow(exp) != 0 {
            exp -= 1;
        }
    }
    out.push(exp as u8);
    let unit = 10i64.pow(exp);
    let mut prev = 0i64;
    for v in values {
        let scaled = v / unit;
        put_varint(out, zigzag(scaled.wrapping_sub(prev)));
        prev = scaled;
    }
}

/// Writes the presence of an optional column; returns the present values in order.
fn put_presence<T: Copy>(out: &mut Vec<u8>, values: impl Iterator<Item = Option<T>>) -> Vec<T> {
    let values: Vec<Option<T>> = values.collect();
    let present: Vec<T> = values.iter().flatten().copied().collect();
    if present.is_empty() {
        out.push(ALL_ABSENT);
    } else if present.len() == values.len() {
        out.push(ALL_PRESENT);
    } else {
        out.push(BITMAP);
        let mut bits = vec![0u8; values.len().div_ceil(8)];
        for (i, v) in values.iter().enumerate() {
            if v.is_some() {
                bits[i / 8] |= 1 << (i % 8);
            }
        }
        out.extend_from_slice(&bits);
    }
    present
}

fn put_text_column<'a>(out: &mut Vec<u8>, values: impl Iterator<Item = Option<&'a str>>) {
    let present = put_presence(out, values);
    if present.is_empty() {
        return;
    }
    if present.iter().all(|s| parse_uuid(s).is_some()) {
        out.push(TEXT_UUID);
        for s in &present {
            out.extend_from_slice(&parse_uuid(s).unwrap_or_default());
        }
        return;
    }
    let mut dict: HashMap<&str, u32, BuildHasherDefault<FxHasher>> = HashMap::default();
    let mut order: Vec<&str> = Vec::new();
    let indexes: Vec<u32> = present
        .iter()
        .map(|s| {
            *dict.entry(s).or_insert_with(|| {
                order.push(s);
                order.len() as u32 - 1
            })
        })
        .collect();
    // A dictionary pays when values repeat; unique values compress better as raw text.
    if order.len() * 2 <= present.len() {
        out.push(TEXT_DICT);
        put_strings(out, &order);
        let width = index_width(order.len());
        for i in indexes {
            out.extend_from_slice(&i.to_le_bytes()[..width]);
        }
    } else {
        out.push(TEXT_RAW);
        put_strings(out, &present);
    }
}

/// The multiply-rotate hash of rustc's FxHasher: block dictionaries hash every text value of
/// every event at seal time, and SipHash's DoS resistance buys nothing for keys we wrote.
#[derive(Default)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Bytes per dictionary index for a dictionary of `len` entries.
fn index_width(len: usize) -> usize {
    match len {
        0..=256 => 1,
        257..=65_536 => 2,
        _ => 4,
    }
}

fn put_strings(out: &mut Vec<u8>, values: &[&str]) {
    put_varint(out, values.len() as u64);
    for s in values {
        put_varint(out, s.len() as u64);
    }
    for s in values {
        out.extend_from_slice(s.as_bytes());
    }
}

/// Writes floats as integers scaled by 10^k (k = 0..=3) when that is exact, else raw bits.
fn put_floats(out: &mut Vec<u8>, values: &[f64]) {
    if values.is_empty() {
        return;
    }
    let exact = |k: u32| {
        let scale = 10f64.powi(k as i32);
        values.iter().all(|v| {
            let n = (v * scale).round();
            n.abs() < 9.0e15 && n / scale == *v && v.to_bits() != (-0.0f64).to_bits()
        })
    };
    match (0..=3).find(|k| exact(*k)) {
        Some(k) => {
            out.push(k as u8);
            let scale = 10f64.powi(k as i32);
            for v in values {
                put_varint(out, zigzag((v * scale).round() as i64));
            }
        }
        None => {
            out.push(FLOAT_RAW);
            for v in values {
                out.extend_from_slice(&v.to_bits().to_le_bytes());
            }
        }
    }
}

/// The 16 bytes of a lowercase hyphenated UUID (8-4-4-4-12 hex digits), if `s` is one.
fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    let b = s.as_bytes();
    if b.len() != 36 || [8, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
        return None;
    }
    let mut out = [0u8; 16];
    let mut nibbles = b.iter().filter(|c| **c != b'-');
    for byte in &mut out {
        let hi = hex_nibble(*nibbles.next()?)?;
        let lo = hex_nibble(*nibbles.next()?)?;
        *byte = hi << 4 | lo;
    }
    Some(out)
}

fn hex_nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

fn format_uuid(b: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push(HEX[usize::from(byte >> 4)] as char);
        s.push(HEX[usize::from(byte & 15)] as char);
    }
    s
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

/// Which events of a block have a column.
#[derive(Clone, Copy)]
enum Presence<'a> {
    None,
    All(usize),
    /// Bit i of byte i/8 set when event i has it; and the number of events.
    Bits(&'a [u8], usize),
}

impl<'a> Presence<'a> {
    fn count(&self) -> usize {
        match self {
            Presence::None => 0,
            Presence::All(n) => *n,
            // Bits past `n` in the last byte are not events; encoders leave them clear.
            Presence::Bits(bits, n) => {
                let full = bits.len().saturating_sub(1);
                let ones: u32 = bits[..full].iter().map(|b| b.count_ones()).sum();
                let tail = bits.get(full).map_or(0, |b| {
                    let keep = n - full * 8;
                    (u32::from(*b) & ((1u32 << keep) - 1)).count_ones()
                });
                (ones + tail) as usize
            }
        }
    }

    fn rows(self) -> impl Iterator<Item = usize> + 'a {
        let (bits, n, all) = match self {
            Presence::None => (&[][..], 0, false),
            Presence::All(n) => (&[][..], n, true),
            Presence::Bits(bits, n) => (bits, n, false),
        };
        (0..n).filter(move |i| all || bits[i / 8] & (1 << (i % 8)) != 0)
    }
}

/// The number of values a column holds (present events).
struct PresentCount(usize);

impl PresentCount {
    fn len(&self) -> usize {
        self.0
    }
}

impl<'a> Reader<'a> {
    fn err(&self, msg: &'static str) -> ColumnError {
        ColumnError {
            offset: self.pos,
            msg,
        }
    }

    fn varint(&mut self) -> Result<u64, ColumnError> {
        get_varint(self.b, &mut self.pos).ok_or_else(|| self.err("bad varint"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ColumnError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.b.len())
            .ok_or_else(|| self.err("column ends early"))?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8, ColumnError> {
        Ok(self.take(1)?[0])
    }

    fn times(&mut self, n: usize) -> Result<Vec<i64>, ColumnError> {
        let exp = u32::from(self.byte()?);
        if exp > 9 {
            return Err(self.err("time unit out of range"));
        }
        let unit = 10i64.pow(exp);
        let mut prev = 0i64;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            prev = prev.wrapping_add(unzigzag(self.varint()?));
            let t = prev
                .checked_mul(unit)
                .filter(|t| *t >= 0)
                .ok_or_else(|| self.err("time out of range"))?;
            out.push(t);
        }
        Ok(out)
    }

    /// Which events have the column.
    fn presence(&mut self, n: usize) -> Result<Presence<'a>, ColumnError> {
        match self.byte()? {
            ALL_ABSENT => Ok(Presence::None),
            ALL_PRESENT => Ok(Presence::All(n)),
            BITMAP => Ok(Presence::Bits(self.take(n.div_ceil(8))?, n)),
            _ => Err(self.err("unknown presence mode")),
        }
    }

    /// A list of strings: count, lengths, bytes. Returns the byte bounds of each (count + 1
    /// offsets), every string checked to be UTF-8.
    fn strings(&mut self, expect_at_most: usize) -> Result<Vec<u32>, ColumnError> {
        let count = self.varint()? as usize;
        if count > expect_at_most {
            return Err(self.err("more strings than events"));
        }
        let mut lens = Vec::with_capacity(count);
        for _ in 0..count {
            lens.push(self.varint()? as usize);
        }
        let start = self.pos;
        let mut bounds = Vec::with_capacity(count + 1);
        bounds.push(start as u32);
        for len in lens {
            self.take(len)?;
            bounds.push(self.pos as u32);
        }
        // All the strings are valid UTF-8 when their concatenation is and every boundary
        // falls on a character boundary: one validation instead of one per string.
        let all = std::str::from_utf8(&self.b[start..self.pos])
            .map_err(|_| self.err("text is not UTF-8"))?;
        if !bounds
            .iter()
            .all(|&b| all.is_char_boundary(b as usize - start))
        {
            return Err(self.err("text is not UTF-8"));
        }
        Ok(bounds)
    }

    fn text_column(&mut self, n: usize) -> Result<TextColumn, ColumnError> {
        let present = self.presence(n)?;
        let slots = match present {
            Presence::None => {
                return Ok(TextColumn {
                    slots: Slots::None,
                    values: TextValues::Raw(Vec::new()),
                })
            }
            Presence::All(_) => Slots::All,
            Presence::Bits(..) => {
                let mut slots = vec![ABSENT; n];
                for (k, row) in present.rows().enumerate() {
                    slots[row] = k as u32;
                }
                Slots::Some(slots)
            }
        };
        let present = PresentCount(present.count());
        let values = match self.byte()? {
            TEXT_UUID => {
                let at = self.pos;
                self.take(16 * present.len())?;
                TextValues::Uuid(at)
            }
            TEXT_RAW => {
                let bounds = self.strings(present.len())?;
                if bounds.len() != present.len() + 1 {
                    return Err(self.err("text count differs from presence"));
                }
                TextValues::Raw(bounds)
            }
            TEXT_DICT => {
                let bounds = self.strings(present.len())?;
                let entries = bounds.len() - 1;
                let width = index_width(entries);
                let indexes = self.pos;
                let raw = self.take(width * present.len())?;
                let largest = match width {
                    1 => raw.iter().map(|&b| u32::from(b)).max(),
                    2 => raw
                        .chunks_exact(2)
                        .map(|c| u32::from(u16::from_le_bytes([c[0], c[1]])))
                        .max(),
                    _ => raw
                        .chunks_exact(4)
                        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .max(),
                };
                if largest.is_some_and(|m| m as usize >= entries) {
                    return Err(self.err("dictionary index out of range"));
                }
                TextValues::Dict {
                    bounds,
                    width,
                    indexes,
                }
            }
            _ => return Err(self.err("unknown text mode")),
        };
        Ok(TextColumn { slots, values })
    }

    fn floats(&mut self, n: usize) -> Result<Vec<f64>, ColumnError> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let mode = self.byte()?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let v = match mode {
                0..=3 => unzigzag(self.varint()?) as f64 / 10f64.powi(i32::from(mode)),
                FLOAT_RAW => f64::from_bits(u64::from_le_bytes(
                    self.take(8)?.try_into().unwrap_or_default(),
                )),
                _ => return Err(self.err("unknown float mode")),
            };
            out.push(v);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use annal_model::encode_record;

    fn records(events: &[Event]) -> Vec<Vec<u8>> {
        events
            .iter()
            .map(|e| {
                let mut b = Vec::new();
                encode_record(e, &mut b);
                b
            })
            .collect()
    }

    #[test]
    fn generated_events_round_trip_to_the_same_record_bytes() {
        let events = annal_gen::events(annal_gen::GenConfig {
            count: 3000,
            ..Default::default()
        });
        let mut block = Vec::new();
        encode_block(&events, &mut block);
        let back = decode_block(&block).unwrap();
        assert_eq!(records(&back), records(&events));
    }

    #[test]
    fn strings_split_inside_a_character_are_refused() {
        // "é" is two bytes; lengths 1 and 2 cut it in half though all three bytes are UTF-8.
        let bytes = [2, 1, 2, 0xC3, 0xA9, b'x'];
        let mut r = Reader { b: &bytes, pos: 0 };
        assert!(r.strings(2).is_err());
        let bytes = [2, 2, 1, 0xC3, 0xA9, b'x'];
        let mut r = Reader { b: &bytes, pos: 0 };
        assert_eq!(r.strings(2).unwrap(), vec![3, 5, 6]);
    }

    #[test]
    fn a_view_builds_any_row_like_the_whole_decode() {
        let events = annal_gen::events(annal_gen::GenConfig {
            count: 500,
            ..Default::default()
        });
        let mut block = Vec::new();
        encode_block(&events, &mut block);
        let view = BlockView::parse(block.into_boxed_slice()).unwrap();
        for row in [499, 0, 250, 1, 498] {
            assert_eq!(view.event(row), events[row]);
        }
        assert_eq!(view.event(500), Event::default());
    }

    #[test]
    fn edge_values_round_trip() {
        let mut a = Event::new(Timestamp(1), Timestamp(i64::MAX));
        a.set_text(
            TextField::RequestId,
            Some("123e4567-e89b-12d3-a456-426614174000".into()),
        );
        a.set_text(TextField::Path, Some("".into()));
        a.set_int(IntField::UserId, Some(i64::MIN));
        a.latency_ms = Some(0.1 + 0.2);
        let mut b = Event::new(Timestamp(0), Timestamp(0));
        b.set_text(
            TextField::RequestId,
            Some("123E4567-E89B-12D3-A456-426614174000".into()),
        );
        b.set_int(IntField::UserId, Some(i64::MAX));
        b.latency_ms = Some(1e300);
        b.id = Some("x".into());
        let events = vec![a, b.clone(), b];
        let mut block = Vec::new();
        encode_block(&events, &mut block);
        assert_eq!(records(&decode_block(&block).unwrap()), records(&events));
    }

    #[test]
    fn hostile_bytes_are_errors_not_panics() {
        let events = annal_gen::events(annal_gen::GenConfig {
            count: 50,
            ..Default::default()
        });
        let mut block = Vec::new();
        encode_block(&events, &mut block);
        for cut in 0..block.len() {
            assert!(decode_block(&block[..cut]).is_err(), "cut {cut}");
        }
        let mut rng = crate::rng::XorShift64::new(0x2545_f491_4f6c_dd1d);
        for _ in 0..2000 {
            let mut b = block.clone();
            let x = rng.next_u64();
            let i = (x as usize) % b.len();
            b[i] ^= 1 << (x % 8);
            let _ = decode_block(&b);
        }
    }
}
