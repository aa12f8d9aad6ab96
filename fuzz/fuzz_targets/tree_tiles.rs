//! The tile-root file (`index/tree.tiles`, ANNALTRE v1: a header, then 36-byte entries of a
//! root and the CRC of its index and root): any bytes give the roots of the valid prefix or
//! None (not this version's header), never a panic or an allocation beyond the file's size.
//! The valid prefix re-encodes to exactly the bytes it was read from, and every entry after
//! it is cut short or fails its CRC.
//!
//! Each input is tried as is and with every whole entry's CRC recomputed, so mutations of
//! the roots are kept.
#![no_main]
use annal_integrity::{encode_tiles, parse_tiles, Hash};
use libfuzzer_sys::fuzz_target;

const HEADER: usize = 16;
const ENTRY: usize = 36;

/// The bytes with every whole entry's CRC recomputed (the header kept as it is).
fn repaired(data: &[u8]) -> Option<Vec<u8>> {
    let entries = data.get(HEADER..)?;
    let roots: Vec<Hash> = entries
        .chunks_exact(ENTRY)
        .map(|e| e[..32].try_into().expect("32 bytes"))
        .collect();
    let mut b = data[..HEADER].to_vec();
    b.extend_from_slice(&encode_tiles(&roots)[HEADER..]);
    b.extend_from_slice(entries.chunks_exact(ENTRY).remainder());
    (b != data).then_some(b)
}

fn check(bytes: &[u8]) {
    let Some(roots) = parse_tiles(bytes) else {
        assert!(bytes.len() < HEADER || bytes[..HEADER] != encode_tiles(&[])[..]);
        return;
    };
    let encoded = encode_tiles(&roots);
    assert_eq!(
        &bytes[..encoded.len()],
        &encoded[..],
        "the valid prefix does not re-encode to its bytes"
    );
    assert_eq!(parse_tiles(&encoded).as_ref(), Some(&roots));
    // The entry after the prefix, if whole, is refused: re-encoding it with the roots before
    // it must give other bytes.
    if let Some(next) = bytes.get(encoded.len()..encoded.len() + ENTRY) {
        let mut with_next = roots.clone();
        with_next.push(next[..32].try_into().expect("32 bytes"));
        assert_ne!(
            &encode_tiles(&with_next)[encoded.len()..],
            next,
            "a valid entry was dropped"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    if let Some(fixed) = repaired(data) {
        check(&fixed);
    }
});
