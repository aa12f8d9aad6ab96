//! The simulated organisation: actors, resources and the event-code table with popularity and
//! per-code behaviour. Built once per generator from a fixed seed, so every stream (whatever
//! its seed) describes the same people, hosts and flows — like days of one real deployment.

mod codes;
mod org;
mod resources;

pub(crate) use codes::{Action, ActorPref, ErrKind, Payload, Spec, CONFIG_CHANGES};
pub(crate) use org::{
    public_ip, Actor, ActorKind, DIRS, DOCS, EXTS, NODES, UA_MOBILE, USER_AGENTS,
};
pub(crate) use resources::{IdStyle, Res, Resource};

use codes::{classify, CODE_SKEW, FILE_TRANSFER, PRIVILEGED_ACCESS, TOP};
use org::{make_actors, partners, SERVICE_ACTORS, SYSTEMS, USERS};
use resources::{resource, ALL_RES};

use annal_model::Catalogs;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::json::escaped;

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

fn shuffle<T>(v: &mut [T], rng: &mut SmallRng) {
    for i in (1..v.len()).rev() {
        let j = rng.gen_range(0..=i);
        v.swap(i, j);
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

#[cfg(test)]
mod tests {
    use super::resources::RES_COUNT;
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
