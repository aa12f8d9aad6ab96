//! What makes a re-sent id "the same event": the content digest the writer compares.
//!
//! An `id` is an idempotency key (as Stripe's are): re-sending it with the same event answers
//! with the stored seq, re-sending it with another event is refused with
//! [`StorageError::IdConflict`](crate::StorageError::IdConflict). "The same event" is the
//! canonical record bytes (`annal_model::encode_record`) less what the store fills at
//! receipt, because a retry is received later than the original:
//!
//! - `received_at` (bytes 0..8) is never compared;
//! - `created_at` (bytes 8..16) is compared only when the producer sent it. An event sent
//!   without one has `created_at == received_at` (the default is the receipt time), so a record
//!   whose two times are equal counts as "sent without `created_at`": two such sends match
//!   whatever their receipt times, and a send without it never matches one with it;
//! - everything else (id, every field, the payload, and `event_type`/`event_group` as the
//!   catalogs filled them) is compared byte for byte.
//!
//! The writer keeps a 64-bit digest of that content for every id it still holds in memory (the
//! unsealed ones), computed in the caller's thread; for a sealed id it decodes the stored
//! event (the rare path: only for a re-sent id). The digest is SipHash-1-3 keyed with random
//! keys per store, so a client cannot craft two contents that collide; a chance collision
//! (2^-64 per pair) would answer `duplicate` for other content, the behaviour before conflicts
//! were detected, and never changes what is stored.

use std::hash::{BuildHasher, Hasher, RandomState};

use annal_model::{encode_record, Event};

/// Bytes of a record before its optional fields: `received_at`, `created_at`.
const TIMES_BYTES: usize = 16;

/// Digests of event content, keyed per store.
pub(super) struct ContentDigest(RandomState);

impl ContentDigest {
    /// A digest with fresh random keys.
    pub(super) fn new() -> ContentDigest {
        ContentDigest(RandomState::new())
    }

    /// The digest of the content of the canonical record bytes `record` (module docs).
    pub(super) fn of_record(&self, record: &[u8]) -> u64 {
        let (times, rest) = record.split_at(TIMES_BYTES.min(record.len()));
        let mut h = self.0.build_hasher();
        match times.split_at_checked(8) {
            Some((received, created)) if received != created => {
                h.write_u8(1);
                h.write(created);
            }
            _ => h.write_u8(0),
        }
        h.write(rest);
        h.finish()
    }

    /// The digest of a decoded event's content, as [`ContentDigest::of_record`] of its bytes.
    pub(super) fn of_event(&self, event: &Event) -> u64 {
        let mut rec = Vec::with_capacity(512);
        encode_record(event, &mut rec);
        self.of_record(&rec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use annal_model::{TextField, Timestamp};

    fn event(created: i64, received: i64, actor: &str) -> Event {
        let mut e = Event::new(Timestamp(created), Timestamp(received));
        e.id = Some("k-1".into());
        e.set_text(TextField::ActorId, Some(actor.into()));
        e
    }

    #[test]
    fn receipt_time_is_not_content_and_a_sent_created_at_is() {
        let d = ContentDigest::new();
        let base = d.of_event(&event(5, 9, "alice"));
        assert_eq!(base, d.of_event(&event(5, 20, "alice")), "later receipt");
        assert_ne!(base, d.of_event(&event(6, 20, "alice")), "other event time");
        assert_ne!(base, d.of_event(&event(5, 9, "bob")), "other field");
        // Sent without created_at: both times are the receipt time.
        let defaulted = d.of_event(&event(7, 7, "alice"));
        assert_eq!(defaulted, d.of_event(&event(30, 30, "alice")));
        assert_ne!(defaulted, d.of_event(&event(7, 30, "alice")));
        assert_ne!(defaulted, base);
    }
}
