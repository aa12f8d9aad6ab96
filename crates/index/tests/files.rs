//! Index files against the segments they are built from: what a file answers equals what an
//! index built in memory from the segment answers; damaged, truncated, foreign or stale files
//! are rebuilt, never trusted.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::Path;
use std::sync::Arc;

use annal_gen::GenConfig;
use annal_index::{build_from_sealed, IndexOptions, IndexView, Indexer, SegmentIndex, INDEX_DIR};
use annal_storage::{Options, SealOptions, Store};
use parking_lot::RwLock;

fn store(dir: &Path) -> Store {
    let opts = Options {
        segment_bytes_max: 256 << 10,
        seal: SealOptions {
            block_events: 100,
            ..SealOptions::default()
        },
        ..Options::default()
    };
    let store = Store::open(dir, opts).unwrap();
    if store.is_empty() {
        let events = annal_gen::events(GenConfig {
            count: 6000,
            days: 4,
            ..GenConfig::default()
        });
        for chunk in events.chunks(500) {
            store.append(chunk).unwrap();
        }
        store.wait_sealed().unwrap();
    }
    store
}

/// Every answer of every segment's index equals the answer of an index built afresh.
fn assert_matches_rebuilt(view: &IndexView, opts: &IndexOptions) {
    let sealed: Vec<_> = view
        .segments
        .iter()
        .filter(|s| s.sealed.is_some())
        .collect();
    assert!(sealed.len() >= 3, "the test needs several sealed segments");
    for seg in sealed {
        assert!(
            matches!(seg.index, SegmentIndex::File(_)),
            "sealed segments have files"
        );
        let fresh = build_from_sealed(seg.sealed.as_ref().unwrap(), &opts.fields).unwrap();
        let fresh = SegmentIndex::Mem(Arc::new(RwLock::new(fresh)));
        let n = seg.count;
        assert_eq!(seg.index.time_bounds(), fresh.time_bounds());
        let (lo, hi) = fresh.time_bounds().unwrap();
        let mid = lo + (hi - lo) / 3;
        assert_eq!(
            seg.index.time_range(mid, hi, n).unwrap(),
            fresh.time_range(mid, hi, n).unwrap()
        );
        for width in [60_000_000_000, 3_600_000_000_000] {
            assert_eq!(
                seg.index.bucket_runs(width, n).unwrap(),
                fresh.bucket_runs(width, n).unwrap(),
                "time buckets of {width} ns"
            );
        }
        for pos in 0..opts.fields.len() {
            let mut want = fresh.value_counts(pos, n).unwrap();
            want.sort();
            assert_eq!(seg.index.value_counts(pos, n).unwrap(), want, "field {pos}");
            for (key, count) in want.iter().take(50) {
                let p = seg.index.postings(pos, key, n).unwrap();
                assert_eq!(p, fresh.postings(pos, key, n).unwrap());
                assert_eq!(p.len(), *count);
                assert_eq!(seg.index.count_hint(pos, key).unwrap_or(*count), *count);
            }
            assert!(seg
                .index
                .postings(pos, b"no such value", n)
                .unwrap()
                .is_empty());
        }
    }
}

fn idx_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir.join(INDEX_DIR))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "idx"))
        .collect();
    v.sort();
    v
}

fn view(dir: &Path, store: &Store, opts: &IndexOptions) -> IndexView {
    Indexer::new(dir, opts.clone())
        .unwrap()
        .view(store.snapshot())
        .unwrap()
}

#[test]
fn files_answer_like_a_fresh_build_and_damage_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let opts = IndexOptions::default();
    assert_matches_rebuilt(&view(dir.path(), &store, &opts), &opts);
    let files = idx_files(dir.path());
    let pristine: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).unwrap()).collect();

    // One bit flipped anywhere (header, directory, sections), a truncation, another
    // segment's file, a missing file: each is rebuilt to the same bytes.
    let len = pristine[1].len();
    for at in [10, 70, 64 + 48 * 3, len / 2, len - 1] {
        let mut bad = pristine[1].clone();
        bad[at] ^= 0x10;
        std::fs::write(&files[1], &bad).unwrap();
        assert_matches_rebuilt(&view(dir.path(), &store, &opts), &opts);
        assert_eq!(
            std::fs::read(&files[1]).unwrap(),
            pristine[1],
            "bit {at} flipped: rebuilt"
        );
    }
    std::fs::write(&files[1], &pristine[1][..len / 3]).unwrap();
    std::fs::copy(&files[2], &files[0]).unwrap();
    std::fs::remove_file(&files[3]).unwrap();
    assert_matches_rebuilt(&view(dir.path(), &store, &opts), &opts);
    for (p, want) in files.iter().zip(&pristine) {
        assert_eq!(&std::fs::read(p).unwrap(), want, "{} rebuilt", p.display());
    }

    // Another field list: files are rebuilt for it.
    let fewer = IndexOptions::with_fields(&["status", "event_code"]).unwrap();
    assert_matches_rebuilt(&view(dir.path(), &store, &fewer), &fewer);
    assert!(std::fs::read(&files[0]).unwrap().len() < pristine[0].len());
}

#[test]
fn only_text_and_integer_fields_can_be_indexed() {
    assert!(IndexOptions::with_fields(&["created_at"]).is_err());
    assert!(IndexOptions::with_fields(&["latency_ms"]).is_err());
    assert!(IndexOptions::with_fields(&["nonsense"]).is_err());
    assert_eq!(
        IndexOptions::with_fields(&["status", "status"])
            .unwrap()
            .fields
            .len(),
        1
    );
}

/// An in-memory index caught up past a view answers that view's value counts for the
/// records the view sees, not for every record it holds.
#[test]
fn memory_value_counts_stop_at_the_view() {
    let opts = IndexOptions::default();
    let events = annal_gen::events(GenConfig {
        count: 300,
        ..GenConfig::default()
    });
    let mut mem = annal_index::MemIndex::new(0, &opts.fields);
    events.iter().for_each(|e| mem.push(e));
    let index = SegmentIndex::Mem(Arc::new(RwLock::new(mem)));
    let code = opts
        .fields
        .iter()
        .position(|f| f.name() == "event_code")
        .unwrap();
    for limit in [0u64, 1, 64, 150, 300, 1000] {
        let mut want: std::collections::BTreeMap<Box<[u8]>, u64> = Default::default();
        for e in events.iter().take(limit as usize) {
            if let Some(k) = annal_index::event_key(e, opts.fields[code]) {
                *want.entry(k).or_default() += 1;
            }
        }
        let got: std::collections::BTreeMap<Box<[u8]>, u64> = index
            .value_counts(code, limit)
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(got, want, "limit {limit}");
    }
}
