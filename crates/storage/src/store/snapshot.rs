//! Read snapshots: the segments as they stood at one moment, with the count of published
//! records of each unsealed one, so later appends and seals never change what a reader sees.

use std::sync::Arc;

use annal_model::Event;

use super::segment::{Segments, WalSegment};
use super::start::TrailStart;
use super::{SegmentInfo, SegmentKind};
use crate::error::{Result, StorageError};
use crate::sealed::SealedRef;
use crate::vfs::VFile;

/// Records of an unsealed segment that [`Snapshot::scan`] reads (and holds decoded) at once.
const UNSEALED_SCAN_RUN: u64 = 4096;

/// A consistent, immutable view of the trail: events `0..end()`.
#[derive(Clone)]
pub struct Snapshot {
    /// Where the trail starts (the seqs before it were pruned).
    start: Arc<TrailStart>,
    sealed: Vec<SealedRef>,
    unsealed: Vec<(Arc<WalSegment>, u64)>,
    /// Published bytes of each unsealed log, read with its record count.
    unsealed_bytes: Vec<u64>,
    end: u64,
    /// Whether the unsealed records may hold an id made only of digits.
    digit_ids: bool,
}

impl Snapshot {
    /// The view of `segs` now: every sealed segment, and of each unsealed one the records
    /// published so far; `digit_ids` says whether those may hold an id made only of digits.
    pub(super) fn of(segs: &Segments, digit_ids: bool) -> Snapshot {
        let (unsealed, unsealed_bytes): (Vec<_>, Vec<_>) = segs
            .unsealed
            .iter()
            .map(|w| {
                let st = w.state.read();
                ((w.clone(), st.record_offsets.len() as u64), st.bytes)
            })
            .unzip();
        let end = unsealed.last().map_or_else(
            || segs.sealed.last().map_or(segs.start.seq(), |s| s.end()),
            |(w, n)| w.base + n,
        );
        Snapshot {
            start: segs.start.clone(),
            sealed: segs.sealed.clone(),
            unsealed,
            unsealed_bytes,
            end,
            digit_ids,
        }
    }

    /// One past the newest seq in this view.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// The first seq this view holds: 0, or where pruning left the trail's start.
    pub fn start(&self) -> u64 {
        self.start.seq()
    }

    /// Where the trail starts, with the frontier of the pruned events' tree.
    pub fn trail_start(&self) -> &TrailStart {
        &self.start
    }

    /// The event at `seq`.
    pub fn get(&self, seq: u64) -> Result<Event> {
        if seq >= self.end {
            return Err(StorageError::NotFound(seq));
        }
        if seq < self.start() {
            return Err(StorageError::Pruned {
                seq,
                start: self.start(),
            });
        }
        let i = self.sealed.partition_point(|s| s.end() <= seq);
        if let Some(s) = self.sealed.get(i) {
            return s.get(seq);
        }
        let j = self.unsealed.partition_point(|(w, n)| w.base + n <= seq);
        let (w, _) = self.unsealed.get(j).ok_or(StorageError::NotFound(seq))?;
        w.read(seq)
    }

    /// Calls `f` with every event in `from..to` (clamped to the view) in seq order, decoding
    /// sealed blocks once each; stops early when `f` returns false.
    pub fn scan(&self, from: u64, to: u64, mut f: impl FnMut(u64, Event) -> bool) -> Result<()> {
        let to = to.min(self.end);
        let mut seq = from.max(self.start());
        for s in &self.sealed {
            if seq >= to {
                return Ok(());
            }
            let Some(first_block) = s.block_of(seq) else {
                continue;
            };
            for (bi, b) in s.blocks().iter().enumerate().skip(first_block) {
                if seq >= to {
                    return Ok(());
                }
                for (i, e) in s.read_block(bi)?.into_iter().enumerate() {
                    let at = b.first_seq + i as u64;
                    if at >= seq && at < to {
                        if !f(at, e) {
                            return Ok(());
                        }
                        seq = at + 1;
                    }
                }
            }
        }
        // Unsealed segments: a bounded run of records per read, not one read per record.
        for (w, n) in &self.unsealed {
            let end = (w.base + n).min(to);
            while seq < end {
                let run_end = end.min(seq + UNSEALED_SCAN_RUN);
                for e in w.read_range(seq, run_end)? {
                    if !f(seq, e) {
                        return Ok(());
                    }
                    seq += 1;
                }
            }
        }
        Ok(())
    }

    /// Unsealed (rolled or active) segments in this view, as (base, count) in seq order.
    pub fn unsealed(&self) -> Vec<(u64, u64)> {
        self.unsealed.iter().map(|(w, n)| (w.base, *n)).collect()
    }

    /// The published part of every unsealed segment's log in this view, in seq order: what
    /// an uploader may ship (the writer never changes these bytes again).
    pub fn wal_tails(&self) -> Vec<WalTail> {
        self.unsealed
            .iter()
            .zip(&self.unsealed_bytes)
            .map(|((w, n), bytes)| WalTail {
                base: w.base,
                events: *n,
                bytes: *bytes,
                path: w.path.clone(),
                file: w.file.clone(),
            })
            .collect()
    }

    /// Events `from..to` of one unsealed segment of this view, read with one I/O.
    pub fn read_unsealed(&self, from: u64, to: u64) -> Result<Vec<Event>> {
        let j = self.unsealed.partition_point(|(w, n)| w.base + n <= from);
        let (w, n) = self.unsealed.get(j).ok_or(StorageError::NotFound(from))?;
        if from < w.base || to > w.base + n || from > to {
            return Err(StorageError::NotFound(to.saturating_sub(1)));
        }
        w.read_range(from, to)
    }

    /// Seq of the stored event with this `id`, if any. Sealed ids are found through id
    /// tables; unsealed ones by reading the unsealed records, except for an id of digits when
    /// the store has none unsealed (so a lookup of a seq by its digits stays cheap).
    pub fn find_id(&self, id: &str) -> Result<Option<u64>> {
        if let Some((seq, _)) = self.sealed_id(id)? {
            return Ok(Some(seq));
        }
        if !self.digit_ids && super::all_digits(id) {
            return Ok(None);
        }
        for (w, n) in &self.unsealed {
            for seq in w.base..w.base + n {
                if w.read(seq)?.id.as_deref() == Some(id) {
                    return Ok(Some(seq));
                }
            }
        }
        Ok(None)
    }

    /// Seq and event of the event with this `id` in a sealed segment, found through the id
    /// tables (the event is read anyway, to confirm the id).
    pub(super) fn sealed_id(&self, id: &str) -> Result<Option<(u64, Event)>> {
        for s in &self.sealed {
            for seq in s.id_candidates(id)? {
                let e = s.get(seq)?;
                if e.id.as_deref() == Some(id) {
                    return Ok(Some((seq, e)));
                }
            }
        }
        Ok(None)
    }

    /// Sealed segments in seq order.
    pub fn sealed(&self) -> &[SealedRef] {
        &self.sealed
    }

    /// A summary of every segment.
    pub fn segments(&self) -> Vec<SegmentInfo> {
        let mut out: Vec<SegmentInfo> = self
            .sealed
            .iter()
            .map(|s| SegmentInfo {
                path: s.path().to_path_buf(),
                kind: SegmentKind::Sealed,
                base: s.base(),
                count: s.count(),
                file_bytes: s.file_bytes(),
                time_range: Some(s.time_range()),
            })
            .collect();
        let last = self.unsealed.len().saturating_sub(1);
        for (i, (w, n)) in self.unsealed.iter().enumerate() {
            let st = w.state.read();
            out.push(SegmentInfo {
                path: w.path.clone(),
                kind: if i == last {
                    SegmentKind::Active
                } else {
                    SegmentKind::Rolled
                },
                base: w.base,
                count: *n,
                file_bytes: st.bytes,
                time_range: (*n > 0).then_some((st.min_time, st.max_time)),
            });
        }
        out
    }
}

/// The published bytes of one unsealed write-ahead log (see [`Snapshot::wal_tails`]).
pub struct WalTail {
    /// The log's base seq.
    pub base: u64,
    /// Events published.
    pub events: u64,
    /// Bytes published: the file's first `bytes` bytes, ending at a batch end.
    pub bytes: u64,
    /// The log file.
    pub path: std::path::PathBuf,
    file: Arc<dyn VFile>,
}

impl WalTail {
    /// `len` bytes at `offset`, which must lie within the published bytes.
    pub fn read(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        if offset + len as u64 > self.bytes {
            return Err(StorageError::Limit(format!(
                "read of {len} bytes at {offset} passes the {} published bytes of log {}",
                self.bytes, self.base
            )));
        }
        let mut buf = vec![0u8; len];
        self.file
            .read_exact_at(&mut buf, offset)
            .map_err(StorageError::io("read", &self.path))?;
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Options, StorageError, Store};
    use annal_model::{Event, Timestamp, NANOS_PER_DAY};

    #[test]
    fn a_snapshot_keeps_its_view_while_the_trail_grows_and_seals() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Options::default()).unwrap();
        let at = |t: i64| Event::new(Timestamp(t), Timestamp(t));
        let day0: Vec<Event> = (0..3).map(at).collect();
        store.append(&day0).unwrap();
        let snap = store.snapshot();
        // A new day rolls the log; sealing it removes the file the snapshot reads.
        store.append(&[at(NANOS_PER_DAY)]).unwrap();
        store.wait_sealed().unwrap();
        assert_eq!((snap.end(), snap.unsealed()), (3, vec![(0, 3)]));
        assert!(snap.sealed().is_empty());
        let mut seen = Vec::new();
        snap.scan(0, u64::MAX, |seq, e| {
            seen.push((seq, e));
            true
        })
        .unwrap();
        assert_eq!(
            seen,
            day0.into_iter()
                .enumerate()
                .map(|(i, e)| (i as u64, e))
                .collect::<Vec<_>>()
        );
        assert!(matches!(snap.get(3), Err(StorageError::NotFound(3))));
        let now = store.snapshot();
        assert_eq!(
            (now.end(), now.sealed().len(), now.unsealed()),
            (4, 1, vec![(3, 1)])
        );
        assert_eq!(now.get(3).unwrap(), at(NANOS_PER_DAY));
        assert_eq!(now.read_unsealed(3, 4).unwrap(), [at(NANOS_PER_DAY)]);
    }
}
