//! The simulated organisation: actors, resources and the event-code table with popularity and
//! per-code behaviour. Built once per generator from a fixed seed, so every stream (whatever
//! its seed) describes the same people, hosts and flows — like days of one real deployment.

use annal_model::{Catalogs, Field, IntField};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::json::{escaped, uint};

/// Seed of the world (not of the event stream).
const WORLD_SEED: u64 = 0x616e_6e61_6c2d_776f; // "annal-wo"

/// SplitMix64 finaliser: a good 64-bit mixer for deriving stable ids.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Samples an index with probability proportional to given weights (inverse CDF).
pub(crate) struct Weighted {
    cdf: Box<[f64]>,
}

impl Weighted {
    pub(crate) fn new(weights: impl IntoIterator<Item = f64>) -> Weighted {
        let mut acc = 0.0;
        let mut cdf: Vec<f64> = weights
            .into_iter()
            .map(|w| {
                acc += w.max(0.0);
                acc
            })
            .collect();
        if cdf.is_empty() {
            cdf.push(1.0);
        }
        let total = acc.max(f64::MIN_POSITIVE);
        for c in &mut cdf {
            *c /= total;
        }
        Weighted {
            cdf: cdf.into_boxed_slice(),
        }
    }

    /// Zipf weights `1 / rank^s` over `n` items.
    pub(crate) fn zipf(n: usize, s: f64) -> Weighted {
        Weighted::new((1..=n).map(|r| (r as f64).powf(-s)))
    }

    pub(crate) fn sample(&self, rng: &mut SmallRng) -> usize {
        let u: f64 = rng.gen();
        self.cdf
            .partition_point(|&c| c <= u)
            .min(self.cdf.len() - 1)
    }

    /// Probability of item `i`.
    #[cfg(test)]
    pub(crate) fn p(&self, i: usize) -> f64 {
        self.cdf[i] - if i == 0 { 0.0 } else { self.cdf[i - 1] }
    }
}

/// A pool of pre-rendered (JSON-escaped) values picked with skewed popularity.
pub(crate) struct Pool {
    pub(crate) items: Vec<Box<[u8]>>,
    pick: Weighted,
}

impl Pool {
    fn new(items: Vec<String>, s: f64) -> Pool {
        let pick = Weighted::zipf(items.len(), s);
        Pool {
            items: items.iter().map(|i| escaped(i)).collect(),
            pick,
        }
    }

    pub(crate) fn sample(&self, rng: &mut SmallRng) -> &[u8] {
        &self.items[self.pick.sample(rng)]
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ActorKind {
    User,
    Service,
    System,
}

impl ActorKind {
    pub(crate) fn name(self) -> &'static [u8] {
        match self {
            ActorKind::User => b"user",
            ActorKind::Service => b"service",
            ActorKind::System => b"system",
        }
    }
}

pub(crate) struct Actor {
    pub(crate) kind: ActorKind,
    /// Escaped actor id.
    pub(crate) id: Box<[u8]>,
    pub(crate) user_id: Option<u64>,
    /// Usual addresses (escaped), most used first.
    pub(crate) ips: Vec<Box<[u8]>>,
    /// Index into [`USER_AGENTS`] for web requests.
    pub(crate) agent: usize,
    /// Index into [`USER_AGENTS`] for SSH-type connections.
    pub(crate) ssh_agent: usize,
    /// Uses a phone now and then.
    pub(crate) mobile: bool,
}

/// Realistic client strings: browsers, API clients, SSH clients.
pub(crate) const USER_AGENTS: [&str; 13] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "curl/8.5.0",
    "python-requests/2.32.3",
    "Go-http-client/1.1",
    "OpenSSH_9.6p1 Ubuntu-3ubuntu13.5",
    "PuTTY_Release_0.81",
    "FileZilla/3.67.1",
];
pub(crate) const UA_MOBILE: usize = 6;
const BROWSER_WEIGHTS: [f64; 6] = [40.0, 20.0, 12.0, 10.0, 10.0, 8.0];

const FIRST: [&str; 48] = [
    "james",
    "mary",
    "john",
    "patricia",
    "robert",
    "jennifer",
    "michael",
    "linda",
    "william",
    "elizabeth",
    "david",
    "barbara",
    "richard",
    "susan",
    "joseph",
    "jessica",
    "thomas",
    "sarah",
    "charles",
    "karen",
    "daniel",
    "nancy",
    "matthew",
    "lisa",
    "anthony",
    "betty",
    "mark",
    "sandra",
    "aiko",
    "mateo",
    "priya",
    "lars",
    "fatima",
    "chen",
    "olga",
    "kwame",
    "ines",
    "ravi",
    "sofia",
    "noah",
    "emma",
    "liam",
    "ava",
    "lucas",
    "mia",
    "elias",
    "zoe",
    "omar",
];
const LAST: [&str; 48] = [
    "smith",
    "johnson",
    "williams",
    "brown",
    "jones",
    "garcia",
    "miller",
    "davis",
    "rodriguez",
    "martinez",
    "hernandez",
    "lopez",
    "gonzalez",
    "wilson",
    "anderson",
    "thomas",
    "taylor",
    "moore",
    "jackson",
    "martin",
    "lee",
    "perez",
    "thompson",
    "white",
    "harris",
    "sanchez",
    "clark",
    "ramirez",
    "lewis",
    "robinson",
    "walker",
    "young",
    "allen",
    "king",
    "wright",
    "virtanen",
    "korhonen",
    "nakamura",
    "tanaka",
    "müller",
    "schmidt",
    "kowalski",
    "novak",
    "silva",
    "santos",
    "okafor",
    "haddad",
    "o'brien",
];
const SERVICES: [&str; 16] = [
    "backup",
    "sftp-sync",
    "payroll-export",
    "edi-gateway",
    "ci-runner",
    "monitoring",
    "reporting",
    "billing",
    "etl",
    "ansible",
    "terraform",
    "k8s-operator",
    "vault-agent",
    "log-shipper",
    "partner-api",
    "scanner",
];
const SYSTEMS: [&str; 8] = [
    "scheduler",
    "system",
    "transcript-indexer",
    "health-monitor",
    "trail-manager",
    "license-manager",
    "thrunode-agent",
    "config-watcher",
];
pub(crate) const USERS: usize = 1_872;
const SERVICE_ACTORS: usize = 120;

const PARTNERS: [&str; 16] = [
    "acme",
    "globex",
    "initech",
    "umbrella",
    "hooli",
    "vandelay",
    "tyrell",
    "cyberdyne",
    "soylent",
    "wonka",
    "stark",
    "wayne",
    "oscorp",
    "aperture",
    "gringotts",
    "nakatomi",
];
const PARTNER_KINDS: [&str; 5] = ["", "-logistics", "-bank", "-retail", "-health"];
pub(crate) const DOCS: [&str; 10] = [
    "invoice",
    "payroll",
    "orders",
    "statement",
    "remittance",
    "inventory",
    "shipment",
    "edi850",
    "edi810",
    "backup",
];
pub(crate) const EXTS: [&str; 8] = ["csv", "xml", "json", "txt", "pdf", "zip", "gz", "edi"];
pub(crate) const DIRS: [&str; 3] = ["inbound", "outbound", "archive"];
const TEAMS: [&str; 7] = [
    "payments", "data", "platform", "sre", "identity", "edi", "finance",
];
const ROLES: [&str; 12] = [
    "Administrator",
    "Auditor",
    "Operator",
    "Readonly",
    "DB-Admin",
    "Network-Admin",
    "Helpdesk",
    "Developer",
    "Partner-Access",
    "Break-Glass",
    "EDI-Operator",
    "Finance-Approver",
];
const HOST_ROLES: [&str; 10] = [
    "web", "app", "db", "sftp", "bastion", "k8s-node", "cache", "build", "vpn", "mail",
];
const HOST_ENVS: [&str; 4] = ["prod", "staging", "dev", "eu-prod"];
/// Shared office egress addresses (documentation ranges).
const OFFICE_IPS: [u32; 6] = [
    0xc633_640a, // 198.51.100.10
    0xc633_640b,
    0xc633_6417,
    0xcb00_7105, // 203.0.113.5
    0xcb00_7142,
    0xc000_0221, // 192.0.2.33
];
/// First octets of plausible residential and cloud address space.
pub(crate) const PUBLIC_FIRST: [u8; 16] = [
    24, 31, 46, 62, 73, 81, 89, 94, 109, 151, 176, 185, 188, 195, 212, 217,
];
pub(crate) const NODES: u64 = 8;

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

const RES_COUNT: usize = Res::Authorization as usize + 1;

pub(crate) struct Resource {
    /// Escaped `resource_type` value.
    pub(crate) type_name: &'static str,
    pub(crate) style: IdStyle,
    pub(crate) pool: Option<Pool>,
    /// Ids can appear in a URL path (no `/`).
    pub(crate) path_safe: bool,
}

fn resource(kind: Res, rng: &mut SmallRng) -> Resource {
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

pub(crate) fn partners() -> impl Iterator<Item = String> {
    PARTNER_KINDS
        .iter()
        .flat_map(|k| PARTNERS.iter().map(move |p| format!("{p}{k}")))
}

fn shuffle<T>(v: &mut [T], rng: &mut SmallRng) {
    for i in (1..v.len()).rev() {
        let j = rng.gen_range(0..=i);
        v.swap(i, j);
    }
}

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
const TOP: [(&str, i64); 32] = [
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
const CODE_SKEW: f64 = 0.9;

fn has(name: &str, words: &[&str]) -> bool {
    words.iter().any(|w| name.contains(w))
}

fn classify(catalog: &'static str, code: i64, name: &str, category: &str) -> Spec {
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
fn config_keys_for(res: Res) -> &'static [usize] {
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

fn login_payloads(n: &str) -> &'static [&'static str] {
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

fn resource_of(n: &str, category: &str, ft: bool, action: Action) -> Res {
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

fn http_route(
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

/// REST collection name used in paths.
fn plural(res: Res) -> &'static str {
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

/// Everything fixed for the life of a generator.
pub(crate) struct World {
    pub(crate) actors: Vec<Actor>,
    pub(crate) users: Weighted,
    pub(crate) services: Weighted,
    pub(crate) systems: Weighted,
    pub(crate) resources: Vec<Resource>,
    pub(crate) specs: Vec<Spec>,
    pub(crate) codes: Weighted,
    pub(crate) vms: Pool,
    pub(crate) partners: Pool,
    pub(crate) secret_versions: Weighted,
}

const ALL_RES: [Res; RES_COUNT] = [
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

impl World {
    pub(crate) fn new() -> World {
        let mut rng = SmallRng::seed_from_u64(WORLD_SEED);
        let actors = make_actors(&mut rng);
        let resources: Vec<Resource> = ALL_RES.iter().map(|&r| resource(r, &mut rng)).collect();
        let catalogs = Catalogs::builtin();
        let mut specs = Vec::new();
        for cat in catalogs.iter() {
            let catalog = match cat.name() {
                FILE_TRANSFER => FILE_TRANSFER,
                PRIVILEGED_ACCESS => PRIVILEGED_ACCESS,
                _ => continue,
            };
            for e in cat.entries() {
                specs.push(classify(catalog, e.code, &e.name, &e.category));
            }
        }
        // Popularity: the TOP list, then everything else in a fixed shuffled order.
        let mut order: Vec<usize> = TOP
            .iter()
            .filter_map(|(c, code)| {
                specs
                    .iter()
                    .position(|s| s.catalog == *c && s.code == *code)
            })
            .collect();
        let mut rest: Vec<usize> = (0..specs.len()).filter(|i| !order.contains(i)).collect();
        shuffle(&mut rest, &mut rng);
        order.extend(rest);
        let mut weights = vec![0.0; specs.len()];
        for (rank, &i) in order.iter().enumerate() {
            weights[i] = ((rank + 1) as f64).powf(-CODE_SKEW);
        }
        let vms = (0..300u64)
            .map(|i| format!("i-0{:016x}", mix(i ^ 0x766d)))
            .collect();
        World {
            actors,
            users: Weighted::zipf(USERS, 1.0),
            services: Weighted::zipf(SERVICE_ACTORS, 0.9),
            systems: Weighted::zipf(SYSTEMS.len(), 1.2),
            resources,
            specs,
            codes: Weighted::new(weights),
            vms: Pool::new(vms, 1.0),
            partners: {
                let mut p: Vec<String> = partners().collect();
                shuffle(&mut p, &mut rng);
                Pool::new(p, 1.1)
            },
            secret_versions: Weighted::zipf(20, 1.5),
        }
    }

    pub(crate) fn resource(&self, r: Res) -> &Resource {
        &self.resources[r as usize]
    }

    /// Index of the first service actor and of the first system actor.
    pub(crate) fn service_base(&self) -> usize {
        USERS
    }
    pub(crate) fn system_base(&self) -> usize {
        USERS + SERVICE_ACTORS
    }
}

fn make_actors(rng: &mut SmallRng) -> Vec<Actor> {
    let mut actors = Vec::with_capacity(USERS + SERVICE_ACTORS + SYSTEMS.len());
    let mut seen = std::collections::HashSet::new();
    let mut user_id = 1000u64;
    let browsers = Weighted::new(BROWSER_WEIGHTS);
    for _ in 0..USERS {
        let first = FIRST[rng.gen_range(0..FIRST.len())];
        let last = LAST[rng.gen_range(0..LAST.len())];
        let mut name = format!("{first}.{last}");
        let mut k = 2;
        while !seen.insert(name.clone()) {
            name = format!("{first}.{last}{k}");
            k += 1;
        }
        user_id += rng.gen_range(1..=7);
        let mut ips = Vec::new();
        if rng.gen_bool(0.6) {
            ips.push(ip_text(OFFICE_IPS[rng.gen_range(0..OFFICE_IPS.len())]));
        } else {
            ips.push(ip_text(0x0a08_0000 | rng.gen_range(2..0xffffu32))); // VPN pool
        }
        for _ in 0..rng.gen_range(0..=2) {
            if rng.gen_bool(0.1) {
                ips.push(escaped(&format!(
                    "2001:db8:{:x}:{:x}::{:x}",
                    rng.gen::<u16>(),
                    rng.gen::<u16>(),
                    rng.gen_range(1..0xffffu32)
                )));
            } else {
                ips.push(ip_text(public_ip(rng)));
            }
        }
        actors.push(Actor {
            kind: ActorKind::User,
            id: escaped(&name),
            user_id: Some(user_id),
            ips,
            agent: browsers.sample(rng),
            ssh_agent: 10 + rng.gen_range(0..3),
            mobile: rng.gen_bool(0.3),
        });
    }
    for i in 0..SERVICE_ACTORS {
        let svc = SERVICES[mix(i as u64) as usize % SERVICES.len()];
        let n_ips = rng.gen_range(1..=2);
        let n = (0..n_ips)
            .map(|_| ip_text(0x0a14_0000 | rng.gen_range(2..0xffffu32)))
            .collect();
        actors.push(Actor {
            kind: ActorKind::Service,
            id: escaped(&format!("svc-{svc}-{:02}", i / SERVICES.len() + 1)),
            user_id: None,
            ips: n,
            agent: 7 + rng.gen_range(0..3),
            ssh_agent: 10,
            mobile: false,
        });
    }
    for (i, name) in SYSTEMS.iter().enumerate() {
        actors.push(Actor {
            kind: ActorKind::System,
            id: escaped(name),
            user_id: None,
            ips: vec![ip_text(0x0a28_000b + (i as u32 % NODES as u32))],
            agent: 9,
            ssh_agent: 10,
            mobile: false,
        });
    }
    actors
}

pub(crate) fn public_ip(rng: &mut SmallRng) -> u32 {
    let first = u32::from(PUBLIC_FIRST[rng.gen_range(0..PUBLIC_FIRST.len())]);
    (first << 24) | (rng.gen::<u32>() & 0x00ff_ffff).max(1)
}

fn ip_text(ip: u32) -> Box<[u8]> {
    let mut v = Vec::with_capacity(15);
    crate::json::ipv4(&mut v, ip);
    v.into_boxed_slice()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_are_indexed_by_kind() {
        let w = World::new();
        assert_eq!(w.resources.len(), RES_COUNT);
        for (i, r) in ALL_RES.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
        assert_eq!(w.specs.len(), 36 + 145);
    }

    #[test]
    fn codes_behave_as_their_names_say() {
        let w = World::new();
        let spec = |cat: &str, code: i64| {
            w.specs
                .iter()
                .find(|s| s.catalog == cat && s.code == code)
                .unwrap()
        };
        let s = spec(FILE_TRANSFER, 202);
        assert!(s.always_fails && s.action == Action::Login && s.err == ErrKind::Login);
        let s = spec(FILE_TRANSFER, 201);
        assert!(!s.always_fails && !s.may_fail && s.action == Action::Login);
        let s = spec(FILE_TRANSFER, 601);
        assert_eq!(
            (s.actor, s.res, s.task),
            (ActorPref::System, Res::Endpoint, true)
        );
        let s = spec(FILE_TRANSFER, 603);
        assert_eq!(
            (s.action, s.res, s.payload),
            (Action::Download, Res::File, Payload::TransferFile)
        );
        let s = spec(FILE_TRANSFER, 111);
        assert_eq!(
            (s.action, s.res, s.payload),
            (Action::Update, Res::Certificate, Payload::Config)
        );
        let s = spec(PRIVILEGED_ACCESS, 1402);
        assert_eq!((s.action, s.res), (Action::Read, Res::Secret));
        let s = spec(PRIVILEGED_ACCESS, 803);
        assert_eq!((s.action, s.res, s.vm), (Action::Destroy, Res::Host, true));
        let s = spec(PRIVILEGED_ACCESS, 1301);
        assert!(s.always_fails && s.actor == ActorPref::System);
        let s = spec(PRIVILEGED_ACCESS, 302);
        assert!(s.always_fails && s.ssh && s.err == ErrKind::Denied);
    }

    /// Prints how every code is classified: `cargo test -p annal-gen -- --ignored --nocapture spec_table`.
    #[test]
    #[ignore]
    fn spec_table() {
        let w = World::new();
        for (i, s) in w.specs.iter().enumerate() {
            println!(
                "{:>5.2}% {:<17} {:>4} {:<45} {:<28} {:<8} fail={:<5} may={:<5} {:<7} {:<14} {:<4} ssh={:<5} {:<6} {}{}{} {:?}",
                w.codes.p(i) * 100.0,
                s.catalog,
                s.code,
                s.name,
                s.category,
                s.action.name(),
                s.always_fails,
                s.may_fail,
                format!("{:?}", s.actor),
                w.resource(s.res).type_name,
                if s.vm { "vm" } else { "" },
                s.ssh,
                s.method,
                String::from_utf8_lossy(&s.path),
                if s.path_id { "/{id}" } else { "" },
                s.path_suffix,
                s.payload,
            );
        }
    }

    #[test]
    fn weighted_sampling_follows_weights() {
        let w = Weighted::new([1.0, 0.0, 3.0]);
        assert!((w.p(0) - 0.25).abs() < 1e-12 && w.p(1) == 0.0);
        let mut rng = SmallRng::seed_from_u64(9);
        let mut n = [0u32; 3];
        for _ in 0..40_000 {
            n[w.sample(&mut rng)] += 1;
        }
        assert_eq!(n[1], 0);
        assert!((n[2] as f64 / n[0] as f64 - 3.0).abs() < 0.3, "{n:?}");
    }
}
