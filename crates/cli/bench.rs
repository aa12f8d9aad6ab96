//! `annal bench …`: measurements on this machine, with SQLite timed in the same run for a
//! ratio. Figures go to docs/benchmarks.md.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use annal_gen::GenConfig;
use annal_model::{encode_record, Event, Field, JSON_ORDER};
use annal_storage::{Durability, Options, SealOptions, Store};
use anyhow::Context;

#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// Durable appends from the library (producers × batch sizes), `annal ingest` of generated
    /// NDJSON, sealed bytes/event, and SQLite inserting the same events.
    Ingest {
        /// Scratch directory (created, emptied and removed).
        #[arg(long, default_value = "./annal-bench")]
        dir: PathBuf,
        /// Events for the NDJSON ingest and SQLite runs.
        #[arg(long, default_value_t = 2_000_000)]
        events: u64,
        /// Seconds per library append configuration.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Producer thread counts to try.
        #[arg(long, value_delimiter = ',', default_value = "1,4,16")]
        threads: Vec<usize>,
        /// Events per append call to try.
        #[arg(long, value_delimiter = ',', default_value = "1,100,1000")]
        batch: Vec<usize>,
        /// Skip the SQLite comparison.
        #[arg(long)]
        no_sqlite: bool,
    },
    /// The query workload (seed queries, paging, counts) against SQLite on the same events,
    /// and the resident set after opening a store.
    Query {
        /// Scratch directory (created, emptied and removed).
        #[arg(long, default_value = "./annal-bench")]
        dir: PathBuf,
        /// Events to generate.
        #[arg(long, default_value_t = 2_000_000)]
        events: u64,
        /// Skip the SQLite comparison.
        #[arg(long)]
        no_sqlite: bool,
        /// Also build a store of this many events and report the resident set after opening
        /// it (0: skip).
        #[arg(long, default_value_t = 0)]
        rss_events: u64,
    },
    /// (Used by `bench query`.) Open a store with its indexes and print the resident set, KiB.
    #[command(hide = true)]
    OpenRss {
        /// Data directory.
        #[arg(long)]
        data: PathBuf,
    },
    /// The auditor's full check, tile roots, signing, and proof latency.
    Integrity {
        /// Scratch directory (created, emptied and removed).
        #[arg(long, default_value = "./annal-bench")]
        dir: PathBuf,
        /// Events to generate.
        #[arg(long, default_value_t = 2_000_000)]
        events: u64,
    },
    /// Bytes/event and the time to read one record, across block sizes and zstd levels.
    Seal {
        /// Scratch directory.
        #[arg(long, default_value = "./annal-bench")]
        dir: PathBuf,
        /// Events to seal per configuration.
        #[arg(long, default_value_t = 200_000)]
        events: u64,
    },
}

pub fn run(cmd: BenchCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        BenchCommand::Ingest {
            dir,
            events,
            seconds,
            threads,
            batch,
            no_sqlite,
        } => ingest(&dir, events, seconds, &threads, &batch, !no_sqlite),
        BenchCommand::Seal { dir, events } => seal(&dir, events),
        BenchCommand::Integrity { dir, events } => crate::bench_integrity::run(&dir, events),
        BenchCommand::Query {
            dir,
            events,
            no_sqlite,
            rss_events,
        } => crate::bench_query::run(&dir, events, !no_sqlite, rss_events),
        BenchCommand::OpenRss { data } => crate::bench_query::open_rss_child(&data),
    }
}

/// A scratch directory that is removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(parent: &Path, name: &str) -> anyhow::Result<Scratch> {
        let p = parent.join(name);
        if p.exists() {
            std::fs::remove_dir_all(&p)?;
        }
        std::fs::create_dir_all(&p)?;
        Ok(Scratch(p))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores, {cpu}")
}

fn ingest(
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
    let ndjson = crate::ingest::generated_ndjson(GenConfig {
        count: n,
        ..GenConfig::default()
    });
    let scratch = Scratch::new(dir, "ingest")?;
    let store = Store::open(&scratch.0, Options::default())?;
    let start = Instant::now();
    let stored = crate::ingest::ingest_ndjson(&store, ndjson)?;
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

/// A SQLite database in WAL mode with an `events` table of every field (no indexes).
pub fn sqlite_create(path: &Path, synchronous: &str) -> anyhow::Result<rusqlite::Connection> {
    let db = rusqlite::Connection::open(path)?;
    db.pragma_update(None, "journal_mode", "WAL")?;
    db.pragma_update(None, "synchronous", synchronous)?;
    let defs: Vec<String> = JSON_ORDER
        .iter()
        .map(|f| match f {
            Field::Seq => "seq INTEGER PRIMARY KEY".to_string(),
            Field::CreatedAt | Field::ReceivedAt | Field::Int(_) => format!("{} INTEGER", f.name()),
            Field::LatencyMs => "latency_ms REAL".to_string(),
            _ => format!("{} TEXT", f.name()),
        })
        .collect();
    db.execute_batch(&format!("CREATE TABLE events ({});", defs.join(", ")))?;
    Ok(db)
}

/// Inserts `events` as seqs `first..` in one transaction.
pub fn sqlite_insert_batch(
    db: &mut rusqlite::Connection,
    events: &[Event],
    first: i64,
) -> anyhow::Result<()> {
    let columns: Vec<&str> = JSON_ORDER.iter().map(|f| f.name()).collect();
    let sql = format!(
        "INSERT INTO events ({}) VALUES ({})",
        columns.join(", "),
        vec!["?"; columns.len()].join(", ")
    );
    let tx = db.transaction()?;
    {
        let mut stmt = tx.prepare_cached(&sql)?;
        for (i, e) in events.iter().enumerate() {
            let values: Vec<rusqlite::types::Value> = JSON_ORDER
                .iter()
                .map(|f| sqlite_value(e, first + i as i64, *f))
                .collect();
            stmt.execute(rusqlite::params_from_iter(values))?;
        }
    }
    tx.commit()?;
    Ok(())
}

fn sqlite_value(e: &Event, seq: i64, f: Field) -> rusqlite::types::Value {
    use rusqlite::types::Value;
    let text = |s: Option<&str>| s.map_or(Value::Null, |s| Value::Text(s.to_string()));
    match f {
        Field::Seq => Value::Integer(seq),
        Field::Id => text(e.id.as_deref()),
        Field::CreatedAt => Value::Integer(e.created_at.0),
        Field::ReceivedAt => Value::Integer(e.received_at.0),
        Field::Text(t) => text(e.text(t)),
        Field::Int(i) => e.int(i).map_or(Value::Null, Value::Integer),
        Field::LatencyMs => e.latency_ms.map_or(Value::Null, Value::Real),
        Field::Payload => text(e.payload.as_deref()),
    }
}

fn seal(dir: &Path, n: u64) -> anyhow::Result<ExitCode> {
    println!("# annal bench seal — {}", machine());
    let events = annal_gen::events(GenConfig {
        count: n,
        days: 1,
        ..GenConfig::default()
    });
    let raw: usize = events
        .iter()
        .map(|e| {
            let mut b = Vec::new();
            encode_record(e, &mut b);
            b.len()
        })
        .sum();
    println!(
        "\n{} events of one day; canonical record bytes {:.1}/event\n",
        events.len(),
        raw as f64 / events.len() as f64
    );
    println!("| events/block | zstd level | sealed bytes/event | seal s | read one record p50 µs | p99 µs |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for (block_events, level) in [
        (1024, 3),
        (4096, 3),
        (4096, 9),
        (16384, 9),
        (16384, 15),
        (65536, 15),
    ] {
        let scratch = Scratch::new(dir, "seal")?;
        let opts = Options {
            seal: SealOptions {
                block_events,
                zstd_level: level,
            },
            durability: Durability::None,
            ..Options::default()
        };
        let store = Store::open(&scratch.0, opts).context("open scratch store")?;
        for chunk in events.chunks(10_000) {
            store.append(chunk)?;
        }
        // An event of the next day rolls the segment; sealing starts at once.
        let mut next = events[events.len() - 1].clone();
        next.created_at.0 += annal_model::NANOS_PER_DAY;
        let t0 = Instant::now();
        store.append(&[next])?;
        store.wait_sealed()?;
        let seal_secs = t0.elapsed().as_secs_f64();
        let snap = store.snapshot();
        let seg = snap.sealed().first().context("nothing was sealed")?.clone();
        let mut lat = Vec::with_capacity(2000);
        let mut rng = annal_storage::XorShift64::new(88172645463325252);
        for _ in 0..2000 {
            let seq = rng.next_u64() % seg.count();
            let t = Instant::now();
            std::hint::black_box(seg.get(seq)?);
            lat.push(t.elapsed());
        }
        lat.sort_unstable();
        println!(
            "| {block_events} | {level} | {:.1} | {seal_secs:.2} | {:.0} | {:.0} |",
            seg.file_bytes() as f64 / seg.count() as f64,
            percentile(&lat, 0.5).as_secs_f64() * 1e6,
            percentile(&lat, 0.99).as_secs_f64() * 1e6
        );
        drop(snap);
        store.close()?;
    }
    Ok(ExitCode::SUCCESS)
}
