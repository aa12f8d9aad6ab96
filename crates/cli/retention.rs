//! `annal prune` and `annal hold …`: retention by age and legal holds, on a data directory no
//! server holds (a running server prunes on its own schedule and has the same operations as
//! admin routes).

use std::process::ExitCode;

use annal_index::IndexOptions;
use annal_model::{Catalogs, Timestamp};
use annal_query::Engine;
use annal_retention::{Hold, HoldSpec, PrunePlan, Retention};
use annal_storage::Store;
use anyhow::{anyhow, Context};

use crate::place::DataArgs;

/// Arguments of `annal prune`.
#[derive(clap::Args)]
pub struct PruneArgs {
    #[command(flatten)]
    place: DataArgs,
    /// Say what would be removed; remove nothing.
    #[arg(long)]
    dry_run: bool,
    /// Keep this many days instead of the configuration's `retention_days`.
    #[arg(long, value_name = "DAYS")]
    retention_days: Option<u32>,
    /// Why, for the lifecycle log and the trail's own event.
    #[arg(long, default_value = "")]
    reason: String,
}

/// `annal hold …`.
#[derive(clap::Subcommand)]
pub enum HoldCommand {
    /// Place a legal hold: events created in FROM..TO (optionally narrowed by --filter) are
    /// not pruned until it is released.
    Add {
        #[command(flatten)]
        place: DataArgs,
        /// Start of the held range of created_at (a date or an RFC 3339 time; inclusive).
        #[arg(long)]
        from: String,
        /// End of the held range (exclusive).
        #[arg(long)]
        to: String,
        /// Why (the matter or case); recorded in the lifecycle log and the trail.
        #[arg(long)]
        reason: String,
        /// Narrow the hold with the query API's filters, as a query string
        /// (`actor_id=alice&event_type=LoginFailed`, `not.status=success`).
        #[arg(long, default_value = "")]
        filter: String,
    },
    /// List every legal hold, active and released.
    List {
        #[command(flatten)]
        place: DataArgs,
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Release a legal hold.
    Release {
        #[command(flatten)]
        place: DataArgs,
        /// The hold's id (hold-1).
        id: String,
        /// Why it is released.
        #[arg(long)]
        reason: String,
    },
}

/// Who runs the command, for the record: the operating-system user.
fn operator() -> String {
    let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME"));
    format!("cli user {}", user.unwrap_or_else(|_| "unknown".into()))
}

/// The engine and retention of the store `place` names.
fn open(place: &DataArgs) -> anyhow::Result<(Engine, Retention, annal_http::Config)> {
    let (data, config, opts, _) = place.open()?;
    let store = Store::open(&data, opts).with_context(|| {
        format!(
            "opening {} (a server that holds it prunes on its own schedule; use its /v1/retention and /v1/holds routes)",
            data.display()
        )
    })?;
    let engine = Engine::new(store, IndexOptions::default(), Catalogs::builtin())?;
    let retention = Retention::open(&engine)
        .with_context(|| format!("opening the lifecycle log of {}", data.display()))?;
    Ok((engine, retention, config))
}

fn print_plan(plan: &PrunePlan, removed: bool) {
    let verb = if removed { "pruned" } else { "would prune" };
    if plan.segments.is_empty() {
        println!(
            "nothing to prune ({}): the trail starts at seq {}",
            plan.policy, plan.from
        );
    } else {
        println!(
            "{verb} seqs {}..{}: {} events in {} sealed segments, {} bytes ({}, events created before {})",
            plan.from,
            plan.to,
            plan.events(),
            plan.segments.len(),
            plan.bytes,
            plan.policy,
            Timestamp(plan.cutoff.0)
        );
        for s in &plan.segments {
            let (lo, hi) = s.time_range.unwrap_or((0, 0));
            println!(
                "  {}  seqs {}..{}  created {} .. {}",
                s.path.display(),
                s.base,
                s.base + s.count,
                Timestamp(lo),
                Timestamp(hi)
            );
        }
    }
    if let Some(why) = &plan.kept_because {
        println!("kept from seq {}: {why}", plan.to);
    }
}

/// `annal prune`.
pub fn prune(args: &PruneArgs) -> anyhow::Result<ExitCode> {
    let (engine, retention, config) = open(&args.place)?;
    let days = args.retention_days.or(config.retention_days).ok_or_else(|| {
        anyhow!("no retention window: give --retention-days DAYS or set retention_days in the configuration")
    })?;
    if args.dry_run {
        print_plan(&retention.plan(&engine, days, Timestamp::now())?, false);
    } else {
        let (plan, done) = retention.prune(&engine, days, &operator(), &args.reason, &|| Ok(()))?;
        print_plan(&plan, !done.is_empty());
        if !done.is_empty() && config.object_store.is_some() {
            println!("(the bucket drops the pruned segments at the next upload: `annal sync` or the server's uploader)");
        }
    }
    engine.close()?;
    Ok(ExitCode::SUCCESS)
}

fn hold_line(h: &Hold) -> String {
    let p = &h.placed;
    let state = match &h.released {
        None => "active".to_string(),
        Some(r) => format!("released {} by {} ({})", Timestamp(r.at_ns), r.by, r.reason),
    };
    format!(
        "{}  {}  created {} .. {}  filter {:?}  reason {:?}  placed {} by {}",
        p.id,
        state,
        Timestamp(p.from_ns),
        Timestamp(p.to_ns),
        p.filter,
        p.reason,
        Timestamp(p.at_ns),
        p.by
    )
}

/// `annal hold …`.
pub fn hold(cmd: &HoldCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        HoldCommand::Add {
            place,
            from,
            to,
            reason,
            filter,
        } => {
            let time = |flag: &str, v: &str| {
                Timestamp::parse_bound(v).map_err(|e| anyhow!("--{flag} {v:?}: {e}"))
            };
            let spec = HoldSpec {
                from: time("from", from)?,
                to: time("to", to)?,
                filter: filter.clone(),
                reason: reason.clone(),
                by: operator(),
            };
            let (engine, retention, _) = open(place)?;
            let placed = retention.place_hold(&engine, &spec)?;
            println!(
                "placed {}: events created {} .. {}{} are kept until it is released",
                placed.id,
                Timestamp(placed.from_ns),
                Timestamp(placed.to_ns),
                if filter.is_empty() {
                    String::new()
                } else {
                    format!(" matching {filter}")
                }
            );
            engine.close()?;
        }
        HoldCommand::List { place, json } => {
            let (engine, retention, _) = open(place)?;
            for h in retention.holds() {
                if *json {
                    let record = annal_integrity::LifecycleRecord::Hold(h.placed.clone());
                    let mut v = serde_json::to_value(&record)?;
                    v["active"] = h.active().into();
                    if let Some(r) = &h.released {
                        v["released"] = serde_json::to_value(r)?;
                    }
                    println!("{v}");
                } else {
                    println!("{}", hold_line(&h));
                }
            }
            engine.close()?;
        }
        HoldCommand::Release { place, id, reason } => {
            let (engine, retention, _) = open(place)?;
            retention.release_hold(&engine, id, reason, &operator())?;
            println!("released {id}");
            engine.close()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
