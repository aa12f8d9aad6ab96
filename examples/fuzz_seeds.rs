//! Writes the seed corpora of the fuzz targets (`fuzz/corpus/<target>/seed-*`): real files,
//! notes, proofs, cursors and query strings made by the crates themselves, each checked to
//! be accepted by the function its target fuzzes.
//!
//! ```sh
//! cargo run --example fuzz_seeds            # into fuzz/corpus
//! cargo run --example fuzz_seeds -- DIR     # elsewhere
//! ```
//!
//! The stores are built in temporary directories; the output is the same on every run except
//! where time enters (received times, hence record bytes, roots, notes and proofs).

use std::path::{Path, PathBuf};

use annal_gen::GenConfig;
use annal_index::{Expected, IndexFile, IndexOptions, INDEX_DIR};
use annal_integrity::json::{ConsistencyJson, InclusionJson};
use annal_integrity::{
    encode_tiles, parse_log, parse_tiles, Checkpoint, Notary, NoteSigner, CHECKPOINT_LOG_FILE,
    TILES_FILE,
};
use annal_model::{encode_record, Catalogs, Event, Timestamp};
use annal_query::{Cursor, Dir, Engine, Filter, Query, Start};
use annal_storage::{OsFs, SealOptions, SealedSegment, Store};

/// The key the `checkpoint_note` target verifies with (a test key, published on purpose).
const FUZZ_PRIVATE_KEY: &str =
    "PRIVATE+KEY+annal-fuzz+a0853ebf+AUHnyT7PIcOUlw5+Jn3up48f+BOwPEDeKeSTxnLqELGJ";
/// Largest seed written: libFuzzer mutates small inputs best.
const SEED_BYTES_MAX: usize = 64 << 10;

type Res<T = ()> = Result<T, Box<dyn std::error::Error>>;

struct Out(PathBuf);

impl Out {
    fn put(&self, target: &str, name: &str, bytes: impl AsRef<[u8]>) -> Res {
        let bytes = bytes.as_ref();
        if bytes.len() > SEED_BYTES_MAX {
            return Err(format!("{target}/seed-{name}: {} bytes", bytes.len()).into());
        }
        let dir = self.0.join(target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(format!("seed-{name}")), bytes)?;
        println!("{target}/seed-{name}: {} bytes", bytes.len());
        Ok(())
    }
}

/// Generated events, every third with an id (so sealed segments have an id table).
fn events(seed: u64, count: u64, days: u32) -> Vec<Event> {
    let mut events = annal_gen::events(GenConfig {
        seed,
        days,
        count,
        ..GenConfig::default()
    });
    for (i, e) in events.iter_mut().enumerate() {
        if i % 3 == 1 {
            e.id = Some(format!("evt-{i}").into());
        }
    }
    events
}

fn main() -> Res {
    let out = Out(std::env::args_os().nth(1).map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus"),
        PathBuf::from,
    ));
    let evs = events(7, 40, 1);
    record_and_block_seeds(&out, &evs)?;
    segment_and_index_seeds(&out)?;
    integrity_seeds(&out)?;
    http_query_seeds(&out)?;
    Ok(())
}

/// `record_decode`, `block_decode`, `wal_scan`.
fn record_and_block_seeds(out: &Out, evs: &[Event]) -> Res {
    for (name, e) in [
        ("login-failed", &evs[0]),
        ("with-id", &evs[1]),
        ("third", &evs[2]),
    ] {
        let mut bytes = Vec::new();
        encode_record(e, &mut bytes);
        assert_eq!(&annal_model::decode_record(&bytes)?, e);
        out.put("record_decode", name, &bytes)?;
    }
    let minimal = Event::new(Timestamp(1), Timestamp(2));
    let mut bytes = Vec::new();
    encode_record(&minimal, &mut bytes);
    out.put("record_decode", "minimal", &bytes)?;
    for (name, n) in [("one", 1), ("eight", 8), ("forty", 40)] {
        let mut bytes = Vec::new();
        annal_storage::encode_block(&evs[..n], &mut bytes);
        assert_eq!(annal_storage::decode_block(&bytes)?.len(), n);
        out.put("block_decode", name, &bytes)?;
    }
    // An active segment: the write-ahead log of a store that has not rolled.
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), Default::default())?;
    for chunk in evs.chunks(10) {
        store.append(chunk)?;
    }
    store.close()?;
    let wal = std::fs::read(dir.path().join(format!("{:020}.wal", 0)))?;
    let scan = annal_storage::wal::scan(&wal).map_err(|d| format!("{d:?}"))?;
    assert_eq!(scan.record_offsets.len(), evs.len());
    out.put("wal_scan", "four-batches", &wal)?;
    out.put("wal_scan", "torn-tail", &wal[..wal.len() - 7])?;
    Ok(())
}

/// `sealed_segment`, `index_file`, `cursor_decode`: a store of small sealed segments (small
/// blocks, so several per segment) with their index files, and cursors of real pages.
fn segment_and_index_seeds(out: &Out) -> Res {
    let dir = tempfile::tempdir()?;
    let opts = annal_storage::Options {
        segment_bytes_max: annal_storage::SEGMENT_BYTES_MIN,
        seal: SealOptions {
            block_events: 64,
            ..SealOptions::default()
        },
        ..Default::default()
    };
    let store = Store::open(dir.path(), opts)?;
    // A day before the others: the first segment holds this one event.
    let mut first = events(11, 1, 1);
    first[0].created_at = Timestamp(GenConfig::default().start.0 - annal_model::NANOS_PER_DAY);
    store.append(&first)?;
    let evs = events(12, 600, 3);
    for chunk in evs.chunks(50) {
        store.append(chunk)?;
    }
    store.wait_sealed()?;
    let engine = Engine::new(store, IndexOptions::default(), Catalogs::builtin())?;
    let snap = engine.store().snapshot();
    let sealed = snap.sealed();
    assert!(sealed.len() >= 3, "{} sealed segments", sealed.len());
    let fields = IndexOptions::default().fields;
    for (name, seg) in [
        ("one-event", &sealed[0]),
        ("day", &sealed[1]),
        ("day2", &sealed[2]),
    ] {
        let bytes = std::fs::read(seg.path())?;
        let again = SealedSegment::open(&OsFs, seg.path())?;
        assert_eq!(again.count(), seg.count());
        out.put("sealed_segment", name, &bytes)?;
        let idx = dir
            .path()
            .join(INDEX_DIR)
            .join(format!("{:020}.idx", seg.base()));
        let root = seg.root();
        IndexFile::open(
            &idx,
            &Expected {
                base: seg.base(),
                count: seg.count(),
                root: &root,
                fields: &fields,
            },
        )?;
        out.put("index_file", name, std::fs::read(&idx)?)?;
    }
    // Cursors as pages hand them out, both ways, with and without filters.
    let filter = Filter::default().with(
        annal_model::Field::Text(annal_model::TextField::Status),
        &["failure"],
    );
    let mut cursors = Vec::new();
    for (filter, order) in [
        (Filter::default(), Dir::Desc),
        (Filter::default(), Dir::Asc),
        (filter, Dir::Desc),
    ] {
        let page = engine.query(&Query {
            filter: filter.clone(),
            order,
            limit: 20,
            start: Start::First,
        })?;
        let next = page.next_cursor.ok_or("no next cursor")?;
        let page = engine.query(&Query {
            filter,
            order,
            limit: 20,
            start: Start::Cursor(next.clone()),
        })?;
        cursors.push(next);
        cursors.extend(page.prev_cursor);
    }
    cursors.push(Engine::cursor_at(&Filter::default(), Dir::Asc, u64::MAX));
    for (i, c) in cursors.iter().enumerate() {
        Cursor::decode(c)?;
        out.put("cursor_decode", &format!("page-{i}"), c)?;
    }
    engine.close()?;
    Ok(())
}

/// `checkpoint_note`, `checkpoint_log`, `tree_tiles`, `proof_json`: a store with a sealed
/// segment of whole tiles, signed after every append by the fuzz key.
fn integrity_seeds(out: &Out) -> Res {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), Default::default())?;
    let signer = || NoteSigner::from_private_text(FUZZ_PRIVATE_KEY);
    let notary = Notary::open(
        dir.path(),
        signer()?,
        "annal.example/audit",
        &store.snapshot(),
    )?;
    // Three days: the first two are sealed at the rolls, with whole tiles.
    let evs = events(21, 20_000, 3);
    for chunk in evs.chunks(10_000) {
        store.append(chunk)?;
        store.wait_sealed()?;
        notary.sign(&store.snapshot())?;
    }
    // Many small appends, each signed: a long log.
    for (i, e) in events(22, 150, 1).iter().enumerate() {
        let mut e = e.clone();
        e.created_at = Timestamp(evs[evs.len() - 1].created_at.0 + i as i64);
        store.append(&[e])?;
        notary.sign(&store.snapshot())?;
    }
    let snap = store.snapshot();
    assert!(snap.sealed().last().is_some_and(|s| s.end() >= 8192));

    let tiles = std::fs::read(dir.path().join(TILES_FILE))?;
    let roots = parse_tiles(&tiles).ok_or("tile file refused")?;
    assert!(roots.len() >= 2 && encode_tiles(&roots) == tiles);
    out.put("tree_tiles", "sealed-tiles", &tiles)?;
    out.put("tree_tiles", "one-tile", encode_tiles(&roots[..1]))?;
    out.put("tree_tiles", "torn", &tiles[..tiles.len() - 5])?;

    let log = std::fs::read(dir.path().join(CHECKPOINT_LOG_FILE))?;
    let contents = parse_log(Path::new(CHECKPOINT_LOG_FILE), &log)?;
    assert!(contents.notes.len() > 100 && contents.torn_at.is_none());
    out.put("checkpoint_log", "long", &log)?;
    let third = contents.notes[3].offset as usize;
    out.put("checkpoint_log", "three-notes", &log[..third])?;
    out.put("checkpoint_log", "torn", &log[..third - 9])?;

    let verifier = signer()?.verifier();
    let note = &contents.notes[contents.notes.len() - 1].note;
    verifier.verify(note)?;
    out.put("checkpoint_note", "latest", note)?;
    out.put("checkpoint_note", "first", &contents.notes[0].note)?;
    // Co-signed by another key, whose line comes first.
    let other = NoteSigner::generate("witness")?;
    let cp = Checkpoint::from_note_unverified(note)?;
    let witnessed = other.sign(&cp);
    let sig_line = note.rsplit_once("\n\n").ok_or("no signatures")?.1;
    let cosigned = format!("{witnessed}{sig_line}");
    assert_eq!(verifier.verify(&cosigned)?, cp);
    out.put("checkpoint_note", "cosigned", &cosigned)?;
    out.put("checkpoint_note", "public-key", verifier.to_text())?;
    out.put(
        "checkpoint_note",
        "private-key",
        signer()?.to_private_text(),
    )?;

    let size = snap.end();
    for (name, seq, tree) in [
        ("first-leaf", 0, size),
        ("middle", size / 2 + 3, size),
        ("last-leaf", size - 1, size),
        ("single", 0, 1),
    ] {
        let p = notary.inclusion(&snap, seq, tree)?;
        let json = serde_json::to_vec(&InclusionJson::from(&p))?;
        out.put("proof_json", &format!("inclusion-{name}"), &json)?;
    }
    for (name, first, second) in [
        ("one-to-all", 1, size),
        ("tiles", 8192, size),
        ("ragged", 10_001, 20_077),
        ("same", size, size),
    ] {
        let p = notary.consistency(&snap, first, second)?;
        let json = serde_json::to_vec(&ConsistencyJson::new(first, second, &p))?;
        out.put("proof_json", &format!("consistency-{name}"), &json)?;
    }
    store.close()?;
    Ok(())
}

/// `http_query`: the first byte picks the route (modulo the number of routes); a letter
/// is chosen so the seeds read as text.
fn http_query_seeds(out: &Out) -> Res {
    let seeds: [(&str, &str, &str); 25] = [
        ("list", "/v1/events", "event_type=LoginFailed&limit=5"),
        (
            "list-full",
            "/v1/events",
            "from=2026-03-01&to=2026-03-08T12:00:00Z&category=Configuration&action=login&action=logout&not.status=success&q=vault&order=asc&page=3&limit=50",
        ),
        ("list-cursor", "/v1/events", "status=failure&cursor=AQEAAAAAAAAAAAAAAAAAAAAA"),
        ("count", "/v1/events/count", "action=login&status=failure"),
        ("count-user", "/v1/events/count", "user_id=1036&event_code=202"),
        ("histogram", "/v1/events/histogram", "interval=day&by=status&from=2026-03-25"),
        ("histogram-minute", "/v1/events/histogram", "interval=minute&event_type=Login%20Failed"),
        ("stream", "/v1/events/stream", "status=failure"),
        ("export", "/v1/export", "format=csv&from=2026-03-01&to=2026-03-02&order=desc"),
        ("export-ndjson", "/v1/export", "format=ndjson&resource_type=secret"),
        (
            "audit",
            "/api/Audit",
            "category=Configuration&startDate=2026-03-01&endDate=2026-03-31&pageNumber=2&pageSize=10",
        ),
        ("audit-type", "/api/Audit", "eventType=202&eventtype=LoginFailed&PAGESIZE=1000"),
        // The last representable day (it ends at 2262-04-11T23:47:16.854775807Z).
        (
            "audit-last-days",
            "/api/Audit",
            "startDate=2262-04-01&endDate=2262-04-11",
        ),
        (
            "logs",
            "/api/v2/audit_logs",
            "filter%5Baction%5D%5B%5D=create&filter%5Baction%5D%5B%5D=destroy&filter%5Bsource_type%5D=secret&filter%5Bsource_id%5D=42&page%5Bsize%5D=25&sort=created_at",
        ),
        (
            "logs-offset",
            "/api/v2/audit_logs",
            "filter[created_at][]=2026-03-01&filter[created_at][]=2026-03-02T00:00:00Z&page=2&per_page=100&sort_by=created_at&sort_order=asc",
        ),
        ("logs-cursor", "/api/v2/audit_logs", "page[after]=AQAAAAAAAAAAAAAAAAAAAAAA&filter[actor_id]=ava.smith"),
        (
            "events",
            "/v1/audit/events",
            "event_group=User%20Action&event_type=LoginFailed&status=failure&user_id=1036&vm_id=vm-7&session_id=s-1&limit=200",
        ),
        ("events-bad", "/v1/audit/events", "user_id=x&limit=0&cursor=abc"),
        ("checkpoint", "/v1/checkpoint", ""),
        ("inclusion", "/v1/proof/inclusion", "seq=1234&tree_size=20000"),
        ("inclusion-latest", "/v1/proof/inclusion", "seq=0"),
        ("consistency", "/v1/proof/consistency", "first=3000&second=20000"),
        ("consistency-latest", "/v1/proof/consistency", "first=1"),
        ("unknown-param", "/v1/events", "a=1&a=2&a=3"),
        ("empty", "/v1/events", ""),
    ];
    let routes = annal_http::QUERY_ROUTES;
    for (name, route, query) in seeds {
        let i = routes.iter().position(|r| *r == route).ok_or(route)?;
        let pick = (b'a'..=b'z')
            .find(|b| usize::from(*b) % routes.len() == i)
            .ok_or("no letter")?;
        let parsed = annal_http::parse_route_query(route, query);
        assert_eq!(
            parsed.is_ok(),
            !matches!(name, "events-bad" | "unknown-param"),
            "{route}?{query}: {parsed:?}"
        );
        out.put("http_query", name, [&[pick][..], query.as_bytes()].concat())?;
    }
    Ok(())
}
