//! Index files: one per sealed segment, `index/{base:020}.idx`, checked whole when opened,
//! then memory-mapped. Derived data: a file that is missing, damaged or made for
//! another segment or field list is rebuilt from the segment, never trusted over it.
//! Byte layout: docs/format.md, "Index files".

use std::path::{Path, PathBuf};

use annal_model::Field;
use memmap2::Mmap;

use crate::error::IndexError;
use crate::key::Key;
use crate::mem::MemIndex;
use crate::times::{encode_times, le_u32, EncodedTimes, TimeSource};
use crate::values::{encode_field, FieldSection};

/// First bytes of an index file.
pub const INDEX_MAGIC: &[u8; 8] = b"ANNALIDX";
/// Version of the index file layout.
pub const INDEX_VERSION: u16 = 1;
/// Bytes of the fixed header.
pub const INDEX_HEADER_BYTES: usize = 64;
/// Bytes of one directory entry.
pub const DIR_ENTRY_BYTES: usize = 48;
/// Longest field name a directory entry holds.
const DIR_NAME_BYTES: usize = 24;
/// Fields with at most this many distinct values in a segment have their value counts in
/// the segment summary, so queries skip segments without a matching value unread.
pub const SUMMARY_VALUES_MAX: usize = 256;

const KIND_SUMMARY: u8 = 0;
const KIND_TIMES: u8 = 1;
const KIND_FIELD: u8 = 2;

/// What one field's summary says about a segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldSummary {
    /// Distinct values in the segment.
    pub distinct: u32,
    /// Every value with its record count, sorted by key, when there are at most
    /// [`SUMMARY_VALUES_MAX`].
    pub values: Option<Vec<(Key, u64)>>,
}

impl FieldSummary {
    /// Records holding `key`, when the summary lists values.
    pub fn count(&self, key: &[u8]) -> Option<u64> {
        let values = self.values.as_ref()?;
        Some(
            values
                .binary_search_by(|(k, _)| (**k).cmp(key))
                .map_or(0, |i| values[i].1),
        )
    }
}

/// A segment's summary: time range and per-field value counts (the manifest entry).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Smallest `created_at`.
    pub min_time: i64,
    /// Largest `created_at`.
    pub max_time: i64,
    /// One per indexed field, in the index's field order.
    pub fields: Vec<FieldSummary>,
}

/// Bytes of the index file for `mem`, a complete index of a sealed segment whose footer
/// root is `root`.
pub fn encode_index(mem: &MemIndex, root: &[u8; 32]) -> Vec<u8> {
    let mut sections: Vec<(u8, &str, Vec<u8>)> = Vec::with_capacity(mem.fields.len() + 2);
    sections.push((KIND_SUMMARY, "", encode_summary(mem)));
    let mut times = Vec::new();
    encode_times(&mem.times.times, &mut times);
    sections.push((KIND_TIMES, "", times));
    for (postings, field) in mem.postings.iter().zip(&mem.fields) {
        sections.push((KIND_FIELD, field.name(), encode_field(postings)));
    }
    let mut out = Vec::new();
    out.extend_from_slice(INDEX_MAGIC);
    out.extend_from_slice(&INDEX_VERSION.to_le_bytes());
    out.extend_from_slice(&(mem.fields.len() as u16).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&mem.base.to_le_bytes());
    out.extend_from_slice(&mem.len().to_le_bytes());
    out.extend_from_slice(root);
    let mut offset = (INDEX_HEADER_BYTES + sections.len() * DIR_ENTRY_BYTES + 4) as u64;
    for (kind, name, bytes) in &sections {
        let mut padded = [0u8; DIR_NAME_BYTES];
        padded[..name.len()].copy_from_slice(name.as_bytes());
        out.extend_from_slice(&padded);
        out.extend_from_slice(&[*kind, 0, 0, 0]);
        out.extend_from_slice(&crc32fast::hash(bytes).to_le_bytes());
        out.extend_from_slice(&offset.to_le_bytes());
        out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        offset += bytes.len() as u64;
    }
    let header_crc = crc32fast::hash(&out);
    out.extend_from_slice(&header_crc.to_le_bytes());
    for (_, _, bytes) in sections {
        out.extend_from_slice(&bytes);
    }
    out
}

fn encode_summary(mem: &MemIndex) -> Vec<u8> {
    let (min, max) = mem.time_range().unwrap_or((0, 0));
    let mut out = Vec::new();
    out.extend_from_slice(&min.to_le_bytes());
    out.extend_from_slice(&max.to_le_bytes());
    for postings in &mem.postings {
        out.extend_from_slice(&(postings.len() as u32).to_le_bytes());
        let listed = postings.len() <= SUMMARY_VALUES_MAX;
        out.push(u8::from(listed));
        if listed {
            let mut values: Vec<_> = postings.iter().collect();
            values.sort_unstable_by(|a, b| a.0.cmp(b.0));
            for (key, bitmap) in values {
                out.extend_from_slice(&(key.len() as u16).to_le_bytes());
                out.extend_from_slice(key);
                out.extend_from_slice(&(bitmap.len() as u32).to_le_bytes());
            }
        }
    }
    out
}

/// A section's place in the file and its checksum.
struct Section {
    range: (usize, usize),
    crc: u32,
}

/// An open index file.
pub struct IndexFile {
    path: PathBuf,
    map: Mmap,
    base: u64,
    count: u64,
    summary: Summary,
    times: Section,
    fields: Vec<Section>,
}

/// What an index file must belong to.
pub struct Expected<'a> {
    /// Segment base seq.
    pub base: u64,
    /// Records in the segment.
    pub count: u64,
    /// The segment's footer root.
    pub root: &'a [u8; 32],
    /// Indexed fields, in order.
    pub fields: &'a [Field],
}

impl IndexFile {
    /// Checks an index file whole (header, directory, every section's checksum and
    /// structure) and maps it. The check reads the file rather than the mapping, so the
    /// pages of an opened index stay out of the resident set until queries use them.
    pub fn open(path: &Path, expected: &Expected<'_>) -> Result<IndexFile, IndexError> {
        let corrupt = |msg: String| IndexError::Corrupt {
            path: path.to_path_buf(),
            msg,
        };
        let bytes = std::fs::read(path).map_err(IndexError::io("read", path))?;
        let sections = parse_header(&bytes, expected).map_err(corrupt)?;
        for (i, s) in sections.iter().enumerate() {
            let body = &bytes[s.range.0..s.range.1];
            if crc32fast::hash(body) != s.crc {
                return Err(corrupt(format!("section {i} checksum mismatch")));
            }
            let shape = match i {
                0 => Ok(()),
                1 => EncodedTimes::parse(body, expected.count)
                    .map(|_| ())
                    .map_err(String::from),
                _ => FieldSection::locate(body).and_then(|f| f.check(expected.count)),
            };
            shape.map_err(|m| corrupt(format!("section {i}: {m}")))?;
        }
        let summary = &sections[0];
        let summary = parse_summary(
            &bytes[summary.range.0..summary.range.1],
            expected.fields.len(),
        )
        .map_err(corrupt)?;
        check_summary(&bytes, &sections, &summary, expected.count).map_err(corrupt)?;
        drop(bytes);
        let file = std::fs::File::open(path).map_err(IndexError::io("open", path))?;
        // SAFETY: the one `unsafe` in annal (the workspace denies `unsafe_code` elsewhere).
        // A mapping is undefined behaviour only if the file changes while mapped. annal never
        // changes an index file in place: it is written under a temporary name, synced and
        // renamed into place, and a rebuild replaces the name with a new inode, so this map
        // keeps the bytes it was opened with. Only the process holding the store's LOCK writes
        // index files. An outside process truncating the file breaks that contract; the map
        // then faults (SIGBUS) rather than yielding other bytes. The sections' CRCs were checked
        // on the bytes read just above, and the map's length is checked against them below.
        #[allow(unsafe_code)]
        let map = unsafe { Mmap::map(&file) }.map_err(IndexError::io("mmap", path))?;
        if map.len() != sections.last().map_or(0, |s| s.range.1) {
            return Err(corrupt("changed while being opened".into()));
        }
        let mut sections = sections.into_iter().skip(1);
        let times = sections
            .next()
            .ok_or_else(|| corrupt("no time section".into()))?;
        Ok(IndexFile {
            path: path.to_path_buf(),
            base: expected.base,
            count: expected.count,
            summary,
            times,
            fields: sections.collect(),
            map,
        })
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Seq of the segment's first record.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// Records in the segment.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The segment's summary.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// Bytes of the file.
    pub fn file_bytes(&self) -> u64 {
        self.map.len() as u64
    }

    fn corrupt(&self, msg: impl Into<String>) -> IndexError {
        IndexError::Corrupt {
            path: self.path.clone(),
            msg: msg.into(),
        }
    }

    fn section(&self, s: &Section) -> &[u8] {
        &self.map[s.range.0..s.range.1]
    }

    pub(crate) fn times(&self) -> Result<EncodedTimes<'_>, IndexError> {
        // Checked whole at open; this only finds the parts again.
        EncodedTimes::locate(self.section(&self.times), self.count).map_err(|m| self.corrupt(m))
    }

    pub(crate) fn field(&self, pos: usize) -> Result<FieldSection<'_>, IndexError> {
        let s = self
            .fields
            .get(pos)
            .ok_or_else(|| self.corrupt(format!("no section for field {pos}")))?;
        FieldSection::locate(self.section(s)).map_err(|m| self.corrupt(m))
    }
}

fn parse_header(map: &[u8], expected: &Expected<'_>) -> Result<Vec<Section>, String> {
    let head = map
        .get(..INDEX_HEADER_BYTES)
        .ok_or("shorter than its header")?;
    if &head[..8] != INDEX_MAGIC {
        return Err("not an annal index file (bad magic)".into());
    }
    let version = u16::from_le_bytes([head[8], head[9]]);
    if version != INDEX_VERSION {
        return Err(format!(
            "index version {version}, this build reads {INDEX_VERSION}"
        ));
    }
    let nfields = usize::from(u16::from_le_bytes([head[10], head[11]]));
    let le_u64 = |at: usize| u64::from_le_bytes(head[at..at + 8].try_into().unwrap_or([0; 8]));
    if le_u64(16) != expected.base || le_u64(24) != expected.count || &head[32..64] != expected.root
    {
        return Err("made for another segment (base, count or root differ)".into());
    }
    if nfields != expected.fields.len() {
        return Err(format!(
            "indexes {nfields} fields, {} are configured",
            expected.fields.len()
        ));
    }
    let nsections = nfields + 2;
    let dir_end = INDEX_HEADER_BYTES + nsections * DIR_ENTRY_BYTES;
    let dir = map.get(..dir_end + 4).ok_or("directory cut short")?;
    if le_u32(dir, dir_end) != Some(crc32fast::hash(&dir[..dir_end])) {
        return Err("header checksum mismatch".into());
    }
    let mut sections = Vec::with_capacity(nsections);
    for i in 0..nsections {
        let e = &dir[INDEX_HEADER_BYTES + i * DIR_ENTRY_BYTES..][..DIR_ENTRY_BYTES];
        let name = std::str::from_utf8(&e[..DIR_NAME_BYTES])
            .map_err(|_| "field name is not UTF-8")?
            .trim_end_matches('\0');
        let kind = e[DIR_NAME_BYTES];
        let want = match i {
            0 => (KIND_SUMMARY, ""),
            1 => (KIND_TIMES, ""),
            _ => (KIND_FIELD, expected.fields[i - 2].name()),
        };
        if (kind, name) != want {
            return Err(format!("section {i} is {name:?}, expected {:?}", want.1));
        }
        let at = |o: usize| u64::from_le_bytes(e[o..o + 8].try_into().unwrap_or([0; 8]));
        let (off, len) = (at(32), at(40));
        let end = off.checked_add(len).ok_or("section length overflows")?;
        if off < (dir_end + 4) as u64 || end > map.len() as u64 {
            return Err(format!("section {i} lies outside the file"));
        }
        sections.push(Section {
            range: (off as usize, end as usize),
            crc: le_u32(e, 28).unwrap_or(0),
        });
    }
    Ok(sections)
}

fn parse_summary(b: &[u8], nfields: usize) -> Result<Summary, String> {
    let mut r = Cursor { b, pos: 0 };
    let min_time = r.i64()?;
    let max_time = r.i64()?;
    let mut fields = Vec::with_capacity(nfields);
    for _ in 0..nfields {
        let distinct = r.u32()?;
        let listed = r.take(1)?[0] == 1;
        let values = if listed {
            if distinct as usize > SUMMARY_VALUES_MAX {
                return Err("summary lists more values than it may".into());
            }
            let mut v: Vec<(Key, u64)> = Vec::with_capacity(distinct as usize);
            for _ in 0..distinct {
                let len = usize::from(u16::from_le_bytes(r.take(2)?.try_into().unwrap_or([0; 2])));
                let key: Key = r.take(len)?.into();
                let count = u64::from(r.u32()?);
                if v.last().is_some_and(|(k, _)| *k >= key) {
                    return Err("summary values out of order".into());
                }
                v.push((key, count));
            }
            Some(v)
        } else {
            None
        };
        fields.push(FieldSummary { distinct, values });
    }
    if r.pos != b.len() {
        return Err("trailing bytes after the summary".into());
    }
    Ok(Summary {
        min_time,
        max_time,
        fields,
    })
}

/// Checks that a summary says what the sections hold: the time range their chunk bounds
/// span, and each field's number of values and, when it lists them, every value's count
/// (queries answer from the summary without reading the sections).
fn check_summary(
    bytes: &[u8],
    sections: &[Section],
    summary: &Summary,
    count: u64,
) -> Result<(), String> {
    let body = |s: &Section| &bytes[s.range.0..s.range.1];
    let times = sections.get(1).ok_or("no time section")?;
    let times = EncodedTimes::locate(body(times), count)?;
    let span = (0..times.chunk_count()).map(|c| times.bounds(c)).fold(
        None,
        |span: Option<(i64, i64)>, b| {
            Some(span.map_or((b.min, b.max), |(lo, hi)| (lo.min(b.min), hi.max(b.max))))
        },
    );
    if count > 0 && span != Some((summary.min_time, summary.max_time)) {
        return Err("the summary's time range is not its time chunks'".into());
    }
    for (i, (field, s)) in summary.fields.iter().zip(&sections[2..]).enumerate() {
        let section = FieldSection::locate(body(s))?;
        let agrees = field.distinct as usize == section.len()
            && field.values.as_ref().is_none_or(|listed| {
                section.values().is_ok_and(|values| {
                    listed.len() == values.len()
                        && listed
                            .iter()
                            .zip(&values)
                            .all(|((k, n), v)| **k == v.key[..] && *n == v.count)
                })
            });
        if !agrees {
            return Err(format!("the summary of field {i} is not its section's"));
        }
    }
    Ok(())
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let s = self
            .b
            .get(self.pos..self.pos.saturating_add(n))
            .ok_or("summary cut short")?;
        self.pos += n;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().unwrap_or([0; 4]),
        ))
    }
    fn i64(&mut self) -> Result<i64, String> {
        Ok(i64::from_le_bytes(
            self.take(8)?.try_into().unwrap_or([0; 8]),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indexer::IndexOptions;

    /// An index of 100 generated events and its file's bytes.
    fn index_bytes() -> (MemIndex, Vec<u8>) {
        let fields = IndexOptions::default().fields;
        let mut mem = MemIndex::new(0, &fields);
        let events = annal_gen::events(annal_gen::GenConfig {
            count: 100,
            ..Default::default()
        });
        events.iter().for_each(|e| mem.push(e));
        let bytes = encode_index(&mem, &[7; 32]);
        (mem, bytes)
    }

    /// Section `i`'s range in the directory, and the directory's end.
    fn section(bytes: &[u8], i: usize) -> (usize, usize, usize) {
        let e = INDEX_HEADER_BYTES + i * DIR_ENTRY_BYTES;
        let at = |o: usize| u64::from_le_bytes(bytes[e + o..e + o + 8].try_into().unwrap());
        let nsections = usize::from(u16::from_le_bytes([bytes[10], bytes[11]])) + 2;
        let (off, len) = (at(32) as usize, at(40) as usize);
        (
            off,
            off + len,
            INDEX_HEADER_BYTES + nsections * DIR_ENTRY_BYTES,
        )
    }

    /// Rewrites section `i`'s checksum, then the directory's.
    fn reseal(bytes: &mut [u8], i: usize) {
        let (start, end, dir_end) = section(bytes, i);
        let crc = crc32fast::hash(&bytes[start..end]);
        let e = INDEX_HEADER_BYTES + i * DIR_ENTRY_BYTES;
        bytes[e + 28..e + 32].copy_from_slice(&crc.to_le_bytes());
        let crc = crc32fast::hash(&bytes[..dir_end]);
        bytes[dir_end..dir_end + 4].copy_from_slice(&crc.to_le_bytes());
    }

    /// Found by the `index_file` fuzz target: a summary whose checksums agree but which
    /// disagrees with the sections (a value's count, the time range) was trusted, so counts
    /// and time pruning answered from it differed from the postings and times.
    #[test]
    fn a_summary_that_disagrees_with_its_sections_is_refused() {
        let (mem, good) = index_bytes();
        let fields = IndexOptions::default().fields;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.idx");
        let expected = Expected {
            base: 0,
            count: mem.len(),
            root: &[7; 32],
            fields: &fields,
        };
        std::fs::write(&path, &good).unwrap();
        let file = IndexFile::open(&path, &expected).unwrap();
        assert_eq!(file.summary().fields.len(), fields.len());
        let (start, _, _) = section(&good, 0);
        // The summary: smallest and largest time (8 bytes each), then per field its number
        // of values (4), whether they are listed (1), and each value's key length (2), key
        // (8 for event_code, the first field) and count (4).
        assert_eq!(good[start + 20], 1, "event_code values listed");
        for (at, what) in [(start + 31, "a value's count"), (start, "time range")] {
            let mut bad = good.clone();
            bad[at] ^= 1;
            reseal(&mut bad, 0);
            std::fs::write(&path, &bad).unwrap();
            let err = IndexFile::open(&path, &expected).err().unwrap();
            assert!(err.to_string().contains("summary"), "{what}: {err}");
        }
    }
}
