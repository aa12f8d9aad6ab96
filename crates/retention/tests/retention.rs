//! Retention over a real store and query engine: pruning by age stops at the retention
//! window, at the newest signed checkpoint and at a held event; holds placed and released and
//! every prune are in the trail as events of annal's catalog; queries over pruned days answer
//! nothing; a lost lifecycle event is appended at the next open.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use annal_index::IndexOptions;
use annal_integrity::{LifecycleLog, LifecycleRecord, Notary, NoteSigner, ReleaseRecord};
use annal_model::{Catalogs, Event, IntField, TextField, Timestamp, NANOS_PER_DAY};
use annal_query::{Dir, Engine, Filter, Query, Start};
use annal_retention::{HoldSpec, Retention, RetentionError, CODE_HOLD_PLACED, CODE_TRAIL_PRUNED};
use annal_storage::{Options, Store};

const DAYS: i64 = 40;

fn day_start(days_ago: i64) -> Timestamp {
    let today = Timestamp::now().0 / NANOS_PER_DAY * NANOS_PER_DAY;
    Timestamp(today - days_ago * NANOS_PER_DAY)
}

/// An engine over a store with one sealed segment per day, from `DAYS` days ago to yesterday
/// (50 events each, every tenth from actor "mallory"), and a signed checkpoint of it all.
fn trail(dir: &std::path::Path) -> (Engine, Notary) {
    let store = Store::open(dir, Options::default()).unwrap();
    for ago in (1..=DAYS).rev() {
        let events: Vec<Event> = (0..50)
            .map(|n| {
                let t = Timestamp(day_start(ago).0 + n * 1_000_000_000);
                let mut e = Event::new(t, t);
                e.id = Some(format!("d{ago}-{n}").into());
                e.set_text(TextField::EventType, Some("LoginFailed".into()));
                let actor = if n % 10 == 0 { "mallory" } else { "alice" };
                e.set_text(TextField::ActorId, Some(actor.into()));
                e
            })
            .collect();
        store.append(&events).unwrap();
    }
    // Today's first event rolls yesterday's segment so every day is sealed.
    let mut today = Event::new(Timestamp::now(), Timestamp::now());
    today.set_text(TextField::EventType, Some("LoginFailed".into()));
    store.append(&[today]).unwrap();
    store.wait_sealed().unwrap();
    let notary = Notary::open(
        dir,
        NoteSigner::generate("t").unwrap(),
        "t",
        &store.snapshot(),
    )
    .unwrap();
    notary.sign(&store.snapshot()).unwrap();
    let engine = Engine::new(store, IndexOptions::default(), Catalogs::builtin()).unwrap();
    (engine, notary)
}

fn count(engine: &Engine, filter: Filter) -> usize {
    let q = Query {
        filter,
        order: Dir::Asc,
        limit: 10_000,
        start: Start::First,
    };
    engine.query(&q).unwrap().items.len()
}

fn with_code(engine: &Engine, code: i64) -> Vec<Event> {
    let filter = Filter::default().with(
        annal_model::Field::Int(IntField::EventCode),
        &[&code.to_string()],
    );
    let q = Query {
        filter,
        order: Dir::Asc,
        limit: 100,
        start: Start::First,
    };
    engine
        .query(&q)
        .unwrap()
        .items
        .into_iter()
        .map(|(_, e)| (*e).clone())
        .collect()
}

#[test]
fn pruning_by_age_honours_holds_and_records_itself() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, notary) = trail(dir.path());
    let retention = Retention::open(&engine).unwrap();
    let reload = || notary.reload_kept(dir.path());

    // A dry run: the days older than 30 days go (40 to 30 days ago), the rest stays.
    let plan = retention.plan(&engine, 30, Timestamp::now()).unwrap();
    assert_eq!(plan.segments.len(), (DAYS - 29) as usize, "{plan:?}");
    assert!(plan
        .kept_because
        .as_deref()
        .unwrap()
        .contains("within the last 30 days"));
    assert_eq!(
        engine.store().snapshot().start(),
        0,
        "a plan removes nothing"
    );

    // A hold on mallory's events of 35 days ago keeps that day and all after it.
    let spec = HoldSpec {
        from: day_start(35),
        to: day_start(34),
        filter: "actor_id=mallory".into(),
        reason: "case 42".into(),
        by: "legal".into(),
    };
    let hold = retention.place_hold(&engine, &spec).unwrap();
    assert_eq!(hold.id, "hold-1");
    let (plan, done) = retention.prune(&engine, 30, "ops", "", &reload).unwrap();
    assert_eq!(plan.segments.len(), (DAYS - 35) as usize, "{plan:?}");
    assert!(plan.kept_because.as_deref().unwrap().contains("hold-1"));
    assert_eq!(done.len(), 1);
    let start = engine.store().snapshot().start();
    assert_eq!(start, 50 * (DAYS - 35) as u64);
    // Queries over the pruned days answer nothing; later days still answer.
    let old = Filter {
        from: Some(day_start(DAYS)),
        to: Some(day_start(35)),
        ..Filter::default()
    };
    assert_eq!(count(&engine, old), 0);
    let held_day = Filter {
        from: Some(day_start(35)),
        to: Some(day_start(34)),
        ..Filter::default()
    };
    assert_eq!(count(&engine, held_day), 50);
    // No index file of a pruned segment is left.
    for seg in &plan.segments {
        assert!(!dir.path().join(annal_index::index_file(seg.base)).exists());
    }

    // Bad holds are refused, naming what is wrong.
    let bad = HoldSpec {
        filter: "no_such_field=1".into(),
        ..spec.clone()
    };
    let err = retention.place_hold(&engine, &bad).unwrap_err();
    assert!(err.to_string().contains("no_such_field"), "{err}");
    let bad = HoldSpec {
        reason: " ".into(),
        ..spec.clone()
    };
    assert!(retention.place_hold(&engine, &bad).is_err());
    let err = retention
        .release_hold(&engine, "hold-9", "done", "legal")
        .unwrap_err();
    assert!(matches!(err, RetentionError::UnknownHold(_)), "{err}");

    // Released, the hold no longer keeps anything.
    retention
        .release_hold(&engine, "hold-1", "case closed", "legal")
        .unwrap();
    assert!(matches!(
        retention.release_hold(&engine, "hold-1", "again", "legal"),
        Err(RetentionError::Released(_))
    ));
    notary.sign(&engine.store().snapshot()).unwrap();
    let (plan, _) = retention.prune(&engine, 30, "ops", "", &reload).unwrap();
    assert_eq!(plan.segments.len(), 6, "{plan:?}");

    // The trail records both prunes and the hold's life.
    let prunes = with_code(&engine, CODE_TRAIL_PRUNED);
    assert_eq!(prunes.len(), 2);
    assert_eq!(prunes[0].text(TextField::Source), Some("annal"));
    assert_eq!(prunes[0].text(TextField::ActorId), Some("ops"));
    assert_eq!(prunes[0].text(TextField::EventType), Some("Trail-pruned"));
    assert!(prunes[1]
        .payload
        .as_deref()
        .unwrap()
        .contains("\"policy\":\"retention_days=30\""));
    let placed = with_code(&engine, CODE_HOLD_PLACED);
    assert_eq!(placed.len(), 1);
    assert!(placed[0].payload.as_deref().unwrap().contains("case 42"));
    assert_eq!(retention.holds().len(), 1);
    assert!(!retention.holds()[0].active());
}

#[test]
fn nothing_past_the_newest_checkpoint_is_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    for ago in (1..=10i64).rev() {
        let t = day_start(ago + 40);
        let mut e = Event::new(t, t);
        e.set_text(TextField::EventType, Some("x".into()));
        store.append(&[e]).unwrap();
    }
    store.wait_sealed().unwrap();
    let notary = Notary::open(
        dir.path(),
        NoteSigner::generate("t").unwrap(),
        "t",
        &store.snapshot(),
    )
    .unwrap();
    let engine = Engine::new(store, IndexOptions::default(), Catalogs::builtin()).unwrap();
    let retention = Retention::open(&engine).unwrap();
    let plan = retention.plan(&engine, 30, Timestamp::now()).unwrap();
    assert!(plan.segments.is_empty());
    assert!(plan
        .kept_because
        .unwrap()
        .contains("past the newest signed checkpoint"));
    notary.sign(&engine.store().snapshot()).unwrap();
    let plan = retention.plan(&engine, 30, Timestamp::now()).unwrap();
    assert_eq!(plan.segments.len(), 9, "the active segment stays");
}

#[test]
fn a_lifecycle_event_lost_in_a_crash_is_appended_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, _notary) = trail(dir.path());
    drop(Retention::open(&engine).unwrap());
    // A record written, then a crash before its event.
    let mut log = LifecycleLog::open(dir.path()).unwrap();
    log.append(LifecycleRecord::Release(ReleaseRecord {
        id: "hold-7".into(),
        at_ns: 1,
        reason: "r".into(),
        by: "b".into(),
    }))
    .unwrap();
    drop(log);
    let before = engine.store().len();
    drop(Retention::open(&engine).unwrap());
    assert_eq!(engine.store().len(), before + 1);
    drop(Retention::open(&engine).unwrap());
    assert_eq!(engine.store().len(), before + 1, "appended once");
}
