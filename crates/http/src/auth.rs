//! API keys and roles: keys are kept as SHA-256 hashes and compared in constant time.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::problem::Problem;

/// What a key may do.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Append events.
    Producer,
    /// Query, stream and export.
    Reader,
    /// Reader, plus integrity endpoints.
    Auditor,
    /// Everything.
    Admin,
}

impl Role {
    /// The role's name, as the configuration spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Producer => "producer",
            Role::Reader => "reader",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }

    /// True when this role may do what `needed` allows.
    pub fn allows(self, needed: Role) -> bool {
        match needed {
            Role::Admin => self == Role::Admin,
            Role::Producer => matches!(self, Role::Producer | Role::Admin),
            Role::Reader => matches!(self, Role::Reader | Role::Auditor | Role::Admin),
            Role::Auditor => matches!(self, Role::Auditor | Role::Admin),
        }
    }
}

/// A configured key: its hash and role.
#[derive(Clone, Debug)]
pub struct ApiKey {
    name: String,
    hash: [u8; 32],
    role: Role,
}

impl ApiKey {
    /// A key from its hex SHA-256.
    pub fn from_hex(name: &str, hex: &str, role: Role) -> Result<ApiKey, String> {
        let bytes = hex.trim().as_bytes();
        if bytes.len() != 64 {
            return Err(format!("key {name:?}: sha256 must be 64 hex digits"));
        }
        let mut hash = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let s = std::str::from_utf8(pair).map_err(|_| format!("key {name:?}: not hex"))?;
            hash[i] = u8::from_str_radix(s, 16).map_err(|_| format!("key {name:?}: not hex"))?;
        }
        Ok(ApiKey {
            name: name.to_string(),
            hash,
            role,
        })
    }
}

/// A new API key: `annal_` and 48 hex digits of the operating system's randomness (192 bits).
/// Only its [`key_hash_hex`] goes into the configuration; the key itself is shown once.
pub fn generate_key() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    std::iter::once("annal_".to_string())
        .chain(bytes.iter().map(|b| format!("{b:02x}")))
        .collect()
}

/// The `[[api_keys]]` entry of the configuration file that admits `key` as `name` in `role`.
pub fn key_entry_toml(key: &str, name: &str, role: &str) -> String {
    format!(
        "[[api_keys]]\nname = {name:?}\nrole = {role:?}\nsha256 = \"{}\"",
        key_hash_hex(key)
    )
}

/// Hex SHA-256 of a key, as the configuration stores it.
pub fn key_hash_hex(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Equal in time independent of where the inputs differ.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The key a request presents: `X-API-Key`, or `Authorization: Bearer`.
fn presented(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers.get("x-api-key") {
        return v.to_str().ok();
    }
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = auth.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// The role of the key a request presents, checked against every configured key (no early
/// exit, so the time taken does not tell which key came close).
pub fn role_of(keys: &[ApiKey], headers: &HeaderMap) -> Option<(Role, String)> {
    let key = presented(headers)?;
    let hash: [u8; 32] = Sha256::digest(key.as_bytes()).into();
    let mut found = None;
    for k in keys {
        if same(&k.hash, &hash) {
            found = Some((k.role, k.name.clone()));
        }
    }
    found
}

/// 401 with the header that tells a client which scheme to use.
fn unauthorized() -> Response {
    let mut r = Problem::new(
        StatusCode::UNAUTHORIZED,
        "a valid API key is required (X-API-Key or Authorization: Bearer)",
    )
    .into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    r
}

/// Who a key is: what `GET /v1/whoami` answers.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct WhoamiOut {
    /// What the key may do: `producer`, `reader`, `auditor` or `admin` (`admin` in
    /// development mode).
    role: String,
    /// The key's name in the configuration (`development` in development mode).
    name: String,
    /// True when no keys are configured: every route is open (loopback only).
    development_mode: bool,
}

/// `GET /v1/whoami`: the role and name of the key presented, so a client (the console) can
/// offer only what the key may do.
#[utoipa::path(get, path = "/v1/whoami", tag = "operation",
    security(()),
    responses(
        (status = 200, description = "The key's role and name", body = WhoamiOut),
        (status = 401, description = "No key, or a key that is not configured", body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
pub async fn whoami(State(keys): State<Arc<[ApiKey]>>, headers: HeaderMap) -> Response {
    let (role, name, development_mode) = if keys.is_empty() {
        (Role::Admin, "development".to_string(), true)
    } else {
        match role_of(&keys, &headers) {
            Some((role, name)) => (role, name, false),
            None => return unauthorized(),
        }
    };
    let out = WhoamiOut {
        role: role.as_str().to_string(),
        name,
        development_mode,
    };
    axum::Json(out).into_response()
}

/// Middleware: the request needs `needed`. In development mode (no keys) everything passes.
pub async fn require(
    State((keys, needed)): State<(Arc<[ApiKey]>, Role)>,
    req: Request,
    next: Next,
) -> Response {
    if keys.is_empty() {
        return next.run(req).await;
    }
    match role_of(&keys, req.headers()) {
        None => unauthorized(),
        Some((role, name)) if !role.allows(needed) => Problem::new(
            StatusCode::FORBIDDEN,
            format!("key {name:?} has role {role:?}; this route needs {needed:?}"),
        )
        .into_response(),
        Some(_) => next.run(req).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_keys() {
        let keys = vec![
            ApiKey::from_hex("p", &key_hash_hex("prod-key"), Role::Producer).unwrap(),
            ApiKey::from_hex("r", &key_hash_hex("read-key"), Role::Reader).unwrap(),
        ];
        let mut h = HeaderMap::new();
        assert_eq!(role_of(&keys, &h), None);
        h.insert("x-api-key", "read-key".parse().unwrap());
        assert_eq!(role_of(&keys, &h).map(|r| r.0), Some(Role::Reader));
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "bearer prod-key".parse().unwrap());
        assert_eq!(role_of(&keys, &h).map(|r| r.0), Some(Role::Producer));
        h.insert(header::AUTHORIZATION, "Bearer nope".parse().unwrap());
        assert_eq!(role_of(&keys, &h), None);
        assert!(Role::Admin.allows(Role::Producer) && Role::Auditor.allows(Role::Reader));
        assert!(!Role::Reader.allows(Role::Producer) && !Role::Producer.allows(Role::Reader));
        assert!(ApiKey::from_hex("x", "abc", Role::Reader).is_err());
    }
}
