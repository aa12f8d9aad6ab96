//! # annal-gen
//!
//! A deterministic generator of realistic audit events as NDJSON, for `annal gen`, tests and
//! benchmarks.
//!
//! The events describe one simulated organisation (about 1,900 users, 120 service accounts and
//! a few system components, with their hosts, flows, endpoints, secrets and certificates) using
//! both built-in catalogs, `file-transfer` and `privileged-access`. Values are distributed like
//! real trails, which matters for compression benchmarks: codes, actors and resources follow
//! skewed (Zipf-like) popularity, an actor keeps its usual addresses, browser and daily session,
//! failures carry matching HTTP statuses and error messages, and time follows a weekly rhythm.
//! Random ids (`request_id`, connection ids) are as incompressible as real ones.
//!
//! The same [`GenConfig`] always produces the same bytes. The organisation itself is fixed; the
//! seed only changes the stream of events.
//!
//! ```
//! use annal_gen::{GenConfig, Generator};
//! use annal_model::{Catalogs, Event, IngestContext, Timestamp};
//!
//! let mut generator = Generator::new(GenConfig { count: 3, ..GenConfig::default() });
//! let mut ndjson = Vec::new();
//! while generator.write_next(&mut ndjson) {
//!     ndjson.push(b'\n');
//! }
//! let catalogs = Catalogs::builtin();
//! let ctx = IngestContext::live(&catalogs);
//! for line in ndjson.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
//!     assert!(Event::from_json(line, &ctx).is_ok());
//! }
//! assert_eq!(annal_gen::events(GenConfig { count: 3, ..GenConfig::default() }).len(), 3);
//! ```

mod clock;
mod json;
mod world;

use std::io::{self, Write};

use annal_model::{
    Catalogs, Event, Field, IngestContext, IntField, TextField, Timestamp, NANOS_PER_DAY,
};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use clock::Clock;
use json::{escape_into, field_key, first_key, hex, tenths, text_key, uint, uint_padded, uuid_v4};
use world::{
    mix, Action, ActorKind, ActorPref, ErrKind, IdStyle, Payload, Spec, World, CONFIG_CHANGES,
    DIRS, DOCS, EXTS, NODES, USER_AGENTS,
};

/// What to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenConfig {
    /// Seed of the event stream; the same config always yields the same bytes.
    pub seed: u64,
    /// Length of the time span, in days. `0` is taken as 1.
    pub days: u32,
    /// First instant of the span. An instant before 1970 (which annal rejects) is taken as
    /// 1970-01-01T00:00:00Z.
    pub start: Timestamp,
    /// Number of events.
    pub count: u64,
}

impl Default for GenConfig {
    /// Seed 1, 1000 events over the 90 days from 2026-01-01T00:00:00Z.
    fn default() -> GenConfig {
        GenConfig {
            seed: 1,
            days: 90,
            start: Timestamp(1_767_225_600 * 1_000_000_000),
            count: 1000,
        }
    }
}

/// Produces events one at a time as compact JSON objects; see the [crate docs](crate).
pub struct Generator {
    world: World,
    rng: SmallRng,
    clock: Clock,
    seed: u64,
    count: u64,
    produced: u64,
    prev_actor: Option<usize>,
    prev_correlation: Option<(u64, u64)>,
    task_id: u64,
    /// File name of the current event, when it has one.
    file: Vec<u8>,
}

/// Share of events (other than failure-named ones) that fail anyway.
const RANDOM_FAILURE: f64 = 0.02;
/// Chance that an event is by the same actor as the one before (bursts of activity).
const STICKY_ACTOR: f64 = 0.3;
/// Chance that a new burst carries a correlation id.
const CORRELATED: f64 = 0.25;
/// Chance that a non-system actor comes from an address it does not usually use.
const STRAY_IP: f64 = 0.06;

impl Generator {
    /// A generator for `config`.
    pub fn new(config: GenConfig) -> Generator {
        let start = config.start.0.max(0);
        let span = i64::from(config.days.max(1)).saturating_mul(NANOS_PER_DAY);
        let mut rng = SmallRng::seed_from_u64(config.seed);
        let task_id = rng.gen_range(100_000..900_000);
        Generator {
            world: World::new(),
            rng,
            clock: Clock::new(start, span),
            seed: config.seed,
            count: config.count,
            produced: 0,
            prev_actor: None,
            prev_correlation: None,
            task_id,
            file: Vec::with_capacity(64),
        }
    }

    /// Appends the next event as one compact JSON object (no trailing newline) to `out`;
    /// returns false, appending nothing, once `count` events were produced.
    pub fn write_next(&mut self, out: &mut Vec<u8>) -> bool {
        if self.produced >= self.count {
            return false;
        }
        self.write_event(out);
        self.produced += 1;
        true
    }

    /// Number of events produced so far.
    pub fn produced(&self) -> u64 {
        self.produced
    }

    fn write_event(&mut self, out: &mut Vec<u8>) {
        let Generator {
            world,
            rng,
            clock,
            seed,
            count,
            produced,
            prev_actor,
            prev_correlation,
            task_id,
            file,
        } = self;
        let seed = *seed;
        let ms = clock.next_ms(*produced, *count, rng);
        let day = ms.div_euclid(86_400_000) as u64;
        let spec: &Spec = &world.specs[world.codes.sample(rng)];

        // Who: often the previous actor again, if the code suits them.
        let sticky = match *prev_actor {
            Some(a) if suits(spec.actor, world.actors[a].kind) && rng.gen_bool(STICKY_ACTOR) => {
                Some(a)
            }
            _ => None,
        };
        let ai = match sticky {
            Some(a) => a,
            None => pick_actor(world, spec.actor, rng),
        };
        *prev_actor = Some(ai);
        let actor = &world.actors[ai];
        let is_user = actor.kind == ActorKind::User;
        let is_system = actor.kind == ActorKind::System;

        let failed = spec.always_fails || (spec.may_fail && rng.gen_bool(RANDOM_FAILURE));
        let error = failed.then(|| pick_error(spec.err, rng));
        let node = if is_user {
            mix(seed ^ ((ai as u64) << 24) ^ day.wrapping_mul(0x9e37)) % NODES
        } else {
            rng.gen_range(0..NODES)
        };

        out.push(b'{');
        first_key(out, Field::CreatedAt);
        out.push(b'"');
        clock.write(ms, out);
        out.push(b'"');
        out.extend_from_slice(&spec.code_json);
        text_key(out, TextField::Action);
        out.extend_from_slice(spec.action.name().as_bytes());
        out.push(b'"');
        text_key(out, TextField::Status);
        out.extend_from_slice(if failed { b"failure\"" } else { b"success\"" });
        text_key(out, TextField::ActorType);
        out.extend_from_slice(actor.kind.name());
        out.push(b'"');
        text_key(out, TextField::ActorId);
        out.extend_from_slice(&actor.id);
        out.push(b'"');
        if let Some(uid) = actor.user_id {
            field_key(out, Field::Int(IntField::UserId));
            uint(out, uid);
        }
        text_key(out, TextField::Source);
        out.extend_from_slice(spec.catalog.as_bytes());

        // What: resource type and id; remember where the id is for the path and messages.
        let res = world.resource(spec.res);
        out.push(b'"');
        text_key(out, TextField::ResourceType);
        out.extend_from_slice(res.type_name.as_bytes());
        out.push(b'"');
        text_key(out, TextField::ResourceId);
        let id_start = out.len();
        let session = |out: &mut Vec<u8>| {
            let k = mix(seed ^ 0x5e55 ^ (ai as u64).wrapping_mul(0x1_0000_0001) ^ (day << 40));
            hex(out, k, 16);
            hex(out, mix(k), 16);
        };
        file.clear();
        match res.style {
            IdStyle::Pool => match &res.pool {
                Some(pool) => out.extend_from_slice(pool.sample(rng)),
                None => out.extend_from_slice(res.type_name.as_bytes()),
            },
            IdStyle::Fresh(prefix, digits) => {
                out.extend_from_slice(prefix.as_bytes());
                hex(out, rng.gen(), digits);
            }
            IdStyle::Actor => out.extend_from_slice(&actor.id),
            IdStyle::OtherUser => {
                out.extend_from_slice(&world.actors[world.users.sample(rng)].id);
            }
            IdStyle::Session if is_user => session(out),
            IdStyle::Session => {
                out.extend_from_slice(b"sess-");
                hex(out, rng.gen(), 16);
            }
            IdStyle::File => {
                let partner = world.partners.sample(rng);
                let doc = rng
                    .gen_range(0..DOCS.len())
                    .min(rng.gen_range(0..DOCS.len()));
                let ext =
                    EXTS[(mix(fingerprint(partner) ^ doc as u64) % EXTS.len() as u64) as usize];
                file.extend_from_slice(DOCS[doc].as_bytes());
                file.push(b'_');
                file.extend_from_slice(&clock.ymd());
                file.push(b'_');
                uint_padded(file, rng.gen_range(1..10_000), 4);
                file.push(b'.');
                file.extend_from_slice(ext.as_bytes());
                let dir = match spec.action {
                    Action::Upload => DIRS[0],
                    _ if rng.gen_bool(0.8) => DIRS[1],
                    _ => DIRS[2],
                };
                out.push(b'/');
                out.extend_from_slice(dir.as_bytes());
                out.push(b'/');
                out.extend_from_slice(partner);
                out.push(b'/');
                out.extend_from_slice(file);
            }
        }
        let id_range = id_start..out.len();
        out.push(b'"');

        // Correlation.
        let no_session = !is_user || (failed && spec.action == Action::Login);
        if !no_session {
            text_key(out, TextField::SessionId);
            session(out);
            out.push(b'"');
        }
        if spec.vm {
            text_key(out, TextField::VmId);
            out.extend_from_slice(world.vms.sample(rng));
            out.push(b'"');
        }
        if spec.task {
            *task_id += rng.gen_range(1..=3);
            field_key(out, Field::Int(IntField::TaskId));
            uint(out, *task_id);
        }
        text_key(out, TextField::RequestId);
        uuid_v4(out, rng.gen(), rng.gen());
        out.push(b'"');
        let correlation = match (*prev_correlation, sticky) {
            (Some(c), Some(_)) => Some(c),
            _ if rng.gen_bool(CORRELATED) => Some((rng.gen(), rng.gen())),
            _ => None,
        };
        *prev_correlation = correlation;
        if let Some((a, b)) = correlation {
            text_key(out, TextField::CorrelationId);
            uuid_v4(out, a, b);
            out.push(b'"');
        }

        // The request.
        let status = error.map_or(spec.ok_status, |e| e.status);
        if !spec.ssh && !is_system {
            text_key(out, TextField::HttpMethod);
            out.extend_from_slice(spec.method.as_bytes());
            out.push(b'"');
            text_key(out, TextField::Path);
            out.extend_from_slice(&spec.path);
            if spec.path_id && res.path_safe {
                out.push(b'/');
                out.extend_from_within(id_range.clone());
            }
            out.extend_from_slice(spec.path_suffix.as_bytes());
            out.push(b'"');
            field_key(out, Field::Int(IntField::HttpStatus));
            uint(out, status);
        }
        if !is_system {
            let t = if status == 504 {
                300_000 + rng.gen_range(0..2_000)
            } else {
                latency_tenths(spec.latency, rng)
            };
            field_key(out, Field::LatencyMs);
            tenths(out, t);
        }

        // Network.
        text_key(out, TextField::IpAddress);
        let r: f64 = rng.gen();
        if !is_system && r < STRAY_IP {
            json::ipv4(out, world::public_ip(rng));
        } else {
            let k = match actor.ips.len() {
                1 => 0,
                2 => usize::from(r > 0.8),
                _ => usize::from(r > 0.75) + usize::from(r > 0.92),
            };
            out.extend_from_slice(&actor.ips[k.min(actor.ips.len() - 1)]);
        }
        out.push(b'"');
        if !is_system {
            let ua = if spec.ssh {
                actor.ssh_agent
            } else if actor.mobile && rng.gen_bool(0.15) {
                world::UA_MOBILE
            } else {
                actor.agent
            };
            text_key(out, TextField::UserAgent);
            escape_into(out, USER_AGENTS[ua]);
            out.push(b'"');
        }
        text_key(out, TextField::NodeIp);
        out.extend_from_slice(b"10.40.0.");
        uint(out, 11 + node);
        out.push(b'"');
        text_key(out, TextField::WorkerId);
        out.extend_from_slice(b"worker-");
        uint_padded(out, node * 2 + u64::from(rng.gen::<bool>()) + 1, 2);
        out.push(b'"');

        let id_hash = fingerprint(out.get(id_range.clone()).unwrap_or_default());
        write_payload(out, world, spec, id_hash, file, rng);

        if let Some(e) = error {
            text_key(out, TextField::ErrorMessage);
            for part in e.parts {
                match part {
                    Part::Lit(s) => escape_into(out, s),
                    Part::Actor => out.extend_from_slice(&actor.id),
                    Part::ResType => out.extend_from_slice(res.type_name.as_bytes()),
                    Part::ResId => out.extend_from_within(id_range.clone()),
                    Part::Node => {
                        out.extend_from_slice(b"10.40.0.");
                        uint(out, 11 + node);
                    }
                }
            }
            out.push(b'"');
        }
        out.push(b'}');
    }
}

/// FNV-1a: a cheap fingerprint of an id, so per-resource traits (a flow's protocol, a
/// partner's file format) stay stable.
fn fingerprint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn suits(pref: ActorPref, kind: ActorKind) -> bool {
    matches!(
        (pref, kind),
        (ActorPref::User | ActorPref::Any, ActorKind::User)
            | (ActorPref::Service | ActorPref::Any, ActorKind::Service)
            | (ActorPref::System, ActorKind::System)
    )
}

fn pick_actor(world: &World, pref: ActorPref, rng: &mut SmallRng) -> usize {
    let user = |rng: &mut SmallRng| world.users.sample(rng);
    let service = |rng: &mut SmallRng| world.service_base() + world.services.sample(rng);
    match pref {
        ActorPref::User => user(rng),
        ActorPref::Service => service(rng),
        ActorPref::System => world.system_base() + world.systems.sample(rng),
        ActorPref::Any if rng.gen_bool(0.75) => user(rng),
        ActorPref::Any => service(rng),
    }
}

/// Latency in tenths of a millisecond: log-normal around `median` ms.
fn latency_tenths(median: f64, rng: &mut SmallRng) -> u64 {
    // Irwin–Hall(4), rescaled to a standard normal: cheap and close enough.
    let s: f64 = (0..4).map(|_| rng.gen::<f64>()).sum();
    let z = (s - 2.0) * 1.732_050_8;
    let ms = median * (0.9 * z).exp();
    ((ms * 10.0).round() as u64).max(1)
}

/// A piece of an error message.
#[derive(Clone, Copy)]
enum Part {
    Lit(&'static str),
    Actor,
    ResType,
    ResId,
    Node,
}

#[derive(Clone, Copy)]
struct ErrorTemplate {
    parts: &'static [Part],
    status: u64,
    weight: f64,
}

const fn tpl(parts: &'static [Part], status: u64, weight: f64) -> ErrorTemplate {
    ErrorTemplate {
        parts,
        status,
        weight,
    }
}

use Part::{Actor as A, Lit as L, Node as N, ResId as RI, ResType as RT};

const LOGIN_ERRORS: [ErrorTemplate; 5] = [
    tpl(&[L("invalid username or password")], 401, 0.55),
    tpl(
        &[L("account "), A, L(" is locked after 5 failed attempts")],
        403,
        0.10,
    ),
    tpl(&[L("one-time passcode expired")], 401, 0.15),
    tpl(
        &[L("user \""), A, L("\" not found in directory corp-ad")],
        401,
        0.12,
    ),
    tpl(
        &[L("SAML assertion signature verification failed")],
        401,
        0.08,
    ),
];
const DENIED_ERRORS: [ErrorTemplate; 3] = [
    tpl(&[L("permission denied for "), RT, L(" "), RI], 403, 0.5),
    tpl(
        &[L("request rejected by policy \"business-hours-only\"")],
        403,
        0.3,
    ),
    tpl(
        &[L(
            "certificate validation failed: unable to get local issuer certificate",
        )],
        403,
        0.2,
    ),
];
const LIMIT_ERRORS: [ErrorTemplate; 2] = [
    tpl(
        &[L("rate limit exceeded: 100 requests per minute")],
        429,
        0.6,
    ),
    tpl(&[L("licensed connection count 250 exceeded")], 429, 0.4),
];
const SYSTEM_ERRORS: [ErrorTemplate; 4] = [
    tpl(
        &[L("I/O error: No space left on device (os error 28)")],
        507,
        0.25,
    ),
    tpl(&[L("checksum mismatch in "), RT, L(" "), RI], 500, 0.25),
    tpl(&[L("connection to "), N, L(":5432 refused")], 503, 0.3),
    tpl(
        &[L("timed out after 300 s waiting for the indexer")],
        504,
        0.2,
    ),
];
const GENERIC_ERRORS: [ErrorTemplate; 7] = [
    tpl(
        &[L("upstream "), N, L(":8443 returned 502 Bad Gateway")],
        502,
        0.2,
    ),
    tpl(&[L("request timed out after 30000 ms")], 504, 0.15),
    tpl(
        &[L("validation failed: field \"name\" must not be empty")],
        422,
        0.15,
    ),
    tpl(&[RT, L(" "), RI, L(" not found")], 404, 0.2),
    tpl(
        &[
            L("conflict: "),
            RT,
            L(" "),
            RI,
            L(" was modified concurrently"),
        ],
        409,
        0.1,
    ),
    tpl(&[L("internal error: database is locked")], 500, 0.1),
    tpl(&[L("permission denied for "), RT, L(" "), RI], 403, 0.1),
];

fn pick_error(kind: ErrKind, rng: &mut SmallRng) -> ErrorTemplate {
    let table: &[ErrorTemplate] = match kind {
        ErrKind::Login => &LOGIN_ERRORS,
        ErrKind::Denied => &DENIED_ERRORS,
        ErrKind::Limit => &LIMIT_ERRORS,
        ErrKind::System => &SYSTEM_ERRORS,
        ErrKind::Generic => &GENERIC_ERRORS,
    };
    let total: f64 = table.iter().map(|t| t.weight).sum();
    let mut u = rng.gen::<f64>() * total;
    for t in table {
        if u < t.weight {
            return *t;
        }
        u -= t.weight;
    }
    table[table.len() - 1]
}

const PROTOCOLS: [&str; 6] = ["sftp", "sftp", "sftp", "ftps", "https", "as2"];

fn write_payload(
    out: &mut Vec<u8>,
    world: &World,
    spec: &Spec,
    id_hash: u64,
    file: &[u8],
    rng: &mut SmallRng,
) {
    // Transfer sizes: log-normal, median ~48 KiB, long tail.
    let bytes = |rng: &mut SmallRng| {
        let s: f64 = (0..4).map(|_| rng.gen::<f64>()).sum();
        (49_152.0 * (2.0 * (s - 2.0) * 1.732_050_8).exp()) as u64 + 1
    };
    match spec.payload {
        Payload::None => {}
        Payload::Config => {
            // Skewed towards the resource's most changed setting.
            let n = spec.config_keys.len();
            let k = rng.gen_range(0..n).min(rng.gen_range(0..n));
            let (key, a, b) = CONFIG_CHANGES[spec.config_keys[k] % CONFIG_CHANGES.len()];
            let (before, after) = if rng.gen_bool(0.5) { (a, b) } else { (b, a) };
            field_key(out, Field::Payload);
            out.extend_from_slice(b"{\"after\":{\"");
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(b"\":");
            out.extend_from_slice(after.as_bytes());
            out.extend_from_slice(b"},\"before\":{\"");
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(b"\":");
            out.extend_from_slice(before.as_bytes());
            out.extend_from_slice(b"}}");
        }
        Payload::TransferRun => {
            let files = 1 + rng.gen_range(0..8u64) * rng.gen_range(0..4u64);
            let total: u64 = (0..files.min(4)).map(|_| bytes(rng)).sum::<u64>() * files.div_ceil(4);
            field_key(out, Field::Payload);
            out.extend_from_slice(b"{\"bytes\":");
            uint(out, total);
            out.extend_from_slice(b",\"files\":");
            uint(out, files);
            out.extend_from_slice(b",\"protocol\":\"");
            out.extend_from_slice(
                PROTOCOLS[(id_hash % PROTOCOLS.len() as u64) as usize].as_bytes(),
            );
            out.extend_from_slice(b"\"}");
        }
        Payload::TransferFile => {
            field_key(out, Field::Payload);
            out.extend_from_slice(b"{\"bytes\":");
            uint(out, bytes(rng));
            out.extend_from_slice(b",\"file\":\"");
            out.extend_from_slice(file);
            out.extend_from_slice(b"\"}");
        }
        Payload::SecretVersion => {
            field_key(out, Field::Payload);
            out.extend_from_slice(b"{\"version\":");
            uint(out, 1 + world.secret_versions.sample(rng) as u64);
            out.push(b'}');
        }
        Payload::Ticket => {
            if rng.gen_bool(0.4) {
                field_key(out, Field::Payload);
                out.extend_from_slice(b"{\"ticket\":\"CHG-");
                uint(out, rng.gen_range(10_000..40_000));
                out.extend_from_slice(b"\"}");
            }
        }
        Payload::Choice(options) => {
            field_key(out, Field::Payload);
            out.extend_from_slice(options[rng.gen_range(0..options.len())].as_bytes());
        }
    }
}

/// `n` events (`config.count` of them) parsed into [`Event`]s with the built-in catalogs, each
/// with `received_at` equal to its `created_at`.
pub fn events(config: GenConfig) -> Vec<Event> {
    let mut events = Vec::with_capacity(config.count.min(1 << 20) as usize);
    events.extend(EventStream::new(config));
    events
}

/// The events of [`events`], one at a time: for volumes that do not fit in memory.
pub struct EventStream {
    generator: Generator,
    catalogs: Catalogs,
    received_at: Timestamp,
    line: Vec<u8>,
}

impl EventStream {
    /// A stream of `config.count` events.
    pub fn new(config: GenConfig) -> EventStream {
        EventStream {
            generator: Generator::new(config),
            catalogs: Catalogs::builtin(),
            received_at: config.start,
            line: Vec::with_capacity(1024),
        }
    }
}

impl Iterator for EventStream {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        let ctx = IngestContext {
            catalogs: &self.catalogs,
            received_at: self.received_at,
            created_at_max: None,
        };
        loop {
            self.line.clear();
            if !self.generator.write_next(&mut self.line) {
                return None;
            }
            match Event::from_json(&self.line, &ctx) {
                Ok(mut e) => {
                    e.received_at = e.created_at;
                    return Some(e);
                }
                // The generator only writes valid events; tests catch any regression.
                Err(e) => debug_assert!(false, "generated an invalid event: {e}"),
            }
        }
    }
}

/// Writes `config.count` events as NDJSON (one per line) to `w`; returns the number written.
/// Buffers internally, so `w` need not be buffered.
pub fn write_ndjson<W: Write>(config: GenConfig, w: &mut W) -> io::Result<u64> {
    let mut generator = Generator::new(config);
    let mut buf = Vec::with_capacity(1 << 20);
    while generator.write_next(&mut buf) {
        buf.push(b'\n');
        if buf.len() >= (1 << 20) - 4096 {
            w.write_all(&buf)?;
            buf.clear();
        }
    }
    w.write_all(&buf)?;
    w.flush()?;
    Ok(generator.produced())
}

#[cfg(test)]
mod tests;
