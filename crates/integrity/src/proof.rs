//! Inclusion and consistency proofs (RFC 9162 §2.1.3, §2.1.4).

use annal_storage::merkle::{empty_root, node_hash, Hash};

use crate::error::IntegrityError;

/// Hashes of subtrees of the trail's tree.
pub trait Subtrees {
    /// MTH(D[start .. start + len]): the root of the tree over those leaves, `len` ≥ 1.
    fn subtree(&mut self, start: u64, len: u64) -> Result<Hash, IntegrityError>;
}

/// The largest power of two smaller than `n` (n ≥ 2): RFC 9162's `k`.
pub(crate) fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// `PATH(index, D[start .. start + size])`, appended to `out` leaf-side first.
fn path(
    src: &mut dyn Subtrees,
    index: u64,
    start: u64,
    size: u64,
    out: &mut Vec<Hash>,
) -> Result<(), IntegrityError> {
    if size <= 1 {
        return Ok(());
    }
    let k = split(size);
    if index < k {
        path(src, index, start, k, out)?;
        out.push(src.subtree(start + k, size - k)?);
    } else {
        path(src, index - k, start + k, size - k, out)?;
        out.push(src.subtree(start, k)?);
    }
    Ok(())
}

/// The audit path of leaf `index` in the tree of the first `size` leaves.
pub fn inclusion_proof(
    src: &mut dyn Subtrees,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, IntegrityError> {
    if index >= size {
        return Err(IntegrityError::LeafOutOfRange { index, size });
    }
    let mut out = Vec::with_capacity(64);
    path(src, index, 0, size, &mut out)?;
    Ok(out)
}

/// `SUBPROOF(m, D[start .. start + n], b)`, appended to `out`.
fn subproof(
    src: &mut dyn Subtrees,
    m: u64,
    start: u64,
    n: u64,
    complete: bool,
    out: &mut Vec<Hash>,
) -> Result<(), IntegrityError> {
    if m == n {
        if !complete {
            out.push(src.subtree(start, n)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof(src, m, start, k, complete, out)?;
        out.push(src.subtree(start + k, n - k)?);
    } else {
        subproof(src, m - k, start + k, n - k, false, out)?;
        out.push(src.subtree(start, k)?);
    }
    Ok(())
}

/// The consistency proof between the tree of the first `first` leaves and that of the first
/// `second` (empty when they are equal).
pub fn consistency_proof(
    src: &mut dyn Subtrees,
    first: u64,
    second: u64,
) -> Result<Vec<Hash>, IntegrityError> {
    if first == 0 || first > second {
        return Err(IntegrityError::BadSizes { first, second });
    }
    let mut out = Vec::with_capacity(64);
    if first < second {
        subproof(src, first, 0, second, true, &mut out)?;
    }
    Ok(out)
}

/// The root an inclusion proof leads to (RFC 9162 §2.1.3.2), or None if the proof cannot be
/// one for `index` in a tree of `size`.
pub fn root_from_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash]) -> Option<Hash> {
    if index >= size {
        return None;
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return None;
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    (snode == 0).then_some(r)
}

/// True when `proof` shows leaf hash `leaf` at `index` in the tree of `size` with `root`.
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    root_from_inclusion(leaf, index, size, proof).is_some_and(|r| &r == root)
}

/// True when `proof` shows that the tree of `first` leaves with `first_root` is a prefix of
/// the tree of `second` leaves with `second_root` (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    proof: &[Hash],
) -> bool {
    if first == 0 || first > second {
        return false;
    }
    if first == second {
        return proof.is_empty() && first_root == second_root;
    }
    // A power-of-two first tree is its own first proof node.
    let with_first;
    let proof = if first.is_power_of_two() {
        with_first = std::iter::once(*first_root)
            .chain(proof.iter().copied())
            .collect::<Vec<_>>();
        &with_first[..]
    } else {
        proof
    };
    let Some((head, rest)) = proof.split_first() else {
        return false;
    };
    let (mut fnode, mut snode) = (first - 1, second - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (*head, *head);
    for c in rest {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && &fr == first_root && &sr == second_root
}

/// Subtree hashes computed from a list of leaf hashes (for tests, small trees and bundles).
pub struct LeafHashes<'a>(pub &'a [Hash]);

impl Subtrees for LeafHashes<'_> {
    fn subtree(&mut self, start: u64, len: u64) -> Result<Hash, IntegrityError> {
        let (s, e) = (start as usize, (start + len) as usize);
        let leaves = self.0.get(s..e).ok_or(IntegrityError::LeafOutOfRange {
            index: start + len - 1,
            size: self.0.len() as u64,
        })?;
        Ok(mth(leaves))
    }
}

/// MTH over leaf hashes (RFC 9162 §2.1.1), recursively as the RFC defines it; also over
/// equal, perfect subtree roots (tile roots), which fold the same way.
pub(crate) fn mth(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n as u64) as usize;
            node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use annal_storage::merkle::{leaf_hash, Frontier};
    use proptest::prelude::*;

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_le_bytes())).collect()
    }

    /// The storage engine's incremental frontier is an independent implementation of the root.
    fn frontier_root(leaves: &[Hash]) -> Hash {
        let mut f = Frontier::new();
        leaves.iter().for_each(|l| f.push(*l));
        f.root()
    }

    proptest! {
        #[test]
        fn proofs_verify_and_tampering_does_not(n in 1u64..300, a in 0u64..300, b in 0u64..300, flip in 0usize..64) {
            let ls = leaves(n);
            let root = frontier_root(&ls);
            prop_assert_eq!(mth(&ls), root);
            let index = a % n;
            let proof = inclusion_proof(&mut LeafHashes(&ls), index, n).unwrap();
            prop_assert!(verify_inclusion(&ls[index as usize], index, n, &proof, &root));
            // Another leaf, another index or a changed node does not verify.
            let other = leaf_hash(b"not a record");
            prop_assert!(!verify_inclusion(&other, index, n, &proof, &root));
            if n > 1 {
                prop_assert!(!verify_inclusion(&ls[index as usize], (index + 1) % n, n, &proof, &root));
                let mut bad = proof.clone();
                let at = flip % bad.len();
                bad[at][0] ^= 1;
                prop_assert!(!verify_inclusion(&ls[index as usize], index, n, &bad, &root));
            }
            let first = 1 + b % n;
            let first_root = frontier_root(&ls[..first as usize]);
            let c = consistency_proof(&mut LeafHashes(&ls), first, n).unwrap();
            prop_assert!(verify_consistency(first, n, &first_root, &root, &c));
            if first < n {
                // A first tree that is not a prefix does not verify.
                let mut forged = ls[..first as usize].to_vec();
                forged[0] = other;
                prop_assert!(!verify_consistency(first, n, &frontier_root(&forged), &root, &c));
                if !c.is_empty() {
                    let mut bad = c.clone();
                    let at = flip % bad.len();
                    bad[at][31] ^= 0x80;
                    prop_assert!(!verify_consistency(first, n, &first_root, &root, &bad));
                }
            }
        }
    }

    #[test]
    fn bad_arguments_are_refused() {
        let ls = leaves(5);
        assert!(inclusion_proof(&mut LeafHashes(&ls), 5, 5).is_err());
        assert!(consistency_proof(&mut LeafHashes(&ls), 0, 5).is_err());
        assert!(consistency_proof(&mut LeafHashes(&ls), 6, 5).is_err());
        assert!(consistency_proof(&mut LeafHashes(&ls), 5, 5)
            .unwrap()
            .is_empty());
        assert!(!verify_consistency(3, 2, &ls[0], &ls[0], &[]));
        assert!(root_from_inclusion(&ls[0], 9, 5, &[]).is_none());
        assert_eq!(mth(&[]), empty_root());
    }

    /// RFC 9162's examples (§2.1.5) on a 7-leaf tree, by shape: the path of leaf 3 is
    /// [c, g, l] (3 nodes) and the consistency proofs 3→7 and 4→7 have 4 and 1 nodes... as
    /// node counts the RFC's figures give.
    #[test]
    fn proof_sizes_match_the_rfc_examples() {
        let ls = leaves(7);
        let mut src = LeafHashes(&ls);
        assert_eq!(inclusion_proof(&mut src, 0, 7).unwrap().len(), 3); // b, h, l
        assert_eq!(inclusion_proof(&mut src, 3, 7).unwrap().len(), 3); // c, g, l
        assert_eq!(inclusion_proof(&mut src, 4, 7).unwrap().len(), 3); // f, j, k
        assert_eq!(inclusion_proof(&mut src, 6, 7).unwrap().len(), 2); // i, k
        assert_eq!(consistency_proof(&mut src, 3, 7).unwrap().len(), 4); // c, d, g, l
        assert_eq!(consistency_proof(&mut src, 4, 7).unwrap().len(), 1); // l
        assert_eq!(consistency_proof(&mut src, 6, 7).unwrap().len(), 3); // i, j, k
    }
}
