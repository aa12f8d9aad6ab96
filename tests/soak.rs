//! A load soak of `annal serve` on loopback: producers, readers, live streams, exports and an
//! auditor at once, for a bounded time. No request may fail except by documented
//! backpressure (429 with Retry-After), every acknowledged event must be stored, and the
//! server's memory must stay flat: after the warm-up third its resident set may not keep
//! growing with the requests served.
//!
//! Seconds: 20 by default; `ANNAL_SOAK_SECS=N` for a longer soak, and
//! `ANNAL_TEST_BIN=target/release/annal` to soak a release server. The figures are printed.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod support;

use std::io::{BufRead, BufReader};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::server::{try_call, Reply, Server};

/// Events in one producer request.
const BATCH: u64 = 100;
/// Seconds of events that fall on one UTC day: the store rolls and seals every few seconds.
const SECONDS_PER_DAY: u64 = 4;

#[derive(Default)]
struct Tally {
    requests: AtomicU64,
    backpressure: AtomicU64,
    acked: AtomicU64,
    streamed: AtomicU64,
    exported_lines: AtomicU64,
    bad: Mutex<Vec<String>>,
}

impl Tally {
    /// Counts an answer; true when it was a 200.
    fn answer(&self, what: &str, status: u16, body: &str) -> bool {
        self.requests.fetch_add(1, Ordering::Relaxed);
        match status {
            200 => true,
            429 => {
                self.backpressure.fetch_add(1, Ordering::Relaxed);
                false
            }
            s => {
                let mut bad = self.bad.lock().unwrap();
                if bad.len() < 20 {
                    bad.push(format!("{what}: {s} {}", &body[..body.len().min(300)]));
                }
                false
            }
        }
    }
}

struct Load {
    base: String,
    started: Instant,
    stop: AtomicBool,
    tally: Tally,
}

impl Load {
    fn running(&self) -> bool {
        !self.stop.load(Ordering::Relaxed)
    }

    /// A request that must be answered (the server is never killed in a soak).
    fn call(&self, what: &str, method: &str, path: &str, body: Option<&[u8]>) -> Reply {
        let url = format!("{}{path}", self.base);
        try_call(method, &url, None, body.map(|b| ("application/json", b)))
            .unwrap_or_else(|e| panic!("{what}: the server stopped answering: {e}"))
    }

    /// A GET, counted: its body when it was a 200.
    fn get(&self, what: &str, path: &str) -> Option<String> {
        let r = self.call(what, "GET", path, None);
        self.tally.answer(what, r.status, &r.body).then_some(r.body)
    }

    /// The day the events sent now fall on (in 2025: live ingest refuses future dates).
    fn day(&self) -> u64 {
        self.started.elapsed().as_secs() / SECONDS_PER_DAY
    }
}

fn produce(load: &Load, producer: u64) {
    let mut n = 0u64;
    while load.running() {
        let day = load.day();
        let (month, dom) = (1 + day / 28 % 12, 1 + day % 28);
        let events: Vec<Value> = (n..n + BATCH)
            .map(|k| {
                let event_type = ["Login", "FileUpload", "PolicyChange"][(k % 3) as usize];
                json!({
                    "id": format!("p{producer}-{k}"),
                    "event_type": event_type,
                    "actor_id": format!("user-{}", k % 50),
                    "status": if k % 7 == 0 { "failure" } else { "success" },
                    "created_at": format!("2025-{month:02}-{dom:02}T{:02}:{:02}:00Z", k / 60 % 24, k % 60),
                    "event_payload": {"k": k, "note": "soak"},
                })
            })
            .collect();
        let body = serde_json::to_vec(&events).unwrap();
        let r = load.call("append", "POST", "/v1/events", Some(&body));
        if load.tally.answer("append", r.status, &r.body) {
            load.tally.acked.fetch_add(BATCH, Ordering::Relaxed);
            n += BATCH;
        } else if r.status == 429 {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn query(load: &Load) {
    let mut i = 0u64;
    while load.running() {
        let path = match i % 5 {
            0 => "/v1/events?limit=100&event_type=Login".to_string(),
            1 => "/v1/events/count?status=failure".to_string(),
            2 => "/v1/events/histogram?interval=day".to_string(),
            3 => format!("/v1/events?actor_id=user-{}&limit=20&order=desc", i % 50),
            _ => "/api/v2/audit_logs?page[size]=50".to_string(),
        };
        i += 1;
        if let (Some(body), true) = (load.get("query", &path), i % 5 == 1) {
            // Follow one page of the cursor, as a client paging through does.
            let v: Value = serde_json::from_str(&body).unwrap();
            if let Some(c) = v.get("next_cursor").and_then(Value::as_str) {
                load.get(
                    "query",
                    &format!("/v1/events?limit=100&event_type=Login&cursor={c}"),
                );
            }
        }
    }
}

/// Live tail: subscribes, reads events for a while, reconnects.
fn stream(load: &Load) {
    while load.running() {
        let resp = ureq::AgentBuilder::new()
            .timeout_read(Duration::from_secs(20))
            .build()
            .get(&format!("{}/v1/events/stream", load.base))
            .call();
        let resp = match resp {
            Ok(r) => r,
            Err(ureq::Error::Status(s, r)) => {
                load.tally
                    .answer("stream", s, &r.into_string().unwrap_or_default());
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
            Err(e) => panic!("stream: the server stopped answering: {e}"),
        };
        load.tally.answer("stream", resp.status(), "");
        let until = Instant::now() + Duration::from_secs(3);
        for line in BufReader::new(resp.into_reader()).lines() {
            let line = line.unwrap_or_else(|e| panic!("stream: read failed: {e}"));
            if line.starts_with("data:") {
                load.tally.streamed.fetch_add(1, Ordering::Relaxed);
            }
            if Instant::now() > until || !load.running() {
                break;
            }
        }
    }
}

fn export(load: &Load) {
    while load.running() {
        let day = load.day().saturating_sub(1);
        let (month, dom) = (1 + day / 28 % 12, 1 + day % 28);
        let path = format!(
            "/v1/export?from=2025-{month:02}-{dom:02}&to=2025-{month:02}-{dom:02}T23:59:59Z"
        );
        let r = ureq::get(&format!("{}{path}", load.base)).call();
        match r {
            Ok(r) => {
                load.tally.answer("export", r.status(), "");
                let lines = BufReader::new(r.into_reader()).lines().count() as u64;
                load.tally
                    .exported_lines
                    .fetch_add(lines, Ordering::Relaxed);
            }
            Err(ureq::Error::Status(s, r)) => {
                load.tally
                    .answer("export", s, &r.into_string().unwrap_or_default());
            }
            Err(e) => panic!("export: the server stopped answering: {e}"),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn audit(load: &Load) {
    while load.running() {
        let r = load.call("checkpoint", "GET", "/v1/checkpoint", None);
        // Served from the start (the empty store's is of the empty tree), so anything but 200
        // counts against the run; a proof of seq 0 once a checkpoint's tree holds it.
        let signed = load.tally.answer("checkpoint", r.status, &r.body);
        let size: u64 = r
            .body
            .lines()
            .nth(1)
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        if signed && size > 0 {
            load.get("proof", "/v1/proof/inclusion?seq=0");
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Resident set of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn a_soak_of_mixed_load_fails_nothing_but_429_and_memory_stays_flat() {
    let secs = support::env_u64("ANNAL_SOAK_SECS", 20).max(6);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("annal.toml");
    std::fs::write(&cfg, "checkpoint_interval_secs = 1\n").unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &["--config", cfg.to_str().unwrap()],
    );
    let pid = server.child.id();
    let load = Arc::new(Load {
        base: server.base.clone(),
        started: Instant::now(),
        stop: AtomicBool::new(false),
        tally: Tally::default(),
    });
    let workers: [fn(&Load); 6] = [
        |l| produce(l, 0),
        |l| produce(l, 1),
        query,
        stream,
        export,
        audit,
    ];
    let threads: Vec<_> = workers
        .into_iter()
        .map(|work| {
            let load = load.clone();
            std::thread::spawn(move || work(&load))
        })
        .collect();
    let mut samples = Vec::new(); // (second, requests so far, RSS KiB)
    for second in 1..=secs {
        std::thread::sleep(Duration::from_secs(1));
        let requests = load.tally.requests.load(Ordering::Relaxed);
        samples.push((second, requests, rss_kib(pid)));
        if second % 10 == 0 {
            println!(
                "soak: {second} s, {requests} requests, server RSS {} MiB",
                rss_kib(pid) >> 10
            );
        }
    }
    load.stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let t = &load.tally;
    let acked = t.acked.load(Ordering::Relaxed);
    let count: Value =
        serde_json::from_str(&load.get("count", "/v1/events/count").unwrap()).unwrap();
    let warm = samples[samples.len() / 3];
    let peak_after_warmup = samples[samples.len() / 3..]
        .iter()
        .map(|s| s.2)
        .max()
        .unwrap();
    let last = *samples.last().unwrap();
    println!(
        "soak: {secs} s, {} requests, {} answered 429, {acked} events acknowledged, {} streamed, {} exported",
        t.requests.load(Ordering::Relaxed),
        t.backpressure.load(Ordering::Relaxed),
        t.streamed.load(Ordering::Relaxed),
        t.exported_lines.load(Ordering::Relaxed),
    );
    println!(
        "soak: server RSS {} MiB at {} s ({} requests), peak after it {} MiB, {} MiB at the end ({} requests)",
        warm.2 >> 10,
        warm.0,
        warm.1,
        peak_after_warmup >> 10,
        last.2 >> 10,
        last.1
    );
    assert!(
        t.bad.lock().unwrap().is_empty(),
        "{:#?}",
        t.bad.lock().unwrap()
    );
    assert_eq!(
        count["count"],
        json!(acked),
        "every acknowledged event is stored"
    );
    assert!(acked > 0 && t.streamed.load(Ordering::Relaxed) > 0);
    // Flat: once warm (caches filled, first seals done), the resident set may wobble with
    // the allocator but not grow with the work done.
    assert!(
        peak_after_warmup <= warm.2 + warm.2 / 2 + (32 << 10),
        "memory grew from {} MiB to {} MiB after warm-up",
        warm.2 >> 10,
        peak_after_warmup >> 10
    );
}
