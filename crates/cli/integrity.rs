//! `annal keygen`, `annal checkpoint`, `annal proof`: signing keys, signed checkpoints of the
//! trail, and RFC 6962 proofs with RFC 6962's JSON names.

use std::path::Path;
use std::process::ExitCode;

use annal_integrity::json::{ConsistencyJson, InclusionJson};
use annal_integrity::{
    newest_checkpoint, store_consistency, store_inclusion, write_private_key, MadeKey, NoteSigner,
    NoteVerifier, Tiles, TreeHashes,
};
use annal_storage::Store;
use anyhow::{bail, Context};

/// Proof commands.
#[derive(clap::Subcommand)]
pub enum ProofCommand {
    /// The audit path of one event in the tree of the first `size` events.
    Inclusion {
        #[command(flatten)]
        place: crate::place::DataArgs,
        /// The event's seq (its leaf index).
        #[arg(long)]
        seq: u64,
        /// Tree size (default: the whole trail).
        #[arg(long)]
        size: Option<u64>,
    },
    /// The consistency proof between two tree sizes.
    Consistency {
        #[command(flatten)]
        place: crate::place::DataArgs,
        /// The older size.
        #[arg(long)]
        from: u64,
        /// The newer size (default: the whole trail).
        #[arg(long)]
        to: Option<u64>,
    },
}

/// Writes a new key pair: the private key to `out` (mode 0600, never overwritten), the
/// public key to `out.pub`; prints the public key.
pub fn keygen(out: &Path, name: &str) -> anyhow::Result<ExitCode> {
    let signer = NoteSigner::generate(name)?;
    write_private_key(out, &signer).with_context(|| {
        format!(
            "create {} (an existing key is never overwritten)",
            out.display()
        )
    })?;
    let public = signer.verifier().to_text();
    let pub_path = out.with_extension("pub");
    std::fs::write(&pub_path, format!("{public}\n"))
        .with_context(|| format!("write {}", pub_path.display()))?;
    println!("{public}");
    eprintln!(
        "private key: {} (keep it secret); public key: {}",
        out.display(),
        pub_path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `annal checkpoint`: signs a checkpoint of the whole trail if it grew since the last one
/// (kept in the data directory's checkpoint log) and writes the newest. While a server holds
/// the store, the newest checkpoint it signed is written instead.
pub fn checkpoint(
    place: &crate::place::DataArgs,
    key: Option<&Path>,
    origin: Option<&str>,
    out: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let (data, config, opts, _) = place.open()?;
    let key = key.or(config.signing_key.as_deref());
    let origin = origin.or(config.origin.as_deref());
    let note = newest_checkpoint(&data, opts, key, origin, &announce_key)?;
    match out {
        Some(p) => {
            std::fs::write(p, note.as_bytes()).with_context(|| format!("write {}", p.display()))?
        }
        None => print!("{note}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Tells the operator of a signing key made on first use, and where its public half is.
pub fn announce_key(made: &MadeKey) {
    eprintln!(
        "annal: made signing key {}; its public key ({}): {}",
        made.private_file.display(),
        made.public_file.display(),
        made.public_key
    )
}

/// The text of file `path`, which holds a `what` named by a flag.
pub fn read_text(path: &Path, what: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("read {what} {}", path.display()))
}

/// The public key in file `path` (a flag's value).
pub fn read_public_key(path: &Path) -> anyhow::Result<NoteVerifier> {
    let text = read_text(path, "public key")?;
    NoteVerifier::from_text(&text).with_context(|| format!("public key {}", path.display()))
}

/// The open store, its snapshot, its tile roots, and the tree size `size` asks for (at most
/// the trail's length; all of it when not given).
fn trail(
    place: &crate::place::DataArgs,
    size: Option<u64>,
    flag: &str,
) -> anyhow::Result<(Store, annal_storage::Snapshot, TreeHashes, u64)> {
    let (data, _, opts, _) = place.open()?;
    let data = &data;
    let store = Store::open(data, opts)?;
    let snap = store.snapshot();
    let size = size.unwrap_or(snap.end());
    if size > snap.end() {
        bail!("{flag} {size}: the trail holds {} events", snap.end());
    }
    let mut tiles = Tiles::open(data)?;
    tiles.catch_up(&snap)?;
    Ok((store, snap, tiles.hashes(), size))
}

/// `annal proof …`: prints the proof as JSON with RFC 6962's names.
pub fn proof(cmd: ProofCommand) -> anyhow::Result<ExitCode> {
    let json = match cmd {
        ProofCommand::Inclusion { place, seq, size } => {
            let (_store, snap, tiles, size) = trail(&place, size, "--size")?;
            serde_json::to_value(InclusionJson::from(&store_inclusion(
                &snap, &tiles, seq, size,
            )?))?
        }
        ProofCommand::Consistency { place, from, to } => {
            let (_store, snap, tiles, to) = trail(&place, to, "--to")?;
            let proof = store_consistency(&snap, &tiles, from, to)?;
            serde_json::to_value(ConsistencyJson::new(from, to, &proof))?
        }
    };
    println!("{}", serde_json::to_string_pretty(&json)?);
    Ok(ExitCode::SUCCESS)
}
