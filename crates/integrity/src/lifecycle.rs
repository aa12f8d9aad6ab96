//! The lifecycle log (`lifecycle.log` in the data directory): every prune, legal hold placed
//! and hold released, in order, each a JSON record in a synced frame (the checkpoint log's
//! framing; docs/format.md, "Lifecycle log"). A prune's record is written and synced before
//! any segment is removed and carries the hashes the tree keeps of what it removes
//! ([`KeptPart`]), so the log alone, with the retained records, proves every retained event
//! and every checkpoint ever signed.

use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::error::IntegrityError;
use crate::framed::{self, read_bytes, FramedFile, Kind};
use annal_storage::merkle::Hash;

/// The lifecycle log's name in a data directory.
pub const LIFECYCLE_LOG_FILE: &str = "lifecycle.log";
/// Largest record: a prune keeps one 32-byte root per 256 events it removes, so one record
/// covers up to about 300 million events; a larger prune is written as several records.
pub const LIFECYCLE_RECORD_BYTES_MAX: usize = 64 << 20;
/// Most tile roots one prune record keeps (their base64 fits [`LIFECYCLE_RECORD_BYTES_MAX`]).
pub const PRUNE_ROOTS_MAX: usize = 1 << 20;

const KIND: Kind = Kind {
    magic: b"ANNALLCY",
    version: 1,
    body_max: LIFECYCLE_RECORD_BYTES_MAX,
    what: "lifecycle log",
};

/// One entry of the lifecycle log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum LifecycleRecord {
    /// Whole sealed segments were removed from the start of the trail.
    Prune(PruneRecord),
    /// A legal hold was placed.
    Hold(HoldRecord),
    /// A legal hold was released.
    Release(ReleaseRecord),
}

/// A prune: seqs `from_seq..to_seq` were removed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PruneRecord {
    /// 1 for the first prune, then one more each time.
    pub number: u64,
    /// When (ns since the epoch, UTC).
    pub at_ns: i64,
    /// First removed seq (the trail's start before).
    pub from_seq: u64,
    /// One past the last removed seq (the trail's start after).
    pub to_seq: u64,
    /// Sealed segments removed.
    pub segments: u64,
    /// Smallest and largest `created_at` of the removed events (ns).
    pub time_min_ns: i64,
    /// See `time_min_ns`.
    pub time_max_ns: i64,
    /// Why: `retention_days=N` for the age policy, `manual` for an operator's cut.
    pub policy: String,
    /// Who ran it (the API key's name, or the operating-system user of the CLI).
    pub by: String,
    /// The operator's words, if any.
    pub reason: String,
    /// The hashes the tree keeps of the removed events.
    pub kept: KeptPart,
}

/// Hashes a prune keeps: the roots of the 256-leaf tiles it removes, and the few subtrees
/// below a tile that proofs from checkpoints inside the removed range, and the leaves of the
/// tile the new start falls in, need (docs/integrity.md, "Pruning").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct KeptPart {
    /// Index of the first tile whose root follows.
    pub first_tile: u64,
    /// Base64 of the concatenated 32-byte roots of tiles `first_tile..`.
    pub tile_roots: String,
    /// Subtrees below a tile: `[level, index, base64 hash]`, the root of leaves
    /// `index·2^level .. (index+1)·2^level`, level 0..7.
    pub nodes: Vec<(u8, u64, String)>,
}

impl KeptPart {
    /// Builds a part from decoded hashes.
    pub fn new(first_tile: u64, roots: &[Hash], nodes: &[(u8, u64, Hash)]) -> KeptPart {
        KeptPart {
            first_tile,
            tile_roots: STANDARD.encode(roots.concat()),
            nodes: nodes
                .iter()
                .map(|(l, i, h)| (*l, *i, STANDARD.encode(h)))
                .collect(),
        }
    }

    /// The tile roots, decoded.
    pub fn roots(&self) -> Result<Vec<Hash>, String> {
        let bytes = STANDARD
            .decode(&self.tile_roots)
            .map_err(|e| format!("tile_roots is not base64: {e}"))?;
        if bytes.len() % 32 != 0 {
            return Err(format!(
                "tile_roots holds {} bytes, not a whole number of 32-byte hashes",
                bytes.len()
            ));
        }
        Ok(bytes.chunks_exact(32).map(to_hash).collect())
    }

    /// The subtree nodes, decoded.
    pub fn decoded_nodes(&self) -> Result<Vec<(u8, u64, Hash)>, String> {
        self.nodes
            .iter()
            .map(|(level, index, b64)| {
                let bytes = STANDARD
                    .decode(b64)
                    .map_err(|e| format!("node ({level}, {index}) is not base64: {e}"))?;
                if bytes.len() != 32 || *level >= 8 {
                    return Err(format!(
                        "node ({level}, {index}) is not a 32-byte hash of a level below 8"
                    ));
                }
                Ok((*level, *index, to_hash(&bytes)))
            })
            .collect()
    }
}

fn to_hash(bytes: &[u8]) -> Hash {
    let mut h = [0u8; 32];
    h.copy_from_slice(bytes);
    h
}

/// A legal hold: events of `created_at` in `from_ns..to_ns` matching `filter` must not be
/// pruned until it is released.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldRecord {
    /// The hold's id (`hold-1`, `hold-2`, …).
    pub id: String,
    /// When it was placed (ns).
    pub at_ns: i64,
    /// Start of the held range of `created_at` (ns, inclusive).
    pub from_ns: i64,
    /// End of the held range (ns, exclusive).
    pub to_ns: i64,
    /// Narrowing filters, as a query string of the query API (`event_type=X&not.status=ok`);
    /// empty holds every event of the range.
    pub filter: String,
    /// Why (the matter, the case number).
    pub reason: String,
    /// Who placed it.
    pub by: String,
}

/// The release of a legal hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRecord {
    /// The hold released.
    pub id: String,
    /// When (ns).
    pub at_ns: i64,
    /// Why.
    pub reason: String,
    /// Who released it.
    pub by: String,
}

/// One record and where its frame starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRecord {
    /// Byte offset of the frame.
    pub offset: u64,
    /// The record.
    pub record: LifecycleRecord,
}

/// Parses the bytes of a lifecycle log; a torn final frame is left out (it was never
/// acknowledged), any other damage is an error naming its offset.
pub fn parse_lifecycle(path: &Path, bytes: &[u8]) -> Result<Vec<StoredRecord>, IntegrityError> {
    framed::parse(KIND, path, bytes)?
        .frames
        .into_iter()
        .map(|(offset, body)| {
            let record = serde_json::from_slice(body).map_err(|e| IntegrityError::Corrupt {
                path: path.to_path_buf(),
                offset,
                msg: format!("lifecycle record does not parse: {e}"),
            })?;
            Ok(StoredRecord { offset, record })
        })
        .collect()
}

/// How many leading bytes of a lifecycle log are whole frames (a frame being appended, or
/// torn by a crash, is left out): what may be copied elsewhere as the log.
pub fn lifecycle_whole_bytes(path: &Path, bytes: &[u8]) -> Result<usize, IntegrityError> {
    let frames = framed::parse(KIND, path, bytes)?;
    Ok(frames.torn_at.map_or(bytes.len(), |t| t as usize))
}

/// The records of data directory `dir`'s lifecycle log (none when it has none).
pub fn read_lifecycle(dir: &Path) -> Result<Vec<StoredRecord>, IntegrityError> {
    let path = dir.join(LIFECYCLE_LOG_FILE);
    parse_lifecycle(&path, &read_bytes(&path)?)
}

/// The lifecycle log, open for appending.
#[derive(Debug)]
pub struct LifecycleLog {
    file: FramedFile,
    records: Vec<StoredRecord>,
}

impl LifecycleLog {
    /// Opens (or creates) the log of `dir`, dropping a torn final frame.
    pub fn open(dir: &Path) -> Result<LifecycleLog, IntegrityError> {
        let path = dir.join(LIFECYCLE_LOG_FILE);
        let (file, bytes) = FramedFile::open(KIND, path.clone())?;
        let records = parse_lifecycle(&path, &bytes)?;
        Ok(LifecycleLog { file, records })
    }

    /// Every record, in order.
    pub fn records(&self) -> &[StoredRecord] {
        &self.records
    }

    /// Appends a record and syncs it; it counts once this returns.
    pub fn append(&mut self, record: LifecycleRecord) -> Result<(), IntegrityError> {
        let body = serde_json::to_vec(&record)
            .map_err(|e| IntegrityError::Source(format!("lifecycle record: {e}")))?;
        if body.len() > LIFECYCLE_RECORD_BYTES_MAX {
            return Err(IntegrityError::Source(format!(
                "a lifecycle record of {} bytes is over the {LIFECYCLE_RECORD_BYTES_MAX}-byte limit",
                body.len()
            )));
        }
        let offset = self.file.append(&body)?;
        self.records.push(StoredRecord { offset, record });
        Ok(())
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        self.file.path()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_a_torn_tail_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = LifecycleLog::open(dir.path()).unwrap();
        let hold = LifecycleRecord::Hold(HoldRecord {
            id: "hold-1".into(),
            at_ns: 5,
            from_ns: 1,
            to_ns: 2,
            filter: "actor=alice".into(),
            reason: "case 7".into(),
            by: "admin".into(),
        });
        let prune = LifecycleRecord::Prune(PruneRecord {
            number: 1,
            at_ns: 6,
            from_seq: 0,
            to_seq: 300,
            segments: 1,
            time_min_ns: 0,
            time_max_ns: 9,
            policy: "manual".into(),
            by: "ops".into(),
            reason: String::new(),
            kept: KeptPart::new(0, &[[7u8; 32]], &[(0, 256, [1u8; 32])]),
        });
        log.append(hold.clone()).unwrap();
        log.append(prune.clone()).unwrap();
        drop(log);
        let path = dir.path().join(LIFECYCLE_LOG_FILE);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 5]).unwrap();
        let log = LifecycleLog::open(dir.path()).unwrap();
        assert_eq!(log.records().len(), 1);
        assert_eq!(log.records()[0].record, hold);
        if let LifecycleRecord::Prune(p) = prune {
            assert_eq!(p.kept.roots().unwrap(), vec![[7u8; 32]]);
            assert_eq!(p.kept.decoded_nodes().unwrap(), vec![(0, 256, [1u8; 32])]);
        }
    }
}
