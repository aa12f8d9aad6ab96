//! One uploader round: ship the acknowledged tail, upload what was sealed, commit a manifest.

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use annal_integrity::{
    lifecycle_whole_bytes, parse_log, Tiles, CHECKPOINT_LOG_FILE, DATA_PUBLIC_KEY_FILE,
    LIFECYCLE_LOG_FILE, TILES_FILE,
};
use annal_storage::{SealedRef, Snapshot, WalTail};
use bytes::Bytes;

use crate::error::{local, BucketError, Result};
use crate::layout::{
    checkpoints_key, index_key, lifecycle_key, manifest_key, part_key, public_key_key, segment_key,
    tiles_key, trail_start_key, WRITER_FILE,
};
use crate::manifest::{self, Manifest, ObjectRef, SealedEntry, TailEntry, TailPart};
use crate::remote::{hex, sha256_hex, Remote, UPLOAD_CHUNK_BYTES};
use crate::static_log::{StaticLog, CHECKPOINT_KEY};

/// Manifest generations kept in the bucket. An object the newest manifest no longer names is
/// deleted only once every kept manifest has stopped naming it, so a reader (a replica, a
/// restore) that read a manifest less than this many generations ago finds all it names.
pub const MANIFESTS_KEPT: u64 = 64;
/// Objects waiting for deletion, at most (older ones are left for the sweep at next start).
const RETIRED_MAX: usize = 1 << 16;

/// How [`Shipper::claim`] treats a prefix another writer holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Claim {
    /// Refuse it (the default): two writers must never sync to one prefix.
    #[default]
    Refuse,
    /// Take it over, fencing the old writer: for a data directory restored from the bucket
    /// after the machine that wrote it was lost.
    TakeOver,
}

/// What one round did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Shipped {
    /// The newest manifest generation after the round.
    pub generation: u64,
    /// Acknowledged events the bucket holds.
    pub events: u64,
    /// Objects uploaded and checked.
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Local bytes not yet in the bucket after the round (unshipped tail, unuploaded sealed
    /// and index files).
    pub queued_bytes: u64,
    /// Base of the oldest sealed segment not yet uploaded.
    pub oldest_unuploaded_seal: Option<u64>,
    /// True while the static tlog-tiles log lags the newest checkpoint (its tiles are
    /// uploaded over several rounds).
    pub static_log_pending: bool,
}

impl Shipped {
    /// True when the bucket holds everything the snapshot did.
    pub fn complete(&self) -> bool {
        self.queued_bytes == 0 && !self.static_log_pending
    }
}

/// The uploader of one data directory to one prefix, after it claimed the prefix.
pub struct Shipper {
    remote: Remote,
    dir: PathBuf,
    writer: String,
    /// The newest manifest in the bucket (generation 0: none yet).
    last: Manifest,
    /// Keys the newest manifest stopped naming, with the generation that stopped.
    retired: VecDeque<(u64, String)>,
    /// Every log shipped and not yet replaced by its uploaded sealed segment, in seq order.
    /// A manifest lists only those that continue its sealed segments without a gap; the others
    /// wait for the seal before them to be uploaded.
    tails: Vec<TailEntry>,
    /// The bucket as a tlog-tiles log.
    static_log: StaticLog,
    /// The tree's tile roots and kept hashes, for the static log's tiles (opened at first use
    /// and again after a prune).
    tiles: Option<Tiles>,
}

/// This data directory's writer id, made on first use when `make` says so.
pub fn writer_id(dir: &Path, make: bool) -> Result<Option<String>> {
    let path = dir.join(WRITER_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let id = text.trim();
            if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(BucketError::Config(format!(
                    "{} does not hold a writer id (32 hex digits)",
                    path.display()
                )));
            }
            Ok(Some(id.to_string()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && make => {
            let id = hex(&rand::random::<[u8; 16]>());
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(local("create", &path))?;
            writeln!(f, "{id}").map_err(local("write", &path))?;
            f.sync_all().map_err(local("fsync", &path))?;
            Ok(Some(id))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(local("read", &path)(e)),
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Shipper {
    /// Claims `remote` for the trail in `dir` (whose state `snap` is): refuses a prefix
    /// written by another writer (unless `claim` takes it over) or holding a trail this one
    /// does not extend, then deletes objects no kept manifest names (left by a crash during
    /// an upload).
    pub async fn claim(
        remote: Remote,
        dir: &Path,
        snap: &Snapshot,
        claim: Claim,
    ) -> Result<Shipper> {
        let ours = writer_id(dir, true)?.unwrap_or_default();
        let newest = manifest::newest(&remote).await?;
        let mut shipper = Shipper {
            dir: dir.to_path_buf(),
            writer: ours.clone(),
            last: Manifest::empty(&ours),
            retired: VecDeque::new(),
            tails: Vec::new(),
            static_log: StaticLog::default(),
            tiles: None,
            remote,
        };
        let signed = match checkpoint_frames(dir)? {
            Some(bytes) => parse_log(&dir.join(CHECKPOINT_LOG_FILE), &bytes)?.notes,
            None => Vec::new(),
        };
        shipper.static_log = StaticLog::resume(&shipper.remote, &signed).await?;
        if let Some(m) = newest {
            if m.writer != ours && claim == Claim::Refuse {
                return Err(BucketError::Fenced {
                    prefix: shipper.remote.url().to_string(),
                    holder: m.writer,
                    ours,
                });
            }
            shipper.check_extends(&m, snap)?;
            let taken = m.writer != ours;
            shipper.tails = m.tail.clone();
            shipper.last = m;
            if taken {
                // Fence the old writer at once: its next commit finds this generation taken.
                let mut next = shipper.last.clone();
                next.writer = ours;
                shipper.commit(next).await?;
            }
        }
        shipper.sweep().await?;
        Ok(shipper)
    }

    /// The newest manifest (generation 0 until the first round commits).
    pub fn manifest(&self) -> &Manifest {
        &self.last
    }

    /// The bucket.
    pub fn remote(&self) -> &Remote {
        &self.remote
    }

    /// Refuses a manifest this data directory does not extend: fewer events here, another
    /// root at the sealed end, other bytes in a shipped log.
    fn check_extends(&self, m: &Manifest, snap: &Snapshot) -> Result<()> {
        let other = |detail: String| BucketError::OtherTrail {
            prefix: self.remote.url().to_string(),
            dir: self.dir.clone(),
            detail,
        };
        if snap.end() < m.events {
            return Err(other(format!(
                "the bucket holds {} acknowledged events, this directory {}: restore from the bucket instead",
                m.events,
                snap.end()
            )));
        }
        // A segment pruned here since is checked where the trail now starts, or not at all.
        if let Some(last) = m.sealed.last().filter(|l| l.end >= snap.start()) {
            let local = snap
                .sealed()
                .iter()
                .find(|s| s.end() == last.end)
                .map(|s| s.root())
                .or_else(|| {
                    (last.end == snap.start()).then(|| snap.trail_start().frontier().root())
                });
            match local {
                Some(root) if hex(&root) == last.root => {}
                Some(root) => {
                    return Err(other(format!(
                        "at {} events the bucket's root is {}, this directory's {}",
                        last.end,
                        last.root,
                        hex(&root)
                    )))
                }
                None => {
                    return Err(other(format!(
                        "the bucket has a sealed segment ending at {}, this directory none",
                        last.end
                    )))
                }
            }
        }
        let tails = snap.wal_tails();
        for t in &m.tail {
            let Some(local) = tails.iter().find(|l| l.base == t.base) else {
                continue; // sealed here since: the sealed root is checked when it is uploaded
            };
            for p in &t.parts {
                let ours = read_part(local, p.offset, p.object.bytes)?;
                if sha256_hex(&ours) != p.object.sha256 {
                    return Err(other(format!(
                        "bytes {}..{} of write-ahead log {} differ from {}",
                        p.offset,
                        p.offset + p.object.bytes,
                        t.base,
                        p.object.key
                    )));
                }
            }
        }
        Ok(())
    }

    /// Rounds of [`Self::ship`] until the bucket holds everything `snap` holds (`annal
    /// sync`): the last round's state, with the objects and bytes of every round.
    pub async fn ship_all(&mut self, snap: &Snapshot, budget: Duration) -> Result<Shipped> {
        let (mut objects, mut bytes) = (0, 0);
        loop {
            let done = self.ship(snap, budget).await?;
            objects += done.objects;
            bytes += done.bytes;
            if done.complete() {
                return Ok(Shipped {
                    objects,
                    bytes,
                    ..done
                });
            }
        }
    }

    /// One round: ships the snapshot's unshipped tail and commits it, then uploads sealed
    /// files (until `budget` is spent, at least one) and the checkpoint log, and commits again.
    pub async fn ship(&mut self, snap: &Snapshot, budget: Duration) -> Result<Shipped> {
        let started = Instant::now();
        let mut done = Shipped::default();
        let tails = snap.wal_tails();
        let mut next = self.last.clone();
        next.writer = self.writer.clone();
        next.version = manifest::MANIFEST_VERSION;
        if snap.start() > next.start {
            self.drop_pruned(snap, &mut next, &mut done).await?;
        }
        self.ship_tails(&tails, &mut done).await?;
        self.list_tails(&mut next);
        if !next.same_contents(&self.last) {
            self.commit(next.clone()).await?;
        }
        self.upload_sealed(snap.sealed(), &mut next, started, budget, &mut done)
            .await?;
        self.upload_side_files(snap, &mut next, &mut done).await?;
        self.list_tails(&mut next);
        if !next.same_contents(&self.last) {
            self.commit(next).await?;
        }
        self.publish_static_log(snap, &mut done).await?;
        done.generation = self.last.generation;
        done.events = self.last.events;
        self.count_queued(snap, &tails, &mut done);
        Ok(done)
    }

    /// Takes a local prune into `next`: uploads the new trail start and the lifecycle log
    /// (whose prune record holds the hashes the tree keeps), and drops the pruned segments
    /// and logs, which [`Self::committed`] then deletes at once.
    async fn drop_pruned(
        &mut self,
        snap: &Snapshot,
        next: &mut Manifest,
        done: &mut Shipped,
    ) -> Result<()> {
        let start = snap.start();
        let bytes = Bytes::from(snap.trail_start().encode());
        done.objects += 1;
        done.bytes += bytes.len() as u64;
        next.trail_start = Some(
            self.remote
                .put_checked(&trail_start_key(start), bytes)
                .await?,
        );
        self.upload_lifecycle(next, done).await?;
        next.sealed.retain(|e| e.base >= start);
        next.tail.retain(|t| t.base >= start);
        self.tails.retain(|t| t.base >= start);
        next.start = start;
        next.events = next.events.max(start);
        // Its kept hashes are read again from the new lifecycle log.
        self.tiles = None;
        Ok(())
    }

    /// Publishes the tiles and checkpoint of the newest checkpoint the snapshot holds.
    async fn publish_static_log(&mut self, snap: &Snapshot, done: &mut Shipped) -> Result<()> {
        let path = self.dir.join(CHECKPOINT_LOG_FILE);
        let Some(bytes) = checkpoint_frames(&self.dir)? else {
            return Ok(());
        };
        let notes = parse_log(&path, &bytes)?.notes;
        let Some(newest) = notes.iter().rev().find(|n| n.checkpoint.size <= snap.end()) else {
            return Ok(());
        };
        if newest.checkpoint.size <= self.static_log.published() {
            return Ok(());
        }
        let tiles = match &mut self.tiles {
            Some(t) => t,
            None => self.tiles.insert(Tiles::open(&self.dir)?),
        };
        tiles.catch_up(snap)?;
        let hashes = tiles.hashes();
        let (objects, bytes) = self
            .static_log
            .publish(
                &self.remote,
                snap,
                &hashes,
                &newest.note,
                newest.checkpoint.size,
            )
            .await?;
        done.objects += objects;
        done.bytes += bytes;
        done.static_log_pending = self.static_log.published() < newest.checkpoint.size;
        Ok(())
    }

    /// Uploads the lifecycle log's whole frames when they changed.
    async fn upload_lifecycle(&self, next: &mut Manifest, done: &mut Shipped) -> Result<()> {
        let path = self.dir.join(LIFECYCLE_LOG_FILE);
        let mut bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(local("read", &path)(e)),
        };
        bytes.truncate(lifecycle_whole_bytes(&path, &bytes)?);
        if next
            .lifecycle
            .as_ref()
            .is_some_and(|o| o.bytes == bytes.len() as u64)
        {
            return Ok(());
        }
        done.objects += 1;
        done.bytes += bytes.len() as u64;
        let key = lifecycle_key(bytes.len() as u64);
        next.lifecycle = Some(self.remote.put_checked(&key, Bytes::from(bytes)).await?);
        Ok(())
    }

    /// Ships every unshipped byte of `tails` (the store's unsealed logs). Logs sealed here
    /// since keep their entry, so the bucket holds their events until the sealed segment is
    /// uploaded.
    async fn ship_tails(&mut self, tails: &[WalTail], done: &mut Shipped) -> Result<()> {
        let first_unsealed = tails.first().map_or(u64::MAX, |t| t.base);
        self.tails
            .retain(|t| t.base < first_unsealed || tails.iter().any(|l| l.base == t.base));
        for tail in tails {
            let mut entry = self
                .tails
                .iter()
                .find(|t| t.base == tail.base)
                .cloned()
                .unwrap_or(TailEntry {
                    base: tail.base,
                    events: 0,
                    parts: Vec::new(),
                });
            let mut offset = entry.bytes();
            assert!(
                offset <= tail.bytes,
                "log {} shipped past its published end",
                tail.base
            );
            while offset < tail.bytes {
                let len = (tail.bytes - offset).min(UPLOAD_CHUNK_BYTES as u64);
                let bytes = read_part(tail, offset, len)?;
                let object = self
                    .remote
                    .put_checked(&part_key(tail.base, offset), Bytes::from(bytes))
                    .await?;
                done.objects += 1;
                done.bytes += len;
                entry.parts.push(TailPart { offset, object });
                offset += len;
            }
            entry.events = tail.events;
            if entry.events > 0 {
                self.remember(entry);
            }
        }
        Ok(())
    }

    /// Records `entry` as shipped, replacing the older entry of its log.
    fn remember(&mut self, entry: TailEntry) {
        match self.tails.iter_mut().find(|t| t.base == entry.base) {
            Some(t) => *t = entry,
            None => {
                self.tails.push(entry);
                self.tails.sort_by_key(|t| t.base);
            }
        }
    }

    /// Sets `next`'s tail to the shipped logs that continue its sealed segments without a
    /// gap, and its event count to match. Logs that `next`'s sealed segments replace are
    /// kept until `next` is committed ([`Self::commit`] drops them): if the commit fails,
    /// the next round starts again from the last manifest, which still needs them.
    fn list_tails(&self, next: &mut Manifest) {
        let sealed_end = next.sealed_end();
        let mut at = sealed_end;
        next.tail = self
            .tails
            .iter()
            .skip_while(|t| t.base < sealed_end)
            .take_while(|t| {
                let continues = t.base == at;
                at = t.base + t.events;
                continues
            })
            .cloned()
            .collect();
        next.events = sealed_end + next.tail.iter().map(|t| t.events).sum::<u64>();
    }

    /// Uploads sealed segments (and indexes) the manifest lacks, oldest first, turning their
    /// tail entries into sealed entries; stops starting new ones once `budget` is spent.
    async fn upload_sealed(
        &self,
        sealed: &[SealedRef],
        next: &mut Manifest,
        started: Instant,
        budget: Duration,
        done: &mut Shipped,
    ) -> Result<()> {
        for (i, seg) in sealed.iter().enumerate() {
            if let Some(entry) = next.sealed.get_mut(i) {
                assert_eq!(
                    entry.base,
                    seg.base(),
                    "manifest and store disagree on segment {i}"
                );
                if entry.index.is_none() {
                    entry.index = self.upload_index(seg.base(), done).await?;
                }
                continue;
            }
            if done.objects > 0 && started.elapsed() >= budget {
                break;
            }
            let segment = self
                .remote
                .upload_file(&segment_key(seg.base()), seg.path())
                .await?;
            done.objects += 1;
            done.bytes += segment.bytes;
            let index = self.upload_index(seg.base(), done).await?;
            next.sealed.push(SealedEntry {
                base: seg.base(),
                end: seg.end(),
                root: hex(&seg.root()),
                segment,
                index,
            });
        }
        Ok(())
    }

    async fn upload_index(&self, base: u64, done: &mut Shipped) -> Result<Option<ObjectRef>> {
        let path = self.dir.join(annal_index::index_file(base));
        if !path.exists() {
            return Ok(None);
        }
        let obj = self.remote.upload_file(&index_key(base), &path).await?;
        done.objects += 1;
        done.bytes += obj.bytes;
        Ok(Some(obj))
    }

    /// Uploads the checkpoint log's whole frames, the tile roots and the public key when
    /// they changed.
    async fn upload_side_files(
        &self,
        snap: &Snapshot,
        next: &mut Manifest,
        done: &mut Shipped,
    ) -> Result<()> {
        if let Some(bytes) = checkpoint_frames(&self.dir)? {
            if next
                .checkpoints
                .as_ref()
                .is_none_or(|c| c.bytes != bytes.len() as u64)
            {
                let key = checkpoints_key(bytes.len() as u64);
                done.bytes += bytes.len() as u64;
                next.checkpoints = Some(self.remote.put_checked(&key, bytes).await?);
                done.objects += 1;
            }
        }
        let sealed_end = snap.sealed().last().map_or(0, |s| s.end());
        let tiles = self.upload_changed(
            TILES_FILE,
            next.tiles.take(),
            |sha| tiles_key(sealed_end, sha),
            done,
        );
        next.tiles = tiles.await?;
        self.upload_lifecycle(next, done).await?;
        let public = self.upload_changed(
            DATA_PUBLIC_KEY_FILE,
            next.public_key.take(),
            public_key_key,
            done,
        );
        next.public_key = public.await?;
        Ok(())
    }

    /// The local file `file` as uploaded: `had` when it still holds the same bytes, else a new
    /// upload at `key(sha)`; None when there is no such file.
    async fn upload_changed(
        &self,
        file: &str,
        had: Option<ObjectRef>,
        key: impl Fn(&str) -> String,
        done: &mut Shipped,
    ) -> Result<Option<ObjectRef>> {
        let path = self.dir.join(file);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(had),
            Err(e) => return Err(local("read", &path)(e)),
        };
        let sha = sha256_hex(&bytes);
        if had.as_ref().is_some_and(|o| o.sha256 == sha) {
            return Ok(had);
        }
        done.objects += 1;
        done.bytes += bytes.len() as u64;
        Ok(Some(
            self.remote
                .put_checked(&key(&sha), Bytes::from(bytes))
                .await?,
        ))
    }

    /// What is local and not yet in the bucket.
    fn count_queued(&self, snap: &Snapshot, tails: &[WalTail], done: &mut Shipped) {
        let m = &self.last;
        let unshipped: u64 = tails
            .iter()
            .map(|t| {
                let shipped = self
                    .tails
                    .iter()
                    .find(|e| e.base == t.base)
                    .map_or(0, TailEntry::bytes);
                t.bytes.saturating_sub(shipped)
            })
            .sum();
        let unuploaded = &snap.sealed()[m.sealed.len().min(snap.sealed().len())..];
        let unindexed: u64 = m
            .sealed
            .iter()
            .filter(|s| s.index.is_none())
            .filter_map(|s| std::fs::metadata(self.dir.join(annal_index::index_file(s.base))).ok())
            .map(|md| md.len())
            .sum();
        done.queued_bytes =
            unshipped + unuploaded.iter().map(|s| s.file_bytes()).sum::<u64>() + unindexed;
        done.oldest_unuploaded_seal = unuploaded.first().map(|s| s.base());
    }

    /// Writes `next` as the next generation. Another writer's manifest at that generation
    /// means this one is fenced.
    async fn commit(&mut self, mut next: Manifest) -> Result<()> {
        loop {
            next.generation = self.last.generation + 1;
            next.written_at_ms = now_ms();
            next.check(&manifest_key(next.generation))?;
            if manifest::create(&self.remote, &next).await? {
                return self.committed(next).await;
            }
            let theirs = manifest::read(&self.remote, next.generation).await?;
            if theirs.writer != self.writer {
                return Err(BucketError::Fenced {
                    prefix: self.remote.url().to_string(),
                    holder: theirs.writer,
                    ours: self.writer.clone(),
                });
            }
            // Our own manifest: an earlier create of this generation reached the bucket but
            // its answer (or its read-back) was lost. It names only objects checked before
            // it was written, so it is committed: take it as such and write `next` after it,
            // instead of taking our own writer for another and stopping.
            self.committed(theirs).await?;
        }
    }

    /// Makes `next`, just written, the newest manifest, and retires what it stopped naming.
    /// A manifest that moves the trail's start deletes the pruned objects at once, and every
    /// older manifest with them (they name what retention removed; readers holding one read
    /// the newest again).
    async fn committed(&mut self, next: Manifest) -> Result<()> {
        if next.start > self.last.start {
            let pruned: Vec<String> = self
                .last
                .sealed
                .iter()
                .filter(|e| e.base < next.start)
                .flat_map(|e| std::iter::once(&e.segment).chain(e.index.as_ref()))
                .chain(
                    self.last
                        .tail
                        .iter()
                        .filter(|t| t.base < next.start)
                        .flat_map(|t| t.parts.iter().map(|p| &p.object)),
                )
                .map(|o| o.key.clone())
                .collect();
            for g in manifest::generations(&self.remote).await? {
                if g < next.generation {
                    self.remote.delete(&manifest_key(g)).await?;
                }
            }
            for key in &pruned {
                self.remote.delete(key).await?;
            }
            self.retired.retain(|(_, k)| !pruned.contains(k));
            self.static_log.prune(&self.remote, next.start).await?;
        }
        let gone = self.last.keys();
        let kept = next.keys();
        for key in gone.difference(&kept) {
            if self.retired.len() < RETIRED_MAX {
                self.retired.push_back((next.generation, key.clone()));
            }
        }
        self.last = next;
        // Only now are the logs its sealed segments replace no longer needed.
        let sealed_end = self.last.sealed_end();
        self.tails.retain(|t| t.base >= sealed_end);
        self.delete_retired().await
    }

    /// Deletes manifests older than the kept ones, and objects only they named.
    async fn delete_retired(&mut self) -> Result<()> {
        let newest = self.last.generation;
        let named = self.last.keys();
        while let Some((at, key)) = self.retired.front() {
            if at + MANIFESTS_KEPT > newest + 1 {
                break;
            }
            // A key named again since it retired (an upload redone after a lost answer) is
            // kept: it retires again when the newest manifest stops naming it.
            if !named.contains(key) {
                self.remote.delete(key).await?;
            }
            self.retired.pop_front();
        }
        if newest > MANIFESTS_KEPT {
            self.remote
                .delete(&manifest_key(newest - MANIFESTS_KEPT))
                .await?;
        }
        Ok(())
    }

    /// At claim: deletes every object no kept manifest names, and manifests older than those.
    async fn sweep(&mut self) -> Result<()> {
        let gens = manifest::generations(&self.remote).await?;
        let newest = gens.last().copied().unwrap_or(0);
        let mut named = std::collections::BTreeSet::new();
        for &g in &gens {
            if g + MANIFESTS_KEPT <= newest {
                self.remote.delete(&manifest_key(g)).await?;
            } else {
                named.extend(manifest::read(&self.remote, g).await?.keys());
            }
        }
        for (key, _) in self.remote.list("").await? {
            // The static log's tiles and checkpoint are no manifest's: they stay.
            let static_log = key.starts_with("tile/") || key == CHECKPOINT_KEY;
            if !key.starts_with(crate::layout::MANIFEST_DIR) && !static_log && !named.contains(&key)
            {
                self.remote.delete(&key).await?;
            }
        }
        Ok(())
    }
}

fn read_part(tail: &WalTail, offset: u64, len: u64) -> Result<Vec<u8>> {
    Ok(tail.read(offset, len as usize)?)
}

/// The checkpoint log's whole frames (a frame being appended is left for the next round).
fn checkpoint_frames(dir: &Path) -> Result<Option<Bytes>> {
    let path = dir.join(CHECKPOINT_LOG_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(local("read", &path)(e)),
    };
    let contents = parse_log(&path, &bytes)?;
    let end = contents.torn_at.map_or(bytes.len(), |t| t as usize);
    let mut bytes = bytes;
    bytes.truncate(end);
    Ok(Some(Bytes::from(bytes)))
}
