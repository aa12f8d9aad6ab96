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
/// 4096 events).
pub(crate) const BLOCK_CACHE_BYTES: usize = 64 << 20;
/// Memory an event is counted as in the caches.
const EVENT_BYTES: usize = 1024;
/// Memory the row cache may hold: events recently returned, so that repeated and following
/// pages whose matches are spread over many blocks (or lie in the unsealed log) are not read
/// and decoded again.
pub(crate) const ROW_CACHE_BYTES: usize = 32 << 20;
/// Records per cached unit of an unsealed segment.
const UNSEALED_BLOCK_EVENTS: u64 = 4096;

/// (segment base, block number, records in it).
type BlockKey = (u64, u64, u64);

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

pub(crate) struct BlockCache {
    blocks: Mutex<Lru<BlockKey, Block>>,
    /// Events by seq (sealed segments only: their events never change).
    rows: Mutex<Lru<u64, Arc<Event>>>,
}

impl BlockCache {
    pub(crate) fn new() -> BlockCache {
        BlockCache {
            blocks: Mutex::new(Lru::new(BLOCK_CACHE_BYTES)),
            rows: Mutex::new(Lru::new(ROW_CACHE_BYTES)),
        }
    }

    /// The events at ordinals `ords` of `seg`, in the order given.
    pub(crate) fn fetch(
        &self,
        snapshot: &Snapshot,
        seg: &IndexedSegment,
        ords: &[u32],
    ) -> Result<Vec<Arc<Event>>> {
        self.fetch_with(snapshot, seg, ords, true)
            .map(|found| found.unwrap_or_default())
    }

    /// [`fetch`](Self::fetch), or with `io` false, None when any of the events is in neither
    /// cache (answering would read a file).
    pub(crate) fn fetch_with(
        &self,
        snapshot: &Snapshot,
        seg: &IndexedSegment,
        ords: &[u32],
        io: bool,
    ) -> Result<Option<Vec<Arc<Event>>>> {
        let mut out: Vec<Option<Arc<Event>>> = vec![None; ords.len()];
        let mut missing = Vec::with_capacity(ords.len());
        {
            let mut rows = self.rows.lock();
            for (slot, &o) in out.iter_mut().zip(ords) {
                *slot = rows.get(&(seg.base + u64::from(o)));
                if slot.is_none() {
                    missing.push(o);
                }
            }
        }
        let mut found = Vec::with_capacity(missing.len());
        let mut i = 0;
        while i < missing.len() {
            let (first, end) = self.block_range(seg, missing[i])?;
            let in_block = |o: &u32| (first..end).contains(&(seg.base + u64::from(*o)));
            let run_len = missing[i..].iter().take_while(|o| in_block(o)).count();
            let run = &missing[i..i + run_len];
            let (block, block_first) = if io {
                self.load(snapshot, seg, first, end, run)?
            } else {
                match self.cached_block(seg, first, end) {
                    Some(b) => (b, first),
                    None => return Ok(None),
                }
            };
            for &o in run {
                let seq = seg.base + u64::from(o);
                let e = block
                    .event((seq - block_first) as usize)
                    .ok_or(StorageError::NotFound(seq))?;
                found.push(Arc::new(e));
            }
            i += run_len;
        }
        // A stored event never changes, sealed or not: rows are cached by seq alone.
        {
            let mut rows = self.rows.lock();
            for (o, e) in missing.iter().zip(&found) {
                rows.insert(seg.base + u64::from(*o), e.clone(), EVENT_BYTES);
            }
        }
        let mut found = found.into_iter();
        Ok(Some(
            out.into_iter()
                .map(|e| e.or_else(|| found.next()).unwrap_or_default())
                .collect(),
        ))
    }

    /// A sealed block already in the cache.
    fn cached_block(&self, seg: &IndexedSegment, first: u64, end: u64) -> Option<Block> {
        let b = seg.sealed.as_ref()?.block_of(first)?;
        self.blocks.lock().get(&(seg.base, b as u64, end - first))
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

    /// Events of the block `first..end` (sealed: the whole block, cached), or of an unsealed
    /// segment just the records `run` needs (read from the log; the rows are then cached), with
    /// the seq of the first one returned.
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
            let block = self.cached((seg.base, b as u64, end - first), || {
                let view = sealed.read_view(b)?;
                let cost = view.memory_bytes();
                Ok((Block::Sealed(Arc::new(view)), cost))
            })?;
            return Ok((block, first));
        }
        let lo = seg.base + u64::from(run.iter().copied().min().unwrap_or(0));
        let hi = seg.base + u64::from(run.iter().copied().max().unwrap_or(0)) + 1;
        let events = snapshot.read_unsealed(lo, hi)?;
        Ok((Block::Events(Arc::new(events)), lo))
    }

    fn cached(
        &self,
        key: BlockKey,
        load: impl FnOnce() -> std::result::Result<(Block, usize), StorageError>,
    ) -> Result<Block> {
        if let Some(b) = self.blocks.lock().get(&key) {
            return Ok(b);
        }
        let (block, cost) = load()?;
        self.blocks.lock().insert(key, block.clone(), cost);
        Ok(block)
    }
}
