//! Retention against an oracle: generated trails (days of events from a few actors, checkpoints
//! signed at random points) go through random holds placed and released and prunes with
//! random retention windows. After each prune the trail starts exactly where a model of the
//! rules says (the longest run of sealed segments older than the window, under the newest
//! checkpoint, holding no held event), every retained event is there unchanged, queries see
//! nothing before the start, every retained event sampled is provable against every
//! checkpoint that covers it, every checkpoint is consistent with the newest, and the trail
//! holds one lifecycle event per prune, hold and release.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use annal_index::IndexOptions;
use annal_integrity::{
    leaf_hash, verify_consistency, verify_inclusion, Checkpoint, Notary, NoteSigner,
};
use annal_model::{Catalogs, Event, Field, IntField, TextField, Timestamp, NANOS_PER_DAY};
use annal_query::{Dir, Engine, Filter, Query, Start};
use annal_retention::{
    HoldSpec, Retention, CODE_HOLD_PLACED, CODE_HOLD_RELEASED, CODE_TRAIL_PRUNED,
};
use annal_storage::{Options, SegmentKind, Store};

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

const DAYS: i64 = 60;
const ACTORS: [&str; 4] = ["ann", "bob", "cat", "dan"];

fn day_start(days_ago: i64) -> i64 {
    Timestamp::now().0 / NANOS_PER_DAY * NANOS_PER_DAY - days_ago * NANOS_PER_DAY
}

/// A hold as the model knows it.
struct ModelHold {
    id: String,
    from: i64,
    to: i64,
    actor: Option<&'static str>,
    active: bool,
}

fn held(holds: &[ModelHold], e: &Event) -> bool {
    holds.iter().any(|h| {
        h.active
            && (h.from..h.to).contains(&e.created_at.0)
            && h.actor
                .is_none_or(|a| e.text(TextField::ActorId) == Some(a))
    })
}

fn count_code(engine: &Engine, code: i64) -> usize {
    let q = Query {
        filter: Filter::default().with(Field::Int(IntField::EventCode), &[&code.to_string()]),
        order: Dir::Asc,
        limit: 10_000,
        start: Start::First,
    };
    engine.query(&q).unwrap().items.len()
}

/// The start the rules give: the first sealed segment that must stay.
fn expected_start(engine: &Engine, holds: &[ModelHold], cutoff: i64, signed: u64) -> u64 {
    let snap = engine.store().snapshot();
    let mut start = snap.start();
    for seg in snap.segments() {
        let end = seg.base + seg.count;
        let events: Vec<Event> = (seg.base..end).map(|s| snap.get(s).unwrap()).collect();
        let keep = seg.kind != SegmentKind::Sealed
            || events.iter().any(|e| e.created_at.0 >= cutoff)
            || end > signed
            || events.iter().any(|e| held(holds, e));
        if keep {
            break;
        }
        start = end;
    }
    start
}

#[test]
fn random_holds_and_prunes_follow_the_rules_and_keep_every_proof() {
    let (mut total_prunes, mut total_holds, mut held_back) = (0, 0, 0);
    for seed in 1..=5u64 {
        let mut rng = Rng(seed.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1);
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Options::default()).unwrap();
        let signer = NoteSigner::generate("t").unwrap();
        let notary = Notary::open(dir.path(), signer, "t", &store.snapshot()).unwrap();
        // model[seq]: the data events this test appended (None: a lifecycle event).
        let mut model: Vec<Option<Event>> = Vec::new();
        let mut checkpoints: Vec<Checkpoint> = Vec::new();
        for ago in (1..=DAYS).rev() {
            let n = 20 + rng.below(100) as i64;
            let events: Vec<Event> = (0..n)
                .map(|i| {
                    let t = Timestamp(day_start(ago) + i * 60_000_000_000);
                    let mut e = Event::new(t, t);
                    e.set_text(TextField::EventType, Some("LoginFailed".into()));
                    e.set_text(
                        TextField::ActorId,
                        Some(ACTORS[rng.below(4) as usize].into()),
                    );
                    e
                })
                .collect();
            store.append(&events).unwrap();
            model.extend(events.into_iter().map(Some));
            if rng.below(3) == 0 {
                store.wait_sealed().unwrap();
                checkpoints.push(notary.sign(&store.snapshot()).unwrap().unwrap().checkpoint);
            }
        }
        store.wait_sealed().unwrap();
        let engine = Engine::new(store, IndexOptions::default(), Catalogs::builtin()).unwrap();
        let retention = Retention::open(&engine).unwrap();
        let mut holds: Vec<ModelHold> = Vec::new();
        let (mut prunes, mut placed, mut released) = (0, 0, 0);
        for round in 0..12 {
            let what = format!("seed {seed} round {round}");
            match rng.below(4) {
                0 => {
                    let from_ago = 20 + rng.below(DAYS as u64 - 19) as i64;
                    let (from, to) = (
                        day_start(from_ago),
                        day_start(from_ago) + (1 + rng.below(3) as i64) * NANOS_PER_DAY,
                    );
                    let actor = (rng.below(2) == 0).then(|| ACTORS[rng.below(4) as usize]);
                    let spec = HoldSpec {
                        from: Timestamp(from),
                        to: Timestamp(to),
                        filter: actor.map(|a| format!("actor_id={a}")).unwrap_or_default(),
                        reason: what.clone(),
                        by: "oracle".into(),
                    };
                    let h = retention.place_hold(&engine, &spec).unwrap();
                    holds.push(ModelHold {
                        id: h.id,
                        from,
                        to,
                        actor,
                        active: true,
                    });
                    placed += 1;
                    model.push(None);
                }
                1 if holds.iter().any(|h| h.active) => {
                    let active: Vec<usize> =
                        (0..holds.len()).filter(|i| holds[*i].active).collect();
                    let i = active[rng.below(active.len() as u64) as usize];
                    retention
                        .release_hold(&engine, &holds[i].id, "done", "oracle")
                        .unwrap();
                    holds[i].active = false;
                    released += 1;
                    model.push(None);
                }
                _ => {
                    if rng.below(2) == 0 {
                        engine.store().wait_sealed().unwrap();
                        checkpoints.push(
                            notary
                                .sign(&engine.store().snapshot())
                                .unwrap()
                                .unwrap()
                                .checkpoint,
                        );
                    }
                    let days = 1 + rng.below(DAYS as u64 + 5) as u32;
                    let now = Timestamp::now();
                    let cutoff = now.0 - i64::from(days) * NANOS_PER_DAY;
                    let signed = checkpoints.last().map_or(0, |c| c.size);
                    let want = expected_start(&engine, &holds, cutoff, signed);
                    let (plan, done) = retention
                        .prune(&engine, days, "oracle", "", &|| {
                            notary.reload_kept(dir.path())
                        })
                        .unwrap();
                    assert_eq!(plan.to, want, "{what}: {plan:?}");
                    held_back += usize::from(
                        plan.kept_because
                            .as_deref()
                            .is_some_and(|w| w.contains("legal hold")),
                    );
                    assert_eq!(engine.store().snapshot().start(), want, "{what}");
                    // One Trail-pruned event per prune record.
                    prunes += done.len();
                    model.extend(done.iter().map(|_| None));
                }
            }
            assert_eq!(
                model.len() as u64,
                engine.store().len(),
                "{what}: the model lost count"
            );
            check(&engine, &notary, &model, &checkpoints, &mut rng, &what);
            assert_eq!(count_code(&engine, CODE_TRAIL_PRUNED), prunes, "{what}");
            assert_eq!(count_code(&engine, CODE_HOLD_PLACED), placed, "{what}");
            assert_eq!(count_code(&engine, CODE_HOLD_RELEASED), released, "{what}");
        }
        total_prunes += prunes;
        total_holds += placed;
    }
    println!("{total_prunes} prunes, {total_holds} holds, {held_back} prunes stopped by a hold");
    assert!(
        total_prunes > 0 && total_holds > 0,
        "the runs must prune and hold"
    );
}

/// Every retained data event is there unchanged, queries start at the trail's start, sampled
/// events are provable against every checkpoint covering them, every checkpoint is consistent
/// with the newest.
fn check(
    engine: &Engine,
    notary: &Notary,
    model: &[Option<Event>],
    checkpoints: &[Checkpoint],
    rng: &mut Rng,
    what: &str,
) {
    let snap = engine.store().snapshot();
    let start = snap.start();
    let mut retained = 0;
    snap.scan(0, u64::MAX, |seq, e| {
        assert!(seq >= start, "{what}: seq {seq} before the start {start}");
        if let Some(want) = &model[seq as usize] {
            assert_eq!(&e, want, "{what}: event {seq} changed");
        }
        retained += 1;
        true
    })
    .unwrap();
    assert_eq!(retained, snap.end() - start, "{what}");
    let q = Query {
        filter: Filter::default(),
        order: Dir::Asc,
        limit: 5,
        start: Start::First,
    };
    let first = engine.query(&q).unwrap().items.first().map(|(s, _)| *s);
    assert_eq!(
        first,
        Some(start),
        "{what}: the oldest match is the trail's start"
    );
    let Some(newest) = checkpoints.last() else {
        return;
    };
    for cp in checkpoints.iter().filter(|c| c.size > 0) {
        let proof = notary.consistency(&snap, cp.size, newest.size).unwrap();
        assert!(
            verify_consistency(cp.size, newest.size, &cp.root, &newest.root, &proof),
            "{what}: checkpoint {} vs {}",
            cp.size,
            newest.size
        );
        if cp.size > start {
            let seq = start + rng.below(cp.size - start);
            let p = notary.inclusion(&snap, seq, cp.size).unwrap();
            assert!(
                verify_inclusion(
                    &leaf_hash(&p.leaf_input),
                    seq,
                    cp.size,
                    &p.audit_path,
                    &cp.root
                ),
                "{what}: event {seq} in checkpoint {}",
                cp.size
            );
        }
    }
}
