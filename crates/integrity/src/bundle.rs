//! Proof bundles: events exported with everything needed to check them offline, with no
//! store at all (see docs/integrity.md "Proof bundles"). A bundle is a directory:
//!
//! - `checkpoint`: the signed checkpoint every proof leads to;
//! - `events.ndjson`: one event per line, as the HTTP API renders it (with its `seq`);
//! - `proofs.ndjson`: line for line, the RFC 6962 inclusion proof of that event, whose
//!   `leaf_input` is the event's exact stored record;
//! - `manifest.json`: format, version, the range asked for and the number of events.
//!
//! Checking a bundle proves each event is in the signed trail, unmodified, at its seq. It does
//! not prove that no other event of the trail falls in the range: that needs the store.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use annal_model::{decode_record, Event};
use serde::{Deserialize, Serialize};

use crate::checkpoint::{Checkpoint, NoteVerifier, NOTE_BYTES_MAX};
use crate::error::{io, IntegrityError};
use crate::json::InclusionJson;
use crate::notary::{InclusionProof, Signed};
use crate::proof::verify_inclusion;
use crate::Hash;

/// The manifest's `format`.
pub const BUNDLE_FORMAT: &str = "annal-proof-bundle";
/// The manifest's `version`.
pub const BUNDLE_VERSION: u32 = 1;
/// Longest line read from a bundle's NDJSON files.
pub const BUNDLE_LINE_BYTES_MAX: usize = 4 << 20;
/// Most problems listed before a check stops listing them.
pub const BUNDLE_PROBLEMS_MAX: usize = 1000;

/// A bundle's `manifest.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`BUNDLE_FORMAT`].
    pub format: String,
    /// [`BUNDLE_VERSION`].
    pub version: u32,
    /// The checkpoint's origin.
    pub origin: String,
    /// The checkpoint's tree size.
    pub tree_size: u64,
    /// Start of the time range asked for (RFC 3339), if any.
    pub from: Option<String>,
    /// End of the time range asked for (exclusive), if any.
    pub to: Option<String>,
    /// Events in the bundle.
    pub events: u64,
}

/// Writes a bundle, event by event.
pub struct BundleWriter {
    dir: PathBuf,
    checkpoint: Checkpoint,
    events: BufWriter<File>,
    proofs: BufWriter<File>,
    count: u64,
    line: Vec<u8>,
}

impl BundleWriter {
    /// Starts a bundle in `dir` (created; it must not exist yet) for proofs to `signed`.
    pub fn create(dir: &Path, signed: &Signed) -> Result<BundleWriter, IntegrityError> {
        std::fs::create_dir(dir).map_err(io("create bundle directory", dir))?;
        let put = |name: &str| -> Result<BufWriter<File>, IntegrityError> {
            let path = dir.join(name);
            Ok(BufWriter::new(
                File::create(&path).map_err(io("create", &path))?,
            ))
        };
        let cp_path = dir.join("checkpoint");
        std::fs::write(&cp_path, signed.note.as_bytes()).map_err(io("write", &cp_path))?;
        Ok(BundleWriter {
            dir: dir.to_path_buf(),
            checkpoint: signed.checkpoint.clone(),
            events: put("events.ndjson")?,
            proofs: put("proofs.ndjson")?,
            count: 0,
            line: Vec::with_capacity(2048),
        })
    }

    /// Adds one event with its inclusion proof (for the bundle's checkpoint).
    pub fn add(&mut self, event: &Event, proof: &InclusionProof) -> Result<(), IntegrityError> {
        self.line.clear();
        event.write_json(proof.leaf_index, &mut self.line);
        self.line.push(b'\n');
        let events_path = self.dir.join("events.ndjson");
        self.events
            .write_all(&self.line)
            .map_err(io("write", &events_path))?;
        let proofs_path = self.dir.join("proofs.ndjson");
        let json = serde_json::to_string(&InclusionJson::from(proof)).unwrap_or_default();
        writeln!(self.proofs, "{json}").map_err(io("write", &proofs_path))?;
        self.count += 1;
        Ok(())
    }

    /// Writes the manifest and flushes; returns the number of events.
    pub fn finish(
        mut self,
        from: Option<String>,
        to: Option<String>,
    ) -> Result<u64, IntegrityError> {
        let events_path = self.dir.join("events.ndjson");
        self.events.flush().map_err(io("write", &events_path))?;
        let proofs_path = self.dir.join("proofs.ndjson");
        self.proofs.flush().map_err(io("write", &proofs_path))?;
        let manifest = Manifest {
            format: BUNDLE_FORMAT.into(),
            version: BUNDLE_VERSION,
            origin: self.checkpoint.origin.clone(),
            tree_size: self.checkpoint.size,
            from,
            to,
            events: self.count,
        };
        let path = self.dir.join("manifest.json");
        let text = serde_json::to_string_pretty(&manifest).unwrap_or_default();
        std::fs::write(&path, text).map_err(io("write", &path))?;
        Ok(self.count)
    }
}

/// What checking a bundle found.
#[derive(Debug)]
pub struct BundleReport {
    /// The checkpoint, when its signature checked.
    pub checkpoint: Option<Checkpoint>,
    /// Its manifest.
    pub manifest: Manifest,
    /// Events whose proof led to the checkpoint's root and whose line matched their record.
    pub valid: u64,
    /// Events that failed.
    pub invalid: u64,
    /// One line per problem (file, line, what), at most [`BUNDLE_PROBLEMS_MAX`].
    pub problems: Vec<String>,
}

impl BundleReport {
    /// True when nothing is wrong.
    pub fn ok(&self) -> bool {
        self.checkpoint.is_some()
            && self.invalid == 0
            && self.problems.is_empty()
            && self.valid == self.manifest.events
    }

    fn problem(&mut self, msg: String) {
        if self.problems.len() < BUNDLE_PROBLEMS_MAX {
            self.problems.push(msg);
        }
    }
}

/// Reads a bounded line; None at the end.
fn next_line(
    r: &mut impl BufRead,
    buf: &mut Vec<u8>,
    path: &Path,
) -> Result<Option<()>, IntegrityError> {
    buf.clear();
    let n = r
        .by_ref()
        .take(BUNDLE_LINE_BYTES_MAX as u64 + 1)
        .read_until(b'\n', buf)
        .map_err(io("read", path))?;
    if n == 0 {
        return Ok(None);
    }
    if buf.len() > BUNDLE_LINE_BYTES_MAX {
        return Err(IntegrityError::BundleInvalid {
            path: path.to_path_buf(),
            msg: format!("a line is longer than {BUNDLE_LINE_BYTES_MAX} bytes"),
        });
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
    }
    Ok(Some(()))
}

/// Checks a bundle against `key`: the checkpoint's signature, every event's proof against
/// its root, every event line against the record its proof carries, and the seqs' order.
pub fn verify_bundle(dir: &Path, key: &NoteVerifier) -> Result<BundleReport, IntegrityError> {
    let invalid = |path: &Path, msg: String| IntegrityError::BundleInvalid {
        path: path.to_path_buf(),
        msg,
    };
    let mpath = dir.join("manifest.json");
    let text = std::fs::read_to_string(&mpath).map_err(io("read", &mpath))?;
    let manifest: Manifest =
        serde_json::from_str(&text).map_err(|e| invalid(&mpath, e.to_string()))?;
    if manifest.format != BUNDLE_FORMAT || manifest.version != BUNDLE_VERSION {
        return Err(invalid(
            &mpath,
            format!("not a version-{BUNDLE_VERSION} {BUNDLE_FORMAT}"),
        ));
    }
    let cpath = dir.join("checkpoint");
    let note = std::fs::read(&cpath).map_err(io("read", &cpath))?;
    let mut report = BundleReport {
        checkpoint: None,
        manifest,
        valid: 0,
        invalid: 0,
        problems: Vec::new(),
    };
    let note = String::from_utf8(note).map_err(|_| invalid(&cpath, "not UTF-8".into()))?;
    if note.len() > NOTE_BYTES_MAX {
        return Err(invalid(
            &cpath,
            "longer than a checkpoint note may be".into(),
        ));
    }
    let checkpoint = match key.verify(&note) {
        Ok(cp) => cp,
        Err(e) => {
            report.problem(format!("{}: {e}", cpath.display()));
            return Ok(report);
        }
    };
    if checkpoint.size != report.manifest.tree_size || checkpoint.origin != report.manifest.origin {
        report.problem(format!(
            "{}: tree size or origin differs from the signed checkpoint",
            mpath.display()
        ));
    }
    check_lines(dir, &checkpoint.root, checkpoint.size, &mut report)?;
    if report.valid + report.invalid != report.manifest.events {
        let n = report.valid + report.invalid;
        report.problem(format!(
            "{}: says {} events, the bundle holds {n}",
            mpath.display(),
            report.manifest.events
        ));
    }
    report.checkpoint = Some(checkpoint);
    Ok(report)
}

fn check_lines(
    dir: &Path,
    root: &Hash,
    size: u64,
    report: &mut BundleReport,
) -> Result<(), IntegrityError> {
    let (epath, ppath) = (dir.join("events.ndjson"), dir.join("proofs.ndjson"));
    let mut events = BufReader::new(File::open(&epath).map_err(io("open", &epath))?);
    let mut proofs = BufReader::new(File::open(&ppath).map_err(io("open", &ppath))?);
    let (mut eline, mut pline, mut rendered) = (Vec::new(), Vec::new(), Vec::new());
    let mut last_seq: Option<u64> = None;
    for line in 1u64.. {
        let e = next_line(&mut events, &mut eline, &epath)?;
        let p = next_line(&mut proofs, &mut pline, &ppath)?;
        match (e, p) {
            (None, None) => break,
            (Some(()), Some(())) => {}
            _ => {
                report.invalid += 1;
                report.problem(format!(
                    "line {line}: events.ndjson and proofs.ndjson have different numbers of lines"
                ));
                break;
            }
        }
        match check_one(&pline, &eline, root, size, &mut rendered) {
            Ok(seq) if last_seq.is_some_and(|l| seq <= l) => {
                report.invalid += 1;
                report.problem(format!(
                    "line {line}: seq {seq} is not after the line before's"
                ));
            }
            Ok(seq) => {
                report.valid += 1;
                last_seq = Some(seq);
            }
            Err(msg) => {
                report.invalid += 1;
                report.problem(format!("line {line}: {msg}"));
            }
        }
    }
    Ok(())
}

/// Checks one proof line and its event line; returns the seq.
fn check_one(
    proof_line: &[u8],
    event_line: &[u8],
    root: &Hash,
    size: u64,
    rendered: &mut Vec<u8>,
) -> Result<u64, String> {
    let json: InclusionJson =
        serde_json::from_slice(proof_line).map_err(|e| format!("proofs.ndjson: {e}"))?;
    let proof = json.decode().map_err(|e| format!("proofs.ndjson: {e}"))?;
    let seq = proof.leaf_index;
    if proof.tree_size != size {
        return Err(format!(
            "seq {seq}: proof for tree size {}, the checkpoint is of {size}",
            proof.tree_size
        ));
    }
    let leaf = crate::leaf_hash(&proof.leaf_input);
    if !verify_inclusion(&leaf, seq, size, &proof.audit_path, root) {
        return Err(format!(
            "seq {seq}: the inclusion proof does not lead to the signed root"
        ));
    }
    let event = decode_record(&proof.leaf_input)
        .map_err(|e| format!("seq {seq}: leaf_input is not a record: {e}"))?;
    rendered.clear();
    event.write_json(seq, rendered);
    if rendered.as_slice() != event_line {
        return Err(format!(
            "seq {seq}: the event line differs from the signed record"
        ));
    }
    Ok(seq)
}
