//! Shared by the targets of framed logs (the checkpoint log, the lifecycle log): the same
//! 16-byte header, then frames of u32 length, u32 CRC32, body.

pub const HEADER: usize = 16;
pub const FRAME_HEADER: usize = 8;

/// The bytes with the CRC of every frame that fits in the file recomputed, so mutations reach
/// the bodies behind the CRCs (None when nothing changed).
pub fn repaired(data: &[u8]) -> Option<Vec<u8>> {
    let mut b = data.to_vec();
    let mut at = HEADER;
    while at + FRAME_HEADER <= b.len() {
        let len = u32::from_le_bytes(b[at..at + 4].try_into().ok()?) as usize;
        let body = at + FRAME_HEADER..at + FRAME_HEADER + len;
        if body.end > b.len() {
            break;
        }
        let crc = crc32fast::hash(&b[body.clone()]);
        b[at + 4..at + 8].copy_from_slice(&crc.to_le_bytes());
        at = body.end;
    }
    (b != data).then_some(b)
}
