//! The store: opening and recovering a data directory, the writer thread that group-commits
//! appends, rolling, the sealer thread, and read snapshots.
//!
//! Threads: callers encode their events into record bytes in their own thread and send one
//! request per append over a bounded channel (the backpressure). One writer thread drains
//! every waiting request, writes them as one batch with one `write` and one `fdatasync`, and
//! only then answers each caller with its seqs. Rolled segments go to one sealer thread.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use annal_model::{check_record_limits, decode_record, encode_record, Event, NANOS_PER_DAY};
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TrySendError};
use parking_lot::{Mutex, RwLock};

use crate::error::{Result, StorageError};
use crate::merkle::Frontier;
use crate::sealed::{seal, seg_name, SealOptions, SealedRef, SealedSegment};
use crate::vfs::{OsFs, VFile, Vfs};
use crate::wal::{
    self, frame_record, read_framed_record, BatchBuilder, Tail, BATCH_BODY_BYTES_MAX,
    BATCH_HEADER_BYTES, RECORD_FRAME_BYTES, WAL_HEADER_BYTES,
};

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

/// An active or rolled-but-unsealed segment: a write-ahead log file and where its records are.
struct WalSegment {
    base: u64,
    path: PathBuf,
    file: Arc<dyn VFile>,
    state: RwLock<WalState>,
}

#[derive(Default)]
struct WalState {
    record_offsets: Vec<u64>,
    min_time: i64,
    max_time: i64,
    bytes: u64,
}

impl WalSegment {
    /// Events `from..to` (all in this segment) with one read of their byte range.
    fn read_range(&self, from: u64, to: u64) -> Result<Vec<Event>> {
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

    fn read(&self, seq: u64) -> Result<Event> {
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
struct Segments {
    sealed: Vec<SealedRef>,
    /// Rolled segments awaiting the sealer, then the active one (last).
    unsealed: Vec<Arc<WalSegment>>,
}

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
}

#[derive(Default)]
struct AtomicCounters {
    groups: AtomicU64,
    batches: AtomicU64,
    syncs: AtomicU64,
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

/// One append request, encoded by the caller.
struct Request {
    framed: Vec<u8>,
    records: Vec<RecordMeta>,
    reply: Sender<Result<Vec<Appended>>>,
}

struct RecordMeta {
    len: u32,
    created_at: i64,
    id: Option<Box<str>>,
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
        let recovered = recover(&dir, &opts)?;
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
        });
        let (seal_tx, seal_rx) = bounded::<Arc<WalSegment>>(SEAL_QUEUE_MAX.max(to_seal.len()));
        for s in to_seal {
            let _ = seal_tx.send(s);
        }
        let sealer = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("annal-sealer".into())
                .spawn(move || sealer_loop(&shared, &seal_rx))
                .map_err(|source| StorageError::Spawn {
                    what: "sealer",
                    source,
                })?
        };
        let (tx, rx) = bounded::<Request>(opts.queue_requests.max(1));
        let writer = {
            let shared = shared.clone();
            let state = WriterState {
                ids: recovered.ids,
                day: recovered.active_day,
                pos: recovered.active_len,
                buf: Vec::new(),
                last_sync: Instant::now(),
                dirty: false,
            };
            std::thread::Builder::new()
                .name("annal-writer".into())
                .spawn(move || writer_loop(&shared, state, &rx, &seal_tx))
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

    /// What the writer has done since open: groups, batches, fdatasyncs.
    pub fn counters(&self) -> Counters {
        let c = &self.shared.counters;
        Counters {
            groups: c.groups.load(Ordering::Relaxed),
            batches: c.batches.load(Ordering::Relaxed),
            syncs: c.syncs.load(Ordering::Relaxed),
        }
    }

    /// True when the trail holds no event.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends events; returns once they are durable (per [`Durability`]), with each event's
    /// seq. The events of one call are stored together or not at all; events whose `id` is
    /// already stored are not stored again (their stored seq comes back, marked duplicate).
    pub fn append(&self, events: &[Event]) -> Result<Vec<Appended>> {
        self.submit(events)?.wait()
    }

    /// Queues an append and returns at once; [`PendingAppend::wait`] gives its outcome.
    /// Appends submitted from one thread are stored in submission order, so a producer can
    /// keep several in flight and let group commit cover them with one fdatasync.
    pub fn submit(&self, events: &[Event]) -> Result<PendingAppend> {
        let (req, rx) = self.request(events)?;
        let tx = self.tx.as_ref().ok_or(StorageError::Closed)?;
        tx.send(req).map_err(|_| StorageError::Closed)?;
        Ok(PendingAppend(rx))
    }

    /// Like [`Store::append`], but fails at once with [`StorageError::Limit`] when the writer's
    /// queue is full, so a server can answer 429 instead of waiting.
    pub fn try_append(&self, events: &[Event]) -> Result<Vec<Appended>> {
        let (req, rx) = self.request(events)?;
        let tx = self.tx.as_ref().ok_or(StorageError::Closed)?;
        match tx.try_send(req) {
            Ok(()) => rx.recv().map_err(|_| StorageError::Closed)?,
            Err(TrySendError::Full(_)) => Err(StorageError::Limit(
                "the writer's queue is full; retry later".into(),
            )),
            Err(TrySendError::Disconnected(_)) => Err(StorageError::Closed),
        }
    }

    fn request(&self, events: &[Event]) -> Result<(Request, Receiver<Result<Vec<Appended>>>)> {
        if events.len() > APPEND_EVENTS_MAX {
            return Err(StorageError::Limit(format!(
                "{} events in one append; the limit is {APPEND_EVENTS_MAX}",
                events.len()
            )));
        }
        let mut framed = Vec::with_capacity(events.len() * 256);
        let mut records = Vec::with_capacity(events.len());
        let mut rec = Vec::with_capacity(512);
        for (index, e) in events.iter().enumerate() {
            check_record_limits(e)
                .map_err(|problem| StorageError::InvalidEvent { index, problem })?;
            rec.clear();
            encode_record(e, &mut rec);
            frame_record(&rec, &mut framed);
            records.push(RecordMeta {
                len: (RECORD_FRAME_BYTES + rec.len()) as u32,
                created_at: e.created_at.0,
                id: e.id.clone(),
            });
        }
        if framed.len() + BATCH_HEADER_BYTES > BATCH_BODY_BYTES_MAX {
            return Err(StorageError::Limit(format!(
                "append of {} bytes exceeds the batch limit of {BATCH_BODY_BYTES_MAX}",
                framed.len()
            )));
        }
        let (reply, rx) = bounded(1);
        Ok((
            Request {
                framed,
                records,
                reply,
            },
            rx,
        ))
    }

    /// A consistent view of the trail as of now.
    pub fn snapshot(&self) -> Snapshot {
        snapshot(&self.shared)
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

/// Records of an unsealed segment that [`Snapshot::scan`] reads (and holds decoded) at once.
const UNSEALED_SCAN_RUN: u64 = 4096;

/// A consistent, immutable view of the trail: events `0..end()`.
#[derive(Clone)]
pub struct Snapshot {
    sealed: Vec<SealedRef>,
    unsealed: Vec<(Arc<WalSegment>, u64)>,
    end: u64,
}

fn snapshot(shared: &Shared) -> Snapshot {
    let segs = shared.segments.read();
    let unsealed: Vec<_> = segs
        .unsealed
        .iter()
        .map(|w| (w.clone(), w.state.read().record_offsets.len() as u64))
        .collect();
    let end = unsealed.last().map_or_else(
        || segs.sealed.last().map_or(0, |s| s.end()),
        |(w, n)| w.base + n,
    );
    Snapshot {
        sealed: segs.sealed.clone(),
        unsealed,
        end,
    }
}

impl Snapshot {
    /// One past the newest seq in this view.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// The event at `seq`.
    pub fn get(&self, seq: u64) -> Result<Event> {
        if seq >= self.end {
            return Err(StorageError::NotFound(seq));
        }
        let i = self.sealed.partition_point(|s| s.end() <= seq);
        if let Some(s) = self.sealed.get(i) {
            return s.get(seq);
        }
        let j = self.unsealed.partition_point(|(w, n)| w.base + n <= seq);
        let (w, _) = self.unsealed.get(j).ok_or(StorageError::NotFound(seq))?;
        w.read(seq)
    }

    /// Calls `f` with every event in `from..to` (clamped to the view) in seq order, decoding
    /// sealed blocks once each; stops early when `f` returns false.
    pub fn scan(&self, from: u64, to: u64, mut f: impl FnMut(u64, Event) -> bool) -> Result<()> {
        let to = to.min(self.end);
        let mut seq = from;
        for s in &self.sealed {
            if seq >= to {
                return Ok(());
            }
            let Some(first_block) = s.block_of(seq) else {
                continue;
            };
            for (bi, b) in s.blocks().iter().enumerate().skip(first_block) {
                if seq >= to {
                    return Ok(());
                }
                for (i, e) in s.read_block(bi)?.into_iter().enumerate() {
                    let at = b.first_seq + i as u64;
                    if at >= seq && at < to {
                        if !f(at, e) {
                            return Ok(());
                        }
                        seq = at + 1;
                    }
                }
            }
        }
        // Unsealed segments: a bounded run of records per read, not one read per record.
        for (w, n) in &self.unsealed {
            let end = (w.base + n).min(to);
            while seq < end {
                let run_end = end.min(seq + UNSEALED_SCAN_RUN);
                for e in w.read_range(seq, run_end)? {
                    if !f(seq, e) {
                        return Ok(());
                    }
                    seq += 1;
                }
            }
        }
        Ok(())
    }

    /// Unsealed (rolled or active) segments in this view, as (base, count) in seq order.
    pub fn unsealed(&self) -> Vec<(u64, u64)> {
        self.unsealed.iter().map(|(w, n)| (w.base, *n)).collect()
    }

    /// Events `from..to` of one unsealed segment of this view, read with one I/O.
    pub fn read_unsealed(&self, from: u64, to: u64) -> Result<Vec<Event>> {
        let j = self.unsealed.partition_point(|(w, n)| w.base + n <= from);
        let (w, n) = self.unsealed.get(j).ok_or(StorageError::NotFound(from))?;
        if from < w.base || to > w.base + n || from > to {
            return Err(StorageError::NotFound(to.saturating_sub(1)));
        }
        w.read_range(from, to)
    }

    /// Seq of the stored event with this `id`, if any.
    pub fn find_id(&self, id: &str) -> Result<Option<u64>> {
        if let Some(seq) = self.sealed_id(id)? {
            return Ok(Some(seq));
        }
        for (w, n) in &self.unsealed {
            for seq in w.base..w.base + n {
                if w.read(seq)?.id.as_deref() == Some(id) {
                    return Ok(Some(seq));
                }
            }
        }
        Ok(None)
    }

    /// Seq of the event with this `id` in a sealed segment, found through the id tables.
    fn sealed_id(&self, id: &str) -> Result<Option<u64>> {
        for s in &self.sealed {
            for seq in s.id_candidates(id)? {
                if s.get(seq)?.id.as_deref() == Some(id) {
                    return Ok(Some(seq));
                }
            }
        }
        Ok(None)
    }

    /// Sealed segments in seq order.
    pub fn sealed(&self) -> &[SealedRef] {
        &self.sealed
    }

    /// A summary of every segment.
    pub fn segments(&self) -> Vec<SegmentInfo> {
        let mut out: Vec<SegmentInfo> = self
            .sealed
            .iter()
            .map(|s| SegmentInfo {
                path: s.path().to_path_buf(),
                kind: SegmentKind::Sealed,
                base: s.base(),
                count: s.count(),
                file_bytes: s.file_bytes(),
                time_range: Some(s.time_range()),
            })
            .collect();
        let last = self.unsealed.len().saturating_sub(1);
        for (i, (w, n)) in self.unsealed.iter().enumerate() {
            let st = w.state.read();
            out.push(SegmentInfo {
                path: w.path.clone(),
                kind: if i == last {
                    SegmentKind::Active
                } else {
                    SegmentKind::Rolled
                },
                base: w.base,
                count: *n,
                file_bytes: st.bytes,
                time_range: (*n > 0).then_some((st.min_time, st.max_time)),
            });
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Recovery

struct Recovered {
    segments: Segments,
    next_seq: u64,
    ids: HashMap<Box<str>, u64>,
    active_day: Option<i64>,
    active_len: u64,
}

/// A segment file name `{base:020}.{ext}`, as (base, ext).
pub(crate) fn parse_name(name: &str) -> Option<(u64, &str)> {
    let (stem, ext) = name.split_once('.')?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((stem.parse().ok()?, ext))
}

fn wal_name(base: u64) -> String {
    format!("{base:020}.wal")
}

fn recover(dir: &Path, opts: &Options) -> Result<Recovered> {
    let fs = &*opts.fs;
    let layout = |msg: String| StorageError::Layout {
        dir: dir.to_path_buf(),
        msg,
    };
    let mut seg_bases = Vec::new();
    let mut wal_bases = Vec::new();
    let mut removed = false;
    for entry in std::fs::read_dir(dir).map_err(StorageError::io("list", dir))? {
        let entry = entry.map_err(StorageError::io("list", dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        match parse_name(&name) {
            Some((base, "seg")) => seg_bases.push(base),
            Some((base, "wal")) => wal_bases.push(base),
            Some((_, "seg.tmp")) => {
                // A seal that crashed before its rename: the active segment still holds it all.
                tracing::warn!(file = %name, "removing unfinished sealed segment");
                fs.remove(&entry.path())
                    .map_err(StorageError::io("remove", entry.path()))?;
                removed = true;
            }
            _ => {}
        }
    }
    seg_bases.sort_unstable();
    wal_bases.sort_unstable();
    let mut segments = Segments::default();
    let mut next = 0u64;
    for base in seg_bases {
        let s = SealedSegment::open(fs, &dir.join(seg_name(base)))?;
        if s.base() != base {
            let msg = format!(
                "header says base seq {}, the file name says {base}",
                s.base()
            );
            return Err(StorageError::corrupt(s.path(), 16, msg));
        }
        if s.base() != next {
            return Err(layout(format!("sealed segment {} starts at seq {}, expected {next}: a segment is missing or overlaps", seg_name(base), s.base())));
        }
        next = s.end();
        segments.sealed.push(Arc::new(s));
    }
    // A WAL whose sealed twin was published is a seal that crashed before removing it.
    let (done, wals): (Vec<u64>, Vec<u64>) = wal_bases
        .into_iter()
        .partition(|b| segments.sealed.iter().any(|s| s.base() == *b));
    for base in done {
        tracing::info!(file = %wal_name(base), "removing active segment already sealed");
        fs.remove(&dir.join(wal_name(base)))
            .map_err(StorageError::io("remove", dir.join(wal_name(base))))?;
        removed = true;
    }
    if removed {
        fs.sync_dir(dir)
            .map_err(StorageError::io("fsync directory", dir))?;
    }
    let mut ids = HashMap::new();
    let (mut active_day, mut active_len) = (None, 0);
    let count = wals.len();
    for (i, base) in wals.into_iter().enumerate() {
        let path = dir.join(wal_name(base));
        let last = i + 1 == count;
        let file = fs.open_rw(&path).map_err(StorageError::io("open", &path))?;
        let len = file.len().map_err(StorageError::io("stat", &path))?;
        let mut bytes =
            vec![0u8; usize::try_from(len).map_err(|_| layout("segment too large".into()))?];
        file.read_exact_at(&mut bytes, 0)
            .map_err(StorageError::io("read", &path))?;
        if let Err(wal::HeaderError::Version(found)) = wal::decode_header(&bytes) {
            return Err(StorageError::Version {
                path,
                found,
                supported: wal::WAL_VERSION,
            });
        }
        let scan = wal::scan(&bytes).map_err(|d| StorageError::corrupt(&path, d.offset, d.msg))?;
        if scan.valid_end > 0 && scan.base_seq != base {
            let msg = format!(
                "header says base seq {}, the file name says {base}",
                scan.base_seq
            );
            return Err(StorageError::corrupt(&path, 16, msg));
        }
        if base != next {
            return Err(layout(format!("active segment {} starts at seq {base}, expected {next}: a segment is missing or overlaps", wal_name(base))));
        }
        let mut valid_end = scan.valid_end;
        if let Tail::Torn { offset, reason } = &scan.tail {
            if !last {
                let msg =
                    format!("{reason} in a rolled segment (rolled segments are synced whole)");
                return Err(StorageError::corrupt(&path, *offset, msg));
            }
            if *offset == 0 {
                // The file's creation was cut short before its header was durable.
                file.write_all_at(&wal::encode_header(base), 0)
                    .map_err(StorageError::io("write", &path))?;
                valid_end = WAL_HEADER_BYTES as u64;
            } else {
                // A torn write is what a crash leaves, but bit rot in the last batch looks the
                // same: keep the bytes beside the log instead of destroying them.
                keep_torn_tail(fs, dir, &path, &bytes[*offset as usize..], *offset)?;
            }
            tracing::warn!(file = %path.display(), offset, dropped_bytes = len - offset, reason = %reason, "cut a torn tail off the active segment; its bytes are kept in a .torn file");
            file.set_len(valid_end)
                .map_err(StorageError::io("truncate", &path))?;
            file.sync_data().map_err(StorageError::io("fsync", &path))?;
        }
        let n = scan.record_offsets.len() as u64;
        let (min_time, max_time) = (
            scan.batches.iter().map(|b| b.min_time).min().unwrap_or(0),
            scan.batches.iter().map(|b| b.max_time).max().unwrap_or(0),
        );
        if last {
            active_day = scan
                .record_offsets
                .first()
                .map(|off| first_event_day(&bytes, *off));
            active_len = valid_end;
        }
        ids.extend(scan.ids);
        next = base
            .checked_add(n)
            .ok_or_else(|| layout(format!("{} holds seqs past 2^64", wal_name(base))))?;
        let state = WalState {
            record_offsets: scan.record_offsets,
            min_time,
            max_time,
            bytes: valid_end,
        };
        segments.unsealed.push(Arc::new(WalSegment {
            base,
            path,
            file,
            state: RwLock::new(state),
        }));
    }
    if segments.unsealed.is_empty() {
        let seg = create_wal(fs, dir, next)?;
        active_len = WAL_HEADER_BYTES as u64;
        segments.unsealed.push(seg);
    }
    Ok(Recovered {
        segments,
        next_seq: next,
        ids,
        active_day,
        active_len,
    })
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

fn first_event_day(bytes: &[u8], frame_off: u64) -> i64 {
    let at = frame_off as usize + RECORD_FRAME_BYTES + 8;
    (wal::le_u64(bytes, at) as i64).div_euclid(NANOS_PER_DAY)
}

/// Creates an empty active segment: header written and synced, directory synced.
fn create_wal(fs: &dyn Vfs, dir: &Path, base: u64) -> Result<Arc<WalSegment>> {
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

// ---------------------------------------------------------------------------------------------
// Writer

struct WriterState {
    /// Ids of events not yet in a sealed segment (sealed ones are found through id tables).
    ids: HashMap<Box<str>, u64>,
    /// UTC day of the active segment's first event.
    day: Option<i64>,
    /// Length of the active file: where the next batch goes.
    pos: u64,
    buf: Vec<u8>,
    last_sync: Instant,
    /// Written but not yet fdatasync'ed.
    dirty: bool,
}

fn writer_loop(
    shared: &Shared,
    mut st: WriterState,
    rx: &Receiver<Request>,
    seal_tx: &Sender<Arc<WalSegment>>,
) {
    loop {
        let first = match shared.opts.durability {
            // Once poisoned, no timer: a failing sync is not retried.
            Durability::Interval(d) if st.dirty && shared.poisoned.lock().is_none() => {
                match rx.recv_timeout(d.saturating_sub(st.last_sync.elapsed())) {
                    Ok(r) => r,
                    Err(RecvTimeoutError::Timeout) => {
                        sync_active(shared, &mut st);
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            }
            _ => match rx.recv() {
                Ok(r) => r,
                Err(_) => break,
            },
        };
        let mut group = vec![first];
        let mut bytes = group[0].framed.len();
        while bytes < GROUP_BYTES_MAX {
            match rx.try_recv() {
                Ok(r) => {
                    bytes += r.framed.len();
                    group.push(r);
                }
                Err(_) => break,
            }
        }
        if let Some(p) = shared.poisoned.lock().clone() {
            for r in group {
                let _ = r.reply.send(Err(StorageError::Poisoned(p.clone())));
            }
            continue;
        }
        commit_group(shared, &mut st, group, seal_tx);
    }
    // A clean close makes the last writes durable; a poisoned log is not synced again.
    if st.dirty && shared.poisoned.lock().is_none() {
        sync_active(shared, &mut st);
    }
}

fn active(shared: &Shared) -> Arc<WalSegment> {
    // The writer creates the first active segment before it starts and never removes the last.
    shared
        .segments
        .read()
        .unsealed
        .last()
        .cloned()
        .unwrap_or_else(|| unreachable!("no active segment"))
}

fn sync_active(shared: &Shared, st: &mut WriterState) {
    // A failure has poisoned the log; the next append reports it.
    let _ = sync_log(shared, st, &active(shared));
}

/// fdatasync of an active segment. A failure poisons the log: the kernel may already have
/// dropped the dirty pages, so retrying as if nothing happened could acknowledge lost data.
fn sync_log(shared: &Shared, st: &mut WriterState, seg: &WalSegment) -> Result<()> {
    if let Err(e) = seg.file.sync_data() {
        poison(shared, format!("fdatasync {}: {e}", seg.path.display()));
        return Err(StorageError::io("fdatasync", &seg.path)(e));
    }
    shared.counters.syncs.fetch_add(1, Ordering::Relaxed);
    st.dirty = false;
    st.last_sync = Instant::now();
    Ok(())
}

fn poison(shared: &Shared, msg: String) {
    tracing::error!(error = %msg, "write-ahead log poisoned; appends fail until the store is reopened");
    *shared.poisoned.lock() = Some(msg);
}

/// Requests that go into one batch of the active segment, with the ids they add.
#[derive(Default)]
struct Run {
    requests: Vec<(Request, Vec<Appended>)>,
    ids: HashMap<Box<str>, u64>,
}

fn commit_group(
    shared: &Shared,
    st: &mut WriterState,
    group: Vec<Request>,
    seal_tx: &Sender<Arc<WalSegment>>,
) {
    shared.counters.groups.fetch_add(1, Ordering::Relaxed);
    let snapshot = snapshot(shared);
    // Ids of events below this seq are found through the snapshot's sealed id tables; the
    // writer's own map must keep every id above it for as long as this group runs.
    let snapshot_sealed_end = snapshot.sealed.last().map_or(0, |s| s.end());
    let mut next_seq = shared.committed.load(Ordering::Acquire);
    let mut run = Run::default();
    let mut builder = BatchBuilder::new(std::mem::take(&mut st.buf));
    for req in group {
        // A failed fdatasync earlier in this group stops everything after it.
        if let Some(p) = shared.poisoned.lock().clone() {
            let _ = req.reply.send(Err(StorageError::Poisoned(p)));
            continue;
        }
        let outcome = match resolve_duplicates(st, &run.ids, &snapshot, &req, next_seq) {
            Ok(o) => o,
            Err(e) => {
                let _ = req.reply.send(Err(e));
                continue;
            }
        };
        let fresh = || {
            req.records
                .iter()
                .zip(&outcome)
                .filter(|(_, a)| !a.duplicate)
                .map(|(m, _)| m)
        };
        let new_bytes: u64 = fresh().map(|m| u64::from(m.len)).sum();
        let first_time = fresh().next().map(|m| m.created_at);
        // Each request fits a batch on its own (checked when it was built); together they
        // may not, and a new day or a full segment starts a new file.
        let over_size =
            builder.len() as u64 + new_bytes > (BATCH_HEADER_BYTES + BATCH_BODY_BYTES_MAX) as u64;
        let roll_now =
            first_time.is_some_and(|t| needs_roll(shared, st, builder.len() as u64 + new_bytes, t));
        if over_size || roll_now {
            let ok;
            (builder, ok) = flush_run(shared, st, builder, &mut run, next_seq);
            next_seq = shared.committed.load(Ordering::Acquire);
            if ok && roll_now {
                if let Err(e) = roll(shared, st, seal_tx, next_seq, snapshot_sealed_end) {
                    poison(shared, format!("roll: {e}"));
                }
            }
            if let Some(p) = shared.poisoned.lock().clone() {
                let _ = req.reply.send(Err(StorageError::Poisoned(p)));
                continue;
            }
            if !ok {
                // This request's seqs were assigned after the failed batch's; fail it rather
                // than write it with seqs that no longer follow the trail.
                let _ = req.reply.send(Err(StorageError::NotAttempted(
                    "the batch before it".into(),
                )));
                continue;
            }
        }
        if let Some(t) = first_time {
            st.day.get_or_insert(t.div_euclid(NANOS_PER_DAY));
        }
        let mut at = 0usize;
        for (m, a) in req.records.iter().zip(&outcome) {
            let frame = &req.framed[at..at + m.len as usize];
            at += m.len as usize;
            if !a.duplicate {
                builder.push(frame, m.created_at);
                if let Some(id) = &m.id {
                    run.ids.insert(id.clone(), a.seq);
                }
            }
        }
        next_seq += outcome.iter().filter(|a| !a.duplicate).count() as u64;
        run.requests.push((req, outcome));
    }
    (builder, _) = flush_run(shared, st, builder, &mut run, next_seq);
    st.buf = builder.into_buf();
}

/// Assigns seqs to a request's events, answering re-sent ids with their stored seq.
fn resolve_duplicates(
    st: &WriterState,
    run_ids: &HashMap<Box<str>, u64>,
    snap: &Snapshot,
    req: &Request,
    mut next_seq: u64,
) -> Result<Vec<Appended>> {
    let mut in_request: HashMap<&str, u64> = HashMap::new();
    let mut out = Vec::with_capacity(req.records.len());
    for m in &req.records {
        let known = match m.id.as_deref() {
            None => None,
            Some(id) => match in_request
                .get(id)
                .or_else(|| run_ids.get(id))
                .or_else(|| st.ids.get(id))
            {
                Some(s) => Some(*s),
                None => snap.sealed_id(id)?,
            },
        };
        match known {
            Some(seq) => out.push(Appended {
                seq,
                duplicate: true,
            }),
            None => {
                if let Some(id) = m.id.as_deref() {
                    in_request.insert(id, next_seq);
                }
                out.push(Appended {
                    seq: next_seq,
                    duplicate: false,
                });
                next_seq += 1;
            }
        }
    }
    Ok(out)
}

fn needs_roll(shared: &Shared, st: &WriterState, run_bytes: u64, first_time: i64) -> bool {
    let Some(day) = st.day else { return false };
    let size = st.pos + run_bytes > shared.opts.segment_bytes_max;
    let new_day = shared.opts.roll_daily && first_time.div_euclid(NANOS_PER_DAY) > day;
    size || new_day
}

/// Writes the run's batch, syncs it per the durability mode, publishes its records to readers
/// and answers its requests; returns whether it succeeded. On a write error the file is cut
/// back to where the batch began (so a full disk fails the appends, not the store); on a sync
/// error the log is poisoned.
fn flush_run(
    shared: &Shared,
    st: &mut WriterState,
    mut builder: BatchBuilder,
    run: &mut Run,
    next_seq: u64,
) -> (BatchBuilder, bool) {
    let Run { requests, ids } = std::mem::take(run);
    if let Some(p) = shared.poisoned.lock().clone() {
        // Nothing is written after a failed fdatasync: the file's state is unknown.
        for (req, _) in requests {
            let _ = req.reply.send(Err(StorageError::Poisoned(p.clone())));
        }
        return (BatchBuilder::new(builder.into_buf()), false);
    }
    let count = builder.count();
    let seg = active(shared);
    let result = if count == 0 {
        Ok(())
    } else {
        write_batch(shared, st, &seg, &mut builder, next_seq - u64::from(count))
    };
    let ok = result.is_ok();
    match result {
        Ok(()) => {
            if count > 0 {
                publish_batch(shared, st, &seg, &builder, next_seq);
            }
            st.ids.extend(ids);
            for (req, outcome) in requests {
                let _ = req.reply.send(Ok(outcome));
            }
        }
        Err(e) => {
            if seg.state.read().record_offsets.is_empty() {
                // Nothing of this segment is durable: its day is not decided yet.
                st.day = None;
            }
            let msg = e.to_string();
            // Each request gets its own error of the same kind (a full disk stays one).
            let kind = match &e {
                StorageError::Io { source, .. } => source.kind(),
                _ => std::io::ErrorKind::Other,
            };
            for (req, _) in requests {
                let source = std::io::Error::new(kind, msg.clone());
                let _ = req.reply.send(Err(StorageError::Io {
                    op: "append",
                    path: seg.path.clone(),
                    source,
                }));
            }
        }
    }
    (BatchBuilder::new(builder.into_buf()), ok)
}

fn write_batch(
    shared: &Shared,
    st: &mut WriterState,
    seg: &WalSegment,
    builder: &mut BatchBuilder,
    first_seq: u64,
) -> Result<()> {
    let frame = builder.finish(first_seq);
    if let Err(e) = seg.file.write_all_at(frame, st.pos) {
        // Part of the batch may be in the file: cut it off so the next batch follows the last
        // good one. If even that fails the file's state is unknown.
        if let Err(t) = seg.file.set_len(st.pos) {
            poison(
                shared,
                format!("truncate {} after failed write: {t}", seg.path.display()),
            );
        }
        return Err(StorageError::io("write", &seg.path)(e));
    }
    st.dirty = true;
    let must_sync = match shared.opts.durability {
        Durability::EveryBatch => true,
        Durability::Interval(d) => st.last_sync.elapsed() >= d,
        Durability::None => false,
    };
    shared.counters.batches.fetch_add(1, Ordering::Relaxed);
    if must_sync {
        sync_log(shared, st, seg)?;
    }
    Ok(())
}

fn publish_batch(
    shared: &Shared,
    st: &mut WriterState,
    seg: &WalSegment,
    builder: &BatchBuilder,
    next_seq: u64,
) {
    let frame = builder.bytes();
    let mut ws = seg.state.write();
    let was_empty = ws.record_offsets.is_empty();
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    let mut at = BATCH_HEADER_BYTES;
    while at < frame.len() {
        let rlen = wal::le_u32(frame, at) as usize;
        let created = wal::le_u64(frame, at + RECORD_FRAME_BYTES + 8) as i64;
        lo = lo.min(created);
        hi = hi.max(created);
        ws.record_offsets.push(st.pos + at as u64);
        at += RECORD_FRAME_BYTES + rlen;
    }
    (ws.min_time, ws.max_time) = if was_empty {
        (lo, hi)
    } else {
        (ws.min_time.min(lo), ws.max_time.max(hi))
    };
    st.pos += frame.len() as u64;
    ws.bytes = st.pos;
    drop(ws);
    shared.committed.store(next_seq, Ordering::Release);
}

/// Closes the active segment (synced whole) and opens the next one at `next_seq`.
fn roll(
    shared: &Shared,
    st: &mut WriterState,
    seal_tx: &Sender<Arc<WalSegment>>,
    next_seq: u64,
    sealed_end: u64,
) -> Result<()> {
    if let Some(p) = shared.poisoned.lock().clone() {
        return Err(StorageError::Poisoned(p));
    }
    let old = active(shared);
    sync_log(shared, st, &old)?;
    let new = create_wal(&*shared.opts.fs, &shared.dir, next_seq)?;
    shared.segments.write().unsealed.push(new);
    st.pos = WAL_HEADER_BYTES as u64;
    st.day = None;
    // Only ids the caller's snapshot can find in sealed id tables may leave the map; the
    // sealer may have sealed more since, but this group does not see those tables.
    st.ids.retain(|_, seq| *seq >= sealed_end);
    // Blocks while the sealer is SEAL_QUEUE_MAX segments behind: appends wait rather than
    // letting unsealed segments pile up without bound.
    let _ = seal_tx.send(old);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Sealer

fn sealer_loop(shared: &Shared, rx: &Receiver<Arc<WalSegment>>) {
    while let Ok(seg) = rx.recv() {
        if shared.shutting_down.load(Ordering::Acquire) || shared.seal_error.lock().is_some() {
            // Left as an active-segment file; the next open queues it again.
            continue;
        }
        if let Err(e) = seal_one(shared, &seg) {
            tracing::error!(file = %seg.path.display(), error = %e, "sealing failed; the segment stays readable as a write-ahead log");
            *shared.seal_error.lock() = Some(e.to_string());
        }
    }
}

fn seal_one(shared: &Shared, seg: &Arc<WalSegment>) -> Result<()> {
    let fs = &*shared.opts.fs;
    let len = seg
        .file
        .len()
        .map_err(StorageError::io("stat", &seg.path))?;
    let mut bytes = vec![0u8; len as usize];
    seg.file
        .read_exact_at(&mut bytes, 0)
        .map_err(StorageError::io("read", &seg.path))?;
    let scan = wal::scan(&bytes).map_err(|d| StorageError::corrupt(&seg.path, d.offset, d.msg))?;
    if let Tail::Torn { offset, reason } = scan.tail {
        return Err(StorageError::corrupt(&seg.path, offset, reason));
    }
    let prev = {
        let segs = shared.segments.read();
        match segs.sealed.last() {
            Some(s) if s.end() == seg.base => s.frontier().clone(),
            None if seg.base == 0 => Frontier::new(),
            _ => {
                return Err(StorageError::Layout {
                    dir: shared.dir.clone(),
                    msg: format!("segment at seq {} has no sealed predecessor", seg.base),
                })
            }
        }
    };
    let sealed = Arc::new(seal(
        fs,
        &shared.dir,
        &seg.path,
        &bytes,
        &scan,
        &prev,
        shared.opts.seal,
    )?);
    {
        let mut segs = shared.segments.write();
        segs.unsealed.retain(|w| !Arc::ptr_eq(w, seg));
        segs.sealed.push(sealed);
    }
    fs.remove(&seg.path)
        .map_err(StorageError::io("remove", &seg.path))?;
    fs.sync_dir(&shared.dir)
        .map_err(StorageError::io("fsync directory", &shared.dir))
}
