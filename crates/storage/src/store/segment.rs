//! Unsealed segments: an active or rolled write-ahead log file with the offsets of its records,
//! as the writer publishes them to readers, and the list of all segments in seq order.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use annal_model::{decode_record, Event};
use parking_lot::RwLock;

use crate::error::{Result, StorageError};
use crate::sealed::SealedRef;
use crate::vfs::{VFile, Vfs};
use crate::wal::{self, read_framed_record, RECORD_FRAME_BYTES, WAL_HEADER_BYTES};

/// An active or rolled-but-unsealed segment: a write-ahead log file and where its records are.
pub(super) struct WalSegment {
    pub(super) base: u64,
    pub(super) path: PathBuf,
    pub(super) file: Arc<dyn VFile>,
    pub(super) state: RwLock<WalState>,
}

/// What readers may see of a write-ahead log: only records the writer has published.
#[derive(Default)]
pub(super) struct WalState {
    pub(super) record_offsets: Vec<u64>,
    pub(super) min_time: i64,
    pub(super) max_time: i64,
    /// End of the published part of the file.
    pub(super) bytes: u64,
}

impl WalSegment {
    /// Events `from..to` (all in this segment) with one read of their byte range.
    pub(super) fn read_range(&self, from: u64, to: u64) -> Result<Vec<Event>> {
        let (offsets, end) = {
            let st = self.state.read();
            let (lo, hi) = ((from - self.base) as usize, (to - self.base) as usize);
            let offsets = st
                .record_offsets
                .get(lo..hi)
                .ok_or(StorageError::NotFound(to.saturating_sub(1)))?
                .to_vec();
            (
                offsets,
                st.record_offsets.get(hi).copied().unwrap_or(st.bytes),
            )
        };
        let Some(&start) = offsets.first() else {
            return Ok(Vec::new());
        };
        let mut buf = vec![0u8; (end - start) as usize];
        self.file
            .read_exact_at(&mut buf, start)
            .map_err(StorageError::io("read", &self.path))?;
        let mut events = Vec::with_capacity(offsets.len());
        for (seq, off) in (from..to).zip(offsets) {
            let corrupt = |msg: String| {
                StorageError::corrupt(&self.path, off, format!("record {seq}: {msg}"))
            };
            let record =
                read_framed_record(&buf, (off - start) as usize).map_err(|m| corrupt(m.into()))?;
            events.push(decode_record(record).map_err(|e| corrupt(e.to_string()))?);
        }
        Ok(events)
    }

    /// The event at `seq` (in this segment), with two reads: its frame, then its bytes.
    pub(super) fn read(&self, seq: u64) -> Result<Event> {
        let off = {
            let st = self.state.read();
            *st.record_offsets
                .get((seq - self.base) as usize)
                .ok_or(StorageError::NotFound(seq))?
        };
        let corrupt =
            |msg: String| StorageError::corrupt(&self.path, off, format!("record {seq}: {msg}"));
        let mut head = [0u8; RECORD_FRAME_BYTES];
        self.file
            .read_exact_at(&mut head, off)
            .map_err(StorageError::io("read", &self.path))?;
        let len = wal::le_u32(&head, 0) as usize;
        if len > annal_model::RECORD_BYTES_MAX {
            return Err(corrupt("record length out of range".into()));
        }
        let mut buf = vec![0u8; RECORD_FRAME_BYTES + len];
        self.file
            .read_exact_at(&mut buf, off)
            .map_err(StorageError::io("read", &self.path))?;
        let record = read_framed_record(&buf, 0).map_err(|m| corrupt(m.into()))?;
        decode_record(record).map_err(|e| corrupt(e.to_string()))
    }
}

/// The segments of the trail in seq order.
#[derive(Default)]
pub(super) struct Segments {
    /// Where the trail starts: the seqs before it were pruned.
    pub(super) start: Arc<super::start::TrailStart>,
    pub(super) sealed: Vec<SealedRef>,
    /// Rolled segments awaiting the sealer, then the active one (last).
    pub(super) unsealed: Vec<Arc<WalSegment>>,
}

/// A segment file name `{base:020}.{ext}`, as (base, ext).
pub(crate) fn parse_name(name: &str) -> Option<(u64, &str)> {
    let (stem, ext) = name.split_once('.')?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((stem.parse().ok()?, ext))
}

/// File name of the write-ahead log starting at `base`.
pub(super) fn wal_name(base: u64) -> String {
    format!("{base:020}.wal")
}

/// Creates an empty active segment: header written and synced, directory synced.
pub(super) fn create_wal(fs: &dyn Vfs, dir: &Path, base: u64) -> Result<Arc<WalSegment>> {
    let path = dir.join(wal_name(base));
    let file = fs
        .create_new(&path)
        .map_err(StorageError::io("create", &path))?;
    file.write_all_at(&wal::encode_header(base), 0)
        .map_err(StorageError::io("write", &path))?;
    file.sync_data().map_err(StorageError::io("fsync", &path))?;
    fs.sync_dir(dir)
        .map_err(StorageError::io("fsync directory", dir))?;
    let state = WalState {
        bytes: WAL_HEADER_BYTES as u64,
        ..WalState::default()
    };
    Ok(Arc::new(WalSegment {
        base,
        path,
        file,
        state: RwLock::new(state),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_round_trip_and_others_are_ignored() {
        assert_eq!(
            parse_name(&wal_name(42)),
            Some((42, "wal")),
            "{}",
            wal_name(42)
        );
        assert_eq!(
            parse_name("00000000000000000007.seg.tmp"),
            Some((7, "seg.tmp"))
        );
        assert_eq!(parse_name("LOCK"), None);
        assert_eq!(parse_name("7.wal"), None, "the stem is 20 digits");
        assert_eq!(parse_name("0000000000000000000x.wal"), None);
        assert_eq!(
            parse_name("99999999999999999999.wal"),
            None,
            "past u64::MAX"
        );
    }
}
