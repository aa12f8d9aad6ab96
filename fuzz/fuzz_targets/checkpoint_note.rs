//! Checkpoint notes and key texts (C2SP signed notes, Ed25519): any text gives a checkpoint
//! or a typed `IntegrityError`, never a panic, whether read without its signature
//! (`Checkpoint::from_note_unverified`), verified against a fixed public key, or read as a
//! public or private key. A note that verifies states the checkpoint read without
//! verifying; a parsed checkpoint re-signs into a note that verifies to itself; a parsed key
//! survives its own text.
#![no_main]
use std::sync::OnceLock;

use annal_integrity::{Checkpoint, IntegrityError, NoteSigner, NoteVerifier, NOTE_BYTES_MAX};
use libfuzzer_sys::fuzz_target;

/// A key made for this target only (`annal keygen --name annal-fuzz`); the seed notes are
/// signed with it, so the verifying path is reached from the first run.
const FUZZ_PRIVATE_KEY: &str =
    "PRIVATE+KEY+annal-fuzz+a0853ebf+AUHnyT7PIcOUlw5+Jn3up48f+BOwPEDeKeSTxnLqELGJ";

fn signer() -> &'static NoteSigner {
    static SIGNER: OnceLock<NoteSigner> = OnceLock::new();
    SIGNER.get_or_init(|| NoteSigner::from_private_text(FUZZ_PRIVATE_KEY).expect("fuzz key"))
}

fn verifier() -> &'static NoteVerifier {
    static VERIFIER: OnceLock<NoteVerifier> = OnceLock::new();
    VERIFIER.get_or_init(|| signer().verifier())
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let unverified = Checkpoint::from_note_unverified(&text);
    match &unverified {
        Ok(cp) => {
            assert!(text.len() <= NOTE_BYTES_MAX);
            assert!(!cp.origin.is_empty() && !cp.origin.contains('\n'));
            let body = cp.body();
            assert_eq!(
                Checkpoint::from_note_unverified(&format!("{body}\n")).ok().as_ref(),
                Some(cp),
                "a checkpoint does not survive its own body"
            );
            let note = signer().sign(cp);
            if note.len() <= NOTE_BYTES_MAX {
                assert_eq!(
                    verifier().verify(&note).ok().as_ref(),
                    Some(cp),
                    "own signature refused"
                );
            }
        }
        Err(e) => assert!(matches!(e, IntegrityError::Malformed(_)), "{e:?}"),
    }
    match verifier().verify(&text) {
        Ok(cp) => assert_eq!(
            Some(&cp),
            unverified.as_ref().ok(),
            "verified and unverified readings differ"
        ),
        Err(e) => assert!(
            matches!(
                e,
                IntegrityError::Malformed(_) | IntegrityError::NotSigned(_)
            ),
            "{e:?}"
        ),
    }
    match NoteVerifier::from_text(&text) {
        Ok(v) => assert_eq!(NoteVerifier::from_text(&v.to_text()).ok(), Some(v)),
        Err(e) => assert!(matches!(e, IntegrityError::BadKey(_)), "{e:?}"),
    }
    match NoteSigner::from_private_text(&text) {
        Ok(s) => {
            let again = NoteSigner::from_private_text(&s.to_private_text()).expect("own text");
            assert_eq!(again.verifier(), s.verifier());
        }
        Err(e) => assert!(matches!(e, IntegrityError::BadKey(_)), "{e:?}"),
    }
});
