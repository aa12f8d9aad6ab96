//! What the tree keeps of pruned events: the roots of their 256-leaf tiles, and a few subtrees
//! below a tile (the pieces around each checkpoint size inside the pruned range, and the leaves
//! of the tile the trail's start falls in), gathered from the prune records of the lifecycle
//! log. With them every retained event's inclusion proof, and a consistency proof from every
//! checkpoint ever signed, can still be built (docs/integrity.md, "Pruning").

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use annal_storage::merkle::{node_hash, Hash};

use crate::error::IntegrityError;
use crate::lifecycle::{
    read_lifecycle, KeptPart, LifecycleRecord, StoredRecord, LIFECYCLE_LOG_FILE,
};
use crate::proof::{split, Subtrees};
use crate::tiles::{Levels, TILE_LEAVES};

/// Levels of subtrees below a tile (a tile is 2^8 leaves).
const TILE_LEVELS: u8 = 8;

/// The kept hashes of a store's pruned events (none when nothing was pruned).
#[derive(Clone, Debug, Default)]
pub struct Kept {
    /// Roots of tiles `0..roots.len()`.
    roots: Vec<Hash>,
    /// Subtrees below a tile, by (level, index).
    nodes: HashMap<(u8, u64), Hash>,
    /// Seqs `0..end` were pruned.
    end: u64,
    /// Prunes so far.
    prunes: u64,
}

impl Kept {
    /// The kept hashes of data directory `dir`, from its lifecycle log.
    pub fn read(dir: &Path) -> Result<Kept, IntegrityError> {
        Kept::from_records(&dir.join(LIFECYCLE_LOG_FILE), &read_lifecycle(dir)?)
    }

    /// The kept hashes the prune records among `records` (of the log at `path`) give; they
    /// must follow each other (each starting where the last ended).
    pub fn from_records(path: &Path, records: &[StoredRecord]) -> Result<Kept, IntegrityError> {
        let mut kept = Kept::default();
        for stored in records {
            if let LifecycleRecord::Prune(p) = &stored.record {
                let bad = |msg: String| IntegrityError::Corrupt {
                    path: path.to_path_buf(),
                    offset: stored.offset,
                    msg: format!("prune {}: {msg}", p.number),
                };
                if p.from_seq != kept.end || p.to_seq <= p.from_seq {
                    return Err(bad(format!(
                        "removes seqs {}..{} but the trail started at {}",
                        p.from_seq, p.to_seq, kept.end
                    )));
                }
                kept.add(&p.kept, p.to_seq).map_err(bad)?;
                kept.prunes += 1;
            }
        }
        Ok(kept)
    }

    /// Adds one prune's part, which ends the pruned range at `end`.
    fn add(&mut self, part: &KeptPart, end: u64) -> Result<(), String> {
        if part.first_tile != self.roots.len() as u64 {
            return Err(format!(
                "its tile roots start at tile {}, the roots kept so far end at {}",
                part.first_tile,
                self.roots.len()
            ));
        }
        self.roots.extend(part.roots()?);
        if self.roots.len() as u64 != end / TILE_LEAVES {
            return Err(format!(
                "it keeps the roots of {} tiles, a start at seq {end} needs {}",
                self.roots.len(),
                end / TILE_LEAVES
            ));
        }
        for (level, index, hash) in part.decoded_nodes()? {
            self.nodes.insert((level, index), hash);
        }
        self.end = end;
        Ok(())
    }

    /// One past the last pruned seq (0 when nothing was pruned).
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Prunes recorded.
    pub fn prunes(&self) -> u64 {
        self.prunes
    }

    /// Roots of the tiles wholly pruned.
    pub fn roots(&self) -> &[Hash] {
        &self.roots
    }

    /// Number of hashes kept (tile roots and subtrees below a tile).
    pub fn hash_count(&self) -> usize {
        self.roots.len() + self.nodes.len()
    }

    /// The leaf hash of pruned seq `seq`, if kept.
    pub(crate) fn leaf(&self, seq: u64) -> Option<Hash> {
        self.nodes.get(&(0, seq)).copied()
    }

    /// MTH of leaves `start..start + len`, which lie inside one tile, from the subtrees kept.
    pub(crate) fn within_tile(&self, start: u64, len: u64) -> Result<Hash, IntegrityError> {
        debug_assert!((1..=TILE_LEAVES).contains(&len));
        if len.is_power_of_two() && start.is_multiple_of(len) {
            let level = len.trailing_zeros() as u8;
            if let Some(h) = self.nodes.get(&(level, start >> level)) {
                return Ok(*h);
            }
        }
        if len == 1 {
            return Err(IntegrityError::PrunedHashes {
                from: start,
                to: start + len,
            });
        }
        let k = split(len);
        let left = self.within_tile(start, k)?;
        let right = self.within_tile(start + k, len - k)?;
        Ok(node_hash(&left, &right))
    }
}

/// The subtree hashes of the pruned part of a tree from the kept hashes alone: what an
/// auditor checks the checkpoints signed inside the pruned range with.
pub struct KeptTree<'a> {
    kept: &'a Kept,
    levels: Levels,
}

impl<'a> KeptTree<'a> {
    /// A tree over the kept hashes.
    pub fn new(kept: &'a Kept) -> KeptTree<'a> {
        KeptTree {
            kept,
            levels: Levels::new(kept.roots.clone()),
        }
    }
}

impl Subtrees for KeptTree<'_> {
    fn subtree(&mut self, start: u64, len: u64) -> Result<Hash, IntegrityError> {
        let (first, end) = (start / TILE_LEAVES, (start + len) / TILE_LEAVES);
        if start.is_multiple_of(TILE_LEAVES)
            && len.is_multiple_of(TILE_LEAVES)
            && end as usize <= self.kept.roots.len()
        {
            return Ok(self.levels.subtree(first as usize, (end - first) as usize));
        }
        if len > TILE_LEAVES {
            let k = split(len);
            let left = self.subtree(start, k)?;
            let right = self.subtree(start + k, len - k)?;
            return Ok(node_hash(&left, &right));
        }
        self.kept.within_tile(start, len)
    }
}

/// The subtrees below a tile that must be kept when the trail's start moves to `to`: for each
/// checkpoint size in `checkpoints` below `to` that is not a tile boundary, the pieces of its
/// tile left of it and those right of it that end by `to` (a consistency proof from that
/// checkpoint needs them); and every leaf of the tile `to` falls in, left of `to` (proofs of
/// the retained leaves of that tile, and tlog-tiles clients, need them).
pub fn nodes_to_keep(checkpoints: &[u64], to: u64) -> BTreeSet<(u8, u64)> {
    let mut out = BTreeSet::new();
    for &m in checkpoints
        .iter()
        .filter(|m| **m < to && !m.is_multiple_of(TILE_LEAVES))
    {
        let tile_start = m - m % TILE_LEAVES;
        let mut x = tile_start;
        for level in (0..TILE_LEVELS).rev() {
            if (m - tile_start) >> level & 1 == 1 {
                out.insert((level, x >> level));
                x += 1 << level;
            }
        }
        let tile_end = tile_start + TILE_LEAVES;
        let mut x = m;
        while x < tile_end {
            let level = (x.trailing_zeros() as u8).min(TILE_LEVELS - 1);
            if x + (1 << level) > to {
                break;
            }
            out.insert((level, x >> level));
            x += 1 << level;
        }
    }
    for seq in to - to % TILE_LEAVES..to {
        out.insert((0, seq));
    }
    out
}

/// The part a prune to `to` keeps, given the kept hashes so far, the roots of every whole tile
/// of the trail (`roots`, checked against the sealed segments), the sizes of every checkpoint
/// signed, and `tree`, the trail's subtrees before the prune.
pub fn plan_kept(
    kept: &Kept,
    roots: &[Hash],
    checkpoints: &[u64],
    to: u64,
    tree: &mut dyn Subtrees,
) -> Result<KeptPart, IntegrityError> {
    let (first, last) = (kept.roots.len(), (to / TILE_LEAVES) as usize);
    let new_roots = roots.get(first..last).ok_or_else(|| {
        IntegrityError::Source(format!(
            "the roots of tiles {first}..{last} are not known yet: catch the tiles up before pruning"
        ))
    })?;
    // In leaf order, so that the subtrees of one tile are computed from one read of it.
    let mut wanted: Vec<(u8, u64)> = nodes_to_keep(checkpoints, to)
        .into_iter()
        .filter(|node| !kept.nodes.contains_key(node))
        .collect();
    wanted.sort_by_key(|(level, index)| (index << level, *level));
    let mut nodes = Vec::with_capacity(wanted.len());
    for (level, index) in wanted {
        nodes.push((level, index, tree.subtree(index << level, 1 << level)?));
    }
    Ok(KeptPart::new(first as u64, new_roots, &nodes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pieces_around_a_checkpoint_cover_its_tile() {
        // m = 256 + 5: left pieces 4 + 1, right pieces up to the tile's end.
        let nodes = nodes_to_keep(&[261], 10_000);
        let left: Vec<_> = nodes.iter().filter(|(l, i)| (*i << *l) < 261).collect();
        assert_eq!(left, [&(0, 260), &(2, 64)]);
        let covered: u64 = nodes.iter().map(|(l, _)| 1u64 << l).sum();
        // The tile 256..512 is covered once, plus the 256 leaves of the tile 9,984..10,000
        // falls in (16 leaves).
        assert_eq!(covered, 256 + 16);
        // A checkpoint on a tile boundary needs nothing but the start's tile leaves.
        assert_eq!(nodes_to_keep(&[512], 600).len(), 600 - 512);
    }
}
