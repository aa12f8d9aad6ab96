//! The roots of every complete, aligned tile of [`TILE_LEAVES`] leaves, kept in memory and in
//! a derived file (`index/tree.tiles`, see docs/format.md "Tile roots") so that a proof folds a
//! few thousand stored hashes and reads at most the two partial tiles at its ends, instead of
//! rehashing the trail.
//!
//! The file is derived and never trusted: before use, the stored roots are folded into the
//! subtree roots of the newest sealed segment's Merkle frontier (which its footer records), and
//! every tile of a subtree that disagrees is recomputed from the records. Tiles past the newest
//! sealed segment are computed from the log and kept in memory only, since the log's tail is
//! not durable until synced.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use annal_model::encode_record;
use annal_storage::merkle::{leaf_hash, node_hash, Hash};
use annal_storage::Snapshot;

use crate::error::IntegrityError;
use crate::proof::{mth, split, Subtrees};

/// Leaves per tile: 2^12, the size of a sealed block by default.
pub const TILE_LEAVES: u64 = 1 << TILE_LEAVES_LOG2;
const TILE_LEAVES_LOG2: u8 = 12;

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
    /// Roots of tiles `0..roots.len()`.
    roots: Vec<Hash>,
    /// Roots in the file (a prefix of `roots`).
    persisted: usize,
    /// End seq of the sealed segment whose frontier the roots were last checked against.
    checked_end: u64,
}

impl Tiles {
    /// The tile roots of the data directory `dir`: the valid prefix of its tile file (none if
    /// the file is missing or damaged; it is derived and rewritten).
    pub fn open(dir: &Path) -> Tiles {
        let path = dir.join(TILES_FILE);
        let roots = read_tiles(&path).unwrap_or_default();
        Tiles {
            persisted: roots.len(),
            roots,
            path,
            checked_end: 0,
        }
    }

    /// Roots of tiles `0..n`, every complete tile of the snapshot last caught up with.
    pub fn roots(&self) -> &[Hash] {
        &self.roots
    }

    /// Computes the roots of every complete tile of `snap` not known yet, checks the stored
    /// ones against the newest sealed segment's frontier (recomputing those that disagree),
    /// and writes the sealed part to the file.
    pub fn catch_up(&mut self, snap: &Snapshot) -> Result<(), IntegrityError> {
        let complete = (snap.end() / TILE_LEAVES) as usize;
        if self.roots.len() > complete {
            // A view older than the roots (or a store that lost its unsynced tail).
            self.roots.truncate(complete);
            self.persisted = self.persisted.min(complete);
        }
        let have = self.roots.len() as u64;
        self.roots
            .extend(tile_roots(snap, have, complete as u64 - have)?);
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
            if len < TILE_LEAVES || hi as usize > self.roots.len() {
                continue;
            }
            let range = lo as usize..hi as usize;
            if mth(&self.roots[range.clone()]) == *expected {
                continue;
            }
            tracing::warn!(
                "tile roots {lo}..{hi} disagree with the frontier of the segment ending at {}; recomputing them",
                seg.end()
            );
            let fresh = tile_roots(snap, lo, hi - lo)?;
            if mth(&fresh) != *expected {
                return Err(IntegrityError::Source(format!(
                    "the Merkle frontier stored in {} does not match the records of seqs {}..{}: the store is damaged or was altered (run `annal verify`)",
                    seg.path().display(),
                    lo * TILE_LEAVES,
                    hi * TILE_LEAVES
                )));
            }
            self.roots[range].copy_from_slice(&fresh);
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
        let durable = ((sealed_end / TILE_LEAVES) as usize).min(self.roots.len());
        if durable <= self.persisted {
            return;
        }
        match write_tiles(path, &self.roots, self.persisted, durable) {
            Ok(()) => self.persisted = durable,
            Err(e) => tracing::warn!(
                "cannot write {}: {e}; tile roots stay in memory",
                path.display()
            ),
        }
    }
}

/// Roots of tiles `first..first + count`, hashing the records (split across the cores).
fn tile_roots(snap: &Snapshot, first: u64, count: u64) -> Result<Vec<Hash>, IntegrityError> {
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
                    let leaves = leaf_hashes(snap, lo * TILE_LEAVES, (hi - lo) * TILE_LEAVES)?;
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

/// Leaf hashes of records `start..start + len`.
pub(crate) fn leaf_hashes(
    snap: &Snapshot,
    start: u64,
    len: u64,
) -> Result<Vec<Hash>, IntegrityError> {
    let mut out = Vec::with_capacity(len as usize);
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
/// partial tiles at a range's ends, its records.
pub struct StoreTree<'a> {
    snapshot: &'a Snapshot,
    tiles: &'a [Hash],
    /// The perfect subtrees over the tile roots, built at the first whole-tile subtree.
    tile_levels: Option<Levels>,
    /// Leaf hashes of the tiles read last (newest last), by tile number: a proof's subtrees
    /// inside a tile, and the proofs of neighbouring leaves, read each tile once. A proof
    /// touches at most two tiles: its leaf's and the tree's ragged last one.
    leaves: Vec<(u64, Levels)>,
}

/// The perfect subtrees of a tile's leaves: `levels[h][j]` is the root over leaves
/// `j·2^h .. (j+1)·2^h` (of those present), so any subtree inside the tile costs at most one
/// hash per level instead of one per leaf.
struct Levels(Vec<Vec<Hash>>);

impl Levels {
    fn new(leaves: Vec<Hash>) -> Levels {
        let mut levels = vec![leaves];
        while let Some(below) = levels.last().filter(|l| l.len() >= 2) {
            let up = below
                .chunks_exact(2)
                .map(|p| node_hash(&p[0], &p[1]))
                .collect();
            levels.push(up);
        }
        Levels(levels)
    }

    fn leaves(&self) -> usize {
        self.0.first().map_or(0, Vec::len)
    }

    /// MTH of leaves `lo .. lo + len` of the tile (len ≥ 1, inside the leaves present), for
    /// the ranges RFC 9162's recursion asks for.
    fn subtree(&self, lo: usize, len: usize) -> Hash {
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
const LEAF_TILES_CACHED: usize = 4;

impl<'a> StoreTree<'a> {
    /// A tree over `snapshot` using `tiles`, the roots of its first tiles (from
    /// [`Tiles::roots`] after [`Tiles::catch_up`] with this snapshot or an older one).
    pub fn new(snapshot: &'a Snapshot, tiles: &'a [Hash]) -> StoreTree<'a> {
        StoreTree {
            snapshot,
            tiles,
            tile_levels: None,
            leaves: Vec::with_capacity(LEAF_TILES_CACHED),
        }
    }
}

impl Subtrees for StoreTree<'_> {
    fn subtree(&mut self, start: u64, len: u64) -> Result<Hash, IntegrityError> {
        let (first, end) = (start / TILE_LEAVES, (start + len) / TILE_LEAVES);
        if start.is_multiple_of(TILE_LEAVES)
            && len.is_multiple_of(TILE_LEAVES)
            && end as usize <= self.tiles.len()
        {
            let levels = self
                .tile_levels
                .get_or_insert_with(|| Levels::new(self.tiles.to_vec()));
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
        let end = start + len - tile_start;
        let cached = self
            .leaves
            .iter()
            .position(|(t, l)| *t == tile && l.leaves() as u64 >= end);
        let at = match cached {
            Some(i) => i,
            None => {
                let n = TILE_LEAVES.min(self.snapshot.end().saturating_sub(tile_start));
                let levels = Levels::new(leaf_hashes(self.snapshot, tile_start, n)?);
                if (levels.leaves() as u64) < end {
                    return Err(IntegrityError::LeafOutOfRange {
                        index: start + len - 1,
                        size: self.snapshot.end(),
                    });
                }
                self.leaves.retain(|(t, _)| *t != tile);
                if self.leaves.len() == LEAF_TILES_CACHED {
                    self.leaves.remove(0);
                }
                self.leaves.push((tile, levels));
                self.leaves.len() - 1
            }
        };
        Ok(self.leaves[at]
            .1
            .subtree((start - tile_start) as usize, len as usize))
    }
}
