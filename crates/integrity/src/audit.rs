//! The auditor's check of a data directory: every record's checksum and leaf hash, every
//! sealed segment's root, every checkpoint the store signed (signature, order, and the root of
//! the events it covers) and every checkpoint the auditor saved earlier (which is what exposes
//! a trail cut short: the store cannot forge a root for events it no longer has).

use std::path::{Path, PathBuf};

use annal_storage::merkle::{empty_root, Hash};
use annal_storage::{verify_dir_with, Problem, TrailStart, VerifyOptions, VerifyReport, Vfs};

use crate::checkpoint::{Checkpoint, NoteVerifier};
use crate::kept::{Kept, KeptTree};
use crate::lifecycle::{read_lifecycle, LifecycleRecord, PruneRecord, LIFECYCLE_LOG_FILE};
use crate::log::{read_log, CHECKPOINT_LOG_FILE};
use crate::notary::DATA_PUBLIC_KEY_FILE;
use crate::proof::{consistency_proof, verify_consistency, Subtrees};

/// What to check besides the data files.
#[derive(Default)]
pub struct AuditOptions {
    /// Checkpoints the auditor saved earlier: (where it came from, the note's text).
    pub checkpoints: Vec<(PathBuf, String)>,
    /// The key checkpoints must be signed by. Without one, the data directory's
    /// `checkpoint.pub` is used, which shows only that the store agrees with itself.
    pub public_key: Option<NoteVerifier>,
    /// Read only sealed segments whose time range meets `from..to` (ns, `to` exclusive).
    pub time_range: Option<(i64, i64)>,
}

/// Counts of one kind of thing checked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Checked and found right.
    pub valid: u64,
    /// Checked and found wrong.
    pub invalid: u64,
    /// Could not be checked (damage before it, or outside the range asked for).
    pub unchecked: u64,
}

/// What [`audit`] found.
#[derive(Debug, Default)]
pub struct AuditReport {
    /// The data files' report.
    pub data: VerifyReport,
    /// Checkpoints in the store's checkpoint log.
    pub stored: Tally,
    /// Checkpoints the auditor gave.
    pub given: Tally,
    /// The key signatures were checked with, and whether it came from the auditor.
    pub key: Option<(String, bool)>,
    /// The newest checkpoint that checked, if any.
    pub newest: Option<Checkpoint>,
    /// Problems with checkpoints (the data's own are in `data.problems`).
    pub problems: Vec<Problem>,
    /// Every prune the lifecycle log records, oldest first: ranges reported as pruned, not
    /// missing.
    pub pruned: Vec<PruneRecord>,
    /// Hashes kept of pruned events, all checked against the signed roots.
    pub kept_hashes: u64,
}

impl AuditReport {
    /// True when nothing is wrong.
    pub fn ok(&self) -> bool {
        self.data.ok() && self.problems.is_empty()
    }
}

/// One checkpoint to hold against the store.
struct Claim {
    file: PathBuf,
    offset: Option<u64>,
    note: String,
    stored: bool,
}

/// Audits data directory `dir`, calling `progress` with the bytes of each file done.
pub fn audit(
    fs: &dyn Vfs,
    dir: &Path,
    opts: &AuditOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<AuditReport, annal_storage::StorageError> {
    audit_with(fs, dir, opts, |vopts| {
        verify_dir_with(fs, dir, vopts, progress)
    })
}

/// [`audit`] of a running store: the data checked is a snapshot (see
/// [`annal_storage::verify_snapshot`]), so appends and seals going on are not mistaken for
/// damage. `snapshot` is called after the checkpoint log is read, so the snapshot holds
/// every tree a checkpoint read signed.
pub fn audit_snapshot(
    fs: &dyn Vfs,
    dir: &Path,
    snapshot: impl FnOnce() -> annal_storage::Snapshot,
    opts: &AuditOptions,
) -> Result<AuditReport, annal_storage::StorageError> {
    audit_with(fs, dir, opts, |vopts| {
        Ok(annal_storage::verify_snapshot(
            fs,
            &snapshot(),
            vopts,
            &|_| {},
        ))
    })
}

/// The audit, with `verify_data` checking the data files for the tree sizes asked.
fn audit_with(
    fs: &dyn Vfs,
    dir: &Path,
    opts: &AuditOptions,
    verify_data: impl FnOnce(&VerifyOptions) -> Result<VerifyReport, annal_storage::StorageError>,
) -> Result<AuditReport, annal_storage::StorageError> {
    let mut report = AuditReport::default();
    let mut claims = Vec::new();
    let log_path = dir.join(CHECKPOINT_LOG_FILE);
    match read_log(&log_path) {
        Ok(log) => {
            claims.extend(log.notes.into_iter().map(|n| Claim {
                file: log_path.clone(),
                offset: Some(n.offset),
                note: n.note,
                stored: true,
            }));
            if let Some(at) = log.torn_at {
                report.problems.push(Problem {
                    file: log_path.clone(),
                    offset: Some(at),
                    seq: None,
                    msg: "the last checkpoint frame is cut short (a crash while signing; it was never served)".into(),
                });
            }
        }
        Err(e) => report.problems.push(Problem {
            file: log_path.clone(),
            offset: None,
            seq: None,
            msg: e.to_string(),
        }),
    }
    claims.extend(opts.checkpoints.iter().map(|(file, note)| Claim {
        file: file.clone(),
        offset: None,
        note: note.clone(),
        stored: false,
    }));
    let key = match &opts.public_key {
        Some(k) => Some((k.clone(), true)),
        None => std::fs::read_to_string(dir.join(DATA_PUBLIC_KEY_FILE))
            .ok()
            .and_then(|t| NoteVerifier::from_text(&t).ok())
            .map(|k| (k, false)),
    };
    report.key = key.as_ref().map(|(k, given)| (k.to_text(), *given));

    // Signatures first: only signed checkpoints are held against the store.
    let mut signed: Vec<(Claim, Checkpoint)> = Vec::new();
    for claim in claims {
        let checked = match &key {
            Some((k, _)) => k.verify(&claim.note).map_err(|e| e.to_string()),
            None => Err("no public key to check its signature with (give --public-key)".into()),
        };
        match checked {
            Ok(cp) => signed.push((claim, cp)),
            Err(msg) => {
                tally(&mut report, claim.stored).invalid += 1;
                report.problems.push(Problem {
                    file: claim.file,
                    offset: claim.offset,
                    seq: None,
                    msg: format!("checkpoint signature: {msg}"),
                });
            }
        }
    }
    check_order(&signed, &mut report.problems);

    let kept = read_kept(dir, &mut report);
    let mut roots_at: Vec<u64> = signed.iter().map(|(_, cp)| cp.size).collect();
    roots_at.extend(Some(kept.end()).filter(|e| *e > 0));
    let vopts = VerifyOptions {
        roots_at,
        time_range: opts.time_range,
    };
    report.data = verify_data(&vopts)?;
    let pruned = PrunedTree::check(fs, dir, &kept, &mut report);
    let verdicts: Vec<Verdict> = signed
        .iter()
        .map(|(_, cp)| {
            if let Some(p) = pruned.as_ref().filter(|p| cp.size > 0 && cp.size <= p.end) {
                return p.judge(cp);
            }
            // The empty tree's root needs no event: a size-0 checkpoint is judged against it.
            let root = match cp.size {
                0 => Some(empty_root()),
                size => root_at(&report.data, size),
            };
            judge(cp, root, report.data.tree_size)
        })
        .collect();
    // Sizes whose checkpoints hold: a change lies after the largest of them below a failing one.
    let mut held: Vec<u64> = signed
        .iter()
        .zip(&verdicts)
        .filter(|(_, v)| matches!(v, Verdict::Valid))
        .map(|((_, cp), _)| cp.size)
        .collect();
    held.sort_unstable();
    for ((claim, cp), verdict) in signed.into_iter().zip(verdicts) {
        let t = tally(&mut report, claim.stored);
        match verdict {
            Verdict::Valid => {
                t.valid += 1;
                if report.newest.as_ref().is_none_or(|n| n.size < cp.size) {
                    report.newest = Some(cp);
                }
            }
            Verdict::Unchecked => t.unchecked += 1,
            Verdict::Altered => {
                t.invalid += 1;
                let lo = held
                    .iter()
                    .rev()
                    .find(|s| **s < cp.size)
                    .copied()
                    .unwrap_or(0);
                report.problems.push(Problem {
                    file: claim.file,
                    offset: claim.offset,
                    seq: Some(lo),
                    msg: format!(
                        "the store's first {} events do not give the signed root: events in seqs {lo}..{} were modified, removed, added or reordered (the first {lo} still match a checkpoint)",
                        cp.size, cp.size
                    ),
                });
            }
            Verdict::Invalid(seq, msg) => {
                t.invalid += 1;
                report.problems.push(Problem {
                    file: claim.file,
                    offset: claim.offset,
                    seq: Some(seq),
                    msg,
                });
            }
        }
    }
    Ok(report)
}

/// The root the data files give at `size`, if they reach it.
fn root_at(data: &VerifyReport, size: u64) -> Option<Hash> {
    data.roots_at
        .iter()
        .find(|(at, _)| *at == size)
        .map(|(_, r)| *r)
}

/// The kept hashes of the lifecycle log's prunes (none, with a problem, when it does not read).
fn read_kept(dir: &Path, report: &mut AuditReport) -> Kept {
    let path = dir.join(LIFECYCLE_LOG_FILE);
    let read = read_lifecycle(dir).and_then(|records| {
        report.pruned = records
            .iter()
            .filter_map(|r| match &r.record {
                LifecycleRecord::Prune(p) => Some(p.clone()),
                _ => None,
            })
            .collect();
        Kept::from_records(&path, &records)
    });
    match read {
        Ok(kept) => {
            report.kept_hashes = kept.hash_count() as u64;
            kept
        }
        Err(e) => {
            report.problems.push(Problem {
                file: path,
                offset: None,
                seq: None,
                msg: format!("{e}; checkpoints inside pruned ranges cannot be checked"),
            });
            Kept::default()
        }
    }
}

/// The pruned part of the tree, once its kept hashes were found to give the root the retained
/// segments continue from.
struct PrunedTree<'a> {
    kept: &'a Kept,
    /// Seqs `0..end` were pruned.
    end: u64,
    /// The tree's root at `end`.
    root: Hash,
}

impl<'a> PrunedTree<'a> {
    /// Checks that the kept hashes give the root at their end that the data files continue
    /// from (`trail.start`, or a segment there when a prune's removal is pending).
    fn check(
        fs: &dyn Vfs,
        dir: &Path,
        kept: &'a Kept,
        report: &mut AuditReport,
    ) -> Option<PrunedTree<'a>> {
        let (end, start) = (kept.end(), report.data.start);
        let path = dir.join(LIFECYCLE_LOG_FILE);
        if start > end {
            report.problems.push(Problem {
                file: dir.join(annal_storage::TRAIL_START_FILE),
                offset: None,
                seq: Some(end),
                msg: format!("the trail starts at seq {start} but {LIFECYCLE_LOG_FILE} records pruning only up to {end}: events {end}..{start} were removed without a record"),
            });
        }
        if end == 0 {
            return None;
        }
        let problem = |msg: String| Problem {
            file: path.clone(),
            offset: None,
            seq: Some(end),
            msg,
        };
        let data_root = if end == start {
            TrailStart::read(fs, dir).ok().map(|s| s.frontier().root())
        } else {
            root_at(&report.data, end)
        };
        let Some(data_root) = data_root else {
            report.problems.push(problem(format!("the prunes end at seq {end}, where the data files give no root (they start at {start}); checkpoints inside the pruned range cannot be checked")));
            return None;
        };
        match KeptTree::new(kept).subtree(0, end) {
            Ok(root) if root == data_root => Some(PrunedTree { kept, end, root }),
            Ok(_) => {
                report.problems.push(problem(format!("the hashes kept of pruned seqs 0..{end} do not give the root the retained segments continue from: {} or trail.start was altered", LIFECYCLE_LOG_FILE)));
                None
            }
            Err(e) => {
                report.problems.push(problem(format!(
                    "the hashes kept of pruned seqs 0..{end} are incomplete: {e}"
                )));
                None
            }
        }
    }

    /// A checkpoint of at most `end` events: its root from the kept hashes, and a consistency
    /// proof from it to the root at `end`, also from them.
    fn judge(&self, cp: &Checkpoint) -> Verdict {
        let mut tree = KeptTree::new(self.kept);
        let checked = tree.subtree(0, cp.size).and_then(|root| {
            if root != cp.root {
                return Ok(false);
            }
            if cp.size == self.end {
                return Ok(true);
            }
            let proof = consistency_proof(&mut tree, cp.size, self.end)?;
            Ok(verify_consistency(
                cp.size, self.end, &cp.root, &self.root, &proof,
            ))
        });
        match checked {
            Ok(true) => Verdict::Valid,
            Ok(false) => Verdict::Invalid(
                0,
                format!(
                    "the hashes kept of the pruned events do not give the root signed for the first {} events: {LIFECYCLE_LOG_FILE} was altered",
                    cp.size
                ),
            ),
            Err(e) => Verdict::Invalid(
                0,
                format!(
                    "the checkpoint of {} events lies in the pruned range and its hashes were not kept: {e}",
                    cp.size
                ),
            ),
        }
    }
}

fn tally(report: &mut AuditReport, stored: bool) -> &mut Tally {
    if stored {
        &mut report.stored
    } else {
        &mut report.given
    }
}

enum Verdict {
    Valid,
    Unchecked,
    /// The store gives another root at the checkpoint's size.
    Altered,
    Invalid(u64, String),
}

/// A checkpoint against the root the store's events give at its size (None when damage
/// before that size left it unknown) and the store's tree size.
fn judge(cp: &Checkpoint, root: Option<Hash>, tree_size: u64) -> Verdict {
    match root {
        Some(r) if r == cp.root => Verdict::Valid,
        Some(_) => Verdict::Altered,
        None if cp.size > tree_size => Verdict::Invalid(
            tree_size,
            format!(
                "signed for {} events but the store holds {tree_size}: events {tree_size}..{} were removed (the trail was cut short)",
                cp.size, cp.size
            ),
        ),
        None => Verdict::Unchecked,
    }
}

/// Stored checkpoints are signed in order of growing size, and no two of any source may give
/// one size two roots.
fn check_order(signed: &[(Claim, Checkpoint)], problems: &mut Vec<Problem>) {
    let mut last_stored: Option<u64> = None;
    for (claim, cp) in signed {
        if claim.stored {
            if last_stored.is_some_and(|s| cp.size < s) {
                problems.push(Problem {
                    file: claim.file.clone(),
                    offset: claim.offset,
                    seq: Some(cp.size),
                    msg: format!(
                        "checkpoint of {} events signed after one of {}: the trail shrank",
                        cp.size,
                        last_stored.unwrap_or_default()
                    ),
                });
            }
            last_stored = Some(cp.size);
        }
    }
    let mut roots: std::collections::HashMap<u64, (Hash, &Path)> = Default::default();
    for (claim, cp) in signed {
        let (root, file) = *roots.entry(cp.size).or_insert((cp.root, &claim.file));
        if root != cp.root {
            problems.push(Problem {
                file: claim.file.clone(),
                offset: claim.offset,
                seq: Some(cp.size),
                msg: format!(
                    "two signed checkpoints of {} events disagree (the other is in {}): the log forked",
                    cp.size,
                    file.display()
                ),
            });
        }
    }
}
