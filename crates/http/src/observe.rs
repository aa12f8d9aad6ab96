//! Every request, observed once: a request id (the client's `X-Request-Id` when it sent a
//! usable one, else a new one, echoed in the answer), one log line with its route, status and
//! latency (JSON with `--log-format json`), and the answer counted in `/metrics`.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::metrics::Answered;
use crate::routes::UNTIMED_ROUTES;
use crate::state::AppState;

/// The header that carries a request's id, both ways.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Longest request id taken from a client (a longer or non-printable one is replaced).
const REQUEST_ID_BYTES_MAX: usize = 128;

/// The client's request id if it is short printable ASCII, else a new random one.
fn request_id(req: &Request) -> String {
    let sent = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|id| {
            !id.is_empty()
                && id.len() <= REQUEST_ID_BYTES_MAX
                && id.bytes().all(|b| b.is_ascii_graphic())
        });
    match sent {
        Some(id) => id.to_string(),
        None => {
            let n: u128 = rand::random();
            format!("{n:032x}")
        }
    }
}

/// The method as a label: one of the API's methods, or `other`.
fn method_label(m: &Method) -> &'static str {
    const KNOWN: [(Method, &str); 7] = [
        (Method::GET, "GET"),
        (Method::POST, "POST"),
        (Method::HEAD, "HEAD"),
        (Method::PUT, "PUT"),
        (Method::DELETE, "DELETE"),
        (Method::PATCH, "PATCH"),
        (Method::OPTIONS, "OPTIONS"),
    ];
    KNOWN
        .iter()
        .find(|(k, _)| k == m)
        .map_or("other", |(_, name)| name)
}

/// Middleware: ids, logs and counts every request.
pub async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id(&req);
    // The route's pattern, never the path: paths carry ids and would make unbounded series.
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_string();
    let method = method_label(req.method());
    let span = tracing::info_span!("request", request_id = %id, method, route = %route);
    let mut response = next.run(req).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    span.in_scope(|| {
        tracing::info!(status, latency_ms = elapsed.as_secs_f64() * 1e3, "answered");
    });
    state.metrics.answered(Answered {
        route: route.clone(),
        method,
        status,
    });
    if !UNTIMED_ROUTES.contains(&route.as_str()) {
        state.metrics.took(&route, elapsed);
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    response
}
