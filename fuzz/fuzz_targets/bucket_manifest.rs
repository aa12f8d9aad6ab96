//! Bucket manifests (`manifest/{generation:020}.json`, read by every claim, restore and
//! replica): any bytes give a manifest or a typed error, never a panic. A manifest that
//! parses is checked (`Manifest::check`: format, version, gaps, event count) without
//! panicking; one that passes the check names every object once per place, its tail parts
//! are contiguous, and it survives a JSON round trip unchanged.
#![no_main]
use annal_bucket::Manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(m) = serde_json::from_slice::<Manifest>(data) else {
        return;
    };
    if m.check("fuzz").is_err() {
        return;
    }
    for t in &m.tail {
        let mut at = 0;
        for p in &t.parts {
            assert_eq!(p.offset, at, "check let a gap through");
            at += p.object.bytes;
        }
        assert_eq!(t.bytes(), at);
    }
    assert!(m.sealed_end() <= m.events);
    let _ = m.keys();
    let again: Manifest = serde_json::from_slice(&serde_json::to_vec(&m).unwrap()).unwrap();
    assert_eq!(again, m);
});
