//! # annal-retention
//!
//! Retention for an audit trail that must stay verifiable: whole sealed segments older than
//! `retention_days` are pruned from the start of the trail, unless a legal hold covers an event
//! in them or no signed checkpoint covers them yet; the tree keeps the hashes every proof needs
//! (`annal_integrity::prune_store`). Legal holds are placed and released by records of the
//! lifecycle log, and every prune, hold and release is also appended to the trail as an event
//! of annal's own catalog, so an auditor sees removals in the trail they verify.
//!
//! One [`Retention`] per open store serializes these operations.

mod error;
mod events;
mod holds;
mod plan;

use std::path::Path;

use annal_integrity::{
    finish_pending_prune, prune_store, HoldRecord, IntegrityError, LifecycleLog, LifecycleRecord,
    PruneBy, Pruned, ReleaseRecord,
};
use annal_model::Timestamp;
use annal_query::Engine;
use annal_storage::Store;
use parking_lot::Mutex;

pub use error::{Result, RetentionError};
pub use events::{lifecycle_event, CODE_HOLD_PLACED, CODE_HOLD_RELEASED, CODE_TRAIL_PRUNED};
pub use holds::{holds, Hold, HoldSpec, HOLD_TEXT_CHARS_MAX};
pub use plan::PrunePlan;

/// Longest retention window accepted: 100 years.
pub const RETENTION_DAYS_MAX: u32 = 36_525;

/// The retention operations of one open store.
pub struct Retention {
    log: Mutex<LifecycleLog>,
}

impl Retention {
    /// Opens the lifecycle log of `engine`'s store, finishes a prune a crash interrupted and
    /// appends the lifecycle event a crash may have left unwritten.
    pub fn open(engine: &Engine) -> Result<Retention> {
        let store = engine.store();
        let log = LifecycleLog::open(store.dir())?;
        finish_pending_prune(store, &log)?;
        remove_index_files_before(store.dir(), store.snapshot().start());
        record_events(store, &log, 1)?;
        Ok(Retention {
            log: Mutex::new(log),
        })
    }

    /// Every legal hold, in the order placed.
    pub fn holds(&self) -> Vec<Hold> {
        holds(self.log.lock().records())
    }

    /// Every prune so far, oldest first.
    pub fn prunes(&self) -> Vec<annal_integrity::PruneRecord> {
        self.log
            .lock()
            .records()
            .iter()
            .filter_map(|r| match &r.record {
                LifecycleRecord::Prune(p) => Some(p.clone()),
                _ => None,
            })
            .collect()
    }

    /// Places a legal hold; returns its record once it is durable and in the trail.
    pub fn place_hold(&self, engine: &Engine, spec: &HoldSpec) -> Result<HoldRecord> {
        holds::check_spec(spec, engine.catalogs())?;
        let mut log = self.log.lock();
        let number = holds(log.records()).len() + 1;
        let record = HoldRecord {
            id: format!("hold-{number}"),
            at_ns: Timestamp::now().0,
            from_ns: spec.from.0,
            to_ns: spec.to.0,
            filter: spec.filter.clone(),
            reason: spec.reason.clone(),
            by: spec.by.clone(),
        };
        log.append(LifecycleRecord::Hold(record.clone()))?;
        record_events(engine.store(), &log, 1)?;
        Ok(record)
    }

    /// Releases the active hold `id`.
    pub fn release_hold(
        &self,
        engine: &Engine,
        id: &str,
        reason: &str,
        by: &str,
    ) -> Result<ReleaseRecord> {
        if reason.trim().is_empty() || reason.chars().count() > HOLD_TEXT_CHARS_MAX {
            return Err(RetentionError::Invalid(format!(
                "releasing a hold needs a reason of 1 to {HOLD_TEXT_CHARS_MAX} characters"
            )));
        }
        let mut log = self.log.lock();
        let hold = holds(log.records())
            .into_iter()
            .find(|h| h.placed.id == id)
            .ok_or_else(|| RetentionError::UnknownHold(id.to_string()))?;
        if !hold.active() {
            return Err(RetentionError::Released(id.to_string()));
        }
        let record = ReleaseRecord {
            id: id.to_string(),
            at_ns: Timestamp::now().0,
            reason: reason.to_string(),
            by: by.to_string(),
        };
        log.append(LifecycleRecord::Release(record.clone()))?;
        record_events(engine.store(), &log, 1)?;
        Ok(record)
    }

    /// What a prune by `retention_days` would remove now.
    pub fn plan(&self, engine: &Engine, retention_days: u32, now: Timestamp) -> Result<PrunePlan> {
        if retention_days == 0 || retention_days > RETENTION_DAYS_MAX {
            return Err(RetentionError::Invalid(format!(
                "retention_days must be from 1 to {RETENTION_DAYS_MAX}, got {retention_days}"
            )));
        }
        let holds = self.holds();
        plan::plan(engine, &holds, retention_days, now)
    }

    /// Prunes what `plan` says (planned again under the lock, so a hold placed meanwhile is
    /// honoured), by `by`; `before_removal` runs once each record is durable, before files go
    /// (a running notary takes the kept hashes then). Returns the prunes done.
    pub fn prune(
        &self,
        engine: &Engine,
        retention_days: u32,
        by: &str,
        reason: &str,
        before_removal: &dyn Fn() -> Result<(), IntegrityError>,
    ) -> Result<(PrunePlan, Vec<Pruned>)> {
        let mut log = self.log.lock();
        let plan = plan::plan(
            engine,
            &holds(log.records()),
            retention_days,
            Timestamp::now(),
        )?;
        if plan.to == plan.from {
            return Ok((plan, Vec::new()));
        }
        let who = PruneBy {
            policy: plan.policy.clone(),
            by: by.to_string(),
            reason: reason.to_string(),
            at_ns: Timestamp::now().0,
        };
        let store = engine.store();
        let done = prune_store(store, &mut log, plan.to, &who, before_removal)?;
        remove_index_files_before(store.dir(), store.snapshot().start());
        record_events(store, &log, done.len())?;
        tracing::info!(
            "pruned seqs {}..{} ({} segments, {} bytes, {})",
            plan.from,
            plan.to,
            plan.segments.len(),
            plan.bytes,
            plan.policy
        );
        Ok((plan, done))
    }
}

/// Appends the events of the newest `n` records of `log` that the trail lacks (a crash
/// between a record and its event leaves one; every operation appends its events right after
/// its records, under the log's lock).
fn record_events(store: &Store, log: &LifecycleLog, n: usize) -> Result<()> {
    let records = log.records();
    let snap = store.snapshot();
    let now = Timestamp::now();
    let mut missing = Vec::new();
    for r in &records[records.len().saturating_sub(n)..] {
        let event = lifecycle_event(&r.record, now);
        let id = event.id.as_deref().unwrap_or_default();
        if snap.find_id(id)?.is_none() {
            missing.push(event);
        }
    }
    if !missing.is_empty() {
        store.append(&missing)?;
    }
    Ok(())
}

/// Removes the index files of segments before `start` (derived files: a failure is logged).
/// The whole index directory is looked through, so a file a reader rebuilt from an older
/// snapshot during a prune goes too.
fn remove_index_files_before(dir: &Path, start: u64) {
    let index_dir = dir.join(annal_index::INDEX_DIR);
    let Ok(entries) = std::fs::read_dir(&index_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(base) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".idx"))
            .and_then(|stem| stem.parse::<u64>().ok())
        else {
            continue;
        };
        if base < start {
            if let Err(e) = std::fs::remove_file(entry.path()) {
                tracing::warn!("cannot remove {}: {e}", entry.path().display());
            }
        }
    }
}
