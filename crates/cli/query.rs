//! `annal query`: filters from flags, then a page of events (NDJSON, table or CSV), a count,
//! counts by a field, or a histogram.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

use annal_index::IndexOptions;
use annal_model::{Catalogs, Event, Field, IntField, TextField, Timestamp};
use annal_query::{Dir, Engine, Filter, FilterBuilder, Interval, Page, Query, Start};
use annal_storage::Store;
use anyhow::{anyhow, bail, Context};

/// Arguments of `annal query`.
#[derive(clap::Args)]
pub struct QueryArgs {
    #[command(flatten)]
    place: crate::place::DataArgs,
    #[command(flatten)]
    range: TimeRange,
    /// Event code, in any catalog (repeatable: any of them).
    #[arg(long = "code")]
    codes: Vec<i64>,
    /// Event type by catalog name (LoginFailed, "Login Failed") or code.
    #[arg(long = "type")]
    types: Vec<String>,
    /// Catalog category (Configuration, Transfer, …).
    #[arg(long = "category")]
    categories: Vec<String>,
    /// `action` value.
    #[arg(long = "action")]
    actions: Vec<String>,
    /// `status` value.
    #[arg(long = "status")]
    statuses: Vec<String>,
    /// `actor_id` value.
    #[arg(long = "actor")]
    actors: Vec<String>,
    /// `user_id` value.
    #[arg(long = "user-id")]
    user_ids: Vec<i64>,
    /// `ip_address` value.
    #[arg(long = "ip")]
    ips: Vec<String>,
    /// Any text or integer field: FIELD=VALUE (repeatable; same field: any of the values).
    #[arg(long = "where", value_name = "FIELD=VALUE")]
    wheres: Vec<String>,
    /// Leave out events with FIELD=VALUE (repeatable).
    #[arg(long = "not", value_name = "FIELD=VALUE")]
    nots: Vec<String>,
    /// Free text in event_type, error_message, path, user_agent or the event type's name.
    #[arg(long)]
    q: Option<String>,
    /// asc: oldest first; desc: newest first.
    #[arg(long, default_value = "asc", value_parser = ["asc", "desc"])]
    order: String,
    /// Events per page.
    #[arg(long, default_value_t = 100)]
    limit: usize,
    /// Continue from a cursor printed by an earlier page.
    #[arg(long, conflicts_with = "page")]
    cursor: Option<String>,
    /// Page number, from 1 (offset pagination).
    #[arg(long)]
    page: Option<u64>,
    /// Print the number of matches only.
    #[arg(long)]
    count: bool,
    /// Print matches per value of this field.
    #[arg(long, value_name = "FIELD")]
    group_by: Option<String>,
    /// Print matches per time bucket.
    #[arg(long, value_parser = ["minute", "hour", "day"])]
    histogram: Option<String>,
    /// Split the histogram by this field.
    #[arg(long, value_name = "FIELD", requires = "histogram")]
    by: Option<String>,
    /// Output format.
    #[arg(long, default_value = "ndjson", value_parser = ["ndjson", "table", "csv"])]
    format: String,
}

pub fn run(args: &QueryArgs) -> anyhow::Result<ExitCode> {
    let catalogs = Catalogs::builtin();
    let filter = filter(args, &catalogs)?;
    let (data, _, opts, _) = args.place.open()?;
    let store = Store::open(&data, opts).with_context(|| format!("opening {}", data.display()))?;
    let engine = Engine::new(store, IndexOptions::default(), catalogs)?;
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    if args.count {
        writeln!(out, "{}", engine.count(&filter)?)?;
    } else if let Some(name) = &args.group_by {
        let counts = engine.count_by(&filter, field(name)?)?;
        write_counts(&mut out, &args.format, name, &counts)?;
    } else if let Some(interval) = &args.histogram {
        let by = args.by.as_deref().map(field).transpose()?;
        let buckets = engine.histogram(&filter, Interval::parse(interval)?, by)?;
        for b in buckets {
            let mut start = String::new();
            b.start.write_rfc3339(&mut start);
            let split: BTreeMap<&str, u64> = b.by.iter().map(|(k, n)| (k.as_str(), *n)).collect();
            match args.format.as_str() {
                "ndjson" => writeln!(
                    out,
                    "{}",
                    serde_json::json!({"start": start, "count": b.count, "by": split})
                )?,
                _ => writeln!(out, "{start}\t{}\t{}", b.count, fmt_split(&b.by))?,
            }
        }
    } else {
        let start = match (&args.cursor, args.page) {
            (Some(c), _) => Start::Cursor(c.clone()),
            (None, Some(0)) => bail!("--page counts from 1"),
            (None, Some(p)) => Start::Offset((p - 1) * args.limit as u64),
            (None, None) => Start::First,
        };
        let query = Query {
            filter,
            order: if args.order == "desc" {
                Dir::Desc
            } else {
                Dir::Asc
            },
            limit: args.limit,
            start,
        };
        let page = engine.query(&query)?;
        write_page(&mut out, &args.format, &page, engine.catalogs())?;
    }
    out.flush()?;
    drop(out);
    engine.close()?;
    Ok(ExitCode::SUCCESS)
}

fn field(name: &str) -> anyhow::Result<Field> {
    let f = Field::from_name(name).ok_or_else(|| anyhow!("no field named {name:?}"))?;
    annal_query::check_field(f)?;
    Ok(f)
}

/// `--from` and `--to`, as `annal query`, `verify` and `export` take them.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct TimeRange {
    /// Events created at or after this time (a date alone means its start, UTC).
    #[arg(long)]
    pub from: Option<String>,
    /// Events created before this time (exclusive).
    #[arg(long)]
    pub to: Option<String>,
}

impl TimeRange {
    /// The bounds the flags give, naming the flag that is not a time.
    pub fn bounds(&self) -> anyhow::Result<(Option<Timestamp>, Option<Timestamp>)> {
        let time = |flag: &str, v: &Option<String>| {
            v.as_deref()
                .map(|s| {
                    Timestamp::parse_date_or_time(s).map_err(|e| anyhow!("--{flag} {s:?}: {e}"))
                })
                .transpose()
        };
        Ok((time("from", &self.from)?, time("to", &self.to)?))
    }
}

/// The filter the flags describe. A flag given several times is one condition (any of its
/// values); so are the `--where` values of one field, and the `--not` values of one field.
fn filter(args: &QueryArgs, catalogs: &Catalogs) -> anyhow::Result<Filter> {
    let mut f = FilterBuilder::new(catalogs);
    if let Some(from) = &args.range.from {
        f.from("--from", from)?;
    }
    if let Some(to) = &args.range.to {
        f.to("--to", to)?;
    }
    if let Some(q) = &args.q {
        f.text(q);
    }
    let plain = [
        (
            "--code",
            Field::Int(IntField::EventCode),
            strings(&args.codes),
        ),
        (
            "--action",
            Field::Text(TextField::Action),
            args.actions.clone(),
        ),
        (
            "--status",
            Field::Text(TextField::Status),
            args.statuses.clone(),
        ),
        (
            "--actor",
            Field::Text(TextField::ActorId),
            args.actors.clone(),
        ),
        (
            "--user-id",
            Field::Int(IntField::UserId),
            strings(&args.user_ids),
        ),
        ("--ip", Field::Text(TextField::IpAddress), args.ips.clone()),
    ];
    for (flag, field, values) in plain {
        f.values(flag, field, false, &values)?;
    }
    f.event_types("--type", &args.types)?;
    f.categories("--category", &args.categories)?;
    for (flag, list, negate) in [
        ("--where", &args.wheres, false),
        ("--not", &args.nots, true),
    ] {
        for w in list {
            let (name, value) = w
                .split_once('=')
                .ok_or_else(|| anyhow!("{w:?}: expected FIELD=VALUE"))?;
            let name = name.trim();
            f.value(&format!("{flag} {name}"), field(name)?, negate, value)?;
        }
    }
    Ok(f.build()?)
}

fn strings<T: ToString>(v: &[T]) -> Vec<String> {
    v.iter().map(ToString::to_string).collect()
}

fn fmt_split(by: &[(String, u64)]) -> String {
    by.iter()
        .map(|(k, n)| format!("{k}={n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn write_counts(
    out: &mut impl Write,
    format: &str,
    name: &str,
    counts: &[(String, u64)],
) -> anyhow::Result<()> {
    match format {
        "ndjson" => {
            for (k, n) in counts {
                writeln!(out, "{}", serde_json::json!({ name: k, "count": n }))?;
            }
        }
        "csv" => {
            writeln!(out, "{name},count")?;
            for (k, n) in counts {
                writeln!(out, "{},{n}", csv_field(k))?;
            }
        }
        _ => {
            let w = counts
                .iter()
                .map(|(k, _)| k.len())
                .max()
                .unwrap_or(0)
                .max(name.len());
            writeln!(out, "{name:<w$}  count")?;
            for (k, n) in counts {
                writeln!(out, "{k:<w$}  {n}")?;
            }
        }
    }
    Ok(())
}

fn write_page(
    out: &mut impl Write,
    format: &str,
    page: &Page,
    catalogs: &Catalogs,
) -> anyhow::Result<()> {
    let mut line = Vec::with_capacity(1024);
    match format {
        "ndjson" => {
            for (seq, e) in &page.items {
                line.clear();
                e.write_json(*seq, &mut line);
                line.push(b'\n');
                out.write_all(&line)?;
            }
        }
        "csv" => {
            Event::write_csv_header(&mut line);
            for (seq, e) in &page.items {
                e.write_csv(*seq, &mut line);
            }
            out.write_all(&line)?;
        }
        _ => write_table(out, page, catalogs)?,
    }
    match (&page.next_cursor, format) {
        (Some(c), "table") => writeln!(out, "next cursor: {c}")?,
        (Some(c), _) => eprintln!("next cursor: {c}"),
        (None, _) => {}
    }
    if let Some(c) = &page.prev_cursor {
        if format == "table" {
            writeln!(out, "prev cursor: {c}")?;
        } else {
            eprintln!("prev cursor: {c}");
        }
    }
    Ok(())
}

fn write_table(out: &mut impl Write, page: &Page, catalogs: &Catalogs) -> anyhow::Result<()> {
    let header = [
        "seq",
        "created_at",
        "code",
        "type",
        "action",
        "status",
        "actor",
        "ip",
    ];
    let rows: Vec<[String; 8]> = page
        .items
        .iter()
        .map(|(seq, e)| table_row(*seq, e, catalogs))
        .collect();
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
    };
    writeln!(out, "{}", line(header.to_vec()).trim_end())?;
    for r in &rows {
        writeln!(
            out,
            "{}",
            line(r.iter().map(String::as_str).collect()).trim_end()
        )?;
    }
    Ok(())
}

fn table_row(seq: u64, e: &Event, catalogs: &Catalogs) -> [String; 8] {
    let mut created = String::new();
    e.created_at.write_rfc3339(&mut created);
    let code = e.int(IntField::EventCode);
    let type_name = e
        .text(TextField::EventType)
        .map(str::to_string)
        .or_else(|| {
            code.and_then(|c| catalogs.resolve(c, e.text(TextField::Source)))
                .map(|entry| entry.name.clone())
        });
    let text = |f| e.text(f).unwrap_or("").to_string();
    [
        seq.to_string(),
        created,
        code.map_or_else(String::new, |c| c.to_string()),
        type_name.unwrap_or_default(),
        text(TextField::Action),
        text(TextField::Status),
        text(TextField::ActorId),
        text(TextField::IpAddress),
    ]
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
