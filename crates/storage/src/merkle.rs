//! RFC 6962 Merkle hashing, as far as the storage engine needs it: leaf hashes and the
//! frontier of the tree over all records in `seq` order, so every sealed segment can store
//! the tree size and root at its end and the next segment can continue from it.

use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// Largest number of hashes in a frontier: one per bit of a u64 tree size.
pub const FRONTIER_HASHES_MAX: usize = 64;

/// RFC 6962 leaf hash: SHA-256(0x00 ‖ record bytes).
pub fn leaf_hash(record: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(record);
    h.finalize().into()
}

/// RFC 6962 interior node hash: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// SHA-256 of the empty string: RFC 6962's root of the empty tree.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The roots of the perfect subtrees that make up a tree of `size` leaves, largest first:
/// one per set bit of `size`. Appending a leaf merges equal-sized subtrees, as binary
/// addition carries; the root folds the list from the right.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Frontier {
    size: u64,
    hashes: Vec<Hash>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// Rebuilds a frontier from stored parts; `None` if the count of hashes does not match
    /// the bits of `size`.
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Option<Frontier> {
        (hashes.len() == size.count_ones() as usize).then_some(Frontier { size, hashes })
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Subtree roots, largest first.
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// Appends one leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut carry = leaf;
        let mut merges = self.size.trailing_ones();
        while merges > 0 {
            if let Some(left) = self.hashes.pop() {
                carry = node_hash(&left, &carry);
            }
            merges -= 1;
        }
        self.hashes.push(carry);
        self.size += 1;
    }

    /// The RFC 6962 root of the tree.
    pub fn root(&self) -> Hash {
        let mut it = self.hashes.iter().rev();
        match it.next() {
            None => empty_root(),
            Some(last) => it.fold(*last, |acc, left| node_hash(left, &acc)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6962 section 2.1's recursive definition, as the oracle.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    #[test]
    fn frontier_root_matches_the_recursive_definition() {
        let leaves: Vec<Hash> = (0..70u32).map(|i| leaf_hash(&i.to_le_bytes())).collect();
        let mut f = Frontier::new();
        assert_eq!(f.root(), mth(&[]));
        for (i, l) in leaves.iter().enumerate() {
            f.push(*l);
            assert_eq!(f.root(), mth(&leaves[..=i]), "size {}", i + 1);
            assert_eq!(f.hashes().len(), (i + 1).count_ones() as usize);
        }
        assert_eq!(
            Frontier::from_parts(f.size(), f.hashes().to_vec()),
            Some(f.clone())
        );
        assert_eq!(
            Frontier::from_parts(f.size() + 1, f.hashes().to_vec()),
            None
        );
    }

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        // Known answer: SHA-256("") from FIPS 180-2 examples.
        let hex: String = empty_root().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
