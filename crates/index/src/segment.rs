//! One segment's index as queries see it, whether held in memory or read from its file.

use std::sync::Arc;

use parking_lot::RwLock;
use roaring::RoaringBitmap;

use crate::error::{IndexError, Result};
use crate::file::IndexFile;
use crate::key::Key;
use crate::mem::MemIndex;
use crate::times::{bucket_runs, for_each_time, ordinals_in_range, BucketRuns};

/// A segment's index. Ordinals are positions in the segment (seq − base); every method
/// takes `limit`, the number of records visible to the caller, and answers for those only.
#[derive(Clone)]
pub enum SegmentIndex {
    /// The active or a rolled segment's index, updated as events arrive.
    Mem(Arc<RwLock<MemIndex>>),
    /// A sealed segment's index file.
    File(Arc<IndexFile>),
}

impl SegmentIndex {
    /// Records of field `field` (position in the indexed fields) holding `key`.
    pub fn postings(&self, field: usize, key: &[u8], limit: u64) -> Result<RoaringBitmap> {
        match self {
            SegmentIndex::Mem(m) => {
                let m = m.read();
                let mut b = m
                    .postings
                    .get(field)
                    .and_then(|p| p.get(key))
                    .cloned()
                    .unwrap_or_default();
                clamp(&mut b, limit);
                Ok(b)
            }
            SegmentIndex::File(f) => {
                let s = f.field(field)?;
                let Some(v) = s.lookup(key).map_err(|m| corrupt(f, m))? else {
                    return Ok(RoaringBitmap::new());
                };
                let mut b = s.postings(&v).map_err(|m| corrupt(f, m))?;
                clamp(&mut b, limit);
                Ok(b)
            }
        }
    }

    /// Records of the whole segment holding `key`, when known without reading postings.
    pub fn count_hint(&self, field: usize, key: &[u8]) -> Option<u64> {
        match self {
            SegmentIndex::Mem(m) => {
                let m = m.read();
                Some(m.postings.get(field)?.get(key).map_or(0, |b| b.len()))
            }
            SegmentIndex::File(f) => f.summary().fields.get(field)?.count(key),
        }
    }

    /// Every value of `field` with its records (below `limit`), in key order for files.
    pub fn for_each_value(
        &self,
        field: usize,
        limit: u64,
        mut f: impl FnMut(&[u8], &RoaringBitmap),
    ) -> Result<()> {
        match self {
            SegmentIndex::Mem(m) => {
                let m = m.read();
                for (key, b) in m.postings.get(field).into_iter().flatten() {
                    let mut b = b.clone();
                    clamp(&mut b, limit);
                    if !b.is_empty() {
                        f(key, &b);
                    }
                }
            }
            SegmentIndex::File(file) => {
                let s = file.field(field)?;
                for v in s.values().map_err(|m| corrupt(file, m))? {
                    let mut b = s.postings(&v).map_err(|m| corrupt(file, m))?;
                    clamp(&mut b, limit);
                    if !b.is_empty() {
                        f(&v.key, &b);
                    }
                }
            }
        }
        Ok(())
    }

    /// Every value of `field` with its record count (below `limit`), without reading
    /// postings of a file. A file's counts are its whole segment's: `limit` is its count.
    pub fn value_counts(&self, field: usize, limit: u64) -> Result<Vec<(Key, u64)>> {
        match self {
            SegmentIndex::Mem(m) => {
                let m = m.read();
                // An index caught up by a later view may hold records this one does not see.
                let whole = m.len() <= limit;
                Ok(m.postings
                    .get(field)
                    .into_iter()
                    .flatten()
                    .map(|(k, b)| {
                        let n = if whole {
                            b.len()
                        } else {
                            b.range_cardinality(..limit as u32)
                        };
                        (k.clone(), n)
                    })
                    .filter(|(_, n)| *n > 0)
                    .collect())
            }
            SegmentIndex::File(f) => {
                if let Some(v) = f.summary().fields.get(field).and_then(|s| s.values.clone()) {
                    return Ok(v);
                }
                let s = f.field(field)?;
                let values = s.values().map_err(|m| corrupt(f, m))?;
                Ok(values
                    .into_iter()
                    .map(|v| (v.key.into(), v.count))
                    .collect())
            }
        }
    }

    /// Records (below `limit`) whose `created_at` is in `from..to`.
    pub fn time_range(&self, from: i64, to: i64, limit: u64) -> Result<RoaringBitmap> {
        match self {
            SegmentIndex::Mem(m) => {
                let m = m.read();
                Ok(ordinals_in_range(&m.times, from, to, limit).unwrap_or_default())
            }
            SegmentIndex::File(f) => {
                let t = f.times()?;
                ordinals_in_range(&t, from, to, limit).map_err(|m| corrupt(f, m))
            }
        }
    }

    /// Calls `f(ordinal, created_at)` for every ordinal in `set`, in order.
    pub fn for_each_time(&self, set: &RoaringBitmap, f: impl FnMut(u32, i64)) -> Result<()> {
        match self {
            SegmentIndex::Mem(m) => {
                let m = m.read();
                let _ = for_each_time(&m.times, set, f);
                Ok(())
            }
            SegmentIndex::File(file) => {
                let t = file.times()?;
                for_each_time(&t, set, f).map_err(|m| corrupt(file, m))
            }
        }
    }

    /// The records below `limit` cut into time buckets of `width` nanoseconds.
    pub fn bucket_runs(&self, width: i64, limit: u64) -> Result<BucketRuns> {
        match self {
            SegmentIndex::Mem(m) => {
                let m = m.read();
                let Ok(runs) = bucket_runs(&m.times, width, limit);
                Ok(runs)
            }
            SegmentIndex::File(file) => {
                let t = file.times()?;
                bucket_runs(&t, width, limit).map_err(|m| corrupt(file, m))
            }
        }
    }

    /// Smallest and largest `created_at` of the segment's records, if it has any.
    pub fn time_bounds(&self) -> Option<(i64, i64)> {
        match self {
            SegmentIndex::Mem(m) => m.read().time_range(),
            SegmentIndex::File(f) => (f.count() > 0).then(|| {
                let s = f.summary();
                (s.min_time, s.max_time)
            }),
        }
    }

    /// True for an index held in memory (the segment is not sealed, or its file could
    /// not be written).
    pub fn in_memory(&self) -> bool {
        matches!(self, SegmentIndex::Mem(_))
    }
}

fn clamp(b: &mut RoaringBitmap, limit: u64) {
    if limit < u64::from(u32::MAX) {
        b.remove_range(limit as u32..);
    }
}

fn corrupt(f: &IndexFile, msg: impl Into<String>) -> IndexError {
    IndexError::Corrupt {
        path: f.path().to_path_buf(),
        msg: msg.into(),
    }
}
