//! `annal-bench seal`: bytes/event and the time to read one record, across block sizes and
//! zstd levels.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use annal_gen::GenConfig;
use annal_model::encode_record;
use annal_storage::{Durability, Options, SealOptions, Store};
use anyhow::Context;

use crate::util::{machine, percentile, Scratch};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

pub fn run(dir: &Path, n: u64) -> anyhow::Result<ExitCode> {
    println!("# annal bench seal — {}", machine());
    let events = annal_gen::events(GenConfig {
        count: n,
        days: 1,
        ..GenConfig::default()
    });
    let raw: usize = events
        .iter()
        .map(|e| {
            let mut b = Vec::new();
            encode_record(e, &mut b);
            b.len()
        })
        .sum();
    println!(
        "\n{} events of one day; canonical record bytes {:.1}/event\n",
        events.len(),
        raw as f64 / events.len() as f64
    );
    println!("| events/block | zstd level | sealed bytes/event | seal s | read one record p50 µs | p99 µs |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for (block_events, level) in [
        (1024, 3),
        (4096, 3),
        (4096, 9),
        (16384, 9),
        (16384, 15),
        (65536, 15),
    ] {
        let scratch = Scratch::new(dir, "seal")?;
        let opts = Options {
            seal: SealOptions {
                block_events,
                zstd_level: level,
            },
            durability: Durability::None,
            ..Options::default()
        };
        let store = Store::open(&scratch.0, opts).context("open scratch store")?;
        for chunk in events.chunks(10_000) {
            store.append(chunk)?;
        }
        // An event of the next day rolls the segment; sealing starts at once.
        let mut next = events[events.len() - 1].clone();
        next.created_at.0 += annal_model::NANOS_PER_DAY;
        let t0 = Instant::now();
        store.append(&[next])?;
        store.wait_sealed()?;
        let seal_secs = t0.elapsed().as_secs_f64();
        let snap = store.snapshot();
        let seg = snap.sealed().first().context("nothing was sealed")?.clone();
        let mut lat = Vec::with_capacity(2000);
        let mut rng = SmallRng::seed_from_u64(88172645463325252);
        for _ in 0..2000 {
            let seq = rng.gen_range(0..seg.count());
            let t = Instant::now();
            std::hint::black_box(seg.get(seq)?);
            lat.push(t.elapsed());
        }
        lat.sort_unstable();
        println!(
            "| {block_events} | {level} | {:.1} | {seal_secs:.2} | {:.0} | {:.0} |",
            seg.file_bytes() as f64 / seg.count() as f64,
            percentile(&lat, 0.5).as_secs_f64() * 1e6,
            percentile(&lat, 0.99).as_secs_f64() * 1e6
        );
        drop(snap);
        store.close()?;
    }
    Ok(ExitCode::SUCCESS)
}
