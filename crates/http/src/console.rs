//! The console: the static page at `/` and its four assets under `/console/`, compiled into
//! the binary (`crates/http/console/`, committed as served: no build step) so it works
//! offline and a deployed binary can never serve assets of another version.
//!
//! For working on the console, `ANNAL_CONSOLE_DIR=DIR` serves the same five files from `DIR`
//! instead, read at every request, so an edit shows at the next reload without a rebuild.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::problem::Problem;

/// Every file the console has: its name, its media type and the bytes compiled in.
const ASSETS: [(&str, &str, &[u8]); 5] = [
    (
        "index.html",
        "text/html; charset=utf-8",
        include_bytes!("../console/index.html"),
    ),
    (
        "console.css",
        "text/css; charset=utf-8",
        include_bytes!("../console/console.css"),
    ),
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../console/console.js"),
    ),
    (
        "verify.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../console/verify.js"),
    ),
    (
        "chart.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../console/chart.js"),
    ),
];

/// The environment variable that serves the console from a directory (development).
pub const CONSOLE_DIR_ENV: &str = "ANNAL_CONSOLE_DIR";

/// Only the page's own scripts, styles and API calls: an event's fields are shown as text,
/// and even if one slipped into markup it could not run or send anything elsewhere.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// `GET /`: the console's page.
pub async fn index() -> Response {
    asset_response("index.html")
}

/// `GET /console/{file}`: one of the console's assets.
pub async fn asset(Path(file): Path<String>) -> Response {
    if file == "index.html" {
        // One address per file: the page is `/`.
        return Problem::new(
            StatusCode::NOT_FOUND,
            "no route /console/index.html (the console is at /)",
        )
        .into_response();
    }
    asset_response(&file)
}

fn asset_response(name: &str) -> Response {
    let Some((_, media_type, embedded)) = ASSETS.iter().find(|(n, _, _)| *n == name) else {
        return Problem::new(StatusCode::NOT_FOUND, format!("no route /console/{name}"))
            .into_response();
    };
    let body = match std::env::var_os(CONSOLE_DIR_ENV) {
        Some(dir) => match std::fs::read(std::path::Path::new(&dir).join(name)) {
            Ok(bytes) => bytes,
            Err(e) => {
                return Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("{CONSOLE_DIR_ENV}: cannot read {name}: {e}"),
                )
                .into_response()
            }
        },
        None => embedded.to_vec(),
    };
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Revalidated at every load: a new binary serves new assets under the same names.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}
