//! A filter compiled against the indexes: which clauses bitmaps answer, which are checked on
//! decoded events, and the per-segment candidate set.

use std::hash::Hasher;

use annal_index::{int_key, text_key, IndexedSegment, Indexer, Key, RoaringBitmap};
use annal_model::{Catalogs, Event, Field, IntField, TextField};

use crate::error::Result;
use crate::filter::{parse_int, text_matches, Clause, Filter};

/// A boolean expression over indexed values.
#[derive(Debug)]
enum Expr {
    /// The field (by index position) has one of these keys.
    Any(usize, Vec<Key>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
}

/// One clause, compiled.
#[derive(Debug)]
struct Compiled {
    expr: Option<Expr>,
    clause: Clause,
    /// Identifies the clause for the per-segment result cache.
    hash: u64,
}

/// A filter ready to run.
pub(crate) struct Plan<'a> {
    pub(crate) from: i64,
    pub(crate) to: i64,
    clauses: Vec<Compiled>,
    q: Option<String>,
    catalogs: &'a Catalogs,
    /// True when some clause or `q` has to be checked on decoded events.
    pub(crate) residual: bool,
}

/// Per-segment clause results, cached by the engine (sealed segments only).
pub(crate) trait ClauseCache {
    fn get(&self, base: u64, clause: u64) -> Option<std::sync::Arc<RoaringBitmap>>;
    fn put(&self, base: u64, clause: u64, bitmap: std::sync::Arc<RoaringBitmap>);
}

impl<'a> Plan<'a> {
    pub(crate) fn new(
        filter: &Filter,
        indexer: &Indexer,
        catalogs: &'a Catalogs,
    ) -> Result<Plan<'a>> {
        filter.validate()?;
        let mut clauses = Vec::with_capacity(filter.clauses.len());
        for c in &filter.clauses {
            clauses.push(Compiled {
                expr: compile(c, indexer, catalogs)?,
                clause: c.clone(),
                hash: hash_debug(c),
            });
        }
        let residual = filter.q.is_some() || clauses.iter().any(|c| c.expr.is_none());
        Ok(Plan {
            from: filter.from.map_or(i64::MIN, |t| t.0),
            to: filter.to.map_or(i64::MAX, |t| t.0),
            clauses,
            q: filter.q.as_ref().map(|q| q.to_lowercase()),
            catalogs,
            residual,
        })
    }

    /// True when the segment's time range lies inside the filter's.
    pub(crate) fn covers(&self, seg: &IndexedSegment) -> bool {
        seg.index
            .time_bounds()
            .is_some_and(|(lo, hi)| lo >= self.from && hi < self.to)
    }

    /// False when the segment's summary shows no record can match.
    pub(crate) fn may_match(&self, seg: &IndexedSegment) -> bool {
        let Some((lo, hi)) = seg.index.time_bounds() else {
            return false;
        };
        if hi < self.from || lo >= self.to {
            return false;
        }
        self.clauses.iter().all(|c| match &c.expr {
            Some(Expr::Any(pos, keys))
                if !matches!(c.clause, Clause::Values { negate: true, .. }) =>
            {
                keys.iter()
                    .any(|k| seg.index.count_hint(*pos, k) != Some(0))
            }
            _ => true,
        })
    }

    /// Records of `seg` that pass every indexed clause and the time range; `residual`
    /// clauses still have to be checked on the events.
    pub(crate) fn candidates(
        &self,
        seg: &IndexedSegment,
        cache: &dyn ClauseCache,
    ) -> Result<RoaringBitmap> {
        let n = seg.count;
        if !self.may_match(seg) {
            return Ok(RoaringBitmap::new());
        }
        let mut set = if self.covers(seg) {
            let mut all = RoaringBitmap::new();
            all.insert_range(0..n as u32);
            all
        } else {
            seg.index.time_range(self.from, self.to, n)?
        };
        let cacheable = seg.sealed.is_some() && !seg.index.in_memory();
        for c in &self.clauses {
            let Some(expr) = &c.expr else { continue };
            if set.is_empty() {
                break;
            }
            let hit = if cacheable {
                match cache.get(seg.base, c.hash) {
                    Some(b) => b,
                    None => {
                        let b = std::sync::Arc::new(eval(expr, seg, n)?);
                        cache.put(seg.base, c.hash, b.clone());
                        b
                    }
                }
            } else {
                std::sync::Arc::new(eval(expr, seg, n)?)
            };
            set &= &*hit;
        }
        Ok(set)
    }

    /// The clauses bitmaps could not answer, and `q`, checked on one event.
    pub(crate) fn residual_matches(&self, event: &Event) -> bool {
        self.clauses
            .iter()
            .filter(|c| c.expr.is_none())
            .all(|c| c.clause.matches(event, self.catalogs))
            && self
                .q
                .as_deref()
                .is_none_or(|q| text_matches(event, q, self.catalogs))
    }

    /// True when a count for the whole segment is a sum of summary counts: the segment
    /// lies in the time range, nothing residual, and at most one plain value clause.
    pub(crate) fn summary_count(&self, seg: &IndexedSegment) -> Option<u64> {
        if self.residual || !self.covers(seg) || seg.count == 0 {
            return None;
        }
        match self.clauses.as_slice() {
            [] => Some(seg.count),
            [Compiled {
                expr: Some(Expr::Any(pos, keys)),
                clause: Clause::Values { negate: false, .. },
                ..
            }] => keys.iter().map(|k| seg.index.count_hint(*pos, k)).sum(),
            _ => None,
        }
    }
}

fn eval(expr: &Expr, seg: &IndexedSegment, n: u64) -> Result<RoaringBitmap> {
    Ok(match expr {
        Expr::Any(pos, keys) => {
            let mut out = RoaringBitmap::new();
            for k in keys {
                out |= seg.index.postings(*pos, k, n)?;
            }
            out
        }
        Expr::And(parts) => {
            let mut it = parts.iter();
            let mut out = match it.next() {
                Some(e) => eval(e, seg, n)?,
                None => full(n),
            };
            for e in it {
                if out.is_empty() {
                    break;
                }
                out &= eval(e, seg, n)?;
            }
            out
        }
        Expr::Or(parts) => {
            let mut out = RoaringBitmap::new();
            for e in parts {
                out |= eval(e, seg, n)?;
            }
            out
        }
        Expr::Not(e) => {
            let mut out = full(n);
            out -= eval(e, seg, n)?;
            out
        }
    })
}

fn full(n: u64) -> RoaringBitmap {
    let mut b = RoaringBitmap::new();
    b.insert_range(0..n as u32);
    b
}

/// The clause as an expression over indexed fields, or None when a field it needs is not
/// indexed.
fn compile(c: &Clause, indexer: &Indexer, catalogs: &Catalogs) -> Result<Option<Expr>> {
    let expr = match c {
        Clause::Values { field, values, .. } => {
            let Some(pos) = indexer.position(*field) else {
                return Ok(None);
            };
            let keys = values
                .iter()
                .map(|v| match field {
                    Field::Int(_) => parse_int(*field, v).map(int_key),
                    _ => Ok(text_key(v)),
                })
                .collect::<Result<Vec<_>>>()?;
            Expr::Any(pos, keys)
        }
        Clause::Codes { codes, .. } => {
            let code_pos = indexer.position(Field::Int(IntField::EventCode));
            let source_pos = indexer.position(Field::Text(TextField::Source));
            let (Some(code_pos), Some(source_pos)) = (code_pos, source_pos) else {
                return Ok(None);
            };
            let default = catalogs.default_catalog().name();
            let mut per_catalog = Vec::new();
            for cat in catalogs.iter() {
                let keys: Vec<Key> = codes
                    .iter()
                    .filter(|(c, _)| c == cat.name())
                    .map(|(_, n)| int_key(*n))
                    .collect();
                if keys.is_empty() {
                    continue;
                }
                // Events are in a catalog when their source names it, or, for the default
                // catalog, when their source names no catalog at all.
                let named = Expr::Any(source_pos, vec![text_key(cat.name())]);
                let in_catalog = if cat.name() == default {
                    let others: Vec<Key> = catalogs
                        .iter()
                        .filter(|o| o.name() != default)
                        .map(|o| text_key(o.name()))
                        .collect();
                    Expr::Or(vec![
                        named,
                        Expr::Not(Box::new(Expr::Any(source_pos, others))),
                    ])
                } else {
                    named
                };
                per_catalog.push(Expr::And(vec![Expr::Any(code_pos, keys), in_catalog]));
            }
            Expr::Or(per_catalog)
        }
    };
    let negate = match c {
        Clause::Values { negate, .. } | Clause::Codes { negate, .. } => *negate,
    };
    Ok(Some(if negate {
        Expr::Not(Box::new(expr))
    } else {
        expr
    }))
}

/// FNV-1a over a value's `Debug` text: stable within a build, which is all the caches and
/// cursors need (a cursor from another build fails its check and says so).
pub(crate) fn hash_debug(v: &impl std::fmt::Debug) -> u64 {
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    h.write(format!("{v:?}").as_bytes());
    h.finish()
}

struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
}
