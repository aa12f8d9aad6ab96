//! Counts, counts grouped by a field, and histograms over time: from bitmap cardinalities and
//! the time index when every clause is indexed, from decoded events otherwise.

use std::collections::HashMap;

use annal_index::{event_key, key_to_string, IndexView, IndexedSegment, Key, RoaringBitmap};
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
    /// Matches per value of the split field (if split), largest first; events without the
    /// field are not in any.
    pub by: Vec<(String, u64)>,
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

    /// Matches per value of `field`, largest first (events without the field not counted).
    pub fn count_by(&self, filter: &Filter, field: Field) -> Result<Vec<(String, u64)>> {
        check_field(field)?;
        let plan = Plan::new(filter, &self.indexer, &self.catalogs)?;
        let view = self.view()?;
        let pos = self.indexer.position(field);
        let mut counts: HashMap<Key, u64> = HashMap::new();
        for seg in &view.segments {
            match pos {
                Some(p) if !plan.residual => {
                    if plan.summary_count(seg) == Some(seg.count) {
                        for (k, n) in seg.index.value_counts(p)? {
                            *counts.entry(k).or_default() += n;
                        }
                        continue;
                    }
                    let cands = plan.candidates(seg, self)?;
                    if cands.is_empty() {
                        continue;
                    }
                    seg.index.for_each_value(p, seg.count, |k, b| {
                        let n = b.intersection_len(&cands);
                        if n > 0 {
                            *counts.entry(k.into()).or_default() += n;
                        }
                    })?;
                }
                _ => {
                    let cands = plan.candidates(seg, self)?;
                    for (_, e) in self.matching_events(&view, &plan, seg, &cands)? {
                        if let Some(k) = event_key(&e, field) {
                            *counts.entry(k).or_default() += 1;
                        }
                    }
                }
            }
        }
        Ok(sorted_counts(field, counts))
    }

    /// Matches per time bucket, optionally split by a field; empty buckets are left out.
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
        let mut counts: HashMap<(i64, Option<Key>), u64> = HashMap::new();
        let by_pos = by.and_then(|f| self.indexer.position(f));
        for seg in &view.segments {
            let cands = plan.candidates(seg, self)?;
            if cands.is_empty() {
                continue;
            }
            let indexed = !plan.residual && (by.is_none() || by_pos.is_some());
            if !indexed {
                for (_, e) in self.matching_events(&view, &plan, seg, &cands)? {
                    let key = by.and_then(|f| event_key(&e, f));
                    *counts.entry((bucket(e.created_at.0), None)).or_default() += 1;
                    if key.is_some() {
                        *counts.entry((bucket(e.created_at.0), key)).or_default() += 1;
                    }
                }
                continue;
            }
            seg.index.for_each_time(&cands, |_, t| {
                *counts.entry((bucket(t), None)).or_default() += 1;
            })?;
            if let Some(p) = by_pos {
                let mut parts: Vec<(Key, RoaringBitmap)> = Vec::new();
                seg.index.for_each_value(p, seg.count, |k, b| {
                    let inter = b & &cands;
                    if !inter.is_empty() {
                        parts.push((k.into(), inter));
                    }
                })?;
                for (k, set) in parts {
                    seg.index.for_each_time(&set, |_, t| {
                        *counts.entry((bucket(t), Some(k.clone()))).or_default() += 1;
                    })?;
                }
            }
        }
        Ok(buckets(by, counts))
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

fn sorted_counts(field: Field, counts: HashMap<Key, u64>) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = counts
        .into_iter()
        .map(|(k, n)| (key_to_string(field, &k), n))
        .collect();
    v.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

fn buckets(by: Option<Field>, counts: HashMap<(i64, Option<Key>), u64>) -> Vec<Bucket> {
    let mut per: std::collections::BTreeMap<i64, (u64, HashMap<Key, u64>)> = Default::default();
    for ((start, key), n) in counts {
        let b = per.entry(start).or_default();
        match key {
            None => b.0 += n,
            Some(k) => *b.1.entry(k).or_default() += n,
        }
    }
    per.into_iter()
        .map(|(start, (count, split))| Bucket {
            start: Timestamp(start),
            count,
            by: by.map_or_else(Vec::new, |f| sorted_counts(f, split)),
        })
        .collect()
}
