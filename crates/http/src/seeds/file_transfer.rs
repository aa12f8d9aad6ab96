//! The file-transfer audit API: `GET /api/Audit`, offset pages, newest first.

use annal_model::Catalogs;
use annal_query::{Dir, Filter, FilterBuilder, Query, Start};
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde_json::{json, Value};

use crate::params::{number, pairs};
use crate::problem::Problem;
use crate::respond::{blocking, json_response};
use crate::state::AppState;

/// Largest page of `/api/Audit`.
const AUDIT_PAGE_MAX: u64 = 1000;
/// The catalog whose codes `/api/Audit` speaks of.
pub(crate) const FILE_TRANSFER: &str = "file-transfer";

/// The filter, page number (from 1) and page size of an `/api/Audit` request.
pub(crate) fn audit_params(
    pairs: &[(String, String)],
    catalogs: &Catalogs,
) -> Result<(Filter, u64, u64), Problem> {
    let mut filter = FilterBuilder::new(catalogs).codes_of(FILE_TRANSFER);
    let (mut page_number, mut page_size) = (1u64, 100u64);
    for (name, v) in pairs {
        // ASP.NET binds query parameters case-insensitively; a repeated one is one more
        // condition, as it always was here.
        match name.to_ascii_lowercase().as_str() {
            "category" => filter.categories("category", &[v])?,
            "eventtype" => filter.event_types("eventType", &[v])?,
            "startdate" => filter.from("startDate", v)?,
            "enddate" => filter.to_inclusive("endDate", v)?,
            "pagenumber" => page_number = number("pageNumber", v, 1, u64::from(u32::MAX))?,
            "pagesize" => page_size = number("pageSize", v, 1, AUDIT_PAGE_MAX)?,
            _ => return Err(Problem::bad_param(name, "unknown parameter")),
        }
    }
    Ok((filter.build()?, page_number, page_size))
}

/// `GET /api/Audit`: `category`, `eventType`, `startDate`, `endDate`, `pageNumber`,
/// `pageSize`; newest first.
#[utoipa::path(get, path = "/api/Audit", tag = "file-transfer audit API",
    params(
        ("category" = Option<String>, Query, description = "Category name, case-insensitive (Configuration, Transfer, …)"),
        ("eventType" = Option<String>, Query, description = "Event type name (LoginFailed, Login Failed) or code (202)"),
        ("startDate" = Option<String>, Query, description = "On or after (date or date-time)"),
        ("endDate" = Option<String>, Query, description = "On or before; a date alone includes the whole day"),
        ("pageNumber" = Option<u64>, Query, description = "From 1", minimum = 1, maximum = 4294967295_i64),
        ("pageSize" = Option<u32>, Query, description = "Default 100", minimum = 1, maximum = 1000),
    ),
    responses(
        (status = 200, description = "A page, newest first", body = crate::schemas::AuditPage),
        (status = 400, description = "A parameter is invalid", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
pub async fn audit(State(state): State<AppState>, uri: Uri) -> Result<Response, Problem> {
    let pairs = pairs(uri.query())?;
    let engine = state.engine.clone();
    let body = blocking(move || {
        let (filter, page_number, page_size) = audit_params(&pairs, engine.catalogs())?;
        let total = engine.count(&filter)?;
        let page = engine.query(&Query {
            filter,
            order: Dir::Desc,
            limit: page_size as usize,
            start: Start::Offset((page_number - 1).saturating_mul(page_size)),
        })?;
        let items: Vec<Value> = page
            .items
            .iter()
            .map(|(s, e)| e.to_json_value(*s))
            .collect();
        Ok(json!({
            "pageNumber": page_number,
            "pageSize": page_size,
            "totalCount": total,
            "totalPages": total.div_ceil(page_size),
            "items": items,
        }))
    })
    .await?;
    Ok(json_response(
        StatusCode::OK,
        serde_json::to_vec(&body).unwrap_or_default(),
    ))
}
