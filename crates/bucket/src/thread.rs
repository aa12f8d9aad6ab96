//! The uploader in the background: a thread with its own small runtime that runs a
//! [`Shipper`] round every ship interval, backs off while the bucket fails, and never stops
//! or slows the store's appends.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use annal_storage::Snapshot;
use parking_lot::Mutex;
use tokio::sync::watch;

use crate::error::{BucketError, Result};
use crate::poll::{now_ms, runtime, Backoff, Poller, Signals};
use crate::remote::Remote;
use crate::ship::{Claim, Shipped, Shipper};
use crate::status::{write_status, SyncStatus};
use crate::tiered::TieredFs;

/// Sealed segments moved to the bucket once uploaded, oldest first, to keep the local ones
/// within a size.
#[derive(Clone)]
pub struct Eviction {
    /// The store's file layer.
    pub fs: Arc<TieredFs>,
    /// Bytes of sealed segment files kept on the local disk.
    pub local_bytes_max: u64,
}

/// Gives the uploader the store's current state.
pub type SnapshotSource = Arc<dyn Fn() -> Snapshot + Send + Sync>;

struct Shared {
    status: Mutex<SyncStatus>,
    signals: Arc<Signals>,
    shipped: watch::Sender<u64>,
}

/// The running uploader of one data directory.
pub struct ShipperThread {
    shared: Arc<Shared>,
    poller: Poller,
}

/// Whether an error ends the uploader (another writer, another trail) or only this round.
fn is_fatal(e: &BucketError) -> bool {
    matches!(
        e,
        BucketError::Fenced { .. } | BucketError::OtherTrail { .. } | BucketError::Config(_)
    )
}

impl ShipperThread {
    /// Starts uploading `dir` to `remote` every `interval`. Waits for the first claim: a
    /// prefix held by another writer or another trail is an error here; an unreachable bucket
    /// is not (the claim is retried in the background while appends go on).
    pub fn spawn(
        remote: Remote,
        dir: &Path,
        snapshot: SnapshotSource,
        interval: Duration,
        claim: Claim,
        eviction: Option<Eviction>,
    ) -> Result<ShipperThread> {
        let status = SyncStatus {
            url: remote.url().to_string(),
            endpoint: remote.endpoint().to_string(),
            ..SyncStatus::default()
        };
        let shared = Arc::new(Shared {
            status: Mutex::new(status),
            signals: Arc::new(Signals::default()),
            shipped: watch::channel(0).0,
        });
        let (first_tx, first_rx) = mpsc::sync_channel::<Result<(), First>>(1);
        let run = Runner {
            shared: shared.clone(),
            remote,
            dir: dir.to_path_buf(),
            snapshot,
            interval,
            claim,
            eviction,
        };
        let signals = shared.signals.clone();
        let poller = Poller::spawn("annal-uploader", dir, signals, move || run.run(first_tx))?;
        let mut thread = ShipperThread { shared, poller };
        match first_rx.recv() {
            Ok(Err(First::Fatal(e))) => {
                thread.stop();
                Err(e)
            }
            Ok(Err(First::Transient(e))) => {
                tracing::warn!("bucket not reachable at start, appends go on locally and uploads will resume: {e}");
                Ok(thread)
            }
            _ => Ok(thread),
        }
    }

    /// The uploader's state now.
    pub fn status(&self) -> SyncStatus {
        self.shared.status.lock().clone()
    }

    /// Reads the uploader's state, for code that does not own the thread.
    pub fn status_reader(&self) -> impl Fn() -> SyncStatus + Send + Sync + 'static {
        let shared = self.shared.clone();
        move || shared.status.lock().clone()
    }

    /// Acknowledged events the bucket holds, updated after every commit.
    pub fn shipped(&self) -> watch::Receiver<u64> {
        self.shared.shipped.subscribe()
    }

    /// Asks for a round now (an append waits for the bucket).
    pub fn wake(&self) {
        self.waker().wake();
    }

    /// A handle that asks for a round, for code that does not own the thread.
    pub fn waker(&self) -> Waker {
        Waker(self.shared.clone())
    }

    /// Runs a last round (so a clean shutdown leaves the bucket holding every acknowledged
    /// event, if it is reachable) and stops.
    pub fn stop(&mut self) {
        self.poller.stop();
    }
}

/// Asks a [`ShipperThread`] for a round now.
#[derive(Clone)]
pub struct Waker(Arc<Shared>);

impl Waker {
    /// Asks for a round now.
    pub fn wake(&self) {
        self.0.signals.wake();
    }
}

struct Runner {
    shared: Arc<Shared>,
    remote: Remote,
    dir: PathBuf,
    snapshot: SnapshotSource,
    interval: Duration,
    claim: Claim,
    eviction: Option<Eviction>,
}

impl Runner {
    fn run(self, first: mpsc::SyncSender<Result<(), First>>) {
        let rt = match runtime(&self.dir) {
            Ok(rt) => rt,
            Err(e) => {
                let _ = first.send(Err(First::Fatal(e)));
                return;
            }
        };
        rt.block_on(self.rounds(first));
    }

    async fn rounds(&self, first: mpsc::SyncSender<Result<(), First>>) {
        let mut first = Some(first);
        let mut shipper: Option<Shipper> = None;
        let mut backoff = Backoff::new(self.interval);
        loop {
            let stopping = self.shared.signals.stopping();
            let outcome = self.round(&mut shipper).await;
            // A round commits twice; a failure after its first commit still moved the
            // bucket on (the tail is in), which appends waiting for the bucket must hear.
            if let Some(s) = &shipper {
                self.record_manifest(s.manifest().generation, s.manifest().events);
            }
            let wait = match outcome {
                Ok(done) => {
                    if let Some(tx) = first.take() {
                        let _ = tx.send(Ok(()));
                    }
                    let interval = backoff.ok();
                    self.record_ok(&done);
                    if done.complete() {
                        interval
                    } else {
                        Duration::ZERO
                    }
                }
                Err(e) => {
                    let fatal = is_fatal(&e);
                    tracing::warn!("upload to {} failed: {e}", self.remote.url());
                    self.record_error(&e, fatal);
                    self.save_status();
                    if fatal {
                        if let Some(tx) = first.take() {
                            let _ = tx.send(Err(First::Fatal(e)));
                        }
                        return;
                    }
                    if let Some(tx) = first.take() {
                        let _ = tx.send(Err(First::Transient(e.to_string())));
                    }
                    backoff.failed()
                }
            };
            self.save_status();
            if stopping {
                return;
            }
            self.shared.signals.wait(wait);
        }
    }

    fn save_status(&self) {
        if let Err(e) = write_status(&self.dir, &self.shared.status.lock()) {
            tracing::warn!("cannot write the uploader status: {e}");
        }
    }

    /// Claims the prefix if not yet done, then runs one round.
    async fn round(&self, shipper: &mut Option<Shipper>) -> Result<Shipped> {
        let snap = (self.snapshot)();
        self.shared.status.lock().local_events = snap.end();
        if shipper.is_none() {
            let s = Shipper::claim(self.remote.clone(), &self.dir, &snap, self.claim).await?;
            *shipper = Some(s);
        }
        let Some(s) = shipper.as_mut() else {
            unreachable!("claimed above")
        };
        let done = s.ship(&snap, self.interval).await?;
        if let Some(ev) = &self.eviction {
            let evicted = ev.fs.evict_over(&s.manifest().sealed, ev.local_bytes_max)?;
            if !evicted.is_empty() {
                tracing::info!(
                    "evicted {} uploaded sealed segments to {}",
                    evicted.len(),
                    self.remote.url()
                );
            }
            self.shared.status.lock().evicted_segments = ev.fs.evicted().len() as u64;
        }
        Ok(done)
    }

    /// The newest manifest this writer committed (or found at its claim).
    fn record_manifest(&self, generation: u64, events: u64) {
        let mut st = self.shared.status.lock();
        st.generation = generation;
        st.bucket_events = events;
        drop(st);
        self.shared.shipped.send_if_modified(|n| {
            let moved = *n != events;
            *n = events;
            moved
        });
    }

    fn record_ok(&self, done: &Shipped) {
        let mut st = self.shared.status.lock();
        st.queued_bytes = done.queued_bytes;
        st.oldest_unuploaded_seal = done.oldest_unuploaded_seal;
        st.uploaded_objects += done.objects;
        st.uploaded_bytes += done.bytes;
        st.last_ok_ms = Some(now_ms());
        st.last_error = None;
        st.updated_ms = now_ms();
    }

    fn record_error(&self, e: &BucketError, fatal: bool) {
        let mut st = self.shared.status.lock();
        st.last_error = Some(e.to_string());
        st.last_error_ms = Some(now_ms());
        st.failed_rounds += 1;
        st.fenced = fatal;
        st.updated_ms = now_ms();
    }
}

/// How the first round ended, for the spawner.
enum First {
    /// The uploader stopped: another writer or trail holds the prefix.
    Fatal(BucketError),
    /// The round failed and will be retried.
    Transient(String),
}
