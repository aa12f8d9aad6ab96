//! The SQLite side of the comparisons: a table of every event field, filled in
//! transactions.

use std::path::Path;

use annal_model::{Event, Field, JSON_ORDER};

/// A SQLite database in WAL mode with an `events` table of every field (no indexes).
pub fn sqlite_create(path: &Path, synchronous: &str) -> anyhow::Result<rusqlite::Connection> {
    let db = rusqlite::Connection::open(path)?;
    db.pragma_update(None, "journal_mode", "WAL")?;
    db.pragma_update(None, "synchronous", synchronous)?;
    let defs: Vec<String> = JSON_ORDER
        .iter()
        .map(|f| match f {
            Field::Seq => "seq INTEGER PRIMARY KEY".to_string(),
            Field::CreatedAt | Field::ReceivedAt | Field::Int(_) => format!("{} INTEGER", f.name()),
            Field::LatencyMs => "latency_ms REAL".to_string(),
            _ => format!("{} TEXT", f.name()),
        })
        .collect();
    db.execute_batch(&format!("CREATE TABLE events ({});", defs.join(", ")))?;
    Ok(db)
}

/// Inserts `events` as seqs `first..` in one transaction.
pub fn sqlite_insert_batch(
    db: &mut rusqlite::Connection,
    events: &[Event],
    first: i64,
) -> anyhow::Result<()> {
    let columns: Vec<&str> = JSON_ORDER.iter().map(|f| f.name()).collect();
    let sql = format!(
        "INSERT INTO events ({}) VALUES ({})",
        columns.join(", "),
        vec!["?"; columns.len()].join(", ")
    );
    let tx = db.transaction()?;
    {
        let mut stmt = tx.prepare_cached(&sql)?;
        for (i, e) in events.iter().enumerate() {
            let values: Vec<rusqlite::types::Value> = JSON_ORDER
                .iter()
                .map(|f| sqlite_value(e, first + i as i64, *f))
                .collect();
            stmt.execute(rusqlite::params_from_iter(values))?;
        }
    }
    tx.commit()?;
    Ok(())
}

fn sqlite_value(e: &Event, seq: i64, f: Field) -> rusqlite::types::Value {
    use rusqlite::types::Value;
    let text = |s: Option<&str>| s.map_or(Value::Null, |s| Value::Text(s.to_string()));
    match f {
        Field::Seq => Value::Integer(seq),
        Field::Id => text(e.id.as_deref()),
        Field::CreatedAt => Value::Integer(e.created_at.0),
        Field::ReceivedAt => Value::Integer(e.received_at.0),
        Field::Text(t) => text(e.text(t)),
        Field::Int(i) => e.int(i).map_or(Value::Null, Value::Integer),
        Field::LatencyMs => e.latency_ms.map_or(Value::Null, Value::Real),
        Field::Payload => text(e.payload.as_deref()),
    }
}
