//! `annal verify` and `annal stats`: reports about a data directory.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use annal_model::Timestamp;
use annal_storage::{inspect_dir, verify_dir, OsFs, SegmentKind};
use anyhow::Context;

fn hex(h: &[u8]) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn verify(data: &Path, json: bool) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(data.is_dir(), "{} is not a data directory", data.display());
    let total: u64 = std::fs::read_dir(data)?
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    let bar = if std::io::stderr().is_terminal() && !json {
        indicatif::ProgressBar::new(total)
    } else {
        indicatif::ProgressBar::hidden()
    };
    let start = Instant::now();
    let report = verify_dir(&OsFs, data, &mut |n| bar.inc(n))
        .with_context(|| format!("verify {}", data.display()))?;
    bar.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    if json {
        let problems: Vec<_> = report
            .problems
            .iter()
            .map(|p| serde_json::json!({"file": p.file.display().to_string(), "offset": p.offset, "seq": p.seq, "problem": p.msg}))
            .collect();
        let doc = serde_json::json!({
            "data_dir": data.display().to_string(),
            "ok": report.ok(),
            "files": report.files,
            "sealed_files": report.sealed_files,
            "events": report.events,
            "bytes": report.bytes,
            "roots_checked": report.roots_checked,
            "tree_size": report.tree_size,
            "root": hex(&report.root),
            "seconds": secs,
            "problems": problems,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!("Verifying trail in {}", data.display());
        println!(
            "Found {} segment files ({} sealed), {} events, {} bytes",
            report.files, report.sealed_files, report.events, report.bytes
        );
        println!("Checked every record checksum and canonical form; {} sealed-segment Merkle roots recomputed and matched", report.roots_checked);
        println!("Tree size {} root {}", report.tree_size, hex(&report.root));
        for p in &report.problems {
            println!("PROBLEM {p}");
        }
        let mb = report.bytes as f64 / 1e6;
        println!(
            "{} in {secs:.2}s ({:.0} MB/s): {}",
            if report.ok() { "OK" } else { "FAILED" },
            mb / secs.max(1e-9),
            if report.ok() {
                "no problems".to_string()
            } else {
                format!("{} problems", report.problems.len())
            }
        );
    }
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
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
