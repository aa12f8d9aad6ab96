//! Backpressure over HTTP: when the store's append queue is full the server answers 429 with
//! `Retry-After` at once, stores nothing of the refused batch, and never queues without
//! bound. A real server on an ephemeral port; the disk is made slow (each fdatasync takes
//! 300 ms) and the writer's queue one request deep, so concurrent appends must overflow it.
//! And when the disk fills, appends get 507 naming it, and succeed again once space returns.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::sync::Arc;
use std::time::Duration;

use annal_http::{AppState, Config};
use annal_index::IndexOptions;
use annal_model::Catalogs;
use annal_query::Engine;
use annal_storage::{FaultyFs, Options, Store};

mod support;

/// Serves `store` on an ephemeral port.
fn serve(store: Store) -> (Arc<Engine>, support::Running) {
    let engine =
        Arc::new(Engine::new(store, IndexOptions::default(), Catalogs::builtin()).unwrap());
    let config = Config::default();
    let state = AppState::new(engine.clone(), &config).unwrap();
    (engine, support::serve(state, config))
}

#[test]
fn a_full_append_queue_answers_429_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let fs = Arc::new(FaultyFs::new());
    fs.set_sync_delay(Duration::from_millis(300));
    let store = Store::open(
        dir.path(),
        Options {
            queue_requests: 1,
            fs,
            ..Options::default()
        },
    )
    .unwrap();
    let (engine, running) = serve(store);
    let addr = running.addr;
    let url = format!("http://{addr}/v1/events");
    let clients: Vec<_> = (0..8)
        .map(|i| {
            let url = url.clone();
            std::thread::spawn(move || {
                let body = format!(r#"{{"event_type":"t","id":"c{i}"}}"#);
                match ureq::post(&url)
                    .set("Content-Type", "application/json")
                    .send_string(&body)
                {
                    Ok(r) => (r.status(), None),
                    Err(ureq::Error::Status(code, r)) => {
                        (code, r.header("retry-after").map(String::from))
                    }
                    Err(e) => panic!("{e}"),
                }
            })
        })
        .collect();
    let replies: Vec<(u16, Option<String>)> =
        clients.into_iter().map(|c| c.join().unwrap()).collect();
    let accepted = replies.iter().filter(|r| r.0 == 200).count();
    let refused: Vec<_> = replies.iter().filter(|r| r.0 == 429).collect();
    assert_eq!(
        accepted + refused.len(),
        replies.len(),
        "only 200 or 429: {replies:?}"
    );
    assert!(
        !refused.is_empty(),
        "8 appends at once into a 1-deep queue: {replies:?}"
    );
    assert!(
        refused.iter().all(|r| r.1.as_deref() == Some("1")),
        "{refused:?}"
    );
    assert!(accepted >= 1);
    assert_eq!(
        engine.store().len(),
        accepted as u64,
        "a refused batch stores nothing"
    );
    running.stop();
}

#[test]
fn a_full_disk_answers_507_and_appends_resume_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultyFs::new();
    let opts = Options {
        fs: Arc::new(fs.clone()),
        ..Options::default()
    };
    let (engine, running) = serve(Store::open(dir.path(), opts).unwrap());
    let addr = running.addr;
    let url = format!("http://{addr}/v1/events");
    let append = |id: &str| {
        let body = format!(r#"[{{"event_type":"t","id":"{id}"}},{{"event_type":"t"}}]"#);
        match ureq::post(&url)
            .set("Content-Type", "application/json")
            .send_string(&body)
        {
            Ok(r) => (r.status(), None, r.into_string().unwrap()),
            Err(ureq::Error::Status(code, r)) => (
                code,
                r.header("retry-after").map(String::from),
                r.into_string().unwrap(),
            ),
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(append("a").0, 200);
    fs.set_write_budget(Some(10)); // the disk fills in the middle of the next batch
    for id in ["b", "b", "c"] {
        let (status, retry_after, body) = append(id);
        assert_eq!(status, 507, "{body}");
        assert_eq!(retry_after.as_deref(), Some("10"));
        assert!(
            body.contains("the disk holding the data directory is full"),
            "{body}"
        );
    }
    assert_eq!(
        engine.store().len(),
        2,
        "nothing of a refused append is stored"
    );
    fs.set_write_budget(None);
    let (status, _, body) = append("b");
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(r#""seq":2"#),
        "no seq lost to the full disk: {body}"
    );
    assert_eq!(engine.store().len(), 4);
    running.stop();
}
