//! Criterion benchmarks of the storage hot paths. `cargo bench --bench storage`.
//! Whole-system figures (producers × batch sizes, ingest, SQLite ratio) come from
//! `annal bench ingest` and `annal bench seal`; see docs/benchmarks.md.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)] // criterion's macros make undocumented fns

use std::time::Duration;

use annal_gen::GenConfig;
use annal_model::{decode_record, encode_record, Catalogs, Event, IngestContext};
use annal_storage::{decode_block, encode_block, Options, Store};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

fn events(n: u64) -> Vec<Event> {
    annal_gen::events(GenConfig {
        count: n,
        days: 1,
        ..GenConfig::default()
    })
}

fn record_codec(c: &mut Criterion) {
    let e = events(1).remove(0);
    let mut bytes = Vec::new();
    encode_record(&e, &mut bytes);
    let mut g = c.benchmark_group("record");
    g.throughput(Throughput::Elements(1));
    g.bench_function("encode", |b| {
        let mut out = Vec::with_capacity(1024);
        b.iter(|| {
            out.clear();
            encode_record(&e, &mut out);
        })
    });
    g.bench_function("decode", |b| b.iter(|| decode_record(&bytes).unwrap()));
    g.finish();
}

fn json_validation(c: &mut Criterion) {
    let mut line = Vec::new();
    annal_gen::Generator::new(GenConfig {
        count: 1,
        ..GenConfig::default()
    })
    .write_next(&mut line);
    let catalogs = Catalogs::builtin();
    let ctx = IngestContext::live(&catalogs);
    let mut g = c.benchmark_group("event");
    g.throughput(Throughput::Bytes(line.len() as u64));
    g.bench_function("from_json", |b| {
        b.iter(|| Event::from_json(&line, &ctx).unwrap())
    });
    g.finish();
}

fn block_codec(c: &mut Criterion) {
    let block = events(4096);
    let mut raw = Vec::new();
    encode_block(&block, &mut raw);
    let compressed = zstd::bulk::compress(&raw, 3).unwrap();
    let mut g = c.benchmark_group("block_4096");
    g.throughput(Throughput::Elements(4096));
    g.bench_function("encode_columns", |b| {
        let mut out = Vec::new();
        b.iter(|| {
            out.clear();
            encode_block(&block, &mut out);
        })
    });
    g.bench_function("decode_columns", |b| b.iter(|| decode_block(&raw).unwrap()));
    g.bench_function("decompress_and_decode", |b| {
        b.iter(|| decode_block(&zstd::bulk::decompress(&compressed, raw.len()).unwrap()).unwrap())
    });
    g.finish();
}

fn durable_append(c: &mut Criterion) {
    let pool = events(100_000);
    let mut g = c.benchmark_group("durable_append_1_producer");
    g.sample_size(20).measurement_time(Duration::from_secs(4));
    for batch in [1usize, 100, 1000] {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            dir.path(),
            Options {
                roll_daily: false,
                ..Options::default()
            },
        )
        .unwrap();
        let mut at = 0;
        g.throughput(Throughput::Elements(batch as u64));
        g.bench_function(format!("batch_{batch}"), |b| {
            b.iter_batched(
                || {
                    at = (at + batch) % (pool.len() - batch);
                    &pool[at..at + batch]
                },
                |chunk| store.append(chunk).unwrap(),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    record_codec,
    json_validation,
    block_codec,
    durable_append
);
criterion_main!(benches);
