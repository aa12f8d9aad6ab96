//! Counts, counts grouped by a field, and histograms over time: from bitmap cardinalities and
//! the time index when every clause is indexed, from decoded events otherwise.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

#[cfg(doc)]
use annal_index::BucketRuns;
use annal_index::{event_key, key_to_int, IndexView, IndexedSegment, Key, RoaringBitmap};
use annal_model::{Event, Field, Timestamp, NANOS_PER_DAY};

use crate::error::{QueryError, Result};
use crate::filter::{check_field, Filter};
use crate::plan::Plan;
use crate::Engine;

/// Matches decoded per step when counting needs the events.
const MATCH_BATCH: usize = 16_384;

/// Width of a histogram bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interval {
    /// One minute.
    Minute,
    /// One hour.
    Hour,
    /// One UTC day.
    Day,
}

impl Interval {
    /// Bucket width in nanoseconds.
    pub fn nanos(self) -> i64 {
        match self {
            Interval::Minute => 60_000_000_000,
            Interval::Hour => 3_600_000_000_000,
            Interval::Day => NANOS_PER_DAY,
        }
    }

    /// Parses `minute`, `hour` or `day`.
    pub fn parse(s: &str) -> Result<Interval> {
        match s.to_ascii_lowercase().as_str() {
            "minute" => Ok(Interval::Minute),
            "hour" => Ok(Interval::Hour),
            "day" => Ok(Interval::Day),
            _ => Err(QueryError::BadValue {
                field: "interval".into(),
                value: s.into(),
                msg: "expected minute, hour or day".into(),
            }),
        }
    }
}

/// One histogram bucket with at least one match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bucket {
    /// Start of the bucket.
    pub start: Timestamp,
    /// Matches in it.
    pub count: u64,
    /// Matches per value of the split field (if split), largest first, ties in value order;
    /// events without the field are not in any.
    pub by: Vec<(String, u64)>,
}

/// A value of a grouped field, typed as the field is.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GroupValue {
    /// The value of an integer field.
    Int(i64),
    /// The value of a text field.
    Text(String),
}

impl GroupValue {
    /// The value an index key of `field` stands for.
    pub fn of_key(field: Field, key: &[u8]) -> GroupValue {
        match (field, key_to_int(key)) {
            (Field::Int(_), Some(v)) => GroupValue::Int(v),
            _ => GroupValue::Text(String::from_utf8_lossy(key).into_owned()),
        }
    }
}

impl fmt::Display for GroupValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupValue::Int(v) => write!(f, "{v}"),
            GroupValue::Text(v) => f.write_str(v),
        }
    }
}

/// Matches of a filter counted per value of one field.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Groups {
    /// Every match, with the field or without it (so the groups sum to at most this).
    pub count: u64,
    /// Distinct values among the matches: more than `groups` holds when the limit cut it.
    pub distinct: u64,
    /// (value, matches), largest first, ties in value order; at most the limit asked for.
    pub groups: Vec<(GroupValue, u64)>,
}

impl Engine {
    /// Exact number of matches.
    pub fn count(&self, filter: &Filter) -> Result<u64> {
        let plan = Plan::new(filter, &self.indexer, &self.catalogs)?;
        let view = self.view()?;
        let mut total = 0;
        for seg in &view.segments {
            if let Some(n) = plan.summary_count(seg) {
                total += n;
                continue;
            }
            let cands = plan.candidates(seg, self)?;
            total += if plan.residual {
                self.matching_events(&view, &plan, seg, &cands)?.len() as u64
            } else {
                cands.len()
            };
        }
        Ok(total)
    }

    /// Matches per value of `field`, largest first (events without the field not counted),
    /// every value; values as text. [`group_by`](Self::group_by) bounds and types them.
    pub fn count_by(&self, filter: &Filter, field: Field) -> Result<Vec<(String, u64)>> {
        let groups = self.group_by(filter, field, usize::MAX)?;
        Ok(groups
            .groups
            .into_iter()
            .map(|(v, n)| (v.to_string(), n))
            .collect())
    }

    /// Matches, and matches per value of `field`: the `limit` largest groups, largest first,
    /// ties in value order (numeric for integer fields). From the summaries and bitmap
    /// cardinalities when every clause is indexed and so is `field` (a segment wholly
    /// matched is answered from its value counts alone); from decoded events otherwise.
    pub fn group_by(&self, filter: &Filter, field: Field, limit: usize) -> Result<Groups> {
        check_field(field)?;
        let plan = Plan::new(filter, &self.indexer, &self.catalogs)?;
        let view = self.view()?;
        let pos = self.indexer.position(field);
        let mut total = 0;
        let mut counts: HashMap<Key, u64> = HashMap::new();
        for seg in &view.segments {
            match pos {
                Some(p) if !plan.residual => {
                    if plan.summary_count(seg) == Some(seg.count) {
                        total += seg.count;
                        for (k, n) in seg.index.value_counts(p, seg.count)? {
                            add_to(&mut counts, &k, n);
                        }
                        continue;
                    }
                    let cands = plan.candidates(seg, self)?;
                    if cands.is_empty() {
                        continue;
                    }
                    total += cands.len();
                    seg.index.for_each_value(p, seg.count, |k, b| {
                        let n = b.intersection_len(&cands);
                        if n > 0 {
                            add_to(&mut counts, k, n);
                        }
                    })?;
                }
                _ => {
                    let cands = plan.candidates(seg, self)?;
                    for (_, e) in self.matching_events(&view, &plan, seg, &cands)? {
                        total += 1;
                        if let Some(k) = event_key(&e, field) {
                            add_to(&mut counts, &k, 1);
                        }
                    }
                }
            }
        }
        let distinct = counts.len() as u64;
        Ok(Groups {
            count: total,
            distinct,
            groups: largest(field, counts, limit),
        })
    }

    /// Matches per time bucket, optionally split by a field; empty buckets are left out.
    ///
    /// When every clause is indexed (and the split field is), no event is decoded and
    /// nothing is hashed per event: each segment's records are cut into runs of ordinals in
    /// one bucket from its time index ([`BucketRuns`]), and the candidates, and each
    /// value's postings within them, are counted per run by range cardinalities. A segment
    /// inside one bucket and wholly matched is answered from its value counts alone.
    pub fn histogram(
        &self,
        filter: &Filter,
        interval: Interval,
        by: Option<Field>,
    ) -> Result<Vec<Bucket>> {
        if let Some(f) = by {
            check_field(f)?;
        }
        let plan = Plan::new(filter, &self.indexer, &self.catalogs)?;
        let view = self.view()?;
        let width = interval.nanos();
        let bucket = |t: i64| t.div_euclid(width) * width;
        let mut hist = Histogram::default();
        let by_pos = by.and_then(|f| self.indexer.position(f));
        let indexed = !plan.residual && (by.is_none() || by_pos.is_some());
        for seg in &view.segments {
            let cands = plan.candidates(seg, self)?;
            if cands.is_empty() {
                continue;
            }
            if !indexed {
                for (_, e) in self.matching_events(&view, &plan, seg, &cands)? {
                    let at = hist.bucket(bucket(e.created_at.0));
                    at.count += 1;
                    if let Some(k) = by.and_then(|f| event_key(&e, f)) {
                        add_to(&mut at.by, &k, 1);
                    }
                }
                continue;
            }
            let runs = seg.index.bucket_runs(width, seg.count)?;
            let slots = runs.buckets();
            let whole = cands.len() == seg.count;
            if let [only] = slots {
                hist.bucket(*only).count += cands.len();
            } else {
                let mut totals = vec![0; slots.len()];
                runs.count(&cands, &mut totals);
                // Runs cover every visible record, so every candidate is in one bucket.
                debug_assert_eq!(totals.iter().sum::<u64>(), cands.len());
                for (&b, &n) in slots.iter().zip(&totals) {
                    if n > 0 {
                        hist.bucket(b).count += n;
                    }
                }
            }
            let Some(p) = by_pos else { continue };
            match slots {
                // One bucket, every record: the value counts are the split.
                [only] if whole => {
                    let at = hist.bucket(*only);
                    for (k, n) in seg.index.value_counts(p, seg.count)? {
                        add_to(&mut at.by, &k, n);
                    }
                }
                [only] => {
                    let at = hist.bucket(*only);
                    seg.index.for_each_value(p, seg.count, |k, b| {
                        let n = b.intersection_len(&cands);
                        if n > 0 {
                            add_to(&mut at.by, k, n);
                        }
                    })?;
                }
                _ => {
                    let mut out = vec![0; slots.len()];
                    seg.index.for_each_value(p, seg.count, |k, b| {
                        out.iter_mut().for_each(|n| *n = 0);
                        if whole {
                            runs.count(b, &mut out);
                        } else {
                            runs.count(&(b & &cands), &mut out);
                        }
                        for (&start, &n) in slots.iter().zip(&out) {
                            if n > 0 {
                                add_to(&mut hist.bucket(start).by, k, n);
                            }
                        }
                    })?;
                }
            }
        }
        Ok(hist.into_buckets(by))
    }

    /// The events of `cands` that pass the plan's residual clauses.
    fn matching_events(
        &self,
        view: &IndexView,
        plan: &Plan<'_>,
        seg: &IndexedSegment,
        cands: &RoaringBitmap,
    ) -> Result<Vec<(u32, std::sync::Arc<Event>)>> {
        let mut out = Vec::new();
        let ords: Vec<u32> = cands.iter().collect();
        for batch in ords.chunks(MATCH_BATCH) {
            let events = self.blocks.fetch(&view.snapshot, seg, batch)?;
            for (o, e) in batch.iter().zip(events) {
                if plan.residual_matches(&e) {
                    out.push((*o, e));
                }
            }
        }
        Ok(out)
    }
}

/// Adds `n` to `k`'s count, allocating the key only the first time.
fn add_to(counts: &mut HashMap<Key, u64>, k: &[u8], n: u64) {
    match counts.get_mut(k) {
        Some(c) => *c += n,
        None => {
            counts.insert(k.into(), n);
        }
    }
}

/// The `limit` largest counts, largest first, ties in key order (the value's order).
fn largest(field: Field, counts: HashMap<Key, u64>, limit: usize) -> Vec<(GroupValue, u64)> {
    let mut v: Vec<(Key, u64)> = counts.into_iter().collect();
    let order = |a: &(Key, u64), b: &(Key, u64)| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0));
    if limit < v.len() {
        // Only the groups returned are sorted.
        v.select_nth_unstable_by(limit, order);
        v.truncate(limit);
    }
    v.sort_unstable_by(order);
    v.into_iter()
        .map(|(k, n)| (GroupValue::of_key(field, &k), n))
        .collect()
}

/// Buckets being counted: per bucket start, its matches and its split.
#[derive(Default)]
struct Histogram {
    buckets: BTreeMap<i64, BucketCounts>,
}

#[derive(Default)]
struct BucketCounts {
    count: u64,
    by: HashMap<Key, u64>,
}

impl Histogram {
    fn bucket(&mut self, start: i64) -> &mut BucketCounts {
        self.buckets.entry(start).or_default()
    }

    fn into_buckets(self, by: Option<Field>) -> Vec<Bucket> {
        self.buckets
            .into_iter()
            .filter(|(_, b)| b.count > 0)
            .map(|(start, b)| Bucket {
                start: Timestamp(start),
                count: b.count,
                by: by.map_or_else(Vec::new, |f| {
                    largest(f, b.by, usize::MAX)
                        .into_iter()
                        .map(|(v, n)| (v.to_string(), n))
                        .collect()
                }),
            })
            .collect()
    }
}
