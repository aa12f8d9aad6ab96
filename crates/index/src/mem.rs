//! An index held in memory: the active segment's, updated as events arrive, and the form an
//! index file is written from.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use annal_model::{Event, Field};
use roaring::RoaringBitmap;

use crate::key::{int_key_bytes, Key};
use crate::times::MemTimes;

/// One field's values and their records. Keys are short and hashed once per record per
/// field while indexing, so a multiply-rotate hash (as in rustc's FxHash) instead of SipHash:
/// the keys come from stored events, and a collision only costs a longer probe.
pub(crate) type Postings = HashMap<Key, RoaringBitmap, BuildHasherDefault<FxHasher>>;

/// A multiply-rotate hasher over 8-byte words.
#[derive(Default)]
pub(crate) struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        for &b in chunks.remainder() {
            self.add(u64::from(b));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.add(v);
    }
    fn write_usize(&mut self, v: usize) {
        self.add(v as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

impl FxHasher {
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// Postings of every value of every indexed field, and every record's time, for one segment.
#[derive(Clone)]
pub struct MemIndex {
    pub(crate) base: u64,
    pub(crate) fields: Vec<Field>,
    pub(crate) postings: Vec<Postings>,
    pub(crate) times: MemTimes,
}

impl MemIndex {
    /// An empty index for the segment starting at seq `base`.
    pub fn new(base: u64, fields: &[Field]) -> MemIndex {
        MemIndex {
            base,
            fields: fields.to_vec(),
            postings: vec![Postings::default(); fields.len()],
            times: MemTimes::default(),
        }
    }

    /// Seq of the segment's first record.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// Records indexed so far.
    pub fn len(&self) -> u64 {
        self.times.times.len() as u64
    }

    /// True before the first record.
    pub fn is_empty(&self) -> bool {
        self.times.times.is_empty()
    }

    /// Indexes the next record (ordinal [`len`](Self::len)).
    pub fn push(&mut self, event: &Event) {
        // Sealed segments keep ordinals within u32 (SEGMENT_BYTES_MAX); a wrapped ordinal
        // would file this record's values under another record.
        let ord = u32::try_from(self.len()).unwrap_or_else(|_| {
            panic!(
                "segment {}: record ordinal past u32 in the index",
                self.base
            )
        });
        for (postings, &field) in self.postings.iter_mut().zip(&self.fields) {
            let int;
            let key: &[u8] = match field {
                Field::Text(f) => match event.text(f) {
                    Some(v) => v.as_bytes(),
                    None => continue,
                },
                Field::Int(f) => match event.int(f) {
                    Some(v) => {
                        int = int_key_bytes(v);
                        &int
                    }
                    None => continue,
                },
                _ => continue,
            };
            // Most values repeat: look up by borrowed bytes, allocate only for new ones.
            match postings.get_mut(key) {
                Some(b) => {
                    // Ordinals only grow, so this appends; a refused push would leave the
                    // record out of this value's bitmap and queries would miss it.
                    let appended = b.try_push(ord).is_ok();
                    assert!(
                        appended,
                        "segment {}: ordinal {ord} pushed out of order",
                        self.base
                    );
                }
                None => {
                    postings.insert(key.into(), RoaringBitmap::from_iter([ord]));
                }
            }
        }
        self.times.push(event.created_at.0);
    }

    /// Smallest and largest time, if any record is indexed.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        let b = &self.times.bounds;
        Some((
            b.iter().map(|b| b.min).min()?,
            b.iter().map(|b| b.max).max()?,
        ))
    }
}
