//! `annal export`: the events of a time range as NDJSON, or as a proof bundle that an auditor
//! checks offline with `annal verify-bundle`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use annal_index::IndexOptions;
use annal_integrity::{
    checkpoint_origin, signing_key, verify_bundle, BundleWriter, Notary, StoreTree,
};
use annal_model::Catalogs;
use annal_query::{Engine, Filter};
use annal_storage::Store;
use anyhow::Context;

use crate::integrity::read_public_key;
use crate::query::TimeRange;

/// Arguments of `annal export`.
#[derive(clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    place: crate::place::DataArgs,
    #[command(flatten)]
    range: TimeRange,
    /// Write a proof bundle to this new directory (events, their inclusion proofs and a
    /// checkpoint signed now) instead of NDJSON to standard output.
    #[arg(long, value_name = "OUT")]
    with_proofs: Option<PathBuf>,
    /// Private key signing the bundle's checkpoint (default: DATA/checkpoint.key).
    #[arg(long)]
    key: Option<PathBuf>,
    /// The checkpoint's origin (default: the one the store signed with, else host/data path).
    #[arg(long)]
    origin: Option<String>,
}

pub fn run(args: &ExportArgs) -> anyhow::Result<ExitCode> {
    let (from, to) = args.range.bounds()?;
    let filter = Filter {
        from,
        to,
        ..Filter::default()
    };
    let (data, _, opts, _) = args.place.open()?;
    let data = &data;
    let store = Store::open(data, opts).with_context(|| format!("opening {}", data.display()))?;
    let signing = match &args.with_proofs {
        Some(out) => {
            let origin = checkpoint_origin(data, args.origin.as_deref())?;
            let key = signing_key(data, args.key.as_deref(), &origin)?;
            let snap = store.snapshot();
            let notary = Notary::open(data, key.signer, &origin, &snap)?;
            let signed = notary
                .sign(&snap)?
                .context("the trail is empty: nothing to export")?;
            let tiles = notary.tiles(&snap)?;
            Some((out.clone(), snap, signed, tiles))
        }
        None => None,
    };
    let engine = Engine::new(store, IndexOptions::default(), Catalogs::builtin())?;
    let n = match signing {
        None => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let mut line = Vec::with_capacity(2048);
            let mut n = 0u64;
            engine.for_each(&filter, |seq, e| -> anyhow::Result<()> {
                line.clear();
                e.write_json(seq, &mut line);
                line.push(b'\n');
                out.write_all(&line)?;
                n += 1;
                Ok(())
            })?;
            out.flush()?;
            n
        }
        Some((out, snap, signed, tiles)) => {
            let size = signed.checkpoint.size;
            let mut bundle = BundleWriter::create(&out, &signed)?;
            let mut tree = StoreTree::new(&snap, &tiles);
            engine.for_each(&filter, |seq, e| -> anyhow::Result<()> {
                if seq < size {
                    bundle.add(e, &tree.inclusion(seq, e, size)?)?;
                }
                Ok(())
            })?;
            let n = bundle.finish(args.range.from.clone(), args.range.to.clone())?;
            eprintln!(
                "annal export: {n} events with inclusion proofs to the checkpoint of {size} events in {}",
                out.display()
            );
            n
        }
    };
    engine.close()?;
    if args.with_proofs.is_none() {
        eprintln!("annal export: {n} events");
    }
    Ok(ExitCode::SUCCESS)
}

/// `annal verify-bundle`: checks a proof bundle offline against a public key.
pub fn verify(dir: &Path, public_key: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let key = read_public_key(public_key)?;
    let report = verify_bundle(dir, &key)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report.to_json(dir))?);
    } else {
        print!("{}", report.text(dir, key.name()));
    }
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
