//! Proofs in RFC 6962 JSON (`InclusionJson`, `ConsistencyJson`, as served, printed and
//! bundled): any bytes give a proof or a typed error, never a panic, and decoding refuses
//! more than `PROOF_HASHES_MAX` hashes. Decoded proofs are verified (`proof.rs`) against
//! the root they lead to, roots taken from the input and the sizes they state and others
//! near them: verification answers true or false, never panics or loops, and a proof
//! verifies against the root it leads to. A decoded proof re-encodes to the same JSON
//! value (canonical base64), and a real proof for the stated sizes (reduced to a small
//! tree) verifies.
#![no_main]
use annal_integrity::json::{ConsistencyJson, InclusionJson, PROOF_HASHES_MAX};
use annal_integrity::{
    consistency_proof, inclusion_proof, leaf_hash, root_from_inclusion, verify_consistency,
    verify_inclusion, Hash, LeafHashes,
};
use libfuzzer_sys::fuzz_target;

/// Leaves of the small real trees the stated sizes are reduced to.
const SMALL_TREE: u64 = 40;

fn small_tree(n: u64) -> Vec<Hash> {
    (0..n).map(|i| leaf_hash(&i.to_le_bytes())).collect()
}

fn sizes_near(size: u64) -> [u64; 5] {
    [
        size,
        size.wrapping_add(1),
        size.wrapping_sub(1),
        size / 2,
        u64::MAX,
    ]
}

fn inclusion(json: &InclusionJson, arbitrary: &Hash) {
    let Ok(p) = json.decode() else {
        return;
    };
    assert!(p.audit_path.len() <= PROOF_HASHES_MAX);
    assert_eq!(
        &InclusionJson::from(&p),
        json,
        "non-canonical inclusion JSON accepted"
    );
    let leaf = leaf_hash(&p.leaf_input);
    for size in sizes_near(p.tree_size) {
        for index in [p.leaf_index, p.leaf_index ^ 1] {
            if let Some(root) = root_from_inclusion(&leaf, index, size, &p.audit_path) {
                assert!(index < size);
                assert!(verify_inclusion(&leaf, index, size, &p.audit_path, &root));
            }
            let _ = verify_inclusion(&leaf, index, size, &p.audit_path, arbitrary);
        }
    }
    // A real proof in a small tree of the stated shape verifies; the stated leaf and path
    // verify against that tree's root only if they are that leaf and that proof.
    let n = p.tree_size % SMALL_TREE + 1;
    let index = p.leaf_index % n;
    let leaves = small_tree(n);
    let root = frontier_root(&leaves);
    let real = inclusion_proof(&mut LeafHashes(&leaves), index, n).expect("in range");
    assert!(verify_inclusion(
        &leaves[index as usize],
        index,
        n,
        &real,
        &root
    ));
    if verify_inclusion(&leaf, index, n, &p.audit_path, &root) {
        assert_eq!(leaf, leaves[index as usize], "another leaf verified");
        assert_eq!(p.audit_path, real, "another path verified");
    }
}

fn consistency(json: &ConsistencyJson, arbitrary: &Hash) {
    let Ok(hashes) = json.hashes() else {
        return;
    };
    assert!(hashes.len() <= PROOF_HASHES_MAX);
    assert_eq!(
        &ConsistencyJson::new(json.first, json.second, &hashes),
        json,
        "non-canonical consistency JSON accepted"
    );
    let first_hash = hashes.first().copied().unwrap_or(*arbitrary);
    let last_hash = hashes.last().copied().unwrap_or(*arbitrary);
    for first in sizes_near(json.first) {
        for second in sizes_near(json.second) {
            for (a, b) in [
                (arbitrary, arbitrary),
                (&first_hash, &last_hash),
                (&last_hash, arbitrary),
            ] {
                let _ = verify_consistency(first, second, a, b, &hashes);
            }
        }
    }
    let n = json.second % SMALL_TREE + 1;
    let m = json.first % n + 1;
    let leaves = small_tree(n);
    let real = consistency_proof(&mut LeafHashes(&leaves), m, n).expect("0 < m <= n");
    let (old, new) = (frontier_root(&leaves[..m as usize]), frontier_root(&leaves));
    assert!(verify_consistency(m, n, &old, &new, &real));
    if verify_consistency(m, n, &old, &new, &hashes) {
        assert_eq!(hashes, real, "another consistency proof verified");
    }
}

/// The root of `leaves`, from the storage engine's frontier (an independent implementation).
fn frontier_root(leaves: &[Hash]) -> Hash {
    let mut f = annal_storage::merkle::Frontier::new();
    leaves.iter().for_each(|l| f.push(*l));
    f.root()
}

fuzz_target!(|data: &[u8]| {
    let arbitrary = leaf_hash(data);
    if let Ok(json) = serde_json::from_slice::<InclusionJson>(data) {
        inclusion(&json, &arbitrary);
    }
    if let Ok(json) = serde_json::from_slice::<ConsistencyJson>(data) {
        consistency(&json, &arbitrary);
    }
});
