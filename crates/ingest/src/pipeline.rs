//! The threads of one ingest: a reader cuts the input into batches of lines, parsers validate
//! batches in parallel, and the calling thread appends them in input order (so seq order is
//! line order), keeping a few appends in flight for group commit.

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Read};

use annal_model::{Catalogs, Event, IngestContext, NANOS_PER_DAY};
use annal_storage::{PendingAppend, StorageError, Store};
use crossbeam_channel::{bounded, Receiver, Sender};

use crate::{
    IngestError, Ingested, Result, APPENDS_IN_FLIGHT_MAX, BATCH_LINES_MAX, LINE_BYTES_MAX,
    PARSER_THREADS_MAX, READ_AHEAD_BATCHES,
};

/// A UTF-8 byte order mark, accepted (and dropped) at the start of the input.
const UTF8_BOM: &[u8] = b"\xef\xbb\xbf";
/// Capacity of the reader's buffer, in bytes.
const READ_BUFFER_BYTES: usize = 1 << 20;

/// A run of input lines.
struct Chunk {
    index: u64,
    first_line: u64,
    lines: Vec<Vec<u8>>,
    bytes: u64,
}

/// A parsed batch: its index, its input bytes, its events with their line numbers or its
/// first bad line.
type Parsed = (u64, u64, Result<(Vec<Event>, Vec<u64>)>);

/// An append in flight: its outcome, the input bytes it completes, and the line of each event.
type InFlight = (PendingAppend, u64, Vec<u64>);

pub(crate) fn run(
    store: &Store,
    input: Box<dyn Read + Send>,
    batch_lines: usize,
    catalogs: &Catalogs,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Ingested> {
    let batch = batch_lines.clamp(1, BATCH_LINES_MAX);
    let parsers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(PARSER_THREADS_MAX);
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
    // The reader's error (a read failure, a line too long) explains a short input; it is
    // only looked at when the appends themselves went well.
    reader.join().map_err(|_| IngestError::ReaderPanicked)??;
    Ok(appended)
}

/// Appends parsed batches in input order. On an error the appends already in flight are
/// waited for first, so the store's length afterwards says exactly what was stored.
fn append_in_order(
    store: &Store,
    parsed_rx: Receiver<Parsed>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Ingested> {
    let mut in_flight = VecDeque::new();
    let outcome = append_batches(store, parsed_rx, progress, &mut in_flight);
    if outcome.is_err() {
        for (p, _, _) in in_flight {
            let _ = p.wait();
        }
    }
    outcome
}

fn append_batches(
    store: &Store,
    parsed_rx: Receiver<Parsed>,
    progress: &(dyn Fn(u64) + Sync),
    in_flight: &mut VecDeque<InFlight>,
) -> Result<Ingested> {
    let mut pending = BTreeMap::new();
    let mut next = 0u64;
    let mut counts = Ingested::default();
    let mut settle = |in_flight: &mut VecDeque<InFlight>| -> Result<()> {
        if let Some((p, done, lines)) = in_flight.pop_front() {
            for a in p.wait().map_err(|e| at_line(e, &lines))? {
                if a.duplicate {
                    counts.duplicates += 1;
                } else {
                    counts.stored += 1;
                }
            }
            progress(done);
        }
        Ok(())
    };
    for (index, bytes, parsed) in parsed_rx.iter() {
        pending.insert(index, (bytes, parsed));
        while let Some((bytes, parsed)) = pending.remove(&next) {
            let (events, lines) = match parsed {
                Ok(parsed) => parsed,
                Err(bad) => {
                    // Batches before the bad one were submitted: let them finish, so what is
                    // reported as stored is stored.
                    while !in_flight.is_empty() {
                        settle(in_flight)?;
                    }
                    return Err(bad);
                }
            };
            let mut days = split_by_day(&events).peekable();
            let mut first = 0;
            while let Some(day) = days.next() {
                let last = days.peek().is_none();
                let day_lines = lines[first..first + day.len()].to_vec();
                first += day.len();
                let done = if last { bytes } else { 0 };
                in_flight.push_back((store.submit(day)?, done, day_lines));
                while in_flight.len() > APPENDS_IN_FLIGHT_MAX {
                    settle(in_flight)?;
                }
            }
            next += 1;
        }
    }
    while !in_flight.is_empty() {
        settle(in_flight)?;
    }
    Ok(counts)
}

fn read_chunks(input: Box<dyn Read + Send>, batch: usize, tx: &Sender<Chunk>) -> Result<()> {
    let mut reader = BufReader::with_capacity(READ_BUFFER_BYTES, input);
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
                .map_err(IngestError::Read)?;
            if n == 0 {
                break;
            }
            line_no += 1;
            chunk.bytes += n as u64;
            if line.len() > LINE_BYTES_MAX && line.last() != Some(&b'\n') {
                return Err(IngestError::LineTooLong { line: line_no });
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

/// The events of a chunk and the line number of each (blank lines hold none).
fn parse_chunk(chunk: &Chunk, catalogs: &Catalogs) -> Result<(Vec<Event>, Vec<u64>)> {
    let ctx = IngestContext::live(catalogs);
    let mut events = Vec::with_capacity(chunk.lines.len());
    let mut numbers = Vec::with_capacity(chunk.lines.len());
    for (i, line) in chunk.lines.iter().enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let number = chunk.first_line + i as u64;
        let e = Event::from_json(line, &ctx).map_err(|error| IngestError::BadLine {
            line: number,
            error,
        })?;
        events.push(e);
        numbers.push(number);
    }
    Ok((events, numbers))
}

/// An append's error with the line of the event it names, where it names one; `lines` holds
/// the line of each event of the append.
fn at_line(e: StorageError, lines: &[u64]) -> IngestError {
    let line = |index: usize| lines.get(index).copied();
    match e {
        StorageError::IdConflict { index, id, seq } => match line(index) {
            Some(line) => IngestError::IdConflict { line, id, seq },
            None => IngestError::Storage(StorageError::IdConflict { index, id, seq }),
        },
        StorageError::IdRepeated { index, first, id } => match (line(index), line(first)) {
            (Some(line), Some(first)) => IngestError::IdRepeated { line, first, id },
            _ => IngestError::Storage(StorageError::IdRepeated { index, first, id }),
        },
        other => IngestError::Storage(other),
    }
}

/// Cuts a batch where its events cross into a new UTC day, so segments roll exactly at day
/// boundaries (the store rolls between appends, never inside one).
fn split_by_day(events: &[Event]) -> impl Iterator<Item = &[Event]> {
    events.chunk_by(|a, b| {
        a.created_at.0.div_euclid(NANOS_PER_DAY) >= b.created_at.0.div_euclid(NANOS_PER_DAY)
    })
}
