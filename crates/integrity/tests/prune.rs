//! Pruning against an oracle: generated trails with checkpoints signed at random sizes are
//! pruned at random segment ends, again and again; after each prune every retained event is
//! provable against every checkpoint that covers it, every checkpoint ever signed is
//! consistent with the newest, the audit passes and names each pruned range, a pruned event's
//! proof is refused, and a forged kept hash or a prune whose removal crashed are handled.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use annal_integrity::{
    audit, finish_pending_prune, leaf_hash, prune_store, read_lifecycle, verify_consistency,
    verify_inclusion, AuditOptions, Checkpoint, IntegrityError, LifecycleLog, LifecycleRecord,
    Notary, NoteSigner, NoteVerifier, PruneBy, LIFECYCLE_LOG_FILE,
};
use annal_model::{Event, TextField, Timestamp, NANOS_PER_DAY};
use annal_storage::{Options, OsFs, Store};

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn event(day: u64, n: u64) -> Event {
    let t = Timestamp(1_767_225_600_000_000_000 + (day as i64) * NANOS_PER_DAY + n as i64 * 1000);
    let mut e = Event::new(t, t);
    e.id = Some(format!("d{day}-{n}").into());
    e.set_text(TextField::EventType, Some(format!("Type{}", n % 7).into()));
    e
}

/// Appends `days` days of events (one segment per day), signing a checkpoint after every
/// batch; returns the checkpoints signed.
fn grow(
    store: &Store,
    notary: &Notary,
    rng: &mut Rng,
    days: std::ops::Range<u64>,
) -> Vec<Checkpoint> {
    let mut signed = Vec::new();
    for day in days {
        let batches = 1 + rng.below(4);
        let mut n = 0;
        for _ in 0..batches {
            let count = 1 + rng.below(300);
            let batch: Vec<Event> = (n..n + count).map(|i| event(day, i)).collect();
            n += count;
            store.append(&batch).unwrap();
            store.wait_sealed().unwrap();
            signed.push(notary.sign(&store.snapshot()).unwrap().unwrap().checkpoint);
        }
    }
    signed
}

/// Every retained event is provable against every checkpoint covering it (a sample of
/// events), every checkpoint is consistent with the newest, and the audit passes.
fn check_everything(
    store: &Store,
    notary: &Notary,
    key: &NoteVerifier,
    checkpoints: &[Checkpoint],
    rng: &mut Rng,
) {
    let snap = store.snapshot();
    let newest = checkpoints.last().unwrap();
    for cp in checkpoints {
        let proof = notary.consistency(&snap, cp.size, newest.size).unwrap();
        assert!(
            verify_consistency(cp.size, newest.size, &cp.root, &newest.root, &proof),
            "checkpoint {} is not consistent with {} after pruning to {}",
            cp.size,
            newest.size,
            snap.start()
        );
        if cp.size <= snap.start() {
            continue;
        }
        for _ in 0..4 {
            let seq = snap.start() + rng.below(cp.size - snap.start());
            let p = notary.inclusion(&snap, seq, cp.size).unwrap();
            assert!(
                verify_inclusion(
                    &leaf_hash(&p.leaf_input),
                    seq,
                    cp.size,
                    &p.audit_path,
                    &cp.root
                ),
                "event {seq} in checkpoint {}",
                cp.size
            );
        }
    }
    if snap.start() > 0 {
        let err = notary
            .inclusion(&snap, snap.start() - 1, newest.size)
            .unwrap_err();
        assert!(matches!(err, IntegrityError::Pruned { .. }), "{err}");
    }
    let report = audit(&OsFs, store.dir(), &key_of(key), &|_| {}).unwrap();
    assert!(
        report.ok(),
        "{:?} {:?}",
        report.data.problems,
        report.problems
    );
    assert_eq!(report.stored.valid, checkpoints.len() as u64);
    assert_eq!(report.pruned.last().map_or(0, |p| p.to_seq), snap.start());
}

/// A store with `days` days of events (checkpoints signed as they grow), its notary and key,
/// the checkpoints, and the randomness that made them.
struct Trail {
    dir: tempfile::TempDir,
    store: Store,
    notary: Notary,
    key: NoteVerifier,
    checkpoints: Vec<Checkpoint>,
    rng: Rng,
}

fn trail(seed: u64, days: u64) -> Trail {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    let signer = NoteSigner::generate("prune-test").unwrap();
    let key = signer.verifier();
    let notary = Notary::open(dir.path(), signer, "prune-test", &store.snapshot()).unwrap();
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let checkpoints = grow(&store, &notary, &mut rng, 0..days);
    Trail {
        dir,
        store,
        notary,
        key,
        checkpoints,
        rng,
    }
}

fn key_of(key: &NoteVerifier) -> AuditOptions {
    AuditOptions {
        public_key: Some(key.clone()),
        ..AuditOptions::default()
    }
}

fn who() -> PruneBy {
    PruneBy {
        policy: "manual".into(),
        by: "test".into(),
        reason: "oracle".into(),
        at_ns: 1,
    }
}

#[test]
fn random_prunes_keep_every_proof() {
    for seed in 1..=4u64 {
        let Trail {
            dir,
            store,
            notary,
            key,
            mut checkpoints,
            mut rng,
        } = trail(seed, 10);
        let mut log = LifecycleLog::open(dir.path()).unwrap();
        for round in 0..4u64 {
            let snap = store.snapshot();
            let ends: Vec<u64> = snap
                .sealed()
                .iter()
                .map(|s| s.end())
                .filter(|e| *e > snap.start())
                .collect();
            if ends.len() < 2 {
                break;
            }
            let to = ends[rng.below(ends.len() as u64 - 1) as usize];
            let done = prune_store(&store, &mut log, to, &who(), &|| {
                notary.reload_kept(store.dir())
            })
            .unwrap();
            assert_eq!(
                done.last().unwrap().record.to_seq,
                to,
                "seed {seed} round {round}"
            );
            check_everything(&store, &notary, &key, &checkpoints, &mut rng);
            checkpoints.extend(grow(
                &store,
                &notary,
                &mut rng,
                10 + 2 * round..12 + 2 * round,
            ));
            check_everything(&store, &notary, &key, &checkpoints, &mut rng);
        }
        // Reopened, the notary takes the kept hashes from the lifecycle log.
        drop(notary);
        let notary = Notary::open(
            dir.path(),
            NoteSigner::generate("prune-test").unwrap(),
            "prune-test",
            &store.snapshot(),
        )
        .unwrap();
        check_everything(&store, &notary, &key, &checkpoints, &mut rng);
    }
}

#[test]
fn a_prune_interrupted_before_removal_verifies_and_is_finished() {
    let Trail {
        dir,
        store,
        notary,
        key,
        checkpoints,
        mut rng,
    } = trail(77, 6);
    let to = store.snapshot().sealed()[2].end();
    let mut log = LifecycleLog::open(dir.path()).unwrap();
    let err = prune_store(&store, &mut log, to, &who(), &|| {
        Err(IntegrityError::Source("crash".into()))
    })
    .unwrap_err();
    assert!(err.to_string().contains("crash"));
    assert_eq!(store.snapshot().start(), 0, "nothing was removed");
    // The old state: the record is there, the segments too; both verify.
    let report = audit(&OsFs, dir.path(), &key_of(&key), &|_| {}).unwrap();
    assert!(
        report.ok(),
        "{:?} {:?}",
        report.data.problems,
        report.problems
    );
    notary.reload_kept(dir.path()).unwrap();
    check_everything_but_the_start(&store, &notary, &checkpoints);
    let removed = finish_pending_prune(&store, &log).unwrap();
    assert_eq!(removed.len(), 3);
    check_everything(&store, &notary, &key, &checkpoints, &mut rng);

    // Segments pruned by hand, without a record, are found.
    let beyond = store.snapshot().sealed()[1].end();
    store.prune_to(beyond).unwrap();
    let report = audit(&OsFs, dir.path(), &key_of(&key), &|_| {}).unwrap();
    assert!(!report.ok());
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.msg.contains("were removed without a record")),
        "{:?}",
        report.problems
    );
}

fn check_everything_but_the_start(store: &Store, notary: &Notary, checkpoints: &[Checkpoint]) {
    let snap = store.snapshot();
    let newest = checkpoints.last().unwrap();
    for cp in checkpoints {
        let proof = notary.consistency(&snap, cp.size, newest.size).unwrap();
        assert!(verify_consistency(
            cp.size,
            newest.size,
            &cp.root,
            &newest.root,
            &proof
        ));
    }
}

#[test]
fn a_forged_kept_hash_fails_the_audit() {
    let Trail {
        dir,
        store,
        notary,
        key,
        ..
    } = trail(5, 8);
    let to = store.snapshot().sealed()[4].end();
    let mut log = LifecycleLog::open(dir.path()).unwrap();
    prune_store(&store, &mut log, to, &who(), &|| {
        notary.reload_kept(store.dir())
    })
    .unwrap();
    drop(log);
    // Rewrite the log with one kept node changed, every frame's CRC valid.
    let mut records = read_lifecycle(dir.path()).unwrap();
    let LifecycleRecord::Prune(p) = &mut records[0].record else {
        panic!("not a prune")
    };
    let mut nodes = p.kept.decoded_nodes().unwrap();
    nodes[0].2[0] ^= 1;
    p.kept = annal_integrity::KeptPart::new(p.kept.first_tile, &p.kept.roots().unwrap(), &nodes);
    std::fs::remove_file(dir.path().join(LIFECYCLE_LOG_FILE)).unwrap();
    let mut forged = LifecycleLog::open(dir.path()).unwrap();
    for r in records {
        forged.append(r.record).unwrap();
    }
    let report = audit(&OsFs, dir.path(), &key_of(&key), &|_| {}).unwrap();
    assert!(!report.ok());
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.msg.contains(LIFECYCLE_LOG_FILE)),
        "{:?}",
        report.problems
    );
}
