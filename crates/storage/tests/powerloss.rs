//! Power loss, modelled as LazyFS does: only what was fdatasync'ed survives, plus a torn
//! prefix of what was not; renames and new directory entries survive only if their directory
//! was fsync'ed. SIGKILL (tests/crash.rs) keeps the page cache and so cannot catch a missing
//! fsync; this can. Segments are tiny, so power fails during rolls, seals and publishes too.
//!
//! Cycles: 20 by default; `ANNAL_POWERLOSS_CYCLES=N` for more. `ANNAL_POWERLOSS_SEED=S`
//! replays a run (the seed is printed).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use annal_model::{Event, IntField, TextField, Timestamp, NANOS_PER_DAY};
use annal_storage::{verify_dir, FaultyFs, Options, OsFs, Store};

const PRODUCERS: u64 = 3;

fn options(fs: Option<FaultyFs>) -> Options {
    let mut opts = Options {
        segment_bytes_max: 64 << 10,
        ..Options::default()
    };
    if let Some(fs) = fs {
        opts.fs = Arc::new(fs);
    }
    opts
}

fn event(cycle: u64, thread: u64, n: u64) -> Event {
    // About 40 events per day: days roll every few batches.
    let t =
        Timestamp(1_767_225_600_000_000_000 + ((cycle * 10_000 + n) as i64) * (NANOS_PER_DAY / 40));
    let mut e = Event::new(t, t);
    e.id = Some(format!("c{cycle}-t{thread}-n{n}").into());
    e.set_text(TextField::EventType, Some("PowerLossTest".into()));
    e.set_int(IntField::TaskId, Some(n as i64));
    e.payload = Some(format!("{{\"pad\":\"{}\"}}", "z".repeat((n % 64) as usize)).into());
    e
}

#[test]
fn power_loss_keeps_every_acknowledged_event() {
    let cycles = support::env_u64("ANNAL_POWERLOSS_CYCLES", 20);
    println!("power loss: {cycles} cycles");
    let (seed, mut rng) = support::seeded("power loss", "ANNAL_POWERLOSS_SEED");
    let dir = tempfile::tempdir().unwrap();
    let mut acked: Vec<(u64, Event)> = Vec::new();
    let mut changes = 0;
    for cycle in 0..cycles {
        let fs = FaultyFs::new();
        let store = Arc::new(Store::open(dir.path(), options(Some(fs.clone()))).unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|thread| {
                let (store, stop, seen) = (store.clone(), stop.clone(), seen.clone());
                std::thread::spawn(move || {
                    let mut n = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let batch: Vec<Event> = (n..n + 1 + (n * 7 + thread) % 20)
                            .map(|k| event(cycle, thread, k))
                            .collect();
                        n += batch.len() as u64;
                        match store.append(&batch) {
                            Ok(acks) => seen
                                .lock()
                                .unwrap()
                                .extend(acks.iter().map(|a| a.seq).zip(batch)),
                            Err(_) => return, // the machine is off
                        }
                    }
                })
            })
            .collect();
        // Half the cycles lose power after a random time, half right after a random change
        // (a write before its fdatasync, a rename before its directory sync, …).
        if cycle % 2 == 0 {
            std::thread::sleep(Duration::from_millis(20 + rng.next_u64() % 180));
        } else {
            fs.freeze_after(1 + rng.next_u64() % 300);
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while !fs.is_frozen() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        fs.freeze();
        stop.store(true, Ordering::Relaxed);
        for p in producers {
            p.join().unwrap();
        }
        drop(store);
        changes += fs.power_loss(rng.next_u64()).unwrap().len();
        acked.append(&mut seen.lock().unwrap());

        let store = Store::open(dir.path(), options(None)).unwrap_or_else(|e| {
            panic!("seed {seed} cycle {cycle}: reopen after power loss failed: {e}")
        });
        let stored = support::all_events(&store)
            .unwrap_or_else(|e| panic!("seed {seed} cycle {cycle}: reading the trail failed: {e}"));
        for (seq, e) in &acked {
            let got = stored.get(*seq as usize).unwrap_or_else(|| {
                panic!("seed {seed} cycle {cycle}: acknowledged seq {seq} lost")
            });
            assert_eq!(
                got, e,
                "seed {seed} cycle {cycle}: acknowledged seq {seq} changed"
            );
        }
        store.wait_sealed().unwrap();
        store.close().unwrap();
    }
    assert!(
        acked.len() as u64 > cycles * 10,
        "too few appends were acknowledged to prove much"
    );
    assert!(
        changes > 0,
        "no power loss dropped anything: the model never bit"
    );
    let report = verify_dir(&OsFs, dir.path(), &|_| {}).unwrap();
    assert!(report.ok(), "seed {seed}: {:?}", report.problems);
    assert!(report.sealed_files > 0);
    println!(
        "power loss: {} acknowledged events checked, {} files cut or undone, {} sealed segments",
        acked.len(),
        changes,
        report.sealed_files
    );
}
