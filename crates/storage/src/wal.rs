//! Active-segment (write-ahead log) format: a file header, then group-commit batches, each
//! framed with its length, a CRC32 over the whole batch, its first seq, event count and
//! min/max event time. See docs/format.md, "Active segment".
//!
//! [`scan`] is the recovery reader: a pure function over the file's bytes, so it can be
//! fuzzed and tested at every truncation offset.

use annal_model::get_varint;

/// Magic at the start of an active segment file.
pub const WAL_MAGIC: [u8; 8] = *b"ANNALWAL";
/// Format version of active segment files this build writes and reads.
pub const WAL_VERSION: u16 = 1;
/// Bytes of the active segment file header.
pub const WAL_HEADER_BYTES: usize = 32;
/// Magic at the start of every batch: lets recovery tell a torn tail from damage followed by
/// intact batches.
pub const BATCH_MAGIC: u32 = 0x7CB4_1AA1;
/// Bytes of a batch header.
pub const BATCH_HEADER_BYTES: usize = 48;
/// Bytes framing each record inside a batch: u32 length, u32 CRC32 of the record.
pub const RECORD_FRAME_BYTES: usize = 8;
/// Largest batch body; the writer flushes a batch before a request would carry it past this.
pub const BATCH_BODY_BYTES_MAX: usize = 64 << 20;
/// Codec byte of an uncompressed batch body (the only codec of version 1).
pub const CODEC_NONE: u8 = 0;

/// Encodes the file header of an active segment starting at `base_seq`.
pub fn encode_header(base_seq: u64) -> [u8; WAL_HEADER_BYTES] {
    let mut h = [0u8; WAL_HEADER_BYTES];
    h[0..8].copy_from_slice(&WAL_MAGIC);
    h[8..10].copy_from_slice(&WAL_VERSION.to_le_bytes());
    h[10..12].copy_from_slice(&(WAL_HEADER_BYTES as u16).to_le_bytes());
    h[16..24].copy_from_slice(&base_seq.to_le_bytes());
    let crc = crc32fast::hash(&h[0..28]);
    h[28..32].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Why a header could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// Fewer bytes than a header, or nothing but zeros: the file's creation was cut short.
    Short,
    /// Not a header of a known version.
    Bad(String),
    /// A header of a version this build does not read.
    Version(u16),
}

/// Decodes a file header; returns the base seq.
pub fn decode_header(bytes: &[u8]) -> Result<u64, HeaderError> {
    let h = bytes.get(..WAL_HEADER_BYTES).ok_or(HeaderError::Short)?;
    if bytes.iter().all(|b| *b == 0) {
        // Created, then a crash before the header's fdatasync: the file has length but no data.
        return Err(HeaderError::Short);
    }
    if h[0..8] != WAL_MAGIC {
        return Err(HeaderError::Bad(
            "not an annal active segment (bad magic)".into(),
        ));
    }
    // The version comes before the checksum: a later version may lay its header out anew.
    let version = u16::from_le_bytes([h[8], h[9]]);
    if version != WAL_VERSION {
        return Err(HeaderError::Version(version));
    }
    if le_u32(h, 28) != crc32fast::hash(&h[0..28]) {
        return Err(HeaderError::Bad("file header checksum mismatch".into()));
    }
    Ok(le_u64(h, 16))
}

/// Builds one batch frame from framed records (each already `len | crc | bytes`).
pub struct BatchBuilder {
    buf: Vec<u8>,
    count: u32,
    min_time: i64,
    max_time: i64,
}

impl BatchBuilder {
    /// An empty batch, reusing `buf`'s allocation.
    pub fn new(mut buf: Vec<u8>) -> BatchBuilder {
        buf.clear();
        buf.resize(BATCH_HEADER_BYTES, 0);
        BatchBuilder {
            buf,
            count: 0,
            min_time: i64::MAX,
            max_time: i64::MIN,
        }
    }

    /// Bytes the batch holds so far, header included.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True when the batch holds no record yet.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Number of records.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Adds one framed record whose event time is `created_at`.
    pub fn push(&mut self, framed: &[u8], created_at: i64) {
        self.buf.extend_from_slice(framed);
        self.count += 1;
        self.min_time = self.min_time.min(created_at);
        self.max_time = self.max_time.max(created_at);
    }

    /// Fills in the header and returns the frame bytes.
    pub fn finish(&mut self, first_seq: u64) -> &[u8] {
        let body_len = (self.buf.len() - BATCH_HEADER_BYTES) as u32;
        let h = &mut self.buf[..BATCH_HEADER_BYTES];
        h[0..4].copy_from_slice(&BATCH_MAGIC.to_le_bytes());
        h[8..12].copy_from_slice(&body_len.to_le_bytes());
        h[12..16].copy_from_slice(&self.count.to_le_bytes());
        h[16..24].copy_from_slice(&first_seq.to_le_bytes());
        h[24..32].copy_from_slice(&self.min_time.to_le_bytes());
        h[32..40].copy_from_slice(&self.max_time.to_le_bytes());
        h[40] = CODEC_NONE;
        h[41..48].fill(0);
        let crc = crc32fast::hash(&self.buf[8..]);
        self.buf[4..8].copy_from_slice(&crc.to_le_bytes());
        &self.buf
    }

    /// The frame as built so far (complete after [`BatchBuilder::finish`]).
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Gives the buffer back for reuse.
    pub fn into_buf(self) -> Vec<u8> {
        self.buf
    }
}

/// Appends `record` framed as `u32 len | u32 crc32 | bytes`.
pub fn frame_record(record: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(record.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(record).to_le_bytes());
    out.extend_from_slice(record);
}

/// Checks one framed record at `offset` of `bytes`; returns the record bytes.
pub fn read_framed_record(bytes: &[u8], offset: usize) -> Result<&[u8], &'static str> {
    let head = bytes
        .get(offset..offset + RECORD_FRAME_BYTES)
        .ok_or("record frame past the end")?;
    let len = le_u32(head, 0) as usize;
    let start = offset + RECORD_FRAME_BYTES;
    let record = bytes
        .get(start..start + len)
        .ok_or("record length past the end of its batch")?;
    if crc32fast::hash(record) != le_u32(head, 4) {
        return Err("record checksum mismatch");
    }
    Ok(record)
}

/// One valid batch found by [`scan`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchInfo {
    /// File offset of the batch header.
    pub offset: u64,
    /// Seq of its first record.
    pub first_seq: u64,
    /// Number of records.
    pub count: u32,
    /// Smallest `created_at` of its records.
    pub min_time: i64,
    /// Largest `created_at` of its records.
    pub max_time: i64,
}

/// How the scanned bytes end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tail {
    /// The last batch ends exactly at the end of the bytes.
    Clean,
    /// Bytes from `offset` on are an incomplete or damaged last batch with nothing valid after
    /// it: what a crash during a write leaves, never acknowledged data.
    Torn {
        /// Where the valid part ends.
        offset: u64,
        /// Why the bytes there are not a batch.
        reason: String,
    },
}

/// What [`scan`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scan {
    /// Base seq from the header.
    pub base_seq: u64,
    /// Every valid batch, in order.
    pub batches: Vec<BatchInfo>,
    /// File offset of every record frame, in seq order.
    pub record_offsets: Vec<u64>,
    /// Ids carried by records, with their seq.
    pub ids: Vec<(Box<str>, u64)>,
    /// End of the valid part.
    pub valid_end: u64,
    /// How the bytes end.
    pub tail: Tail,
}

/// Damage that is not a torn tail: valid batches follow it, so acknowledged data is at stake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// Offset of the damaged batch.
    pub offset: u64,
    /// What check failed.
    pub msg: String,
}

/// Reads an active segment's bytes batch by batch, checking every CRC and seq.
pub fn scan(bytes: &[u8]) -> Result<Scan, Damage> {
    let base_seq = match decode_header(bytes) {
        Ok(b) => b,
        Err(HeaderError::Short) => {
            let reason = "file header incomplete".to_string();
            return Ok(Scan {
                base_seq: 0,
                batches: vec![],
                record_offsets: vec![],
                ids: vec![],
                valid_end: 0,
                tail: Tail::Torn { offset: 0, reason },
            });
        }
        Err(HeaderError::Bad(msg)) => return Err(Damage { offset: 0, msg }),
        Err(HeaderError::Version(v)) => {
            return Err(Damage {
                offset: 0,
                msg: format!("format version {v} is not supported"),
            })
        }
    };
    let mut out = Scan {
        base_seq,
        batches: Vec::new(),
        record_offsets: Vec::new(),
        ids: Vec::new(),
        valid_end: WAL_HEADER_BYTES as u64,
        tail: Tail::Clean,
    };
    let mut pos = WAL_HEADER_BYTES;
    let mut expected = base_seq;
    while pos < bytes.len() {
        match parse_batch(bytes, pos, Some(expected), &mut out) {
            Ok(end) => {
                expected += u64::from(out.batches.last().map_or(0, |b| b.count));
                pos = end;
                out.valid_end = end as u64;
            }
            Err(BatchError::Invalid(msg)) => {
                // The checksum matched, so these bytes are what was written: a writer bug or
                // tampering, never a torn write.
                return Err(Damage {
                    offset: pos as u64,
                    msg: format!("{msg} (its checksum is valid, so this is not a torn write)"),
                });
            }
            Err(BatchError::Torn(reason)) => {
                if let Some(at) = find_batch_after(bytes, pos + 1, expected) {
                    let msg = format!("{reason}; an intact batch follows at offset {at}, so this is not a torn tail");
                    return Err(Damage {
                        offset: pos as u64,
                        msg,
                    });
                }
                out.tail = Tail::Torn {
                    offset: pos as u64,
                    reason,
                };
                break;
            }
        }
    }
    Ok(out)
}

/// Why the bytes at an offset are not a valid batch.
enum BatchError {
    /// Incomplete, or its checksum fails: what a crash mid-write leaves (or damage).
    Torn(String),
    /// Its checksum holds but its contents are inconsistent.
    Invalid(String),
}

impl From<&str> for BatchError {
    fn from(s: &str) -> Self {
        BatchError::Torn(s.to_string())
    }
}

/// Validates the batch at `pos`; on success records it in `out` and returns its end.
fn parse_batch(
    bytes: &[u8],
    pos: usize,
    expected: Option<u64>,
    out: &mut Scan,
) -> Result<usize, BatchError> {
    let h = bytes
        .get(pos..pos + BATCH_HEADER_BYTES)
        .ok_or("batch header incomplete")?;
    if le_u32(h, 0) != BATCH_MAGIC {
        return Err("no batch magic".into());
    }
    let body_len = le_u32(h, 8) as usize;
    if body_len > BATCH_BODY_BYTES_MAX {
        return Err(BatchError::Torn(format!(
            "batch length {body_len} exceeds the limit"
        )));
    }
    let end = pos + BATCH_HEADER_BYTES + body_len;
    let frame = bytes
        .get(pos..end)
        .ok_or("batch extends past the end of the file")?;
    if crc32fast::hash(&frame[8..]) != le_u32(h, 4) {
        return Err("batch checksum mismatch".into());
    }
    let invalid = |m: String| BatchError::Invalid(m);
    let count = le_u32(h, 12);
    let first_seq = le_u64(h, 16);
    let (min_time, max_time) = (le_u64(h, 24) as i64, le_u64(h, 32) as i64);
    if let Some(e) = expected.filter(|e| *e != first_seq) {
        return Err(invalid(format!(
            "batch starts at seq {first_seq}, expected {e}"
        )));
    }
    if first_seq.checked_add(u64::from(count)).is_none() {
        return Err(invalid("batch seqs overflow".into()));
    }
    if frame[40] != CODEC_NONE || count == 0 {
        return Err(invalid("unknown codec or empty batch".into()));
    }
    let (records_before, ids_before) = (out.record_offsets.len(), out.ids.len());
    let undo = |out: &mut Scan, msg: String| {
        out.record_offsets.truncate(records_before);
        out.ids.truncate(ids_before);
        BatchError::Invalid(msg)
    };
    let mut at = pos + BATCH_HEADER_BYTES;
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    let mut seq = first_seq;
    while at < end {
        let record = match read_framed_record(&bytes[..end], at) {
            Ok(r) if r.len() >= 16 => r,
            Ok(_) => return Err(undo(out, format!("record at offset {at} is too short"))),
            Err(m) => return Err(undo(out, format!("{m} at offset {at}"))),
        };
        let created = le_u64(record, 8) as i64;
        lo = lo.min(created);
        hi = hi.max(created);
        if let Some(id) = record_id(record) {
            out.ids.push((id.into(), seq));
        }
        out.record_offsets.push(at as u64);
        at += RECORD_FRAME_BYTES + record.len();
        seq += 1;
    }
    let found = out.record_offsets.len() - records_before;
    if found != count as usize || lo != min_time || hi != max_time {
        return Err(undo(out, "batch header disagrees with its records".into()));
    }
    out.batches.push(BatchInfo {
        offset: pos as u64,
        first_seq,
        count,
        min_time,
        max_time,
    });
    Ok(end)
}

/// Finds an intact batch starting after `from` whose first seq is at least `expected`.
fn find_batch_after(bytes: &[u8], from: usize, expected: u64) -> Option<usize> {
    let magic = BATCH_MAGIC.to_le_bytes();
    let mut scratch = Scan {
        base_seq: 0,
        batches: vec![],
        record_offsets: vec![],
        ids: vec![],
        valid_end: 0,
        tail: Tail::Clean,
    };
    (from..bytes.len().saturating_sub(BATCH_HEADER_BYTES - 1)).find(|&p| {
        bytes[p..p + 4] == magic
            && parse_batch(bytes, p, None, &mut scratch).is_ok()
            && scratch
                .batches
                .pop()
                .is_some_and(|b| b.first_seq >= expected)
    })
}

/// The `id` of canonical record bytes, read without decoding the rest.
pub fn record_id(record: &[u8]) -> Option<&str> {
    let presence = record.get(16..20).map(|b| le_u32(b, 0))?;
    if presence & 1 == 0 {
        return None;
    }
    let mut pos = 20;
    let len = get_varint(record, &mut pos)? as usize;
    std::str::from_utf8(record.get(pos..pos + len)?).ok()
}

pub(crate) fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

pub(crate) fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use annal_model::{encode_record, Event, Timestamp};

    /// A file with `batches` batches of 3 records each, starting at seq 10.
    fn wal_bytes(batches: u64) -> Vec<u8> {
        let mut file = encode_header(10).to_vec();
        let mut seq = 10;
        for b in 0..batches {
            let mut builder = BatchBuilder::new(Vec::new());
            for i in 0..3 {
                let mut e = Event::new(Timestamp((b * 3 + i) as i64), Timestamp(0));
                e.id = Some(format!("id{seq}").into());
                let mut rec = Vec::new();
                encode_record(&e, &mut rec);
                let mut framed = Vec::new();
                frame_record(&rec, &mut framed);
                builder.push(&framed, e.created_at.0);
                seq += 1;
            }
            file.extend_from_slice(builder.finish(seq - 3));
        }
        file
    }

    #[test]
    fn clean_file_scans_every_record() {
        let bytes = wal_bytes(4);
        let s = scan(&bytes).unwrap();
        assert_eq!(s.base_seq, 10);
        assert_eq!(s.batches.len(), 4);
        assert_eq!(s.record_offsets.len(), 12);
        assert_eq!(s.ids[5], ("id15".into(), 15));
        assert_eq!(s.tail, Tail::Clean);
        assert_eq!(s.valid_end, bytes.len() as u64);
    }

    #[test]
    fn every_truncation_of_the_last_batch_keeps_the_complete_ones() {
        let full = wal_bytes(3);
        let last_start = scan(&full).unwrap().batches[2].offset as usize;
        for cut in last_start..full.len() {
            let s = scan(&full[..cut]).unwrap();
            assert_eq!(s.batches.len(), 2, "cut at {cut}");
            assert_eq!(s.valid_end, last_start as u64);
            let clean = cut == last_start;
            assert_eq!(s.tail == Tail::Clean, clean, "cut at {cut}");
        }
    }

    #[test]
    fn damage_before_intact_batches_is_not_a_torn_tail() {
        let mut bytes = wal_bytes(3);
        let second = scan(&bytes).unwrap().batches[1].offset as usize;
        bytes[second + 60] ^= 0x10;
        let d = scan(&bytes).unwrap_err();
        assert_eq!(d.offset, second as u64);
        assert!(d.msg.contains("checksum"), "{}", d.msg);
        // The same flip in the last batch is a torn tail.
        let mut bytes = wal_bytes(3);
        let third = scan(&bytes).unwrap().batches[2].offset as usize;
        bytes[third + 60] ^= 0x10;
        assert!(
            matches!(scan(&bytes).unwrap().tail, Tail::Torn { offset, .. } if offset == third as u64)
        );
    }

    #[test]
    fn a_last_batch_with_a_valid_checksum_but_wrong_contents_is_damage() {
        let mut bytes = wal_bytes(2);
        let last = scan(&bytes).unwrap().batches[1].offset as usize;
        // Claim the wrong first seq and fix up the checksum: written wrong, not torn.
        bytes[last + 16] ^= 1;
        let crc = crc32fast::hash(&bytes[last + 8..]);
        bytes[last + 4..last + 8].copy_from_slice(&crc.to_le_bytes());
        let d = scan(&bytes).unwrap_err();
        assert_eq!(d.offset, last as u64);
        assert!(d.msg.contains("not a torn write"), "{}", d.msg);
    }

    #[test]
    fn a_zero_filled_new_file_is_a_torn_creation() {
        let s = scan(&[0u8; 4096]).unwrap();
        assert!(matches!(s.tail, Tail::Torn { offset: 0, .. }));
    }

    #[test]
    fn header_damage_is_reported() {
        let mut bytes = wal_bytes(1);
        bytes[17] ^= 1;
        assert_eq!(scan(&bytes).unwrap_err().offset, 0);
        assert!(matches!(
            scan(&bytes[..10]).unwrap().tail,
            Tail::Torn { offset: 0, .. }
        ));
    }
}
