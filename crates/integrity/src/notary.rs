//! The store's notary: signs checkpoints of the growing trail, keeps every one in the
//! checkpoint log, never signs one that disagrees with the last (each new tree is proved an
//! extension of the last signed one before it is signed), and answers inclusion and
//! consistency proofs from the tile roots.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use annal_model::encode_record;
use annal_storage::merkle::{empty_root, Hash};
use annal_storage::{Options, Snapshot, StorageError, Store};

use crate::checkpoint::{Checkpoint, NoteSigner, NoteVerifier};
use crate::error::IntegrityError;
use crate::log::{read_log, CheckpointLog, CHECKPOINT_LOG_FILE};
use crate::proof::{consistency_proof, inclusion_proof, verify_consistency, Subtrees};
use crate::tiles::{StoreTree, Tiles, TreeHashes};

/// The signing key kept in a data directory when none is configured.
pub const DATA_KEY_FILE: &str = "checkpoint.key";
/// Its public half, written beside it for auditors.
pub const DATA_PUBLIC_KEY_FILE: &str = "checkpoint.pub";

/// An inclusion proof with the leaf it proves (RFC 6962 `get-entry-and-proof`'s content).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InclusionProof {
    /// The event's seq.
    pub leaf_index: u64,
    /// The tree the proof is for.
    pub tree_size: u64,
    /// The exact record bytes whose leaf hash is proved.
    pub leaf_input: Vec<u8>,
    /// Sibling hashes, leaf side first.
    pub audit_path: Vec<Hash>,
}

/// The newest signed checkpoint and its note.
#[derive(Clone, Debug)]
pub struct Signed {
    /// What was signed.
    pub checkpoint: Checkpoint,
    /// The signed note, as served.
    pub note: Arc<str>,
    /// When it was signed, as near as this process knows: for a note read from the log at
    /// open (or adopted from a primary's log), when the log was last written.
    pub at: SystemTime,
}

/// When the checkpoint log of `dir` was last written (the epoch if it cannot be read).
fn log_written_at(dir: &Path) -> SystemTime {
    std::fs::metadata(dir.join(CHECKPOINT_LOG_FILE))
        .and_then(|m| m.modified())
        .unwrap_or(UNIX_EPOCH)
}

struct State {
    /// The log this notary appends to; None when it adopts another's notes.
    log: Option<CheckpointLog>,
    tiles: Tiles,
    latest: Option<Signed>,
    /// Adopting: the notes of the log newer than `latest`, as last read.
    pending: Vec<crate::log::StoredNote>,
    /// Adopting: length and modification time of the log when last read.
    seen: Option<(u64, std::time::SystemTime)>,
}

/// Where a notary's checkpoints come from.
enum Source {
    /// It signs them with this key.
    Signs(Box<NoteSigner>),
    /// It signs nothing: it adopts the notes that another process (a read replica's primary)
    /// signed into the checkpoint log of `dir`, once the store holds their trees.
    Adopts {
        /// The data directory, whose `checkpoint.pub` (once there) the notes must be
        /// signed with.
        dir: PathBuf,
    },
}

/// Signs (or adopts) checkpoints and proves for one store.
pub struct Notary {
    source: Source,
    origin: String,
    state: Mutex<State>,
}

/// Notes of another's checkpoint log held until the store reaches their size, at most (the
/// newest are kept: a replica far behind adopts the newest note it reaches).
const PENDING_NOTES_MAX: usize = 1 << 16;

impl Notary {
    /// Opens the notary of data directory `dir` at `snap`: reads the checkpoint log and
    /// refuses a store that no longer holds the last signed tree (fewer events, or another
    /// root at that size).
    pub fn open(
        dir: &Path,
        signer: NoteSigner,
        origin: &str,
        snap: &Snapshot,
    ) -> Result<Notary, IntegrityError> {
        let (log, notes) = CheckpointLog::open(dir)?;
        let mut tiles = Tiles::open(dir)?;
        tiles.catch_up(snap)?;
        let latest = match notes.into_iter().last() {
            None => None,
            Some(stored) => {
                let cp = &stored.checkpoint;
                let place = format!("{CHECKPOINT_LOG_FILE} offset {}", stored.offset);
                if cp.size > snap.end() {
                    return Err(IntegrityError::Disagrees(format!(
                        "{place} signed {} events, the store holds {}: events {}..{} are missing",
                        cp.size,
                        snap.end(),
                        snap.end(),
                        cp.size
                    )));
                }
                let root = match cp.size {
                    0 => empty_root(),
                    size => StoreTree::new(snap, &tiles.hashes()).subtree(0, size)?,
                };
                if root != cp.root {
                    return Err(IntegrityError::Disagrees(format!(
                        "{place} signed a root for the first {} events that the stored events do not give: they were altered (run `annal verify`)",
                        cp.size
                    )));
                }
                Some(Signed {
                    checkpoint: cp.clone(),
                    note: stored.note.into(),
                    at: log_written_at(dir),
                })
            }
        };
        Ok(Notary {
            source: Source::Signs(Box::new(signer)),
            origin: origin.to_string(),
            state: Mutex::new(State {
                log: Some(log),
                tiles,
                latest,
                pending: Vec::new(),
                seen: None,
            }),
        })
    }

    /// A notary that signs nothing, for a read replica whose data directory `dir` receives
    /// the primary's checkpoint log (and its public key, [`DATA_PUBLIC_KEY_FILE`]): its
    /// newest checkpoint is the newest note of that log whose tree the store holds, adopted
    /// only once its signature (when the key is there) and its root (always) check against
    /// the store. [`Notary::sign`] adopts instead of signing.
    pub fn adopting(dir: &Path, snap: &Snapshot) -> Result<Notary, IntegrityError> {
        let notary = Notary {
            source: Source::Adopts {
                dir: dir.to_path_buf(),
            },
            origin: String::new(),
            state: Mutex::new(State {
                log: None,
                tiles: Tiles::open(dir)?,
                latest: None,
                pending: Vec::new(),
                seen: None,
            }),
        };
        notary.sign(snap)?;
        Ok(notary)
    }

    /// True when this notary adopts another's checkpoints instead of signing.
    pub fn adopts(&self) -> bool {
        matches!(self.source, Source::Adopts { .. })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while signing leaves no half-written state behind: the log is written
        // before `latest` changes, so the state stays usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The public key auditors check signatures with (None: an adopting notary that has
    /// not read one yet).
    pub fn verifier(&self) -> Option<NoteVerifier> {
        match &self.source {
            Source::Signs(signer) => Some(signer.verifier()),
            Source::Adopts { dir, .. } => read_verifier(dir),
        }
    }

    /// The newest signed checkpoint.
    pub fn latest(&self) -> Option<Signed> {
        self.state().latest.clone()
    }

    /// Signs a checkpoint of `snap` if the trail grew since the last one (which it must
    /// extend), appends it to the log (synced) and returns the newest checkpoint.
    pub fn sign(&self, snap: &Snapshot) -> Result<Option<Signed>, IntegrityError> {
        let mut st = self.state();
        let signer = match &self.source {
            Source::Signs(signer) => signer,
            Source::Adopts { dir } => {
                return adopt(&mut st, dir, read_verifier(dir).as_ref(), snap);
            }
        };
        let size = snap.end();
        // The first checkpoint may be of the empty tree (C2SP allows size 0), so a fresh
        // store has a signed head from its first start; after that only growth is signed.
        if st
            .latest
            .as_ref()
            .is_some_and(|l| l.checkpoint.size >= size)
        {
            return Ok(st.latest.clone());
        }
        let root = if size == 0 {
            empty_root()
        } else {
            st.tiles.catch_up(snap)?;
            StoreTree::new(snap, &st.tiles.hashes()).subtree(0, size)?
        };
        // Every tree extends the empty one: a consistency proof starts at size 1.
        if let Some(last) = st.latest.as_ref().filter(|l| l.checkpoint.size > 0) {
            let hashes = st.tiles.hashes();
            let mut tree = StoreTree::new(snap, &hashes);
            let (first, old_root) = (last.checkpoint.size, last.checkpoint.root);
            let proof = consistency_proof(&mut tree, first, size)?;
            if !verify_consistency(first, size, &old_root, &root, &proof) {
                return Err(IntegrityError::Disagrees(format!(
                    "the tree of {size} events does not extend the signed tree of {first}"
                )));
            }
        }
        let checkpoint = Checkpoint {
            origin: self.origin.clone(),
            size,
            root,
        };
        let note = signer.sign(&checkpoint);
        if let Some(log) = st.log.as_mut() {
            log.append(&note)?;
        }
        let signed = Signed {
            checkpoint,
            note: note.into(),
            at: SystemTime::now(),
        };
        st.latest = Some(signed.clone());
        Ok(Some(signed))
    }

    /// Tile roots and kept hashes caught up with `snap`, shared out so proofs don't hold
    /// the lock.
    pub fn tiles(&self, snap: &Snapshot) -> Result<TreeHashes, IntegrityError> {
        let mut st = self.state();
        st.tiles.catch_up(snap)?;
        Ok(st.tiles.hashes())
    }

    /// Takes the hashes kept of pruned events after a prune record was written to the
    /// lifecycle log of `dir` (before the segments go, so proofs never miss them).
    pub fn reload_kept(&self, dir: &Path) -> Result<(), IntegrityError> {
        let kept = crate::kept::Kept::read(dir)?;
        self.state().tiles.set_kept(kept);
        Ok(())
    }

    /// The inclusion proof of event `seq` in the tree of the first `size` events.
    pub fn inclusion(
        &self,
        snap: &Snapshot,
        seq: u64,
        size: u64,
    ) -> Result<InclusionProof, IntegrityError> {
        store_inclusion(snap, &self.tiles(snap)?, seq, size)
    }

    /// The consistency proof from the tree of `first` events to that of `second`.
    pub fn consistency(
        &self,
        snap: &Snapshot,
        first: u64,
        second: u64,
    ) -> Result<Vec<Hash>, IntegrityError> {
        store_consistency(snap, &self.tiles(snap)?, first, second)
    }
}

/// The public key in `dir`'s [`DATA_PUBLIC_KEY_FILE`], if it is there and reads.
fn read_verifier(dir: &Path) -> Option<NoteVerifier> {
    let text = std::fs::read_to_string(dir.join(DATA_PUBLIC_KEY_FILE)).ok()?;
    NoteVerifier::from_text(&text).ok()
}

/// Adopts the newest note of `dir`'s checkpoint log whose tree `snap` holds, after checking
/// its signature with `verifier` (when there is one) and its root against the store.
fn adopt(
    st: &mut State,
    dir: &Path,
    verifier: Option<&NoteVerifier>,
    snap: &Snapshot,
) -> Result<Option<Signed>, IntegrityError> {
    let path = dir.join(CHECKPOINT_LOG_FILE);
    let seen = std::fs::metadata(&path)
        .ok()
        .map(|m| (m.len(), m.modified().unwrap_or(UNIX_EPOCH)));
    if seen != st.seen {
        // The follower replaces the whole file (a rename), so it is read again whole.
        let adopted = st.latest.as_ref().map_or(0, |l| l.checkpoint.size);
        let notes = read_log(&path)?.notes;
        let newer: Vec<_> = notes
            .into_iter()
            .filter(|n| n.checkpoint.size > adopted)
            .collect();
        let skip = newer.len().saturating_sub(PENDING_NOTES_MAX);
        st.pending = newer.into_iter().skip(skip).collect();
        st.seen = seen;
    }
    let end = snap.end();
    let Some(at) = st.pending.iter().rposition(|n| n.checkpoint.size <= end) else {
        return Ok(st.latest.clone());
    };
    let stored = st.pending[at].clone();
    let place = format!("{CHECKPOINT_LOG_FILE} offset {}", stored.offset);
    let cp = match verifier {
        Some(v) => v.verify(&stored.note).map_err(|e| {
            IntegrityError::Disagrees(format!(
                "{place} is not signed by {}: {e}",
                DATA_PUBLIC_KEY_FILE
            ))
        })?,
        None => stored.checkpoint.clone(),
    };
    let root = match cp.size {
        0 => empty_root(),
        size => {
            st.tiles.catch_up(snap)?;
            StoreTree::new(snap, &st.tiles.hashes()).subtree(0, size)?
        }
    };
    if root != cp.root {
        return Err(IntegrityError::Disagrees(format!(
            "{place} signed a root for the first {} events that this store's events do not give",
            cp.size
        )));
    }
    st.pending.drain(..=at);
    st.latest = Some(Signed {
        checkpoint: cp,
        note: stored.note.into(),
        at: st.seen.map_or_else(|| log_written_at(dir), |(_, at)| at),
    });
    Ok(st.latest.clone())
}

/// The inclusion proof of event `seq` in the tree of the first `size` events of `snap`, with
/// the tile roots and kept hashes `tiles`.
pub fn store_inclusion(
    snap: &Snapshot,
    tiles: &TreeHashes,
    seq: u64,
    size: u64,
) -> Result<InclusionProof, IntegrityError> {
    // The leaf first: "leaf N is not in a tree of M leaves" also answers the common case of a
    // seq past the newest checkpoint, including the empty tree's.
    if seq >= size {
        return Err(IntegrityError::LeafOutOfRange { index: seq, size });
    }
    check_size(snap, size)?;
    let event = snap.get(seq).map_err(|e| match e {
        StorageError::Pruned { seq, start } => IntegrityError::Pruned { seq, start },
        e => IntegrityError::Source(e.to_string()),
    })?;
    StoreTree::new(snap, tiles).inclusion(seq, &event, size)
}

impl StoreTree<'_> {
    /// The inclusion proof of `event`, stored at `seq`, in the tree of the first `size`
    /// events. Proofs of neighbouring events made with one tree share its leaf reads.
    pub fn inclusion(
        &mut self,
        seq: u64,
        event: &annal_model::Event,
        size: u64,
    ) -> Result<InclusionProof, IntegrityError> {
        let audit_path = inclusion_proof(self, seq, size)?;
        let mut leaf_input = Vec::new();
        encode_record(event, &mut leaf_input);
        Ok(InclusionProof {
            leaf_index: seq,
            tree_size: size,
            leaf_input,
            audit_path,
        })
    }
}

/// The consistency proof from the tree of `first` events of `snap` to that of `second`.
pub fn store_consistency(
    snap: &Snapshot,
    tiles: &TreeHashes,
    first: u64,
    second: u64,
) -> Result<Vec<Hash>, IntegrityError> {
    check_size(snap, second)?;
    consistency_proof(&mut StoreTree::new(snap, tiles), first, second)
}

fn check_size(snap: &Snapshot, size: u64) -> Result<(), IntegrityError> {
    if size > snap.end() || size == 0 {
        return Err(IntegrityError::SizeOutOfRange {
            size,
            end: snap.end(),
        });
    }
    Ok(())
}

/// The origin line of the checkpoints of data directory `dir`: `configured` when given; else
/// the origin of the newest checkpoint the store signed (auditors hold checkpoints that name
/// it, so it never changes by itself, not even when the directory moves); else one made from
/// this machine's host name and the directory's absolute path, schema-less and URL-like as
/// C2SP tlog-checkpoint asks (`db-01/var/lib/annal`).
pub fn checkpoint_origin(dir: &Path, configured: Option<&str>) -> Result<String, IntegrityError> {
    if let Some(origin) = configured {
        return Ok(origin.to_string());
    }
    let log = read_log(&dir.join(CHECKPOINT_LOG_FILE))?;
    match log.notes.last() {
        Some(newest) => Ok(newest.checkpoint.origin.clone()),
        None => Ok(derived_origin(dir)),
    }
}

/// `host/absolute/path/of/dir`, with spaces, `+` and control characters (which an origin may
/// not hold) replaced by `-`.
fn derived_origin(dir: &Path) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    let path = dir
        .canonicalize()
        .or_else(|_| std::path::absolute(dir))
        .unwrap_or_else(|_| dir.to_path_buf());
    let path = path.to_string_lossy();
    let path = path.trim_matches('/');
    let origin = if path.is_empty() {
        host
    } else {
        format!("{host}/{path}")
    };
    origin
        .chars()
        .map(|c| match c {
            '+' => '-',
            c if c.is_whitespace() || c.is_control() => '-',
            c => c,
        })
        .collect()
}

/// A checkpoint signing key, as [`signing_key`] chose it.
pub struct SigningKey {
    /// The key.
    pub signer: NoteSigner,
    /// Set when no key existed and one was made now. Whoever made it should say so and show
    /// the public key: auditors need it to check the checkpoints.
    pub made: Option<MadeKey>,
}

/// A key made at first use.
#[derive(Clone, Debug)]
pub struct MadeKey {
    /// The private key's file (mode 0600).
    pub private_file: PathBuf,
    /// The file of its public half, for auditors.
    pub public_file: PathBuf,
    /// The public key, as auditors give it.
    pub public_key: String,
}

/// annal's key policy for the notary of data directory `dir`: the key file `key` when one is
/// configured (it must exist), else the directory's [`DATA_KEY_FILE`], made at first use with
/// [`DATA_PUBLIC_KEY_FILE`] beside it. A made key is named by [`key_name`] of `origin`.
pub fn signing_key(
    dir: &Path,
    key: Option<&Path>,
    origin: &str,
) -> Result<SigningKey, IntegrityError> {
    let (signer, made) = load_or_create_key(dir, key, key_name(origin))?;
    let made = made.then(|| MadeKey {
        private_file: dir.join(DATA_KEY_FILE),
        public_file: dir.join(DATA_PUBLIC_KEY_FILE),
        public_key: signer.verifier().to_text(),
    });
    Ok(SigningKey { signer, made })
}

/// The newest checkpoint of data directory `dir` (opened with `opts`), as a signed note: a checkpoint of the whole
/// trail is signed first if the trail grew since the last (with the key [`signing_key`]
/// picks; `made` hears at once of a key made, so that it is announced even if signing then
/// fails; `origin` as [`checkpoint_origin`] resolves it). While another process (a server)
/// holds the store, the newest checkpoint in the log is returned instead.
pub fn newest_checkpoint(
    dir: &Path,
    opts: Options,
    key: Option<&Path>,
    origin: Option<&str>,
    made: &dyn Fn(&MadeKey),
) -> Result<Arc<str>, IntegrityError> {
    match Store::open(dir, opts) {
        Ok(store) => {
            let origin = &checkpoint_origin(dir, origin)?;
            let key = signing_key(dir, key, origin)?;
            if let Some(m) = &key.made {
                made(m);
            }
            let snap = store.snapshot();
            let signed = Notary::open(dir, key.signer, origin, &snap)?.sign(&snap)?;
            drop(snap);
            store.close()?;
            Ok(signed.ok_or(IntegrityError::EmptyTrail)?.note)
        }
        Err(StorageError::Locked(_)) => {
            let log = read_log(&dir.join(CHECKPOINT_LOG_FILE))?;
            let newest = log.notes.into_iter().last();
            let newest = newest.ok_or_else(|| IntegrityError::NothingSigned {
                dir: dir.to_path_buf(),
            })?;
            Ok(newest.note.into())
        }
        Err(source) => Err(IntegrityError::Open {
            dir: dir.to_path_buf(),
            source,
        }),
    }
}

/// The key name for a log called `origin`: key names may hold neither spaces nor '+', so the
/// origin's first run free of those (and of '/') names the key, else `annal`.
pub fn key_name(origin: &str) -> &str {
    origin
        .split(['/', ' ', '+'])
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or("annal")
}

/// The signing key at `key`, or when none is given the data directory's, made on first use
/// (mode 0600, with its public half beside it). Returns the key and whether it was made.
pub fn load_or_create_key(
    dir: &Path,
    key: Option<&Path>,
    name: &str,
) -> Result<(NoteSigner, bool), IntegrityError> {
    let path = key.map_or_else(|| dir.join(DATA_KEY_FILE), Path::to_path_buf);
    let err = |op| {
        let path = path.clone();
        move |source| IntegrityError::File { op, path, source }
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok((NoteSigner::from_private_text(&text)?, false)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && key.is_none() => {
            let public = dir.join(DATA_PUBLIC_KEY_FILE);
            if public.exists() {
                return Err(IntegrityError::PrivateKeyMissing { public });
            }
            let signer = NoteSigner::generate(name)?;
            write_private_key(&path, &signer).map_err(err("create"))?;
            std::fs::write(&public, format!("{}\n", signer.verifier().to_text()))
                .map_err(err("write public key beside"))?;
            Ok((signer, true))
        }
        Err(e) => Err(err("read")(e)),
    }
}

/// Writes a private key to a new file (mode 0600; an existing file is never overwritten).
pub fn write_private_key(path: &Path, signer: &NoteSigner) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    writeln!(f, "{}", signer.to_private_text())?;
    f.sync_all()
}
