//! Proofs over a real store: the tree read from segments (sealed and active) gives the same
//! roots the storage engine wrote into its sealed footers, and the same proofs as a tree
//! built from every leaf hash; the proofs verify.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use annal_gen::GenConfig;
use annal_integrity::{
    consistency_proof, inclusion_proof, leaf_hash, verify_consistency, verify_inclusion,
    LeafHashes, StoreTree, Subtrees, Tiles, TILE_LEAVES,
};
use annal_model::encode_record;
use annal_storage::{Options, SealOptions, Store};

#[test]
fn store_tree_proofs_equal_leaf_tree_proofs_and_sealed_roots() {
    let dir = tempfile::tempdir().unwrap();
    let (store, events) = small_store(dir.path(), 30_000);
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
    let mut tiles = Tiles::open(dir.path()).unwrap();
    tiles.catch_up(&snap).unwrap();
    assert_eq!(tiles.roots().len() as u64, n / TILE_LEAVES);
    let hashes = tiles.hashes();
    let mut tree = StoreTree::new(&snap, &hashes);
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
    // Many more sizes and leaves, one tree (its tile cache crosses between tiles).
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = |m: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % m
    };
    for _ in 0..60 {
        let size = 1 + next(n);
        let index = next(size);
        assert_eq!(
            inclusion_proof(&mut tree, index, size).unwrap(),
            inclusion_proof(&mut LeafHashes(&leaves), index, size).unwrap(),
            "inclusion of {index} in {size}"
        );
        let first = 1 + next(size);
        assert_eq!(
            consistency_proof(&mut tree, first, size).unwrap(),
            consistency_proof(&mut LeafHashes(&leaves), first, size).unwrap(),
            "consistency {first} -> {size}"
        );
    }
}

/// A store of `n` generated events in small segments, most of them sealed.
fn small_store(dir: &std::path::Path, n: u64) -> (Store, Vec<annal_model::Event>) {
    let store = Store::open(
        dir,
        Options {
            segment_bytes_max: 1 << 20,
            seal: SealOptions {
                block_events: 1000,
                ..SealOptions::default()
            },
            ..Options::default()
        },
    )
    .unwrap();
    let events = annal_gen::events(GenConfig {
        count: n,
        days: 3,
        ..GenConfig::default()
    });
    for chunk in events.chunks(2500) {
        store.append(chunk).unwrap();
    }
    store.wait_sealed().unwrap();
    (store, events)
}

#[test]
fn tile_file_is_persisted_reread_and_repaired_when_it_lies() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = small_store(dir.path(), 30_000);
    let snap = store.snapshot();
    let mut tiles = Tiles::open(dir.path()).unwrap();
    tiles.catch_up(&snap).unwrap();
    let truth = tiles.roots().to_vec();
    let sealed_tiles = (snap.sealed().last().unwrap().end() / TILE_LEAVES) as usize;
    let path = dir.path().join(annal_integrity::TILES_FILE);
    let len = std::fs::metadata(&path).unwrap().len() as usize;
    assert_eq!(len, 16 + 36 * sealed_tiles, "only sealed tiles are written");

    let mut reread = Tiles::open(dir.path()).unwrap();
    assert_eq!(reread.roots(), &truth[..sealed_tiles]);
    reread.catch_up(&snap).unwrap();
    assert_eq!(reread.roots(), &truth[..]);

    // A forged root with a valid entry CRC (the file is not trusted): found by the frontier
    // check and recomputed.
    let mut bytes = std::fs::read(&path).unwrap();
    let at = 16 + 36 * 2;
    bytes[at] ^= 0x40;
    let crc = {
        let mut c = crc32fast::Hasher::new();
        c.update(&2u64.to_le_bytes());
        c.update(&bytes[at..at + 32]);
        c.finalize()
    };
    bytes[at + 32..at + 36].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let mut forged = Tiles::open(dir.path()).unwrap();
    assert_ne!(forged.roots()[2], truth[2]);
    forged.catch_up(&snap).unwrap();
    assert_eq!(forged.roots(), &truth[..]);
    assert_eq!(
        Tiles::open(dir.path()).unwrap().roots(),
        &truth[..sealed_tiles]
    );

    // A torn entry: the prefix before it is kept.
    std::fs::write(&path, &bytes[..16 + 36 * 3 + 10]).unwrap();
    let mut torn = Tiles::open(dir.path()).unwrap();
    assert_eq!(torn.roots().len(), 3);
    torn.catch_up(&snap).unwrap();
    assert_eq!(torn.roots(), &truth[..]);
}

#[test]
fn notary_signs_growth_only_and_refuses_a_store_that_lost_or_changed_events() {
    use annal_integrity::{
        read_log, verify_inclusion, Checkpoint, IntegrityError, Notary, NoteSigner,
        CHECKPOINT_LOG_FILE,
    };
    let dir = tempfile::tempdir().unwrap();
    let (store, events) = small_store(dir.path(), 20_000);
    let signer =
        NoteSigner::from_private_text(&NoteSigner::generate("t").unwrap().to_private_text())
            .unwrap();
    let verifier = signer.verifier();
    let snap = store.snapshot();
    let notary = Notary::open(dir.path(), signer, "example.org/log", &snap).unwrap();
    assert!(notary.latest().is_none());
    let first = notary.sign(&snap).unwrap().unwrap();
    assert_eq!(first.checkpoint.size, 20_000);
    assert_eq!(verifier.verify(&first.note).unwrap(), first.checkpoint);
    // No growth, no new checkpoint.
    let again = notary.sign(&snap).unwrap().unwrap();
    assert_eq!(again.note, first.note);

    store.append(&events[..500]).unwrap();
    let snap2 = store.snapshot();
    let second = notary.sign(&snap2).unwrap().unwrap();
    assert_eq!(second.checkpoint.size, 20_500);
    let c = notary.consistency(&snap2, 20_000, 20_500).unwrap();
    assert!(verify_consistency(
        20_000,
        20_500,
        &first.checkpoint.root,
        &second.checkpoint.root,
        &c
    ));
    let p = notary.inclusion(&snap2, 20_100, 20_500).unwrap();
    assert!(verify_inclusion(
        &leaf_hash(&p.leaf_input),
        20_100,
        20_500,
        &p.audit_path,
        &second.checkpoint.root
    ));
    assert!(notary.inclusion(&snap2, 1, 20_501).is_err());
    let log = read_log(&dir.path().join(CHECKPOINT_LOG_FILE)).unwrap();
    assert_eq!(log.notes.len(), 2);
    drop(notary);

    // Reopened over the same store: fine, and the latest is the stored one.
    let key = NoteSigner::generate("t").unwrap();
    let reopened = Notary::open(dir.path(), key, "example.org/log", &snap2).unwrap();
    assert_eq!(reopened.latest().unwrap().note, second.note);
    drop(reopened);

    // A view of fewer events than were signed: refused, naming the missing range.
    let key = NoteSigner::generate("t").unwrap();
    let err = Notary::open(dir.path(), key, "example.org/log", &snap)
        .err()
        .unwrap();
    assert!(
        matches!(&err, IntegrityError::Disagrees(m) if m.contains("events 20000..20500 are missing")),
        "{err}"
    );

    // A signed root the events do not give: refused.
    let forger = NoteSigner::generate("t").unwrap();
    let (mut log, _) = annal_integrity::CheckpointLog::open(dir.path()).unwrap();
    log.append(&forger.sign(&Checkpoint {
        origin: "example.org/log".into(),
        size: 20_200,
        root: [7; 32],
    }))
    .unwrap();
    drop(log);
    let err = Notary::open(dir.path(), forger, "example.org/log", &snap2)
        .err()
        .unwrap();
    assert!(
        matches!(&err, IntegrityError::Disagrees(m) if m.contains("were altered")),
        "{err}"
    );
}

#[test]
fn an_empty_store_signs_the_empty_tree_and_everything_after_extends_it() {
    use annal_integrity::{audit, checkpoint_origin, empty_root, AuditOptions, Notary, NoteSigner};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    let signer = NoteSigner::generate("t").unwrap();
    let verifier = signer.verifier();
    // With nothing configured and nothing signed, the origin is URL-like: host/path.
    let origin = checkpoint_origin(dir.path(), None).unwrap();
    assert!(
        origin.contains('/') && !origin.contains(' ') && !origin.contains('+'),
        "{origin}"
    );
    assert!(
        origin.ends_with(dir.path().canonicalize().unwrap().to_str().unwrap()),
        "{origin}"
    );

    let snap = store.snapshot();
    let notary = Notary::open(dir.path(), signer, &origin, &snap).unwrap();
    let empty = notary.sign(&snap).unwrap().unwrap();
    assert_eq!(empty.checkpoint.size, 0);
    assert_eq!(empty.checkpoint.root, empty_root());
    assert_eq!(verifier.verify(&empty.note).unwrap(), empty.checkpoint);
    drop(snap);

    let events = annal_gen::events(GenConfig {
        count: 3000,
        ..GenConfig::default()
    });
    store.append(&events).unwrap();
    let snap = store.snapshot();
    let grown = notary.sign(&snap).unwrap().unwrap();
    assert_eq!(grown.checkpoint.size, 3000);
    drop(notary);
    // Reopened: the stored size-0 checkpoint is checked against the empty root, and the
    // origin stays the one the store signed with, whatever is derived now.
    let key = NoteSigner::generate("t").unwrap();
    assert!(Notary::open(dir.path(), key, &origin, &snap).is_ok());
    assert_eq!(checkpoint_origin(dir.path(), None).unwrap(), origin);
    assert_eq!(
        checkpoint_origin(dir.path(), Some("other.example/log")).unwrap(),
        "other.example/log"
    );
    drop(snap);
    store.close().unwrap();

    // The auditor's check holds both checkpoints valid against the store.
    let opts = AuditOptions {
        checkpoints: vec![("saved".into(), empty.note.to_string())],
        public_key: Some(verifier),
        time_range: None,
    };
    let report = audit(&annal_storage::OsFs, dir.path(), &opts, &|_| {}).unwrap();
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.stored.valid, 2, "{:?}", report.stored);
    assert_eq!(report.given.valid, 1, "{:?}", report.given);
}
