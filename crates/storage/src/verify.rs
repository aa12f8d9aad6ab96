//! Read-only verification of a data directory: every checksum, every record's canonical
//! form, the seq chain across segments, and the Merkle root stored at the end of each sealed
//! segment recomputed from the leaves. Never changes a file (a torn tail is reported, not cut).

use std::path::{Path, PathBuf};

use annal_model::{decode_record, encode_record};

use crate::error::{Result, StorageError};
use crate::merkle::{leaf_hash, Frontier, Hash};
use crate::sealed::{SealedSegment, SEG_FOOTER_BYTES};
use crate::store::{SegmentInfo, SegmentKind, Snapshot, TrailStart, WalTail, TRAIL_START_FILE};
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
    /// The first seq the trail holds (`trail.start`; 0 when nothing was pruned).
    pub start: u64,
    /// Size of the Merkle tree over every readable event in order.
    pub tree_size: u64,
    /// Its root.
    pub root: Hash,
    /// Roots recomputed at the tree sizes asked for (those reachable through whole files).
    pub roots_at: Vec<(u64, Hash)>,
    /// Sealed segments outside the time range asked for, checked only structurally.
    pub skipped_files: u64,
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
fn segment_files(fs: &dyn Vfs, dir: &Path) -> Result<Vec<(u64, bool, PathBuf)>> {
    let mut files = Vec::new();
    for name in fs.list_dir(dir).map_err(StorageError::io("list", dir))? {
        if let Some((base, ext @ ("seg" | "wal"))) = crate::store::parse_name(&name) {
            files.push((base, ext == "seg", dir.join(&name)));
        }
    }
    files.sort_by_key(|(base, sealed, _)| (*base, !*sealed));
    Ok(files)
}

/// Summarises every segment of `dir` without opening the store: no lock, no recovery, no
/// change to any file, so it works beside a running writer. A torn tail of the active segment
/// is left out of the counts (it is not part of the trail); damage is an error naming the file.
pub fn inspect_dir(fs: &dyn Vfs, dir: &Path) -> Result<Vec<SegmentInfo>> {
    let files = segment_files(fs, dir)?;
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

/// What [`verify_dir_with`] checks beyond every checksum and root.
#[derive(Clone, Debug, Default)]
pub struct VerifyOptions {
    /// Tree sizes whose roots to report (from the recomputed leaves), e.g. checkpoint sizes.
    pub roots_at: Vec<u64>,
    /// Check the records of sealed segments only when their time range meets
    /// `from..to` (ns; `to` exclusive); the others are opened and checked structurally, and the
    /// tree continues from the frontier their footer records. Unsealed segments are always read.
    pub time_range: Option<(i64, i64)>,
}

/// Verifies every segment file in `dir`, calling `progress` with the bytes of each file done.
pub fn verify_dir(
    fs: &dyn Vfs,
    dir: &Path,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<VerifyReport> {
    verify_dir_with(fs, dir, &VerifyOptions::default(), progress)
}

/// One segment file to check, in seq order.
struct Planned {
    path: PathBuf,
    base: u64,
    bytes: u64,
    /// For a sealed file: the open segment, or why it could not be opened.
    sealed: Option<std::result::Result<SealedSegment, Problem>>,
    /// For an unsealed log of a snapshot: its published bytes (a log found in a directory
    /// is read from its path, whole).
    wal: Option<WalTail>,
    /// For a sealed file, the tree before it, when the files before it were whole.
    start: Option<Frontier>,
}

/// What checking one file found.
#[derive(Default)]
struct FileResult {
    events: u64,
    roots_checked: u64,
    skipped: bool,
    problems: Vec<Problem>,
    roots_at: Vec<(u64, Hash)>,
    /// The tree after this file, when known.
    end: Option<Frontier>,
    /// One past the last seq this file holds, when it could be read.
    end_seq: Option<u64>,
}

/// Verifies every segment file in `dir` (sealed segments on every core), as `opts` asks.
pub fn verify_dir_with(
    fs: &dyn Vfs,
    dir: &Path,
    opts: &VerifyOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<VerifyReport> {
    let mut report = VerifyReport::default();
    let start = match TrailStart::read(fs, dir) {
        Ok(start) => Some(start),
        Err(e) => {
            let path = dir.join(TRAIL_START_FILE);
            report.problems.push(Problem::at(
                &path,
                Some(0),
                None,
                format!("{e}; where the trail starts is unknown"),
            ));
            None
        }
    };
    report.start = start.as_ref().map_or(0, TrailStart::seq);
    let plan = plan(fs, dir, start.as_ref(), &mut report)?;
    verify_plan(&plan, start.as_ref(), opts, progress, &mut report);
    Ok(report)
}

/// Verifies the segments of `snap` as `opts` asks: its sealed segments, each opened again
/// from `fs` (so every byte on disk is checked, header, tables and footer too, not the layout
/// read when the store opened it) and held against the snapshot's own copy, and the published
/// bytes of the unsealed logs it holds open. Unlike [`verify_dir_with`] this is safe while the
/// store runs: a seal or an append in progress is not in the snapshot, so it cannot be
/// mistaken for damage.
pub fn verify_snapshot(
    fs: &dyn Vfs,
    snap: &Snapshot,
    opts: &VerifyOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> VerifyReport {
    let start = snap.trail_start();
    let mut report = VerifyReport {
        start: start.seq(),
        ..VerifyReport::default()
    };
    let mut plan = Vec::new();
    let mut tree = Some(start.frontier().clone());
    for seg in snap.sealed() {
        let on_disk = open_sealed(fs, seg.path(), seg.base()).and_then(|disk| {
            same_as_opened(&disk, seg)?;
            Ok(disk)
        });
        plan.push(Planned {
            path: seg.path().to_path_buf(),
            base: seg.base(),
            bytes: seg.file_bytes(),
            sealed: Some(on_disk),
            wal: None,
            start: tree.take(),
        });
        tree = Some(seg.frontier().clone());
        report.sealed_files += 1;
    }
    for tail in snap.wal_tails() {
        plan.push(Planned {
            path: tail.path.clone(),
            base: tail.base,
            bytes: tail.bytes,
            sealed: None,
            start: None,
            wal: Some(tail),
        });
    }
    report.files = plan.len() as u64;
    report.bytes = plan.iter().map(|p| p.bytes).sum();
    verify_plan(&plan, Some(start), opts, progress, &mut report);
    report
}

/// A sealed file opened again must be the segment the store opened: same events, same root.
fn same_as_opened(
    disk: &SealedSegment,
    opened: &SealedSegment,
) -> std::result::Result<(), Problem> {
    if disk.end() == opened.end() && disk.root() == opened.root() {
        return Ok(());
    }
    let msg = format!(
        "the file on disk holds seqs {}..{} with another root than the segment the store opened ({}..{}): it was replaced or altered",
        disk.base(),
        disk.end(),
        opened.base(),
        opened.end()
    );
    Err(Problem::at(disk.path(), None, Some(opened.base()), msg))
}

/// Checks every planned file into `report`: sealed ones on every core, then the unsealed
/// ones in order, continuing the tree.
fn verify_plan(
    plan: &[Planned],
    start: Option<&TrailStart>,
    opts: &VerifyOptions,
    progress: &(dyn Fn(u64) + Sync),
    report: &mut VerifyReport,
) {
    let mut wanted = opts.roots_at.clone();
    wanted.sort_unstable();
    wanted.dedup();
    // Sealed segments start from the frontier their predecessor's footer records, so they
    // can be checked at once; each is checked against its own footer.
    let sealed: Vec<usize> = (0..plan.len())
        .filter(|&i| plan[i].sealed.is_some())
        .collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(sealed.len().max(1));
    let mut results: Vec<Option<FileResult>> = (0..plan.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let (sealed, next, wanted) = (&sealed, &next, &wanted);
                scope.spawn(move || {
                    let mut done = Vec::new();
                    loop {
                        let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&i) = sealed.get(k) else { break };
                        done.push((i, verify_sealed(&plan[i], wanted, opts.time_range)));
                        progress(plan[i].bytes);
                    }
                    done
                })
            })
            .collect();
        for w in workers {
            if let Ok(done) = w.join() {
                for (i, r) in done {
                    results[i] = Some(r);
                }
            }
        }
    });
    // Unsealed segments, in order, continue the tree: from the newest sealed segment's
    // frontier, or from the trail's start when there is none.
    let mut chain: Option<Frontier> = start.map(|s| s.frontier().clone());
    let mut expected_base: Option<u64> = None;
    for (i, file) in plan.iter().enumerate() {
        let r = match results[i].take() {
            Some(r) => r,
            None if file.sealed.is_none() => {
                if let Some(e) = expected_base.filter(|e| *e < file.base) {
                    report.problems.push(missing(&file.path, e, file.base));
                    chain = None;
                }
                let bytes = match &file.wal {
                    Some(tail) => tail.read(0, tail.bytes as usize).map_err(|e| e.to_string()),
                    None => std::fs::read(&file.path).map_err(|e| format!("cannot read: {e}")),
                };
                let r = verify_wal(&file.path, bytes, file.base, chain.take(), &wanted);
                progress(file.bytes);
                r
            }
            None => FileResult {
                problems: vec![Problem::at(
                    &file.path,
                    None,
                    Some(file.base),
                    "could not be checked".into(),
                )],
                ..FileResult::default()
            },
        };
        report.events += r.events;
        report.roots_checked += r.roots_checked;
        report.skipped_files += u64::from(r.skipped);
        report.problems.extend(r.problems);
        report.roots_at.extend(r.roots_at);
        expected_base = r.end_seq;
        chain = r.end;
    }
    if let Some(f) = chain {
        report.tree_size = f.size();
        report.root = f.root();
    }
}

/// Lists and opens the segment files, reporting gaps between them and sealed files that do
/// not open; gives each file the tree before it where that is known.
fn plan(
    fs: &dyn Vfs,
    dir: &Path,
    start: Option<&TrailStart>,
    report: &mut VerifyReport,
) -> Result<Vec<Planned>> {
    let mut plan: Vec<Planned> = Vec::new();
    // The tree size the next file should start at, and the tree before it (None once a file
    // could not be read: its end is unknown, so the next file starts a new chain). Files
    // below the start are a prune's leftovers, which the next open removes.
    let mut next_base = start.map_or(0, TrailStart::seq);
    let mut tree: Option<Frontier> = start.map(|s| s.frontier().clone());
    // Gaps after the first unsealed file are found when it has been read.
    let mut unsealed_before = false;
    for (base, is_sealed, path) in segment_files(fs, dir)? {
        if base < next_base {
            continue;
        }
        if base > next_base && !unsealed_before && tree.is_some() {
            report.problems.push(missing(&path, next_base, base));
            tree = None;
        }
        let bytes = fs.open_read(&path).and_then(|f| f.len()).unwrap_or(0);
        report.files += 1;
        report.bytes += bytes;
        let start = if unsealed_before { None } else { tree.take() };
        let sealed = is_sealed.then(|| open_sealed(fs, &path, base));
        match &sealed {
            Some(Ok(seg)) => {
                report.sealed_files += 1;
                next_base = seg.end();
                tree = Some(seg.frontier().clone());
            }
            Some(Err(_)) => {
                report.sealed_files += 1;
                next_base = base + 1;
            }
            None => {
                unsealed_before = true;
                next_base = base + 1;
            }
        }
        plan.push(Planned {
            path,
            base,
            bytes,
            sealed,
            wal: None,
            start,
        });
    }
    Ok(plan)
}

/// The problem of seqs `from..to` held by no segment, reported at the file after them.
fn missing(path: &Path, from: u64, to: u64) -> Problem {
    let msg = format!("events {from}..{to} are missing: no segment holds them");
    Problem::at(path, None, Some(from), msg)
}

fn open_sealed(
    fs: &dyn Vfs,
    path: &Path,
    base: u64,
) -> std::result::Result<SealedSegment, Problem> {
    let seg = SealedSegment::open(fs, path).map_err(|e| {
        let (offset, msg) = match e {
            StorageError::Corrupt { offset, msg, .. } => (Some(offset), msg),
            other => (None, other.to_string()),
        };
        Problem::at(
            path,
            offset,
            Some(base),
            format!("{msg}; its events cannot be checked"),
        )
    })?;
    if seg.base() != base {
        let msg = format!(
            "header says base seq {}, the file name says {base}",
            seg.base()
        );
        return Err(Problem::at(path, Some(16), None, msg));
    }
    Ok(seg)
}

/// Pushes one leaf, noting the root at each wanted size reached.
fn push_leaf(tree: &mut Frontier, leaf: Hash, wanted: &[u64], found: &mut Vec<(u64, Hash)>) {
    tree.push(leaf);
    if wanted.binary_search(&tree.size()).is_ok() {
        found.push((tree.size(), tree.root()));
    }
}

/// Checks one sealed segment's blocks, events and root.
fn verify_sealed(file: &Planned, wanted: &[u64], time_range: Option<(i64, i64)>) -> FileResult {
    let mut out = FileResult::default();
    let seg = match &file.sealed {
        Some(Ok(seg)) => seg,
        Some(Err(p)) => {
            out.problems.push(p.clone());
            return out;
        }
        None => return out,
    };
    out.end = Some(seg.frontier().clone());
    out.end_seq = Some(seg.end());
    let (lo, hi) = seg.time_range();
    if time_range.is_some_and(|(from, to)| hi < from || lo >= to) {
        out.skipped = true;
        if wanted.binary_search(&seg.end()).is_ok() {
            out.roots_at.push((seg.end(), seg.root()));
        }
        return out;
    }
    let problem = |offset, seq, msg| Problem::at(&file.path, offset, seq, msg);
    let mut leaves = file.start.clone().filter(|f| f.size() == seg.base());
    let mut buf = Vec::new();
    for (i, b) in seg.blocks().iter().enumerate() {
        match seg.read_block(i) {
            Ok(events) => {
                for (k, e) in events.iter().enumerate() {
                    buf.clear();
                    encode_record(e, &mut buf);
                    if let Some(f) = leaves.as_mut() {
                        push_leaf(f, leaf_hash(&buf), wanted, &mut out.roots_at);
                    }
                    out.events += 1;
                    if e.created_at.0 < b.min_time || e.created_at.0 > b.max_time {
                        out.problems.push(problem(
                            Some(b.offset),
                            Some(b.first_seq + k as u64),
                            "event time outside its block's recorded range".into(),
                        ));
                    }
                }
            }
            Err(e) => {
                out.problems
                    .push(problem(Some(b.offset), Some(b.first_seq), e.to_string()));
                leaves = None;
            }
        }
    }
    if let Some(f) = leaves {
        if f.root() == seg.root() {
            out.roots_checked += 1;
        } else {
            let footer = seg.file_bytes() - SEG_FOOTER_BYTES as u64;
            out.problems.push(problem(Some(footer), Some(seg.end()), format!("Merkle root at tree size {} does not match the root recomputed from the events", seg.end())));
        }
    }
    out
}

/// Checks one unsealed segment, continuing `chain` (the tree before it, if known).
fn verify_wal(
    path: &Path,
    bytes: std::result::Result<Vec<u8>, String>,
    base: u64,
    chain: Option<Frontier>,
    wanted: &[u64],
) -> FileResult {
    let mut out = FileResult::default();
    let problem = |offset, seq, msg| Problem::at(path, offset, seq, msg);
    let bytes = match bytes {
        Ok(b) => b,
        Err(msg) => {
            out.problems.push(problem(None, None, msg));
            return out;
        }
    };
    let scan = match wal::scan(&bytes) {
        Ok(s) => s,
        Err(d) => {
            out.problems.push(problem(Some(d.offset), None, d.msg));
            return out;
        }
    };
    if scan.base_seq != base && scan.valid_end > 0 {
        out.problems.push(problem(
            Some(16),
            None,
            format!(
                "header says base seq {}, the file name says {base}",
                scan.base_seq
            ),
        ));
    }
    let mut chain = chain.filter(|f| f.size() == base);
    for (i, off) in scan.record_offsets.iter().enumerate() {
        let seq = base + i as u64;
        // scan() checked the CRCs; decoding checks each record is a canonical event.
        let checked = read_framed_record(&bytes, *off as usize)
            .map_err(String::from)
            .and_then(|r| decode_record(r).map(|_| r).map_err(|e| e.to_string()));
        match checked {
            Ok(record) => {
                if let Some(f) = chain.as_mut() {
                    push_leaf(f, leaf_hash(record), wanted, &mut out.roots_at);
                }
                out.events += 1;
            }
            Err(msg) => {
                out.problems.push(problem(Some(*off), Some(seq), msg));
                chain = None;
            }
        }
    }
    if let Tail::Torn { offset, reason } = scan.tail {
        let dropped = bytes.len() as u64 - offset;
        out.problems.push(problem(Some(offset), None, format!("{reason}: {dropped} bytes of unacknowledged tail (a crash mid-write, or a write in progress) would be dropped at the next open")));
    }
    out.end = chain;
    out.end_seq = Some(base + scan.record_offsets.len() as u64);
    out
}
