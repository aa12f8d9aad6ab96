//! What the uploader's and the follower's background threads share: a wake/stop signal with
//! a timed wait, the backoff while the bucket fails, a runtime of their own.

use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::{Condvar, Mutex};

use crate::error::{local, Result};

/// Longest wait between two attempts while the bucket fails.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[derive(Default)]
struct Flags {
    wake: bool,
    stop: bool,
}

/// Asks a polling thread for a round now (`wake`) or to stop (`stop`).
#[derive(Default)]
pub(crate) struct Signals {
    flags: Mutex<Flags>,
    cond: Condvar,
}

impl Signals {
    /// Asks for a round now.
    pub(crate) fn wake(&self) {
        self.flags.lock().wake = true;
        self.cond.notify_one();
    }

    /// Asks the thread to stop.
    pub(crate) fn stop(&self) {
        self.flags.lock().stop = true;
        self.cond.notify_one();
    }

    /// Whether a stop was asked for.
    pub(crate) fn stopping(&self) -> bool {
        self.flags.lock().stop
    }

    /// Waits `wait` or until woken or asked to stop.
    pub(crate) fn wait(&self, wait: Duration) {
        let mut flags = self.flags.lock();
        if !flags.wake && !flags.stop && !wait.is_zero() {
            self.cond.wait_for(&mut flags, wait);
        }
        flags.wake = false;
    }
}

/// The wait before the next round: the interval after a success, doubling up to
/// [`BACKOFF_MAX`] while rounds fail.
pub(crate) struct Backoff {
    interval: Duration,
    current: Duration,
}

impl Backoff {
    /// Backoff starting at `interval`.
    pub(crate) fn new(interval: Duration) -> Backoff {
        Backoff {
            interval,
            current: interval,
        }
    }

    /// A round succeeded: the next waits the interval.
    pub(crate) fn ok(&mut self) -> Duration {
        self.current = self.interval;
        self.interval
    }

    /// A round failed: the next waits twice as long as the last, at most [`BACKOFF_MAX`].
    pub(crate) fn failed(&mut self) -> Duration {
        self.current = (self.current * 2).min(BACKOFF_MAX);
        self.current
    }
}

/// A single-threaded runtime for a background thread working for `dir`.
pub(crate) fn runtime(dir: &Path) -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| local("start runtime for", dir)(e))
}

/// A polling thread: its signals and its handle. Dropped, it asks the thread to stop and
/// waits for it.
pub(crate) struct Poller {
    signals: Arc<Signals>,
    handle: Option<JoinHandle<()>>,
}

impl Poller {
    /// Starts `run` on a thread called `name` (working for `dir`), stopped through `signals`.
    pub(crate) fn spawn(
        name: &str,
        dir: &Path,
        signals: Arc<Signals>,
        run: impl FnOnce() + Send + 'static,
    ) -> Result<Poller> {
        let handle = std::thread::Builder::new()
            .name(name.into())
            .spawn(run)
            .map_err(|e| local("spawn a thread for", dir)(e))?;
        Ok(Poller {
            signals,
            handle: Some(handle),
        })
    }

    /// Asks for a round now.
    pub(crate) fn wake(&self) {
        self.signals.wake();
    }

    /// Asks the thread to stop (a round in progress ends first) and waits for it.
    pub(crate) fn stop(&mut self) {
        self.signals.stop();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.stop();
    }
}
