//! `annal verify` and `annal stats`: reports about a data directory.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use annal_integrity::{audit, AuditOptions, AuditReport, NoteVerifier, Tally};
use annal_model::Timestamp;
use annal_storage::{inspect_dir, OsFs, SegmentKind};

use crate::query::TimeRange;
use anyhow::Context;

fn hex(h: &[u8]) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

/// Arguments of `annal verify`.
#[derive(clap::Args)]
pub struct VerifyArgs {
    /// Data directory.
    #[arg(long, default_value = crate::DEFAULT_DATA_DIR)]
    data: PathBuf,
    // Only the sealed segments holding events in this range are read; the others are
    // checked through their footers (said in the command's help).
    #[command(flatten)]
    range: TimeRange,
    /// A checkpoint saved earlier (repeatable): the store must still give its root.
    #[arg(long = "checkpoint", value_name = "FILE")]
    checkpoints: Vec<PathBuf>,
    /// The public key checkpoints must be signed by (default: DATA/checkpoint.pub, which
    /// shows only that the store agrees with itself).
    #[arg(long, value_name = "FILE")]
    public_key: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

impl VerifyArgs {
    /// The whole-trail check of `data`, as `annal verify --data DATA` does it.
    pub fn of(data: &Path) -> VerifyArgs {
        VerifyArgs {
            data: data.to_path_buf(),
            range: TimeRange::default(),
            checkpoints: Vec::new(),
            public_key: None,
            json: false,
        }
    }
}

fn read_text(path: &Path, what: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("read {what} {}", path.display()))
}

pub fn verify(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let data = &args.data;
    anyhow::ensure!(data.is_dir(), "{} is not a data directory", data.display());
    let (from, to) = args.range.bounds()?;
    let (from, to) = (from.map(|t| t.0), to.map(|t| t.0));
    let time_range = (from.is_some() || to.is_some())
        .then(|| (from.unwrap_or(i64::MIN), to.unwrap_or(i64::MAX)));
    let mut opts = AuditOptions {
        time_range,
        ..AuditOptions::default()
    };
    for path in &args.checkpoints {
        opts.checkpoints
            .push((path.clone(), read_text(path, "checkpoint")?));
    }
    if let Some(path) = &args.public_key {
        let text = read_text(path, "public key")?;
        opts.public_key = Some(
            NoteVerifier::from_text(&text)
                .with_context(|| format!("public key {}", path.display()))?,
        );
    }
    let total: u64 = std::fs::read_dir(data)?
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    let bar = if std::io::stderr().is_terminal() && !args.json {
        indicatif::ProgressBar::new(total)
    } else {
        indicatif::ProgressBar::hidden()
    };
    let start = Instant::now();
    let report = audit(&OsFs, data, &opts, &|n| bar.inc(n))
        .with_context(|| format!("verify {}", data.display()))?;
    bar.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report_json(args, &report, secs))?
        );
    } else {
        print_report(args, &report, secs);
    }
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn all_problems(report: &AuditReport) -> impl Iterator<Item = &annal_storage::Problem> {
    report.data.problems.iter().chain(&report.problems)
}

fn tally_json(t: &Tally) -> serde_json::Value {
    serde_json::json!({"valid": t.valid, "invalid": t.invalid, "unchecked": t.unchecked})
}

fn report_json(args: &VerifyArgs, report: &AuditReport, secs: f64) -> serde_json::Value {
    let d = &report.data;
    let problems: Vec<_> = all_problems(report)
        .map(|p| serde_json::json!({"file": p.file.display().to_string(), "offset": p.offset, "seq": p.seq, "problem": p.msg}))
        .collect();
    serde_json::json!({
        "data_dir": args.data.display().to_string(),
        "ok": report.ok(),
        "range_requested": {"from": args.range.from, "to": args.range.to},
        "files": d.files,
        "sealed_files": d.sealed_files,
        "files_outside_range": d.skipped_files,
        "events": d.events,
        "bytes": d.bytes,
        "roots_checked": d.roots_checked,
        "tree_size": d.tree_size,
        "root": hex(&d.root),
        "checkpoints_stored": tally_json(&report.stored),
        "checkpoints_given": tally_json(&report.given),
        "public_key": report.key.as_ref().map(|(k, _)| k),
        "public_key_given": report.key.as_ref().is_some_and(|(_, given)| *given),
        "newest_valid_checkpoint": report.newest.as_ref().map(|c| serde_json::json!({"origin": c.origin, "size": c.size, "root": hex(&c.root)})),
        "seconds": secs,
        "problems": problems,
    })
}

fn print_report(args: &VerifyArgs, report: &AuditReport, secs: f64) {
    let d = &report.data;
    println!("Verifying trail in {}", args.data.display());
    match (&args.range.from, &args.range.to) {
        (None, None) => println!("Range requested: the whole trail"),
        (f, t) => println!(
            "Range requested: {} to {} (sealed segments outside it checked only structurally: {})",
            f.as_deref().unwrap_or("the start"),
            t.as_deref().unwrap_or("the end"),
            d.skipped_files
        ),
    }
    println!(
        "Range found: seqs 0..{} in {} segment files ({} sealed), {} bytes",
        d.tree_size, d.files, d.sealed_files, d.bytes
    );
    let data_problems = d.problems.len() as u64;
    println!(
        "Events: {} read, every record checksum, canonical form and leaf hash checked; {} problems",
        d.events, data_problems
    );
    println!("Segment roots: {} recomputed and matched", d.roots_checked);
    let line = |what: &str, t: &Tally| {
        println!(
            "{what}: {} valid, {} invalid, {} unchecked",
            t.valid, t.invalid, t.unchecked
        )
    };
    line("Checkpoints in the store's log", &report.stored);
    line("Checkpoints you gave", &report.given);
    match &report.key {
        Some((k, true)) => println!("Signatures checked with {k}"),
        Some((k, false)) => println!("Signatures checked with the store's own key {k} (give --public-key to check against a key you trust)"),
        None => println!("Signatures not checked: no public key"),
    }
    println!("Tree size {} root {}", d.tree_size, hex(&d.root));
    if let Some(c) = &report.newest {
        println!(
            "Newest valid checkpoint: {} events, origin {}",
            c.size, c.origin
        );
    }
    for p in all_problems(report) {
        println!("PROBLEM {p}");
    }
    let n = all_problems(report).count();
    println!(
        "{} in {secs:.2}s ({:.0} MB/s): {}",
        if report.ok() { "OK" } else { "FAILED" },
        d.bytes as f64 / 1e6 / secs.max(1e-9),
        if n == 0 {
            "no problems".to_string()
        } else {
            format!("{n} problems")
        }
    );
}

pub fn stats(data: &Path) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(data.is_dir(), "{} is not a data directory", data.display());
    // Read-only: works beside a running writer and changes nothing, not even a torn tail.
    let segments = inspect_dir(&OsFs, data).with_context(|| format!("read {}", data.display()))?;
    let events: u64 = segments.iter().map(|s| s.count).sum();
    let bytes: u64 = segments.iter().map(|s| s.file_bytes).sum();
    let sealed_events: u64 = segments
        .iter()
        .filter(|s| s.kind == SegmentKind::Sealed)
        .map(|s| s.count)
        .sum();
    let sealed_bytes: u64 = segments
        .iter()
        .filter(|s| s.kind == SegmentKind::Sealed)
        .map(|s| s.file_bytes)
        .sum();
    let lo = segments
        .iter()
        .filter_map(|s| s.time_range)
        .map(|r| r.0)
        .min();
    let hi = segments
        .iter()
        .filter_map(|s| s.time_range)
        .map(|r| r.1)
        .max();
    println!("data directory  {}", data.display());
    println!(
        "segments        {} ({} sealed, {} active or rolled)",
        segments.len(),
        segments
            .iter()
            .filter(|s| s.kind == SegmentKind::Sealed)
            .count(),
        segments
            .iter()
            .filter(|s| s.kind != SegmentKind::Sealed)
            .count()
    );
    println!("events          {events}");
    println!("bytes on disk   {bytes}");
    if events > 0 {
        println!(
            "bytes/event     {:.1} overall",
            bytes as f64 / events as f64
        );
    }
    if sealed_events > 0 {
        println!(
            "                {:.1} in sealed segments",
            sealed_bytes as f64 / sealed_events as f64
        );
    }
    let index_bytes = index_bytes(data);
    if index_bytes > 0 {
        println!(
            "index files     {index_bytes} bytes ({:.1}/event of the sealed segments; derived, rebuilt if removed)",
            index_bytes as f64 / sealed_events.max(1) as f64
        );
    }
    if let (Some(lo), Some(hi)) = (lo, hi) {
        println!("time range      {} .. {}", Timestamp(lo), Timestamp(hi));
    }
    Ok(ExitCode::SUCCESS)
}

/// Bytes of the index files of a data directory (0 when there are none).
fn index_bytes(data: &Path) -> u64 {
    std::fs::read_dir(data.join(annal_index::INDEX_DIR))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "idx"))
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}
