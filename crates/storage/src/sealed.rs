//! Sealed segments: the immutable form of a rolled active segment. Events in independently
//! zstd-compressed column blocks, a block table, an id table for idempotency look-ups, the
//! Merkle frontier, and a footer with the tree size and root. See docs/format.md, "Sealed
//! segment".

use std::path::{Path, PathBuf};
use std::sync::Arc;

use annal_model::{decode_record, encode_record, Event};

use crate::columns::{decode_block, encode_block, BlockView, BLOCK_EVENTS_MAX};
use crate::error::{Result, StorageError};
use crate::merkle::{leaf_hash, Frontier, Hash, FRONTIER_HASHES_MAX};
use crate::vfs::{VFile, Vfs};
use crate::wal::{le_u32, le_u64, read_framed_record, record_id, Scan};

/// Magic at the start of a sealed segment.
pub const SEG_MAGIC: [u8; 8] = *b"ANNALSEG";
/// Magic at the very end of a sealed segment.
pub const SEG_END_MAGIC: [u8; 8] = *b"ANNALEND";
/// Format version of sealed segments this build writes and reads.
pub const SEG_VERSION: u16 = 1;
/// Bytes of the header.
pub const SEG_HEADER_BYTES: usize = 64;
/// Bytes of one block-table entry.
pub const BLOCK_ENTRY_BYTES: usize = 48;
/// Bytes of one id-table entry.
pub const ID_ENTRY_BYTES: usize = 12;
/// Bytes of the footer.
pub const SEG_FOOTER_BYTES: usize = 104;
/// Largest decompressed block; bounds the allocation a hostile raw length could ask for.
pub const BLOCK_RAW_BYTES_MAX: usize = 64 << 20;

/// How sealing lays out blocks.
#[derive(Clone, Copy, Debug)]
pub struct SealOptions {
    /// Events per block (the last block of a segment may hold fewer).
    pub block_events: usize,
    /// zstd compression level.
    pub zstd_level: i32,
}

impl Default for SealOptions {
    fn default() -> Self {
        // Measured in docs/benchmarks.md (`annal bench seal`): at 4096-event blocks level 3
        // is within 1% of level 9 in size and seals 25% faster; larger blocks shrink further
        // but make reading one record proportionally slower.
        SealOptions {
            block_events: 4096,
            zstd_level: 3,
        }
    }
}

/// Where a block is and what it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockMeta {
    /// File offset of the compressed bytes.
    pub offset: u64,
    /// Compressed length.
    pub compressed_len: u32,
    /// Decompressed length.
    pub raw_len: u32,
    /// Seq of the first event.
    pub first_seq: u64,
    /// Number of events.
    pub count: u32,
    /// CRC32 of the compressed bytes.
    pub crc: u32,
    /// Smallest `created_at`.
    pub min_time: i64,
    /// Largest `created_at`.
    pub max_time: i64,
}

/// FNV-1a 64 of an id: the key of the id table (stable, documented in docs/format.md).
pub fn id_hash(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// File name of the sealed segment starting at `base`.
pub fn seg_name(base: u64) -> String {
    format!("{base:020}.seg")
}

/// Seals the scanned active segment `wal_bytes` into `dir/{base}.seg`, continuing the Merkle
/// tree from `prev` (the frontier at `scan.base_seq`). Writes a temporary file, checks that
/// every block decodes back to the exact record bytes, fsyncs, renames, fsyncs the directory.
pub fn seal(
    fs: &dyn Vfs,
    dir: &Path,
    wal_path: &Path,
    wal_bytes: &[u8],
    scan: &Scan,
    prev: &Frontier,
    opts: SealOptions,
) -> Result<SealedSegment> {
    let base = scan.base_seq;
    if prev.size() != base {
        return Err(StorageError::Layout {
            dir: dir.to_path_buf(),
            msg: format!(
                "cannot seal segment at seq {base}: the tree before it has {} leaves",
                prev.size()
            ),
        });
    }
    let block_events = opts.block_events.clamp(1, BLOCK_EVENTS_MAX);
    let mut file = vec![0u8; SEG_HEADER_BYTES];
    let mut blocks = Vec::new();
    let mut ids: Vec<(u64, u32)> = Vec::new();
    let mut frontier = prev.clone();
    let (mut min_time, mut max_time) = (i64::MAX, i64::MIN);
    let mut raw = Vec::new();
    for (start, chunk) in block_chunks(wal_bytes, &scan.record_offsets, block_events) {
        let first_seq = base + start as u64;
        // A block entry holds its first seq and a count, a reader adds the row: blocks must
        // follow each other without a gap or an overlap.
        assert_eq!(
            first_seq,
            frontier.size(),
            "a block must start at the seq after the previous block's last"
        );
        let mut records = Vec::with_capacity(chunk.len());
        let mut events = Vec::with_capacity(chunk.len());
        for (i, off) in chunk.iter().enumerate() {
            let record = read_framed_record(wal_bytes, *off as usize)
                .map_err(|m| StorageError::corrupt(wal_path, *off, m))?;
            let event = decode_record(record)
                .map_err(|e| StorageError::corrupt(wal_path, *off, e.to_string()))?;
            frontier.push(leaf_hash(record));
            if let Some(id) = record_id(record) {
                ids.push((id_hash(id), (start + i) as u32));
            }
            records.push(record);
            events.push(event);
        }
        raw.clear();
        encode_block(&events, &mut raw);
        let compressed = zstd::bulk::compress(&raw, opts.zstd_level)
            .map_err(StorageError::io("compress block", wal_path))?;
        check_block_round_trip(&compressed, raw.len(), &records)
            .map_err(|m| StorageError::corrupt(wal_path, chunk[0], m))?;
        let meta = BlockMeta {
            offset: file.len() as u64,
            compressed_len: compressed.len() as u32,
            raw_len: raw.len() as u32,
            first_seq,
            count: chunk.len() as u32,
            crc: crc32fast::hash(&compressed),
            min_time: events.iter().map(|e| e.created_at.0).min().unwrap_or(0),
            max_time: events.iter().map(|e| e.created_at.0).max().unwrap_or(0),
        };
        // The index skips whole blocks by these bounds, so every event must lie within them.
        // Inside a block events are in seq order, not time order (late events are allowed).
        assert!(
            events
                .iter()
                .all(|e| (meta.min_time..=meta.max_time).contains(&e.created_at.0)),
            "block at seq {first_seq}: an event lies outside the block's time range"
        );
        min_time = min_time.min(meta.min_time);
        max_time = max_time.max(meta.max_time);
        file.extend_from_slice(&compressed);
        blocks.push(meta);
    }
    let count = scan.record_offsets.len() as u64;
    // The footer's tree size and root stand for the trail up to this segment's end: one leaf
    // per seq, or proofs built on this segment would name other events.
    assert_eq!(
        frontier.size(),
        base + count,
        "the Merkle frontier must hold one leaf per seq of the trail"
    );
    let block_table_offset = file.len() as u64;
    for b in &blocks {
        put_block_entry(&mut file, b);
    }
    let block_table_crc = crc32fast::hash(&file[block_table_offset as usize..]);
    ids.sort_unstable();
    let id_table_offset = file.len() as u64;
    for (h, ord) in &ids {
        file.extend_from_slice(&h.to_le_bytes());
        file.extend_from_slice(&ord.to_le_bytes());
    }
    let id_table_crc = crc32fast::hash(&file[id_table_offset as usize..]);
    let merkle_offset = file.len() as u64;
    file.extend_from_slice(&frontier.size().to_le_bytes());
    for h in frontier.hashes() {
        file.extend_from_slice(h);
    }
    let merkle_len = (file.len() as u64 - merkle_offset) as u32;
    let merkle_crc = crc32fast::hash(&file[merkle_offset as usize..]);
    let root = frontier.root();
    let footer_at = file.len();
    file.extend_from_slice(&block_table_offset.to_le_bytes());
    file.extend_from_slice(&(blocks.len() as u32).to_le_bytes());
    file.extend_from_slice(&(ids.len() as u32).to_le_bytes());
    file.extend_from_slice(&id_table_offset.to_le_bytes());
    file.extend_from_slice(&merkle_offset.to_le_bytes());
    file.extend_from_slice(&merkle_len.to_le_bytes());
    file.extend_from_slice(&block_table_crc.to_le_bytes());
    file.extend_from_slice(&id_table_crc.to_le_bytes());
    file.extend_from_slice(&merkle_crc.to_le_bytes());
    file.extend_from_slice(&frontier.size().to_le_bytes());
    file.extend_from_slice(&root);
    file.extend_from_slice(&[0u8; 4]);
    let footer_crc = crc32fast::hash(&file[footer_at..]);
    file.extend_from_slice(&footer_crc.to_le_bytes());
    file.extend_from_slice(&SEG_END_MAGIC);
    let header = encode_seg_header(
        base,
        count,
        min_time,
        max_time,
        blocks.len() as u32,
        opts.zstd_level,
    );
    file[..SEG_HEADER_BYTES].copy_from_slice(&header);
    // Check what will be published with the reader's own checks, before it is published.
    SealedSegment::parse_layout(&dir.join(seg_name(base)), file.len(), &|at, n| {
        Ok(file.get(at..at + n).unwrap_or_default().to_vec())
    })?;
    publish(fs, dir, &seg_name(base), &file)?;
    SealedSegment::open(fs, &dir.join(seg_name(base)))
}

/// Largest sum of record bytes in one block: the column layout of a block is at most a few
/// bytes per event larger than its records, so blocks stay well under [`BLOCK_RAW_BYTES_MAX`]
/// however large the events.
pub const BLOCK_RECORD_BYTES_MAX: usize = 16 << 20;

/// Cuts the records into blocks of at most `block_events` events and
/// [`BLOCK_RECORD_BYTES_MAX`] record bytes; yields (index of the first record, its offsets).
fn block_chunks<'a>(
    wal_bytes: &'a [u8],
    offsets: &'a [u64],
    block_events: usize,
) -> impl Iterator<Item = (usize, &'a [u64])> + 'a {
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= offsets.len() {
            return None;
        }
        let mut end = start;
        let mut bytes = 0usize;
        while end < offsets.len() && end - start < block_events {
            let off = offsets[end] as usize;
            let len = wal_bytes
                .get(off..off + 4)
                .map_or(0, |b| le_u32(b, 0) as usize);
            if end > start && bytes + len > BLOCK_RECORD_BYTES_MAX {
                break;
            }
            bytes += len;
            end += 1;
        }
        let chunk = (start, &offsets[start..end]);
        start = end;
        Some(chunk)
    })
}

/// Writes `bytes` as `dir/name`: write a temporary file, fsync it, rename it into place, fsync
/// the directory. A crash at any step leaves either no file or the whole file.
pub fn publish(fs: &dyn Vfs, dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let dst = dir.join(name);
    if tmp.exists() {
        fs.remove(&tmp)
            .map_err(StorageError::io("remove stale", &tmp))?;
    }
    let f = fs
        .create_new(&tmp)
        .map_err(StorageError::io("create", &tmp))?;
    f.write_all_at(bytes, 0)
        .map_err(StorageError::io("write", &tmp))?;
    f.sync_data().map_err(StorageError::io("fsync", &tmp))?;
    drop(f);
    fs.rename(&tmp, &dst)
        .map_err(StorageError::io("rename", &tmp))?;
    fs.sync_dir(dir)
        .map_err(StorageError::io("fsync directory", dir))
}

/// Decompresses a freshly built block and checks every event re-encodes to its record bytes.
fn check_block_round_trip(
    compressed: &[u8],
    raw_len: usize,
    records: &[&[u8]],
) -> std::result::Result<(), String> {
    let raw = zstd::bulk::decompress(compressed, raw_len)
        .map_err(|e| format!("block does not decompress: {e}"))?;
    let events = decode_block(&raw).map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    for (e, want) in events.iter().zip(records) {
        buf.clear();
        encode_record(e, &mut buf);
        if buf != *want {
            return Err(
                "column layout did not reproduce the record bytes; refusing to seal".into(),
            );
        }
    }
    if events.len() != records.len() {
        return Err("column layout lost events; refusing to seal".into());
    }
    Ok(())
}

fn encode_seg_header(
    base: u64,
    count: u64,
    min_time: i64,
    max_time: i64,
    blocks: u32,
    level: i32,
) -> [u8; SEG_HEADER_BYTES] {
    let mut h = [0u8; SEG_HEADER_BYTES];
    h[0..8].copy_from_slice(&SEG_MAGIC);
    h[8..10].copy_from_slice(&SEG_VERSION.to_le_bytes());
    h[10..12].copy_from_slice(&(SEG_HEADER_BYTES as u16).to_le_bytes());
    h[16..24].copy_from_slice(&base.to_le_bytes());
    h[24..32].copy_from_slice(&count.to_le_bytes());
    h[32..40].copy_from_slice(&min_time.to_le_bytes());
    h[40..48].copy_from_slice(&max_time.to_le_bytes());
    h[48..52].copy_from_slice(&blocks.to_le_bytes());
    h[52..56].copy_from_slice(&level.to_le_bytes());
    let crc = crc32fast::hash(&h[..60]);
    h[60..64].copy_from_slice(&crc.to_le_bytes());
    h
}

fn put_block_entry(out: &mut Vec<u8>, b: &BlockMeta) {
    out.extend_from_slice(&b.offset.to_le_bytes());
    out.extend_from_slice(&b.compressed_len.to_le_bytes());
    out.extend_from_slice(&b.raw_len.to_le_bytes());
    out.extend_from_slice(&b.first_seq.to_le_bytes());
    out.extend_from_slice(&b.count.to_le_bytes());
    out.extend_from_slice(&b.crc.to_le_bytes());
    out.extend_from_slice(&b.min_time.to_le_bytes());
    out.extend_from_slice(&b.max_time.to_le_bytes());
}

/// An open sealed segment, read with positioned reads.
///
/// Not memory-mapped: blocks are read one at a time, and a mapping makes the kernel map
/// (and count in the resident set) large runs of pages around every fault, so that merely
/// opening a store of 10M events held most of its segment bytes resident.
pub struct SealedSegment {
    path: PathBuf,
    file: Arc<dyn VFile>,
    len: u64,
    layout: Layout,
}

/// What a sealed segment's header, block table, sections and footer say, once checked.
struct Layout {
    base: u64,
    count: u64,
    min_time: i64,
    max_time: i64,
    blocks: Vec<BlockMeta>,
    id_table: (usize, usize),
    frontier: Frontier,
    root: Hash,
}

impl std::fmt::Debug for SealedSegment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealedSegment({})", self.path.display())
    }
}

impl SealedSegment {
    /// Opens a sealed segment and checks its structure: header, footer and section
    /// checksums, that the block table tiles the seq range, and that the id table is sorted
    /// and points inside the segment. Block contents are checked when read.
    pub fn open(fs: &dyn Vfs, path: &Path) -> Result<SealedSegment> {
        let file = fs.open_read(path).map_err(StorageError::io("open", path))?;
        let len = file.len().map_err(StorageError::io("stat", path))?;
        let layout = Self::parse_layout(path, len as usize, &|at, n| read_at(&*file, at, n))?;
        Ok(SealedSegment {
            path: path.to_path_buf(),
            file,
            len,
            layout,
        })
    }

    /// Bytes `at..at + n` of the file.
    fn read(&self, at: usize, n: usize) -> Result<Vec<u8>> {
        read_at(&*self.file, at, n).map_err(StorageError::io("read", &self.path))
    }

    /// Checks a segment's structure from its length and a reader of byte ranges.
    fn parse_layout(
        path: &Path,
        len: usize,
        read: &dyn Fn(usize, usize) -> std::io::Result<Vec<u8>>,
    ) -> Result<Layout> {
        let bad = |offset: usize, msg: &str| StorageError::corrupt(path, offset as u64, msg);
        let read = |at: usize, n: usize| read(at, n).map_err(StorageError::io("read", path));
        if len < SEG_HEADER_BYTES + SEG_FOOTER_BYTES {
            return Err(bad(0, "file shorter than header and footer"));
        }
        let h = &read(0, SEG_HEADER_BYTES)?;
        if h[..8] != SEG_MAGIC {
            return Err(bad(0, "not an annal sealed segment (bad magic)"));
        }
        let version = u16::from_le_bytes([h[8], h[9]]);
        if version != SEG_VERSION {
            return Err(StorageError::Version {
                path: path.to_path_buf(),
                found: version,
                supported: SEG_VERSION,
            });
        }
        // The version comes before the checksum: a later version may lay its header out anew.
        if le_u32(h, 60) != crc32fast::hash(&h[..60]) {
            return Err(bad(0, "header checksum mismatch"));
        }
        let (base, count) = (le_u64(h, 16), le_u64(h, 24));
        let (min_time, max_time) = (le_u64(h, 32) as i64, le_u64(h, 40) as i64);
        let block_count = le_u32(h, 48) as usize;
        let fat = len - SEG_FOOTER_BYTES;
        let f = &read(fat, SEG_FOOTER_BYTES)?;
        if f[96..104] != SEG_END_MAGIC {
            return Err(bad(fat, "footer magic missing (file cut short?)"));
        }
        if le_u32(f, 92) != crc32fast::hash(&f[..92]) {
            return Err(bad(fat, "footer checksum mismatch"));
        }
        let section = |off: u64, len: usize, what: &str| -> Result<(usize, usize)> {
            let start = usize::try_from(off)
                .ok()
                .filter(|s| *s >= SEG_HEADER_BYTES && s.checked_add(len).is_some_and(|e| e <= fat));
            start
                .map(|s| (s, s + len))
                .ok_or_else(|| bad(fat, &format!("{what} lies outside the file")))
        };
        let bt = section(
            le_u64(f, 0),
            block_count.saturating_mul(BLOCK_ENTRY_BYTES),
            "block table",
        )?;
        if le_u32(f, 8) as usize != block_count {
            return Err(bad(fat, "footer and header disagree on the block count"));
        }
        let ids = section(
            le_u64(f, 16),
            le_u32(f, 12) as usize * ID_ENTRY_BYTES,
            "id table",
        )?;
        let mk = section(le_u64(f, 24), le_u32(f, 32) as usize, "Merkle section")?;
        let bt_bytes = read(bt.0, bt.1 - bt.0)?;
        let id_bytes = read(ids.0, ids.1 - ids.0)?;
        let mk_bytes = read(mk.0, mk.1 - mk.0)?;
        for (start, bytes, crc_at, what) in [
            (bt.0, &bt_bytes, 36, "block table"),
            (ids.0, &id_bytes, 40, "id table"),
            (mk.0, &mk_bytes, 44, "Merkle section"),
        ] {
            if crc32fast::hash(bytes) != le_u32(f, crc_at) {
                return Err(bad(start, &format!("{what} checksum mismatch")));
            }
        }
        // Look-ups binary-search the keys and add the ordinals to the base.
        let mut prev_key = 0;
        for (i, e) in id_bytes.chunks_exact(ID_ENTRY_BYTES).enumerate() {
            let (key, ordinal) = (le_u64(e, 0), le_u32(e, 8));
            if key < prev_key || u64::from(ordinal) >= count {
                return Err(bad(
                    ids.0 + i * ID_ENTRY_BYTES,
                    &format!("id table entry {i} is out of order or outside the segment"),
                ));
            }
            prev_key = key;
        }
        let mut blocks = Vec::with_capacity(block_count);
        let mut next_seq = base;
        for i in 0..block_count {
            let e = &bt_bytes[i * BLOCK_ENTRY_BYTES..][..BLOCK_ENTRY_BYTES];
            let m = BlockMeta {
                offset: le_u64(e, 0),
                compressed_len: le_u32(e, 8),
                raw_len: le_u32(e, 12),
                first_seq: le_u64(e, 16),
                count: le_u32(e, 24),
                crc: le_u32(e, 28),
                min_time: le_u64(e, 32) as i64,
                max_time: le_u64(e, 40) as i64,
            };
            let end = m.offset.checked_add(u64::from(m.compressed_len));
            if m.first_seq != next_seq
                || m.count == 0
                || m.count as usize > BLOCK_EVENTS_MAX
                || m.offset < SEG_HEADER_BYTES as u64
                || end.is_none_or(|e| e > bt.0 as u64)
                || m.raw_len as usize > BLOCK_RAW_BYTES_MAX
            {
                return Err(bad(
                    bt.0 + i * BLOCK_ENTRY_BYTES,
                    &format!("block table entry {i} is inconsistent"),
                ));
            }
            next_seq = next_seq
                .checked_add(u64::from(m.count))
                .ok_or_else(|| bad(bt.0 + i * BLOCK_ENTRY_BYTES, "block seqs overflow"))?;
            blocks.push(m);
        }
        if next_seq - base != count {
            return Err(bad(
                bt.0,
                "block counts do not add up to the segment's event count",
            ));
        }
        let msec = &mk_bytes[..];
        let size = if msec.len() >= 8 {
            le_u64(msec, 0)
        } else {
            u64::MAX
        };
        let n = (msec.len().saturating_sub(8)) / 32;
        if msec.len() < 8
            || !(msec.len() - 8).is_multiple_of(32)
            || n > FRONTIER_HASHES_MAX
            || Some(size) != base.checked_add(count)
            || size != le_u64(f, 48)
        {
            return Err(bad(
                mk.0,
                "Merkle section does not match the segment's seq range",
            ));
        }
        let hashes = msec[8..]
            .chunks_exact(32)
            .map(|c| <Hash>::try_from(c).map_err(|_| bad(mk.0, "Merkle hash is not 32 bytes")))
            .collect::<Result<Vec<Hash>>>()?;
        let frontier = Frontier::from_parts(size, hashes)
            .ok_or_else(|| bad(mk.0, "Merkle frontier has the wrong number of hashes"))?;
        let root = <Hash>::try_from(&f[56..88]).map_err(|_| bad(fat, "root is not 32 bytes"))?;
        if frontier.root() != root {
            return Err(bad(fat, "stored root does not match the stored frontier"));
        }
        Ok(Layout {
            base,
            count,
            min_time,
            max_time,
            blocks,
            id_table: ids,
            frontier,
            root,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// Seq of the first event.
    pub fn base(&self) -> u64 {
        self.layout.base
    }
    /// One past the seq of the last event.
    pub fn end(&self) -> u64 {
        self.layout.base + self.layout.count
    }
    /// Number of events.
    pub fn count(&self) -> u64 {
        self.layout.count
    }
    /// Smallest and largest `created_at`.
    pub fn time_range(&self) -> (i64, i64) {
        (self.layout.min_time, self.layout.max_time)
    }
    /// The block table.
    pub fn blocks(&self) -> &[BlockMeta] {
        &self.layout.blocks
    }
    /// Merkle frontier of the whole trail at this segment's end.
    pub fn frontier(&self) -> &Frontier {
        &self.layout.frontier
    }
    /// Merkle root of the whole trail at this segment's end (tree size = [`Self::end`]).
    pub fn root(&self) -> Hash {
        self.layout.root
    }
    /// File size in bytes.
    pub fn file_bytes(&self) -> u64 {
        self.len
    }

    /// Decodes block `i`, checking its CRC first.
    pub fn read_block(&self, i: usize) -> Result<Vec<Event>> {
        let view = self.read_view(i)?;
        Ok((0..view.len()).map(|row| view.event(row)).collect())
    }

    /// Decompresses and checks block `i` (CRC, then every column) without building its
    /// events: for reading a few of them.
    pub fn read_view(&self, i: usize) -> Result<BlockView> {
        let m = self
            .layout
            .blocks
            .get(i)
            .ok_or(StorageError::NotFound(self.end()))?;
        let start = m.offset as usize;
        let bytes = &self.read(start, m.compressed_len as usize)?;
        if crc32fast::hash(bytes) != m.crc {
            return Err(StorageError::corrupt(
                &self.path,
                m.offset,
                format!("block {i} checksum mismatch"),
            ));
        }
        let raw = zstd::bulk::decompress(bytes, m.raw_len as usize).map_err(|e| {
            StorageError::corrupt(
                &self.path,
                m.offset,
                format!("block {i} does not decompress: {e}"),
            )
        })?;
        let view = BlockView::parse(raw.into_boxed_slice())
            .map_err(|e| StorageError::corrupt(&self.path, m.offset, format!("block {i}: {e}")))?;
        if view.len() != m.count as usize {
            return Err(StorageError::corrupt(
                &self.path,
                m.offset,
                format!(
                    "block {i} holds {} events, its entry says {}",
                    view.len(),
                    m.count
                ),
            ));
        }
        Ok(view)
    }

    /// Index of the block holding `seq`.
    pub fn block_of(&self, seq: u64) -> Option<usize> {
        if seq < self.layout.base || seq >= self.end() {
            return None;
        }
        Some(self.layout.blocks.partition_point(|b| b.first_seq <= seq) - 1)
    }

    /// The event at `seq`.
    pub fn get(&self, seq: u64) -> Result<Event> {
        let i = self.block_of(seq).ok_or(StorageError::NotFound(seq))?;
        let view = self.read_view(i)?;
        Ok(view.event((seq - self.layout.blocks[i].first_seq) as usize))
    }

    /// Seqs of events whose id hashes like `id` (confirm by reading the event).
    pub fn id_candidates(&self, id: &str) -> Result<Vec<u64>> {
        let (start, end) = self.layout.id_table;
        let n = (end - start) / ID_ENTRY_BYTES;
        let want = id_hash(id);
        let entry = |i: usize| -> Result<(u64, u32)> {
            let b = self.read(start + i * ID_ENTRY_BYTES, ID_ENTRY_BYTES)?;
            Ok((le_u64(&b, 0), le_u32(&b, 8)))
        };
        let (mut lo, mut hi) = (0, n);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if entry(mid)?.0 < want {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let mut out = Vec::new();
        for i in lo..n {
            let (key, ordinal) = entry(i)?;
            if key != want {
                break;
            }
            out.push(self.layout.base + u64::from(ordinal));
        }
        Ok(out)
    }
}

/// Bytes `at..at + n` of a file.
fn read_at(file: &dyn VFile, at: usize, n: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    file.read_exact_at(&mut buf, at as u64)?;
    Ok(buf)
}

/// Shared handle to a sealed segment.
pub type SealedRef = Arc<SealedSegment>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Options, OsFs, Store};
    use annal_model::Timestamp;

    /// A store with one sealed segment of 6 events, 3 with ids; the segment's path.
    fn sealed_segment(dir: &Path) -> PathBuf {
        let store = Store::open(dir, Options::default()).unwrap();
        let day = annal_model::NANOS_PER_DAY;
        let events: Vec<Event> = (0..7i64)
            .map(|i| {
                let t = Timestamp(day * if i < 6 { 20_000 } else { 20_001 } + i);
                let mut e = Event::new(t, t);
                e.id = (i % 2 == 0).then(|| format!("evt-{i}").into());
                e
            })
            .collect();
        store.append(&events[..6]).unwrap();
        store.append(&events[6..]).unwrap();
        store.wait_sealed().unwrap();
        let path = store.snapshot().sealed()[0].path().to_path_buf();
        store.close().unwrap();
        path
    }

    /// Rewrites id-table entry `i` with `edit`, then the id table's and footer's checksums.
    fn edit_id_entry(bytes: &mut [u8], i: usize, edit: impl FnOnce(&mut [u8])) {
        let fat = bytes.len() - SEG_FOOTER_BYTES;
        let (n, off) = (
            le_u32(bytes, fat + 12) as usize,
            le_u64(bytes, fat + 16) as usize,
        );
        edit(&mut bytes[off + i * ID_ENTRY_BYTES..][..ID_ENTRY_BYTES]);
        let crc = crc32fast::hash(&bytes[off..off + n * ID_ENTRY_BYTES]);
        bytes[fat + 40..fat + 44].copy_from_slice(&crc.to_le_bytes());
        let crc = crc32fast::hash(&bytes[fat..fat + 92]);
        bytes[fat + 92..fat + 96].copy_from_slice(&crc.to_le_bytes());
    }

    /// Found by the `sealed_segment` fuzz target: an id table whose checksums agree but
    /// whose ordinal points past the segment gave look-ups a seq outside it.
    #[test]
    fn an_id_table_pointing_outside_the_segment_or_unsorted_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = sealed_segment(dir.path());
        let good = std::fs::read(&path).unwrap();
        let seg = SealedSegment::open(&OsFs, &path).unwrap();
        assert_eq!(seg.count(), 6);
        assert_eq!(seg.id_candidates("evt-2").unwrap(), vec![2]);
        drop(seg);
        // Entry 0 points at record 6 of 6; entry 1's key drops below entry 0's.
        let cases: [(usize, std::ops::Range<usize>, Vec<u8>); 2] = [
            (0, 8..12, 6u32.to_le_bytes().to_vec()),
            (1, 0..8, 0u64.to_le_bytes().to_vec()),
        ];
        for (i, at, value) in cases {
            let mut bytes = good.clone();
            edit_id_entry(&mut bytes, i, |e| e[at.clone()].copy_from_slice(&value));
            std::fs::write(&path, &bytes).unwrap();
            let err = SealedSegment::open(&OsFs, &path).unwrap_err();
            assert!(
                matches!(&err, StorageError::Corrupt { .. })
                    && err.to_string().contains(&format!("id table entry {i} ")),
                "entry {i}: {err}"
            );
        }
    }
}
