//! `annal-bench query`: the query workload on generated events, with SQLite (b-tree
//! indexes on the filtered columns) answering the same questions in the same run.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use annal_gen::{EventStream, GenConfig};
use annal_index::IndexOptions;
use annal_model::{Catalogs, Field, IntField, TextField, Timestamp};
use annal_query::{
    codes_in_category, codes_named, Clause, Dir, Engine, Filter, Interval, Query, Start,
};
use annal_storage::{Options, Store};
use anyhow::Context;
use rusqlite::types::Value;

use crate::sqlite::{sqlite_create, sqlite_insert_batch};
use crate::util::{machine, ms, percentile, Scratch};

/// Events generated and loaded per step (bounds the bench's memory at any volume).
const LOAD_CHUNK: usize = 10_000;
/// Longest time spent repeating one query.
const QUERY_SECONDS: f64 = 1.0;
/// Most repetitions of one query.
const QUERY_RUNS_MAX: usize = 2_000;

pub fn run(dir: &Path, events: u64, sqlite: bool, rss_events: u64) -> anyhow::Result<ExitCode> {
    println!("# annal bench query — {}", machine());
    let scratch = Scratch::new(dir, "query")?;
    let started = Instant::now();
    let (engine, db) = load(&scratch.0, events, sqlite)?;
    println!(
        "\n{events} events from `annal gen {events}` (90 days), loaded into annal{} in {:.1}s.\n",
        if sqlite { " and SQLite" } else { "" },
        started.elapsed().as_secs_f64()
    );
    let catalogs = Catalogs::builtin();
    let day = |s: &str| Timestamp::parse_date_or_time(s).map_err(|e| anyhow::anyhow!("{e}"));
    let cases = cases(&engine, &catalogs, &day)?;
    println!("Latency per call, ms: the first call (annal's block and row caches empty; both engines' files in the page cache), then p50 / p99 over up to {QUERY_RUNS_MAX} calls or {QUERY_SECONDS} s.\n");
    println!("| query | rows | annal first | annal p50 | annal p99 | SQLite first | SQLite p50 | SQLite p99 | SQLite/annal (p50) |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for case in &cases {
        let (first, annal_times, rows) = time(|| (case.annal)(&engine))?;
        let (sqlite_first, sqlite_times, sql_rows) = match &db {
            Some(db) => time(|| (case.sqlite)(db))?,
            None => (Duration::ZERO, Vec::new(), rows),
        };
        anyhow::ensure!(
            sql_rows == rows,
            "{}: annal found {rows} rows, SQLite {sql_rows}",
            case.name
        );
        let (a50, a99) = (
            percentile(&annal_times, 0.5),
            percentile(&annal_times, 0.99),
        );
        let (s50, s99) = (
            percentile(&sqlite_times, 0.5),
            percentile(&sqlite_times, 0.99),
        );
        println!(
            "| {} | {rows} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.1}× |",
            case.name,
            ms(first),
            ms(a50),
            ms(a99),
            ms(sqlite_first),
            ms(s50),
            ms(s99),
            ms(s50) / ms(a50).max(1e-6)
        );
    }
    let dir = engine.store().dir().to_path_buf();
    engine.close()?;
    println!(
        "\nResident set of a process that opened this store (engine ready, nothing queried): {}",
        open_rss(&dir)?
    );
    if rss_events > 0 {
        let big = Scratch::new(&scratch.0, "rss")?;
        let started = Instant::now();
        let (engine, _) = load(&big.0, rss_events, false)?;
        engine.close()?;
        println!(
            "Resident set of a process that opened a {rss_events}-event store (built in {:.0}s): {}",
            started.elapsed().as_secs_f64(),
            open_rss(&big.0)?
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `annal-bench open-rss`: opens a store with its indexes and prints the resident set.
pub fn open_rss_child(data: &Path) -> anyhow::Result<ExitCode> {
    let store = Store::open(data, Options::default())?;
    let engine = Engine::new(store, IndexOptions::default(), Catalogs::builtin())?;
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kib = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or("?")
            .to_string()
    };
    println!(
        "{} {} {} {}",
        kib("VmRSS"),
        kib("RssAnon"),
        kib("RssFile"),
        kib("VmHWM")
    );
    engine.close()?;
    Ok(ExitCode::SUCCESS)
}

fn open_rss(data: &Path) -> anyhow::Result<String> {
    let out = std::process::Command::new(std::env::current_exe()?)
        .args(["open-rss", "--data"])
        .arg(data)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "open-rss failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mb: Vec<f64> = text
        .split_whitespace()
        .map(|v| v.parse::<f64>().unwrap_or(0.0) / 1024.0)
        .collect();
    match mb.as_slice() {
        [rss, anon, file, peak] => Ok(format!(
            "{rss:.0} MB ({anon:.0} MB heap and stacks, {file:.0} MB mapped files; peak while opening {peak:.0} MB)"
        )),
        _ => anyhow::bail!("open-rss printed {text:?}"),
    }
}

/// Runs `f` once cold, then repeatedly; returns the first time, the sorted times, and rows.
fn time(
    mut f: impl FnMut() -> anyhow::Result<usize>,
) -> anyhow::Result<(Duration, Vec<Duration>, usize)> {
    let t = Instant::now();
    let rows = f()?;
    let first = t.elapsed();
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < QUERY_RUNS_MAX
        && (times.len() < 5 || start.elapsed().as_secs_f64() < QUERY_SECONDS)
    {
        let t = Instant::now();
        let n = f()?;
        times.push(t.elapsed());
        anyhow::ensure!(n == rows, "a query gave {n} rows, then {rows}");
    }
    times.sort();
    Ok((first, times, rows))
}

/// Streams generated events into annal (and SQLite), then opens the engine.
fn load(
    dir: &Path,
    n: u64,
    sqlite: bool,
) -> anyhow::Result<(Engine, Option<rusqlite::Connection>)> {
    let store = Store::open(dir.join("annal"), Options::default())?;
    let mut db = if sqlite {
        Some(sqlite_open(dir)?)
    } else {
        None
    };
    let mut stream = EventStream::new(GenConfig {
        count: n,
        ..GenConfig::default()
    });
    let mut seq = 0i64;
    loop {
        let chunk: Vec<_> = stream.by_ref().take(LOAD_CHUNK).collect();
        if chunk.is_empty() {
            break;
        }
        // Appends cut at UTC day boundaries, as `annal ingest` does, so segments are days.
        let mut start = 0;
        for i in 1..=chunk.len() {
            if i == chunk.len()
                || chunk[i].created_at.utc_day() != chunk[start].created_at.utc_day()
            {
                store.append(&chunk[start..i])?;
                start = i;
            }
        }
        if let Some(db) = &mut db {
            sqlite_insert_batch(db, &chunk, seq)?;
        }
        seq += chunk.len() as i64;
    }
    store.wait_sealed()?;
    if let Some(db) = &db {
        db.execute_batch(SQLITE_INDEXES)?;
        db.execute_batch("ANALYZE; PRAGMA wal_checkpoint(TRUNCATE);")?;
    }
    let engine = Engine::new(store, IndexOptions::default(), Catalogs::builtin())?;
    Ok((engine, db))
}

/// The b-tree indexes the issue names for the comparison.
const SQLITE_INDEXES: &str = "
CREATE INDEX ev_created_at ON events(created_at);
CREATE INDEX ev_code ON events(event_code, created_at);
CREATE INDEX ev_group ON events(event_group, created_at);
CREATE INDEX ev_action ON events(action, created_at);
CREATE INDEX ev_actor ON events(actor_id, created_at);
CREATE INDEX ev_user ON events(user_id, created_at);";

fn sqlite_open(dir: &Path) -> anyhow::Result<rusqlite::Connection> {
    // Loading speed is not what this bench measures.
    let db = sqlite_create(&dir.join("events.sqlite"), "OFF")?;
    db.pragma_update(None, "cache_size", -262_144)?; // 256 MiB: the whole index set stays cached
    Ok(db)
}

type AnnalRun = Box<dyn Fn(&Engine) -> anyhow::Result<usize>>;
type SqliteRun = Box<dyn Fn(&rusqlite::Connection) -> anyhow::Result<usize>>;

struct Case {
    name: &'static str,
    annal: AnnalRun,
    sqlite: SqliteRun,
}

/// SQL for "the event's code is one of `codes` in its catalog": the same rule as annal's
/// (the catalog named by `source`, else the default one).
fn codes_sql(catalogs: &Catalogs, codes: &[(String, i64)]) -> String {
    let default = catalogs.default_catalog().name();
    let others: Vec<String> = catalogs
        .iter()
        .filter(|c| c.name() != default)
        .map(|c| format!("'{}'", c.name()))
        .collect();
    let mut parts = Vec::new();
    for cat in catalogs.iter() {
        let list: Vec<String> = codes
            .iter()
            .filter(|(c, _)| c == cat.name())
            .map(|(_, n)| n.to_string())
            .collect();
        if list.is_empty() {
            continue;
        }
        let membership = if cat.name() == default {
            format!("(source IS NULL OR source NOT IN ({}))", others.join(","))
        } else {
            format!("source = '{}'", cat.name())
        };
        parts.push(format!(
            "(event_code IN ({}) AND {membership})",
            list.join(",")
        ));
    }
    format!("({})", parts.join(" OR "))
}

fn page_annal(filter: Filter, order: Dir, limit: usize) -> AnnalRun {
    Box::new(move |e: &Engine| {
        let q = Query {
            filter: filter.clone(),
            order,
            limit,
            start: Start::First,
        };
        Ok(e.query(&q)?.items.len())
    })
}

/// A SELECT of every column, rows materialised like annal's events are.
fn rows_sqlite(sql: String, params: Vec<i64>) -> SqliteRun {
    Box::new(move |db: &rusqlite::Connection| {
        let mut stmt = db.prepare_cached(&sql)?;
        let ncols = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
        let mut out: Vec<Vec<Value>> = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(
                (0..ncols)
                    .map(|i| r.get::<_, Value>(i))
                    .collect::<Result<_, _>>()?,
            );
        }
        Ok(out.len())
    })
}

fn cases(
    engine: &Engine,
    catalogs: &Catalogs,
    day: &dyn Fn(&str) -> anyhow::Result<Timestamp>,
) -> anyhow::Result<Vec<Case>> {
    let (mar1, feb1, feb10, feb20, mar3) = (
        day("2026-03-01")?,
        day("2026-02-01")?,
        day("2026-02-10")?,
        day("2026-02-20")?,
        day("2026-03-03")?,
    );
    let (h0, h1) = (day("2026-02-15T10:00:00Z")?, day("2026-02-15T11:00:00Z")?);
    let config = codes_in_category(catalogs, "Configuration")?;
    let transfer = codes_in_category(catalogs, "Transfer")?;
    let failed = codes_named(catalogs, "LoginFailed")?;
    let codes = |c: &[(String, i64)]| Clause::Codes {
        codes: c.to_vec(),
        negate: false,
    };
    let user = engine
        .count_by(&Filter::default(), Field::Int(IntField::UserId))?
        .first()
        .map(|(u, _)| u.clone())
        .context("no user_id in the data")?;
    let user_n: i64 = user.parse()?;
    let desc = "ORDER BY created_at DESC, seq DESC LIMIT 100";
    let since = |from: Timestamp, c: Clause| Filter {
        from: Some(from),
        clauses: vec![c],
        ..Filter::default()
    };
    let between = |from: Timestamp, to: Timestamp, c: Clause| Filter {
        from: Some(from),
        to: Some(to),
        clauses: vec![c],
        ..Filter::default()
    };
    let failed_30d = between(feb1, mar3, codes(&failed));
    let failed_sql = codes_sql(catalogs, &failed);
    let mut cases = vec![
        Case {
            name: "Configuration since 2026-03-01, first 100 newest",
            annal: page_annal(since(mar1, codes(&config)), Dir::Desc, 100),
            sqlite: rows_sqlite(format!("SELECT * FROM events WHERE created_at >= ?1 AND {} {desc}", codes_sql(catalogs, &config)), vec![mar1.0]),
        },
        Case {
            name: "Transfer in February, first 100 newest",
            annal: page_annal(between(feb1, mar1, codes(&transfer)), Dir::Desc, 100),
            sqlite: rows_sqlite(format!("SELECT * FROM events WHERE created_at >= ?1 AND created_at < ?2 AND {} {desc}", codes_sql(catalogs, &transfer)), vec![feb1.0, mar1.0]),
        },
        Case {
            name: "LoginFailed since 2026-03-01, first 100 newest",
            annal: page_annal(since(mar1, codes(&failed)), Dir::Desc, 100),
            sqlite: rows_sqlite(format!("SELECT * FROM events WHERE created_at >= ?1 AND {failed_sql} {desc}"), vec![mar1.0]),
        },
        Case {
            name: "create/update/destroy Feb 10–20, first 100 newest",
            annal: page_annal(
                between(feb10, feb20, Clause::Values { field: Field::Text(TextField::Action), values: vec!["create".into(), "update".into(), "destroy".into()], negate: false }),
                Dir::Desc,
                100,
            ),
            sqlite: rows_sqlite(format!("SELECT * FROM events WHERE created_at >= ?1 AND created_at < ?2 AND action IN ('create','update','destroy') {desc}"), vec![feb10.0, feb20.0]),
        },
        Case {
            name: "one user's failures, first 100 newest",
            annal: page_annal(
                Filter::default().with(Field::Int(IntField::UserId), &[&user]).with(Field::Text(TextField::Status), &["failure"]),
                Dir::Desc,
                100,
            ),
            sqlite: rows_sqlite(format!("SELECT * FROM events WHERE user_id = ?1 AND status = 'failure' {desc}"), vec![user_n]),
        },
        Case {
            name: "all events of one hour, in order",
            annal: page_annal(Filter { from: Some(h0), to: Some(h1), ..Filter::default() }, Dir::Asc, annal_query::LIMIT_MAX),
            sqlite: rows_sqlite("SELECT * FROM events WHERE created_at >= ?1 AND created_at < ?2 ORDER BY created_at, seq".into(), vec![h0.0, h1.0]),
        },
    ];
    let walk_filter = failed_30d.clone();
    cases.push(Case {
        name: "LoginFailed in 30 days, every page of 100 newest first",
        annal: Box::new(move |e: &Engine| {
            let mut start = Start::First;
            let mut rows = 0;
            loop {
                let page = e.query(&Query { filter: walk_filter.clone(), order: Dir::Desc, limit: 100, start })?;
                rows += page.items.len();
                match page.next_cursor {
                    Some(c) if page.items.len() == 100 => start = Start::Cursor(c),
                    _ => return Ok(rows),
                }
            }
        }),
        sqlite: {
            let sql_first = format!("SELECT * FROM events WHERE created_at >= ?1 AND created_at < ?2 AND {failed_sql} {desc}");
            let sql_next = format!("SELECT * FROM events WHERE created_at >= ?1 AND created_at < ?2 AND {failed_sql} AND (created_at, seq) < (?3, ?4) {desc}");
            let (from, to) = (feb1.0, mar3.0);
            Box::new(move |db: &rusqlite::Connection| {
                let mut rows = 0;
                let mut after: Option<(i64, i64)> = None;
                loop {
                    let mut stmt = db.prepare_cached(if after.is_some() { &sql_next } else { &sql_first })?;
                    let ncols = stmt.column_count();
                    let mut params = vec![from, to];
                    if let Some((t, s)) = after {
                        params.extend([t, s]);
                    }
                    let mut it = stmt.query(rusqlite::params_from_iter(params.iter()))?;
                    let mut page = 0;
                    while let Some(r) = it.next()? {
                        let row: Vec<Value> = (0..ncols).map(|i| r.get::<_, Value>(i)).collect::<Result<_, _>>()?;
                        let (Value::Integer(s), Value::Integer(t)) = (&row[0], &row[2]) else {
                            anyhow::bail!("unexpected column types");
                        };
                        after = Some((*t, *s));
                        page += 1;
                    }
                    rows += page;
                    if page < 100 {
                        return Ok(rows);
                    }
                }
            })
        },
    });
    let count_filter = failed_30d;
    cases.push(Case {
        name: "count of LoginFailed in 30 days",
        annal: Box::new(move |e: &Engine| Ok(e.count(&count_filter)? as usize)),
        sqlite: {
            let sql = format!("SELECT count(*) FROM events WHERE created_at >= ?1 AND created_at < ?2 AND {failed_sql}");
            let (from, to) = (feb1.0, mar3.0);
            Box::new(move |db: &rusqlite::Connection| {
                let n: i64 = db.prepare_cached(&sql)?.query_row([from, to], |r| r.get(0))?;
                Ok(n as usize)
            })
        },
    });
    cases.push(Case {
        name: "count by event_code, whole trail (rows = groups)",
        annal: Box::new(|e: &Engine| Ok(e.count_by(&Filter::default(), Field::Int(IntField::EventCode))?.len())),
        sqlite: Box::new(|db: &rusqlite::Connection| {
            let mut stmt = db.prepare_cached("SELECT event_code, count(*) FROM events WHERE event_code IS NOT NULL GROUP BY event_code")?;
            let mut rows = stmt.query([])?;
            let mut n = 0;
            while rows.next()?.is_some() {
                n += 1;
            }
            Ok(n)
        }),
    });
    for (name, interval) in [
        (
            "day histogram by event_code, whole trail (rows = (day, code) groups)",
            Interval::Day,
        ),
        (
            "hour histogram by event_code, whole trail (rows = (hour, code) groups)",
            Interval::Hour,
        ),
    ] {
        let by = Some(Field::Int(IntField::EventCode));
        let sql = format!("SELECT created_at / {w} AS bucket, event_code, count(*) FROM events WHERE event_code IS NOT NULL GROUP BY bucket, event_code", w = interval.nanos());
        cases.push(Case {
            name,
            annal: Box::new(move |e: &Engine| {
                let buckets = e.histogram(&Filter::default(), interval, by)?;
                Ok(buckets.iter().map(|b| b.by.len()).sum())
            }),
            sqlite: Box::new(move |db: &rusqlite::Connection| {
                let mut stmt = db.prepare_cached(&sql)?;
                let mut rows = stmt.query([])?;
                let mut n = 0;
                while rows.next()?.is_some() {
                    n += 1;
                }
                Ok(n)
            }),
        });
    }
    Ok(cases)
}
