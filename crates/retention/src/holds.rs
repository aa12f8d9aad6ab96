//! Legal holds: a time range of `created_at`, optionally narrowed by the query API's filters,
//! whose events are not pruned until the hold is released. Placed and released holds are
//! records of the lifecycle log; which holds are active is read from it.

use annal_integrity::{HoldRecord, LifecycleRecord, ReleaseRecord, StoredRecord};
use annal_model::{Catalogs, Timestamp};
use annal_query::{Engine, Filter, FilterBuilder, Query, Start};

use crate::error::{Result, RetentionError};

/// Longest reason or filter text a hold takes, in characters (at most 4 KiB of UTF-8).
pub const HOLD_TEXT_CHARS_MAX: usize = 1024;

/// A hold as placed, and its release if it was released.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hold {
    /// The hold as placed.
    pub placed: HoldRecord,
    /// Its release, if any.
    pub released: Option<ReleaseRecord>,
}

impl Hold {
    /// True while it holds.
    pub fn active(&self) -> bool {
        self.released.is_none()
    }
}

/// What a new hold covers and why.
#[derive(Clone, Debug)]
pub struct HoldSpec {
    /// Start of the held range of `created_at` (inclusive).
    pub from: Timestamp,
    /// End of the held range (exclusive).
    pub to: Timestamp,
    /// Narrowing filters as a query string of the query API (`event_type=X&actor_id=Y`);
    /// empty holds every event of the range.
    pub filter: String,
    /// Why.
    pub reason: String,
    /// Who places it.
    pub by: String,
}

/// Every hold the lifecycle log records, in the order placed.
pub fn holds(records: &[StoredRecord]) -> Vec<Hold> {
    let mut out: Vec<Hold> = Vec::new();
    for r in records {
        match &r.record {
            LifecycleRecord::Hold(h) => out.push(Hold {
                placed: h.clone(),
                released: None,
            }),
            LifecycleRecord::Release(rel) => {
                if let Some(h) = out.iter_mut().find(|h| h.placed.id == rel.id) {
                    h.released = Some(rel.clone());
                }
            }
            LifecycleRecord::Prune(_) => {}
        }
    }
    out
}

/// Checks a new hold's values; the error names the one at fault.
pub(crate) fn check_spec(spec: &HoldSpec, catalogs: &Catalogs) -> Result<()> {
    if spec.from >= spec.to {
        return Err(RetentionError::Invalid(
            "the hold's range is empty: `from` must be before `to`".into(),
        ));
    }
    if spec.reason.trim().is_empty() {
        return Err(RetentionError::Invalid(
            "a hold needs a reason (the matter or case it is for)".into(),
        ));
    }
    for (what, text) in [("reason", &spec.reason), ("filter", &spec.filter)] {
        let chars = text.chars().count();
        if chars > HOLD_TEXT_CHARS_MAX {
            return Err(RetentionError::Invalid(format!(
                "the hold's {what} is {chars} characters; the limit is {HOLD_TEXT_CHARS_MAX}"
            )));
        }
    }
    hold_filter(&spec.filter, spec.from, spec.to, catalogs).map(|_| ())
}

/// The filter of the events a hold covers: its range and its narrowing filters.
pub(crate) fn hold_filter(
    filter: &str,
    from: Timestamp,
    to: Timestamp,
    catalogs: &Catalogs,
) -> Result<Filter> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(filter).map_err(|e| {
        RetentionError::Invalid(format!(
            "the hold's filter {filter:?} is not a query string: {e}"
        ))
    })?;
    let mut builder = FilterBuilder::new(catalogs);
    for (name, value) in &pairs {
        if name == "from" || name == "to" {
            return Err(RetentionError::Invalid(format!(
                "the hold's filter names {name:?}: give the held range as the hold's own from and to"
            )));
        }
        if !builder
            .native_param(name, value)
            .map_err(annal_query::FilterErrors::from)?
        {
            return Err(RetentionError::Invalid(format!(
                "the hold's filter names {name:?}, which is not a filter of the query API (a field such as event_type or actor_id, not.FIELD, category or q)"
            )));
        }
    }
    let mut filter = builder.build()?;
    filter.from = Some(from);
    filter.to = Some(to);
    Ok(filter)
}

/// The oldest seq an active hold covers now, and that hold (None: no stored event is held).
pub(crate) fn first_held(engine: &Engine, holds: &[Hold]) -> Result<Option<(u64, String)>> {
    let mut first: Option<(u64, String)> = None;
    for hold in holds.iter().filter(|h| h.active()) {
        let h = &hold.placed;
        let filter = hold_filter(
            &h.filter,
            Timestamp(h.from_ns),
            Timestamp(h.to_ns),
            engine.catalogs(),
        )?;
        let page = engine.query(&Query {
            filter,
            order: annal_query::Dir::Asc,
            limit: 1,
            start: Start::First,
        })?;
        if let Some((seq, _)) = page.items.first() {
            if first.as_ref().is_none_or(|(s, _)| seq < s) {
                first = Some((*seq, h.id.clone()));
            }
        }
    }
    Ok(first)
}
