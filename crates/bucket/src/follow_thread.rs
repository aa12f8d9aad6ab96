//! The follower in the background: a thread with its own small runtime that runs a
//! [`Follower`] round every poll interval, backs off while the bucket fails (the replica keeps
//! serving what it holds), and stops for good only when the store is not, or no longer, a
//! copy of the bucket's trail.

use std::sync::Arc;
use std::time::Duration;

use annal_storage::Store;
use parking_lot::Mutex;
use tokio::sync::watch;

use crate::error::{BucketError, Result};
use crate::follow::{Followed, Follower};
use crate::poll::{now_ms, runtime, Backoff, Poller, Signals};
use crate::remote::Remote;

/// What the follower has done and how far behind the bucket the replica is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FollowStatus {
    /// The prefix followed, `s3://BUCKET/PREFIX`.
    pub url: String,
    /// Where requests go.
    pub endpoint: String,
    /// Newest manifest generation followed.
    pub generation: u64,
    /// Acknowledged events the bucket held at the last round.
    pub bucket_events: u64,
    /// Events the replica's store holds.
    pub local_events: u64,
    /// Events appended since the process started.
    pub appended: u64,
    /// Objects downloaded since the process started (manifests aside).
    pub downloaded_objects: u64,
    /// Their bytes.
    pub downloaded_bytes: u64,
    /// When a round last succeeded (ms since the Unix epoch).
    pub last_ok_ms: Option<u64>,
    /// The last round's error, cleared by a round that succeeds.
    pub last_error: Option<String>,
    /// When it happened.
    pub last_error_ms: Option<u64>,
    /// True when the follower stopped for good: the store holds another trail or diverged.
    pub stopped: bool,
}

impl FollowStatus {
    /// Events the bucket holds and the replica does not (yet).
    pub fn lag(&self) -> u64 {
        self.bucket_events.saturating_sub(self.local_events)
    }
}

/// Whether an error ends the follower (the store is not a copy of the bucket's trail) or
/// only this round (the bucket is unreachable, an object is missing for a moment …).
fn is_fatal(e: &BucketError) -> bool {
    matches!(
        e,
        BucketError::OtherTrail { .. } | BucketError::Diverged { .. } | BucketError::Config(_)
    )
}

/// Shortest time a round may spend appending before it returns between two segments.
const ROUND_BUDGET_MIN: Duration = Duration::from_secs(1);

struct Shared {
    status: Mutex<FollowStatus>,
    signals: Arc<Signals>,
    /// Events the store holds, after every round that appended.
    local: watch::Sender<u64>,
}

/// The running follower of one replica.
pub struct FollowerThread {
    shared: Arc<Shared>,
    poller: Poller,
}

impl FollowerThread {
    /// Starts following `remote` into the store `store` gives, every `interval`. Waits for
    /// the first check of the store against the bucket: another trail is an error here; an
    /// unreachable bucket is not (the replica serves what it holds and retries).
    pub fn spawn<S>(remote: Remote, store: S, interval: Duration) -> Result<FollowerThread>
    where
        S: AsRef<Store> + Send + 'static,
    {
        let local_events = store.as_ref().len();
        let dir = store.as_ref().dir().to_path_buf();
        let shared = Arc::new(Shared {
            status: Mutex::new(FollowStatus {
                url: remote.url().to_string(),
                endpoint: remote.endpoint().to_string(),
                local_events,
                ..FollowStatus::default()
            }),
            signals: Arc::new(Signals::default()),
            local: watch::channel(local_events).0,
        });
        let (first_tx, first_rx) = std::sync::mpsc::sync_channel::<Result<()>>(1);
        let run = Runner {
            shared: shared.clone(),
            follower: Follower::new(remote),
            interval,
        };
        let signals = shared.signals.clone();
        let poller = Poller::spawn("annal-follower", &dir, signals, move || {
            run.run(store, first_tx)
        })?;
        let mut thread = FollowerThread { shared, poller };
        match first_rx.recv() {
            Ok(Err(e)) => {
                thread.stop();
                Err(e)
            }
            _ => Ok(thread),
        }
    }

    /// The follower's state now.
    pub fn status(&self) -> FollowStatus {
        self.shared.status.lock().clone()
    }

    /// Events the replica's store holds, updated after every round that appended (for live
    /// streams).
    pub fn local_events(&self) -> watch::Receiver<u64> {
        self.shared.local.subscribe()
    }

    /// Asks for a round now.
    pub fn wake(&self) {
        self.poller.wake();
    }

    /// Stops the follower (a round in progress ends first) and gives the store back.
    pub fn stop(&mut self) {
        self.poller.stop();
    }
}

struct Runner {
    shared: Arc<Shared>,
    follower: Follower,
    interval: Duration,
}

impl Runner {
    fn run<S: AsRef<Store>>(mut self, store: S, first: std::sync::mpsc::SyncSender<Result<()>>) {
        let rt = match runtime(store.as_ref().dir()) {
            Ok(rt) => rt,
            Err(e) => {
                let _ = first.send(Err(e));
                return;
            }
        };
        rt.block_on(self.rounds(store.as_ref(), first));
        // The store (an engine's handle, in a server) is dropped here, before `stop` returns.
        drop(store);
    }

    async fn rounds(&mut self, store: &Store, first: std::sync::mpsc::SyncSender<Result<()>>) {
        match self.follower.check(store).await {
            Ok(()) => {
                let _ = first.send(Ok(()));
            }
            Err(e) if is_fatal(&e) => {
                self.record_error(&e, true);
                let _ = first.send(Err(e));
                return;
            }
            Err(e) => {
                tracing::warn!(
                    "bucket {} not readable at start, serving what this replica holds and retrying: {e}",
                    self.follower.remote().url()
                );
                self.record_error(&e, false);
                let _ = first.send(Ok(()));
            }
        }
        let mut backoff = Backoff::new(self.interval);
        while !self.shared.signals.stopping() {
            // A round ends between segments once its interval is spent, so a replica catching
            // up can be stopped; it then goes on at once.
            let budget = self.interval.max(ROUND_BUDGET_MIN);
            let wait = match self.follower.follow_for(store, budget).await {
                Ok(done) => {
                    self.record_ok(&done, store.len());
                    let interval = backoff.ok();
                    if done.complete() {
                        interval
                    } else {
                        Duration::ZERO
                    }
                }
                Err(e) => {
                    let fatal = is_fatal(&e);
                    // Events appended before the error are served: say so to streams.
                    self.shared.local.send_replace(store.len());
                    self.record_error(&e, fatal);
                    if fatal {
                        tracing::error!(
                            "stopped following {}: {e}; serving the {} events this replica holds",
                            self.follower.remote().url(),
                            store.len()
                        );
                        return;
                    }
                    tracing::warn!(
                        "following {} failed, serving what this replica holds and retrying: {e}",
                        self.follower.remote().url()
                    );
                    backoff.failed()
                }
            };
            self.shared.signals.wait(wait);
        }
    }

    fn record_ok(&self, done: &Followed, local: u64) {
        let mut st = self.shared.status.lock();
        st.generation = done.generation;
        st.bucket_events = done.events;
        st.local_events = local;
        st.appended += done.appended;
        st.downloaded_objects += done.objects;
        st.downloaded_bytes += done.bytes;
        st.last_ok_ms = Some(now_ms());
        st.last_error = None;
        drop(st);
        if done.appended > 0 {
            self.shared.local.send_replace(local);
        }
    }

    fn record_error(&self, e: &BucketError, fatal: bool) {
        let mut st = self.shared.status.lock();
        st.last_error = Some(e.to_string());
        st.last_error_ms = Some(now_ms());
        st.stopped = fatal;
    }
}
