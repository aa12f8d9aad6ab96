//! Where a command's data directory is: `--data`, else the configuration file's `data`,
//! else ./annal-data; the same file's `[object_store]` names the bucket.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use annal_bucket::{TieredFs, EVICTED_FILE};
use annal_http::Config;
use annal_storage::Options;

/// `--data` and `--config`, shared by every command that opens a data directory.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct DataArgs {
    /// Data directory (default: the configuration's `data`, else ./annal-data).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Configuration file (TOML): its `data` is the data directory, its `[object_store]` the
    /// bucket.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl DataArgs {
    /// `--data DIR` and no configuration file.
    pub fn at(dir: &Path) -> DataArgs {
        DataArgs {
            data: Some(dir.to_path_buf()),
            config: None,
        }
    }

    /// The configuration (defaults without `--config`) and the data directory.
    pub fn resolve(&self) -> anyhow::Result<(PathBuf, Config)> {
        let config = match &self.config {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        let data = self
            .data
            .clone()
            .or_else(|| config.data.clone())
            .unwrap_or_else(|| PathBuf::from(crate::DEFAULT_DATA_DIR));
        Ok((data, config))
    }

    /// The bucket's configuration, which `what` needs.
    pub fn bucket(config: &Config, what: &str) -> anyhow::Result<annal_bucket::BucketConfig> {
        config.object_store.clone().ok_or_else(|| {
            anyhow::anyhow!(
                "{what} needs a configuration file (--config FILE) with an [object_store] table"
            )
        })
    }

    /// The data directory, its configuration and the store options for it (see
    /// [`store_options`]).
    pub fn open(&self) -> anyhow::Result<(PathBuf, Config, Options, Option<Arc<TieredFs>>)> {
        let (data, config) = self.resolve()?;
        let (opts, tiered) = store_options(&data, &config)?;
        Ok((data, config, opts, tiered))
    }
}

/// How to open the store of `data`: with a bucket configured, through a file layer that reads
/// the sealed segments evicted to it (and the layer, for the uploader). Without one, a
/// directory whose segments were evicted is refused with a message saying what is missing.
pub fn store_options(
    data: &Path,
    config: &Config,
) -> anyhow::Result<(Options, Option<Arc<TieredFs>>)> {
    match &config.object_store {
        Some(bucket) => {
            let fs = TieredFs::open(data, bucket.connect()?)?;
            let opts = Options {
                fs: fs.clone(),
                ..Options::default()
            };
            Ok((opts, Some(fs)))
        }
        None if data.join(EVICTED_FILE).exists() => anyhow::bail!(
            "sealed segments of {} live only in its bucket ({} lists them): give --config FILE with its [object_store]",
            data.display(),
            EVICTED_FILE
        ),
        None => Ok((Options::default(), None)),
    }
}
