//! `annal ingest`: NDJSON in, durable events out. A reader thread cuts the input into batches
//! of lines, parser threads validate them in parallel, and the main thread appends the
//! batches in input order (so seq order is line order).

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use annal_model::{Catalogs, Event, IngestContext, InvalidEvent, NANOS_PER_DAY};
use annal_storage::{Durability, Options, PendingAppend, Store};
use anyhow::Context;
use crossbeam_channel::bounded;

use crate::DEFAULT_DATA_DIR;

/// Batches read ahead of the parsers: bounds memory to a few batches of input.
const READ_AHEAD_BATCHES: usize = 4;
/// Appends queued to the store before waiting for the oldest: lets group commit cover
/// several batches with one fdatasync while parsing continues.
const APPENDS_IN_FLIGHT_MAX: usize = 4;
/// A UTF-8 byte order mark, accepted (and dropped) at the start of the input.
const UTF8_BOM: &[u8] = b"\xef\xbb\xbf";
/// Longest input line accepted, in bytes (a 64 KiB payload plus every other field).
const LINE_BYTES_MAX: usize = 256 << 10;

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
    /// Data directory.
    #[arg(long, default_value = DEFAULT_DATA_DIR)]
    pub data: PathBuf,
    /// NDJSON file, or `-` for standard input.
    #[arg(default_value = "-")]
    pub input: String,
    /// Lines per batch; a bad line rejects its whole batch.
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..=100_000))]
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

/// A run of input lines.
struct Chunk {
    index: u64,
    first_line: u64,
    lines: Vec<Vec<u8>>,
    bytes: u64,
}

/// The first bad line of a batch.
pub struct BadLine {
    pub line: u64,
    pub error: InvalidEvent,
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
    let opts = Options {
        durability: args.durability.to_durability(),
        ..Options::default()
    };
    let store = Store::open(&args.data, opts)
        .with_context(|| format!("open store {}", args.data.display()))?;
    let progress = progress_bar(input_len);
    let start = Instant::now();
    let first_seq = store.len();
    let outcome = pipeline(&store, input, args.batch as usize, &catalogs, &progress);
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
        annal_index::Indexer::new(&args.data, annal_index::IndexOptions::default())
            .and_then(|i| i.view(store.snapshot()).map(|_| ()))
    });
    let index_secs = index_start.elapsed().as_secs_f64();
    store.close()?;
    sealed?;
    indexed.transpose()?;
    if let Err(e) = &outcome {
        // The pipeline waited for its appends in flight, so this is what the trail holds.
        eprintln!(
            "annal ingest: stopped after storing {} events (seq {first_seq}..{end_seq})",
            end_seq - first_seq
        );
        anyhow::bail!("{e:#}");
    }
    let (stored, duplicates) = match outcome? {
        Ok(counts) => counts,
        Err(bad) => {
            eprintln!("annal ingest: line {}: {}", bad.line, bad.error);
            eprintln!("annal ingest: nothing of that line's batch was stored; {} events before it were stored (seq {first_seq}..{end_seq})", end_seq - first_seq);
            return Ok(ExitCode::from(1));
        }
    };
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
pub fn generated_ndjson(config: annal_gen::GenConfig) -> Vec<u8> {
    let mut ndjson = Vec::new();
    let mut g = annal_gen::Generator::new(config);
    while g.write_next(&mut ndjson) {
        ndjson.push(b'\n');
    }
    ndjson
}

/// Ingests NDJSON held in memory (generated events, for `demo` and `bench`); a bad line is an
/// error. Returns the number of events stored.
pub fn ingest_ndjson(store: &Store, ndjson: Vec<u8>) -> anyhow::Result<u64> {
    let catalogs = Catalogs::builtin();
    let input: Box<dyn Read + Send> = Box::new(std::io::Cursor::new(ndjson));
    let outcome = pipeline(
        store,
        input,
        4096,
        &catalogs,
        &indicatif::ProgressBar::hidden(),
    )?;
    let (stored, _) = outcome.map_err(|b| anyhow::anyhow!("line {}: {}", b.line, b.error))?;
    Ok(stored)
}

/// Runs reader, parsers and appender; returns (events stored, duplicates) or the first bad line.
pub fn pipeline(
    store: &Store,
    input: Box<dyn Read + Send>,
    batch: usize,
    catalogs: &Catalogs,
    progress: &indicatif::ProgressBar,
) -> anyhow::Result<Result<(u64, u64), BadLine>> {
    let parsers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let (chunk_tx, chunk_rx) = bounded::<Chunk>(READ_AHEAD_BATCHES);
    let (parsed_tx, parsed_rx) = bounded::<Parsed>(READ_AHEAD_BATCHES + parsers);
    // Not scoped: a reader blocked on a terminal or a pipe must not keep an ingest that has
    // already failed from returning. It ends when its next send finds no receiver.
    let reader = std::thread::spawn(move || read_chunks(input, batch, &chunk_tx));
    let appended = std::thread::scope(|scope| {
        for _ in 0..parsers {
            let (rx, tx) = (chunk_rx.clone(), parsed_tx.clone());
            scope.spawn(move || {
                for chunk in rx {
                    let parsed = parse_chunk(&chunk, catalogs);
                    if tx.send((chunk.index, chunk.bytes, parsed)).is_err() {
                        return;
                    }
                }
            });
        }
        drop((chunk_rx, parsed_tx));
        // Takes the receiver: however it returns, the receiver is gone before the scope joins
        // the parsers, so a parser blocked on a full channel wakes up and ends.
        append_in_order(store, parsed_rx, progress)
    })?;
    if appended.is_ok() {
        match reader.join() {
            Ok(r) => r?,
            Err(_) => anyhow::bail!("the input reader panicked"),
        }
    }
    Ok(appended)
}

/// A parsed batch: its index, its input bytes, its events or its first bad line.
type Parsed = (u64, u64, Result<Vec<Event>, BadLine>);

/// Appends parsed batches in input order, keeping a few appends in flight. On an error the
/// appends already in flight are waited for first, so the store's length afterwards says
/// exactly what was stored.
fn append_in_order(
    store: &Store,
    parsed_rx: crossbeam_channel::Receiver<Parsed>,
    progress: &indicatif::ProgressBar,
) -> anyhow::Result<Result<(u64, u64), BadLine>> {
    let mut in_flight = VecDeque::new();
    let outcome = append_batches(store, parsed_rx, progress, &mut in_flight);
    if outcome.is_err() {
        for (p, _) in in_flight {
            let _ = p.wait();
        }
    }
    outcome
}

fn append_batches(
    store: &Store,
    parsed_rx: crossbeam_channel::Receiver<Parsed>,
    progress: &indicatif::ProgressBar,
    in_flight: &mut VecDeque<(PendingAppend, u64)>,
) -> anyhow::Result<Result<(u64, u64), BadLine>> {
    let mut pending = BTreeMap::new();
    let mut next = 0u64;
    let (mut stored, mut duplicates) = (0u64, 0u64);
    let mut settle = |p: PendingAppend| -> anyhow::Result<()> {
        for a in p.wait()? {
            if a.duplicate {
                duplicates += 1;
            } else {
                stored += 1;
            }
        }
        Ok(())
    };
    for (index, bytes, parsed) in parsed_rx.iter() {
        pending.insert(index, (bytes, parsed));
        while let Some((bytes, parsed)) = pending.remove(&next) {
            let events = match parsed {
                Ok(events) => events,
                Err(bad) => {
                    // Batches before the bad one were submitted: let them finish, so what is
                    // reported as stored is stored.
                    while let Some((p, done)) = in_flight.pop_front() {
                        settle(p)?;
                        progress.inc(done);
                    }
                    return Ok(Err(bad));
                }
            };
            let mut days = split_by_day(&events).peekable();
            while let Some(day) = days.next() {
                let last = days.peek().is_none();
                in_flight.push_back((store.submit(day)?, if last { bytes } else { 0 }));
                while in_flight.len() > APPENDS_IN_FLIGHT_MAX {
                    let Some((p, done)) = in_flight.pop_front() else {
                        break;
                    };
                    settle(p)?;
                    progress.inc(done);
                }
            }
            next += 1;
        }
    }
    while let Some((p, done)) = in_flight.pop_front() {
        settle(p)?;
        progress.inc(done);
    }
    Ok(Ok((stored, duplicates)))
}

fn read_chunks(
    input: Box<dyn Read + Send>,
    batch: usize,
    tx: &crossbeam_channel::Sender<Chunk>,
) -> anyhow::Result<()> {
    let mut reader = BufReader::with_capacity(1 << 20, input);
    let (mut index, mut line_no) = (0u64, 0u64);
    loop {
        let mut chunk = Chunk {
            index,
            first_line: line_no + 1,
            lines: Vec::with_capacity(batch),
            bytes: 0,
        };
        while chunk.lines.len() < batch {
            let mut line = Vec::new();
            let n = (&mut reader)
                .take(LINE_BYTES_MAX as u64 + 1)
                .read_until(b'\n', &mut line)
                .context("read input")?;
            if n == 0 {
                break;
            }
            line_no += 1;
            chunk.bytes += n as u64;
            if line.len() > LINE_BYTES_MAX && line.last() != Some(&b'\n') {
                anyhow::bail!("line {line_no}: longer than {LINE_BYTES_MAX} bytes");
            }
            if line_no == 1 && line.starts_with(UTF8_BOM) {
                // RFC 8259 lets a parser ignore a byte order mark; Windows tools write one.
                line.drain(..UTF8_BOM.len());
            }
            chunk.lines.push(line);
        }
        if chunk.lines.is_empty() {
            return Ok(());
        }
        index += 1;
        if tx.send(chunk).is_err() {
            return Ok(());
        }
    }
}

fn parse_chunk(chunk: &Chunk, catalogs: &Catalogs) -> Result<Vec<Event>, BadLine> {
    let ctx = IngestContext::live(catalogs);
    let mut events = Vec::with_capacity(chunk.lines.len());
    for (i, line) in chunk.lines.iter().enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let e = Event::from_json(line, &ctx).map_err(|error| BadLine {
            line: chunk.first_line + i as u64,
            error,
        })?;
        events.push(e);
    }
    Ok(events)
}

/// Cuts a batch where its events cross into a new UTC day, so segments roll exactly at day
/// boundaries (the store rolls between appends, never inside one).
fn split_by_day(events: &[Event]) -> impl Iterator<Item = &[Event]> {
    events.chunk_by(|a, b| {
        a.created_at.0.div_euclid(NANOS_PER_DAY) >= b.created_at.0.div_euclid(NANOS_PER_DAY)
    })
}
