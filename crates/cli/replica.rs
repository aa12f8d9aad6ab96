//! `annal serve --replica`: serve queries, proofs, checkpoints, streams and exports from a
//! local copy of the bucket's trail, kept up to date by a follower thread; never append,
//! never sign, never upload.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use annal_bucket::FollowerThread;
use annal_http::{AppState, Config, ReplicaInfo};
use annal_index::IndexOptions;
use annal_integrity::Notary;
use annal_model::Catalogs;
use annal_query::Engine;
use annal_storage::{Options, Store};
use anyhow::Context;

/// The engine's store, for the follower (which appends to it).
struct EngineStore(Arc<Engine>);

impl AsRef<Store> for EngineStore {
    fn as_ref(&self) -> &Store {
        self.0.store()
    }
}

/// Serves the replica in `data` of the bucket `config` names on `listen`, until SIGINT or
/// SIGTERM; then stops the follower and closes the store.
pub fn serve_replica(config: &Config, data: &Path, listen: SocketAddr) -> anyhow::Result<ExitCode> {
    let bucket = config.object_store.as_ref().context(
        "--replica follows a bucket: --config must have an [object_store] table naming it",
    )?;
    let remote = bucket.connect()?;
    std::fs::create_dir_all(data).with_context(|| format!("creating {}", data.display()))?;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(annal_bucket::Follower::new(remote.clone()).prepare(data))
        .with_context(|| format!("preparing {} to follow {}", data.display(), bucket.url))?;
    let store = Store::open(data, Options::default())
        .with_context(|| format!("opening {}", data.display()))?;
    let notary = Notary::adopting(data, &store.snapshot()).with_context(|| {
        format!(
            "{} does not give the roots of the checkpoints it holds",
            data.display()
        )
    })?;
    let engine = Arc::new(Engine::new(
        store,
        IndexOptions::default(),
        Catalogs::builtin(),
    )?);
    let interval = Duration::from_millis(bucket.ship_interval_ms);
    let mut follower = FollowerThread::spawn(remote, EngineStore(engine.clone()), interval)
        .with_context(|| format!("{} cannot follow {}", data.display(), bucket.url))?;
    let state = AppState::new(engine.clone(), config)
        .map_err(anyhow::Error::msg)?
        .with_notary(notary)
        .with_replica(ReplicaInfo {
            primary: bucket.url.clone(),
        });
    if state.keys.is_empty() {
        eprintln!("annal serve: no API keys configured: development mode, every route open, loopback only");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    // Live streams wake on what the follower appends, as they do on a primary's appends.
    let mut local = follower.local_events();
    let appended = state.appended.clone();
    runtime.spawn(async move {
        while local.changed().await.is_ok() {
            let end = *local.borrow_and_update();
            appended.send_replace(end);
        }
    });
    let served = runtime.block_on(annal_http::serve(
        listen,
        state,
        config,
        annal_http::shutdown_signal(),
        |addr| {
            use std::io::Write;
            println!(
                "annal serving {} ({} events), a read replica of {}, on http://{addr}",
                data.display(),
                engine.store().len(),
                bucket.url
            );
            let _ = std::io::stdout().flush();
        },
    ));
    drop(runtime);
    // The follower holds the engine: stop it before the store is closed.
    follower.stop();
    let status = follower.status();
    drop(follower);
    served?;
    match Arc::try_unwrap(engine) {
        Ok(engine) => engine.close()?,
        Err(_) => anyhow::bail!("the store is still in use at shutdown"),
    }
    eprintln!(
        "annal serve: stopped (replica of {}: {} events, {} behind the bucket at the last poll)",
        bucket.url,
        status.local_events,
        status.lag()
    );
    Ok(ExitCode::SUCCESS)
}
