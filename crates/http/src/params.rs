//! Query parameters of the native API: every filter of the query engine, repeatable.

use annal_model::{Catalogs, Field, Timestamp};
use annal_query::{check_field, codes_in_category, Clause, Dir, Filter, Start};

use crate::config::{QUERY_BYTES_MAX, QUERY_PARAMS_MAX};
use crate::problem::Problem;

/// Largest page of the native API.
pub const PAGE_LIMIT_MAX: usize = 1000;
/// Page size when none is given.
pub const PAGE_LIMIT_DEFAULT: usize = 100;

/// Raw `(name, value)` pairs, checked against the parameter limits.
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

/// A time parameter: a date (its start, UTC) or an RFC 3339 time.
pub fn time(name: &str, v: &str) -> Result<Timestamp, Problem> {
    Timestamp::parse_date_or_time(v).map_err(|e| Problem::bad_param(name, e.to_string()))
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
    let mut filter = Filter::default();
    let mut order = Dir::Desc;
    let mut limit = PAGE_LIMIT_DEFAULT;
    let mut start = Start::First;
    let mut extra = Vec::new();
    let mut values: Vec<(Field, bool, Vec<String>)> = Vec::new();
    let mut categories = Vec::new();
    for (name, v) in pairs {
        match name.as_str() {
            "from" => filter.from = Some(time(name, v)?),
            "to" => filter.to = Some(time(name, v)?),
            "q" => filter.q = Some(v.clone()),
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
            "category" => categories.extend(codes_in_category(catalogs, v)?),
            n if EXTRA_PARAMS.contains(&n) => extra.push((name.clone(), v.clone())),
            n => {
                let (field_name, negate) = match n.strip_prefix("not.") {
                    Some(f) => (f, true),
                    None => (n, false),
                };
                let field = Field::from_name(field_name)
                    .filter(|f| check_field(*f).is_ok())
                    .ok_or_else(|| Problem::bad_param(n, "unknown parameter"))?;
                match values
                    .iter_mut()
                    .find(|(f, neg, _)| *f == field && *neg == negate)
                {
                    Some((_, _, list)) => list.push(v.clone()),
                    None => values.push((field, negate, vec![v.clone()])),
                }
            }
        }
    }
    if let Start::Offset(p) = start {
        start = Start::Offset(p * limit as u64);
    }
    for (field, negate, vals) in values {
        filter.clauses.push(Clause::Values {
            field,
            values: vals,
            negate,
        });
    }
    if !categories.is_empty() {
        filter.clauses.push(Clause::Codes {
            codes: categories,
            negate: false,
        });
    }
    filter.validate()?;
    Ok(ListParams {
        filter,
        order,
        limit,
        start,
        extra,
    })
}
