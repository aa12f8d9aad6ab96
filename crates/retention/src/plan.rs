//! Which segments a prune removes: the longest run of sealed segments from the trail's start
//! whose every event is older than the retention window, that a signed checkpoint covers, and
//! that holds no event under an active legal hold. Pruning removes a prefix of the trail (the
//! tree's minimum index moves up), so the first segment that must stay keeps every later one.

use annal_integrity::{read_log, CHECKPOINT_LOG_FILE};
use annal_model::{Timestamp, NANOS_PER_DAY};
use annal_query::Engine;
use annal_storage::{SegmentInfo, SegmentKind};

use crate::error::Result;
use crate::holds::{first_held, Hold};

/// What a prune would remove, and why it stops where it does.
#[derive(Clone, Debug)]
pub struct PrunePlan {
    /// The trail's start now.
    pub from: u64,
    /// Its start after the prune (`from` when nothing is removed).
    pub to: u64,
    /// The segments removed.
    pub segments: Vec<SegmentInfo>,
    /// Bytes of segment files removed.
    pub bytes: u64,
    /// Events older than this (`created_at`) may go.
    pub cutoff: Timestamp,
    /// `retention_days=N`.
    pub policy: String,
    /// Why the next segment stays, if there is one.
    pub kept_because: Option<String>,
}

impl PrunePlan {
    /// Events removed.
    pub fn events(&self) -> u64 {
        self.to - self.from
    }
}

/// The plan of a prune by `retention_days` at `now`, given the holds of the lifecycle log.
pub(crate) fn plan(
    engine: &Engine,
    holds: &[Hold],
    retention_days: u32,
    now: Timestamp,
) -> Result<PrunePlan> {
    let store = engine.store();
    let snap = store.snapshot();
    let signed = read_log(&store.dir().join(CHECKPOINT_LOG_FILE))?
        .notes
        .iter()
        .map(|n| n.checkpoint.size)
        .max()
        .unwrap_or(0);
    let held = first_held(engine, holds)?;
    let cutoff = Timestamp(
        now.0
            .saturating_sub(i64::from(retention_days) * NANOS_PER_DAY),
    );
    let mut plan = PrunePlan {
        from: snap.start(),
        to: snap.start(),
        segments: Vec::new(),
        bytes: 0,
        cutoff,
        policy: format!("retention_days={retention_days}"),
        kept_because: None,
    };
    for seg in snap.segments() {
        let end = seg.base + seg.count;
        let newest = seg.time_range.map_or(i64::MIN, |t| t.1);
        let why = if seg.kind != SegmentKind::Sealed {
            Some(format!("segment {} is not sealed yet", seg.base))
        } else if newest >= cutoff.0 {
            Some(format!(
                "segment {} holds events created within the last {retention_days} days",
                seg.base
            ))
        } else if end > signed {
            Some(format!(
                "segment {} ends at seq {end}, past the newest signed checkpoint ({signed} events)",
                seg.base
            ))
        } else if let Some((seq, id)) = held.as_ref().filter(|(seq, _)| *seq < end) {
            Some(format!(
                "segment {} holds event {seq}, under legal hold {id}",
                seg.base
            ))
        } else {
            None
        };
        if let Some(why) = why {
            plan.kept_because = Some(why);
            break;
        }
        plan.to = end;
        plan.bytes += seg.file_bytes;
        plan.segments.push(seg);
    }
    Ok(plan)
}
