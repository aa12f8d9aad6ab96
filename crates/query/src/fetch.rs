//! Reading the events of candidate records: whole blocks decoded once and kept in a cache,
//! since a page's matches cluster in few blocks and the next page reads the same ones.

use std::sync::Arc;

use annal_index::IndexedSegment;
use annal_model::Event;
use annal_storage::{Snapshot, StorageError};
use parking_lot::Mutex;

use crate::cache::Lru;
use crate::error::Result;

/// Decoded events kept in the cache (about 1 KiB each in memory).
pub(crate) const BLOCK_CACHE_EVENTS: usize = 65_536;
/// Records per cached unit of an unsealed segment.
const UNSEALED_BLOCK_EVENTS: u64 = 4096;

/// (segment base, sealed, block number).
type BlockKey = (u64, bool, u64);

pub(crate) struct BlockCache(Mutex<Lru<BlockKey, Arc<Vec<Event>>>>);

impl BlockCache {
    pub(crate) fn new() -> BlockCache {
        BlockCache(Mutex::new(Lru::new(BLOCK_CACHE_EVENTS)))
    }

    /// The events at ordinals `ords` of `seg`, in the order given.
    pub(crate) fn fetch(
        &self,
        snapshot: &Snapshot,
        seg: &IndexedSegment,
        ords: &[u32],
    ) -> Result<Vec<Event>> {
        let mut out = Vec::with_capacity(ords.len());
        let mut i = 0;
        while i < ords.len() {
            let (first, end) = self.block_range(seg, ords[i])?;
            let in_block = |o: &u32| (first..end).contains(&(seg.base + u64::from(*o)));
            let run_len = ords[i..].iter().take_while(|o| in_block(o)).count();
            let run = &ords[i..i + run_len];
            let (block, block_first) = self.load(snapshot, seg, first, end, run)?;
            for &o in run {
                let seq = seg.base + u64::from(o);
                let e = block
                    .get((seq - block_first) as usize)
                    .ok_or(StorageError::NotFound(seq))?;
                out.push(e.clone());
            }
            i += run_len;
        }
        Ok(out)
    }

    /// Seqs `first..end` of the block holding ordinal `ord`.
    fn block_range(&self, seg: &IndexedSegment, ord: u32) -> Result<(u64, u64)> {
        let seq = seg.base + u64::from(ord);
        if let Some(sealed) = &seg.sealed {
            let b = sealed.block_of(seq).ok_or(StorageError::NotFound(seq))?;
            let meta = &sealed.blocks()[b];
            return Ok((meta.first_seq, meta.first_seq + u64::from(meta.count)));
        }
        let first = seg.base + u64::from(ord) / UNSEALED_BLOCK_EVENTS * UNSEALED_BLOCK_EVENTS;
        Ok((
            first,
            (first + UNSEALED_BLOCK_EVENTS).min(seg.base + seg.count),
        ))
    }

    /// Events of the block `first..end` (or, in an unsealed segment's growing tail, of the
    /// part `run` needs), with the seq of the first one returned.
    fn load(
        &self,
        snapshot: &Snapshot,
        seg: &IndexedSegment,
        first: u64,
        end: u64,
        run: &[u32],
    ) -> Result<(Arc<Vec<Event>>, u64)> {
        if let Some(sealed) = &seg.sealed {
            let b = sealed
                .block_of(first)
                .ok_or(StorageError::NotFound(first))?;
            let events = self.cached((seg.base, true, b as u64), || sealed.read_block(b))?;
            return Ok((events, first));
        }
        if end - first < UNSEALED_BLOCK_EVENTS {
            // The growing tail is not cached (it changes): read just the records needed.
            let lo = seg.base + u64::from(run.iter().copied().min().unwrap_or(0));
            let hi = seg.base + u64::from(run.iter().copied().max().unwrap_or(0)) + 1;
            return Ok((Arc::new(snapshot.read_unsealed(lo, hi)?), lo));
        }
        let k = (first - seg.base) / UNSEALED_BLOCK_EVENTS;
        let events = self.cached((seg.base, false, k), || snapshot.read_unsealed(first, end))?;
        Ok((events, first))
    }

    fn cached(
        &self,
        key: BlockKey,
        load: impl FnOnce() -> std::result::Result<Vec<Event>, StorageError>,
    ) -> Result<Arc<Vec<Event>>> {
        if let Some(b) = self.0.lock().get(&key) {
            return Ok(b);
        }
        let events = Arc::new(load()?);
        self.0.lock().insert(key, events.clone(), events.len());
        Ok(events)
    }
}
