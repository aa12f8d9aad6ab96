use annal_model::Catalogs;
use annal_storage::{Options, Store};

use crate::{ingest, IngestError, Ingested, LINE_BYTES_MAX};

fn line(day: u32, n: u32) -> String {
    format!("{{\"created_at\":\"2026-01-{day:02}T10:00:{n:02}Z\",\"event_code\":202,\"source\":\"file-transfer\",\"actor_id\":\"a{n}\"}}\n")
}

fn run(store: &Store, input: Vec<u8>, batch: usize) -> crate::Result<Ingested> {
    ingest(
        store,
        std::io::Cursor::new(input),
        &Catalogs::builtin(),
        batch,
        &|_| {},
    )
}

#[test]
fn a_bad_line_stores_every_batch_before_its_own_and_nothing_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    let mut input: String = (0..5).map(|n| line(5, n)).collect();
    input.push_str("{\"user_id\":\"not a number\",\"event_code\":202}\n");
    input.push_str(&line(5, 7));
    match run(&store, input.into_bytes(), 2) {
        Err(IngestError::BadLine { line, .. }) => assert_eq!(line, 6),
        other => panic!("{other:?}"),
    }
    // Batches [1, 2] and [3, 4] are stored, [5, 6] is not, 7 was never appended.
    assert_eq!(store.len(), 4);
    store.close().unwrap();
}

#[test]
fn a_batch_crossing_midnight_is_appended_per_day_so_segments_roll_at_the_day() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    let input: String = [line(5, 1), line(5, 2), line(6, 3), line(6, 4)].concat();
    let done = run(&store, input.into_bytes(), 4096).unwrap();
    assert_eq!(
        done,
        Ingested {
            stored: 4,
            duplicates: 0
        }
    );
    let segments = store.snapshot().segments();
    assert_eq!(segments.len(), 2, "{segments:?}");
    assert_eq!(segments[0].count, 2);
    store.close().unwrap();
}

#[test]
fn a_byte_order_mark_and_blank_lines_are_skipped_and_seq_order_is_line_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    let mut input = b"\xef\xbb\xbf".to_vec();
    for n in 0..50 {
        input.extend_from_slice(line(5, n % 60).as_bytes());
        input.extend_from_slice(b"  \r\n");
    }
    let done = run(&store, input, 3).unwrap();
    assert_eq!(done.stored, 50);
    let snap = store.snapshot();
    for seq in 0..50 {
        let e = snap.get(seq).unwrap();
        assert_eq!(
            e.text(annal_model::TextField::ActorId),
            Some(format!("a{}", seq % 60).as_str())
        );
    }
    drop(snap);
    store.close().unwrap();
}

#[test]
fn a_line_over_the_limit_is_refused_by_number() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    let mut input = line(5, 1).into_bytes();
    input.extend(std::iter::repeat_n(b' ', LINE_BYTES_MAX + 1));
    match run(&store, input, 4096) {
        Err(IngestError::LineTooLong { line }) => assert_eq!(line, 2),
        other => panic!("{other:?}"),
    }
    store.close().unwrap();
}
