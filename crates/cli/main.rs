//! `annal`: the command-line front of the annal audit-event store. Parses arguments, calls the
//! library crates, prints results; every mode is one function.

mod bucket;
mod export;
mod ingest;
mod integrity;
mod place;
mod query;
mod report;
mod retention;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

// Why a different allocator: ingest parses events in worker threads and frees them in the
// appender and writer threads, and the sealer allocates and frees a short-lived string per
// field per event. glibc's malloc serialises such cross-thread frees through its arenas
// (malloc_consolidate, unlink_chunk took ~30% of `annal ingest`'s CPU in `perf`); mimalloc
// frees into thread-local pages instead. Measured effect is in docs/benchmarks.md.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Data directory used when `--data` is not given.
pub const DEFAULT_DATA_DIR: &str = "./annal-data";

#[derive(Parser)]
#[command(
    name = "annal",
    version,
    about = "Append-only, tamper-evident audit-event store"
)]
struct Cli {
    /// Log lines on standard error as text, or as one JSON object per line (each HTTP answer
    /// with its request id, route, status and latency). Default level: warn for text, info
    /// for JSON; RUST_LOG overrides either.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// How log lines are written.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (tracing-subscriber's JSON format, with the request's span).
    Json,
}

/// Starts logging to standard error in `format`.
fn init_logs(format: LogFormat) {
    let default_level = match format {
        LogFormat::Text => "warn",
        LogFormat::Json => "info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| default_level.into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}

#[derive(Subcommand)]
enum Command {
    /// Write N realistic audit events as NDJSON to standard output.
    Gen {
        /// Number of events.
        n: u64,
        /// Random seed (same seed, same events).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Days the events' timestamps spread over.
        #[arg(long, default_value_t = 90)]
        days: u32,
        /// First day (UTC date or RFC 3339 time).
        #[arg(long, default_value = "2026-01-01")]
        start: String,
    },
    /// Append NDJSON events from a file or standard input.
    Ingest(ingest::IngestArgs),
    /// Check every checksum, record, Merkle root and checkpoint; exit 1 on any problem.
    ///
    /// With --from/--to, only the sealed segments holding events in that range are read; the
    /// others are checked through the Merkle state their footers record.
    Verify(report::VerifyArgs),
    /// Fill an empty data directory with generated events, verify the trail, show its stats.
    Demo {
        /// Data directory.
        #[arg(long, default_value = DEFAULT_DATA_DIR)]
        data: PathBuf,
        /// Events to generate when the store is empty.
        #[arg(long, default_value_t = 200_000)]
        events: u64,
    },
    /// Segments, events, bytes on disk, bytes per event, time range; with a bucket, what
    /// the uploader still owes it.
    Stats(place::DataArgs),
    /// Upload everything not yet in the bucket (sealed files, indexes, tiles, checkpoints, the
    /// acknowledged tail) and wait: exit 0 when the bucket holds every acknowledged event.
    Sync(bucket::SyncArgs),
    /// Rebuild a data directory from the bucket, checking every object and every root.
    Restore(bucket::RestoreArgs),
    /// Remove whole sealed segments older than the retention window (never held, unsealed or
    /// unsigned ones); the tree keeps their hashes, so every proof still verifies.
    Prune(retention::PruneArgs),
    /// Legal holds: events they cover are never pruned until released.
    #[command(subcommand)]
    Hold(retention::HoldCommand),
    /// Select events: a page (NDJSON, table, CSV), a count, counts by a field or a histogram.
    Query(Box<query::QueryArgs>),
    /// Serve the HTTP API (native, seed-compatible, OpenAPI) over a data directory.
    Serve(Box<serve::ServeArgs>),
    /// Make a new API key and print the configuration entry that admits it.
    Apikey {
        /// What the key may do.
        #[arg(long, value_parser = ["producer", "reader", "auditor", "admin"])]
        role: String,
        /// A name for logs.
        #[arg(long, default_value = "client")]
        name: String,
    },
    /// Make an Ed25519 key pair for signing checkpoints (private key file 0600, FILE.pub).
    Keygen {
        /// Where to write the private key (never overwritten).
        #[arg(long)]
        out: PathBuf,
        /// Key name, as it appears in signatures.
        #[arg(long, default_value = "annal")]
        name: String,
    },
    /// Sign and print a checkpoint (origin, tree size, root) of the whole trail.
    Checkpoint {
        #[command(flatten)]
        place: place::DataArgs,
        /// Private key file (default: DATA/checkpoint.key, made on first use).
        #[arg(long)]
        key: Option<PathBuf>,
        /// The log's name: the checkpoint's first line (default: the one the store signed
        /// with, else host/data path).
        #[arg(long)]
        origin: Option<String>,
        /// Write the checkpoint here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Events of a time range as NDJSON, or as an offline-checkable proof bundle.
    Export(Box<export::ExportArgs>),
    /// Check a proof bundle offline: signature, every proof, every event line.
    VerifyBundle {
        /// The bundle directory.
        bundle: PathBuf,
        /// The public key its checkpoint must be signed by.
        #[arg(long, value_name = "FILE")]
        public_key: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Inclusion and consistency proofs (RFC 6962 JSON).
    #[command(subcommand)]
    Proof(integrity::ProofCommand),
    /// Moved: the benchmarks are the `annal-bench` binary, so that this one links no SQLite.
    #[command(hide = true)]
    Bench {
        /// Whatever was given, to repeat it in the hint.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(cli.log_format);
    match try_main(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("annal: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn try_main(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Gen {
            n,
            seed,
            days,
            start,
        } => gen(n, seed, days, &start),
        Command::Ingest(args) => ingest::run(&args),
        Command::Verify(args) => report::verify(&args),
        Command::Stats(place) => report::stats(&place),
        Command::Sync(args) => bucket::sync(&args),
        Command::Restore(args) => bucket::restore(&args),
        Command::Prune(args) => retention::prune(&args),
        Command::Hold(cmd) => retention::hold(&cmd),
        Command::Demo { data, events } => demo(&data, events),
        Command::Query(args) => query::run(&args),
        Command::Keygen { out, name } => integrity::keygen(&out, &name),
        Command::Checkpoint {
            place,
            key,
            origin,
            out,
        } => integrity::checkpoint(&place, key.as_deref(), origin.as_deref(), out.as_deref()),
        Command::Proof(cmd) => integrity::proof(cmd),
        Command::Export(args) => export::run(&args),
        Command::VerifyBundle {
            bundle,
            public_key,
            json,
        } => export::verify(&bundle, &public_key, json),
        Command::Serve(args) => serve::run(&args),
        Command::Apikey { role, name } => serve::apikey(&role, &name),
        Command::Bench { args } => bench_moved(&args),
    }
}

fn demo(data: &std::path::Path, events: u64) -> anyhow::Result<ExitCode> {
    let store = annal_storage::Store::open(data, annal_storage::Options::default())?;
    if store.is_empty() {
        println!(
            "Generating {events} audit events over 90 days into {} …",
            data.display()
        );
        let ndjson = ingest::generated_ndjson(annal_gen::GenConfig {
            count: events,
            ..Default::default()
        })?;
        let start = std::time::Instant::now();
        let stored = annal_ingest::ingest_ndjson(&store, ndjson)?.stored;
        println!(
            "Ingested {stored} events in {:.2}s; sealing …",
            start.elapsed().as_secs_f64()
        );
    } else {
        println!(
            "{} already holds {} events; verifying it as it is.",
            data.display(),
            store.len()
        );
    }
    store.wait_sealed()?;
    store.close()?;
    println!();
    let verified = report::verify(&report::VerifyArgs::of(data))?;
    println!();
    report::stats(&place::DataArgs::at(data))?;
    println!("\nThe five newest failed logins (annal query --type LoginFailed --order desc --limit 5 --format table):\n");
    let data_arg = data.display().to_string();
    let sample = [
        "annal",
        "query",
        "--data",
        &data_arg,
        "--type",
        "LoginFailed",
        "--order",
        "desc",
        "--limit",
        "5",
        "--format",
        "table",
    ];
    if let Command::Query(args) = Cli::try_parse_from(sample)?.command {
        query::run(&args)?;
    }
    println!("\nNext: `annal query --help`, `annal verify`, `annal stats`, `annal gen 1000 | annal ingest` (all default to {DEFAULT_DATA_DIR}).");
    Ok(verified)
}

/// `annal bench …` is gone from this binary; says where it went.
fn bench_moved(args: &[String]) -> anyhow::Result<ExitCode> {
    let args = match args {
        [] => "ingest|query|integrity|seal".to_string(),
        _ => args.join(" "),
    };
    anyhow::bail!("`annal bench` moved to its own binary, so that `annal` links no SQLite: run `cargo run --release -p annal-bench -- {args}` (docs/benchmarks.md)")
}

fn gen(n: u64, seed: u64, days: u32, start: &str) -> anyhow::Result<ExitCode> {
    let start = annal_model::Timestamp::parse_date_or_time(start)
        .map_err(|e| anyhow::anyhow!("--start {start:?}: {e}"))?;
    let config = annal_gen::GenConfig {
        seed,
        days,
        start,
        count: n,
    };
    match annal_gen::write_ndjson(config, &mut std::io::stdout().lock()) {
        // A closed pipe (`annal gen … | head`) is a normal way to stop.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}
