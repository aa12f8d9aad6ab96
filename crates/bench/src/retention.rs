//! `annal-bench retention`: what pruning costs and keeps, and how fast the tlog-tiles routes
//! serve. A store of N events over 90 days with a checkpoint signed every
//! `CHECKPOINT_EVERY` events is pruned to keep its last 60 days (30 of 90 go); then tiles and
//! entry bundles are fetched over HTTP from a server on loopback: level 0 and bundles cold
//! (read from the records) and warm (from the cache), higher levels from memory.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use annal_http::{AppState, Config};
use annal_index::IndexOptions;
use annal_integrity::{tile_path, Notary, NoteSigner, TileKind, TileRef, LIFECYCLE_LOG_FILE};
use annal_model::{Catalogs, Timestamp, NANOS_PER_DAY};
use annal_query::Engine;
use annal_retention::Retention;
use annal_storage::{Options, Store, TRAIL_START_FILE};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::util::{generated_ndjson, machine, ms, percentile, Scratch};

/// Events between two signed checkpoints while the store fills (a server signs at every seal
/// and every minute while the trail grows).
const CHECKPOINT_EVERY: u64 = 2_000;
/// Requests timed per kind of tile.
const FETCHES: usize = 300;

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .flatten()
            .map(|e| match e.file_type() {
                Ok(t) if t.is_dir() => dir_bytes(&e.path()),
                _ => e.metadata().map_or(0, |m| m.len()),
            })
            .sum()
    })
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

pub fn run(dir: &Path, events: u64) -> anyhow::Result<ExitCode> {
    println!("# annal bench retention — {}", machine());
    let scratch = Scratch::new(dir, "retention")?;
    let data = scratch.0.join("data");
    let store = Store::open(&data, Options::default())?;
    let signer = NoteSigner::generate("bench")?;
    let key = signer.verifier();
    let notary = Notary::open(&data, signer, "bench", &store.snapshot())?;
    let ndjson = generated_ndjson(annal_gen::GenConfig {
        count: events,
        ..Default::default()
    })?;
    let mut lines = ndjson.split_inclusive(|b| *b == b'\n').peekable();
    let mut chunk = Vec::new();
    while lines.peek().is_some() {
        chunk.clear();
        for line in lines.by_ref().take(CHECKPOINT_EVERY as usize) {
            chunk.extend_from_slice(line);
        }
        annal_ingest::ingest_ndjson(&store, chunk.clone())?;
        notary.sign(&store.snapshot())?;
    }
    store.wait_sealed()?;
    notary.sign(&store.snapshot())?;
    let engine = Engine::new(store, IndexOptions::default(), Catalogs::builtin())?;
    // Every index built, so that "before" counts every file a user pays for.
    engine.view()?;
    let before = dir_bytes(&data);
    println!(
        "\n{events} events from `annal gen {events}` (90 days from 2026-01-01), a checkpoint signed every {CHECKPOINT_EVERY} events; {} bytes in the data directory.\n",
        before
    );
    println!("| what | result |\n|---|---|");

    // Keep the last 60 of the 90 days: the window ends 30 days after the first event.
    let first_day = Timestamp::parse_date_or_time("2026-01-01")?.0;
    let cutoff = first_day + 30 * NANOS_PER_DAY;
    let days = ((Timestamp::now().0 - cutoff) / NANOS_PER_DAY) as u32;
    let retention = Retention::open(&engine)?;
    let started = Instant::now();
    let (plan, done) =
        retention.prune(&engine, days, "bench", "", &|| notary.reload_kept(&data))?;
    let took = started.elapsed();
    anyhow::ensure!(
        !done.is_empty(),
        "nothing was pruned: {:?}",
        plan.kept_because
    );
    let after = dir_bytes(&data);
    let pruned = plan.events();
    let kept = file_len(&data.join(LIFECYCLE_LOG_FILE)) + file_len(&data.join(TRAIL_START_FILE));
    let checkpoints_inside = pruned / CHECKPOINT_EVERY;
    println!(
        "| prune 30 of 90 days: {pruned} events in {} sealed segments | {:.0} ms ({:.1} M events/s) |",
        plan.segments.len(),
        ms(took),
        pruned as f64 / took.as_secs_f64() / 1e6
    );
    println!(
        "| data directory before → after (every file) | {before} → {after} bytes: {:.1} bytes freed per pruned event |",
        before.saturating_sub(after) as f64 / pruned as f64
    );
    println!(
        "| kept of the pruned events: lifecycle.log + trail.start | {kept} bytes: {:.3} bytes per pruned event ({} checkpoints signed inside the range) |",
        kept as f64 / pruned as f64,
        checkpoints_inside
    );
    // The prune's own event fell on a later day and rolled the log: let it seal first.
    engine.store().wait_sealed()?;
    let started = Instant::now();
    let opts = annal_integrity::AuditOptions {
        public_key: Some(key),
        ..Default::default()
    };
    let report = annal_integrity::audit(&annal_storage::OsFs, &data, &opts, &|_| {})?;
    anyhow::ensure!(
        report.ok(),
        "the pruned store does not verify: {:?}",
        report.problems
    );
    println!(
        "| `annal verify` after the prune: {} checkpoints, {} kept hashes checked | {:.2} s |",
        report.stored.valid,
        report.kept_hashes,
        started.elapsed().as_secs_f64()
    );
    notary.sign(&engine.store().snapshot())?;
    serve_tiles(engine, notary)?;
    Ok(ExitCode::SUCCESS)
}

/// Serves the store on loopback and times tile fetches.
fn serve_tiles(engine: Engine, notary: Notary) -> anyhow::Result<()> {
    let engine = Arc::new(engine);
    let snap = engine.store().snapshot();
    let (start, end) = (snap.start(), snap.end());
    let config = Config::default();
    let state = AppState::new(engine.clone(), &config)
        .map_err(anyhow::Error::msg)?
        .with_notary(notary);
    let runtime = tokio::runtime::Runtime::new()?;
    let listen: std::net::SocketAddr = "127.0.0.1:0".parse()?;
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        runtime.block_on(annal_http::serve(
            listen,
            state,
            &config,
            async {
                let _ = stop_rx.await;
            },
            move |addr| {
                let _ = addr_tx.send(addr);
            },
        ))
    });
    let addr = addr_rx.recv()?;
    let agent = ureq::AgentBuilder::new().build();
    let fetch = |tile: TileRef| -> anyhow::Result<Duration> {
        let started = Instant::now();
        let r = agent
            .get(&format!("http://{addr}/tile/{}", tile_path(tile)))
            .call()?;
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut r.into_reader(), &mut body)?;
        Ok(started.elapsed())
    };
    let mut rng = SmallRng::seed_from_u64(0x7117e5);
    let first = annal_integrity::min_index(start) / 256;
    let full0 = end / 256;
    let kinds = [
        (
            "level 0, cold (256 records read and hashed)",
            TileKind::Hashes(0),
            true,
        ),
        ("level 0, warm (cached)", TileKind::Hashes(0), false),
        (
            "entry bundle, cold (256 records encoded)",
            TileKind::Entries,
            true,
        ),
        ("entry bundle, warm", TileKind::Entries, false),
        ("level 1 (tile roots in memory)", TileKind::Hashes(1), true),
    ];
    println!("\n| tlog-tiles over HTTP (one client, loopback) | p50 | p99 | requests/s |\n|---|---:|---:|---:|");
    for (what, kind, cold) in kinds {
        let (lo, hi) = match kind {
            TileKind::Hashes(1) => (0, (full0 / 256).max(1)),
            _ => (first, full0),
        };
        let picks: Vec<u64> = (0..FETCHES).map(|_| rng.gen_range(lo..hi)).collect();
        if !cold {
            for &index in &picks {
                fetch(TileRef {
                    kind,
                    index,
                    width: 256,
                })?;
            }
        }
        let started = Instant::now();
        let mut times = Vec::with_capacity(FETCHES);
        for (i, &index) in picks.iter().enumerate() {
            // Cold: every fetch a tile not fetched before.
            let index = if cold && matches!(kind, TileKind::Hashes(0) | TileKind::Entries) {
                lo + (i as u64 * 7919) % (hi - lo)
            } else {
                index
            };
            let width = if kind == TileKind::Hashes(1)
                && index + 1 == hi
                && full0 % 256 != 0
                && full0 / 256 == index
            {
                full0 % 256
            } else {
                256
            };
            times.push(fetch(TileRef { kind, index, width })?);
        }
        let secs = started.elapsed().as_secs_f64();
        times.sort();
        println!(
            "| {what} | {:.2} ms | {:.2} ms | {:.0} |",
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.99)),
            FETCHES as f64 / secs
        );
    }
    let _ = stop_tx.send(());
    let _ = server.join();
    Ok(())
}
