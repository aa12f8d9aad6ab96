//! A prune of the trail's oldest sealed segments, in the order that keeps every proof: the
//! hashes the tree needs of them are computed and written to the lifecycle log (synced)
//! before the storage engine publishes the new start and removes the files. A crash before the
//! record leaves the old state; after it, the next prune (or [`finish_pending_prune`]) finishes
//! the removal the record announced. Both states verify.

use annal_storage::{SegmentInfo, Store};

use crate::error::IntegrityError;
use crate::kept::plan_kept;
use crate::lifecycle::{LifecycleLog, LifecycleRecord, PruneRecord, PRUNE_ROOTS_MAX};
use crate::log::{read_log, CHECKPOINT_LOG_FILE};
use crate::tiles::{StoreTree, Tiles, TILE_LEAVES};

/// Who prunes and why, for the record.
#[derive(Clone, Debug)]
pub struct PruneBy {
    /// `retention_days=N`, or `manual`.
    pub policy: String,
    /// Who.
    pub by: String,
    /// The operator's words.
    pub reason: String,
    /// When (ns).
    pub at_ns: i64,
}

/// What one prune did.
#[derive(Debug)]
pub struct Pruned {
    /// Its record in the lifecycle log.
    pub record: PruneRecord,
    /// The segments removed.
    pub segments: Vec<SegmentInfo>,
}

/// Finishes a prune whose record was written but whose segments were not all removed (a
/// crash between the two); returns the segments it removed.
pub fn finish_pending_prune(
    store: &Store,
    log: &LifecycleLog,
) -> Result<Vec<SegmentInfo>, IntegrityError> {
    let recorded = log
        .records()
        .iter()
        .filter_map(|r| match &r.record {
            LifecycleRecord::Prune(p) => Some(p.to_seq),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    let start = store.snapshot().start();
    if recorded < start {
        return Err(IntegrityError::Disagrees(format!(
            "the trail starts at seq {start} but {} records pruning only up to {recorded}: events {recorded}..{start} were removed without a record",
            log.path().display()
        )));
    }
    if recorded == start {
        return Ok(Vec::new());
    }
    tracing::warn!("finishing the prune to seq {recorded} that a crash interrupted");
    Ok(store.prune_to(recorded)?)
}

/// Prunes the sealed segments of `store` before seq `to` (where a sealed segment ends, at most
/// the size of the newest signed checkpoint), recording it in `log`. `before_removal` runs
/// after the record is synced and before any file is removed (a running notary takes the kept
/// hashes then). Several records are written when the range keeps more than
/// [`PRUNE_ROOTS_MAX`] tile roots.
pub fn prune_store(
    store: &Store,
    log: &mut LifecycleLog,
    to: u64,
    who: &PruneBy,
    before_removal: &dyn Fn() -> Result<(), IntegrityError>,
) -> Result<Vec<Pruned>, IntegrityError> {
    finish_pending_prune(store, log)?;
    let checkpoints: Vec<u64> = read_log(&store.dir().join(CHECKPOINT_LOG_FILE))?
        .notes
        .iter()
        .map(|n| n.checkpoint.size)
        .collect();
    let newest = checkpoints.iter().copied().max().unwrap_or(0);
    if to > newest {
        return Err(IntegrityError::Source(format!(
            "seq {to} is past the newest signed checkpoint ({newest} events): only events a signed checkpoint covers are pruned"
        )));
    }
    let mut out = Vec::new();
    loop {
        let snap = store.snapshot();
        let from = snap.start();
        if from >= to {
            return Ok(out);
        }
        let ends: Vec<u64> = snap
            .sealed()
            .iter()
            .map(|s| s.end())
            .filter(|end| *end > from && *end <= to)
            .collect();
        if !ends.contains(&to) {
            return Err(IntegrityError::Source(format!(
                "seq {to} is not where a sealed segment ends (the trail starts at {from}): only whole sealed segments are pruned"
            )));
        }
        // The furthest segment end whose tiles fit one record (a segment never holds more).
        let roots_limit = (from / TILE_LEAVES + PRUNE_ROOTS_MAX as u64) * TILE_LEAVES;
        let step_to = ends
            .iter()
            .rev()
            .find(|end| **end <= roots_limit)
            .unwrap_or(&ends[0]);
        let step_to = *step_to;
        let removed: Vec<_> = snap
            .segments()
            .into_iter()
            .filter(|s| s.base >= from && s.base < step_to)
            .collect();
        let mut tiles = Tiles::open(store.dir())?;
        tiles.catch_up(&snap)?;
        let hashes = tiles.hashes();
        let kept = plan_kept(
            hashes.kept(),
            hashes.roots(),
            &checkpoints,
            step_to,
            &mut StoreTree::new(&snap, &hashes),
        )?;
        let times = removed.iter().filter_map(|s| s.time_range);
        let record = PruneRecord {
            number: hashes.kept().prunes() + 1,
            at_ns: who.at_ns,
            from_seq: from,
            to_seq: step_to,
            segments: removed.len() as u64,
            time_min_ns: times.clone().map(|t| t.0).min().unwrap_or(0),
            time_max_ns: times.map(|t| t.1).max().unwrap_or(0),
            policy: who.policy.clone(),
            by: who.by.clone(),
            reason: who.reason.clone(),
            kept,
        };
        log.append(LifecycleRecord::Prune(record.clone()))?;
        before_removal()?;
        let segments = store.prune_to(step_to)?;
        out.push(Pruned { record, segments });
    }
}
