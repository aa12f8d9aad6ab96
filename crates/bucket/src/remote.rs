//! A bucket prefix and the few requests annal makes of it, each checked: an upload is read
//! back and hashed before anything may rely on it, a download is checked against the size and
//! SHA-256 the manifest gives.

use std::fmt;
use std::io::Read;
use std::path::Path as FsPath;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use md5::Md5;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, WriteMultipart};
use sha2::{Digest, Sha256};

use crate::error::{local, BucketError, Result};
use crate::manifest::ObjectRef;

/// Bytes read from a local file and sent per request (or per multipart part).
pub const UPLOAD_CHUNK_BYTES: usize = 8 << 20;
/// Parts of one multipart upload in flight at once.
const MULTIPART_IN_FLIGHT_MAX: usize = 4;

/// One prefix of one bucket.
#[derive(Clone)]
pub struct Remote {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    url: String,
    endpoint: String,
}

impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}", self.url, self.endpoint)
    }
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Remote {
    /// `store` with every key under `prefix`; `url` and `endpoint` name it in messages.
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str, url: &str, endpoint: &str) -> Remote {
        Remote {
            store,
            prefix: prefix.trim_matches('/').to_string(),
            url: url.trim_end_matches('/').to_string(),
            endpoint: endpoint.to_string(),
        }
    }

    /// The prefix's URL, `s3://BUCKET/PREFIX`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Where requests go.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn path(&self, key: &str) -> Path {
        if self.prefix.is_empty() {
            Path::from(key)
        } else {
            Path::from(format!("{}/{key}", self.prefix))
        }
    }

    fn request_error(
        &self,
        op: &'static str,
        key: &str,
    ) -> impl FnOnce(object_store::Error) -> BucketError {
        let key = format!("{}/{key}", self.url);
        let endpoint = self.endpoint.clone();
        move |source| BucketError::Request {
            op,
            key,
            endpoint,
            source: Box::new(source),
        }
    }

    /// Uploads `bytes` to `key`, reads the object back and checks it: the returned reference
    /// names exactly what the bucket holds.
    ///
    /// The bucket's answer may make the read-back unneeded: for a single PUT, S3 (and every
    /// S3-compatible service annal was tried with) answers an ETag that is the MD5 of the
    /// bytes it stored. When it equals the MD5 of the bytes sent, the bucket has confirmed
    /// their content itself. Any other ETag (none, a multipart or SSE-KMS one, another
    /// store's version tag) gets the full read-back.
    pub async fn put_checked(&self, key: &str, bytes: Bytes) -> Result<ObjectRef> {
        self.put_checked_with(key, bytes, object_store::Attributes::new())
            .await
    }

    /// [`Self::put_checked`] with HTTP attributes (content type, cache control, encoding)
    /// that the bucket serves the object with.
    pub async fn put_checked_with(
        &self,
        key: &str,
        bytes: Bytes,
        attributes: object_store::Attributes,
    ) -> Result<ObjectRef> {
        let want = ObjectRef::of(key, &bytes);
        let md5 = hex(&Md5::digest(&bytes));
        let opts = object_store::PutOptions {
            attributes,
            ..Default::default()
        };
        let put = self
            .store
            .put_opts(&self.path(key), PutPayload::from(bytes), opts)
            .await
            .map_err(self.request_error("upload", key))?;
        let confirmed = put.e_tag.as_deref().map(|t| t.trim_matches('"')) == Some(md5.as_str());
        if !confirmed {
            self.check(&want).await?;
        }
        Ok(want)
    }

    /// Uploads the local file at `path` to `key` in chunks (a multipart upload when it is
    /// larger than one), then checks the object as [`Self::put_checked`] does.
    pub async fn upload_file(&self, key: &str, path: &FsPath) -> Result<ObjectRef> {
        let mut file = std::fs::File::open(path).map_err(local("open", path))?;
        let len = file.metadata().map_err(local("stat", path))?.len();
        if len <= UPLOAD_CHUNK_BYTES as u64 {
            let mut bytes = Vec::with_capacity(len as usize);
            file.read_to_end(&mut bytes).map_err(local("read", path))?;
            return self.put_checked(key, Bytes::from(bytes)).await;
        }
        let upload = self
            .store
            .put_multipart(&self.path(key))
            .await
            .map_err(self.request_error("start multipart upload of", key))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, UPLOAD_CHUNK_BYTES);
        let mut hasher = Sha256::new();
        let mut sent = 0u64;
        let mut buf = vec![0u8; UPLOAD_CHUNK_BYTES];
        loop {
            let n = file.read(&mut buf).map_err(local("read", path))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            sent += n as u64;
            if let Err(e) = writer.wait_for_capacity(MULTIPART_IN_FLIGHT_MAX).await {
                return Err(self.request_error("upload", key)(e));
            }
            writer.write(&buf[..n]);
        }
        writer
            .finish()
            .await
            .map_err(self.request_error("finish multipart upload of", key))?;
        let want = ObjectRef {
            key: key.to_string(),
            bytes: sent,
            sha256: hex(&hasher.finalize()),
        };
        self.check(&want).await?;
        Ok(want)
    }

    /// Reads `want` back from the bucket and checks its size and SHA-256.
    pub async fn check(&self, want: &ObjectRef) -> Result<()> {
        let (bytes, sha256) = self.stream_hash(&want.key).await?;
        if bytes != want.bytes || sha256 != want.sha256 {
            return Err(BucketError::Object {
                key: format!("{}/{}", self.url, want.key),
                detail: format!(
                    "holds {bytes} bytes with SHA-256 {sha256}, expected {} bytes with SHA-256 {}",
                    want.bytes, want.sha256
                ),
            });
        }
        Ok(())
    }

    async fn stream_hash(&self, key: &str) -> Result<(u64, String)> {
        let got = self
            .store
            .get(&self.path(key))
            .await
            .map_err(self.request_error("read back", key))?;
        let mut stream = got.into_stream();
        let mut hasher = Sha256::new();
        let mut n = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(self.request_error("read back", key))?;
            n += chunk.len() as u64;
            hasher.update(&chunk);
        }
        Ok((n, hex(&hasher.finalize())))
    }

    /// Creates `key` with `bytes` only if no object has that key; false when one had. A
    /// created object is read back and checked as [`Self::put_checked`] does.
    pub async fn create(&self, key: &str, bytes: Bytes) -> Result<bool> {
        let want = ObjectRef::of(key, &bytes);
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self
            .store
            .put_opts(&self.path(key), PutPayload::from(bytes.clone()), opts)
            .await
        {
            Ok(_) => {}
            Err(object_store::Error::AlreadyExists { .. }) => return Ok(false),
            Err(e) => return Err(self.request_error("create", key)(e)),
        }
        // A torn or changed manifest would hide its generation from every reader and stop
        // every later claim. The create won the key, so it is ours to write again in place.
        match self.check(&want).await {
            Ok(()) => Ok(true),
            Err(BucketError::Object { key: bad, detail }) => {
                tracing::warn!("object {bad} {detail} after its create: writing it again");
                self.put_checked(key, bytes).await.map(|_| true)
            }
            Err(e) => Err(e),
        }
    }

    /// The whole object at `key`; None when there is none.
    pub async fn get_opt(&self, key: &str) -> Result<Option<Bytes>> {
        let got = match self.store.get(&self.path(key)).await {
            Ok(g) => g,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.request_error("download", key)(e)),
        };
        let bytes = got
            .bytes()
            .await
            .map_err(self.request_error("download", key))?;
        Ok(Some(bytes))
    }

    /// The object `want` names, checked against its size and SHA-256: a missing or changed
    /// object is an error naming its key.
    pub async fn get_checked(&self, want: &ObjectRef) -> Result<Bytes> {
        let bytes = self
            .get_opt(&want.key)
            .await?
            .ok_or_else(|| BucketError::Object {
                key: format!("{}/{}", self.url, want.key),
                detail: "is missing".into(),
            })?;
        let got = ObjectRef::of(&want.key, &bytes);
        if got.bytes != want.bytes || got.sha256 != want.sha256 {
            return Err(BucketError::Object {
                key: format!("{}/{}", self.url, want.key),
                detail: format!(
                    "changed: holds {} bytes with SHA-256 {}, the manifest says {} bytes with SHA-256 {}",
                    got.bytes, got.sha256, want.bytes, want.sha256
                ),
            });
        }
        Ok(bytes)
    }

    /// Bytes `range` of `key`.
    pub async fn get_range(&self, key: &str, range: std::ops::Range<u64>) -> Result<Bytes> {
        self.store
            .get_range(&self.path(key), range)
            .await
            .map_err(self.request_error("read range of", key))
    }

    /// Keys (relative to the prefix) under `dir`, with their sizes.
    pub async fn list(&self, dir: &str) -> Result<Vec<(String, u64)>> {
        let at = self.path(dir);
        let mut stream = self.store.list(Some(&at));
        let mut out = Vec::new();
        let cut = if self.prefix.is_empty() {
            0
        } else {
            self.prefix.len() + 1
        };
        while let Some(meta) = stream.next().await {
            let meta = meta.map_err(self.request_error("list", dir))?;
            let full = meta.location.to_string();
            out.push((full.get(cut..).unwrap_or_default().to_string(), meta.size));
        }
        out.sort();
        Ok(out)
    }

    /// Removes `key` (no error if it is already gone).
    pub async fn delete(&self, key: &str) -> Result<()> {
        match self.store.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.request_error("delete", key)(e)),
        }
    }
}
