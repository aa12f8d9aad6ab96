//! What operators and the console read: the console's files at `/` (embedded, with their
//! security headers), `/v1/whoami`, `/v1/trail`, `/metrics` (who may read it, a separate
//! address, series that follow appends and answers), request ids, and the server's scheduled
//! audit finding damage on disk.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::sync::Arc;
use std::time::{Duration, Instant};

use annal_http::{key_hash_hex, AppState, Config, KeyEntry, MetricsAccess, MetricsConfig, Role};
use annal_index::IndexOptions;
use annal_integrity::{Notary, NoteSigner};
use annal_model::{Catalogs, Event, TextField, Timestamp};
use annal_query::Engine;
use annal_storage::{Options, Store};
use serde_json::Value;

mod support;

const ADMIN: &str = "admin-key";
const READER: &str = "reader-key";
const PRODUCER: &str = "producer-key";

fn keys() -> Vec<KeyEntry> {
    [
        ("root", ADMIN, Role::Admin),
        ("rita", READER, Role::Reader),
        ("pat", PRODUCER, Role::Producer),
    ]
    .into_iter()
    .map(|(name, key, role)| KeyEntry {
        name: name.into(),
        sha256: key_hash_hex(key),
        role,
    })
    .collect()
}

/// A store of `sealed` events in sealed segments (one segment per append) and a signer.
fn state(dir: &std::path::Path, config: &Config, sealed: u64) -> AppState {
    let opts = Options {
        roll_daily: false,
        segment_bytes_max: annal_storage::SEGMENT_BYTES_MIN,
        ..Options::default()
    };
    let store = Store::open(dir, opts).unwrap();
    let t0 = Timestamp::now().0 - 3_600_000_000_000;
    let events: Vec<Event> = (0..sealed as i64)
        .map(|n| {
            let t = Timestamp(t0 + n * 1_000_000);
            let mut e = Event::new(t, t);
            e.set_text(TextField::EventType, Some("LoginFailed".into()));
            e
        })
        .collect();
    for chunk in events.chunks(500) {
        store.append(chunk).unwrap();
    }
    store.wait_sealed().unwrap();
    let notary = Notary::open(
        dir,
        NoteSigner::generate("t").unwrap(),
        "t",
        &store.snapshot(),
    )
    .unwrap();
    let engine =
        Arc::new(Engine::new(store, IndexOptions::default(), Catalogs::builtin()).unwrap());
    AppState::new(engine, config).unwrap().with_notary(notary)
}

/// An answer: status, body and headers (names lower case).
struct Answer {
    status: u16,
    body: String,
    headers: std::collections::HashMap<String, String>,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }
}

fn answer(r: Result<ureq::Response, ureq::Error>) -> Answer {
    let r = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{e}"),
    };
    let headers = r
        .headers_names()
        .into_iter()
        .map(|n| {
            let v = r.header(&n).unwrap_or_default().to_string();
            (n.to_ascii_lowercase(), v)
        })
        .collect();
    Answer {
        status: r.status(),
        headers,
        body: r.into_string().unwrap(),
    }
}

fn get_with(url: &str, key: Option<&str>, extra: &[(&str, &str)]) -> Answer {
    let mut req = ureq::get(url);
    if let Some(k) = key {
        req = req.set("x-api-key", k);
    }
    for (name, value) in extra {
        req = req.set(name, value);
    }
    answer(req.call())
}

fn get(url: &str, key: Option<&str>) -> Answer {
    get_with(url, key, &[])
}

/// The value of the unlabelled series `name` in a Prometheus exposition.
fn series(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Waits (without a deadline in the assertion: a slow machine only takes longer) until
/// `/v1/trail` has an audit outcome satisfying `done`.
fn wait_for_verify(base: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let trail: Value =
            serde_json::from_str(&get(&format!("{base}/v1/trail"), Some(ADMIN)).body).unwrap();
        if trail.get("verify").is_some_and(&done) {
            return trail;
        }
        assert!(
            Instant::now() < deadline,
            "no audit outcome as expected: {trail}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_console_is_served_from_the_binary_with_its_security_headers() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::default();
    let server = support::serve(state(dir.path(), &config, 10), config);
    let base = format!("http://{}", server.addr);
    let page = get(&format!("{base}/"), None);
    assert_eq!(page.status, 200);
    assert_eq!(
        page.body.as_bytes(),
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/console/index.html")).unwrap()
    );
    assert!(page.header("content-type").starts_with("text/html"));
    let csp = page.header("content-security-policy");
    assert!(
        csp.contains("script-src 'self'") && csp.contains("connect-src 'self'"),
        "{csp}"
    );
    for (file, kind) in [
        ("console.js", "text/javascript"),
        ("verify.js", "text/javascript"),
        ("chart.js", "text/javascript"),
        ("console.css", "text/css"),
    ] {
        let a = get(&format!("{base}/console/{file}"), None);
        assert_eq!(a.status, 200, "{file}");
        assert!(a.header("content-type").starts_with(kind), "{file}");
        let on_disk =
            std::fs::read(format!("{}/console/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        assert_eq!(a.body.as_bytes(), on_disk, "{file} is the committed file");
    }
    for missing in [
        "/console/nope.js",
        "/console/index.html",
        "/console/../Cargo.toml",
    ] {
        let a = get(&format!("{base}{missing}"), None);
        assert_eq!(a.status, 404, "{missing}: {}", a.body);
    }
    server.stop();
}

#[test]
fn whoami_names_the_key_and_refuses_unknown_ones() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        api_keys: keys(),
        ..Config::default()
    };
    let server = support::serve(state(dir.path(), &config, 10), config);
    let base = format!("http://{}", server.addr);
    let a = get(&format!("{base}/v1/whoami"), Some(READER));
    assert_eq!(a.status, 200);
    let who: Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(
        (
            who["role"].as_str(),
            who["name"].as_str(),
            who["development_mode"].as_bool()
        ),
        (Some("reader"), Some("rita"), Some(false))
    );
    for key in [None, Some("not-a-key")] {
        let a = get(&format!("{base}/v1/whoami"), key);
        assert_eq!(a.status, 401, "{}", a.body);
        assert_eq!(a.header("www-authenticate"), "Bearer");
    }
    server.stop();

    let dir = tempfile::tempdir().unwrap();
    let config = Config::default();
    let server = support::serve(state(dir.path(), &config, 10), config);
    let a = get(&format!("http://{}/v1/whoami", server.addr), None);
    assert_eq!(a.status, 200);
    let who: Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(
        (who["role"].as_str(), who["development_mode"].as_bool()),
        (Some("admin"), Some(true))
    );
    server.stop();
}

#[test]
fn the_trail_page_reports_events_bytes_checkpoint_and_the_servers_audit() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        api_keys: keys(),
        ..Config::default()
    };
    let server = support::serve(state(dir.path(), &config, 3000), config);
    let base = format!("http://{}", server.addr);
    let trail = wait_for_verify(&base, |v| v["ok"] == true);
    assert_eq!(trail["events"], 3000);
    assert_eq!(trail["start"], 0);
    assert!(
        trail["segments"]["sealed"].as_u64().unwrap() >= 1,
        "{trail}"
    );
    let cp = &trail["checkpoint"];
    assert_eq!(cp["size"], 3000);
    assert!(cp["signer_key"].as_str().unwrap().starts_with("t+"), "{cp}");
    // Every file of the data directory counts, not just the segments.
    let on_disk: u64 = walk(dir.path());
    let reported = trail["data_bytes"].as_u64().unwrap();
    assert!(
        reported > 0 && reported <= on_disk * 2 && on_disk <= reported * 2,
        "{reported} vs {on_disk}"
    );
    assert_eq!(trail["verify"]["events"], 3000);
    // A producer may not read it.
    assert_eq!(get(&format!("{base}/v1/trail"), Some(PRODUCER)).status, 403);
    assert_eq!(
        get(&format!("{base}/v1/trail?x=1"), Some(READER)).status,
        400
    );
    server.stop();
}

fn walk(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            let m = e.metadata().unwrap();
            if m.is_dir() {
                walk(&e.path())
            } else {
                m.len()
            }
        })
        .sum()
}

#[test]
fn metrics_follow_appends_and_answers_and_need_the_configured_role() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        api_keys: keys(),
        metrics: MetricsConfig {
            access: MetricsAccess::Reader,
            // A second address is what tests/metrics/run.sh's Prometheus scrapes.
            listen: None,
        },
        ..Config::default()
    };
    let server = support::serve(state(dir.path(), &config, 1000), config);
    let base = format!("http://{}", server.addr);
    assert_eq!(get(&format!("{base}/metrics"), None).status, 401);
    assert_eq!(get(&format!("{base}/metrics"), Some(PRODUCER)).status, 403);
    let a = get(&format!("{base}/metrics"), Some(READER));
    assert_eq!(a.status, 200);
    assert!(a
        .header("content-type")
        .starts_with("text/plain; version=0.0.4"));
    let before = a.body;
    assert_eq!(series(&before, "annal_trail_events"), Some(1000.0));
    let appended_before = series(&before, "annal_appended_events_total").unwrap();
    let body = (0..7)
        .map(|i| format!("{{\"event_type\":\"Probe\",\"id\":\"m{i}\"}}"))
        .collect::<Vec<_>>()
        .join(",");
    let r = ureq::post(&format!("{base}/v1/events"))
        .set("x-api-key", PRODUCER)
        .set("content-type", "application/json")
        .send_string(&format!("[{body}]"));
    assert_eq!(answer(r).status, 200);
    let after = get(&format!("{base}/metrics"), Some(READER)).body;
    assert_eq!(
        series(&after, "annal_appended_events_total"),
        Some(appended_before + 7.0)
    );
    assert_eq!(series(&after, "annal_trail_events"), Some(1007.0));
    assert!(
        after.contains(
            "annal_http_responses_total{route=\"/metrics\",method=\"GET\",status=\"401\"} 1"
        ),
        "{after}"
    );
    assert!(after.contains(
        "annal_http_responses_total{route=\"/v1/events\",method=\"POST\",status=\"200\"} 1"
    ));
    assert!(after.contains("annal_wal_fdatasync_seconds_count "));
    assert!(series(&after, "annal_group_commit_events_count").unwrap() >= 1.0);
    assert!(series(&after, "process_resident_memory_bytes").unwrap() > 0.0);
    // Paths are not labels: an id in the path does not make a series of its own.
    get(&format!("{base}/v1/events/annal:5"), Some(READER));
    let text = get(&format!("{base}/metrics"), Some(READER)).body;
    assert!(text.contains("route=\"/v1/events/{key}\""), "{text}");
    assert!(!text.contains("annal:5"));
    // OpenMetrics for a scraper that asks for it.
    let a = get_with(
        &format!("{base}/metrics"),
        Some(READER),
        &[("accept", "application/openmetrics-text; version=1.0.0")],
    );
    assert!(a
        .header("content-type")
        .starts_with("application/openmetrics-text"));
    assert!(a.body.ends_with("# EOF\n"));
    server.stop();
}

#[test]
fn metrics_can_be_open_and_request_ids_are_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        api_keys: keys(),
        metrics: MetricsConfig {
            access: MetricsAccess::Open,
            listen: None,
        },
        ..Config::default()
    };
    let server = support::serve(state(dir.path(), &config, 10), config);
    let base = format!("http://{}", server.addr);
    let a = get(&format!("{base}/metrics"), None);
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.header("x-request-id").len(), 32);
    let a = get_with(
        &format!("{base}/healthz"),
        None,
        &[("x-request-id", "trace-42")],
    );
    assert_eq!(a.header("x-request-id"), "trace-42");
    let a = get_with(&format!("{base}/healthz"), None, &[("x-request-id", "a b")]);
    assert_ne!(
        a.header("x-request-id"),
        "a b",
        "an unprintable id is replaced"
    );
    server.stop();
}

#[test]
fn the_scheduled_audit_finds_a_sealed_segment_altered_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        api_keys: keys(),
        verify_interval_secs: 1,
        ..Config::default()
    };
    let server = support::serve(state(dir.path(), &config, 2000), config);
    let base = format!("http://{}", server.addr);
    wait_for_verify(&base, |v| v["ok"] == true);
    // Flip one byte of the first sealed segment's first block (its header is 64 bytes).
    let seg = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .min()
        .unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[64 + 10] ^= 0x40;
    std::fs::write(&seg, &bytes).unwrap();
    let trail = wait_for_verify(&base, |v| v["ok"] == false);
    let error = trail["verify"]["error"].as_str().unwrap();
    let name = seg.file_name().unwrap().to_str().unwrap();
    assert!(error.contains(name), "the failure names the file: {error}");
    let text = get(&format!("{base}/metrics"), Some(READER)).body;
    assert_eq!(series(&text, "annal_verify_last_ok"), Some(0.0));
    assert!(series(&text, "annal_verify_failed_total").unwrap() >= 1.0);
    server.stop();
}
