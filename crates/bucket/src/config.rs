//! The `[object_store]` table of the configuration file.

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};
use serde::Deserialize;

use crate::error::{BucketError, Result};
use crate::remote::Remote;

/// Milliseconds between two shipments of the write-ahead log's acknowledged tail (the RPO).
pub const SHIP_INTERVAL_MS_DEFAULT: u64 = 1000;
/// Shortest ship interval accepted: below it, a round's requests outlast it.
pub const SHIP_INTERVAL_MS_MIN: u64 = 10;
/// Retries `object_store` makes of one failed request before the round gives up on it.
const REQUEST_RETRIES_MAX: usize = 3;
/// Time one request may take, connection included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Time to connect to the endpoint.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// When an append to a server with a bucket is acknowledged.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AckMode {
    /// When it is durable on the local disk (the default); the bucket is at most
    /// `ship_interval_ms` behind.
    #[default]
    Local,
    /// Only once the part holding it is in the bucket and checked: no acknowledged event is
    /// lost with the disk, at the price of object-store latency per append.
    Bucket,
}

/// Where the trail's bucket is and how the uploader behaves. Credentials are never read
/// from here: `object_store` reads them from the environment as AWS tools do
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_PROFILE` is not
/// read, instance metadata is).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketConfig {
    /// `s3://BUCKET/PREFIX` (the prefix may be empty).
    pub url: String,
    /// Endpoint of an S3-compatible service; omitted for AWS.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Region (default: `AWS_REGION` from the environment, else us-east-1).
    #[serde(default)]
    pub region: Option<String>,
    /// Allow plain HTTP to the endpoint (a local test server).
    #[serde(default)]
    pub allow_http: bool,
    /// Bytes of sealed files kept on the local disk; older uploaded ones are read from the
    /// bucket. None: keep everything.
    #[serde(default)]
    pub local_bytes_max: Option<u64>,
    /// Milliseconds between shipments of the acknowledged tail.
    #[serde(default = "ship_interval_default")]
    pub ship_interval_ms: u64,
    /// When appends are acknowledged.
    #[serde(default)]
    pub ack: AckMode,
}

fn ship_interval_default() -> u64 {
    SHIP_INTERVAL_MS_DEFAULT
}

impl BucketConfig {
    /// A configuration for `url` at `endpoint` with every other setting at its default.
    pub fn new(url: &str, endpoint: Option<&str>) -> BucketConfig {
        BucketConfig {
            url: url.to_string(),
            endpoint: endpoint.map(str::to_string),
            region: None,
            allow_http: endpoint.is_some_and(|e| e.starts_with("http://")),
            local_bytes_max: None,
            ship_interval_ms: SHIP_INTERVAL_MS_DEFAULT,
            ack: AckMode::Local,
        }
    }

    /// Checks the settings, naming the one that is wrong.
    pub fn check(&self) -> Result<()> {
        let rest = self.url.strip_prefix("s3://").ok_or_else(|| {
            BucketError::Config(format!("url {:?} must start with s3://", self.url))
        })?;
        let bucket = rest.split('/').next().unwrap_or_default();
        if bucket.is_empty() {
            return Err(BucketError::Config(format!(
                "url {:?} names no bucket",
                self.url
            )));
        }
        if self.ship_interval_ms < SHIP_INTERVAL_MS_MIN {
            return Err(BucketError::Config(format!(
                "ship_interval_ms must be at least {SHIP_INTERVAL_MS_MIN}"
            )));
        }
        if let Some(e) = &self.endpoint {
            if e.starts_with("http://") && !self.allow_http {
                return Err(BucketError::Config(format!(
                    "endpoint {e} is plain HTTP: set allow_http = true to use it"
                )));
            }
        }
        Ok(())
    }

    /// The bucket and the prefix inside it, e.g. ("trails", "eu/prod").
    fn bucket_and_prefix(&self) -> (&str, &str) {
        let rest = self.url.trim_start_matches("s3://");
        match rest.split_once('/') {
            Some((b, p)) => (b, p.trim_matches('/')),
            None => (rest, ""),
        }
    }

    /// Where requests go, for messages: the endpoint, else AWS.
    pub fn endpoint_text(&self) -> String {
        self.endpoint
            .clone()
            .unwrap_or_else(|| "AWS S3".to_string())
    }

    /// A client for the bucket; credentials from the environment.
    pub fn connect(&self) -> Result<Remote> {
        self.check()?;
        let (bucket, prefix) = self.bucket_and_prefix();
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_allow_http(self.allow_http)
            .with_retry(RetryConfig {
                backoff: BackoffConfig::default(),
                max_retries: REQUEST_RETRIES_MAX,
                retry_timeout: REQUEST_TIMEOUT,
            })
            .with_client_options(
                ClientOptions::new()
                    .with_timeout(REQUEST_TIMEOUT)
                    .with_connect_timeout(CONNECT_TIMEOUT)
                    .with_allow_http(self.allow_http),
            );
        if let Some(e) = &self.endpoint {
            builder = builder.with_endpoint(e);
        }
        if let Some(r) = &self.region {
            builder = builder.with_region(r);
        }
        let store: Arc<dyn ObjectStore> = Arc::new(
            builder
                .build()
                .map_err(|e| BucketError::Config(format!("{}: {e}", self.url)))?,
        );
        Ok(Remote::new(store, prefix, &self.url, &self.endpoint_text()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_split() {
        let c = BucketConfig::new("s3://trails/eu/prod/", Some("http://127.0.0.1:9000"));
        c.check().unwrap();
        assert_eq!(c.bucket_and_prefix(), ("trails", "eu/prod"));
        assert_eq!(
            BucketConfig::new("s3://trails", None).bucket_and_prefix(),
            ("trails", "")
        );
        let e = BucketConfig::new("gs://x/y", None).check().unwrap_err();
        assert!(e.to_string().contains("s3://"), "{e}");
        assert!(BucketConfig::new("s3:///p", None).check().is_err());
        let mut c = BucketConfig::new("s3://b/p", Some("http://h:1"));
        c.allow_http = false;
        assert!(c.check().unwrap_err().to_string().contains("allow_http"));
    }

    #[test]
    fn table_parses_with_defaults_and_refuses_unknown_keys() {
        let c: BucketConfig = toml_like(r#"{"url":"s3://b/p"}"#);
        assert_eq!(c.ship_interval_ms, SHIP_INTERVAL_MS_DEFAULT);
        assert_eq!(c.ack, AckMode::Local);
        assert!(serde_json::from_str::<BucketConfig>(r#"{"url":"s3://b","secret":"x"}"#).is_err());
    }

    fn toml_like(json: &str) -> BucketConfig {
        serde_json::from_str(json).unwrap()
    }
}
