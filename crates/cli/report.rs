//! `annal verify` and `annal stats`: reports about a data directory.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use annal_integrity::{audit, AuditOptions, AuditRun};
use annal_model::Timestamp;
use annal_storage::{inspect_dir, SegmentInfo, SegmentKind};

use crate::integrity::{read_public_key, read_text};
use crate::query::TimeRange;
use anyhow::Context;

/// Arguments of `annal verify`.
#[derive(clap::Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    place: crate::place::DataArgs,
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
            place: crate::place::DataArgs::at(data),
            range: TimeRange::default(),
            checkpoints: Vec::new(),
            public_key: None,
            json: false,
        }
    }
}

pub fn verify(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let (data, _, store_opts, _) = args.place.open()?;
    let data = &data;
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
    opts.public_key = args
        .public_key
        .as_deref()
        .map(read_public_key)
        .transpose()?;
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
    let report = audit(&*store_opts.fs, data, &opts, &|n| bar.inc(n))
        .with_context(|| format!("verify {}", data.display()))?;
    bar.finish_and_clear();
    let run = AuditRun {
        data_dir: data,
        from: args.range.from.as_deref(),
        to: args.range.to.as_deref(),
        seconds: start.elapsed().as_secs_f64(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report.to_json(&run))?);
    } else {
        print!("{}", report.text(&run));
    }
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub fn stats(place: &crate::place::DataArgs) -> anyhow::Result<ExitCode> {
    let (data, _, opts, _) = place.open()?;
    let data = &data;
    anyhow::ensure!(data.is_dir(), "{} is not a data directory", data.display());
    // Read-only: works beside a running writer and changes nothing, not even a torn tail.
    let segments =
        inspect_dir(&*opts.fs, data).with_context(|| format!("read {}", data.display()))?;
    let sealed = |s: &&SegmentInfo| s.kind == SegmentKind::Sealed;
    let (events, _) = totals(segments.iter());
    // Segments evicted to the bucket are listed (their events count) but take no local bytes.
    let local = |s: &&SegmentInfo| s.path.exists();
    let (_, bytes) = totals(segments.iter().filter(local));
    let (sealed_events, _) = totals(segments.iter().filter(sealed));
    let (_, sealed_bytes) = totals(segments.iter().filter(sealed).filter(local));
    let sealed_segments = segments.iter().filter(sealed).count();
    let ranges = || segments.iter().filter_map(|s| s.time_range);
    let (lo, hi) = (ranges().map(|r| r.0).min(), ranges().map(|r| r.1).max());
    println!("data directory  {}", data.display());
    println!(
        "segments        {} ({sealed_segments} sealed, {} active or rolled)",
        segments.len(),
        segments.len() - sealed_segments
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
    print_retention(&*opts.fs, data)?;
    crate::bucket::print_status(data)?;
    Ok(ExitCode::SUCCESS)
}

/// Where the trail starts, its prunes and its legal holds (nothing when it has none).
fn print_retention(fs: &dyn annal_storage::Vfs, data: &Path) -> anyhow::Result<()> {
    let start = annal_storage::TrailStart::read(fs, data)?;
    let records = annal_integrity::read_lifecycle(data)?;
    let holds = annal_retention::holds(&records);
    let prunes: Vec<_> = records
        .iter()
        .filter_map(|r| match &r.record {
            annal_integrity::LifecycleRecord::Prune(p) => Some(p),
            _ => None,
        })
        .collect();
    if let Some(last) = prunes.last() {
        println!(
            "trail start     seq {} ({} prunes; the last at {}, {}, by {})",
            start.seq(),
            prunes.len(),
            Timestamp(last.at_ns),
            last.policy,
            last.by
        );
    }
    if !holds.is_empty() {
        let active = holds.iter().filter(|h| h.active()).count();
        println!(
            "legal holds     {active} active, {} released (annal hold list)",
            holds.len() - active
        );
    }
    Ok(())
}

/// Events and file bytes of `segments`.
fn totals<'a>(segments: impl Iterator<Item = &'a SegmentInfo>) -> (u64, u64) {
    segments.fold((0, 0), |(n, b), s| (n + s.count, b + s.file_bytes))
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
