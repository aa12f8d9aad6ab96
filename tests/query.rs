//! The query engine against a naive scan (the oracle): random events over several sealed
//! segments and the active one, random filters, both orders, random page sizes. Pages walked
//! by cursor, by offset and backwards must give exactly the scan's matches; counts, counts by
//! field and histograms must equal the scan's; also after reopening, with other index field
//! sets, and with appends between pages.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod support;

use std::collections::BTreeMap;

use annal_index::IndexOptions;
use annal_model::{Catalogs, Event, Field, IntField, TextField, Timestamp, NANOS_PER_DAY};
use annal_query::{
    codes_in_category, codes_named, Clause, Dir, Engine, Filter, GroupValue, Interval, Query, Start,
};
use annal_storage::{Options, SealOptions, Store};
use proptest::prelude::*;

const DAY0: i64 = 20_454 * NANOS_PER_DAY; // 2026-01-01

/// A compact description of one event; small domains so that filters hit.
#[derive(Clone, Debug)]
struct Spec {
    minute: i64,
    code: usize,
    source: usize,
    action: usize,
    status: usize,
    actor: usize,
    user: usize,
    path: usize,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        0i64..3 * 24 * 60,
        0usize..5,
        0usize..4,
        0usize..4,
        0usize..3,
        0usize..4,
        0usize..4,
        0usize..4,
    )
        .prop_map(
            |(minute, code, source, action, status, actor, user, path)| Spec {
                minute,
                code,
                source,
                action,
                status,
                actor,
                user,
                path,
            },
        )
}

fn event(s: &Spec) -> Event {
    let t = Timestamp(DAY0 + s.minute * 60_000_000_000 + 1_000_000 * s.user as i64);
    let mut e = Event::new(t, t);
    e.set_int(IntField::EventCode, Some([101, 202, 203, 300, 104][s.code]));
    let text = |v: &str| Some(Box::<str>::from(v));
    let source = [
        Some("file-transfer"),
        Some("privileged-access"),
        None,
        Some("billing"),
    ];
    e.set_text(TextField::Source, source[s.source].and_then(text));
    e.set_text(
        TextField::Action,
        text(["create", "update", "destroy", "login"][s.action]),
    );
    e.set_text(
        TextField::Status,
        [Some("success"), Some("failure"), None][s.status].and_then(text),
    );
    e.set_text(
        TextField::ActorId,
        text(["ava", "bo", "cy", "dee"][s.actor]),
    );
    if s.user < 3 {
        e.set_int(IntField::UserId, Some(s.user as i64 + 1000));
    }
    e.set_text(
        TextField::Path,
        text(["/api/login", "/api/Users/7", "/files/x", "/Login/sso"][s.path]),
    );
    e.set_text(TextField::HttpMethod, text(["GET", "POST"][s.path % 2]));
    e
}

/// A random filter: time range, clauses on indexed and unindexed fields, codes by name and
/// category, negations, free text.
#[derive(Clone, Debug)]
struct FilterSpec {
    from: Option<i64>,
    len: Option<i64>,
    clauses: Vec<(usize, usize, bool)>,
    q: Option<usize>,
}

fn filter_spec() -> impl Strategy<Value = FilterSpec> {
    (
        proptest::option::of(0i64..3 * 24 * 60),
        proptest::option::of(0i64..2 * 24 * 60),
        proptest::collection::vec((0usize..7, 0usize..4, proptest::bool::weighted(0.25)), 0..3),
        proptest::option::weighted(0.2, 0usize..3),
    )
        .prop_map(|(from, len, clauses, q)| FilterSpec {
            from,
            len,
            clauses,
            q,
        })
}

fn build_filter(f: &FilterSpec, catalogs: &Catalogs) -> Filter {
    let minute = |m: i64| Timestamp(DAY0 + m * 60_000_000_000);
    let mut filter = Filter {
        from: f.from.map(minute),
        to: f.len.map(|l| minute(f.from.unwrap_or(0) + l)),
        q: f.q
            .map(|i| ["login", "USERS", "loginfailed"][i].to_string()),
        ..Filter::default()
    };
    for &(kind, v, negate) in &f.clauses {
        let values = |field: Field, all: &[&str]| Clause::Values {
            field,
            values: vec![
                all[v % all.len()].to_string(),
                all[(v + 1) % all.len()].to_string(),
            ][..1 + v / 3]
                .to_vec(),
            negate,
        };
        filter.clauses.push(match kind {
            0 => values(
                Field::Text(TextField::Action),
                &["create", "update", "destroy", "login"],
            ),
            1 => values(
                Field::Text(TextField::Status),
                &["success", "failure", "nope"],
            ),
            2 => values(Field::Int(IntField::UserId), &["1000", "1001", "1002", "7"]),
            3 => values(
                Field::Int(IntField::EventCode),
                &["101", "202", "203", "300"],
            ),
            4 => values(Field::Text(TextField::HttpMethod), &["GET", "POST"]),
            5 => Clause::Codes {
                codes: codes_named(
                    catalogs,
                    ["LoginFailed", "Role-modified", "Logout", "UserChange"][v],
                )
                .unwrap(),
                negate,
            },
            _ => Clause::Codes {
                codes: codes_in_category(
                    catalogs,
                    ["Configuration", "user action", "Connections", "Account"][v],
                )
                .unwrap(),
                negate,
            },
        });
    }
    filter
}

fn open(dir: &std::path::Path, fields: &IndexOptions) -> Engine {
    let opts = Options {
        segment_bytes_max: 64 << 10,
        roll_daily: true,
        seal: SealOptions {
            block_events: 16,
            ..SealOptions::default()
        },
        ..Options::default()
    };
    let store = Store::open(dir, opts).unwrap();
    Engine::new(store, fields.clone(), Catalogs::builtin()).unwrap()
}

fn oracle(events: &[Event], filter: &Filter, catalogs: &Catalogs) -> Vec<u64> {
    (0..events.len() as u64)
        .filter(|&s| filter.matches(&events[s as usize], catalogs))
        .collect()
}

/// Every page by cursor, in `order`; pages must be `limit` long except the last.
fn walk(engine: &Engine, filter: &Filter, order: Dir, limit: usize) -> Vec<u64> {
    let mut start = Start::First;
    let mut seqs = Vec::new();
    loop {
        let q = Query {
            filter: filter.clone(),
            order,
            limit,
            start,
        };
        let page = engine.query(&q).unwrap();
        assert!(page.items.len() <= limit);
        let n = page.items.len();
        seqs.extend(page.items.iter().map(|(s, _)| *s));
        match page.next_cursor {
            Some(c) if n > 0 => start = Start::Cursor(c),
            _ => return seqs,
        }
    }
}

fn check(engine: &Engine, events: &[Event], filter: &Filter, limit: usize, catalogs: &Catalogs) {
    let want = oracle(events, filter, catalogs);
    assert_eq!(
        engine.count(filter).unwrap(),
        want.len() as u64,
        "count of {filter:?}"
    );
    assert_eq!(
        walk(engine, filter, Dir::Asc, limit),
        want,
        "ascending walk of {filter:?}"
    );
    let mut rev = want.clone();
    rev.reverse();
    assert_eq!(
        walk(engine, filter, Dir::Desc, limit),
        rev,
        "descending walk of {filter:?}"
    );
    // Offset pages, and the previous page of each page.
    for (order, list) in [(Dir::Asc, &want), (Dir::Desc, &rev)] {
        for page_no in 0..=list.len() / limit {
            let q = Query {
                filter: filter.clone(),
                order,
                limit,
                start: Start::Offset((page_no * limit) as u64),
            };
            let page = engine.query(&q).unwrap();
            let got: Vec<u64> = page.items.iter().map(|(s, _)| *s).collect();
            let lo = (page_no * limit).min(list.len());
            assert_eq!(
                got,
                list[lo..(lo + limit).min(list.len())],
                "offset page {page_no} {order:?}"
            );
            if page_no > 0 && !got.is_empty() {
                let prev = page
                    .prev_cursor
                    .expect("a page after the first has a previous page");
                let q = Query {
                    start: Start::Cursor(prev),
                    ..q
                };
                let back: Vec<u64> = engine
                    .query(&q)
                    .unwrap()
                    .items
                    .iter()
                    .map(|(s, _)| *s)
                    .collect();
                assert_eq!(
                    back,
                    list[lo - limit..lo],
                    "previous page of offset page {page_no} {order:?}"
                );
            }
        }
    }
    // Counts by field and histograms from the indexes equal counting the matches.
    for field in GROUPED {
        check_groups(engine, events, &want, filter, field);
    }
    for (interval, by) in [
        (Interval::Hour, Some(Field::Int(IntField::UserId))),
        (Interval::Day, Some(Field::Int(IntField::EventCode))),
        (Interval::Minute, Some(Field::Text(TextField::Action))),
        (Interval::Day, Some(Field::Text(TextField::HttpMethod))),
        (Interval::Hour, None),
    ] {
        check_histogram(engine, events, &want, filter, interval, by);
    }
}

/// Fields counted by value: indexed or not (depending on the index options), text and
/// integer.
const GROUPED: [Field; 5] = [
    Field::Text(TextField::Action),
    Field::Text(TextField::Status),
    Field::Int(IntField::EventCode),
    Field::Int(IntField::UserId),
    Field::Text(TextField::HttpMethod),
];

/// The value of `field` in `e`, typed as the engine groups it.
fn group_value(e: &Event, field: Field) -> Option<GroupValue> {
    match field {
        Field::Int(f) => e.int(f).map(GroupValue::Int),
        Field::Text(f) => e.text(f).map(|v| GroupValue::Text(v.to_string())),
        _ => None,
    }
}

/// `group_by` against counting the matches `want` of a linear scan.
fn check_groups(engine: &Engine, events: &[Event], want: &[u64], filter: &Filter, field: Field) {
    let mut by: BTreeMap<GroupValue, u64> = BTreeMap::new();
    for &s in want {
        if let Some(v) = group_value(&events[s as usize], field) {
            *by.entry(v).or_default() += 1;
        }
    }
    let got = engine.group_by(filter, field, usize::MAX).unwrap();
    let what = format!("group by {} of {filter:?}", field.name());
    assert_eq!(got.count, want.len() as u64, "{what}: count");
    assert_eq!(got.distinct, by.len() as u64, "{what}: distinct");
    // Largest first, ties in value order: the oracle's map sorted so.
    let mut order: Vec<(GroupValue, u64)> = by.into_iter().collect();
    order.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    assert_eq!(got.groups, order, "{what}");
    let top = engine.group_by(filter, field, 2).unwrap();
    assert_eq!(top.groups, order[..order.len().min(2)], "{what}: limit 2");
    assert_eq!((top.count, top.distinct), (got.count, got.distinct));
    let text: Vec<(String, u64)> = order.iter().map(|(v, n)| (v.to_string(), *n)).collect();
    assert_eq!(
        engine.count_by(filter, field).unwrap(),
        text,
        "{what}: count_by"
    );
}

/// A histogram against putting each match `want` of a linear scan in its bucket.
fn check_histogram(
    engine: &Engine,
    events: &[Event],
    want: &[u64],
    filter: &Filter,
    interval: Interval,
    by: Option<Field>,
) {
    type Split = BTreeMap<String, u64>;
    let mut hist: BTreeMap<i64, (u64, Split)> = BTreeMap::new();
    let width = interval.nanos();
    for &s in want {
        let e = &events[s as usize];
        let b = hist
            .entry(e.created_at.0.div_euclid(width) * width)
            .or_default();
        b.0 += 1;
        if let Some(v) = by.and_then(|f| group_value(e, f)) {
            *b.1.entry(v.to_string()).or_default() += 1;
        }
    }
    let buckets = engine.histogram(filter, interval, by).unwrap();
    for b in &buckets {
        assert!(
            b.by.windows(2).all(|w| w[0].1 >= w[1].1),
            "split largest first"
        );
    }
    let got: BTreeMap<i64, (u64, Split)> = buckets
        .into_iter()
        .map(|b| (b.start.0, (b.count, b.by.into_iter().collect())))
        .collect();
    assert_eq!(got, hist, "{interval:?} histogram by {by:?} of {filter:?}");
}

fn index_options(which: usize) -> IndexOptions {
    match which {
        0 => IndexOptions::default(),
        // No source: code names and categories have to be checked on the events.
        1 => IndexOptions::with_fields(&["event_code", "action", "status"]).unwrap(),
        _ => IndexOptions::with_fields::<&str>(&[]).unwrap(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn pages_counts_and_histograms_equal_a_scan(
        mut specs in proptest::collection::vec(spec(), 1..500),
        filters in proptest::collection::vec(filter_spec(), 6),
        limits in proptest::collection::vec(1usize..40, 6),
        fields in 0usize..3,
        sorted in proptest::bool::ANY,
    ) {
        if sorted {
            specs.sort_by_key(|s| s.minute);
        }
        let catalogs = Catalogs::builtin();
        let dir = tempfile::tempdir().unwrap();
        let opts = index_options(fields);
        let engine = open(dir.path(), &opts);
        let events: Vec<Event> = specs.iter().map(event).collect();
        // Several appends so that several segments roll and seal; the last stays active.
        for chunk in events.chunks(events.len().div_ceil(4)) {
            engine.store().append(chunk).unwrap();
        }
        engine.store().wait_sealed().unwrap();
        for (f, &limit) in filters.iter().zip(&limits) {
            check(&engine, &events, &build_filter(f, &catalogs), limit, &catalogs);
        }
        engine.close().unwrap();
        // Reopened: index files loaded (or rebuilt) and the active segment's index recovered.
        let engine = open(dir.path(), &opts);
        for (f, &limit) in filters.iter().zip(&limits).take(2) {
            check(&engine, &events, &build_filter(f, &catalogs), limit, &catalogs);
        }
    }

    #[test]
    fn appends_between_pages_neither_lose_nor_repeat_events(
        specs in proptest::collection::vec(spec(), 1..300),
        more in proptest::collection::vec(spec(), 1..200),
        filter in filter_spec(),
        limit in 1usize..30,
    ) {
        let catalogs = Catalogs::builtin();
        let dir = tempfile::tempdir().unwrap();
        let engine = open(dir.path(), &IndexOptions::default());
        let mut events: Vec<Event> = specs.iter().map(event).collect();
        engine.store().append(&events).unwrap();
        let filter = build_filter(&filter, &catalogs);
        let before = oracle(&events, &filter, &catalogs);
        let extra: Vec<Event> = more.iter().map(event).collect();
        let mut got = BTreeMap::new();
        for order in [Dir::Asc, Dir::Desc] {
            let mut start = Start::First;
            let mut seqs = Vec::new();
            let mut appended = false;
            loop {
                let q = Query { filter: filter.clone(), order, limit, start };
                let page = engine.query(&q).unwrap();
                let n = page.items.len();
                seqs.extend(page.items.iter().map(|(s, _)| *s));
                let appended_now = order == Dir::Asc && !appended;
                if appended_now {
                    // New events arrive after the first page of the ascending walk.
                    engine.store().append(&extra).unwrap();
                    events.extend(extra.iter().cloned());
                    appended = true;
                }
                match page.next_cursor {
                    Some(c) if n > 0 || appended_now => start = Start::Cursor(c),
                    Some(c) if order == Dir::Asc => {
                        // Tailing: the cursor past the newest event returns nothing more.
                        let q = Query { filter: filter.clone(), order, limit, start: Start::Cursor(c.clone()) };
                        let again = engine.query(&q).unwrap();
                        prop_assert!(again.items.is_empty());
                        prop_assert_eq!(again.next_cursor, Some(c));
                        break;
                    }
                    _ => break,
                }
            }
            got.insert(format!("{order:?}"), seqs);
        }
        let after = oracle(&events, &filter, &catalogs);
        prop_assert_eq!(&got["Asc"], &after, "ascending walk sees everything appended before its end");
        let mut rev = after.clone();
        rev.reverse();
        prop_assert_eq!(&got["Desc"], &rev);
        prop_assert!(after.len() >= before.len());
    }
}

#[test]
fn a_cursor_is_bound_to_its_filter_and_order() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), &IndexOptions::default());
    let specs: Vec<Spec> = (0..50)
        .map(|i| Spec {
            minute: i,
            code: 1,
            source: 0,
            action: i as usize % 4,
            status: 0,
            actor: 0,
            user: 0,
            path: 0,
        })
        .collect();
    engine
        .store()
        .append(&specs.iter().map(event).collect::<Vec<_>>())
        .unwrap();
    let filter = Filter::default().with(Field::Text(TextField::Action), &["login"]);
    let q = Query {
        filter: filter.clone(),
        order: Dir::Asc,
        limit: 5,
        start: Start::First,
    };
    let page = engine.query(&q).unwrap();
    let cursor = page.next_cursor.unwrap();
    let other = Query {
        filter: Filter::default(),
        start: Start::Cursor(cursor.clone()),
        ..q.clone()
    };
    assert!(matches!(
        engine.query(&other),
        Err(annal_query::QueryError::CursorMismatch)
    ));
    let flipped = Query {
        order: Dir::Desc,
        start: Start::Cursor(cursor),
        ..q.clone()
    };
    assert!(matches!(
        engine.query(&flipped),
        Err(annal_query::QueryError::CursorMismatch)
    ));
    let garbage = Query {
        start: Start::Cursor("not a cursor!".into()),
        ..q.clone()
    };
    assert!(matches!(
        engine.query(&garbage),
        Err(annal_query::QueryError::BadCursor(_))
    ));
    let too_big = Query {
        limit: annal_query::LIMIT_MAX + 1,
        ..q
    };
    assert!(matches!(
        engine.query(&too_big),
        Err(annal_query::QueryError::BadLimit { .. })
    ));
    let bad_value = Filter::default().with(Field::Int(IntField::UserId), &["seven"]);
    assert!(engine.count(&bad_value).is_err());
}

/// The seed systems' queries on generated data: each equals the scan, finds something, and
/// every event it returns has the asked-for properties.
#[test]
fn seed_queries_on_generated_data() {
    let catalogs = Catalogs::builtin();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    let events = annal_gen::events(annal_gen::GenConfig {
        count: 30_000,
        ..annal_gen::GenConfig::default()
    });
    for chunk in events.chunks(2000) {
        store.append(chunk).unwrap();
    }
    store.wait_sealed().unwrap();
    let engine = Engine::new(store, IndexOptions::default(), Catalogs::builtin()).unwrap();
    let day = |s: &str| Some(Timestamp::parse_date_or_time(s).unwrap());
    let codes = |c: Vec<(String, i64)>| Clause::Codes {
        codes: c,
        negate: false,
    };
    let user = engine
        .count_by(&Filter::default(), Field::Int(IntField::UserId))
        .unwrap()[0]
        .0
        .clone();
    let seeds = [
        (
            "Configuration on or after 2026-02-15",
            Filter {
                from: day("2026-02-15"),
                clauses: vec![codes(
                    codes_in_category(&catalogs, "configuration").unwrap(),
                )],
                ..Filter::default()
            },
            Dir::Asc,
        ),
        (
            "Transfer between 2026-01-10 and 2026-02-10",
            Filter {
                from: day("2026-01-10"),
                to: day("2026-02-10"),
                clauses: vec![codes(codes_in_category(&catalogs, "Transfer").unwrap())],
                ..Filter::default()
            },
            Dir::Asc,
        ),
        (
            "LoginFailed on or after 2026-03-01, paged to the end",
            Filter {
                from: day("2026-03-01"),
                clauses: vec![codes(codes_named(&catalogs, "Login Failed").unwrap())],
                ..Filter::default()
            },
            Dir::Asc,
        ),
        (
            "create/update/destroy between two dates, newest first",
            Filter {
                from: day("2026-02-01"),
                to: day("2026-02-08"),
                ..Filter::default()
            }
            .with(
                Field::Text(TextField::Action),
                &["create", "update", "destroy"],
            ),
            Dir::Desc,
        ),
        (
            "a user's failures, newest first",
            Filter::default()
                .with(Field::Int(IntField::UserId), &[&user])
                .with(Field::Text(TextField::Status), &["failure"]),
            Dir::Desc,
        ),
    ];
    for (name, filter, order) in seeds {
        let mut want = oracle(&events, &filter, &catalogs);
        if order == Dir::Desc {
            want.reverse();
        }
        assert!(
            want.len() > 10,
            "{name}: the generated data should hold matches"
        );
        let got = walk(&engine, &filter, order, 100);
        assert_eq!(got, want, "{name}");
        assert_eq!(engine.count(&filter).unwrap(), want.len() as u64, "{name}");
    }
    // Spot checks of what the names mean, independent of `Filter::matches`.
    let failed = Filter {
        from: day("2026-03-01"),
        clauses: vec![codes(codes_named(&catalogs, "LoginFailed").unwrap())],
        ..Filter::default()
    };
    for seq in walk(&engine, &failed, Dir::Asc, 1000) {
        let e = &events[seq as usize];
        assert_eq!(e.int(IntField::EventCode), Some(202));
        assert_ne!(e.text(TextField::Source), Some("privileged-access"));
        assert!(e.created_at >= day("2026-03-01").unwrap());
    }
}

/// `query_cached` answers from memory only: None when a file would be read (cold caches, an
/// index not caught up with appends), else exactly what `query` answers.
#[test]
fn cached_queries_answer_from_memory_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), &IndexOptions::default());
    let specs: Vec<Spec> = (0..2000)
        .map(|i| Spec {
            minute: i,
            code: i as usize % 5,
            source: 0,
            action: i as usize % 4,
            status: i as usize % 3,
            actor: 0,
            user: 0,
            path: 0,
        })
        .collect();
    let events: Vec<Event> = specs.iter().map(event).collect();
    for chunk in events.chunks(500) {
        engine.store().append(chunk).unwrap();
    }
    engine.store().wait_sealed().unwrap();
    engine.close().unwrap();
    let engine = open(dir.path(), &IndexOptions::default());
    let q = Query {
        filter: Filter::default().with(Field::Text(TextField::Action), &["login"]),
        order: Dir::Asc,
        limit: 50,
        start: Start::First,
    };
    assert!(
        engine.query_cached(&q).is_none(),
        "nothing is cached after opening"
    );
    let page = engine.query(&q).unwrap();
    let cached = engine
        .query_cached(&q)
        .expect("the same page again is in memory")
        .unwrap();
    let seqs = |p: &annal_query::Page| p.items.iter().map(|(s, _)| *s).collect::<Vec<_>>();
    assert_eq!(seqs(&cached), seqs(&page));
    assert_eq!(cached.next_cursor, page.next_cursor);
    engine.store().append(&events[..10]).unwrap();
    assert!(
        engine.query_cached(&q).is_none(),
        "the index of the new events is not built yet"
    );
    let bad = Query { limit: 0, ..q };
    engine
        .query(&Query {
            limit: 1,
            ..bad.clone()
        })
        .unwrap();
    assert!(matches!(engine.query_cached(&bad), Some(Err(_))));
}
