//! Recovery: what `open` does to a data directory before any thread starts.
//!
//! Steps, in order (each a function below):
//! 1. [`list_segment_files`]: find sealed and active segments, remove seals that crashed
//!    before their rename (`.seg.tmp`: the log still holds all of it);
//! 2. [`remove_pruned`]: remove segments below the trail's start (`trail.start`: a prune that
//!    crashed after publishing the start, before removing them);
//!    [`open_sealed`]: open every sealed segment, checking they follow each other from the
//!    start;
//! 3. [`remove_sealed_logs`]: remove logs whose sealed twin was published (a seal that
//!    crashed before removing its log), then fsync the directory if anything was removed;
//! 4. [`open_log`] for each remaining log, in seq order: read and scan it, check it follows the
//!    trail, [`refuse_torn_rolled_log`], and [`cut_torn_tail`] of the last one (never
//!    acknowledged data; kept aside);
//! 5. [`start_first_log`] when there is no log at all.
//!
//! Anything else that is wrong (damage before intact data, a gap, a torn rolled segment) is
//! refused with the file and offset, and nothing is changed.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use annal_model::NANOS_PER_DAY;
use parking_lot::RwLock;

use super::segment::{create_wal, parse_name, wal_name, Segments, WalSegment, WalState};
use super::start::{TrailStart, TRAIL_START_FILE};
use super::Options;
use crate::error::{Result, StorageError};
use crate::sealed::{seg_name, SealedRef, SealedSegment};
use crate::vfs::{VFile, Vfs};
use crate::wal::{self, Scan, Tail, RECORD_FRAME_BYTES, WAL_HEADER_BYTES};

/// What recovery hands to the store: the segments, and what the writer continues from.
pub(super) struct Recovered {
    pub(super) segments: Segments,
    /// One past the last recovered seq.
    pub(super) next_seq: u64,
    /// Ids of events in unsealed segments, with their seq.
    pub(super) ids: HashMap<Box<str>, u64>,
    /// UTC day of the active segment's first event, if it has one.
    pub(super) active_day: Option<i64>,
    /// Length of the active segment after recovery: where the next batch goes.
    pub(super) active_len: u64,
}

/// Recovers the data directory `dir`; see the module documentation for the steps.
pub(super) fn recover(dir: &Path, opts: &Options) -> Result<Recovered> {
    let fs = &*opts.fs;
    let start = TrailStart::read(fs, dir)?;
    let mut files = list_segment_files(fs, dir)?;
    let removed_pruned = remove_pruned(fs, dir, &mut files, start.seq())?;
    let sealed = open_sealed(fs, dir, &files.sealed, start.seq())?;
    let (logs, removed_logs) = remove_sealed_logs(fs, dir, files.logs, &sealed)?;
    if files.removed_tmp || removed_logs || removed_pruned {
        fs.sync_dir(dir)
            .map_err(StorageError::io("fsync directory", dir))?;
    }
    let mut rec = Recovered {
        next_seq: sealed.last().map_or(start.seq(), |s| s.end()),
        segments: Segments {
            start: Arc::new(start),
            sealed,
            unsealed: Vec::new(),
        },
        ids: HashMap::new(),
        active_day: None,
        active_len: 0,
    };
    let count = logs.len();
    for (i, base) in logs.into_iter().enumerate() {
        let last = i + 1 == count;
        let log = open_log(fs, dir, base, rec.next_seq, last)?;
        if last {
            rec.active_day = log.first_day;
            rec.active_len = log.segment.state.read().bytes;
        }
        rec.ids.extend(log.ids);
        rec.next_seq = log.end_seq;
        rec.segments.unsealed.push(log.segment);
    }
    if rec.segments.unsealed.is_empty() {
        rec.segments
            .unsealed
            .push(start_first_log(fs, dir, rec.next_seq)?);
        rec.active_len = WAL_HEADER_BYTES as u64;
    }
    Ok(rec)
}

fn layout(dir: &Path, msg: String) -> StorageError {
    StorageError::Layout {
        dir: dir.to_path_buf(),
        msg,
    }
}

/// The segment files of a directory, by base seq in increasing order.
#[derive(Debug, Default, PartialEq, Eq)]
struct SegmentFiles {
    sealed: Vec<u64>,
    logs: Vec<u64>,
    /// An unfinished seal was removed: the directory needs an fsync.
    removed_tmp: bool,
}

/// Step 1: lists the segment files, removing sealed segments that were never renamed into
/// place. Other files (the lock, `.torn` keeps, the operator's own) are left alone.
fn list_segment_files(fs: &dyn Vfs, dir: &Path) -> Result<SegmentFiles> {
    let mut out = SegmentFiles::default();
    for name in fs.list_dir(dir).map_err(StorageError::io("list", dir))? {
        let path = dir.join(&name);
        match parse_name(&name) {
            Some((base, "seg")) => out.sealed.push(base),
            Some((base, "wal")) => out.logs.push(base),
            Some((_, "seg.tmp")) => {
                // A seal that crashed before its rename: the active segment still holds it all.
                tracing::warn!(file = %name, "removing unfinished sealed segment");
                fs.remove(&path)
                    .map_err(StorageError::io("remove", &path))?;
                out.removed_tmp = true;
            }
            _ => {}
        }
    }
    out.sealed.sort_unstable();
    out.logs.sort_unstable();
    Ok(out)
}

/// Step 2a: removes the segment files below the trail's `start` that a prune left (it
/// publishes the start before removing them). Only when a file begins exactly at the start,
/// so a file below it holds no retained event; anything else is refused, unchanged.
fn remove_pruned(fs: &dyn Vfs, dir: &Path, files: &mut SegmentFiles, start: u64) -> Result<bool> {
    let below = |bases: &[u64]| bases.iter().filter(|b| **b < start).count();
    let (sealed, logs) = (below(&files.sealed), below(&files.logs));
    if sealed + logs == 0 {
        return Ok(false);
    }
    let begins_at_start = files.sealed.contains(&start) || files.logs.contains(&start);
    if !begins_at_start {
        return Err(layout(dir, format!("{TRAIL_START_FILE} says the trail starts at seq {start}, but no segment begins there while {} begin before it: the start or a segment was altered", sealed + logs)));
    }
    let names = files.sealed[..sealed].iter().map(|b| seg_name(*b));
    for name in names.chain(files.logs[..logs].iter().map(|b| wal_name(*b))) {
        let path = dir.join(name);
        tracing::info!(file = %path.display(), "removing a segment pruned before seq {start}");
        fs.remove(&path)
            .map_err(StorageError::io("remove", &path))?;
    }
    files.sealed.drain(..sealed);
    files.logs.drain(..logs);
    Ok(true)
}

/// Step 2b: opens the sealed segments `bases` (sorted), which must cover seqs `start..`
/// without a gap or an overlap.
fn open_sealed(fs: &dyn Vfs, dir: &Path, bases: &[u64], start: u64) -> Result<Vec<SealedRef>> {
    let mut out: Vec<SealedRef> = Vec::with_capacity(bases.len());
    let mut next = start;
    for &base in bases {
        let s = SealedSegment::open(fs, &dir.join(seg_name(base)))?;
        if s.base() != base {
            let msg = format!(
                "header says base seq {}, the file name says {base}",
                s.base()
            );
            return Err(StorageError::corrupt(s.path(), 16, msg));
        }
        if s.base() != next {
            return Err(layout(dir, format!("sealed segment {} starts at seq {}, expected {next}: a segment is missing or overlaps", seg_name(base), s.base())));
        }
        next = s.end();
        out.push(Arc::new(s));
    }
    Ok(out)
}

/// Step 3: removes the logs whose sealed twin was published (a seal that crashed before
/// removing its log); returns the other logs, and whether anything was removed.
fn remove_sealed_logs(
    fs: &dyn Vfs,
    dir: &Path,
    logs: Vec<u64>,
    sealed: &[SealedRef],
) -> Result<(Vec<u64>, bool)> {
    let (done, rest): (Vec<u64>, Vec<u64>) = logs
        .into_iter()
        .partition(|b| sealed.iter().any(|s| s.base() == *b));
    for base in &done {
        tracing::info!(file = %wal_name(*base), "removing active segment already sealed");
        let path = dir.join(wal_name(*base));
        fs.remove(&path)
            .map_err(StorageError::io("remove", &path))?;
    }
    Ok((rest, !done.is_empty()))
}

/// One write-ahead log as recovery found (and, if it was torn, left) it.
struct RecoveredLog {
    segment: Arc<WalSegment>,
    ids: Vec<(Box<str>, u64)>,
    /// UTC day of its first event.
    first_day: Option<i64>,
    /// One past its last seq.
    end_seq: u64,
}

/// Step 4: opens the log starting at `base`, which must continue the trail at `next`; only
/// the `last` (active) one may end in a torn batch, which is cut off.
fn open_log(fs: &dyn Vfs, dir: &Path, base: u64, next: u64, last: bool) -> Result<RecoveredLog> {
    let path = dir.join(wal_name(base));
    let file = fs.open_rw(&path).map_err(StorageError::io("open", &path))?;
    let bytes = read_whole(dir, &path, &*file)?;
    let scan = scan_log(&path, base, &bytes)?;
    if base != next {
        return Err(layout(dir, format!("active segment {} starts at seq {base}, expected {next}: a segment is missing or overlaps", wal_name(base))));
    }
    if !last {
        refuse_torn_rolled_log(&path, &scan)?;
    }
    let valid_end = cut_torn_tail(fs, dir, &path, &*file, base, &bytes, &scan)?;
    if last {
        // The writer appends at `valid_end` and trusts it is the file's end (checked once
        // here, where it costs one fstat per open).
        let len = file.len().map_err(StorageError::io("stat", &path))?;
        assert_eq!(
            len,
            valid_end,
            "recovery must leave the active segment {} ending where the writer will write",
            path.display()
        );
    }
    let n = scan.record_offsets.len() as u64;
    let (min_time, max_time) = (
        scan.batches.iter().map(|b| b.min_time).min().unwrap_or(0),
        scan.batches.iter().map(|b| b.max_time).max().unwrap_or(0),
    );
    let first_day = scan
        .record_offsets
        .first()
        .map(|off| first_event_day(&bytes, *off));
    let end_seq = base
        .checked_add(n)
        .ok_or_else(|| layout(dir, format!("{} holds seqs past 2^64", wal_name(base))))?;
    let state = WalState {
        record_offsets: scan.record_offsets,
        min_time,
        max_time,
        bytes: valid_end,
    };
    Ok(RecoveredLog {
        segment: Arc::new(WalSegment {
            base,
            path,
            file,
            state: RwLock::new(state),
        }),
        ids: scan.ids,
        first_day,
        end_seq,
    })
}

/// All bytes of a log: recovery checks every batch of it.
fn read_whole(dir: &Path, path: &Path, file: &dyn VFile) -> Result<Vec<u8>> {
    let len = file.len().map_err(StorageError::io("stat", path))?;
    let len = usize::try_from(len).map_err(|_| layout(dir, "segment too large".into()))?;
    let mut bytes = vec![0u8; len];
    file.read_exact_at(&mut bytes, 0)
        .map_err(StorageError::io("read", path))?;
    Ok(bytes)
}

/// Scans a log's bytes: a version this build does not read, damage before intact data, or a
/// header that disagrees with the file name `base` is refused.
fn scan_log(path: &Path, base: u64, bytes: &[u8]) -> Result<Scan> {
    if let Err(wal::HeaderError::Version(found)) = wal::decode_header(bytes) {
        return Err(StorageError::Version {
            path: path.to_path_buf(),
            found,
            supported: wal::WAL_VERSION,
        });
    }
    let scan = wal::scan(bytes).map_err(|d| StorageError::corrupt(path, d.offset, d.msg))?;
    if scan.valid_end > 0 && scan.base_seq != base {
        let msg = format!(
            "header says base seq {}, the file name says {base}",
            scan.base_seq
        );
        return Err(StorageError::corrupt(path, 16, msg));
    }
    Ok(scan)
}

/// A rolled log was synced whole before the roll: a torn tail in it is damage, not a crash.
fn refuse_torn_rolled_log(path: &Path, scan: &Scan) -> Result<()> {
    match &scan.tail {
        Tail::Clean => Ok(()),
        Tail::Torn { offset, reason } => {
            let msg = format!("{reason} in a rolled segment (rolled segments are synced whole)");
            Err(StorageError::corrupt(path, *offset, msg))
        }
    }
}

/// Cuts the torn tail the scan found, if any, off the active log, keeping the cut bytes
/// beside it; returns where the log now ends.
fn cut_torn_tail(
    fs: &dyn Vfs,
    dir: &Path,
    path: &Path,
    file: &dyn VFile,
    base: u64,
    bytes: &[u8],
    scan: &Scan,
) -> Result<u64> {
    let Tail::Torn { offset, reason } = &scan.tail else {
        return Ok(scan.valid_end);
    };
    let mut valid_end = scan.valid_end;
    if *offset == 0 {
        // The file's creation was cut short before its header was durable.
        file.write_all_at(&wal::encode_header(base), 0)
            .map_err(StorageError::io("write", path))?;
        valid_end = WAL_HEADER_BYTES as u64;
    } else {
        // A torn write is what a crash leaves, but bit rot in the last batch looks the
        // same: keep the bytes beside the log instead of destroying them.
        keep_torn_tail(fs, dir, path, &bytes[*offset as usize..], *offset)?;
    }
    let len = bytes.len() as u64;
    tracing::warn!(file = %path.display(), offset, dropped_bytes = len - offset, reason = %reason, "cut a torn tail off the active segment; its bytes are kept in a .torn file");
    file.set_len(valid_end)
        .map_err(StorageError::io("truncate", path))?;
    file.sync_data().map_err(StorageError::io("fsync", path))?;
    Ok(valid_end)
}

/// Step 5: a directory without any log gets its first active segment at `next`.
fn start_first_log(fs: &dyn Vfs, dir: &Path, next: u64) -> Result<Arc<WalSegment>> {
    create_wal(fs, dir, next)
}

/// Writes the bytes cut off an active segment to `{name}.torn-{offset}`, durably, so that
/// recovery never destroys what it cannot read.
fn keep_torn_tail(fs: &dyn Vfs, dir: &Path, wal: &Path, tail: &[u8], offset: u64) -> Result<()> {
    let name = wal
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    crate::sealed::publish(fs, dir, &format!("{name}.torn-{offset}"), tail)
}

/// UTC day of the event whose record frame starts at `frame_off`.
fn first_event_day(bytes: &[u8], frame_off: u64) -> i64 {
    let at = frame_off as usize + RECORD_FRAME_BYTES + 8;
    (wal::le_u64(bytes, at) as i64).div_euclid(NANOS_PER_DAY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::OsFs;
    use crate::wal::{frame_record, BatchBuilder};
    use crate::Store;
    use annal_model::{encode_record, Event, Timestamp};
    use std::path::PathBuf;

    /// Path of the `.torn` file [`keep_torn_tail`] writes.
    fn torn_path(wal: &Path, offset: u64) -> PathBuf {
        let name = wal.file_name().unwrap().to_string_lossy();
        wal.with_file_name(format!("{name}.torn-{offset}"))
    }

    /// A log starting at `base` with one batch per entry of `batches`, each of that many events
    /// one second apart from `t0`; returns its bytes.
    fn log_bytes(base: u64, batches: &[u64], t0: i64) -> Vec<u8> {
        let mut file = wal::encode_header(base).to_vec();
        let mut seq = base;
        for &n in batches {
            let mut b = BatchBuilder::new(Vec::new());
            for i in 0..n {
                let t = t0 + ((seq + i) as i64) * 1_000_000_000;
                let mut rec = Vec::new();
                encode_record(&Event::new(Timestamp(t), Timestamp(t)), &mut rec);
                let mut framed = Vec::new();
                frame_record(&rec, &mut framed);
                b.push(&framed, t);
            }
            file.extend_from_slice(b.finish(seq));
            seq += n;
        }
        file
    }

    fn touch(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn listing_sorts_segments_removes_unfinished_seals_and_ignores_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "00000000000000000500.wal",
            "00000000000000000000.wal",
            "00000000000000000000.seg",
            "00000000000000000500.wal.torn-4096",
            "LOCK",
            "notes.txt",
        ] {
            touch(dir.path(), name, b"x");
        }
        let tmp = touch(dir.path(), "00000000000000000500.seg.tmp", b"x");
        let files = list_segment_files(&OsFs, dir.path()).unwrap();
        assert_eq!(
            files,
            SegmentFiles {
                sealed: vec![0],
                logs: vec![0, 500],
                removed_tmp: true
            }
        );
        assert!(!tmp.exists(), "the unfinished seal is removed");
        assert!(dir.path().join("notes.txt").exists());
        let again = list_segment_files(&OsFs, dir.path()).unwrap();
        assert!(!again.removed_tmp, "nothing left to remove");
    }

    #[test]
    fn a_log_whose_sealed_twin_exists_is_removed_and_the_others_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Options::default()).unwrap();
        let mut e = Event::new(Timestamp(0), Timestamp(0));
        store.append(&[e.clone()]).unwrap();
        e.created_at.0 += NANOS_PER_DAY;
        store.append(&[e]).unwrap(); // a new day: the first log rolls and is sealed
        store.wait_sealed().unwrap();
        store.close().unwrap();
        let files = list_segment_files(&OsFs, dir.path()).unwrap();
        assert_eq!(
            (files.sealed.clone(), files.logs.clone()),
            (vec![0], vec![1])
        );
        let sealed = open_sealed(&OsFs, dir.path(), &files.sealed, 0).unwrap();
        // The seal crashed before removing its log: the log is back beside its twin.
        let twin = touch(dir.path(), &wal_name(0), b"whatever it held");
        let (rest, removed) = remove_sealed_logs(&OsFs, dir.path(), vec![0, 1], &sealed).unwrap();
        assert_eq!((rest, removed), (vec![1], true));
        assert!(!twin.exists());
        let (rest, removed) = remove_sealed_logs(&OsFs, dir.path(), vec![1], &sealed).unwrap();
        assert_eq!((rest, removed), (vec![1], false));
    }

    #[test]
    fn sealed_segments_must_start_at_zero_and_follow_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Options::default()).unwrap();
        for day in 0..3 {
            let t = Timestamp(day * NANOS_PER_DAY);
            store.append(&[Event::new(t, t), Event::new(t, t)]).unwrap();
        }
        store.wait_sealed().unwrap();
        store.close().unwrap();
        let bases = list_segment_files(&OsFs, dir.path()).unwrap().sealed;
        assert_eq!(bases, [0, 2]);
        let sealed = open_sealed(&OsFs, dir.path(), &bases, 0).unwrap();
        assert_eq!(sealed.last().map(|s| s.end()), Some(4));
        let err = open_sealed(&OsFs, dir.path(), &bases[1..], 0).unwrap_err();
        assert!(matches!(err, StorageError::Layout { .. }), "{err}");
        assert!(err.to_string().contains("expected 0"), "{err}");
    }

    #[test]
    fn a_clean_log_is_opened_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = log_bytes(7, &[2, 3], 5 * NANOS_PER_DAY);
        let path = touch(dir.path(), &wal_name(7), &bytes);
        let log = open_log(&OsFs, dir.path(), 7, 7, true).unwrap();
        assert_eq!(log.end_seq, 12);
        assert_eq!(log.first_day, Some(5));
        let st = log.segment.state.read();
        assert_eq!(st.record_offsets.len(), 5);
        assert_eq!(st.bytes, bytes.len() as u64);
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "nothing changed");
        assert_eq!(
            (st.min_time, st.max_time),
            (
                5 * NANOS_PER_DAY + 7_000_000_000,
                5 * NANOS_PER_DAY + 11_000_000_000
            )
        );
    }

    #[test]
    fn a_log_that_does_not_continue_the_trail_is_a_layout_error() {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), &wal_name(7), &log_bytes(7, &[2], 0));
        let err = open_log(&OsFs, dir.path(), 7, 5, true).err().unwrap();
        assert!(err.to_string().contains("expected 5"), "{err}");
        // A header that names another base than the file name is damage.
        touch(dir.path(), &wal_name(9), &log_bytes(7, &[2], 0));
        let err = open_log(&OsFs, dir.path(), 9, 9, true).err().unwrap();
        assert!(
            matches!(&err, StorageError::Corrupt { offset: 16, .. }),
            "{err}"
        );
    }

    #[test]
    fn a_torn_tail_of_the_active_log_is_cut_and_kept_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let full = log_bytes(0, &[2, 3], 0);
        let keep = log_bytes(0, &[2], 0).len();
        let cut = full.len() - 5;
        let path = touch(dir.path(), &wal_name(0), &full[..cut]);
        let log = open_log(&OsFs, dir.path(), 0, 0, true).unwrap();
        assert_eq!(log.end_seq, 2, "only the complete batch is recovered");
        assert_eq!(log.segment.state.read().bytes, keep as u64);
        assert_eq!(std::fs::read(&path).unwrap(), full[..keep]);
        assert_eq!(
            std::fs::read(torn_path(&path, keep as u64)).unwrap(),
            full[keep..cut],
            "the cut bytes are kept byte for byte"
        );
    }

    #[test]
    fn a_torn_rolled_log_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let full = log_bytes(0, &[2, 3], 0);
        let cut = &full[..full.len() - 5];
        let path = touch(dir.path(), &wal_name(0), cut);
        let err = open_log(&OsFs, dir.path(), 0, 0, false).err().unwrap();
        assert!(err.to_string().contains("rolled segment"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), cut);
    }

    #[test]
    fn a_log_whose_creation_was_cut_short_gets_its_header_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = touch(dir.path(), &wal_name(40), &[0u8; 4096]);
        let log = open_log(&OsFs, dir.path(), 40, 40, true).unwrap();
        assert_eq!((log.end_seq, log.first_day), (40, None));
        assert_eq!(
            std::fs::read(&path).unwrap(),
            wal::encode_header(40),
            "a fresh header, nothing else"
        );
        assert!(!torn_path(&path, 0).exists(), "zeros are not kept");
    }

    #[test]
    fn an_empty_directory_gets_its_first_active_segment() {
        let dir = tempfile::tempdir().unwrap();
        let rec = recover(dir.path(), &Options::default()).unwrap();
        assert_eq!((rec.next_seq, rec.active_len), (0, WAL_HEADER_BYTES as u64));
        assert_eq!(rec.segments.unsealed.len(), 1);
        assert!(rec.segments.sealed.is_empty() && rec.active_day.is_none());
        assert_eq!(
            std::fs::read(dir.path().join(wal_name(0))).unwrap(),
            wal::encode_header(0)
        );
    }

    #[test]
    fn the_first_event_day_is_read_from_the_record_bytes() {
        let bytes = log_bytes(0, &[1], -1);
        let scan = wal::scan(&bytes).unwrap();
        assert_eq!(first_event_day(&bytes, scan.record_offsets[0]), -1);
    }
}
