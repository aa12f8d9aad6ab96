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

#[test]
fn an_id_re_sent_with_other_content_is_refused_by_line_id_and_seq() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    let with_id = |n: u32, actor: &str| {
        format!("{{\"id\":\"k-{n}\",\"created_at\":\"2026-01-05T10:00:{n:02}Z\",\"event_code\":202,\"actor_id\":\"{actor}\"}}\n")
    };
    let first: String = (0..4).map(|n| with_id(n, "ava")).collect();
    assert_eq!(run(&store, first.into_bytes(), 2).unwrap().stored, 4);
    // Line 1 is the same event again (a duplicate), line 3 is k-1 with another actor.
    let again = [
        with_id(0, "ava"),
        "\n".into(),
        with_id(1, "bob"),
        line(5, 9),
    ]
    .concat();
    match run(&store, again.into_bytes(), 10) {
        Err(IngestError::IdConflict { line, id, seq }) => {
            assert_eq!((line, &*id, seq), (3, "k-1", 1));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(store.len(), 4, "nothing of the refused batch is stored");
    let repeated = [line(5, 1), with_id(7, "ava"), with_id(7, "bob")].concat();
    match run(&store, repeated.into_bytes(), 10) {
        Err(IngestError::IdRepeated { line, first, id }) => {
            assert_eq!((line, first, &*id), (3, 2, "k-7"));
        }
        other => panic!("{other:?}"),
    }
    match run(
        &store,
        b"{\"event_code\":202,\"id\":\"annal:2\"}\n".to_vec(),
        10,
    ) {
        Err(IngestError::BadLine { line: 1, error }) => {
            assert_eq!(error.problems[0].field, "id");
            assert!(error.problems[0].msg.contains("reserved"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(store.len(), 4);
    store.close().unwrap();
}
