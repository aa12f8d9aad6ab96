//! An index held in memory: the active segment's, updated as events arrive, and the form an
//! index file is written from.

use std::collections::HashMap;

use annal_model::{Event, Field};
use roaring::RoaringBitmap;

use crate::key::{event_key, Key};
use crate::times::MemTimes;

/// Postings of every value of every indexed field, and every record's time, for one segment.
#[derive(Clone)]
pub struct MemIndex {
    pub(crate) base: u64,
    pub(crate) fields: Vec<Field>,
    pub(crate) postings: Vec<HashMap<Key, RoaringBitmap>>,
    pub(crate) times: MemTimes,
}

impl MemIndex {
    /// An empty index for the segment starting at seq `base`.
    pub fn new(base: u64, fields: &[Field]) -> MemIndex {
        MemIndex {
            base,
            fields: fields.to_vec(),
            postings: vec![HashMap::new(); fields.len()],
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
        let ord = self.len() as u32;
        for (postings, &field) in self.postings.iter_mut().zip(&self.fields) {
            if let Some(key) = event_key(event, field) {
                postings.entry(key).or_default().insert(ord);
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
