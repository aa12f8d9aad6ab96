//! Object keys under a trail's prefix (docs/format.md "Bucket layout"). Every object but the
//! manifests is immutable: its key says which content it holds (a segment's base, a log's
//! length, a part's offset), so an upload repeated after a crash writes the same bytes.

/// Holds this data directory's writer id (32 hex digits), made at its first sync.
pub const WRITER_FILE: &str = "bucket.writer";
/// The uploader's state, rewritten after every round, for `annal stats`.
pub const STATUS_FILE: &str = "bucket.status.json";
/// Folder of the manifests.
pub const MANIFEST_DIR: &str = "manifest";

/// The manifest of generation `generation`.
pub fn manifest_key(generation: u64) -> String {
    format!("{MANIFEST_DIR}/{generation:020}.json")
}

/// The generation a manifest key names.
pub fn manifest_generation(key: &str) -> Option<u64> {
    let name = key.strip_prefix(MANIFEST_DIR)?.strip_prefix('/')?;
    let digits = name.strip_suffix(".json")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// A sealed segment.
pub fn segment_key(base: u64) -> String {
    format!("seg/{base:020}.seg")
}

/// A sealed segment's index file.
pub fn index_key(base: u64) -> String {
    format!("index/{base:020}.idx")
}

/// Bytes from `offset` on of the write-ahead log that starts at `base`.
pub fn part_key(base: u64, offset: u64) -> String {
    format!("wal/{base:020}/{offset:020}.part")
}

/// The tile roots as they stood with `sealed_end` events sealed; `sha` tells apart two
/// versions of the derived file at one size.
pub fn tiles_key(sealed_end: u64, sha: &str) -> String {
    format!("tiles/{sealed_end:020}-{}.tiles", &sha[..16.min(sha.len())])
}

/// The checkpoint log's first `len` bytes.
pub fn checkpoints_key(len: u64) -> String {
    format!("checkpoints/{len:020}.log")
}

/// The trail's start (`trail.start`) of a trail pruned up to `start`.
pub fn trail_start_key(start: u64) -> String {
    format!("lifecycle/{start:020}.start")
}

/// The lifecycle log's first `len` bytes.
pub fn lifecycle_key(len: u64) -> String {
    format!("lifecycle/{len:020}.log")
}

/// The public key checkpoints are signed with.
pub fn public_key_key(sha: &str) -> String {
    format!("keys/{}.pub", &sha[..16.min(sha.len())])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_keys_round_trip() {
        assert_eq!(manifest_key(7), "manifest/00000000000000000007.json");
        assert_eq!(manifest_generation(&manifest_key(7)), Some(7));
        assert_eq!(manifest_generation("manifest/7.json"), None);
        assert_eq!(manifest_generation("seg/00000000000000000007.json"), None);
    }
}
