//! Append-only files of framed records, synced before they count: the checkpoint log and the
//! lifecycle log share this framing (docs/format.md, "Checkpoint log"). A 16-byte header
//! (8-byte magic, u16 version, 2 reserved bytes, CRC32 of the first 12 bytes), then frames of
//! u32 length, CRC32 of the body, body. A frame that runs to the end of the file and fails its
//! length or CRC is a torn tail (a crash while appending: never acknowledged) and is dropped
//! at open; any other bad frame is damage, reported with its offset.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{io, IntegrityError};

pub(crate) const HEADER_BYTES: usize = 16;
pub(crate) const FRAME_HEADER_BYTES: usize = 8;

/// What kind of framed file, as its header names it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Kind {
    pub(crate) magic: &'static [u8; 8],
    pub(crate) version: u16,
    /// Largest body a frame may have.
    pub(crate) body_max: usize,
    /// What the file is called in messages.
    pub(crate) what: &'static str,
}

impl Kind {
    fn header(&self) -> [u8; HEADER_BYTES] {
        let mut h = [0u8; HEADER_BYTES];
        h[..8].copy_from_slice(self.magic);
        h[8..10].copy_from_slice(&self.version.to_le_bytes());
        let crc = crc32fast::hash(&h[..12]);
        h[12..].copy_from_slice(&crc.to_le_bytes());
        h
    }
}

/// The whole frames of a file and where a torn final frame starts, if any.
#[derive(Debug, Default)]
pub(crate) struct Frames<'a> {
    /// (offset of the frame, body), in file order.
    pub(crate) frames: Vec<(u64, &'a [u8])>,
    pub(crate) torn_at: Option<u64>,
}

/// Reads the frames of a file's bytes.
pub(crate) fn parse<'a>(
    kind: Kind,
    path: &Path,
    bytes: &'a [u8],
) -> Result<Frames<'a>, IntegrityError> {
    let corrupt = |offset: usize, msg: String| IntegrityError::Corrupt {
        path: path.to_path_buf(),
        offset: offset as u64,
        msg,
    };
    let mut out = Frames::default();
    if bytes.len() < HEADER_BYTES {
        // Created, crash before the header was synced: nothing was ever acknowledged from it.
        if !bytes.is_empty() {
            out.torn_at = Some(0);
        }
        return Ok(out);
    }
    if bytes[..HEADER_BYTES] != kind.header() {
        return Err(corrupt(
            0,
            format!(
                "not a version-{} {} (bad magic, version or header CRC)",
                kind.version, kind.what
            ),
        ));
    }
    let mut at = HEADER_BYTES;
    while at < bytes.len() {
        let rest = &bytes[at..];
        let frame = (rest.len() >= FRAME_HEADER_BYTES).then(|| {
            let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
            (len, crc)
        });
        let body = frame
            .filter(|(len, _)| *len <= kind.body_max)
            .and_then(|(len, crc)| {
                rest.get(FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + len)
                    .filter(|b| crc32fast::hash(b) == crc)
            });
        let Some(body) = body else {
            // Over-long or not: a frame that ends inside the file is damage, not a torn tail
            // (dropping it would drop every frame after it).
            let reaches_end =
                frame.is_none_or(|(len, _)| at + FRAME_HEADER_BYTES + len >= bytes.len());
            if reaches_end {
                out.torn_at = Some(at as u64);
                return Ok(out);
            }
            return Err(corrupt(
                at,
                format!("{} frame fails its length or CRC", kind.what),
            ));
        };
        out.frames.push((at as u64, body));
        at += FRAME_HEADER_BYTES + body.len();
    }
    Ok(out)
}

/// The bytes of a file, or none when it does not exist.
pub(crate) fn read_bytes(path: &Path) -> Result<Vec<u8>, IntegrityError> {
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(mut f) => {
            f.read_to_end(&mut bytes).map_err(io("read", path))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("open", path)(e)),
    }
    Ok(bytes)
}

/// A framed file, open for appending.
#[derive(Debug)]
pub(crate) struct FramedFile {
    path: PathBuf,
    file: File,
    end: u64,
}

impl FramedFile {
    /// Opens (or creates) the file at `path`, dropping a torn final frame; returns it and
    /// its bytes (as they were, for the caller to parse the whole frames of).
    pub(crate) fn open(kind: Kind, path: PathBuf) -> Result<(FramedFile, Vec<u8>), IntegrityError> {
        let bytes = read_bytes(&path)?;
        let torn_at = parse(kind, &path, &bytes)?.torn_at;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io("open", &path))?;
        let mut end = file.metadata().map_err(io("stat", &path))?.len();
        if let Some(torn) = torn_at {
            tracing::warn!(
                "{}: dropping a {} frame cut short at offset {torn} (never acknowledged)",
                path.display(),
                kind.what
            );
            file.set_len(torn).map_err(io("truncate", &path))?;
            end = torn;
        }
        let mut out = FramedFile { path, file, end };
        if end == 0 {
            out.write_synced(&kind.header())?;
            if let Some(parent) = out.path.parent() {
                File::open(parent)
                    .and_then(|d| d.sync_all())
                    .map_err(io("sync directory of", &out.path))?;
            }
        }
        Ok((out, bytes))
    }

    /// Appends one frame holding `body` and syncs it; returns the frame's offset.
    pub(crate) fn append(&mut self, body: &[u8]) -> Result<u64, IntegrityError> {
        let mut frame = Vec::with_capacity(FRAME_HEADER_BYTES + body.len());
        frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
        frame.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
        frame.extend_from_slice(body);
        let at = self.end;
        self.write_synced(&frame)?;
        Ok(at)
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

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}
