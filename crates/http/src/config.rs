//! The server's configuration file (TOML) and its limits.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::auth::{ApiKey, Role};

/// Largest request body accepted by default (413 beyond).
pub const BODY_BYTES_DEFAULT: usize = 16 << 20;
/// Time a request may take before the server answers 408 (streams and exports excepted).
pub const REQUEST_SECONDS_DEFAULT: u64 = 30;
/// Live streams (SSE) served at once; more get 429.
pub const STREAMS_MAX_DEFAULT: usize = 256;
/// Seconds between signed checkpoints while the trail grows (one is also signed at every seal).
pub const CHECKPOINT_SECONDS_DEFAULT: u64 = 60;
/// Query parameters accepted in one request.
pub const QUERY_PARAMS_MAX: usize = 256;
/// Largest query string, in bytes.
pub const QUERY_BYTES_MAX: usize = 16 << 10;

/// What `annal serve --config FILE` reads.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    /// Data directory.
    #[serde(default)]
    pub data: Option<PathBuf>,
    /// Largest request body, in bytes.
    #[serde(default = "body_default")]
    pub body_limit_bytes: usize,
    /// Seconds before a request times out.
    #[serde(default = "timeout_default")]
    pub request_timeout_secs: u64,
    /// Live streams served at once.
    #[serde(default = "streams_default")]
    pub streams_max: usize,
    /// API keys, as SHA-256 hashes with their roles. None configured: development mode.
    #[serde(default)]
    pub api_keys: Vec<KeyEntry>,
    /// Seconds between signed checkpoints while the trail grows.
    #[serde(default = "checkpoint_default")]
    pub checkpoint_interval_secs: u64,
    /// Private key that signs checkpoints (default: the data directory's `checkpoint.key`,
    /// made at the first start).
    #[serde(default)]
    pub signing_key: Option<PathBuf>,
    /// The log's name: the first line of every checkpoint. None: the origin the store already
    /// signed with, else one made from the host name and the data directory
    /// (`annal_integrity::checkpoint_origin`).
    #[serde(default)]
    pub origin: Option<String>,
    /// The bucket that holds the trail (`[object_store]`); None: the local disk only.
    #[serde(default)]
    pub object_store: Option<annal_bucket::BucketConfig>,
    /// Days events are kept: whole sealed segments whose newest event is older are pruned
    /// (unless held or newer than the newest signed checkpoint). None: kept for ever.
    #[serde(default)]
    pub retention_days: Option<u32>,
    /// Seconds between the server's prunes when `retention_days` is set (the first one this
    /// long after the start).
    #[serde(default = "prune_interval_default")]
    pub prune_interval_secs: u64,
    /// Seconds between the server's audits of its trail (the first at start).
    #[serde(default = "verify_interval_default")]
    pub verify_interval_secs: u64,
    /// Who may read `/metrics`, and where (`[metrics]`).
    #[serde(default)]
    pub metrics: MetricsConfig,
}

/// Who may read `/metrics`, and where.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// What `/metrics` on the main address needs: a role, or `open` for no key.
    #[serde(default)]
    pub access: MetricsAccess,
    /// A second address that serves only `/metrics`, without a key: for a scraper on a
    /// network the API is not served on.
    #[serde(default)]
    pub listen: Option<SocketAddr>,
}

/// What reading `/metrics` on the main address needs.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MetricsAccess {
    /// No key.
    Open,
    /// A reader's key (or an auditor's or admin's): the default.
    #[default]
    Reader,
    /// An auditor's or admin's key.
    Auditor,
    /// An admin's key.
    Admin,
}

impl MetricsAccess {
    /// The role needed; None when open.
    pub fn role(self) -> Option<Role> {
        match self {
            MetricsAccess::Open => None,
            MetricsAccess::Reader => Some(Role::Reader),
            MetricsAccess::Auditor => Some(Role::Auditor),
            MetricsAccess::Admin => Some(Role::Admin),
        }
    }
}

/// Default seconds between scheduled prunes: hourly.
pub const PRUNE_SECONDS_DEFAULT: u64 = 3600;

/// One configured API key.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEntry {
    /// A name for logs.
    pub name: String,
    /// Hex SHA-256 of the key.
    pub sha256: String,
    /// What the key may do.
    pub role: Role,
}

fn body_default() -> usize {
    BODY_BYTES_DEFAULT
}
fn timeout_default() -> u64 {
    REQUEST_SECONDS_DEFAULT
}
fn streams_default() -> usize {
    STREAMS_MAX_DEFAULT
}
fn checkpoint_default() -> u64 {
    CHECKPOINT_SECONDS_DEFAULT
}
fn prune_interval_default() -> u64 {
    PRUNE_SECONDS_DEFAULT
}
fn verify_interval_default() -> u64 {
    crate::scrub::VERIFY_SECONDS_DEFAULT
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: None,
            data: None,
            body_limit_bytes: BODY_BYTES_DEFAULT,
            request_timeout_secs: REQUEST_SECONDS_DEFAULT,
            streams_max: STREAMS_MAX_DEFAULT,
            api_keys: Vec::new(),
            checkpoint_interval_secs: CHECKPOINT_SECONDS_DEFAULT,
            signing_key: None,
            origin: None,
            object_store: None,
            retention_days: None,
            prune_interval_secs: PRUNE_SECONDS_DEFAULT,
            verify_interval_secs: crate::scrub::VERIFY_SECONDS_DEFAULT,
            metrics: MetricsConfig::default(),
        }
    }
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not valid.
    #[error("{path}: {msg}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
}

impl Config {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let invalid = |msg: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            msg,
        };
        let config: Config = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        config.keys().map_err(invalid)?;
        if config.body_limit_bytes == 0
            || config.streams_max == 0
            || config.request_timeout_secs == 0
            || config.checkpoint_interval_secs == 0
            || config.prune_interval_secs == 0
            || config.verify_interval_secs == 0
        {
            return Err(invalid("limits must be above zero".into()));
        }
        if let Some(days) = config
            .retention_days
            .filter(|d| !(1..=annal_retention::RETENTION_DAYS_MAX).contains(d))
        {
            return Err(invalid(format!(
                "retention_days = {days}: keep events from 1 to {} days (leave it out to keep them for ever)",
                annal_retention::RETENTION_DAYS_MAX
            )));
        }
        if let Some(bucket) = &config.object_store {
            bucket.check().map_err(|e| invalid(e.to_string()))?;
        }
        if config
            .origin
            .as_deref()
            .is_some_and(|o| o.is_empty() || o.contains('\n'))
        {
            return Err(invalid("origin must be one non-empty line".into()));
        }
        Ok(config)
    }

    /// The configured keys, checked.
    pub fn keys(&self) -> Result<Vec<ApiKey>, String> {
        self.api_keys
            .iter()
            .map(|k| ApiKey::from_hex(&k.name, &k.sha256, k.role))
            .collect()
    }
}
