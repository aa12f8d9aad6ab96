//! Keeps an index for every segment of a store: files for sealed segments (loaded, or built
//! when missing or damaged), memory for the unsealed ones, caught up on each view.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use annal_model::Field;
use annal_storage::{SealedRef, Snapshot};
use parking_lot::{Mutex, RwLock};

use crate::error::{IndexError, Result};
use crate::file::{encode_index, Expected, IndexFile};
use crate::key::indexable;
use crate::mem::MemIndex;
use crate::segment::SegmentIndex;

/// Name of the index directory inside a data directory.
pub const INDEX_DIR: &str = "index";
/// Events read from an unsealed segment per step while catching its index up.
const CATCH_UP_EVENTS: u64 = 4096;

/// The fields indexed unless configured otherwise.
pub const DEFAULT_FIELDS: [&str; 15] = [
    "event_code",
    "event_type",
    "event_group",
    "action",
    "status",
    "actor_type",
    "actor_id",
    "user_id",
    "source",
    "resource_type",
    "resource_id",
    "session_id",
    "vm_id",
    "ip_address",
    "http_status",
];

/// The name of the index file of the sealed segment at `base`, in [`INDEX_DIR`].
pub fn index_file_name(base: u64) -> String {
    format!("{base:020}.idx")
}

/// The index file of the sealed segment at `base`, relative to the data directory.
pub fn index_file(base: u64) -> PathBuf {
    Path::new(INDEX_DIR).join(index_file_name(base))
}

/// Which fields to index.
#[derive(Clone, Debug)]
pub struct IndexOptions {
    /// Indexed fields, in the order index files hold them.
    pub fields: Vec<Field>,
}

impl Default for IndexOptions {
    fn default() -> Self {
        IndexOptions {
            fields: DEFAULT_FIELDS
                .iter()
                .filter_map(|n| Field::from_name(n))
                .collect(),
        }
    }
}

impl IndexOptions {
    /// Options indexing the named fields.
    pub fn with_fields<S: AsRef<str>>(names: &[S]) -> Result<IndexOptions> {
        let mut fields = Vec::with_capacity(names.len());
        for n in names {
            let n = n.as_ref();
            match Field::from_name(n) {
                Some(f) if indexable(f) => {
                    if !fields.contains(&f) {
                        fields.push(f)
                    }
                }
                _ => return Err(IndexError::NotIndexable(n.to_string())),
            }
        }
        Ok(IndexOptions { fields })
    }
}

/// One segment as a query sees it.
#[derive(Clone)]
pub struct IndexedSegment {
    /// Seq of its first record.
    pub base: u64,
    /// Records visible in this view.
    pub count: u64,
    /// Its index.
    pub index: SegmentIndex,
    /// The sealed segment, if sealed.
    pub sealed: Option<SealedRef>,
}

/// A consistent view: a storage snapshot and an index for each of its segments.
#[derive(Clone)]
pub struct IndexView {
    /// The storage snapshot the indexes answer for.
    pub snapshot: Snapshot,
    /// Every segment with records, in seq order.
    pub segments: Vec<IndexedSegment>,
}

/// Index keeper of one store.
pub struct Indexer {
    dir: PathBuf,
    fields: Vec<Field>,
    state: Mutex<State>,
    /// What [`Indexer::lag`] last found.
    last_lag: AtomicU64,
}

#[derive(Default)]
struct State {
    sealed: BTreeMap<u64, SegmentIndex>,
    unsealed: BTreeMap<u64, Arc<RwLock<MemIndex>>>,
}

impl Indexer {
    /// An indexer keeping its files in `data_dir/index`.
    pub fn new(data_dir: &Path, opts: IndexOptions) -> Result<Indexer> {
        let dir = data_dir.join(INDEX_DIR);
        std::fs::create_dir_all(&dir).map_err(IndexError::io("create", &dir))?;
        Ok(Indexer {
            dir,
            fields: opts.fields,
            state: Mutex::new(State::default()),
            last_lag: AtomicU64::new(0),
        })
    }

    /// Indexed fields, in order.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// Position of `field` among the indexed fields.
    pub fn position(&self, field: Field) -> Option<usize> {
        self.fields.iter().position(|&f| f == field)
    }

    /// Indexes for every segment of `snapshot`: loads or builds files for newly sealed
    /// segments and catches the in-memory indexes up with the unsealed ones.
    pub fn view(&self, snapshot: Snapshot) -> Result<IndexView> {
        let mut st = self.state.lock();
        let st = &mut *st;
        // Pruned segments' indexes go with them.
        st.sealed.retain(|base, _| *base >= snapshot.start());
        let missing: Vec<(&SealedRef, Option<Arc<RwLock<MemIndex>>>)> = snapshot
            .sealed()
            .iter()
            .filter(|seg| !st.sealed.contains_key(&seg.base()))
            .map(|seg| (seg, st.unsealed.remove(&seg.base())))
            .collect();
        for (base, index) in self.load_or_build_all(missing)? {
            st.sealed.insert(base, index);
        }
        for (base, count) in snapshot.unsealed() {
            let mem = st
                .unsealed
                .entry(base)
                .or_insert_with(|| Arc::new(RwLock::new(MemIndex::new(base, &self.fields))))
                .clone();
            catch_up(&snapshot, &mem, base + count)?;
        }
        // Every index was just loaded, built or caught up.
        assemble(st, snapshot).ok_or_else(|| IndexError::Corrupt {
            path: self.dir.clone(),
            msg: "an index went missing while the view was assembled".into(),
        })
    }

    /// [`load_or_build`](Self::load_or_build) for each segment, on as many threads as
    /// there are cores (building reads and decodes every block).
    fn load_or_build_all(
        &self,
        todo: Vec<(&SealedRef, Option<Arc<RwLock<MemIndex>>>)>,
    ) -> Result<Vec<(u64, SegmentIndex)>> {
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(todo.len());
        if threads <= 1 {
            return todo
                .into_iter()
                .map(|(seg, mem)| Ok((seg.base(), self.load_or_build(seg, mem)?)))
                .collect();
        }
        let queue = Mutex::new(todo.into_iter());
        let done = Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| loop {
                    let Some((seg, mem)) = queue.lock().next() else {
                        break;
                    };
                    let r = self.load_or_build(seg, mem).map(|i| (seg.base(), i));
                    done.lock().push(r);
                });
            }
        });
        done.into_inner().into_iter().collect()
    }

    /// The view of `snapshot` if every index is already built and caught up, without doing
    /// any of that work (no file is read or written): for answering from memory first.
    pub fn view_if_ready(&self, snapshot: Snapshot) -> Option<IndexView> {
        let st = self.state.lock();
        let sealed_ready = snapshot
            .sealed()
            .iter()
            .all(|seg| st.sealed.contains_key(&seg.base()));
        let unsealed_ready = snapshot.unsealed().into_iter().all(|(base, count)| {
            st.unsealed
                .get(&base)
                .is_some_and(|m| m.read().len() >= count)
        });
        if !(sealed_ready && unsealed_ready) {
            return None;
        }
        assemble(&st, snapshot)
    }

    /// Events of `snapshot` no index covers yet (built at the next [`view`](Self::view)),
    /// without doing any of that work. While a view is building indexes (it holds the lock
    /// for as long), the answer of the last look is given rather than waiting.
    pub fn lag(&self, snapshot: &Snapshot) -> u64 {
        let Some(st) = self.state.try_lock() else {
            return self.last_lag.load(Ordering::Relaxed);
        };
        let sealed: u64 = snapshot
            .sealed()
            .iter()
            .filter(|seg| !st.sealed.contains_key(&seg.base()))
            .map(|seg| seg.count())
            .sum();
        let unsealed: u64 = snapshot
            .unsealed()
            .into_iter()
            .map(|(base, count)| {
                let done = st.unsealed.get(&base).map_or(0, |m| m.read().len());
                count.saturating_sub(done)
            })
            .sum();
        let lag = sealed + unsealed;
        self.last_lag.store(lag, Ordering::Relaxed);
        lag
    }

    fn path(&self, base: u64) -> PathBuf {
        self.dir.join(index_file_name(base))
    }

    /// The sealed segment's index file, built (from `mem` when it is complete) if missing
    /// or unusable. If the file cannot be written the index stays in memory.
    fn load_or_build(
        &self,
        seg: &SealedRef,
        mem: Option<Arc<RwLock<MemIndex>>>,
    ) -> Result<SegmentIndex> {
        let path = self.path(seg.base());
        let root = seg.root();
        let expected = Expected {
            base: seg.base(),
            count: seg.count(),
            root: &root,
            fields: &self.fields,
        };
        match IndexFile::open(&path, &expected) {
            Ok(f) => return Ok(SegmentIndex::File(Arc::new(f))),
            Err(IndexError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            }
            Err(e) => tracing::warn!("rebuilding the index of {}: {e}", seg.path().display()),
        }
        let mem = match mem.map(|m| m.read().clone()) {
            Some(m) if m.len() == seg.count() => m,
            _ => build_from_sealed(seg, &self.fields)?,
        };
        let bytes = encode_index(&mem, &root);
        let written = write_file(&path, &bytes).and_then(|()| IndexFile::open(&path, &expected));
        match written {
            Ok(f) => Ok(SegmentIndex::File(Arc::new(f))),
            Err(e) => {
                tracing::warn!("keeping the index of segment {} in memory: {e}", seg.base());
                Ok(SegmentIndex::Mem(Arc::new(RwLock::new(mem))))
            }
        }
    }
}

/// The view of `snapshot` from indexes that are all in `st`; None if one is missing.
fn assemble(st: &State, snapshot: Snapshot) -> Option<IndexView> {
    let mut segments = Vec::new();
    for seg in snapshot.sealed() {
        segments.push(IndexedSegment {
            base: seg.base(),
            count: seg.count(),
            index: st.sealed.get(&seg.base())?.clone(),
            sealed: Some(seg.clone()),
        });
    }
    for (base, count) in snapshot.unsealed() {
        if count > 0 {
            segments.push(IndexedSegment {
                base,
                count,
                index: SegmentIndex::Mem(st.unsealed.get(&base)?.clone()),
                sealed: None,
            });
        }
    }
    Some(IndexView { snapshot, segments })
}

/// An index of a sealed segment, built by reading every block.
pub fn build_from_sealed(seg: &SealedRef, fields: &[Field]) -> Result<MemIndex> {
    let mut mem = MemIndex::new(seg.base(), fields);
    for i in 0..seg.blocks().len() {
        for e in seg.read_block(i)? {
            mem.push(&e);
        }
    }
    Ok(mem)
}

/// Indexes the records of an unsealed segment up to seq `end`. Runs under the indexer's
/// lock, so nothing else appends to `mem` meanwhile.
fn catch_up(snapshot: &Snapshot, mem: &RwLock<MemIndex>, end: u64) -> Result<()> {
    let mut at = {
        let m = mem.read();
        m.base() + m.len()
    };
    while at < end {
        let to = end.min(at + CATCH_UP_EVENTS);
        let events = snapshot.read_unsealed(at, to)?;
        let mut m = mem.write();
        // The indexer's lock serialises catch-ups; another writer here would index records
        // twice or out of place, and every ordinal after it would point at the wrong record.
        assert_eq!(
            m.base() + m.len(),
            at,
            "in-memory index moved during catch-up"
        );
        assert_eq!(
            events.len() as u64,
            to - at,
            "unsealed read returned a short range"
        );
        events.iter().for_each(|e| m.push(e));
        at = to;
    }
    Ok(())
}

/// Writes an index file under a temporary name and renames it into place. No fsync: the
/// file is derived and checksummed, so one lost in a crash is rebuilt.
fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("idx.tmp");
    std::fs::write(&tmp, bytes).map_err(IndexError::io("write", &tmp))?;
    std::fs::rename(&tmp, path).map_err(IndexError::io("rename", path))
}
