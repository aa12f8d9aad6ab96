//! Every checkpoint the store signed, in signing order, in one append-only file
//! (`checkpoints.log` in the data directory; see docs/format.md "Checkpoint log"). Each note is
//! framed with its length and CRC and synced before it is served, so a checkpoint a client has
//! seen is never lost; a frame cut short by a crash is the unserved tail and is dropped.

use std::path::Path;

use crate::checkpoint::{Checkpoint, NOTE_BYTES_MAX};
use crate::error::IntegrityError;
use crate::framed::{self, read_bytes, FramedFile, Kind};
#[cfg(test)]
use crate::framed::{FRAME_HEADER_BYTES, HEADER_BYTES};

/// The checkpoint log's name in a data directory.
pub const CHECKPOINT_LOG_FILE: &str = "checkpoints.log";
const LOG_MAGIC: &[u8; 8] = b"ANNALCKP";
const LOG_VERSION: u16 = 1;
#[cfg(test)]
const LOG_HEADER_BYTES: usize = HEADER_BYTES;

/// One stored note and where it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredNote {
    /// Byte offset of its frame in the log.
    pub offset: u64,
    /// The signed note, as served.
    pub note: String,
    /// Its checkpoint, read without checking the signature.
    pub checkpoint: Checkpoint,
}

/// What a log file holds: every whole note, and where a torn final frame starts, if any.
#[derive(Debug, Default)]
pub struct LogContents {
    /// Notes in signing order.
    pub notes: Vec<StoredNote>,
    /// Offset of a final frame cut short (a crash while signing: never served).
    pub torn_at: Option<u64>,
}

/// The checkpoint log's framing.
pub(crate) const KIND: Kind = Kind {
    magic: LOG_MAGIC,
    version: LOG_VERSION,
    body_max: NOTE_BYTES_MAX,
    what: "checkpoint log",
};

/// Reads a checkpoint log. A frame that runs to the end of the file and fails its length or
/// CRC is the torn tail; any other bad frame is damage.
pub fn read_log(path: &Path) -> Result<LogContents, IntegrityError> {
    parse_log(path, &read_bytes(path)?)
}

/// Reads the bytes of a checkpoint log (see [`read_log`]).
pub fn parse_log(path: &Path, bytes: &[u8]) -> Result<LogContents, IntegrityError> {
    let frames = framed::parse(KIND, path, bytes)?;
    let mut out = LogContents {
        notes: Vec::with_capacity(frames.frames.len()),
        torn_at: frames.torn_at,
    };
    for (at, body) in frames.frames {
        let corrupt = |msg: String| IntegrityError::Corrupt {
            path: path.to_path_buf(),
            offset: at,
            msg,
        };
        let note = std::str::from_utf8(body)
            .map_err(|_| corrupt("checkpoint note is not UTF-8".into()))?;
        let checkpoint =
            Checkpoint::from_note_unverified(note).map_err(|e| corrupt(e.to_string()))?;
        out.notes.push(StoredNote {
            offset: at,
            note: note.to_string(),
            checkpoint,
        });
    }
    Ok(out)
}

/// The checkpoint log, open for appending.
#[derive(Debug)]
pub struct CheckpointLog(FramedFile);

impl CheckpointLog {
    /// Opens (or creates) the log of data directory `dir`, dropping a torn final frame.
    /// Returns the log and its notes.
    pub fn open(dir: &Path) -> Result<(CheckpointLog, Vec<StoredNote>), IntegrityError> {
        let path = dir.join(CHECKPOINT_LOG_FILE);
        let (file, bytes) = FramedFile::open(KIND, path.clone())?;
        let notes = parse_log(&path, &bytes)?.notes;
        Ok((CheckpointLog(file), notes))
    }

    /// Appends one signed note and syncs it.
    pub fn append(&mut self, note: &str) -> Result<(), IntegrityError> {
        self.0.append(note.as_bytes()).map(|_| ())
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::NoteSigner;

    fn log_with(notes: usize) -> (tempfile::TempDir, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let signer = NoteSigner::generate("t").unwrap();
        let (mut log, old) = CheckpointLog::open(dir.path()).unwrap();
        assert!(old.is_empty());
        for size in 1..=notes as u64 {
            log.append(&signer.sign(&Checkpoint {
                origin: "o".into(),
                size,
                root: [size as u8; 32],
            }))
            .unwrap();
        }
        let bytes = std::fs::read(dir.path().join(CHECKPOINT_LOG_FILE)).unwrap();
        (dir, bytes)
    }

    #[test]
    fn every_prefix_is_notes_plus_a_torn_tail_and_reopening_drops_the_tail() {
        let (dir, bytes) = log_with(3);
        let path = dir.path().join(CHECKPOINT_LOG_FILE);
        let whole = parse_log(&path, &bytes).unwrap();
        assert_eq!(whole.notes.len(), 3);
        assert_eq!(whole.torn_at, None);
        for cut in 0..bytes.len() {
            let part = parse_log(&path, &bytes[..cut]).unwrap();
            let complete = whole
                .notes
                .iter()
                .filter(|n| n.offset as usize + 8 + n.note.len() <= cut)
                .count();
            assert_eq!(part.notes.len(), complete, "cut at {cut}");
            let boundary = cut == 0
                || cut == LOG_HEADER_BYTES
                || whole.notes.iter().any(|n| n.offset as usize == cut);
            assert_eq!(part.torn_at.is_some(), !boundary, "cut at {cut}");
        }
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        let (_, notes) = CheckpointLog::open(dir.path()).unwrap();
        assert_eq!(notes.len(), 2);
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            whole.notes[2].offset
        );
    }

    /// Found by the `checkpoint_log` fuzz target: a frame length above `NOTE_BYTES_MAX` that
    /// ends inside the file was taken for a torn tail, so opening the log would have cut off
    /// every note after it.
    #[test]
    fn an_over_long_frame_inside_the_file_is_damage_not_a_torn_tail() {
        let (dir, good) = log_with(200);
        let path = dir.path().join(CHECKPOINT_LOG_FILE);
        assert!(good.len() > LOG_HEADER_BYTES + NOTE_BYTES_MAX + 2 * FRAME_HEADER_BYTES);
        let notes = parse_log(&path, &good).unwrap().notes;
        let over_long = (NOTE_BYTES_MAX as u32 + 1).to_le_bytes();
        let with_length_at = |offset: u64| {
            let mut bytes = good.clone();
            bytes[offset as usize..][..4].copy_from_slice(&over_long);
            bytes
        };
        let err = parse_log(&path, &with_length_at(notes[1].offset)).unwrap_err();
        assert!(
            matches!(&err, IntegrityError::Corrupt { offset, .. } if *offset == notes[1].offset),
            "{err}"
        );
        // On the last frame the same length runs past the end: a torn tail.
        let last = notes[199].offset;
        let torn = parse_log(&path, &with_length_at(last)).unwrap();
        assert_eq!((torn.notes.len(), torn.torn_at), (199, Some(last)));
    }

    #[test]
    fn damage_before_the_last_frame_is_an_error_naming_its_offset() {
        let (dir, mut bytes) = log_with(3);
        let path = dir.path().join(CHECKPOINT_LOG_FILE);
        let second = parse_log(&path, &bytes).unwrap().notes[1].offset as usize;
        bytes[second + 8 + 3] ^= 1;
        let err = parse_log(&path, &bytes).unwrap_err();
        assert!(
            matches!(&err, IntegrityError::Corrupt { offset, .. } if *offset == second as u64),
            "{err}"
        );
        bytes[..8].copy_from_slice(b"NOTALOG!");
        assert!(matches!(
            parse_log(&path, &bytes),
            Err(IntegrityError::Corrupt { offset: 0, .. })
        ));
    }
}
