//! `annal restore`: a working data directory from the bucket's newest manifest.

use std::io::Write;
use std::path::Path;

use annal_integrity::{
    audit, AuditOptions, CHECKPOINT_LOG_FILE, DATA_PUBLIC_KEY_FILE, LIFECYCLE_LOG_FILE, TILES_FILE,
};
use annal_storage::{Options, OsFs, Store, TRAIL_START_FILE};

use crate::error::{local, BucketError, Result};
use crate::manifest::{self, ObjectRef};
use crate::remote::Remote;

/// What a restore wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Restored {
    /// The manifest generation restored.
    pub generation: u64,
    /// Acknowledged events in the restored directory.
    pub events: u64,
    /// Objects downloaded and checked.
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Signed checkpoints whose root the restored trail gives.
    pub checkpoints: u64,
}

/// Rebuilds a data directory at `dir` (absent or empty) from `remote`'s newest manifest.
/// Every object is checked against the size and SHA-256 the manifest gives (a missing or
/// changed object fails the restore, naming its key); then the restored directory is
/// audited (every checksum, every Merkle root, every signed checkpoint in the bucket's
/// checkpoint log) and must hold the manifest's events.
pub async fn restore(remote: &Remote, dir: &Path) -> Result<Restored> {
    ensure_empty(dir)?;
    let m = manifest::newest(remote)
        .await?
        .ok_or_else(|| BucketError::Empty {
            prefix: remote.url().to_string(),
        })?;
    let mut done = Restored {
        generation: m.generation,
        ..Restored::default()
    };
    let index_dir = dir.join(annal_index::INDEX_DIR);
    std::fs::create_dir_all(&index_dir).map_err(local("create", &index_dir))?;
    for s in &m.sealed {
        fetch(
            remote,
            &s.segment,
            &dir.join(format!("{:020}.seg", s.base)),
            &mut done,
        )
        .await?;
        if let Some(idx) = &s.index {
            fetch(
                remote,
                idx,
                &dir.join(annal_index::index_file(s.base)),
                &mut done,
            )
            .await?;
        }
    }
    for t in &m.tail {
        let path = dir.join(format!("{:020}.wal", t.base));
        let mut file = std::fs::File::create(&path).map_err(local("create", &path))?;
        for p in &t.parts {
            let bytes = remote.get_checked(&p.object).await?;
            file.write_all(&bytes).map_err(local("write", &path))?;
            done.objects += 1;
            done.bytes += bytes.len() as u64;
        }
        file.sync_all().map_err(local("fsync", &path))?;
    }
    let side = [
        (&m.tiles, TILES_FILE),
        (&m.checkpoints, CHECKPOINT_LOG_FILE),
        (&m.public_key, DATA_PUBLIC_KEY_FILE),
        (&m.trail_start, TRAIL_START_FILE),
        (&m.lifecycle, LIFECYCLE_LOG_FILE),
    ];
    for (obj, name) in side {
        if let Some(obj) = obj {
            fetch(remote, obj, &dir.join(name), &mut done).await?;
        }
    }
    for d in [dir, index_dir.as_path()] {
        std::fs::File::open(d)
            .and_then(|f| f.sync_all())
            .map_err(local("fsync", d))?;
    }
    check_restored(dir, m.events, &mut done)?;
    Ok(done)
}

fn ensure_empty(dir: &Path) -> Result<()> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(BucketError::Config(format!(
                    "{} is not empty: restore writes only into a new or empty directory",
                    dir.display()
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(local("create", dir))
        }
        Err(e) => Err(local("read", dir)(e)),
    }
}

/// Downloads `obj`, checks it, writes it to `path` (through a temporary name).
async fn fetch(remote: &Remote, obj: &ObjectRef, path: &Path, done: &mut Restored) -> Result<()> {
    let bytes = remote.get_checked(obj).await?;
    let tmp = path.with_extension("restore.tmp");
    let mut f = std::fs::File::create(&tmp).map_err(local("create", &tmp))?;
    f.write_all(&bytes).map_err(local("write", &tmp))?;
    f.sync_all().map_err(local("fsync", &tmp))?;
    std::fs::rename(&tmp, path).map_err(local("rename", path))?;
    done.objects += 1;
    done.bytes += bytes.len() as u64;
    Ok(())
}

/// Audits the restored directory and opens it as a store: it must hold `events`.
fn check_restored(dir: &Path, events: u64, done: &mut Restored) -> Result<()> {
    let failed = |detail: String| BucketError::Restore {
        dir: dir.to_path_buf(),
        detail,
    };
    let report = audit(&OsFs, dir, &AuditOptions::default(), &|_| {})?;
    if !report.ok() {
        let problems: Vec<String> = report
            .data
            .problems
            .iter()
            .chain(&report.problems)
            .map(|p| format!("{}: {}", p.file.display(), p.msg))
            .collect();
        return Err(failed(problems.join("; ")));
    }
    done.checkpoints = report.stored.valid;
    let store = Store::open(dir, Options::default())?;
    let held = store.len();
    store.close()?;
    if held != events {
        return Err(failed(format!(
            "it holds {held} events, the manifest says {events}"
        )));
    }
    done.events = held;
    Ok(())
}
