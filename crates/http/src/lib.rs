//! annal's HTTP service: the native API (`/v1`), the seed systems' routes, an OpenAPI 3.1
//! document with Swagger UI, API keys with roles, live tail (SSE) and export.
//!
//! Queries and appends are blocking calls into the engine; handlers run them on tokio's
//! blocking pool. Every input is bounded: body size, parameter count and length, page
//! sizes, request time, concurrent streams, and the store's own append queue (429).
//!
//! Modules, each importing only those below it: handlers (`native`, `stream`, `proofs`,
//! `seeds::{file_transfer, audit_logs_v2, audit_events_v1}`) build on `respond` (blocking
//! calls, JSON answers, page links), `params` (query strings and the native filters),
//! `schemas` (what the document says they answer), `state` and `problem`; `openapi` gathers
//! the handlers' paths, and this file wires the routes.

mod auth;
mod config;
mod console;
mod facts;
mod fuzzing;
mod listen;
mod metrics;
mod native;
mod observe;
mod openapi;
mod params;
mod problem;
mod proofs;
mod respond;
mod retention;
mod routes;
mod schemas;
mod scrub;
mod seeds;
mod state;
mod stream;
mod tiles;
mod trail;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use annal_integrity::Notary;
use annal_query::Engine;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};
use axum::Router;

pub use auth::{generate_key, key_entry_toml, key_hash_hex, ApiKey, Role};
pub use config::{
    Config, ConfigError, KeyEntry, MetricsAccess, MetricsConfig, BODY_BYTES_DEFAULT,
    CHECKPOINT_SECONDS_DEFAULT, QUERY_BYTES_MAX, QUERY_PARAMS_MAX, REQUEST_SECONDS_DEFAULT,
    STREAMS_MAX_DEFAULT,
};
pub use console::CONSOLE_DIR_ENV;
pub use fuzzing::{parse_route_query, QUERY_ROUTES};
pub use listen::{CONNECTIONS_MAX, HEADER_READ_SECONDS};
pub use observe::REQUEST_ID_HEADER;
pub use openapi::{document, ApiDoc};
pub use problem::{Problem, ProblemItem, READ_ONLY_REPLICA};
pub use state::{
    AppState, BucketAck, BucketStatus, ReplicaInfo, BUCKET_ACK_WAIT, JSON_CACHE_BYTES,
};

use crate::auth::require;
use crate::routes::{OPEN_ROUTES, UNTIMED_ROUTES};

/// Why the server would not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// No keys configured and a non-loopback address asked for.
    #[error("no API keys are configured (development mode), so annal serves only on loopback; {0} is not a loopback address. Configure api_keys, or listen on 127.0.0.1")]
    OpenOnNetwork(SocketAddr),
    /// The configuration is invalid.
    #[error("{0}")]
    Config(String),
    /// Binding or serving failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Header on every query answer once the trail was pruned: the first seq it holds, so a
/// client whose range came back empty or short knows the trail starts later.
pub const TRAIL_START_HEADER: &str = "annal-trail-start";

async fn trail_start_header(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    let mut r = next.run(req).await;
    let start = state.engine.store().start();
    if start > 0 {
        r.headers_mut()
            .insert(TRAIL_START_HEADER, axum::http::HeaderValue::from(start));
    }
    r
}

/// Largest body of the admin routes (a hold's reason and filter are at most 4 KiB each).
const HOLD_BODY_BYTES_MAX: usize = 16 << 10;

/// The whole application.
pub fn router(state: AppState, config: &Config) -> Router {
    let with_role =
        |role: Role| middleware::from_fn_with_state((state.keys.clone(), role), require);
    let produce = Router::new()
        .route("/v1/events", post(native::append))
        .layer(DefaultBodyLimit::max(config.body_limit_bytes))
        .route_layer(with_role(Role::Producer));
    let read = Router::new()
        .route("/v1/events", get(native::list))
        .route("/v1/events/count", get(native::count))
        .route("/v1/events/histogram", get(native::histogram))
        .route("/v1/events/{key}", get(native::get_one))
        .route("/v1/catalog", get(native::catalog))
        .route("/v1/trail", get(trail::trail))
        .route("/api/Audit", get(seeds::file_transfer::audit))
        .route("/api/v2/audit_logs", get(seeds::audit_logs_v2::audit_logs))
        .route(
            "/v1/audit/events",
            get(seeds::audit_events_v1::audit_events),
        )
        .route_layer(with_role(Role::Reader))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            trail_start_header,
        ));
    let audit = Router::new()
        .route("/v1/checkpoint", get(proofs::checkpoint))
        .route("/v1/proof/inclusion", get(proofs::inclusion))
        .route("/v1/proof/consistency", get(proofs::consistency))
        .route("/v1/retention", get(retention::status))
        .route("/v1/holds", get(retention::list_holds))
        .route("/checkpoint", get(tiles::checkpoint))
        .route(
            "/tile/{*path}",
            // Entry bundles SHOULD be compressed at the HTTP layer (gzip, as the client asks).
            get(tiles::tile).layer(tower_http::compression::CompressionLayer::new().gzip(true)),
        )
        .route_layer(with_role(Role::Auditor));
    let admin = Router::new()
        .route("/v1/retention/prune", post(retention::prune))
        .route("/v1/holds", post(retention::place_hold))
        .route("/v1/holds/{id}/release", post(retention::release_hold))
        .layer(DefaultBodyLimit::max(HOLD_BODY_BYTES_MAX))
        .route_layer(with_role(Role::Admin));
    let [stream_route, export_route] = UNTIMED_ROUTES;
    let long = Router::new()
        .route(stream_route, get(stream::stream))
        .route(export_route, get(stream::export))
        .route_layer(with_role(Role::Reader))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            trail_start_header,
        ));
    let metrics = match config.metrics.access.role() {
        Some(role) => metrics_route().route_layer(with_role(role)),
        None => metrics_route(),
    };
    let [healthz_route, whoami_route] = OPEN_ROUTES;
    let open = Router::new()
        .route(healthz_route, get(native::healthz))
        .route(
            whoami_route,
            get(auth::whoami).with_state(state.keys.clone()),
        )
        .route("/", get(console::index))
        .route("/console/{file}", get(console::asset));
    let timeout = Duration::from_secs(config.request_timeout_secs);
    let bounded = Router::new()
        .merge(produce)
        .merge(read)
        .merge(audit)
        .merge(admin)
        .merge(metrics)
        .merge(open)
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            timeout,
        ));
    let doc = Arc::new(openapi::document(state.engine.catalogs()));
    let swagger = utoipa_swagger_ui::SwaggerUi::new("/api/audit/swagger")
        .url("/api/audit/swagger/v1/swagger.json", (*doc).clone());
    let doc_json = Arc::new(doc.to_pretty_json().unwrap_or_default());
    Router::new()
        .merge(bounded)
        .merge(long)
        .route(
            "/openapi.json",
            get(move || {
                let doc = doc_json.clone();
                async move {
                    respond::json_response(axum::http::StatusCode::OK, doc.as_bytes().to_vec())
                }
            }),
        )
        .merge(swagger)
        .fallback(native::not_found)
        // After every route: it applies to the routes registered so far.
        .method_not_allowed_fallback(native::method_not_allowed)
        // Layered last, so it wraps every route (each knows its pattern by now) and fallback.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            observe::observe,
        ))
        .with_state(state)
}

fn metrics_route() -> Router<AppState> {
    Router::new().route("/metrics", get(trail::metrics))
}

/// The router of the separate metrics address (`[metrics] listen`): `/metrics` alone, open.
pub fn metrics_router(state: AppState) -> Router {
    metrics_route()
        .fallback(native::not_found)
        .with_state(state)
}

/// Serves until `shutdown` resolves, then stops accepting, lets requests in flight finish
/// and returns (the caller closes the store, which syncs it).
pub async fn serve(
    listen: SocketAddr,
    state: AppState,
    config: &Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    on_bound: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    if state.keys.is_empty() && !listen.ip().is_loopback() {
        return Err(ServeError::OpenOnNetwork(listen));
    }
    let listener = tokio::net::TcpListener::bind(listen).await?;
    if let Some(notary) = &state.notary {
        // Before the first request can ask: even an empty store serves a checkpoint (of the
        // empty tree) from the moment it listens.
        sign_now(&state.engine, notary).await;
    }
    on_bound(listener.local_addr()?);
    if let Some(notary) = state.notary.clone() {
        let every = Duration::from_secs(config.checkpoint_interval_secs);
        tokio::spawn(sign_checkpoints(state.engine.clone(), notary, every));
    }
    if let (Some(_), Some(days)) = (&state.retention, state.retention_days) {
        let every = Duration::from_secs(config.prune_interval_secs);
        tokio::spawn(prune_on_schedule(state.clone(), days, every));
    }
    tokio::spawn(scrub::verify_on_schedule(
        state.engine.clone(),
        state.notary.clone(),
        state.verifications.clone(),
        Duration::from_secs(config.verify_interval_secs),
    ));
    tokio::spawn(keep_indexes(state.engine.clone()));
    let shutdown = shared(shutdown);
    if let Some(addr) = config.metrics.listen {
        let metrics_listener = tokio::net::TcpListener::bind(addr).await?;
        tracing::info!(
            "serving /metrics also on http://{}",
            metrics_listener.local_addr()?
        );
        let router = metrics_router(state.clone());
        tokio::spawn(listen::serve_router(metrics_listener, router, shutdown()));
    }
    listen::serve_router(listener, router(state, config), shutdown()).await;
    Ok(())
}

/// Prunes by `retention_days` every `every`, the first time one `every` after the start (an
/// operator who just set the policy has that long to place holds; a restart loop does not
/// prune at every start), on the blocking pool. A failure is logged; the next turn tries again.
async fn prune_on_schedule(state: AppState, days: u32, every: Duration) {
    let Some(retention) = state.retention.clone() else {
        return;
    };
    loop {
        tokio::time::sleep(every).await;
        let (engine, notary, retention) = (
            state.engine.clone(),
            state.notary.clone(),
            retention.clone(),
        );
        let done = tokio::task::spawn_blocking(move || {
            retention::prune_now(
                &retention,
                &engine,
                notary.as_deref(),
                days,
                "annal (retention policy)",
            )
        })
        .await;
        match done {
            Ok(Ok((plan, done))) if !done.is_empty() => {
                tracing::info!(
                    "retention: pruned seqs {}..{} ({} events)",
                    plan.from,
                    plan.to,
                    plan.events()
                );
                // The prune's own event was appended: live tails see it.
                state.appended.send_replace(state.engine.store().len());
            }
            Ok(Ok((plan, _))) => tracing::debug!(
                "retention: nothing to prune ({})",
                plan.kept_because.as_deref().unwrap_or("the trail is empty")
            ),
            Ok(Err(e)) => tracing::error!("retention: the scheduled prune failed: {e}"),
            Err(e) => tracing::error!("retention: the scheduled prune panicked: {e}"),
        }
    }
}

/// One shutdown future for several listeners: each call of the result gives a future that
/// resolves once `shutdown` has.
fn shared(
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = tx.send(true);
    });
    move || {
        let mut rx = rx.clone();
        Box::pin(async move {
            let _ = rx.wait_for(|stopped| *stopped).await;
        })
    }
}

/// How often the indexes are caught up with the trail.
const INDEX_POLL: Duration = Duration::from_secs(1);

/// Appends per [`INDEX_POLL`] above which the indexes are left to catch up later: a bulk
/// load keeps both cores for appending (indexing beside it cost 14 % of the peak append rate,
/// docs/benchmarks.md), and the indexes catch up once it slows down.
const INDEX_BUSY_EVENTS: u64 = 50_000;

/// Keeps the indexes caught up with appends and seals, so the first query after a seal or a
/// bulk load does not pay for building the indexes, and `annal_index_lag_events` stays near
/// zero outside bulk loads. A failure is logged; the next query reports it to its client.
async fn keep_indexes(engine: Arc<Engine>) {
    let mut seen = engine.store().len();
    loop {
        tokio::time::sleep(INDEX_POLL).await;
        let now = engine.store().len();
        let busy = now.saturating_sub(seen) > INDEX_BUSY_EVENTS;
        seen = now;
        if busy {
            continue;
        }
        let e = engine.clone();
        // On the blocking pool, lag's look too: it waits for the indexer's lock, which a
        // query building an index holds.
        let caught_up = move || {
            if e.indexer().lag(&e.store().snapshot()) == 0 {
                return Ok(());
            }
            e.view().map(|_| ())
        };
        match tokio::task::spawn_blocking(caught_up).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!("indexing the trail failed: {err}"),
            Err(err) => tracing::error!("indexing the trail panicked: {err}"),
        }
    }
}

/// Signs a checkpoint of the trail as it is now (if it grew), on the blocking pool. A
/// failure is logged; the next turn tries again.
async fn sign_now(engine: &Arc<Engine>, notary: &Arc<Notary>) {
    let (snap, notary) = (engine.store().snapshot(), notary.clone());
    match tokio::task::spawn_blocking(move || notary.sign(&snap)).await {
        Ok(Ok(Some(s))) => tracing::debug!("newest checkpoint: tree size {}", s.checkpoint.size),
        Ok(Ok(None)) => {}
        Ok(Err(e)) => tracing::error!("cannot sign a checkpoint: {e}"),
        Err(e) => tracing::error!("the checkpoint signer failed: {e}"),
    }
}

/// How often the signer looks for a newly sealed segment.
const SEAL_POLL: Duration = Duration::from_secs(1);

/// Signs a checkpoint now, after every seal, and every `every` while the trail grows. A
/// failure is logged and retried at the next turn; the notary never signs a tree that does
/// not extend the last one.
async fn sign_checkpoints(engine: Arc<Engine>, notary: Arc<Notary>, every: Duration) {
    let mut sealed_end: Option<Option<u64>> = None;
    let mut last_signed = tokio::time::Instant::now();
    loop {
        let snap = engine.store().snapshot();
        let now_sealed = snap.sealed().last().map(|s| s.end());
        // Adopting (a replica) costs a stat of the log while nothing changed: every turn.
        let due =
            notary.adopts() || sealed_end != Some(now_sealed) || last_signed.elapsed() >= every;
        if due {
            sign_now(&engine, &notary).await;
            sealed_end = Some(now_sealed);
            last_signed = tokio::time::Instant::now();
        }
        tokio::time::sleep(SEAL_POLL).await;
    }
}

/// Resolves at SIGINT or SIGTERM: what `annal serve` passes to [`serve`] as its shutdown.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                // No SIGTERM handler can be installed: Ctrl-C alone stops the server.
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
