//! The trail as C2SP tlog-tiles (c2sp.org/tlog-tiles): tiles of 256 hashes at each level and
//! entry bundles of the records, so that any tlog-tiles client can verify the trail without
//! annal's own proof routes.
//!
//! Level 1 and up come from the tile roots kept in memory (they cost 32 bytes per 256
//! events); level 0 (leaf hashes) and the entry bundles are read from the records on demand.
//! Of pruned events only the hashes the tree keeps are left: the published minimum index is
//! the trail's start rounded up to a whole tile, tiles and bundles that need a pruned record
//! are refused as gone, and every tile of level 1 and up is still served.

use annal_model::encode_record;
use annal_storage::Snapshot;

use crate::error::IntegrityError;
use crate::tiles::{leaf_hashes, TreeHashes, TILE_LEAVES};

/// Hashes in a full tile.
pub const TILE_WIDTH: u64 = 256;
/// Largest entry an entry bundle can hold (its length is a big-endian u16).
pub const ENTRY_BYTES_MAX: usize = u16::MAX as usize;
/// Highest tile level the spec allows.
pub const TILE_LEVEL_MAX: u8 = 63;

/// What a tile path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TileKind {
    /// A tile of hashes at this level.
    Hashes(u8),
    /// An entry bundle.
    Entries,
}

/// A tile or entry bundle: its kind, index and width (256 for a full one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TileRef {
    /// Hashes (and their level) or entries.
    pub kind: TileKind,
    /// Index within the level.
    pub index: u64,
    /// Hashes or entries it holds, 1..=256.
    pub width: u64,
}

/// Why a tile is not served.
#[derive(Debug, thiserror::Error)]
pub enum TileError {
    /// The path is not a tile path of the spec.
    #[error("{0}")]
    BadPath(String),
    /// The tree does not hold it (yet).
    #[error("the tree holds {size} entries: {what} is not in it")]
    NotInTree {
        /// What was asked for.
        what: String,
        /// The tree's size.
        size: u64,
    },
    /// It needs pruned records (the minimum index is past its end).
    #[error("{what} needs entries below the minimum index {min_index}: they were pruned (the trail starts at seq {start})")]
    Pruned {
        /// What was asked for.
        what: String,
        /// The published minimum index.
        min_index: u64,
        /// The trail's start.
        start: u64,
    },
    /// An entry is over the spec's length limit.
    #[error("entry {seq} is {len} bytes, over the {ENTRY_BYTES_MAX}-byte limit of tlog-tiles entry bundles: bundle {index} cannot be served; its leaf hash is in tile 0/{index}, and /v1/proof/inclusion?seq={seq} gives its exact bytes (leaf_input)")]
    EntryTooLong {
        /// The record's seq.
        seq: u64,
        /// Its length.
        len: usize,
        /// The bundle.
        index: u64,
    },
    /// Reading the trail failed.
    #[error(transparent)]
    Source(#[from] IntegrityError),
}

/// The published minimum index of a trail starting at `start`: the start rounded up to a
/// whole tile, so every entry at or above it is served with its level-0 tile and bundle.
pub fn min_index(start: u64) -> u64 {
    start.div_ceil(TILE_WIDTH) * TILE_WIDTH
}

/// Parses the part of a tile path after `tile/`: `<L>/<N>[.p/<W>]` or `entries/<N>[.p/<W>]`,
/// `<N>` in 3-digit groups, all but the last prefixed `x`.
pub fn parse_tile_path(rest: &str) -> Result<TileRef, TileError> {
    let bad = |msg: &str| TileError::BadPath(format!("tile/{rest}: {msg}"));
    let (kind, rest) = rest
        .split_once('/')
        .ok_or_else(|| bad("expected tile/<L>/<N> or tile/entries/<N>"))?;
    let kind = match kind {
        "entries" => TileKind::Entries,
        l => {
            let level: u8 = digits(l)
                .and_then(|l| l.parse().ok())
                .filter(|v| *v <= TILE_LEVEL_MAX && (l == "0" || !l.starts_with('0')))
                .ok_or_else(|| {
                    bad("the level must be a number from 0 to 63 without leading zeroes")
                })?;
            TileKind::Hashes(level)
        }
    };
    let (index_part, width) = match rest.split_once(".p/") {
        Some((n, w)) => {
            let width: u64 = digits(w)
                .and_then(|w| w.parse().ok())
                .filter(|v| (1..TILE_WIDTH).contains(v) && !w.starts_with('0'))
                .ok_or_else(|| {
                    bad("a partial width must be a number from 1 to 255 without leading zeroes")
                })?;
            (n, width)
        }
        None => (rest, TILE_WIDTH),
    };
    let groups: Vec<&str> = index_part.split('/').collect();
    if groups.len() > 1 && groups[0] == "x000" {
        // One index, one path: 777 is `777`, never `x000/777`.
        return Err(bad("the index must not start with an x000 group"));
    }
    let mut index: u64 = 0;
    for (i, g) in groups.iter().enumerate() {
        let last = i + 1 == groups.len();
        let digits = if last { Some(*g) } else { g.strip_prefix('x') };
        let value = digits
            .filter(|d| d.len() == 3 && d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse::<u64>().ok())
            .ok_or_else(|| {
                bad("the index must be 3-digit groups, all but the last prefixed x (x001/x234/067)")
            })?;
        index = index
            .checked_mul(1000)
            .and_then(|v| v.checked_add(value))
            .ok_or_else(|| bad("the index is too large"))?;
    }
    Ok(TileRef { kind, index, width })
}

/// `text` when it is one or more ASCII digits (no sign: `+1` is not a level).
fn digits(text: &str) -> Option<&str> {
    (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())).then_some(text)
}

/// The path of a tile after `tile/` (the inverse of [`parse_tile_path`]).
pub fn tile_path(tile: TileRef) -> String {
    let mut groups = Vec::new();
    let mut n = tile.index;
    loop {
        groups.push(n % 1000);
        n /= 1000;
        if n == 0 {
            break;
        }
    }
    let index: Vec<String> = groups
        .iter()
        .rev()
        .enumerate()
        .map(|(i, g)| {
            if i + 1 == groups.len() {
                format!("{g:03}")
            } else {
                format!("x{g:03}")
            }
        })
        .collect();
    let kind = match tile.kind {
        TileKind::Hashes(l) => l.to_string(),
        TileKind::Entries => "entries".into(),
    };
    let partial = if tile.width < TILE_WIDTH {
        format!(".p/{}", tile.width)
    } else {
        String::new()
    };
    format!("{kind}/{}{partial}", index.join("/"))
}

/// The first leaf and the leaves per hash of a tile: (start index, 256^level).
fn span(tile: TileRef) -> Option<(u64, u64)> {
    let level = match tile.kind {
        TileKind::Hashes(l) => u32::from(l),
        TileKind::Entries => 0,
    };
    let per_hash = TILE_WIDTH.checked_pow(level)?;
    let start = tile.index.checked_mul(TILE_WIDTH)?.checked_mul(per_hash)?;
    Some((start, per_hash))
}

/// The bytes of a tile of hashes or an entry bundle of the trail in `snap`, with the tree's
/// hashes `hashes` caught up with it.
pub fn read_tile(
    snap: &Snapshot,
    hashes: &TreeHashes,
    tile: TileRef,
) -> Result<Vec<u8>, TileError> {
    let what = format!("tile/{}", tile_path(tile));
    let (first_leaf, per_hash) = span(tile).ok_or_else(|| TileError::NotInTree {
        what: what.clone(),
        size: snap.end(),
    })?;
    let leaves = tile.width.checked_mul(per_hash);
    let end = leaves.and_then(|n| first_leaf.checked_add(n));
    if end.is_none_or(|e| e > snap.end()) {
        return Err(TileError::NotInTree {
            what,
            size: snap.end(),
        });
    }
    let (start, width) = (snap.start(), tile.width);
    let pruned = || TileError::Pruned {
        what: what.clone(),
        min_index: min_index(start),
        start,
    };
    match tile.kind {
        TileKind::Hashes(0) => {
            let leaves =
                leaf_hashes(snap, hashes.kept(), first_leaf, width).map_err(|e| match e {
                    IntegrityError::PrunedHashes { .. } => pruned(),
                    e => TileError::Source(e),
                })?;
            Ok(leaves.concat())
        }
        TileKind::Hashes(level) => {
            // Each hash covers 256^level leaves = 256^(level-1) tile roots.
            let height = 8 * (usize::from(level) - 1);
            let first = (first_leaf / TILE_LEAVES) >> height;
            let mut out = Vec::with_capacity(width as usize * 32);
            for i in 0..width {
                let h = hashes
                    .above_tiles(height, (first + i) as usize)
                    .ok_or_else(|| TileError::NotInTree {
                        what: what.clone(),
                        size: snap.end(),
                    })?;
                out.extend_from_slice(&h);
            }
            Ok(out)
        }
        TileKind::Entries => {
            if first_leaf < start {
                return Err(pruned());
            }
            entry_bundle(snap, tile.index, first_leaf, width)
        }
    }
}

/// Entries `first..first + width` as a bundle: each a big-endian u16 length, then the record.
fn entry_bundle(snap: &Snapshot, index: u64, first: u64, width: u64) -> Result<Vec<u8>, TileError> {
    let mut out = Vec::with_capacity(width as usize * 400);
    let mut record = Vec::with_capacity(1024);
    let mut too_long = None;
    snap.scan(first, first + width, |seq, e| {
        record.clear();
        encode_record(&e, &mut record);
        if record.len() > ENTRY_BYTES_MAX {
            too_long = Some((seq, record.len()));
            return false;
        }
        out.extend_from_slice(&(record.len() as u16).to_be_bytes());
        out.extend_from_slice(&record);
        true
    })
    .map_err(|e| TileError::Source(IntegrityError::Source(e.to_string())))?;
    if let Some((seq, len)) = too_long {
        return Err(TileError::EntryTooLong { seq, len, index });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_paths_round_trip_and_bad_ones_are_named() {
        for (path, tile) in [
            (
                "0/000",
                TileRef {
                    kind: TileKind::Hashes(0),
                    index: 0,
                    width: 256,
                },
            ),
            (
                "1/x001/x234/067",
                TileRef {
                    kind: TileKind::Hashes(1),
                    index: 1_234_067,
                    width: 256,
                },
            ),
            (
                "entries/012.p/7",
                TileRef {
                    kind: TileKind::Entries,
                    index: 12,
                    width: 7,
                },
            ),
            (
                "2/x001/000.p/255",
                TileRef {
                    kind: TileKind::Hashes(2),
                    index: 1000,
                    width: 255,
                },
            ),
        ] {
            assert_eq!(parse_tile_path(path).unwrap(), tile, "{path}");
            assert_eq!(tile_path(tile), path);
        }
        for bad in [
            "0/1",
            "00/000",
            "64/000",
            "0/001.p/0",
            "0/001.p/256",
            "0/001/002",
            "0/x1/002",
            "0/000.p/07",
            "x/000",
            "0",
            "1/x000/777",
            "+1/000",
            "0/000.p/+5",
            "entries/+01",
        ] {
            assert!(parse_tile_path(bad).is_err(), "{bad} was taken");
        }
        assert_eq!(
            (min_index(0), min_index(1), min_index(256), min_index(300)),
            (0, 256, 256, 512)
        );
    }
}
