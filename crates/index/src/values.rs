//! One field's section of an index file: its values, sorted, in blocks of up to
//! [`VALUE_BLOCK_VALUES`] with front-coded keys, each with its record count and postings.
//!
//! Fields like `resource_id` are nearly unique per record, so a value's key and bookkeeping
//! cost more than its postings: front coding (each key stored as the length it shares with
//! the previous one and the rest), varint counts and varint ordinal gaps keep that small,
//! and a sparse table of each block's first key keeps lookups to one binary search and one
//! short scan. Byte layout: docs/format.md, "Field section".

use annal_model::{get_varint, put_varint};
use roaring::RoaringBitmap;

use crate::mem::Postings;
use crate::times::le_u32;

/// Values per block: a lookup decodes at most this many entries after its binary search.
pub const VALUE_BLOCK_VALUES: usize = 16;
/// Values with at most this many records keep their ordinals inline as varint gaps; larger
/// ones are roaring bitmaps in the postings area.
pub const INLINE_POSTINGS_MAX: u64 = 8;
/// Bytes of one block table entry: first key offset, block offset (u32 LE each).
const BLOCK_ENTRY_BYTES: usize = 8;

/// The bytes of a field section for `postings`.
pub(crate) fn encode_field(postings: &Postings) -> Vec<u8> {
    let mut values: Vec<_> = postings.iter().collect();
    values.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let nblocks = values.len().div_ceil(VALUE_BLOCK_VALUES);
    let header = 8 + (nblocks + 1) * BLOCK_ENTRY_BYTES;
    let mut first_keys = Vec::new();
    let mut blocks = Vec::new();
    let mut bitmaps = Vec::new();
    let mut table = Vec::with_capacity((nblocks + 1) * BLOCK_ENTRY_BYTES);
    for chunk in values.chunks(VALUE_BLOCK_VALUES) {
        table.extend_from_slice(&(first_keys.len() as u32).to_le_bytes());
        table.extend_from_slice(&(blocks.len() as u32).to_le_bytes());
        first_keys.extend_from_slice(chunk[0].0);
        let mut prev: &[u8] = &[];
        for (key, bitmap) in chunk {
            let shared = key.iter().zip(prev).take_while(|(a, b)| a == b).count();
            put_varint(&mut blocks, shared as u64);
            put_varint(&mut blocks, (key.len() - shared) as u64);
            blocks.extend_from_slice(&key[shared..]);
            put_varint(&mut blocks, bitmap.len());
            if bitmap.len() <= INLINE_POSTINGS_MAX {
                let mut last = 0;
                for (i, o) in bitmap.iter().enumerate() {
                    put_varint(&mut blocks, u64::from(if i == 0 { o } else { o - last }));
                    last = o;
                }
            } else {
                put_varint(&mut blocks, bitmaps.len() as u64);
                let start = bitmaps.len();
                // Writing into a Vec cannot fail.
                let _ = bitmap.serialize_into(&mut bitmaps);
                put_varint(&mut blocks, (bitmaps.len() - start) as u64);
            }
            prev = key;
        }
    }
    table.extend_from_slice(&(first_keys.len() as u32).to_le_bytes());
    table.extend_from_slice(&(blocks.len() as u32).to_le_bytes());
    let mut out = Vec::with_capacity(header + first_keys.len() + blocks.len() + bitmaps.len());
    out.extend_from_slice(&(values.len() as u32).to_le_bytes());
    out.extend_from_slice(&(nblocks as u32).to_le_bytes());
    out.extend_from_slice(&table);
    out.extend_from_slice(&first_keys);
    out.extend_from_slice(&blocks);
    out.extend_from_slice(&bitmaps);
    out
}

/// Where a value's records are.
#[derive(Clone, Copy, Debug)]
enum Where {
    /// Varint gaps in the value block, from this offset.
    Inline(usize),
    /// A roaring bitmap at this range of the section.
    Bitmap(usize, usize),
}

/// One value of a field section.
#[derive(Clone, Debug)]
pub(crate) struct Value {
    /// The value's key.
    pub(crate) key: Vec<u8>,
    /// Records holding it.
    pub(crate) count: u64,
    postings: Where,
}

/// A field section, read in place.
pub(crate) struct FieldSection<'a> {
    bytes: &'a [u8],
    n: usize,
    nblocks: usize,
    keys_at: usize,
    blocks_at: usize,
    bitmaps_at: usize,
}

impl<'a> FieldSection<'a> {
    /// Finds a section's parts; [`check`](Self::check) says whether they hold together.
    pub(crate) fn locate(bytes: &'a [u8]) -> Result<FieldSection<'a>, String> {
        let n = le_u32(bytes, 0).ok_or("field section cut short")? as usize;
        let nblocks = le_u32(bytes, 4).ok_or("field section cut short")? as usize;
        if nblocks != n.div_ceil(VALUE_BLOCK_VALUES) {
            return Err("block count does not match the value count".into());
        }
        let keys_at = nblocks
            .checked_add(1)
            .and_then(|b| b.checked_mul(BLOCK_ENTRY_BYTES))
            .and_then(|t| t.checked_add(8))
            .filter(|&k| k <= bytes.len())
            .ok_or("block table cut short")?;
        let mut s = FieldSection {
            bytes,
            n,
            nblocks,
            keys_at,
            blocks_at: 0,
            bitmaps_at: 0,
        };
        let (keys_len, blocks_len) = s.block_entry(nblocks);
        s.blocks_at = keys_at
            .checked_add(keys_len)
            .filter(|&b| b <= bytes.len())
            .ok_or("first keys past the end")?;
        s.bitmaps_at = s
            .blocks_at
            .checked_add(blocks_len)
            .filter(|&b| b <= bytes.len())
            .ok_or("value blocks past the end")?;
        Ok(s)
    }

    /// Checks everything: block table in order, every value decodes, keys strictly
    /// increasing, counts and postings consistent with a segment of `count` records, and
    /// no byte left over.
    pub(crate) fn check(&self, count: u64) -> Result<(), String> {
        if self.n as u64 > count {
            return Err("more values than records".into());
        }
        let mut prev_entry = (0, 0);
        for b in 0..=self.nblocks {
            let e = self.block_entry(b);
            if e.0 < prev_entry.0 || e.1 < prev_entry.1 {
                return Err(format!("block table entry {b} out of order"));
            }
            prev_entry = e;
        }
        let mut prev: Option<Vec<u8>> = None;
        let mut bitmap_end = 0;
        let mut seen = 0;
        for b in 0..self.nblocks {
            for v in self.block(b)? {
                if prev.as_ref().is_some_and(|p| *p >= v.key) {
                    return Err("value keys out of order".into());
                }
                if v.count == 0 || v.count > count {
                    return Err("value record count out of range".into());
                }
                if let Where::Bitmap(start, end) = v.postings {
                    if start != bitmap_end {
                        return Err("postings out of order".into());
                    }
                    bitmap_end = end;
                }
                let p = self.postings(&v)?;
                if p.len() != v.count || p.max().is_some_and(|m| u64::from(m) >= count) {
                    return Err("postings disagree with their count".into());
                }
                prev = Some(v.key);
                seen += 1;
            }
        }
        if seen != self.n || self.bitmaps_at + bitmap_end != self.bytes.len() {
            return Err("values or postings do not fill the section".into());
        }
        Ok(())
    }

    fn block_entry(&self, b: usize) -> (usize, usize) {
        let at = 8 + b * BLOCK_ENTRY_BYTES;
        let get = |o| le_u32(self.bytes, at + o).unwrap_or(0) as usize;
        (get(0), get(4))
    }

    fn first_key(&self, b: usize) -> &'a [u8] {
        let (start, end) = (self.block_entry(b).0, self.block_entry(b + 1).0);
        self.bytes
            .get(self.keys_at + start..self.keys_at + end)
            .unwrap_or(&[])
    }

    /// The values of block `b`.
    fn block(&self, b: usize) -> Result<Vec<Value>, String> {
        let (start, end) = (self.block_entry(b).1, self.block_entry(b + 1).1);
        let bytes = self
            .bytes
            .get(self.blocks_at + start..self.blocks_at + end)
            .ok_or("value block past the end")?;
        let values_in_block = (self.n - b * VALUE_BLOCK_VALUES).min(VALUE_BLOCK_VALUES);
        let mut out = Vec::with_capacity(values_in_block);
        let mut pos = 0;
        let mut key: Vec<u8> = Vec::new();
        let varint = |pos: &mut usize| get_varint(bytes, pos).ok_or("value entry cut short");
        for _ in 0..values_in_block {
            let shared = varint(&mut pos)? as usize;
            let rest = varint(&mut pos)? as usize;
            if shared > key.len() {
                return Err("key shares more than the previous key has".into());
            }
            key.truncate(shared);
            let suffix = pos
                .checked_add(rest)
                .and_then(|e| bytes.get(pos..e))
                .ok_or("key past the end of its block")?;
            key.extend_from_slice(suffix);
            pos += rest;
            let count = varint(&mut pos)?;
            let postings = if count <= INLINE_POSTINGS_MAX {
                let at = self.blocks_at + start + pos;
                for _ in 0..count {
                    varint(&mut pos)?;
                }
                Where::Inline(at)
            } else {
                let off = varint(&mut pos)? as usize;
                let len = varint(&mut pos)? as usize;
                let end = off.checked_add(len).ok_or("postings length overflows")?;
                Where::Bitmap(off, end)
            };
            out.push(Value {
                key: key.clone(),
                count,
                postings,
            });
        }
        if pos != bytes.len() {
            return Err("trailing bytes in a value block".into());
        }
        if out.first().is_some_and(|v| v.key != self.first_key(b)) {
            return Err("block table key differs from the block's first key".into());
        }
        Ok(out)
    }

    /// Number of values.
    pub(crate) fn len(&self) -> usize {
        self.n
    }

    /// The value `key`, if the field has it.
    pub(crate) fn lookup(&self, key: &[u8]) -> Result<Option<Value>, String> {
        // The last block whose first key is ≤ key.
        let (mut lo, mut hi) = (0, self.nblocks);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.first_key(mid) <= key {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        if lo == 0 {
            return Ok(None);
        }
        Ok(self.block(lo - 1)?.into_iter().find(|v| v.key == key))
    }

    /// Every value, in key order.
    pub(crate) fn values(&self) -> Result<Vec<Value>, String> {
        let mut out = Vec::with_capacity(self.n);
        for b in 0..self.nblocks {
            out.extend(self.block(b)?);
        }
        Ok(out)
    }

    /// The records of `v`.
    pub(crate) fn postings(&self, v: &Value) -> Result<RoaringBitmap, String> {
        match v.postings {
            Where::Inline(at) => {
                let mut pos = at;
                let mut ord = 0u64;
                let mut ords = Vec::with_capacity(v.count as usize);
                for i in 0..v.count {
                    let gap = get_varint(self.bytes, &mut pos).ok_or("ordinal cut short")?;
                    if i > 0 && gap == 0 {
                        return Err("ordinals not increasing".into());
                    }
                    ord = ord.checked_add(gap).ok_or("ordinal overflows")?;
                    ords.push(u32::try_from(ord).map_err(|_| "ordinal overflows")?);
                }
                RoaringBitmap::from_sorted_iter(ords).map_err(|_| "ordinals not increasing".into())
            }
            Where::Bitmap(start, end) => {
                let bytes = self
                    .bytes
                    .get(self.bitmaps_at + start..self.bitmaps_at + end)
                    .ok_or("postings past the end")?;
                RoaringBitmap::deserialize_from(bytes)
                    .map_err(|e| format!("postings do not decode: {e}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn every_value_round_trips_and_lookups_find_exactly_the_stored_keys(
            values in proptest::collection::btree_map(
                proptest::collection::vec(0u8..4, 0..12),
                proptest::collection::btree_set(0u32..5000, 1..20),
                0..80,
            ),
            probes in proptest::collection::vec(proptest::collection::vec(0u8..4, 0..12), 0..20),
        ) {
            let mut postings = Postings::default();
            for (k, ords) in &values {
                postings.insert(k.clone().into(), ords.iter().copied().collect());
            }
            let bytes = encode_field(&postings);
            let s = FieldSection::locate(&bytes).unwrap();
            s.check(5000).unwrap();
            let all = s.values().unwrap();
            prop_assert_eq!(all.len(), values.len());
            for (v, (k, ords)) in all.iter().zip(&values) {
                prop_assert_eq!(&v.key, k);
                prop_assert_eq!(v.count, ords.len() as u64);
                let got: Vec<u32> = s.postings(v).unwrap().iter().collect();
                prop_assert_eq!(&got, &ords.iter().copied().collect::<Vec<_>>());
            }
            for p in probes.iter().chain(values.keys()) {
                let found = s.lookup(p).unwrap();
                prop_assert_eq!(found.map(|v| v.key), values.contains_key(p).then(|| p.clone()));
            }
            // Any single flipped byte is refused by `check` or leaves a consistent section.
            if !bytes.is_empty() {
                let mut bad = bytes.clone();
                let at = values.len() * 7 % bad.len();
                bad[at] ^= 0x41;
                if let Ok(s) = FieldSection::locate(&bad) {
                    if s.check(5000).is_ok() {
                        for v in s.values().unwrap() {
                            prop_assert!(s.postings(&v).is_ok());
                        }
                    }
                }
            }
        }
    }
}
