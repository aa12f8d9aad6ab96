//! Sealed block columns: hostile bytes decode to an error, never a panic or an unbounded
//! allocation; a decoded block re-encodes to a block that decodes to the same events.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(events) = annal_storage::decode_block(data) {
        let mut again = Vec::new();
        annal_storage::encode_block(&events, &mut again);
        let back = annal_storage::decode_block(&again).expect("re-encoded block must decode");
        assert_eq!(back.len(), events.len());
    }
});
