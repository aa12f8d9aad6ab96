//! The uploader, the fence and restore against `object_store`'s in-memory store (the same
//! code runs against moto's S3 server in tests/bucket.sh).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::sync::Arc;

use annal_bucket::{restore, BucketError, Claim, Remote, Shipper, TieredFs};
use annal_storage::{Options, Store};
use object_store::memory::InMemory;

mod support;
use object_store::path::Path as Key;
use object_store::{ObjectStoreExt, PutPayload};
use support::{all_events, events, remote, scan_all, small_segments, BUDGET};

/// Appends in batches, shipping after each, so the bucket sees a tail, rolls and seals.
async fn fill_and_ship(dir: &Path, remote: Remote, n: u64) -> Shipper {
    let store = Store::open(dir, small_segments()).unwrap();
    let mut shipper = Shipper::claim(remote, dir, &store.snapshot(), Claim::Refuse)
        .await
        .unwrap();
    for chunk in events(n, 7).chunks(500) {
        store.append(chunk).unwrap();
        shipper.ship(&store.snapshot(), BUDGET).await.unwrap();
    }
    store.wait_sealed().unwrap();
    let done = shipper.ship(&store.snapshot(), BUDGET).await.unwrap();
    assert!(done.complete(), "{done:?}");
    assert_eq!(done.events, n);
    store.close().unwrap();
    shipper
}

#[tokio::test]
async fn sync_then_restore_holds_every_event() {
    let mem = Arc::new(InMemory::new());
    let primary = tempfile::tempdir().unwrap();
    let shipper = fill_and_ship(primary.path(), remote(&mem), 6_000).await;
    let m = shipper.manifest();
    assert!(
        m.sealed.len() >= 2,
        "the workload seals: {} sealed",
        m.sealed.len()
    );
    assert!(!m.tail.is_empty(), "and leaves a tail");

    let copy = tempfile::tempdir().unwrap();
    let into = copy.path().join("restored");
    let restored = restore(&remote(&mem), &into).await.unwrap();
    assert_eq!(restored.events, 6_000);
    assert_eq!(all_events(&into), all_events(primary.path()));
}

#[tokio::test]
async fn tail_shipped_before_the_seal_is_enough_to_restore() {
    let mem = Arc::new(InMemory::new());
    let primary = tempfile::tempdir().unwrap();
    let store = Store::open(primary.path(), Options::default()).unwrap();
    let mut shipper = Shipper::claim(
        remote(&mem),
        primary.path(),
        &store.snapshot(),
        Claim::Refuse,
    )
    .await
    .unwrap();
    store.append(&events(300, 1)).unwrap();
    let done = shipper.ship(&store.snapshot(), BUDGET).await.unwrap();
    assert_eq!(done.events, 300);
    assert!(shipper.manifest().sealed.is_empty());
    // The disk is lost here: the store is never closed.
    std::mem::forget(store);
    let into = tempfile::tempdir().unwrap();
    let restored = restore(&remote(&mem), &into.path().join("r"))
        .await
        .unwrap();
    assert_eq!(restored.events, 300);
}

#[tokio::test]
async fn a_second_writer_is_fenced_and_another_trail_refused() {
    let mem = Arc::new(InMemory::new());
    let primary = tempfile::tempdir().unwrap();
    fill_and_ship(primary.path(), remote(&mem), 1_000).await;

    // A copy of the same trail in another directory is another writer.
    let restored = tempfile::tempdir().unwrap();
    let into = restored.path().join("r");
    restore(&remote(&mem), &into).await.unwrap();
    let store = Store::open(&into, Options::default()).unwrap();
    let e = Shipper::claim(remote(&mem), &into, &store.snapshot(), Claim::Refuse)
        .await
        .err()
        .expect("fenced");
    assert!(matches!(e, BucketError::Fenced { .. }), "{e}");
    assert!(e.to_string().contains("s3://test/trails/a"), "{e}");

    // Taken over, the restored directory writes; the old writer is then fenced.
    let mut taker = Shipper::claim(remote(&mem), &into, &store.snapshot(), Claim::TakeOver)
        .await
        .unwrap();
    store.append(&events(10, 99)).unwrap();
    taker.ship(&store.snapshot(), BUDGET).await.unwrap();
    store.close().unwrap();
    let old = Store::open(primary.path(), Options::default()).unwrap();
    let e = Shipper::claim(remote(&mem), primary.path(), &old.snapshot(), Claim::Refuse)
        .await
        .err()
        .expect("old writer fenced");
    assert!(matches!(e, BucketError::Fenced { .. }), "{e}");
    old.close().unwrap();

    // Another trail (other events) is refused even when taking over.
    let other = tempfile::tempdir().unwrap();
    let store = Store::open(other.path(), Options::default()).unwrap();
    store.append(&events(2_000, 5)).unwrap();
    let e = Shipper::claim(
        remote(&mem),
        other.path(),
        &store.snapshot(),
        Claim::TakeOver,
    )
    .await
    .err()
    .expect("other trail");
    assert!(matches!(e, BucketError::OtherTrail { .. }), "{e}");
    store.close().unwrap();
}

#[tokio::test]
async fn restore_names_a_changed_or_missing_object() {
    let mem = Arc::new(InMemory::new());
    let primary = tempfile::tempdir().unwrap();
    let shipper = fill_and_ship(primary.path(), remote(&mem), 3_000).await;
    let seg = shipper.manifest().sealed[0].segment.key.clone();
    let key = Key::from(format!("trails/a/{seg}"));
    let mut bytes = mem.get(&key).await.unwrap().bytes().await.unwrap().to_vec();
    bytes[100] ^= 1;
    mem.put(&key, PutPayload::from(bytes)).await.unwrap();
    let into = tempfile::tempdir().unwrap();
    let e = restore(&remote(&mem), &into.path().join("r"))
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains(&seg) && e.to_string().contains("changed"),
        "{e}"
    );

    mem.delete(&key).await.unwrap();
    let e = restore(&remote(&mem), &into.path().join("r2"))
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains(&seg) && e.to_string().contains("missing"),
        "{e}"
    );
}

#[tokio::test]
async fn leftovers_of_a_crash_are_swept_and_unchanged_rounds_commit_nothing() {
    let mem = Arc::new(InMemory::new());
    let primary = tempfile::tempdir().unwrap();
    let shipper = fill_and_ship(primary.path(), remote(&mem), 1_000).await;
    let gen = shipper.manifest().generation;
    // An upload cut off by a crash: an object no manifest names.
    let stray = Key::from("trails/a/wal/00000000000000999999/00000000000000000000.part");
    mem.put(&stray, PutPayload::from_static(b"partial"))
        .await
        .unwrap();
    let store = Store::open(primary.path(), Options::default()).unwrap();
    let mut again = Shipper::claim(
        remote(&mem),
        primary.path(),
        &store.snapshot(),
        Claim::Refuse,
    )
    .await
    .unwrap();
    assert!(mem.head(&stray).await.is_err(), "the stray object is swept");
    let done = again.ship(&store.snapshot(), BUDGET).await.unwrap();
    assert_eq!(done.generation, gen, "nothing changed, no new generation");
    assert_eq!(done.objects, 0);
    store.close().unwrap();
}

#[tokio::test]
async fn evicted_segments_are_read_through_the_bucket() {
    let mem = Arc::new(InMemory::new());
    let primary = tempfile::tempdir().unwrap();
    let dir = primary.path();
    let shipper = fill_and_ship(dir, remote(&mem), 6_000).await;
    let before = all_events(dir);
    let sealed = shipper.manifest().sealed.clone();

    let fs = TieredFs::open(dir, remote(&mem)).unwrap();
    let opts = || Options {
        fs: fs.clone(),
        ..small_segments()
    };
    let store = Store::open(dir, opts()).unwrap();
    let evicted = fs.evict_over(&sealed, 0).unwrap();
    assert_eq!(evicted.len(), sealed.len());
    assert_eq!(annal_bucket::local_sealed_bytes(dir).unwrap(), 0);
    assert_eq!(scan_all(&store), before, "open readers moved to the bucket");
    let cache = dir.join(annal_bucket::CACHE_DIR);
    let cached = || std::fs::read_dir(&cache).unwrap().count();
    assert!(
        cached() > 0,
        "chunks read through the bucket are cached on disk"
    );
    // A cached chunk removed from under the cache is fetched again.
    for f in std::fs::read_dir(&cache).unwrap() {
        std::fs::remove_file(f.unwrap().path()).unwrap();
    }
    assert_eq!(scan_all(&store), before);
    store.close().unwrap();

    // Reopened, the store finds the evicted segments through the list and the bucket.
    let store = Store::open(dir, opts()).unwrap();
    assert_eq!(scan_all(&store), before);
    store.close().unwrap();
    let report = annal_storage::verify_dir(&*fs, dir, &|_| {}).unwrap();
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.events, 6_000);

    // Without the bucket's file layer the directory is missing segments: never silently.
    assert!(Store::open(dir, Options::default()).is_err());
}
