//! annal's C2SP tlog-tiles routes checked by an independent client: the `tlog_tiles` crate
//! (Cloudflare's port of Go's sumdb/tlog) fetches `/checkpoint`, tiles and entry bundles over
//! HTTP, authenticates every tile against the checkpoint's root, and proves random records
//! and the consistency of checkpoints, before and after a prune by the server's retention
//! schedule. Below the minimum index, bundles answer 410 and higher tiles are still served.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::net::SocketAddr;
use std::sync::Arc;

use annal_http::{AppState, Config};
use annal_index::IndexOptions;
use annal_integrity::{Notary, NoteSigner};
use annal_model::{Catalogs, Event, TextField, Timestamp, NANOS_PER_DAY};
use annal_query::Engine;
use annal_retention::Retention;
use annal_storage::{Options, Store};

mod support;
use tlog_tiles::{
    check_record, check_tree, prove_record, prove_tree, record_hash, Checkpoint, Error, Tile,
    TileHashReader, TileReader,
};

/// Reads tiles from a running annal over HTTP, mapping sumdb's `tile/8/L/N` (and
/// `tile/8/data/N`) to tlog-tiles' `tile/L/N` (and `tile/entries/N`).
struct HttpTiles(SocketAddr);

fn c2sp_path(t: &Tile) -> String {
    let p = t.path();
    let rest = p.strip_prefix("tile/8/").unwrap();
    match rest.strip_prefix("data/") {
        Some(n) => format!("tile/entries/{n}"),
        None => format!("tile/{rest}"),
    }
}

fn get(addr: SocketAddr, path: &str) -> Result<Vec<u8>, u16> {
    match ureq::get(&format!("http://{addr}/{path}")).call() {
        Ok(r) => {
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut r.into_reader(), &mut out).unwrap();
            Ok(out)
        }
        Err(ureq::Error::Status(code, _)) => Err(code),
        Err(e) => panic!("GET {path}: {e}"),
    }
}

impl TileReader for HttpTiles {
    fn height(&self) -> u8 {
        8
    }
    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, Error> {
        tiles
            .iter()
            .map(|t| {
                get(self.0, &c2sp_path(t)).map_err(|code| {
                    Error::InvalidInput(format!("{} answered {code}", c2sp_path(t)))
                })
            })
            .collect()
    }
    fn save_tiles(&self, _: &[Tile], _: &[Vec<u8>]) {}
}

/// The checkpoint `/checkpoint` serves, read by the independent client's parser.
fn checkpoint(addr: SocketAddr) -> Checkpoint {
    let note = String::from_utf8(get(addr, "checkpoint").unwrap()).unwrap();
    let body = note.split_once("\n\n").unwrap().0;
    Checkpoint::from_bytes(format!("{body}\n").as_bytes()).unwrap()
}

/// Entry `n`'s bytes from its bundle (partial as the tree of `size` has it).
fn entry(addr: SocketAddr, size: u64, n: u64) -> Result<Vec<u8>, u16> {
    let (index, width) = (n / 256, (size - n / 256 * 256).min(256));
    let suffix = if width < 256 {
        format!(".p/{width}")
    } else {
        String::new()
    };
    let bundle = get(addr, &format!("tile/entries/{}{suffix}", tile_index(index)))?;
    let mut at = 0;
    let mut i = 0;
    loop {
        let len = u16::from_be_bytes([bundle[at], bundle[at + 1]]) as usize;
        if i == n % 256 {
            return Ok(bundle[at + 2..at + 2 + len].to_vec());
        }
        at += 2 + len;
        i += 1;
    }
}

fn tile_index(mut n: u64) -> String {
    let mut s = format!("{:03}", n % 1000);
    while n >= 1000 {
        n /= 1000;
        s = format!("x{:03}/{s}", n % 1000);
    }
    s
}

/// Proves `seqs` in the tree `cp` describes, through tiles only.
fn prove_records(addr: SocketAddr, cp: &Checkpoint, seqs: impl Iterator<Item = u64>) {
    let reader = HttpTiles(addr);
    let hashes = TileHashReader::new(cp.size(), *cp.hash(), &reader);
    for n in seqs {
        let proof = prove_record(cp.size(), n, &hashes).unwrap();
        let leaf = record_hash(&entry(addr, cp.size(), n).unwrap());
        check_record(&proof, cp.size(), *cp.hash(), n, leaf).unwrap();
    }
}

fn prove_consistent(addr: SocketAddr, old: &Checkpoint, new: &Checkpoint) {
    let reader = HttpTiles(addr);
    let hashes = TileHashReader::new(new.size(), *new.hash(), &reader);
    let proof = prove_tree(new.size(), old.size(), &hashes).unwrap();
    check_tree(&proof, new.size(), *new.hash(), old.size(), *old.hash()).unwrap();
}

/// Serves `dir` with `config` until the returned closure is called.
fn serve(dir: &std::path::Path, config: Config, signer: &[u8]) -> (SocketAddr, impl FnOnce()) {
    let store = Store::open(dir, Options::default()).unwrap();
    let signer = NoteSigner::from_private_text(std::str::from_utf8(signer).unwrap()).unwrap();
    let notary = Notary::open(dir, signer, "example.com/annal", &store.snapshot()).unwrap();
    let engine =
        Arc::new(Engine::new(store, IndexOptions::default(), Catalogs::builtin()).unwrap());
    let retention = Retention::open(&engine).unwrap();
    let state = AppState::new(engine, &config)
        .unwrap()
        .with_notary(notary)
        .with_retention(retention);
    let running = support::serve(state, config);
    (running.addr, move || running.stop())
}

fn json(addr: SocketAddr, path: &str) -> serde_json::Value {
    serde_json::from_slice(&get(addr, path).unwrap()).unwrap()
}

/// Waits until the server signed a checkpoint of every event it holds (it signs every
/// second while the trail grows) and returns it.
fn wait_signed(addr: SocketAddr) -> Checkpoint {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let retention = json(addr, "v1/retention");
        let count = json(addr, "v1/events/count")["count"].as_u64().unwrap();
        let end = retention["trail_start"].as_u64().unwrap() + count;
        let cp = checkpoint(addr);
        if cp.size() == end {
            return cp;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint of {end} events was signed"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn append_days(addr: SocketAddr, days_ago: std::ops::Range<i64>, per_day: i64) {
    let today = Timestamp::now().0 / NANOS_PER_DAY * NANOS_PER_DAY;
    for ago in days_ago.rev() {
        let mut body = String::new();
        for n in 0..per_day {
            let t = Timestamp(today - ago * NANOS_PER_DAY + n * 1_000_000_000);
            let mut e = Event::new(t, t);
            e.set_text(TextField::EventType, Some("LoginFailed".into()));
            e.set_text(TextField::ActorId, Some(format!("user-{n}").into()));
            let mut line = Vec::new();
            e.write_json(0, &mut line);
            let mut v: serde_json::Value = serde_json::from_slice(&line).unwrap();
            v.as_object_mut()
                .unwrap()
                .retain(|k, _| k != "seq" && k != "id" && k != "received_at");
            body.push_str(&v.to_string());
            body.push('\n');
        }
        ureq::post(&format!("http://{addr}/v1/events"))
            .set("Content-Type", "application/x-ndjson")
            .send_string(&body)
            .unwrap();
    }
}

#[test]
fn an_independent_tlog_client_verifies_the_tiles_before_and_after_a_prune() {
    let dir = tempfile::tempdir().unwrap();
    let key = NoteSigner::generate("example.com/annal")
        .unwrap()
        .to_private_text();
    // 50 days of events, 50 to 1 days old, one segment per day; 333 a day so tiles and
    // segments do not line up.
    let quick = Config {
        checkpoint_interval_secs: 1,
        ..Config::default()
    };
    let (addr, stop) = serve(dir.path(), quick.clone(), key.as_bytes());
    append_days(addr, 30..50, 333);
    let old = wait_signed(addr);
    append_days(addr, 1..30, 333);
    let before = wait_signed(addr);
    assert!(old.size() < before.size() && before.size() >= 49 * 333);
    prove_records(
        addr,
        &before,
        [0, 1, 255, 256, 6_000, before.size() - 1].into_iter(),
    );
    prove_records(addr, &old, [0, 17, old.size() - 1].into_iter());
    prove_consistent(addr, &old, &before);
    // Tiles past the tree, and bad paths, are refused.
    assert_eq!(get(addr, "tile/0/x999/000"), Err(404));
    assert_eq!(get(addr, "tile/0/1"), Err(400));
    stop();

    // The server's schedule prunes a second after the start: everything older than 40 days
    // goes.
    let pruning = Config {
        retention_days: Some(40),
        prune_interval_secs: 1,
        ..quick
    };
    let (addr, stop) = serve(dir.path(), pruning, key.as_bytes());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let retention = loop {
        let r = json(addr, "v1/retention");
        if r["trail_start"].as_u64() > Some(0) {
            break r;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the scheduled prune did not run"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let start = retention["trail_start"].as_u64().unwrap();
    let min_index = retention["min_index"].as_u64().unwrap();
    assert!(start >= 9 * 333, "{retention}");
    assert_eq!(min_index, start.div_ceil(256) * 256);
    let after = wait_signed(addr);
    assert!(
        after.size() > before.size(),
        "the prune's own event is in the trail"
    );
    prove_records(
        addr,
        &after,
        [min_index, min_index + 1, after.size() - 1].into_iter(),
    );
    prove_consistent(addr, &before, &after);
    // Below the minimum index: bundles are gone; tiles of level 1 and up are still served.
    assert_eq!(entry(addr, after.size(), 0), Err(410));
    assert_eq!(get(addr, "tile/0/000"), Err(410));
    assert_eq!(get(addr, "tile/1/000.p/1").map(|b| b.len()), Ok(32));
    // annal's own routes agree: the pruned event is gone, its proof refused.
    assert_eq!(get(addr, "v1/events/0").err(), Some(410));
    assert_eq!(get(addr, "v1/proof/inclusion?seq=0").err(), Some(410));
    stop();
}
