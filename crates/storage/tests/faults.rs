//! Every step of append, roll and seal made to fail or be cut short, one at a time.
//!
//! A scripted workload (one producer, 64 KiB segments, three UTC days) is first run without
//! faults to count and name its file-system steps: each write, fdatasync, truncation,
//! creation, rename, removal and directory fsync. Then, for every step k, the workload runs
//! again with step k failing (and, for writes, cut short at half), and afterwards either
//! - the process "survives": the store is dropped and reopened as it is on disk, or
//! - the machine loses power right after: only what was synced survives (as LazyFS keeps it).
//!
//! Each time: every acknowledged event is there with its seq, the trail is a prefix of what
//! the producer sent (nothing unacknowledged beyond a failed batch, nothing reordered or
//! doubled), the reopened store accepts appends again, and `verify` finds nothing wrong.
//! A producer retries a failed batch, as a real one does (the ids make retries idempotent),
//! and stops at a poisoned store until it is reopened.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod support;

use std::path::Path;
use std::sync::Arc;

use annal_model::{Event, IntField, TextField, Timestamp, NANOS_PER_DAY};
use annal_storage::{verify_dir, FaultyFs, Options, OsFs, StepFault, StorageError, Store};

const EVENTS: u64 = 1500;
const BATCH: usize = 50;
/// Tries of one batch before the producer gives up on this run.
const RETRIES: usize = 3;

fn options(fs: Option<&FaultyFs>) -> Options {
    let mut opts = Options {
        segment_bytes_max: 64 << 10, // the smallest allowed: rolls by size as well as by day
        ..Options::default()
    };
    if let Some(fs) = fs {
        opts.fs = Arc::new(fs.clone());
    }
    opts
}

/// The producer's events: three UTC days, ids for idempotent retries.
fn events() -> Vec<Event> {
    (0..EVENTS)
        .map(|n| {
            let t = Timestamp(1_767_225_600_000_000_000 + (n * 3 / EVENTS) as i64 * NANOS_PER_DAY);
            let mut e = Event::new(Timestamp(t.0 + n as i64), t);
            e.id = Some(format!("fault-{n}").into());
            e.set_text(TextField::EventType, Some("FaultStepTest".into()));
            e.set_int(IntField::TaskId, Some(n as i64));
            e.payload = Some(format!("{{\"pad\":\"{}\"}}", "q".repeat((n % 90) as usize)).into());
            e
        })
        .collect()
}

/// Runs the producer against a store on `fs`: the acknowledged (seq, event index) pairs.
fn produce(dir: &Path, fs: &FaultyFs, events: &[Event]) -> Vec<(u64, usize)> {
    let mut acked = Vec::new();
    let Ok(store) = Store::open(dir, options(Some(fs))) else {
        return acked; // a failed open acknowledges nothing
    };
    'batches: for (b, batch) in events.chunks(BATCH).enumerate() {
        for _ in 0..RETRIES {
            match store.append(batch) {
                Ok(acks) => {
                    acked.extend(acks.iter().enumerate().map(|(i, a)| (a.seq, b * BATCH + i)));
                    // Seal now, so every run takes the same steps in the same order.
                    let _ = store.wait_sealed();
                    continue 'batches;
                }
                Err(StorageError::Poisoned(_)) => break 'batches,
                Err(_) => continue,
            }
        }
        break;
    }
    let _ = store.close();
    acked
}

/// What a reopened store must hold after a run that acknowledged `acked`.
fn check_reopened(dir: &Path, events: &[Event], acked: &[(u64, usize)], what: &str) {
    let store = Store::open(dir, options(None))
        .unwrap_or_else(|e| panic!("{what}: the store does not reopen: {e}"));
    let stored = support::all_events(&store)
        .unwrap_or_else(|e| panic!("{what}: reading the reopened trail failed: {e}"));
    for &(seq, i) in acked {
        assert_eq!(
            stored.get(seq as usize),
            Some(&events[i]),
            "{what}: acknowledged seq {seq} (event {i}) lost or changed"
        );
    }
    assert!(
        stored.len() <= events.len() && stored[..] == events[..stored.len()],
        "{what}: the trail is not a prefix of what was sent ({} events)",
        stored.len()
    );
    let next = &events[stored.len()..(stored.len() + 5).min(events.len())];
    if !next.is_empty() {
        let acks = store
            .append(next)
            .unwrap_or_else(|e| panic!("{what}: the reopened store refuses appends: {e}"));
        assert_eq!(
            acks[0].seq,
            stored.len() as u64,
            "{what}: seq gap after reopen"
        );
    }
    store
        .wait_sealed()
        .unwrap_or_else(|e| panic!("{what}: sealing after reopen failed: {e}"));
    store.close().unwrap();
    let report = verify_dir(&OsFs, dir, &|_| {}).unwrap();
    assert!(report.ok(), "{what}: verify: {:?}", report.problems);
}

#[test]
fn every_step_of_append_roll_and_seal_can_fail_without_losing_an_acknowledged_event() {
    let events = events();
    let fs = FaultyFs::new();
    fs.trace_steps();
    let dir = tempfile::tempdir().unwrap();
    let acked = produce(dir.path(), &fs, &events);
    assert_eq!(
        acked.len(),
        events.len(),
        "the run without faults must ack all"
    );
    let steps = fs.steps();
    assert_eq!(steps.len() as u64, fs.steps_taken());
    let seals = steps
        .iter()
        .filter(|s| s.path.extension().is_some_and(|x| x == "seg"))
        .count();
    assert!(seals > 0, "the workload must seal segments: {steps:?}");
    check_reopened(dir.path(), &events, &acked, "no fault");

    let mut runs = 0;
    let mut lost_acks_possible = 0;
    for (k, step) in steps.iter().enumerate() {
        let k = k as u64 + 1;
        let faults: &[StepFault] = if step.op == annal_storage::FaultOp::Write {
            &[StepFault::Fail, StepFault::Short]
        } else {
            &[StepFault::Fail]
        };
        for &fault in faults {
            for power_loss in [false, true] {
                let what = format!(
                    "step {k} ({:?} {}) {fault:?}{}",
                    step.op,
                    step.path.file_name().unwrap_or_default().to_string_lossy(),
                    if power_loss { " then power loss" } else { "" }
                );
                let dir = tempfile::tempdir().unwrap();
                let fs = FaultyFs::new();
                fs.fail_step(k, fault);
                let acked = produce(dir.path(), &fs, &events);
                assert_eq!(fs.fired(), 1, "{what}: the fault never fired");
                if acked.len() < events.len() {
                    lost_acks_possible += 1;
                }
                if power_loss {
                    fs.freeze();
                    fs.power_loss(k).unwrap();
                }
                check_reopened(dir.path(), &events, &acked, &what);
                runs += 1;
            }
        }
    }
    println!(
        "fault steps: {} steps, {runs} faulted runs, {lost_acks_possible} stopped the producer",
        steps.len()
    );
    assert!(
        lost_acks_possible > 0,
        "no fault ever stopped an append: the faults did not bite"
    );
}
