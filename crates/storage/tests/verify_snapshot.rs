//! `verify_snapshot`: the audit of a running store reads its sealed segments from disk, so
//! damage made after they were opened is found, and appends and seals going on beside it are
//! never reported as damage.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use annal_model::{Event, TextField, Timestamp};
use annal_storage::{
    verify_dir, verify_snapshot, Options, OsFs, Store, VerifyOptions, SEGMENT_BYTES_MIN,
};

fn events(from: i64, n: i64) -> Vec<Event> {
    (from..from + n)
        .map(|i| {
            let t = Timestamp(1_700_000_000_000_000_000 + i * 1_000_000);
            let mut e = Event::new(t, t);
            e.set_text(TextField::EventType, Some(format!("Type{}", i % 7).into()));
            e
        })
        .collect()
}

fn opts() -> Options {
    Options {
        roll_daily: false,
        segment_bytes_max: SEGMENT_BYTES_MIN,
        ..Options::default()
    }
}

#[test]
fn damage_on_disk_after_open_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    for k in 0..6 {
        store.append(&events(k * 500, 500)).unwrap();
    }
    store.wait_sealed().unwrap();
    let clean = verify_snapshot(&OsFs, &store.snapshot(), &VerifyOptions::default(), &|_| {});
    assert!(clean.ok(), "{:?}", clean.problems);
    assert_eq!(clean.events, 3000);
    let seg = dir.path().join("00000000000000000000.seg");
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[64 + 10] ^= 0x40;
    std::fs::write(&seg, &bytes).unwrap();
    let report = verify_snapshot(&OsFs, &store.snapshot(), &VerifyOptions::default(), &|_| {});
    assert!(
        report.problems.iter().any(|p| p.file == seg),
        "{:?}",
        report.problems
    );
    store.close().unwrap();
}

#[test]
fn appends_and_seals_going_on_are_not_damage() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(Store::open(dir.path(), opts()).unwrap());
    let writer = {
        let store = store.clone();
        std::thread::spawn(move || {
            for k in 0..400 {
                store.append(&events(k * 25, 25)).unwrap();
            }
        })
    };
    let mut runs = 0;
    while !writer.is_finished() {
        let report = verify_snapshot(&OsFs, &store.snapshot(), &VerifyOptions::default(), &|_| {});
        assert!(report.ok(), "run {runs}: {:?}", report.problems);
        runs += 1;
    }
    writer.join().unwrap();
    let report = verify_snapshot(&OsFs, &store.snapshot(), &VerifyOptions::default(), &|_| {});
    assert!(
        report.ok() && report.events == 10_000,
        "{:?}",
        report.problems
    );
    assert!(runs > 0);
}

/// Every byte of a sealed segment matters: header, blocks, tables and footer. The snapshot's
/// audit opens the file again rather than trusting the layout read at open, so a flip of any
/// byte is found, as `annal verify` finds it.
#[test]
fn a_flip_of_any_byte_of_a_sealed_segment_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    // Alike events, so the first sealed segment is small (about 500 bytes): every byte of it
    // is flipped in turn.
    let alike: Vec<Event> = events(0, 2000)
        .into_iter()
        .map(|mut e| {
            e.set_text(TextField::EventType, Some("LoginFailed".into()));
            e
        })
        .collect();
    for chunk in alike.chunks(500) {
        store.append(chunk).unwrap();
    }
    store.wait_sealed().unwrap();
    let seg = dir.path().join("00000000000000000000.seg");
    let clean = std::fs::read(&seg).unwrap();
    let mut missed = Vec::new();
    for at in 0..clean.len() {
        let mut bytes = clean.clone();
        bytes[at] ^= 0x40;
        std::fs::write(&seg, &bytes).unwrap();
        let live = verify_snapshot(&OsFs, &store.snapshot(), &VerifyOptions::default(), &|_| {});
        let offline = verify_dir(&OsFs, dir.path(), &|_| {}).unwrap();
        if live.ok() || offline.ok() {
            missed.push((at, live.ok(), offline.ok()));
        }
    }
    std::fs::write(&seg, &clean).unwrap();
    assert!(
        missed.is_empty(),
        "flips not found (offset, live ok, offline ok): {missed:?}"
    );
    store.close().unwrap();
}
