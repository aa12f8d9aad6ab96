//! A read replica following a primary through `object_store`'s in-memory store: after every
//! round the replica holds the primary's events at the same seqs with the same Merkle roots.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use annal_bucket::{BucketError, Claim, Follower, Shipper};
use annal_integrity::{StoreTree, Subtrees, Tiles, CHECKPOINT_LOG_FILE};
use annal_storage::{Options, Store};
use object_store::memory::InMemory;

mod support;
use support::{events, remote, scan_all as all_events, small_segments, BUDGET};

fn root_at(store: &Store, size: u64) -> annal_integrity::Hash {
    let snap = store.snapshot();
    let mut tiles = Tiles::open(store.dir()).unwrap();
    tiles.catch_up(&snap).unwrap();
    StoreTree::new(&snap, &tiles.hashes())
        .subtree(0, size)
        .unwrap()
}

fn assert_same(primary: &Store, replica: &Store) {
    assert_eq!(replica.len(), primary.len());
    assert!(all_events(replica) == all_events(primary), "same events");
    let n = primary.len();
    for size in [1, n / 3, n / 2, n] {
        if size > 0 {
            assert_eq!(
                root_at(replica, size),
                root_at(primary, size),
                "root at {size}"
            );
        }
    }
}

/// Signs a checkpoint of the primary, so the bucket has a checkpoint log to copy.
fn sign(dir: &Path, store: &Store) {
    // The data directory's own key: `checkpoint.pub` beside it is shipped.
    let signer = annal_integrity::signing_key(dir, None, "test/a")
        .unwrap()
        .signer;
    let snap = store.snapshot();
    let notary = annal_integrity::Notary::open(dir, signer, "test/a", &snap).unwrap();
    notary.sign(&snap).unwrap();
}

#[tokio::test]
async fn a_replica_follows_every_round_and_reproduces_the_tree() {
    let mem = Arc::new(InMemory::new());
    let pdir = tempfile::tempdir().unwrap();
    let rdir = tempfile::tempdir().unwrap();
    let primary = Store::open(pdir.path(), small_segments()).unwrap();
    let replica = Store::open(rdir.path(), Options::default()).unwrap();
    let mut shipper = Shipper::claim(
        remote(&mem),
        pdir.path(),
        &primary.snapshot(),
        Claim::Refuse,
    )
    .await
    .unwrap();
    let mut follower = Follower::new(remote(&mem));
    // Nothing shipped yet: nothing to follow, no error.
    let f = follower.follow(&replica).await.unwrap();
    assert_eq!((f.generation, f.events, f.appended), (0, 0, 0));

    let all = events(6_000, 7);
    for (round, chunk) in all.chunks(700).enumerate() {
        primary.append(chunk).unwrap();
        if round == 3 {
            sign(pdir.path(), &primary);
        }
        shipper.ship(&primary.snapshot(), BUDGET).await.unwrap();
        let f = follower.follow(&replica).await.unwrap();
        assert_eq!(f.events, shipper.manifest().events);
        assert_eq!(f.generation, shipper.manifest().generation);
        assert_eq!(replica.len(), primary.len(), "round {round}");
        assert!(f.complete());
        // Only the new part(s) of the log and a changed side file: the parts of the log
        // followed before are not downloaded again.
        assert!(f.objects <= 3, "round {round}: {f:?}");
        assert_same(&primary, &replica);
    }
    primary.wait_sealed().unwrap();
    let done = shipper.ship(&primary.snapshot(), BUDGET).await.unwrap();
    assert!(done.complete(), "{done:?}");
    assert!(shipper.manifest().sealed.len() >= 2, "the workload seals");
    let f = follower.follow(&replica).await.unwrap();
    assert_eq!(
        f.appended, 0,
        "everything was followed from the tail already"
    );
    assert_same(&primary, &replica);
    // The sealed roots the manifest names are the replica's.
    for s in &shipper.manifest().sealed {
        let r = root_at(&replica, s.end);
        let hex: String = r.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, s.root, "root at {}", s.end);
    }
    // The checkpoint log was copied.
    assert_eq!(
        std::fs::read(rdir.path().join(CHECKPOINT_LOG_FILE)).unwrap(),
        std::fs::read(pdir.path().join(CHECKPOINT_LOG_FILE)).unwrap()
    );
    let again = follower.follow(&replica).await.unwrap();
    assert_eq!(again.appended, 0);
    // The replica adopts the primary's newest checkpoint, signs none.
    let adopted = annal_integrity::Notary::adopting(rdir.path(), &replica.snapshot()).unwrap();
    assert!(adopted.adopts());
    let newest = annal_integrity::read_log(&pdir.path().join(CHECKPOINT_LOG_FILE))
        .unwrap()
        .notes
        .pop()
        .unwrap();
    let latest = adopted.latest().expect("a checkpoint adopted");
    assert_eq!(&*latest.note, newest.note.as_str());
    assert!(adopted.verifier().is_some(), "checkpoint.pub was copied");
    let proof = adopted
        .consistency(&replica.snapshot(), 10, latest.checkpoint.size)
        .unwrap();
    assert!(!proof.is_empty());
    primary.close().unwrap();
    replica.close().unwrap();
}

#[tokio::test]
async fn an_empty_replica_catches_up_from_sealed_segments_and_a_restarted_one_resumes() {
    let mem = Arc::new(InMemory::new());
    let pdir = tempfile::tempdir().unwrap();
    let primary = Store::open(pdir.path(), small_segments()).unwrap();
    let mut shipper = Shipper::claim(
        remote(&mem),
        pdir.path(),
        &primary.snapshot(),
        Claim::Refuse,
    )
    .await
    .unwrap();
    for chunk in events(5_000, 3).chunks(1_000) {
        primary.append(chunk).unwrap();
        shipper.ship(&primary.snapshot(), BUDGET).await.unwrap();
    }
    primary.wait_sealed().unwrap();
    shipper.ship(&primary.snapshot(), BUDGET).await.unwrap();
    assert!(!shipper.manifest().sealed.is_empty());

    let rdir = tempfile::tempdir().unwrap();
    let replica = Store::open(rdir.path(), Options::default()).unwrap();
    // With no time budget, each round reads one segment (or log) and returns.
    let mut follower = Follower::new(remote(&mem));
    let (mut rounds, mut appended) = (0, 0);
    loop {
        let f = follower.follow_for(&replica, Duration::ZERO).await.unwrap();
        rounds += 1;
        appended += f.appended;
        if f.complete() {
            break;
        }
    }
    assert_eq!(appended, 5_000);
    assert!(rounds > shipper.manifest().sealed.len(), "{rounds} rounds");
    assert_same(&primary, &replica);
    assert!(!rdir.path().join(annal_bucket::DOWNLOAD_FILE).exists());
    replica.close().unwrap();

    // More events, then a new follower (a restarted replica) over the same directory.
    primary.append(&events(1_500, 4)).unwrap();
    shipper.ship(&primary.snapshot(), BUDGET).await.unwrap();
    let replica = Store::open(rdir.path(), Options::default()).unwrap();
    let f = Follower::new(remote(&mem)).follow(&replica).await.unwrap();
    assert_eq!(f.appended, 1_500);
    assert_same(&primary, &replica);
    replica.close().unwrap();
    primary.close().unwrap();
}

#[tokio::test]
async fn a_directory_of_another_trail_is_refused() {
    let mem = Arc::new(InMemory::new());
    let pdir = tempfile::tempdir().unwrap();
    let primary = Store::open(pdir.path(), small_segments()).unwrap();
    let mut shipper = Shipper::claim(
        remote(&mem),
        pdir.path(),
        &primary.snapshot(),
        Claim::Refuse,
    )
    .await
    .unwrap();
    for chunk in events(4_000, 7).chunks(1_000) {
        primary.append(chunk).unwrap();
        shipper.ship(&primary.snapshot(), BUDGET).await.unwrap();
    }
    primary.wait_sealed().unwrap();
    shipper.ship(&primary.snapshot(), BUDGET).await.unwrap();
    let first_sealed = shipper.manifest().sealed[0].end;
    primary.close().unwrap();

    // Other events, past the first sealed end (the root there differs) and short of it
    // (the events themselves differ).
    for n in [first_sealed + 10, first_sealed / 2] {
        let other = tempfile::tempdir().unwrap();
        let store = Store::open(other.path(), Options::default()).unwrap();
        store.append(&events(n, 99)).unwrap();
        let e = Follower::new(remote(&mem))
            .follow(&store)
            .await
            .expect_err("another trail");
        assert!(matches!(e, BucketError::OtherTrail { .. }), "{e}");
        assert!(e.to_string().contains("s3://test/trails/a"), "{e}");
        assert_eq!(store.len(), n, "nothing appended");
        store.close().unwrap();
    }

    // More events than the bucket holds.
    let other = tempfile::tempdir().unwrap();
    let store = Store::open(other.path(), Options::default()).unwrap();
    store.append(&events(4_001, 7)).unwrap();
    let e = Follower::new(remote(&mem))
        .follow(&store)
        .await
        .unwrap_err();
    assert!(matches!(e, BucketError::OtherTrail { .. }), "{e}");
    store.close().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_follower_thread_keeps_the_replica_caught_up() {
    let mem = Arc::new(InMemory::new());
    let pdir = tempfile::tempdir().unwrap();
    let primary = Store::open(pdir.path(), small_segments()).unwrap();
    let mut shipper = Shipper::claim(
        remote(&mem),
        pdir.path(),
        &primary.snapshot(),
        Claim::Refuse,
    )
    .await
    .unwrap();
    let rdir = tempfile::tempdir().unwrap();
    let replica = Arc::new(Store::open(rdir.path(), Options::default()).unwrap());
    let mut thread = annal_bucket::FollowerThread::spawn(
        remote(&mem),
        replica.clone(),
        Duration::from_millis(20),
    )
    .unwrap();
    let mut local = thread.local_events();
    for chunk in events(2_000, 5).chunks(400) {
        primary.append(chunk).unwrap();
        shipper.ship(&primary.snapshot(), BUDGET).await.unwrap();
        let want = primary.len();
        tokio::time::timeout(Duration::from_secs(30), local.wait_for(|n| *n >= want))
            .await
            .expect("caught up in time")
            .unwrap();
        let st = thread.status();
        assert_eq!(st.last_error, None);
        assert_eq!(st.local_events, want);
    }
    let st = thread.status();
    assert_eq!((st.lag(), st.bucket_events, st.stopped), (0, 2_000, false));
    thread.stop();
    let replica = Arc::into_inner(replica).expect("the thread gave the store back");
    assert_same(&primary, &replica);
    replica.close().unwrap();
    primary.close().unwrap();

    // A replica of another trail does not start.
    let other = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(other.path(), Options::default()).unwrap());
    store.append(&events(3_000, 1)).unwrap();
    let e = annal_bucket::FollowerThread::spawn(remote(&mem), store, Duration::from_millis(20))
        .err()
        .expect("another trail");
    assert!(matches!(e, BucketError::OtherTrail { .. }), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_that_fails_is_retried_while_the_replica_keeps_what_it_has() {
    use object_store::{path::Path as Key, ObjectStoreExt, PutPayload};
    let mem = Arc::new(InMemory::new());
    let pdir = tempfile::tempdir().unwrap();
    let primary = Store::open(pdir.path(), Options::default()).unwrap();
    let mut shipper = Shipper::claim(
        remote(&mem),
        pdir.path(),
        &primary.snapshot(),
        Claim::Refuse,
    )
    .await
    .unwrap();
    primary.append(&events(500, 8)).unwrap();
    shipper.ship(&primary.snapshot(), BUDGET).await.unwrap();
    let rdir = tempfile::tempdir().unwrap();
    let replica = Arc::new(Store::open(rdir.path(), Options::default()).unwrap());
    let thread = annal_bucket::FollowerThread::spawn(
        remote(&mem),
        replica.clone(),
        Duration::from_millis(10),
    )
    .unwrap();
    let mut local = thread.local_events();
    local.wait_for(|n| *n == 500).await.unwrap();

    // The newest manifest becomes unreadable (what a bucket answering garbage looks like).
    primary.append(&events(300, 9)).unwrap();
    shipper.ship(&primary.snapshot(), BUDGET).await.unwrap();
    let gen = shipper.manifest().generation;
    let key = Key::from(format!("trails/a/manifest/{gen:020}.json"));
    let good = mem.get(&key).await.unwrap().bytes().await.unwrap();
    mem.put(&key, PutPayload::from_static(b"{not json"))
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while thread.status().last_error.is_none() {
        assert!(std::time::Instant::now() < deadline, "no error recorded");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let st = thread.status();
    assert!(!st.stopped, "a bucket failure does not stop the follower");
    assert!(st.last_error.unwrap().contains("manifest"));
    assert_eq!(replica.len(), 500, "the replica keeps what it has");

    // The bucket answers again: the follower resumes and clears the error.
    mem.put(&key, PutPayload::from(good)).await.unwrap();
    tokio::time::timeout(Duration::from_secs(40), local.wait_for(|n| *n == 800))
        .await
        .expect("resumed")
        .unwrap();
    let st = thread.status();
    assert_eq!((st.last_error.clone(), st.lag()), (None, 0));
    drop(thread);
    let replica = Arc::into_inner(replica).unwrap();
    assert_same(&primary, &replica);
    replica.close().unwrap();
    primary.close().unwrap();
}
