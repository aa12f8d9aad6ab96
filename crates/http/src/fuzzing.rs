//! One entry point to the query-string parsing of every route, for the fuzz targets
//! (`fuzz/fuzz_targets/http_query.rs`): the same functions the handlers call, without a
//! server, a store or a request.

use std::sync::OnceLock;

use annal_model::Catalogs;
use axum::http::StatusCode;

use crate::problem::Problem;
use crate::{native, params, proofs, seeds, stream};

/// Every route that reads a query string, as [`parse_route_query`] names them.
#[doc(hidden)]
pub const QUERY_ROUTES: [&str; 11] = [
    "/v1/events",
    "/v1/events/count",
    "/v1/events/histogram",
    "/v1/events/stream",
    "/v1/export",
    "/api/Audit",
    "/api/v2/audit_logs",
    "/v1/audit/events",
    "/v1/checkpoint",
    "/v1/proof/inclusion",
    "/v1/proof/consistency",
];

/// Parses `query` as the query string of `route` (one of [`QUERY_ROUTES`]) with the parsing
/// its handler uses, against the built-in catalogs: Ok when the handler would go on to run
/// the request, the problem it would answer otherwise (`/v1/audit/events`: its 422 located
/// problems, gathered in one [`Problem`]).
#[doc(hidden)]
pub fn parse_route_query(route: &str, query: &str) -> Result<(), Problem> {
    static CATALOGS: OnceLock<Catalogs> = OnceLock::new();
    let catalogs = CATALOGS.get_or_init(Catalogs::builtin);
    let query = Some(query);
    match route {
        "/v1/events" | "/v1/events/stream" => params::filter_only(query, catalogs).map(drop),
        "/v1/events/count" => native::count_params(params::pairs(query)?, catalogs).map(drop),
        "/v1/events/histogram" => {
            native::histogram_params(&params::pairs(query)?, catalogs).map(drop)
        }
        "/v1/export" => stream::export_params(query, catalogs).map(drop),
        "/api/Audit" => seeds::audit_params(&params::pairs(query)?, catalogs).map(drop),
        "/api/v2/audit_logs" => seeds::logs_params(&params::pairs(query)?, catalogs).map(drop),
        "/v1/audit/events" => seeds::events_params(query, catalogs)
            .map(drop)
            .map_err(|items| {
                let mut p = Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "validation error");
                p.errors = items;
                p
            }),
        "/v1/checkpoint" => proofs::sizes(query, []).map(drop),
        "/v1/proof/inclusion" => proofs::inclusion_params(query).map(drop),
        "/v1/proof/consistency" => proofs::consistency_params(query).map(drop),
        other => Err(Problem::new(
            StatusCode::NOT_FOUND,
            format!("no route {other} reads a query string"),
        )),
    }
}
