//! The time index: every record's `created_at`, in chunks of [`TIME_CHUNK_RECORDS`] with each
//! chunk's first, smallest and largest time, so a time range resolves to record ordinals by
//! looking at chunk bounds and decoding only the chunks a bound falls into.

use annal_model::{get_varint, put_varint, unzigzag, zigzag};
use roaring::RoaringBitmap;

/// Records per time chunk.
pub const TIME_CHUNK_RECORDS: usize = 64;
/// Bytes of one chunk entry: first, min and max time (i64), offset of its deltas (u32).
pub(crate) const CHUNK_ENTRY_BYTES: usize = 28;

/// Smallest and largest time of one chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkBounds {
    /// Smallest `created_at` in the chunk.
    pub min: i64,
    /// Largest `created_at` in the chunk.
    pub max: i64,
}

/// Something that holds a segment's record times: chunk bounds and per-chunk decoding.
pub(crate) trait TimeSource {
    type Error;
    fn chunk_count(&self) -> usize;
    fn bounds(&self, chunk: usize) -> ChunkBounds;
    /// Appends the times of `chunk` to `out`.
    fn decode_chunk(&self, chunk: usize, out: &mut Vec<i64>) -> Result<(), Self::Error>;
}

/// The chunks holding ordinals below `limit`, as (chunk, first ordinal, end ordinal), the
/// last one cut at `limit`.
fn chunks_below<S: TimeSource>(src: &S, limit: u64) -> impl Iterator<Item = (usize, u64, u64)> {
    (0..src.chunk_count())
        .map(|c| (c, (c * TIME_CHUNK_RECORDS) as u64))
        .take_while(move |&(_, start)| start < limit)
        .map(move |(c, start)| (c, start, (start + TIME_CHUNK_RECORDS as u64).min(limit)))
}

/// Ordinals below `limit` whose time is in `from..to`.
pub(crate) fn ordinals_in_range<S: TimeSource>(
    src: &S,
    from: i64,
    to: i64,
    limit: u64,
) -> Result<RoaringBitmap, S::Error> {
    let mut out = RoaringBitmap::new();
    let mut times = Vec::with_capacity(TIME_CHUNK_RECORDS);
    for (c, start, end) in chunks_below(src, limit) {
        let b = src.bounds(c);
        if b.max < from || b.min >= to {
            continue;
        }
        if b.min >= from && b.max < to {
            out.insert_range(start as u32..end as u32);
            continue;
        }
        times.clear();
        src.decode_chunk(c, &mut times)?;
        for (ord, &t) in (start..end).zip(&times) {
            if t >= from && t < to {
                out.insert(ord as u32);
            }
        }
    }
    Ok(out)
}

/// Calls `f(ordinal, time)` for each ordinal of `set`, in order.
pub(crate) fn for_each_time<S: TimeSource>(
    src: &S,
    set: &RoaringBitmap,
    mut f: impl FnMut(u32, i64),
) -> Result<(), S::Error> {
    let mut times = Vec::with_capacity(TIME_CHUNK_RECORDS);
    let mut loaded = usize::MAX;
    for ord in set {
        let c = ord as usize / TIME_CHUNK_RECORDS;
        if c >= src.chunk_count() {
            break;
        }
        let b = src.bounds(c);
        if b.min == b.max {
            f(ord, b.min);
            continue;
        }
        if c != loaded {
            times.clear();
            src.decode_chunk(c, &mut times)?;
            loaded = c;
        }
        if let Some(&t) = times.get(ord as usize % TIME_CHUNK_RECORDS) {
            f(ord, t);
        }
    }
    Ok(())
}

/// A segment's records cut into time buckets: maximal runs of consecutive ordinals whose
/// times fall in one bucket, in ordinal order, covering every ordinal below the limit they
/// were made for. Records of a segment are mostly in time order, so a day segment cut into
/// hours is about 24 runs; a segment written out of order has more (at most one per record).
///
/// Counting a bitmap's ordinals per bucket is then a sum over runs, each a range
/// cardinality (rank over two ends) or, when the bitmap is small beside the number of runs,
/// one walk of its ordinals beside the runs: no event is decoded and nothing is hashed per
/// ordinal.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BucketRuns {
    /// Start of each distinct bucket, ascending.
    buckets: Vec<i64>,
    /// (first ordinal, end ordinal, index into `buckets`), ascending and adjacent.
    runs: Vec<(u32, u32, u32)>,
}

/// A range cardinality costs about this many steps of a walk over a bitmap's ordinals
/// (binary searches in its containers): the break-even point between the two ways
/// [`BucketRuns::count`] counts.
const RANK_COST_ORDINALS: u64 = 16;

impl BucketRuns {
    /// Start of each bucket holding at least one record, ascending; indexes of this list
    /// are the slots [`count`](Self::count) adds to.
    pub fn buckets(&self) -> &[i64] {
        &self.buckets
    }

    /// Number of runs.
    pub fn len(&self) -> usize {
        self.runs.len()
    }

    /// True when no record is covered.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// Adds to `out[i]` the ordinals of `set` in bucket `buckets()[i]`. `out` has one slot
    /// per bucket; ordinals beyond the runs are not counted.
    pub fn count(&self, set: &RoaringBitmap, out: &mut [u64]) {
        assert_eq!(out.len(), self.buckets.len(), "one slot per bucket");
        if self.runs.len() as u64 * RANK_COST_ORDINALS <= set.len() {
            self.count_by_rank(set, out);
        } else {
            self.count_by_walk(set, out);
        }
    }

    /// [`count`](Self::count) by one range cardinality per run.
    pub fn count_by_rank(&self, set: &RoaringBitmap, out: &mut [u64]) {
        let (Some(lo), Some(hi)) = (set.min(), set.max()) else {
            return;
        };
        // Only the runs between the set's smallest and largest ordinal can hold any.
        let first = self.runs.partition_point(|r| r.1 <= lo);
        for &(start, end, slot) in &self.runs[first..] {
            if start > hi {
                break;
            }
            out[slot as usize] += set.range_cardinality(start..end);
        }
    }

    /// [`count`](Self::count) by walking the set's ordinals beside the runs.
    pub fn count_by_walk(&self, set: &RoaringBitmap, out: &mut [u64]) {
        let mut i = 0;
        for ord in set {
            while i < self.runs.len() && self.runs[i].1 <= ord {
                i += 1;
            }
            let Some(&(start, _, slot)) = self.runs.get(i) else {
                return;
            };
            if ord >= start {
                out[slot as usize] += 1;
            }
        }
    }

    /// Made from runs of (first ordinal, end ordinal, bucket start), adjacent and in
    /// ordinal order: the distinct buckets sorted, each run given its bucket's slot.
    fn from_runs(runs: Vec<(u32, u32, i64)>) -> BucketRuns {
        let mut buckets: Vec<i64> = runs.iter().map(|r| r.2).collect();
        buckets.sort_unstable();
        buckets.dedup();
        let runs = runs
            .into_iter()
            .map(|(start, end, b)| {
                // Every run's bucket is in the list it was collected into.
                let slot = buckets.binary_search(&b).unwrap_or_default();
                (start, end, slot as u32)
            })
            .collect();
        BucketRuns { buckets, runs }
    }
}

/// The ordinals below `limit` as runs in buckets of `width` nanoseconds (a bucket starts at
/// a multiple of `width`). A chunk whose smallest and largest time share a bucket is one
/// range without decoding (every time of the chunk lies between the two); any other chunk is
/// decoded and cut record by record.
pub(crate) fn bucket_runs<S: TimeSource>(
    src: &S,
    width: i64,
    limit: u64,
) -> Result<BucketRuns, S::Error> {
    assert!(width > 0, "bucket width must be positive");
    let bucket = |t: i64| t.div_euclid(width) * width;
    let mut runs: Vec<(u32, u32, i64)> = Vec::new();
    // Extends the last run when it is in the same bucket, else starts one.
    let mut push = |start: u64, end: u64, b: i64| match runs.last_mut() {
        Some(last) if last.2 == b => last.1 = end as u32,
        _ => runs.push((start as u32, end as u32, b)),
    };
    let mut times = Vec::with_capacity(TIME_CHUNK_RECORDS);
    for (c, start, end) in chunks_below(src, limit) {
        let b = src.bounds(c);
        if bucket(b.min) == bucket(b.max) {
            push(start, end, bucket(b.min));
            continue;
        }
        times.clear();
        src.decode_chunk(c, &mut times)?;
        for (ord, &t) in (start..end).zip(&times) {
            push(ord, ord + 1, bucket(t));
        }
    }
    Ok(BucketRuns::from_runs(runs))
}

/// Largest power of ten (in nanoseconds, up to a second) dividing every time.
pub(crate) fn time_unit(times: &[i64]) -> (u8, i64) {
    let mut exp = 9u32;
    for &t in times {
        while exp > 0 && t % 10i64.pow(exp) != 0 {
            exp -= 1;
        }
    }
    (exp as u8, 10i64.pow(exp))
}

/// Writes the time section: unit exponent, chunk count, chunk entries, deltas.
/// See docs/format.md, "Index files".
pub(crate) fn encode_times(times: &[i64], out: &mut Vec<u8>) {
    let (exp, unit) = time_unit(times);
    let chunks: Vec<&[i64]> = times.chunks(TIME_CHUNK_RECORDS).collect();
    out.push(exp);
    out.extend_from_slice(&(chunks.len() as u32).to_le_bytes());
    let mut deltas = Vec::new();
    for chunk in &chunks {
        let (first, min, max) = chunk_stats(chunk);
        out.extend_from_slice(&first.to_le_bytes());
        out.extend_from_slice(&min.to_le_bytes());
        out.extend_from_slice(&max.to_le_bytes());
        out.extend_from_slice(&(deltas.len() as u32).to_le_bytes());
        for w in chunk.windows(2) {
            put_varint(&mut deltas, zigzag((w[1] - w[0]) / unit));
        }
    }
    out.extend_from_slice(&deltas);
}

fn chunk_stats(chunk: &[i64]) -> (i64, i64, i64) {
    let first = chunk.first().copied().unwrap_or(0);
    let min = chunk.iter().copied().min().unwrap_or(0);
    let max = chunk.iter().copied().max().unwrap_or(0);
    (first, min, max)
}

/// The time section of an index file, read in place.
pub(crate) struct EncodedTimes<'a> {
    unit: i64,
    table: &'a [u8],
    deltas: &'a [u8],
    count: u64,
}

impl<'a> EncodedTimes<'a> {
    /// Checks the section's shape against a segment of `count` records.
    pub(crate) fn parse(bytes: &'a [u8], count: u64) -> Result<EncodedTimes<'a>, &'static str> {
        let exp = *bytes.first().ok_or("time section is empty")?;
        if exp > 9 {
            return Err("time unit exponent above 9");
        }
        let n = le_u32(bytes, 1).ok_or("time section header cut short")? as usize;
        if n as u64 != count.div_ceil(TIME_CHUNK_RECORDS as u64) {
            return Err("time chunk count does not match the record count");
        }
        let times = EncodedTimes::locate(bytes, count)?;
        let deltas = times.deltas;
        let mut prev = 0usize;
        for c in 0..n {
            let off = times.delta_offset(c);
            if off < prev || off > deltas.len() {
                return Err("time chunk offsets out of order");
            }
            prev = off;
        }
        Ok(times)
    }

    /// The parts of a section whose header [`parse`](Self::parse) checked.
    pub(crate) fn locate(bytes: &'a [u8], count: u64) -> Result<EncodedTimes<'a>, &'static str> {
        let exp = (*bytes.first().ok_or("time section is empty")?).min(9);
        let n = le_u32(bytes, 1).ok_or("time section header cut short")? as usize;
        let table_end = n
            .checked_mul(CHUNK_ENTRY_BYTES)
            .and_then(|l| l.checked_add(5))
            .ok_or("time chunk table too large")?;
        Ok(EncodedTimes {
            unit: 10i64.pow(u32::from(exp)),
            table: bytes
                .get(5..table_end)
                .ok_or("time chunk table cut short")?,
            deltas: bytes.get(table_end..).unwrap_or(&[]),
            count,
        })
    }

    fn entry_i64(&self, chunk: usize, field: usize) -> i64 {
        let at = chunk * CHUNK_ENTRY_BYTES + field * 8;
        self.table
            .get(at..at + 8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map_or(0, i64::from_le_bytes)
    }

    fn delta_offset(&self, chunk: usize) -> usize {
        le_u32(self.table, chunk * CHUNK_ENTRY_BYTES + 24).unwrap_or(0) as usize
    }
}

impl TimeSource for EncodedTimes<'_> {
    type Error = &'static str;

    fn chunk_count(&self) -> usize {
        self.table.len() / CHUNK_ENTRY_BYTES
    }

    fn bounds(&self, chunk: usize) -> ChunkBounds {
        ChunkBounds {
            min: self.entry_i64(chunk, 1),
            max: self.entry_i64(chunk, 2),
        }
    }

    fn decode_chunk(&self, chunk: usize, out: &mut Vec<i64>) -> Result<(), &'static str> {
        let start = (chunk * TIME_CHUNK_RECORDS) as u64;
        let n = (self.count - start).min(TIME_CHUNK_RECORDS as u64) as usize;
        let b = self.bounds(chunk);
        let mut t = self.entry_i64(chunk, 0);
        let mut pos = self.delta_offset(chunk);
        for i in 0..n {
            if i > 0 {
                let d = get_varint(self.deltas, &mut pos).ok_or("time delta cut short")?;
                t = unzigzag(d)
                    .checked_mul(self.unit)
                    .and_then(|d| t.checked_add(d))
                    .ok_or("time delta overflows")?;
            }
            if t < b.min || t > b.max {
                return Err("time outside its chunk's bounds");
            }
            out.push(t);
        }
        Ok(())
    }
}

/// Times of a segment held in memory (the active segment's index).
#[derive(Default, Clone)]
pub(crate) struct MemTimes {
    pub(crate) times: Vec<i64>,
    pub(crate) bounds: Vec<ChunkBounds>,
}

impl MemTimes {
    pub(crate) fn push(&mut self, t: i64) {
        if self.times.len().is_multiple_of(TIME_CHUNK_RECORDS) {
            self.bounds.push(ChunkBounds { min: t, max: t });
        } else if let Some(b) = self.bounds.last_mut() {
            b.min = b.min.min(t);
            b.max = b.max.max(t);
        }
        self.times.push(t);
    }
}

impl TimeSource for MemTimes {
    type Error = std::convert::Infallible;

    fn chunk_count(&self) -> usize {
        self.bounds.len()
    }

    fn bounds(&self, chunk: usize) -> ChunkBounds {
        self.bounds[chunk]
    }

    fn decode_chunk(&self, chunk: usize, out: &mut Vec<i64>) -> Result<(), Self::Error> {
        let start = chunk * TIME_CHUNK_RECORDS;
        let end = (start + TIME_CHUNK_RECORDS).min(self.times.len());
        out.extend_from_slice(&self.times[start..end]);
        Ok(())
    }
}

pub(crate) fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .map(u32::from_le_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn encoded_and_memory_times_agree_with_a_scan(
            times in proptest::collection::vec(-5_000i64..5_000, 0..400),
            scale in prop_oneof![Just(1i64), Just(1_000), Just(1_000_000_000)],
            from in -6_000i64..6_000,
            len in 0i64..8_000,
        ) {
            let times: Vec<i64> = times.into_iter().map(|t| t * scale).collect();
            let (from, to) = (from * scale, (from + len) * scale);
            let mut bytes = Vec::new();
            encode_times(&times, &mut bytes);
            let enc = EncodedTimes::parse(&bytes, times.len() as u64).unwrap();
            let mut mem = MemTimes::default();
            times.iter().for_each(|&t| mem.push(t));
            let want: Vec<u32> = (0..times.len() as u32)
                .filter(|&i| times[i as usize] >= from && times[i as usize] < to)
                .collect();
            let limit = times.len() as u64;
            let got: Vec<u32> = ordinals_in_range(&enc, from, to, limit).unwrap().iter().collect();
            prop_assert_eq!(&got, &want);
            let got: Vec<u32> = ordinals_in_range(&mem, from, to, limit).unwrap().iter().collect();
            prop_assert_eq!(&got, &want);
            let all: RoaringBitmap = (0..times.len() as u32).collect();
            let mut seen = Vec::new();
            for_each_time(&enc, &all, |o, t| seen.push((o, t))).unwrap();
            let expect: Vec<(u32, i64)> = times.iter().enumerate().map(|(i, &t)| (i as u32, t)).collect();
            prop_assert_eq!(seen, expect);
        }
    }

    proptest! {
        /// Buckets from chunk bounds and runs, counted by rank or by walk, against putting
        /// each record's time in its bucket one by one.
        #[test]
        fn bucket_counts_equal_a_scan(
            times in proptest::collection::vec(-3_000i64..3_000, 0..600),
            sorted in proptest::bool::ANY,
            width in prop_oneof![Just(1i64), Just(7), Just(100), Just(1_000), Just(10_000)],
            set in proptest::collection::btree_set(0u32..700, 0..300),
            cut in 0u64..700,
        ) {
            let mut times = times;
            if sorted {
                times.sort_unstable();
            }
            let mut bytes = Vec::new();
            encode_times(&times, &mut bytes);
            let enc = EncodedTimes::parse(&bytes, times.len() as u64).unwrap();
            let mut mem = MemTimes::default();
            times.iter().for_each(|&t| mem.push(t));
            let limit = cut.min(times.len() as u64);
            let set: RoaringBitmap = set.into_iter().collect();
            let mut want: std::collections::BTreeMap<i64, u64> = Default::default();
            for o in set.iter().filter(|&o| u64::from(o) < limit) {
                *want.entry(times[o as usize].div_euclid(width) * width).or_default() += 1;
            }
            let runs = bucket_runs(&enc, width, limit).unwrap();
            prop_assert_eq!(&runs, &bucket_runs(&mem, width, limit).unwrap());
            prop_assert!(runs.len() as u64 <= limit);
            prop_assert!(runs.buckets().windows(2).all(|w| w[0] < w[1]));
            let mut covered = 0;
            for &(start, end, slot) in &runs.runs {
                prop_assert_eq!(start, covered, "runs are adjacent from 0");
                prop_assert!(end > start);
                covered = end;
                let b = runs.buckets()[slot as usize];
                prop_assert!((start..end).all(|o| times[o as usize].div_euclid(width) * width == b));
            }
            prop_assert_eq!(u64::from(covered), limit);
            for how in 0..3 {
                let mut out = vec![0; runs.buckets().len()];
                match how {
                    0 => runs.count(&set, &mut out),
                    1 => runs.count_by_rank(&set, &mut out),
                    _ => runs.count_by_walk(&set, &mut out),
                }
                let got: std::collections::BTreeMap<i64, u64> = runs
                    .buckets()
                    .iter()
                    .copied()
                    .zip(out)
                    .filter(|(_, n)| *n > 0)
                    .collect();
                prop_assert_eq!(&got, &want, "counting way {}", how);
            }
        }
    }

    #[test]
    fn range_bounds_are_inclusive_then_exclusive_at_chunk_edges() {
        let times: Vec<i64> = (0..200).collect();
        let mut bytes = Vec::new();
        encode_times(&times, &mut bytes);
        let enc = EncodedTimes::parse(&bytes, 200).unwrap();
        // Chunk 1 holds 64..=127: a range ending at its largest time leaves that out.
        for (from, to, want) in [(64, 127, 63), (64, 128, 64), (63, 127, 64), (0, 0, 0)] {
            let got = ordinals_in_range(&enc, from, to, 200).unwrap();
            assert_eq!(got.len(), want, "{from}..{to}");
            assert_eq!(got.min(), (want > 0).then_some(from as u32));
        }
        assert_eq!(
            ordinals_in_range(&enc, 0, 1000, 70).unwrap().len(),
            70,
            "limit"
        );
    }

    #[test]
    fn a_chunk_count_that_disagrees_is_refused() {
        let mut bytes = Vec::new();
        encode_times(&[1, 2, 3], &mut bytes);
        assert!(EncodedTimes::parse(&bytes, 3).is_ok());
        assert!(EncodedTimes::parse(&bytes, 100).is_err());
        assert!(EncodedTimes::parse(&bytes[..10], 3).is_err());
    }
}
