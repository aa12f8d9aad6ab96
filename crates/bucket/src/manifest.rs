//! The manifest: what one generation of the bucket holds. Written once per generation with
//! a conditional create, never changed; the newest generation is the bucket's state.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

use crate::error::{BucketError, Result};
use crate::layout::{manifest_generation, manifest_key, MANIFEST_DIR};
use crate::remote::{sha256_hex, Remote};

/// `format` of every manifest.
pub const MANIFEST_FORMAT: &str = "annal-bucket-manifest";
/// The manifest version this build writes. Version 2 added `start`, `trail_start` and
/// `lifecycle` (pruning); version-1 manifests are read as version 2 with nothing pruned.
pub const MANIFEST_VERSION: u32 = 2;
/// The oldest manifest version this build reads.
pub const MANIFEST_VERSION_MIN: u32 = 1;
/// Largest manifest read: a manifest lists every sealed segment (~300 bytes each), so this
/// is room for about 200,000 segments.
pub const MANIFEST_BYTES_MAX: usize = 64 << 20;

/// One object: its key under the prefix, size and SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectRef {
    /// Key relative to the prefix.
    pub key: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Lower-case hex SHA-256 of the bytes.
    pub sha256: String,
}

impl ObjectRef {
    /// The reference `bytes` would have at `key`.
    pub fn of(key: &str, bytes: &[u8]) -> ObjectRef {
        ObjectRef {
            key: key.to_string(),
            bytes: bytes.len() as u64,
            sha256: sha256_hex(bytes),
        }
    }
}

/// A sealed segment and its index file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedEntry {
    /// First seq.
    pub base: u64,
    /// One past the last seq.
    pub end: u64,
    /// Hex RFC 6962 root of the whole trail at `end` (the segment's footer says the same).
    pub root: String,
    /// The `.seg` file.
    pub segment: ObjectRef,
    /// The `.idx` file, once the index is built (it is derived: a restore rebuilds a missing one).
    pub index: Option<ObjectRef>,
}

/// The shipped part of one unsealed write-ahead log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TailEntry {
    /// The log's base seq.
    pub base: u64,
    /// Events in the shipped bytes.
    pub events: u64,
    /// The parts, in file order: together the log's first bytes, which end at a batch end.
    pub parts: Vec<TailPart>,
}

impl TailEntry {
    /// Bytes of the log shipped.
    pub fn bytes(&self) -> u64 {
        self.parts.last().map_or(0, |p| p.offset + p.object.bytes)
    }
}

/// Bytes `offset .. offset + object.bytes` of a write-ahead log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TailPart {
    /// File offset of the first byte.
    pub offset: u64,
    /// The object.
    pub object: ObjectRef,
}

/// One generation of the bucket's contents.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`MANIFEST_FORMAT`].
    pub format: String,
    /// [`MANIFEST_VERSION`].
    pub version: u32,
    /// This manifest's generation: one more than the one it follows.
    pub generation: u64,
    /// The writer (data directory) that wrote it: 32 hex digits.
    pub writer: String,
    /// When it was written, milliseconds since the Unix epoch.
    pub written_at_ms: u64,
    /// One past the newest acknowledged event the bucket holds: it holds seqs
    /// `start..events`.
    pub events: u64,
    /// The first seq the bucket holds: where pruning left the trail's start (0: nothing was
    /// pruned).
    #[serde(default)]
    pub start: u64,
    /// The trail's `trail.start` (the pruned tree's frontier), once the trail was pruned.
    #[serde(default)]
    pub trail_start: Option<ObjectRef>,
    /// The lifecycle log's whole frames (prunes with the hashes they keep, legal holds).
    #[serde(default)]
    pub lifecycle: Option<ObjectRef>,
    /// Sealed segments, in seq order, covering `start..` without gaps.
    pub sealed: Vec<SealedEntry>,
    /// Unsealed write-ahead logs, in seq order, continuing where the sealed ones end.
    pub tail: Vec<TailEntry>,
    /// The tile roots (`index/tree.tiles`), derived.
    pub tiles: Option<ObjectRef>,
    /// The checkpoint log's whole frames.
    pub checkpoints: Option<ObjectRef>,
    /// The public key of the checkpoints (`checkpoint.pub`), when the directory has one.
    pub public_key: Option<ObjectRef>,
}

impl Manifest {
    /// An empty first manifest of `writer`.
    pub fn empty(writer: &str) -> Manifest {
        Manifest {
            format: MANIFEST_FORMAT.into(),
            version: MANIFEST_VERSION,
            generation: 0,
            writer: writer.into(),
            written_at_ms: 0,
            events: 0,
            start: 0,
            trail_start: None,
            lifecycle: None,
            sealed: Vec::new(),
            tail: Vec::new(),
            tiles: None,
            checkpoints: None,
            public_key: None,
        }
    }

    /// Events sealed: the end of the last sealed segment.
    pub fn sealed_end(&self) -> u64 {
        self.sealed.last().map_or(0, |s| s.end)
    }

    /// Every object this manifest names.
    pub fn objects(&self) -> impl Iterator<Item = &ObjectRef> {
        let sealed = self
            .sealed
            .iter()
            .flat_map(|s| std::iter::once(&s.segment).chain(s.index.as_ref()));
        let parts = self
            .tail
            .iter()
            .flat_map(|t| t.parts.iter().map(|p| &p.object));
        sealed
            .chain(parts)
            .chain(self.tiles.as_ref())
            .chain(self.checkpoints.as_ref())
            .chain(self.public_key.as_ref())
            .chain(self.trail_start.as_ref())
            .chain(self.lifecycle.as_ref())
    }

    /// Keys of [`Self::objects`].
    pub fn keys(&self) -> BTreeSet<String> {
        self.objects().map(|o| o.key.clone()).collect()
    }

    /// Same contents, whatever the generation and time.
    pub fn same_contents(&self, other: &Manifest) -> bool {
        let strip = |m: &Manifest| Manifest {
            generation: 0,
            written_at_ms: 0,
            ..m.clone()
        };
        strip(self) == strip(other)
    }

    /// Checks what a reader relies on: format, version, segments without gaps, parts without
    /// gaps, the event count.
    pub fn check(&self, key: &str) -> Result<()> {
        let bad = |detail: String| BucketError::Manifest {
            key: key.to_string(),
            detail,
        };
        if self.format != MANIFEST_FORMAT
            || !(MANIFEST_VERSION_MIN..=MANIFEST_VERSION).contains(&self.version)
        {
            return Err(bad(format!(
                "format {:?} version {} is not {MANIFEST_FORMAT} version {MANIFEST_VERSION_MIN} to {MANIFEST_VERSION}",
                self.format, self.version
            )));
        }
        if self.start > 0 && (self.trail_start.is_none() || self.lifecycle.is_none()) {
            return Err(bad(format!(
                "the trail starts at seq {} but the manifest names no trail start or lifecycle log",
                self.start
            )));
        }
        let mut next = self.start;
        for s in &self.sealed {
            if s.base != next || s.end <= s.base {
                return Err(bad(format!(
                    "sealed segment {}..{} does not start at {next}",
                    s.base, s.end
                )));
            }
            next = s.end;
        }
        for t in &self.tail {
            if t.base != next {
                return Err(bad(format!(
                    "write-ahead log {} does not start at {next}",
                    t.base
                )));
            }
            let mut at = 0;
            for p in &t.parts {
                if p.offset != at {
                    return Err(bad(format!(
                        "part {} of log {} starts at {}, not {at}",
                        p.object.key, t.base, p.offset
                    )));
                }
                at += p.object.bytes;
            }
            next += t.events;
        }
        if next != self.events {
            return Err(bad(format!(
                "segments and logs hold {next} events, the manifest says {}",
                self.events
            )));
        }
        Ok(())
    }
}

/// The generations of manifests under `remote`, oldest first.
pub async fn generations(remote: &Remote) -> Result<Vec<u64>> {
    let mut gens: Vec<u64> = remote
        .list(MANIFEST_DIR)
        .await?
        .iter()
        .filter_map(|(k, _)| manifest_generation(k))
        .collect();
    gens.sort_unstable();
    Ok(gens)
}

/// Reads and checks the manifest of `generation`.
pub async fn read(remote: &Remote, generation: u64) -> Result<Manifest> {
    let key = manifest_key(generation);
    let full = format!("{}/{key}", remote.url());
    let bytes = remote
        .get_opt(&key)
        .await?
        .ok_or_else(|| BucketError::Manifest {
            key: full.clone(),
            detail: "is missing".into(),
        })?;
    if bytes.len() > MANIFEST_BYTES_MAX {
        return Err(BucketError::Manifest {
            key: full,
            detail: format!("is {} bytes, more than {MANIFEST_BYTES_MAX}", bytes.len()),
        });
    }
    let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| BucketError::Manifest {
        key: full.clone(),
        detail: format!("is not a manifest: {e}"),
    })?;
    if m.generation != generation {
        return Err(BucketError::Manifest {
            key: full,
            detail: format!("says generation {}", m.generation),
        });
    }
    m.check(&full)?;
    Ok(m)
}

/// The newest manifest, if any.
pub async fn newest(remote: &Remote) -> Result<Option<Manifest>> {
    match generations(remote).await?.last() {
        Some(&g) => read(remote, g).await.map(Some),
        None => Ok(None),
    }
}

/// Writes `m` as its generation with a conditional create. False when that generation
/// exists already: another writer got there first.
pub async fn create(remote: &Remote, m: &Manifest) -> Result<bool> {
    let bytes = serde_json::to_vec_pretty(m).map_err(|e| BucketError::Manifest {
        key: manifest_key(m.generation),
        detail: e.to_string(),
    })?;
    remote
        .create(&manifest_key(m.generation), bytes.into())
        .await
}
