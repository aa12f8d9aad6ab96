//! `annal-bench bucket`: the trail in an S3 API — upload rate against the local ingest rate,
//! restore time, ingest with the uploader running, and the RPO (the age of the oldest
//! acknowledged event the bucket does not hold yet), all in one run.

use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use annal_bucket::{BucketConfig, Claim, Remote, Shipper, ShipperThread, SnapshotSource};
use annal_gen::GenConfig;
use annal_storage::{Options, Store};
use anyhow::Context;

use crate::util::{generated_ndjson, machine, ms, percentile, Scratch};

/// How often the RPO sampler looks at the store and the uploader.
const SAMPLE_EVERY: Duration = Duration::from_millis(5);

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn remote(url: &str, endpoint: &str, run: &str) -> anyhow::Result<Remote> {
    Ok(BucketConfig::new(&format!("{url}/{run}"), Some(endpoint)).connect()?)
}

/// Bytes of the files of `dir` (and its subdirectories) whose name ends with `ext`.
fn bytes_of(dir: &Path, ext: &str) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => bytes_of(&e.path(), ext),
            Ok(m) if e.file_name().to_string_lossy().ends_with(ext) => m.len(),
            _ => 0,
        })
        .sum()
}

pub fn run(
    dir: &Path,
    n: u64,
    url: &str,
    endpoint: &str,
    interval_ms: u64,
) -> anyhow::Result<ExitCode> {
    println!("# annal bench bucket — {}", machine());
    println!(
        "\n{n} generated events; bucket {url} at {endpoint}; ship interval {interval_ms} ms\n"
    );
    let ndjson = generated_ndjson(GenConfig {
        count: n,
        ..GenConfig::default()
    })?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis();
    let rt = runtime()?;
    println!("| measure | value |");
    println!("|---|---:|");

    // Local ingest alone, then one `annal sync`-style upload of the whole store.
    let local = Scratch::new(dir, "bucket-local")?;
    let store = Store::open(&local.0, Options::default())?;
    let t = Instant::now();
    annal_ingest::ingest_ndjson(&store, ndjson.clone())?;
    let ingest_plain = t.elapsed();
    store.wait_sealed()?;
    annal_index::Indexer::new(&local.0, annal_index::IndexOptions::default())?
        .view(store.snapshot())?;

    println!(
        "| local ingest, no uploader | {:.0} events/s |",
        n as f64 / ingest_plain.as_secs_f64()
    );
    let (seg, idx) = (bytes_of(&local.0, ".seg"), bytes_of(&local.0, ".idx"));
    println!(
        "| local files: sealed segments / index files (kept local when segments are evicted) | {:.1} MB / {:.1} MB ({:.1} / {:.1} bytes/event; indexes are {:.0}% of sealed) |",
        seg as f64 / 1e6,
        idx as f64 / 1e6,
        seg as f64 / n as f64,
        idx as f64 / n as f64,
        idx as f64 * 100.0 / seg.max(1) as f64
    );
    let remote_a = remote(url, endpoint, &format!("{stamp}-sync"))?;
    let t = Instant::now();
    let uploaded = rt.block_on(async {
        let snap = store.snapshot();
        let mut shipper = Shipper::claim(remote_a.clone(), &local.0, &snap, Claim::Refuse).await?;
        let done = shipper.ship_all(&snap, Duration::from_secs(3600)).await?;
        Ok::<_, annal_bucket::BucketError>(done.bytes)
    })?;
    let upload = t.elapsed();
    store.close()?;
    println!(
        "| upload of the whole store ({:.1} MB: sealed, indexes, tail, checkpoints), each object confirmed (ETag MD5, else read back) | {:.1} MB/s, {:.0} events/s, {:.2} s |",
        uploaded as f64 / 1e6,
        uploaded as f64 / 1e6 / upload.as_secs_f64(),
        n as f64 / upload.as_secs_f64(),
        upload.as_secs_f64()
    );

    // Restore into a new directory.
    let restored = Scratch::new(dir, "bucket-restored")?;
    let target = restored.0.join("data");
    let t = Instant::now();
    let r = rt.block_on(annal_bucket::restore(&remote_a, &target))?;
    let restore = t.elapsed();
    anyhow::ensure!(r.events == n, "restored {} of {n} events", r.events);
    println!(
        "| restore of {n} events ({:.1} MB, every object and root checked, audited) | {:.2} s |",
        r.bytes as f64 / 1e6,
        restore.as_secs_f64()
    );
    drop(restored);

    // Ingest with the uploader running, at full speed and then at a steady rate.
    let full = live_phase(
        dir,
        url,
        endpoint,
        &format!("{stamp}-live"),
        interval_ms,
        |store| {
            annal_ingest::ingest_ndjson(store, ndjson.clone())?;
            Ok(())
        },
    )?;
    println!(
        "| local ingest with the uploader running | {:.0} events/s ({:+.1}% against no uploader) |",
        n as f64 / full.ingest.as_secs_f64(),
        (ingest_plain.as_secs_f64() / full.ingest.as_secs_f64() - 1.0) * 100.0
    );
    println!(
        "| bucket caught up after that ingest ended | {:.2} s |",
        full.drain.as_secs_f64()
    );
    print_rpo("while ingesting at full speed", &full.ages);
    let events = annal_gen::events(GenConfig {
        count: STEADY_RATE * STEADY_SECONDS,
        seed: 2,
        ..GenConfig::default()
    });
    let steady = live_phase(
        dir,
        url,
        endpoint,
        &format!("{stamp}-steady"),
        interval_ms,
        |store| {
            let start = Instant::now();
            for (i, batch) in events.chunks(STEADY_BATCH).enumerate() {
                let due = Duration::from_secs_f64((i * STEADY_BATCH) as f64 / STEADY_RATE as f64);
                if let Some(wait) = due.checked_sub(start.elapsed()) {
                    std::thread::sleep(wait);
                }
                store.append(batch)?;
            }
            Ok(())
        },
    )?;
    print_rpo(
        &format!("at a steady {STEADY_RATE} events/s for {STEADY_SECONDS} s"),
        &steady.ages,
    );
    Ok(ExitCode::SUCCESS)
}

/// The steady phase: events per second, for how long, in appends of how many.
const STEADY_RATE: u64 = 20_000;
const STEADY_SECONDS: u64 = 10;
const STEADY_BATCH: usize = 1_000;

/// What one phase with the uploader running measured.
struct Live {
    ingest: Duration,
    drain: Duration,
    ages: Vec<Duration>,
}

fn print_rpo(when: &str, ages: &[Duration]) {
    println!(
        "| RPO {when}: age of the oldest acknowledged event not in the bucket, sampled every 5 ms | p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms |",
        ms(percentile(ages, 0.5)),
        ms(percentile(ages, 0.99)),
        ms(ages.last().copied().unwrap_or_default())
    );
}

/// Runs `produce` on a fresh store with the uploader running under prefix `run`, sampling
/// the RPO, then waits for the bucket to hold everything.
fn live_phase(
    dir: &Path,
    url: &str,
    endpoint: &str,
    run: &str,
    interval_ms: u64,
    produce: impl FnOnce(&Store) -> anyhow::Result<()>,
) -> anyhow::Result<Live> {
    let live = Scratch::new(dir, "bucket-live")?;
    let store = Arc::new(Store::open(&live.0, Options::default())?);
    let s = store.clone();
    let snapshot: SnapshotSource = Arc::new(move || s.snapshot());
    let thread = ShipperThread::spawn(
        remote(url, endpoint, run)?,
        &live.0,
        snapshot,
        Duration::from_millis(interval_ms),
        Claim::Refuse,
        None,
    )
    .context("start the uploader")?;
    let shipped = thread.shipped();
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (store, stop) = (store.clone(), stop.clone());
        std::thread::spawn(move || {
            let start = Instant::now();
            // (time, acknowledged, in the bucket)
            let mut samples = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                samples.push((start.elapsed(), store.len(), *shipped.borrow()));
                std::thread::sleep(SAMPLE_EVERY);
            }
            samples
        })
    };
    let t = Instant::now();
    produce(&store)?;
    let ingest = t.elapsed();
    let n = store.len();
    let mut rx = thread.shipped();
    let drained = runtime()?.block_on(async {
        tokio::time::timeout(Duration::from_secs(600), rx.wait_for(|&b| b >= n))
            .await
            .is_ok()
    });
    let drain = t.elapsed() - ingest;
    stop.store(true, Ordering::Relaxed);
    let samples = sampler
        .join()
        .map_err(|_| anyhow::anyhow!("the sampler panicked"))?;
    drop(thread);
    let store = Arc::try_unwrap(store).map_err(|_| anyhow::anyhow!("store still shared"))?;
    store.close()?;
    anyhow::ensure!(drained, "the uploader did not catch up within 600 s");
    let mut ages = rpo_ages(&samples, ingest);
    ages.sort_unstable();
    Ok(Live {
        ingest,
        drain,
        ages,
    })
}

/// For each sample during ingest: how long ago the first event the bucket lacks was
/// acknowledged (zero when it holds all).
fn rpo_ages(samples: &[(Duration, u64, u64)], until: Duration) -> Vec<Duration> {
    let mut out = Vec::new();
    let mut first = 0; // first sample whose acknowledged count passes `bucket`
    for &(t, acked, bucket) in samples.iter().filter(|s| s.0 <= until) {
        if bucket >= acked {
            out.push(Duration::ZERO);
            continue;
        }
        while first < samples.len() && samples[first].1 <= bucket {
            first += 1;
        }
        let since = samples.get(first).map_or(t, |s| s.0);
        out.push(t.saturating_sub(since));
    }
    out
}
