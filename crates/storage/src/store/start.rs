//! Where the trail starts: `trail.start`, written when the oldest sealed segments are pruned.
//!
//! It holds the first retained seq and the Merkle frontier of the tree before it (the
//! perfect subtrees over the pruned events), so that the first retained segment can still be
//! checked against its footer and every root from that seq on can still be computed. Pruning
//! publishes this file first (tmp → fsync → rename → fsync dir) and removes the segment files
//! after: a crash between the two leaves files below the start, which the next open removes.
//! See docs/format.md, "Trail start".

use std::path::Path;

use crate::error::{Result, StorageError};
use crate::merkle::{Frontier, Hash, FRONTIER_HASHES_MAX};
use crate::sealed::publish;
use crate::vfs::Vfs;

/// The file that says where a pruned trail starts (absent: at seq 0).
pub const TRAIL_START_FILE: &str = "trail.start";
const MAGIC: &[u8; 8] = b"ANNALSTA";
const VERSION: u16 = 1;
/// Magic, version, hash count, first retained seq.
const HEADER_BYTES: usize = 8 + 2 + 2 + 8;

/// The first retained seq of a trail and the frontier of the tree of the events before it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TrailStart {
    frontier: Frontier,
}

impl TrailStart {
    /// The start of a trail that was never pruned.
    pub fn origin() -> TrailStart {
        TrailStart::default()
    }

    /// A trail that starts after the events `frontier` covers.
    pub fn after(frontier: Frontier) -> TrailStart {
        TrailStart { frontier }
    }

    /// The first retained seq (0 when nothing was pruned).
    pub fn seq(&self) -> u64 {
        self.frontier.size()
    }

    /// The tree of the pruned events: what the first retained segment continues.
    pub fn frontier(&self) -> &Frontier {
        &self.frontier
    }

    /// The file's bytes (docs/format.md, "Trail start").
    pub fn encode(&self) -> Vec<u8> {
        let hashes = self.frontier.hashes();
        let mut out = Vec::with_capacity(HEADER_BYTES + hashes.len() * 32 + 4);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(hashes.len() as u16).to_le_bytes());
        out.extend_from_slice(&self.seq().to_le_bytes());
        for h in hashes {
            out.extend_from_slice(h);
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Parses the file's bytes; the error says what is wrong (the caller names the file).
    pub fn decode(bytes: &[u8]) -> std::result::Result<TrailStart, String> {
        if bytes.len() < HEADER_BYTES + 4 {
            return Err(format!("{} bytes is too short", bytes.len()));
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        let crc = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
        if crc32fast::hash(body) != crc {
            return Err("the CRC does not match its bytes".into());
        }
        if &body[..8] != MAGIC {
            return Err("it does not start with ANNALSTA".into());
        }
        let version = u16::from_le_bytes([body[8], body[9]]);
        if version != VERSION {
            return Err(format!(
                "version {version} is not {VERSION}, the one this build reads"
            ));
        }
        let count = u16::from_le_bytes([body[10], body[11]]) as usize;
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&body[12..20]);
        let seq = u64::from_le_bytes(seq);
        if count > FRONTIER_HASHES_MAX || body.len() != HEADER_BYTES + count * 32 {
            return Err(format!(
                "{count} hashes do not fit its {} bytes",
                bytes.len()
            ));
        }
        let hashes: Vec<Hash> = body[HEADER_BYTES..]
            .chunks_exact(32)
            .map(|c| {
                let mut h = [0u8; 32];
                h.copy_from_slice(c);
                h
            })
            .collect();
        let frontier = Frontier::from_parts(seq, hashes).ok_or_else(|| {
            format!("{count} hashes are not one per set bit of the start seq {seq}")
        })?;
        Ok(TrailStart { frontier })
    }

    /// The start recorded in `dir` (the origin when there is no file).
    pub fn read(fs: &dyn Vfs, dir: &Path) -> Result<TrailStart> {
        let path = dir.join(TRAIL_START_FILE);
        let file = match fs.open_read(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(TrailStart::origin()),
            Err(e) => return Err(StorageError::io("open", &path)(e)),
        };
        let len = file.len().map_err(StorageError::io("stat", &path))?;
        if len > (HEADER_BYTES + FRONTIER_HASHES_MAX * 32 + 4) as u64 {
            return Err(StorageError::corrupt(
                &path,
                0,
                format!("{len} bytes is too long for a trail start"),
            ));
        }
        let mut bytes = vec![0u8; len as usize];
        file.read_exact_at(&mut bytes, 0)
            .map_err(StorageError::io("read", &path))?;
        TrailStart::decode(&bytes).map_err(|msg| StorageError::corrupt(&path, 0, msg))
    }

    /// Publishes this start in `dir`, durably.
    pub fn write(&self, fs: &dyn Vfs, dir: &Path) -> Result<()> {
        publish(fs, dir, TRAIL_START_FILE, &self.encode())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::leaf_hash;

    #[test]
    fn a_start_round_trips_and_damage_is_named() {
        let mut f = Frontier::new();
        for i in 0u32..1_000 {
            f.push(leaf_hash(&i.to_le_bytes()));
        }
        let start = TrailStart::after(f);
        let bytes = start.encode();
        assert_eq!(TrailStart::decode(&bytes).unwrap(), start);
        assert_eq!(start.seq(), 1_000);
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x10;
            assert!(
                TrailStart::decode(&bad).is_err(),
                "a flip at byte {i} passed"
            );
        }
        assert!(TrailStart::decode(&bytes[..bytes.len() - 1]).is_err());
    }
}
