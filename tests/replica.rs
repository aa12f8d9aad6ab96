//! `annal serve --replica` end to end against moto's S3 server: a primary's trail shipped
//! with the uploader is served by a replica process, which follows new shipments, refuses
//! appends with 409 naming the primary, and serves the primary's checkpoint. Skipped (with a
//! message) where `moto_server` is not installed.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use annal_bucket::{BucketConfig, Claim, Shipper};
use annal_storage::{Options, Store};
use support::server::{call, Server};

const BUDGET: Duration = Duration::from_secs(60);

/// moto's S3 server on a free port, killed when dropped.
struct Moto(Child, String);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// moto's server: `ANNAL_MOTO_SERVER` (what .ci/run installs), else `moto_server` on the PATH.
/// Missing, the test is skipped with a message, unless `ANNAL_REQUIRE_MOTO` is set (CI), where
/// a skip would hide the test.
fn moto() -> Option<Moto> {
    let program = std::env::var("ANNAL_MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
    let required = std::env::var_os("ANNAL_REQUIRE_MOTO").is_some();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(&program)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let child = match child {
        Ok(c) => c,
        Err(e) if required => panic!("ANNAL_REQUIRE_MOTO is set but {program} does not start: {e}"),
        Err(_) => return None,
    };
    let moto = Moto(child, format!("http://127.0.0.1:{port}"));
    let deadline = Instant::now() + Duration::from_secs(60);
    // moto takes unsigned requests: this creates the bucket.
    while ureq::put(&format!("{}/trails", moto.1)).call().is_err() {
        assert!(Instant::now() < deadline, "moto_server did not start");
        std::thread::sleep(Duration::from_millis(200));
    }
    Some(moto)
}

fn events(n: u64, seed: u64) -> Vec<annal_model::Event> {
    annal_gen::events(annal_gen::GenConfig {
        count: n,
        seed,
        days: 2,
        ..Default::default()
    })
}

fn count(s: &Server) -> u64 {
    call("GET", &format!("{}/v1/events/count", s.base), None, None).json()["count"]
        .as_u64()
        .unwrap()
}

fn sign(dir: &Path, store: &Store) -> String {
    let signer = annal_integrity::signing_key(dir, None, "e2e/primary")
        .unwrap()
        .signer;
    let snap = store.snapshot();
    let notary = annal_integrity::Notary::open(dir, signer, "e2e/primary", &snap).unwrap();
    notary.sign(&snap).unwrap().unwrap().note.to_string()
}

#[test]
fn a_replica_process_follows_the_bucket_and_refuses_appends() {
    let Some(moto) = moto() else {
        eprintln!("moto_server is not installed: skipping the replica end-to-end test");
        return;
    };
    // object_store reads credentials from the environment; moto takes any.
    std::env::set_var("AWS_ACCESS_KEY_ID", "test");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
    std::env::set_var("AWS_REGION", "us-east-1");
    let url = "s3://trails/eu/prod";
    let remote = BucketConfig::new(url, Some(&moto.1)).connect().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();

    let pdir = tempfile::tempdir().unwrap();
    let primary = Store::open(pdir.path(), Options::default()).unwrap();
    primary.append(&events(3_000, 1)).unwrap();
    let note = sign(pdir.path(), &primary);
    let mut shipper = rt
        .block_on(Shipper::claim(
            remote,
            pdir.path(),
            &primary.snapshot(),
            Claim::Refuse,
        ))
        .unwrap();
    rt.block_on(shipper.ship(&primary.snapshot(), BUDGET))
        .unwrap();

    let rdir = tempfile::tempdir().unwrap();
    let cfg = rdir.path().join("replica.toml");
    std::fs::write(
        &cfg,
        format!(
            "[object_store]\nurl = \"{url}\"\nendpoint = \"{}\"\nallow_http = true\nship_interval_ms = 50\n",
            moto.1
        ),
    )
    .unwrap();
    let data = rdir.path().join("cache");
    let server = Server::start(&data, &["--replica", "--config", cfg.to_str().unwrap()]);
    let wait_for = |n: u64| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while count(&server) < n {
            assert!(Instant::now() < deadline, "the replica did not reach {n}");
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(count(&server), n);
    };
    wait_for(3_000);

    // Appends go to the primary.
    let r = call(
        "POST",
        &format!("{}/v1/events", server.base),
        None,
        Some(("application/json", br#"{"event_type":"t"}"#)),
    );
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.content_type, "application/problem+json");
    let p = r.json();
    assert_eq!(p["type"], "https://annal.dev/problems/read-only-replica");
    assert!(p["detail"].as_str().unwrap().contains(url), "{p}");

    // The primary's checkpoint, adopted (within a poll or two).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = call("GET", &format!("{}/v1/checkpoint", server.base), None, None);
        if r.status == 200 {
            assert_eq!(r.body, note);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no checkpoint adopted: {}",
            r.body
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let r = call(
        "GET",
        &format!("{}/v1/proof/inclusion?seq=7", server.base),
        None,
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);

    // New events on the primary reach the running replica, the same at every seq, and its
    // live streams.
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(60))
        .build();
    let stream = agent
        .get(&format!("{}/v1/events/stream", server.base))
        .call()
        .unwrap();
    let mut reader = BufReader::new(stream.into_reader());
    primary.append(&events(1_200, 2)).unwrap();
    rt.block_on(shipper.ship(&primary.snapshot(), BUDGET))
        .unwrap();
    let mut line = String::new();
    loop {
        line.clear();
        assert!(reader.read_line(&mut line).unwrap() > 0, "stream ended");
        if let Some(id) = line.strip_prefix("id: ") {
            assert!(id.trim().parse::<u64>().unwrap() >= 3_000, "{line}");
            break;
        }
    }
    drop(reader);
    wait_for(4_200);
    for seq in [0u64, 2_999, 3_000, 4_199] {
        let ours = call(
            "GET",
            &format!("{}/v1/events/{seq}", server.base),
            None,
            None,
        )
        .json();
        let theirs = primary.snapshot().get(seq).unwrap();
        let mut want = Vec::new();
        theirs.write_json(seq, &mut want);
        let want: serde_json::Value = serde_json::from_slice(&want).unwrap();
        assert_eq!(ours, want, "seq {seq}");
    }
    server.kill();
    primary.close().unwrap();
}

#[test]
fn a_replica_needs_an_object_store_table() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_annal"))
        .args(["serve", "--replica", "--data", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("[object_store]"), "{err}");
}
