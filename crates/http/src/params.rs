//! Query strings: their pairs within the parameter limits, and the native API's parameters,
//! every filter of the query engine (through its filter builder), repeatable.

use annal_model::Catalogs;
use annal_query::{Dir, Filter, FilterBuilder, Start};

use crate::config::{QUERY_BYTES_MAX, QUERY_PARAMS_MAX};
use crate::problem::Problem;

/// Largest page of the native API.
pub const PAGE_LIMIT_MAX: usize = 1000;
/// Page size when none is given.
pub const PAGE_LIMIT_DEFAULT: usize = 100;

/// Raw `(name, value)` pairs, checked against the parameter limits.
///
/// An empty value (`from=`, `category=`, `filter[action]=`, a name without `=`) is refused on
/// every route, and the OpenAPI document says `minLength: 1` for every query parameter. One
/// rule for all routes, and the refusing one: an empty value is almost always a client bug (a
/// template variable left unset), and treating it as absent would widen the query silently;
/// Stripe and GitHub likewise answer a clear 400 for a value they cannot use rather than
/// guess.
pub fn pairs(raw: Option<&str>) -> Result<Vec<(String, String)>, Problem> {
    let raw = raw.unwrap_or("");
    if raw.len() > QUERY_BYTES_MAX {
        return Err(Problem::bad_param(
            "query",
            format!("longer than {QUERY_BYTES_MAX} bytes"),
        ));
    }
    let pieces = || raw.split('&').filter(|p| !p.is_empty());
    if pieces().count() > QUERY_PARAMS_MAX {
        return Err(Problem::bad_param(
            "query",
            format!("more than {QUERY_PARAMS_MAX} parameters"),
        ));
    }
    pieces()
        .map(|piece| {
            let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
            let name = form_decode(name, "query")?;
            let value = form_decode(value, &name)?;
            if value.is_empty() {
                return Err(Problem::bad_param(
                    &name,
                    "empty; give a value or leave the parameter out",
                ));
            }
            Ok((name, value))
        })
        .collect()
}

/// One name or value of an `application/x-www-form-urlencoded` query: `+` is a space, then
/// percent-decoding. Bytes that are not UTF-8 are refused, not replaced: a filter on a
/// mangled value would silently match nothing.
fn form_decode(text: &str, loc: &str) -> Result<String, Problem> {
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| Problem::bad_param(loc, "not valid UTF-8 once percent-decoded"))
}

/// A whole-number parameter within `lo..=hi`.
pub fn number(name: &str, v: &str, lo: u64, hi: u64) -> Result<u64, Problem> {
    match v.trim().parse::<u64>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(n),
        _ => Err(Problem::bad_param(
            name,
            format!("expected a whole number from {lo} to {hi}, got {v:?}"),
        )),
    }
}

/// What a native list request asks for.
pub struct ListParams {
    /// The filter.
    pub filter: Filter,
    /// Sort order.
    pub order: Dir,
    /// Page size.
    pub limit: usize,
    /// Where to start.
    pub start: Start,
    /// `interval` and `by` (histograms); `format` (exports).
    pub extra: Vec<(String, String)>,
}

/// Parameters that are not filters, accepted by some routes.
const EXTRA_PARAMS: [&str; 3] = ["interval", "by", "format"];

/// Parses the native filter and paging parameters. Unknown parameters are refused, so that a
/// typo does not silently widen a query.
pub fn list_params(pairs: &[(String, String)], catalogs: &Catalogs) -> Result<ListParams, Problem> {
    let mut filter = FilterBuilder::new(catalogs);
    let mut order = Dir::Desc;
    let mut limit = PAGE_LIMIT_DEFAULT;
    let mut start = Start::First;
    let mut extra = Vec::new();
    for (name, v) in pairs {
        match name.as_str() {
            "order" => {
                order = match v.as_str() {
                    "asc" => Dir::Asc,
                    "desc" => Dir::Desc,
                    _ => return Err(Problem::bad_param(name, "expected asc or desc")),
                }
            }
            "limit" => limit = number(name, v, 1, PAGE_LIMIT_MAX as u64)? as usize,
            "cursor" => start = Start::Cursor(v.clone()),
            "page" => {
                let p = number(name, v, 1, u64::from(u32::MAX))?;
                start = Start::Offset(p - 1);
            }
            n if EXTRA_PARAMS.contains(&n) => extra.push((name.clone(), v.clone())),
            n => {
                if !filter.native_param(n, v)? {
                    return Err(Problem::bad_param(n, "unknown parameter"));
                }
            }
        }
    }
    if let Start::Offset(p) = start {
        start = Start::Offset(p * limit as u64);
    }
    Ok(ListParams {
        filter: filter.build()?,
        order,
        limit,
        start,
        extra,
    })
}

/// The filter and paging of a route that takes nothing else, from its query string.
pub(crate) fn filter_only(query: Option<&str>, catalogs: &Catalogs) -> Result<ListParams, Problem> {
    let p = list_params(&pairs(query)?, catalogs)?;
    match p.extra.first() {
        Some((name, _)) => Err(Problem::bad_param(name, "not a parameter of this route")),
        None => Ok(p),
    }
}
