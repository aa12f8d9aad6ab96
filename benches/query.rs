//! Criterion benchmarks of the query engine on 200,000 generated events (90 days).
//! `cargo bench --bench query`. The full workload with SQLite in the same run is
//! `annal bench query`; see docs/benchmarks.md.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)] // criterion's macros make undocumented fns

use annal_gen::GenConfig;
use annal_index::IndexOptions;
use annal_model::{Catalogs, Field, IntField, TextField, Timestamp};
use annal_query::{codes_named, Clause, Dir, Engine, Filter, Query, Start};
use annal_storage::{Options, Store};
use criterion::{criterion_group, criterion_main, Criterion};

fn engine(dir: &std::path::Path) -> Engine {
    let store = Store::open(dir, Options::default()).unwrap();
    let events = annal_gen::events(GenConfig {
        count: 200_000,
        ..GenConfig::default()
    });
    for chunk in events.chunks(2000) {
        store.append(chunk).unwrap();
    }
    store.wait_sealed().unwrap();
    Engine::new(store, IndexOptions::default(), Catalogs::builtin()).unwrap()
}

fn queries(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    let catalogs = Catalogs::builtin();
    let day = |s: &str| Some(Timestamp::parse_date_or_time(s).unwrap());
    let failed = Filter {
        from: day("2026-02-01"),
        to: day("2026-03-03"),
        clauses: vec![Clause::Codes {
            codes: codes_named(&catalogs, "LoginFailed").unwrap(),
            negate: false,
        }],
        ..Filter::default()
    };
    let page = |filter: &Filter, order, limit| Query {
        filter: filter.clone(),
        order,
        limit,
        start: Start::First,
    };
    let mut g = c.benchmark_group("query");
    g.bench_function(
        "first page of 100, LoginFailed in 30 days, newest first",
        |b| {
            let q = page(&failed, Dir::Desc, 100);
            b.iter(|| engine.query(&q).unwrap())
        },
    );
    g.bench_function("count, LoginFailed in 30 days", |b| {
        b.iter(|| engine.count(&failed).unwrap())
    });
    g.bench_function("count by event_code, whole trail", |b| {
        b.iter(|| {
            engine
                .count_by(&Filter::default(), Field::Int(IntField::EventCode))
                .unwrap()
        })
    });
    let hour = Filter {
        from: day("2026-02-15T10:00:00Z"),
        to: day("2026-02-15T11:00:00Z"),
        ..Filter::default()
    };
    g.bench_function("one hour in order", |b| {
        let q = page(&hour, Dir::Asc, 10_000);
        b.iter(|| engine.query(&q).unwrap())
    });
    let failures = Filter::default()
        .with(Field::Text(TextField::Status), &["failure"])
        .with(Field::Text(TextField::Action), &["login"]);
    g.bench_function("offset page 50 of failed logins", |b| {
        let q = Query {
            start: Start::Offset(50 * 100),
            ..page(&failures, Dir::Desc, 100)
        };
        b.iter(|| engine.query(&q).unwrap())
    });
    g.finish();
}

criterion_group!(benches, queries);
criterion_main!(benches);
