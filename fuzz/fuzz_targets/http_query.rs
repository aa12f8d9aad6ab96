//! Query strings of every HTTP route that reads one (`annal_http::QUERY_ROUTES`): the first
//! byte picks the route (its value modulo the number of routes), the rest, as text, is the
//! query string. It goes through the parsing the route's handler uses
//! (`annal_http::parse_route_query`) and must give Ok or a typed `Problem` with a 4xx status
//! and a detail, never a panic; strings longer than `QUERY_BYTES_MAX` are always refused.
#![no_main]
use annal_http::{parse_route_query, QUERY_BYTES_MAX, QUERY_ROUTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let route = QUERY_ROUTES[usize::from(pick) % QUERY_ROUTES.len()];
    let query = String::from_utf8_lossy(rest);
    match parse_route_query(route, &query) {
        Ok(()) => assert!(
            query.len() <= QUERY_BYTES_MAX,
            "{route}: an over-long query passed"
        ),
        Err(p) => {
            assert!(
                (400..500).contains(&p.status),
                "{route}: status {} for {query:?}",
                p.status
            );
            assert!(
                !p.detail.is_empty() || !p.errors.is_empty(),
                "{route}: a problem without a word"
            );
        }
    }
});
