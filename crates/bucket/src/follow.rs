//! A read replica's follower: keeps a local data directory's store equal to a prefix of the
//! bucket's trail by appending, in seq order, the events the newest manifest holds and the
//! store lacks.
//!
//! Why re-appending is enough: the primary's trail holds each id once, in seq order, and an
//! event's canonical record bytes round-trip through decode and encode, so appending the same
//! events in the same order to a store that holds the same first events gives them the same
//! seqs and the same Merkle leaves. The follower checks that instead of trusting it: every
//! append must answer exactly the expected seqs and no duplicate, and the replica's root must
//! equal the manifest's at the end of every sealed segment it holds.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use annal_integrity::{StoreTree, Subtrees, Tiles, CHECKPOINT_LOG_FILE, DATA_PUBLIC_KEY_FILE};
use annal_model::{decode_record, encode_record, Event};
use annal_storage::{wal, OsFs, SealedSegment, Store};

use crate::error::{local, BucketError, Result};
use crate::manifest::{self, Manifest, ObjectRef, SealedEntry, TailEntry};
use crate::remote::{hex, Remote};

/// Events appended to the replica's store in one call at most. Below the store's own limit
/// so that one append stays a modest group commit.
pub const FOLLOW_APPEND_EVENTS_MAX: usize = 10_000;
/// Record bytes appended in one call at most (the store refuses batches over 64 MiB).
pub const FOLLOW_APPEND_BYTES_MAX: usize = 16 << 20;
/// Bytes of a write-ahead log held between polls at most: the downloaded bytes past the last
/// whole batch. Past it the cache is dropped and the log is downloaded again at the next poll.
pub const TAIL_CACHE_BYTES_MAX: usize = 128 << 20;
/// A sealed segment being downloaded, in the replica's data directory (the store ignores
/// names it does not know).
pub const DOWNLOAD_FILE: &str = "follow.download.tmp";

const _: () = assert!(FOLLOW_APPEND_EVENTS_MAX <= annal_storage::APPEND_EVENTS_MAX);

/// What one [`Follower::follow`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Followed {
    /// The manifest generation followed (0: the prefix holds no manifest yet).
    pub generation: u64,
    /// Acknowledged events the bucket holds.
    pub events: u64,
    /// Events appended to the replica's store.
    pub appended: u64,
    /// Events the replica's store holds after the round.
    pub local: u64,
    /// Objects downloaded (and checked), manifests aside.
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
}

impl Followed {
    /// True when the replica holds every event the bucket did.
    pub fn complete(&self) -> bool {
        self.local >= self.events
    }
}

/// The downloaded, not yet appended end of the write-ahead log being followed.
struct TailCursor {
    /// The log's base seq.
    base: u64,
    /// File offset up to which parts are downloaded: where the next part starts.
    fetched: u64,
    /// Seq of the first record in `buf`.
    next_seq: u64,
    /// A log header made for `next_seq`, then the log's bytes from the first batch not yet
    /// appended up to `fetched`: [`wal::scan`] reads it as a log that starts there.
    buf: Vec<u8>,
}

impl TailCursor {
    fn new(base: u64) -> TailCursor {
        TailCursor {
            base,
            fetched: 0,
            next_seq: base,
            buf: Vec::new(),
        }
    }
}

/// Events waiting to be appended, flushed when one append would grow past its limits.
struct Batch {
    events: Vec<Event>,
    bytes: usize,
    /// Seq the first event must get.
    first: u64,
}

/// Follows one bucket prefix into one store.
pub struct Follower {
    remote: Remote,
    tail: Option<TailCursor>,
    /// The replica's tile roots, for its Merkle root at a sealed end.
    tiles: Option<Tiles>,
    /// The store was checked against the bucket (once per follower, before its first append).
    agreed: bool,
    /// The side files as last written: checkpoint log, public key.
    checkpoints: Option<ObjectRef>,
    public_key: Option<ObjectRef>,
    /// Downloads of the round in progress: objects and bytes.
    downloaded: (u64, u64),
}

impl Follower {
    /// A follower of `remote`.
    pub fn new(remote: Remote) -> Follower {
        Follower {
            remote,
            tail: None,
            tiles: None,
            agreed: false,
            checkpoints: None,
            public_key: None,
            downloaded: (0, 0),
        }
    }

    /// The object `want` names, checked, counted in the round's downloads.
    async fn get(&mut self, want: &ObjectRef) -> Result<bytes::Bytes> {
        let bytes = self.remote.get_checked(want).await?;
        self.downloaded.0 += 1;
        self.downloaded.1 += bytes.len() as u64;
        Ok(bytes)
    }

    /// The bucket.
    pub fn remote(&self) -> &Remote {
        &self.remote
    }

    /// Checks, without appending, that `store` holds a prefix of the bucket's trail (what
    /// [`Self::follow`] checks before its first append): another trail is
    /// [`BucketError::OtherTrail`]. A prefix without a manifest agrees with any store.
    pub async fn check(&mut self, store: &Store) -> Result<()> {
        if let Some(m) = manifest::newest(&self.remote).await? {
            self.check_agrees(store, &m).await?;
            self.agreed = true;
        }
        Ok(())
    }

    /// Reads the newest manifest and appends to `store` the events it holds past the store's
    /// end; writes the bucket's checkpoint log and public key into the store's directory when
    /// they changed. A store that holds another trail than the bucket's is refused
    /// ([`BucketError::OtherTrail`]); an append that does not reproduce the primary's seqs
    /// fails with [`BucketError::Diverged`].
    pub async fn follow(&mut self, store: &Store) -> Result<Followed> {
        self.follow_for(store, Duration::MAX).await
    }

    /// [`Self::follow`], but starts no new segment or log once `budget` is spent (after the
    /// first): a replica catching up from many segments returns between them, so that it
    /// can be stopped. [`Followed::complete`] says whether it caught up.
    pub async fn follow_for(&mut self, store: &Store, budget: Duration) -> Result<Followed> {
        let started = Instant::now();
        self.downloaded = (0, 0);
        let Some(m) = manifest::newest(&self.remote).await? else {
            return Ok(Followed {
                local: store.len(),
                ..Followed::default()
            });
        };
        let start = store.len();
        if m.start > start {
            return Err(self.manifest_error(
                &m,
                format!(
                    "starts at seq {}: the primary pruned events this replica has not followed yet (it holds {start}); remove the replica's data directory and start it again, it then starts where the primary's trail does",
                    m.start
                ),
            ));
        }
        if !self.agreed {
            self.check_agrees(store, &m).await?;
            self.agreed = true;
        }
        while store.len() < m.events {
            if store.len() > start && started.elapsed() >= budget {
                break;
            }
            let at = store.len();
            if let Some(s) = m.sealed.iter().find(|s| s.base <= at && at < s.end) {
                self.append_sealed(store, s).await?;
                self.check_root(store, s)?;
            } else if let Some(t) = m
                .tail
                .iter()
                .find(|t| t.base <= at && at < t.base + t.events)
            {
                self.append_tail(store, t).await?;
            } else {
                return Err(self.manifest_error(&m, format!("holds no events at seq {at}")));
            }
            if store.len() == at {
                return Err(self.manifest_error(
                    &m,
                    format!("says it holds seq {at}, but its objects give none there"),
                ));
            }
        }
        self.write_side_files(store.dir(), &m).await?;
        Ok(Followed {
            generation: m.generation,
            events: m.events,
            appended: store.len() - start,
            local: store.len(),
            objects: self.downloaded.0,
            bytes: self.downloaded.1,
        })
    }

    /// Prepares an empty replica directory `dir` for a pruned primary: writes the trail's start
    /// and the lifecycle log the newest manifest names, so the store opened there starts where
    /// the primary's trail does. Does nothing when `dir` holds a store or the trail was never
    /// pruned.
    pub async fn prepare(&mut self, dir: &Path) -> Result<()> {
        let has_store = std::fs::read_dir(dir)
            .map_err(local("list", dir))?
            .flatten()
            .any(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.ends_with(".seg") || name.ends_with(".wal")
            });
        if has_store {
            return Ok(());
        }
        let Some(m) = manifest::newest(&self.remote).await? else {
            return Ok(());
        };
        for (obj, name) in [
            (&m.trail_start, annal_storage::TRAIL_START_FILE),
            (&m.lifecycle, annal_integrity::LIFECYCLE_LOG_FILE),
        ] {
            if let Some(obj) = obj {
                let bytes = self.get(obj).await?;
                let path = dir.join(name);
                std::fs::write(&path, &bytes).map_err(local("write", &path))?;
            }
        }
        Ok(())
    }

    fn manifest_error(&self, m: &Manifest, detail: String) -> BucketError {
        BucketError::Manifest {
            key: format!(
                "{}/{}",
                self.remote.url(),
                crate::layout::manifest_key(m.generation)
            ),
            detail,
        }
    }

    fn other_trail(&self, store: &Store, detail: String) -> BucketError {
        BucketError::OtherTrail {
            prefix: self.remote.url().to_string(),
            dir: store.dir().to_path_buf(),
            detail,
        }
    }

    /// Refuses a store that is not a prefix of the bucket's trail: more events than the
    /// bucket, another Merkle root at the end of the last sealed segment it holds whole, or
    /// other events than those of the segment or log that holds its last event (compared
    /// one by one). Unsealed logs wholly between those two are not compared: the bucket holds
    /// several only while the primary's sealer is behind.
    async fn check_agrees(&mut self, store: &Store, m: &Manifest) -> Result<()> {
        let have = store.len();
        if have > m.events {
            return Err(self.other_trail(
                store,
                format!(
                    "this directory holds {have} events, the bucket {}: it is not a replica of this prefix",
                    m.events
                ),
            ));
        }
        if let Some(s) = m.sealed.iter().rev().find(|s| s.end <= have) {
            self.check_root(store, s)?;
        }
        let Some(last) = have.checked_sub(1) else {
            return Ok(());
        };
        if let Some(s) = m.sealed.iter().find(|s| s.base <= last && last < s.end) {
            if s.end > have {
                self.compare_sealed(store, s).await?;
            }
        } else if let Some(t) = m
            .tail
            .iter()
            .find(|t| t.base <= last && last < t.base + t.events)
        {
            self.compare_tail(store, t).await?;
        }
        Ok(())
    }

    /// The replica's Merkle root at `s.end` must be the manifest's.
    fn check_root(&mut self, store: &Store, s: &SealedEntry) -> Result<()> {
        let snap = store.snapshot();
        let tiles = match &mut self.tiles {
            Some(t) => t,
            None => self.tiles.insert(Tiles::open(store.dir())?),
        };
        tiles.catch_up(&snap)?;
        let root = StoreTree::new(&snap, &tiles.hashes()).subtree(0, s.end)?;
        if hex(&root) != s.root {
            return Err(self.other_trail(
                store,
                format!(
                    "at {} events the bucket's root is {}, this directory's {}",
                    s.end,
                    s.root,
                    hex(&root)
                ),
            ));
        }
        Ok(())
    }

    /// Compares the store's events in `s.base..store.len()` with the segment's.
    async fn compare_sealed(&mut self, store: &Store, s: &SealedEntry) -> Result<()> {
        let seg = self.download_segment(store.dir(), s).await?;
        let have = store.len();
        let snap = store.snapshot();
        for i in 0..seg.blocks().len() {
            let first = seg.blocks()[i].first_seq;
            if first >= have {
                break;
            }
            let theirs: Vec<(u64, Event)> = seg
                .read_block(i)?
                .into_iter()
                .zip(first..have)
                .map(|(e, seq)| (seq, e))
                .collect();
            self.compare(store, &snap, &theirs)?;
        }
        drop(seg);
        remove_download(store.dir())
    }

    /// Compares the store's events in `t.base..store.len()` with the log's.
    async fn compare_tail(&mut self, store: &Store, t: &TailEntry) -> Result<()> {
        let have = store.len();
        let snap = store.snapshot();
        let mut cursor = TailCursor::new(t.base);
        for p in &t.parts {
            if cursor.next_seq >= have {
                break;
            }
            let bytes = self.get(&p.object).await?;
            cursor.push(&bytes, p.offset);
            let theirs: Vec<(u64, Event)> = cursor
                .take_records(&self.remote, t)?
                .into_iter()
                .filter(|(seq, _, _)| *seq < have)
                .map(|(seq, e, _)| (seq, e))
                .collect();
            self.compare(store, &snap, &theirs)?;
        }
        Ok(())
    }

    /// Compares `theirs` (consecutive seqs, each in the store) with the store's events, by
    /// their record bytes; read with one scan, as a sealed block is decoded once.
    fn compare(
        &self,
        store: &Store,
        snap: &annal_storage::Snapshot,
        theirs: &[(u64, Event)],
    ) -> Result<()> {
        let Some(&(from, _)) = theirs.first() else {
            return Ok(());
        };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let mut differs = None;
        let mut i = 0;
        snap.scan(from, from + theirs.len() as u64, |seq, ours| {
            let Some((_, e)) = theirs.get(i) else {
                return false;
            };
            a.clear();
            b.clear();
            encode_record(&ours, &mut a);
            encode_record(e, &mut b);
            i += 1;
            if a != b {
                differs = Some(seq);
            }
            differs.is_none()
        })?;
        match differs {
            Some(seq) => Err(self.other_trail(
                store,
                format!("the event at seq {seq} differs from the bucket's"),
            )),
            None => Ok(()),
        }
    }

    /// Downloads `s`'s segment (checked) into the directory and opens it.
    async fn download_segment(&mut self, dir: &Path, s: &SealedEntry) -> Result<SealedSegment> {
        let bytes = self.get(&s.segment).await?;
        let path = dir.join(DOWNLOAD_FILE);
        let mut f = std::fs::File::create(&path).map_err(local("create", &path))?;
        f.write_all(&bytes).map_err(local("write", &path))?;
        drop(f);
        let seg = SealedSegment::open(&OsFs, &path)?;
        if seg.base() != s.base || seg.end() != s.end || hex(&seg.root()) != s.root {
            return Err(BucketError::Object {
                key: format!("{}/{}", self.remote.url(), s.segment.key),
                detail: format!(
                    "holds seqs {}..{} with root {}, the manifest says {}..{} with root {}",
                    seg.base(),
                    seg.end(),
                    hex(&seg.root()),
                    s.base,
                    s.end,
                    s.root
                ),
            });
        }
        Ok(seg)
    }

    /// Appends the events of sealed segment `s` from the store's end on.
    async fn append_sealed(&mut self, store: &Store, s: &SealedEntry) -> Result<()> {
        // Events from a sealed segment supersede a cursor into its (former) log.
        self.tail = None;
        let seg = self.download_segment(store.dir(), s).await?;
        let from = store.len();
        let mut batch = Batch::new(from);
        let mut rec = Vec::new();
        let first_block = seg.block_of(from).unwrap_or(seg.blocks().len());
        for i in first_block..seg.blocks().len() {
            let first = seg.blocks()[i].first_seq;
            for (j, e) in seg.read_block(i)?.into_iter().enumerate() {
                if first + j as u64 >= from {
                    rec.clear();
                    encode_record(&e, &mut rec);
                    batch.push(store, e, rec.len())?;
                }
            }
        }
        batch.flush(store)?;
        drop(seg);
        remove_download(store.dir())
    }

    /// Appends the events of log `t` from the store's end on, downloading only the parts
    /// past what the cursor holds.
    async fn append_tail(&mut self, store: &Store, t: &TailEntry) -> Result<()> {
        let from = store.len();
        let mut cursor = match self.tail.take() {
            Some(c) if c.base == t.base && c.next_seq == from => c,
            // Another log, or the store moved on without the cursor: start the log again.
            _ => TailCursor::new(t.base),
        };
        let mut batch = Batch::new(from);
        for p in &t.parts {
            let end = p.offset + p.object.bytes;
            if end <= cursor.fetched {
                continue;
            }
            if p.offset != cursor.fetched {
                // Parts are immutable and contiguous (the manifest is checked), so this is a
                // cursor of another shipment of the log: start it again.
                return Err(BucketError::Object {
                    key: format!("{}/{}", self.remote.url(), p.object.key),
                    detail: format!(
                        "starts at offset {}, the bytes followed so far end at {}",
                        p.offset, cursor.fetched
                    ),
                });
            }
            let bytes = self.get(&p.object).await?;
            cursor.push(&bytes, p.offset);
            for (seq, e, len) in cursor.take_records(&self.remote, t)? {
                if seq >= batch.next() {
                    batch.push(store, e, len)?;
                }
            }
        }
        batch.flush(store)?;
        if cursor.buf.len() <= TAIL_CACHE_BYTES_MAX && cursor.next_seq == store.len() {
            self.tail = Some(cursor);
        }
        Ok(())
    }

    /// Writes the checkpoint log and the public key into `dir` when the manifest names other
    /// bytes than those written last (checked, through a temporary file and a rename, so a
    /// reader sees the old file or the new one).
    async fn write_side_files(&mut self, dir: &Path, m: &Manifest) -> Result<()> {
        let mut checkpoints = self.checkpoints.take();
        let done = self
            .write_side(dir, CHECKPOINT_LOG_FILE, &m.checkpoints, &mut checkpoints)
            .await;
        self.checkpoints = checkpoints;
        done?;
        let mut public_key = self.public_key.take();
        let done = self
            .write_side(dir, DATA_PUBLIC_KEY_FILE, &m.public_key, &mut public_key)
            .await;
        self.public_key = public_key;
        done
    }

    async fn write_side(
        &mut self,
        dir: &Path,
        name: &str,
        want: &Option<ObjectRef>,
        written: &mut Option<ObjectRef>,
    ) -> Result<()> {
        let Some(want) = want else {
            return Ok(());
        };
        let path = dir.join(name);
        if written.is_none() {
            // First poll: the file may hold these bytes already (written before a restart).
            if let Ok(bytes) = std::fs::read(&path) {
                let had = ObjectRef::of(&want.key, &bytes);
                if had.bytes == want.bytes && had.sha256 == want.sha256 {
                    *written = Some(want.clone());
                }
            }
        }
        if written.as_ref() == Some(want) {
            return Ok(());
        }
        let bytes = self.get(want).await?;
        let tmp: PathBuf = dir.join(format!("{name}.follow.tmp"));
        let mut f = std::fs::File::create(&tmp).map_err(local("create", &tmp))?;
        f.write_all(&bytes).map_err(local("write", &tmp))?;
        f.sync_all().map_err(local("fsync", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(local("rename", &path))?;
        *written = Some(want.clone());
        Ok(())
    }
}

fn remove_download(dir: &Path) -> Result<()> {
    let path = dir.join(DOWNLOAD_FILE);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(local("remove", &path)(e)),
    }
}

impl TailCursor {
    /// Adds the log's bytes at file offset `offset` (where the fetched bytes end).
    fn push(&mut self, bytes: &[u8], offset: u64) {
        debug_assert_eq!(offset, self.fetched);
        if self.buf.is_empty() {
            if offset == 0 {
                // The log's own header starts the bytes.
                self.buf.extend_from_slice(bytes);
                self.fetched = bytes.len() as u64;
                return;
            }
            self.buf
                .extend_from_slice(&wal::encode_header(self.next_seq));
        }
        self.buf.extend_from_slice(bytes);
        self.fetched = offset + bytes.len() as u64;
    }

    /// Decodes the whole batches held, in seq order (each event with its seq and record
    /// length), and keeps only the bytes after them.
    fn take_records(&mut self, remote: &Remote, t: &TailEntry) -> Result<Vec<(u64, Event, usize)>> {
        let damaged = |detail: String| BucketError::Object {
            key: format!("{}/wal/{:020}", remote.url(), t.base),
            detail,
        };
        if self.buf.len() < wal::WAL_HEADER_BYTES {
            return Ok(Vec::new());
        }
        let scan = wal::scan(&self.buf)
            .map_err(|d| damaged(format!("damaged at offset {}: {}", d.offset, d.msg)))?;
        if scan.base_seq != self.next_seq {
            return Err(damaged(format!(
                "the log starts at seq {}, its manifest entry at {}",
                scan.base_seq, self.next_seq
            )));
        }
        let mut out = Vec::with_capacity(scan.record_offsets.len());
        for (i, &off) in scan.record_offsets.iter().enumerate() {
            let seq = self.next_seq + i as u64;
            let record = wal::read_framed_record(&self.buf, off as usize)
                .map_err(|m| damaged(format!("record of seq {seq}: {m}")))?;
            let e = decode_record(record)
                .map_err(|m| damaged(format!("record of seq {seq} does not decode: {m}")))?;
            out.push((seq, e, record.len()));
        }
        self.next_seq += out.len() as u64;
        let rest = self.buf.split_off(scan.valid_end as usize);
        self.buf = wal::encode_header(self.next_seq).to_vec();
        self.buf.extend_from_slice(&rest);
        Ok(out)
    }
}

impl Batch {
    fn new(first: u64) -> Batch {
        Batch {
            events: Vec::new(),
            bytes: 0,
            first,
        }
    }

    /// Seq the next event pushed gets.
    fn next(&self) -> u64 {
        self.first + self.events.len() as u64
    }

    fn push(&mut self, store: &Store, e: Event, bytes: usize) -> Result<()> {
        if !self.events.is_empty()
            && (self.events.len() >= FOLLOW_APPEND_EVENTS_MAX
                || self.bytes + bytes > FOLLOW_APPEND_BYTES_MAX)
        {
            self.flush(store)?;
        }
        self.events.push(e);
        self.bytes += bytes;
        Ok(())
    }

    /// Appends the events and checks that each got the primary's seq.
    fn flush(&mut self, store: &Store) -> Result<()> {
        if self.events.is_empty() {
            return Ok(());
        }
        let diverged = |seq: u64, detail: String| BucketError::Diverged {
            dir: store.dir().to_path_buf(),
            seq,
            detail,
        };
        if store.len() != self.first {
            return Err(diverged(
                self.first,
                format!(
                    "the store holds {} events: something else appends to it",
                    store.len()
                ),
            ));
        }
        let done = store.append(&self.events)?;
        for (i, a) in done.iter().enumerate() {
            let want = self.first + i as u64;
            if a.duplicate || a.seq != want {
                return Err(diverged(
                    want,
                    format!(
                        "appending the primary's event of seq {want} gave seq {}{}",
                        a.seq,
                        if a.duplicate { " (a duplicate)" } else { "" }
                    ),
                ));
            }
        }
        self.first += done.len() as u64;
        self.events.clear();
        self.bytes = 0;
        Ok(())
    }
}
