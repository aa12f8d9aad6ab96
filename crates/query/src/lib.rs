//! annal's query engine: a date range filtered by any indexed field, answered from the
//! segment indexes. Segments are pruned by their summaries, records narrowed by the time
//! index and bitmap algebra, and only the blocks holding matches are decoded (through a
//! cache); clauses on unindexed fields and free text are checked on the decoded events.
//! Pages are walked from opaque cursors in either direction, or from an offset found by
//! bitmap rank and select; counts and histograms come from bitmap cardinalities whenever no
//! clause needs the events themselves.
//!
//! Callers turn their parameters into a [`Filter`] through one [`FilterBuilder`] (the CLI's
//! flags and every HTTP route's query string), which resolves event types and categories
//! through the catalogs and names the parameter at fault in every [`FilterError`].

mod aggregate;
mod builder;
mod cache;
mod cursor;
mod error;
mod fetch;
mod filter;
mod plan;

use std::sync::Arc;

use annal_index::{IndexOptions, IndexView, IndexedSegment, Indexer, RoaringBitmap};
use annal_model::{Catalogs, Event};
use annal_storage::Store;
use parking_lot::Mutex;

pub use aggregate::{Bucket, GroupValue, Groups, Interval};
pub use builder::{FilterBuilder, FilterError, FilterErrors, FilterProblem};
pub use cursor::{Cursor, Dir, CURSOR_TEXT_MAX};
pub use error::{QueryError, Result};
pub use filter::{check_field, codes_in_category, codes_named, Clause, Filter, TEXT_SEARCH_FIELDS};

pub use cache::Lru;
use plan::{ClauseCache, Plan};

/// Largest page.
pub const LIMIT_MAX: usize = 10_000;
/// Per-segment clause results kept, in bytes of bitmap.
const CLAUSE_CACHE_BYTES: usize = 32 << 20;
/// Matches decoded per step when clauses have to be checked on events.
const RESIDUAL_BATCH: usize = 256;

/// Where a page starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Start {
    /// The first page in the query's order.
    First,
    /// A cursor from an earlier page.
    Cursor(String),
    /// After skipping this many matches (offset pagination).
    Offset(u64),
}

/// One page request.
#[derive(Clone, Debug)]
pub struct Query {
    /// What to select.
    pub filter: Filter,
    /// `Asc`: oldest first; `Desc`: newest first.
    pub order: Dir,
    /// Page size, 1..=[`LIMIT_MAX`].
    pub limit: usize,
    /// Where the page starts.
    pub start: Start,
}

/// One page of results.
#[derive(Clone, Debug, Default)]
pub struct Page {
    /// (seq, event) in the query's order.
    pub items: Vec<(u64, Arc<Event>)>,
    /// The following page. In ascending order there always is one: at the end of the trail
    /// it returns nothing until new events arrive (tailing).
    pub next_cursor: Option<String>,
    /// The page before this one, when there can be one.
    pub prev_cursor: Option<String>,
}

/// A store with its indexes and caches: what queries run against.
pub struct Engine {
    store: Store,
    indexer: Indexer,
    catalogs: Catalogs,
    blocks: fetch::BlockCache,
    clauses: Mutex<Lru<(u64, u64), Arc<RoaringBitmap>>>,
}

impl ClauseCache for Engine {
    fn get(&self, base: u64, clause: u64) -> Option<Arc<RoaringBitmap>> {
        self.clauses.lock().get(&(base, clause))
    }
    fn put(&self, base: u64, clause: u64, bitmap: Arc<RoaringBitmap>) {
        let cost = bitmap.serialized_size();
        self.clauses.lock().insert((base, clause), bitmap, cost);
    }
}

impl Engine {
    /// Wraps an open store, loading (or building) the index of every segment.
    pub fn new(store: Store, opts: IndexOptions, catalogs: Catalogs) -> Result<Engine> {
        let indexer = Indexer::new(store.dir(), opts)?;
        let engine = Engine {
            store,
            indexer,
            catalogs,
            blocks: fetch::BlockCache::new(),
            clauses: Mutex::new(Lru::new(CLAUSE_CACHE_BYTES)),
        };
        engine.view()?;
        Ok(engine)
    }

    /// The store, for appends.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The catalogs names and categories resolve in.
    pub fn catalogs(&self) -> &Catalogs {
        &self.catalogs
    }

    /// The indexer.
    pub fn indexer(&self) -> &Indexer {
        &self.indexer
    }

    /// A consistent view of the store with its indexes caught up.
    pub fn view(&self) -> Result<IndexView> {
        Ok(self.indexer.view(self.store.snapshot())?)
    }

    /// Closes the store.
    pub fn close(self) -> Result<()> {
        Ok(self.store.close()?)
    }

    /// Hash binding cursors to the filters and order they were issued for.
    fn cursor_hash(filter: &Filter, order: Dir) -> u64 {
        plan::hash_debug(&(filter, order))
    }

    /// A cursor for `filter` and `order` that starts at `bound`: ascending, at seqs ≥ bound;
    /// descending, at seqs below it. For resuming from a known seq (a live stream's
    /// `Last-Event-ID`) rather than from an earlier page.
    pub fn cursor_at(filter: &Filter, order: Dir, bound: u64) -> String {
        Cursor {
            dir: order,
            bound,
            hash: Self::cursor_hash(filter, order),
        }
        .encode()
    }

    /// One page of matches.
    pub fn query(&self, q: &Query) -> Result<Page> {
        let view = self.view()?;
        self.query_in(q, &view, true)
            .map(|page| page.unwrap_or_default())
    }

    /// One page of matches if it can be answered from memory alone (indexes current, every
    /// event in a cache), without reading or writing any file; None otherwise. For callers
    /// that must not block on I/O, such as an async server's request threads.
    pub fn query_cached(&self, q: &Query) -> Option<Result<Page>> {
        let view = self.indexer.view_if_ready(self.store.snapshot())?;
        self.query_in(q, &view, false).transpose()
    }

    /// Calls `f` with every match of `filter` in seq order, one page of [`LIMIT_MAX`] at a
    /// time, so memory holds one page whatever the number of matches (exports). Stops at
    /// `f`'s first error.
    pub fn for_each<E: From<QueryError>>(
        &self,
        filter: &Filter,
        mut f: impl FnMut(u64, &Event) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let mut start = Start::First;
        loop {
            let page = self.query(&Query {
                filter: filter.clone(),
                order: Dir::Asc,
                limit: LIMIT_MAX,
                start,
            })?;
            for (seq, e) in &page.items {
                f(*seq, e)?;
            }
            match page.next_cursor {
                Some(c) if !page.items.is_empty() => start = Start::Cursor(c),
                _ => return Ok(()),
            }
        }
    }

    fn query_in(&self, q: &Query, view: &IndexView, io: bool) -> Result<Option<Page>> {
        if q.limit == 0 || q.limit > LIMIT_MAX {
            return Err(QueryError::BadLimit {
                max: LIMIT_MAX,
                got: q.limit,
            });
        }
        let plan = Plan::new(&q.filter, &self.indexer, &self.catalogs)?;
        let hash = Self::cursor_hash(&q.filter, q.order);
        let (dir, bound, skip, from_start) = match &q.start {
            Start::First => (q.order, None, 0, true),
            Start::Offset(n) => (q.order, None, *n, *n == 0),
            Start::Cursor(text) => {
                let c = Cursor::decode(text)?;
                if c.hash != hash {
                    return Err(QueryError::CursorMismatch);
                }
                (c.dir, Some(c.bound), 0, false)
            }
        };
        let Some(walk) = self.walk(view, &plan, dir, bound, skip, q.limit, io)? else {
            return Ok(None);
        };
        Ok(Some(page(
            walk, q.order, dir, bound, from_start, view, hash,
        )))
    }

    /// Walks matches from `bound` in `dir`, skipping `skip`, collecting up to `limit`; with
    /// `io` false, None as soon as an event is not in memory.
    #[allow(clippy::too_many_arguments)]
    fn walk(
        &self,
        view: &IndexView,
        plan: &Plan<'_>,
        dir: Dir,
        bound: Option<u64>,
        mut skip: u64,
        limit: usize,
        io: bool,
    ) -> Result<Option<Walk>> {
        let mut items = Vec::with_capacity(limit.min(1024));
        let segs: Box<dyn Iterator<Item = &IndexedSegment>> = match dir {
            Dir::Asc => Box::new(view.segments.iter()),
            Dir::Desc => Box::new(view.segments.iter().rev()),
        };
        for seg in segs {
            let mut cands = match (dir, bound) {
                (Dir::Asc, Some(b)) if seg.base + seg.count <= b => continue,
                (Dir::Desc, Some(b)) if seg.base >= b => continue,
                _ => plan.candidates(seg, self)?,
            };
            match (dir, bound) {
                (Dir::Asc, Some(b)) if b > seg.base => cands.remove_range(..(b - seg.base) as u32),
                (Dir::Desc, Some(b)) if b < seg.base + seg.count => {
                    cands.remove_range((b - seg.base) as u32..)
                }
                _ => 0,
            };
            if skip > 0 && !plan.residual {
                let n = cands.len();
                if skip >= n {
                    skip -= n;
                    continue;
                }
                // Position by select instead of visiting the skipped matches.
                let rank = if dir == Dir::Asc { skip } else { n - 1 - skip } as u32;
                if let Some(at) = cands.select(rank) {
                    match dir {
                        Dir::Asc => cands.remove_range(..at),
                        Dir::Desc => cands.remove_range(at + 1..),
                    };
                }
                skip = 0;
            }
            let ords: Box<dyn Iterator<Item = u32>> = match dir {
                Dir::Asc => Box::new(cands.iter()),
                Dir::Desc => Box::new(cands.iter().rev()),
            };
            let mut ords = ords.peekable();
            while ords.peek().is_some() {
                let want = if plan.residual {
                    RESIDUAL_BATCH
                } else {
                    limit - items.len()
                };
                let batch: Vec<u32> = ords.by_ref().take(want).collect();
                let Some(events) = self.blocks.fetch_with(&view.snapshot, seg, &batch, io)? else {
                    return Ok(None);
                };
                for (ord, e) in batch.into_iter().zip(events) {
                    if plan.residual && !plan.residual_matches(&e) {
                        continue;
                    }
                    if skip > 0 {
                        skip -= 1;
                        continue;
                    }
                    items.push((seg.base + u64::from(ord), e));
                    if items.len() == limit {
                        return Ok(Some(Walk {
                            items,
                            exhausted: false,
                        }));
                    }
                }
            }
        }
        Ok(Some(Walk {
            items,
            exhausted: true,
        }))
    }
}

/// What a walk found.
struct Walk {
    items: Vec<(u64, Arc<Event>)>,
    exhausted: bool,
}

/// Cursor after `last` continuing in `dir`.
fn after(dir: Dir, last: u64, hash: u64) -> Cursor {
    match dir {
        Dir::Asc => Cursor {
            dir,
            bound: last + 1,
            hash,
        },
        Dir::Desc => Cursor {
            dir,
            bound: last,
            hash,
        },
    }
}

/// Turns a walk into a page in the query's order with its cursors.
fn page(
    walk: Walk,
    order: Dir,
    dir: Dir,
    bound: Option<u64>,
    from_start: bool,
    view: &IndexView,
    hash: u64,
) -> Page {
    let start_bound = bound.unwrap_or(match dir {
        Dir::Asc => 0,
        Dir::Desc => view.snapshot.end(),
    });
    // Going on in the walk's direction, and going back the other way from where it began.
    let onward = walk.items.last().map_or(
        Cursor {
            dir,
            bound: start_bound,
            hash,
        },
        |(seq, _)| after(dir, *seq, hash),
    );
    let back = walk.items.first().map_or(
        Cursor {
            dir: dir.reverse(),
            bound: start_bound,
            hash,
        },
        |(seq, _)| after(dir.reverse(), *seq, hash),
    );
    // An ascending walk never ends: new events may come. A descending one ends at seq 0.
    let onward = (!walk.exhausted || dir == Dir::Asc).then_some(onward);
    let back = (!(from_start && dir == Dir::Asc && order == Dir::Asc)).then_some(back);
    let mut items = walk.items;
    let (next, prev) = if dir == order {
        (onward, back)
    } else {
        items.reverse();
        (back, onward)
    };
    Page {
        items,
        next_cursor: next.map(|c| c.encode()),
        prev_cursor: prev.map(|c| c.encode()),
    }
}
