//! What an operator or auditor asks of the trail as a whole, gathered in one place for the
//! two that show it: the console's trail page (`GET /v1/trail`) and `GET /metrics`.

use std::path::Path;
use std::time::SystemTime;

use annal_bucket::SyncStatus;
use annal_integrity::Notary;
use annal_query::Engine;
use annal_storage::{SegmentKind, Telemetry};

use crate::scrub::{Verifications, VerifyOutcome};

/// Segments by kind.
#[derive(Clone, Copy, Debug, Default)]
pub struct SegmentCounts {
    /// Immutable and compressed.
    pub sealed: u64,
    /// Rolled, waiting for the sealer.
    pub rolled: u64,
    /// Receiving appends.
    pub active: u64,
}

/// The newest signed checkpoint.
#[derive(Clone, Debug)]
pub struct CheckpointFacts {
    /// The log's name.
    pub origin: String,
    /// Tree size.
    pub size: u64,
    /// The root, standard base64 as in the note.
    pub root: String,
    /// When it was signed (see [`annal_integrity::Signed::at`]).
    pub signed_at: SystemTime,
    /// The public key that checks it (C2SP vkey), when known.
    pub signer_key: Option<String>,
}

/// The trail at one moment.
#[derive(Clone, Debug)]
pub struct TrailFacts {
    /// Events in the trail: the next seq.
    pub events: u64,
    /// The first seq it holds.
    pub start: u64,
    /// Events in sealed segments.
    pub sealed_events: u64,
    /// Events in rolled segments waiting for the sealer.
    pub seal_lag_events: u64,
    /// Events no index covers yet.
    pub index_lag_events: u64,
    /// Segments by kind.
    pub segments: SegmentCounts,
    /// Bytes of every file in the data directory (segments, indexes, tiles, logs, keys).
    pub data_bytes: u64,
    /// The newest signed checkpoint, if any.
    pub checkpoint: Option<CheckpointFacts>,
    /// The newest audit's outcome.
    pub verify: Option<VerifyOutcome>,
    /// Audits passed and failed since the start.
    pub verify_counts: (u64, u64),
    /// The uploader's state, when a bucket is configured.
    pub bucket: Option<SyncStatus>,
    /// The writer's counters, histograms and queue.
    pub telemetry: Telemetry,
}

/// The parts of the server the facts come from.
pub struct Sources<'a> {
    /// The store and its indexes.
    pub engine: &'a Engine,
    /// The signer, if the server signs.
    pub notary: Option<&'a Notary>,
    /// The audits.
    pub verifications: &'a Verifications,
    /// The uploader's state, when a bucket is configured.
    pub bucket: Option<SyncStatus>,
}

impl TrailFacts {
    /// Reads the facts (a snapshot, whose segment list is in memory, and a walk of the data
    /// directory): cheap enough for every scrape, but blocking.
    pub fn gather(src: Sources<'_>) -> TrailFacts {
        let store = src.engine.store();
        let snap = store.snapshot();
        let mut segments = SegmentCounts::default();
        let (mut sealed_events, mut seal_lag_events) = (0, 0);
        for seg in snap.segments() {
            match seg.kind {
                SegmentKind::Sealed => {
                    segments.sealed += 1;
                    sealed_events += seg.count;
                }
                SegmentKind::Rolled => {
                    segments.rolled += 1;
                    seal_lag_events += seg.count;
                }
                SegmentKind::Active => segments.active += 1,
            }
        }
        let checkpoint = src.notary.and_then(|n| {
            let signed = n.latest()?;
            Some(CheckpointFacts {
                origin: signed.checkpoint.origin.clone(),
                size: signed.checkpoint.size,
                root: base64_of(&signed.checkpoint.root),
                signed_at: signed.at,
                signer_key: n.verifier().map(|v| v.to_text()),
            })
        });
        TrailFacts {
            events: snap.end(),
            start: snap.start(),
            sealed_events,
            seal_lag_events,
            index_lag_events: src.engine.indexer().lag(&snap),
            segments,
            data_bytes: dir_bytes(store.dir()),
            checkpoint,
            verify: src.verifications.last(),
            verify_counts: src.verifications.counts(),
            bucket: src.bucket,
            telemetry: store.telemetry(),
        }
    }

    /// Events the trail holds now (pruned ones excluded).
    pub fn retained(&self) -> u64 {
        self.events - self.start
    }

    /// Bytes on disk per retained event; None when the trail holds none.
    pub fn bytes_per_event(&self) -> Option<f64> {
        (self.retained() > 0).then(|| self.data_bytes as f64 / self.retained() as f64)
    }
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Bytes of every file under `dir`. A file that goes while it is walked (a seal's
/// temporary, a pruned segment) is skipped: the next look counts what replaced it.
fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

/// Seconds from `t` to now (0 for a `t` in the future: a clock step back).
pub fn seconds_since(t: SystemTime) -> f64 {
    SystemTime::now()
        .duration_since(t)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The serving process at one moment.
#[derive(Clone, Copy, Debug)]
pub struct ProcessFacts {
    /// Live tails (SSE) being served.
    pub stream_clients: u64,
    /// Resident set size, where the system tells it.
    pub resident_bytes: Option<u64>,
}

/// The process's resident set size, from `/proc/self/status` (Linux); None elsewhere.
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
