//! The `annal` binary end to end: gen → ingest → stats → verify, bad input, corruption.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn annal(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_annal"))
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Fed from a thread: a child that stops reading early (a bad line) must not block us.
    let feeder = stdin.map(|input| {
        let (mut pipe, input) = (child.stdin.take().unwrap(), input.to_vec());
        std::thread::spawn(move || {
            let _ = pipe.write_all(&input);
        })
    });
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out_reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        out.read_to_end(&mut b).unwrap();
        b
    });
    let err_reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        err.read_to_end(&mut b).unwrap();
        b
    });
    // A liveness guard, not a timing assertion: a hung command fails the test instead of CI.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("annal {args:?} did not finish within 120 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    if let Some(f) = feeder {
        f.join().unwrap();
    }
    Output {
        status,
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn gen(n: &str, seed: &str) -> Vec<u8> {
    let out = annal(&["gen", n, "--seed", seed, "--days", "3"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    out.stdout
}

fn data_arg(dir: &Path) -> String {
    dir.display().to_string()
}

#[test]
fn gen_ingest_stats_verify_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_arg(dir.path());
    let ndjson = gen("5000", "3");
    assert_eq!(ndjson.iter().filter(|b| **b == b'\n').count(), 5000);
    assert_eq!(ndjson, gen("5000", "3"), "same seed, same events");
    assert_ne!(ndjson, gen("5000", "4"));

    let out = annal(&["ingest", "--data", &data, "-"], Some(&ndjson));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(
        said.contains("ingested 5000 events, seq 0..=4999"),
        "{said}"
    );
    assert!(said.contains("events/s"), "{said}");

    // Ingesting a file works as well as standard input.
    let file = dir.path().join("more.ndjson");
    std::fs::write(&file, gen("100", "9")).unwrap();
    let out = annal(&["ingest", "--data", &data, file.to_str().unwrap()], None);
    assert!(
        text(&out.stdout).contains("seq 5000..=5099"),
        "{}",
        text(&out.stdout)
    );

    let out = annal(&["stats", "--data", &data], None);
    let stats = text(&out.stdout);
    assert!(out.status.success());
    assert!(stats.contains("events          5100"), "{stats}");
    assert!(stats.contains("time range      2026-01-01T"), "{stats}");
    assert!(stats.contains("bytes/event"), "{stats}");

    let out = annal(&["verify", "--data", &data], None);
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("OK"), "{}", text(&out.stdout));
    let out = annal(&["verify", "--data", &data, "--json"], None);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["events"], 5100);
    assert_eq!(report["tree_size"], 5100);
}

#[test]
fn a_bad_line_names_its_line_and_field_and_its_batch_is_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_arg(dir.path());
    let mut lines: Vec<String> = text(&gen("10", "1")).lines().map(String::from).collect();
    lines[5] = r#"{"event_code":202,"user_id":"seven"}"#.to_string();
    let input = lines.join("\n") + "\n";
    let out = annal(
        &["ingest", "--data", &data, "--batch", "4", "-"],
        Some(input.as_bytes()),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains("line 6: user_id: expected an integer"),
        "{err}"
    );
    // Lines 1-4 formed a good batch and were stored; lines 5-8 (with line 6) were not.
    assert!(
        err.contains("4 events before it were stored (seq 0..4)"),
        "{err}"
    );
    let out = annal(&["verify", "--data", &data, "--json"], None);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["events"], 4);
}

#[test]
fn ingest_refuses_the_stores_own_ids_and_ids_re_sent_with_other_content_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_arg(dir.path());
    let line = |id: &str, actor: &str| {
        format!(
            r#"{{"id":"{id}","created_at":"2026-01-05T10:00:00Z","event_code":202,"actor_id":"{actor}"}}"#
        )
    };
    let ingest = |lines: &[String]| {
        let input = lines.join("\n") + "\n";
        annal(&["ingest", "--data", &data, "-"], Some(input.as_bytes()))
    };
    let out = ingest(&[line("k-0", "ava"), line("k-1", "ava")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = ingest(&[line("k-2", "ava"), line("annal:4", "ava")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains(r#"line 2: id: the prefix "annal:" is reserved"#),
        "{err}"
    );
    // Line 2 is the same event again; line 3 re-sends k-1 with another actor.
    let out = ingest(&[line("k-2", "ava"), line("k-0", "ava"), line("k-1", "bob")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains(r#"line 3: id "k-1" is already stored at seq 1 with other content"#),
        "{err}"
    );
    assert!(err.contains("0 events of this input were stored"), "{err}");
    let out = annal(&["verify", "--data", &data, "--json"], None);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["events"], 2, "nothing of a refused batch is stored");
}

#[test]
fn a_bad_line_early_in_a_large_input_stops_the_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_arg(dir.path());
    let mut input = text(&gen("30000", "5"));
    let cut = input.match_indices('\n').nth(149).unwrap().0 + 1;
    input.insert_str(cut, "{\"event_type\":\"x\",\"vm_id\":7}\n");
    let out = annal(
        &["ingest", "--data", &data, "--batch", "100", "-"],
        Some(input.as_bytes()),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("line 151: vm_id: expected a string"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("100 events before it were stored"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn verify_exits_1_naming_file_and_offset_of_a_flipped_bit() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_arg(dir.path());
    // Small batches: the active segment holds many, so damage a third of the way in is
    // followed by intact batches (acknowledged data at stake, not a torn tail).
    let out = annal(
        &["ingest", "--data", &data, "--batch", "50", "-"],
        Some(&gen("3000", "2")),
    );
    assert!(out.status.success());
    let mut wals: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    wals.sort();
    let wal = wals.pop().unwrap();
    let mut bytes = std::fs::read(&wal).unwrap();
    let at = bytes.len() / 3;
    bytes[at] ^= 0x20;
    std::fs::write(&wal, bytes).unwrap();
    let out = annal(&["verify", "--data", &data], None);
    assert_eq!(out.status.code(), Some(1));
    let said = text(&out.stdout);
    let problem = said
        .lines()
        .find(|l| l.starts_with("PROBLEM"))
        .unwrap_or_else(|| panic!("{said}"));
    assert!(
        problem.contains(wal.file_name().unwrap().to_str().unwrap()) && problem.contains("offset"),
        "{problem}"
    );
    assert!(said.contains("FAILED"), "{said}");
    // And stats refuses to summarise it rather than count damaged data.
    let out = annal(&["stats", "--data", &data], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("corrupt data in"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn crlf_line_ends_and_a_byte_order_mark_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let input = b"\xef\xbb\xbf{\"event_code\":202}\r\n\r\n{\"event_code\":203}\r\n";
    let out = annal(
        &["ingest", "--data", &data_arg(dir.path()), "-"],
        Some(input),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("ingested 2 events"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn bad_arguments_are_clear_errors() {
    let out = annal(&["gen", "10", "--start", "yesterday"], None);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--start \"yesterday\""),
        "{}",
        text(&out.stderr)
    );
    let out = annal(&["verify", "--data", "/nonexistent/annal"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("is not a data directory"));
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("mine.csv");
    std::fs::write(&catalog, "code,name,category,description\n1,A,B\n").unwrap();
    let out = annal(
        &[
            "ingest",
            "--data",
            &data_arg(dir.path()),
            "--catalog",
            catalog.to_str().unwrap(),
        ],
        Some(b""),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("line 2: expected 4 columns"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_user_catalog_resolves_codes_for_its_source() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("my-app.csv");
    std::fs::write(
        &catalog,
        "code,name,category,description\n7,Widget-made,Widgets,\"A widget, made.\"\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let input = br#"{"event_code":7,"source":"my-app"}"#;
    let out = annal(
        &[
            "ingest",
            "--data",
            data.to_str().unwrap(),
            "--catalog",
            catalog.to_str().unwrap(),
        ],
        Some(input),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Without the catalog, code 7 is unknown and event_type is required.
    let out = annal(&["ingest", "--data", data.to_str().unwrap()], Some(input));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("event_type: required: event_code 7 is in no catalog"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn query_pages_by_cursor_counts_groups_and_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_arg(dir.path());
    let out = annal(&["ingest", "--data", &data, "-"], Some(&gen("3000", "5")));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let q = |extra: &[&str]| {
        let mut args = vec!["query", "--data", &data];
        args.extend_from_slice(extra);
        annal(&args, None)
    };
    // The count equals the number of lines of the unpaged result.
    let count = q(&["--type", "LoginFailed", "--count"]);
    assert!(count.status.success(), "{}", text(&count.stderr));
    let n: usize = text(&count.stdout).trim().parse().unwrap();
    assert!(n > 0);
    let all = q(&["--type", "LoginFailed", "--limit", "10000"]);
    let lines: Vec<serde_json::Value> = text(&all.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), n);
    assert!(lines
        .iter()
        .all(|v| v["event_code"] == 202 && v["seq"].is_u64()));
    // Paging by the cursor printed on stderr gives the same events.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut args = vec!["--type", "LoginFailed", "--limit", "7"];
        if let Some(c) = &cursor {
            args.extend(["--cursor", c]);
        }
        let page = q(&args);
        assert!(page.status.success(), "{}", text(&page.stderr));
        let got: Vec<serde_json::Value> = text(&page.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        if got.is_empty() {
            break;
        }
        seen.extend(got);
        let err = text(&page.stderr);
        let next = err
            .lines()
            .find_map(|l| l.strip_prefix("next cursor: "))
            .expect("an ascending page names its next cursor");
        cursor = Some(next.to_string());
    }
    assert_eq!(seen, lines);
    // Counts by field add up; CSV has a header and one row per event.
    let groups = q(&["--group-by", "status", "--format", "csv"]);
    let total: u64 = text(&groups.stdout)
        .lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, 3000);
    let csv = q(&["--limit", "5", "--format", "csv"]);
    assert_eq!(text(&csv.stdout).lines().count(), 6);
    assert!(text(&csv.stdout).starts_with("seq,"));
    // Bad input: named, exit code 2, nothing printed on stdout.
    for (args, want) in [
        (vec!["--cursor", "garbage!"], "cursor is not valid"),
        (vec!["--type", "NoSuchEvent"], "NoSuchEvent"),
        (vec!["--where", "user_id=abc"], "user_id"),
        (vec!["--where", "created_at=1"], "created_at"),
        (vec!["--from", "2026-13-01"], "--from"),
        (vec!["--limit", "0"], "limit"),
    ] {
        let out = q(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            text(&out.stderr).contains(want),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    // A cursor from one filter is refused for another.
    let page = q(&["--type", "LoginFailed", "--limit", "3"]);
    let c = text(&page.stderr)
        .lines()
        .find_map(|l| l.strip_prefix("next cursor: ").map(String::from))
        .unwrap();
    let out = q(&["--type", "Logout", "--cursor", &c]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("other filters"));
}

#[test]
fn keygen_checkpoint_and_proofs_verify_offline() {
    use annal_integrity::{leaf_hash, verify_consistency, verify_inclusion, NoteVerifier};
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let dir = tempfile::tempdir().unwrap();
    let data = data_arg(&dir.path().join("data"));
    let key = dir.path().join("signing.key");
    let out = annal(
        &[
            "keygen",
            "--out",
            key.to_str().unwrap(),
            "--name",
            "test-log",
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let verifier = NoteVerifier::from_text(text(&out.stdout).trim()).unwrap();
    let again = annal(&["keygen", "--out", key.to_str().unwrap()], None);
    assert!(
        !again.status.success(),
        "an existing key is never overwritten"
    );
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(
        annal(&["ingest", "--data", &data, "-"], Some(&gen("3000", "8")))
            .status
            .success()
    );
    let cp = |extra: &[&str]| {
        let mut args = vec![
            "checkpoint",
            "--data",
            &data,
            "--key",
            key.to_str().unwrap(),
            "--origin",
            "test-log/audit",
        ];
        args.extend_from_slice(extra);
        annal(&args, None)
    };
    let first = cp(&[]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let first = verifier.verify(&text(&first.stdout)).unwrap();
    assert_eq!(
        (first.origin.as_str(), first.size),
        ("test-log/audit", 3000)
    );
    assert!(
        annal(&["ingest", "--data", &data, "-"], Some(&gen("1000", "9")))
            .status
            .success()
    );
    let second = verifier.verify(&text(&cp(&[]).stdout)).unwrap();
    assert_eq!(second.size, 4000);

    // An inclusion proof checks against the signed root with nothing but the RFC.
    let proof = annal(
        &[
            "proof",
            "inclusion",
            "--data",
            &data,
            "--seq",
            "1234",
            "--size",
            "3000",
        ],
        None,
    );
    assert!(proof.status.success(), "{}", text(&proof.stderr));
    let p: serde_json::Value = serde_json::from_slice(&proof.stdout).unwrap();
    let leaf = leaf_hash(&b64.decode(p["leaf_input"].as_str().unwrap()).unwrap());
    let path: Vec<[u8; 32]> = p["audit_path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| b64.decode(h.as_str().unwrap()).unwrap().try_into().unwrap())
        .collect();
    assert!(verify_inclusion(&leaf, 1234, 3000, &path, &first.root));
    assert!(!verify_inclusion(&leaf, 1235, 3000, &path, &first.root));
    // The newer checkpoint extends the older one.
    let c = annal(
        &[
            "proof",
            "consistency",
            "--data",
            &data,
            "--from",
            "3000",
            "--to",
            "4000",
        ],
        None,
    );
    let c: serde_json::Value = serde_json::from_slice(&c.stdout).unwrap();
    let nodes: Vec<[u8; 32]> = c["consistency"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| b64.decode(h.as_str().unwrap()).unwrap().try_into().unwrap())
        .collect();
    assert!(verify_consistency(
        3000,
        4000,
        &first.root,
        &second.root,
        &nodes
    ));
    // Without --key, the data directory's key is made once and reused.
    let a = annal(&["checkpoint", "--data", &data], None);
    let b = annal(&["checkpoint", "--data", &data], None);
    assert!(
        text(&a.stderr).contains("made signing key")
            && !text(&b.stderr).contains("made signing key")
    );
    assert_eq!(
        text(&a.stdout),
        text(&b.stdout),
        "Ed25519 signatures are deterministic"
    );
    let bad = annal(
        &["proof", "inclusion", "--data", &data, "--seq", "4000"],
        None,
    );
    assert_eq!(bad.status.code(), Some(2));

    // The auditor's check: the saved checkpoint holds, and the store's log is checked too.
    let saved = dir.path().join("saved.checkpoint");
    assert!(cp(&["--out", saved.to_str().unwrap()]).status.success());
    let public = key.with_extension("pub");
    let verify = |checkpoint: &Path| {
        annal(
            &[
                "verify",
                "--data",
                &data,
                "--checkpoint",
                checkpoint.to_str().unwrap(),
                "--public-key",
                public.to_str().unwrap(),
                "--json",
            ],
            None,
        )
    };
    let ok = verify(&saved);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stdout));
    let report: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(report["checkpoints_given"]["valid"], 1);
    assert_eq!(report["public_key_given"], true);
    assert_eq!(report["newest_valid_checkpoint"]["size"], 4000);
    // The store's log: the checkpoints of 3000 and 4000 events, both by signing.key.
    assert_eq!(report["checkpoints_stored"]["valid"], 2);
    // A checkpoint claiming more events than the store holds: the trail was cut short.
    let longer = dir.path().join("longer.checkpoint");
    let signer =
        annal_integrity::NoteSigner::from_private_text(&std::fs::read_to_string(&key).unwrap())
            .unwrap();
    std::fs::write(
        &longer,
        signer.sign(&annal_integrity::Checkpoint {
            origin: "test-log/audit".into(),
            size: 4500,
            root: [1; 32],
        }),
    )
    .unwrap();
    let cut = verify(&longer);
    assert_eq!(cut.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&cut.stdout).unwrap();
    let problems = report["problems"].as_array().unwrap();
    assert!(
        problems.iter().any(
            |p| p["file"].as_str().unwrap().ends_with("longer.checkpoint")
                && p["seq"] == 4000
                && p["problem"]
                    .as_str()
                    .unwrap()
                    .contains("events 4000..4500 were removed")
        ),
        "{problems:?}"
    );
    let human = annal(
        &[
            "verify",
            "--data",
            &data,
            "--checkpoint",
            longer.to_str().unwrap(),
            "--public-key",
            public.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(human.status.code(), Some(1));
    assert!(
        text(&human.stdout).contains("Checkpoints you gave: 0 valid, 1 invalid"),
        "{}",
        text(&human.stdout)
    );
}

#[test]
fn export_with_proofs_checks_offline_and_any_change_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_arg(&dir.path().join("data"));
    assert!(
        annal(&["ingest", "--data", &data, "-"], Some(&gen("6000", "21")))
            .status
            .success()
    );
    let range = ["--from", "2026-01-02", "--to", "2026-01-03T12:00:00Z"];
    let plain = annal(&[&["export", "--data", &data][..], &range].concat(), None);
    assert!(plain.status.success(), "{}", text(&plain.stderr));
    let lines = text(&plain.stdout).lines().count();
    assert!(lines > 100 && lines < 6000, "{lines}");
    let bundle = dir.path().join("bundle");
    let out = annal(
        &[
            &["export", "--data", &data][..],
            &range,
            &["--with-proofs", bundle.to_str().unwrap()],
        ]
        .concat(),
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let events = std::fs::read_to_string(bundle.join("events.ndjson")).unwrap();
    assert_eq!(
        events,
        text(&plain.stdout),
        "the bundle holds the same events"
    );
    let public = dir.path().join("data").join("checkpoint.pub");
    let check = |public: &Path| {
        annal(
            &[
                "verify-bundle",
                bundle.to_str().unwrap(),
                "--public-key",
                public.to_str().unwrap(),
            ],
            None,
        )
    };
    let ok = check(&public);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stdout));
    assert!(text(&ok.stdout).contains(&format!("Events: {lines} valid, 0 invalid")));

    // Another key: the checkpoint is not the log's.
    let other = dir.path().join("other.key");
    assert!(annal(&["keygen", "--out", other.to_str().unwrap()], None)
        .status
        .success());
    let wrong = check(&other.with_extension("pub"));
    assert_eq!(wrong.status.code(), Some(1));

    // One character of one event changed: that line is named.
    let k = lines / 2;
    let mut changed: Vec<String> = events.lines().map(String::from).collect();
    changed[k] = changed[k].replacen("\"seq\":", "\"seq\": ", 1);
    std::fs::write(bundle.join("events.ndjson"), changed.join("\n") + "\n").unwrap();
    let bad = check(&public);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad.stdout).contains(&format!("PROBLEM line {}: seq", k + 1)),
        "{}",
        text(&bad.stdout)
    );
    // An event dropped from both files: the manifest's count no longer holds.
    let mut fewer: Vec<&str> = events.lines().collect();
    fewer.remove(k);
    std::fs::write(bundle.join("events.ndjson"), fewer.join("\n") + "\n").unwrap();
    let proofs = std::fs::read_to_string(bundle.join("proofs.ndjson")).unwrap();
    let mut pfewer: Vec<&str> = proofs.lines().collect();
    pfewer.remove(k);
    std::fs::write(bundle.join("proofs.ndjson"), pfewer.join("\n") + "\n").unwrap();
    let dropped = check(&public);
    assert_eq!(dropped.status.code(), Some(1));
    assert!(
        text(&dropped.stdout).contains("events, the bundle holds"),
        "{}",
        text(&dropped.stdout)
    );
}
