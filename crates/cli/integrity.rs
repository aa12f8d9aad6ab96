//! `annal keygen`, `annal checkpoint`, `annal proof`: signing keys, signed checkpoints of the
//! trail, and RFC 6962 proofs with RFC 6962's JSON names.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use annal_integrity::{
    consistency_proof, inclusion_proof, Checkpoint, NoteSigner, StoreTree, Subtrees,
};
use annal_model::encode_record;
use annal_storage::{Options, Store};
use anyhow::{bail, Context};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// Name of the signing key kept in a data directory when no key file is given.
pub const DATA_KEY_FILE: &str = "checkpoint.key";

/// Proof commands.
#[derive(clap::Subcommand)]
pub enum ProofCommand {
    /// The audit path of one event in the tree of the first `size` events.
    Inclusion {
        /// Data directory.
        #[arg(long, default_value = crate::DEFAULT_DATA_DIR)]
        data: PathBuf,
        /// The event's seq (its leaf index).
        #[arg(long)]
        seq: u64,
        /// Tree size (default: the whole trail).
        #[arg(long)]
        size: Option<u64>,
    },
    /// The consistency proof between two tree sizes.
    Consistency {
        /// Data directory.
        #[arg(long, default_value = crate::DEFAULT_DATA_DIR)]
        data: PathBuf,
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
    write_new_private(out, &signer.to_private_text())?;
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

fn write_new_private(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| {
            format!(
                "create {} (an existing key is never overwritten)",
                path.display()
            )
        })?;
    writeln!(f, "{text}")?;
    f.sync_all()?;
    Ok(())
}

/// The signing key: `key` if given, else the data directory's, made on first use.
fn signer(data: &Path, key: Option<&Path>, name: &str) -> anyhow::Result<NoteSigner> {
    let path = key.map_or_else(|| data.join(DATA_KEY_FILE), Path::to_path_buf);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(NoteSigner::from_private_text(&text)
            .with_context(|| format!("read key {}", path.display()))?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && key.is_none() => {
            let signer = NoteSigner::generate(name)?;
            write_new_private(&path, &signer.to_private_text())?;
            eprintln!(
                "annal: made signing key {}; its public key: {}",
                path.display(),
                signer.verifier().to_text()
            );
            Ok(signer)
        }
        Err(e) => Err(e).with_context(|| format!("read key {}", path.display())),
    }
}

/// `annal checkpoint`: the signed checkpoint of the whole trail as it is now.
pub fn checkpoint(
    data: &Path,
    key: Option<&Path>,
    origin: &str,
    out: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let store = Store::open(data, Options::default())?;
    let signer = signer(data, key, origin_key_name(origin))?;
    let snap = store.snapshot();
    let size = snap.end();
    if size == 0 {
        bail!("the trail is empty: nothing to checkpoint");
    }
    let mut tree = StoreTree::new(&snap, size)?;
    let root = tree.subtree(0, size)?;
    let note = signer.sign(&Checkpoint {
        origin: origin.to_string(),
        size,
        root,
    });
    drop(snap);
    store.close()?;
    match out {
        Some(p) => std::fs::write(p, &note).with_context(|| format!("write {}", p.display()))?,
        None => print!("{note}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Key names may not hold spaces or '+': the origin's first such-free run names the key.
fn origin_key_name(origin: &str) -> &str {
    origin
        .split(['/', ' ', '+'])
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or("annal")
}

/// The open store, its snapshot, and the tree size `size` asks for (at most the trail's
/// length; all of it when not given).
fn trail(
    data: &Path,
    size: Option<u64>,
    flag: &str,
) -> anyhow::Result<(Store, annal_storage::Snapshot, u64)> {
    let store = Store::open(data, Options::default())?;
    let snap = store.snapshot();
    let size = size.unwrap_or(snap.end());
    if size > snap.end() {
        bail!("{flag} {size}: the trail holds {} events", snap.end());
    }
    Ok((store, snap, size))
}

/// `annal proof …`: prints the proof as JSON with RFC 6962's names.
pub fn proof(cmd: ProofCommand) -> anyhow::Result<ExitCode> {
    let b64 = |hashes: Vec<[u8; 32]>| -> Vec<String> {
        hashes.iter().map(|h| STANDARD.encode(h)).collect()
    };
    let json = match cmd {
        ProofCommand::Inclusion { data, seq, size } => {
            let (_store, snap, size) = trail(&data, size, "--size")?;
            let mut tree = StoreTree::new(&snap, size)?;
            let path = inclusion_proof(&mut tree, seq, size)?;
            let mut record = Vec::new();
            encode_record(&snap.get(seq)?, &mut record);
            serde_json::json!({
                "leaf_index": seq,
                "tree_size": size,
                "leaf_input": STANDARD.encode(&record),
                "audit_path": b64(path),
            })
        }
        ProofCommand::Consistency { data, from, to } => {
            let (_store, snap, to) = trail(&data, to, "--to")?;
            let mut tree = StoreTree::new(&snap, to)?;
            let proof = consistency_proof(&mut tree, from, to)?;
            serde_json::json!({"first": from, "second": to, "consistency": b64(proof)})
        }
    };
    println!("{}", serde_json::to_string_pretty(&json)?);
    Ok(ExitCode::SUCCESS)
}
