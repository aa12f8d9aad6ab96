//! The sealer thread: turns each rolled write-ahead log into a sealed segment, in seq order,
//! then removes the log. Until its sealed twin is published, a rolled log stays readable as
//! it is, so a failed or interrupted seal loses nothing; the next open queues it again.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crossbeam_channel::Receiver;

use super::segment::WalSegment;
use super::Shared;
use crate::error::{Result, StorageError};
use crate::sealed::seal;
use crate::wal::{self, Tail};

pub(super) fn sealer_loop(shared: &Shared, rx: &Receiver<Arc<WalSegment>>) {
    while let Ok(seg) = rx.recv() {
        if shared.shutting_down.load(Ordering::Acquire) || shared.seal_error.lock().is_some() {
            // Left as an active-segment file; the next open queues it again.
            continue;
        }
        if let Err(e) = seal_one(shared, &seg) {
            tracing::error!(file = %seg.path.display(), error = %e, "sealing failed; the segment stays readable as a write-ahead log");
            *shared.seal_error.lock() = Some(e.to_string());
        }
    }
}

fn seal_one(shared: &Shared, seg: &Arc<WalSegment>) -> Result<()> {
    let fs = &*shared.opts.fs;
    let len = seg
        .file
        .len()
        .map_err(StorageError::io("stat", &seg.path))?;
    let mut bytes = vec![0u8; len as usize];
    seg.file
        .read_exact_at(&mut bytes, 0)
        .map_err(StorageError::io("read", &seg.path))?;
    let scan = wal::scan(&bytes).map_err(|d| StorageError::corrupt(&seg.path, d.offset, d.msg))?;
    if let Tail::Torn { offset, reason } = scan.tail {
        return Err(StorageError::corrupt(&seg.path, offset, reason));
    }
    let published = seg.state.read().record_offsets.len();
    if scan.record_offsets.len() != published {
        // Sealing would swap in a segment of another length under readers' seqs.
        let msg = format!(
            "the rolled segment holds {} records, {published} were acknowledged",
            scan.record_offsets.len()
        );
        return Err(StorageError::corrupt(&seg.path, scan.valid_end, msg));
    }
    let prev = {
        let segs = shared.segments.read();
        match segs.sealed.last() {
            Some(s) if s.end() == seg.base => s.frontier().clone(),
            None if seg.base == segs.start.seq() => segs.start.frontier().clone(),
            _ => {
                return Err(StorageError::Layout {
                    dir: shared.dir.clone(),
                    msg: format!("segment at seq {} has no sealed predecessor", seg.base),
                })
            }
        }
    };
    let sealed = Arc::new(seal(
        fs,
        &shared.dir,
        &seg.path,
        &bytes,
        &scan,
        &prev,
        shared.opts.seal,
    )?);
    // Readers find a seq by the segments' ranges: the sealed twin must cover exactly the seqs
    // of the log it replaces, or the swap below would open a gap or an overlap.
    assert_eq!(
        (sealed.base(), sealed.end()),
        (seg.base, seg.base + published as u64),
        "a sealed segment must hold the seqs of the log it replaces"
    );
    {
        let mut segs = shared.segments.write();
        segs.unsealed.retain(|w| !Arc::ptr_eq(w, seg));
        segs.sealed.push(sealed);
    }
    fs.remove(&seg.path)
        .map_err(StorageError::io("remove", &seg.path))?;
    fs.sync_dir(&shared.dir)
        .map_err(StorageError::io("fsync directory", &shared.dir))
}
