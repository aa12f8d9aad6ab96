//! Pruning with a bucket: the next round's manifest starts where the trail does, the pruned
//! segments and every older manifest are deleted at once, restore and a new replica start
//! there, and the bucket as a static tlog-tiles log verifies with an independent client
//! (`tlog_tiles`) before and after, its bundles below the minimum index gone.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::Read;
use std::sync::Arc;

use annal_bucket::{restore, tile_key, Claim, Follower, Remote, Shipper, CHECKPOINT_KEY};
use annal_integrity::{
    audit, prune_store, AuditOptions, LifecycleLog, Notary, NoteSigner, PruneBy, TileKind, TileRef,
};
use annal_storage::{Options, Store};
use object_store::memory::InMemory;
use tlog_tiles::{
    check_record, check_tree, prove_record, prove_tree, record_hash, Checkpoint, Error, Tile,
    TileHashReader, TileReader,
};

mod support;
use support::{remote, BUDGET};

/// Reads the bucket's static log as a tlog-tiles client does, over the object store.
struct BucketTiles<'a> {
    remote: &'a Remote,
    rt: &'a tokio::runtime::Runtime,
}

impl BucketTiles<'_> {
    fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.rt
            .block_on(self.remote.get_opt(key))
            .unwrap()
            .map(|b| b.to_vec())
    }

    fn checkpoint(&self) -> Checkpoint {
        let note = String::from_utf8(self.get(CHECKPOINT_KEY).unwrap()).unwrap();
        let body = note.split_once("\n\n").unwrap().0;
        Checkpoint::from_bytes(format!("{body}\n").as_bytes()).unwrap()
    }

    /// Entry `n` of the tree of `size`, from its gzip bundle.
    fn entry(&self, size: u64, n: u64) -> Option<Vec<u8>> {
        let width = (size - n / 256 * 256).min(256);
        let tile = TileRef {
            kind: TileKind::Entries,
            index: n / 256,
            width,
        };
        let gz = self.get(&tile_key(tile))?;
        let mut bundle = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut bundle)
            .unwrap();
        let mut at = 0;
        for i in 0.. {
            let len = u16::from_be_bytes([bundle[at], bundle[at + 1]]) as usize;
            if i == n % 256 {
                return Some(bundle[at + 2..at + 2 + len].to_vec());
            }
            at += 2 + len;
        }
        None
    }

    fn prove(&self, cp: &Checkpoint, seqs: &[u64]) {
        let hashes = TileHashReader::new(cp.size(), *cp.hash(), self);
        for &n in seqs {
            let proof = prove_record(cp.size(), n, &hashes).unwrap();
            let leaf = record_hash(&self.entry(cp.size(), n).unwrap());
            check_record(&proof, cp.size(), *cp.hash(), n, leaf).unwrap();
        }
    }

    fn consistent(&self, old: &Checkpoint, new: &Checkpoint) {
        let hashes = TileHashReader::new(new.size(), *new.hash(), self);
        let proof = prove_tree(new.size(), old.size(), &hashes).unwrap();
        check_tree(&proof, new.size(), *new.hash(), old.size(), *old.hash()).unwrap();
    }
}

impl TileReader for BucketTiles<'_> {
    fn height(&self) -> u8 {
        8
    }
    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, Error> {
        tiles
            .iter()
            .map(|t| {
                let key = format!("tile/{}", t.path().strip_prefix("tile/8/").unwrap());
                self.get(&key)
                    .ok_or_else(|| Error::InvalidInput(format!("{key} is not in the bucket")))
            })
            .collect()
    }
    fn save_tiles(&self, _: &[Tile], _: &[Vec<u8>]) {}
}

fn ship_all(rt: &tokio::runtime::Runtime, shipper: &mut Shipper, store: &Store) {
    let done = rt
        .block_on(shipper.ship_all(&store.snapshot(), BUDGET))
        .unwrap();
    assert!(done.complete(), "{done:?}");
}

#[test]
fn a_prune_reaches_the_bucket_restore_and_replicas_and_the_static_log_verifies() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mem = Arc::new(InMemory::new());
    let bucket = remote(&mem);
    let Synced {
        dir,
        store,
        notary,
        mut shipper,
    } = synced_trail(
        &rt,
        &bucket,
        20_000,
        200,
        NoteSigner::generate("t").unwrap(),
    );
    let tiles = BucketTiles {
        remote: &bucket,
        rt: &rt,
    };
    let before = tiles.checkpoint();
    assert_eq!(before.size(), 20_000);
    tiles.prove(&before, &[0, 1, 255, 256, 12_345, 19_999]);
    let generations_before = shipper.manifest().generation;

    // Prune the first four days.
    let sealed = store.snapshot().sealed().to_vec();
    let to = sealed[3].end();
    let mut log = LifecycleLog::open(dir.path()).unwrap();
    let who = PruneBy {
        policy: "manual".into(),
        by: "test".into(),
        reason: String::new(),
        at_ns: 1,
    };
    prune_store(&store, &mut log, to, &who, &|| {
        notary.reload_kept(dir.path())
    })
    .unwrap();
    store
        .append(&annal_gen::events(annal_gen::GenConfig {
            count: 10,
            seed: 9,
            ..Default::default()
        }))
        .unwrap();
    notary.sign(&store.snapshot()).unwrap();
    ship_all(&rt, &mut shipper, &store);

    let m = shipper.manifest().clone();
    assert_eq!(m.start, to);
    assert_eq!(m.sealed.first().unwrap().base, to);
    assert!(m.trail_start.is_some() && m.lifecycle.is_some());
    let keys: Vec<String> = rt
        .block_on(bucket.list(""))
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    for s in &sealed[..4] {
        assert!(
            !keys.iter().any(|k| k.contains(&format!("{:020}", s.base()))
                && (k.starts_with("seg/") || k.starts_with("index/"))),
            "segment {} is still in the bucket",
            s.base()
        );
    }
    // No manifest left names a pruned segment (those before the prune were deleted with it).
    for key in keys.iter().filter(|k| k.starts_with("manifest/")) {
        let text =
            String::from_utf8(rt.block_on(bucket.get_opt(key)).unwrap().unwrap().to_vec()).unwrap();
        for s in &sealed[..4] {
            assert!(
                !text.contains(&format!("seg/{:020}", s.base())),
                "{key} (after generation {generations_before}) names pruned segment {}",
                s.base()
            );
        }
    }

    // The static log: bundles below the minimum index are gone, the rest verifies.
    let after = tiles.checkpoint();
    assert_eq!(after.size(), 20_010);
    let min = annal_integrity::min_index(to);
    assert!(
        tiles.entry(after.size(), 0).is_none(),
        "a pruned bundle is still in the bucket"
    );
    assert!(tiles.entry(after.size(), min - 1).is_none());
    tiles.prove(&after, &[min, min + 7, 20_009]);
    tiles.consistent(&before, &after);

    // A restore starts where the trail does, and audits clean.
    let copy = tempfile::tempdir().unwrap();
    let into = copy.path().join("restored");
    let restored = rt.block_on(restore(&bucket, &into)).unwrap();
    assert_eq!(restored.events, 20_010);
    let report = audit(
        &annal_storage::OsFs,
        &into,
        &AuditOptions::default(),
        &|_| {},
    )
    .unwrap();
    assert!(
        report.ok(),
        "{:?} {:?}",
        report.data.problems,
        report.problems
    );
    assert_eq!(report.data.start, to);
    assert_eq!(report.pruned.len(), 1);

    // A new replica starts there too, and catches up.
    let replica_dir = tempfile::tempdir().unwrap();
    let mut follower = Follower::new(bucket.clone());
    rt.block_on(follower.prepare(replica_dir.path())).unwrap();
    let replica = Store::open(replica_dir.path(), Options::default()).unwrap();
    assert_eq!(replica.snapshot().start(), to);
    let followed = rt.block_on(follower.follow(&replica)).unwrap();
    assert!(followed.complete(), "{followed:?}");
    assert_eq!(replica.len(), 20_010);
    store.close().unwrap();
}

/// A store of `count` generated events over ten days (one sealed segment a day, appended in
/// batches of `batch`), a signed checkpoint of it (the public key beside it), all of it
/// synced to `bucket`.
struct Synced {
    dir: tempfile::TempDir,
    store: Store,
    notary: Notary,
    shipper: Shipper,
}

fn synced_trail(
    rt: &tokio::runtime::Runtime,
    bucket: &Remote,
    count: u64,
    batch: usize,
    signer: NoteSigner,
) -> Synced {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    let events = annal_gen::events(annal_gen::GenConfig {
        count,
        days: 10,
        seed: 5,
        ..Default::default()
    });
    for chunk in events.chunks(batch) {
        store.append(chunk).unwrap();
    }
    store.wait_sealed().unwrap();
    assert!(store.snapshot().sealed().len() >= 8);
    std::fs::write(
        dir.path().join(annal_integrity::DATA_PUBLIC_KEY_FILE),
        signer.verifier().to_text(),
    )
    .unwrap();
    let notary = Notary::open(dir.path(), signer, "t", &store.snapshot()).unwrap();
    notary.sign(&store.snapshot()).unwrap();
    let mut shipper = rt
        .block_on(Shipper::claim(
            bucket.clone(),
            dir.path(),
            &store.snapshot(),
            Claim::Refuse,
        ))
        .unwrap();
    ship_all(rt, &mut shipper, &store);
    Synced {
        dir,
        store,
        notary,
        shipper,
    }
}

/// One signing key for every fault run, so that every run signs the same notes.
fn fixed_key() -> &'static str {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEY.get_or_init(|| NoteSigner::generate("t").unwrap().to_private_text())
}

/// Prunes locally, then ships in rounds through `faulty`, restarting the uploader after a
/// failed round; after every round the bucket's newest manifest restores and audits clean
/// (the state before the prune or after it). Returns the rounds that failed.
fn prune_and_ship(
    rt: &tokio::runtime::Runtime,
    mem: &Arc<InMemory>,
    faulty: &Arc<annal_bucket::FaultyObjectStore>,
    arm: impl FnOnce(u64),
    when: &str,
) -> Vec<String> {
    let bucket = Remote::new(faulty.clone(), support::PREFIX, support::URL, "memory");
    let t = synced_trail(
        rt,
        &bucket,
        3_000,
        50,
        NoteSigner::from_private_text(fixed_key()).unwrap(),
    );
    let to = t.store.snapshot().sealed()[4].end();
    let mut log = LifecycleLog::open(t.store.dir()).unwrap();
    let who = PruneBy {
        policy: "manual".into(),
        by: "test".into(),
        reason: String::new(),
        at_ns: 1,
    };
    prune_store(&t.store, &mut log, to, &who, &|| {
        t.notary.reload_kept(t.store.dir())
    })
    .unwrap();
    t.notary.sign(&t.store.snapshot()).unwrap();
    arm(faulty.requests());
    let mut failed = Vec::new();
    let mut shipper: Option<Shipper> = None;
    for round in 0..8 {
        let snap = t.store.snapshot();
        let done = rt.block_on(async {
            if shipper.is_none() {
                shipper = Some(
                    Shipper::claim(bucket.clone(), t.store.dir(), &snap, Claim::Refuse).await?,
                );
            }
            shipper.as_mut().unwrap().ship(&snap, BUDGET).await
        });
        // Whatever happened, the newest manifest restores and audits clean.
        let copy = tempfile::tempdir().unwrap();
        let into = copy.path().join("r");
        let restored = rt
            .block_on(restore(&remote(mem), &into))
            .unwrap_or_else(|e| panic!("{when}, round {round}: restore failed: {e}"));
        assert!(
            restored.events == 3_001 || restored.events == 3_000,
            "{when}: {restored:?}"
        );
        match done {
            Ok(d) if d.complete() => {
                let m = shipper.as_ref().unwrap().manifest();
                assert_eq!(m.start, to, "{when}");
                return failed;
            }
            Ok(_) => {}
            Err(e) => {
                failed.push(e.to_string());
                shipper = None;
            }
        }
    }
    panic!("{when}: the bucket did not catch up: {failed:#?}");
}

#[test]
fn every_request_of_a_prune_failing_or_losing_its_answer_leaves_a_restorable_bucket() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let clean = {
        let mem = Arc::new(InMemory::new());
        let faulty = Arc::new(annal_bucket::FaultyObjectStore::new(mem.clone()));
        let mut base = 0;
        assert!(prune_and_ship(&rt, &mem, &faulty, |b| base = b, "clean").is_empty());
        faulty.requests() - base
    };
    eprintln!("shipping a prune makes {clean} requests");
    for k in 0..clean {
        for lose in [false, true] {
            let mem = Arc::new(InMemory::new());
            let faulty = Arc::new(annal_bucket::FaultyObjectStore::new(mem.clone()));
            let what = if lose { "loses its answer" } else { "fails" };
            let when = format!("request {k} after the prune {what}");
            prune_and_ship(
                &rt,
                &mem,
                &faulty,
                |base| {
                    if lose {
                        faulty.lose_reply(base + k)
                    } else {
                        faulty.fail_request(base + k)
                    }
                },
                &when,
            );
            assert_eq!(faulty.fired(), 1, "{when}: the fault fired");
        }
    }
}
