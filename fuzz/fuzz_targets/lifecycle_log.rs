//! The lifecycle log (`lifecycle.log`, ANNALLCY v1 frames of JSON records): any bytes give
//! the records of its whole frames, or a typed `Corrupt` error at an offset inside the file,
//! never a panic; the kept hashes built from what parses are either consistent (each prune
//! continuing the last, its roots reaching its end) or refused with an error naming the
//! record. Each input is tried as is and with every frame's CRC recomputed, so mutations
//! reach the JSON behind the CRCs.
#![no_main]
use std::path::Path;

use annal_integrity::{parse_lifecycle, IntegrityError, Kept, LifecycleRecord};
use libfuzzer_sys::fuzz_target;

#[path = "framed_repair.rs"]
mod framed_repair;
use framed_repair::{repaired, HEADER};

fn check(bytes: &[u8]) {
    let path = Path::new("lifecycle.log");
    match parse_lifecycle(path, bytes) {
        Ok(records) => {
            for r in &records {
                assert!(r.offset >= HEADER as u64 && r.offset < bytes.len() as u64);
            }
            match Kept::from_records(path, &records) {
                Ok(kept) => {
                    let last = records.iter().rev().find_map(|r| match &r.record {
                        LifecycleRecord::Prune(p) => Some(p.to_seq),
                        _ => None,
                    });
                    assert_eq!(kept.end(), last.unwrap_or(0));
                    assert_eq!(kept.roots().len() as u64, kept.end() / 256);
                }
                Err(IntegrityError::Corrupt { offset, .. }) => {
                    assert!(records.iter().any(|r| r.offset == offset))
                }
                Err(e) => panic!("kept hashes failed other than as corrupt: {e}"),
            }
        }
        Err(IntegrityError::Corrupt { offset, .. }) => assert!(offset < bytes.len() as u64),
        Err(e) => panic!("parsing a lifecycle log failed other than as corrupt: {e}"),
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    if let Some(fixed) = repaired(data) {
        check(&fixed);
    }
});
