//! The server's own audit of its trail, on a schedule: every record's checksum and canonical
//! form, every sealed root, and every stored checkpoint against the tree (what `annal verify`
//! does), so damage on disk is found by the operator before an auditor finds it. The outcome
//! is shown on the console's trail page and in `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use annal_integrity::{audit_snapshot, AuditOptions, Notary, NoteVerifier, CHECKPOINT_LOG_FILE};
use annal_query::Engine;

/// Default seconds between the server's audits: every 6 hours (the first runs at start).
pub const VERIFY_SECONDS_DEFAULT: u64 = 6 * 3600;

/// Audits run again at once when the one before failed while the trail's start moved (a
/// prune: its kept hashes and its segments were read at different moments) or a checkpoint
/// was being appended (its frame may have been read half written).
const VERIFY_ATTEMPTS_MAX: usize = 3;

/// What one audit found.
#[derive(Clone, Debug)]
pub struct VerifyOutcome {
    /// When it finished.
    pub at: SystemTime,
    /// True when nothing was wrong.
    pub ok: bool,
    /// Events whose records were read and hashed.
    pub events: u64,
    /// How long it took.
    pub seconds: f64,
    /// The first problem, with how many there were, when it failed.
    pub error: Option<String>,
}

/// The outcome of the newest audit and the counts of every one so far.
#[derive(Default)]
pub struct Verifications {
    last: parking_lot::Mutex<Option<VerifyOutcome>>,
    passed: AtomicU64,
    failed: AtomicU64,
}

impl Verifications {
    /// The newest audit's outcome; None before the first finished.
    pub fn last(&self) -> Option<VerifyOutcome> {
        self.last.lock().clone()
    }

    /// Audits that passed and that failed since the start.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.passed.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }

    fn record(&self, outcome: VerifyOutcome) {
        let counter = if outcome.ok {
            &self.passed
        } else {
            &self.failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
        *self.last.lock() = Some(outcome);
    }
}

/// Audits the trail of `engine` once, on this thread, checking signatures with `key` (the
/// server's own; None: the data directory's `checkpoint.pub`).
pub fn verify_once(engine: &Engine, key: Option<NoteVerifier>) -> VerifyOutcome {
    let started = Instant::now();
    let store = engine.store();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let before = (store.start(), checkpoint_log_len(engine));
        let report = audit_snapshot(
            &**store.fs(),
            store.dir(),
            || store.snapshot(),
            &AuditOptions {
                public_key: key.clone(),
                ..AuditOptions::default()
            },
        );
        let moved = (store.start(), checkpoint_log_len(engine)) != before;
        let outcome = match report {
            Ok(r) if r.ok() => Ok(r.data.events),
            Ok(r) => {
                let problems: Vec<String> = r
                    .data
                    .problems
                    .iter()
                    .chain(&r.problems)
                    .map(ToString::to_string)
                    .collect();
                Err((r.data.events, summary(&problems)))
            }
            Err(e) => Err((0, format!("the audit could not run: {e}"))),
        };
        if outcome.is_err() && moved && attempt < VERIFY_ATTEMPTS_MAX {
            continue;
        }
        let (ok, events, error) = match outcome {
            Ok(events) => (true, events, None),
            Err((events, msg)) => (false, events, Some(msg)),
        };
        return VerifyOutcome {
            at: SystemTime::now(),
            ok,
            events,
            seconds: started.elapsed().as_secs_f64(),
            error,
        };
    }
}

fn checkpoint_log_len(engine: &Engine) -> Option<u64> {
    let path = engine.store().dir().join(CHECKPOINT_LOG_FILE);
    std::fs::metadata(path).ok().map(|m| m.len())
}

/// The first problem and how many more there are.
fn summary(problems: &[String]) -> String {
    match problems {
        [] => "the audit failed without naming a problem".into(),
        [one] => one.clone(),
        [first, rest @ ..] => format!("{first} (and {} more problems)", rest.len()),
    }
}

/// Audits at once, then every `every`, on the blocking pool; logs each outcome.
pub async fn verify_on_schedule(
    engine: Arc<Engine>,
    notary: Option<Arc<Notary>>,
    verifications: Arc<Verifications>,
    every: Duration,
) {
    loop {
        let (e, key) = (engine.clone(), notary.as_ref().and_then(|n| n.verifier()));
        match tokio::task::spawn_blocking(move || verify_once(&e, key)).await {
            Ok(outcome) => {
                match &outcome.error {
                    None => tracing::info!(
                        events = outcome.events,
                        seconds = outcome.seconds,
                        "verify: the trail is intact"
                    ),
                    Some(e) => tracing::error!(error = %e, "verify: the trail FAILED its audit"),
                }
                verifications.record(outcome);
            }
            Err(e) => tracing::error!("verify: the audit panicked: {e}"),
        }
        tokio::time::sleep(every).await;
    }
}
