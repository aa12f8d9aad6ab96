//! tlog-tiles paths (`<L>/<N>[.p/<W>]`, `entries/<N>[.p/<W>]`) as `GET /tile/…` takes them
//! from clients: any text parses or is refused with a message, never a panic, and what
//! parses is exactly the canonical path of what it names (the spec gives every tile one
//! path: no leading zeroes, 3-digit groups, `x` on all but the last).
#![no_main]
use annal_integrity::{parse_tile_path, tile_path};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(tile) = parse_tile_path(text) {
        assert_eq!(tile_path(tile), text, "a tile has one path");
        assert!((1..=256).contains(&tile.width));
    }
});
