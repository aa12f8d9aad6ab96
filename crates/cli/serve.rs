//! `annal serve`: the HTTP service over a data directory; `annal apikey`: a new API key.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use annal_http::{AppState, Config};
use annal_index::IndexOptions;
use annal_integrity::{checkpoint_origin, signing_key, Notary};
use annal_model::Catalogs;
use annal_query::Engine;
use annal_storage::Store;
use anyhow::Context;

// The read replica's wiring (`--replica`), kept apart from the primary's.
#[path = "replica.rs"]
mod replica;

/// Address served when neither `--listen` nor the configuration names one.
pub const LISTEN_DEFAULT: &str = "127.0.0.1:8080";

/// Arguments of `annal serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// The data directory and the configuration file (TOML: API keys, limits, listen
    /// address, data directory, bucket).
    #[command(flatten)]
    place: crate::place::DataArgs,
    /// Address to listen on (default: the configuration's, else 127.0.0.1:8080).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Fill an empty store with generated events first.
    #[arg(long)]
    demo: bool,
    /// Events `--demo` generates.
    #[arg(long, default_value_t = 200_000)]
    demo_events: u64,
    /// Serve as a read replica of the bucket in the configuration's [object_store]: the data
    /// directory is a local copy fed from the bucket; appends are refused (409).
    #[arg(long, conflicts_with = "demo")]
    replica: bool,
}

pub fn run(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let (data, config) = args.place.resolve()?;
    let listen = match args.listen.or(config.listen) {
        Some(a) => a,
        None => LISTEN_DEFAULT.parse()?,
    };
    if args.replica {
        return replica::serve_replica(&config, &data, listen);
    }
    let (opts, tiered) = crate::place::store_options(&data, &config)?;
    let store = Store::open(&data, opts).with_context(|| format!("opening {}", data.display()))?;
    if args.demo && store.is_empty() {
        println!(
            "Generating {} audit events into {} …",
            args.demo_events,
            data.display()
        );
        let ndjson = crate::ingest::generated_ndjson(annal_gen::GenConfig {
            count: args.demo_events,
            ..Default::default()
        })?;
        annal_ingest::ingest_ndjson(&store, ndjson)?;
        store.wait_sealed()?;
    }
    let notary = open_notary(&data, &config, &store.snapshot())?;
    let engine = Arc::new(Engine::new(
        store,
        IndexOptions::default(),
        Catalogs::builtin(),
    )?);
    let retention = annal_retention::Retention::open(&engine)
        .with_context(|| format!("opening the lifecycle log of {}", data.display()))?;
    let state = AppState::new(engine.clone(), &config)
        .map_err(anyhow::Error::msg)?
        .with_notary(notary)
        .with_retention(retention);
    let uploader = crate::bucket::start_uploader(&data, &config, &engine, tiered)?;
    let state = match (&uploader, &config.object_store) {
        (Some(up), Some(b)) if b.ack == annal_bucket::AckMode::Bucket => {
            state.with_bucket_ack(crate::bucket::ack_of(up, &b.url))
        }
        _ => state,
    };
    let state = match &uploader {
        Some(up) => state.with_bucket_status(crate::bucket::status_of(up)),
        None => state,
    };
    if state.keys.is_empty() {
        eprintln!("annal serve: no API keys configured: development mode, every route open, loopback only");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let served = runtime.block_on(annal_http::serve(
        listen,
        state,
        &config,
        annal_http::shutdown_signal(),
        |addr| {
            use std::io::Write;
            println!(
                "annal serving {} ({} events) on http://{addr}  (console: http://{addr}/ ; API docs: http://{addr}/api/audit/swagger/)",
                data.display(),
                engine.store().len()
            );
            let _ = std::io::stdout().flush();
        },
    ));
    drop(runtime);
    // The uploader's last round ships the tail, then it lets go of the engine.
    drop(uploader);
    served?;
    // Requests in flight have finished; closing the store syncs it.
    match Arc::try_unwrap(engine) {
        Ok(engine) => engine.close()?,
        Err(_) => anyhow::bail!("the store is still in use at shutdown"),
    }
    eprintln!("annal serve: stopped");
    Ok(ExitCode::SUCCESS)
}

/// The notary of `data` under the key policy, announcing a key made at first start. Refuses
/// a store that lost or changed signed events.
pub(crate) fn open_notary(
    data: &std::path::Path,
    config: &Config,
    snap: &annal_storage::Snapshot,
) -> anyhow::Result<Notary> {
    let origin = checkpoint_origin(data, config.origin.as_deref())
        .context("reading the origin of the stored checkpoints")?;
    let key = signing_key(data, config.signing_key.as_deref(), &origin)
        .context("loading the checkpoint signing key")?;
    match &key.made {
        Some(made) => crate::integrity::announce_key(made),
        None => tracing::info!(
            "signing checkpoints with {}",
            key.signer.verifier().to_text()
        ),
    }
    Notary::open(data, key.signer, &origin, snap).with_context(|| {
        format!(
            "{} does not extend the checkpoints it signed; not using it (run `annal verify --data {}`)",
            data.display(),
            data.display()
        )
    })
}

/// `annal apikey`: prints a new random key and the configuration entry that admits it.
pub fn apikey(role: &str, name: &str) -> anyhow::Result<ExitCode> {
    let key = annal_http::generate_key();
    println!("key (give it to the client; it is not stored anywhere): {key}\n");
    println!("{}", annal_http::key_entry_toml(&key, name, role));
    Ok(ExitCode::SUCCESS)
}
