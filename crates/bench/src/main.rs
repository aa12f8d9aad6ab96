//! `annal-bench`: measurements of annal on this machine, with SQLite timed in the same run for
//! a ratio; the figures go to docs/benchmarks.md. A binary of its own so that the shipped
//! `annal` binary links no SQLite. Run one benchmark at a time, on an otherwise idle machine:
//!
//! ```sh
//! cargo run --release -p annal-bench -- ingest|query|integrity|retention|seal [--events N] [--dir DIR]
//! cargo run --release -p annal-bench -- bucket --endpoint http://127.0.0.1:5000 --url s3://bench
//! ```

mod bucket;
mod ingest;
mod integrity;
mod query;
mod retention;
mod seal;
mod sqlite;
mod util;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

// The same allocator as the `annal` binary, so that ingest and query figures measure what
// ships (glibc's malloc spent ~30% of ingest's CPU on cross-thread frees; docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "annal-bench",
    version,
    about = "Measure annal (and SQLite, for a ratio) on this machine"
)]
struct Cli {
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Durable appends from the library (producers × batch sizes), `annal ingest` of generated
    /// NDJSON, sealed bytes/event, and SQLite inserting the same events.
    Ingest {
        /// Scratch directory (created, emptied and removed).
        #[arg(long, default_value = "./annal-bench")]
        dir: PathBuf,
        /// Events for the NDJSON ingest and SQLite runs.
        #[arg(long, default_value_t = 2_000_000)]
        events: u64,
        /// Seconds per library append configuration.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Producer thread counts to try.
        #[arg(long, value_delimiter = ',', default_value = "1,4,16")]
        threads: Vec<usize>,
        /// Events per append call to try.
        #[arg(long, value_delimiter = ',', default_value = "1,100,1000")]
        batch: Vec<usize>,
        /// Skip the SQLite comparison.
        #[arg(long)]
        no_sqlite: bool,
    },
    /// The query workload (seed queries, paging, counts) against SQLite on the same events,
    /// and the resident set after opening a store.
    Query {
        /// Scratch directory (created, emptied and removed).
        #[arg(long, default_value = "./annal-bench")]
        dir: PathBuf,
        /// Events to generate.
        #[arg(long, default_value_t = 2_000_000)]
        events: u64,
        /// Skip the SQLite comparison.
        #[arg(long)]
        no_sqlite: bool,
        /// Also build a store of this many events and report the resident set after opening
        /// it (0: skip).
        #[arg(long, default_value_t = 0)]
        rss_events: u64,
    },
    /// (Used by `query`.) Open a store with its indexes and print the resident set, KiB.
    #[command(hide = true)]
    OpenRss {
        /// Data directory.
        #[arg(long)]
        data: PathBuf,
    },
    /// The auditor's full check, tile roots, signing, and proof latency.
    Integrity {
        /// Scratch directory (created, emptied and removed).
        #[arg(long, default_value = "./annal-bench")]
        dir: PathBuf,
        /// Events to generate.
        #[arg(long, default_value_t = 2_000_000)]
        events: u64,
    },
    /// The trail in an S3 API: upload and restore rates, ingest with the uploader running,
    /// the RPO. The bucket must exist (moto: `curl -X PUT ENDPOINT/BUCKET`); each run writes
    /// under a fresh prefix. Credentials from the environment (`AWS_ACCESS_KEY_ID` …).
    Bucket {
        /// Scratch directory (created, emptied and removed).
        #[arg(long, default_value = "./annal-bench")]
        dir: PathBuf,
        /// Events to generate.
        #[arg(long, default_value_t = 2_000_000)]
        events: u64,
        /// `s3://BUCKET[/PREFIX]`.
        #[arg(long)]
        url: String,
        /// The S3 API endpoint.
        #[arg(long)]
        endpoint: String,
        /// The uploader's ship interval, ms.
        #[arg(long, default_value_t = 1000)]
        ship_interval_ms: u64,
    },
    /// Pruning 30 of 90 days: time, bytes freed and kept per pruned event, the audit after;
    /// tlog-tiles serving latency and throughput (level 0 cold and warm, bundles, level 1).
    Retention {
        /// Scratch directory (created, emptied and removed).
        #[arg(long, default_value = "./annal-bench")]
        dir: PathBuf,
        /// Events to generate.
        #[arg(long, default_value_t = 2_000_000)]
        events: u64,
    },
    /// Bytes/event and the time to read one record, across block sizes and zstd levels.
    Seal {
        /// Scratch directory.
        #[arg(long, default_value = "./annal-bench")]
        dir: PathBuf,
        /// Events to seal per configuration.
        #[arg(long, default_value_t = 200_000)]
        events: u64,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse().command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("annal-bench: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cmd: BenchCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        BenchCommand::Ingest {
            dir,
            events,
            seconds,
            threads,
            batch,
            no_sqlite,
        } => ingest::run(&dir, events, seconds, &threads, &batch, !no_sqlite),
        BenchCommand::Seal { dir, events } => seal::run(&dir, events),
        BenchCommand::Bucket {
            dir,
            events,
            url,
            endpoint,
            ship_interval_ms,
        } => bucket::run(&dir, events, &url, &endpoint, ship_interval_ms),
        BenchCommand::Integrity { dir, events } => integrity::run(&dir, events),
        BenchCommand::Retention { dir, events } => retention::run(&dir, events),
        BenchCommand::Query {
            dir,
            events,
            no_sqlite,
            rss_events,
        } => query::run(&dir, events, !no_sqlite, rss_events),
        BenchCommand::OpenRss { data } => query::open_rss_child(&data),
    }
}
