//! `annal serve` end to end: a real server on an ephemeral port, a real HTTP client. Every
//! native route, the seed systems' example requests, every documented error, API keys and
//! roles, and acknowledged appends surviving SIGKILL.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::io::{BufRead, BufReader, Read};

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod support;
use support::server::{call, serve_command, try_call, Reply, Server};

fn get(s: &Server, path: &str) -> Reply {
    call("GET", &format!("{}{path}", s.base), None, None)
}

fn post(s: &Server, body: &[u8], ct: &str) -> Reply {
    call(
        "POST",
        &format!("{}/v1/events", s.base),
        None,
        Some((ct, body)),
    )
}

fn gen(n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    annal_gen::write_ndjson(
        annal_gen::GenConfig {
            count: n,
            days: 3,
            ..annal_gen::GenConfig::default()
        },
        &mut out,
    )
    .unwrap();
    out
}

fn count(s: &Server, query: &str) -> u64 {
    get(s, &format!("/v1/events/count?{query}")).json()["count"]
        .as_u64()
        .unwrap()
}

#[test]
fn native_routes_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("annal.toml");
    std::fs::write(&cfg, "body_limit_bytes = 400000\n").unwrap();
    let s = Server::start(
        &dir.path().join("data"),
        &["--config", cfg.to_str().unwrap()],
    );

    // One event, an array, NDJSON; ids make re-sends return the stored event.
    let one = post(
        &s,
        br#"{"event_code":202,"source":"file-transfer","actor_id":"ava","id":"e-1"}"#,
        "application/json",
    );
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(
        one.json()["items"][0],
        json!({"seq": 0, "id": "e-1", "duplicate": false})
    );
    // The same event again (an id re-sent with other content is a 409: see
    // every_returned_id_is_fetchable_and_a_re_sent_id_with_other_content_is_409).
    let arr = post(
        &s,
        br#"[{"event_type":"Login","action":"login"},{"event_code":202,"source":"file-transfer","actor_id":"ava","id":"e-1"}]"#,
        "application/json",
    );
    assert_eq!(
        arr.json()["items"][1],
        json!({"seq": 0, "id": "e-1", "duplicate": true})
    );
    let nd = post(&s, &gen(500), "application/x-ndjson");
    assert_eq!(nd.status, 200, "{}", nd.body);
    assert_eq!(nd.json()["items"].as_array().unwrap().len(), 500);
    let total = count(&s, "");
    assert_eq!(total, 502);

    // A bad batch: every problem located, nothing stored.
    let bad = post(
        &s,
        b"{\"event_type\":\"ok\"}\n{\"event_code\":202,\"user_id\":\"x\"}\n\n{\"nope\":1}\n",
        "application/x-ndjson",
    );
    assert_eq!(bad.status, 422);
    assert!(bad.content_type.starts_with("application/problem+json"));
    let errors = bad.json()["errors"].clone();
    assert!(errors.as_array().unwrap().contains(&json!({"loc": ["body", 2, "user_id"], "msg": "expected an integer between -2^63 and 2^63-1, got a string", "type": "wrong_type"})), "{errors}");
    assert!(
        errors.to_string().contains(r#"["body",4,"nope"]"#),
        "{errors}"
    );
    assert_eq!(count(&s, ""), total, "nothing of a bad batch is stored");
    assert_eq!(post(&s, b"[1,", "application/json").status, 400);
    assert_eq!(post(&s, b"", "application/json").status, 422);
    let big = vec![b' '; 500_000];
    let url = format!("{}/v1/events", s.base);
    let too_big = (0..5)
        .find_map(|_| try_call("POST", &url, None, Some(("application/json", &big))).ok())
        .expect("one of five oversized posts gets its answer before the connection closes");
    assert_eq!(too_big.status, 413);
    assert!(too_big.content_type.starts_with("application/problem+json"));

    // Listing: filters, order, limit, cursors and Link headers.
    let page = get(&s, "/v1/events?action=login&order=asc&limit=7");
    assert_eq!(page.status, 200);
    let v = page.json();
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 7);
    assert!(items.iter().all(|e| e["action"] == "login"));
    assert!(items
        .windows(2)
        .all(|w| w[0]["seq"].as_u64() < w[1]["seq"].as_u64()));
    assert!(page.link.contains("rel=\"next\""), "{}", page.link);
    let next = v["next_cursor"].as_str().unwrap();
    let page2 = get(
        &s,
        &format!("/v1/events?action=login&order=asc&limit=7&cursor={next}"),
    )
    .json();
    assert!(page2["items"][0]["seq"].as_u64() > items[6]["seq"].as_u64());
    let wrong = get(
        &s,
        &format!("/v1/events?action=logout&order=asc&limit=7&cursor={next}"),
    );
    assert_eq!(wrong.status, 400);
    assert!(wrong.body.contains("other filters"));
    let logins = count(&s, "action=login");
    let not_logins = count(&s, "not.action=login");
    assert_eq!(logins + not_logins, total);
    assert_eq!(
        count(&s, "event_code=202&event_code=203"),
        count(&s, "event_code=202") + count(&s, "event_code=203")
    );
    check_group_by(&s, total);
    let paged = get(&s, "/v1/events?action=login&order=asc&limit=7&page=2").json();
    assert_eq!(
        paged["items"], page2["items"],
        "page 2 by number equals page 2 by cursor"
    );

    // One event by seq or id; 404 otherwise.
    assert_eq!(get(&s, "/v1/events/0").json()["id"], "e-1");
    assert_eq!(get(&s, "/v1/events/e-1").json()["seq"], 0);
    assert_eq!(get(&s, "/v1/events/99999").status, 404);
    assert_eq!(get(&s, "/v1/events/no-such-id").status, 404);

    // Histogram, catalog.
    let h = get(&s, "/v1/events/histogram?interval=day&by=status").json();
    let sum: u64 = h["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .sum();
    assert_eq!(sum, total);
    let cat = get(&s, "/v1/catalog").json();
    assert!(cat.to_string().contains("LoginFailed"));

    // Errors: problem+json naming the parameter.
    for (q, name) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("bogus=1", "bogus"),
        ("from=yesterday", "from"),
        ("user_id=abc", "user_id"),
        ("cursor=zzz", "cursor"),
        ("order=up", "order"),
    ] {
        let r = get(&s, &format!("/v1/events?{q}"));
        assert_eq!(r.status, 400, "{q}: {}", r.body);
        assert!(r.content_type.starts_with("application/problem+json"));
        assert_eq!(r.json()["errors"][0]["loc"], json!(["query", name]), "{q}");
    }
    assert_eq!(get(&s, "/v1/events/histogram?interval=week").status, 400);
    let bad_by = get(&s, "/v1/events/histogram?by=created_at");
    assert_eq!(bad_by.status, 400);
    assert_eq!(bad_by.json()["errors"][0]["loc"], json!(["query", "by"]));
    assert_eq!(get(&s, "/no/such/route").status, 404);

    // Export: every match, NDJSON and CSV.
    let nd = get(&s, "/v1/export?action=login");
    assert_eq!(nd.body.lines().count() as u64, logins);
    assert!(nd.content_type.starts_with("application/x-ndjson"));
    let csv = get(&s, "/v1/export?format=csv&action=login");
    assert_eq!(csv.body.lines().count() as u64, logins + 1);
    assert!(csv.body.starts_with("seq,id,created_at"));

    // Live stream: resumes after Last-Event-ID and delivers appends as they happen.
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build();
    let resp = agent
        .get(&format!("{}/v1/events/stream?action=login", s.base))
        .set("Last-Event-ID", &(total - 3).to_string())
        .call()
        .unwrap();
    assert!(resp
        .header("content-type")
        .unwrap()
        .starts_with("text/event-stream"));
    let mut reader = BufReader::new(resp.into_reader());
    let fresh = post(
        &s,
        br#"[{"event_type":"t","action":"login","id":"live-1"}]"#,
        "application/json",
    );
    let seq = fresh.json()["items"][0]["seq"].as_u64().unwrap();
    let mut line = String::new();
    let mut ids = Vec::new();
    while !ids.contains(&seq) {
        line.clear();
        assert!(reader.read_line(&mut line).unwrap() > 0, "stream ended");
        if let Some(id) = line.strip_prefix("id: ") {
            ids.push(id.trim().parse::<u64>().unwrap());
        }
    }
    assert!(ids.iter().all(|&i| i > total - 3), "{ids:?}");
    drop(reader);

    // OpenAPI and Swagger UI.
    let doc = get(&s, "/openapi.json").json();
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/v1/events",
        "/v1/events/{key}",
        "/v1/events/count",
        "/v1/events/histogram",
        "/v1/events/stream",
        "/v1/export",
        "/v1/catalog",
        "/healthz",
        "/api/Audit",
        "/api/v2/audit_logs",
        "/v1/audit/events",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert_eq!(get(&s, "/api/audit/swagger/v1/swagger.json").json(), doc);
    assert!(get(&s, "/api/audit/swagger/").body.contains("swagger"));
}

/// An event of 2026-01-`day` at second `sec`, with the given id and event code.
fn dated(day: u32, sec: u32, id: &str, code: u32) -> String {
    let id = if id.is_empty() {
        String::new()
    } else {
        format!(r#""id":"{id}","#)
    };
    format!(r#"{{{id}"event_code":{code},"created_at":"2026-01-{day:02}T10:00:{sec:02}Z"}}"#)
}

/// Asserts that `body` is refused with 409 naming `id`, `seq` and the event at `loc`, and that
/// nothing of it was stored (the trail's length, and the fresh id `absent`).
fn assert_409(s: &Server, body: &str, ct: &str, (id, seq, loc): (&str, u64, u64), absent: &str) {
    let before = count(s, "");
    let r = post(s, body.as_bytes(), ct);
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.content_type.starts_with("application/problem+json"));
    let v = r.json();
    let detail = v["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("{id:?}")) && detail.contains(&format!("seq {seq}")),
        "{detail}"
    );
    assert_eq!(v["errors"][0]["loc"], json!(["body", loc, "id"]), "{v}");
    assert_eq!(
        count(s, ""),
        before,
        "nothing of a refused request is stored"
    );
    assert_eq!(get(s, &format!("/v1/events/{absent}")).status, 404);
}

#[test]
fn every_returned_id_is_fetchable_and_a_re_sent_id_with_other_content_is_409() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = Server::start(&data, &[]);
    // Day one: an event without an id, a producer id of digits, another id.
    let day1 = format!(
        "[{},{},{}]",
        dated(1, 0, "", 202),
        dated(1, 1, "2", 202),
        dated(1, 2, "old-1", 203)
    );
    let r = post(&s, day1.as_bytes(), "application/json");
    assert_eq!(r.status, 200, "{}", r.body);
    let ids: Vec<Value> = r.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].clone())
        .collect();
    assert_eq!(ids, [json!("annal:0"), json!("2"), json!("old-1")]);
    let fetch = |key: &str| {
        let r = get(&s, &format!("/v1/events/{key}"));
        assert_eq!(r.status, 200, "{key}: {}", r.body);
        let v = r.json();
        (
            v["seq"].as_u64().unwrap(),
            v["id"].as_str().unwrap().to_string(),
        )
    };
    let id_rules = || {
        for (seq, id) in [(0, "annal:0"), (1, "2"), (2, "old-1")] {
            assert_eq!(
                fetch(id),
                (seq, id.to_string()),
                "every returned id is fetchable"
            );
            assert_eq!(fetch(&format!("annal:{seq}")).0, seq);
        }
        // "2" is a stored producer id: it wins over seq 2; "1" is no id, so it is seq 1.
        assert_eq!(fetch("1"), (1, "2".into()));
        for missing in ["annal:02", "annal:+1", "annal:99", "annal:", "99"] {
            assert_eq!(
                get(&s, &format!("/v1/events/{missing}")).status,
                404,
                "{missing}"
            );
        }
    };
    id_rules();
    // The store's own form is refused from producers, located like every validation error.
    let made = post(
        &s,
        br#"[{"event_code":202},{"event_code":202,"id":"annal:7"}]"#,
        "application/json",
    );
    assert_eq!(made.status, 422, "{}", made.body);
    let err = &made.json()["errors"][0];
    assert_eq!(
        (&err["loc"], &err["type"]),
        (&json!(["body", 1, "id"]), &json!("reserved")),
        "{err}"
    );
    assert_eq!(count(&s, ""), 3);

    // Day two rolls day one's segment, which is sealed.
    let r = post(&s, dated(2, 0, "new-1", 202).as_bytes(), "application/json");
    assert_eq!(r.json()["items"][0]["seq"], 3, "{}", r.body);
    let wal = data.join(format!("{:020}.wal", 0));
    let deadline = Instant::now() + Duration::from_secs(60);
    while wal.exists() {
        assert!(Instant::now() < deadline, "day one was not sealed");
        std::thread::sleep(Duration::from_millis(20));
    }
    id_rules();

    // old-1 is sealed, new-1 is not: the same content is a duplicate, other content a 409.
    let fresh = dated(2, 5, "fresh-1", 202);
    let other_old = format!("[{fresh},{}]", dated(1, 2, "old-1", 204));
    assert_409(
        &s,
        &other_old,
        "application/json",
        ("old-1", 2, 1),
        "fresh-1",
    );
    let other_new = format!("{fresh}\n\n{}\n", dated(2, 0, "new-1", 203));
    assert_409(
        &s,
        &other_new,
        "application/x-ndjson",
        ("new-1", 3, 3),
        "fresh-1",
    );
    let earlier = format!("[{}]", dated(2, 1, "new-1", 202));
    assert_409(&s, &earlier, "application/json", ("new-1", 3, 0), "fresh-1");
    for (body, seq) in [
        (dated(1, 2, "old-1", 203), 2),
        (dated(2, 0, "new-1", 202), 3),
    ] {
        let r = post(&s, body.as_bytes(), "application/json");
        let item = &r.json()["items"][0];
        assert_eq!(
            (&item["seq"], &item["duplicate"]),
            (&json!(seq), &json!(true)),
            "{}",
            r.body
        );
    }
    // Sent without created_at, an event's time is its receipt: a re-send is still the same.
    for duplicate in [false, true] {
        let r = post(
            &s,
            br#"{"event_code":202,"id":"no-time"}"#,
            "application/json",
        );
        assert_eq!(r.json()["items"][0]["duplicate"], duplicate, "{}", r.body);
    }
    assert_eq!(count(&s, ""), 5);
}

/// `GET /v1/events/count?group_by=…`: values typed as their field, largest first, each
/// group the count of its own filter; bad fields and limits refused naming the parameter.
fn check_group_by(s: &Server, total: u64) {
    assert_eq!(get(s, "/v1/events/count").json(), json!({ "count": total }));
    for (query, field, integer) in [
        ("group_by=event_code", "event_code", true),
        ("group_by=user_id", "user_id", true),
        ("action=login&group_by=status", "status", false),
    ] {
        let filter = query.split('&').find(|p| !p.starts_with("group_by"));
        let with = |more: &str| filter.map_or(more.to_string(), |f| format!("{f}&{more}"));
        let v = get(s, &format!("/v1/events/count?{query}")).json();
        assert_eq!(
            v["count"].as_u64(),
            Some(count(s, filter.unwrap_or(""))),
            "{query}"
        );
        let groups = v["groups"].as_array().unwrap();
        assert!(!groups.is_empty(), "{query}");
        assert_eq!(v["distinct"].as_u64(), Some(groups.len() as u64), "{query}");
        let mut sum = 0;
        for g in groups {
            let value = &g["value"];
            assert_eq!(
                value.is_i64(),
                integer,
                "{query}: {value} typed as the field"
            );
            assert_eq!(value.is_string(), !integer, "{query}: {value}");
            let shown = value.as_str().map_or(value.to_string(), str::to_string);
            let n = g["count"].as_u64().unwrap();
            assert_eq!(
                n,
                count(s, &with(&format!("{field}={shown}"))),
                "{query}: {value}"
            );
            sum += n;
        }
        assert!(sum <= total);
        for w in groups.windows(2) {
            let (a, b) = (w[0]["count"].as_u64(), w[1]["count"].as_u64());
            assert!(a >= b, "{query}: largest first");
            if a == b && integer {
                assert!(
                    w[0]["value"].as_i64() < w[1]["value"].as_i64(),
                    "{query}: ties"
                );
            }
        }
        let top = get(s, &format!("/v1/events/count?{query}&limit=1")).json();
        assert_eq!(top["groups"], json!([groups[0]]), "{query}&limit=1");
        assert_eq!(top["distinct"], v["distinct"]);
    }
    for (q, name) in [
        ("group_by=created_at", "group_by"),
        ("group_by=payload", "group_by"),
        ("group_by=nope", "group_by"),
        ("group_by=", "group_by"),
        ("group_by=status&group_by=action", "group_by"),
        ("group_by=status&limit=0", "limit"),
        ("group_by=status&limit=1001", "limit"),
        ("group_by=status&interval=day", "interval"),
    ] {
        let r = get(s, &format!("/v1/events/count?{q}"));
        assert_eq!(r.status, 400, "{q}: {}", r.body);
        assert!(r.content_type.starts_with("application/problem+json"));
        assert_eq!(r.json()["errors"][0]["loc"], json!(["query", name]), "{q}");
    }
    let doc = get(s, "/openapi.json").json();
    let params = doc["paths"]["/v1/events/count"]["get"]["parameters"].to_string();
    assert!(params.contains("group_by"), "{params}");
}

#[test]
fn seed_example_requests() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(
        &dir.path().join("data"),
        &["--demo", "--demo-events", "20000"],
    );
    // 1. File-transfer audit API.
    let conf = get(&s, "/api/Audit?category=Configuration&startDate=2026-03-01").json();
    assert!(conf["totalCount"].as_u64().unwrap() > 0);
    assert_eq!(conf["pageNumber"], 1);
    assert_eq!(conf["pageSize"], 100);
    for e in conf["items"].as_array().unwrap() {
        assert!(e["created_at"].as_str().unwrap() >= "2026-03-01");
        assert_eq!(e["event_group"], "Configuration");
    }
    let transfer = get(
        &s,
        "/api/Audit?category=transfer&startDate=2026-02-01&endDate=2026-02-28",
    )
    .json();
    for e in transfer["items"].as_array().unwrap() {
        let t = e["created_at"].as_str().unwrap();
        assert!(("2026-02-01".."2026-03-01").contains(&t), "{t}");
        assert_eq!(e["event_group"], "Transfer");
    }
    let failed = get(
        &s,
        "/api/Audit?eventType=Login%20Failed&startDate=2026-03-01",
    )
    .json();
    let by_code = get(&s, "/api/Audit?eventType=202&startDate=2026-03-01").json();
    assert_eq!(failed["totalCount"], by_code["totalCount"]);
    let total = failed["totalCount"].as_u64().unwrap();
    let mut seen = 0;
    for page in 1..=total.div_ceil(10) {
        let p = get(&s, &format!("/api/Audit?eventType=LoginFailed&startDate=2026-03-01&pageNumber={page}&pageSize=10")).json();
        assert_eq!(p["totalPages"].as_u64().unwrap(), total.div_ceil(10));
        for e in p["items"].as_array().unwrap() {
            assert_eq!(e["event_code"], 202);
            seen += 1;
        }
    }
    assert_eq!(seen, total);
    assert_eq!(get(&s, "/api/Audit?eventType=NoSuchThing").status, 400);
    assert_eq!(get(&s, "/api/Audit?pageSize=1001").status, 400);

    // 2. Audit logs v2.
    let logs = get(&s, "/api/v2/audit_logs?filter[action][]=create&filter[action][]=update&filter[action][]=destroy&page[size]=50").json();
    let first = logs["audit_logs"].as_array().unwrap().clone();
    assert_eq!(first.len(), 50);
    assert!(first
        .iter()
        .all(|l| ["create", "update", "destroy"].contains(&l["action"].as_str().unwrap())));
    assert!(
        first
            .windows(2)
            .all(|w| w[0]["created_at"].as_str() >= w[1]["created_at"].as_str()),
        "newest first"
    );
    assert_eq!(logs["meta"]["has_more"], true);
    let next = logs["links"]["next"].as_str().unwrap();
    let second = get(&s, next).json();
    assert!(second["audit_logs"][0]["created_at"].as_str() <= first[49]["created_at"].as_str());
    let window = get(&s, "/api/v2/audit_logs?filter[created_at][]=2026-03-01T00:00:00Z&filter[created_at][]=2026-03-01T06:00:00Z&sort=created_at").json();
    for l in window["audit_logs"].as_array().unwrap() {
        let t = l["created_at"].as_str().unwrap();
        assert!(
            ("2026-03-01T00:00:00Z"..="2026-03-01T06:00:00Z").contains(&t),
            "{t}"
        );
    }
    assert_eq!(
        get(&s, "/api/v2/audit_logs?filter[created_at]=2026-03-01").status,
        400
    );
    // An id alone is accepted (the document cannot say one parameter needs another).
    assert_eq!(
        get(&s, "/api/v2/audit_logs?filter[source_id]=x").status,
        200
    );
    assert_eq!(get(&s, "/api/v2/audit_logs?page[size]=101").status, 400);
    let offset = get(
        &s,
        "/api/v2/audit_logs?page=2&per_page=10&sort_by=created_at&sort_order=asc",
    )
    .json();
    assert_eq!(offset["audit_logs"].as_array().unwrap().len(), 10);

    // 3. Audit events v1.
    let ev = get(&s, "/v1/audit/events?status=failure&limit=20").json();
    let items = ev["items"].as_array().unwrap();
    assert_eq!(items.len(), 20);
    let required = [
        "id",
        "created_at",
        "actor_type",
        "source",
        "event_group",
        "event_type",
        "status",
    ];
    for i in items {
        assert_eq!(i["status"], "failure");
        assert_eq!(
            i.as_object().unwrap().len(),
            26,
            "every AuditEventResponse property: {i}"
        );
        assert!(required.iter().all(|k| i[k].is_string()), "{i}");
    }
    let next = ev["next_cursor"].as_str().unwrap();
    let more = get(
        &s,
        &format!("/v1/audit/events?status=failure&limit=20&cursor={next}"),
    )
    .json();
    assert!(more["items"][0]["created_at"].as_str() <= items[19]["created_at"].as_str());
    let bad = get(&s, "/v1/audit/events?limit=500");
    assert_eq!(bad.status, 422);
    assert_eq!(bad.json()["detail"][0]["loc"], json!(["query", "limit"]));
    assert_eq!(
        get(&s, "/v1/audit/events?user_id=abc").json()["detail"][0]["type"],
        "int_parsing"
    );
    assert_eq!(get(&s, "/v1/audit/events?limit=0").status, 422);
}

#[test]
fn api_keys_and_roles() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("annal.toml");
    let entry = |name: &str, role: &str, key: &str| {
        format!(
            "[[api_keys]]\nname = \"{name}\"\nrole = \"{role}\"\nsha256 = \"{}\"\n",
            annal_http::key_hash_hex(key)
        )
    };
    std::fs::write(
        &cfg,
        [
            entry("p", "producer", "pk"),
            entry("r", "reader", "rk"),
            entry("a", "admin", "ak"),
        ]
        .concat(),
    )
    .unwrap();
    let s = Server::start(
        &dir.path().join("data"),
        &["--config", cfg.to_str().unwrap()],
    );
    let url = |p: &str| format!("{}{p}", s.base);
    let body = Some(("application/json", &br#"{"event_type":"x"}"#[..]));
    for (method, path, key, status) in [
        ("POST", "/v1/events", None, 401),
        ("POST", "/v1/events", Some("wrong"), 401),
        ("POST", "/v1/events", Some("rk"), 403),
        ("POST", "/v1/events", Some("pk"), 200),
        ("POST", "/v1/events", Some("ak"), 200),
        ("GET", "/v1/events", None, 401),
        ("GET", "/v1/events", Some("pk"), 403),
        ("GET", "/v1/events", Some("rk"), 200),
        ("GET", "/v1/audit/events", Some("pk"), 403),
    ] {
        let sent = (method == "POST").then_some(body).flatten();
        assert_eq!(
            call(method, &url(path), key, sent).status,
            status,
            "{method} {path} with {key:?}"
        );
    }
    let bearer = ureq::get(&url("/v1/events/count"))
        .set("Authorization", "Bearer rk")
        .call()
        .unwrap();
    assert_eq!(bearer.into_json::<Value>().unwrap()["count"], 2);
    assert_eq!(
        call("GET", &url("/v1/checkpoint"), Some("rk"), None).status,
        403
    );
    // Admitted (404 until the first checkpoint is signed, a minute in by default).
    let admin = call("GET", &url("/v1/checkpoint"), Some("ak"), None).status;
    assert!(matches!(admin, 200 | 404), "{admin}");
    // Documentation is open.
    assert_eq!(call("GET", &url("/openapi.json"), None, None).status, 200);
}

#[test]
fn without_keys_only_loopback_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_annal"))
        .args([
            "serve",
            "--data",
            dir.path().to_str().unwrap(),
            "--listen",
            "0.0.0.0:0",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("loopback"), "{err}");
    let cfg = dir.path().join("bad.toml");
    std::fs::write(
        &cfg,
        "[[api_keys]]\nname = \"x\"\nrole = \"king\"\nsha256 = \"00\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_annal"))
        .args([
            "serve",
            "--data",
            dir.path().to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.toml"));
}

#[test]
fn acknowledged_appends_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut acked: Vec<(u64, String)> = Vec::new();
    for round in 0..3 {
        let s = Server::start(&data, &[]);
        let lines = gen(300);
        let mut lines: Vec<Value> = lines
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        for (i, l) in lines.iter_mut().enumerate() {
            l["id"] = json!(format!("r{round}-{i}"));
        }
        for chunk in lines.chunks(50) {
            let body = serde_json::to_vec(chunk).unwrap();
            let r = post(&s, &body, "application/json");
            assert_eq!(r.status, 200, "{}", r.body);
            for item in r.json()["items"].as_array().unwrap() {
                acked.push((
                    item["seq"].as_u64().unwrap(),
                    item["id"].as_str().unwrap().to_string(),
                ));
            }
        }
        s.kill();
    }
    let s = Server::start(&data, &[]);
    assert_eq!(count(&s, ""), acked.len() as u64);
    for (seq, id) in &acked {
        let e = get(&s, &format!("/v1/events/{seq}")).json();
        assert_eq!(e["id"], json!(id), "seq {seq}");
    }
    let mut raw = String::new();
    let mut r = ureq::get(&format!("{}/v1/export", s.base))
        .call()
        .unwrap()
        .into_reader();
    r.read_to_string(&mut raw).unwrap();
    assert_eq!(raw.lines().count(), acked.len());
}

#[test]
fn a_request_slower_than_the_timeout_gets_408() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("annal.toml");
    std::fs::write(&cfg, "request_timeout_secs = 1\n").unwrap();
    let s = Server::start(
        &dir.path().join("data"),
        &["--config", cfg.to_str().unwrap()],
    );
    // A client that announces 100 bytes of body and sends 10 (slowloris-style).
    let addr = s.base.trim_start_matches("http://");
    let mut tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        tcp,
        "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"event_ty"
    )
    .unwrap();
    // The read timeout is a liveness guard: the answer comes after the 1 s request timeout.
    let mut answer = String::new();
    let _ = tcp.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert_eq!(count(&s, ""), 0, "nothing stored");
}

/// The newest checkpoint served, once it covers `size` events.
fn checkpoint_at(s: &Server, key: &str, size: u64) -> annal_integrity::Checkpoint {
    let verifier = {
        let text =
            std::fs::read_to_string(s.data.join(annal_integrity::DATA_PUBLIC_KEY_FILE)).unwrap();
        annal_integrity::NoteVerifier::from_text(&text).unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = call("GET", &format!("{}/v1/checkpoint", s.base), Some(key), None);
        if r.status == 200 {
            assert_eq!(r.content_type, "text/plain; charset=utf-8");
            let cp = verifier.verify(&r.body).unwrap();
            if cp.size == size {
                return cp;
            }
            assert!(cp.size < size, "checkpoint past the trail: {}", cp.size);
        }
        assert!(
            Instant::now() < deadline,
            "no checkpoint at {size}: {}",
            r.body
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn checkpoints_and_proofs_over_http_check_with_the_rfc_alone() {
    use annal_integrity::json::{ConsistencyJson, InclusionJson};
    use annal_integrity::{leaf_hash, verify_consistency, verify_inclusion};
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("annal.toml");
    let entry = |name: &str, role: &str| {
        format!(
            "[[api_keys]]\nname = \"{name}\"\nrole = \"{role}\"\nsha256 = \"{}\"\n",
            annal_http::key_hash_hex(name)
        )
    };
    std::fs::write(
        &cfg,
        format!(
            "checkpoint_interval_secs = 1\norigin = \"test.example/audit\"\n{}{}{}",
            entry("writer", "producer"),
            entry("reader", "reader"),
            entry("auditor", "auditor")
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let s = Server::start(&data, &["--config", cfg.to_str().unwrap()]);
    let key = std::fs::metadata(data.join(annal_integrity::DATA_KEY_FILE)).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(key.permissions().mode() & 0o777, 0o600);
    let url = |p: &str| format!("{}{p}", s.base);
    let append = |n: u64| {
        let r = call(
            "POST",
            &url("/v1/events"),
            Some("writer"),
            Some(("application/x-ndjson", &gen(n))),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    };
    // An empty trail has a checkpoint from the start: the empty tree (C2SP allows size 0).
    let empty = call("GET", &url("/v1/checkpoint"), Some("auditor"), None);
    assert_eq!(empty.status, 200, "{}", empty.body);
    let empty = checkpoint_at(&s, "auditor", 0);
    assert_eq!(empty.root, annal_integrity::empty_root());
    assert_eq!(empty.origin, "test.example/audit");
    append(5000);
    let first = checkpoint_at(&s, "auditor", 5000);
    assert_eq!(first.origin, "test.example/audit");
    append(3000);
    let second = checkpoint_at(&s, "auditor", 8000);

    // Readers and producers may not audit.
    for who in ["reader", "writer"] {
        assert_eq!(
            call("GET", &url("/v1/checkpoint"), Some(who), None).status,
            403
        );
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    for seq in [0u64, 1, 4095, 4096, 4999, 7999] {
        let r = call(
            "GET",
            &url(&format!("/v1/proof/inclusion?seq={seq}&tree_size=8000")),
            Some("auditor"),
            None,
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let p: InclusionJson = serde_json::from_str(&r.body).unwrap();
        let p = p.decode().unwrap();
        assert!(verify_inclusion(
            &leaf_hash(&p.leaf_input),
            seq,
            8000,
            &p.audit_path,
            &second.root
        ));
    }
    // tree_size left out: the newest checkpoint's.
    let r = call(
        "GET",
        &url("/v1/proof/inclusion?seq=3"),
        Some("auditor"),
        None,
    );
    assert_eq!(r.json()["tree_size"], 8000);
    let r = call(
        "GET",
        &url("/v1/proof/consistency?first=5000&second=8000"),
        Some("auditor"),
        None,
    );
    let c: ConsistencyJson = serde_json::from_str(&r.body).unwrap();
    assert!(verify_consistency(
        5000,
        8000,
        &first.root,
        &second.root,
        &c.hashes().unwrap()
    ));
    // A leaf or tree the trail does not hold is not there (404), not a bad request.
    for (missing, what) in [
        ("/v1/proof/inclusion?seq=8000&tree_size=8000", "leaf 8000"),
        ("/v1/proof/inclusion?seq=1&tree_size=8001", "tree size 8001"),
        ("/v1/proof/consistency?first=11&second=10", "first"),
    ] {
        let r = call("GET", &url(missing), Some("auditor"), None);
        assert_eq!(r.status, 404, "{missing}: {}", r.body);
        assert!(r.body.contains(what), "{missing}: {}", r.body);
    }
    for (bad, what) in [
        ("/v1/proof/inclusion?tree_size=10", "seq"),
        ("/v1/proof/inclusion?seq=x", "whole number"),
        ("/v1/proof/consistency?first=0&second=10", "first"),
        ("/v1/proof/consistency?first=1&size=10", "size"),
        ("/v1/checkpoint?x=1", "x"),
    ] {
        let r = call("GET", &url(bad), Some("auditor"), None);
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert!(r.body.contains(what), "{bad}: {}", r.body);
    }

    // The same proofs checked by a script written against the RFC with hashlib alone.
    let out = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/interop/rfc6962_check.py"
        ))
        .args([&s.base, "4321", "5000", "auditor"])
        .env("FIRST_ROOT", b64.encode(first.root))
        .output()
        .expect("python3 runs the interoperability check");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // Restarted, the server keeps its key and its checkpoints.
    s.kill();
    let s = Server::start(&data, &["--config", cfg.to_str().unwrap()]);
    let again = checkpoint_at(&s, "auditor", 8000);
    assert_eq!(again, second);
    s.kill();
    let log = annal_integrity::read_log(&data.join(annal_integrity::CHECKPOINT_LOG_FILE)).unwrap();
    assert!(log.notes.len() >= 2);
    assert!(log
        .notes
        .windows(2)
        .all(|w| w[0].checkpoint.size < w[1].checkpoint.size));

    // With its newest events gone, the server refuses to serve the store, naming them.
    let wal = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "wal"))
        .max()
        .unwrap();
    let bytes = std::fs::read(&wal).unwrap();
    std::fs::write(&wal, &bytes[..32]).unwrap();
    let out = serve_command(&data, &["--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("are missing"), "{err}");
}

/// The OpenAPI document says exactly what the server accepts (issue 13), and the server keeps
/// to it: empty values refused on every route, time bounds outside the store's range are its
/// ends, a reversed range is empty, 405 is problem+json, integers within their bounds.
#[test]
fn the_document_and_the_server_agree() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(
        &dir.path().join("data"),
        &["--demo", "--demo-events", "500"],
    );
    let doc = get(&s, "/openapi.json").json();
    assert_eq!(doc["servers"][0]["url"], "/");
    let mut ops = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            ops += 1;
            let summary = op["summary"].as_str().unwrap_or("");
            assert!(
                !summary.contains('`') && !summary.contains('\n'),
                "{method} {path}: {summary}"
            );
            assert_eq!(
                op["responses"]["405"]["content"]["application/problem+json"]["schema"]["$ref"],
                "#/components/schemas/Problem",
                "{method} {path}"
            );
            let mut names = std::collections::HashSet::new();
            for p in op["parameters"].as_array().into_iter().flatten() {
                let name = p["name"].as_str().unwrap();
                // One spelling per parameter: generated clients need distinct identifiers.
                let ident: String = name.chars().filter(|c| c.is_alphanumeric()).collect();
                assert!(names.insert(ident), "{method} {path}: {name} twice");
                if p["in"] != "query" {
                    continue;
                }
                let schema = &p["schema"];
                let values = if schema["type"] == "array" {
                    &schema["items"]
                } else {
                    schema
                };
                let types = values["type"].to_string();
                if types.contains("string") {
                    assert_eq!(values["minLength"], 1, "{method} {path} {name}");
                }
                if types.contains("integer") {
                    assert!(
                        values["minimum"].is_number() && values["maximum"].is_number(),
                        "{method} {path} {name}: {values}"
                    );
                }
            }
        }
    }
    assert!(ops >= 15, "{ops} operations");
    let logs = &doc["paths"]["/api/v2/audit_logs"]["get"]["parameters"];
    assert!(logs
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["name"] != "filter[action]"));
    let body = &doc["paths"]["/v1/events"]["post"]["requestBody"]["content"];
    assert_eq!(
        body["application/json"]["schema"]["$ref"],
        "#/components/schemas/AppendBody"
    );
    // NDJSON is described in words (see native.rs: generators cannot take a second type).
    let about = doc["paths"]["/v1/events"]["post"]["requestBody"]["description"].to_string();
    assert!(about.contains("application/x-ndjson"), "{about}");
    let event = &doc["components"]["schemas"]["EventIn"];
    assert_eq!(event["additionalProperties"], false);
    assert_eq!(event["required"], json!(["event_type"]));
    assert_eq!(event["properties"]["id"]["maxLength"], 255);
    assert_eq!(event["properties"]["path"]["maxLength"], 4096);
    assert_eq!(event["properties"]["http_status"]["maximum"], 599);
    assert!(event["properties"].get("seq").is_none());
    let page = &doc["paths"]["/api/Audit"]["get"]["parameters"];
    let number = page
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "pageNumber")
        .unwrap();
    assert_eq!(number["schema"]["maximum"], 4294967295u64);

    // The server: what the document says.
    for empty in [
        "/v1/events?from=",
        "/v1/events/count?category=",
        "/api/Audit?startDate=",
        "/api/v2/audit_logs?filter[action]=",
        "/v1/proof/inclusion?seq=",
    ] {
        let r = get(&s, empty);
        assert_eq!(r.status, 400, "{empty}: {}", r.body);
        assert!(r.body.contains("empty"), "{empty}: {}", r.body);
    }
    assert_eq!(get(&s, "/v1/audit/events?vm_id=").status, 422);
    assert_eq!(get(&s, "/api/Audit?pageNumber=4294967295").status, 200);
    assert_eq!(get(&s, "/api/Audit?pageNumber=4294967296").status, 400);
    // Both spellings are still accepted, one is documented.
    let one = get(&s, "/api/v2/audit_logs?filter[action]=create").json();
    let other = get(&s, "/api/v2/audit_logs?filter[action][]=create").json();
    assert_eq!(one["audit_logs"], other["audit_logs"]);
    // Bounds outside 1970..2262 are the range's ends; a reversed range is empty.
    let all = count(&s, "");
    assert_eq!(all, 500);
    assert_eq!(count(&s, "from=0001-01-01&to=9999-12-31T00:00:00Z"), all);
    assert_eq!(count(&s, "from=2026-03-02&to=2026-03-01"), 0);
    let r = get(&s, "/api/Audit?startDate=2030-01-01&endDate=2020-01-01").json();
    assert_eq!(r["totalCount"], 0);
    // An integer written as a float is that integer.
    let r = post(
        &s,
        br#"{"event_type":"x","user_id":7.0}"#,
        "application/json",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let seq = r.json()["items"][0]["seq"].as_u64().unwrap();
    assert_eq!(get(&s, &format!("/v1/events/{seq}")).json()["user_id"], 7);
    let r = post(
        &s,
        br#"{"event_type":"x","user_id":-9223372036854775809}"#,
        "application/json",
    );
    assert_eq!(r.status, 422, "{}", r.body);
    // 405 is a problem, as every error.
    let r = call("DELETE", &format!("{}/v1/events", s.base), None, None);
    assert_eq!(r.status, 405);
    assert_eq!(r.content_type, "application/problem+json");
    assert_eq!(r.json()["status"], 405);
}
