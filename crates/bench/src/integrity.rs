//! `annal-bench integrity`: what tamper evidence costs on this machine: the auditor's full
//! check (`annal verify`), building the tile roots, signing, proofs as the HTTP routes make
//! them (a fresh tree per request), and proofs for a proof bundle (one tree for many events).

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use annal_integrity::{
    audit, consistency_proof, AuditOptions, Notary, NoteSigner, StoreTree, Tiles, TILES_FILE,
};
use annal_storage::{Options, OsFs, Store};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::util::{generated_ndjson, machine, ms, percentile, Scratch};

/// Proofs timed per kind.
const PROOFS: usize = 1000;

pub fn run(dir: &Path, events: u64) -> anyhow::Result<ExitCode> {
    println!("# annal bench integrity — {}", machine());
    let scratch = Scratch::new(dir, "integrity")?;
    let data = scratch.0.join("data");
    let store = Store::open(&data, Options::default())?;
    let ndjson = generated_ndjson(annal_gen::GenConfig {
        count: events,
        ..Default::default()
    })?;
    annal_ingest::ingest_ndjson(&store, ndjson)?;
    store.wait_sealed()?;
    store.close()?;
    println!("\n{events} events from `annal gen {events}` (90 days).\n");
    println!("| what | result |\n|---|---|");

    let started = Instant::now();
    let report = audit(&OsFs, &data, &AuditOptions::default(), &|_| {})?;
    let secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        report.ok(),
        "the fresh store does not verify: {:?}",
        report.data.problems
    );
    println!(
        "| `annal verify`: every record, leaf hash and segment root | {secs:.2} s: {:.0} MB/s of {:.0} MB stored, {:.2} M events/s |",
        report.data.bytes as f64 / 1e6 / secs,
        report.data.bytes as f64 / 1e6,
        events as f64 / 1e6 / secs
    );

    let store = Store::open(&data, Options::default())?;
    let snap = store.snapshot();
    let started = Instant::now();
    let mut tiles = Tiles::open(&data)?;
    tiles.catch_up(&snap)?;
    let build = started.elapsed();
    let started = Instant::now();
    let mut again = Tiles::open(&data)?;
    again.catch_up(&snap)?;
    let reread = started.elapsed();
    let file = std::fs::metadata(data.join(TILES_FILE)).map_or(0, |m| m.len());
    println!(
        "| tile roots, first build (hash every record once) | {:.2} s; {} tiles, file {file} bytes |",
        build.as_secs_f64(),
        tiles.roots().len()
    );
    println!(
        "| tile roots, read back and checked against the newest frontier | {:.1} ms |",
        ms(reread)
    );

    let notary = Notary::open(&data, NoteSigner::generate("bench")?, "bench", &snap)?;
    let started = Instant::now();
    notary.sign(&snap)?;
    println!(
        "| sign the first checkpoint (root of the whole trail, synced to the log) | {:.1} ms |",
        ms(started.elapsed())
    );

    let size = snap.end();
    let roots = tiles.hashes();
    let mut rng = SmallRng::seed_from_u64(0x1ce_b00c);
    let mut inclusion = Vec::with_capacity(PROOFS);
    let mut consistency = Vec::with_capacity(PROOFS);
    for _ in 0..PROOFS {
        let seq = rng.gen_range(0..size);
        let started = Instant::now();
        let event = snap.get(seq)?;
        StoreTree::new(&snap, &roots).inclusion(seq, &event, size)?;
        inclusion.push(started.elapsed());
        let first = rng.gen_range(1..=size);
        let started = Instant::now();
        consistency_proof(&mut StoreTree::new(&snap, &roots), first, size)?;
        consistency.push(started.elapsed());
    }
    for (what, times) in [
        ("inclusion", &mut inclusion),
        ("consistency", &mut consistency),
    ] {
        times.sort();
        println!(
            "| {what} proof, random seq/size, fresh tree per proof (as `/v1/proof/{what}`) | p50 {:.2} ms, p99 {:.2} ms |",
            ms(percentile(times, 0.5)),
            ms(percentile(times, 0.99))
        );
    }
    let run = (10_000u64).min(size);
    let from = rng.gen_range(0..=size - run);
    let mut tree = StoreTree::new(&snap, &roots);
    let started = Instant::now();
    let mut seq = from;
    snap.scan(from, from + run, |s, e| {
        seq = s;
        tree.inclusion(s, &e, size).is_ok()
    })?;
    anyhow::ensure!(seq + 1 == from + run, "a bundle proof failed at seq {seq}");
    let per = started.elapsed() / run as u32;
    println!(
        "| proofs for a bundle of {run} consecutive events (one tree) | {:.1} µs per event |",
        per.as_secs_f64() * 1e6
    );
    drop(snap);
    store.close()?;
    Ok(ExitCode::SUCCESS)
}
