//! The writer thread: group commit. It drains every waiting append request, assigns seqs
//! (answering re-sent ids with their stored seq), writes the group as batches of the active
//! segment, fdatasyncs per the durability mode, publishes the records to readers and only then
//! answers each caller. It also rolls the active segment at a day or size boundary.
//!
//! A re-sent id answers with its stored seq only when its content is the same
//! (`idempotency.rs`); otherwise the whole request is refused with
//! [`StorageError::IdConflict`] or [`StorageError::IdRepeated`] before any of it is batched.
//!
//! A failed write cuts the file back and fails its appends; a failed fdatasync poisons the
//! log, because the kernel may already have dropped the dirty pages.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use annal_model::{check_record_limits, encode_record, Event, NANOS_PER_DAY};
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};

use super::idempotency::ContentDigest;
use super::segment::{create_wal, WalSegment};
use super::snapshot::Snapshot;
use super::{Appended, Durability, Shared, APPEND_EVENTS_MAX, GROUP_BYTES_MAX};
use crate::error::{Result, StorageError};
use crate::wal::{
    self, frame_record, BatchBuilder, BATCH_BODY_BYTES_MAX, BATCH_HEADER_BYTES, RECORD_FRAME_BYTES,
    WAL_HEADER_BYTES,
};

/// The answer to one append request.
type Reply = Result<Vec<Appended>>;

/// One append request, encoded by the caller.
pub(super) struct Request {
    pub(super) framed: Vec<u8>,
    records: Vec<RecordMeta>,
    reply: Sender<Reply>,
}

struct RecordMeta {
    len: u32,
    created_at: i64,
    id: Option<Box<str>>,
    /// Digest of the record's content (`idempotency.rs`), computed only for events with an id.
    digest: u64,
}

/// What the writer remembers of an id it holds in memory.
#[derive(Clone, Copy)]
pub(super) struct Known {
    seq: u64,
    /// Digest of the stored content; None for ids recovered from a log at open, whose record
    /// is read back (through the snapshot) if the id is ever sent again.
    digest: Option<u64>,
}

impl Known {
    /// An id recovered at open, stored at `seq`.
    pub(super) fn recovered(seq: u64) -> Known {
        Known { seq, digest: None }
    }
}

impl Request {
    /// Checks and encodes `events` in the caller's thread, so the writer only copies bytes
    /// and compares digests; returns the request and where its answer will come.
    pub(super) fn encode(
        events: &[Event],
        digest: &ContentDigest,
    ) -> Result<(Request, Receiver<Reply>)> {
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
                digest: e.id.as_ref().map_or(0, |_| digest.of_record(&rec)),
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
}

/// What only the writer thread knows.
pub(super) struct WriterState {
    /// Ids of events not yet in a sealed segment (sealed ones are found through id tables).
    /// Bounded by the unsealed segments: ids leave it at each roll once sealed.
    ids: HashMap<Box<str>, Known>,
    /// UTC day of the active segment's first event.
    day: Option<i64>,
    /// Length of the active file: where the next batch goes.
    pos: u64,
    buf: Vec<u8>,
    /// File offsets of the records of the batch being written, reused from batch to batch.
    offsets: Vec<u64>,
    last_sync: Instant,
    /// Written but not yet fdatasync'ed.
    dirty: bool,
}

impl WriterState {
    /// The state of a writer that continues the recovered active segment, whose length is
    /// `pos` and whose first event (if any) fell on UTC day `day`.
    pub(super) fn new(ids: HashMap<Box<str>, Known>, day: Option<i64>, pos: u64) -> WriterState {
        WriterState {
            ids,
            day,
            pos,
            buf: Vec::new(),
            offsets: Vec::new(),
            last_sync: Instant::now(),
            dirty: false,
        }
    }
}

pub(super) fn writer_loop(
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
    let started = Instant::now();
    let synced = seg.file.sync_data();
    let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    shared.counters.sync_nanos.record(nanos);
    if let Err(e) = synced {
        poison(shared, format!("fdatasync {}: {e}", seg.path.display()));
        return Err(StorageError::io("fdatasync", &seg.path)(e));
    }
    shared.counters.syncs.fetch_add(1, Ordering::Relaxed);
    st.dirty = false;
    st.last_sync = Instant::now();
    Ok(())
}

pub(super) fn poison(shared: &Shared, msg: String) {
    tracing::error!(error = %msg, "write-ahead log poisoned; appends fail until the store is reopened");
    *shared.poisoned.lock() = Some(msg);
}

/// Requests that go into one batch of the active segment, with the ids they add.
#[derive(Default)]
struct Run {
    requests: Vec<(Request, Vec<Appended>)>,
    ids: HashMap<Box<str>, Known>,
}

fn commit_group(
    shared: &Shared,
    st: &mut WriterState,
    group: Vec<Request>,
    seal_tx: &Sender<Arc<WalSegment>>,
) {
    shared.counters.groups.fetch_add(1, Ordering::Relaxed);
    let events: usize = group.iter().map(|r| r.records.len()).sum();
    shared.counters.group_events.record(events as u64);
    let snapshot = shared.snapshot();
    // Ids of events below this seq are found through the snapshot's sealed id tables; the
    // writer's own map must keep every id above it for as long as this group runs.
    let snapshot_sealed_end = snapshot.sealed().last().map_or(0, |s| s.end());
    let mut next_seq = shared.committed.load(Ordering::Acquire);
    let mut run = Run::default();
    let mut builder = BatchBuilder::new(std::mem::take(&mut st.buf));
    for req in group {
        // A failed fdatasync earlier in this group stops everything after it.
        if let Some(p) = shared.poisoned.lock().clone() {
            let _ = req.reply.send(Err(StorageError::Poisoned(p)));
            continue;
        }
        let known = KnownIds {
            writer: &st.ids,
            run: &run.ids,
            snap: &snapshot,
            digest: &shared.digest,
        };
        let outcome = match resolve_duplicates(&known, &req, next_seq) {
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
            if a.duplicate {
                // A duplicate answers with a seq already given out; one at or past the end
                // would acknowledge an event that is not stored.
                assert!(
                    a.seq < next_seq,
                    "duplicate answered with seq {} at or past the trail's end {next_seq}",
                    a.seq
                );
            } else {
                // The batch header holds only its first seq and a count: every seq of a batch
                // must follow the one before, or readers would find events under other seqs.
                assert_eq!(
                    a.seq, next_seq,
                    "seqs of a group must be dense and increasing"
                );
                next_seq += 1;
                builder.push(frame, m.created_at);
                if let Some(id) = &m.id {
                    let digest = Some(m.digest);
                    run.ids.insert(id.clone(), Known { seq: a.seq, digest });
                }
            }
        }
        run.requests.push((req, outcome));
    }
    (builder, _) = flush_run(shared, st, builder, &mut run, next_seq);
    st.buf = builder.into_buf();
}

/// Where the writer looks up an id sent again, newest first.
struct KnownIds<'a> {
    /// Ids the writer holds: unsealed ones.
    writer: &'a HashMap<Box<str>, Known>,
    /// Ids of earlier requests of the batch being built.
    run: &'a HashMap<Box<str>, Known>,
    /// Sealed ids, through their segments' id tables.
    snap: &'a Snapshot,
    digest: &'a ContentDigest,
}

impl KnownIds<'_> {
    /// The seq and content digest of the stored event with this id, if any. Reads a stored
    /// event only for a sealed or recovered id: the rare path of an id sent again.
    fn find(&self, id: &str) -> Result<Option<(u64, u64)>> {
        if let Some(k) = self.run.get(id).or_else(|| self.writer.get(id)) {
            let digest = match k.digest {
                Some(d) => d,
                None => self.digest.of_event(&self.snap.get(k.seq)?),
            };
            return Ok(Some((k.seq, digest)));
        }
        let sealed = self.snap.sealed_id(id)?;
        Ok(sealed.map(|(seq, e)| (seq, self.digest.of_event(&e))))
    }
}

/// Assigns seqs to a request's events, answering ids sent again with the same content with
/// their stored seq; an id sent again with other content refuses the whole request.
fn resolve_duplicates(
    known: &KnownIds<'_>,
    req: &Request,
    mut next_seq: u64,
) -> Result<Vec<Appended>> {
    let mut in_request = InRequest::new();
    let mut out = Vec::with_capacity(req.records.len());
    for (index, m) in req.records.iter().enumerate() {
        let seq = match m.id.as_deref() {
            Some(id) => seq_of_id(known, &in_request, index, id, m.digest)?,
            None => None,
        };
        out.push(match seq {
            Some(seq) => Appended {
                seq,
                duplicate: true,
            },
            None => {
                if let Some(id) = m.id.as_deref() {
                    in_request.insert(id, (index, next_seq, m.digest));
                }
                next_seq += 1;
                Appended {
                    seq: next_seq - 1,
                    duplicate: false,
                }
            }
        });
    }
    Ok(out)
}

/// The first event of a request with each id: its position, seq and digest.
type InRequest<'a> = HashMap<&'a str, (usize, u64, u64)>;

/// The seq the event at `index` (with this id and content digest) already has, earlier in
/// its request or stored; None when the id is new. The same id with other content is an error.
fn seq_of_id(
    known: &KnownIds<'_>,
    in_request: &InRequest<'_>,
    index: usize,
    id: &str,
    digest: u64,
) -> Result<Option<u64>> {
    if let Some(&(first, seq, d)) = in_request.get(id) {
        if d != digest {
            let id = id.into();
            return Err(StorageError::IdRepeated { index, first, id });
        }
        return Ok(Some(seq));
    }
    match known.find(id)? {
        Some((seq, d)) if d != digest => Err(StorageError::IdConflict {
            index,
            id: id.into(),
            seq,
        }),
        found => Ok(found.map(|(seq, _)| seq)),
    }
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
        let first_seq = next_seq - u64::from(count);
        // Recovery reads a batch's seqs as following the segment's last one: a batch that
        // starts anywhere else would renumber events or leave a gap.
        assert_eq!(
            first_seq,
            shared.committed.load(Ordering::Acquire),
            "a batch must start at the trail's end"
        );
        write_batch(shared, st, &seg, &mut builder, first_seq)
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
    // Checked on the bytes about to be written, with recovery's own rules: a batch that broke
    // them would be refused as damage at the next open.
    let (min_time, max_time) = frame_records(frame, st.pos, &mut st.offsets);
    assert_eq!(
        st.offsets.len() as u64,
        u64::from(wal::le_u32(frame, 12)),
        "a batch's record count must be the number of records it holds"
    );
    assert_eq!(
        (min_time, max_time),
        (wal::le_u64(frame, 24) as i64, wal::le_u64(frame, 32) as i64),
        "a batch's time range must be the range of its records' times"
    );
    // Readers see the file up to the published end; the next batch must start exactly there
    // (a gap or an overlap would make the published offsets point at the wrong bytes).
    assert_eq!(
        seg.state.read().bytes,
        st.pos,
        "the write position must be the published end of the active segment"
    );
    // The same on the file itself costs an fstat per batch: checked in debug builds only.
    if cfg!(debug_assertions) {
        if let Ok(len) = seg.file.len() {
            assert_eq!(
                len,
                st.pos,
                "the write position must be the length of {}",
                seg.path.display()
            );
        }
    }
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
    let c = &shared.counters;
    c.events
        .fetch_add(st.offsets.len() as u64, Ordering::Relaxed);
    c.bytes.fetch_add(frame.len() as u64, Ordering::Relaxed);
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

/// The file offsets of a finished batch's records (the batch going at file offset `pos`) into
/// `offsets`, and the smallest and largest event time of its records, read from their bytes.
fn frame_records(frame: &[u8], pos: u64, offsets: &mut Vec<u64>) -> (i64, i64) {
    offsets.clear();
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    let mut at = BATCH_HEADER_BYTES;
    while at < frame.len() {
        let rlen = wal::le_u32(frame, at) as usize;
        let created = wal::le_u64(frame, at + RECORD_FRAME_BYTES + 8) as i64;
        lo = lo.min(created);
        hi = hi.max(created);
        offsets.push(pos + at as u64);
        at += RECORD_FRAME_BYTES + rlen;
    }
    (lo, hi)
}

/// Makes a written batch visible to readers and moves the trail's end to `next_seq`.
fn publish_batch(
    shared: &Shared,
    st: &mut WriterState,
    seg: &WalSegment,
    builder: &BatchBuilder,
    next_seq: u64,
) {
    let frame = builder.bytes();
    let (lo, hi) = (wal::le_u64(frame, 24) as i64, wal::le_u64(frame, 32) as i64);
    let mut ws = seg.state.write();
    let was_empty = ws.record_offsets.is_empty();
    ws.record_offsets.extend_from_slice(&st.offsets);
    // A reader finds seq s at record_offsets[s - base]: the count of offsets is the trail's end.
    assert_eq!(
        seg.base + ws.record_offsets.len() as u64,
        next_seq,
        "the active segment's records must end at the trail's end"
    );
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
    st.ids.retain(|_, k| k.seq >= sealed_end);
    // Blocks while the sealer is SEAL_QUEUE_MAX segments behind: appends wait rather than
    // letting unsealed segments pile up without bound.
    let _ = seal_tx.send(old);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use annal_model::{encode_record, Timestamp};

    fn framed(created_at: i64) -> Vec<u8> {
        let mut rec = Vec::new();
        encode_record(&Event::new(Timestamp(created_at), Timestamp(0)), &mut rec);
        let mut out = Vec::new();
        frame_record(&rec, &mut out);
        out
    }

    #[test]
    fn frame_records_finds_every_record_and_the_time_range_of_an_unordered_batch() {
        let mut builder = BatchBuilder::new(Vec::new());
        // Events of a batch are in seq order, not time order.
        let records: Vec<Vec<u8>> = [50, -7, 900, 3].into_iter().map(framed).collect();
        for (r, t) in records.iter().zip([50, -7, 900, 3]) {
            builder.push(r, t);
        }
        let frame = builder.finish(10).to_vec();
        let mut offsets = vec![99];
        let range = frame_records(&frame, 1000, &mut offsets);
        assert_eq!(range, (-7, 900));
        let mut expect = 1000 + BATCH_HEADER_BYTES as u64;
        for (off, r) in offsets.iter().zip(&records) {
            assert_eq!(*off, expect);
            expect += r.len() as u64;
        }
        assert_eq!(offsets.len(), 4, "the old contents are cleared");
        assert_eq!(expect, 1000 + frame.len() as u64);
        assert_eq!(
            range,
            (
                wal::le_u64(&frame, 24) as i64,
                wal::le_u64(&frame, 32) as i64
            ),
            "the header holds the same range"
        );
    }

    #[test]
    fn a_request_over_the_event_limit_is_refused_before_encoding() {
        let events = vec![Event::new(Timestamp(0), Timestamp(0)); APPEND_EVENTS_MAX + 1];
        let digest = ContentDigest::new();
        assert!(matches!(
            Request::encode(&events, &digest),
            Err(StorageError::Limit(_))
        ));
        let (req, _rx) = Request::encode(&events[..3], &digest).unwrap();
        assert_eq!(req.records.len(), 3);
        let lens: usize = req.records.iter().map(|m| m.len as usize).sum();
        assert_eq!(
            lens,
            req.framed.len(),
            "record lengths cover the framed bytes"
        );
    }
}
