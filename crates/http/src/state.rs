//! What every handler shares: the engine, the keys, the live-stream signal and permits,
//! the JSON row cache and the notary.

use std::sync::Arc;

use annal_integrity::Notary;
use annal_query::Engine;
use tokio::sync::{watch, Semaphore};

use crate::auth::ApiKey;
use crate::config::Config;
use crate::metrics::RequestMetrics;
use crate::scrub::Verifications;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The store with its indexes.
    pub engine: Arc<Engine>,
    /// Configured keys; empty in development mode.
    pub keys: Arc<[ApiKey]>,
    /// The newest seq + 1 after each append, for live streams.
    pub appended: Arc<watch::Sender<u64>>,
    /// Permits for concurrent live streams.
    pub streams: Arc<Semaphore>,
    /// Events' JSON by seq: a stored event never changes, and pages of recent events are
    /// asked for again and again.
    pub rows_json: Arc<parking_lot::Mutex<annal_query::Lru<u64, Arc<[u8]>>>>,
    /// Signs checkpoints and answers proofs; None serves neither (503).
    pub notary: Option<Arc<Notary>>,
    /// Set when appends are acknowledged only once the bucket holds them.
    pub bucket_ack: Option<BucketAck>,
    /// Set when this server is a read replica: appends are refused (409), naming the primary.
    pub replica: Option<Arc<ReplicaInfo>>,
    /// tlog-tiles tiles and entry bundles served lately (their bytes never change).
    pub tiles: Arc<parking_lot::Mutex<annal_query::Lru<crate::tiles::TileKey, Arc<[u8]>>>>,
    /// Prunes and legal holds; None on a read replica.
    pub retention: Option<Arc<annal_retention::Retention>>,
    /// The configured `retention_days`.
    pub retention_days: Option<u32>,
    /// Answers counted by route and status, and their latency.
    pub metrics: Arc<RequestMetrics>,
    /// The server's own audits of the trail.
    pub verifications: Arc<Verifications>,
    /// The uploader's state, when a bucket is configured.
    pub bucket_status: Option<BucketStatus>,
    /// The most live streams served at once (`streams_max`).
    pub streams_max: usize,
}

/// Reads the uploader's state (it lives in the uploader's thread).
pub type BucketStatus = Arc<dyn Fn() -> annal_bucket::SyncStatus + Send + Sync>;

/// What a read replica says about its role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaInfo {
    /// The bucket prefix it follows, `s3://BUCKET/PREFIX`: its writer is the primary.
    pub primary: String,
}

/// How an append waits for the bucket (`ack = "bucket"` in `[object_store]`).
#[derive(Clone)]
pub struct BucketAck {
    /// Acknowledged events the bucket holds, as the uploader commits them.
    pub shipped: watch::Receiver<u64>,
    /// Asks the uploader for a round now.
    pub wake: Arc<dyn Fn() + Send + Sync>,
    /// The bucket prefix, for messages.
    pub url: String,
}

/// Longest an append waits for the bucket before it answers 503 (the events stay stored
/// locally and are uploaded later; a retry with the same ids waits again).
pub const BUCKET_ACK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Memory the JSON row cache may hold.
pub const JSON_CACHE_BYTES: usize = 32 << 20;

impl AppState {
    /// State for serving `engine` with `config`.
    pub fn new(engine: Arc<Engine>, config: &Config) -> Result<AppState, String> {
        let end = engine.store().len();
        Ok(AppState {
            engine,
            keys: config.keys()?.into(),
            appended: Arc::new(watch::channel(end).0),
            streams: Arc::new(Semaphore::new(config.streams_max)),
            rows_json: Arc::new(parking_lot::Mutex::new(annal_query::Lru::new(
                JSON_CACHE_BYTES,
            ))),
            notary: None,
            tiles: Arc::new(parking_lot::Mutex::new(annal_query::Lru::new(
                crate::tiles::TILE_CACHE_BYTES,
            ))),
            bucket_ack: None,
            replica: None,
            retention: None,
            retention_days: config.retention_days,
            metrics: Arc::new(RequestMetrics::default()),
            verifications: Arc::new(Verifications::default()),
            bucket_status: None,
            streams_max: config.streams_max,
        })
    }

    /// The same state, acknowledging appends only once `ack` says the bucket holds them.
    pub fn with_bucket_ack(mut self, ack: BucketAck) -> AppState {
        self.bucket_ack = Some(ack);
        self
    }

    /// The same state, reporting the uploader's state in `/v1/trail` and `/metrics`.
    pub fn with_bucket_status(mut self, status: BucketStatus) -> AppState {
        self.bucket_status = Some(status);
        self
    }

    /// Live streams being served now.
    pub fn stream_clients(&self) -> u64 {
        self.streams_max
            .saturating_sub(self.streams.available_permits()) as u64
    }

    /// The same state, serving as a read replica of `info.primary`.
    pub fn with_replica(mut self, info: ReplicaInfo) -> AppState {
        self.replica = Some(Arc::new(info));
        self
    }

    /// The same state, with prunes and legal holds.
    pub fn with_retention(mut self, retention: annal_retention::Retention) -> AppState {
        self.retention = Some(Arc::new(retention));
        self
    }

    /// The same state, signing and proving with `notary`.
    pub fn with_notary(mut self, notary: Notary) -> AppState {
        self.notary = Some(Arc::new(notary));
        self
    }
}
