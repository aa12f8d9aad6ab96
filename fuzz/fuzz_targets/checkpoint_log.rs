//! The checkpoint log (`checkpoints.log`, ANNALCKP v1 frames of length, CRC and note): any
//! bytes give the notes of its whole frames and where a torn tail starts, or a typed
//! `Corrupt` error at an offset inside the file, never a panic or an allocation beyond the
//! file's size. What it accepts is consistent: frames follow each other from the header,
//! each note is the exact bytes of its frame and states its checkpoint, and the notes and
//! a torn tail account for every byte.
//!
//! Each input is tried as is and with every frame's CRC recomputed, so mutations reach the
//! notes behind the CRCs.
#![no_main]
use std::path::Path;

use annal_integrity::{parse_log, Checkpoint, IntegrityError};
use libfuzzer_sys::fuzz_target;

#[path = "framed_repair.rs"]
mod framed_repair;
use framed_repair::{repaired, FRAME_HEADER, HEADER};

fn check(bytes: &[u8]) {
    match parse_log(Path::new("checkpoints.log"), bytes) {
        Ok(log) => {
            if bytes.len() < HEADER {
                assert!(log.notes.is_empty());
                assert_eq!(log.torn_at, (!bytes.is_empty()).then_some(0));
                return;
            }
            let mut at = HEADER;
            for n in &log.notes {
                assert_eq!(n.offset, at as u64, "frames do not follow each other");
                let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
                assert_eq!(len as usize, n.note.len());
                let body = &bytes[at + FRAME_HEADER..at + FRAME_HEADER + n.note.len()];
                assert_eq!(body, n.note.as_bytes(), "note is not its frame's bytes");
                assert_eq!(
                    Checkpoint::from_note_unverified(&n.note).ok().as_ref(),
                    Some(&n.checkpoint)
                );
                at += FRAME_HEADER + n.note.len();
            }
            match log.torn_at {
                Some(t) => {
                    assert!(
                        t == at as u64 && at < bytes.len(),
                        "torn tail at {t}, frames end at {at}"
                    );
                    // Only a frame that runs to the end of the file is a torn tail; one that
                    // ends inside it is damage (dropping it would drop the notes after it).
                    let rest = &bytes[at..];
                    if rest.len() >= FRAME_HEADER {
                        let len = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes"));
                        assert!(
                            FRAME_HEADER as u64 + u64::from(len) >= rest.len() as u64,
                            "a frame ending inside the file at {t} was taken for a torn tail"
                        );
                    }
                }
                None => assert_eq!(at, bytes.len(), "bytes left over without a torn tail"),
            }
        }
        Err(IntegrityError::Corrupt { offset, .. }) => assert!(offset < bytes.len() as u64),
        Err(e @ IntegrityError::File { .. }) => panic!("parsing bytes did I/O: {e}"),
        Err(e) => panic!("parsing a log failed other than as corrupt: {e}"),
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    if let Some(fixed) = repaired(data) {
        check(&fixed);
    }
});
