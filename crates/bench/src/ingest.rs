//! `annal-bench ingest`: durable appends from the library (producers × batch sizes),
//! `annal ingest`'s pipeline on generated NDJSON, sealed bytes/event, and SQLite inserting the
//! same events.

use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use annal_gen::GenConfig;
use annal_model::Event;
use annal_storage::{Durability, Options, Store};

use crate::sqlite::{sqlite_create, sqlite_insert_batch};
use crate::util::{generated_ndjson, machine, ms, percentile, Scratch};

pub fn run(
    dir: &Path,
    n: u64,
    seconds: f64,
    threads: &[usize],
    batches: &[usize],
    sqlite: bool,
) -> anyhow::Result<ExitCode> {
    println!("# annal bench ingest — {}", machine());
    let pool = annal_gen::events(GenConfig {
        count: 200_000.min(n.max(1000)),
        ..GenConfig::default()
    });
    println!("\n## Durable appends from the library (durability: fdatasync every group)\n");
    println!("| producers | events/append | events/s | appends/s | fdatasyncs/s | ack p50 ms | ack p99 ms |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    let mut library = Vec::new();
    for &t in threads {
        for &b in batches {
            let r = library_appends(dir, &pool, t, b, Duration::from_secs_f64(seconds))?;
            println!(
                "| {t} | {b} | {:.0} | {:.0} | {:.0} | {:.3} | {:.3} |",
                r.events_per_sec,
                r.appends_per_sec,
                r.syncs_per_sec,
                ms(r.p50),
                ms(r.p99)
            );
            library.push((t, b, r.events_per_sec));
        }
    }
    println!("\n## `annal ingest` of `annal gen {n}` (NDJSON, batches of 4096 lines)\n");
    let ndjson = generated_ndjson(GenConfig {
        count: n,
        ..GenConfig::default()
    })?;
    let scratch = Scratch::new(dir, "ingest")?;
    let store = Store::open(&scratch.0, Options::default())?;
    let start = Instant::now();
    let stored = annal_ingest::ingest_ndjson(&store, ndjson)?.stored;
    let ingest_secs = start.elapsed().as_secs_f64();
    let seal_start = Instant::now();
    store.wait_sealed()?;
    let seal_secs = seal_start.elapsed().as_secs_f64();
    let segs = store.snapshot().segments();
    let sealed: Vec<_> = segs
        .iter()
        .filter(|s| s.kind == annal_storage::SegmentKind::Sealed)
        .collect();
    let (se, sb) = (
        sealed.iter().map(|s| s.count).sum::<u64>(),
        sealed.iter().map(|s| s.file_bytes).sum::<u64>(),
    );
    store.close()?;
    let ingest_rate = stored as f64 / ingest_secs;
    println!(
        "| events | seconds | events/s | segments | sealed bytes/event | wait for last seals s |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {stored} | {ingest_secs:.2} | {ingest_rate:.0} | {} | {:.1} | {seal_secs:.2} |",
        segs.len(),
        sb as f64 / se.max(1) as f64
    );
    if sqlite {
        println!("\n## SQLite, same events (bundled {}, WAL, synchronous=FULL, indexes on created_at and event_code, commit every 1000)\n", rusqlite::version());
        let events = annal_gen::events(GenConfig {
            count: n,
            ..GenConfig::default()
        });
        let scratch = Scratch::new(dir, "sqlite")?;
        let (secs, bytes) = sqlite_insert(&scratch.0, &events)?;
        let rate = events.len() as f64 / secs;
        println!("| events | seconds | events/s | bytes/event |");
        println!("|---:|---:|---:|---:|");
        println!(
            "| {} | {secs:.2} | {rate:.0} | {:.1} |",
            events.len(),
            bytes as f64 / events.len() as f64
        );
        println!("\n| annal figure | ÷ SQLite |\n|---|---:|");
        println!(
            "| `annal ingest` of NDJSON (includes JSON validation) | {:.1}× |",
            ingest_rate / rate
        );
        for (t, b, r) in library.iter().filter(|(_, b, _)| *b == 1000) {
            println!(
                "| library appends, {t} producers × {b} events | {:.1}× |",
                r / rate
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

struct AppendResult {
    events_per_sec: f64,
    appends_per_sec: f64,
    syncs_per_sec: f64,
    p50: Duration,
    p99: Duration,
}

fn library_appends(
    dir: &Path,
    pool: &[Event],
    threads: usize,
    batch: usize,
    run_for: Duration,
) -> anyhow::Result<AppendResult> {
    let scratch = Scratch::new(dir, &format!("lib-{threads}-{batch}"))?;
    let opts = Options {
        durability: Durability::EveryBatch,
        roll_daily: false,
        ..Options::default()
    };
    let store = Arc::new(Store::open(&scratch.0, opts)?);
    let stop = Arc::new(AtomicBool::new(false));
    let appended = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (store, stop, appended) = (store.clone(), stop.clone(), appended.clone());
            let pool = pool.to_vec();
            std::thread::spawn(move || -> anyhow::Result<Vec<Duration>> {
                let mut lat = Vec::new();
                let mut at = (t * 7919) % pool.len();
                while !stop.load(Ordering::Relaxed) {
                    let end = (at + batch).min(pool.len());
                    let chunk = &pool[at..end];
                    let t0 = Instant::now();
                    store.append(chunk)?;
                    lat.push(t0.elapsed());
                    appended.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                    at = if end == pool.len() { 0 } else { end };
                }
                Ok(lat)
            })
        })
        .collect();
    std::thread::sleep(run_for);
    stop.store(true, Ordering::Relaxed);
    let mut lat = Vec::new();
    for h in handles {
        lat.extend(
            h.join()
                .map_err(|_| anyhow::anyhow!("producer panicked"))??,
        );
    }
    let secs = start.elapsed().as_secs_f64();
    lat.sort_unstable();
    let n = appended.load(Ordering::Relaxed);
    let syncs = store.counters().syncs;
    drop(store);
    Ok(AppendResult {
        events_per_sec: n as f64 / secs,
        appends_per_sec: lat.len() as f64 / secs,
        syncs_per_sec: syncs as f64 / secs,
        p50: percentile(&lat, 0.5),
        p99: percentile(&lat, 0.99),
    })
}

/// Inserts `events` into a fresh SQLite database; returns seconds and database bytes.
fn sqlite_insert(dir: &Path, events: &[Event]) -> anyhow::Result<(f64, u64)> {
    let mut db = sqlite_create(&dir.join("events.sqlite"), "FULL")?;
    db.execute_batch(
        "CREATE INDEX events_created_at ON events(created_at); CREATE INDEX events_code ON events(event_code);",
    )?;
    let start = Instant::now();
    for (c, chunk) in events.chunks(1000).enumerate() {
        sqlite_insert_batch(&mut db, chunk, (c * 1000) as i64)?;
    }
    let secs = start.elapsed().as_secs_f64();
    db.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
    drop(db);
    let bytes = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    Ok((secs, bytes))
}
