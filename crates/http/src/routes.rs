//! Routes the layers treat apart, named once for the router that layers them and the
//! OpenAPI document that tells clients about it.

/// Routes without a request timeout: streams and exports last as long as the client reads.
pub(crate) const UNTIMED_ROUTES: [&str; 2] = ["/v1/events/stream", "/v1/export"];
/// Routes open without an API key (besides the OpenAPI document and Swagger UI).
pub(crate) const OPEN_ROUTES: [&str; 2] = ["/healthz", "/v1/whoami"];
