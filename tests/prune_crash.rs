//! `annal prune` SIGKILLed at random moments: whatever the kill interrupted, the directory is
//! either as before the prune or as after it, `annal verify` passes on it (every retained
//! record, every kept hash, every checkpoint), and the next `annal prune` finishes the job
//! with exactly one `Trail-pruned` event per prune record.
//!
//! Cycles: 12 by default; `ANNAL_PRUNE_KILLS=N` for more. `ANNAL_PRUNE_SEED=S` replays the
//! kill times (the seed is printed).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::server::annal_bin;
use support::{env_u64, seeded};

fn annal(args: &[&str]) -> std::process::Output {
    Command::new(annal_bin()).args(args).output().unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = annal(args);
    assert!(
        out.status.success(),
        "annal {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The verify report of `dir` as JSON; it must pass.
fn verified(dir: &Path) -> serde_json::Value {
    let out = annal(&["verify", "--data", dir.to_str().unwrap(), "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(out.status.success(), "verify failed: {report:#}");
    report
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

/// Runs `annal prune` on `dir`, SIGKILLing it after `after`; None when it was killed, else
/// how long it took to finish.
fn prune_killed(dir: &Path, after: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut child = Command::new(annal_bin())
        .args([
            "prune",
            "--data",
            dir.to_str().unwrap(),
            "--retention-days",
            "300",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + after;
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    None
}

#[test]
fn a_prune_killed_anywhere_leaves_the_old_or_the_new_state() {
    let work = tempfile::tempdir().unwrap();
    let template = work.path().join("template");
    let template_s = template.to_str().unwrap();
    // 90 days from 2026-01-01, one segment a day; 300 days' retention keeps those from early
    // February on.
    let gen = Command::new(annal_bin())
        .args(["gen", "40000", "--days", "90"])
        .output()
        .unwrap();
    let mut ingest = Command::new(annal_bin())
        .args(["ingest", "--data", template_s])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(ingest.stdin.as_mut().unwrap(), &gen.stdout).unwrap();
    drop(ingest.stdin.take());
    assert!(ingest.wait().unwrap().success());
    ok(&["checkpoint", "--data", template_s]);

    // A clean prune: where the trail starts after it, and how long it takes.
    let clean = work.path().join("clean");
    copy_dir(&template, &clean);
    let started = Instant::now();
    ok(&[
        "prune",
        "--data",
        clean.to_str().unwrap(),
        "--retention-days",
        "300",
    ]);
    let took = started.elapsed();
    let pruned_start = verified(&clean)["trail_start"].as_u64().unwrap();
    assert!(pruned_start > 0);
    eprintln!("a clean prune takes {took:?} and moves the start to {pruned_start}");

    let (_, mut rng) = seeded("prune kill times", "ANNAL_PRUNE_SEED");
    let cycles = env_u64("ANNAL_PRUNE_KILLS", 12);
    // Kill times spread over the time a prune takes, which shrinks to the fastest seen so
    // that the kills land inside it.
    let mut window = took.as_micros() as u64 + 1;
    let (mut killed, mut mid_prune, mut after_removal) = (0, 0, 0);
    for cycle in 0..cycles {
        let dir = work.path().join(format!("cycle-{cycle}"));
        copy_dir(&template, &dir);
        // The second half of the run: where the record, the start and the removals are.
        let after = Duration::from_micros(window / 2 + rng.next_u64() % (window / 2 + 1));
        let finished = prune_killed(&dir, after);
        let report = verified(&dir);
        let start = report["trail_start"].as_u64().unwrap();
        let recorded = !report["pruned"].as_array().unwrap().is_empty();
        // The record written, the segments not yet removed: the state between the two.
        mid_prune += u64::from(start == 0 && recorded);
        after_removal += u64::from(finished.is_none() && start == pruned_start);
        match finished {
            Some(took) => window = window.min(took.as_micros() as u64 + 1),
            // Killed before it wrote anything: later kills, to reach the middle.
            None if !recorded => {
                killed += 1;
                window += window / 8;
            }
            None => killed += 1,
        }
        assert!(
            start == 0 || start == pruned_start,
            "cycle {cycle} (killed after {after:?}): the trail starts at {start}, neither before nor after the prune"
        );
        // The next prune finishes what the killed one left.
        ok(&[
            "prune",
            "--data",
            dir.to_str().unwrap(),
            "--retention-days",
            "300",
        ]);
        let report = verified(&dir);
        assert_eq!(
            report["trail_start"].as_u64(),
            Some(pruned_start),
            "cycle {cycle}"
        );
        let prunes = report["pruned"].as_array().unwrap().len();
        let events = ok(&[
            "query",
            "--data",
            dir.to_str().unwrap(),
            "--code",
            "9001",
            "--count",
        ]);
        assert_eq!(
            events.trim().parse::<usize>().unwrap(),
            prunes,
            "cycle {cycle}: one Trail-pruned event per prune record"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
    eprintln!("{killed} of {cycles} prunes were killed before they finished: {mid_prune} between the record and the removal, {after_removal} after the removal");
}
