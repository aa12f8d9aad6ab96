//! The organisation's people and places: user, service and system actors with their
//! addresses and clients, partners, teams, hosts and file names.

use rand::rngs::SmallRng;
use rand::Rng;

use super::{mix, Weighted};
use crate::json::escaped;

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
pub(super) const BROWSER_WEIGHTS: [f64; 6] = [40.0, 20.0, 12.0, 10.0, 10.0, 8.0];

pub(super) const FIRST: [&str; 48] = [
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
pub(super) const LAST: [&str; 48] = [
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
pub(super) const SERVICES: [&str; 16] = [
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
pub(super) const SYSTEMS: [&str; 8] = [
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
pub(super) const SERVICE_ACTORS: usize = 120;

pub(super) const PARTNERS: [&str; 16] = [
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
pub(super) const PARTNER_KINDS: [&str; 5] = ["", "-logistics", "-bank", "-retail", "-health"];
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
pub(super) const TEAMS: [&str; 7] = [
    "payments", "data", "platform", "sre", "identity", "edi", "finance",
];
pub(super) const ROLES: [&str; 12] = [
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
pub(super) const HOST_ROLES: [&str; 10] = [
    "web", "app", "db", "sftp", "bastion", "k8s-node", "cache", "build", "vpn", "mail",
];
pub(super) const HOST_ENVS: [&str; 4] = ["prod", "staging", "dev", "eu-prod"];
/// Shared office egress addresses (documentation ranges).
pub(super) const OFFICE_IPS: [u32; 6] = [
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

pub(crate) fn partners() -> impl Iterator<Item = String> {
    PARTNER_KINDS
        .iter()
        .flat_map(|k| PARTNERS.iter().map(move |p| format!("{p}{k}")))
}

pub(super) fn make_actors(rng: &mut SmallRng) -> Vec<Actor> {
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

pub(super) fn ip_text(ip: u32) -> Box<[u8]> {
    let mut v = Vec::with_capacity(15);
    crate::json::ipv4(&mut v, ip);
    v.into_boxed_slice()
}
