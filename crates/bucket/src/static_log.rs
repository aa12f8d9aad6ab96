//! The bucket as a static C2SP tlog-tiles log: beside the manifest's objects, the uploader
//! writes `tile/<L>/<N>` tiles, `tile/entries/<N>` entry bundles (gzip, served with
//! `Content-Encoding: gzip`), the partial ones of the newest checkpoint's tree, and then
//! `checkpoint`, so that the bucket alone, read over plain HTTP, is a verifiable log
//! (docs/format.md, "The bucket as a tlog-tiles log").
//!
//! Order is what keeps it verifiable: every tile a checkpoint needs is uploaded before the
//! checkpoint. Full tiles never change; a partial one is deleted once its full tile is up.
//! After a prune, bundles and level-0 tiles below the new minimum index are deleted (they
//! hold, or hash, pruned records); higher levels stay.

use std::io::Write;

use annal_integrity::{min_index, read_tile, tile_path, TileKind, TileRef, TreeHashes, TILE_WIDTH};
use annal_storage::Snapshot;
use bytes::Bytes;
use object_store::{Attribute, Attributes};

use crate::error::{BucketError, Result};
use crate::remote::Remote;

/// The key of the checkpoint object.
pub const CHECKPOINT_KEY: &str = "checkpoint";
/// Tiles and bundles uploaded in one round at most; the rest wait for the next rounds (the
/// checkpoint object moves only once all its tiles are up).
pub const STATIC_OBJECTS_PER_ROUND_MAX: usize = 4096;

/// The key of a tile or bundle.
pub fn tile_key(tile: TileRef) -> String {
    format!("tile/{}", tile_path(tile))
}

/// How far the static log in the bucket has got.
#[derive(Debug, Default)]
pub struct StaticLog {
    /// The tree size whose tiles and checkpoint the bucket serves.
    published: u64,
    /// Full tiles uploaded: at each level (entries last), tiles `0..full[level]`.
    full: Vec<u64>,
    /// Partial tiles uploaded, deleted once their full tile is.
    partials: Vec<TileRef>,
}

/// The kinds of tile a tree of `size` has: levels 0.. while they hold a hash, then bundles.
fn kinds(size: u64) -> Vec<TileKind> {
    let mut out = vec![TileKind::Entries];
    let mut per_hash = 1u64;
    for level in 0..=annal_integrity::TILE_LEVEL_MAX {
        if per_hash > size {
            break;
        }
        out.push(TileKind::Hashes(level));
        match per_hash.checked_mul(TILE_WIDTH) {
            Some(p) => per_hash = p,
            None => break,
        }
    }
    out
}

fn leaves_per_hash(kind: TileKind) -> u64 {
    match kind {
        TileKind::Hashes(l) => TILE_WIDTH.saturating_pow(u32::from(l)),
        TileKind::Entries => 1,
    }
}

fn slot(kind: TileKind) -> usize {
    match kind {
        TileKind::Hashes(l) => usize::from(l) + 1,
        TileKind::Entries => 0,
    }
}

fn attributes(tile: TileRef) -> Attributes {
    let mut a = Attributes::new();
    a.insert(Attribute::ContentType, "application/octet-stream".into());
    a.insert(
        Attribute::CacheControl,
        "public, max-age=31536000, immutable".into(),
    );
    if tile.kind == TileKind::Entries {
        a.insert(Attribute::ContentEncoding, "gzip".into());
    }
    a
}

fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes)
        .and_then(|()| enc.finish())
        .map_err(|e| BucketError::Config(format!("gzip of an entry bundle failed: {e}")))
}

impl StaticLog {
    /// Picks up where the bucket's `checkpoint` object says the last writer got to, if it is
    /// byte for byte a note of `signed` (this trail's checkpoint log); else starts over, so a
    /// damaged or foreign object costs a re-upload, never a tile left out.
    pub async fn resume(
        remote: &Remote,
        signed: &[annal_integrity::StoredNote],
    ) -> Result<StaticLog> {
        let Some(note) = remote.get_opt(CHECKPOINT_KEY).await? else {
            return Ok(StaticLog::default());
        };
        let Some(ours) = signed.iter().find(|n| n.note.as_bytes() == &note[..]) else {
            tracing::warn!("the bucket's {CHECKPOINT_KEY} is no checkpoint this trail signed: publishing its tiles again");
            return Ok(StaticLog::default());
        };
        let size = ours.checkpoint.size;
        let full = kinds(size)
            .iter()
            .map(|k| size / leaves_per_hash(*k) / TILE_WIDTH)
            .collect();
        Ok(StaticLog {
            published: size,
            full,
            partials: Vec::new(),
        })
    }

    /// The tree size the bucket serves as a tlog-tiles log.
    pub fn published(&self) -> u64 {
        self.published
    }

    /// Uploads the tiles of the checkpoint `note` of `size` leaves not yet up (at most
    /// [`STATIC_OBJECTS_PER_ROUND_MAX`] of them), then, once all are, the checkpoint.
    /// Returns the objects and bytes uploaded.
    pub async fn publish(
        &mut self,
        remote: &Remote,
        snap: &Snapshot,
        hashes: &TreeHashes,
        note: &str,
        size: u64,
    ) -> Result<(u64, u64)> {
        if size <= self.published || size > snap.end() {
            return Ok((0, 0));
        }
        let (mut objects, mut bytes) = (0u64, 0u64);
        let first_kept = min_index(snap.start()) / TILE_WIDTH;
        let mut budget = STATIC_OBJECTS_PER_ROUND_MAX;
        for kind in kinds(size) {
            let i = slot(kind);
            if self.full.len() <= i {
                self.full.resize(i + 1, 0);
            }
            let per_hash = leaves_per_hash(kind);
            let wanted = size / per_hash / TILE_WIDTH;
            // Level-0 tiles and bundles below the minimum index need pruned records.
            let low = match kind {
                TileKind::Hashes(0) | TileKind::Entries => first_kept,
                TileKind::Hashes(_) => 0,
            };
            self.full[i] = self.full[i].max(low);
            while self.full[i] < wanted {
                if budget == 0 {
                    return Ok((objects, bytes));
                }
                budget -= 1;
                let tile = TileRef {
                    kind,
                    index: self.full[i],
                    width: TILE_WIDTH,
                };
                bytes += self.put(remote, snap, hashes, tile).await?;
                objects += 1;
                self.full[i] += 1;
            }
        }
        // Every full tile is up: the partial ones of this tree, then the checkpoint.
        let mut partials = Vec::new();
        for kind in kinds(size) {
            let width = size / leaves_per_hash(kind) % TILE_WIDTH;
            let index = size / leaves_per_hash(kind) / TILE_WIDTH;
            let below =
                matches!(kind, TileKind::Hashes(0) | TileKind::Entries) && index < first_kept;
            if width > 0 && !below {
                let tile = TileRef { kind, index, width };
                bytes += self.put(remote, snap, hashes, tile).await?;
                objects += 1;
                partials.push(tile);
            }
        }
        let note_bytes = Bytes::from(note.as_bytes().to_vec());
        let mut a = Attributes::new();
        a.insert(Attribute::ContentType, "text/plain; charset=utf-8".into());
        a.insert(Attribute::CacheControl, "public, max-age=5".into());
        bytes += note_bytes.len() as u64;
        remote
            .put_checked_with(CHECKPOINT_KEY, note_bytes, a)
            .await?;
        objects += 1;
        self.published = size;
        // Partial tiles of older trees whose full tile is now up.
        let old = std::mem::take(&mut self.partials);
        for tile in old {
            let superseded = self
                .full
                .get(slot(tile.kind))
                .is_some_and(|f| *f > tile.index);
            if superseded {
                remote.delete(&tile_key(tile)).await?;
            } else if !partials.contains(&tile) {
                self.partials.push(tile);
            }
        }
        self.partials.extend(partials);
        Ok((objects, bytes))
    }

    async fn put(
        &self,
        remote: &Remote,
        snap: &Snapshot,
        hashes: &TreeHashes,
        tile: TileRef,
    ) -> Result<u64> {
        let key = tile_key(tile);
        let bytes = read_tile(snap, hashes, tile)
            .map_err(|e| BucketError::Config(format!("{key}: {e}")))?;
        let bytes = match tile.kind {
            TileKind::Entries => gzip(&bytes)?,
            TileKind::Hashes(_) => bytes,
        };
        let n = bytes.len() as u64;
        remote
            .put_checked_with(&key, Bytes::from(bytes), attributes(tile))
            .await?;
        Ok(n)
    }

    /// Deletes the bundles and level-0 tiles (full and partial) below the minimum index of a
    /// trail that now starts at `start`: listed, so that those a crashed writer left go too.
    pub async fn prune(&mut self, remote: &Remote, start: u64) -> Result<()> {
        let to = min_index(start) / TILE_WIDTH;
        for dir in ["tile/entries/", "tile/0/"] {
            for (key, _) in remote.list(dir).await? {
                let below = key
                    .strip_prefix("tile/")
                    .and_then(|p| annal_integrity::parse_tile_path(p).ok())
                    .is_some_and(|t| t.index < to);
                if below {
                    remote.delete(&key).await?;
                }
            }
        }
        self.partials.retain(|t| {
            !(matches!(t.kind, TileKind::Entries | TileKind::Hashes(0)) && t.index < to)
        });
        Ok(())
    }
}
