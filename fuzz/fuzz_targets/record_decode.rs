//! Canonical record bytes: decoding never panics, and whatever decodes re-encodes to the
//! same bytes (one event, one encoding: the Merkle leaf depends on it).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = annal_model::decode_record(data) {
        let mut again = Vec::new();
        annal_model::encode_record(&event, &mut again);
        assert_eq!(again, data, "decode accepted a non-canonical encoding");
    }
});
