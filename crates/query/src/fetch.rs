//! Reading the events of candidate records: whole blocks decoded once and kept in a cache,
//! since a page's matches cluster in few blocks and the next page reads the same ones.

use std::sync::Arc;

use annal_index::IndexedSegment;
use annal_model::Event;
use annal_storage::{BlockView, Snapshot, StorageError};
use parking_lot::Mutex;

use crate::cache::Lru;
use crate::error::Result;

/// Memory the block cache may hold: checked, decompressed sealed blocks (about 0.8 MiB for
/// 4096 events) and decoded events of unsealed segments (about 1 KiB each).
pub(crate) const BLOCK_CACHE_BYTES: usize = 64 << 20;
/// Memory an unsealed event is counted as in the cache.
const EVENT_BYTES: usize = 1024;
/// Records per cached unit of an unsealed segment.
const UNSEALED_BLOCK_EVENTS: u64 = 4096;

/// (segment base, sealed, block number).
type BlockKey = (u64, bool, u64);

/// A cached block: a sealed block's checked columns, or an unsealed range's events.
#[derive(Clone)]
enum Block {
    Sealed(Arc<BlockView>),
    Events(Arc<Vec<Event>>),
}

impl Block {
    fn event(&self, i: usize) -> Option<Event> {
        match self {
            Block::Sealed(v) => (i < v.len()).then(|| v.event(i)),
            Block::Events(e) => e.get(i).cloned(),
        }
    }
}

pub(crate) struct BlockCache(Mutex<Lru<BlockKey, Block>>);

impl BlockCache {
    pub(crate) fn new() -> BlockCache {
        BlockCache(Mutex::new(Lru::new(BLOCK_CACHE_BYTES)))
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
                    .event((seq - block_first) as usize)
                    .ok_or(StorageError::NotFound(seq))?;
                out.push(e);
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
    ) -> Result<(Block, u64)> {
        if let Some(sealed) = &seg.sealed {
            let b = sealed
                .block_of(first)
                .ok_or(StorageError::NotFound(first))?;
            let block = self.cached((seg.base, true, b as u64), || {
                let view = sealed.read_view(b)?;
                let cost = view.memory_bytes();
                Ok((Block::Sealed(Arc::new(view)), cost))
            })?;
            return Ok((block, first));
        }
        if end - first < UNSEALED_BLOCK_EVENTS {
            // The growing tail is not cached (it changes): read just the records needed.
            let lo = seg.base + u64::from(run.iter().copied().min().unwrap_or(0));
            let hi = seg.base + u64::from(run.iter().copied().max().unwrap_or(0)) + 1;
            let events = snapshot.read_unsealed(lo, hi)?;
            return Ok((Block::Events(Arc::new(events)), lo));
        }
        let k = (first - seg.base) / UNSEALED_BLOCK_EVENTS;
        let block = self.cached((seg.base, false, k), || {
            let events = snapshot.read_unsealed(first, end)?;
            let cost = events.len() * EVENT_BYTES;
            Ok((Block::Events(Arc::new(events)), cost))
        })?;
        Ok((block, first))
    }

    fn cached(
        &self,
        key: BlockKey,
        load: impl FnOnce() -> std::result::Result<(Block, usize), StorageError>,
    ) -> Result<Block> {
        if let Some(b) = self.0.lock().get(&key) {
            return Ok(b);
        }
        let (block, cost) = load()?;
        self.0.lock().insert(key, block.clone(), cost);
        Ok(block)
    }
}
