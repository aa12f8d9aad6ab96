//! The event-code table: what each catalog code does (verb, actor, resource, payload,
//! failure modes, HTTP route), derived from its name and category, and how popular it is.

use annal_model::{Field, IntField};

use super::resources::{plural, Res};
use crate::json::{escaped, uint};

/// The verb of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    Login,
    Logout,
    Create,
    Update,
    Destroy,
    Read,
    Download,
    Upload,
    Execute,
}

impl Action {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Action::Login => "login",
            Action::Logout => "logout",
            Action::Create => "create",
            Action::Update => "update",
            Action::Destroy => "destroy",
            Action::Read => "read",
            Action::Download => "download",
            Action::Upload => "upload",
            Action::Execute => "execute",
        }
    }
}

/// Which actors cause an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ActorPref {
    User,
    Service,
    System,
    /// Users mostly, services sometimes.
    Any,
}

/// What goes in `event_payload`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Payload {
    None,
    /// `{"after":{k:v},"before":{k:v}}`.
    Config,
    /// `{"bytes":n,"files":k,"protocol":p}`.
    TransferRun,
    /// `{"bytes":n,"file":name}`.
    TransferFile,
    /// `{"version":n}`.
    SecretVersion,
    /// `{"ticket":"CHG-nnnnn"}` on some events.
    Ticket,
    /// One of a few constant objects.
    Choice(&'static [&'static str]),
}

/// Which error messages a failure of this code gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ErrKind {
    Login,
    Denied,
    Limit,
    System,
    Generic,
}

/// Everything the generator needs to know about one event code.
pub(crate) struct Spec {
    pub(crate) code: i64,
    pub(crate) catalog: &'static str,
    /// Catalog name and category, for tests and debugging.
    #[allow(dead_code)]
    pub(crate) name: String,
    #[allow(dead_code)]
    pub(crate) category: String,
    /// `,"event_code":N` pre-rendered.
    pub(crate) code_json: Box<[u8]>,
    pub(crate) action: Action,
    pub(crate) always_fails: bool,
    pub(crate) may_fail: bool,
    pub(crate) actor: ActorPref,
    pub(crate) res: Res,
    pub(crate) payload: Payload,
    pub(crate) err: ErrKind,
    pub(crate) vm: bool,
    pub(crate) task: bool,
    /// An SSH-type connection event: no HTTP method, path or status.
    pub(crate) ssh: bool,
    pub(crate) method: &'static str,
    /// Escaped path up to the collection, e.g. `/api/v1/flows`.
    pub(crate) path: Box<[u8]>,
    pub(crate) path_id: bool,
    pub(crate) path_suffix: &'static str,
    pub(crate) ok_status: u64,
    /// Median latency in ms.
    pub(crate) latency: f64,
    /// Indexes into [`CONFIG_CHANGES`] that fit the resource, most common first.
    pub(crate) config_keys: &'static [usize],
}

pub(crate) const FILE_TRANSFER: &str = "file-transfer";
pub(crate) const PRIVILEGED_ACCESS: &str = "privileged-access";

/// The most common codes, most common first; all others follow in a fixed shuffled order.
pub(super) const TOP: [(&str, i64); 32] = [
    (PRIVILEGED_ACCESS, 301),  // Connection-authenticated
    (FILE_TRANSFER, 201),      // LoginSuccess
    (FILE_TRANSFER, 601),      // FlowEndpointScheduleRun
    (PRIVILEGED_ACCESS, 300),  // Connection-requested
    (FILE_TRANSFER, 202),      // LoginFailed
    (PRIVILEGED_ACCESS, 303),  // Connection-closed
    (PRIVILEGED_ACCESS, 106),  // Access-token-granted
    (PRIVILEGED_ACCESS, 110),  // User-access-token-refreshed
    (FILE_TRANSFER, 203),      // Logout
    (PRIVILEGED_ACCESS, 100),  // User-logged-in
    (FILE_TRANSFER, 104),      // FlowChange
    (PRIVILEGED_ACCESS, 321),  // File-download
    (PRIVILEGED_ACCESS, 520),  // User-authenticated
    (FILE_TRANSFER, 603),      // ManualFileDownload
    (PRIVILEGED_ACCESS, 1402), // Secret-accessed
    (PRIVILEGED_ACCESS, 320),  // File-upload
    (FILE_TRANSFER, 106),      // EndpointChange
    (FILE_TRANSFER, 604),      // ManualFileUpload
    (PRIVILEGED_ACCESS, 310),  // Session-added
    (PRIVILEGED_ACCESS, 311),  // Session-removed
    (PRIVILEGED_ACCESS, 102),  // User-login-failed
    (FILE_TRANSFER, 602),      // FlowManualRun
    (PRIVILEGED_ACCESS, 400),  // Authorization-requested
    (FILE_TRANSFER, 101),      // UserChange
    (PRIVILEGED_ACCESS, 401),  // Authorization-certificate-granted
    (FILE_TRANSFER, 801),      // SessionTimeout
    (FILE_TRANSFER, 108),      // FlowEndpointChange
    (PRIVILEGED_ACCESS, 324),  // Host-key-matched
    (PRIVILEGED_ACCESS, 630),  // Email-sent
    (FILE_TRANSFER, 211),      // OneTimePasscodeSent
    (FILE_TRANSFER, 111),      // CertificateChange
    (FILE_TRANSFER, 102),      // UserGroupChange
];
/// Zipf exponent of code popularity.
pub(super) const CODE_SKEW: f64 = 0.9;

pub(super) fn has(name: &str, words: &[&str]) -> bool {
    words.iter().any(|w| name.contains(w))
}

pub(super) fn classify(catalog: &'static str, code: i64, name: &str, category: &str) -> Spec {
    let n = name.to_ascii_lowercase();
    let ft = catalog == FILE_TRANSFER;
    let action = if has(&n, &["logout", "timeout", "disconnected"]) {
        Action::Logout
    } else if has(
        &n,
        &[
            "login",
            "logged-in",
            "authenticat",
            "mfa",
            "passcode",
            "token",
        ],
    ) {
        Action::Login
    } else if has(&n, &["download", "export"]) {
        Action::Download
    } else if has(&n, &["upload", "import"]) {
        Action::Upload
    } else if has(
        &n,
        &[
            "removed",
            "deleted",
            "uninstall",
            "revoked",
            "terminated",
            "closed",
        ],
    ) {
        Action::Destroy
    } else if has(
        &n,
        &[
            "change",
            "modified",
            "updated",
            "acknowledge",
            "clear",
            "suppress",
            "reactivate",
            "unban",
            "lockout",
            "moved",
            "accepted",
        ],
    ) {
        Action::Update
    } else if has(
        &n,
        &[
            "added", "created", "install", "enrolled", "granted", "saved", "trusted",
        ],
    ) {
        Action::Create
    } else if has(
        &n,
        &["accessed", "opened", "matched", "requested", "forgot"],
    ) {
        Action::Read
    } else {
        Action::Execute
    };
    let always_fails = has(
        &n,
        &[
            "failed",
            "error",
            "denied",
            "rejected",
            "disk-full",
            "not-sent",
            "exceeded",
            "rate-limited",
            "blocked",
            "failure",
        ],
    );
    let system_category = !ft && matches!(category, "System" | "Transcripts" | "Config integrity");
    let actor = if system_category
        || has(
            &n,
            &[
                "schedulerun",
                "lockout",
                "email-sent",
                "email-not-sent",
                "host-service-connection",
                "licensed-connection",
                "connection-audit",
                "trail-file-integrity",
                "directory-authentication-failed",
                "logconf-collector-failed",
            ],
        ) {
        ActorPref::System
    } else if has(
        &n,
        &[
            "oauth-client-auth",
            "access-token-granted",
            "aws-token",
            "extender",
        ],
    ) {
        ActorPref::Service
    } else if (!ft && matches!(category, "Connections" | "Authorization"))
        || has(&n, &["secret-accessed", "user-authenticat", "manualrun"])
    {
        ActorPref::Any
    } else {
        ActorPref::User
    };
    let success_named = has(
        &n,
        &[
            "success",
            "logged-in",
            "authenticated",
            "granted",
            "accepted",
            "matched",
            "timeout",
            "warning",
            "usage-alert",
        ],
    );
    let may_fail = !always_fails && !success_named && actor != ActorPref::System;
    let res = resource_of(&n, category, ft, action);
    let err = if action == Action::Login || has(&n, &["lockout"]) {
        ErrKind::Login
    } else if has(&n, &["denied", "rejected", "blocked"]) {
        ErrKind::Denied
    } else if has(&n, &["exceeded", "rate-limited"]) {
        ErrKind::Limit
    } else if actor == ActorPref::System {
        ErrKind::System
    } else {
        ErrKind::Generic
    };
    let ssh = !ft && category == "Connections";
    let vm =
        (!ft && matches!(
            category,
            "Connections" | "Connection management" | "Hosts" | "Transcripts" | "Trails"
        )) || (ft && matches!(category, "Transfer" | "ThruNode"));
    let task = ft && category == "Transfer";
    let payload = if ft && category == "Configuration"
        || (!ft && has(&n, &["modified", "changed", "level-"]))
    {
        Payload::Config
    } else if ft && matches!(code, 601 | 602) {
        Payload::TransferRun
    } else if matches!(res, Res::File) && matches!(action, Action::Download | Action::Upload) {
        Payload::TransferFile
    } else if res == Res::Secret {
        Payload::SecretVersion
    } else if action == Action::Login {
        Payload::Choice(login_payloads(&n))
    } else if ssh && has(&n, &["connection-", "session-"]) {
        Payload::Choice(&[
            r#"{"port":22,"protocol":"ssh"}"#,
            r#"{"port":22,"protocol":"ssh"}"#,
            r#"{"port":22,"protocol":"ssh"}"#,
            r#"{"port":3389,"protocol":"rdp"}"#,
            r#"{"port":443,"protocol":"web"}"#,
            r#"{"port":5432,"protocol":"db"}"#,
        ])
    } else if !ft && matches!(action, Action::Create | Action::Destroy) {
        Payload::Ticket
    } else if n.contains("decision") {
        Payload::Choice(&[
            r#"{"decision":"approved"}"#,
            r#"{"decision":"approved"}"#,
            r#"{"decision":"approved"}"#,
            r#"{"decision":"denied"}"#,
        ])
    } else if n.contains("alert") {
        Payload::Choice(&[
            r#"{"severity":"warning"}"#,
            r#"{"severity":"warning"}"#,
            r#"{"severity":"critical"}"#,
            r#"{"severity":"info"}"#,
        ])
    } else {
        Payload::None
    };
    let (method, path, path_id, path_suffix) = http_route(&n, ft, action, res);
    let ok_status = match action {
        Action::Create | Action::Upload => 201,
        Action::Destroy => 204,
        Action::Execute if res == Res::Flow => 202,
        _ => 200,
    };
    let latency = match action {
        Action::Login => 110.0,
        Action::Logout => 12.0,
        Action::Read => 18.0,
        Action::Create => 55.0,
        Action::Update => 40.0,
        Action::Destroy => 30.0,
        Action::Download => 160.0,
        Action::Upload => 320.0,
        Action::Execute => 75.0,
    };
    let mut code_json = Vec::new();
    crate::json::field_key(&mut code_json, Field::Int(IntField::EventCode));
    uint(&mut code_json, code.unsigned_abs());
    Spec {
        code,
        catalog,
        name: name.to_string(),
        category: category.to_string(),
        code_json: code_json.into_boxed_slice(),
        action,
        always_fails,
        may_fail,
        actor,
        res,
        payload,
        err,
        vm,
        task,
        ssh,
        method,
        path: escaped(&path),
        path_id,
        path_suffix,
        ok_status,
        latency,
        config_keys: config_keys_for(res),
    }
}

/// Which settings of [`CONFIG_CHANGES`] a change of this resource touches.
pub(super) fn config_keys_for(res: Res) -> &'static [usize] {
    match res {
        Res::Flow | Res::Workflow => &[1, 0, 2, 8],
        Res::Endpoint | Res::Host | Res::ThruNode => &[4, 5, 3, 0],
        Res::User | Res::Account | Res::Group | Res::AccessGroup | Res::Role | Res::Principal => {
            &[6, 9, 0, 7, 10]
        }
        Res::Certificate
        | Res::SshKey
        | Res::PgpKey
        | Res::AuthorizedKey
        | Res::Client
        | Res::Token
        | Res::Secret => &[7, 0, 8],
        Res::Log | Res::Settings | Res::Config | Res::Service | Res::Collector | Res::Email => {
            &[11, 0, 3, 8]
        }
        _ => &[0, 8, 3, 10],
    }
}

pub(super) fn login_payloads(n: &str) -> &'static [&'static str] {
    if n.contains("sso") {
        &[
            r#"{"idp":"okta","method":"saml"}"#,
            r#"{"idp":"okta","method":"saml"}"#,
            r#"{"idp":"azure-entra","method":"oidc"}"#,
        ]
    } else if n.contains("passcode") || n.contains("mfa") {
        &[
            r#"{"channel":"totp"}"#,
            r#"{"channel":"totp"}"#,
            r#"{"channel":"email"}"#,
            r#"{"channel":"sms"}"#,
        ]
    } else if n.contains("token") || n.contains("oauth") {
        &[
            r#"{"grant_type":"refresh_token"}"#,
            r#"{"grant_type":"client_credentials"}"#,
        ]
    } else if n.contains("connection") || n.contains("client") {
        &[
            r#"{"method":"publickey"}"#,
            r#"{"method":"publickey"}"#,
            r#"{"method":"certificate"}"#,
            r#"{"method":"password"}"#,
        ]
    } else {
        &[
            r#"{"method":"password"}"#,
            r#"{"method":"password"}"#,
            r#"{"method":"password","mfa":true}"#,
            r#"{"method":"ldap"}"#,
        ]
    }
}

pub(super) fn resource_of(n: &str, category: &str, ft: bool, action: Action) -> Res {
    let rules: &[(&[&str], Res)] = &[
        (&["flowendpoint"], Res::Endpoint),
        (&["workflow"], Res::Workflow),
        (&["trail"], Res::Trail),
        (&["flow", "export", "import"], Res::Flow),
        (&["endpoint"], Res::Endpoint),
        (&["usergroup"], Res::Group),
        (
            &["permissions", "access-role", "rolecontext", "role-key"],
            Res::Role,
        ),
        (&["organization"], Res::Organization),
        (&["thrunode"], Res::ThruNode),
        (&["sshkey"], Res::SshKey),
        (&["pgpkey"], Res::PgpKey),
        (&["authorized-key"], Res::AuthorizedKey),
        (&["host-key", "host-certificate", "extender"], Res::Host),
        (&["certificate"], Res::Certificate),
        (&["alert"], Res::Alert),
        (&["report"], Res::Report),
        (
            &[
                "file-upload",
                "file-download",
                "file-removed",
                "file-moved",
                "manualfile",
            ],
            Res::File,
        ),
        (&["folder"], Res::Folder),
        (&["secret"], Res::Secret),
        (
            &[
                "user-roles",
                "user-added",
                "user-modified",
                "user-removed",
                "userchange",
                "password-modified",
            ],
            Res::User,
        ),
        (&["role"], Res::Role),
        (&["directory"], Res::Directory),
        (&["token"], Res::Token),
        (&["logconf"], Res::Collector),
        (&["session"], Res::Session),
        (&["connection"], Res::Connection),
        (&["client"], Res::Client),
        (&["principal"], Res::Principal),
        (&["license"], Res::License),
        (&["access-group"], Res::AccessGroup),
        (&["request-", "decision"], Res::Request),
        (&["email"], Res::Email),
        (&["log-"], Res::Log),
        (&["host"], Res::Host),
        (&["transcript"], Res::Transcript),
        (&["config"], Res::Config),
        (&["service-", "restarted"], Res::Service),
        (&["disk"], Res::Disk),
        (&["auditevent"], Res::AuditEvent),
        (&["settings"], Res::Settings),
        (&["authorization"], Res::Authorization),
    ];
    for (words, res) in rules {
        if has(n, words) {
            return *res;
        }
    }
    match (ft, category, action) {
        (_, _, Action::Login | Action::Logout) => Res::Account,
        (true, "Account" | "MFA" | "User Action", _) => Res::Account,
        (false, "Users" | "Authentication", _) => Res::Account,
        _ => Res::Service,
    }
}

pub(super) fn http_route(
    n: &str,
    ft: bool,
    action: Action,
    res: Res,
) -> (&'static str, String, bool, &'static str) {
    let auth = if ft { "/api/v1/auth" } else { "/auth/api/v1" };
    match action {
        Action::Login => {
            let tail = if n.contains("sso") {
                "/sso/callback"
            } else if n.contains("passcode") || n.contains("mfa") {
                "/mfa/verify"
            } else if n.contains("token") || n.contains("oauth") {
                "/oauth/token"
            } else {
                "/login"
            };
            return ("POST", format!("{auth}{tail}"), false, "");
        }
        Action::Logout => return ("POST", format!("{auth}/logout"), false, ""),
        _ => {}
    }
    let service = if ft {
        "/api/v1"
    } else {
        match res {
            Res::Role
            | Res::User
            | Res::Account
            | Res::Directory
            | Res::Principal
            | Res::AccessGroup
            | Res::AuthorizedKey
            | Res::Client
            | Res::Group => "/role-store/api/v1",
            Res::Certificate | Res::Authorization | Res::Token => "/authorizer/api/v1",
            Res::Connection
            | Res::Session
            | Res::Transcript
            | Res::Trail
            | Res::File
            | Res::Folder => "/connection-manager/api/v1",
            Res::Host => "/host-store/api/v1",
            Res::Secret => "/vault/api/v1",
            Res::Workflow | Res::Request | Res::Email => "/workflow-engine/api/v1",
            _ => "/settings/api/v1",
        }
    };
    let (method, id, suffix) = match action {
        Action::Create => ("POST", false, ""),
        Action::Update => (if ft { "PUT" } else { "PATCH" }, true, ""),
        Action::Destroy => ("DELETE", true, ""),
        Action::Read => ("GET", true, ""),
        Action::Download => ("GET", true, "/download"),
        Action::Upload => (if ft { "PUT" } else { "POST" }, true, "/upload"),
        Action::Execute if res == Res::Flow => ("POST", true, "/run"),
        _ => ("POST", true, ""),
    };
    (method, format!("{service}/{}", plural(res)), id, suffix)
}

/// Configuration settings that change, as (key, one value, another value) in JSON.
pub(crate) const CONFIG_CHANGES: [(&str, &str, &str); 12] = [
    ("enabled", "true", "false"),
    ("schedule", "\"0 */6 * * *\"", "\"0 */4 * * *\""),
    ("retry_limit", "3", "5"),
    ("timeout_s", "30", "60"),
    ("protocol", "\"sftp\"", "\"ftps\""),
    ("port", "22", "2222"),
    ("role", "\"operator\"", "\"admin\""),
    ("expires_at", "\"2026-06-30\"", "\"2027-06-30\""),
    ("description", "\"nightly sync\"", "\"nightly sync (EU)\""),
    ("mfa_required", "false", "true"),
    ("max_sessions", "5", "10"),
    ("log_level", "\"info\"", "\"debug\""),
];
