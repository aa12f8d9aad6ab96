//! `trail.start` (ANNALSTA v1: the first retained seq and the frontier of the pruned tree):
//! any bytes decode or are refused with a message, never a panic; what decodes encodes back
//! to exactly the same bytes, and its frontier has one hash per set bit of its seq.
#![no_main]
use annal_storage::TrailStart;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(start) = TrailStart::decode(data) {
        assert_eq!(start.encode(), data, "a trail start has one encoding");
        assert_eq!(
            start.frontier().hashes().len(),
            start.seq().count_ones() as usize
        );
    }
});
