//! Read-only verification of a data directory: every checksum, every record's canonical
//! form, the seq chain across segments, and the Merkle root stored at the end of each sealed
//! segment recomputed from the leaves. Never changes a file (a torn tail is reported, not cut).

use std::path::{Path, PathBuf};

use annal_model::{decode_record, encode_record};

use crate::error::{Result, StorageError};
use crate::merkle::{leaf_hash, Frontier, Hash};
use crate::sealed::{SealedSegment, SEG_FOOTER_BYTES};
use crate::store::{SegmentInfo, SegmentKind};
use crate::vfs::Vfs;
use crate::wal::{self, read_framed_record, Tail};

/// One problem found by [`verify_dir`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The file.
    pub file: PathBuf,
    /// Byte offset of the damaged structure, when known.
    pub offset: Option<u64>,
    /// Seq of the affected event, when known.
    pub seq: Option<u64>,
    /// What check failed.
    pub msg: String,
}

impl Problem {
    fn at(file: &Path, offset: Option<u64>, seq: Option<u64>, msg: String) -> Problem {
        Problem {
            file: file.to_path_buf(),
            offset,
            seq,
            msg,
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(o) = self.offset {
            write!(f, " offset {o}")?;
        }
        if let Some(s) = self.seq {
            write!(f, " seq {s}")?;
        }
        write!(f, ": {}", self.msg)
    }
}

/// What [`verify_dir`] checked and found.
#[derive(Clone, Debug, Default)]
pub struct VerifyReport {
    /// Segment files checked.
    pub files: u64,
    /// Sealed segments among them.
    pub sealed_files: u64,
    /// Events whose record was read and hashed.
    pub events: u64,
    /// Bytes of segment files read.
    pub bytes: u64,
    /// Sealed segment roots recomputed and found equal.
    pub roots_checked: u64,
    /// Size of the Merkle tree over every readable event in order.
    pub tree_size: u64,
    /// Its root.
    pub root: Hash,
    /// Every problem, in file order.
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    /// True when nothing is wrong.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The segment files of `dir` as (base seq, sealed?, path), in seq order. A sealed file sorts
/// before a leftover active file of the same base (a seal that crashed before removing its
/// source), which readers then skip as already covered.
fn segment_files(dir: &Path) -> Result<Vec<(u64, bool, PathBuf)>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(StorageError::io("list", dir))? {
        let entry = entry.map_err(StorageError::io("list", dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some((base, ext @ ("seg" | "wal"))) = crate::store::parse_name(&name) {
            files.push((base, ext == "seg", entry.path()));
        }
    }
    files.sort_by_key(|(base, sealed, _)| (*base, !*sealed));
    Ok(files)
}

/// Summarises every segment of `dir` without opening the store: no lock, no recovery, no
/// change to any file, so it works beside a running writer. A torn tail of the active segment
/// is left out of the counts (it is not part of the trail); damage is an error naming the file.
pub fn inspect_dir(fs: &dyn Vfs, dir: &Path) -> Result<Vec<SegmentInfo>> {
    let files = segment_files(dir)?;
    let mut out: Vec<SegmentInfo> = Vec::with_capacity(files.len());
    let last_wal = files.iter().rposition(|(_, sealed, _)| !sealed);
    for (i, (base, sealed, path)) in files.into_iter().enumerate() {
        if out.last().is_some_and(|s| s.base == base) {
            continue;
        }
        let info = if sealed {
            let s = SealedSegment::open(fs, &path)?;
            SegmentInfo {
                path,
                kind: SegmentKind::Sealed,
                base,
                count: s.count(),
                file_bytes: s.file_bytes(),
                time_range: Some(s.time_range()),
            }
        } else {
            let bytes = std::fs::read(&path).map_err(StorageError::io("read", &path))?;
            let scan =
                wal::scan(&bytes).map_err(|d| StorageError::corrupt(&path, d.offset, d.msg))?;
            if let (Tail::Torn { offset, reason }, false) = (&scan.tail, Some(i) == last_wal) {
                let msg =
                    format!("{reason} in a rolled segment (rolled segments are synced whole)");
                return Err(StorageError::corrupt(&path, *offset, msg));
            }
            let count = scan.record_offsets.len() as u64;
            let lo = scan.batches.iter().map(|b| b.min_time).min();
            let hi = scan.batches.iter().map(|b| b.max_time).max();
            let kind = if Some(i) == last_wal {
                SegmentKind::Active
            } else {
                SegmentKind::Rolled
            };
            SegmentInfo {
                path,
                kind,
                base,
                count,
                file_bytes: bytes.len() as u64,
                time_range: lo.zip(hi),
            }
        };
        out.push(info);
    }
    Ok(out)
}

/// Verifies every segment file in `dir`, calling `progress` with the bytes of each file done.
pub fn verify_dir(fs: &dyn Vfs, dir: &Path, progress: &mut dyn FnMut(u64)) -> Result<VerifyReport> {
    let files = segment_files(dir)?;
    let mut report = VerifyReport::default();
    // The tree over every event before the next file; None once a file could not be read
    // (its end is unknown, so the next file starts a new chain without a gap report).
    let mut chain: Option<Frontier> = Some(Frontier::new());
    let mut next_base = 0u64;
    for (base, sealed, path) in files {
        if base < next_base {
            continue;
        }
        if let Some(f) = chain.as_ref().filter(|f| f.size() != base) {
            let msg = format!(
                "events {}..{base} are missing: no segment holds them",
                f.size()
            );
            report.problems.push(Problem {
                file: path.clone(),
                offset: None,
                seq: Some(f.size()),
                msg,
            });
            chain = None;
        }
        report.files += 1;
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        report.bytes += size;
        let end = if sealed {
            report.sealed_files += 1;
            verify_sealed(fs, &path, base, &mut chain, &mut report)
        } else {
            verify_wal(&path, base, &mut chain, &mut report)
        };
        next_base = end.unwrap_or(base + 1);
        progress(size);
    }
    if let Some(f) = chain {
        report.tree_size = f.size();
        report.root = f.root();
    }
    Ok(report)
}

/// Checks one sealed segment; returns its end seq when its structure could be read.
fn verify_sealed(
    fs: &dyn Vfs,
    path: &Path,
    base: u64,
    chain: &mut Option<Frontier>,
    report: &mut VerifyReport,
) -> Option<u64> {
    let problem = |offset, seq, msg| Problem::at(path, offset, seq, msg);
    let seg = match SealedSegment::open(fs, path) {
        Ok(s) => s,
        Err(e) => {
            let (offset, msg) = match e {
                StorageError::Corrupt { offset, msg, .. } => (Some(offset), msg),
                other => (None, other.to_string()),
            };
            report.problems.push(problem(
                offset,
                Some(base),
                format!("{msg}; its events cannot be checked"),
            ));
            *chain = None;
            return None;
        }
    };
    if seg.base() != base {
        report.problems.push(problem(
            Some(16),
            None,
            format!(
                "header says base seq {}, the file name says {base}",
                seg.base()
            ),
        ));
    }
    let mut leaves = chain.take().filter(|f| f.size() == seg.base());
    let mut buf = Vec::new();
    for (i, b) in seg.blocks().iter().enumerate() {
        match seg.read_block(i) {
            Ok(events) => {
                for (k, e) in events.iter().enumerate() {
                    buf.clear();
                    encode_record(e, &mut buf);
                    if let Some(f) = leaves.as_mut() {
                        f.push(leaf_hash(&buf));
                    }
                    report.events += 1;
                    if e.created_at.0 < b.min_time || e.created_at.0 > b.max_time {
                        report.problems.push(problem(
                            Some(b.offset),
                            Some(b.first_seq + k as u64),
                            "event time outside its block's recorded range".into(),
                        ));
                    }
                }
            }
            Err(e) => {
                report
                    .problems
                    .push(problem(Some(b.offset), Some(b.first_seq), e.to_string()));
                leaves = None;
            }
        }
    }
    if let Some(f) = leaves {
        if f.root() == seg.root() {
            report.roots_checked += 1;
        } else {
            let footer = seg.file_bytes() - SEG_FOOTER_BYTES as u64;
            report.problems.push(problem(Some(footer), Some(seg.end()), format!("Merkle root at tree size {} does not match the root recomputed from the events", seg.end())));
        }
    }
    // Continue from what the segment says, so one bad segment does not taint the rest.
    *chain = Some(seg.frontier().clone());
    Some(seg.end())
}

/// Checks one active segment; returns its end seq when it could be read.
fn verify_wal(
    path: &Path,
    base: u64,
    chain: &mut Option<Frontier>,
    report: &mut VerifyReport,
) -> Option<u64> {
    let problem = |offset, seq, msg| Problem::at(path, offset, seq, msg);
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            report
                .problems
                .push(problem(None, None, format!("cannot read: {e}")));
            *chain = None;
            return None;
        }
    };
    let scan = match wal::scan(&bytes) {
        Ok(s) => s,
        Err(d) => {
            report.problems.push(problem(Some(d.offset), None, d.msg));
            *chain = None;
            return None;
        }
    };
    if scan.base_seq != base && scan.valid_end > 0 {
        report.problems.push(problem(
            Some(16),
            None,
            format!(
                "header says base seq {}, the file name says {base}",
                scan.base_seq
            ),
        ));
    }
    if chain.as_ref().is_some_and(|f| f.size() != base) {
        *chain = None;
    }
    for (i, off) in scan.record_offsets.iter().enumerate() {
        let seq = base + i as u64;
        // scan() checked the CRCs; decoding checks each record is a canonical event.
        let checked = read_framed_record(&bytes, *off as usize)
            .map_err(String::from)
            .and_then(|r| decode_record(r).map(|_| r).map_err(|e| e.to_string()));
        match checked {
            Ok(record) => {
                if let Some(f) = chain.as_mut() {
                    f.push(leaf_hash(record));
                }
                report.events += 1;
            }
            Err(msg) => {
                report.problems.push(problem(Some(*off), Some(seq), msg));
                *chain = None;
            }
        }
    }
    if let Tail::Torn { offset, reason } = scan.tail {
        let dropped = bytes.len() as u64 - offset;
        report.problems.push(problem(Some(offset), None, format!("{reason}: {dropped} bytes of unacknowledged tail (a crash mid-write, or a write in progress) would be dropped at the next open")));
    }
    Some(base + scan.record_offsets.len() as u64)
}
