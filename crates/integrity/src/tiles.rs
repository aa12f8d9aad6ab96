//! The roots of every complete, aligned tile of [`TILE_LEAVES`] leaves (C2SP tlog-tiles'
//! level-1 hashes), kept in memory with every level above them and in a derived file
//! (`index/tree.tiles`, see docs/format.md "Tile roots"), so that a proof takes its big
//! subtrees from memory and reads at most the two partial tiles at its ends, instead of
//! rehashing the trail.
//!
//! The file is derived and never trusted: before use, the stored roots are folded into the
//! subtree roots of the newest sealed segment's Merkle frontier (which its footer records), and
//! every tile of a subtree that disagrees is recomputed from the records. Tiles past the newest
//! sealed segment are computed from the log and kept in memory only, since the log's tail is
//! not durable until synced. The roots of pruned tiles cannot be recomputed: they come from the
//! lifecycle log's prune records ([`Kept`]), which the frontier check then also covers.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use annal_model::encode_record;
use annal_storage::merkle::{leaf_hash, node_hash, Hash};
use annal_storage::Snapshot;

use crate::error::IntegrityError;
use crate::kept::Kept;
use crate::lifecycle::LIFECYCLE_LOG_FILE;
use crate::proof::{mth, split, Subtrees};

/// Leaves per tile: 2^8, as C2SP tlog-tiles has it, so the roots are its level-1 hashes.
pub const TILE_LEAVES: u64 = 1 << TILE_LEAVES_LOG2;
const TILE_LEAVES_LOG2: u8 = 8;

/// Where the tile roots of a data directory are kept.
pub const TILES_FILE: &str = "index/tree.tiles";
const TILES_MAGIC: &[u8; 8] = b"ANNALTRE";
const TILES_VERSION: u16 = 1;
const TILES_HEADER_BYTES: usize = 16;
const TILE_ENTRY_BYTES: usize = 36;

/// Tile roots of one store.
#[derive(Debug)]
pub struct Tiles {
    /// The tile file.
    path: PathBuf,
    /// The roots of tiles `0..n` (level 0 of these levels) and every level above them.
    levels: Arc<Levels>,
    /// What the tree keeps of pruned events; its roots are the first roots.
    kept: Arc<Kept>,
    /// Roots in the file (a prefix of the roots).
    persisted: usize,
    /// End seq of the sealed segment whose frontier the roots were last checked against.
    checked_end: u64,
}

/// The tile roots (with the levels above them) and the kept hashes of one moment, shared by
/// the proofs that use them while the store grows.
#[derive(Clone, Debug)]
pub struct TreeHashes {
    levels: Arc<Levels>,
    kept: Arc<Kept>,
}

impl TreeHashes {
    /// Roots of tiles `0..n`.
    pub fn roots(&self) -> &[Hash] {
        self.levels.leaf_level()
    }

    /// What the tree keeps of pruned events.
    pub fn kept(&self) -> &Kept {
        &self.kept
    }

    /// The hash at `height` levels above the tile roots, `index` from the left: the root of
    /// tiles `index·2^height .. (index+1)·2^height`, when they are all complete.
    pub fn above_tiles(&self, height: usize, index: usize) -> Option<Hash> {
        self.levels.0.get(height)?.get(index).copied()
    }
}

impl Tiles {
    /// The tile roots of the data directory `dir`: those its lifecycle log keeps of pruned
    /// events, then the valid prefix of its tile file (none if the file is missing or damaged;
    /// it is derived and rewritten). Fails only when the lifecycle log does not read.
    pub fn open(dir: &Path) -> Result<Tiles, IntegrityError> {
        let path = dir.join(TILES_FILE);
        let stored = read_tiles(&path).unwrap_or_default();
        let mut tiles = Tiles {
            levels: Arc::new(Levels::new(stored)),
            kept: Arc::new(Kept::default()),
            path,
            persisted: 0,
            checked_end: 0,
        };
        tiles.persisted = tiles.levels.leaves();
        tiles.set_kept(Kept::read(dir)?);
        Ok(tiles)
    }

    /// Takes the kept hashes of a prune (read again from the lifecycle log after one): their
    /// roots replace the first roots.
    pub fn set_kept(&mut self, kept: Kept) {
        let roots = self.levels.leaf_level();
        let same = roots
            .iter()
            .zip(kept.roots())
            .take_while(|(a, b)| a == b)
            .count();
        if same < kept.roots().len() {
            // The roots past the kept ones are still checked against a frontier before use.
            let mut fresh = kept.roots().to_vec();
            fresh.extend_from_slice(roots.get(fresh.len()..).unwrap_or_default());
            self.persisted = self.persisted.min(same);
            self.levels = Arc::new(Levels::new(fresh));
            self.checked_end = 0;
        }
        self.kept = Arc::new(kept);
    }

    /// Roots of tiles `0..n`, every complete tile of the snapshot last caught up with.
    pub fn roots(&self) -> &[Hash] {
        self.levels.leaf_level()
    }

    /// The roots and kept hashes as of now, for proofs.
    pub fn hashes(&self) -> TreeHashes {
        TreeHashes {
            levels: self.levels.clone(),
            kept: self.kept.clone(),
        }
    }

    /// Computes the roots of every complete tile of `snap` not known yet, checks the stored
    /// ones against the newest sealed segment's frontier (recomputing those that disagree),
    /// and writes the sealed part to the file.
    pub fn catch_up(&mut self, snap: &Snapshot) -> Result<(), IntegrityError> {
        let complete = (snap.end() / TILE_LEAVES) as usize;
        let have = self.levels.leaves();
        if have > complete {
            // A view older than the roots (or a store that lost its unsynced tail).
            let mut roots = self.levels.leaf_level().to_vec();
            roots.truncate(complete.max(self.kept.roots().len()));
            self.persisted = self.persisted.min(roots.len());
            self.levels = Arc::new(Levels::new(roots));
        } else if have < complete {
            let fresh = tile_roots(snap, &self.kept, have as u64, (complete - have) as u64)?;
            Arc::make_mut(&mut self.levels).extend(fresh);
        }
        self.check_against_frontier(snap)?;
        self.persist(snap);
        Ok(())
    }

    /// Folds the roots into each subtree of the newest sealed segment's frontier that covers
    /// whole tiles; recomputes the tiles of any that disagree.
    fn check_against_frontier(&mut self, snap: &Snapshot) -> Result<(), IntegrityError> {
        let Some(seg) = snap.sealed().last() else {
            return Ok(());
        };
        if seg.end() == self.checked_end {
            return Ok(());
        }
        let mut start = 0u64;
        for expected in seg.frontier().hashes() {
            let len = 1u64 << (63 - (seg.end() - start).leading_zeros());
            let (lo, hi) = (start / TILE_LEAVES, (start + len) / TILE_LEAVES);
            start += len;
            if len < TILE_LEAVES || hi as usize > self.roots().len() {
                continue;
            }
            let range = lo as usize..hi as usize;
            if mth(&self.roots()[range.clone()]) == *expected {
                continue;
            }
            if lo < self.kept.roots().len() as u64 {
                return Err(IntegrityError::Source(format!(
                    "the tile roots {LIFECYCLE_LOG_FILE} keeps of pruned seqs {}..{} disagree with the Merkle frontier stored in {}: the log or the segment was altered (run `annal verify`)",
                    lo * TILE_LEAVES,
                    hi * TILE_LEAVES,
                    seg.path().display()
                )));
            }
            tracing::warn!(
                "tile roots {lo}..{hi} disagree with the frontier of the segment ending at {}; recomputing them",
                seg.end()
            );
            let fresh = tile_roots(snap, &self.kept, lo, hi - lo)?;
            if mth(&fresh) != *expected {
                return Err(IntegrityError::Source(format!(
                    "the Merkle frontier stored in {} does not match the records of seqs {}..{}: the store is damaged or was altered (run `annal verify`)",
                    seg.path().display(),
                    lo * TILE_LEAVES,
                    hi * TILE_LEAVES
                )));
            }
            let mut roots = self.roots().to_vec();
            roots[range].copy_from_slice(&fresh);
            self.levels = Arc::new(Levels::new(roots));
            self.persisted = self.persisted.min(lo as usize);
        }
        self.checked_end = seg.end();
        Ok(())
    }

    /// Writes the roots of tiles inside sealed segments that the file lacks. Failure is
    /// logged, not returned: the roots stay in memory and the file is derived.
    fn persist(&mut self, snap: &Snapshot) {
        let path = &self.path;
        let sealed_end = snap.sealed().last().map_or(0, |s| s.end());
        let durable = ((sealed_end / TILE_LEAVES) as usize).min(self.roots().len());
        if durable <= self.persisted {
            return;
        }
        match write_tiles(path, self.levels.leaf_level(), self.persisted, durable) {
            Ok(()) => self.persisted = durable,
            Err(e) => tracing::warn!(
                "cannot write {}: {e}; tile roots stay in memory",
                path.display()
            ),
        }
    }
}

/// Roots of tiles `first..first + count`, hashing the records (split across the cores).
fn tile_roots(
    snap: &Snapshot,
    kept: &Kept,
    first: u64,
    count: u64,
) -> Result<Vec<Hash>, IntegrityError> {
    if count == 0 {
        return Ok(Vec::new());
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get() as u64)
        .min(count);
    let per = count.div_ceil(threads);
    let parts = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let lo = first + t * per;
                let hi = (lo + per).min(first + count);
                scope.spawn(move || {
                    let leaves =
                        leaf_hashes(snap, kept, lo * TILE_LEAVES, (hi - lo) * TILE_LEAVES)?;
                    Ok::<_, IntegrityError>(
                        leaves
                            .chunks(TILE_LEAVES as usize)
                            .map(mth)
                            .collect::<Vec<_>>(),
                    )
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(IntegrityError::Source("a hashing thread failed".into()))
                })
            })
            .collect::<Vec<_>>()
    });
    let mut out = Vec::with_capacity(count as usize);
    for part in parts {
        out.extend(part?);
    }
    Ok(out)
}

/// Leaf hashes of records `start..start + len`: of pruned ones, the leaves `kept` holds.
pub(crate) fn leaf_hashes(
    snap: &Snapshot,
    kept: &Kept,
    start: u64,
    len: u64,
) -> Result<Vec<Hash>, IntegrityError> {
    let mut out = Vec::with_capacity(len as usize);
    for seq in start..(start + len).min(snap.start()) {
        out.push(kept.leaf(seq).ok_or(IntegrityError::PrunedHashes {
            from: seq,
            to: seq + 1,
        })?);
    }
    let mut record = Vec::with_capacity(1024);
    snap.scan(start, start + len, |_, e| {
        record.clear();
        encode_record(&e, &mut record);
        out.push(leaf_hash(&record));
        true
    })
    .map_err(|e| IntegrityError::Source(e.to_string()))?;
    if out.len() as u64 != len {
        return Err(IntegrityError::LeafOutOfRange {
            index: start + len - 1,
            size: snap.end(),
        });
    }
    Ok(out)
}

fn header() -> [u8; TILES_HEADER_BYTES] {
    let mut h = [0u8; TILES_HEADER_BYTES];
    h[..8].copy_from_slice(TILES_MAGIC);
    h[8..10].copy_from_slice(&TILES_VERSION.to_le_bytes());
    h[10] = TILE_LEAVES_LOG2;
    let crc = crc32fast::hash(&h[..12]);
    h[12..].copy_from_slice(&crc.to_le_bytes());
    h
}

fn entry_crc(index: u64, root: &Hash) -> u32 {
    let mut c = crc32fast::Hasher::new();
    c.update(&index.to_le_bytes());
    c.update(root);
    c.finalize()
}

/// The roots of a tile file's valid prefix; None when its header is not this version's.
fn read_tiles(path: &Path) -> Option<Vec<Hash>> {
    let mut bytes = Vec::new();
    File::open(path).ok()?.read_to_end(&mut bytes).ok()?;
    parse_tiles(&bytes)
}

/// The roots of the valid prefix of a tile file's bytes (entries up to the first that is
/// cut short or fails its CRC); None when the header is not this version's.
pub fn parse_tiles(bytes: &[u8]) -> Option<Vec<Hash>> {
    if bytes.get(..TILES_HEADER_BYTES)? != header() {
        return None;
    }
    let mut roots = Vec::new();
    for (i, e) in bytes[TILES_HEADER_BYTES..]
        .chunks_exact(TILE_ENTRY_BYTES)
        .enumerate()
    {
        let mut root = [0u8; 32];
        root.copy_from_slice(&e[..32]);
        let crc = u32::from_le_bytes([e[32], e[33], e[34], e[35]]);
        if crc != entry_crc(i as u64, &root) {
            break;
        }
        roots.push(root);
    }
    Some(roots)
}

/// The bytes of a tile file holding `roots` ([`parse_tiles`] reads them back).
pub fn encode_tiles(roots: &[Hash]) -> Vec<u8> {
    let mut out = Vec::with_capacity(TILES_HEADER_BYTES + roots.len() * TILE_ENTRY_BYTES);
    out.extend_from_slice(&header());
    put_entries(&mut out, roots, 0, roots.len());
    out
}

/// Appends the entries of roots `from..to`.
fn put_entries(out: &mut Vec<u8>, roots: &[Hash], from: usize, to: usize) {
    for (i, root) in roots.iter().enumerate().take(to).skip(from) {
        out.extend_from_slice(root);
        out.extend_from_slice(&entry_crc(i as u64, root).to_le_bytes());
    }
}

/// Writes roots `from..to` after the first `from` entries (rewriting the file when `from` is
/// 0, so a damaged or foreign file is replaced).
fn write_tiles(path: &Path, roots: &[Hash], from: usize, to: usize) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    f.set_len((TILES_HEADER_BYTES + from * TILE_ENTRY_BYTES) as u64)?;
    let mut out = Vec::with_capacity((to - from) * TILE_ENTRY_BYTES + TILES_HEADER_BYTES);
    if from == 0 {
        out.extend_from_slice(&header());
    }
    put_entries(&mut out, roots, from, to);
    use std::io::Seek;
    let at = if from == 0 {
        0
    } else {
        (TILES_HEADER_BYTES + from * TILE_ENTRY_BYTES) as u64
    };
    f.seek(std::io::SeekFrom::Start(at))?;
    f.write_all(&out)
}

/// Subtree hashes of a store's trail as of one snapshot, from its tile roots and, for the
/// partial tiles at a range's ends, its records (or, where they were pruned, the kept hashes).
pub struct StoreTree<'a> {
    snapshot: &'a Snapshot,
    hashes: &'a TreeHashes,
    /// Leaf hashes of the tiles read last (newest last), by tile number: a proof's subtrees
    /// inside a tile, and the proofs of neighbouring leaves, read each tile once. A proof
    /// touches at most two tiles: its leaf's and the tree's ragged last one.
    leaves: Vec<(u64, Levels)>,
}

/// The perfect subtrees over a run of hashes: `levels[h][j]` is the root over hashes
/// `j·2^h .. (j+1)·2^h` (of those present), so any subtree costs at most one hash per level
/// instead of one per hash. Over a tile's leaves, or over the tile roots.
#[derive(Clone, Debug, Default)]
pub(crate) struct Levels(Vec<Vec<Hash>>);

impl Levels {
    pub(crate) fn new(leaves: Vec<Hash>) -> Levels {
        let mut levels = Levels(vec![Vec::new()]);
        levels.extend(leaves);
        levels
    }

    /// Appends hashes at the bottom and the nodes they complete above.
    pub(crate) fn extend(&mut self, more: Vec<Hash>) {
        self.0[0].extend(more);
        let mut h = 0;
        while self.0[h].len() >= 2 {
            if self.0.len() == h + 1 {
                self.0.push(Vec::new());
            }
            let (below, above) = self.0.split_at_mut(h + 1);
            let (below, up) = (&below[h], &mut above[0]);
            for j in up.len()..below.len() / 2 {
                up.push(node_hash(&below[2 * j], &below[2 * j + 1]));
            }
            h += 1;
        }
    }

    pub(crate) fn leaves(&self) -> usize {
        self.0[0].len()
    }

    pub(crate) fn leaf_level(&self) -> &[Hash] {
        &self.0[0]
    }

    /// MTH of hashes `lo .. lo + len` (len ≥ 1, inside the hashes present), for the ranges
    /// RFC 9162's recursion asks for.
    pub(crate) fn subtree(&self, lo: usize, len: usize) -> Hash {
        if len.is_power_of_two() && lo.is_multiple_of(len) {
            let h = len.trailing_zeros() as usize;
            if let Some(node) = self.0.get(h).and_then(|l| l.get(lo >> h)) {
                return *node;
            }
        }
        if len == 1 {
            return self.0[0][lo];
        }
        let k = split(len as u64) as usize;
        node_hash(&self.subtree(lo, k), &self.subtree(lo + k, len - k))
    }
}

/// Tiles of leaf hashes a [`StoreTree`] keeps.
const LEAF_TILES_CACHED: usize = 32;
/// Tiles read at once when a tree walks tiles in order (a proof bundle's consecutive events):
/// a sealed block holds 4,096 events, so the next 15 tiles cost no decode of their own.
const READ_AHEAD_TILES: u64 = 16;

impl<'a> StoreTree<'a> {
    /// A tree over `snapshot` using `hashes` (from [`Tiles::hashes`] after
    /// [`Tiles::catch_up`] with this snapshot or an older one).
    pub fn new(snapshot: &'a Snapshot, hashes: &'a TreeHashes) -> StoreTree<'a> {
        StoreTree {
            snapshot,
            hashes,
            leaves: Vec::with_capacity(LEAF_TILES_CACHED),
        }
    }
}

impl Subtrees for StoreTree<'_> {
    fn subtree(&mut self, start: u64, len: u64) -> Result<Hash, IntegrityError> {
        let (first, end) = (start / TILE_LEAVES, (start + len) / TILE_LEAVES);
        if start.is_multiple_of(TILE_LEAVES)
            && len.is_multiple_of(TILE_LEAVES)
            && end as usize <= self.hashes.roots().len()
        {
            let levels = &self.hashes.levels;
            return Ok(levels.subtree(first as usize, (end - first) as usize));
        }
        if len > TILE_LEAVES {
            // Split as RFC 9162 does; the left part is a whole number of aligned tiles.
            let k = split(len);
            let left = self.subtree(start, k)?;
            let right = self.subtree(start + k, len - k)?;
            return Ok(node_hash(&left, &right));
        }
        // RFC 9162 subtrees of at most a tile lie inside one aligned tile.
        let tile = start / TILE_LEAVES;
        let tile_start = tile * TILE_LEAVES;
        if tile_start + TILE_LEAVES <= self.snapshot.start() {
            // A pruned tile: only the subtrees kept of it.
            return self.hashes.kept.within_tile(start, len);
        }
        let end = start + len - tile_start;
        let cached = self
            .leaves
            .iter()
            .position(|(t, l)| *t == tile && l.leaves() as u64 >= end);
        let at = match cached {
            Some(i) => i,
            None => {
                // Walking in order (the tile before was the last one read): read ahead.
                let sequential = self.leaves.last().is_some_and(|(t, _)| t + 1 == tile);
                let tiles = if sequential { READ_AHEAD_TILES } else { 1 };
                let n = (tiles * TILE_LEAVES).min(self.snapshot.end().saturating_sub(tile_start));
                let leaves = leaf_hashes(self.snapshot, &self.hashes.kept, tile_start, n)?;
                if (leaves.len() as u64) < end {
                    return Err(IntegrityError::LeafOutOfRange {
                        index: start + len - 1,
                        size: self.snapshot.end(),
                    });
                }
                for (i, chunk) in leaves.chunks(TILE_LEAVES as usize).enumerate() {
                    let t = tile + i as u64;
                    self.leaves.retain(|(c, _)| *c != t);
                    if self.leaves.len() == LEAF_TILES_CACHED {
                        self.leaves.remove(0);
                    }
                    self.leaves.push((t, Levels::new(chunk.to_vec())));
                }
                self.leaves
                    .iter()
                    .position(|(t, _)| *t == tile)
                    .unwrap_or_default()
            }
        };
        Ok(self.leaves[at]
            .1
            .subtree((start - tile_start) as usize, len as usize))
    }
}
