//! The records officer's routes over HTTP: legal holds placed, listed and released (admin
//! only; auditors read), a prune by the configured policy and its dry run, 409 without a
//! policy, `Annal-Trail-Start` on query answers once the trail was pruned, and bad input
//! refused naming what is wrong.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::net::SocketAddr;
use std::sync::Arc;

use annal_http::{key_hash_hex, AppState, Config, KeyEntry, Role};
use annal_index::IndexOptions;
use annal_integrity::{Notary, NoteSigner};
use annal_model::{Catalogs, Event, TextField, Timestamp, NANOS_PER_DAY};
use annal_query::Engine;
use annal_retention::Retention;
use annal_storage::{Options, Store};

mod support;
use serde_json::{json, Value};

const ADMIN: &str = "admin-key";
const AUDITOR: &str = "auditor-key";

fn serve(dir: &std::path::Path, retention_days: Option<u32>) -> (SocketAddr, impl FnOnce()) {
    let store = Store::open(dir, Options::default()).unwrap();
    let today = Timestamp::now().0 / NANOS_PER_DAY * NANOS_PER_DAY;
    if store.is_empty() {
        // 20 days, 100 to 81 days old, one segment a day.
        for ago in (81..=100).rev() {
            let events: Vec<Event> = (0..50)
                .map(|n| {
                    let t = Timestamp(today - ago * NANOS_PER_DAY + n * 1_000_000_000);
                    let mut e = Event::new(t, t);
                    e.set_text(TextField::EventType, Some("LoginFailed".into()));
                    let actor = if n == 7 { "mallory" } else { "alice" };
                    e.set_text(TextField::ActorId, Some(actor.into()));
                    e
                })
                .collect();
            store.append(&events).unwrap();
        }
        store.wait_sealed().unwrap();
    }
    let notary = Notary::open(
        dir,
        NoteSigner::generate("t").unwrap(),
        "t",
        &store.snapshot(),
    )
    .unwrap();
    let engine =
        Arc::new(Engine::new(store, IndexOptions::default(), Catalogs::builtin()).unwrap());
    let retention = Retention::open(&engine).unwrap();
    let config = Config {
        retention_days,
        // Pruned only when asked: the schedule's first turn waits this long.
        prune_interval_secs: 3600,
        api_keys: vec![
            KeyEntry {
                name: "root".into(),
                sha256: key_hash_hex(ADMIN),
                role: Role::Admin,
            },
            KeyEntry {
                name: "aud".into(),
                sha256: key_hash_hex(AUDITOR),
                role: Role::Auditor,
            },
        ],
        ..Config::default()
    };
    let state = AppState::new(engine, &config)
        .unwrap()
        .with_notary(notary)
        .with_retention(retention);
    let running = support::serve(state, config);
    (running.addr, move || running.stop())
}

fn call(
    method: &str,
    addr: SocketAddr,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (u16, Value, Option<String>) {
    let req = ureq::request(method, &format!("http://{addr}{path}")).set("X-API-Key", key);
    let r = match body {
        Some(b) => req.send_json(b),
        None => req.call(),
    };
    let r = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {path}: {e}"),
    };
    let (status, start) = (
        r.status(),
        r.header("annal-trail-start").map(str::to_string),
    );
    let text = r.into_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        start,
    )
}

#[test]
fn holds_and_prunes_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, stop) = serve(dir.path(), None);
    // No policy: a prune is refused, naming why.
    let (status, body, _) = call("POST", addr, "/v1/retention/prune", ADMIN, None);
    assert_eq!(status, 409, "{body}");
    stop();

    let (addr, stop) = serve(dir.path(), Some(90));
    let day = |ago: i64| {
        let mut s = String::new();
        Timestamp(Timestamp::now().0 / NANOS_PER_DAY * NANOS_PER_DAY - ago * NANOS_PER_DAY)
            .write_rfc3339(&mut s);
        s
    };
    // A hold on mallory's events of 95 days ago: only the admin may place it.
    let hold =
        json!({"from": day(95), "to": day(94), "filter": "actor_id=mallory", "reason": "case 9"});
    assert_eq!(
        call("POST", addr, "/v1/holds", AUDITOR, Some(hold.clone())).0,
        403
    );
    let (status, placed, _) = call("POST", addr, "/v1/holds", ADMIN, Some(hold));
    assert_eq!(status, 201, "{placed}");
    assert_eq!(
        (placed["id"].as_str(), placed["active"].as_bool()),
        (Some("hold-1"), Some(true))
    );
    assert_eq!(placed["placed_by"], "api key root");
    for (bad, names) in [
        (
            json!({"from": day(95), "to": day(96), "reason": "r"}),
            "from",
        ),
        (
            json!({"from": day(95), "to": day(94), "reason": "r", "filter": "nope=1"}),
            "nope",
        ),
        (
            json!({"from": day(95), "to": day(94), "reason": "  "}),
            "reason",
        ),
        (
            json!({"from": "yesterday", "to": day(94), "reason": "r"}),
            "from",
        ),
        (
            json!({"from": day(95), "to": day(94), "reason": "r", "extra": 1}),
            "extra",
        ),
    ] {
        let (status, p, _) = call("POST", addr, "/v1/holds", ADMIN, Some(bad.clone()));
        assert_eq!(status, 400, "{bad} → {p}");
        assert!(p["detail"].as_str().unwrap().contains(names), "{bad} → {p}");
    }
    let (_, holds, _) = call("GET", addr, "/v1/holds", AUDITOR, None);
    assert_eq!(holds.as_array().unwrap().len(), 1);

    // The dry run says what would go and why it stops; nothing goes.
    let (status, plan, _) = call(
        "POST",
        addr,
        "/v1/retention/prune?dry_run=true",
        ADMIN,
        None,
    );
    assert_eq!(status, 200, "{plan}");
    assert_eq!(
        (plan["dry_run"].as_bool(), plan["segments"].as_u64()),
        (Some(true), Some(5)),
        "{plan}"
    );
    assert!(
        plan["kept_because"].as_str().unwrap().contains("hold-1"),
        "{plan}"
    );
    let (_, _, start) = call("GET", addr, "/v1/events/count", AUDITOR, None);
    assert_eq!(start, None, "no header before a prune");

    // Released, the prune goes as far as the policy says.
    let release = json!({"reason": "closed"});
    let (status, released, _) = call(
        "POST",
        addr,
        "/v1/holds/hold-1/release",
        ADMIN,
        Some(release.clone()),
    );
    assert_eq!(
        (status, released["active"].as_bool()),
        (200, Some(false)),
        "{released}"
    );
    assert_eq!(
        call(
            "POST",
            addr,
            "/v1/holds/hold-1/release",
            ADMIN,
            Some(release.clone())
        )
        .0,
        409
    );
    assert_eq!(
        call(
            "POST",
            addr,
            "/v1/holds/hold-9/release",
            ADMIN,
            Some(release)
        )
        .0,
        404
    );
    let (status, done, _) = call("POST", addr, "/v1/retention/prune", ADMIN, None);
    assert_eq!(
        (status, done["dry_run"].as_bool()),
        (200, Some(false)),
        "{done}"
    );
    let to = done["to_seq"].as_u64().unwrap();
    assert_eq!(to, 50 * 11, "the days from 100 to 90 days ago: {done}");

    // Queries over the pruned days answer empty, with the trail's start in a header.
    let (status, page, start) = call(
        "GET",
        addr,
        &format!("/v1/events?to={}", day(91)),
        AUDITOR,
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(page["items"].as_array().map(Vec::len), Some(0), "{page}");
    assert_eq!(start.as_deref(), Some(to.to_string().as_str()));
    let (status, gone, _) = call("GET", addr, "/v1/events/3", AUDITOR, None);
    assert_eq!(status, 410, "{gone}");
    assert!(gone["detail"]
        .as_str()
        .unwrap()
        .contains(&format!("starts at seq {to}")));
    let (_, state, _) = call("GET", addr, "/v1/retention", AUDITOR, None);
    assert_eq!(state["trail_start"].as_u64(), Some(to));
    assert_eq!(state["retention_days"].as_u64(), Some(90));
    assert_eq!(state["prunes"][0]["by"], "api key root");
    assert_eq!(state["holds"][0]["release_reason"], "closed");
    stop();
}
