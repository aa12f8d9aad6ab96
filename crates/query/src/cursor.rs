//! Opaque page cursors: where to go on walking, in which direction, for which filters.
//!
//! Bytes (then base64url without padding): version (1), direction (0 = ascending seqs from
//! `bound` inclusive, 1 = descending seqs below `bound`), `bound` (u64 LE), hash of the
//! filters and order (u64 LE). See docs/format.md, "Cursors".

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::error::{QueryError, Result};

const CURSOR_VERSION: u8 = 1;
const CURSOR_BYTES: usize = 18;
/// Longest cursor text accepted, before decoding.
pub const CURSOR_TEXT_MAX: usize = 64;

/// Which way a walk over seqs goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// Seqs `bound..`, oldest first.
    Asc,
    /// Seqs `..bound`, newest first.
    Desc,
}

impl Dir {
    /// The other way.
    pub fn reverse(self) -> Dir {
        match self {
            Dir::Asc => Dir::Desc,
            Dir::Desc => Dir::Asc,
        }
    }
}

/// A decoded cursor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    /// Walk direction.
    pub dir: Dir,
    /// First seq of an ascending walk, or one past the first seq of a descending one.
    pub bound: u64,
    /// Hash of the filters and order it was issued for.
    pub hash: u64,
}

impl Cursor {
    /// The cursor as URL-safe text.
    pub fn encode(&self) -> String {
        let mut b = [0u8; CURSOR_BYTES];
        b[0] = CURSOR_VERSION;
        b[1] = u8::from(self.dir == Dir::Desc);
        b[2..10].copy_from_slice(&self.bound.to_le_bytes());
        b[10..18].copy_from_slice(&self.hash.to_le_bytes());
        URL_SAFE_NO_PAD.encode(b)
    }

    /// Reads a cursor made by [`encode`](Self::encode).
    pub fn decode(text: &str) -> Result<Cursor> {
        if text.len() > CURSOR_TEXT_MAX {
            return Err(QueryError::BadCursor("too long"));
        }
        let b = URL_SAFE_NO_PAD
            .decode(text.trim())
            .map_err(|_| QueryError::BadCursor("not base64url"))?;
        let b: [u8; CURSOR_BYTES] = b
            .try_into()
            .map_err(|_| QueryError::BadCursor("wrong length"))?;
        if b[0] != CURSOR_VERSION {
            return Err(QueryError::BadCursor("unknown version"));
        }
        let dir = match b[1] {
            0 => Dir::Asc,
            1 => Dir::Desc,
            _ => return Err(QueryError::BadCursor("unknown direction")),
        };
        let u64_at = |at: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[at..at + 8]);
            u64::from_le_bytes(w)
        };
        Ok(Cursor {
            dir,
            bound: u64_at(2),
            hash: u64_at(10),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        for c in [
            Cursor {
                dir: Dir::Asc,
                bound: 0,
                hash: 1,
            },
            Cursor {
                dir: Dir::Desc,
                bound: u64::MAX,
                hash: u64::MAX,
            },
        ] {
            let text = c.encode();
            assert!(text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            assert_eq!(Cursor::decode(&text).unwrap(), c);
        }
        assert!(matches!(
            Cursor::decode("@@"),
            Err(QueryError::BadCursor(_))
        ));
        assert!(matches!(
            Cursor::decode("AAAA"),
            Err(QueryError::BadCursor(_))
        ));
        let mut bad = Cursor {
            dir: Dir::Asc,
            bound: 5,
            hash: 9,
        }
        .encode()
        .into_bytes();
        bad[0] = b'B';
        assert!(Cursor::decode(std::str::from_utf8(&bad).unwrap()).is_err());
        assert!(Cursor::decode(&"A".repeat(100)).is_err());
    }
}
