//! Tamper evidence: every way of altering a trail the issue lists, at random positions, many
//! times, must be found by the auditor's check (`annal_integrity::audit`), and the report must
//! point at the right place: the file, and the seq or the range of seqs that changed.
//!
//! Each round copies one prepared trail (sealed segments, an active segment, the checkpoints
//! the store signed as it grew, and one the auditor saved at the end), alters the copy, and
//! audits it with the auditor's public key. `ANNAL_TAMPER_ROUNDS` sets the rounds (default 6);
//! `ANNAL_TAMPER_SEED` replays one run.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod support;

use std::path::{Path, PathBuf};

use annal_integrity::{
    audit, AuditOptions, AuditReport, Checkpoint, Notary, NoteSigner, NoteVerifier,
    CHECKPOINT_LOG_FILE,
};
use annal_model::{decode_record, encode_record, TextField};
use annal_storage::wal::{encode_header, frame_record, read_framed_record, scan, BatchBuilder};
use annal_storage::{OsFs, Problem, SealOptions, SealedSegment, Store, XorShift64};

/// A prepared trail and what an auditor holds about it.
struct Trail {
    dir: tempfile::TempDir,
    key: NoteVerifier,
    /// The checkpoint the auditor saved after the last append.
    saved: String,
    events: u64,
}

fn options() -> annal_storage::Options {
    annal_storage::Options {
        segment_bytes_max: 400 << 10,
        seal: SealOptions {
            block_events: 200,
            ..SealOptions::default()
        },
        ..annal_storage::Options::default()
    }
}

/// Appends `events` generated events in chunks, signing a checkpoint after each chunk.
fn prepare(seed: u64, events: u64) -> Trail {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), options()).unwrap();
    let signer = NoteSigner::generate("auditee").unwrap();
    let key = signer.verifier();
    let notary = Notary::open(dir.path(), signer, "tamper.test/log", &store.snapshot()).unwrap();
    let all = annal_gen::events(annal_gen::GenConfig {
        count: events,
        days: 2,
        seed,
        ..annal_gen::GenConfig::default()
    });
    for chunk in all.chunks(700) {
        store.append(chunk).unwrap();
        notary.sign(&store.snapshot()).unwrap();
    }
    store.wait_sealed().unwrap();
    let saved = notary
        .sign(&store.snapshot())
        .unwrap()
        .unwrap()
        .note
        .to_string();
    drop(notary);
    store.close().unwrap();
    Trail {
        dir,
        key,
        saved,
        events,
    }
}

/// A copy of the trail's data files (not its derived index).
fn copy_of(trail: &Trail) -> tempfile::TempDir {
    let to = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(trail.dir.path()).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, to.path().join(p.file_name().unwrap())).unwrap();
        }
    }
    to
}

fn audited(dir: &Path, trail: &Trail, saved: &str) -> AuditReport {
    let saved_path = dir.join("saved.checkpoint");
    std::fs::write(&saved_path, saved).unwrap();
    let opts = AuditOptions {
        checkpoints: vec![(saved_path, saved.to_string())],
        public_key: Some(trail.key.clone()),
        time_range: None,
    };
    audit(&OsFs, dir, &opts, &|_| {}).unwrap()
}

fn problems(r: &AuditReport) -> Vec<&Problem> {
    r.data.problems.iter().chain(&r.problems).collect()
}

fn files_with(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    v.sort();
    v
}

fn below(rng: &mut XorShift64, n: u64) -> u64 {
    rng.next_u64() % n
}

/// The records of the active segment, and its base seq.
fn wal_records(path: &Path) -> (u64, Vec<Vec<u8>>) {
    let bytes = std::fs::read(path).unwrap();
    let s = scan(&bytes).unwrap();
    let records = s
        .record_offsets
        .iter()
        .map(|o| read_framed_record(&bytes, *o as usize).unwrap().to_vec())
        .collect();
    (s.base_seq, records)
}

/// Writes an active segment holding `records` with every frame and CRC made right, as an
/// attacker with annal's source would.
fn write_wal(path: &Path, base: u64, records: &[Vec<u8>]) {
    let mut out = encode_header(base).to_vec();
    let mut seq = base;
    for chunk in records.chunks(50) {
        let mut b = BatchBuilder::new(Vec::new());
        for r in chunk {
            let mut framed = Vec::new();
            frame_record(r, &mut framed);
            b.push(&framed, decode_record(r).unwrap().created_at.0);
        }
        out.extend_from_slice(b.finish(seq));
        seq += chunk.len() as u64;
    }
    std::fs::write(path, out).unwrap();
}

/// The `lo..hi` of a problem saying "seqs lo..hi".
fn seq_range(msg: &str) -> Option<(u64, u64)> {
    let rest = &msg[msg.find("seqs ")? + 5..];
    let (lo, rest) = rest.split_once("..")?;
    let hi: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    Some((lo.parse().ok()?, hi.parse().ok()?))
}

/// Some checkpoint problem places a change at `seq`.
fn placed_at(r: &AuditReport, seq: u64) -> bool {
    r.problems
        .iter()
        .filter_map(|p| seq_range(&p.msg))
        .any(|(lo, hi)| lo <= seq && seq < hi)
}

#[test]
fn every_tampering_is_found_where_it_happened() {
    let rounds = support::env_u64("ANNAL_TAMPER_ROUNDS", 6);
    let (seed, mut rng) = support::seeded("tamper", "ANNAL_TAMPER_SEED");
    let trail = prepare(seed, 9_000);
    let other = prepare(seed ^ 0x5eed, 9_000);
    let untouched = copy_of(&trail);
    let clean = audited(untouched.path(), &trail, &trail.saved);
    assert!(clean.ok(), "{:?}", problems(&clean));
    assert!(clean.stored.valid >= 10 && clean.given.valid == 1);
    assert!(clean.data.sealed_files >= 3, "want several sealed segments");

    for round in 0..rounds {
        let ctx = format!("round {round}, ANNAL_TAMPER_SEED={seed}");
        flip_a_bit_in_a_sealed_block(&trail, &mut rng, &ctx);
        rewrite_a_record_with_its_crc(&trail, &mut rng, &ctx);
        delete_a_record_and_reframe(&trail, &mut rng, &ctx);
        swap_two_records(&trail, &mut rng, &ctx);
        truncate_the_newest(&trail, &mut rng, &ctx);
        remove_a_segment(&trail, &mut rng, &ctx);
        replace_a_segment_from_another_store(&trail, &other, &ctx);
        alter_a_checkpoint(&trail, &mut rng, &ctx);
        forge_a_checkpoint(&trail, &mut rng, &ctx);
    }
}

fn flip_a_bit_in_a_sealed_block(trail: &Trail, rng: &mut XorShift64, ctx: &str) {
    let dir = copy_of(trail);
    let segs = files_with(dir.path(), "seg");
    let path = &segs[below(rng, segs.len() as u64) as usize];
    let seg = SealedSegment::open(&OsFs, path).unwrap();
    let b = seg.blocks()[below(rng, seg.blocks().len() as u64) as usize].clone();
    drop(seg);
    let at = b.offset + below(rng, u64::from(b.compressed_len));
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at as usize] ^= 1 << below(rng, 8);
    std::fs::write(path, bytes).unwrap();
    let r = audited(dir.path(), trail, &trail.saved);
    assert!(!r.ok(), "{ctx}: bit flip at {at} missed");
    assert!(
        r.data
            .problems
            .iter()
            .any(|p| &p.file == path && p.offset == Some(b.offset) && p.seq == Some(b.first_seq)),
        "{ctx}: flip at {} offset {at} not placed at block {}: {:?}",
        path.display(),
        b.first_seq,
        problems(&r)
    );
}

fn rewrite_a_record_with_its_crc(trail: &Trail, rng: &mut XorShift64, ctx: &str) {
    let dir = copy_of(trail);
    let wal = files_with(dir.path(), "wal").pop().unwrap();
    let (base, mut records) = wal_records(&wal);
    let k = below(rng, records.len() as u64) as usize;
    let mut e = decode_record(&records[k]).unwrap();
    e.set_text(TextField::ActorId, Some("mallory".into()));
    records[k].clear();
    encode_record(&e, &mut records[k]);
    write_wal(&wal, base, &records);
    let r = audited(dir.path(), trail, &trail.saved);
    assert!(
        r.data.ok(),
        "{ctx}: the CRCs were fixed: {:?}",
        r.data.problems
    );
    assert!(
        !r.ok(),
        "{ctx}: rewritten record {} missed",
        base + k as u64
    );
    assert!(
        placed_at(&r, base + k as u64),
        "{ctx}: rewrite of {} not placed: {:?}",
        base + k as u64,
        r.problems
    );
}

fn delete_a_record_and_reframe(trail: &Trail, rng: &mut XorShift64, ctx: &str) {
    let dir = copy_of(trail);
    let wal = files_with(dir.path(), "wal").pop().unwrap();
    let (base, mut records) = wal_records(&wal);
    let k = below(rng, records.len() as u64) as usize;
    records.remove(k);
    write_wal(&wal, base, &records);
    let r = audited(dir.path(), trail, &trail.saved);
    assert!(!r.ok(), "{ctx}: deletion of {} missed", base + k as u64);
    let seq = base + k as u64;
    // Either a checkpoint inside the trail now gives another root, or (when the deleted
    // record was the newest) only the length is short.
    assert!(
        placed_at(&r, seq) || r.problems.iter().any(|p| p.seq == Some(trail.events - 1)),
        "{ctx}: deletion of {seq} not placed: {:?}",
        r.problems
    );
}

fn swap_two_records(trail: &Trail, rng: &mut XorShift64, ctx: &str) {
    let dir = copy_of(trail);
    let wal = files_with(dir.path(), "wal").pop().unwrap();
    let (base, mut records) = wal_records(&wal);
    let n = records.len() as u64;
    let i = below(rng, n - 1);
    let j = i + 1 + below(rng, n - 1 - i);
    records.swap(i as usize, j as usize);
    write_wal(&wal, base, &records);
    let r = audited(dir.path(), trail, &trail.saved);
    assert!(r.data.ok(), "{ctx}: {:?}", r.data.problems);
    assert!(
        !r.ok(),
        "{ctx}: swap of {} and {} missed",
        base + i,
        base + j
    );
    assert!(
        placed_at(&r, base + i),
        "{ctx}: swap of {} and {} not placed: {:?}",
        base + i,
        base + j,
        r.problems
    );
}

fn truncate_the_newest(trail: &Trail, rng: &mut XorShift64, ctx: &str) {
    let dir = copy_of(trail);
    let wal = files_with(dir.path(), "wal").pop().unwrap();
    let (base, mut records) = wal_records(&wal);
    let cut = 1 + below(rng, records.len() as u64);
    records.truncate(records.len() - cut as usize);
    write_wal(&wal, base, &records);
    // The store's own log is cut back too, as a careful attacker would: only the auditor's
    // saved checkpoint still knows the length.
    let log = dir.path().join(CHECKPOINT_LOG_FILE);
    let keep = annal_integrity::read_log(&log)
        .unwrap()
        .notes
        .iter()
        .find(|n| n.checkpoint.size > trail.events - cut)
        .map(|n| n.offset);
    if let Some(at) = keep {
        let bytes = std::fs::read(&log).unwrap();
        std::fs::write(&log, &bytes[..at as usize]).unwrap();
    }
    let r = audited(dir.path(), trail, &trail.saved);
    assert!(r.data.ok(), "{ctx}: {:?}", r.data.problems);
    let left = trail.events - cut;
    assert!(
        r.problems
            .iter()
            .any(|p| p.file.ends_with("saved.checkpoint")
                && p.seq == Some(left)
                && p.msg
                    .contains(&format!("events {left}..{} were removed", trail.events))),
        "{ctx}: cutting the newest {cut} not found: {:?}",
        r.problems
    );
}

fn remove_a_segment(trail: &Trail, rng: &mut XorShift64, ctx: &str) {
    let dir = copy_of(trail);
    let segs = files_with(dir.path(), "seg");
    let path = &segs[below(rng, segs.len() as u64) as usize];
    let seg = SealedSegment::open(&OsFs, path).unwrap();
    let (base, end) = (seg.base(), seg.end());
    drop(seg);
    std::fs::remove_file(path).unwrap();
    let r = audited(dir.path(), trail, &trail.saved);
    assert!(
        r.data
            .problems
            .iter()
            .any(|p| p.seq == Some(base)
                && p.msg.contains(&format!("events {base}..{end} are missing"))),
        "{ctx}: removal of {} not placed: {:?}",
        path.display(),
        problems(&r)
    );
}

fn replace_a_segment_from_another_store(trail: &Trail, other: &Trail, ctx: &str) {
    let dir = copy_of(trail);
    let name = files_with(dir.path(), "seg")[0]
        .file_name()
        .unwrap()
        .to_owned();
    std::fs::copy(other.dir.path().join(&name), dir.path().join(&name)).unwrap();
    let r = audited(dir.path(), trail, &trail.saved);
    assert!(!r.ok(), "{ctx}: replaced first segment missed");
    // The checkpoints signed while it was the newest no longer hold: the change is placed
    // in the first segment's range.
    let end = SealedSegment::open(&OsFs, &dir.path().join(&name))
        .unwrap()
        .end();
    assert!(
        placed_at(&r, 0)
            || r.data
                .problems
                .iter()
                .any(|p| p.seq == Some(end) || p.msg.contains("missing")),
        "{ctx}: replacement not placed: {:?}",
        problems(&r)
    );
}

fn alter_a_checkpoint(trail: &Trail, rng: &mut XorShift64, ctx: &str) {
    let dir = copy_of(trail);
    // The auditor's file: one character of the root changed.
    let mut lines: Vec<String> = trail.saved.split('\n').map(String::from).collect();
    let root = &mut lines[2];
    let at = below(rng, 40) as usize;
    let c = root.as_bytes()[at];
    let swapped = if c == b'A' { 'B' } else { 'A' };
    root.replace_range(at..at + 1, &swapped.to_string());
    let altered = lines.join("\n");
    let r = audited(dir.path(), trail, &altered);
    assert!(
        r.problems.iter().any(|p| p.file.ends_with("saved.checkpoint")
            && p.msg.contains("checkpoint signature")),
        "{ctx}: altered saved checkpoint not found: {:?}",
        r.problems
    );
    // A stored one, its frame CRC fixed.
    let log = dir.path().join(CHECKPOINT_LOG_FILE);
    let mut bytes = std::fs::read(&log).unwrap();
    let notes = annal_integrity::read_log(&log).unwrap().notes;
    let victim = &notes[below(rng, notes.len() as u64) as usize];
    let note_at = victim.offset as usize + 8;
    let size_line = victim.note.find('\n').unwrap() + 1;
    // Change the tree size's first digit (always a digit, and the note length stays).
    let d = bytes[note_at + size_line];
    bytes[note_at + size_line] = if d == b'1' { b'2' } else { b'1' };
    let len = victim.note.len();
    let crc = crc32fast::hash(&bytes[note_at..note_at + len]);
    bytes[note_at - 4..note_at].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&log, bytes).unwrap();
    let r = audited(dir.path(), trail, &trail.saved);
    assert!(
        r.problems.iter().any(|p| p.file == log
            && p.offset == Some(victim.offset)
            && p.msg.contains("checkpoint signature")),
        "{ctx}: altered stored checkpoint at {} not found: {:?}",
        victim.offset,
        r.problems
    );
}

fn forge_a_checkpoint(trail: &Trail, rng: &mut XorShift64, ctx: &str) {
    let dir = copy_of(trail);
    // Same key name, another key: what an insider without the real key can make.
    let forger = NoteSigner::generate("auditee").unwrap();
    let mut root = [0u8; 32];
    root.iter_mut().for_each(|b| *b = rng.next_u64() as u8);
    let forged = forger.sign(&Checkpoint {
        origin: "tamper.test/log".into(),
        size: 1 + below(rng, trail.events),
        root,
    });
    let r = audited(dir.path(), trail, &forged);
    assert!(
        r.problems
            .iter()
            .any(|p| p.file.ends_with("saved.checkpoint")
                && p.msg.contains("no valid signature by key \"auditee\"")),
        "{ctx}: forged checkpoint accepted: {:?}",
        r.problems
    );
    assert_eq!(r.given.valid, 0, "{ctx}");
}
