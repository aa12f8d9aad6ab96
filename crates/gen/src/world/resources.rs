//! Resource kinds, how their ids look, and the pools they are drawn from.

use rand::rngs::SmallRng;

use super::org::{partners, DIRS, HOST_ENVS, HOST_ROLES, ROLES, TEAMS};
use super::{mix, shuffle, Pool};

/// What an event's resource id looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IdStyle {
    /// Picked from the resource's pool.
    Pool,
    /// A fresh random id per event: prefix and hex digits.
    Fresh(&'static str, u32),
    /// The acting account itself.
    Actor,
    /// Another user (the target of an admin action).
    OtherUser,
    /// The actor's session.
    Session,
    /// A file path, made per event.
    File,
}

/// Resource kinds; the discriminant indexes [`World::resources`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Res {
    Flow,
    Endpoint,
    Certificate,
    File,
    Folder,
    Secret,
    Host,
    Account,
    User,
    Group,
    Role,
    Organization,
    ThruNode,
    SshKey,
    PgpKey,
    AuthorizedKey,
    Alert,
    Report,
    Connection,
    Session,
    Token,
    Directory,
    Collector,
    Principal,
    Client,
    License,
    AccessGroup,
    Workflow,
    Request,
    Email,
    Log,
    Trail,
    Config,
    Transcript,
    Service,
    Disk,
    Settings,
    AuditEvent,
    Authorization,
}

pub(super) const RES_COUNT: usize = Res::Authorization as usize + 1;

pub(crate) struct Resource {
    /// Escaped `resource_type` value.
    pub(crate) type_name: &'static str,
    pub(crate) style: IdStyle,
    pub(crate) pool: Option<Pool>,
    /// Ids can appear in a URL path (no `/`).
    pub(crate) path_safe: bool,
}

pub(super) fn resource(kind: Res, rng: &mut SmallRng) -> Resource {
    use IdStyle::*;
    let num = |prefix: &str, n: usize, width: usize| -> Vec<String> {
        (1..=n)
            .map(|i| format!("{prefix}{i:0width$}"))
            .collect::<Vec<_>>()
    };
    let hexes = |prefix: &str, n: usize, digits: usize, salt: u64| -> Vec<String> {
        (0..n as u64)
            .map(|i| {
                let v = mix(salt ^ i.wrapping_mul(0x1000_0000_01b3));
                format!("{prefix}{:0digits$x}", v >> (64 - 4 * digits))
            })
            .collect()
    };
    let list = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let (type_name, style, items, s): (_, _, Vec<String>, f64) = match kind {
        Res::Flow => ("flow", Pool, num("flow-", 600, 4), 1.05),
        Res::Endpoint => ("endpoint", Pool, num("ep-", 900, 4), 1.0),
        Res::Certificate => ("certificate", Pool, hexes("cert-", 300, 12, 1), 0.9),
        Res::File => ("file", File, vec![], 1.0),
        Res::Folder => {
            let mut v = Vec::new();
            for d in DIRS {
                for p in partners() {
                    v.push(format!("/{d}/{p}"));
                }
            }
            ("folder", Pool, v, 1.0)
        }
        Res::Secret => {
            let names = [
                "db-admin",
                "api-key",
                "sftp-password",
                "tls-key",
                "service-token",
                "ssh-deploy-key",
                "smtp-relay",
            ];
            let mut v = Vec::new();
            for env in ["prod", "staging", "shared"] {
                for t in TEAMS {
                    for n in names {
                        v.push(format!("{env}/{t}/{n}"));
                    }
                }
            }
            shuffle(&mut v, rng);
            ("secret", Pool, v, 1.1)
        }
        Res::Host => {
            let v = (0..400u64)
                .map(|i| {
                    let h = mix(i ^ 0x405);
                    format!(
                        "{}-{:02}.{}.corp.example",
                        HOST_ROLES[(h % 10) as usize],
                        i % 40 + 1,
                        HOST_ENVS[((h >> 8) % 4) as usize]
                    )
                })
                .collect();
            ("host", Pool, v, 1.0)
        }
        Res::Account => ("account", Actor, vec![], 1.0),
        Res::User => ("user", OtherUser, vec![], 1.0),
        Res::Group => {
            let mut v = Vec::new();
            for t in TEAMS {
                for s in ["-admins", "-operators", "-readonly"] {
                    v.push(format!("{t}{s}"));
                }
            }
            ("group", Pool, v, 1.0)
        }
        Res::Role => ("role", Pool, list(&ROLES), 1.0),
        Res::Organization => ("organization", Pool, num("org-", 40, 3), 1.2),
        Res::ThruNode => ("thrunode", Pool, num("thrunode-", 24, 2), 0.8),
        Res::SshKey => ("ssh_key", Pool, hexes("SHA256:", 500, 16, 2), 0.7),
        Res::PgpKey => ("pgp_key", Pool, hexes("0x", 200, 16, 3), 0.7),
        Res::AuthorizedKey => ("authorized_key", Pool, hexes("ak-", 500, 12, 4), 0.7),
        Res::Alert => ("alert", Pool, num("alert-", 5000, 6), 0.6),
        Res::Report => (
            "report",
            Pool,
            list(&[
                "daily-transfers",
                "failed-logins",
                "sla-summary",
                "partner-volume",
                "access-review",
                "certificate-expiry",
                "audit-export",
            ]),
            1.0,
        ),
        Res::Connection => ("connection", Fresh("conn-", 16), vec![], 1.0),
        Res::Session => ("session", Session, vec![], 1.0),
        Res::Token => ("token", Fresh("tok-", 12), vec![], 1.0),
        Res::Directory => (
            "directory",
            Pool,
            list(&["corp-ad", "azure-entra", "ldap-eu", "okta", "local"]),
            1.3,
        ),
        Res::Collector => ("collector", Pool, num("collector-", 12, 2), 1.0),
        Res::Principal => ("principal", Pool, num("principal-", 80, 3), 0.9),
        Res::Client => ("api_client", Pool, num("client-", 60, 3), 1.0),
        Res::License => ("license", Pool, list(&["license"]), 1.0),
        Res::AccessGroup => {
            let v = TEAMS.iter().map(|t| format!("ag-{t}")).collect();
            ("access_group", Pool, v, 1.0)
        }
        Res::Workflow => ("workflow", Pool, num("wf-", 30, 3), 1.0),
        Res::Request => ("request", Fresh("req-", 10), vec![], 1.0),
        Res::Email => ("email", Fresh("msg-", 16), vec![], 1.0),
        Res::Log => ("log", Pool, num("logs-node-", 8, 2), 0.3),
        Res::Trail => ("trail", Pool, hexes("trail-", 2000, 12, 5), 0.8),
        Res::Config => (
            "config_file",
            Pool,
            list(&[
                "/etc/privx/role-store.toml",
                "/etc/privx/authorizer.toml",
                "/etc/privx/host-store.toml",
                "/etc/privx/vault.toml",
                "/etc/privx/shared-config.toml",
                "/etc/nginx/nginx.conf",
            ]),
            1.0,
        ),
        Res::Transcript => ("transcript", Fresh("tr-", 16), vec![], 1.0),
        Res::Service => (
            "service",
            Pool,
            list(&[
                "role-store",
                "authorizer",
                "connection-manager",
                "host-store",
                "vault",
                "workflow-engine",
                "settings",
                "monitor-service",
                "trail-indexer",
            ]),
            0.8,
        ),
        Res::Disk => (
            "disk",
            Pool,
            list(&["/var/lib/privx", "/var/log", "/data/transcripts"]),
            1.0,
        ),
        Res::Settings => (
            "settings",
            Pool,
            list(&[
                "auth",
                "smtp",
                "ldap",
                "retention",
                "session-recording",
                "ui",
            ]),
            1.0,
        ),
        Res::AuditEvent => ("audit_event", Fresh("ae-", 12), vec![], 1.0),
        Res::Authorization => ("authorization", Fresh("authz-", 12), vec![], 1.0),
    };
    let path_safe = match style {
        File => false,
        Pool => items.iter().all(|i| !i.contains('/')),
        _ => true,
    };
    let pool = (!items.is_empty()).then(|| crate::world::Pool::new(items, s));
    Resource {
        type_name,
        style,
        pool,
        path_safe,
    }
}

/// REST collection name used in paths.
pub(super) fn plural(res: Res) -> &'static str {
    match res {
        Res::Flow => "flows",
        Res::Endpoint => "endpoints",
        Res::Certificate => "certificates",
        Res::File => "files",
        Res::Account => "accounts",
        Res::User => "users",
        Res::Role => "roles",
        Res::Organization => "organizations",
        Res::ThruNode => "thrunodes",
        Res::SshKey => "ssh-keys",
        Res::PgpKey => "pgp-keys",
        Res::AuthorizedKey => "authorized-keys",
        Res::Alert => "alerts",
        Res::Report => "reports",
        Res::Connection => "connections",
        Res::Session => "sessions",
        Res::Token => "tokens",
        Res::Directory => "directories",
        Res::Collector => "collectors",
        Res::Principal => "principals",
        Res::Client => "clients",
        Res::License => "license",
        Res::Workflow => "workflows",
        Res::Request => "requests",
        Res::Email => "emails",
        Res::Log => "logs",
        Res::Trail => "trails",
        Res::Config => "config",
        Res::Transcript => "transcripts",
        Res::Service => "services",
        Res::Disk => "disks",
        Res::Settings => "settings",
        Res::AuditEvent => "audit-events",
        Res::Authorization => "authorizations",
        Res::Folder => "folders",
        Res::Secret => "secrets",
        Res::Host => "hosts",
        Res::Group => "groups",
        Res::AccessGroup => "access-groups",
    }
}
pub(super) const ALL_RES: [Res; RES_COUNT] = [
    Res::Flow,
    Res::Endpoint,
    Res::Certificate,
    Res::File,
    Res::Folder,
    Res::Secret,
    Res::Host,
    Res::Account,
    Res::User,
    Res::Group,
    Res::Role,
    Res::Organization,
    Res::ThruNode,
    Res::SshKey,
    Res::PgpKey,
    Res::AuthorizedKey,
    Res::Alert,
    Res::Report,
    Res::Connection,
    Res::Session,
    Res::Token,
    Res::Directory,
    Res::Collector,
    Res::Principal,
    Res::Client,
    Res::License,
    Res::AccessGroup,
    Res::Workflow,
    Res::Request,
    Res::Email,
    Res::Log,
    Res::Trail,
    Res::Config,
    Res::Transcript,
    Res::Service,
    Res::Disk,
    Res::Settings,
    Res::AuditEvent,
    Res::Authorization,
];
