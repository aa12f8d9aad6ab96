//! The trail's tree read from a store: leaf hashes from the records, and the roots of every
//! complete, aligned tile of [`TILE_LEAVES`] leaves kept so that a subtree over millions of
//! leaves is a fold of a few thousand hashes, and a proof reads at most the two partial tiles
//! at its ends.

use annal_model::encode_record;
use annal_storage::merkle::{leaf_hash, node_hash, Hash};
use annal_storage::Snapshot;

use crate::proof::{ProofError, Subtrees};

/// Leaves per tile: 2^12, the size of a sealed block by default.
pub const TILE_LEAVES: u64 = 1 << 12;

/// Subtree hashes of a store's trail, as of one snapshot.
pub struct StoreTree<'a> {
    snapshot: &'a Snapshot,
    /// Roots of tiles `0..tiles.len()`, each over `TILE_LEAVES` leaves.
    tiles: Vec<Hash>,
}

impl<'a> StoreTree<'a> {
    /// A tree over `snapshot`, with the roots of the complete tiles below `size` computed
    /// (one pass over those records).
    pub fn new(snapshot: &'a Snapshot, size: u64) -> Result<StoreTree<'a>, ProofError> {
        let size = size.min(snapshot.end());
        let complete = size / TILE_LEAVES;
        let mut tree = StoreTree {
            snapshot,
            tiles: Vec::with_capacity(complete as usize),
        };
        for t in 0..complete {
            let leaves = tree.leaves(t * TILE_LEAVES, TILE_LEAVES)?;
            tree.tiles.push(fold(&leaves));
        }
        Ok(tree)
    }

    /// Leaf hashes of records `start..start + len`.
    fn leaves(&self, start: u64, len: u64) -> Result<Vec<Hash>, ProofError> {
        let mut out = Vec::with_capacity(len as usize);
        let mut record = Vec::with_capacity(1024);
        self.snapshot
            .scan(start, start + len, |_, e| {
                record.clear();
                encode_record(&e, &mut record);
                out.push(leaf_hash(&record));
                true
            })
            .map_err(|e| ProofError::Source(e.to_string()))?;
        if out.len() as u64 != len {
            return Err(ProofError::LeafOutOfRange {
                index: start + len - 1,
                size: self.snapshot.end(),
            });
        }
        Ok(out)
    }
}

/// MTH over consecutive leaf hashes or equal, perfect subtree roots (RFC 9162 §2.1.1).
fn fold(hashes: &[Hash]) -> Hash {
    match hashes.len() {
        0 => annal_storage::merkle::empty_root(),
        1 => hashes[0],
        n => {
            let k = (n as u64).next_power_of_two() as usize / 2;
            node_hash(&fold(&hashes[..k]), &fold(&hashes[k..]))
        }
    }
}

impl Subtrees for StoreTree<'_> {
    fn subtree(&mut self, start: u64, len: u64) -> Result<Hash, ProofError> {
        let (first, end) = (start / TILE_LEAVES, (start + len) / TILE_LEAVES);
        if start.is_multiple_of(TILE_LEAVES)
            && len.is_multiple_of(TILE_LEAVES)
            && end as usize <= self.tiles.len()
        {
            // Whole tiles: a fold of their roots, splitting as RFC 9162 does.
            return Ok(fold(&self.tiles[first as usize..end as usize]));
        }
        if len > TILE_LEAVES {
            // Split as RFC 9162 does; the left part is a whole number of aligned tiles.
            let k = prev_power_of_two(len);
            let left = self.subtree(start, k)?;
            let right = self.subtree(start + k, len - k)?;
            return Ok(node_hash(&left, &right));
        }
        // At most one tile's worth of leaves, read from the records.
        Ok(fold(&self.leaves(start, len)?))
    }
}

/// The largest power of two smaller than `n` (n ≥ 2).
fn prev_power_of_two(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}
