//! A read replica over HTTP: appends are refused with 409 problem+json naming the primary,
//! reads are served, checkpoints come from the primary's log (none yet: 404).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::sync::Arc;

use annal_http::{AppState, Config, ReplicaInfo, READ_ONLY_REPLICA};
use annal_index::IndexOptions;
use annal_integrity::Notary;
use annal_model::Catalogs;
use annal_query::Engine;
use annal_storage::{Options, Store};

mod support;

const PRIMARY: &str = "s3://trails/eu/prod";

#[test]
fn a_replica_refuses_appends_naming_the_primary_and_serves_reads() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    let notary = Notary::adopting(dir.path(), &store.snapshot()).unwrap();
    let engine =
        Arc::new(Engine::new(store, IndexOptions::default(), Catalogs::builtin()).unwrap());
    let config = Config::default();
    let state = AppState::new(engine.clone(), &config)
        .unwrap()
        .with_notary(notary)
        .with_replica(ReplicaInfo {
            primary: PRIMARY.into(),
        });
    let running = support::serve(state, config);
    let addr = running.addr;

    for (ct, body) in [
        ("application/json", r#"{"event_type":"t","id":"a"}"#),
        ("application/x-ndjson", "{\"event_type\":\"t\"}\n"),
        ("application/json", "not even json"),
    ] {
        let r = ureq::post(&format!("http://{addr}/v1/events"))
            .set("Content-Type", ct)
            .send_string(body);
        let Err(ureq::Error::Status(409, r)) = r else {
            panic!("expected 409, got {r:?}");
        };
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
        let p: serde_json::Value = serde_json::from_str(&r.into_string().unwrap()).unwrap();
        assert_eq!(p["type"], READ_ONLY_REPLICA);
        assert_eq!(p["status"], 409);
        let detail = p["detail"].as_str().unwrap();
        assert!(
            detail.contains("read replica") && detail.contains(PRIMARY),
            "{detail}"
        );
    }
    assert_eq!(engine.store().len(), 0, "nothing stored");

    let r = ureq::get(&format!("http://{addr}/v1/events"))
        .call()
        .unwrap();
    assert_eq!(r.status(), 200);
    // Nothing adopted yet: no checkpoint, and the replica signs none of its own.
    let r = ureq::get(&format!("http://{addr}/v1/checkpoint")).call();
    assert!(matches!(r, Err(ureq::Error::Status(404, _))), "{r:?}");
    assert!(!dir.path().join(annal_integrity::DATA_KEY_FILE).exists());

    running.stop();
}
