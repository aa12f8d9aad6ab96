//! The shapes in which audits and bundle checks are reported: a JSON document for machines
//! and lines of text for people. `annal verify` and `annal verify-bundle` print them; the
//! field names of the JSON are an interface that scripts read, so they change only with care.

use std::fmt;
use std::path::Path;

use annal_storage::Problem;
use serde_json::{json, Value};

use crate::audit::{AuditReport, Tally};
use crate::bundle::BundleReport;
use crate::checkpoint::hex;

/// Where and over what an audit ran: the part of its report that [`AuditReport`] does not hold.
#[derive(Clone, Copy, Debug)]
pub struct AuditRun<'a> {
    /// The data directory audited.
    pub data_dir: &'a Path,
    /// The start of the time range asked for, as given (inclusive).
    pub from: Option<&'a str>,
    /// The end of the time range asked for, as given (exclusive).
    pub to: Option<&'a str>,
    /// How long the audit took, in seconds.
    pub seconds: f64,
}

/// Writes text through a closure: reports are formatted, not built as strings.
struct Text<F: Fn(&mut fmt::Formatter<'_>) -> fmt::Result>(F);

impl<F: Fn(&mut fmt::Formatter<'_>) -> fmt::Result> fmt::Display for Text<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (self.0)(f)
    }
}

impl AuditReport {
    /// Every problem found: the data files' first, then the checkpoints'.
    pub fn all_problems(&self) -> impl Iterator<Item = &Problem> {
        self.data.problems.iter().chain(&self.problems)
    }

    /// The report as the JSON document `annal verify --json` prints.
    pub fn to_json(&self, run: &AuditRun<'_>) -> Value {
        let d = &self.data;
        let tally =
            |t: &Tally| json!({"valid": t.valid, "invalid": t.invalid, "unchecked": t.unchecked});
        let problems: Vec<_> = self
            .all_problems()
            .map(|p| json!({"file": p.file.display().to_string(), "offset": p.offset, "seq": p.seq, "problem": p.msg}))
            .collect();
        json!({
            "data_dir": run.data_dir.display().to_string(),
            "ok": self.ok(),
            "range_requested": {"from": run.from, "to": run.to},
            "files": d.files,
            "sealed_files": d.sealed_files,
            "files_outside_range": d.skipped_files,
            "events": d.events,
            "bytes": d.bytes,
            "roots_checked": d.roots_checked,
            "tree_size": d.tree_size,
            "root": hex(&d.root),
            "trail_start": d.start,
            "pruned": self.pruned.iter().map(|p| json!({
                "prune": p.number, "from_seq": p.from_seq, "to_seq": p.to_seq, "segments": p.segments,
                "at": annal_model::Timestamp(p.at_ns).to_string(), "policy": p.policy, "by": p.by, "reason": p.reason,
                "events_created_from": annal_model::Timestamp(p.time_min_ns).to_string(), "events_created_to": annal_model::Timestamp(p.time_max_ns).to_string(),
            })).collect::<Vec<_>>(),
            "kept_hashes_checked": self.kept_hashes,
            "checkpoints_stored": tally(&self.stored),
            "checkpoints_given": tally(&self.given),
            "public_key": self.key.as_ref().map(|(k, _)| k),
            "public_key_given": self.key.as_ref().is_some_and(|(_, given)| *given),
            "newest_valid_checkpoint": self.newest.as_ref().map(|c| json!({"origin": c.origin, "size": c.size, "root": hex(&c.root)})),
            "seconds": run.seconds,
            "problems": problems,
        })
    }

    /// The report as the lines `annal verify` prints, each ending in a newline.
    pub fn text<'a>(&'a self, run: &'a AuditRun<'a>) -> impl fmt::Display + 'a {
        Text(move |f| self.write_text(run, f))
    }

    fn write_text(&self, run: &AuditRun<'_>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.data;
        writeln!(f, "Verifying trail in {}", run.data_dir.display())?;
        match (run.from, run.to) {
            (None, None) => writeln!(f, "Range requested: the whole trail")?,
            (from, to) => writeln!(
                f,
                "Range requested: {} to {} (sealed segments outside it checked only structurally: {})",
                from.unwrap_or("the start"),
                to.unwrap_or("the end"),
                d.skipped_files
            )?,
        }
        writeln!(
            f,
            "Range found: seqs {}..{} in {} segment files ({} sealed), {} bytes",
            d.start, d.tree_size, d.files, d.sealed_files, d.bytes
        )?;
        for p in &self.pruned {
            writeln!(
                f,
                "Pruned: seqs {}..{} ({} segments, events created {} to {}) by prune {} at {}, policy {}, by {}{}",
                p.from_seq,
                p.to_seq,
                p.segments,
                annal_model::Timestamp(p.time_min_ns),
                annal_model::Timestamp(p.time_max_ns),
                p.number,
                annal_model::Timestamp(p.at_ns),
                p.policy,
                p.by,
                if p.reason.is_empty() { String::new() } else { format!(": {}", p.reason) }
            )?;
        }
        if !self.pruned.is_empty() {
            writeln!(
                f,
                "Kept hashes of pruned events: {} checked against the signed roots",
                self.kept_hashes
            )?;
        }
        writeln!(
            f,
            "Events: {} read, every record checksum, canonical form and leaf hash checked; {} problems",
            d.events,
            d.problems.len()
        )?;
        writeln!(
            f,
            "Segment roots: {} recomputed and matched",
            d.roots_checked
        )?;
        for (what, t) in [
            ("Checkpoints in the store's log", &self.stored),
            ("Checkpoints you gave", &self.given),
        ] {
            writeln!(
                f,
                "{what}: {} valid, {} invalid, {} unchecked",
                t.valid, t.invalid, t.unchecked
            )?;
        }
        match &self.key {
            Some((k, true)) => writeln!(f, "Signatures checked with {k}")?,
            Some((k, false)) => writeln!(f, "Signatures checked with the store's own key {k} (give --public-key to check against a key you trust)")?,
            None => writeln!(f, "Signatures not checked: no public key")?,
        }
        writeln!(f, "Tree size {} root {}", d.tree_size, hex(&d.root))?;
        if let Some(c) = &self.newest {
            writeln!(
                f,
                "Newest valid checkpoint: {} events, origin {}",
                c.size, c.origin
            )?;
        }
        for p in self.all_problems() {
            writeln!(f, "PROBLEM {p}")?;
        }
        let n = self.all_problems().count();
        writeln!(
            f,
            "{} in {:.2}s ({:.0} MB/s): {}",
            if self.ok() { "OK" } else { "FAILED" },
            run.seconds,
            d.bytes as f64 / 1e6 / run.seconds.max(1e-9),
            if n == 0 {
                "no problems".to_string()
            } else {
                format!("{n} problems")
            }
        )
    }
}

impl BundleReport {
    /// The report as the JSON document `annal verify-bundle --json` prints for bundle `dir`.
    pub fn to_json(&self, dir: &Path) -> Value {
        json!({
            "bundle": dir.display().to_string(),
            "ok": self.ok(),
            "tree_size": self.checkpoint.as_ref().map(|c| c.size),
            "origin": self.checkpoint.as_ref().map(|c| c.origin.clone()),
            "range": {"from": self.manifest.from, "to": self.manifest.to},
            "events_valid": self.valid,
            "events_invalid": self.invalid,
            "problems": self.problems,
        })
    }

    /// The report as the lines `annal verify-bundle` prints for bundle `dir`, checked with
    /// the key named `key_name`.
    pub fn text<'a>(&'a self, dir: &'a Path, key_name: &'a str) -> impl fmt::Display + 'a {
        Text(move |f| {
            writeln!(f, "Checking proof bundle {}", dir.display())?;
            match &self.checkpoint {
                Some(c) => writeln!(
                    f,
                    "Checkpoint: {} events, origin {}, signature by {key_name} valid",
                    c.size, c.origin
                )?,
                None => writeln!(f, "Checkpoint: signature NOT valid")?,
            }
            writeln!(
                f,
                "Events: {} valid, {} invalid (manifest says {})",
                self.valid, self.invalid, self.manifest.events
            )?;
            for p in &self.problems {
                writeln!(f, "PROBLEM {p}")?;
            }
            writeln!(f, "{}", if self.ok() { "OK" } else { "FAILED" })
        })
    }
}
