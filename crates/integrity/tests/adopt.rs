//! An adopting notary (a read replica's): it signs nothing and serves the newest note of the
//! copied checkpoint log whose tree the store holds, once signature and root check.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;

use annal_integrity::{
    signing_key, IntegrityError, Notary, NoteSigner, CHECKPOINT_LOG_FILE, DATA_KEY_FILE,
    DATA_PUBLIC_KEY_FILE,
};
use annal_storage::{Options, Store};

fn events(n: u64, seed: u64) -> Vec<annal_model::Event> {
    annal_gen::events(annal_gen::GenConfig {
        count: n,
        seed,
        days: 2,
        ..Default::default()
    })
}

fn copy_side_files(from: &Path, to: &Path) {
    for f in [CHECKPOINT_LOG_FILE, DATA_PUBLIC_KEY_FILE] {
        std::fs::copy(from.join(f), to.join(f)).unwrap();
    }
}

#[test]
fn a_replica_adopts_the_primarys_notes_it_holds_the_tree_of_and_refuses_others() {
    let all = events(600, 3);
    let primary = tempfile::tempdir().unwrap();
    let store = Store::open(primary.path(), Options::default()).unwrap();
    let signer = signing_key(primary.path(), None, "primary/a")
        .unwrap()
        .signer;
    let notary = Notary::open(primary.path(), signer, "primary/a", &store.snapshot()).unwrap();
    store.append(&all[..400]).unwrap();
    let first = notary.sign(&store.snapshot()).unwrap().unwrap();
    store.append(&all[400..]).unwrap();
    let second = notary.sign(&store.snapshot()).unwrap().unwrap();
    store.close().unwrap();

    // A replica holding 500 events adopts the note of 400, then that of 600 once it has them.
    let replica = tempfile::tempdir().unwrap();
    let rstore = Store::open(replica.path(), Options::default()).unwrap();
    rstore.append(&all[..500]).unwrap();
    copy_side_files(primary.path(), replica.path());
    let adopting = Notary::adopting(replica.path(), &rstore.snapshot()).unwrap();
    assert!(adopting.adopts());
    assert_eq!(adopting.latest().unwrap().note, first.note);
    rstore.append(&all[500..]).unwrap();
    let now = adopting.sign(&rstore.snapshot()).unwrap().unwrap();
    assert_eq!(now.note, second.note);
    assert_eq!(
        adopting.verifier().unwrap().to_text(),
        std::fs::read_to_string(primary.path().join(DATA_PUBLIC_KEY_FILE))
            .unwrap()
            .trim()
    );
    assert!(!replica.path().join(DATA_KEY_FILE).exists(), "no key made");
    rstore.close().unwrap();

    // Other events: the root differs, refused.
    let other = tempfile::tempdir().unwrap();
    let ostore = Store::open(other.path(), Options::default()).unwrap();
    ostore.append(&events(600, 4)).unwrap();
    copy_side_files(primary.path(), other.path());
    let e = Notary::adopting(other.path(), &ostore.snapshot())
        .err()
        .expect("other events");
    assert!(matches!(e, IntegrityError::Disagrees(_)), "{e}");
    ostore.close().unwrap();

    // The same events, but the public key beside the log is another's: refused.
    let forged = tempfile::tempdir().unwrap();
    let fstore = Store::open(forged.path(), Options::default()).unwrap();
    fstore.append(&all).unwrap();
    copy_side_files(primary.path(), forged.path());
    let stranger = NoteSigner::generate("primary")
        .unwrap()
        .verifier()
        .to_text();
    std::fs::write(forged.path().join(DATA_PUBLIC_KEY_FILE), stranger).unwrap();
    let e = Notary::adopting(forged.path(), &fstore.snapshot())
        .err()
        .expect("another key");
    assert!(e.to_string().contains("not signed by"), "{e}");
    fstore.close().unwrap();
}
