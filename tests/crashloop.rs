//! The HTTP server SIGKILLed again and again under load.
//!
//! Each round starts `annal serve` on the same data directory (checkpoints signed every
//! second and at every seal), runs producers posting batches and readers paging, counting,
//! exporting and fetching checkpoints, then SIGKILLs the server at a random moment. Events of
//! each round fall on a new UTC day, so segments roll and seal while kills land.
//!
//! Afterwards a last server must start (it refuses a store that lost signed events), and:
//! - every acknowledged event is at its seq with its id, and the trail has no gap;
//! - every checkpoint any reader was served verifies with the public key and is consistent
//!   with the final tree (RFC 6962 consistency proof from the server, checked here), and
//!   `annal verify --checkpoint … --public-key …` accepts them all against the store;
//! - no request got a status other than 200, or 429 (documented backpressure).
//!
//! Rounds: 12 by default; `ANNAL_CRASHLOOP_ROUNDS=N` for more. `ANNAL_CRASHLOOP_SEED=S`
//! replays the kill times (the seed is printed). `ANNAL_TEST_BIN=target/release/annal` runs
//! a release server.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod support;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use annal_integrity::json::ConsistencyJson;
use annal_integrity::{verify_consistency, Checkpoint, NoteVerifier, DATA_PUBLIC_KEY_FILE};
use serde_json::{json, Value};
use support::server::{try_call, Server};

const PRODUCERS: u64 = 3;
const READERS: u64 = 2;

/// What all threads of all rounds saw.
#[derive(Default)]
struct Seen {
    /// (seq, id) of every acknowledged event.
    acked: Vec<(u64, String)>,
    /// Every checkpoint note served.
    checkpoints: BTreeSet<String>,
    /// Requests answered with a status other than 200 or 429.
    bad: Vec<String>,
    /// Requests answered (any status).
    answered: u64,
    /// Requests answered 429.
    backpressure: u64,
}

fn batch(round: u64, producer: u64, n: u64, len: u64) -> Vec<u8> {
    // Each round's events fall on a day of their own (in 2025: live ingest refuses events
    // dated ahead of the clock), so every round rolls a segment.
    let day = format!("2025-{:02}-{:02}", 1 + round / 28 % 12, 1 + round % 28);
    let events: Vec<Value> = (n..n + len)
        .map(|k| {
            json!({
                "id": format!("r{round}-p{producer}-n{k}"),
                "event_type": "CrashLoopTest",
                "actor_id": format!("producer-{producer}"),
                "created_at": format!("{day}T{:02}:{:02}:{:02}Z", k / 3600 % 24, k / 60 % 60, k % 60),
                "event_payload": {"k": k, "pad": "y".repeat((k % 50) as usize)},
            })
        })
        .collect();
    serde_json::to_vec(&events).unwrap()
}

fn produce(base: String, round: u64, producer: u64, stop: Arc<AtomicBool>, seen: Arc<Mutex<Seen>>) {
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let len = 1 + (n * 7 + producer) % 40;
        let body = batch(round, producer, n, len);
        let Ok(r) = try_call(
            "POST",
            &format!("{base}/v1/events"),
            None,
            Some(("application/json", &body)),
        ) else {
            return; // the server is gone
        };
        let mut seen = seen.lock().unwrap();
        seen.answered += 1;
        match r.status {
            200 => {
                let items = r.json()["items"].as_array().unwrap().clone();
                assert_eq!(items.len() as u64, len);
                for item in items {
                    let seq = item["seq"].as_u64().unwrap();
                    let id = item["id"].as_str().unwrap().to_string();
                    seen.acked.push((seq, id));
                }
                n += len;
            }
            429 => seen.backpressure += 1,
            s => seen.bad.push(format!("POST /v1/events: {s} {}", r.body)),
        }
    }
}

fn read(base: String, reader: u64, stop: Arc<AtomicBool>, seen: Arc<Mutex<Seen>>) {
    let paths = [
        "/v1/checkpoint",
        "/v1/events?limit=50",
        "/v1/events/count",
        "/v1/events?event_type=CrashLoopTest&limit=20&order=desc",
        "/v1/export?actor_id=producer-1&from=2026-01-01T00:00:00Z&to=2026-01-01T00:10:00Z",
        "/v1/events/histogram?interval=hour",
    ];
    let mut i = reader as usize;
    while !stop.load(Ordering::Relaxed) {
        let path = paths[i % paths.len()];
        i += 1;
        let Ok(r) = try_call("GET", &format!("{base}{path}"), None, None) else {
            return;
        };
        let mut seen = seen.lock().unwrap();
        seen.answered += 1;
        match r.status {
            200 if path == "/v1/checkpoint" => {
                seen.checkpoints.insert(r.body);
            }
            // Nothing signed yet: only until the signer's first turn after the first events.
            404 if path == "/v1/checkpoint" && seen.checkpoints.is_empty() => {}
            200 => {}
            429 => seen.backpressure += 1,
            s => seen.bad.push(format!("GET {path}: {s} {}", r.body)),
        }
    }
}

#[test]
fn sigkilled_server_keeps_every_acknowledged_event_and_signed_checkpoint() {
    let rounds = support::env_u64("ANNAL_CRASHLOOP_ROUNDS", 12);
    let (seed, mut rng) = support::seeded("crash loop", "ANNAL_CRASHLOOP_SEED");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = dir.path().join("annal.toml");
    std::fs::write(&cfg, "checkpoint_interval_secs = 1\n").unwrap();
    let cfg_args = ["--config", cfg.to_str().unwrap()];
    let seen = Arc::new(Mutex::new(Seen::default()));
    for round in 0..rounds {
        let server = Server::start(&data, &cfg_args);
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for p in 0..PRODUCERS {
            let (base, stop, seen) = (server.base.clone(), stop.clone(), seen.clone());
            threads.push(std::thread::spawn(move || {
                produce(base, round, p, stop, seen)
            }));
        }
        for r in 0..READERS {
            let (base, stop, seen) = (server.base.clone(), stop.clone(), seen.clone());
            threads.push(std::thread::spawn(move || read(base, r, stop, seen)));
        }
        // Kill at a random moment: sometimes at once, sometimes after seals and signatures.
        std::thread::sleep(Duration::from_millis(rng.next_u64() % 2500));
        server.kill();
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join().unwrap();
        }
    }
    let seen = Arc::try_unwrap(seen).ok().unwrap().into_inner().unwrap();
    println!(
        "crash loop (seed {seed}): {rounds} kills, {} events acknowledged, {} checkpoints served, {} requests answered, {} answered 429",
        seen.acked.len(),
        seen.checkpoints.len(),
        seen.answered,
        seen.backpressure
    );
    assert!(seen.bad.is_empty(), "seed {seed}: {:#?}", seen.bad);
    assert!(
        seen.acked.len() as u64 >= rounds,
        "seed {seed}: too few appends to prove much"
    );

    // The last start refuses a store that lost or changed signed events.
    let server = Server::start(&data, &cfg_args);
    check_events(&server, &seen.acked, seed);
    check_checkpoints(&server, &seen.checkpoints, seed);
    drop(server);
    check_offline(dir.path(), &seen.checkpoints, seed);
}

/// Every acknowledged event is at its seq, once, and the trail is dense.
fn check_events(server: &Server, acked: &[(u64, String)], seed: u64) {
    use std::io::BufRead;
    let export = ureq::get(&format!("{}/v1/export", server.base))
        .call()
        .unwrap();
    let stored: Vec<(u64, String)> = std::io::BufReader::new(export.into_reader())
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(&l.unwrap()).unwrap();
            (
                v["seq"].as_u64().unwrap(),
                v["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (i, (seq, _)) in stored.iter().enumerate() {
        assert_eq!(
            *seq, i as u64,
            "seed {seed}: the trail has a gap before seq {seq}"
        );
    }
    for (seq, id) in acked {
        assert_eq!(
            stored.get(*seq as usize).map(|s| &s.1),
            Some(id),
            "seed {seed}: acknowledged seq {seq} ({id}) lost or changed"
        );
    }
    let ids: BTreeSet<&str> = stored.iter().map(|s| s.1.as_str()).collect();
    assert_eq!(
        ids.len(),
        stored.len(),
        "seed {seed}: an id is stored twice"
    );
}

/// Every checkpoint served verifies, and the final tree extends it.
fn check_checkpoints(server: &Server, notes: &BTreeSet<String>, seed: u64) {
    let key = std::fs::read_to_string(server.data.join(DATA_PUBLIC_KEY_FILE)).unwrap();
    let verifier = NoteVerifier::from_text(&key).unwrap();
    let latest = try_call("GET", &format!("{}/v1/checkpoint", server.base), None, None).unwrap();
    let latest: Checkpoint = verifier.verify(&latest.body).unwrap();
    for note in notes {
        let cp = verifier
            .verify(note)
            .unwrap_or_else(|e| panic!("seed {seed}: a served checkpoint does not verify: {e}"));
        assert!(
            cp.size <= latest.size,
            "seed {seed}: checkpoint {} beyond the trail",
            cp.size
        );
        if cp.size == latest.size || cp.size == 0 {
            assert!(
                cp.size == 0 || cp.root == latest.root,
                "seed {seed}: two roots at size {}",
                cp.size
            );
            continue;
        }
        let url = format!(
            "{}/v1/proof/consistency?first={}&second={}",
            server.base, cp.size, latest.size
        );
        let r = try_call("GET", &url, None, None).unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        let proof: ConsistencyJson = serde_json::from_str(&r.body).unwrap();
        assert!(
            verify_consistency(
                cp.size,
                latest.size,
                &cp.root,
                &latest.root,
                &proof.hashes().unwrap()
            ),
            "seed {seed}: checkpoint {} is not extended by the trail",
            cp.size
        );
    }
}

/// The auditor's tool agrees, offline: every checkpoint holds against the store.
fn check_offline(dir: &std::path::Path, notes: &BTreeSet<String>, seed: u64) {
    let data = dir.join("data");
    let mut args = vec![
        "verify".to_string(),
        "--data".into(),
        data.display().to_string(),
        "--public-key".into(),
        data.join(DATA_PUBLIC_KEY_FILE).display().to_string(),
    ];
    for (i, note) in notes.iter().enumerate() {
        let path = dir.join(format!("checkpoint-{i}"));
        std::fs::write(&path, note).unwrap();
        args.extend(["--checkpoint".into(), path.display().to_string()]);
    }
    let out = std::process::Command::new(support::server::annal_bin())
        .args(&args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "seed {seed}: annal verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
