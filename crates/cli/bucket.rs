//! `annal sync`, `annal restore`, the uploader a server runs, and the bucket lines of
//! `annal stats`.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use annal_bucket::{
    read_status, Claim, Eviction, Remote, Shipper, ShipperThread, SnapshotSource, TieredFs,
};
use annal_http::Config;
use annal_query::Engine;
use annal_storage::Store;
use anyhow::Context;

use crate::place::DataArgs;

/// Arguments of `annal sync`.
#[derive(clap::Args)]
pub struct SyncArgs {
    #[command(flatten)]
    place: DataArgs,
    /// Take the prefix over from the writer that holds it (after a restore onto a new
    /// machine, when the old one is gone for good): the old writer is fenced.
    #[arg(long)]
    take_over: bool,
}

/// Arguments of `annal restore`.
#[derive(clap::Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    place: DataArgs,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn claim_of(take_over: bool) -> Claim {
    if take_over {
        Claim::TakeOver
    } else {
        Claim::Refuse
    }
}

pub fn sync(args: &SyncArgs) -> anyhow::Result<ExitCode> {
    let (data, config) = args.place.resolve()?;
    let bucket = DataArgs::bucket(&config, "annal sync")?;
    bucket.check()?;
    let start = Instant::now();
    let (opts, _) = crate::place::store_options(&data, &config)?;
    let store = Store::open(&data, opts).with_context(|| {
        format!(
            "opening {} (a server that holds it uploads it itself)",
            data.display()
        )
    })?;
    let shipped = runtime()?.block_on(sync_store(&store, &data, &config, &bucket, args.take_over));
    store.close()?;
    let shipped = shipped?;
    println!(
        "synced {} events of {} to {} (manifest generation {}; {} objects, {} bytes uploaded and checked) in {:.1}s",
        shipped.events,
        data.display(),
        bucket.url,
        shipped.generation,
        shipped.objects,
        shipped.bytes,
        start.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// Claims the prefix, indexes the sealed segments, signs a checkpoint of the whole trail (so
/// the bucket's newest checkpoint covers every event and a restore checks them all), then
/// uploads until the bucket holds everything.
async fn sync_store(
    store: &Store,
    data: &Path,
    config: &Config,
    bucket: &annal_bucket::BucketConfig,
    take_over: bool,
) -> anyhow::Result<annal_bucket::Shipped> {
    let remote = bucket.connect()?;
    let snap = store.snapshot();
    // The key first: a directory that cannot sign must not take a prefix over.
    let notary = crate::serve::open_notary(data, config, &snap)?;
    let mut shipper = Shipper::claim(remote, data, &snap, claim_of(take_over)).await?;
    annal_index::Indexer::new(data, annal_index::IndexOptions::default())
        .and_then(|i| i.view(snap.clone()).map(|_| ()))
        .with_context(|| format!("index {}", data.display()))?;
    notary.sign(&snap)?;
    let interval = Duration::from_millis(bucket.ship_interval_ms);
    Ok(shipper.ship_all(&snap, interval).await?)
}

pub fn restore(args: &RestoreArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.place.data.is_some(),
        "annal restore needs --data NEWDIR: the directory to rebuild (new or empty)"
    );
    let (data, config) = args.place.resolve()?;
    let bucket = DataArgs::bucket(&config, "annal restore")?;
    let remote = bucket.connect()?;
    let start = Instant::now();
    let restored = runtime()?.block_on(annal_bucket::restore(&remote, &data))?;
    println!(
        "restored {} events from {} (manifest generation {}) into {} in {:.1}s: {} objects, {} bytes, each checked against the manifest; every checksum and root checked, {} signed checkpoints hold",
        restored.events,
        bucket.url,
        restored.generation,
        data.display(),
        start.elapsed().as_secs_f64(),
        restored.objects,
        restored.bytes,
        restored.checkpoints
    );
    Ok(ExitCode::SUCCESS)
}

/// Starts the uploader of a server whose configuration has a bucket; None without one.
/// A prefix held by another writer or trail refuses the start; an unreachable bucket does
/// not (appends go on locally and uploads resume).
pub fn start_uploader(
    data: &Path,
    config: &Config,
    engine: &Arc<Engine>,
    tiered: Option<Arc<TieredFs>>,
) -> anyhow::Result<Option<ShipperThread>> {
    let Some(bucket) = &config.object_store else {
        return Ok(None);
    };
    let remote: Remote = bucket.connect()?;
    let e = engine.clone();
    let snapshot: SnapshotSource = Arc::new(move || e.store().snapshot());
    let interval = Duration::from_millis(bucket.ship_interval_ms);
    let eviction = match (tiered, bucket.local_bytes_max) {
        (Some(fs), Some(local_bytes_max)) => Some(Eviction {
            fs,
            local_bytes_max,
        }),
        _ => None,
    };
    let thread = ShipperThread::spawn(remote, data, snapshot, interval, Claim::Refuse, eviction)
        .with_context(|| format!("uploading {} to {}", data.display(), bucket.url))?;
    eprintln!(
        "annal serve: uploading to {} every {} ms",
        bucket.url, bucket.ship_interval_ms
    );
    Ok(Some(thread))
}

/// How the server reads `uploader`'s state for `/v1/trail` and `/metrics`.
pub fn status_of(uploader: &ShipperThread) -> annal_http::BucketStatus {
    let read = uploader.status_reader();
    Arc::new(read)
}

/// How appends wait for `uploader` when they are acknowledged only once in the bucket.
pub fn ack_of(uploader: &ShipperThread, url: &str) -> annal_http::BucketAck {
    let wake = uploader.waker();
    annal_http::BucketAck {
        shipped: uploader.shipped(),
        wake: Arc::new(move || wake.wake()),
        url: url.to_string(),
    }
}

/// The bucket lines of `annal stats`, from the status the uploader last wrote.
pub fn print_status(data: &Path) -> anyhow::Result<()> {
    let Some(st) = read_status(data)? else {
        return Ok(());
    };
    let when = |ms: Option<u64>| {
        ms.map_or_else(
            || "never".to_string(),
            |ms| annal_model::Timestamp(ms as i64 * 1_000_000).to_string(),
        )
    };
    println!(
        "bucket          {} at {}: generation {}, {} of {} acknowledged events uploaded",
        st.url, st.endpoint, st.generation, st.bucket_events, st.local_events
    );
    println!(
        "                {} bytes queued; oldest seal not uploaded: {}; last success {}",
        st.queued_bytes,
        st.oldest_unuploaded_seal
            .map_or_else(|| "none".to_string(), |b| format!("segment {b}")),
        when(st.last_ok_ms)
    );
    if st.evicted_segments > 0 {
        println!(
            "                {} sealed segments only in the bucket (local_bytes_max), read through it",
            st.evicted_segments
        );
    }
    if let Some(e) = &st.last_error {
        let fenced = if st.fenced { " (uploads stopped)" } else { "" };
        println!(
            "                last error{fenced} at {}: {e}",
            when(st.last_error_ms)
        );
    }
    Ok(())
}
