//! Sealed segment files (`{base}.seg`): any bytes, opened as a segment file, give a typed
//! error or a segment whose block table tiles its seq range, whose every block reads back or
//! fails with a typed error (never a panic, a hang or an allocation beyond the file's size and
//! `BLOCK_RAW_BYTES_MAX`), whose decoded blocks re-encode to blocks decoding to the same
//! events, and whose look-ups by seq and by id stay inside the segment.
//!
//! Each input is tried as is and with its checksums (blocks, block table, id table, Merkle
//! section, footer, header) and footer root recomputed, so mutations reach the structure
//! behind the CRCs.
#![no_main]
use std::path::PathBuf;
use std::sync::OnceLock;

use annal_storage::merkle::Frontier;
use annal_storage::{OsFs, SealedSegment};
use libfuzzer_sys::fuzz_target;

const HEADER: usize = 64;
const FOOTER: usize = 104;

/// The file each input is written to and opened from (one per process), removed once open.
fn scratch() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("annal-fuzz-sealed-{}.seg", std::process::id()))
    })
}

fn le64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    if let Some(s) = b.get_mut(at..at + 4) {
        s.copy_from_slice(&v.to_le_bytes());
    }
}

/// `b[off..off + len]`, if inside `b`.
fn range(b: &[u8], off: u64, len: u64) -> Option<&[u8]> {
    let off = usize::try_from(off).ok()?;
    b.get(off..off.checked_add(usize::try_from(len).ok()?)?)
}

/// The bytes with every checksum (and the footer's root) made to agree with what they cover,
/// as far as the footer's offsets point inside the file.
fn repaired(data: &[u8]) -> Option<Vec<u8>> {
    if data.len() < HEADER + FOOTER {
        return None;
    }
    let mut b = data.to_vec();
    let fat = b.len() - FOOTER;
    let (bt_off, nblocks) = (le64(&b, fat)?, u64::from(le32(&b, fat + 8)?));
    for i in 0..nblocks.min(1 << 16) {
        let entry = bt_off.checked_add(i * 48);
        let Some(e) = entry
            .and_then(|e| usize::try_from(e).ok())
            .filter(|e| *e <= fat.saturating_sub(48))
        else {
            break;
        };
        let (off, len) = (le64(&b, e)?, u64::from(le32(&b, e + 8)?));
        if let Some(block) = range(&b, off, len) {
            let crc = crc32fast::hash(block);
            put32(&mut b, e + 28, crc);
        }
    }
    let sections = [
        (le64(&b, fat)?, nblocks * 48, fat + 36),
        (
            le64(&b, fat + 16)?,
            u64::from(le32(&b, fat + 12)?) * 12,
            fat + 40,
        ),
        (
            le64(&b, fat + 24)?,
            u64::from(le32(&b, fat + 32)?),
            fat + 44,
        ),
    ];
    for (off, len, crc_at) in sections {
        if let Some(s) = range(&b[..fat], off, len) {
            let crc = crc32fast::hash(s);
            put32(&mut b, crc_at, crc);
        }
    }
    let (mk_off, mk_len) = (le64(&b, fat + 24)?, u64::from(le32(&b, fat + 32)?));
    if let Some(mk) = range(&b[..fat], mk_off, mk_len).filter(|m| m.len() >= 8) {
        let size = le64(mk, 0)?;
        let hashes = mk[8..]
            .chunks_exact(32)
            .take(64)
            .map(|c| <[u8; 32]>::try_from(c).unwrap_or_default())
            .collect();
        if let Some(f) = Frontier::from_parts(size, hashes) {
            b[fat + 56..fat + 88].copy_from_slice(&f.root());
        }
    }
    let crc = crc32fast::hash(&b[fat..fat + 92]);
    put32(&mut b, fat + 92, crc);
    let crc = crc32fast::hash(&b[..60]);
    put32(&mut b, 60, crc);
    (b != data).then_some(b)
}

fn check(bytes: &[u8]) {
    let path = scratch();
    std::fs::write(path, bytes).expect("write the scratch file");
    let opened = SealedSegment::open(&OsFs, path);
    // Reads go through the open descriptor: the file need not outlive the input.
    let _ = std::fs::remove_file(path);
    let Ok(seg) = opened else {
        return;
    };
    assert_eq!(seg.file_bytes(), bytes.len() as u64);
    assert_eq!(seg.frontier().size(), seg.end());
    assert_eq!(seg.frontier().root(), seg.root());
    let mut seq = seg.base();
    for (i, meta) in seg.blocks().iter().enumerate() {
        assert_eq!(meta.first_seq, seq, "block table does not tile the seqs");
        assert!(meta.count > 0);
        seq += u64::from(meta.count);
        assert_eq!(seg.block_of(meta.first_seq), Some(i));
        assert_eq!(seg.block_of(seq - 1), Some(i));
        let Ok(events) = seg.read_block(i) else {
            assert!(seg.get(meta.first_seq).is_err());
            continue;
        };
        assert_eq!(events.len(), meta.count as usize);
        assert_eq!(seg.get(meta.first_seq).expect("block reads"), events[0]);
        let mut again = Vec::new();
        annal_storage::encode_block(&events, &mut again);
        let back = annal_storage::decode_block(&again).expect("re-encoded block decodes");
        assert_eq!(back, events);
    }
    assert_eq!(seq, seg.end(), "blocks do not add up to the segment");
    assert_eq!(seg.block_of(seg.end()), None);
    assert!(seg.get(seg.end()).is_err());
    // The empty id hashes to the FNV offset basis: an id-table key the fuzzer can learn.
    for id in ["", "evt-1"] {
        if let Ok(seqs) = seg.id_candidates(id) {
            for s in seqs {
                assert!(
                    (seg.base()..seg.end()).contains(&s),
                    "id candidate {s} outside the segment"
                );
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    if let Some(fixed) = repaired(data) {
        check(&fixed);
    }
});
