//! Backpressure over HTTP: when the store's append queue is full the server answers 429 with
//! `Retry-After` at once, stores nothing of the refused batch, and never queues without
//! bound. A real server on an ephemeral port; the disk is made slow (each fdatasync takes
//! 300 ms) and the writer's queue one request deep, so concurrent appends must overflow it.

use std::sync::Arc;
use std::time::Duration;

use annal_http::{AppState, Config};
use annal_index::IndexOptions;
use annal_model::Catalogs;
use annal_query::Engine;
use annal_storage::{FaultyFs, Options, Store};

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
    let engine =
        Arc::new(Engine::new(store, IndexOptions::default(), Catalogs::builtin()).unwrap());
    let config = Config::default();
    let state = AppState::new(engine.clone(), &config).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        runtime.block_on(annal_http::serve(
            "127.0.0.1:0".parse().unwrap(),
            state,
            &config,
            async {
                let _ = stop_rx.await;
            },
            move |addr| addr_tx.send(addr).unwrap(),
        ))
    });
    let addr = addr_rx.recv().unwrap();
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
    stop_tx.send(()).unwrap();
    server.join().unwrap().unwrap();
}
