//! Sealed segments evicted to the bucket, read through it. [`TieredFs`] is the store's file
//! layer when a bucket is configured: files on the local disk are read as usual; a sealed
//! segment evicted after its upload was checked is read with ranged GETs, through a bounded
//! on-disk cache of aligned chunks (`bucket-cache/`). The segment's own CRCs (header, tables, every block) check what
//! comes back, as they check the local disk.
//!
//! Eviction is recorded in `bucket.evicted.json` (synced) before the local file is removed,
//! so a restart knows where each segment is without asking the bucket; a crash between the
//! two leaves a local copy that the next open removes.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

use annal_storage::{OsFs, VFile, Vfs};
use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

use crate::error::{local, BucketError, Result};
use crate::manifest::{ObjectRef, SealedEntry};
use crate::remote::Remote;

/// Lists the sealed segments that live only in the bucket.
pub const EVICTED_FILE: &str = "bucket.evicted.json";
/// Bytes fetched per ranged GET, aligned: a block table or a block is one or two requests.
pub const CHUNK_BYTES: u64 = 1 << 20;
/// Chunks of evicted segments kept in the on-disk cache (1 GiB).
pub const CACHE_CHUNKS_MAX: usize = 1024;
/// The on-disk cache of chunks of evicted segments, in the data directory. Emptied at every
/// open: a chunk written just before a crash may not have reached the disk whole.
pub const CACHE_DIR: &str = "bucket-cache";
/// Worker threads that run the ranged GETs of readers.
const FETCH_THREADS: usize = 2;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EvictedList {
    version: u32,
    /// File name → the object that holds it.
    segments: BTreeMap<String, ObjectRef>,
}

/// The file layer of a data directory whose old sealed segments may live in the bucket.
pub struct TieredFs {
    inner: Arc<Inner>,
    runtime: Option<tokio::runtime::Runtime>,
}

struct Inner {
    dir: PathBuf,
    remote: Remote,
    evicted: RwLock<EvictedList>,
    /// Open sealed segments, so eviction can move their readers to the bucket.
    open: Mutex<HashMap<String, Weak<TieredFile>>>,
    cache: Mutex<ChunkCache>,
    handle: tokio::runtime::Handle,
}

impl TieredFs {
    /// The file layer of `dir` over `remote`: reads the eviction list and completes an
    /// eviction a crash interrupted.
    pub fn open(dir: &Path, remote: Remote) -> Result<Arc<TieredFs>> {
        let path = dir.join(EVICTED_FILE);
        let evicted = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| BucketError::Config(format!("{}: {e}", path.display())))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => EvictedList {
                version: 1,
                ..EvictedList::default()
            },
            Err(e) => return Err(local("read", &path)(e)),
        };
        for name in evicted.segments.keys() {
            let leftover = dir.join(name);
            if leftover.exists() {
                std::fs::remove_file(&leftover).map_err(local("remove", &leftover))?;
            }
        }
        let cache_dir = dir.join(CACHE_DIR);
        if cache_dir.exists() {
            std::fs::remove_dir_all(&cache_dir).map_err(local("empty", &cache_dir))?;
        }
        std::fs::create_dir_all(&cache_dir).map_err(local("create", &cache_dir))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(FETCH_THREADS)
            .thread_name("annal-bucket-read")
            .enable_all()
            .build()
            .map_err(local("start the bucket readers of", dir))?;
        Ok(Arc::new(TieredFs {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                remote,
                evicted: RwLock::new(evicted),
                open: Mutex::new(HashMap::new()),
                cache: Mutex::new(ChunkCache::new(cache_dir)),
                handle: runtime.handle().clone(),
            }),
            runtime: Some(runtime),
        }))
    }

    /// Names of the sealed segments that live only in the bucket.
    pub fn evicted(&self) -> Vec<String> {
        self.inner.evicted.read().segments.keys().cloned().collect()
    }

    /// Evicts the oldest uploaded sealed segments (`uploaded`, from the manifest, oldest
    /// first) until the local sealed files take at most `local_bytes_max`. Returns the names
    /// evicted.
    pub fn evict_over(
        &self,
        uploaded: &[SealedEntry],
        local_bytes_max: u64,
    ) -> Result<Vec<String>> {
        let local: Vec<(String, u64, &SealedEntry)> = uploaded
            .iter()
            .filter_map(|s| {
                let name = format!("{:020}.seg", s.base);
                let md = std::fs::metadata(self.inner.dir.join(&name)).ok()?;
                Some((name, md.len(), s))
            })
            .collect();
        let mut total: u64 = local_sealed_bytes(&self.inner.dir)?;
        let mut out = Vec::new();
        for (name, bytes, entry) in local {
            if total <= local_bytes_max {
                break;
            }
            if bytes != entry.segment.bytes {
                return Err(BucketError::Object {
                    key: entry.segment.key.clone(),
                    detail: format!(
                        "is {} bytes in the bucket, the local {name} {bytes}: not evicting it",
                        entry.segment.bytes
                    ),
                });
            }
            self.evict(&name, &entry.segment)?;
            total -= bytes;
            out.push(name);
        }
        Ok(out)
    }

    /// Moves sealed segment `name` to the bucket object `obj`: records it, switches open
    /// readers to the bucket, removes the local file.
    fn evict(&self, name: &str, obj: &ObjectRef) -> Result<()> {
        let list = {
            let mut ev = self.inner.evicted.write();
            ev.segments.insert(name.to_string(), obj.clone());
            ev.clone()
        };
        self.write_list(&list)?;
        if let Some(file) = self.inner.open.lock().get(name).and_then(Weak::upgrade) {
            *file.state.write() = FileState::Remote(RemoteFile {
                inner: self.inner.clone(),
                name: name.to_string(),
                object: obj.clone(),
            });
        }
        let path = self.inner.dir.join(name);
        std::fs::remove_file(&path).map_err(local("remove", &path))?;
        OsFs.sync_dir(&self.inner.dir)
            .map_err(local("fsync", &self.inner.dir))
    }

    fn write_list(&self, list: &EvictedList) -> Result<()> {
        let path = self.inner.dir.join(EVICTED_FILE);
        let tmp = self.inner.dir.join(format!("{EVICTED_FILE}.tmp"));
        let json =
            serde_json::to_vec_pretty(list).map_err(|e| BucketError::Config(e.to_string()))?;
        let f = OsFs.create_new(&tmp).or_else(|_| {
            std::fs::remove_file(&tmp)?;
            OsFs.create_new(&tmp)
        });
        let f = f.map_err(local("create", &tmp))?;
        f.write_all_at(&json, 0).map_err(local("write", &tmp))?;
        f.sync_data().map_err(local("fsync", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(local("rename", &path))?;
        OsFs.sync_dir(&self.inner.dir)
            .map_err(local("fsync", &self.inner.dir))
    }
}

/// Bytes of the sealed segment files on the local disk of `dir`.
pub fn local_sealed_bytes(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).map_err(local("list", dir))? {
        let entry = entry.map_err(local("list", dir))?;
        if entry.path().extension().is_some_and(|e| e == "seg") {
            total += entry
                .metadata()
                .map_err(local("stat", &entry.path()))?
                .len();
        }
    }
    Ok(total)
}

impl Drop for TieredFs {
    fn drop(&mut self) {
        // Dropping a runtime blocks; a reader may drop the store from anywhere.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Vfs for TieredFs {
    fn create_new(&self, path: &Path) -> io::Result<Arc<dyn VFile>> {
        OsFs.create_new(path)
    }
    fn open_rw(&self, path: &Path) -> io::Result<Arc<dyn VFile>> {
        OsFs.open_rw(path)
    }
    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn VFile>> {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let Some(name) =
            name.filter(|n| n.ends_with(".seg") && path.parent() == Some(&self.inner.dir))
        else {
            return OsFs.open_read(path);
        };
        let evicted = self.inner.evicted.read().segments.get(&name).cloned();
        let state = match evicted {
            Some(object) => FileState::Remote(RemoteFile {
                inner: self.inner.clone(),
                name: name.clone(),
                object,
            }),
            None => FileState::Local(OsFs.open_read(path)?),
        };
        let file = Arc::new(TieredFile {
            state: RwLock::new(state),
        });
        let mut open = self.inner.open.lock();
        open.retain(|_, w| w.strong_count() > 0);
        open.insert(name, Arc::downgrade(&file));
        Ok(file)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        OsFs.rename(from, to)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        // A pruned segment that was evicted: it leaves the list (the uploader deletes the
        // object once its manifest no longer names it); there is no local file.
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let evicted = name.filter(|n| {
            path.parent() == Some(&self.inner.dir)
                && self.inner.evicted.read().segments.contains_key(n)
        });
        let Some(name) = evicted else {
            return OsFs.remove(path);
        };
        let list = {
            let mut ev = self.inner.evicted.write();
            ev.segments.remove(&name);
            ev.clone()
        };
        self.write_list(&list).map_err(io::Error::other)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        OsFs.sync_dir(dir)
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = OsFs.list_dir(dir)?;
        if dir == self.inner.dir {
            names.extend(self.inner.evicted.read().segments.keys().cloned());
            names.sort();
            names.dedup();
        }
        Ok(names)
    }
}

enum FileState {
    Local(Arc<dyn VFile>),
    Remote(RemoteFile),
}

/// A sealed segment, on the local disk or in the bucket; eviction moves it.
struct TieredFile {
    state: RwLock<FileState>,
}

fn read_only() -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        "a sealed segment is never written",
    )
}

impl VFile for TieredFile {
    fn write_all_at(&self, _: &[u8], _: u64) -> io::Result<()> {
        Err(read_only())
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        match &*self.state.read() {
            FileState::Local(f) => f.read_exact_at(buf, offset),
            FileState::Remote(r) => r.read_exact_at(buf, offset),
        }
    }
    fn sync_data(&self) -> io::Result<()> {
        Ok(())
    }
    fn set_len(&self, _: u64) -> io::Result<()> {
        Err(read_only())
    }
    fn len(&self) -> io::Result<u64> {
        match &*self.state.read() {
            FileState::Local(f) => f.len(),
            FileState::Remote(r) => Ok(r.object.bytes),
        }
    }
}

/// An evicted sealed segment, read with ranged GETs through the chunk cache.
struct RemoteFile {
    inner: Arc<Inner>,
    name: String,
    object: ObjectRef,
}

impl RemoteFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let end = offset + buf.len() as u64;
        if end > self.object.bytes {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "read past the end of {} ({} bytes)",
                    self.object.key, self.object.bytes
                ),
            ));
        }
        let mut at = offset;
        while at < end {
            let index = at / CHUNK_BYTES;
            let chunk = self.chunk(index)?;
            let from = (at - index * CHUNK_BYTES) as usize;
            let n = (chunk.len() - from).min((end - at) as usize);
            let dst = (at - offset) as usize;
            buf[dst..dst + n].copy_from_slice(&chunk[from..from + n]);
            at += n as u64;
        }
        Ok(())
    }

    fn chunk(&self, index: u64) -> io::Result<Bytes> {
        let key = (self.name.clone(), index);
        let cached = self.inner.cache.lock().get(&key);
        if let Some(path) = cached {
            match std::fs::read(&path) {
                Ok(bytes) => return Ok(Bytes::from(bytes)),
                // Removed by hand, or by the cache itself since: fetched again below.
                Err(_) => self.inner.cache.lock().forget(&key),
            }
        }
        let start = index * CHUNK_BYTES;
        let range = start..(start + CHUNK_BYTES).min(self.object.bytes);
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let remote = self.inner.remote.clone();
        let object = self.object.key.clone();
        self.inner.handle.spawn(async move {
            let _ = tx.send(remote.get_range(&object, range).await);
        });
        let got = rx
            .recv()
            .map_err(|_| io::Error::other("the bucket reader stopped"))?
            .map_err(|e| io::Error::other(e.to_string()))?;
        // A chunk that cannot be cached is still served.
        if let Err(e) = self.inner.cache.lock().put(key, &got) {
            tracing::warn!("cannot cache a chunk of {}: {e}", self.object.key);
        }
        Ok(got)
    }
}

/// The most recently used chunks of evicted segments, at most [`CACHE_CHUNKS_MAX`], as files
/// in [`CACHE_DIR`] (named by segment and chunk; written through a temporary name, not synced).
struct ChunkCache {
    dir: PathBuf,
    chunks: HashMap<(String, u64), PathBuf>,
    order: VecDeque<(String, u64)>,
}

impl ChunkCache {
    fn new(dir: PathBuf) -> ChunkCache {
        ChunkCache {
            dir,
            chunks: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// The file of a cached chunk, marked as just used.
    fn get(&mut self, key: &(String, u64)) -> Option<PathBuf> {
        let path = self.chunks.get(key)?.clone();
        if let Some(i) = self.order.iter().position(|k| k == key) {
            if let Some(k) = self.order.remove(i) {
                self.order.push_back(k);
            }
        }
        Some(path)
    }

    fn forget(&mut self, key: &(String, u64)) {
        self.chunks.remove(key);
        self.order.retain(|k| k != key);
    }

    fn put(&mut self, key: (String, u64), chunk: &[u8]) -> io::Result<()> {
        if self.chunks.contains_key(&key) {
            return Ok(());
        }
        let path = self.dir.join(format!("{}.{:08}", key.0, key.1));
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, chunk)?;
        std::fs::rename(&tmp, &path)?;
        self.chunks.insert(key.clone(), path);
        self.order.push_back(key);
        while self.order.len() > CACHE_CHUNKS_MAX {
            if let Some(old) = self.order.pop_front() {
                if let Some(p) = self.chunks.remove(&old) {
                    let _ = std::fs::remove_file(p);
                }
            }
        }
        Ok(())
    }
}
