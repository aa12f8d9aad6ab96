//! Every checkpoint the store signed, in signing order, in one append-only file
//! (`checkpoints.log` in the data directory; see docs/format.md "Checkpoint log"). Each note is
//! framed with its length and CRC and synced before it is served, so a checkpoint a client has
//! seen is never lost; a frame cut short by a crash is the unserved tail and is dropped.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::checkpoint::{Checkpoint, NOTE_BYTES_MAX};
use crate::error::{io, IntegrityError};

/// The checkpoint log's name in a data directory.
pub const CHECKPOINT_LOG_FILE: &str = "checkpoints.log";
const LOG_MAGIC: &[u8; 8] = b"ANNALCKP";
const LOG_VERSION: u16 = 1;
const LOG_HEADER_BYTES: usize = 16;
const FRAME_HEADER_BYTES: usize = 8;

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

fn log_header() -> [u8; LOG_HEADER_BYTES] {
    let mut h = [0u8; LOG_HEADER_BYTES];
    h[..8].copy_from_slice(LOG_MAGIC);
    h[8..10].copy_from_slice(&LOG_VERSION.to_le_bytes());
    let crc = crc32fast::hash(&h[..12]);
    h[12..].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Reads a checkpoint log. A frame that runs to the end of the file and fails its length or
/// CRC is the torn tail; any other bad frame is damage.
pub fn read_log(path: &Path) -> Result<LogContents, IntegrityError> {
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(mut f) => f.read_to_end(&mut bytes).map_err(io("read", path))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(LogContents::default()),
        Err(e) => return Err(io("open", path)(e)),
    };
    parse_log(path, &bytes)
}

/// Reads the bytes of a checkpoint log (see [`read_log`]).
pub fn parse_log(path: &Path, bytes: &[u8]) -> Result<LogContents, IntegrityError> {
    let corrupt = |offset: usize, msg: String| IntegrityError::Corrupt {
        path: path.to_path_buf(),
        offset: offset as u64,
        msg,
    };
    let mut out = LogContents::default();
    if bytes.len() < LOG_HEADER_BYTES {
        // Created, crash before the header was synced: nothing was ever served from it.
        if !bytes.is_empty() {
            out.torn_at = Some(0);
        }
        return Ok(out);
    }
    if bytes[..LOG_HEADER_BYTES] != log_header() {
        return Err(corrupt(
            0,
            "not a version-1 checkpoint log (bad magic, version or header CRC)".into(),
        ));
    }
    let mut at = LOG_HEADER_BYTES;
    while at < bytes.len() {
        let rest = &bytes[at..];
        let frame = (rest.len() >= FRAME_HEADER_BYTES).then(|| {
            let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
            (len, crc)
        });
        let body = frame
            .filter(|(len, _)| *len <= NOTE_BYTES_MAX)
            .and_then(|(len, crc)| {
                rest.get(FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + len)
                    .filter(|b| crc32fast::hash(b) == crc)
            });
        let Some(body) = body else {
            // Over-long or not: a frame that ends inside the file is damage, not a torn tail
            // (dropping it would drop every note after it).
            let reaches_end =
                frame.is_none_or(|(len, _)| at + FRAME_HEADER_BYTES + len >= bytes.len());
            if reaches_end {
                out.torn_at = Some(at as u64);
                return Ok(out);
            }
            return Err(corrupt(
                at,
                "checkpoint frame fails its length or CRC".into(),
            ));
        };
        let note = std::str::from_utf8(body)
            .map_err(|_| corrupt(at, "checkpoint note is not UTF-8".into()))?;
        let checkpoint =
            Checkpoint::from_note_unverified(note).map_err(|e| corrupt(at, e.to_string()))?;
        out.notes.push(StoredNote {
            offset: at as u64,
            note: note.to_string(),
            checkpoint,
        });
        at += FRAME_HEADER_BYTES + body.len();
    }
    Ok(out)
}

/// The checkpoint log, open for appending.
#[derive(Debug)]
pub struct CheckpointLog {
    path: PathBuf,
    file: File,
    end: u64,
}

impl CheckpointLog {
    /// Opens (or creates) the log of data directory `dir`, dropping a torn final frame.
    /// Returns the log and its notes.
    pub fn open(dir: &Path) -> Result<(CheckpointLog, Vec<StoredNote>), IntegrityError> {
        let path = dir.join(CHECKPOINT_LOG_FILE);
        let contents = read_log(&path)?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io("open", &path))?;
        let mut end = file.metadata().map_err(io("stat", &path))?.len();
        if let Some(torn) = contents.torn_at {
            tracing::warn!(
                "{}: dropping a checkpoint frame cut short at offset {torn} (never served)",
                path.display()
            );
            file.set_len(torn).map_err(io("truncate", &path))?;
            end = torn;
        }
        let mut log = CheckpointLog { path, file, end };
        if end == 0 {
            log.write_synced(&log_header())?;
            if let Some(parent) = log.path.parent() {
                File::open(parent)
                    .and_then(|d| d.sync_all())
                    .map_err(io("sync directory of", &log.path))?;
            }
        }
        Ok((log, contents.notes))
    }

    /// Appends one signed note and syncs it.
    pub fn append(&mut self, note: &str) -> Result<(), IntegrityError> {
        let mut frame = Vec::with_capacity(FRAME_HEADER_BYTES + note.len());
        frame.extend_from_slice(&(note.len() as u32).to_le_bytes());
        frame.extend_from_slice(&crc32fast::hash(note.as_bytes()).to_le_bytes());
        frame.extend_from_slice(note.as_bytes());
        self.write_synced(&frame)
    }

    fn write_synced(&mut self, bytes: &[u8]) -> Result<(), IntegrityError> {
        use std::os::unix::fs::FileExt;
        self.file
            .write_all_at(bytes, self.end)
            .and_then(|()| self.file.sync_data())
            .map_err(io("write", &self.path))?;
        self.end += bytes.len() as u64;
        Ok(())
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
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
