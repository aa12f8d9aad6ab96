//! Crash safety: a child process appends from several threads and prints every acknowledged
//! seq; the parent SIGKILLs it at random moments, reopens the store, and checks that every
//! acknowledged event is present and intact. Segments are tiny so kills also land during
//! rolls and seals.
//!
//! Cycles: 30 by default; `ANNAL_CRASH_CYCLES=N` for more. `ANNAL_CRASH_SEED=S` replays a run
//! (the seed is printed).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::io::{BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

mod support;

use annal_model::{Event, IntField, TextField, Timestamp};
use annal_storage::{verify_dir, Durability, Options, OsFs, Store};

const CHILD_ENV: &str = "ANNAL_CRASH_CHILD_DIR";
const PRODUCERS: usize = 4;

fn options() -> Options {
    Options {
        segment_bytes_max: 64 << 10,
        durability: Durability::EveryBatch,
        ..Options::default()
    }
}

/// The event a producer appends as its `n`-th in cycle `cycle`: the parent rebuilds it from
/// the id alone to check the stored one is intact.
fn make_event(cycle: u64, thread: u64, n: u64) -> Event {
    // Spread over days so the store also rolls at day boundaries.
    let t =
        Timestamp(1_767_225_600_000_000_000 + (cycle * 1000 + n) as i64 * 3_600_000_000_000 / 50);
    let mut e = Event::new(t, t);
    e.id = Some(format!("c{cycle}-t{thread}-n{n}").into());
    e.set_text(TextField::EventType, Some("CrashTest".into()));
    e.set_text(
        TextField::ActorId,
        Some(format!("producer-{thread}").into()),
    );
    e.set_int(IntField::TaskId, Some(n as i64));
    e.payload = Some(
        format!(
            "{{\"n\":{n},\"pad\":\"{}\"}}",
            "x".repeat((n % 40) as usize)
        )
        .into(),
    );
    e
}

/// (cycle, thread, n) of an id `c{cycle}-t{thread}-n{n}`; None for a line the kill cut short.
fn parse_id(id: &str) -> Option<(u64, u64, u64)> {
    let mut it = id.split('-').map(|p| p.get(1..)?.parse::<u64>().ok());
    let parsed = (it.next()??, it.next()??, it.next()??);
    it.next().is_none().then_some(parsed)
}

/// The child: runs until killed. Not a real test when run without the environment variable.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let cycle: u64 = std::env::var("ANNAL_CRASH_CYCLE").unwrap().parse().unwrap();
    let store = std::sync::Arc::new(Store::open(&dir, options()).unwrap());
    let out = std::sync::Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let handles: Vec<_> = (0..PRODUCERS as u64)
        .map(|thread| {
            let (store, out) = (store.clone(), out.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                loop {
                    let batch = 1 + (n * 7 + thread) % 20;
                    let events: Vec<Event> = (n..n + batch)
                        .map(|k| make_event(cycle, thread, k))
                        .collect();
                    let acks = store.append(&events).unwrap();
                    let mut o = out.lock().unwrap();
                    for (e, a) in events.iter().zip(acks) {
                        writeln!(o, "{} {}", a.seq, e.id.as_deref().unwrap()).unwrap();
                    }
                    o.flush().unwrap();
                    n += batch;
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn sigkill_loses_no_acknowledged_event() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let cycles = support::env_u64("ANNAL_CRASH_CYCLES", 30);
    println!("crash loop: {cycles} cycles");
    let (seed, mut rng) = support::seeded("crash loop", "ANNAL_CRASH_SEED");
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut acked: Vec<(u64, String)> = Vec::new();
    for cycle in 0..cycles {
        let mut child = Command::new(&exe)
            .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .env("ANNAL_CRASH_CYCLE", cycle.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut out = Vec::new();
            let _ = BufReader::new(stdout).read_to_end(&mut out);
            out
        });
        std::thread::sleep(Duration::from_millis(30 + rng.next_u64() % 250));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let out = String::from_utf8_lossy(&reader.join().unwrap()).into_owned();
        // Only newline-terminated lines are acknowledgements the parent saw whole: the last
        // piece is empty or a line the kill cut short ("…-n4" of "…-n45").
        let whole = out.rsplit_once('\n').map_or("", |(whole, _)| whole);
        for line in whole.lines() {
            // Other lines are the child test harness's own output ("running 1 test").
            let ack = line
                .split_once(' ')
                .and_then(|(seq, id)| Some((seq.parse::<u64>().ok()?, parse_id(id)?, id)));
            if let Some((seq, _, id)) = ack {
                acked.push((seq, id.to_string()));
            }
        }
        let store = Store::open(dir.path(), options())
            .unwrap_or_else(|e| panic!("seed {seed} cycle {cycle}: reopen failed: {e}"));
        // One ordered pass decodes each sealed block once.
        let stored = support::all_events(&store)
            .unwrap_or_else(|e| panic!("seed {seed} cycle {cycle}: reading the trail failed: {e}"));
        for (seq, id) in &acked {
            let got = stored.get(*seq as usize).unwrap_or_else(|| {
                panic!("seed {seed} cycle {cycle}: acknowledged seq {seq} ({id}) lost")
            });
            let (c, t, n) = parse_id(id).unwrap();
            assert_eq!(
                *got,
                make_event(c, t, n),
                "seed {seed} cycle {cycle}: seq {seq} changed"
            );
        }
        store.close().unwrap();
    }
    assert!(
        acked.len() > cycles as usize,
        "the child acknowledged almost nothing; the test proves little"
    );
    let report = verify_dir(&OsFs, dir.path(), &|_| {}).unwrap();
    assert!(
        report.ok(),
        "seed {seed}: verify found {:?}",
        report.problems
    );
    assert!(
        report.sealed_files > 0,
        "no segment was sealed; kills never met a seal"
    );
    println!(
        "crash loop: {} acknowledged events checked, {} segments sealed",
        acked.len(),
        report.sealed_files
    );
}
