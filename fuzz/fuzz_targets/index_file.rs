//! Index files (`index/{base}.idx`): any bytes, opened as the index of the segment their
//! header names (with the default field list), give a typed error or an index whose every
//! read (postings, value lists and counts, time ranges, per-record times) answers or fails
//! with a typed error, never a panic, a hang or an unbounded allocation, and answers only
//! with records inside the segment and below the caller's limit.
//!
//! Each input is tried as is and with its directory and section checksums recomputed, so
//! mutations reach the sections behind the CRCs.
#![no_main]
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use annal_index::{
    Expected, IndexFile, IndexOptions, RoaringBitmap, SegmentIndex, TIME_CHUNK_RECORDS,
};
use annal_model::Field;
use libfuzzer_sys::fuzz_target;

const HEADER: usize = 64;
const DIR_ENTRY: usize = 48;

/// The file each input is written to and opened from (one per process), removed once open.
fn scratch() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("annal-fuzz-index-{}.idx", std::process::id()))
    })
}

fn fields() -> &'static [Field] {
    static FIELDS: OnceLock<Vec<Field>> = OnceLock::new();
    FIELDS.get_or_init(|| IndexOptions::default().fields)
}

fn le64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// The bytes with each section's checksum, then the directory's, recomputed.
fn repaired(data: &[u8]) -> Option<Vec<u8>> {
    let nfields = usize::from(u16::from_le_bytes(data.get(10..12)?.try_into().ok()?));
    let dir_end = HEADER + (nfields + 2) * DIR_ENTRY;
    if dir_end + 4 > data.len() {
        return None;
    }
    let mut b = data.to_vec();
    for i in 0..nfields + 2 {
        let e = HEADER + i * DIR_ENTRY;
        let (off, len) = (le64(&b, e + 32)?, le64(&b, e + 40)?);
        let body = usize::try_from(off).ok().and_then(|o| {
            let end = o.checked_add(usize::try_from(len).ok()?)?;
            b.get(o..end)
        });
        if let Some(body) = body {
            let crc = crc32fast::hash(body);
            b[e + 28..e + 32].copy_from_slice(&crc.to_le_bytes());
        }
    }
    let crc = crc32fast::hash(&b[..dir_end]);
    b[dir_end..dir_end + 4].copy_from_slice(&crc.to_le_bytes());
    (b != data).then_some(b)
}

fn check(bytes: &[u8]) {
    // The segment the header says it indexes: what the indexer would expect of it.
    let (Some(base), Some(count), Some(root)) = (
        le64(bytes, 16),
        le64(bytes, 24),
        bytes.get(32..64).and_then(|r| <[u8; 32]>::try_from(r).ok()),
    ) else {
        return;
    };
    let nfields = usize::from(u16::from_le_bytes([bytes[10], bytes[11]]));
    let fields = &fields()[..nfields.min(fields().len())];
    let expected = Expected {
        base,
        count,
        root: &root,
        fields,
    };
    let path = scratch();
    std::fs::write(path, bytes).expect("write the scratch file");
    let opened = IndexFile::open(path, &expected);
    // Reads go through the mapping: the file need not outlive the input.
    let _ = std::fs::remove_file(path);
    let Ok(file) = opened else {
        return;
    };
    assert_eq!((file.base(), file.count()), (base, count));
    assert_eq!(file.summary().fields.len(), fields.len());
    let index = SegmentIndex::File(Arc::new(file));
    let limit = count.min(u64::from(u32::MAX));
    let inside = |b: &RoaringBitmap, limit: u64| b.max().is_none_or(|m| u64::from(m) < limit);
    for pos in 0..fields.len() + 1 {
        let mut keys: Vec<Vec<u8>> = vec![Vec::new(), b"failure".to_vec()];
        let mut counts = Vec::new();
        let listed = index.for_each_value(pos, limit, |key, b| {
            assert!(
                !b.is_empty() && inside(b, limit),
                "postings outside the segment"
            );
            counts.push((key.to_vec(), b.len()));
            if keys.len() < 8 {
                keys.push(key.to_vec());
            }
        });
        // Counts known without postings (the summary's, when it lists the values) are the
        // postings' counts.
        if let (Ok(()), Ok(known), true) = (listed, index.value_counts(pos, limit), limit == count) {
            let known: Vec<(Vec<u8>, u64)> =
                known.into_iter().map(|(k, n)| (k.to_vec(), n)).collect();
            assert_eq!(known, counts, "value counts disagree with the postings");
            for (key, n) in &counts {
                assert_eq!(index.count_hint(pos, key).unwrap_or(*n), *n, "count hint");
            }
        }
        for key in &keys {
            let _ = index.count_hint(pos, key);
            for lim in [limit, limit / 2] {
                if let Ok(b) = index.postings(pos, key, lim) {
                    assert!(inside(&b, lim), "postings beyond the limit");
                }
            }
        }
    }
    let bounds = index.time_bounds();
    assert_eq!(bounds.is_some(), count > 0);
    let (lo, hi) = bounds.unwrap_or((0, 0));
    let mid = lo / 2 + hi / 2;
    for (from, to) in [(i64::MIN, i64::MAX), (lo, hi), (mid, hi), (lo, mid)] {
        // Callers pass the records they see, never more than the segment's.
        for lim in [limit, limit / 3, limit.min(TIME_CHUNK_RECORDS as u64 + 1)] {
            let Ok(set) = index.time_range(from, to, lim) else {
                continue;
            };
            assert!(inside(&set, lim), "time range beyond the limit");
            let mut prev = None;
            let _ = index.for_each_time(&set, |ord, t| {
                assert!(set.contains(ord), "a time for an ordinal not asked for");
                assert!(from <= t && t < to, "time {t} outside {from}..{to}");
                assert!(
                    lo <= t && t <= hi,
                    "time {t} outside the segment's {lo}..={hi}"
                );
                assert!(prev < Some(ord), "ordinals out of order");
                prev = Some(ord);
            });
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    if let Some(fixed) = repaired(data) {
        check(&fixed);
    }
});
