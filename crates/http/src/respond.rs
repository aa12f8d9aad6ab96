//! What every handler answers with: blocking engine calls moved off the async threads, JSON
//! bodies, and links to other pages that keep the request's parameters.

use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::params::pairs;
use crate::problem::Problem;

/// Runs a blocking engine call off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Problem> + Send + 'static,
) -> Result<T, Problem> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        tracing::error!("a blocking task failed: {e}");
        Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    })?
}

/// `body` as `application/json` with `status`.
pub(crate) fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// `path?kept&param=cursor`: the link to another page of the same request.
pub(crate) fn cursor_link(
    path: &str,
    kept: &[(String, String)],
    param: &str,
    cursor: &str,
) -> String {
    let mut q = kept.to_vec();
    q.push((param.to_string(), cursor.to_string()));
    format!(
        "{path}?{}",
        serde_urlencoded::to_string(&q).unwrap_or_default()
    )
}

/// The request's path and query with `cursor` set (and `page` dropped).
pub(crate) fn with_cursor(uri: &Uri, cursor: &str) -> String {
    let kept: Vec<(String, String)> = pairs(uri.query())
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| k != "cursor" && k != "page")
        .collect();
    cursor_link(uri.path(), &kept, "cursor", cursor)
}

/// Adds a `Link` header with the `next` and `prev` pages' links, when there are any.
pub(crate) fn link_pages(
    r: &mut Response,
    uri: &Uri,
    next: &Option<String>,
    prev: &Option<String>,
) {
    let links: Vec<String> = [("next", next), ("prev", prev)]
        .iter()
        .filter_map(|(rel, c)| {
            c.as_ref()
                .map(|c| format!("<{}>; rel=\"{rel}\"", with_cursor(uri, c)))
        })
        .collect();
    if let Ok(v) = HeaderValue::from_str(&links.join(", ")) {
        if !links.is_empty() {
            r.headers_mut().insert(header::LINK, v);
        }
    }
}
