//! The events the trail records about its own lifecycle, of annal's catalog (`source`
//! "annal", codes 9001–9003; docs/integrity.md, "The trail's own lifecycle"): one per prune,
//! hold placed and hold released, with who and why, so an auditor reads removals in the very
//! trail they verify. Their ids are fixed by the record (`annal-prune-3`, `annal-hold-2`,
//! `annal-release-hold-2`), so appending one again after a crash stores it once.

use annal_integrity::LifecycleRecord;
use annal_model::{Event, IntField, TextField, Timestamp, ANNAL_CATALOG};
use serde_json::json;

/// Code of `Trail-pruned`.
pub const CODE_TRAIL_PRUNED: i64 = 9001;
/// Code of `Legal-hold-placed`.
pub const CODE_HOLD_PLACED: i64 = 9002;
/// Code of `Legal-hold-released`.
pub const CODE_HOLD_RELEASED: i64 = 9003;

/// The event recording `record`, received at `now`.
pub fn lifecycle_event(record: &LifecycleRecord, now: Timestamp) -> Event {
    let (id, code, name, action, resource_type, resource_id, at, by, payload) = match record {
        LifecycleRecord::Prune(p) => (
            format!("annal-prune-{}", p.number),
            CODE_TRAIL_PRUNED,
            "Trail-pruned",
            "prune",
            "trail",
            format!("seqs {}..{}", p.from_seq, p.to_seq),
            p.at_ns,
            &p.by,
            json!({
                "prune": p.number,
                "from_seq": p.from_seq,
                "to_seq": p.to_seq,
                "events": p.to_seq - p.from_seq,
                "segments": p.segments,
                "events_created_from_ns": p.time_min_ns,
                "events_created_to_ns": p.time_max_ns,
                "policy": p.policy,
                "reason": p.reason,
            }),
        ),
        LifecycleRecord::Hold(h) => (
            format!("annal-{}", h.id),
            CODE_HOLD_PLACED,
            "Legal-hold-placed",
            "hold",
            "legal-hold",
            h.id.clone(),
            h.at_ns,
            &h.by,
            json!({
                "hold": h.id,
                "from_ns": h.from_ns,
                "to_ns": h.to_ns,
                "filter": h.filter,
                "reason": h.reason,
            }),
        ),
        LifecycleRecord::Release(r) => (
            format!("annal-release-{}", r.id),
            CODE_HOLD_RELEASED,
            "Legal-hold-released",
            "release",
            "legal-hold",
            r.id.clone(),
            r.at_ns,
            &r.by,
            json!({"hold": r.id, "reason": r.reason}),
        ),
    };
    let mut e = Event::new(Timestamp(at), now);
    e.id = Some(id.into());
    e.set_int(IntField::EventCode, Some(code));
    for (field, value) in [
        (TextField::EventType, name),
        (TextField::EventGroup, "Retention"),
        (TextField::Source, ANNAL_CATALOG),
        (TextField::Action, action),
        (TextField::Status, "success"),
        (TextField::ActorType, "operator"),
        (TextField::ActorId, by.as_str()),
        (TextField::ResourceType, resource_type),
        (TextField::ResourceId, resource_id.as_str()),
    ] {
        e.set_text(field, Some(value.into()));
    }
    // serde_json's maps are sorted: the payload is canonical JSON, as ingest stores it.
    e.payload = Some(payload.to_string().into());
    e
}
