//! The store: the [`Store`] API and its options, and the one place that wires its parts.
//!
//! Threads: callers encode their events into record bytes in their own thread and send one
//! request per append over a bounded channel (the backpressure). One writer thread drains
//! every waiting request, writes them as one batch with one `write` and one `fdatasync`, and
//! only then answers each caller with its seqs. Rolled segments go to one sealer thread.
//!
//! The rooms, one job each:
//! - [`segment`]: an unsealed (active or rolled) segment as readers see it, and file names;
//! - [`recover`]: what `open` does to a data directory before any thread starts;
//! - [`writer`]: the writer thread (group commit, rolls, fdatasync and poisoning);
//! - [`idempotency`]: what makes an id sent again the same event (the content digest);
//! - [`sealer`]: the sealer thread (a rolled log into a sealed segment, then its removal);
//! - [`snapshot`]: read views that later appends and seals never change.
//!
//! They share one [`Shared`]; only the writer changes the active segment and `committed`,
//! only the sealer turns rolled segments into sealed ones.

mod idempotency;
mod recover;
mod sealer;
mod segment;
mod snapshot;
mod start;
mod writer;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use annal_model::Event;
use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use parking_lot::{Mutex, RwLock};

use crate::error::{Result, StorageError};
use crate::sealed::SealOptions;
use crate::telemetry::{
    AtomicHistogram, HistogramSnapshot, GROUP_EVENTS_BOUNDS, SYNC_NANOS_BOUNDS,
};
use crate::vfs::{OsFs, Vfs};
use idempotency::ContentDigest;
use segment::{Segments, WalSegment};
use writer::{Known, Request, WriterState};

pub(crate) use segment::parse_name;
pub use snapshot::{Snapshot, WalTail};
pub use start::{TrailStart, TRAIL_START_FILE};

/// Largest number of events in one append call.
pub const APPEND_EVENTS_MAX: usize = 100_000;
/// Default depth of the writer's request queue; a full queue blocks `append` and makes
/// `try_append` fail, so producers feel backpressure instead of growing memory.
pub const QUEUE_REQUESTS_DEFAULT: usize = 1024;
/// Largest group the writer commits at once, in record bytes: bounds one write.
pub const GROUP_BYTES_MAX: usize = 32 << 20;
/// Rolled segments waiting for the sealer; a full queue makes the writer wait at roll.
pub const SEAL_QUEUE_MAX: usize = 16;
/// Default segment size cap (the active file rolls before it would pass this).
pub const SEGMENT_BYTES_DEFAULT: u64 = 256 << 20;
/// Smallest segment size cap accepted.
pub const SEGMENT_BYTES_MIN: u64 = 64 << 10;
/// Largest segment size cap accepted: keeps a segment's event ordinals within u32, as the
/// sealed id table stores them.
pub const SEGMENT_BYTES_MAX: u64 = 4 << 30;

/// When an append is acknowledged relative to `fdatasync`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// fdatasync every group before acknowledging it (the default): an acknowledged event
    /// survives power loss.
    EveryBatch,
    /// Acknowledge after `write`; fdatasync at most this long after. A crash of the machine
    /// loses up to this window of acknowledged events; a crash of the process alone loses none.
    Interval(Duration),
    /// Never fdatasync except at roll and close. Unsafe: a power loss can lose any number of
    /// acknowledged events. For bulk loads that can be redone.
    None,
}

/// How a store runs.
#[derive(Clone)]
pub struct Options {
    /// When appends are acknowledged.
    pub durability: Durability,
    /// Size cap of an active segment file.
    pub segment_bytes_max: u64,
    /// Roll when an append's first event falls on a later UTC day than the segment's first.
    pub roll_daily: bool,
    /// Block layout of sealed segments.
    pub seal: SealOptions,
    /// Depth of the writer's request queue.
    pub queue_requests: usize,
    /// The file layer.
    pub fs: Arc<dyn Vfs>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            durability: Durability::EveryBatch,
            segment_bytes_max: SEGMENT_BYTES_DEFAULT,
            roll_daily: true,
            seal: SealOptions::default(),
            queue_requests: QUEUE_REQUESTS_DEFAULT,
            fs: Arc::new(OsFs),
        }
    }
}

/// The outcome of appending one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appended {
    /// The event's position in the trail.
    pub seq: u64,
    /// True when an event with the same `id` was already stored: `seq` is that event's.
    pub duplicate: bool,
}

/// What the store's threads and its handle share.
struct Shared {
    dir: PathBuf,
    opts: Options,
    segments: RwLock<Segments>,
    /// Events acknowledged so far: the next seq.
    committed: AtomicU64,
    poisoned: Mutex<Option<String>>,
    seal_error: Mutex<Option<String>>,
    shutting_down: AtomicBool,
    counters: AtomicCounters,
    /// Keys of the content digest of ids sent again (`idempotency.rs`).
    digest: ContentDigest,
    /// Whether an unsealed segment may hold a producer id made only of digits. Such an id
    /// wins over the seq of the same digits in a lookup; while none is unsealed, a lookup of
    /// digits need not scan the unsealed records (sealed ones have id tables). Set at open
    /// and before such an append is queued; never cleared while open (a false true costs a
    /// scan, a false false would hide an event).
    digit_ids: AtomicBool,
    /// Held by [`Store::prune_to`]: one prune at a time.
    pruning: Mutex<()>,
}

/// Whether a producer id reads as a seq (`GET /v1/events/7`).
fn all_digits(id: &str) -> bool {
    id.bytes().all(|b| b.is_ascii_digit())
}

impl Shared {
    fn snapshot(&self) -> Snapshot {
        let segments = self.segments.read();
        // Read after the segments: an id published in them was flagged before it was queued.
        Snapshot::of(&segments, self.digit_ids.load(Ordering::Acquire))
    }

    /// The error for an append the writer can no longer take: why it stopped, if it said.
    fn closed(&self) -> StorageError {
        match self.poisoned.lock().clone() {
            Some(msg) => StorageError::Poisoned(msg),
            None => StorageError::Closed,
        }
    }
}

struct AtomicCounters {
    groups: AtomicU64,
    batches: AtomicU64,
    syncs: AtomicU64,
    events: AtomicU64,
    bytes: AtomicU64,
    sync_nanos: AtomicHistogram,
    group_events: AtomicHistogram,
}

impl Default for AtomicCounters {
    fn default() -> AtomicCounters {
        AtomicCounters {
            groups: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
            events: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            sync_nanos: AtomicHistogram::new(SYNC_NANOS_BOUNDS),
            group_events: AtomicHistogram::new(GROUP_EVENTS_BOUNDS),
        }
    }
}

/// What the writer has done since the store was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Groups of waiting appends committed together.
    pub groups: u64,
    /// Batches written (a group is split into several at a roll or the batch size limit).
    pub batches: u64,
    /// fdatasync calls on the write-ahead log.
    pub syncs: u64,
    /// Events written to the write-ahead log (duplicates answered from the store are not).
    pub events: u64,
    /// Bytes written to the write-ahead log: batch frames with their headers.
    pub bytes: u64,
}

/// The writer's counters with its histograms and queue, for metrics.
#[derive(Clone, Debug)]
pub struct Telemetry {
    /// The counters.
    pub counters: Counters,
    /// fdatasync latency of the write-ahead log, in nanoseconds.
    pub sync_nanos: HistogramSnapshot,
    /// Events per committed group.
    pub group_events: HistogramSnapshot,
    /// Append requests waiting for the writer.
    pub queue_depth: usize,
    /// The most that may wait before appends are refused ([`Options::queue_requests`]).
    pub queue_capacity: usize,
}

/// What a segment is, for [`SegmentInfo`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentKind {
    /// Immutable, compressed.
    Sealed,
    /// Rolled, waiting to be sealed.
    Rolled,
    /// Receiving appends.
    Active,
}

/// A summary of one segment.
#[derive(Clone, Debug)]
pub struct SegmentInfo {
    /// The file.
    pub path: PathBuf,
    /// Kind.
    pub kind: SegmentKind,
    /// First seq.
    pub base: u64,
    /// Number of events.
    pub count: u64,
    /// Bytes on disk.
    pub file_bytes: u64,
    /// Smallest and largest `created_at` (nanoseconds), if it has events.
    pub time_range: Option<(i64, i64)>,
}

/// An append queued by [`Store::submit`].
#[must_use = "an append is acknowledged only once `wait` returns Ok"]
pub struct PendingAppend(Receiver<Result<Vec<Appended>>>);

impl PendingAppend {
    /// Blocks until the append is durable (per [`Durability`]) or has failed.
    pub fn wait(self) -> Result<Vec<Appended>> {
        self.0.recv().map_err(|_| StorageError::Closed)?
    }
}

/// An append-only audit trail in one data directory.
pub struct Store {
    shared: Arc<Shared>,
    tx: Option<Sender<Request>>,
    writer: Option<JoinHandle<()>>,
    sealer: Option<JoinHandle<()>>,
    _lock: File,
}

impl Store {
    /// Opens (creating if needed) the store in `dir`: recovers the active segment's tail,
    /// checks the layout, and starts the writer and sealer threads.
    pub fn open(dir: impl AsRef<Path>, opts: Options) -> Result<Store> {
        let dir = dir.as_ref().to_path_buf();
        if !(SEGMENT_BYTES_MIN..=SEGMENT_BYTES_MAX).contains(&opts.segment_bytes_max) {
            return Err(StorageError::Limit(format!("segment size cap must be between {SEGMENT_BYTES_MIN} and {SEGMENT_BYTES_MAX} bytes")));
        }
        std::fs::create_dir_all(&dir).map_err(StorageError::io("create directory", &dir))?;
        let lock = lock_dir(&dir)?;
        let recovered = recover::recover(&dir, &opts)?;
        let committed = recovered.next_seq;
        let to_seal: Vec<Arc<WalSegment>> =
            recovered.segments.unsealed[..recovered.segments.unsealed.len() - 1].to_vec();
        let shared = Arc::new(Shared {
            dir,
            opts: opts.clone(),
            segments: RwLock::new(recovered.segments),
            committed: AtomicU64::new(committed),
            poisoned: Mutex::new(None),
            seal_error: Mutex::new(None),
            shutting_down: AtomicBool::new(false),
            counters: AtomicCounters::default(),
            digest: ContentDigest::new(),
            digit_ids: AtomicBool::new(recovered.ids.keys().any(|id| all_digits(id))),
            pruning: Mutex::new(()),
        });
        let (seal_tx, seal_rx) = bounded::<Arc<WalSegment>>(SEAL_QUEUE_MAX.max(to_seal.len()));
        for s in to_seal {
            let _ = seal_tx.send(s);
        }
        let sealer = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("annal-sealer".into())
                .spawn(move || {
                    let _on_panic = OnPanic(|| {
                        *shared.seal_error.lock() = Some(THREAD_PANICKED.replace("{}", "sealer"));
                    });
                    sealer::sealer_loop(&shared, &seal_rx)
                })
                .map_err(|source| StorageError::Spawn {
                    what: "sealer",
                    source,
                })?
        };
        let (tx, rx) = bounded::<Request>(opts.queue_requests.max(1));
        let writer = {
            let shared = shared.clone();
            let ids = recovered
                .ids
                .into_iter()
                .map(|(id, seq)| (id, Known::recovered(seq)));
            let state = WriterState::new(ids.collect(), recovered.active_day, recovered.active_len);
            std::thread::Builder::new()
                .name("annal-writer".into())
                .spawn(move || {
                    let _on_panic = OnPanic(|| {
                        writer::poison(&shared, THREAD_PANICKED.replace("{}", "writer"))
                    });
                    writer::writer_loop(&shared, state, &rx, &seal_tx)
                })
                .map_err(|source| StorageError::Spawn {
                    what: "writer",
                    source,
                })?
        };
        Ok(Store {
            shared,
            tx: Some(tx),
            writer: Some(writer),
            sealer: Some(sealer),
            _lock: lock,
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Number of events in the trail (the next seq).
    pub fn len(&self) -> u64 {
        self.shared.committed.load(Ordering::Acquire)
    }

    /// The file layer the store reads and writes through.
    pub fn fs(&self) -> &Arc<dyn Vfs> {
        &self.shared.opts.fs
    }

    /// The first seq the trail holds: 0, or where pruning moved its start.
    pub fn start(&self) -> u64 {
        self.shared.segments.read().start.seq()
    }

    /// What the writer has done since open: groups, batches, fdatasyncs.
    pub fn counters(&self) -> Counters {
        let c = &self.shared.counters;
        Counters {
            groups: c.groups.load(Ordering::Relaxed),
            batches: c.batches.load(Ordering::Relaxed),
            syncs: c.syncs.load(Ordering::Relaxed),
            events: c.events.load(Ordering::Relaxed),
            bytes: c.bytes.load(Ordering::Relaxed),
        }
    }

    /// The counters, histograms and queue depth of the writer, for metrics.
    pub fn telemetry(&self) -> Telemetry {
        let c = &self.shared.counters;
        Telemetry {
            counters: self.counters(),
            sync_nanos: c.sync_nanos.snapshot(),
            group_events: c.group_events.snapshot(),
            queue_depth: self.tx.as_ref().map_or(0, |tx| tx.len()),
            queue_capacity: self.shared.opts.queue_requests.max(1),
        }
    }

    /// True when the trail holds no event.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends events; returns once they are durable (per [`Durability`]), with each event's
    /// seq. The events of one call are stored together or not at all; events whose `id` is
    /// already stored with the same content are not stored again (their stored seq comes back,
    /// marked duplicate); an id stored with other content refuses the whole call with
    /// [`StorageError::IdConflict`] (`idempotency.rs` says what counts as the same content).
    pub fn append(&self, events: &[Event]) -> Result<Vec<Appended>> {
        self.submit(events)?.wait()
    }

    /// Queues an append and returns at once; [`PendingAppend::wait`] gives its outcome.
    /// Appends submitted from one thread are stored in submission order, so a producer can
    /// keep several in flight and let group commit cover them with one fdatasync.
    pub fn submit(&self, events: &[Event]) -> Result<PendingAppend> {
        let (req, rx) = self.request(events)?;
        let tx = self.tx.as_ref().ok_or(StorageError::Closed)?;
        tx.send(req).map_err(|_| self.shared.closed())?;
        Ok(PendingAppend(rx))
    }

    /// Like [`Store::append`], but fails at once with [`StorageError::Limit`] when the writer's
    /// queue is full, so a server can answer 429 instead of waiting.
    pub fn try_append(&self, events: &[Event]) -> Result<Vec<Appended>> {
        let (req, rx) = self.request(events)?;
        let tx = self.tx.as_ref().ok_or(StorageError::Closed)?;
        match tx.try_send(req) {
            Ok(()) => rx.recv().map_err(|_| self.shared.closed())?,
            Err(TrySendError::Full(_)) => Err(StorageError::Limit(
                "the writer's queue is full; retry later".into(),
            )),
            Err(TrySendError::Disconnected(_)) => Err(self.shared.closed()),
        }
    }

    /// The writer's request for `events`, encoded in this thread.
    fn request(&self, events: &[Event]) -> Result<(Request, Receiver<Result<Vec<Appended>>>)> {
        // Before the request is queued, so before any reader can see its records.
        if events
            .iter()
            .any(|e| e.id.as_deref().is_some_and(all_digits))
        {
            self.shared.digit_ids.store(true, Ordering::Release);
        }
        Request::encode(events, &self.shared.digest)
    }

    /// A consistent view of the trail as of now.
    pub fn snapshot(&self) -> Snapshot {
        self.shared.snapshot()
    }

    /// Removes the sealed segments before seq `start`, which must be where a sealed segment
    /// ends, and returns them. Publishes `trail.start` (the new start and the frontier of the
    /// tree before it) first and removes the files after, so a crash between the two leaves
    /// files that the next open removes. Readers holding an older snapshot keep reading the
    /// removed segments until they drop it. A `start` at or before the current one removes
    /// nothing.
    pub fn prune_to(&self, start: u64) -> Result<Vec<SegmentInfo>> {
        let _one_at_a_time = self.shared.pruning.lock();
        let snap = self.snapshot();
        if start <= snap.start() {
            return Ok(Vec::new());
        }
        let Some(last) = snap.sealed().iter().find(|s| s.end() == start) else {
            return Err(StorageError::Limit(format!(
                "seq {start} is not where a sealed segment ends: only whole sealed segments are pruned"
            )));
        };
        let new_start = TrailStart::after(last.frontier().clone());
        let (fs, dir) = (&*self.shared.opts.fs, &self.shared.dir);
        new_start.write(fs, dir)?;
        {
            let mut segs = self.shared.segments.write();
            segs.sealed.retain(|s| s.end() > start);
            segs.start = Arc::new(new_start);
        }
        let removed: Vec<SegmentInfo> = snap
            .segments()
            .into_iter()
            .filter(|s| s.base < start)
            .collect();
        for s in &removed {
            fs.remove(&s.path)
                .map_err(StorageError::io("remove", &s.path))?;
        }
        fs.sync_dir(dir)
            .map_err(StorageError::io("fsync directory", dir))?;
        Ok(removed)
    }

    /// Blocks until every rolled segment has been sealed (or sealing failed).
    pub fn wait_sealed(&self) -> Result<()> {
        loop {
            if let Some(e) = self.shared.seal_error.lock().clone() {
                return Err(StorageError::Layout {
                    dir: self.shared.dir.clone(),
                    msg: format!("sealing failed: {e}"),
                });
            }
            if self.shared.segments.read().unsealed.len() <= 1 {
                return Ok(());
            }
            if self.sealer.as_ref().is_none_or(|s| s.is_finished()) {
                let msg = "the sealer thread has stopped".to_string();
                return Err(StorageError::Layout {
                    dir: self.shared.dir.clone(),
                    msg,
                });
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Stops the threads after the queued appends, syncs, and releases the directory.
    pub fn close(mut self) -> Result<()> {
        self.shutdown();
        match self.shared.poisoned.lock().clone() {
            Some(e) => Err(StorageError::Poisoned(e)),
            None => Ok(()),
        }
    }

    fn shutdown(&mut self) {
        self.shared.shutting_down.store(true, Ordering::Release);
        drop(self.tx.take());
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
        if let Some(s) = self.sealer.take() {
            let _ = s.join();
        }
    }
}

/// What a panicking engine thread leaves as the store's error (`{}`: which thread).
const THREAD_PANICKED: &str =
    "the {} thread panicked: an invariant failed (its message is in the log); reopen the store";

/// Runs a closure if the thread unwinds past it: a failed invariant assertion in the writer
/// or sealer must leave an error that appends and `close` report, not only a closed queue.
struct OnPanic<F: Fn()>(F);

impl<F: Fn()> Drop for OnPanic<F> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            (self.0)();
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn lock_dir(dir: &Path) -> Result<File> {
    let path = dir.join("LOCK");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(StorageError::io("open", &path))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => Err(StorageError::Locked(dir.to_path_buf())),
        Err(std::fs::TryLockError::Error(e)) => Err(StorageError::io("lock", &path)(e)),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::OnPanic;

    #[test]
    fn on_panic_runs_only_when_the_thread_unwinds() {
        static UNWOUND: AtomicBool = AtomicBool::new(false);
        let ran = std::thread::spawn(|| {
            let _guard = OnPanic(|| UNWOUND.store(true, Ordering::SeqCst));
            panic!("an invariant failed");
        })
        .join();
        assert!(ran.is_err(), "the thread should have panicked");
        assert!(
            UNWOUND.load(Ordering::SeqCst),
            "the guard did not run on unwind"
        );

        static RAN: AtomicBool = AtomicBool::new(false);
        std::thread::spawn(|| {
            let _guard = OnPanic(|| RAN.store(true, Ordering::SeqCst));
        })
        .join()
        .unwrap();
        assert!(!RAN.load(Ordering::SeqCst), "the guard ran without a panic");
    }
}
