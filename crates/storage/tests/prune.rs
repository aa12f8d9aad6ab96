//! Pruning the oldest sealed segments: the trail then starts later, reads below the start are
//! refused as pruned, the tree continues from the recorded frontier, and a prune that crashed
//! between publishing the start and removing the files is finished by the next open.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use annal_model::{Event, TextField, Timestamp, NANOS_PER_DAY};
use annal_storage::{verify_dir, Options, OsFs, StorageError, Store, TrailStart, TRAIL_START_FILE};

fn event(day: i64, n: i64) -> Event {
    let t = Timestamp(1_767_225_600_000_000_000 + day * NANOS_PER_DAY + n * 1_000_000);
    let mut e = Event::new(t, t);
    e.id = Some(format!("d{day}-n{n}").into());
    e.set_text(TextField::EventType, Some("PruneTest".into()));
    e
}

/// A store with one sealed segment per day for `days` days (100 events each) and an active
/// segment of one more day.
fn store_of_days(dir: &std::path::Path, days: i64) -> Store {
    let store = Store::open(dir, Options::default()).unwrap();
    for day in 0..=days {
        let batch: Vec<Event> = (0..100).map(|n| event(day, n)).collect();
        store.append(&batch).unwrap();
    }
    store.wait_sealed().unwrap();
    store
}

#[test]
fn pruned_segments_are_gone_and_the_rest_still_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_of_days(dir.path(), 4);
    let before = verify_dir(&OsFs, dir.path(), &|_| {}).unwrap();
    assert!(before.ok(), "{:?}", before.problems);

    let err = store.prune_to(150).unwrap_err();
    assert!(
        err.to_string().contains("not where a sealed segment ends"),
        "{err}"
    );
    let removed = store.prune_to(200).unwrap();
    assert_eq!(removed.iter().map(|s| s.base).collect::<Vec<_>>(), [0, 100]);
    assert!(removed.iter().all(|s| !s.path.exists()));
    let snap = store.snapshot();
    assert_eq!((snap.start(), snap.end()), (200, 500));
    assert!(matches!(
        snap.get(42),
        Err(StorageError::Pruned {
            seq: 42,
            start: 200
        })
    ));
    assert_eq!(snap.get(200).unwrap(), event(2, 0));
    let mut seqs = Vec::new();
    snap.scan(0, 250, |seq, _| {
        seqs.push(seq);
        true
    })
    .unwrap();
    assert_eq!(seqs, (200..250).collect::<Vec<_>>());
    assert!(
        store.prune_to(100).unwrap().is_empty(),
        "an earlier start prunes nothing"
    );

    // The tree continues from the recorded frontier: the same root as before the prune.
    let after = verify_dir(&OsFs, dir.path(), &|_| {}).unwrap();
    assert!(after.ok(), "{:?}", after.problems);
    assert_eq!(
        (after.start, after.tree_size, after.root),
        (200, before.tree_size, before.root)
    );

    // More days seal on top; reopening keeps the start.
    for n in 0..100 {
        store.append(&[event(5, n)]).unwrap();
    }
    store.wait_sealed().unwrap();
    store.close().unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    assert_eq!((store.snapshot().start(), store.len()), (200, 600));
    // Everything sealed can go; the tree then lives on in the start's frontier alone.
    let last_sealed = store.snapshot().sealed().last().unwrap().end();
    store.prune_to(last_sealed).unwrap();
    store.append(&[event(6, 0)]).unwrap();
    store.wait_sealed().unwrap();
    store.close().unwrap();
    let report = verify_dir(&OsFs, dir.path(), &|_| {}).unwrap();
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!((report.start, report.tree_size), (last_sealed, 601));
}

#[test]
fn a_prune_that_crashed_before_removing_files_is_finished_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_of_days(dir.path(), 3);
    let frontier = store.snapshot().sealed()[1].frontier().clone();
    store.close().unwrap();
    // What a prune to seq 200 publishes before it removes anything.
    TrailStart::after(frontier)
        .write(&OsFs, dir.path())
        .unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    assert_eq!(store.snapshot().start(), 200);
    assert!(!dir.path().join(format!("{:020}.seg", 0)).exists());
    assert!(!dir.path().join(format!("{:020}.seg", 100)).exists());
    store.close().unwrap();
    assert!(verify_dir(&OsFs, dir.path(), &|_| {}).unwrap().ok());
}

#[test]
fn a_start_that_no_segment_begins_at_is_refused_and_nothing_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_of_days(dir.path(), 3);
    store.close().unwrap();
    let mut f = annal_storage::merkle::Frontier::new();
    for i in 0u32..150 {
        f.push(annal_storage::merkle::leaf_hash(&i.to_le_bytes()));
    }
    TrailStart::after(f).write(&OsFs, dir.path()).unwrap();
    let err = Store::open(dir.path(), Options::default()).err().unwrap();
    assert!(err.to_string().contains("starts at seq 150"), "{err}");
    assert!(dir.path().join(format!("{:020}.seg", 0)).exists());

    // A damaged start file is named, and verify reports it.
    let path = dir.path().join(TRAIL_START_FILE);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[14] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let err = Store::open(dir.path(), Options::default()).err().unwrap();
    assert!(err.to_string().contains(TRAIL_START_FILE), "{err}");
    let report = verify_dir(&OsFs, dir.path(), &|_| {}).unwrap();
    assert!(report
        .problems
        .iter()
        .any(|p| p.to_string().contains(TRAIL_START_FILE)));
}

#[test]
fn removing_a_retained_segment_by_hand_is_still_found() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_of_days(dir.path(), 4);
    store.prune_to(100).unwrap();
    store.close().unwrap();
    std::fs::remove_file(dir.path().join(format!("{:020}.seg", 100))).unwrap();
    let err = Store::open(dir.path(), Options::default()).err().unwrap();
    assert!(
        err.to_string().contains("no segment begins there")
            || err.to_string().contains("expected 100"),
        "{err}"
    );
    let report = verify_dir(&OsFs, dir.path(), &|_| {}).unwrap();
    assert!(!report.ok());
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.to_string().contains("events 100..200 are missing")),
        "{:?}",
        report.problems
    );
}

/// Builds the four-day store on `fs` (closed), returning the events by seq.
fn four_days_on(dir: &std::path::Path, fs: &annal_storage::FaultyFs) -> Vec<Event> {
    let opts = Options {
        fs: std::sync::Arc::new(fs.clone()),
        ..Options::default()
    };
    let store = Store::open(dir, opts).unwrap();
    let mut all = Vec::new();
    for day in 0..=4 {
        let batch: Vec<Event> = (0..100).map(|n| event(day, n)).collect();
        store.append(&batch).unwrap();
        all.extend(batch);
    }
    store.wait_sealed().unwrap();
    store.close().unwrap();
    all
}

#[test]
fn every_step_of_a_prune_can_fail_or_lose_power_and_leave_the_old_or_the_new_start() {
    use annal_storage::{FaultyFs, StepFault};
    let opts = |fs: &FaultyFs| Options {
        fs: std::sync::Arc::new(fs.clone()),
        ..Options::default()
    };
    // The clean run: how many steps building takes, and those of the prune after it.
    let fs = FaultyFs::new();
    fs.trace_steps();
    let dir = tempfile::tempdir().unwrap();
    four_days_on(dir.path(), &fs);
    let built = fs.steps_taken();
    let store = Store::open(dir.path(), opts(&fs)).unwrap();
    let opened = fs.steps_taken();
    store.prune_to(200).unwrap();
    let prune_steps = fs.steps()[opened as usize..].to_vec();
    store.close().unwrap();
    assert!(built > 0 && !prune_steps.is_empty());

    let mut runs = 0;
    for (i, step) in prune_steps.iter().enumerate() {
        for power_loss in [false, true] {
            let what = format!(
                "prune step {} ({:?} {}){}",
                i + 1,
                step.op,
                step.path.file_name().unwrap_or_default().to_string_lossy(),
                if power_loss { " then power loss" } else { "" }
            );
            let dir = tempfile::tempdir().unwrap();
            let fs = FaultyFs::new();
            let events = four_days_on(dir.path(), &fs);
            let store = Store::open(dir.path(), opts(&fs)).unwrap();
            fs.fail_step(fs.steps_taken() + 1 + i as u64, StepFault::Fail);
            let pruned = store.prune_to(200);
            assert_eq!(fs.fired(), 1, "{what}: the fault never fired");
            assert!(pruned.is_err(), "{what}: a failed step must fail the prune");
            drop(store);
            if power_loss {
                fs.freeze();
                fs.power_loss(i as u64).unwrap();
            }
            let store = Store::open(dir.path(), Options::default())
                .unwrap_or_else(|e| panic!("{what}: the store does not reopen: {e}"));
            let snap = store.snapshot();
            assert!(
                snap.start() == 0 || snap.start() == 200,
                "{what}: starts at {}",
                snap.start()
            );
            assert_eq!(snap.end(), 500, "{what}");
            let mut seen = Vec::new();
            snap.scan(0, u64::MAX, |seq, e| {
                seen.push((seq, e));
                true
            })
            .unwrap();
            assert_eq!(seen.len() as u64, 500 - snap.start(), "{what}");
            for (seq, e) in seen {
                assert_eq!(e, events[seq as usize], "{what}: event {seq} changed");
            }
            // The prune can be done again; the trail verifies either way.
            store.prune_to(200).unwrap();
            store.close().unwrap();
            let report = verify_dir(&OsFs, dir.path(), &|_| {}).unwrap();
            assert!(report.ok(), "{what}: {:?}", report.problems);
            assert_eq!(report.start, 200, "{what}");
            runs += 1;
        }
    }
    println!(
        "prune fault steps: {} steps, {runs} faulted runs",
        prune_steps.len()
    );
}
