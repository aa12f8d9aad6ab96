use std::collections::{HashMap, HashSet};

use annal_model::{IntField, TextField};
use serde_json::Value;

use super::*;

fn config(count: u64, seed: u64) -> GenConfig {
    GenConfig {
        seed,
        count,
        ..GenConfig::default()
    }
}

fn lines(config: GenConfig) -> Vec<Vec<u8>> {
    let mut g = Generator::new(config);
    let mut out = Vec::new();
    let mut lines = Vec::new();
    while g.write_next(&mut out) {
        lines.push(std::mem::take(&mut out));
    }
    lines
}

fn text(e: &Event, f: TextField) -> &str {
    e.text(f).unwrap_or("")
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let a = lines(config(2_000, 7));
    let b = lines(config(2_000, 7));
    let c = lines(config(2_000, 8));
    assert_eq!(a.len(), 2_000);
    assert_eq!(a, b);
    let same = a.iter().zip(&c).filter(|(x, y)| x == y).count();
    assert_eq!(same, 0, "different seeds should give different events");
}

#[test]
fn every_event_validates_and_has_the_promised_fields() {
    let catalogs = Catalogs::builtin();
    let ctx = IngestContext {
        catalogs: &catalogs,
        received_at: Timestamp(0),
        created_at_max: None,
    };
    let mut sources = HashSet::new();
    for line in lines(config(20_000, 1)) {
        let e = match Event::from_json(&line, &ctx) {
            Ok(e) => e,
            Err(err) => panic!("{err}: {}", String::from_utf8_lossy(&line)),
        };
        // The JSON is compact: one line, no spaces between tokens we write.
        assert!(!line.contains(&b'\n'));
        let v: Value = serde_json::from_slice(&line).unwrap();
        assert!(v.get("event_type").is_none() && v.get("event_group").is_none());
        let source = text(&e, TextField::Source);
        let code = e.int(IntField::EventCode).unwrap();
        let entry = catalogs.resolve(code, Some(source)).unwrap();
        assert_eq!(text(&e, TextField::EventType), entry.name);
        sources.insert(source.to_string());
        for f in [
            TextField::Action,
            TextField::Status,
            TextField::ActorType,
            TextField::ActorId,
            TextField::ResourceType,
            TextField::ResourceId,
            TextField::RequestId,
            TextField::IpAddress,
            TextField::NodeIp,
            TextField::WorkerId,
        ] {
            assert!(!text(&e, f).is_empty(), "{f:?} missing: {v}");
        }
        let rid = text(&e, TextField::RequestId).as_bytes();
        assert_eq!(rid.len(), 36);
        assert_eq!(
            (rid[8], rid[13], rid[14], rid[18], rid[23]),
            (b'-', b'-', b'4', b'-', b'-')
        );
        assert!(matches!(rid[19], b'8' | b'9' | b'a' | b'b'));
        let created = v["created_at"].as_str().unwrap();
        assert!(created.len() == 24 && created.ends_with('Z'), "{created}");
        if let Some(l) = v.get("latency_ms") {
            let l = l.as_f64().unwrap();
            assert!(
                l > 0.0 && (l * 10.0 - (l * 10.0).round()).abs() < 1e-6,
                "{l}"
            );
        }
        let status = text(&e, TextField::Status);
        assert_eq!(
            status == "failure",
            e.text(TextField::ErrorMessage).is_some(),
            "{v}"
        );
        if let Some(h) = e.int(IntField::HttpStatus) {
            assert_eq!(status == "failure", h >= 400, "{v}");
        }
        let actor_type = text(&e, TextField::ActorType);
        assert_eq!(actor_type == "user", e.int(IntField::UserId).is_some());
        let group = text(&e, TextField::EventGroup);
        assert_eq!(
            group == "Transfer",
            e.int(IntField::TaskId).is_some(),
            "{v}"
        );
        if group == "Configuration" {
            let p: Value = serde_json::from_str(e.payload.as_deref().unwrap()).unwrap();
            assert!(p["before"].is_object() && p["after"].is_object() && p["before"] != p["after"]);
        }
    }
    assert_eq!(sources.len(), 2, "{sources:?}");
}

#[test]
fn times_are_monotonic_and_fill_the_span() {
    let cfg = GenConfig {
        seed: 3,
        days: 30,
        count: 20_000,
        ..GenConfig::default()
    };
    let events = events(cfg);
    assert_eq!(events.len(), 20_000);
    let start = cfg.start.0;
    let end = start + 30 * NANOS_PER_DAY;
    let mut last = start;
    for e in &events {
        let t = e.created_at.0;
        assert!(t >= last, "went backwards");
        assert!(t < end, "past the span");
        assert_eq!(t % 1_000_000, 0, "millisecond precision");
        assert_eq!(e.received_at, e.created_at);
        last = t;
    }
    let first = events[0].created_at.0 - start;
    let final_gap = end - events[events.len() - 1].created_at.0;
    assert!(first < NANOS_PER_DAY / 2 && final_gap < NANOS_PER_DAY / 2);
    // Working hours outweigh nights.
    let hour = |e: &Event| (e.created_at.0 / 3_600_000_000_000) % 24;
    let day_time = events.iter().filter(|e| (9..17).contains(&hour(e))).count();
    let night = events.iter().filter(|e| hour(e) < 6).count();
    assert!(day_time > 4 * night, "day {day_time} night {night}");
}

#[test]
fn edge_configs_do_not_panic() {
    assert!(lines(config(0, 1)).is_empty());
    let mut g = Generator::new(config(1, 1));
    let mut out = Vec::new();
    assert!(g.write_next(&mut out));
    let len = out.len();
    assert!(!g.write_next(&mut out));
    assert_eq!(out.len(), len, "nothing appended after the end");
    let odd = GenConfig {
        seed: u64::MAX,
        days: 0,
        start: Timestamp(-5),
        count: 50,
    };
    let e = events(odd);
    assert_eq!(e.len(), 50);
    assert!(e
        .iter()
        .all(|e| (0..NANOS_PER_DAY).contains(&e.created_at.0)));
    let far = GenConfig {
        seed: 2,
        days: u32::MAX,
        start: Timestamp(1_767_225_600_123_456_789),
        count: 20,
    };
    let e = events(far);
    assert_eq!(e.len(), 20);
    assert!(e.windows(2).all(|w| w[0].created_at <= w[1].created_at));
    assert!(e[0].created_at.0 >= far.start.0);
}

#[test]
fn popularity_is_skewed_and_seed_query_targets_are_common() {
    let events = events(config(50_000, 11));
    let n = events.len() as f64;
    let mut by_code: HashMap<(String, i64), usize> = HashMap::new();
    let mut by_group: HashMap<String, usize> = HashMap::new();
    for e in &events {
        let key = (
            text(e, TextField::Source).to_string(),
            e.int(IntField::EventCode).unwrap(),
        );
        *by_code.entry(key).or_default() += 1;
        *by_group
            .entry(text(e, TextField::EventGroup).to_string())
            .or_default() += 1;
    }
    let ft = by_code.keys().filter(|k| k.0 == "file-transfer").count();
    let pa = by_code
        .keys()
        .filter(|k| k.0 == "privileged-access")
        .count();
    assert!(ft > 25 && pa > 100, "codes used: ft {ft}, pa {pa}");
    let mut counts: Vec<usize> = by_code.values().copied().collect();
    counts.sort_unstable();
    let median = counts[counts.len() / 2];
    let top = counts[counts.len() - 1];
    assert!(top > 20 * median, "top {top} median {median}");
    let share = |c: usize| c as f64 / n;
    let login_failed = share(by_code[&("file-transfer".to_string(), 202)]);
    assert!((0.02..0.10).contains(&login_failed), "202: {login_failed}");
    for g in ["Transfer", "Configuration"] {
        let s = share(by_group[g]);
        assert!((0.02..0.20).contains(&s), "{g}: {s}");
    }
}

#[test]
fn actors_are_consistent() {
    let events = events(config(30_000, 5));
    let mut user_ids: HashMap<&str, i64> = HashMap::new();
    let mut ips: HashMap<&str, HashMap<&str, usize>> = HashMap::new();
    let mut sessions: HashMap<(&str, i64), &str> = HashMap::new();
    let mut actors = HashSet::new();
    let mut failures = 0;
    for e in &events {
        let actor = text(e, TextField::ActorId);
        actors.insert(actor);
        if let Some(uid) = e.int(IntField::UserId) {
            assert_eq!(*user_ids.entry(actor).or_insert(uid), uid, "{actor}");
        }
        *ips.entry(actor)
            .or_default()
            .entry(text(e, TextField::IpAddress))
            .or_default() += 1;
        if let Some(s) = e.text(TextField::SessionId) {
            let day = e.created_at.utc_day();
            assert_eq!(*sessions.entry((actor, day)).or_insert(s), s);
        }
        failures += usize::from(text(e, TextField::Status) == "failure");
    }
    assert!(actors.len() > 1_000, "{} actors", actors.len());
    // An active actor mostly uses its usual (at most 3) addresses.
    let (busiest, seen) = ips
        .iter()
        .filter(|(a, _)| user_ids.contains_key(*a))
        .max_by_key(|(_, m)| m.values().sum::<usize>())
        .unwrap();
    let total: usize = seen.values().sum();
    let mut counts: Vec<usize> = seen.values().copied().collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    let usual: usize = counts.iter().take(3).sum();
    assert!(usual * 100 >= total * 85, "{busiest}: {counts:?}");
    let rate = failures as f64 / events.len() as f64;
    assert!((0.03..0.20).contains(&rate), "failure rate {rate}");
}

#[test]
fn ndjson_writer_writes_one_line_per_event() {
    let mut out = Vec::new();
    let n = write_ndjson(config(1_234, 4), &mut out).unwrap();
    assert_eq!(n, 1_234);
    assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1_234);
    let joined: Vec<u8> = lines(config(1_234, 4)).join(&b'\n');
    assert_eq!(&out[..out.len() - 1], &joined[..]);
}

/// `cargo test --release -p annal-gen -- --ignored --nocapture speed`
#[test]
#[ignore]
fn speed() {
    let n = 2_000_000;
    let mut g = Generator::new(config(n, 1));
    let mut out = Vec::with_capacity(4 << 20);
    let mut bytes = 0;
    let t = std::time::Instant::now();
    while g.write_next(&mut out) {
        if out.len() > (4 << 20) - 4096 {
            bytes += out.len();
            out.clear();
        }
    }
    bytes += out.len();
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{n} events in {secs:.3} s: {:.2} M events/s, {:.0} bytes/event, {:.0} MB/s",
        n as f64 / secs / 1e6,
        bytes as f64 / n as f64,
        bytes as f64 / secs / 1e6
    );
}
