//! The trail as a C2SP tlog-tiles log (c2sp.org/tlog-tiles): `GET /checkpoint` (the same
//! signed note as `/v1/checkpoint`), `GET /tile/<L>/<N>[.p/<W>]` and
//! `GET /tile/entries/<N>[.p/<W>]`, with the spec's paths, content types and cache headers,
//! so that any tlog-tiles client verifies the trail without annal's proof routes. These routes
//! are the spec's, not annal's API: the OpenAPI document leaves them to the spec
//! (docs/integrity.md, "tlog-tiles").
//!
//! Level 0 tiles and entry bundles are read from the records and kept in a bounded cache
//! (their bytes never change); higher levels come from the tile roots in memory.

use std::sync::Arc;

use annal_integrity::{parse_tile_path, read_tile, TileError, TileKind, TileRef};
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::problem::Problem;
use crate::proofs::{notary, sizes};
use crate::respond::blocking;
use crate::state::AppState;

/// Bytes of tiles and entry bundles kept in memory.
pub const TILE_CACHE_BYTES: usize = 32 << 20;

/// `Cache-Control` of the checkpoint: it changes as the trail grows.
const CHECKPOINT_CACHE: &str = "public, max-age=5";
/// `Cache-Control` of a tile or bundle: its bytes never change.
const TILE_CACHE: &str = "public, max-age=31536000, immutable";

/// The cache key of a tile: kind (256 for entries), index, width.
pub(crate) type TileKey = (u16, u64, u64);

fn key(tile: TileRef) -> TileKey {
    let kind = match tile.kind {
        TileKind::Hashes(l) => u16::from(l),
        TileKind::Entries => 256,
    };
    (kind, tile.index, tile.width)
}

fn with_headers(body: Vec<u8>, content_type: &'static str, cache: &'static str) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    r
}

/// `GET /checkpoint`.
pub async fn checkpoint(State(state): State<AppState>, uri: Uri) -> Result<Response, Problem> {
    sizes(uri.query(), [])?;
    let signed = notary(&state)?
        .latest()
        .ok_or_else(|| Problem::new(StatusCode::NOT_FOUND, "no checkpoint has been signed yet"))?;
    Ok(with_headers(
        signed.note.as_bytes().to_vec(),
        "text/plain; charset=utf-8",
        CHECKPOINT_CACHE,
    ))
}

fn tile_problem(e: TileError) -> Problem {
    let status = match &e {
        TileError::BadPath(_) => StatusCode::BAD_REQUEST,
        TileError::NotInTree { .. } => StatusCode::NOT_FOUND,
        TileError::Pruned { .. } => StatusCode::GONE,
        TileError::EntryTooLong { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        TileError::Source(e) => {
            tracing::error!("tile failed: {e}");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    Problem::new(status, e.to_string())
}

/// `GET /tile/{*path}`.
pub async fn tile(
    State(state): State<AppState>,
    Path(path): Path<String>,
    uri: Uri,
) -> Result<Response, Problem> {
    sizes(uri.query(), [])?;
    let tile = parse_tile_path(&path).map_err(tile_problem)?;
    let cached = state.tiles.lock().get(&key(tile));
    let bytes = match cached {
        Some(b) => b,
        None => {
            let notary = notary(&state)?;
            let (engine, cache) = (state.engine.clone(), state.tiles.clone());
            blocking(move || {
                let snap = engine.store().snapshot();
                let hashes = notary.tiles(&snap).map_err(|e| tile_problem(e.into()))?;
                let bytes: Arc<[u8]> = read_tile(&snap, &hashes, tile)
                    .map_err(tile_problem)?
                    .into();
                cache.lock().insert(key(tile), bytes.clone(), bytes.len());
                Ok(bytes)
            })
            .await?
        }
    };
    Ok(with_headers(
        bytes.to_vec(),
        "application/octet-stream",
        TILE_CACHE,
    ))
}
