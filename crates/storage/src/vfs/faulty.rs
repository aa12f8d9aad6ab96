//! A fault-injecting file system for the crash, power-loss and fault tests: compiled only
//! with the `fault-injection` feature, so shipped binaries do not carry it.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::{OsFs, VFile, Vfs};
use crate::rng::XorShift64;

/// Which operation a fault applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultOp {
    /// `write_all_at`.
    Write,
    /// `sync_data` of a file.
    Sync,
    /// `rename`.
    Rename,
    /// `sync_dir`.
    SyncDir,
    /// `create_new`.
    Create,
    /// `set_len` (truncation).
    SetLen,
    /// `remove`.
    Remove,
}

/// How the chosen step of [`FaultyFs::fail_step`] goes wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepFault {
    /// The operation fails with an I/O error and changes nothing.
    Fail,
    /// A write is cut short: the first half of its bytes reach the file, then it fails (a
    /// step that is not a write simply fails).
    Short,
}

/// One change the file system made, as recorded by [`FaultyFs::steps`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The operation.
    pub op: FaultOp,
    /// The file (or directory) it changed.
    pub path: PathBuf,
}

/// Steps a trace keeps at most: a trace is for short, scripted workloads.
pub const STEPS_TRACED_MAX: usize = 1 << 16;

#[derive(Debug, Default)]
struct FaultPlan {
    /// Bytes that may still be written before writes fail with "no space left on device";
    /// the write that crosses the budget is cut short at it.
    write_budget: Option<u64>,
    /// Operations that fail on their next call (each entry fires once).
    fail_next: Vec<FaultOp>,
    /// Number of faults fired so far.
    fired: u64,
    /// Extra time every file sync takes (a slow disk).
    sync_delay: std::time::Duration,
    /// After [`FaultyFs::freeze`]: the machine is "off", every change fails.
    frozen: bool,
    /// Changes left before the machine goes off by itself ([`FaultyFs::freeze_after`]).
    changes_left: Option<u64>,
    /// What is durable of each file this file system has seen, for [`FaultyFs::power_loss`].
    files: HashMap<PathBuf, Durable>,
    /// Renames not yet made durable by a sync of their directory, oldest first.
    renames: Vec<(PathBuf, PathBuf)>,
    /// Changes attempted so far (successful or not): the step number of the last one.
    steps: u64,
    /// The step that goes wrong ([`FaultyFs::fail_step`]), and how.
    fail_step: Option<(u64, StepFault)>,
    /// Successful changes, in order, when tracing (bounded by [`STEPS_TRACED_MAX`]).
    trace: Option<Vec<Step>>,
}

/// What of one file would survive a power loss now.
#[derive(Clone, Copy, Debug)]
struct Durable {
    /// Length at the file's last fdatasync (everything written after it may be lost).
    synced_len: u64,
    /// Whether the directory entry itself is durable (its directory was synced after the
    /// file was created or renamed to this name).
    entry: bool,
}

/// A file system that injects faults into [`OsFs`]: disk full after a byte budget (writes are
/// cut short, as a real full disk does), one chosen operation failing, slow syncs, and a power
/// loss that keeps only what was made durable (as LazyFS does): see [`FaultyFs::power_loss`].
#[derive(Clone, Default)]
pub struct FaultyFs {
    plan: Arc<Mutex<FaultPlan>>,
}

impl FaultyFs {
    /// A file system with no faults planned.
    pub fn new() -> FaultyFs {
        FaultyFs::default()
    }

    /// After `bytes` more bytes, every write fails with ENOSPC (`None` lifts the limit: space
    /// has returned).
    pub fn set_write_budget(&self, bytes: Option<u64>) {
        self.plan.lock().write_budget = bytes;
    }

    /// Makes every file sync take `delay` longer, as a slow disk does.
    pub fn set_sync_delay(&self, delay: std::time::Duration) {
        self.plan.lock().sync_delay = delay;
    }

    /// Makes the next call of `op` fail.
    pub fn fail_next(&self, op: FaultOp) {
        self.plan.lock().fail_next.push(op);
    }

    /// The machine stops: from now on every write, sync, truncation, creation, rename and
    /// removal fails, so nothing more becomes durable. Call before dropping the store and
    /// [`FaultyFs::power_loss`].
    pub fn freeze(&self) {
        self.plan.lock().frozen = true;
    }

    /// The machine goes off right after `changes` more successful changes (writes, syncs,
    /// truncations, creations, renames, removals, directory syncs): power fails at an exact
    /// step of a commit, roll or seal, such as between a write and its fdatasync.
    pub fn freeze_after(&self, changes: u64) {
        self.plan.lock().changes_left = Some(changes.max(1));
    }

    /// Makes change number `step` (counted from this file system's creation, as
    /// [`FaultyFs::steps_taken`] counts them) go wrong as `fault`: so a test can fail every
    /// step of an append, roll or seal in turn.
    pub fn fail_step(&self, step: u64, fault: StepFault) {
        self.plan.lock().fail_step = Some((step, fault));
    }

    /// Changes attempted so far: writes, syncs, truncations, creations, renames, removals and
    /// directory syncs.
    pub fn steps_taken(&self) -> u64 {
        self.plan.lock().steps
    }

    /// Starts recording every successful change (see [`FaultyFs::steps`]).
    pub fn trace_steps(&self) {
        self.plan.lock().trace = Some(Vec::new());
    }

    /// The changes recorded since [`FaultyFs::trace_steps`], oldest first.
    pub fn steps(&self) -> Vec<Step> {
        self.plan.lock().trace.clone().unwrap_or_default()
    }

    /// True once the machine is off.
    pub fn is_frozen(&self) -> bool {
        self.plan.lock().frozen
    }

    fn changed(&self, op: FaultOp, path: &Path) {
        let mut plan = self.plan.lock();
        if let Some(trace) = plan.trace.as_mut().filter(|t| t.len() < STEPS_TRACED_MAX) {
            trace.push(Step {
                op,
                path: path.to_path_buf(),
            });
        }
        if let Some(n) = plan.changes_left {
            plan.changes_left = (n > 1).then(|| n - 1);
            plan.frozen |= n <= 1;
        }
    }

    /// Rewrites the files on disk to what a power loss at the freeze could leave: renames
    /// whose directory was not synced are undone, files whose directory entry never became
    /// durable disappear, and every other file keeps its synced length plus a prefix of its
    /// unsynced bytes chosen by `seed` (a torn write). Removals are not undone (a removed file
    /// coming back is a case recovery also handles, but this model does not produce it).
    /// Returns a line per file changed, for the test's log. Thaws the file system.
    pub fn power_loss(&self, seed: u64) -> io::Result<Vec<String>> {
        let mut plan = self.plan.lock();
        let mut log = Vec::new();
        let mut rng = XorShift64::new(seed);
        for (from, to) in std::mem::take(&mut plan.renames).into_iter().rev() {
            if to.exists() {
                std::fs::rename(&to, &from)?;
                log.push(format!(
                    "undid rename {} -> {}",
                    from.display(),
                    to.display()
                ));
            }
            if let Some(d) = plan.files.remove(&to) {
                plan.files.insert(from, d);
            }
        }
        for (path, d) in std::mem::take(&mut plan.files) {
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if !d.entry {
                std::fs::remove_file(&path)?;
                log.push(format!(
                    "removed {} (its entry never became durable)",
                    path.display()
                ));
            } else if meta.len() > d.synced_len {
                let kept = d.synced_len + rng.next_u64() % (meta.len() - d.synced_len + 1);
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)?
                    .set_len(kept)?;
                log.push(format!(
                    "{}: kept {kept} of {} bytes (synced {})",
                    path.display(),
                    meta.len(),
                    d.synced_len
                ));
            }
        }
        plan.frozen = false;
        plan.changes_left = None;
        Ok(log)
    }

    fn track_sync(&self, path: &Path, len: u64) {
        if let Some(d) = self.plan.lock().files.get_mut(path) {
            d.synced_len = len;
        }
    }

    fn track_existing(&self, path: &Path) {
        let len = std::fs::metadata(path).map_or(0, |m| m.len());
        // A file that was there before this file system saw it is taken as durable.
        self.plan
            .lock()
            .files
            .entry(path.to_path_buf())
            .or_insert(Durable {
                synced_len: len,
                entry: true,
            });
    }

    fn check_on(&self) -> io::Result<()> {
        if self.plan.lock().frozen {
            return Err(io::Error::other(
                "the machine is off (frozen for a simulated power loss)",
            ));
        }
        Ok(())
    }

    /// How many faults have fired.
    pub fn fired(&self) -> u64 {
        self.plan.lock().fired
    }

    /// Counts a change about to be made and says whether it may go ahead: `Ok(None)` when
    /// it may, `Ok(Some(StepFault::Short))` when a write is to be cut short, an error when it
    /// fails.
    fn check(&self, op: FaultOp) -> io::Result<Option<StepFault>> {
        self.check_on()?;
        let mut plan = self.plan.lock();
        plan.steps += 1;
        let step = plan.steps;
        if let Some(i) = plan.fail_next.iter().position(|o| *o == op) {
            plan.fail_next.remove(i);
            plan.fired += 1;
            return Err(io::Error::other(format!("injected {op:?} failure")));
        }
        match plan.fail_step {
            Some((at, fault)) if at == step => {
                plan.fired += 1;
                if fault == StepFault::Short && op == FaultOp::Write {
                    return Ok(Some(StepFault::Short));
                }
                Err(io::Error::other(format!(
                    "injected {op:?} failure at step {step}"
                )))
            }
            _ => Ok(None),
        }
    }
}

struct FaultyFile {
    inner: Arc<dyn VFile>,
    fs: FaultyFs,
    path: PathBuf,
}

impl VFile for FaultyFile {
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        if self.fs.check(FaultOp::Write)? == Some(StepFault::Short) {
            let half = buf.len() / 2;
            self.inner.write_all_at(&buf[..half], offset)?;
            self.fs.changed(FaultOp::Write, &self.path);
            return Err(io::Error::other(format!(
                "injected short write: {half} of {} bytes",
                buf.len()
            )));
        }
        let allowed = {
            let mut plan = self.fs.plan.lock();
            match plan.write_budget {
                None => buf.len(),
                Some(budget) => {
                    let n = buf.len().min(usize::try_from(budget).unwrap_or(usize::MAX));
                    plan.write_budget = Some(budget - n as u64);
                    if n < buf.len() {
                        plan.fired += 1;
                    }
                    n
                }
            }
        };
        self.inner.write_all_at(&buf[..allowed], offset)?;
        self.fs.changed(FaultOp::Write, &self.path);
        if allowed < buf.len() {
            return Err(io::Error::from_raw_os_error(28)); // ENOSPC
        }
        Ok(())
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.inner.read_exact_at(buf, offset)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.fs.check(FaultOp::Sync)?;
        let delay = self.fs.plan.lock().sync_delay;
        std::thread::sleep(delay);
        self.inner.sync_data()?;
        self.fs.track_sync(&self.path, self.inner.len()?);
        self.fs.changed(FaultOp::Sync, &self.path);
        Ok(())
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.fs.check(FaultOp::SetLen)?;
        self.inner.set_len(len)?;
        self.fs.changed(FaultOp::SetLen, &self.path);
        Ok(())
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
}

impl FaultyFs {
    fn wrap(&self, inner: Arc<dyn VFile>, path: &Path) -> Arc<dyn VFile> {
        Arc::new(FaultyFile {
            inner,
            fs: self.clone(),
            path: path.to_path_buf(),
        })
    }
}

impl Vfs for FaultyFs {
    fn create_new(&self, path: &Path) -> io::Result<Arc<dyn VFile>> {
        self.check(FaultOp::Create)?;
        let f = OsFs.create_new(path)?;
        self.plan.lock().files.insert(
            path.to_path_buf(),
            Durable {
                synced_len: 0,
                entry: false,
            },
        );
        self.changed(FaultOp::Create, path);
        Ok(self.wrap(f, path))
    }
    fn open_rw(&self, path: &Path) -> io::Result<Arc<dyn VFile>> {
        let f = OsFs.open_rw(path)?;
        self.track_existing(path);
        Ok(self.wrap(f, path))
    }
    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn VFile>> {
        let f = OsFs.open_read(path)?;
        self.track_existing(path);
        Ok(self.wrap(f, path))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.check(FaultOp::Rename)?;
        OsFs.rename(from, to)?;
        let mut plan = self.plan.lock();
        if let Some(mut d) = plan.files.remove(from) {
            d.entry = false;
            plan.files.insert(to.to_path_buf(), d);
        }
        plan.renames.push((from.to_path_buf(), to.to_path_buf()));
        drop(plan);
        self.changed(FaultOp::Rename, to);
        Ok(())
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        self.check(FaultOp::Remove)?;
        OsFs.remove(path)?;
        self.plan.lock().files.remove(path);
        self.changed(FaultOp::Remove, path);
        Ok(())
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.check(FaultOp::SyncDir)?;
        OsFs.sync_dir(dir)?;
        let mut plan = self.plan.lock();
        for (path, d) in plan.files.iter_mut() {
            if path.parent() == Some(dir) {
                d.entry = true;
            }
        }
        plan.renames.retain(|(_, to)| to.parent() != Some(dir));
        drop(plan);
        self.changed(FaultOp::SyncDir, dir);
        Ok(())
    }
}
