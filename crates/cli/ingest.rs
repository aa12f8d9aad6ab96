//! `annal ingest`: NDJSON from a file or standard input into a data directory, through
//! `annal-ingest`'s pipeline; this module parses the flags and reports.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use annal_ingest::{IngestError, BATCH_LINES_DEFAULT, BATCH_LINES_MAX};
use annal_model::Catalogs;
use annal_storage::{Durability, Options, Store};
use anyhow::Context;

/// When the store acknowledges, as a command-line choice.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum DurabilityArg {
    /// fdatasync every batch before acknowledging.
    EveryBatch,
    /// fdatasync at most every 100 ms.
    Interval,
    /// Never fdatasync but at roll and close (unsafe).
    None,
}

impl DurabilityArg {
    pub fn to_durability(self) -> Durability {
        match self {
            DurabilityArg::EveryBatch => Durability::EveryBatch,
            DurabilityArg::Interval => Durability::Interval(std::time::Duration::from_millis(100)),
            DurabilityArg::None => Durability::None,
        }
    }
}

#[derive(clap::Args)]
pub struct IngestArgs {
    #[command(flatten)]
    pub place: crate::place::DataArgs,
    /// NDJSON file, or `-` for standard input.
    #[arg(default_value = "-")]
    pub input: String,
    /// Lines per batch; a bad line rejects its whole batch.
    #[arg(long, default_value_t = BATCH_LINES_DEFAULT as u32,
          value_parser = clap::value_parser!(u32).range(1..=BATCH_LINES_MAX as i64))]
    pub batch: u32,
    /// When appends are acknowledged.
    #[arg(long, value_enum, default_value = "every-batch")]
    pub durability: DurabilityArg,
    /// Extra event-code catalog (CSV `code,name,category,description`; named by file stem).
    #[arg(long)]
    pub catalog: Vec<PathBuf>,
    /// Catalog that resolves codes of events whose `source` names none.
    #[arg(long)]
    pub default_catalog: Option<String>,
}

pub fn run(args: &IngestArgs) -> anyhow::Result<ExitCode> {
    let mut catalogs = Catalogs::builtin();
    for path in &args.catalog {
        catalogs.load_file(path)?;
    }
    if let Some(name) = &args.default_catalog {
        catalogs.set_default(name)?;
    }
    let (input, input_len): (Box<dyn Read + Send>, Option<u64>) = if args.input == "-" {
        (Box::new(std::io::stdin()), None)
    } else {
        let f = std::fs::File::open(&args.input).with_context(|| format!("open {}", args.input))?;
        let len = f.metadata().ok().map(|m| m.len());
        (Box::new(f), len)
    };
    let (data, _, opts, _) = args.place.open()?;
    let opts = Options {
        durability: args.durability.to_durability(),
        ..opts
    };
    let store =
        Store::open(&data, opts).with_context(|| format!("open store {}", data.display()))?;
    let progress = progress_bar(input_len);
    let start = Instant::now();
    let first_seq = store.len();
    let outcome = annal_ingest::ingest(&store, input, &catalogs, args.batch as usize, &|n| {
        progress.inc(n)
    });
    progress.finish_and_clear();
    let elapsed = start.elapsed().as_secs_f64();
    let end_seq = store.len();
    // A one-shot ingest leaves no rolled segment unsealed behind it (a closing store stops
    // its sealer); the wait is reported apart from the append rate.
    let seal_start = Instant::now();
    let sealed = store.wait_sealed();
    let seal_secs = seal_start.elapsed().as_secs_f64();
    // Index the new segments now rather than on the first query.
    let index_start = Instant::now();
    let indexed = sealed.is_ok().then(|| {
        annal_index::Indexer::new(&data, annal_index::IndexOptions::default())
            .and_then(|i| i.view(store.snapshot()).map(|_| ()))
    });
    let index_secs = index_start.elapsed().as_secs_f64();
    store.close()?;
    sealed?;
    indexed.transpose()?;
    let done = match outcome {
        Ok(done) => done,
        Err(bad @ IngestError::BadLine { .. }) => {
            eprintln!("annal ingest: {bad}");
            eprintln!("annal ingest: nothing of that line's batch was stored; {} events before it were stored (seq {first_seq}..{end_seq})", end_seq - first_seq);
            return Ok(ExitCode::from(1));
        }
        Err(e @ (IngestError::IdConflict { .. } | IngestError::IdRepeated { .. })) => {
            // Batches queued after the refused one may have been stored: say what the trail
            // holds rather than "before it".
            eprintln!("annal ingest: {e}");
            eprintln!("annal ingest: an id is an idempotency key: nothing of that line's batch was stored; {} events of this input were stored (seq {first_seq}..{end_seq})", end_seq - first_seq);
            return Ok(ExitCode::from(1));
        }
        Err(e) => {
            // The pipeline waited for its appends in flight, so this is what the trail holds.
            eprintln!(
                "annal ingest: stopped after storing {} events (seq {first_seq}..{end_seq})",
                end_seq - first_seq
            );
            return Err(e.into());
        }
    };
    let (stored, duplicates) = (done.stored, done.duplicates);
    let rate = stored as f64 / elapsed.max(1e-9);
    match stored {
        0 => println!("ingested 0 events ({duplicates} duplicates) in {elapsed:.2}s"),
        _ => println!("ingested {stored} events, seq {first_seq}..={} ({duplicates} duplicates) in {elapsed:.2}s: {rate:.0} events/s", end_seq - 1),
    }
    if seal_secs >= 0.01 {
        println!("sealed the rolled segments in a further {seal_secs:.2}s");
    }
    if index_secs >= 0.01 {
        println!("indexed them in a further {index_secs:.2}s");
    }
    Ok(ExitCode::SUCCESS)
}

fn progress_bar(len: Option<u64>) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    match len {
        Some(n) => indicatif::ProgressBar::new(n).with_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        ),
        None => indicatif::ProgressBar::new_spinner(),
    }
}

/// `annal gen`'s NDJSON for `config`, in memory.
pub fn generated_ndjson(config: annal_gen::GenConfig) -> anyhow::Result<Vec<u8>> {
    let mut ndjson = Vec::new();
    annal_gen::write_ndjson(config, &mut ndjson)?;
    Ok(ndjson)
}
