//! Where a command's data directory is: `--data`, else the configuration file's `data`,
//! else ./annal-data; the same file's `[object_store]` names the bucket.

use std::path::{Path, PathBuf};

use annal_http::Config;

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

    /// The data directory alone.
    pub fn dir(&self) -> anyhow::Result<PathBuf> {
        Ok(self.resolve()?.0)
    }

    /// The bucket's configuration, which `what` needs.
    pub fn bucket(config: &Config, what: &str) -> anyhow::Result<annal_bucket::BucketConfig> {
        config.object_store.clone().ok_or_else(|| {
            anyhow::anyhow!(
                "{what} needs a configuration file (--config FILE) with an [object_store] table"
            )
        })
    }
}
