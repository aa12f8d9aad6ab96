//! Signed checkpoints in the C2SP `tlog-checkpoint` form, inside a C2SP `signed-note`
//! (the format Go's `golang.org/x/mod/sumdb/note` reads):
//!
//! ```text
//! <origin>
//! <tree size, decimal>
//! <root hash, base64>
//!
//! — <key name> <base64(key id ‖ Ed25519 signature)>
//! ```
//!
//! The signature covers the body: the three lines, each ending in a newline. The key id is
//! the first 4 bytes of SHA-256(key name ‖ "\n" ‖ 0x01 ‖ public key); 0x01 names Ed25519.
//! Public keys are written as `<name>+<key id, 8 hex digits>+<base64(0x01 ‖ public key)>`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::error::IntegrityError;
use crate::Hash;

/// The algorithm byte of Ed25519 keys in signed notes.
const ALG_ED25519: u8 = 0x01;
/// Longest note accepted: a checkpoint is three short lines and a few signatures.
pub const NOTE_BYTES_MAX: usize = 16 << 10;
/// Most signature lines read from one note.
const SIGNATURES_MAX: usize = 16;

/// A tree head: the trail's size and root, under an origin naming the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's name (e.g. `annal.example.com/audit`); the first line.
    pub origin: String,
    /// Number of leaves (events).
    pub size: u64,
    /// The RFC 6962 root over them.
    pub root: Hash,
}

impl Checkpoint {
    /// The signed text: origin, size and base64 root, each line ending in a newline.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        )
    }

    /// The checkpoint a note states, without checking any signature (for reading stored
    /// notes whose signer is checked separately).
    pub fn from_note_unverified(note: &str) -> Result<Checkpoint, IntegrityError> {
        Ok(split_note(note)?.1)
    }

    fn parse_body(body: &str) -> Result<Checkpoint, IntegrityError> {
        let bad = |m: &str| IntegrityError::Malformed(m.to_string());
        let mut lines = body.split_terminator('\n');
        let origin = lines
            .next()
            .filter(|o| !o.is_empty())
            .ok_or_else(|| bad("no origin line"))?;
        let size = lines
            .next()
            .filter(|s| {
                !s.is_empty()
                    && s.bytes().all(|b| b.is_ascii_digit())
                    && (s.len() == 1 || !s.starts_with('0'))
            })
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| bad("the second line is not a tree size"))?;
        let root: Hash = lines
            .next()
            .and_then(|r| STANDARD.decode(r).ok())
            .and_then(|r| r.try_into().ok())
            .ok_or_else(|| bad("the third line is not a base64 SHA-256 root"))?;
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
        })
    }
}

fn key_id(name: &str, public: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([ALG_ED25519]);
    h.update(public.as_bytes());
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

fn check_name(name: &str) -> Result<(), IntegrityError> {
    if name.is_empty() || name.contains(['+', ' ', '\n', '\t']) {
        return Err(IntegrityError::BadKey(format!(
            "key name {name:?} must be non-empty, without spaces or '+'"
        )));
    }
    Ok(())
}

/// A named Ed25519 signing key.
pub struct NoteSigner {
    name: String,
    key: SigningKey,
}

impl NoteSigner {
    /// A new random key named `name`.
    pub fn generate(name: &str) -> Result<NoteSigner, IntegrityError> {
        use rand::RngCore;
        check_name(name)?;
        let mut seed = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut seed);
        Ok(NoteSigner {
            name: name.to_string(),
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// The private key as text: `PRIVATE+KEY+<name>+<id>+<base64(0x01 ‖ seed)>`.
    pub fn to_private_text(&self) -> String {
        let text = key_text(&self.name, &self.key.verifying_key(), &self.key.to_bytes());
        format!("PRIVATE+KEY+{text}")
    }

    /// Reads [`to_private_text`](Self::to_private_text).
    pub fn from_private_text(text: &str) -> Result<NoteSigner, IntegrityError> {
        let rest = text.trim().strip_prefix("PRIVATE+KEY+").ok_or_else(|| {
            IntegrityError::BadKey("a private key starts with PRIVATE+KEY+".into())
        })?;
        let (name, id, seed) = parse_key_text(rest, "PRIVATE+KEY+<name>+<id>+<key>")?;
        let signer = NoteSigner {
            name: name.to_string(),
            key: SigningKey::from_bytes(&seed),
        };
        check_key_id(name, id, &signer.key.verifying_key())?;
        Ok(signer)
    }

    /// The matching verifier.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            key: self.key.verifying_key(),
        }
    }

    /// The signed note of `checkpoint`.
    pub fn sign(&self, checkpoint: &Checkpoint) -> String {
        let body = checkpoint.body();
        let sig = self.key.sign(body.as_bytes());
        let mut blob = key_id(&self.name, &self.key.verifying_key()).to_vec();
        blob.extend_from_slice(&sig.to_bytes());
        format!("{body}\n\u{2014} {} {}\n", self.name, STANDARD.encode(blob))
    }
}

/// A named Ed25519 public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key: VerifyingKey,
}

impl NoteVerifier {
    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The public key as text: `<name>+<id>+<base64(0x01 ‖ key)>`.
    pub fn to_text(&self) -> String {
        key_text(&self.name, &self.key, self.key.as_bytes())
    }

    /// Reads [`to_text`](Self::to_text).
    pub fn from_text(text: &str) -> Result<NoteVerifier, IntegrityError> {
        let (name, id, bytes) = parse_key_text(text.trim(), "<name>+<id>+<key>")?;
        let key = VerifyingKey::from_bytes(&bytes)
            .map_err(|_| IntegrityError::BadKey("not a valid Ed25519 point".into()))?;
        check_key_id(name, id, &key)?;
        Ok(NoteVerifier {
            name: name.to_string(),
            key,
        })
    }

    /// The checkpoint of `note` if this key signed it; other signatures are ignored.
    pub fn verify(&self, note: &str) -> Result<Checkpoint, IntegrityError> {
        let bad = |m: &str| IntegrityError::Malformed(m.to_string());
        let (body, checkpoint, sigs) = split_note(note)?;
        let id = key_id(&self.name, &self.key);
        for line in sigs.lines().take(SIGNATURES_MAX) {
            let Some(rest) = line.strip_prefix("\u{2014} ") else {
                return Err(bad(
                    "a signature line must start with an em dash and a space",
                ));
            };
            let Some((name, blob)) = rest.split_once(' ') else {
                return Err(bad("a signature line is <name> <base64>"));
            };
            if name != self.name {
                continue;
            }
            let Ok(blob) = STANDARD.decode(blob) else {
                continue;
            };
            if blob.len() != 4 + 64 || blob[..4] != id {
                continue;
            }
            let Ok(sig) = Signature::from_slice(&blob[4..]) else {
                continue;
            };
            if self.key.verify(body.as_bytes(), &sig).is_ok() {
                return Ok(checkpoint);
            }
        }
        Err(IntegrityError::NotSigned(self.name.clone()))
    }
}

/// A note's signed body (with its final newline), its checkpoint and its signature lines.
fn split_note(note: &str) -> Result<(String, Checkpoint, &str), IntegrityError> {
    let bad = |m: &str| IntegrityError::Malformed(m.to_string());
    if note.len() > NOTE_BYTES_MAX {
        return Err(bad("longer than a checkpoint note may be"));
    }
    let (body, sigs) = note
        .split_once("\n\n")
        .ok_or_else(|| bad("no blank line between the text and its signatures"))?;
    let body = format!("{body}\n");
    let checkpoint = Checkpoint::parse_body(&body)?;
    Ok((body, checkpoint, sigs))
}

/// `<name>+<id>+<base64(0x01 ‖ bytes)>`: the text of either half of a key pair, whose id
/// is always that of the public key.
fn key_text(name: &str, public: &VerifyingKey, bytes: &[u8; 32]) -> String {
    let mut raw = vec![ALG_ED25519];
    raw.extend_from_slice(bytes);
    format!(
        "{name}+{}+{}",
        hex(&key_id(name, public)),
        STANDARD.encode(raw)
    )
}

/// The name, id and 32 key bytes of a key text shaped like `shape`.
fn parse_key_text<'t>(
    text: &'t str,
    shape: &str,
) -> Result<(&'t str, &'t str, [u8; 32]), IntegrityError> {
    let bad = |m: &str| IntegrityError::BadKey(m.to_string());
    // The key is base64, which may hold '+': split off name and id only.
    let mut parts = text.splitn(3, '+');
    let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad(&format!("expected {shape}")));
    };
    check_name(name)?;
    let raw = STANDARD.decode(key).map_err(|_| bad("key is not base64"))?;
    match raw.split_first() {
        Some((&ALG_ED25519, k)) => {
            let bytes = k
                .try_into()
                .map_err(|_| bad("Ed25519 key is not 32 bytes"))?;
            Ok((name, id, bytes))
        }
        _ => Err(bad("not an Ed25519 key")),
    }
}

fn check_key_id(name: &str, id: &str, public: &VerifyingKey) -> Result<(), IntegrityError> {
    if hex(&key_id(name, public)) != id {
        return Err(IntegrityError::BadKey(
            "key id does not match the key".into(),
        ));
    }
    Ok(())
}

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cp() -> Checkpoint {
        Checkpoint {
            origin: "annal.test/log".into(),
            size: 12345,
            root: [7u8; 32],
        }
    }

    #[test]
    fn signed_notes_round_trip_and_verify_only_unchanged() {
        let signer = NoteSigner::generate("annal.test").unwrap();
        let note = signer.sign(&cp());
        assert!(note.starts_with("annal.test/log\n12345\n"));
        assert!(note.contains("\n\n\u{2014} annal.test "));
        let v = signer.verifier();
        assert_eq!(v.verify(&note).unwrap(), cp());
        // Keys survive their text forms.
        let v2 = NoteVerifier::from_text(&v.to_text()).unwrap();
        assert_eq!(v2.verify(&note).unwrap(), cp());
        let s2 = NoteSigner::from_private_text(&signer.to_private_text()).unwrap();
        assert_eq!(s2.sign(&cp()), note, "Ed25519 signatures are deterministic");
        // Any change to the body breaks the signature.
        for (from, to) in [("12345", "12346"), ("annal.test/log", "annal.test/lag")] {
            let forged = note.replacen(from, to, 1);
            assert!(matches!(
                v.verify(&forged),
                Err(IntegrityError::NotSigned(key)) if key == "annal.test"
            ));
        }
        // Another key with the same name does not verify it.
        let other = NoteSigner::generate("annal.test").unwrap().verifier();
        assert!(other.verify(&note).is_err());
        // A forged checkpoint signed by another key is refused by the real one.
        let forger = NoteSigner::generate("annal.test").unwrap();
        let forged = forger.sign(&Checkpoint { size: 1, ..cp() });
        assert!(v.verify(&forged).is_err());
    }

    #[test]
    fn malformed_notes_and_keys_are_refused() {
        let v = NoteSigner::generate("k").unwrap().verifier();
        for note in [
            "",
            "a\n1\n",
            "a\nx\nAAAA\n\n",
            "a\n01\nAAAA\n\n",
            "a\n1\nnotbase64!\n\n\u{2014} k AAAA\n",
        ] {
            assert!(v.verify(note).is_err(), "{note:?}");
        }
        assert!(v.verify(&"x".repeat(NOTE_BYTES_MAX + 1)).is_err());
        assert!(NoteVerifier::from_text("k+00000000+AQ==").is_err());
        assert!(NoteVerifier::from_text("nonsense").is_err());
        assert!(NoteSigner::from_private_text("PRIVATE+KEY+k+0+AAAA").is_err());
        assert!(NoteSigner::generate("bad name").is_err());
        let text = v.to_text();
        let tampered = text.replacen('+', "x+", 1);
        assert!(
            NoteVerifier::from_text(&tampered).is_err(),
            "key id no longer matches"
        );
    }
}
