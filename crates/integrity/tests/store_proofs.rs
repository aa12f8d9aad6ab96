//! Proofs over a real store: the tree read from segments (sealed and active) gives the same
//! roots the storage engine wrote into its sealed footers, and the same proofs as a tree
//! built from every leaf hash; the proofs verify.

use annal_gen::GenConfig;
use annal_integrity::{
    consistency_proof, inclusion_proof, leaf_hash, verify_consistency, verify_inclusion,
    LeafHashes, StoreTree, Subtrees,
};
use annal_model::encode_record;
use annal_storage::{Options, SealOptions, Store};

#[test]
fn store_tree_proofs_equal_leaf_tree_proofs_and_sealed_roots() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        Options {
            segment_bytes_max: 2 << 20,
            seal: SealOptions {
                block_events: 1000,
                ..SealOptions::default()
            },
            ..Options::default()
        },
    )
    .unwrap();
    let events = annal_gen::events(GenConfig {
        count: 30_000,
        days: 5,
        ..GenConfig::default()
    });
    for chunk in events.chunks(3000) {
        store.append(chunk).unwrap();
    }
    store.wait_sealed().unwrap();
    let snap = store.snapshot();
    assert!(snap.sealed().len() >= 2 && !snap.unsealed().is_empty());
    let leaves: Vec<_> = events
        .iter()
        .map(|e| {
            let mut b = Vec::new();
            encode_record(e, &mut b);
            leaf_hash(&b)
        })
        .collect();
    let n = leaves.len() as u64;
    let mut tree = StoreTree::new(&snap, n).unwrap();
    // The root at each sealed segment's end is what its footer says.
    for seg in snap.sealed() {
        assert_eq!(
            tree.subtree(0, seg.end()).unwrap(),
            seg.root(),
            "root at {}",
            seg.end()
        );
    }
    let root = LeafHashes(&leaves).subtree(0, n).unwrap();
    assert_eq!(tree.subtree(0, n).unwrap(), root);
    for (index, size) in [
        (0, n),
        (n - 1, n),
        (12_345, n),
        (4095, 4097),
        (8191, 20_000),
        (29_000, 29_999),
    ] {
        let p = inclusion_proof(&mut tree, index, size).unwrap();
        assert_eq!(
            p,
            inclusion_proof(&mut LeafHashes(&leaves), index, size).unwrap()
        );
        let r = LeafHashes(&leaves).subtree(0, size).unwrap();
        assert!(verify_inclusion(
            &leaves[index as usize],
            index,
            size,
            &p,
            &r
        ));
    }
    for (first, second) in [(1, n), (4096, n), (5000, 25_000), (n - 1, n), (17, 4096)] {
        let c = consistency_proof(&mut tree, first, second).unwrap();
        assert_eq!(
            c,
            consistency_proof(&mut LeafHashes(&leaves), first, second).unwrap()
        );
        let r1 = LeafHashes(&leaves).subtree(0, first).unwrap();
        let r2 = LeafHashes(&leaves).subtree(0, second).unwrap();
        assert!(verify_consistency(first, second, &r1, &r2, &c));
    }
    assert!(inclusion_proof(&mut tree, n, n).is_err());
}
